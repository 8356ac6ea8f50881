package dispatch_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// TestNewSlotsServeTheWaitingList: every slot on offer is full and people
// wait; as the clock moves a slot comes into the offer at the end of the
// window, and the sweep serves the earliest waiting into it, in order,
// within its capacity and the stock; a sweep with no new place serves
// nobody.
func TestNewSlotsServeTheWaitingList(t *testing.T) {
	tests := []struct {
		name    string
		cap     int
		stock   int
		waiting int
		// steps: how far the clock moves before each sweep, and how many
		// of those waiting that sweep serves.
		steps []struct {
			give time.Duration
			want int
		}
	}{
		{name: "two places a slot", cap: 2, stock: 100, waiting: 6, steps: []struct {
			give time.Duration
			want int
		}{{0, 0}, {time.Minute, 2}, {time.Minute, 0}, {10 * time.Minute, 0}, {15 * time.Minute, 2}, {0, 0}, {15 * time.Minute, 2}, {15 * time.Minute, 0}}},
		{name: "three places, stock for four more", cap: 3, stock: 6 + 4, waiting: 9, steps: []struct {
			give time.Duration
			want int
		}{{0, 0}, {5 * time.Minute, 3}, {time.Minute, 0}, {13 * time.Minute, 1}, {15 * time.Minute, 0}, {15 * time.Minute, 0}}},
		{name: "one place a slot", cap: 1, stock: 100, waiting: 3, steps: []struct {
			give time.Duration
			want int
		}{{0, 0}, {time.Second, 1}, {15 * time.Minute, 1}, {15 * time.Minute, 1}, {15 * time.Minute, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{})
			home := c.rs[0][0]
			far := c.rs[7][0]
			c.pharmacy("P1", home, tt.stock)
			r := c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, MaxK: 2, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: tt.cap})
			full := 2 * tt.cap // 09:15 and 09:30 are on offer at 09:00
			for i := range full {
				if out := c.reserve("gz", c.resident(fmt.Sprintf("a%d", i), home, "", "")); out.Allocation == nil {
					t.Fatalf("a%d waits (%s) with places on offer", i, out.Reason)
				}
			}
			// Out of reach of P1: never served by it.
			if out := c.reserve("gz", c.resident("far", far, "", "")); out.Allocation != nil {
				t.Fatalf("far was served out of reach")
			}
			for i := range tt.waiting {
				if out := c.reserve("gz", c.resident(fmt.Sprintf("w%02d", i), home, "", "")); out.Allocation != nil {
					t.Fatalf("w%02d served with every slot on offer full", i)
				}
			}
			served := 0
			for _, step := range tt.steps {
				c.clock.Advance(step.give)
				now := c.clock.Now()
				as, err := c.eng.ServeNewSlots(c.ctx())
				if err != nil {
					t.Fatalf("at %s: %v", now.Format("15:04:05"), err)
				}
				if len(as) != step.want {
					t.Fatalf("at %s: the sweep served %d, want %d", now.Format("15:04:05"), len(as), step.want)
				}
				offered := c.eng.OfferedSlots(r)
				last := offered[len(offered)-1].Start
				for _, a := range as {
					if want := fmt.Sprintf("w%02d", served); a.ResidentID != want {
						t.Errorf("at %s: served %s, want %s (earliest waiting first)", now.Format("15:04:05"), a.ResidentID, want)
					}
					if !a.Slot.Equal(last) {
						t.Errorf("at %s: %s given slot %s, want the one that came into the offer, %s", now.Format("15:04:05"), a.ResidentID, a.Slot.Format("15:04"), last.Format("15:04"))
					}
					served++
				}
				for start, n := range c.slotCounts("gz") {
					if n > tt.cap {
						t.Errorf("at %s: slot at +%d min holds %d, capacity %d", now.Format("15:04:05"), start, n, tt.cap)
					}
				}
			}
			st := c.statusOf("gz")
			if st["far"] != hub.ReservationWaiting {
				t.Errorf("far is %s, want WAITING", st["far"])
			}
			for i := range tt.waiting {
				id := fmt.Sprintf("w%02d", i)
				want := hub.ReservationWaiting
				if i < served {
					want = hub.ReservationAllocated
				}
				if st[id] != want {
					t.Errorf("%s is %s, want %s", id, st[id], want)
				}
			}
			if err := dispatch.CheckBooks(c.eng); err != nil {
				t.Error(err)
			}
			c.conserved()
		})
	}
}

// TestSweeperServesNewSlots: the engine's periodic sweep, not only a call
// by hand, serves the waiting list into a slot that came into the offer.
func TestSweeperServesNewSlots(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{ExpiryEvery: 5 * time.Millisecond})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: 2})
	for i := range 4 {
		c.reserve("gz", c.resident(fmt.Sprintf("a%d", i), home, "", ""))
	}
	for i := range 3 {
		if out := c.reserve("gz", c.resident(fmt.Sprintf("w%d", i), home, "", "")); out.Allocation != nil {
			t.Fatalf("w%d served with every slot on offer full", i)
		}
	}
	time.Sleep(50 * time.Millisecond) // sweeps at 09:00: nothing new
	if st := c.statusOf("gz"); st["w0"] != hub.ReservationWaiting {
		t.Fatalf("w0 is %s before any slot came into the offer", st["w0"])
	}
	c.clock.Advance(time.Minute) // 09:45-10:00 comes into the offer
	want := map[string]hub.ReservationStatus{"w0": hub.ReservationAllocated, "w1": hub.ReservationAllocated, "w2": hub.ReservationWaiting}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.statusOf("gz")
		if st["w0"] == want["w0"] && st["w1"] == want["w1"] {
			if st["w2"] != want["w2"] {
				t.Errorf("w2 is %s, want WAITING: the new slot holds two", st["w2"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left w0 %s and w1 %s, want both ALLOCATED", st["w0"], st["w1"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	sameCounts(t, "after the sweep", c.slotCounts("gz"), map[int]int{15: 2, 30: 2, 45: 2})
}

// TestNewSlotsAcrossHubs: two hubs over one store sweep at the same
// instant, many times; the slot that came into the offer takes its
// capacity and no more, the earliest waiting first.
func TestNewSlotsAcrossHubs(t *testing.T) {
	for _, cap := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("capacity %d", cap), func(t *testing.T) {
			c, tc, _ := twoHubs(t)
			home := c.rs[0][0]
			c.pharmacy("P1", home, 100)
			c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: cap})
			for i := range 2 * cap {
				c.reserve("gz", c.resident(fmt.Sprintf("a%d", i), home, "", ""))
			}
			waiting := 3 * cap
			for i := range waiting {
				if out := c.reserve("gz", c.resident(fmt.Sprintf("w%02d", i), home, "", "")); out.Allocation != nil {
					t.Fatalf("w%02d served with every slot on offer full", i)
				}
			}
			b := c.hub(&eventLog{}, nil)
			tc.Advance(time.Minute) // 09:45-10:00 comes into the offer
			var wg sync.WaitGroup
			for _, e := range []*dispatch.Engine{c.eng, b, c.eng, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := e.ServeNewSlots(c.ctx()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			sameCounts(t, "after two hubs swept", c.slotCounts("gz"), map[int]int{15: cap, 30: cap, 45: cap})
			st := c.statusOf("gz")
			for i := range waiting {
				id := fmt.Sprintf("w%02d", i)
				want := hub.ReservationWaiting
				if i < cap {
					want = hub.ReservationAllocated
				}
				if st[id] != want {
					t.Errorf("%s is %s, want %s", id, st[id], want)
				}
			}
			c.conserved()
		})
	}
}
