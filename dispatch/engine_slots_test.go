package dispatch_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// slotCounts returns, per slot start (as minutes after t0), the pickups
// of a round's allocations that hold a place: RESERVED and REDEEMED.
func (c *city) slotCounts(roundID string) map[int]int {
	c.t.Helper()
	as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{RoundID: roundID})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[int]int{}
	for _, a := range as {
		if a.Status != hub.AllocationReserved && a.Status != hub.AllocationRedeemed {
			continue
		}
		if a.Slot.IsZero() {
			c.t.Fatalf("allocation %s of a round with slots has no slot", a.ID)
		}
		out[int(a.Slot.Sub(t0)/time.Minute)]++
	}
	return out
}

// reserveAt reserves with a preferred slot (zero: none) and fails the
// test on an error.
func (c *city) reserveAt(roundID string, res *hub.Resident, slot time.Time) *dispatch.ReserveResult {
	c.t.Helper()
	out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: roundID, Resident: res, Slot: slot})
	if err != nil {
		c.t.Fatalf("Reserve %s in %s: %v", res.ID, roundID, err)
	}
	return out
}

func sameCounts(t *testing.T, what string, got, want map[int]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		keys := slices.Sorted(maps.Keys(got))
		t.Errorf("%s: places taken per slot (minutes after 09:00) %v (slots %v), want %v", what, got, keys, want)
	}
}

// TestSlotsFillInOrder: 20 people at once at one pharmacy whose slots take
// 3 pickups each fill the slots in order, 3 in the first, 3 in the next,
// ..., 2 in the seventh; each allocation names its slot and expires a
// grace period after the slot ends.
func TestSlotsFillInOrder(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.clock.Advance(7 * time.Minute) // 09:07: the 09:00 slot is under way and on offer
	r := c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, SlotMinutes: 15, SlotCapacity: 3})
	if r.SlotMinutes != 15 || r.SlotCapacity != 3 {
		t.Fatalf("round %+v, want 15-minute slots of 3", r)
	}
	if got := dispatch.RoundSlots(r, c.clock.Now()); len(got) != 96 || !got[0].Start.Equal(t0) || !got[95].End.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("RoundSlots: %d slots from %v, want 96 covering the 24h window from 09:00", len(got), got[0].Start)
	}
	const people = 20
	residents := make([]*hub.Resident, people)
	for i := range residents {
		residents[i] = c.resident(fmt.Sprintf("r%02d", i), home, "", "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, people)
	for _, res := range residents {
		wg.Go(func() {
			out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "gz", Resident: res})
			switch {
			case err != nil:
				errs <- err
			case out.Allocation == nil:
				errs <- fmt.Errorf("%s waits: %s", res.ID, out.Reason)
			case !out.Allocation.ExpiresAt.Equal(out.Allocation.Slot.Add(15*time.Minute + dispatch.SlotGrace)):
				errs <- fmt.Errorf("%s: slot %v expires %v, want the slot's end plus the grace", res.ID, out.Allocation.Slot, out.Allocation.ExpiresAt)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sameCounts(t, "after 20", c.slotCounts("gz"), map[int]int{0: 3, 15: 3, 30: 3, 45: 3, 60: 3, 75: 3, 90: 2})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	if s := c.stockOf("P1"); s != 80 {
		t.Errorf("stock %d, want 80", s)
	}
	c.conserved()
}

// TestSlotsCapacityBounds: when every slot in the pickup window is full,
// a person waits though stock is left, and a cancellation gives the place
// back.
func TestSlotsCapacityBounds(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 30 * time.Minute, SlotMinutes: 15, SlotCapacity: 3})
	var first *dispatch.ReserveResult
	for i := range 6 {
		out := c.reserve("gz", c.resident(fmt.Sprintf("a%d", i), home, "", ""))
		if out.Allocation == nil {
			t.Fatalf("a%d waits: %s", i, out.Reason)
		}
		if i == 0 {
			first = out
		}
	}
	late := c.reserve("gz", c.resident("late", home, "", ""))
	if late.Allocation != nil || late.Reason != dispatch.ReasonOutOfStock {
		t.Fatalf("the 7th: %+v %q, want waiting: both slots are full", late.Allocation, late.Reason)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), first.Reservation.ID); err != nil {
		t.Fatal(err)
	}
	again := c.reserve("gz", c.resident("again", home, "", ""))
	if again.Allocation == nil || !again.Allocation.Slot.Equal(t0) {
		t.Fatalf("after a cancellation: %+v, want the freed place at 09:00", again.Allocation)
	}
	sameCounts(t, "full", c.slotCounts("gz"), map[int]int{0: 3, 15: 3})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestSlotPreference: a preferred slot with a place is honoured (a time
// inside a slot means that slot); a full one gives the earliest with a
// place.
func TestSlotPreference(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, SlotMinutes: 30, SlotCapacity: 2})
	ten := t0.Add(time.Hour)
	tests := []struct {
		give time.Time
		want time.Time
	}{
		{ten, ten},
		{ten.Add(7 * time.Minute), ten}, // inside the 10:00 slot
		{ten, t0},                       // 10:00 is full: the earliest with a place
		{time.Time{}, t0},               // no preference: the earliest with a place
		{time.Time{}, t0.Add(30 * time.Minute)},
		{t0.Add(3 * time.Hour), t0.Add(3 * time.Hour)},
	}
	for i, tt := range tests {
		out := c.reserveAt("gz", c.resident(fmt.Sprintf("p%d", i), home, "", ""), tt.give)
		if out.Allocation == nil || !out.Allocation.Slot.Equal(tt.want) {
			t.Fatalf("%d: preferring %v got %+v, want slot %v", i, tt.give, out.Allocation, tt.want)
		}
	}
	sameCounts(t, "after preferences", c.slotCounts("gz"), map[int]int{0: 2, 30: 1, 60: 2, 180: 1})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
}

