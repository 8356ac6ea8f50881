package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Retention, beyond what hub.RetentionStore documents: a pass is the
// batches of Sweep from a nil From until Next is nil; a scan the sweep
// deleted can be recorded again as new (its ID index is gone too); a
// resident's every declaration expired leaves no trace in
// DeclarationCounts, and a new one counts once.

// sweepAll runs one full pass of kind in batches of limit and returns its
// totals and the number of batches.
func sweepAll(t *testing.T, s hub.Store, kind hub.RecordKind, before, now time.Time, limit int) (hub.SweepResult, int) {
	t.Helper()
	var total hub.SweepResult
	var from []byte
	for n := 1; ; n++ {
		if n > 100000 {
			t.Fatalf("sweep of %s does not end", kind)
		}
		r, err := s.Sweep(t.Context(), hub.SweepRequest{Kind: kind, Before: before, Now: now, From: from, Limit: limit})
		must(t, err, fmt.Sprintf("Sweep %s batch %d", kind, n))
		total.Deleted += r.Deleted
		total.Held += r.Held
		total.Expired = addExpired(total.Expired, r.Expired)
		if r.Next == nil {
			return total, n
		}
		from = r.Next
	}
}

// addExpired adds the counts of b to those of a, in the order Sweep
// reports them.
func addExpired(a, b []hub.ExpiredCount) []hub.ExpiredCount {
	for _, c := range b {
		if c.Count <= 0 {
			panic(fmt.Sprintf("a sweep reports a count of %d", c.Count))
		}
		i := slices.IndexFunc(a, func(x hub.ExpiredCount) bool {
			return x.Record == c.Record && x.Cell == c.Cell && x.SKU == c.SKU && x.Status == c.Status
		})
		if i < 0 {
			a = append(a, c)
		} else {
			a[i].Count += c.Count
		}
	}
	slices.SortFunc(a, func(x, y hub.ExpiredCount) int {
		return cmp.Or(cmp.Compare(x.Record, y.Record), cmp.Compare(x.Cell, y.Cell), cmp.Compare(x.SKU, y.SKU), cmp.Compare(x.Status, y.Status))
	})
	return a
}

// normCase returns a case status with its times at millisecond precision.
func normCase(st hub.CaseStatus) hub.CaseStatus {
	if !st.CaseAt.IsZero() {
		st.CaseAt = ms(st.CaseAt)
	}
	if !st.ContactAt.IsZero() {
		st.ContactAt = ms(st.ContactAt)
	}
	st.Contacts = slices.Clone(st.Contacts)
	for i := range st.Contacts {
		st.Contacts[i].At = ms(st.Contacts[i].At)
	}
	return st
}

// hold returns a hold of case r2 in district d1 naming residents, placed
// at(0), in force until at(until).
func hold(id string, until int, residents ...string) *hub.Hold {
	return &hub.Hold{
		ID: id, DistrictID: "d1", CaseID: "r2", ResidentIDs: append([]string{"r2"}, residents...),
		Reason: "case 2020-17: court order 45", PlacedBy: "officer-7", PlacedAt: at(0), Until: at(until),
	}
}

// retentionScans records scans of r1, r2, r3 and a visitor in three cells,
// one a minute for minutes 0..59, and returns them.
func retentionScans(t *testing.T, s hub.Store) []*hub.Scan {
	t.Helper()
	all := sampleScans(false)
	recordScans(t, s, all)
	return all
}

// sampleScans is scans of r1, r2, r3 and a visitor in three cells, one a
// minute for minutes 0..59; with twoCheckpoints every third minute's are
// at checkpoint k2 instead of k1.
func sampleScans(twoCheckpoints bool) []*hub.Scan {
	var all []*hub.Scan
	cells := []hub.Cell{cellA, cellB, cellC}
	for n := range 60 {
		for i, who := range []string{"r1", "r2", "r3", ""} {
			sc := scan(fmt.Sprintf("sc-%02d-%d", n, i), who, cells[(n+i)%3], n)
			if who == "" {
				sc.SubjectID = "visitor-9"
			}
			if twoCheckpoints && n%3 == 0 {
				sc.CheckpointID = "k2"
			}
			all = append(all, sc)
		}
	}
	return all
}

// recordScans records all in batches of hub.MaxScanBatch.
func recordScans(t *testing.T, s hub.Store, all []*hub.Scan) {
	t.Helper()
	for i := 0; i < len(all); i += hub.MaxScanBatch {
		must(t, s.RecordScans(t.Context(), all[i:min(i+hub.MaxScanBatch, len(all))]...), "RecordScans")
	}
}

// kept returns the IDs of scans at or after at(cut), and of every scan of
// the held residents.
func kept(all []*hub.Scan, cut int, held ...string) []string {
	out := []string{}
	for _, sc := range all {
		if !sc.At.Before(at(cut)) || slices.Contains(held, sc.ResidentID) && sc.ResidentID != "" {
			out = append(out, sc.ID)
		}
	}
	slices.Sort(out)
	return out
}

