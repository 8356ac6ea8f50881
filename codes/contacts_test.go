package codes_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// memIndex is ScanIndex over a slice, read the slow way, counting calls.
type memIndex struct {
	scans []*hub.Scan
	calls int
}

func (m *memIndex) ContactsIn(_ context.Context, cells []hub.Cell, from, to time.Time) ([]*hub.Scan, error) {
	m.calls++
	var out []*hub.Scan
	for _, s := range m.scans {
		if slices.Contains(cells, s.Cell) && !s.At.Before(from) && !s.At.After(to) {
			out = append(out, s)
		}
	}
	return out, nil
}

func ring(t *testing.T, c hub.Cell, k int) []hub.Cell {
	t.Helper()
	r, err := grid.Ring(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindContacts(t *testing.T) {
	home := shanghai(t)
	near, far := ring(t, home, 1)[0], ring(t, home, 2)[0]
	m := func(n int) time.Time { return now.Add(time.Duration(n) * time.Minute) }
	sc := func(id, resident, subject string, cell hub.Cell, at time.Time) *hub.Scan {
		return &hub.Scan{ID: id, ResidentID: resident, SubjectID: subject, Cell: cell, At: at}
	}
	caseScans := []*hub.Scan{
		sc("c1", "case", "s-case", home, m(0)),
		sc("c2", "case", "s-case", home, m(20)), // overlaps c1's window: merged
		sc("c3", "case", "s-case", far, m(300)),
	}
	idx := &memIndex{scans: append(slices.Clone(caseScans),
		sc("a1", "alice", "s-alice", home, m(-30)),            // exactly window before c1
		sc("a2", "alice", "s-alice", near, m(45)),             // near, within c2's window
		sc("b1", "bob", "s-bob", near, m(-31)),                // a minute too early
		sc("b2", "bob", "s-bob", far, m(10)),                  // two rings away
		sc("e1", "eve", "s-eve", home, m(50)),                 // exactly window after c2
		sc("v1", "", "visitor-1", ring(t, far, 1)[0], m(301)), // visitor near c3
		sc("e2", "eve", "s-eve", ring(t, far, 1)[1], m(330)),  // eve again, near c3
		sc("x1", "", "s-case", home, m(5)),                    // the case under its subject alone
	)}

	got, err := codes.FindContacts(t.Context(), idx, "case", "s-case", caseScans, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []hub.Contact{
		{ResidentID: "alice", SubjectID: "s-alice", FirstAt: m(-30), LastAt: m(45), Cell: home, Scans: 2},
		{ResidentID: "eve", SubjectID: "s-eve", FirstAt: m(50), LastAt: m(330), Cell: home, Scans: 2},
		{SubjectID: "visitor-1", FirstAt: m(301), LastAt: m(301), Cell: ring(t, far, 1)[0], Scans: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("contacts:\n got %+v\nwant %+v", got, want)
	}
	// Two windows (c1 and c2 merged around home and its ring; c3 around
	// far) in cells that share them: at most one read per distinct window.
	if idx.calls > 4 {
		t.Fatalf("%d index reads, want at most 4", idx.calls)
	}

	none, err := codes.FindContacts(t.Context(), idx, "case", "s-case", nil, time.Minute)
	if err != nil || len(none) != 0 {
		t.Fatalf("contacts of no scans: %v, %v", none, err)
	}
	for _, w := range []time.Duration{0, -time.Minute, codes.MaxWindow + 1} {
		if _, err := codes.FindContacts(t.Context(), idx, "case", "", caseScans, w); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("window %v: %v, want EINVALID", w, err)
		}
	}
	bad := []*hub.Scan{sc("z", "case", "", 0x1, m(0))}
	if _, err := codes.FindContacts(t.Context(), idx, "case", "", bad, time.Minute); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("a scan in no valid cell: %v, want EINVALID", err)
	}
}
