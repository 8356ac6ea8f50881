package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Health codes and checkpoints, beyond what hub.CodesStore documents: a
// subject says nothing of the resident (neither their ID nor their ID
// hash appears in it); RiskLevels of a cell no area covers leaves it out;
// ContactsIn's bounds are both inclusive and repeated cells count once;
// MarkContacts keeps the latest contact, and every case's; CaseStatus of an unknown resident
// is the zero CaseStatus.

// Codes fixtures. Cells need not be valid H3 cells: the store keeps them
// as numbers.
const (
	cellA hub.Cell = 0x8928308280fffff
	cellB hub.Cell = 0x8928308283bffff
	cellC hub.Cell = 0x892830828cfffff
)

// declaration returns a valid declaration of a resident at(n).
func declaration(id, residentID string, n int, colour hub.Colour) *hub.Declaration {
	return &hub.Declaration{
		ID: id, ResidentID: residentID, SubjectID: "sub-" + residentID,
		Symptoms: []string{"COUGH"}, Temperature: 37.5, TravelFromRisk: true,
		FiledBy: residentID, FiledByKind: hub.FiledBySelf, Cell: cellA, DistrictID: "d1",
		Colour: colour, Reasons: []string{"FEVER", "SYMPTOMS"}, At: at(n),
	}
}

func normDeclaration(d *hub.Declaration) hub.Declaration {
	c := *d
	c.At = ms(c.At)
	if len(c.Symptoms) == 0 {
		c.Symptoms = nil
	}
	if len(c.Reasons) == 0 {
		c.Reasons = nil
	}
	return c
}

// riskArea returns an area in force around centre: the centre HIGH and
// the other cells MEDIUM.
func riskArea(id string, centre hub.Cell, others ...hub.Cell) *hub.RiskArea {
	cells := []hub.RiskCell{{Cell: centre, Level: hub.RiskHigh}}
	for _, c := range others {
		cells = append(cells, hub.RiskCell{Cell: c, Level: hub.RiskMedium})
	}
	slices.SortFunc(cells, func(a, b hub.RiskCell) int {
		if a.Cell < b.Cell {
			return -1
		} else if a.Cell > b.Cell {
			return 1
		}
		return 0
	})
	return &hub.RiskArea{ID: id, Cell: centre, Rings: 1, Reason: "cluster", Cells: cells, MarkedAt: at(20)}
}

func normRiskArea(a *hub.RiskArea) hub.RiskArea {
	c := *a
	c.MarkedAt, c.LiftedAt = ms(c.MarkedAt), ms(c.LiftedAt)
	if c.LiftedAt.Equal(ms(time.Time{})) {
		c.LiftedAt = time.Time{}
	}
	return c
}

func healthCode(residentID string, cell hub.Cell, colour hub.Colour, version uint64) *hub.HealthCode {
	return &hub.HealthCode{
		ResidentID: residentID, SubjectID: "sub-" + residentID, Cell: cell, DistrictID: "d1",
		CommitteeID: "c1", Colour: colour, Reasons: []string{"R"}, Version: version, UpdatedAt: at(30),
	}
}

func normHealthCode(c *hub.HealthCode) hub.HealthCode {
	x := *c
	x.UpdatedAt = ms(x.UpdatedAt)
	if len(x.Reasons) == 0 {
		x.Reasons = nil
	}
	return x
}

// scan returns a valid PASS scan of a resident at checkpoint k1 in cell,
// minute n.
func scan(id, residentID string, cell hub.Cell, n int) *hub.Scan {
	return &hub.Scan{
		ID: id, CheckpointID: "k1", Cell: cell, ResidentID: residentID, SubjectID: "sub-" + residentID,
		At: at(n), Temperature: 36.6, Colour: hub.Green, Result: hub.ScanPass,
	}
}

func normScan(s *hub.Scan) hub.Scan {
	c := *s
	c.At = ms(c.At)
	return c
}

func scanIDs(ss []*hub.Scan) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// codesSeed writes two districts' residents and the checkpoints the codes
// tests use.
func codesSeed(t *testing.T, s hub.Store) {
	t.Helper()
	ctx := t.Context()
	rs := []*hub.Resident{resident("r1", "h1", "c1"), resident("r2", "h2", "c1"), resident("r3", "h3", "c2")}
	rs[2].DistrictID = "d2"
	must(t, s.CreateResidents(ctx, rs...), "CreateResidents")
	k2 := checkpoint("k2")
	k2.Cell = cellB
	must(t, s.UpsertCheckpoints(ctx, checkpoint("k1"), k2), "UpsertCheckpoints")
}

