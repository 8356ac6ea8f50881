package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The guards of a round's limits (hub.ErrSlotFull, hub.ErrQuotaExhausted):
// slot places and committee quotas counted in the write's transaction.

// guardStore opens a store with pharmacies p1 and p2 (1000 adult masks
// each), partner pt1 and round r.
func guardStore(t *testing.T, h Harness, r *hub.Round) hub.Store {
	t.Helper()
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx,
		pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 1000}),
		pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: 1000})), "UpsertPharmacies")
	must(t, s.UpsertPartners(ctx, partner("pt1")), "UpsertPartners")
	must(t, s.UpsertRound(ctx, r), "UpsertRound")
	return s
}

// guardTaker takes allocations in round roundID with new reservations,
// numbered, alternately through Allocate (a PENDING reservation created
// first) and ReserveAllocated, and checks that a refused one wrote
// nothing.
type guardTaker struct {
	t       *testing.T
	s       hub.Store
	roundID string
	n       int
}

// take tries one allocation of qty units at pharmacy p in slot (zero: a
// walk-in), by partner when partner is not empty, for a resident of
// committee. It returns the allocation's ID and the store's answer.
func (g *guardTaker) take(p string, slot time.Time, qty int, committee, partner string) (string, error) {
	t, ctx := g.t, g.t.Context()
	t.Helper()
	g.n++
	r := reservation(fmt.Sprintf("res%04d", g.n), g.roundID, fmt.Sprintf("h%04d", g.n))
	r.CommitteeID = committee
	a := allocation(fmt.Sprintf("a%04d", g.n), r, p, qty)
	a.Slot = slot
	if partner != "" {
		a.PartnerID, a.Status, a.Slot, a.CodeHash, a.ExpiresAt = partner, hub.AllocationDelivering, time.Time{}, "", time.Time{}
	}
	before := stockOf(t, g.s, p, hub.MaskAdult)
	var err error
	if g.n%2 == 0 {
		_, err = g.s.ReserveAllocated(ctx, r, a)
	} else {
		_, cerr := g.s.CreateReservation(ctx, r)
		must(t, cerr, "CreateReservation")
		err = g.s.Allocate(ctx, a)
	}
	if err != nil {
		same(t, "stock after a refused allocation", stockOf(t, g.s, p, hub.MaskAdult), before)
		_, aerr := g.s.Allocation(ctx, a.ID)
		wantCode(t, aerr, hub.ENOTFOUND, "the allocation refused")
		got, rerr := g.s.Reservation(ctx, r.ID)
		if g.n%2 == 0 {
			wantCode(t, rerr, hub.ENOTFOUND, "the reservation of a refused ReserveAllocated")
		} else {
			must(t, rerr, "Reservation")
			same(t, "status of a reservation refused its allocation", got.Status, hub.ReservationPending)
		}
	}
	return a.ID, err
}

// wantGuard fails t unless err is an EOUTOFSTOCK error matching sentinel.
func wantGuard(t *testing.T, err, sentinel error, what string) {
	t.Helper()
	if hub.ErrorCode(err) != hub.EOUTOFSTOCK || !errors.Is(err, sentinel) {
		t.Fatalf("%s: got %v, want an %s error matching %q", what, err, hub.EOUTOFSTOCK, sentinel)
	}
}

