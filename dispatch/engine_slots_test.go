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
// 3 pickups each fill the slots on offer in order, 3 in the first, 3 in
// the next, ..., 2 in the seventh; each allocation names its slot and
// expires a grace period after the slot ends.
func TestSlotsFillInOrder(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.clock.Advance(7 * time.Minute) // 09:07: the 09:00 slot ends within SlotLead, so 09:15 is the first
	r := c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, SlotMinutes: 15, SlotCapacity: 3})
	if r.SlotMinutes != 15 || r.SlotCapacity != 3 {
		t.Fatalf("round %+v, want 15-minute slots of 3", r)
	}
	if got := dispatch.RoundSlots(r, c.clock.Now()); len(got) != 96 || !got[0].Start.Equal(t0.Add(15*time.Minute)) || !got[95].End.Equal(t0.Add(24*time.Hour+15*time.Minute)) {
		t.Fatalf("RoundSlots: %d slots from %v, want 96 from 09:15 covering the 24h window from 09:07", len(got), got[0].Start)
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
	sameCounts(t, "after 20", c.slotCounts("gz"), map[int]int{15: 3, 30: 3, 45: 3, 60: 3, 75: 3, 90: 3, 105: 2})
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
	// At 09:00 a 45-minute window offers 09:15 and 09:30.
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: 3})
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
	// The freed place serves the one waiting, not the next to come.
	if rv, err := c.store.Reservation(c.ctx(), late.Reservation.ID); err != nil || rv.Status != hub.ReservationAllocated {
		t.Fatalf("after a cancellation the one waiting is %+v %v, want ALLOCATED the freed place", rv, err)
	}
	if again := c.reserve("gz", c.resident("again", home, "", "")); again.Allocation != nil {
		t.Fatalf("a newcomer took the freed place ahead of the one waiting: %+v", again.Allocation)
	}
	sameCounts(t, "full", c.slotCounts("gz"), map[int]int{15: 3, 30: 3})
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
	// At 09:00 the first slot on offer is 09:15 (09:00 ends within
	// SlotLead). 09:15 holds a0 a1 a2 (a1 redeemed), 09:30 holds a3 a4;
	// a4 cancels.
	if _, err := c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(outs[1].Allocation).String()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), outs[4].Reservation.ID); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "before the restart", c.slotCounts("gz"), map[int]int{15: 3, 30: 1})
	c.restart()
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	want := []time.Time{t0.Add(30 * time.Minute), t0.Add(30 * time.Minute), t0.Add(45 * time.Minute)}
	for i, w := range want {
		out := c.reserve("gz", c.resident(fmt.Sprintf("b%d", i), home, "", ""))
		if out.Allocation == nil || !out.Allocation.Slot.Equal(w) {
			t.Fatalf("b%d after restart: %+v, want slot %v", i, out.Allocation, w)
		}
	}
	// A preference for the full 09:15 slot still gets the earliest free.
	out := c.reserveAt("gz", c.resident("pref", home, "", ""), t0.Add(15*time.Minute))
	if out.Allocation == nil || !out.Allocation.Slot.Equal(t0.Add(45*time.Minute)) {
		t.Fatalf("preferring the full 09:15 after restart: %+v", out.Allocation)
	}
	sameCounts(t, "after the restart", c.slotCounts("gz"), map[int]int{15: 3, 30: 3, 45: 2})
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
	if !early.Allocation.Slot.Equal(t0.Add(15*time.Minute)) || !early.Allocation.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("early: slot %v expires %v, want 09:15 expiring 10:00", early.Allocation.Slot, early.Allocation.ExpiresAt)
	}
	c.clock.Advance(time.Hour + 5*time.Minute) // 10:05
	late := c.reserve("gz", c.resident("late", home, "", ""))
	if !late.Allocation.Slot.Equal(t0.Add(75 * time.Minute)) {
		t.Fatalf("at 10:05: slot %v, want 10:15 (10:00 ends within SlotLead)", late.Allocation.Slot)
	}
	if n, err := c.eng.ExpireDue(c.ctx()); err != nil || n != 1 {
		t.Fatalf("ExpireDue at 10:05: %d, %v; want the 09:15 pickup expired", n, err)
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
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: 2})
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
	sameCounts(t, "after the draw", c.slotCounts("lot"), map[int]int{15: 2, 30: 2})
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
	c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 45 * time.Minute, SlotMinutes: 15, SlotCapacity: 2})
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
	sameCounts(t, "after the restock", c.slotCounts("gz"), map[int]int{15: 2, 30: 2})
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
		{"a day in 5-minute slots", dispatch.RoundInput{SlotMinutes: 5, SlotCapacity: 3}, "", ""},
		{"a week in 30-minute slots", dispatch.RoundInput{SlotMinutes: 30, SlotCapacity: 3, PickupWindow: 7 * 24 * time.Hour}, hub.EINVALID, "more than 300"},
		{"a week in 45-minute slots", dispatch.RoundInput{SlotMinutes: 45, SlotCapacity: 3, PickupWindow: 7 * 24 * time.Hour}, "", ""},
		{"30 days in a day's slots", dispatch.RoundInput{SlotMinutes: 1440, SlotCapacity: 3, PickupWindow: dispatch.MaxPickupWindow}, "", ""},
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