func testSubjects(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	_, err := s.SubjectOf(ctx, "nobody")
	wantCode(t, err, hub.ENOTFOUND, "SubjectOf an unknown resident")
	_, err = s.SubjectOf(ctx, "")
	wantCode(t, err, hub.EINVALID, "SubjectOf no resident")
	_, err = s.ResidentOfSubject(ctx, "nothing")
	wantCode(t, err, hub.ENOTFOUND, "ResidentOfSubject of an unknown subject")
	_, err = s.ResidentOfSubject(ctx, "")
	wantCode(t, err, hub.ENOTFOUND, "ResidentOfSubject of no subject")

	s1, err := s.SubjectOf(ctx, "r1")
	must(t, err, "SubjectOf r1")
	again, err := s.SubjectOf(ctx, "r1")
	must(t, err, "SubjectOf r1 again")
	same(t, "subject of r1, asked twice", again, s1)
	s2, err := s.SubjectOf(ctx, "r2")
	must(t, err, "SubjectOf r2")
	if s1 == s2 || len(s1) < 16 {
		t.Fatalf("subjects %q and %q: want distinct, at least 16 characters", s1, s2)
	}
	for _, leak := range []string{"r1", "h1"} {
		if strings.Contains(s1, leak) {
			t.Fatalf("subject %q contains %q", s1, leak)
		}
	}
	id, err := s.ResidentOfSubject(ctx, s2)
	must(t, err, "ResidentOfSubject")
	same(t, "resident of r2's subject", id, "r2")

	// Many first asks at once agree on one subject.
	const n = 20
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.SubjectOf(ctx, "r3") })
	}
	wg.Wait()
	for i := range n {
		must(t, errs[i], "concurrent SubjectOf")
		same(t, "concurrent subjects of r3", got[i], got[0])
	}

	s = h.Reopen(t, s)
	after, err := s.SubjectOf(ctx, "r1")
	must(t, err, "SubjectOf after reopen")
	same(t, "subject of r1 after reopen", after, s1)
	id, err = s.ResidentOfSubject(ctx, got[0])
	must(t, err, "ResidentOfSubject after reopen")
	same(t, "resident of r3's subject after reopen", id, "r3")
}

func testDeclarations(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	_, err := s.LatestDeclaration(ctx, "r1")
	wantCode(t, err, hub.ENOTFOUND, "LatestDeclaration before any")
	wantCode(t, s.PutDeclaration(ctx, declaration("x1", "nobody", 1, hub.Green)), hub.ENOTFOUND, "PutDeclaration of an unknown resident")

	d1 := declaration("dc1", "r1", 10, hub.Yellow)
	must(t, s.PutDeclaration(ctx, d1), "PutDeclaration dc1")
	wantCode(t, s.PutDeclaration(ctx, declaration("dc1", "r2", 11, hub.Green)), hub.ECONFLICT, "PutDeclaration of a taken ID")
	got, err := s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration")
	same(t, "latest declaration", normDeclaration(got), normDeclaration(d1))

	// A later declaration takes over, an older one does not.
	d2 := declaration("dc2", "r1", 20, hub.Green)
	d2.FiledBy, d2.FiledByKind, d2.Symptoms, d2.Reasons = "c1", hub.FiledByCommittee, nil, nil
	must(t, s.PutDeclaration(ctx, d2), "PutDeclaration dc2")
	must(t, s.PutDeclaration(ctx, declaration("dc0", "r1", 5, hub.Red)), "PutDeclaration of an older one")
	got, err = s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration")
	same(t, "latest declaration after a later and an older one", normDeclaration(got), normDeclaration(d2))

	d3 := declaration("dc3", "r2", 12, hub.Red)
	d3.Cell = cellB
	d4 := declaration("dc4", "r3", 13, hub.Yellow)
	d4.DistrictID, d4.FiledBy, d4.FiledByKind = "d2", "school-1", hub.FiledBySchool
	must(t, s.PutDeclaration(ctx, d3), "PutDeclaration dc3")
	must(t, s.PutDeclaration(ctx, d4), "PutDeclaration dc4")

	counts, err := s.DeclarationCounts(ctx, "")
	must(t, err, "DeclarationCounts")
	same(t, "declaration counts", counts, []hub.DeclarationCount{
		{DistrictID: "d1", Cell: cellA, Colour: hub.Green, FiledByKind: hub.FiledByCommittee, Count: 1},
		{DistrictID: "d1", Cell: cellB, Colour: hub.Red, FiledByKind: hub.FiledBySelf, Count: 1},
		{DistrictID: "d2", Cell: cellA, Colour: hub.Yellow, FiledByKind: hub.FiledBySchool, Count: 1},
	})
	counts, err = s.DeclarationCounts(ctx, "d2")
	must(t, err, "DeclarationCounts d2")
	same(t, "declaration counts of d2", counts, []hub.DeclarationCount{
		{DistrictID: "d2", Cell: cellA, Colour: hub.Yellow, FiledByKind: hub.FiledBySchool, Count: 1},
	})
	counts, err = s.DeclarationCounts(ctx, "d9")
	must(t, err, "DeclarationCounts d9")
	same(t, "declaration counts of an unknown district", len(counts), 0)

	// Malformed declarations write nothing.
	tests := []struct {
		name string
		give func(d *hub.Declaration)
	}{
		{"no ID", func(d *hub.Declaration) { d.ID = "" }},
		{"no resident", func(d *hub.Declaration) { d.ResidentID = "" }},
		{"no filer", func(d *hub.Declaration) { d.FiledBy = "" }},
		{"unknown colour", func(d *hub.Declaration) { d.Colour = "BLUE" }},
		{"unknown filer kind", func(d *hub.Declaration) { d.FiledByKind = "ROBOT" }},
		{"impossible temperature", func(d *hub.Declaration) { d.Temperature = 98.6 }},
		{"cold temperature", func(d *hub.Declaration) { d.Temperature = 12 }},
		{"no time", func(d *hub.Declaration) { d.At = time.Time{} }},
		{"empty symptom", func(d *hub.Declaration) { d.Symptoms = []string{""} }},
		{"too many symptoms", func(d *hub.Declaration) { d.Symptoms = make([]string, hub.MaxSymptoms+1) }},
		{"NUL in ID", func(d *hub.Declaration) { d.ID = "a\x00b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := declaration("bad", "r2", 50, hub.Green)
			tt.give(d)
			wantCode(t, s.PutDeclaration(ctx, d), hub.EINVALID, tt.name)
			wantCode(t, s.PutDeclaration(ctx, nil), hub.EINVALID, "nil declaration")
		})
	}
	got, err = s.LatestDeclaration(ctx, "r2")
	must(t, err, "LatestDeclaration r2")
	same(t, "latest of r2 after malformed ones", got.ID, "dc3")

	s = h.Reopen(t, s)
	got, err = s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration after reopen")
	same(t, "latest declaration after reopen", normDeclaration(got), normDeclaration(d2))
	again, err := s.DeclarationCounts(ctx, "")
	must(t, err, "DeclarationCounts after reopen")
	same(t, "declaration counts after reopen", len(again), 3)

	// The reopened store goes on counting.
	must(t, s.PutDeclaration(ctx, declaration("dc5", "r2", 30, hub.Green)), "PutDeclaration after reopen")
	counts, err = s.DeclarationCounts(ctx, "d1")
	must(t, err, "DeclarationCounts")
	same(t, "declaration counts of d1 after r2 declared again", counts, []hub.DeclarationCount{
		{DistrictID: "d1", Cell: cellA, Colour: hub.Green, FiledByKind: hub.FiledByCommittee, Count: 1},
		{DistrictID: "d1", Cell: cellA, Colour: hub.Green, FiledByKind: hub.FiledBySelf, Count: 1},
	})
}