// storedScans returns the IDs of every scan the store answers for, through
// trajectories and through the cell index.
func storedScans(t *testing.T, s hub.Store) (byPerson, byCell []string) {
	t.Helper()
	ctx := t.Context()
	byPerson, byCell = []string{}, []string{}
	for _, r := range []string{"r1", "r2", "r3"} {
		ss, err := s.Trajectory(ctx, r, time.Time{}, 0)
		must(t, err, "Trajectory")
		byPerson = append(byPerson, scanIDs(ss)...)
	}
	ss, err := s.ContactsIn(ctx, []hub.Cell{cellA, cellB, cellC}, at(-1000), at(1000))
	must(t, err, "ContactsIn")
	for _, sc := range ss {
		if sc.ResidentID == "" {
			byPerson = append(byPerson, sc.ID) // a visitor has no trajectory query
		}
		byCell = append(byCell, sc.ID)
	}
	slices.Sort(byPerson)
	slices.Sort(byCell)
	return byPerson, byCell
}

func testSweepScans(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		cut   int // records before at(cut) expire
		limit int // batch
		held  []string
	}{
		{"none expired", -5, 7, nil},
		{"some, batch of 1", 20, 1, nil},
		{"some, batch of 7", 33, 7, nil},
		{"all, one batch", 100, hub.MaxSweepBatch, nil},
		{"some, r2 held", 40, 5, []string{}},
		{"all, r2 and r3 held", 100, 3, []string{"r3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ctx := h.Open(t), t.Context()
			codesSeed(t, s)
			all := retentionScans(t, s)
			var heldIDs []string
			if tt.held != nil {
				must(t, s.PutHold(ctx, hold("hold1", 500, tt.held...)), "PutHold")
				heldIDs = append([]string{"r2"}, tt.held...)
			}
			want := kept(all, tt.cut, heldIDs...)
			got, _ := sweepAll(t, s, hub.RecordScans, at(tt.cut), at(100), tt.limit)
			expired := len(kept(all, -1000)) - len(kept(all, tt.cut))
			same(t, "deleted", got.Deleted, len(all)-len(want))
			same(t, "deleted and held", got.Deleted+got.Held, expired)
			byPerson, byCell := storedScans(t, s)
			same(t, "scans by person after the sweep", byPerson, want)
			same(t, "scans by cell after the sweep", byCell, want)

			// Idempotent: a second pass deletes nothing.
			again, _ := sweepAll(t, s, hub.RecordScans, at(tt.cut), at(100), tt.limit)
			same(t, "deleted by a second pass", again.Deleted, 0)
			same(t, "held by a second pass", again.Held, got.Held)

			// Once the hold ends, the next pass takes what it kept.
			if tt.held != nil {
				later, _ := sweepAll(t, s, hub.RecordScans, at(tt.cut), at(500), tt.limit)
				same(t, "deleted once the hold ended", later.Deleted, got.Held)
				byPerson, _ := storedScans(t, s)
				same(t, "scans once the hold ended", byPerson, kept(all, tt.cut))
			}

			// The scan ID index went with them: the same scans are new again.
			var expiredScans []*hub.Scan
			for _, sc := range all {
				if sc.At.Before(at(tt.cut)) && !slices.Contains(heldIDs, sc.ResidentID) {
					expiredScans = append(expiredScans, sc)
				}
			}
			if len(expiredScans) > 0 {
				changed := *expiredScans[0]
				changed.Temperature = 38.5
				must(t, s.RecordScans(ctx, &changed), "RecordScans of a swept scan ID with new content")
			}
		})
	}
}

func testSweepDeclarations(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)
	// r1: minutes 0, 10, 20 (latest RED); r2: 5, 15 (held); r3 (d2): 18.
	decls := []*hub.Declaration{
		declaration("dc-r1-0", "r1", 0, hub.Green), declaration("dc-r1-10", "r1", 10, hub.Yellow),
		declaration("dc-r1-20", "r1", 20, hub.Red), declaration("dc-r2-5", "r2", 5, hub.Green),
		declaration("dc-r2-15", "r2", 15, hub.Yellow), declaration("dc-r3-18", "r3", 18, hub.Green),
	}
	decls[5].DistrictID = "d2"
	for _, d := range decls {
		must(t, s.PutDeclaration(ctx, d), "PutDeclaration")
	}
	must(t, s.PutHold(ctx, hold("hold1", 100)), "PutHold")

	counts := func() map[string]int {
		cs, err := s.DeclarationCounts(ctx, "")
		must(t, err, "DeclarationCounts")
		out := map[string]int{}
		for _, c := range cs {
			out[c.DistrictID+"/"+string(c.Colour)] += c.Count
		}
		return out
	}
	latest := func(r string) string {
		d, err := s.LatestDeclaration(ctx, r)
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			return ""
		}
		must(t, err, "LatestDeclaration")
		return d.ID
	}
	same(t, "counts before", counts(), map[string]int{"d1/RED": 1, "d1/YELLOW": 1, "d2/GREEN": 1})

	tests := []struct {
		give        int // cutoff minute
		now         int
		wantDeleted int
		wantHeld    int
		wantLatest  map[string]string
		wantCounts  map[string]int
	}{
		{give: 0, now: 50, wantLatest: map[string]string{"r1": "dc-r1-20", "r2": "dc-r2-15", "r3": "dc-r3-18"},
			wantCounts: map[string]int{"d1/RED": 1, "d1/YELLOW": 1, "d2/GREEN": 1}},
		{give: 11, now: 50, wantDeleted: 2, wantHeld: 1,
			wantLatest: map[string]string{"r1": "dc-r1-20", "r2": "dc-r2-15", "r3": "dc-r3-18"},
			wantCounts: map[string]int{"d1/RED": 1, "d1/YELLOW": 1, "d2/GREEN": 1}},
		// r3's only declaration expires: it leaves the aggregate.
		{give: 19, now: 50, wantDeleted: 1, wantHeld: 1,
			wantLatest: map[string]string{"r1": "dc-r1-20", "r2": "dc-r2-15", "r3": ""},
			wantCounts: map[string]int{"d1/RED": 1, "d1/YELLOW": 1}},
		{give: 30, now: 50, wantDeleted: 1, wantHeld: 1,
			wantLatest: map[string]string{"r1": "", "r2": "dc-r2-15", "r3": ""},
			wantCounts: map[string]int{"d1/YELLOW": 1}},
		// The hold has ended: r2's go too.
		{give: 30, now: 100, wantDeleted: 2,
			wantLatest: map[string]string{"r1": "", "r2": "", "r3": ""}, wantCounts: map[string]int{}},
		{give: 30, now: 100, wantLatest: map[string]string{"r1": "", "r2": "", "r3": ""}, wantCounts: map[string]int{}},
	}
	for i, tt := range tests {
		got, _ := sweepAll(t, s, hub.RecordDeclarations, at(tt.give), at(tt.now), 1)
		same(t, fmt.Sprintf("step %d: deleted", i), got.Deleted, tt.wantDeleted)
		same(t, fmt.Sprintf("step %d: held", i), got.Held, tt.wantHeld)
		for r, want := range tt.wantLatest {
			same(t, fmt.Sprintf("step %d: latest of %s", i, r), latest(r), want)
		}
		same(t, fmt.Sprintf("step %d: counts", i), counts(), tt.wantCounts)
	}
	// A new declaration after all expired counts once.
	must(t, s.PutDeclaration(ctx, declaration("dc-r1-90", "r1", 90, hub.Green)), "PutDeclaration")
	same(t, "counts after a new declaration", counts(), map[string]int{"d1/GREEN": 1})
}

