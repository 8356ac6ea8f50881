package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

func testInvalid(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	tests := []struct {
		name string
		give func() error
	}{
		{"nil district", func() error { return s.UpsertDistrict(ctx, nil) }},
		{"district without ID", func() error { return s.UpsertDistrict(ctx, &hub.District{Name: "x"}) }},
		{"nil committee", func() error { return s.UpsertCommittees(ctx, committee("c1", "C1", "d1"), nil) }},
		{"committee without ID", func() error {
			return s.UpsertCommittees(ctx, committee("c1", "C1", "d1"), committee("", "C2", "d1"))
		}},
		{"nil resident", func() error { return s.CreateResidents(ctx, resident("r1", "h1", "c1"), nil) }},
		{"resident without ID", func() error {
			return s.CreateResidents(ctx, resident("r1", "h1", "c1"), resident("", "h2", "c1"))
		}},
		{"nil pharmacy", func() error { return s.UpsertPharmacies(ctx, pharmacy("p1", nil), nil) }},
		{"pharmacy without ID", func() error { return s.UpsertPharmacies(ctx, pharmacy("p1", nil), pharmacy("", nil)) }},
		{"pharmacy with negative stock", func() error {
			return s.UpsertPharmacies(ctx, pharmacy("p1", nil), pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: -1}))
		}},
		{"nil checkpoint", func() error { return s.UpsertCheckpoints(ctx, checkpoint("k1"), nil) }},
		{"checkpoint without ID", func() error { return s.UpsertCheckpoints(ctx, checkpoint("k1"), checkpoint("")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.give(), hub.EINVALID, tt.name)
		})
	}

	// Nothing of a rejected batch was written.
	ds, err := s.Districts(ctx)
	must(t, err, "Districts")
	cs, err := s.Committees(ctx, "")
	must(t, err, "Committees")
	n, err := s.CountResidents(ctx, "")
	must(t, err, "CountResidents")
	ps, err := s.Pharmacies(ctx)
	must(t, err, "Pharmacies")
	ks, err := s.Checkpoints(ctx)
	must(t, err, "Checkpoints")
	same(t, "records written by invalid calls", []int{len(ds), len(cs), n, len(ps), len(ks)}, []int{0, 0, 0, 0, 0})
}

