package city

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

// ResidentInput is what a person (or their committee) registers with. The
// address must place on the grid: a location or a cell is required, free
// text alone is refused.
type ResidentInput struct {
	ID            string // empty: a new ID is made
	Name          string
	IDNumber      string
	Phone         string
	Address       string
	Location      *hub.Point
	Cell          *hub.Cell
	CommitteeCode string // optional; the committee whose area holds the cell otherwise
}

// RegisterResidents registers people in one durable write. An ID number
// is taken in its canonical form (privacy.CanonicalID, under the service's
// accepted forms): a number with none is an EINVALID error, and a number
// already registered in any spelling (or repeated in the batch) is an
// ECONFLICT error; either way nothing is written.
func (s *Service) RegisterResidents(ctx context.Context, ins ...ResidentInput) ([]*hub.Resident, error) {
	if len(ins) > maxBatch {
		return nil, hub.Errorf(hub.EINVALID, "at most %d residents at once", maxBatch)
	}
	out := make([]*hub.Resident, 0, len(ins))
	for _, in := range ins {
		r, err := s.newResident(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := s.store.CreateResidents(ctx, out...); err != nil {
		return nil, err
	}
	s.publishResidents(ctx, out)
	return out, nil
}

// publishResidents tells each district of a batch about its new residents
// (RESIDENT_REGISTERED): where they live, nothing more.
func (s *Service) publishResidents(ctx context.Context, rs []*hub.Resident) {
	if s.events == nil || len(rs) == 0 {
		return
	}
	byDistrict := map[string][]*hub.Resident{}
	for _, r := range rs {
		byDistrict[r.DistrictID] = append(byDistrict[r.DistrictID], r)
	}
	for _, d := range slices.Sorted(maps.Keys(byDistrict)) {
		group := byDistrict[d]
		p := hub.ResidentPayload{Residents: make([]hub.ResidentRef, len(group))}
		cells := make([]hub.Cell, 0, len(group))
		var committees []string
		for i, r := range group {
			p.Residents[i] = hub.ResidentRef{ID: r.ID, Cell: r.Cell, CommitteeID: r.CommitteeID}
			cells = append(cells, r.Cell)
			if r.CommitteeID != "" {
				committees = append(committees, r.CommitteeID)
			}
		}
		slices.Sort(cells)
		slices.Sort(committees)
		// Publishing never blocks; a closed broker (shutdown) drops events.
		_, _ = s.events.Publish(ctx, hub.Event{
			Kind: hub.EventResidentRegistered, At: group[0].RegisteredAt, Cells: slices.Compact(cells),
			DistrictID: d, CommitteeIDs: slices.Compact(committees), Payload: p,
		})
	}
}

func (s *Service) newResident(ctx context.Context, in ResidentInput) (*hub.Resident, error) {
	if err := firstErr(
		checkID("id", in.ID),
		checkText("name", in.Name, maxName, true),
		checkText("phone", in.Phone, maxPhone, false),
		checkText("address", in.Address, maxAddress, false),
		checkText("committeeCode", in.CommitteeCode, maxCode, false),
	); err != nil {
		return nil, err
	}
	// One person, one record: every spelling of a number hashes as its
	// canonical form, and a spelling with no canonical form is refused.
	// The ID number is not free text: CanonicalID is its whole rule.
	id, err := privacy.CanonicalID(in.IDNumber, s.idForms)
	if err != nil {
		return nil, err
	}
	loc, cell, err := place(in.Location, in.Cell)
	if err != nil {
		return nil, err
	}
	r := &hub.Resident{
		ID:           in.ID,
		Name:         in.Name,
		IDHash:       s.hasher.HashID(id),
		IDMasked:     privacy.MaskID(id),
		Phone:        in.Phone,
		Address:      in.Address,
		Location:     loc,
		Cell:         cell,
		RegisteredAt: s.now(),
	}
	if r.ID == "" {
		r.ID = s.newID("res_")
	}
	// A person registered before the hash key was rotated is found by the
	// hash under the key of their time.
	for _, h := range s.hasher.PreviousHashes(id) {
		if first, err := s.store.ResidentByIDHash(ctx, h); err == nil {
			return nil, hub.Errorf(hub.ECONFLICT, "the ID number is already registered, as resident %q", first.ID)
		} else if hub.ErrorCode(err) != hub.ENOTFOUND {
			return nil, err
		}
	}
	if in.CommitteeCode != "" {
		c, err := s.store.CommitteeByCode(ctx, in.CommitteeCode)
		if err != nil {
			return nil, err
		}
		if _, ok := slices.BinarySearch(c.Cells, cell); !ok {
			return nil, hub.Errorf(hub.EINVALID, "address cell %s lies outside committee %q's area", cell, in.CommitteeCode)
		}
		r.CommitteeID, r.DistrictID = c.ID, c.DistrictID
	} else {
		r.CommitteeID = s.CommitteeAt(cell)
		r.DistrictID = s.DistrictAt(cell)
	}
	return r, nil
}

// place resolves a location or a cell to both: a location is placed on
// its base cell, a cell alone stands at its centre.
func place(loc *hub.Point, cell *hub.Cell) (hub.Point, hub.Cell, error) {
	switch {
	case loc != nil:
		c, err := grid.CellAt(*loc, grid.BaseResolution)
		if err != nil {
			return hub.Point{}, 0, err
		}
		if cell != nil && *cell != c {
			return hub.Point{}, 0, hub.Errorf(hub.EINVALID, "location %v,%v lies in cell %s, not %s", loc.Lat, loc.Lng, c, *cell)
		}
		return *loc, c, nil
	case cell != nil:
		if err := grid.Validate(*cell); err != nil {
			return hub.Point{}, 0, err
		}
		if r := grid.Resolution(*cell); r != grid.BaseResolution {
			return hub.Point{}, 0, hub.Errorf(hub.EINVALID, "cell %s has resolution %d, want %d", *cell, r, grid.BaseResolution)
		}
		p, err := grid.Center(*cell)
		return p, *cell, err
	}
	return hub.Point{}, 0, hub.Errorf(hub.EINVALID, "an address must place on the grid: give a location or a cell")
}

// CountDistrictResidents counts the residents registered through the
// committees of a district.
func (s *Service) CountDistrictResidents(ctx context.Context, districtID string) (int, error) {
	cs, err := s.store.Committees(ctx, districtID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		k, err := s.store.CountResidents(ctx, c.ID)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// IDForms returns the forms of ID number the service accepts.
func (s *Service) IDForms() privacy.Forms { return s.idForms }

// IDHashes canonicalises ID numbers under the service's accepted forms
// and returns their keyed hashes, under the current key and every
// previous one (so people registered before a rotation match too), for
// eligibility lists. A refused number is an EINVALID error naming
// field[i]; the numbers themselves are never kept.
func (s *Service) IDHashes(field string, numbers []string) ([]string, error) {
	out := make([]string, 0, len(numbers))
	for i, n := range numbers {
		c, err := s.idForms.Canonical(fmt.Sprintf("%s[%d]", field, i), n)
		if err != nil {
			return nil, err
		}
		out = append(out, s.hasher.AllHashes(c)...)
	}
	return out, nil
}
