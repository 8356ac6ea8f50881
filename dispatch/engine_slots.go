package dispatch

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// This file is the engine's part of pickup time slots (Guangzhou's 到店时段).
//
// A round with SlotMinutes and SlotCapacity offers at every pharmacy slots
// SlotMinutes long, each taking SlotCapacity pickups. Slots are aligned on
// the clock (time.Truncate: from midnight UTC when the length divides a
// day, so 60-minute slots start on the hour). The slots on offer at a time
// now, with from = max(now, Opens), are:
//
//   - first, the slot under way at from + SlotLead: every slot offered
//     ends more than SlotLead after the reservation, time to reach the
//     pharmacy (with 60-minute slots, at 16:59 the first offered is
//     17:00-18:00, at 16:44 it is 16:00-17:00);
//   - then every following slot that starts before from + PickupWindow,
//     so the slots cover the whole pickup window (its first SlotLead
//     aside) and the last slot may end after it; at least one slot.
//
// A round whose window would need more than MaxSlots slots is refused at
// opening (checkSlots). The offer moves on with the clock: the round's
// matcher is rebuilt when its first slot or its count changes, and the
// sweeper serves the waiting list into the slots that came into the offer
// (ServeNewSlots).
//
// A pickup takes the slot the person prefers (rounded down to a slot
// start) when it has a place, else the earliest slot with one, at the
// pharmacy the neighborhood rule picks among those with stock and a place
// (Matcher). The allocation names the slot's start (Allocation.Slot) and
// expires SlotGrace after the slot ends; then, or when it is cancelled,
// its stock and its place come back. A delivery takes no slot.
//
// The engine counts, per slotted round, the places taken at each pharmacy
// in each slot: those of RESERVED and REDEEMED allocations, read from the
// store the first time the engine meets the round (NewEngine meets every
// open round, so a restart never double-books a slot), plus those of
// allocations whose store write is in flight. Every matcher of the round
// is built from these counts under mu, so a rebuild (the period moving
// on, pharmacies reread) keeps them. These counts are the engine's fast
// pre-check: the store counts every hub's places in the write's
// transaction and refuses a slot full (hub.ErrSlotFull), and the engine
// then counts that slot full and matches on (engine_guards.go).

// Limits and defaults of pickup slots.
const (
	// MinSlotMinutes and MaxSlotMinutes bound a round's slot length.
	MinSlotMinutes = 5
	MaxSlotMinutes = 1440
	// MaxSlotCapacity bounds the pickups one slot takes at one pharmacy.
	MaxSlotCapacity = 100_000
	// MaxSlots bounds the slots on offer at one pharmacy at a time: a
	// 24-hour window in 5-minute slots takes at most 290.
	MaxSlots = 300
	// SlotLead is the least time between a reservation and the end of
	// any slot it is offered: time to reach the pharmacy.
	SlotLead = 15 * time.Minute
	// SlotGrace is how long after its slot ends an allocation still
	// waits for its pickup before it expires and its stock returns.
	SlotGrace = 30 * time.Minute
)

// hasSlots reports whether round r has pickup slots.
func hasSlots(r *hub.Round) bool { return r.SlotMinutes > 0 && r.SlotCapacity > 0 }

func slotLength(r *hub.Round) time.Duration { return time.Duration(r.SlotMinutes) * time.Minute }

// slotSpan returns the start of the first slot round r offers at now and
// how many it offers, by the rule at the top of this file.
func slotSpan(r *hub.Round, now time.Time) (time.Time, int) {
	from := now
	if from.Before(r.Opens) {
		from = r.Opens
	}
	d := slotLength(r)
	base := from.Add(SlotLead).Truncate(d)
	end := from.Add(r.PickupWindow)
	n := time.Duration(1)
	if end.After(base) {
		n = (end.Sub(base) + d - 1) / d
	}
	return base.UTC(), int(min(n, MaxSlots))
}

// slotsNeeded returns the most slots a pickup window of the given length
// in slots of length d can need at any time: the window's own, one for
// the slot under way and one for the lead.
func slotsNeeded(window, d time.Duration) int64 {
	return int64((window+d-1)/d) + 2
}

// RoundSlots returns the pickup slots round r offers at every pharmacy at
// time now, earliest first, each with the round's capacity, by the rule at
// the top of this file; nil for a round without slots.
func RoundSlots(r *hub.Round, now time.Time) []Slot {
	if !hasSlots(r) {
		return nil
	}
	return slotsFrom(r, now)
}