func testCopies(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	// Records given to the store are not kept by it.
	d, c, r := district("d1"), committee("c1", "C1", "d1"), resident("r1", "h1", "c1")
	p, k := pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10}), checkpoint("k1")
	must(t, s.UpsertDistrict(ctx, d), "UpsertDistrict")
	must(t, s.UpsertCommittees(ctx, c), "UpsertCommittees")
	must(t, s.CreateResidents(ctx, r), "CreateResidents")
	must(t, s.UpsertPharmacies(ctx, p), "UpsertPharmacies")
	must(t, s.UpsertCheckpoints(ctx, k), "UpsertCheckpoints")
	d.Name, d.Cells[0] = "changed", 1
	c.Name, c.Cells[0] = "changed", 1
	r.Name = "changed"
	p.Name, p.Stock[hub.MaskAdult] = "changed", 999
	k.Name = "changed"

	check := func(what string) {
		t.Helper()
		gd, err := s.District(ctx, "d1")
		must(t, err, "District")
		same(t, "district "+what, normDistrict(gd), normDistrict(district("d1")))
		gc, err := s.Committee(ctx, "c1")
		must(t, err, "Committee")
		same(t, "committee "+what, normCommittee(gc), normCommittee(committee("c1", "C1", "d1")))
		gr, err := s.Resident(ctx, "r1")
		must(t, err, "Resident")
		same(t, "resident "+what, normResident(gr), normResident(resident("r1", "h1", "c1")))
		gp, err := s.Pharmacy(ctx, "p1")
		must(t, err, "Pharmacy")
		same(t, "pharmacy "+what, normPharmacy(gp), normPharmacy(pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})))
		gk, err := s.Checkpoint(ctx, "k1")
		must(t, err, "Checkpoint")
		same(t, "checkpoint "+what, normCheckpoint(gk), normCheckpoint(checkpoint("k1")))
	}
	check("after its input changed")

	// Records the store returns are the caller's to change.
	gd, err := s.District(ctx, "d1")
	must(t, err, "District")
	gd.Name, gd.Cells[0] = "changed", 1
	ds, err := s.Districts(ctx)
	must(t, err, "Districts")
	ds[0].Name, ds[0].Cells[0] = "changed", 1

	gc, err := s.Committee(ctx, "c1")
	must(t, err, "Committee")
	gc.Name, gc.Cells[0] = "changed", 1
	gc, err = s.CommitteeByCode(ctx, "C1")
	must(t, err, "CommitteeByCode")
	gc.Name, gc.Cells[0] = "changed", 1
	cs, err := s.Committees(ctx, "")
	must(t, err, "Committees")
	cs[0].Name, cs[0].Cells[0] = "changed", 1

	gr, err := s.Resident(ctx, "r1")
	must(t, err, "Resident")
	gr.Name = "changed"
	gr, err = s.ResidentByIDHash(ctx, "h1")
	must(t, err, "ResidentByIDHash")
	gr.Name = "changed"
	rs, err := s.Residents(ctx, hub.ResidentFilter{})
	must(t, err, "Residents")
	rs[0].Name = "changed"

	gp, err := s.Pharmacy(ctx, "p1")
	must(t, err, "Pharmacy")
	gp.Name, gp.Stock[hub.MaskAdult] = "changed", 999
	ps, err := s.Pharmacies(ctx)
	must(t, err, "Pharmacies")
	ps[0].Name, ps[0].Stock[hub.MaskAdult] = "changed", 999
	gp, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskN95, Delta: 1, Reason: "RESTOCK", At: at(9)})
	must(t, err, "AdjustStock")
	gp.Name, gp.Stock[hub.MaskAdult], gp.Stock[hub.MaskN95] = "changed", 999, 999
	gp, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskN95, Delta: -1, Reason: "CORRECTION", At: at(9)})
	must(t, err, "AdjustStock")
	same(t, "stock AdjustStock returned after a changed copy", gp.Stock[hub.MaskN95], 0)

	gk, err := s.Checkpoint(ctx, "k1")
	must(t, err, "Checkpoint")
	gk.Name = "changed"
	ks, err := s.Checkpoints(ctx)
	must(t, err, "Checkpoints")
	ks[0].Name = "changed"

	check("after returned copies changed")
}

func testConcurrentStock(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskN95: 30})), "UpsertPharmacies")

	const takers = 50
	errs := make([]error, takers)
	var wg sync.WaitGroup
	for i := range takers {
		wg.Go(func() {
			_, errs[i] = s.AdjustStock(ctx, hub.StockChange{
				PharmacyID: "p1", SKU: hub.MaskN95, Delta: -1, Reason: "ALLOCATE", At: at(i),
			})
		})
	}
	wg.Wait()

	codes := make(map[string]int)
	for _, err := range errs {
		codes[hub.ErrorCode(err)]++
	}
	same(t, "outcomes of 50 takes from 30", codes, map[string]int{"": 30, hub.EOUTOFSTOCK: 20})
	same(t, "stock after the takes", stockOf(t, s, "p1", hub.MaskN95), 0)

	es := ledger(t, s, "p1")
	if len(es) != 31 {
		t.Fatalf("ledger has %d entries, want 31", len(es))
	}
	for i, e := range es[1:] {
		if e.Delta != -1 || e.After != 29-i {
			t.Fatalf("entry %d: %+v, want Delta -1 and After %d", i+1, e, 29-i)
		}
	}
}