func testRiskAreas(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	levels := func(what string, cells ...hub.Cell) map[hub.Cell]hub.RiskLevel {
		t.Helper()
		m, err := s.RiskLevels(ctx, cells)
		must(t, err, "RiskLevels "+what)
		return m
	}
	same(t, "levels with no areas", len(levels("none", cellA, cellB)), 0)

	a1 := riskArea("ra1", cellA, cellB)
	must(t, s.UpsertRiskArea(ctx, a1), "UpsertRiskArea ra1")
	a2 := riskArea("ra2", cellB, cellC)
	must(t, s.UpsertRiskArea(ctx, a2), "UpsertRiskArea ra2")
	same(t, "levels of two areas", levels("two", cellA, cellB, cellC, 0x1),
		map[hub.Cell]hub.RiskLevel{cellA: hub.RiskHigh, cellB: hub.RiskHigh, cellC: hub.RiskMedium})

	got, err := s.RiskArea(ctx, "ra1")
	must(t, err, "RiskArea")
	same(t, "risk area", normRiskArea(got), normRiskArea(a1))
	_, err = s.RiskArea(ctx, "ra9")
	wantCode(t, err, hub.ENOTFOUND, "RiskArea unknown")

	// Lifting ra2 leaves ra1's levels.
	lifted, err := s.LiftRiskArea(ctx, "ra2", at(40))
	must(t, err, "LiftRiskArea")
	same(t, "lifted at", ms(lifted.LiftedAt), ms(at(40)))
	same(t, "levels after lifting ra2", levels("after lift", cellA, cellB, cellC),
		map[hub.Cell]hub.RiskLevel{cellA: hub.RiskHigh, cellB: hub.RiskMedium})
	_, err = s.LiftRiskArea(ctx, "ra2", at(41))
	wantCode(t, err, hub.ECONFLICT, "LiftRiskArea twice")
	_, err = s.LiftRiskArea(ctx, "ra9", at(41))
	wantCode(t, err, hub.ENOTFOUND, "LiftRiskArea unknown")
	_, err = s.LiftRiskArea(ctx, "ra1", time.Time{})
	wantCode(t, err, hub.EINVALID, "LiftRiskArea at no time")

	all, err := s.RiskAreas(ctx, false)
	must(t, err, "RiskAreas")
	same(t, "all areas", ids(all, func(a *hub.RiskArea) string { return a.ID }), []string{"ra1", "ra2"})
	active, err := s.RiskAreas(ctx, true)
	must(t, err, "RiskAreas active")
	same(t, "active areas", ids(active, func(a *hub.RiskArea) string { return a.ID }), []string{"ra1"})

	// Marking again replaces: a smaller area unfiles the cells it lost,
	// and a lifted area marked again is in force.
	must(t, s.UpsertRiskArea(ctx, riskArea("ra1", cellA)), "UpsertRiskArea ra1 smaller")
	same(t, "levels after ra1 shrank", levels("shrank", cellA, cellB), map[hub.Cell]hub.RiskLevel{cellA: hub.RiskHigh})
	must(t, s.UpsertRiskArea(ctx, riskArea("ra2", cellB, cellC)), "UpsertRiskArea ra2 again")
	same(t, "levels after ra2 came back", levels("back", cellB, cellC), map[hub.Cell]hub.RiskLevel{cellB: hub.RiskHigh, cellC: hub.RiskMedium})

	tests := []struct {
		name string
		give func(a *hub.RiskArea)
	}{
		{"no ID", func(a *hub.RiskArea) { a.ID = "" }},
		{"no centre", func(a *hub.RiskArea) { a.Cell = 0 }},
		{"negative rings", func(a *hub.RiskArea) { a.Rings = -1 }},
		{"too many rings", func(a *hub.RiskArea) { a.Rings = hub.MaxRiskRings + 1 }},
		{"no cells", func(a *hub.RiskArea) { a.Cells = nil }},
		{"unknown level", func(a *hub.RiskArea) { a.Cells[1].Level = "EXTREME" }},
		{"unsorted cells", func(a *hub.RiskArea) { a.Cells[0], a.Cells[1] = a.Cells[1], a.Cells[0] }},
		{"centre not HIGH", func(a *hub.RiskArea) {
			for i := range a.Cells {
				a.Cells[i].Level = hub.RiskMedium
			}
		}},
		{"centre missing", func(a *hub.RiskArea) { a.Cell = cellC }},
		{"no time", func(a *hub.RiskArea) { a.MarkedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := riskArea("bad", cellA, cellB)
			tt.give(a)
			wantCode(t, s.UpsertRiskArea(ctx, a), hub.EINVALID, tt.name)
		})
	}
	wantCode(t, s.UpsertRiskArea(ctx, nil), hub.EINVALID, "nil area")
	_, err = s.RiskArea(ctx, "bad")
	wantCode(t, err, hub.ENOTFOUND, "a malformed area was written")

	s = h.Reopen(t, s)
	same(t, "levels after reopen", levels("reopen", cellA, cellB, cellC),
		map[hub.Cell]hub.RiskLevel{cellA: hub.RiskHigh, cellB: hub.RiskHigh, cellC: hub.RiskMedium})
	_, err = s.LiftRiskArea(ctx, "ra2", at(60))
	must(t, err, "LiftRiskArea after reopen")
	same(t, "levels after reopen and a lift", levels("reopen lift", cellA, cellB, cellC),
		map[hub.Cell]hub.RiskLevel{cellA: hub.RiskHigh})
}