func slotsFrom(r *hub.Round, now time.Time) []Slot {
	base, n := slotSpan(r, now)
	d := slotLength(r)
	out := make([]Slot, n)
	for j := range out {
		start := base.Add(time.Duration(j) * d)
		out[j] = Slot{Start: start, End: start.Add(d), Capacity: r.SlotCapacity}
	}
	return out
}

// checkSlots returns an EINVALID error unless the slot settings of a new
// round hold together: both or neither, the length in [MinSlotMinutes,
// MaxSlotMinutes], the capacity in [1, MaxSlotCapacity], PICKUP among
// the fulfilments, and no more than MaxSlots slots to cover the window.
func checkSlots(minutes, capacity int, fuls []hub.Fulfilment, window time.Duration) error {
	switch {
	case minutes == 0 && capacity == 0:
		return nil
	case minutes != 0 && (minutes < MinSlotMinutes || minutes > MaxSlotMinutes):
		return hub.Errorf(hub.EINVALID, "slotMinutes %d is outside [%d, %d]", minutes, MinSlotMinutes, MaxSlotMinutes)
	case capacity != 0 && (capacity < 1 || capacity > MaxSlotCapacity):
		return hub.Errorf(hub.EINVALID, "slotCapacity %d is outside [1, %d]", capacity, MaxSlotCapacity)
	case minutes == 0 || capacity == 0:
		return hub.Errorf(hub.EINVALID, "slotMinutes and slotCapacity go together: give both, or neither for walk-in pickups")
	case !slices.Contains(fuls, hub.Pickup):
		return hub.Errorf(hub.EINVALID, "pickup slots need PICKUP among the fulfilments")
	}
	if n := slotsNeeded(window, time.Duration(minutes)*time.Minute); minutes > 0 && n > MaxSlots {
		return hub.Errorf(hub.EINVALID, "a pickup window of %d minutes in %d-minute slots needs up to %d slots, more than %d: give longer slots or a shorter window", int64(window/time.Minute), minutes, n, MaxSlots)
	}
	return nil
}

// slotKey names one slot at one pharmacy.
type slotKey struct {
	pharmacy string
	start    int64 // Unix nanoseconds
}

func keyOf(pharmacyID string, start time.Time) slotKey {
	return slotKey{pharmacy: pharmacyID, start: start.UnixNano()}
}

// slotMatcher is a slotted round's matcher over its SKU's book, with what
// it was built from.
type slotMatcher struct {
	m     *Matcher
	slots []Slot // the slots of every pharmacy, each with full capacity
	base  time.Time
	d     time.Duration
	cap   int
	k     int
}

// fits reports whether sm is the matcher of round r at the given first
// slot start and count.
func (sm *slotMatcher) fits(r *hub.Round, base time.Time, n int) bool {
	return sm.base.Equal(base) && sm.d == slotLength(r) && len(sm.slots) == n &&
		sm.cap == r.SlotCapacity && sm.k == r.MaxK
}

// countsSlots reports whether the engine keeps the places taken in round
// r's slots: it has slots and may still allocate (open, or a lottery,
// which allocates at its draw and to its waiting winners).
func countsSlots(r *hub.Round) bool {
	return hasSlots(r) && (r.Status == hub.RoundOpen || r.Mode == hub.Lottery)
}