func testConcurrentResidents(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	// Twenty registrations of one ID number: exactly one wins.
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateResidents(ctx, resident(fmt.Sprintf("same-hash-%02d", i), "h-same", "c1"))
		})
	}
	wg.Wait()
	var winner string
	codes := make(map[string]int)
	for i, err := range errs {
		codes[hub.ErrorCode(err)]++
		if err == nil {
			winner = fmt.Sprintf("same-hash-%02d", i)
		}
	}
	same(t, "outcomes of 20 registrations of one ID number", codes, map[string]int{"": 1, hub.ECONFLICT: n - 1})
	got, err := s.ResidentByIDHash(ctx, "h-same")
	must(t, err, "ResidentByIDHash")
	same(t, "winner", got.ID, winner)

	// Twenty registrations of one resident ID: exactly one wins.
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateResidents(ctx, resident("same-id", fmt.Sprintf("h-same-id-%02d", i), "c1"))
		})
	}
	wg.Wait()
	clear(codes)
	for _, err := range errs {
		codes[hub.ErrorCode(err)]++
	}
	same(t, "outcomes of 20 registrations of one resident ID", codes, map[string]int{"": 1, hub.ECONFLICT: n - 1})

	// Twenty writers registering ten residents each, one per call.
	var mu sync.Mutex
	var failures []error
	for w := range n {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("w%02d-%02d", w, i)
				if err := s.CreateResidents(ctx, resident(id, "h-"+id, fmt.Sprintf("c%d", w%2))); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d concurrent registrations failed, first: %v", len(failures), failures[0])
	}
	count, err := s.CountResidents(ctx, "")
	must(t, err, "CountResidents")
	same(t, "residents after concurrent registrations", count, 2+n*10)
	count, err = s.CountResidents(ctx, "c0")
	must(t, err, "CountResidents c0")
	same(t, "residents of c0", count, n*10/2)
	same(t, "residents listed", len(residentIDs(t, s, "", 0)), 2+n*10)
	same(t, "residents of c1 listed", len(residentIDs(t, s, "c1", 17)), 2+n*10/2)
}

func testReopen(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	d := district("d1")
	cs := []*hub.Committee{committee("c1", "C1", "d1"), committee("c2", "C2", "d1")}
	rs := []*hub.Resident{resident("r1", "h1", "c1"), resident("r2", "h2", "c2"), resident("r3", "h3", "c1")}
	p := pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})
	k := checkpoint("k1")
	must(t, s.UpsertDistrict(ctx, d), "UpsertDistrict")
	must(t, s.UpsertCommittees(ctx, cs...), "UpsertCommittees")
	must(t, s.CreateResidents(ctx, rs[:2]...), "CreateResidents")
	must(t, s.CreateResidents(ctx, rs[2]), "CreateResidents")
	must(t, s.UpsertPharmacies(ctx, p), "UpsertPharmacies")
	_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -4, Reason: "ALLOCATE", At: at(10)})
	must(t, err, "AdjustStock")
	_, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.TestKit, Delta: 7, Reason: "RESTOCK", At: at(11)})
	must(t, err, "AdjustStock")
	must(t, s.UpsertCheckpoints(ctx, k), "UpsertCheckpoints")
	wantLedger := ledger(t, s, "p1")

	s = h.Reopen(t, s)

	gd, err := s.District(ctx, "d1")
	must(t, err, "District after reopen")
	same(t, "district after reopen", normDistrict(gd), normDistrict(d))
	gcs, err := s.Committees(ctx, "d1")
	must(t, err, "Committees after reopen")
	same(t, "committees after reopen", normAll(gcs, normCommittee), normAll(cs, normCommittee))
	gc, err := s.CommitteeByCode(ctx, "C2")
	must(t, err, "CommitteeByCode after reopen")
	same(t, "CommitteeByCode after reopen", gc.ID, "c2")
	grs, err := s.Residents(ctx, hub.ResidentFilter{})
	must(t, err, "Residents after reopen")
	same(t, "residents after reopen", normAll(grs, normResident), normAll(rs, normResident))
	grs, err = s.Residents(ctx, hub.ResidentFilter{CommitteeID: "c1"})
	must(t, err, "Residents of c1 after reopen")
	same(t, "residents of c1 after reopen", ids(grs, residentID), []string{"r1", "r3"})
	gr, err := s.ResidentByIDHash(ctx, "h3")
	must(t, err, "ResidentByIDHash after reopen")
	same(t, "ResidentByIDHash after reopen", gr.ID, "r3")
	for _, tt := range []struct {
		give string
		want int
	}{{"", 3}, {"c1", 2}, {"c2", 1}} {
		n, err := s.CountResidents(ctx, tt.give)
		must(t, err, "CountResidents after reopen")
		same(t, "CountResidents("+tt.give+") after reopen", n, tt.want)
	}
	gp, err := s.Pharmacy(ctx, "p1")
	must(t, err, "Pharmacy after reopen")
	p.Stock = map[hub.SKU]int{hub.MaskAdult: 6, hub.TestKit: 7}
	same(t, "pharmacy after reopen", normPharmacy(gp), normPharmacy(p))
	same(t, "ledger after reopen", normAll(ledger(t, s, "p1"), normEntry), normAll(wantLedger, normEntry))
	gk, err := s.Checkpoint(ctx, "k1")
	must(t, err, "Checkpoint after reopen")
	same(t, "checkpoint after reopen", normCheckpoint(gk), normCheckpoint(k))

	// The reopened store goes on from where the old one stopped.
	wantCode(t, s.CreateResidents(ctx, resident("r9", "h1", "c1")), hub.ECONFLICT, "CreateResidents of a registered ID hash after reopen")
	wantCode(t, s.UpsertCommittees(ctx, committee("c9", "C1", "d1")), hub.ECONFLICT, "UpsertCommittees of a held code after reopen")
	_, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -7, Reason: "ALLOCATE", At: at(12)})
	wantCode(t, err, hub.EOUTOFSTOCK, "AdjustStock beyond the stock after reopen")
	_, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -6, Reason: "ALLOCATE", At: at(12)})
	must(t, err, "AdjustStock after reopen")
	es := ledger(t, s, "p1")
	if len(es) != len(wantLedger)+1 || es[len(es)-1].Seq <= wantLedger[len(wantLedger)-1].Seq {
		t.Fatalf("ledger after reopen and a change: %+v, want %+v and one entry with a greater Seq", es, wantLedger)
	}
	must(t, s.CreateResidents(ctx, resident("r4", "h4", "c2")), "CreateResidents after reopen")
	n, err := s.CountResidents(ctx, "c2")
	must(t, err, "CountResidents after reopen")
	same(t, "CountResidents(c2) after reopen and a registration", n, 2)
}

