package storetest

import (
	"testing"

	"github.com/gridhub/gridhub/hub"
)

func districtID(d *hub.District) string     { return d.ID }
func committeeID(c *hub.Committee) string   { return c.ID }
func checkpointID(c *hub.Checkpoint) string { return c.ID }

func testDistricts(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	ds, err := s.Districts(ctx)
	must(t, err, "Districts of an empty store")
	same(t, "Districts of an empty store", len(ds), 0)

	b, a := district("d-b"), district("d-a")
	must(t, s.UpsertDistrict(ctx, b), "UpsertDistrict d-b")
	must(t, s.UpsertDistrict(ctx, a), "UpsertDistrict d-a")

	got, err := s.District(ctx, "d-a")
	must(t, err, "District d-a")
	same(t, "District d-a", normDistrict(got), normDistrict(a))

	a.Name, a.Code, a.Cells, a.UpdatedAt = "Renamed", "D-A2", cells(7), at(60)
	must(t, s.UpsertDistrict(ctx, a), "UpsertDistrict d-a again")
	got, err = s.District(ctx, "d-a")
	must(t, err, "District d-a after replace")
	same(t, "District d-a after replace", normDistrict(got), normDistrict(a))

	ds, err = s.Districts(ctx)
	must(t, err, "Districts")
	same(t, "Districts", normAll(ds, normDistrict), []hub.District{normDistrict(a), normDistrict(b)})

	_, err = s.District(ctx, "d-none")
	wantCode(t, err, hub.ENOTFOUND, "District of a missing ID")
}

func testCommittees(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	cs, err := s.Committees(ctx, "")
	must(t, err, "Committees of an empty store")
	same(t, "Committees of an empty store", len(cs), 0)

	c3, c1, c2 := committee("c3", "C3", "d1"), committee("c1", "C1", "d1"), committee("c2", "C2", "d2")
	must(t, s.UpsertCommittees(ctx, c3, c1), "UpsertCommittees c3 c1")
	must(t, s.UpsertCommittees(ctx, c2), "UpsertCommittees c2")

	got, err := s.Committee(ctx, "c1")
	must(t, err, "Committee c1")
	same(t, "Committee c1", normCommittee(got), normCommittee(c1))
	got, err = s.CommitteeByCode(ctx, "C2")
	must(t, err, "CommitteeByCode C2")
	same(t, "CommitteeByCode C2", normCommittee(got), normCommittee(c2))

	tests := []struct {
		give string
		want []string
	}{
		{give: "", want: []string{"c1", "c2", "c3"}},
		{give: "d1", want: []string{"c1", "c3"}},
		{give: "d2", want: []string{"c2"}},
		{give: "d-none", want: []string{}},
	}
	for _, tt := range tests {
		cs, err := s.Committees(ctx, tt.give)
		must(t, err, "Committees "+tt.give)
		same(t, "Committees("+tt.give+")", ids(cs, committeeID), tt.want)
	}

	// Replacing a committee with a new code frees the old one.
	c1.Code, c1.Name, c1.Cells = "C1-NEW", "Renamed", cells(9)
	must(t, s.UpsertCommittees(ctx, c1), "UpsertCommittees c1 with a new code")
	got, err = s.Committee(ctx, "c1")
	must(t, err, "Committee c1 after replace")
	same(t, "Committee c1 after replace", normCommittee(got), normCommittee(c1))
	got, err = s.CommitteeByCode(ctx, "C1-NEW")
	must(t, err, "CommitteeByCode C1-NEW")
	same(t, "CommitteeByCode C1-NEW", got.ID, "c1")
	_, err = s.CommitteeByCode(ctx, "C1")
	wantCode(t, err, hub.ENOTFOUND, "CommitteeByCode of a freed code")
	c4 := committee("c4", "C1", "d1")
	must(t, s.UpsertCommittees(ctx, c4), "UpsertCommittees c4 taking the freed code")
	got, err = s.CommitteeByCode(ctx, "C1")
	must(t, err, "CommitteeByCode C1 after reuse")
	same(t, "CommitteeByCode C1 after reuse", got.ID, "c4")

	// Upserting a committee with the code it holds is no clash.
	must(t, s.UpsertCommittees(ctx, c2), "UpsertCommittees c2 unchanged")

	_, err = s.Committee(ctx, "c-none")
	wantCode(t, err, hub.ENOTFOUND, "Committee of a missing ID")
	_, err = s.CommitteeByCode(ctx, "NONE")
	wantCode(t, err, hub.ENOTFOUND, "CommitteeByCode of a missing code")
}