func testSweepAudit(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	codesSeed(t, s)
	var es []hub.AuditEntry
	for n := range 30 {
		target := []string{"r1", "r2", "r3"}[n%3]
		actor := []string{"c1", "", "c2"}[n%3]
		es = append(es, auditEntry(target, actor, n))
	}
	_, err := s.AppendAudit(ctx, es...)
	must(t, err, "AppendAudit")
	must(t, s.PutHold(ctx, hold("hold1", 100)), "PutHold")

	got, _ := sweepAll(t, s, hub.RecordAudit, at(15), at(50), 2)
	same(t, "deleted", got.Deleted, 10) // r1 and r3 of minutes 0..14
	same(t, "held", got.Held, 5)        // r2's of minutes 0..14
	for _, tt := range []struct {
		give hub.AuditFilter
		want int
	}{
		{hub.AuditFilter{}, 20},
		{hub.AuditFilter{TargetID: "r1"}, 5},
		{hub.AuditFilter{TargetID: "r2"}, 10},
		{hub.AuditFilter{ActorID: "c1"}, 5},
		{hub.AuditFilter{ActorID: "c2"}, 5},
		{hub.AuditFilter{TargetID: "r3", ActorID: "c2"}, 5},
	} {
		es := auditAll(t, s, tt.give)
		same(t, fmt.Sprintf("entries of %+v", tt.give), len(es), tt.want)
		for _, e := range es {
			if e.At.Before(at(15)) && e.TargetID != "r2" {
				t.Fatalf("entry %d of %s at minute 0..14 survived", e.Seq, e.TargetID)
			}
		}
	}
	again, _ := sweepAll(t, s, hub.RecordAudit, at(15), at(50), 2)
	same(t, "deleted by a second pass", again.Deleted, 0)
	later, _ := sweepAll(t, s, hub.RecordAudit, at(15), at(100), 2)
	same(t, "deleted once the hold ended", later.Deleted, 5)
	same(t, "entries left", len(auditAll(t, s, hub.AuditFilter{})), 15)
}

