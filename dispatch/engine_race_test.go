package dispatch_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// TestConcurrentReserve: 200 people at once, each trying twice (once
// with a retried idempotency key), for 100 units at 2 each, over three
// pharmacies: exactly 50 allocations, nobody twice, stock conserved, and
// the engine's books end where the store is.
func TestConcurrentReserve(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	c.pharmacy("P1", c.rs[0][0], 40)
	c.pharmacy("P2", c.rs[1][3], 30)
	c.pharmacy("P3", c.rs[2][7], 30)
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2})
	const people = 200
	residents := make([]*hub.Resident, people)
	for i := range residents {
		ring := c.rs[i%3]
		residents[i] = c.resident(fmt.Sprintf("r%03d", i), ring[i%len(ring)], "", "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*people)
	for i, res := range residents {
		wg.Go(func() {
			key := fmt.Sprintf("key-%d", i)
			a, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: res, IdempotencyKey: key})
			if err != nil {
				errs <- err
				return
			}
			b, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: res, IdempotencyKey: key})
			if err != nil {
				errs <- err
				return
			}
			if !b.Replayed || b.Reservation.ID != a.Reservation.ID {
				errs <- fmt.Errorf("%s: the retry is not the first request", res.ID)
			}
			if _, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: res}); hub.ErrorCode(err) != hub.ECONFLICT {
				errs <- fmt.Errorf("%s: a second reservation: %v", res.ID, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{RoundID: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 50 {
		t.Errorf("%d allocations, want 50", len(as))
	}
	seen := map[string]bool{}
	for _, a := range as {
		if seen[a.ResidentID] {
			t.Errorf("%s has two allocations", a.ResidentID)
		}
		seen[a.ResidentID] = true
	}
	waiting, _ := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "fc", Status: hub.ReservationWaiting})
	if len(waiting) != people-50 {
		t.Errorf("%d waiting, want %d", len(waiting), people-50)
	}
	for _, id := range []string{"P1", "P2", "P3"} {
		if s := c.stockOf(id); s != 0 {
			t.Errorf("%s has %d left, want 0", id, s)
		}
	}
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestConcurrentMix runs reservations in two rounds sharing a SKU,
// cancellations, redemptions, expiry sweeps, shortages and restocks with
// ServeWaiting, all at once; then stock is conserved and the engine
// never counts more stock than the store holds.
func TestConcurrentMix(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	pharmacies := []string{"P1", "P2", "P3", "P4"}
	for i, id := range pharmacies {
		c.pharmacy(id, c.rs[i][0], 20)
	}
	c.round(dispatch.RoundInput{ID: "a", PerPerson: 2, PickupWindow: time.Minute})
	c.round(dispatch.RoundInput{ID: "b", PerPerson: 1, MaxK: 1})
	const workers, each = 16, 25
	var wg sync.WaitGroup
	var mu sync.Mutex // guards supplied
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for j := range each {
				res := c.resident(fmt.Sprintf("w%02d-%02d", w, j), c.rs[r.IntN(4)][0], "", "")
				round := []string{"a", "b"}[r.IntN(2)]
				out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: round, Resident: res})
				if err != nil {
					t.Error(err)
					return
				}
				switch x := r.IntN(6); {
				case x == 0:
					if _, err := c.eng.CancelReservation(c.ctx(), out.Reservation.ID); err != nil {
						t.Error(err)
					}
				case x == 1 && out.Allocation != nil:
					_, err := c.eng.Redeem(c.ctx(), out.Allocation.PharmacyID, c.eng.PickupCode(out.Allocation).String())
					if err != nil && hub.ErrorCode(err) != hub.ECONFLICT {
						t.Error(err)
					}
				case x == 2:
					if _, err := c.eng.RegisterShortage(c.ctx(), res, hub.MaskAdult, 1+r.IntN(3)); err != nil {
						t.Error(err)
					}
				case x == 3:
					p := pharmacies[r.IntN(len(pharmacies))]
					mu.Lock()
					c.restock(p, 1+r.IntN(4))
					mu.Unlock()
					if _, err := c.eng.ServeWaiting(c.ctx(), p, hub.MaskAdult); err != nil {
						t.Error(err)
					}
				case x == 4:
					c.clock.Advance(20 * time.Second)
					if _, err := c.eng.ExpireDue(c.ctx()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	for _, id := range pharmacies {
		book, _ := dispatch.BookStock(c.eng, hub.MaskAdult, id)
		if s := c.stockOf(id); book > s {
			t.Errorf("%s: the engine counts %d, the store holds %d", id, book, s)
		}
	}
	c.conserved()
	// A restart reads the books afresh and agrees with the store.
	c.restart()
	for _, id := range pharmacies {
		if book, _ := dispatch.BookStock(c.eng, hub.MaskAdult, id); book != c.stockOf(id) {
			t.Errorf("%s after restart: book %d, store %d", id, book, c.stockOf(id))
		}
	}
}