func testHealthCodes(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	_, err := s.HealthCode(ctx, "r1")
	wantCode(t, err, hub.ENOTFOUND, "HealthCode before any")
	got, err := s.PutHealthCode(ctx, healthCode("r1", cellA, hub.Green, 0))
	must(t, err, "PutHealthCode r1")
	same(t, "version of a new code", got.Version, uint64(1))
	_, err = s.PutHealthCode(ctx, healthCode("r1", cellA, hub.Red, 0))
	wantCode(t, err, hub.ECONFLICT, "PutHealthCode of a new code that exists")
	_, err = s.PutHealthCode(ctx, healthCode("r1", cellA, hub.Red, 2))
	wantCode(t, err, hub.ECONFLICT, "PutHealthCode at a version ahead")
	_, err = s.PutHealthCode(ctx, healthCode("r9", cellA, hub.Red, 3))
	wantCode(t, err, hub.ECONFLICT, "PutHealthCode of a code not stored at a version")

	_, err = s.PutHealthCode(ctx, healthCode("r2", cellA, hub.Yellow, 0))
	must(t, err, "PutHealthCode r2")
	_, err = s.PutHealthCode(ctx, healthCode("r3", cellB, hub.Yellow, 0))
	must(t, err, "PutHealthCode r3")
	r4 := healthCode("r4", cellC, hub.Red, 0)
	r4.DistrictID = "d2"
	_, err = s.PutHealthCode(ctx, r4)
	must(t, err, "PutHealthCode r4")

	// r1 turns red and moves to cellB.
	next := healthCode("r1", cellB, hub.Red, 1)
	got, err = s.PutHealthCode(ctx, next)
	must(t, err, "PutHealthCode r1 v1")
	next.Version = 2
	same(t, "code as stored", normHealthCode(got), normHealthCode(next))
	stored, err := s.HealthCode(ctx, "r1")
	must(t, err, "HealthCode")
	same(t, "code read back", normHealthCode(stored), normHealthCode(next))

	in, err := s.HealthCodesIn(ctx, []hub.Cell{cellB, cellA, cellB})
	must(t, err, "HealthCodesIn")
	same(t, "codes in cells A and B", ids(in, func(c *hub.HealthCode) string { return c.ResidentID }), []string{"r2", "r1", "r3"})
	in, err = s.HealthCodesIn(ctx, []hub.Cell{0x1})
	must(t, err, "HealthCodesIn empty")
	same(t, "codes in an empty cell", len(in), 0)

	counts, err := s.ColourCounts(ctx, "")
	must(t, err, "ColourCounts")
	same(t, "colour counts", counts, []hub.ColourCount{
		{DistrictID: "d1", Cell: cellA, Colour: hub.Yellow, Count: 1},
		{DistrictID: "d1", Cell: cellB, Colour: hub.Yellow, Count: 1},
		{DistrictID: "d1", Cell: cellB, Colour: hub.Red, Count: 1},
		{DistrictID: "d2", Cell: cellC, Colour: hub.Red, Count: 1},
	})
	counts, err = s.ColourCounts(ctx, "d2")
	must(t, err, "ColourCounts d2")
	same(t, "colour counts of d2", counts, []hub.ColourCount{{DistrictID: "d2", Cell: cellC, Colour: hub.Red, Count: 1}})

	// Concurrent writers of one version: exactly one wins.
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := healthCode("r2", cellA, hub.Red, 1)
			c.Reasons = []string{fmt.Sprint(i)}
			_, errs[i] = s.PutHealthCode(ctx, c)
		})
	}
	wg.Wait()
	codes := map[string]int{}
	for _, err := range errs {
		codes[hub.ErrorCode(err)]++
	}
	same(t, "outcomes of 10 writes of one version", codes, map[string]int{"": 1, hub.ECONFLICT: n - 1})

	tests := []struct {
		name string
		give func(c *hub.HealthCode)
	}{
		{"no resident", func(c *hub.HealthCode) { c.ResidentID = "" }},
		{"no subject", func(c *hub.HealthCode) { c.SubjectID = "" }},
		{"unknown colour", func(c *hub.HealthCode) { c.Colour = "" }},
		{"no time", func(c *hub.HealthCode) { c.UpdatedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := healthCode("r7", cellA, hub.Green, 0)
			tt.give(c)
			_, err := s.PutHealthCode(ctx, c)
			wantCode(t, err, hub.EINVALID, tt.name)
		})
	}
	_, err = s.PutHealthCode(ctx, nil)
	wantCode(t, err, hub.EINVALID, "nil code")
	_, err = s.HealthCode(ctx, "r7")
	wantCode(t, err, hub.ENOTFOUND, "a malformed code was written")

	s = h.Reopen(t, s)
	stored, err = s.HealthCode(ctx, "r1")
	must(t, err, "HealthCode after reopen")
	same(t, "code after reopen", normHealthCode(stored), normHealthCode(next))
	again, err := s.ColourCounts(ctx, "")
	must(t, err, "ColourCounts after reopen")
	same(t, "colour count groups after reopen", len(again), 4)
	_, err = s.PutHealthCode(ctx, healthCode("r1", cellB, hub.Green, 2))
	must(t, err, "PutHealthCode after reopen")
}