func testSweepDispatch(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 100})), "UpsertPharmacies")
	// round1 is over (closes at(600)), round2 open.
	for _, id := range []string{"round1", "round2"} {
		must(t, s.UpsertRound(ctx, round(id, hub.RoundOpen)), "UpsertRound")
	}
	var res []*hub.Reservation
	for i := range 8 {
		roundID := []string{"round1", "round2"}[i%2]
		r := reservation(fmt.Sprintf("res%d", i), roundID, fmt.Sprintf("h%d", i))
		r.IdempotencyKey = "key" + r.ID
		_, err := s.CreateReservation(ctx, r)
		must(t, err, "CreateReservation")
		res = append(res, r)
	}
	// res0 redeemed, res2 expired, res4 still RESERVED, res6 held;
	// res1, res3 of the open round.
	must(t, s.Allocate(ctx, allocation("a0", res[0], "p1", 1), allocation("a2", res[2], "p1", 1),
		allocation("a4", res[4], "p1", 1), allocation("a1", res[1], "p1", 1)), "Allocate")
	_, err := s.TransitionAllocation(ctx, "a0", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(20))
	must(t, err, "redeem")
	_, err = s.TransitionAllocation(ctx, "a2", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, at(130))
	must(t, err, "expire")
	r1 := round("round1", hub.RoundClosed)
	must(t, s.UpdateRound(ctx, r1, hub.RoundOpen), "close round1")
	h1 := hold("hold1", 2000)
	h1.ResidentIDs = append(h1.ResidentIDs, "r-res6")
	must(t, s.PutHold(ctx, h1), "PutHold")

	// Not yet expired: nothing goes.
	got, _ := sweepAll(t, s, hub.RecordDispatch, at(600), at(700), 2)
	same(t, "deleted before the period", got, hub.SweepResult{})

	// What goes is counted for the dashboards, by cell, supply and status.
	var wantExpired []hub.ExpiredCount
	for _, id := range []string{"a0", "a2"} {
		a, err := s.Allocation(ctx, id)
		must(t, err, "Allocation")
		wantExpired = addExpired(wantExpired, []hub.ExpiredCount{{Record: hub.ExpiredAllocation, Cell: a.Cell, SKU: a.SKU, Status: string(a.Status), Count: 1}})
	}
	for _, id := range []string{"res0", "res2"} {
		r, err := s.Reservation(ctx, id)
		must(t, err, "Reservation")
		wantExpired = addExpired(wantExpired, []hub.ExpiredCount{{Record: hub.ExpiredReservation, Cell: r.Cell, SKU: hub.MaskAdult, Status: string(r.Status), Count: 1}})
	}

	got, _ = sweepAll(t, s, hub.RecordDispatch, at(601), at(700), 2)
	same(t, "deleted", got.Deleted, 2+2) // res0 res2, a0 a2
	same(t, "held", got.Held, 1)
	same(t, "expired counts", got.Expired, wantExpired)
	same(t, "reservations of round1", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1"}), []string{"res4", "res6"})
	same(t, "reservations of round2", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round2"}), []string{"res1", "res3", "res5", "res7"})
	same(t, "allocations of round1", allocationIDs(t, s, hub.AllocationFilter{RoundID: "round1"}), []string{"a4"})
	for _, id := range []string{"a0", "a2"} {
		_, err := s.Allocation(ctx, id)
		wantCode(t, err, hub.ENOTFOUND, "swept allocation "+id)
		_, err = s.AllocationByCode(ctx, "code-"+id)
		wantCode(t, err, hub.ENOTFOUND, "code of swept allocation "+id)
	}
	for _, id := range []string{"res0", "res2"} {
		_, err := s.Reservation(ctx, id)
		wantCode(t, err, hub.ENOTFOUND, "swept reservation "+id)
	}
	// The unique indexes went too: the same person and key reserve anew.
	again := reservation("res0b", "round1", "h0")
	again.IdempotencyKey = "keyres0"
	_, err = s.CreateReservation(ctx, again)
	must(t, err, "CreateReservation of a swept person and key")
	_, err = s.Allocation(ctx, "a4")
	must(t, err, "a RESERVED allocation stays")
	_, err = s.Reservation(ctx, "res4")
	must(t, err, "so does its reservation")
	second, _ := sweepAll(t, s, hub.RecordDispatch, at(601), at(700), 2)
	same(t, "deleted by a second pass", second.Deleted, 1) // res0b only
}

func testHolds(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.PutHold(ctx, hold("hold1", 100, "r1")), "PutHold")
	h2 := hold("hold2", 50)
	h2.DistrictID = "d2"
	must(t, s.PutHold(ctx, h2), "PutHold")
	wantCode(t, s.PutHold(ctx, hold("hold1", 100)), hub.ECONFLICT, "PutHold of a used ID")

	bad := []struct {
		name string
		give func(*hub.Hold)
	}{
		{"no ID", func(h *hub.Hold) { h.ID = "" }},
		{"no district", func(h *hub.Hold) { h.DistrictID = "" }},
		{"case not named", func(h *hub.Hold) { h.ResidentIDs = []string{"r1"} }},
		{"no residents", func(h *hub.Hold) { h.ResidentIDs = nil }},
		{"blank reason", func(h *hub.Hold) { h.Reason = "  " }},
		{"ends before placed", func(h *hub.Hold) { h.Until = at(-1) }},
		{"zero placed", func(h *hub.Hold) { h.PlacedAt = time.Time{} }},
		{"already lifted", func(h *hub.Hold) { h.LiftedAt = at(1) }},
		{"too many", func(h *hub.Hold) {
			for i := range hub.MaxHoldResidents {
				h.ResidentIDs = append(h.ResidentIDs, fmt.Sprintf("x%d", i))
			}
		}},
	}
	for _, tt := range bad {
		hd := hold("hold9", 100)
		tt.give(hd)
		wantCode(t, s.PutHold(ctx, hd), hub.EINVALID, tt.name)
	}
	_, err := s.Hold(ctx, "hold9")
	wantCode(t, err, hub.ENOTFOUND, "a refused hold")

	got, err := s.Hold(ctx, "hold1")
	must(t, err, "Hold")
	same(t, "residents", got.ResidentIDs, []string{"r1", "r2"})
	same(t, "until", ms(got.Until), ms(at(100)))

	tests := []struct {
		name  string
		do    func() (*hub.Hold, error)
		code  string
		until int
		ext   int
	}{
		{"earlier", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "hold1", at(90), at(10)) }, hub.ECONFLICT, 100, 0},
		{"same", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "hold1", at(100), at(10)) }, hub.ECONFLICT, 100, 0},
		{"later", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "hold1", at(200), at(10)) }, "", 200, 1},
		{"later again", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "hold1", at(300), at(20)) }, "", 300, 2},
		{"after its end", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "hold1", at(900), at(300)) }, hub.ECONFLICT, 300, 2},
		{"unknown", func() (*hub.Hold, error) { return s.ExtendHold(ctx, "nope", at(900), at(30)) }, hub.ENOTFOUND, 300, 2},
	}
	for _, tt := range tests {
		_, err := tt.do()
		if tt.code == "" {
			must(t, err, tt.name)
		} else {
			wantCode(t, err, tt.code, tt.name)
		}
		got, err := s.Hold(ctx, "hold1")
		must(t, err, "Hold")
		same(t, tt.name+": until", ms(got.Until), ms(at(tt.until)))
		same(t, tt.name+": extensions", got.Extensions, tt.ext)
	}
	_, err = s.LiftHold(ctx, "hold2", at(60))
	wantCode(t, err, hub.ECONFLICT, "lift a hold that ended")
	lifted, err := s.LiftHold(ctx, "hold1", at(40))
	must(t, err, "LiftHold")
	same(t, "lifted at", ms(lifted.LiftedAt), ms(at(40)))
	if lifted.InForce(at(41)) {
		t.Fatal("a lifted hold is in force")
	}
	_, err = s.LiftHold(ctx, "hold1", at(41))
	wantCode(t, err, hub.ECONFLICT, "lift twice")
	_, err = s.ExtendHold(ctx, "hold1", at(900), at(41))
	wantCode(t, err, hub.ECONFLICT, "extend a lifted hold")

	ids := func(district string) []string {
		hs, err := s.Holds(ctx, district)
		must(t, err, "Holds")
		out := []string{}
		for _, h := range hs {
			out = append(out, h.ID)
		}
		return out
	}
	same(t, "all holds", ids(""), []string{"hold1", "hold2"})
	same(t, "holds of d1", ids("d1"), []string{"hold1"})
	same(t, "holds of d2", ids("d2"), []string{"hold2"})
	same(t, "holds of d3", ids("d3"), []string{})

	s = h.Reopen(t, s)
	same(t, "holds after a reopen", ids(""), []string{"hold1", "hold2"})
}