func testCommitteeConflicts(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	c1, c2 := committee("c1", "C1", "d1"), committee("c2", "C2", "d1")
	must(t, s.UpsertCommittees(ctx, c1, c2), "UpsertCommittees")

	tests := []struct {
		name string
		give []*hub.Committee
	}{
		{name: "new committee, held code", give: []*hub.Committee{committee("c9", "C2", "d1")}},
		{name: "batch with one held code", give: []*hub.Committee{committee("c8", "C8", "d1"), committee("c9", "C1", "d1")}},
		{name: "code repeated in batch", give: []*hub.Committee{committee("c8", "X", "d1"), committee("c9", "X", "d1")}},
		{name: "existing committee takes held code", give: []*hub.Committee{committee("c8", "C8", "d1"), committee("c1", "C2", "d2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpsertCommittees(ctx, tt.give...)
			wantCode(t, err, hub.ECONFLICT, "UpsertCommittees")

			// Nothing written.
			for _, c := range tt.give {
				if c.ID == "c1" {
					continue
				}
				_, err := s.Committee(ctx, c.ID)
				wantCode(t, err, hub.ENOTFOUND, "Committee "+c.ID+" of a rejected batch")
			}
			for _, code := range []string{"C8", "X"} {
				_, err := s.CommitteeByCode(ctx, code)
				wantCode(t, err, hub.ENOTFOUND, "CommitteeByCode "+code+" of a rejected batch")
			}
			for _, want := range []*hub.Committee{c1, c2} {
				got, err := s.Committee(ctx, want.ID)
				must(t, err, "Committee "+want.ID)
				same(t, "Committee "+want.ID+" after a rejected batch", normCommittee(got), normCommittee(want))
				got, err = s.CommitteeByCode(ctx, want.Code)
				must(t, err, "CommitteeByCode "+want.Code)
				same(t, "CommitteeByCode "+want.Code+" after a rejected batch", got.ID, want.ID)
			}
			cs, err := s.Committees(ctx, "")
			must(t, err, "Committees")
			same(t, "Committees after a rejected batch", ids(cs, committeeID), []string{"c1", "c2"})
		})
	}
}

func testCheckpoints(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	cs, err := s.Checkpoints(ctx)
	must(t, err, "Checkpoints of an empty store")
	same(t, "Checkpoints of an empty store", len(cs), 0)

	k2, k1, k3 := checkpoint("k2"), checkpoint("k1"), checkpoint("k3")
	must(t, s.UpsertCheckpoints(ctx, k2, k1), "UpsertCheckpoints k2 k1")
	must(t, s.UpsertCheckpoints(ctx, k3), "UpsertCheckpoints k3")

	got, err := s.Checkpoint(ctx, "k1")
	must(t, err, "Checkpoint k1")
	same(t, "Checkpoint k1", normCheckpoint(got), normCheckpoint(k1))

	k1.Name, k1.Kind, k1.UpdatedAt = "Renamed", "OFFICE", at(90)
	must(t, s.UpsertCheckpoints(ctx, k1), "UpsertCheckpoints k1 again")
	got, err = s.Checkpoint(ctx, "k1")
	must(t, err, "Checkpoint k1 after replace")
	same(t, "Checkpoint k1 after replace", normCheckpoint(got), normCheckpoint(k1))

	cs, err = s.Checkpoints(ctx)
	must(t, err, "Checkpoints")
	same(t, "Checkpoints", normAll(cs, normCheckpoint),
		[]hub.Checkpoint{normCheckpoint(k1), normCheckpoint(k2), normCheckpoint(k3)})
	same(t, "Checkpoint IDs", ids(cs, checkpointID), []string{"k1", "k2", "k3"})

	_, err = s.Checkpoint(ctx, "k-none")
	wantCode(t, err, hub.ENOTFOUND, "Checkpoint of a missing ID")
}