// TestSlotsAfterRestart: a restarted engine counts the places held by
// RESERVED and REDEEMED allocations (not cancelled ones) and books no slot
// twice.
func TestSlotsAfterRestart(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, SlotMinutes: 15, SlotCapacity: 3})
	var outs []*dispatch.ReserveResult
	for i := range 5 {
		outs = append(outs, c.reserve("gz", c.resident(fmt.Sprintf("a%d", i), home, "", "")))
	}
	// 09:00 holds a0 a1 a2 (a1 redeemed), 09:15 holds a3 a4; a4 cancels.
	if _, err := c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(outs[1].Allocation).String()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), outs[4].Reservation.ID); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "before the restart", c.slotCounts("gz"), map[int]int{0: 3, 15: 1})
	c.restart()
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	want := []time.Time{t0.Add(15 * time.Minute), t0.Add(15 * time.Minute), t0.Add(30 * time.Minute)}
	for i, w := range want {
		out := c.reserve("gz", c.resident(fmt.Sprintf("b%d", i), home, "", ""))
		if out.Allocation == nil || !out.Allocation.Slot.Equal(w) {
			t.Fatalf("b%d after restart: %+v, want slot %v", i, out.Allocation, w)
		}
	}
	// A preference for the full 09:00 slot still gets the earliest free.
	out := c.reserveAt("gz", c.resident("pref", home, "", ""), t0)
	if out.Allocation == nil || !out.Allocation.Slot.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("preferring the full 09:00 after restart: %+v", out.Allocation)
	}
	sameCounts(t, "after the restart", c.slotCounts("gz"), map[int]int{0: 3, 15: 3, 30: 2})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestSlotsMoveOn: as the clock moves the slots on offer move with it, and
