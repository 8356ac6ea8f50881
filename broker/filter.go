package broker

import (
	"errors"
	"slices"

	"github.com/gridhub/gridhub/hub"
)

// MaxFilterCells bounds the cells of one filter: a district of 10,000
// base cells fits. Filing a filter holds the broker's lock for about
// 100 ns a cell; follow larger areas by DistrictID.
const MaxFilterCells = 20_000

// ErrInvalidFilter is the sentinel of every error Subscribe returns for a
// filter it cannot accept; the error itself is an EINVALID *hub.Error.
var ErrInvalidFilter = errors.New("invalid filter")

// Filter selects events. Every field that is set must match, so an event
// that lacks a key the filter sets (a risk area has no SKU) does not
// match; the zero Filter selects every event.
type Filter struct {
	// Kinds matches events of any of these kinds; empty: any kind.
	Kinds []hub.EventKind
	// Cells matches events that touch any of these cells (Event.Cells);
	// empty: anywhere. To follow a committee's area, list its cells here.
	Cells []hub.Cell
	// CommitteeID matches events addressed to the committee
	// (Event.CommitteeIDs).
	CommitteeID string
	// DistrictID, PartnerID, PharmacyID and SKU match events whose field
	// of the same name is equal.
	DistrictID string
	PartnerID  string
	PharmacyID string
	SKU        hub.SKU
}

// filter is a Filter ready for matching.
type filter struct {
	kinds uint32 // bit k: kind k wanted; 0: every kind
	// more says that a subscription reached through its anchor must
	// have its ids or cells checked; without it kinds and sku decide.
	more      bool
	sku       hub.SKU
	pharmacy  string
	partner   string
	district  string
	committee string
	cells     []hub.Cell // sorted, unique
}

func invalid(format string, args ...any) error {
	e := hub.Errorf(hub.EINVALID, format, args...)
	e.Err = ErrInvalidFilter
	return e
}

// compile checks f and prepares it for matching.
func compile(f Filter) (filter, error) {
	cf := filter{
		committee: f.CommitteeID,
		district:  f.DistrictID,
		partner:   f.PartnerID,
		pharmacy:  f.PharmacyID,
		sku:       f.SKU,
	}
	for _, k := range f.Kinds {
		if !k.Valid() {
			return filter{}, invalid("filter: unknown event kind %d", uint8(k))
		}
		cf.kinds |= 1 << k
	}
	if len(f.Cells) > MaxFilterCells {
		return filter{}, invalid("filter: %d cells, more than %d", len(f.Cells), MaxFilterCells)
	}
	if len(f.Cells) > 0 {
		cf.cells = slices.Clone(f.Cells)
		slices.Sort(cf.cells)
		cf.cells = slices.Clip(slices.Compact(cf.cells))
		if cf.cells[0] == 0 {
			return filter{}, invalid("filter: the zero cell is not a cell")
		}
	}
	cf.more = cf.anchor() != byCell || cf.committee != "" || cf.district != "" || cf.partner != "" || cf.pharmacy != ""
	return cf, nil
}

// anchor returns the key the subscription is filed under: the most
// selective one its filter has. Single keys come first because they cost
// one index entry; pharmacy and partner are the narrowest of them.
func (f *filter) anchor() anchor {
	switch {
	case f.pharmacy != "":
		return byPharmacy
	case f.partner != "":
		return byPartner
	case f.committee != "":
		return byCommittee
	case len(f.cells) > 0:
		return byCell
	case f.district != "":
		return byDistrict
	default:
		return byKind
	}
}

// match reports whether e passes f. With cellsMatched, the caller knows
// that e touches one of f's cells and the check is skipped.
func (f *filter) match(e *hub.Event, cellsMatched bool) bool {
	if f.kinds != 0 && f.kinds&(1<<e.Kind) == 0 || f.sku != "" && f.sku != e.SKU {
		return false
	}
	if !f.more && cellsMatched {
		return true
	}
	if f.pharmacy != "" && f.pharmacy != e.PharmacyID ||
		f.partner != "" && f.partner != e.PartnerID ||
		f.district != "" && f.district != e.DistrictID {
		return false
	}
	if f.committee != "" && !slices.Contains(e.CommitteeIDs, f.committee) {
		return false
	}
	if len(f.cells) > 0 && !cellsMatched && !f.touches(e.Cells) {
		return false
	}
	return true
}

// touches reports whether any of cs is among f's cells.
func (f *filter) touches(cs []hub.Cell) bool {
	for _, c := range cs {
		if _, ok := slices.BinarySearch(f.cells, c); ok {
			return true
		}
	}
	return false
}