// noteSlots counts, the first time the engine meets a slotted round that
// may still allocate, the places its allocations hold.
func (e *Engine) noteSlots(ctx context.Context, r *hub.Round) error {
	if !countsSlots(r) {
		return nil
	}
	e.mu.Lock()
	known := e.slotUsed[r.ID] != nil
	e.mu.Unlock()
	if known {
		return nil
	}
	used, err := e.slotUsage(ctx, r.ID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.slotUsed[r.ID] == nil {
		e.slotUsed[r.ID] = used
	}
	return nil
}

// slotUsage counts the places taken per pharmacy and slot by a round's
// RESERVED and REDEEMED pickups.
func (e *Engine) slotUsage(ctx context.Context, roundID string) (map[slotKey]int, error) {
	as, err := e.store.Allocations(ctx, hub.AllocationFilter{RoundID: roundID})
	if err != nil {
		return nil, fmt.Errorf("load allocations of round %q: %w", roundID, err)
	}
	used := map[slotKey]int{}
	for _, a := range as {
		if a.PartnerID == "" && !a.Slot.IsZero() && (a.Status == hub.AllocationReserved || a.Status == hub.AllocationRedeemed) {
			used[keyOf(a.PharmacyID, a.Slot)]++
		}
	}
	return used, nil
}

// slotMatcherOf returns the matcher of slotted round r at time now:
// the one built before while its first slot is the period's, else a new
// one over the book, each pharmacy's places taken held (counts of slots
// already over are forgotten). Callers hold mu, and have met the round
// (noteRound) or opened it.
func (e *Engine) slotMatcherOf(r *hub.Round, now time.Time) (*slotMatcher, error) {
	used := e.slotUsed[r.ID]
	if used == nil {
		return nil, fmt.Errorf("round %q: the places taken in its pickup slots were never counted", r.ID)
	}
	b := e.books[r.SKU]
	base, n := slotSpan(r, now)
	if sm := b.slotted[r.ID]; sm != nil && sm.fits(r, base, n) {
		return sm, nil
	}
	slots := slotsFrom(r, now)
	supply := make([]SupplyPoint, len(e.pharm))
	for i, p := range e.pharm {
		supply[i] = SupplyPoint{ID: p.id, Cell: p.cell, Stock: b.stock[i], Slots: slots}
	}
	m, err := NewMatcher(supply, r.MaxK)
	if err != nil {
		return nil, err
	}
	for k, n := range used {
		start := time.Unix(0, k.start)
		if start.Before(base) {
			delete(used, k) // no longer offered
			continue
		}
		if i, ok := e.pharmIdx[k.pharmacy]; ok {
			if s := m.slotAt(i, start); s >= 0 {
				m.hold(i, s, n)
			}
		}
	}
	sm := &slotMatcher{m: m, slots: slots, base: base, d: slotLength(r), cap: r.SlotCapacity, k: r.MaxK}
	b.slotted[r.ID] = sm
	return sm, nil
}

// notePlace records on claim c the place taken in slot s of supply point
// i of sm for round r, and counts it. Callers hold mu.
func (e *Engine) notePlace(r *hub.Round, sm *slotMatcher, i, s int, c *claim) {
	start := sm.m.slotStart[i][s]
	c.slotRound, c.slot, c.slotEnd = r.ID, start, start.Add(sm.d)
	e.slotUsed[r.ID][keyOf(c.pharmacyID, start)]++
}

// takePlace counts a place of a round at a pharmacy in the slot starting
// at start taken, in the counts and in the round's matcher (another
// engine's allocation). Callers hold mu.
func (e *Engine) takePlace(roundID string, sku hub.SKU, pharmacyID string, start time.Time) {
	e.slotUsed[roundID][keyOf(pharmacyID, start)]++
	b := e.books[sku]
	i, ok := e.pharmIdx[pharmacyID]
	if b == nil || !ok {
		return
	}
	if sm := b.slotted[roundID]; sm != nil {
		if s := sm.m.slotAt(i, start); s >= 0 {
			sm.m.hold(i, s, 1)
		}
	}
}

// releasePlace gives back a place of a round at a pharmacy in the slot
// starting at start, in the counts and in the round's matcher; nothing
// when no place is counted there (a round without slots, a slot over).
// Callers hold mu.
func (e *Engine) releasePlace(roundID string, sku hub.SKU, pharmacyID string, start time.Time) {
	used := e.slotUsed[roundID]
	k := keyOf(pharmacyID, start)
	if used[k] <= 0 {
		return
	}
	if used[k]--; used[k] == 0 {
		delete(used, k)
	}
	b := e.books[sku]
	i, ok := e.pharmIdx[pharmacyID]
	if b == nil || !ok {
		return
	}
	if sm := b.slotted[roundID]; sm != nil {
		if s := sm.m.slotAt(i, start); s >= 0 {
			sm.m.releaseSlot(i, s)
		}
	}
}

// dropSlotMatcher forgets the matcher of a round that closed; it is
// rebuilt from the counts if the round allocates again (a lottery's draw).
func (e *Engine) dropSlotMatcher(r *hub.Round) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := e.books[r.SKU]; b != nil {
		delete(b.slotted, r.ID)
	}
}