// testConcurrentSweeps runs passes from several hubs at once: each expired
// scan is deleted by exactly one of them.
func testConcurrentSweeps(t *testing.T, h Harness) {
	s := h.Open(t)
	codesSeed(t, s)
	all := retentionScans(t, s)
	want := len(all) - len(kept(all, 30))
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var from []byte
			for {
				r, err := s.Sweep(context.Background(), hub.SweepRequest{Kind: hub.RecordScans, Before: at(30), Now: at(100), From: from, Limit: 5})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += r.Deleted
				mu.Unlock()
				if r.Next == nil {
					return
				}
				from = r.Next
			}
		})
	}
	wg.Wait()
	same(t, "scans deleted by four hubs at once", total, want)
	byPerson, _ := storedScans(t, s)
	same(t, "scans left", byPerson, kept(all, 30))
}

func testSweepInvalid(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	for _, tt := range []struct {
		name string
		give hub.SweepRequest
	}{
		{"unknown kind", hub.SweepRequest{Kind: "X", Before: at(1), Now: at(1)}},
		{"no kind", hub.SweepRequest{Before: at(1), Now: at(1)}},
		{"no cutoff", hub.SweepRequest{Kind: hub.RecordScans, Now: at(1)}},
		{"no now", hub.SweepRequest{Kind: hub.RecordAudit, Before: at(1)}},
	} {
		_, err := s.Sweep(ctx, tt.give)
		wantCode(t, err, hub.EINVALID, tt.name)
	}
}

// retentionCalls are calls of every method of hub.RetentionStore for
// everyCall.
func retentionCalls() []call {
	return []call{
		{"Sweep", func(ctx context.Context, s hub.Store) error {
			_, err := s.Sweep(ctx, hub.SweepRequest{Kind: hub.RecordScans, Before: at(1), Now: at(1)})
			return err
		}},
		{"PutHold", func(ctx context.Context, s hub.Store) error { return s.PutHold(ctx, hold("hold9", 100)) }},
		{"ExtendHold", func(ctx context.Context, s hub.Store) error {
			_, err := s.ExtendHold(ctx, "hold1", at(200), at(1))
			return err
		}},
		{"LiftHold", func(ctx context.Context, s hub.Store) error { _, err := s.LiftHold(ctx, "hold1", at(1)); return err }},
		{"Hold", func(ctx context.Context, s hub.Store) error { _, err := s.Hold(ctx, "hold1"); return err }},
		{"Holds", func(ctx context.Context, s hub.Store) error { _, err := s.Holds(ctx, "d1"); return err }},
	}
}

