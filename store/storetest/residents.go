package storetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

func testResidents(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	rs, err := s.Residents(ctx, hub.ResidentFilter{})
	must(t, err, "Residents of an empty store")
	same(t, "Residents of an empty store", len(rs), 0)
	n, err := s.CountResidents(ctx, "")
	must(t, err, "CountResidents of an empty store")
	same(t, "CountResidents of an empty store", n, 0)

	r1, r2 := resident("r1", "h1", "c1"), resident("r2", "h2", "")
	must(t, s.CreateResidents(ctx, r1, r2), "CreateResidents r1 r2")

	got, err := s.Resident(ctx, "r1")
	must(t, err, "Resident r1")
	same(t, "Resident r1", normResident(got), normResident(r1))
	got, err = s.ResidentByIDHash(ctx, "h2")
	must(t, err, "ResidentByIDHash h2")
	same(t, "ResidentByIDHash h2", normResident(got), normResident(r2))

	_, err = s.Resident(ctx, "r-none")
	wantCode(t, err, hub.ENOTFOUND, "Resident of a missing ID")
	_, err = s.ResidentByIDHash(ctx, "h-none")
	wantCode(t, err, hub.ENOTFOUND, "ResidentByIDHash of a missing hash")

	tests := []struct {
		give string
		want int
	}{
		{give: "", want: 2},
		{give: "c1", want: 1},
		{give: "c-none", want: 0},
	}
	for _, tt := range tests {
		n, err := s.CountResidents(ctx, tt.give)
		must(t, err, "CountResidents "+tt.give)
		same(t, "CountResidents("+tt.give+")", n, tt.want)
	}
}

