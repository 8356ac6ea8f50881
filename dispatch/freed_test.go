package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// blindToWaiting is a hub's store that never shows it a WAITING
// reservation: that hub cannot serve the waiting list, so only the other
// hub can.
type blindToWaiting struct{ hub.Store }

func (s blindToWaiting) Reservations(ctx context.Context, f hub.ReservationFilter) ([]*hub.Reservation, error) {
	if f.Status == hub.ReservationWaiting {
		return nil, nil
	}
	return s.Store.Reservations(ctx, f)
}

// TestFreedPlacesFollowTheBus: hub A fills a round's pickup slots or a
// committee's quota, hub B's reservations wait, A's allocations are
// cancelled; B serves its waiting reservations from the places or units
// freed, and its next reservation gets one when some are left, without a
// restart.
func TestFreedPlacesFollowTheBus(t *testing.T) {
	tests := []struct {
		name    string
		give    dispatch.RoundInput
		places  int // places or units A fills
		waiting int // B's reservations that wait
		freed   int // A's allocations cancelled
		// late: hub B starts after A filled every place, and counts
		// them from the store; else B learns of them from A's events
		// (or the store's refusals).
		late bool
	}{
		{"slot of 1, free 1 for 1", dispatch.RoundInput{PickupWindow: 15 * time.Minute, SlotMinutes: 15, SlotCapacity: 1}, 1, 1, 1, false},
		{"slot of 3, free 3 for 1", dispatch.RoundInput{PickupWindow: 15 * time.Minute, SlotMinutes: 15, SlotCapacity: 3}, 3, 1, 3, false},
		{"slot of 4, free 2 for 3", dispatch.RoundInput{PickupWindow: 15 * time.Minute, SlotMinutes: 15, SlotCapacity: 4}, 4, 3, 2, false},
		{"slot of 2, free 2 for 1, B late", dispatch.RoundInput{PickupWindow: 15 * time.Minute, SlotMinutes: 15, SlotCapacity: 2}, 2, 1, 2, true},
		{"two slots of 2, free 3 for 2", dispatch.RoundInput{PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: 2}, 4, 2, 3, false},
		{"slot of 2, free 1 for none", dispatch.RoundInput{PickupWindow: 15 * time.Minute, SlotMinutes: 15, SlotCapacity: 2}, 2, 0, 1, true},
		{"quota of 3, free 2 for none", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 3}}, 3, 0, 2, true},
		{"quota of 1, free 1 for 1", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 1}}, 1, 1, 1, false},
		{"quota of 5, free 4 for 2", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 5}}, 5, 2, 4, false},
		{"quota of 6, free 2 for 4", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 6}}, 6, 4, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{Events: &eventLog{}})
			c.areas()
			c.pharmacy("P1", c.rs[0][0], 1000)
			in := tt.give
			in.ID, in.PerPerson, in.Closes = "r1", 1, t0.Add(48*time.Hour)
			r := c.round(in)
			if hasSlots := in.SlotCapacity > 0; hasSlots {
				if n := len(dispatch.RoundSlots(r, t0)) * in.SlotCapacity; n != tt.places {
					t.Fatalf("the round offers %d places, the test fills %d", n, tt.places)
				}
			}
			bus := broker.New(broker.Options{})
			t.Cleanup(func() { bus.Close() })
			open := func(st hub.Store) *dispatch.Engine {
				opts := c.opts
				opts.Events = bus
				e, err := dispatch.NewEngine(context.Background(), st, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = e.Close() })
				bus.View(e)
				return e
			}
			a := open(blindToWaiting{c.store})
			var b *dispatch.Engine
			if !tt.late {
				b = open(c.store)
			}
			reserve := func(e *dispatch.Engine, id string) *dispatch.ReserveResult {
				t.Helper()
				res, err := e.Reserve(t.Context(), dispatch.ReserveInput{RoundID: "r1", Resident: c.resident(id, c.rs[0][0], "c1", "d1")})
				if err != nil {
					t.Fatalf("Reserve %s: %v", id, err)
				}
				return res
			}

			var filled []string
			for i := range tt.places {
				res := reserve(a, fmt.Sprintf("a%02d", i))
				if res.Reservation.Status != hub.ReservationAllocated {
					t.Fatalf("hub A's reservation %d is %s (%s), want ALLOCATED", i, res.Reservation.Status, res.Reason)
				}
				filled = append(filled, res.Reservation.ID)
			}
			if tt.late {
				b = open(c.store)
			}
			var waiting []string
			for i := range tt.waiting {
				res := reserve(b, fmt.Sprintf("b%02d", i))
				if res.Reservation.Status != hub.ReservationWaiting {
					t.Fatalf("hub B's reservation %d is %s, want WAITING: every place is taken", i, res.Reservation.Status)
				}
				waiting = append(waiting, res.Reservation.ID)
			}

			for _, id := range filled[:tt.freed] {
				if _, err := a.CancelReservation(t.Context(), id); err != nil {
					t.Fatalf("CancelReservation %s: %v", id, err)
				}
			}
			want := min(tt.freed, tt.waiting)
			served := func() int {
				n := 0
				for _, id := range waiting {
					r, err := c.store.Reservation(c.ctx(), id)
					if err != nil {
						t.Fatal(err)
					}
					if r.Status == hub.ReservationAllocated {
						n++
					}
				}
				return n
			}
			deadline := time.Now().Add(10 * time.Second)
			for served() < want && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := served(); got != want {
				t.Fatalf("hub B served %d of its %d waiting reservations after %d places freed, want %d", got, tt.waiting, tt.freed, want)
			}

			// B's next reservation gets a place when one is left, and
			// waits when none is.
			res := reserve(b, "b-next")
			wantStatus := hub.ReservationWaiting
			if tt.freed > tt.waiting {
				wantStatus = hub.ReservationAllocated
			}
			if res.Reservation.Status != wantStatus {
				t.Errorf("hub B's next reservation is %s (%s), want %s", res.Reservation.Status, res.Reason, wantStatus)
			}
			if served() != want {
				t.Errorf("hub B served %d waiting reservations, want %d", served(), want)
			}
			if in.SlotCapacity > 0 {
				for start, n := range c.slotCounts("r1") {
					if n > in.SlotCapacity {
						t.Errorf("slot at +%d min holds %d pickups, capacity %d", start, n, in.SlotCapacity)
					}
				}
			}
			c.conserved()
		})
	}
}

