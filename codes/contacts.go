package codes

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Limits of contact tracing.
const (
	// DefaultWindow is the time window of contacts when none is given:
	// someone scanned within 30 minutes of a case, nearby.
	DefaultWindow = 30 * time.Minute
	// MaxWindow bounds the time window of contacts.
	MaxWindow = 24 * time.Hour
	// MaxCaseScans bounds the case's scans contacts are traced from.
	MaxCaseScans = 10_000
)

// ScanIndex is what contact tracing reads: the store's (cell, time) index.
type ScanIndex interface {
	ContactsIn(ctx context.Context, cells []hub.Cell, from, to time.Time) ([]*hub.Scan, error)
}

// interval is a closed time range.
type interval struct{ from, to time.Time }

// FindContacts returns the people scanned near a case: in the cell of one
// of the case's scans or one of its ring-1 neighbours, within window
// before or after it. The case's own scans (those of caseResidentID, or of
// caseSubjectID for a visitor) are left out. Each person comes once, with
// their first and last overlapping scan, the cell of the first and the
// number of overlapping scans, ordered by first overlap, then resident
// ID, then subject ID.
//
// It reads only the index ranges the case's scans call for: the windows
// of each cell are merged first, and cells with the same merged window
// are read in one call.
func FindContacts(ctx context.Context, idx ScanIndex, caseResidentID, caseSubjectID string, caseScans []*hub.Scan, window time.Duration) ([]hub.Contact, error) {
	if window <= 0 || window > MaxWindow {
		return nil, hub.Errorf(hub.EINVALID, "contact window %v is outside (0, %v]", window, MaxWindow)
	}
	if len(caseScans) > MaxCaseScans {
		return nil, hub.Errorf(hub.EINVALID, "%d scans to trace from, at most %d", len(caseScans), MaxCaseScans)
	}

	// The windows of each cell, merged.
	disks := map[hub.Cell][]hub.Cell{}
	windows := map[hub.Cell][]interval{}
	for _, s := range caseScans {
		disk, ok := disks[s.Cell]
		if !ok {
			var err error
			if disk, err = grid.Disk(s.Cell, 1); err != nil {
				return nil, err
			}
			disks[s.Cell] = disk
		}
		for _, c := range disk {
			windows[c] = append(windows[c], interval{s.At.Add(-window), s.At.Add(window)})
		}
	}
	// Cells with the same merged window are read together. Windows are
	// keyed by their instants, whatever the times' locations.
	type span struct{ from, to int64 }
	byWindow := map[span][]hub.Cell{}
	for c, ws := range windows {
		for _, w := range merge(ws) {
			k := span{w.from.UnixNano(), w.to.UnixNano()}
			byWindow[k] = append(byWindow[k], c)
		}
	}
	queries := make([]span, 0, len(byWindow))
	for w := range byWindow {
		queries = append(queries, w)
	}
	slices.SortFunc(queries, func(a, b span) int { return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to)) })

	type person struct{ resident, subject string }
	found := map[person]*hub.Contact{}
	for _, w := range queries {
		cells := byWindow[w]
		slices.Sort(cells)
		for len(cells) > 0 {
			n := min(len(cells), hub.MaxContactCells)
			scans, err := idx.ContactsIn(ctx, cells[:n], time.Unix(0, w.from), time.Unix(0, w.to))
			if err != nil {
				return nil, err
			}
			cells = cells[n:]
			for _, s := range scans {
				if (caseResidentID != "" && s.ResidentID == caseResidentID) ||
					(caseSubjectID != "" && s.SubjectID == caseSubjectID) {
					continue
				}
				p := person{s.ResidentID, s.SubjectID}
				if s.ResidentID != "" {
					p.subject = "" // a resident is one person whatever subject a scan shows
				}
				c := found[p]
				if c == nil {
					c = &hub.Contact{ResidentID: s.ResidentID, SubjectID: s.SubjectID, FirstAt: s.At, LastAt: s.At, Cell: s.Cell}
					found[p] = c
				}
				c.Scans++
				if s.At.Before(c.FirstAt) {
					c.FirstAt, c.Cell = s.At, s.Cell
				}
				if s.At.After(c.LastAt) {
					c.LastAt = s.At
				}
			}
		}
	}

	out := make([]hub.Contact, 0, len(found))
	for _, c := range found {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b hub.Contact) int {
		return cmp.Or(a.FirstAt.Compare(b.FirstAt), cmp.Compare(a.ResidentID, b.ResidentID), cmp.Compare(a.SubjectID, b.SubjectID))
	})
	return out, nil
}

// merge returns the union of closed intervals as disjoint ones, in order.
func merge(ws []interval) []interval {
	slices.SortFunc(ws, func(a, b interval) int { return a.from.Compare(b.from) })
	out := ws[:0:0]
	for _, w := range ws {
		if n := len(out); n > 0 && !w.from.After(out[n-1].to) {
			if w.to.After(out[n-1].to) {
				out[n-1].to = w.to
			}
			continue
		}
		out = append(out, w)
	}
	return out
}