// TestSlotsOffered: at any time the slots on offer start with the one
// under way SlotLead later (so each ends more than SlotLead after the
// reservation), follow each other without a gap, and cover the pickup
// window: the last starts before the window ends and ends at or after
// it. Checked against a rule written out by hand at many times of day
// and for several slot lengths and windows.
func TestSlotsOffered(t *testing.T) {
	day := time.Date(2020, 2, 14, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	tests := []struct {
		name      string
		slot      int // minutes
		window    time.Duration
		now       time.Time
		wantFirst time.Time
		wantN     int
	}{
		{"16:59, hour slots: not the 16:00 slot ending a minute later", 60, 4 * time.Hour, at(16, 59), at(17, 0), 4},
		{"16:44, hour slots: 16:00 ends 16 minutes later", 60, 4 * time.Hour, at(16, 44), at(16, 0), 5},
		{"16:45, hour slots: 16:00 ends exactly SlotLead later", 60, 4 * time.Hour, at(16, 45), at(17, 0), 4},
		{"on the hour", 60, 4 * time.Hour, at(16, 0), at(16, 0), 4},
		{"start of a 15-minute slot", 15, time.Hour, at(9, 0), at(9, 15), 3},
		{"middle of a 15-minute slot", 15, time.Hour, at(9, 7), at(9, 15), 4},
		{"a minute before a 15-minute slot ends", 15, time.Hour, at(9, 14), at(9, 15), 4},
		{"a minute into a 15-minute slot", 15, time.Hour, at(9, 1), at(9, 15), 4},
		{"30-minute slots, early in one", 30, time.Hour, at(9, 2), at(9, 0), 3},
		{"30-minute slots, late in one", 30, time.Hour, at(9, 20), at(9, 30), 2},
		{"a day in 5-minute slots", 5, 24 * time.Hour, at(13, 33), at(13, 45), 286},
		{"near midnight", 60, 2 * time.Hour, at(23, 50), at(24, 0), 2},
		{"window shorter than the lead", 60, 10 * time.Minute, at(10, 50), at(11, 0), 1},
		{"whole-day slots in the evening", 1440, 48 * time.Hour, at(23, 50), at(24, 0), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &hub.Round{SlotMinutes: tt.slot, SlotCapacity: 4, PickupWindow: tt.window, Opens: day}
			got := dispatch.RoundSlots(r, tt.now)
			if len(got) != tt.wantN || !got[0].Start.Equal(tt.wantFirst) {
				t.Fatalf("%d slots from %s, want %d from %s", len(got), got[0].Start.Format("15:04"), tt.wantN, tt.wantFirst.Format("15:04"))
			}
			checkOffer(t, r, tt.now, got)
		})
	}
	// Every minute of two days, for every slot length that divides a day
	// and some that do not, the offer keeps the rule.
	for _, minutes := range []int{5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 240, 1440} {
		for _, window := range []time.Duration{time.Hour, 3 * time.Hour, 24 * time.Hour} {
			r := &hub.Round{SlotMinutes: minutes, SlotCapacity: 1, PickupWindow: window, Opens: day}
			for m := 0; m < 2*24*60; m += 7 {
				checkOffer(t, r, day.Add(time.Duration(m)*time.Minute), dispatch.RoundSlots(r, day.Add(time.Duration(m)*time.Minute)))
			}
		}
	}
}