func testSlotGuard(t *testing.T, h Harness) {
	tests := []struct {
		give    int // slot capacity
		release hub.AllocationStatus
	}{
		{1, hub.AllocationCancelled},
		{3, hub.AllocationExpired},
		{5, hub.AllocationFailed},
		{8, hub.AllocationCancelled},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("capacity %d, %s", tt.give, tt.release), func(t *testing.T) {
			ctx := t.Context()
			r := round("round1", hub.RoundOpen)
			r.Mode, r.Quotas, r.SlotMinutes, r.SlotCapacity = hub.FirstCome, nil, 30, tt.give
			s := guardStore(t, h, r)
			g := &guardTaker{t: t, s: s, roundID: "round1"}
			slotA, slotB := at(60), at(90)

			var held []string
			for i := range tt.give {
				id, err := g.take("p1", slotA, 1+i%3, "c1", "")
				must(t, err, fmt.Sprintf("place %d of %d", i+1, tt.give))
				held = append(held, id)
			}
			for range 2 { // through Allocate and ReserveAllocated
				_, err := g.take("p1", slotA, 1, "c1", "")
				wantGuard(t, err, hub.ErrSlotFull, "a place beyond the capacity")
			}
			// Another pharmacy's slot, another slot, a delivery, a
			// walk-in: none takes a place of p1's slot A.
			_, err := g.take("p2", slotA, 1, "c1", "")
			must(t, err, "the same slot at another pharmacy")
			_, err = g.take("p1", slotB, 1, "c1", "")
			must(t, err, "another slot")
			_, err = g.take("p1", time.Time{}, 1, "c1", "pt1")
			must(t, err, "a delivery")
			_, err = g.take("p1", time.Time{}, 1, "c1", "")
			must(t, err, "a walk-in")

			// A batch is all or nothing: filling slot B past its
			// capacity refuses the whole batch, its fitting first
			// allocation included.
			var batch []*hub.Allocation
			for i := range tt.give + 1 {
				res := reservation(fmt.Sprintf("batch%02d", i), "round1", fmt.Sprintf("hb%02d", i))
				_, err := s.CreateReservation(ctx, res)
				must(t, err, "CreateReservation")
				a := allocation(fmt.Sprintf("b%02d", i), res, "p1", 1)
				a.Slot = slotB
				if i == 0 {
					a.PharmacyID = "p2"
				}
				batch = append(batch, a)
			}
			before := stockOf(t, s, "p2", hub.MaskAdult)
			wantGuard(t, s.Allocate(ctx, batch...), hub.ErrSlotFull, "a batch past slot B's capacity")
			same(t, "stock of p2 after the batch refused", stockOf(t, s, "p2", hub.MaskAdult), before)
			_, err = s.Allocation(ctx, "b00")
			wantCode(t, err, hub.ENOTFOUND, "the fitting allocation of a refused batch")

			// Redeemed keeps its place; a release frees it, once.
			_, err = s.TransitionAllocation(ctx, held[0], []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(70))
			must(t, err, "redeem")
			_, err = g.take("p1", slotA, 1, "c1", "")
			wantGuard(t, err, hub.ErrSlotFull, "a place after a pickup")
			last := held[len(held)-1]
			if tt.give > 1 {
				_, err = s.TransitionAllocation(ctx, last, []hub.AllocationStatus{hub.AllocationReserved}, tt.release, at(70))
			} else { // the one place was redeemed: a final status
				_, err = s.TransitionAllocation(ctx, last, []hub.AllocationStatus{hub.AllocationReserved}, tt.release, at(70))
				wantCode(t, err, hub.ECONFLICT, "release of a redeemed allocation")
				_, err = g.take("p1", slotA, 1, "c1", "")
				wantGuard(t, err, hub.ErrSlotFull, "a place held by a pickup")
				return
			}
			must(t, err, "release")
			_, err = s.TransitionAllocation(ctx, last, []hub.AllocationStatus{hub.AllocationReserved, hub.AllocationDelivering}, tt.release, at(71))
			wantCode(t, err, hub.ECONFLICT, "a second release")
			_, err = g.take("p1", slotA, 2, "c1", "")
			must(t, err, "the place released, taken again")
			_, err = g.take("p1", slotA, 1, "c1", "")
			wantGuard(t, err, hub.ErrSlotFull, "a place beyond the capacity again")

			// The counts survive a reopen.
			g.s = h.Reopen(t, s)
			_, err = g.take("p1", slotA, 1, "c1", "")
			wantGuard(t, err, hub.ErrSlotFull, "a place beyond the capacity after reopen")
			_, err = g.take("p1", slotB, 1, "c1", "")
			if tt.give > 1 {
				must(t, err, "slot B after reopen")
			} else {
				wantGuard(t, err, hub.ErrSlotFull, "slot B, full, after reopen")
			}
		})
	}
}