// TestFreedPlacesRace races reservations and cancellations through two
// hubs that follow each other on one bus: no hub deadlocks applying the
// other's events, and no slot holds more than its capacity.
func TestFreedPlacesRace(t *testing.T) {
	tests := []struct {
		give   int // slot capacity
		people int
	}{
		{1, 16},
		{3, 30},
		{5, 40},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("capacity %d, %d people", tt.give, tt.people), func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{Events: &eventLog{}})
			c.pharmacy("P1", c.rs[0][0], 1000)
			c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: tt.give})
			bus := broker.New(broker.Options{})
			t.Cleanup(func() { bus.Close() })
			var engines []*dispatch.Engine
			for range 2 {
				opts := c.opts
				opts.Events = bus
				e, err := dispatch.NewEngine(context.Background(), c.store, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = e.Close() })
				bus.View(e)
				engines = append(engines, e)
			}
			var rs []*hub.Resident
			for i := range tt.people {
				rs = append(rs, c.resident(fmt.Sprintf("r%03d", i), c.rs[0][0], "c1", "d1"))
			}
			results := raceHubs(t, engines[0], engines[1], "gz", rs)
			var fns []func()
			for i, res := range results {
				e := engines[(i+1)%2]
				if i%2 == 0 && res.Reservation.Status == hub.ReservationAllocated {
					fns = append(fns, func() {
						if _, err := e.CancelReservation(t.Context(), res.Reservation.ID); err != nil {
							t.Errorf("CancelReservation %s: %v", res.Reservation.ID, err)
						}
					})
				}
			}
			for i := range tt.people / 2 {
				e := engines[i%2]
				r := c.resident(fmt.Sprintf("late%03d", i), c.rs[0][0], "c1", "d1")
				fns = append(fns, func() {
					if _, err := e.Reserve(t.Context(), dispatch.ReserveInput{RoundID: "gz", Resident: r}); err != nil {
						t.Errorf("Reserve %s: %v", r.ID, err)
					}
				})
			}
			race(fns...)
			for _, e := range engines {
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
			}
			for start, n := range c.slotCounts("gz") {
				if n > tt.give {
					t.Errorf("slot at +%d min holds %d pickups, capacity %d", start, n, tt.give)
				}
			}
			c.conserved()
		})
	}
}