// testSweepGuards: the slot and quota counters of a round go with its
// swept allocations, so what is counted afterwards is exactly what the
// round still has: a later write into the round counts its remaining
// allocations afresh (a counter left behind would count the swept ones
// and refuse it), and an allocation that stayed releases without harm.
func testSweepGuards(t *testing.T, h Harness) {
	tests := []struct {
		give string // what becomes of the round's second allocation
		want int    // places of slot A still taken after the sweep
	}{
		{"redeemed", 0},
		{"held", 1},
		{"reserved", 1},
		{"expired", 0},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			ctx := t.Context()
			r := round("round1", hub.RoundOpen)
			r.Mode, r.PerPerson, r.SlotMinutes, r.SlotCapacity = hub.ByCommittee, 2, 30, 2
			r.Quotas = map[string]int{"c1": 3}
			s := guardStore(t, h, r)
			g := &guardTaker{t: t, s: s, roundID: "round1"}
			slotA := at(60)
			a1, err := g.take("p1", slotA, 2, "c1", "")
			must(t, err, "first place")
			a2, err := g.take("p1", slotA, 1, "c1", "")
			must(t, err, "second place")
			_, err = g.take("p1", slotA, 1, "c1", "")
			wantGuard(t, err, hub.ErrSlotFull, "a third place of two")
			_, err = s.TransitionAllocation(ctx, a1, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(20))
			must(t, err, "redeem "+a1)
			switch tt.give {
			case "redeemed", "held":
				_, err = s.TransitionAllocation(ctx, a2, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(20))
				must(t, err, "redeem "+a2)
			case "expired":
				_, err = s.TransitionAllocation(ctx, a2, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, at(130))
				must(t, err, "expire "+a2)
			}
			if tt.give == "held" {
				must(t, s.PutHold(ctx, hold("hold1", 2000, "r-res0002")), "PutHold")
			}
			closed := round("round1", hub.RoundClosed)
			closed.Mode, closed.PerPerson, closed.SlotMinutes, closed.SlotCapacity, closed.Quotas = r.Mode, r.PerPerson, r.SlotMinutes, r.SlotCapacity, r.Quotas
			must(t, s.UpdateRound(ctx, closed, hub.RoundOpen), "close round1")
			for range 2 { // a second pass finds nothing more
				sweepAll(t, s, hub.RecordDispatch, at(601), at(700), 1)
			}
			if tt.give == "reserved" {
				// The allocation that stayed frees its place and units.
				_, err = s.TransitionAllocation(ctx, a2, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, at(130))
				must(t, err, "expire "+a2+" after the sweep")
				tt.want = 0
			}
			// Places left in slot A: 2 - want; units left of c1: 3 - want.
			for i := range 2 - tt.want {
				_, err := g.take("p1", slotA, 1, "c1", "")
				must(t, err, fmt.Sprintf("place %d of the %d left after the sweep", i+1, 2-tt.want))
			}
			_, err = g.take("p1", slotA, 1, "c1", "")
			wantGuard(t, err, hub.ErrSlotFull, "a place beyond the capacity after the sweep")
		})
	}
}

// testSweepShortages: shortage registrations keep the dispatch period: a
// SERVED one goes once served before the cutoff and its allocation is
// final, with that allocation; a WAITING one once registered before it;
// a held resident's stay, and so does one whose allocation is still open.
func testSweepShortages(t *testing.T, h Harness) {
	for _, limit := range []int{1, 3, 100} {
		t.Run(fmt.Sprintf("batches of %d", limit), func(t *testing.T) {
			s, ctx := h.Open(t), t.Context()
			must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 100})), "UpsertPharmacies")
			shs := map[string]*hub.Shortage{}
			for i := range 7 {
				sh := shortage(fmt.Sprintf("sh%d", i), fmt.Sprintf("r-sh%d", i), hub.MaskAdult)
				if i == 6 {
					sh.CreatedAt, sh.UpdatedAt = at(700), at(700)
				}
				must(t, s.CreateShortage(ctx, sh), "CreateShortage "+sh.ID)
				shs[sh.ID] = sh
			}
			// sh0 and sh5 redeemed, sh2 expired, sh1 still RESERVED; sh3,
			// sh4 and sh6 wait; r-sh4 and r-sh5 are held.
			for _, id := range []string{"sh0", "sh1", "sh2", "sh5"} {
				must(t, s.Allocate(ctx, serving("a-"+id, shs[id], "p1")), "Allocate to "+id)
			}
			for id, to := range map[string]hub.AllocationStatus{"a-sh0": hub.AllocationRedeemed, "a-sh5": hub.AllocationRedeemed, "a-sh2": hub.AllocationExpired} {
				_, err := s.TransitionAllocation(ctx, id, []hub.AllocationStatus{hub.AllocationReserved}, to, at(130))
				must(t, err, "move "+id)
			}
			must(t, s.PutHold(ctx, hold("hold1", 2000, "r-sh4", "r-sh5")), "PutHold")

			got, _ := sweepAll(t, s, hub.RecordShortages, at(5), at(300), limit)
			same(t, "swept before anything is due", got, hub.SweepResult{})
			got, _ = sweepAll(t, s, hub.RecordShortages, at(200), at(300), limit)
			same(t, "deleted", got.Deleted, 3+2) // sh0 sh2 sh3, a-sh0 a-sh2
			byRecord := map[hub.ExpiredRecord]int{}
			for _, c := range got.Expired {
				byRecord[c.Record] += c.Count
			}
			same(t, "expired counts by record", byRecord, map[hub.ExpiredRecord]int{hub.ExpiredShortage: 3, hub.ExpiredAllocation: 2})
			same(t, "held", got.Held, 2) // sh4 sh5
			same(t, "shortages", shortageIDs(t, s, hub.ShortageFilter{}), []string{"sh1", "sh4", "sh5", "sh6"})
			same(t, "waiting", shortageIDs(t, s, hub.ShortageFilter{Status: hub.ShortageWaiting}), []string{"sh4", "sh6"})
			same(t, "served", shortageIDs(t, s, hub.ShortageFilter{Status: hub.ShortageServed, SKU: hub.MaskAdult}), []string{"sh1", "sh5"})
			same(t, "allocations", allocationIDs(t, s, hub.AllocationFilter{PharmacyID: "p1"}), []string{"a-sh1", "a-sh5"})
			for _, id := range []string{"a-sh0", "a-sh2"} {
				_, err := s.Allocation(ctx, id)
				wantCode(t, err, hub.ENOTFOUND, "swept allocation "+id)
				_, err = s.AllocationByCode(ctx, "code-"+id)
				wantCode(t, err, hub.ENOTFOUND, "code of swept allocation "+id)
			}
			same(t, "redeemed after the sweep", len(allocationIDs(t, s, hub.AllocationFilter{Status: hub.AllocationRedeemed})), 1)
			// The waiting index forgot sh3 and kept sh4.
			sh3b := shortage("sh3b", "r-sh3", hub.MaskAdult)
			sh3b.CreatedAt, sh3b.UpdatedAt = at(700), at(700)
			must(t, s.CreateShortage(ctx, sh3b), "CreateShortage of a swept waiting resident")
			wantCode(t, s.CreateShortage(ctx, shortage("sh4b", "r-sh4", hub.MaskAdult)), hub.ECONFLICT, "CreateShortage of a held waiting resident")

			again, _ := sweepAll(t, s, hub.RecordShortages, at(200), at(300), limit)
			same(t, "deleted by a second pass", again.Deleted, 0)
			// Once the hold ends, the held ones go too; sh1 with its
			// allocation once that is final.
			_, err := s.TransitionAllocation(ctx, "a-sh1", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(140))
			must(t, err, "redeem a-sh1")
			later, _ := sweepAll(t, s, hub.RecordShortages, at(200), at(2001), limit)
			same(t, "deleted after the hold", later.Deleted, 5) // sh1 sh4 sh5, a-sh1 a-sh5
			same(t, "shortages left", shortageIDs(t, s, hub.ShortageFilter{}), []string{"sh3b", "sh6"})
			same(t, "allocations left", len(allocationIDs(t, s, hub.AllocationFilter{PharmacyID: "p1"})), 0)
		})
	}
}