func testQuotaGuard(t *testing.T, h Harness) {
	tests := []struct {
		qty, quota int // units per allocation, c1's quota; c2's is 4
	}{
		{1, 5},
		{3, 10},
		{5, 5},
		{2, 9},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d units of %d", tt.qty, tt.quota), func(t *testing.T) {
			ctx := t.Context()
			r := round("round1", hub.RoundOpen)
			r.Mode, r.PerPerson, r.SlotMinutes, r.SlotCapacity = hub.ByCommittee, tt.qty, 0, 0
			r.Quotas = map[string]int{"c1": tt.quota, "c2": 4}
			s := guardStore(t, h, r)
			g := &guardTaker{t: t, s: s, roundID: "round1"}

			fit := tt.quota / tt.qty
			var held []string
			for i := range fit {
				partner := ""
				if i%2 == 1 {
					partner = "pt1" // a delivery counts in the quota too
				}
				id, err := g.take("p1", time.Time{}, tt.qty, "c1", partner)
				must(t, err, fmt.Sprintf("allocation %d of %d", i+1, fit))
				held = append(held, id)
			}
			for range 2 {
				_, err := g.take("p2", time.Time{}, tt.qty, "c1", "")
				wantGuard(t, err, hub.ErrQuotaExhausted, "units beyond the quota")
			}
			// Another committee counts apart; a committee without a
			// quota has none.
			_, err := g.take("p1", time.Time{}, tt.qty, "c2", "")
			if tt.qty <= 4 {
				must(t, err, "another committee")
			} else {
				wantGuard(t, err, hub.ErrQuotaExhausted, "more than another committee's quota")
			}
			_, err = g.take("p1", time.Time{}, tt.qty, "c9", "")
			wantGuard(t, err, hub.ErrQuotaExhausted, "a committee without a quota")

			// A release frees the units, once; delivered ones stay.
			_, err = s.TransitionAllocation(ctx, held[0], []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(70))
			must(t, err, "redeem")
			_, err = g.take("p1", time.Time{}, tt.qty, "c1", "")
			wantGuard(t, err, hub.ErrQuotaExhausted, "units after a pickup")
			last := held[len(held)-1]
			if len(held) == 1 {
				return // its one allocation was redeemed
			}
			_, err = s.TransitionAllocation(ctx, last, []hub.AllocationStatus{hub.AllocationReserved, hub.AllocationDelivering}, hub.AllocationCancelled, at(70))
			must(t, err, "cancel")
			_, err = s.TransitionAllocation(ctx, last, []hub.AllocationStatus{hub.AllocationReserved, hub.AllocationDelivering}, hub.AllocationCancelled, at(71))
			wantCode(t, err, hub.ECONFLICT, "a second cancel")
			_, err = g.take("p2", time.Time{}, tt.qty, "c1", "")
			must(t, err, "the units released, taken again")
			_, err = g.take("p2", time.Time{}, tt.qty, "c1", "")
			wantGuard(t, err, hub.ErrQuotaExhausted, "units beyond the quota again")

			g.s = h.Reopen(t, s)
			_, err = g.take("p1", time.Time{}, tt.qty, "c1", "")
			wantGuard(t, err, hub.ErrQuotaExhausted, "units beyond the quota after reopen")
		})
	}

	// Quotas bind in COMMITTEE rounds only.
	t.Run("FIRST_COME", func(t *testing.T) {
		r := round("round1", hub.RoundOpen)
		r.Mode, r.SlotMinutes, r.SlotCapacity, r.Quotas = hub.FirstCome, 0, 0, map[string]int{"c1": 2}
		s := guardStore(t, h, r)
		g := &guardTaker{t: t, s: s, roundID: "round1"}
		for i := range 4 {
			_, err := g.take("p1", time.Time{}, 2, "c1", "")
			must(t, err, fmt.Sprintf("allocation %d in a FIRST_COME round", i))
		}
	})
}