func testResidentConflicts(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	r1 := resident("r1", "h1", "c1")
	must(t, s.CreateResidents(ctx, r1), "CreateResidents r1")

	tests := []struct {
		name  string
		give  []*hub.Resident
		names string // the resident the message names: the one holding what clashed
	}{
		{name: "registered ID", give: []*hub.Resident{resident("r8", "h8", "c1"), resident("r1", "h9", "c1")}, names: "r1"},
		{name: "registered ID hash", give: []*hub.Resident{resident("r8", "h8", "c1"), resident("r9", "h1", "c2")}, names: "r1"},
		{name: "ID repeated in batch", give: []*hub.Resident{resident("r8", "h8", "c1"), resident("r8", "h9", "c1")}, names: "r8"},
		{name: "ID hash repeated in batch", give: []*hub.Resident{resident("r8", "h8", "c1"), resident("r9", "h8", "c2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateResidents(ctx, tt.give...)
			wantCode(t, err, hub.ECONFLICT, "CreateResidents")
			if tt.names != "" && !strings.Contains(hub.ErrorMessage(err), `"`+tt.names+`"`) {
				t.Errorf("conflict %q does not name resident %s, who holds it", hub.ErrorMessage(err), tt.names)
			}
			if tt.names == "r1" && strings.Contains(hub.ErrorMessage(err), `"r9"`) {
				t.Errorf("conflict %q names the refused registration, not the first", hub.ErrorMessage(err))
			}

			// Nothing written.
			for _, id := range []string{"r8", "r9"} {
				_, err := s.Resident(ctx, id)
				wantCode(t, err, hub.ENOTFOUND, "Resident "+id+" of a rejected batch")
			}
			for _, hash := range []string{"h8", "h9"} {
				_, err := s.ResidentByIDHash(ctx, hash)
				wantCode(t, err, hub.ENOTFOUND, "ResidentByIDHash "+hash+" of a rejected batch")
			}
			got, err := s.Resident(ctx, "r1")
			must(t, err, "Resident r1")
			same(t, "Resident r1 after a rejected batch", normResident(got), normResident(r1))
			got, err = s.ResidentByIDHash(ctx, "h1")
			must(t, err, "ResidentByIDHash h1")
			same(t, "ResidentByIDHash h1 after a rejected batch", got.ID, "r1")
			for _, c := range []string{"", "c1", "c2"} {
				want := map[string]int{"": 1, "c1": 1}[c]
				n, err := s.CountResidents(ctx, c)
				must(t, err, "CountResidents")
				same(t, "CountResidents("+c+") after a rejected batch", n, want)
			}
			rs, err := s.Residents(ctx, hub.ResidentFilter{})
			must(t, err, "Residents")
			same(t, "Residents after a rejected batch", ids(rs, residentID), []string{"r1"})
			rs, err = s.Residents(ctx, hub.ResidentFilter{CommitteeID: "c2"})
			must(t, err, "Residents of c2")
			same(t, "Residents of c2 after a rejected batch", len(rs), 0)
		})
	}
}

func testResidentPaging(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	// 25 residents r00..r24 in three committees (none for a third of
	// them), created in a shuffled order in batches of four.
	var all, ofA, ofB []string
	var rs []*hub.Resident
	for i := range 25 {
		id := fmt.Sprintf("r%02d", i)
		var c string
		switch i % 3 {
		case 0:
			c, ofA = "cA", append(ofA, id)
		case 1:
			c, ofB = "cB", append(ofB, id)
		}
		all = append(all, id)
		rs = append(rs, resident(id, "h"+id, c))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	for i := 0; i < len(rs); i += 4 {
		must(t, s.CreateResidents(ctx, rs[i:min(i+4, len(rs))]...), "CreateResidents")
	}

	for _, limit := range []int{0, -1, 1, 2, 7, 25, 100} {
		for _, c := range []struct {
			id   string
			want []string
		}{{"", all}, {"cA", ofA}, {"cB", ofB}, {"c-none", nil}} {
			same(t, fmt.Sprintf("residents of %q paged by %d", c.id, limit), residentIDs(t, s, c.id, limit), c.want)
		}
	}

	tests := []struct {
		name string
		give hub.ResidentFilter
		want []string
	}{
		{name: "all", give: hub.ResidentFilter{}, want: all},
		{name: "after an ID", give: hub.ResidentFilter{After: "r10", Limit: 3}, want: []string{"r11", "r12", "r13"}},
		{name: "after a missing ID", give: hub.ResidentFilter{After: "r10x", Limit: 2}, want: []string{"r11", "r12"}},
		{name: "after the last", give: hub.ResidentFilter{After: "r24"}, want: []string{}},
		{name: "before the first", give: hub.ResidentFilter{After: "a", Limit: 1}, want: []string{"r00"}},
		{name: "last page short", give: hub.ResidentFilter{After: "r20", Limit: 10}, want: []string{"r21", "r22", "r23", "r24"}},
		{name: "committee after an ID", give: hub.ResidentFilter{CommitteeID: "cA", After: "r09", Limit: 2}, want: []string{"r12", "r15"}},
		{name: "committee after a missing ID", give: hub.ResidentFilter{CommitteeID: "cB", After: "r05", Limit: 2}, want: []string{"r07", "r10"}},
		{name: "committee after its last", give: hub.ResidentFilter{CommitteeID: "cB", After: "r22"}, want: []string{}},
		{name: "committee unknown", give: hub.ResidentFilter{CommitteeID: "c-none", Limit: 5}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the same page twice: a stable order
				got, err := s.Residents(ctx, tt.give)
				must(t, err, "Residents")
				same(t, fmt.Sprintf("Residents(%+v)", tt.give), ids(got, residentID), tt.want)
			}
		})
	}

	// Pages carry whole records.
	page, err := s.Residents(ctx, hub.ResidentFilter{CommitteeID: "cA", Limit: 1})
	must(t, err, "Residents of cA")
	same(t, "first resident of cA", normAll(page, normResident), []hub.Resident{normResident(resident("r00", "hr00", "cA"))})

	counts := []struct {
		give string
		want int
	}{
		{give: "", want: 25},
		{give: "cA", want: len(ofA)},
		{give: "cB", want: len(ofB)},
		{give: "c-none", want: 0},
	}
	for _, tt := range counts {
		n, err := s.CountResidents(ctx, tt.give)
		must(t, err, "CountResidents")
		same(t, "CountResidents("+tt.give+")", n, tt.want)
	}
}