func testCases(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	st, err := s.CaseStatus(ctx, "r1")
	must(t, err, "CaseStatus")
	same(t, "status of nobody in particular", st, hub.CaseStatus{})
	wantCode(t, s.MarkCase(ctx, "nobody", at(1)), hub.ENOTFOUND, "MarkCase of an unknown resident")
	wantCode(t, s.MarkCase(ctx, "r1", time.Time{}), hub.EINVALID, "MarkCase at no time")

	must(t, s.MarkCase(ctx, "r1", at(10)), "MarkCase")
	must(t, s.MarkCase(ctx, "r1", at(20)), "MarkCase later")
	must(t, s.MarkContacts(ctx, "r1",
		hub.Contact{ResidentID: "r2", FirstAt: at(5), LastAt: at(8)},
		hub.Contact{SubjectID: "visitor", FirstAt: at(5), LastAt: at(8)},
	), "MarkContacts")
	must(t, s.MarkContacts(ctx, "r3", hub.Contact{ResidentID: "r2", FirstAt: at(1), LastAt: at(2)}), "MarkContacts older")
	wantCode(t, s.MarkContacts(ctx, "r1", hub.Contact{ResidentID: "r3"}), hub.EINVALID, "MarkContacts without a time")
	wantCode(t, s.MarkContacts(ctx, "", hub.Contact{ResidentID: "r3", LastAt: at(1)}), hub.EINVALID, "MarkContacts without a case")

	check := func(what string) {
		t.Helper()
		st, err := s.CaseStatus(ctx, "r1")
		must(t, err, "CaseStatus r1")
		same(t, "case r1 "+what, ms(st.CaseAt), ms(at(10)))
		st, err = s.CaseStatus(ctx, "r2")
		must(t, err, "CaseStatus r2")
		same(t, "contact r2 "+what, []any{ms(st.ContactAt), st.ContactOf, st.CaseAt.IsZero()}, []any{ms(at(8)), "r1", true})
		same(t, "cases of contact r2 "+what, normCase(st).Contacts, []hub.CaseContact{{CaseID: "r1", At: ms(at(8))}, {CaseID: "r3", At: ms(at(2))}})
	}
	check("")
	s = h.Reopen(t, s)
	check("after reopen")

	must(t, s.MarkCase(ctx, "r2", at(30)), "MarkCase of a contact")
	st, err = s.CaseStatus(ctx, "r2")
	must(t, err, "CaseStatus")
	same(t, "a contact marked a case keeps the contact", []any{ms(st.CaseAt), st.ContactOf}, []any{ms(at(30)), "r1"})
}