// a pickup not made in its slot expires after the grace period.
func TestSlotsMoveOn(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, SlotMinutes: 15, SlotCapacity: 3})
	early := c.reserve("gz", c.resident("early", home, "", ""))
	if !early.Allocation.Slot.Equal(t0) || !early.Allocation.ExpiresAt.Equal(t0.Add(45*time.Minute)) {
		t.Fatalf("early: slot %v expires %v", early.Allocation.Slot, early.Allocation.ExpiresAt)
	}
	c.clock.Advance(time.Hour + 5*time.Minute) // 10:05
	late := c.reserve("gz", c.resident("late", home, "", ""))
	if !late.Allocation.Slot.Equal(t0.Add(time.Hour)) {
		t.Fatalf("at 10:05: slot %v, want 10:00 (09:xx slots are over)", late.Allocation.Slot)
	}
	if n, err := c.eng.ExpireDue(c.ctx()); err != nil || n != 1 {
		t.Fatalf("ExpireDue at 10:05: %d, %v; want the 09:00 pickup expired", n, err)
	}
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestSlotsLottery: a drawn lottery gives its winners slots too, and as
// many winners as the places in reach take when it says none.
func TestSlotsLottery(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, PerPerson: 1, PickupWindow: 30 * time.Minute, SlotMinutes: 15, SlotCapacity: 2})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.reserve("lot", c.resident(fmt.Sprintf("e%d", i), home, "", ""))
	}
	c.restart() // the draw's slots are counted afresh
	if _, err := c.eng.CloseRound(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	_, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Winners != 4 || rep.Allocated != 4 {
		t.Fatalf("draw: %d winners, %d allocated; want 4 and 4 (two slots of two)", rep.Winners, rep.Allocated)
	}
	sameCounts(t, "after the draw", c.slotCounts("lot"), map[int]int{0: 2, 15: 2})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestSlotsServeWaiting: a restock serves the waiting list with slots,
// first come first served, skipping nobody while places last.
func TestSlotsServeWaiting(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 0)
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 30 * time.Minute, SlotMinutes: 15, SlotCapacity: 2})
	for i := range 6 {
		if out := c.reserve("gz", c.resident(fmt.Sprintf("w%d", i), home, "", "")); out.Allocation != nil {
			t.Fatalf("w%d served from an empty shelf", i)
		}
	}
	c.restock("P1", 10)
	as, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 4 {
		t.Fatalf("ServeWaiting served %d, want 4: the places of two slots of two", len(as))
	}
	for i, a := range as {
		if want := fmt.Sprintf("w%d", i); a.ResidentID != want {
			t.Errorf("served #%d is %s, want %s", i, a.ResidentID, want)
		}
	}
	sameCounts(t, "after the restock", c.slotCounts("gz"), map[int]int{0: 2, 15: 2})
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}

// TestSlotsInput: slot settings come both or neither, within bounds, and
// need PICKUP.
func TestSlotsInput(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	tests := []struct {
		name        string
		give        dispatch.RoundInput
		wantCode    string
		wantMessage string
	}{
		{"both", dispatch.RoundInput{SlotMinutes: 30, SlotCapacity: 10}, "", ""},
		{"neither", dispatch.RoundInput{}, "", ""},
		{"a whole day", dispatch.RoundInput{SlotMinutes: 1440, SlotCapacity: 1}, "", ""},
		{"too short", dispatch.RoundInput{SlotMinutes: 4, SlotCapacity: 10}, hub.EINVALID, "slotMinutes 4"},
		{"too long", dispatch.RoundInput{SlotMinutes: 1441, SlotCapacity: 10}, hub.EINVALID, "slotMinutes 1441"},
		{"negative minutes", dispatch.RoundInput{SlotMinutes: -15, SlotCapacity: 10}, hub.EINVALID, "slotMinutes -15"},
		{"minutes alone", dispatch.RoundInput{SlotMinutes: 15}, hub.EINVALID, "both"},
		{"capacity alone", dispatch.RoundInput{SlotCapacity: 3}, hub.EINVALID, "both"},
		{"negative capacity", dispatch.RoundInput{SlotMinutes: 15, SlotCapacity: -1}, hub.EINVALID, "slotCapacity -1"},
		{"huge capacity", dispatch.RoundInput{SlotMinutes: 15, SlotCapacity: dispatch.MaxSlotCapacity + 1}, hub.EINVALID, "slotCapacity"},
		{"delivery only", dispatch.RoundInput{SlotMinutes: 15, SlotCapacity: 3, Fulfilments: []hub.Fulfilment{hub.Delivery}}, hub.EINVALID, "PICKUP"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := defaults(tt.give)
			in.ID = fmt.Sprintf("r%d", i)
			r, err := c.eng.OpenRound(c.ctx(), in)
			wantCode(t, err, tt.wantCode, tt.wantMessage)
			if err == nil && (r.SlotMinutes != tt.give.SlotMinutes || r.SlotCapacity != tt.give.SlotCapacity) {
				t.Errorf("round %+v, want slots %d x %d", r, tt.give.SlotMinutes, tt.give.SlotCapacity)
			}
			if err != nil {
				if _, err := c.store.Round(c.ctx(), in.ID); hub.ErrorCode(err) != hub.ENOTFOUND {
					t.Errorf("a refused round was stored: %v", err)
				}
			}
		})
	}
}