// offer sets the slots of each supply point (indexed as e.pharm) to the
// places left in sm; points with every place left share one slice.
func (sm *slotMatcher) offer(supply []SupplyPoint) {
	for i := range supply {
		left, caps := sm.m.slotLeft[i], sm.m.slotCap[i]
		if slices.Equal(left, caps) {
			supply[i].Slots = sm.slots
			continue
		}
		ss := slices.Clone(sm.slots)
		for j := range ss {
			ss[j].Capacity = left[j]
		}
		supply[i].Slots = ss
	}
}

// OfferedSlots returns the pickup slots a reservation in round r made now
// is offered at every pharmacy (RoundSlots at the engine's clock); nil
// for a round without slots or that no longer allocates (closed, or a
// lottery whose draw is over and whose waiting list is served no more).
func (e *Engine) OfferedSlots(r *hub.Round) []Slot {
	if !countsSlots(r) {
		return nil
	}
	return RoundSlots(r, e.now())
}

// offerMark is the slots a round offered at a sweep: the first's start
// and their count.
type offerMark struct {
	base time.Time
	n    int
}

// ServeNewSlots runs one sweep of the slots that come into the offer as
// the clock moves: for every slotted round that may still allocate (an
// open FIRST_COME or COMMITTEE round in its window, a drawn lottery)
// whose offer changed since the last sweep of this engine (or that this
// engine sweeps for the first time), it serves the waiting list
// (ServeWaiting) of each pharmacy of the round's SKU that has stock, a
// free place in a slot on offer, and a WAITING pickup of the round in
// reach, once per pharmacy and SKU. So a reservation that waited because
// every slot on offer was full is served, in order, into a slot that
// opened at the end of the window, without waiting for a return or a
// restock. It returns the allocations made. The sweeper calls it every
// EngineOptions.ExpiryEvery; on several hubs each may serve, and the
// store's guards keep every slot and unit to its capacity.
func (e *Engine) ServeNewSlots(ctx context.Context) ([]*hub.Allocation, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	rounds, err := e.store.Rounds(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("serve new pickup slots: %w", err)
	}
	now := e.now()
	type at struct {
		pharmacyID string
		sku        hub.SKU
	}
	var serve []at
	live := map[string]bool{}
	for _, r := range rounds {
		drawn := r.Mode == hub.Lottery && r.Status == hub.RoundDrawn
		open := r.Mode != hub.Lottery && r.Status == hub.RoundOpen && !now.Before(r.Opens) && now.Before(r.Closes)
		if !hasSlots(r) || !open && !drawn {
			continue
		}
		live[r.ID] = true
		base, n := slotSpan(r, now)
		mark := offerMark{base: base, n: n}
		e.mu.Lock()
		seen, ok := e.offerSeen[r.ID]
		e.offerSeen[r.ID] = mark
		e.mu.Unlock()
		if ok && seen == mark {
			continue
		}
		resvs, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, Status: hub.ReservationWaiting})
		if err != nil {
			return nil, fmt.Errorf("serve new pickup slots of round %q: %w", r.ID, err)
		}
		resvs = slices.DeleteFunc(resvs, func(rv *hub.Reservation) bool { return rv.Fulfilment == hub.Delivery })
		if len(resvs) == 0 {
			continue
		}
		if err := e.noteRound(ctx, r); err != nil {
			return nil, err
		}
		e.mu.Lock()
		b := e.books[r.SKU]
		var sm *slotMatcher
		if b != nil {
			if sm, err = e.slotMatcherOf(r, now); err != nil {
				e.mu.Unlock()
				return nil, err
			}
		}
		for i := range e.pharm {
			if sm == nil || b.stock[i] < r.PerPerson || sm.m.firstFree(i) < 0 {
				continue
			}
			p := at{pharmacyID: e.pharm[i].id, sku: r.SKU}
			if slices.Contains(serve, p) {
				continue
			}
			if slices.ContainsFunc(resvs, func(rv *hub.Reservation) bool { return inReach(rv.Cell, e.pharm[i].cell, r.MaxK) }) {
				serve = append(serve, p)
			}
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	maps.DeleteFunc(e.offerSeen, func(id string, _ offerMark) bool { return !live[id] })
	e.mu.Unlock()
	var out []*hub.Allocation
	for _, p := range serve {
		as, err := e.ServeWaiting(ctx, p.pharmacyID, p.sku)
		out = append(out, as...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