// checkOffer checks the slots offered at now against the rule of
// TestSlotsOffered.
func checkOffer(t *testing.T, r *hub.Round, now time.Time, got []dispatch.Slot) {
	t.Helper()
	d := time.Duration(r.SlotMinutes) * time.Minute
	what := fmt.Sprintf("%d-minute slots, window %s, at %s", r.SlotMinutes, r.PickupWindow, now.Format("Jan 2 15:04"))
	if len(got) == 0 || len(got) > dispatch.MaxSlots {
		t.Fatalf("%s: %d slots", what, len(got))
	}
	first, last := got[0], got[len(got)-1]
	switch {
	case !first.End.After(now.Add(dispatch.SlotLead)):
		t.Fatalf("%s: the first slot ends at %s, within SlotLead", what, first.End.Format("15:04"))
	case !first.Start.Equal(first.Start.Truncate(d)):
		t.Fatalf("%s: the first slot %s is not on the clock", what, first.Start.Format("15:04"))
	case len(got) > 1 && !last.Start.Before(now.Add(r.PickupWindow)):
		t.Fatalf("%s: the last slot starts at %s, after the window", what, last.Start.Format("Jan 2 15:04"))
	case now.Add(r.PickupWindow).After(last.End):
		t.Fatalf("%s: the last slot ends at %s, before the window (%s)", what, last.End.Format("Jan 2 15:04"), now.Add(r.PickupWindow).Format("Jan 2 15:04"))
	}
	// The slot before the first ends within SlotLead: none is left out.
	if prevEnd := first.Start; prevEnd.After(now.Add(dispatch.SlotLead)) {
		t.Fatalf("%s: the slot ending at %s is left out", what, prevEnd.Format("15:04"))
	}
	for j := range got {
		if got[j].End.Sub(got[j].Start) != d || j > 0 && !got[j].Start.Equal(got[j-1].End) || got[j].Capacity != r.SlotCapacity {
			t.Fatalf("%s: slot %d is %+v", what, j, got[j])
		}
	}
}

// TestSlotsReserveAtMinuteBeforeEnd: with the injected clock at a minute
// before a slot ends, and at many other times, a reservation is given a
// slot that ends more than SlotLead later, and a preference for the slot
// under way that ends too soon gives the earliest slot on offer instead.
func TestSlotsReserveAtMinuteBeforeEnd(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 1000)
	r := c.round(dispatch.RoundInput{ID: "gz", PerPerson: 1, PickupWindow: 3 * time.Hour, SlotMinutes: 60, SlotCapacity: 100})
	for i, step := range []time.Duration{59 * time.Minute, 1, 44 * time.Minute, 14 * time.Minute, time.Minute, 30 * time.Minute, 58 * time.Minute} {
		c.clock.Advance(step)
		now := c.clock.Now()
		under := now.Truncate(time.Hour)
		for j, prefer := range []time.Time{{}, under} {
			out := c.reserveAt("gz", c.resident(fmt.Sprintf("r%d-%d", i, j), home, "", ""), prefer)
			if out.Allocation == nil {
				t.Fatalf("at %s: waits %s", now.Format("15:04"), out.Reason)
			}
			slot := out.Allocation.Slot
			if !slot.Add(time.Hour).After(now.Add(dispatch.SlotLead)) {
				t.Errorf("at %s preferring %v: slot %s ends within SlotLead", now.Format("15:04:05"), prefer, slot.Format("15:04"))
			}
			want := under
			if !under.Add(time.Hour).After(now.Add(dispatch.SlotLead)) {
				want = under.Add(time.Hour)
			}
			if !slot.Equal(want) {
				t.Errorf("at %s preferring %v: slot %s, want %s", now.Format("15:04:05"), prefer, slot.Format("15:04"), want.Format("15:04"))
			}
			if offered := c.eng.OfferedSlots(r); len(offered) == 0 || !offered[0].Start.Equal(want) {
				t.Errorf("at %s: OfferedSlots %v, want the first at %s", now.Format("15:04:05"), offered, want.Format("15:04"))
			}
		}
	}
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	c.conserved()
}
