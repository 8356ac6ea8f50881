package city

import (
	"context"
	"slices"

	"github.com/gridhub/gridhub/hub"
)

// DistrictInput describes a district to create or replace.
type DistrictInput struct {
	ID   string // empty: a new ID is made
	Code string
	Name string
	Area Area
}

// UpsertDistrict creates or replaces a district. Its cells may not overlap
// another district's.
func (s *Service) UpsertDistrict(ctx context.Context, in DistrictInput) (*hub.District, error) {
	if err := firstErr(checkID("id", in.ID), checkText("code", in.Code, maxCode, false), checkText("name", in.Name, maxName, true)); err != nil {
		return nil, err
	}
	cells, err := in.Area.cells()
	if err != nil {
		return nil, err
	}
	d := &hub.District{ID: in.ID, Code: in.Code, Name: in.Name, Cells: cells, UpdatedAt: s.now()}
	if d.ID == "" {
		d.ID = s.newID("dst_")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.areaMu.RLock()
	err = overlap("district", s.districtOf, d.ID, cells)
	s.areaMu.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := s.store.UpsertDistrict(ctx, d); err != nil {
		return nil, err
	}
	// The index follows the event (Apply). Published under mu, so that
	// two upserts of one district publish in the order they were written.
	_, _ = s.events.Publish(ctx, hub.Event{
		Kind: hub.EventDistrictUpserted, At: d.UpdatedAt, DistrictID: d.ID,
		Payload: hub.DistrictPayload{DistrictID: d.ID, Cells: slices.Clone(cells)},
	})
	return d, nil
}

// CommitteeInput describes a committee to create or replace.
type CommitteeInput struct {
	ID         string
	Code       string // what residents register with; unique
	Name       string
	DistrictID string // empty: the district holding the committee's cells
	Area       Area
}

// UpsertCommittees creates or replaces committees. Each committee's cells
// lie inside one district and overlap no other committee.
func (s *Service) UpsertCommittees(ctx context.Context, ins ...CommitteeInput) ([]*hub.Committee, error) {
	if len(ins) > maxBatch {
		return nil, hub.Errorf(hub.EINVALID, "at most %d committees at once", maxBatch)
	}
	out := make([]*hub.Committee, 0, len(ins))
	ids, codes := map[string]bool{}, map[string]bool{}
	for _, in := range ins {
		if err := firstErr(checkID("id", in.ID), checkText("code", in.Code, maxCode, true), checkText("name", in.Name, maxName, true), checkID("districtId", in.DistrictID)); err != nil {
			return nil, err
		}
		cells, err := in.Area.cells()
		if err != nil {
			return nil, err
		}
		c := &hub.Committee{ID: in.ID, Code: in.Code, Name: in.Name, DistrictID: in.DistrictID, Cells: cells, UpdatedAt: s.now()}
		if c.ID == "" {
			c.ID = s.newID("com_")
		}
		// A batch naming one committee twice would leave the first
		// version's cells indexed; one code twice is a clash.
		if ids[c.ID] {
			return nil, hub.Errorf(hub.EINVALID, "committee %s appears twice in the batch", c.ID)
		}
		if codes[c.Code] {
			return nil, hub.Errorf(hub.ECONFLICT, "committee code %q appears twice in the batch", c.Code)
		}
		ids[c.ID], codes[c.Code] = true, true
		out = append(out, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.areaMu.RLock()
	err := s.checkCommittees(ctx, out)
	s.areaMu.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := s.store.UpsertCommittees(ctx, out...); err != nil {
		return nil, err
	}
	// The index follows the event (Apply). Published under mu, so that
	// upserts publish in the order they were written.
	pl := hub.CommitteePayload{}
	var names []string
	for _, c := range out {
		pl.Committees = append(pl.Committees, hub.CommitteeRef{ID: c.ID, DistrictID: c.DistrictID, Cells: slices.Clone(c.Cells)})
		names = append(names, c.ID)
	}
	_, _ = s.events.Publish(ctx, hub.Event{Kind: hub.EventCommitteeUpserted, At: s.now(), CommitteeIDs: names, Payload: pl})
	return out, nil
}

// checkCommittees places each committee in its district and checks that
// none overlaps another. Callers hold s.mu and s.areaMu.
func (s *Service) checkCommittees(ctx context.Context, out []*hub.Committee) error {
	taken := map[hub.Cell]string{}
	for _, c := range out {
		if err := s.placeCommittee(ctx, c); err != nil {
			return err
		}
		if err := overlap("committee", s.committeOf, c.ID, c.Cells); err != nil {
			return err
		}
		if err := overlap("committee", taken, c.ID, c.Cells); err != nil {
			return err
		}
		for _, cell := range c.Cells {
			taken[cell] = c.ID
		}
	}
	return nil
}

// placeCommittee checks that c's cells lie in one district and sets its
// district. Callers hold s.mu and s.areaMu.
func (s *Service) placeCommittee(ctx context.Context, c *hub.Committee) error {
	if c.DistrictID != "" {
		if _, err := s.store.District(ctx, c.DistrictID); err != nil {
			return err
		}
	}
	for _, cell := range c.Cells {
		d := s.districtOf[cell]
		if d == "" {
			return hub.Errorf(hub.EINVALID, "committee %q: cell %s lies in no district", c.Code, cell)
		}
		if c.DistrictID == "" {
			c.DistrictID = d
		}
		if d != c.DistrictID {
			return hub.Errorf(hub.EINVALID, "committee %q: cell %s lies in district %s, not %s", c.Code, cell, d, c.DistrictID)
		}
	}
	return nil
}

// overlap reports a conflict when a cell of area id already belongs to a
// different area in m.
func overlap(kind string, m map[hub.Cell]string, id string, cells []hub.Cell) error {
	for _, c := range cells {
		if other := m[c]; other != "" && other != id {
			return hub.Errorf(hub.ECONFLICT, "cell %s already belongs to %s %s", c, kind, other)
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// AreaCells returns the base-resolution cells of an area, sorted, or an
// EINVALID error when it holds none or is malformed.
func (s *Service) AreaCells(a Area) ([]hub.Cell, error) { return a.cells() }