func testScans(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	scans := []*hub.Scan{
		scan("s1", "r1", cellA, 10),
		scan("s2", "r2", cellA, 12),
		scan("s3", "r1", cellB, 30),
		scan("s4", "r1", cellA, 5), // recorded later, earlier in time
		scan("s5", "r3", cellC, 12),
	}
	scans[1].Result, scans[1].Temperature = hub.ScanFever, 38.2
	visitor := scan("s6", "", cellA, 11)
	visitor.SubjectID, visitor.Colour, visitor.Result = "other-city-subject", hub.Yellow, hub.ScanDeny
	must(t, s.RecordScans(ctx, scans[:3]...), "RecordScans")
	must(t, s.RecordScans(ctx, scans[3], scans[4], visitor), "RecordScans")
	must(t, s.RecordScans(ctx), "RecordScans of nothing")

	traj := func(what, id string, since time.Time, limit int) []*hub.Scan {
		t.Helper()
		out, err := s.Trajectory(ctx, id, since, limit)
		must(t, err, "Trajectory "+what)
		return out
	}
	got := traj("r1", "r1", time.Time{}, 0)
	same(t, "trajectory of r1", normAll(got, normScan), normAll([]*hub.Scan{scans[3], scans[0], scans[2]}, normScan))
	same(t, "trajectory of r1 since minute 10 (inclusive)", scanIDs(traj("since", "r1", at(10), 0)), []string{"s1", "s3"})
	same(t, "trajectory of r1, 2 at most", scanIDs(traj("limit", "r1", time.Time{}, 2)), []string{"s4", "s1"})
	same(t, "trajectory of r2", scanIDs(traj("r2", "r2", time.Time{}, 0)), []string{"s2"})
	same(t, "trajectory of a prefix of an ID", scanIDs(traj("prefix", "r", time.Time{}, 0)), []string{})
	same(t, "trajectory of nobody", scanIDs(traj("nobody", "nobody", time.Time{}, 0)), []string{})
	same(t, "trajectory in the future", scanIDs(traj("future", "r1", at(31), 0)), []string{})

	in := func(what string, cells []hub.Cell, from, to time.Time) []*hub.Scan {
		t.Helper()
		out, err := s.ContactsIn(ctx, cells, from, to)
		must(t, err, "ContactsIn "+what)
		return out
	}
	same(t, "scans in A, minutes 10 to 12 (inclusive)", scanIDs(in("A", []hub.Cell{cellA}, at(10), at(12))), []string{"s1", "s6", "s2"})
	same(t, "scans in A and C, minutes 10 to 12", scanIDs(in("AC", []hub.Cell{cellC, cellA, cellA}, at(10), at(12))), []string{"s1", "s6", "s2", "s5"})
	same(t, "scans in A and B, all day", scanIDs(in("AB", []hub.Cell{cellA, cellB}, at(0), at(1000))), []string{"s4", "s1", "s6", "s2", "s3"})
	same(t, "scans in B before minute 30", scanIDs(in("B", []hub.Cell{cellB}, at(0), at(29))), []string{})
	same(t, "scans in an empty range", scanIDs(in("backwards", []hub.Cell{cellA}, at(12), at(10))), []string{})
	same(t, "scans in no cells", scanIDs(in("none", nil, at(0), at(100))), []string{})
	gotVisitor := in("visitor", []hub.Cell{cellA}, at(11), at(11))
	same(t, "a visitor's scan", normAll(gotVisitor, normScan), normAll([]*hub.Scan{visitor}, normScan))
	_, err := s.ContactsIn(ctx, make([]hub.Cell, hub.MaxContactCells+1), at(0), at(1))
	wantCode(t, err, hub.EINVALID, "ContactsIn of too many cells")

	// An upload retried with the same content is skipped; other content
	// under a taken ID is a conflict, and the batch writes nothing.
	must(t, s.RecordScans(ctx, scan("s1", "r1", cellA, 10), scan("s7", "r2", cellB, 40)), "RecordScans retried")
	changed := scan("s1", "r1", cellA, 11)
	wantCode(t, s.RecordScans(ctx, scan("s8", "r2", cellB, 41), changed), hub.ECONFLICT, "RecordScans of a taken ID")
	wantCode(t, s.RecordScans(ctx, scan("s9", "r2", cellB, 42), scan("s9", "r2", cellB, 43)), hub.ECONFLICT, "RecordScans of an ID twice")
	same(t, "trajectory of r2 after a retry and conflicts", scanIDs(traj("r2 again", "r2", time.Time{}, 0)), []string{"s2", "s7"})

	unknown := scan("s10", "r2", cellB, 44)
	unknown.CheckpointID = "k9"
	wantCode(t, s.RecordScans(ctx, scan("s11", "r2", cellB, 45), unknown), hub.ENOTFOUND, "RecordScans at an unknown checkpoint")

	tests := []struct {
		name string
		give func(sc *hub.Scan)
	}{
		{"no ID", func(sc *hub.Scan) { sc.ID = "" }},
		{"no checkpoint", func(sc *hub.Scan) { sc.CheckpointID = "" }},
		{"no person", func(sc *hub.Scan) { sc.ResidentID, sc.SubjectID = "", "" }},
		{"no cell", func(sc *hub.Scan) { sc.Cell = 0 }},
		{"no time", func(sc *hub.Scan) { sc.At = time.Time{} }},
		{"before 1970", func(sc *hub.Scan) { sc.At = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"impossible temperature", func(sc *hub.Scan) { sc.Temperature = 60 }},
		{"negative temperature", func(sc *hub.Scan) { sc.Temperature = -36.6 }},
		{"unknown result", func(sc *hub.Scan) { sc.Result = "MAYBE" }},
		{"unknown colour", func(sc *hub.Scan) { sc.Colour = "PURPLE" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := scan("s12", "r2", cellB, 46)
			tt.give(bad)
			wantCode(t, s.RecordScans(ctx, scan("s13", "r2", cellB, 47), bad), hub.EINVALID, tt.name)
		})
	}
	wantCode(t, s.RecordScans(ctx, scan("s14", "r2", cellB, 48), nil), hub.EINVALID, "a nil scan")
	wantCode(t, s.RecordScans(ctx, make([]*hub.Scan, hub.MaxScanBatch+1)...), hub.EINVALID, "a batch over the limit")
	same(t, "trajectory of r2 after rejected batches", scanIDs(traj("r2 rejected", "r2", time.Time{}, 0)), []string{"s2", "s7"})
	_, err = s.Trajectory(ctx, "", time.Time{}, 0)
	wantCode(t, err, hub.EINVALID, "Trajectory of no resident")

	// Returned scans are the caller's.
	got = traj("r1", "r1", time.Time{}, 0)
	got[0].CheckpointID = "changed"
	same(t, "trajectory after its copy changed", traj("r1", "r1", time.Time{}, 1)[0].CheckpointID, "k1")

	s = h.Reopen(t, s)
	same(t, "trajectory of r1 after reopen", normAll(traj("reopen", "r1", time.Time{}, 0), normScan),
		normAll([]*hub.Scan{scans[3], scans[0], scans[2]}, normScan))
	same(t, "scans in A after reopen", scanIDs(in("reopen", []hub.Cell{cellA}, at(0), at(100))), []string{"s4", "s1", "s6", "s2"})
	must(t, s.RecordScans(ctx, scan("s1", "r1", cellA, 10)), "RecordScans retried after reopen")
	wantCode(t, s.RecordScans(ctx, changed), hub.ECONFLICT, "RecordScans of a taken ID after reopen")
}

func testConcurrentScans(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	// Twenty checkpoint devices upload fifty scans each, one at a time,
	// for ten residents, in two cells.
	const devices, each = 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, devices*each)
	for d := range devices {
		wg.Go(func() {
			for i := range each {
				n := d*each + i
				sc := scan(fmt.Sprintf("d%02d-%03d", d, i), fmt.Sprintf("p%d", n%10), []hub.Cell{cellA, cellB}[n%2], n%600)
				if err := s.RecordScans(ctx, sc); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent RecordScans: %v", err)
	}
	total := 0
	for p := range 10 {
		got, err := s.Trajectory(ctx, fmt.Sprintf("p%d", p), time.Time{}, 0)
		must(t, err, "Trajectory")
		total += len(got)
		for i, sc := range got {
			if sc.ResidentID != fmt.Sprintf("p%d", p) {
				t.Fatalf("trajectory of p%d holds a scan of %s", p, sc.ResidentID)
			}
			if i > 0 && (sc.At.Before(got[i-1].At) || sc.At.Equal(got[i-1].At) && sc.ID < got[i-1].ID) {
				t.Fatalf("trajectory of p%d out of order at %d", p, i)
			}
		}
	}
	same(t, "scans in trajectories", total, devices*each)
	all, err := s.ContactsIn(ctx, []hub.Cell{cellA, cellB}, at(0), at(600))
	must(t, err, "ContactsIn")
	same(t, "scans in the cells", len(all), devices*each)
}

func testCodesCopies(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)

	d := declaration("dc1", "r1", 1, hub.Yellow)
	must(t, s.PutDeclaration(ctx, d), "PutDeclaration")
	d.Symptoms[0], d.Reasons[0] = "changed", "changed"
	got, err := s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration")
	same(t, "declaration after its input changed", normDeclaration(got), normDeclaration(declaration("dc1", "r1", 1, hub.Yellow)))
	got.Symptoms[0] = "changed"
	got, err = s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration")
	same(t, "declaration after a returned copy changed", got.Symptoms[0], "COUGH")

	a := riskArea("ra1", cellA, cellB)
	must(t, s.UpsertRiskArea(ctx, a), "UpsertRiskArea")
	a.Cells[0].Level = hub.RiskLow
	ga, err := s.RiskArea(ctx, "ra1")
	must(t, err, "RiskArea")
	same(t, "area after its input changed", normRiskArea(ga), normRiskArea(riskArea("ra1", cellA, cellB)))

	c := healthCode("r1", cellA, hub.Green, 0)
	gc, err := s.PutHealthCode(ctx, c)
	must(t, err, "PutHealthCode")
	same(t, "the caller's code is left alone", c.Version, uint64(0))
	gc.Reasons[0] = "changed"
	c.Reasons[0] = "changed"
	gc, err = s.HealthCode(ctx, "r1")
	must(t, err, "HealthCode")
	same(t, "code after copies changed", gc.Reasons, []string{"R"})
}

// codesCalls are calls of every method of hub.CodesStore for everyCall.
// Writes use records no other call uses.
func codesCalls() []call {
	return []call{
		{"SubjectOf", func(ctx context.Context, s hub.Store) error { _, err := s.SubjectOf(ctx, "r1"); return err }},
		{"ResidentOfSubject", func(ctx context.Context, s hub.Store) error { _, err := s.ResidentOfSubject(ctx, "x"); return err }},
		{"PutDeclaration", func(ctx context.Context, s hub.Store) error {
			return s.PutDeclaration(ctx, declaration("dc9", "r1", 1, hub.Green))
		}},
		{"LatestDeclaration", func(ctx context.Context, s hub.Store) error { _, err := s.LatestDeclaration(ctx, "r1"); return err }},
		{"DeclarationCounts", func(ctx context.Context, s hub.Store) error { _, err := s.DeclarationCounts(ctx, "d1"); return err }},
		{"UpsertRiskArea", func(ctx context.Context, s hub.Store) error { return s.UpsertRiskArea(ctx, riskArea("ra9", cellC)) }},
		{"LiftRiskArea", func(ctx context.Context, s hub.Store) error { _, err := s.LiftRiskArea(ctx, "ra1", at(50)); return err }},
		{"RiskArea", func(ctx context.Context, s hub.Store) error { _, err := s.RiskArea(ctx, "ra1"); return err }},
		{"RiskAreas", func(ctx context.Context, s hub.Store) error { _, err := s.RiskAreas(ctx, true); return err }},
		{"RiskLevels", func(ctx context.Context, s hub.Store) error {
			_, err := s.RiskLevels(ctx, []hub.Cell{cellA})
			return err
		}},
		{"PutHealthCode", func(ctx context.Context, s hub.Store) error {
			_, err := s.PutHealthCode(ctx, healthCode("r1", cellA, hub.Red, 1))
			return err
		}},
		{"HealthCode", func(ctx context.Context, s hub.Store) error { _, err := s.HealthCode(ctx, "r1"); return err }},
		{"HealthCodesIn", func(ctx context.Context, s hub.Store) error {
			_, err := s.HealthCodesIn(ctx, []hub.Cell{cellA})
			return err
		}},
		{"ColourCounts", func(ctx context.Context, s hub.Store) error { _, err := s.ColourCounts(ctx, ""); return err }},
		{"MarkCase", func(ctx context.Context, s hub.Store) error { return s.MarkCase(ctx, "r1", at(1)) }},
		{"MarkContacts", func(ctx context.Context, s hub.Store) error {
			return s.MarkContacts(ctx, "r1", hub.Contact{ResidentID: "r9", FirstAt: at(1), LastAt: at(2)})
		}},
		{"CaseStatus", func(ctx context.Context, s hub.Store) error { _, err := s.CaseStatus(ctx, "r1"); return err }},
		{"RecordScans", func(ctx context.Context, s hub.Store) error { return s.RecordScans(ctx, scan("s9", "r1", cellA, 1)) }},
		{"Trajectory", func(ctx context.Context, s hub.Store) error {
			_, err := s.Trajectory(ctx, "r1", time.Time{}, 0)
			return err
		}},
		{"ContactsIn", func(ctx context.Context, s hub.Store) error {
			_, err := s.ContactsIn(ctx, []hub.Cell{cellA}, at(0), at(100))
			return err
		}},
	}
}

// codesSeedCalls writes the codes records everyCall reads and changes.
func codesSeedCalls(t *testing.T, s hub.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.PutDeclaration(ctx, declaration("dc1", "r1", 1, hub.Green)), "PutDeclaration")
	must(t, s.UpsertRiskArea(ctx, riskArea("ra1", cellA, cellB)), "UpsertRiskArea")
	_, err := s.PutHealthCode(ctx, healthCode("r1", cellA, hub.Green, 0))
	must(t, err, "PutHealthCode")
	must(t, s.RecordScans(ctx, scan("s1", "r1", cellA, 1)), "RecordScans")
}

// codesUnchanged fails t unless the canceled codes calls wrote nothing.
func codesUnchanged(t *testing.T, s hub.Store) {
	t.Helper()
	ctx := t.Context()
	d, err := s.LatestDeclaration(ctx, "r1")
	must(t, err, "LatestDeclaration")
	same(t, "latest declaration after a canceled one", d.ID, "dc1")
	_, err = s.RiskArea(ctx, "ra9")
	wantCode(t, err, hub.ENOTFOUND, "RiskArea written with a canceled context")
	a, err := s.RiskArea(ctx, "ra1")
	must(t, err, "RiskArea")
	same(t, "area after a canceled lift", a.Active(), true)
	c, err := s.HealthCode(ctx, "r1")
	must(t, err, "HealthCode")
	same(t, "code after a canceled write", []any{c.Colour, c.Version}, []any{hub.Green, uint64(1)})
	st, err := s.CaseStatus(ctx, "r1")
	must(t, err, "CaseStatus")
	same(t, "case marks after canceled ones", st, hub.CaseStatus{})
	st, err = s.CaseStatus(ctx, "r9")
	must(t, err, "CaseStatus")
	same(t, "contact marks after canceled ones", st, hub.CaseStatus{})
	tr, err := s.Trajectory(ctx, "r1", time.Time{}, 0)
	must(t, err, "Trajectory")
	same(t, "trajectory after a canceled scan", scanIDs(tr), []string{"s1"})
}
