package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// Two hubs (two engines over one store) that take reservations for one
// round at the same time: each counts slot places and committee quotas
// in its own memory from the store when it first meets the round, so each
// believes it has every place and unit; the store's guards (in the
// write's transaction) keep the two together within the limits, and a
// reservation the store refuses moves on or waits as when an engine's own
// count is full.

// raceHubs reserves for every resident at once, alternately through
// engine a and engine b, and returns the results in the residents' order.
func raceHubs(t *testing.T, a, b *dispatch.Engine, roundID string, rs []*hub.Resident) []*dispatch.ReserveResult {
	t.Helper()
	out := make([]*dispatch.ReserveResult, len(rs))
	fns := make([]func(), len(rs))
	for i, r := range rs {
		e := a
		if i%2 == 1 {
			e = b
		}
		fns[i] = func() {
			res, err := e.Reserve(t.Context(), dispatch.ReserveInput{RoundID: roundID, Resident: r})
			if err != nil {
				t.Errorf("Reserve %s: %v", r.ID, err)
				return
			}
			out[i] = res
		}
	}
	race(fns...)
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func TestSlotGuardAcrossHubs(t *testing.T) {
	tests := []struct {
		give   int // slot capacity
		people int
	}{
		{1, 12},
		{2, 30},
		{3, 40},
		{5, 60},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("capacity %d, %d people", tt.give, tt.people), func(t *testing.T) {
			c, _, _ := twoHubs(t)
			c.pharmacy("P1", c.rs[0][0], 1000)
			r := c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: tt.give})
			b := c.hub(&eventLog{}, nil) // meets the open round: counts no place taken
			slots := dispatch.RoundSlots(r, t0)
			places := tt.give * len(slots)
			if tt.people <= places {
				t.Fatalf("%d people for %d places: the test needs more people than places", tt.people, places)
			}
			var rs []*hub.Resident
			for i := range tt.people {
				rs = append(rs, c.resident(fmt.Sprintf("r%03d", i), c.rs[0][0], "c1", "d1"))
			}
			results := raceHubs(t, c.eng, b, "gz", rs)

			allocated := 0
			for i, res := range results {
				switch res.Reservation.Status {
				case hub.ReservationAllocated:
					allocated++
				case hub.ReservationWaiting:
				default:
					t.Errorf("reservation of %s is %s, want ALLOCATED or WAITING", rs[i].ID, res.Reservation.Status)
				}
			}
			want := map[int]int{}
			for _, s := range slots {
				want[int(s.Start.Sub(t0)/time.Minute)] = tt.give
			}
			// Every slot full, none beyond its capacity.
			sameCounts(t, "two hubs", c.slotCounts("gz"), want)
			if allocated != places {
				t.Errorf("%d reservations allocated, want %d (every place)", allocated, places)
			}
			if got := c.stockOf("P1"); got != 1000-places {
				t.Errorf("stock left %d, want %d", got, 1000-places)
			}
			c.conserved()
		})
	}
}

func TestCommitteeQuotaAcrossHubs(t *testing.T) {
	tests := []struct {
		perPerson int
		quotas    map[string]int
		people    int // per committee
	}{
		{1, map[string]int{"c1": 5, "c2": 3}, 20},
		{2, map[string]int{"c1": 9, "c2": 4, "c3": 1}, 16},
		{3, map[string]int{"c1": 30, "c2": 12, "c3": 7}, 24},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d per person, quotas %v", tt.perPerson, tt.quotas), func(t *testing.T) {
			c, _, _ := twoHubs(t)
			c.areas()
			c.pharmacy("P1", c.rs[0][0], 1000)
			c.pharmacy("P2", c.rs[1][0], 1000)
			c.round(dispatch.RoundInput{ID: "com", Mode: hub.ByCommittee, PerPerson: tt.perPerson, Quotas: tt.quotas, Closes: t0.Add(48 * time.Hour)})
			b := c.hub(&eventLog{}, nil)
			var rs []*hub.Resident
			for committee := range tt.quotas {
				district := "d2"
				if committee == "c1" {
					district = "d1"
				}
				for i := range tt.people {
					rs = append(rs, c.resident(fmt.Sprintf("%s-r%03d", committee, i), c.rs[i%2][0], committee, district))
				}
			}
			results := raceHubs(t, c.eng, b, "com", rs)

			units := map[string]int{}
			for i, res := range results {
				switch res.Reservation.Status {
				case hub.ReservationAllocated:
					units[rs[i].CommitteeID] += res.Allocation.Quantity
				case hub.ReservationWaiting:
					if res.Reason != dispatch.ReasonQuotaExhausted {
						t.Errorf("reservation of %s waits for %q, want %q", rs[i].ID, res.Reason, dispatch.ReasonQuotaExhausted)
					}
				default:
					t.Errorf("reservation of %s is %s, want ALLOCATED or WAITING", rs[i].ID, res.Reservation.Status)
				}
			}
			// What the store holds, per committee: every quota taken
			// to the last whole allocation, none beyond.
			as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{RoundID: "com"})
			if err != nil {
				t.Fatal(err)
			}
			stored := map[string]int{}
			for _, a := range as {
				res, err := c.store.Reservation(c.ctx(), a.ReservationID)
				if err != nil {
					t.Fatal(err)
				}
				stored[res.CommitteeID] += a.Quantity
			}
			for committee, q := range tt.quotas {
				want := q / tt.perPerson * tt.perPerson
				if stored[committee] != want || units[committee] != want {
					t.Errorf("committee %s holds %d units in the store (%d reported), want %d of its quota %d", committee, stored[committee], units[committee], want, q)
				}
			}
			c.conserved()
		})
	}
}