// testSweepCases: a resident's case and contact marks go once the later of
// them is before the cutoff, unless a hold in force names the resident.
func testSweepCases(t *testing.T, h Harness) {
	for _, limit := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("batches of %d", limit), func(t *testing.T) {
			s, ctx := h.Open(t), t.Context()
			codesSeed(t, s)
			// r1 a case at(10); r2 its contact at(15), held; r3 a case at(10)
			// and a contact at(300).
			must(t, s.MarkCase(ctx, "r1", at(10)), "MarkCase r1")
			must(t, s.MarkCase(ctx, "r3", at(10)), "MarkCase r3")
			must(t, s.MarkContacts(ctx, "r1", hub.Contact{ResidentID: "r2", LastAt: at(15)}), "MarkContacts r2")
			must(t, s.MarkContacts(ctx, "r1", hub.Contact{ResidentID: "r3", LastAt: at(300)}), "MarkContacts r3")
			// r4 and r5 contacts of r1 at(20) and of r3 at(300), r5 held.
			for _, c := range []struct {
				caseID string
				at     int
			}{{"r1", 20}, {"r3", 300}} {
				must(t, s.MarkContacts(ctx, c.caseID, hub.Contact{ResidentID: "r4", LastAt: at(c.at)}, hub.Contact{ResidentID: "r5", LastAt: at(c.at)}), "MarkContacts r4 r5")
			}
			must(t, s.PutHold(ctx, hold("hold1", 2000, "r5")), "PutHold")
			status := func(id string) hub.CaseStatus {
				st, err := s.CaseStatus(ctx, id)
				must(t, err, "CaseStatus "+id)
				return normCase(st)
			}
			before := map[string]hub.CaseStatus{"r1": status("r1"), "r2": status("r2"), "r3": status("r3"), "r5": status("r5")}
			same(t, "r4, a contact of two cases", status("r4"), hub.CaseStatus{ContactAt: ms(at(300)), ContactOf: "r3",
				Contacts: []hub.CaseContact{{CaseID: "r1", At: ms(at(20))}, {CaseID: "r3", At: ms(at(300))}}})

			got, _ := sweepAll(t, s, hub.RecordCases, at(10), at(500), limit)
			same(t, "swept before anything is due", got, hub.SweepResult{})
			got, _ = sweepAll(t, s, hub.RecordCases, at(100), at(500), limit)
			same(t, "swept", got, hub.SweepResult{Deleted: 1, Held: 1})
			same(t, "r1 after the sweep", status("r1"), hub.CaseStatus{})
			same(t, "r2, held", status("r2"), before["r2"])
			same(t, "r3, contact at(300)", status("r3"), before["r3"])
			// r4's contact of r1 expired, not that of r3; r5 is held whole.
			same(t, "r4 after the sweep", status("r4"), hub.CaseStatus{ContactAt: ms(at(300)), ContactOf: "r3",
				Contacts: []hub.CaseContact{{CaseID: "r3", At: ms(at(300))}}})
			same(t, "r5, held", status("r5"), before["r5"])
			again, _ := sweepAll(t, s, hub.RecordCases, at(100), at(500), limit)
			same(t, "a second pass", again, hub.SweepResult{Held: 1})

			must(t, s.MarkCase(ctx, "r1", at(400)), "MarkCase r1 anew")
			later, _ := sweepAll(t, s, hub.RecordCases, at(350), at(2001), limit)
			same(t, "swept once the hold ended", later, hub.SweepResult{Deleted: 4})
			same(t, "r1 marked anew", status("r1").CaseAt, ms(at(400)))
			same(t, "r2", status("r2"), hub.CaseStatus{})
			same(t, "r3", status("r3"), hub.CaseStatus{})
			same(t, "r4", status("r4"), hub.CaseStatus{})
			same(t, "r5", status("r5"), hub.CaseStatus{})
		})
	}
}