// testConcurrentGuards races many writers, through Allocate and
// ReserveAllocated, for one slot and for one committee's quota, with
// releases among them: the places and units live never exceed the limits,
// and with no release every place is taken.
func testConcurrentGuards(t *testing.T, h Harness) {
	tests := []struct {
		name        string
		mode        hub.Mode
		limit, give int // capacity or quota; writers
		releases    int
	}{
		{"slot", hub.FirstCome, 17, 80, 0},
		{"slot with releases", hub.FirstCome, 11, 60, 6},
		{"quota", hub.ByCommittee, 23, 80, 0},
		{"quota with releases", hub.ByCommittee, 13, 60, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			r := round("round1", hub.RoundOpen)
			r.Mode, r.PerPerson, r.Quotas = tt.mode, 1, nil
			r.SlotMinutes, r.SlotCapacity = 30, 100_000
			sentinel := hub.ErrQuotaExhausted
			if tt.mode == hub.ByCommittee {
				r.Quotas = map[string]int{"c1": tt.limit}
			} else {
				r.SlotCapacity, sentinel = tt.limit, hub.ErrSlotFull
			}
			s := guardStore(t, h, r)
			// The first allocations, to release while the others race.
			var first []string
			for i := range tt.releases {
				res := reservation(fmt.Sprintf("first%02d", i), "round1", fmt.Sprintf("hf%02d", i))
				a := allocation(fmt.Sprintf("f%02d", i), res, "p1", 1)
				_, err := s.ReserveAllocated(ctx, res, a)
				must(t, err, "ReserveAllocated")
				first = append(first, a.ID)
			}
			errs := make([]error, tt.give)
			var wg sync.WaitGroup
			for i := range tt.give {
				wg.Go(func() {
					res := reservation(fmt.Sprintf("res%03d", i), "round1", fmt.Sprintf("h%03d", i))
					a := allocation(fmt.Sprintf("a%03d", i), res, "p1", 1)
					if i%2 == 0 {
						_, errs[i] = s.ReserveAllocated(ctx, res, a)
						return
					}
					if _, err := s.CreateReservation(ctx, res); err != nil {
						errs[i] = err
						return
					}
					errs[i] = s.Allocate(ctx, a)
				})
			}
			for _, id := range first {
				wg.Go(func() {
					_, err := s.TransitionAllocation(ctx, id, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationCancelled, at(70))
					if err != nil {
						t.Errorf("release %s: %v", id, err)
					}
				})
			}
			wg.Wait()
			won := 0
			for i, err := range errs {
				if err == nil {
					won++
					continue
				}
				wantGuard(t, err, sentinel, fmt.Sprintf("writer %d", i))
			}
			live, err := s.Allocations(ctx, hub.AllocationFilter{RoundID: "round1", Status: hub.AllocationReserved})
			must(t, err, "Allocations")
			if len(live) > tt.limit {
				t.Fatalf("%d allocations live, beyond the limit %d", len(live), tt.limit)
			}
			if tt.releases == 0 {
				same(t, "writers served", won, tt.limit)
			} else if won < tt.limit-tt.releases || won > tt.limit {
				t.Fatalf("%d writers served, want from %d to %d", won, tt.limit-tt.releases, tt.limit)
			}
			same(t, "stock left", stockOf(t, s, "p1", hub.MaskAdult), 1000-len(live))
			// Whatever the race, the count in the store is exact: the
			// places left are taken to the limit, and no further.
			for i := len(live); i < tt.limit; i++ {
				res := reservation(fmt.Sprintf("fill%02d", i), "round1", fmt.Sprintf("hz%02d", i))
				_, err := s.ReserveAllocated(ctx, res, allocation(fmt.Sprintf("z%02d", i), res, "p1", 1))
				must(t, err, "a place left")
			}
			res := reservation("over", "round1", "hover")
			_, err = s.ReserveAllocated(ctx, res, allocation("over", res, "p1", 1))
			wantGuard(t, err, sentinel, "beyond the limit after the race")
		})
	}
}