// call is one call of every method of hub.Store, for tests that expect all
// of them to fail alike. Writes use records no other call uses.
type call struct {
	name string
	do   func(ctx context.Context, s hub.Store) error
}

func everyCall() []call {
	return append([]call{
		{"Ping", func(ctx context.Context, s hub.Store) error { return s.Ping(ctx) }},
		{"Meta", func(ctx context.Context, s hub.Store) error { _, err := s.Meta(ctx, "seeded"); return err }},
		{"SwapMeta", func(ctx context.Context, s hub.Store) error { _, err := s.SwapMeta(ctx, "k9", "", "v9"); return err }},
		{"UpsertDistrict", func(ctx context.Context, s hub.Store) error { return s.UpsertDistrict(ctx, district("d9")) }},
		{"District", func(ctx context.Context, s hub.Store) error { _, err := s.District(ctx, "d1"); return err }},
		{"Districts", func(ctx context.Context, s hub.Store) error { _, err := s.Districts(ctx); return err }},
		{"UpsertCommittees", func(ctx context.Context, s hub.Store) error {
			return s.UpsertCommittees(ctx, committee("c9", "C9", "d1"))
		}},
		{"Committee", func(ctx context.Context, s hub.Store) error { _, err := s.Committee(ctx, "c1"); return err }},
		{"CommitteeByCode", func(ctx context.Context, s hub.Store) error { _, err := s.CommitteeByCode(ctx, "C1"); return err }},
		{"Committees", func(ctx context.Context, s hub.Store) error { _, err := s.Committees(ctx, ""); return err }},
		{"CreateResidents", func(ctx context.Context, s hub.Store) error {
			return s.CreateResidents(ctx, resident("r9", "h9", "c1"))
		}},
		{"Resident", func(ctx context.Context, s hub.Store) error { _, err := s.Resident(ctx, "r1"); return err }},
		{"ResidentByIDHash", func(ctx context.Context, s hub.Store) error { _, err := s.ResidentByIDHash(ctx, "h1"); return err }},
		{"Residents", func(ctx context.Context, s hub.Store) error {
			_, err := s.Residents(ctx, hub.ResidentFilter{CommitteeID: "c1"})
			return err
		}},
		{"CountResidents", func(ctx context.Context, s hub.Store) error { _, err := s.CountResidents(ctx, ""); return err }},
		{"UpsertPharmacies", func(ctx context.Context, s hub.Store) error {
			return s.UpsertPharmacies(ctx, pharmacy("p9", map[hub.SKU]int{hub.MaskAdult: 1}))
		}},
		{"Pharmacy", func(ctx context.Context, s hub.Store) error { _, err := s.Pharmacy(ctx, "p1"); return err }},
		{"Pharmacies", func(ctx context.Context, s hub.Store) error { _, err := s.Pharmacies(ctx); return err }},
		{"AdjustStock", func(ctx context.Context, s hub.Store) error {
			_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -1, Reason: "ALLOCATE", At: at(1)})
			return err
		}},
		{"StockLedger", func(ctx context.Context, s hub.Store) error { _, err := s.StockLedger(ctx, "p1", 0, 0); return err }},
		{"UpsertCheckpoints", func(ctx context.Context, s hub.Store) error { return s.UpsertCheckpoints(ctx, checkpoint("k9")) }},
		{"Checkpoint", func(ctx context.Context, s hub.Store) error { _, err := s.Checkpoint(ctx, "k1"); return err }},
		{"Checkpoints", func(ctx context.Context, s hub.Store) error { _, err := s.Checkpoints(ctx); return err }},
		{"AppendAudit", func(ctx context.Context, s hub.Store) error {
			_, err := s.AppendAudit(ctx, auditEntry("r1", "c1", 1))
			return err
		}},
		{"AuditLog", func(ctx context.Context, s hub.Store) error {
			_, err := s.AuditLog(ctx, hub.AuditFilter{TargetID: "r1"})
			return err
		}},
		{"UpsertRound", func(ctx context.Context, s hub.Store) error {
			return s.UpsertRound(ctx, round("round9", hub.RoundOpen))
		}},
		{"Round", func(ctx context.Context, s hub.Store) error { _, err := s.Round(ctx, "round1"); return err }},
		{"Rounds", func(ctx context.Context, s hub.Store) error { _, err := s.Rounds(ctx, hub.RoundOpen); return err }},
		{"CreateReservation", func(ctx context.Context, s hub.Store) error {
			_, err := s.CreateReservation(ctx, reservation("res9", "round1", "h-res9"))
			return err
		}},
		{"Reservation", func(ctx context.Context, s hub.Store) error { _, err := s.Reservation(ctx, "res1"); return err }},
		{"Reservations", func(ctx context.Context, s hub.Store) error {
			_, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationPending})
			return err
		}},
		{"SetReservationStatus", func(ctx context.Context, s hub.Store) error {
			return s.SetReservationStatus(ctx, hub.ReservationLost, []hub.ReservationStatus{hub.ReservationPending}, "res1")
		}},
		{"Allocate", func(ctx context.Context, s hub.Store) error {
			return s.Allocate(ctx, allocation("a9", reservation("res1", "round1", "h-res1"), "p-d", 1))
		}},
		{"Allocation", func(ctx context.Context, s hub.Store) error { _, err := s.Allocation(ctx, "a1"); return err }},
		{"AllocationByCode", func(ctx context.Context, s hub.Store) error { _, err := s.AllocationByCode(ctx, "code-a1"); return err }},
		{"Allocations", func(ctx context.Context, s hub.Store) error {
			_, err := s.Allocations(ctx, hub.AllocationFilter{PharmacyID: "p-d", Status: hub.AllocationReserved})
			return err
		}},
		{"TransitionAllocation", func(ctx context.Context, s hub.Store) error {
			_, err := s.TransitionAllocation(ctx, "a1", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, at(30))
			return err
		}},
		{"ExpiringAllocations", func(ctx context.Context, s hub.Store) error {
			_, err := s.ExpiringAllocations(ctx, at(1000), 0)
			return err
		}},
		{"UpsertPartners", func(ctx context.Context, s hub.Store) error { return s.UpsertPartners(ctx, partner("pt9")) }},
		{"Partner", func(ctx context.Context, s hub.Store) error { _, err := s.Partner(ctx, "pt1"); return err }},
		{"Partners", func(ctx context.Context, s hub.Store) error { _, err := s.Partners(ctx); return err }},
		{"CreateShortage", func(ctx context.Context, s hub.Store) error {
			return s.CreateShortage(ctx, shortage("sh9", "r9", hub.MaskAdult))
		}},
		{"Shortages", func(ctx context.Context, s hub.Store) error {
			_, err := s.Shortages(ctx, hub.ShortageFilter{SKU: hub.MaskAdult, Status: hub.ShortageWaiting})
			return err
		}},
	}, slices.Concat(codesCalls(), batchCalls(), retentionCalls())...)
}