// testSweepCodes: a stored health code goes once it was last changed
// before the cutoff and its resident has no declaration and no case mark
// left, unless held: from the cell index, the colour counts, and with its
// subject both ways.
func testSweepCodes(t *testing.T, h Harness) {
	for _, limit := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("batches of %d", limit), func(t *testing.T) {
			s, ctx := h.Open(t), t.Context()
			codesSeed(t, s)
			must(t, s.CreateResidents(ctx, resident("r4", "h4", "c1"), resident("r5", "h5", "c1")), "CreateResidents")
			// r1 nothing left (red); r2 held; r3 a case mark; r4 a
			// declaration; r5 a code changed at(500).
			subs := map[string]string{}
			for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
				sub, err := s.SubjectOf(ctx, id)
				must(t, err, "SubjectOf "+id)
				subs[id] = sub
				hc := healthCode(id, cellA, hub.Green, 0)
				hc.SubjectID, hc.DistrictID = sub, "d1"
				switch id {
				case "r1":
					hc.Colour = hub.Red
				case "r5":
					hc.UpdatedAt = at(500)
				}
				_, err = s.PutHealthCode(ctx, hc)
				must(t, err, "PutHealthCode "+id)
			}
			must(t, s.MarkCase(ctx, "r3", at(5)), "MarkCase r3")
			must(t, s.PutDeclaration(ctx, declaration("dc4", "r4", 10, hub.Green)), "PutDeclaration r4")
			must(t, s.PutHold(ctx, hold("hold1", 2000)), "PutHold")
			coded := func() []string {
				hcs, err := s.HealthCodesIn(ctx, []hub.Cell{cellA})
				must(t, err, "HealthCodesIn")
				var out []string
				for _, hc := range hcs {
					out = append(out, hc.ResidentID)
				}
				slices.Sort(out)
				return out
			}
			colours := func() map[hub.Colour]int {
				cs, err := s.ColourCounts(ctx, "d1")
				must(t, err, "ColourCounts")
				out := map[hub.Colour]int{}
				for _, c := range cs {
					out[c.Colour] += c.Count
				}
				return out
			}
			same(t, "colours before", colours(), map[hub.Colour]int{hub.Red: 1, hub.Green: 4})

			got, _ := sweepAll(t, s, hub.RecordCodes, at(30), at(300), limit)
			same(t, "swept before anything is due", got, hub.SweepResult{})
			got, _ = sweepAll(t, s, hub.RecordCodes, at(100), at(300), limit)
			same(t, "swept", got, hub.SweepResult{Deleted: 1, Held: 1, Expired: []hub.ExpiredCount{
				{Record: hub.ExpiredHealthCode, Cell: cellA, Status: string(hub.Red), Count: 1},
			}})
			_, err := s.HealthCode(ctx, "r1")
			wantCode(t, err, hub.ENOTFOUND, "the swept code")
			same(t, "codes in cell A", coded(), []string{"r2", "r3", "r4", "r5"})
			same(t, "colours after", colours(), map[hub.Colour]int{hub.Green: 4})
			_, err = s.ResidentOfSubject(ctx, subs["r1"])
			wantCode(t, err, hub.ENOTFOUND, "the swept code's subject")
			for _, id := range []string{"r2", "r3", "r4", "r5"} {
				back, err := s.ResidentOfSubject(ctx, subs[id])
				must(t, err, "ResidentOfSubject of "+id)
				same(t, "subject of "+id, back, id)
			}
			again, _ := sweepAll(t, s, hub.RecordCodes, at(100), at(300), limit)
			same(t, "a second pass", again, hub.SweepResult{Held: 1})
			fresh, err := s.SubjectOf(ctx, "r1")
			must(t, err, "SubjectOf r1 after the sweep")
			if fresh == subs["r1"] {
				t.Fatalf("r1 has its swept subject %q again", fresh)
			}

			// Its declaration swept, r4's code goes; r2's once its hold
			// ended.
			sweepAll(t, s, hub.RecordDeclarations, at(100), at(300), limit)
			got, _ = sweepAll(t, s, hub.RecordCodes, at(100), at(2001), limit)
			same(t, "swept after the declaration and the hold", got, hub.SweepResult{Deleted: 2, Expired: []hub.ExpiredCount{
				{Record: hub.ExpiredHealthCode, Cell: cellA, Status: string(hub.Green), Count: 2},
			}})
			same(t, "codes left", coded(), []string{"r3", "r5"})
			same(t, "colours left", colours(), map[hub.Colour]int{hub.Green: 2})
		})
	}
}