// seed writes the records everyCall reads.
func seed(t *testing.T, s hub.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.UpsertDistrict(ctx, district("d1")), "UpsertDistrict")
	_, err := s.SwapMeta(ctx, "seeded", "", "yes")
	must(t, err, "SwapMeta")
	must(t, s.UpsertCommittees(ctx, committee("c1", "C1", "d1")), "UpsertCommittees")
	must(t, s.CreateResidents(ctx, resident("r1", "h1", "c1")), "CreateResidents")
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 5})), "UpsertPharmacies")
	must(t, s.UpsertCheckpoints(ctx, checkpoint("k1")), "UpsertCheckpoints")

	must(t, s.UpsertPharmacies(ctx, pharmacy("p-d", map[hub.SKU]int{hub.MaskAdult: 10})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	_, err = s.CreateReservation(ctx, reservation("res1", "round1", "h-res1"))
	must(t, err, "CreateReservation")
	ra1 := reservation("res-a1", "round1", "h-res-a1")
	_, err = s.CreateReservation(ctx, ra1)
	must(t, err, "CreateReservation")
	must(t, s.Allocate(ctx, allocation("a1", ra1, "p-d", 1)), "Allocate")
	must(t, s.UpsertPartners(ctx, partner("pt1")), "UpsertPartners")
	must(t, s.CreateShortage(ctx, shortage("sh1", "r1", hub.MaskAdult)), "CreateShortage")
	codesSeedCalls(t, s)
	must(t, s.PutHold(ctx, hold("hold1", 100)), "PutHold")
}

func testClosed(t *testing.T, h Harness) {
	s := h.Open(t)
	seed(t, s)
	must(t, s.Ping(t.Context()), "Ping of an open store")
	must(t, s.Close(), "Close")
	for _, c := range everyCall() {
		if err := c.do(t.Context(), s); err == nil {
			t.Errorf("%s after Close: no error", c.name)
		}
	}
	_ = s.Close() // a second Close may fail but must not panic
}

func testCanceledContext(t *testing.T, h Harness) {
	s := h.Open(t)
	seed(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range everyCall() {
		if err := c.do(ctx, s); !isCanceled(err) {
			t.Errorf("%s with a canceled context: error %v, want one matching context.Canceled", c.name, err)
		}
	}

	// The canceled writes wrote nothing.
	live := t.Context()
	_, err := s.District(live, "d9")
	wantCode(t, err, hub.ENOTFOUND, "District written with a canceled context")
	_, err = s.Meta(live, "k9")
	wantCode(t, err, hub.ENOTFOUND, "setting written with a canceled context")
	_, err = s.Committee(live, "c9")
	wantCode(t, err, hub.ENOTFOUND, "Committee written with a canceled context")
	_, err = s.Resident(live, "r9")
	wantCode(t, err, hub.ENOTFOUND, "Resident written with a canceled context")
	_, err = s.Pharmacy(live, "p9")
	wantCode(t, err, hub.ENOTFOUND, "Pharmacy written with a canceled context")
	_, err = s.Checkpoint(live, "k9")
	wantCode(t, err, hub.ENOTFOUND, "Checkpoint written with a canceled context")
	same(t, "stock after a canceled change", stockOf(t, s, "p1", hub.MaskAdult), 5)
	same(t, "ledger after a canceled change", len(ledger(t, s, "p1")), 1)

	_, err = s.Round(live, "round9")
	wantCode(t, err, hub.ENOTFOUND, "Round written with a canceled context")
	_, err = s.Reservation(live, "res9")
	wantCode(t, err, hub.ENOTFOUND, "Reservation written with a canceled context")
	same(t, "reservation after a canceled status change", getReservation(t, s, "res1").Status, hub.ReservationPending)
	_, err = s.Allocation(live, "a9")
	wantCode(t, err, hub.ENOTFOUND, "Allocation written with a canceled context")
	same(t, "allocation after a canceled move", getAllocation(t, s, "a1").Status, hub.AllocationReserved)
	same(t, "stock after canceled dispatch writes", stockOf(t, s, "p-d", hub.MaskAdult), 9)
	same(t, "ledger after canceled dispatch writes", len(ledger(t, s, "p-d")), 2)
	_, err = s.Partner(live, "pt9")
	wantCode(t, err, hub.ENOTFOUND, "Partner written with a canceled context")
	same(t, "shortages after a canceled registration", shortageIDs(t, s, hub.ShortageFilter{}), []string{"sh1"})
	codesUnchanged(t, s)
}
