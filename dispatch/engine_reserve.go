package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// maxIdempotencyKey bounds a client's retry key.
const maxIdempotencyKey = 128

// ReserveInput is one person's request in a round.
type ReserveInput struct {
	RoundID string
	// Resident is the person, already loaded by the caller.
	Resident *hub.Resident
	// Fulfilment is PICKUP or DELIVERY; "" means the round's first.
	Fulfilment hub.Fulfilment
	// IdempotencyKey makes a client's retries safe: a second request
	// with the key in the round returns the stored outcome. At most 128
	// bytes; "" for none.
	IdempotencyKey string
	// Slot is the preferred pickup slot start; zero means none. It must
	// start no earlier than an hour ago and before the pickup window
	// ends. In a round with pickup slots a FIRST_COME or COMMITTEE pickup
	// gets the slot holding this time when it has a place, else the
	// earliest with one (engine_slots.go); in a round without slots the
	// allocation records it as given. Lottery entries ignore it.
	Slot time.Time
}

// ReserveResult is the outcome of Reserve.
type ReserveResult struct {
	Reservation *hub.Reservation
	// Allocation is nil when the reservation is pending (a lottery
	// entry) or waiting.
	Allocation *hub.Allocation
	// Replayed is true when the idempotency key was seen before: the
	// stored outcome is returned.
	Replayed bool
	// Reason says why a reservation made WAITING by this call waits:
	// ReasonNothingInReach, ReasonOutOfStock, ReasonQuotaExhausted or
	// ReasonNoPartner. It is empty otherwise.
	Reason string
}

// checkResident returns an EINVALID error unless the resident can take
// part: an ID, an ID hash, and a cell on the grid at the base resolution.
func checkResident(res *hub.Resident) error {
	switch {
	case res == nil:
		return hub.Errorf(hub.EINVALID, "no resident given")
	case res.ID == "":
		return hub.Errorf(hub.EINVALID, "the resident has no ID")
	case res.IDHash == "":
		return hub.Errorf(hub.EINVALID, "resident %q has no ID hash", res.ID)
	}
	if err := checkBaseCell(res.Cell); err != nil {
		return invalidf(err, "resident %q: the address does not place on the grid: %s", res.ID, hub.ErrorMessage(err))
	}
	return nil
}

// checkWindow returns an ECONFLICT error unless the round takes
// reservations at now.
func checkWindow(r *hub.Round, now time.Time) error {
	switch {
	case r.Status != hub.RoundOpen || !now.Before(r.Closes):
		return hub.Errorf(hub.ECONFLICT, "round %q is closed: it took reservations until %s", r.ID, r.Closes.Format(time.RFC3339))
	case now.Before(r.Opens):
		return hub.Errorf(hub.ECONFLICT, "round %q opens at %s", r.ID, r.Opens.Format(time.RFC3339))
	}
	return nil
}

// Reserve takes a person's reservation in a round and answers once it is
// durable. Checks come first, each a *hub.Error with nothing written:
// unknown round (ENOTFOUND); round not open yet or closed (ECONFLICT);
// fulfilment not offered, address off the grid, delivery where no partner
// serves the cell, a bad slot or key (EINVALID); not on the eligibility
// list, not in the round's districts, committee without a quota, and in
// a round with the health gate no current health declaration or a colour
// that the round's health rules do not let take the fulfilment
// (EFORBIDDEN; GateRules). A reservation that names no fulfilment takes
// the round's first that the person's colour may take (GateDefault). A second reservation of one
// person in a round is ECONFLICT naming the first.
//
// A new reservation never takes stock ahead of the waiting list: when
// pharmacies in its reach have stock it is matched at once (no one in
// reach waits for that stock, or the list was just served from it);
// while a restock or returned stock is serving the list of a pharmacy in
// its reach, it waits for that to end (claimSettled); and when it finds
// nothing it joins the list WAITING, behind everyone before it (the
// list is served in ID, that is arrival, order).
//
// A LOTTERY reservation is a PENDING entry. A FIRST_COME or COMMITTEE one
// is matched at once: ALLOCATED with its allocation, or WAITING (Reason
// says why) when nothing in reach has stock or the committee's quota is
// all held.
func (e *Engine) Reserve(ctx context.Context, in ReserveInput) (*ReserveResult, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	if e.serialWrites {
		e.serial.Lock()
		defer e.serial.Unlock()
	}
	res := in.Resident
	if err := checkResident(res); err != nil {
		return nil, err
	}
	if len(in.IdempotencyKey) > maxIdempotencyKey {
		return nil, hub.Errorf(hub.EINVALID, "the idempotency key is longer than %d bytes", maxIdempotencyKey)
	}
	r, err := e.round(ctx, in.RoundID)
	if err != nil {
		return nil, err
	}
	if err := e.catchUp(ctx); err != nil {
		return nil, err
	}
	now := e.now()
	if err := checkWindow(r, now); err != nil {
		return nil, err
	}
	ful := in.Fulfilment
	offered := r.Fulfilments
	if len(offered) == 0 {
		offered = []hub.Fulfilment{hub.Pickup}
	}
	if ful != "" && !slices.Contains(offered, ful) {
		return nil, hub.Errorf(hub.EINVALID, "round %q offers %v, not %q", r.ID, offered, hub.Clip(string(ful)))
	}
	if err := e.checkEligible(ctx, r, res); err != nil {
		return nil, err
	}
	colour, err := e.gate(ctx, r, res, ful, offered)
	if err != nil {
		return nil, err
	}
	if ful == "" {
		ful = GateDefault(r, colour, offered)
	}
	if ful == hub.Delivery {
		e.mu.Lock()
		partner := e.partnerFor(res.Cell)
		e.mu.Unlock()
		if rule := gateRule(r, colour); partner == "" && r.HealthGate && !slices.Contains(rule.Fulfilments, hub.Pickup) {
			return nil, hub.Errorf(hub.EFORBIDDEN, "round %q has a health gate and a %s health code takes %v only, but no delivery partner serves cell %s: your committee can bring the supply", r.ID, colour, rule.Fulfilments, res.Cell)
		}
		if partner == "" {
			return nil, hub.Errorf(hub.EINVALID, "no delivery partner serves cell %s: choose PICKUP", res.Cell)
		}
	}
	slot := in.Slot
	if r.Mode == hub.Lottery {
		slot = time.Time{}
	}
	if !slot.IsZero() {
		if ful != hub.Pickup {
			return nil, hub.Errorf(hub.EINVALID, "a pickup slot is for PICKUP, not %s", ful)
		}
		if slot.Before(now.Add(-time.Hour)) || !slot.Before(now.Add(r.PickupWindow)) {
			return nil, hub.Errorf(hub.EINVALID, "slot %s is outside the pickup window, %s to %s", slot.Format(time.RFC3339), now.Format(time.RFC3339), now.Add(r.PickupWindow).Format(time.RFC3339))
		}
	}

	id := e.newID("rsv_")
	resv := &hub.Reservation{
		ID: id, RoundID: r.ID, ResidentID: res.ID, IDHash: res.IDHash, Cell: res.Cell,
		CommitteeID: res.CommitteeID, DistrictID: res.DistrictID, Fulfilment: ful,
		IdempotencyKey: in.IdempotencyKey, Status: hub.ReservationPending,
		CreatedAt: now, UpdatedAt: now,
	}
	var stored *hub.Reservation
	var alloc *hub.Allocation
	var reason string
	if r.Mode == hub.Lottery {
		if resv.EntryHash, err = EntryHash(r.ID, id); err != nil {
			return nil, err
		}
		stored, err = e.createEntry(ctx, resv)
	} else {
		stored, alloc, reason, err = e.reserveNow(ctx, r, resv, slot)
	}
	if err != nil {
		return nil, err
	}
	out := &ReserveResult{Reservation: stored, Allocation: alloc, Reason: reason, Replayed: stored.ID != id}
	if out.Replayed && stored.ResidentID != res.ID {
		return nil, hub.Errorf(hub.ECONFLICT, "idempotency key %q was used by another request in round %q", hub.Clip(in.IdempotencyKey), r.ID)
	}
	switch {
	case out.Allocation != nil:
	case stored.Status == hub.ReservationAllocated:
		if out.Allocation, err = e.store.Allocation(ctx, stored.AllocationID); err != nil {
			return nil, err
		}
	case stored.Status == hub.ReservationPending && r.Mode != hub.Lottery:
		// New, or a retry of a request a crash cut short.
		if out.Reservation, out.Allocation, out.Reason, err = e.serve(ctx, r, stored, slot); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reserveNow records a new FIRST_COME or COMMITTEE reservation matched
// at once, in one durable write: the matcher picks a pharmacy under mu,
// then the reservation and its allocation are written together
// (Store.ReserveAllocated), or, when nothing can serve it, the
// reservation is written WAITING. On EOUTOFSTOCK the pharmacy's stock is
// reread and the match tried again, up to allocateTries times; then the
// reservation waits. A write refused with ECONFLICT (a second reservation
// of the person, or, once in 2^65, a pickup code already taken) falls
// back to CreateReservation, which answers the former, and returns the
// reservation PENDING for serve to match. It returns the reservation as
// stored (another one when the idempotency key was used before, which it
// leaves to the caller), its allocation if this call made one, and the
// reason it waits if this call made it wait.
func (e *Engine) reserveNow(ctx context.Context, r *hub.Round, resv *hub.Reservation, slot time.Time) (*hub.Reservation, *hub.Allocation, string, error) {
	refused := 0
	for try := 1; ; try++ {
		c, partner, reason, err := e.claimSettled(ctx, r, resv, slot)
		if err != nil {
			return nil, nil, "", err
		}
		if reason != "" {
			defer e.waited(r.SKU)
			return e.createWaiting(ctx, resv, reason)
		}
		a := e.reservationAllocation(r, resv, c, partner, slot)
		stored, err := e.store.ReserveAllocated(ctx, resv, a)
		made := err == nil && stored.ID == resv.ID
		e.settle(made, c)
		switch {
		case made:
			return stored, a, "", nil
		case err == nil: // an idempotency key used before: nothing written
			return stored, nil, "", nil
		}
		switch hub.ErrorCode(err) {
		case hub.EOUTOFSTOCK:
			if e.guardRefused(err, r, c) {
				// Counted full now: the match moves on, trying no stock.
				if refused++; refused < maxGuardRefusals {
					try--
					continue
				}
				return e.createWaiting(ctx, resv, guardReason(err))
			}
			if err := e.refreshStock(ctx, c.pharmacyID, c.sku); err != nil {
				return nil, nil, "", err
			}
			if try < allocateTries {
				continue
			}
			return e.createWaiting(ctx, resv, ReasonOutOfStock)
		case hub.ECONFLICT:
			stored, err := e.store.CreateReservation(ctx, resv)
			return stored, nil, "", err
		default:
			return nil, nil, "", err
		}
	}
}

// maxSettleWaits bounds how often a reservation that finds no stock
// waits for the claims in flight to settle before it is made to wait.
const maxSettleWaits = 64

// claimSettled is claimFor for a reservation not yet stored. A claim can
// be given back: a request that turns out to be a retry of a stored one
// or a second reservation of its person claims before the store says so.
// So when nothing in reach has stock while units of the SKU are in flight,
// it waits until a claim settles and tries again (at most maxSettleWaits
// times), rather than make the reservation wait for units that may come
// back a moment later.
//
// A new reservation never goes ahead of the waiting list: while a pass
// serving the waiting list of a pharmacy in its reach runs (a restock,
// stock that came back: held), it waits for the pass to end before it
// claims. When it is made to wait (a reason), the book counts it among
// the WAITING writes in flight until the caller calls waited.
func (e *Engine) claimSettled(ctx context.Context, r *hub.Round, resv *hub.Reservation, slot time.Time) (claim, string, string, error) {
	for waits := 0; ; {
		e.mu.Lock()
		var settled chan struct{}
		var c claim
		var partner, reason string
		var err error
		if e.heldInReach(r, resv.Cell) {
			settled = e.settledChan() // every pass ends (serveHeld, ServeWaiting)
		} else {
			c, partner, reason, err = e.claimFor(r, resv, slot)
			if err == nil && reason == ReasonOutOfStock && waits < maxSettleWaits && e.books[r.SKU].inFlight() {
				settled = e.settledChan()
				waits++
			}
			if settled == nil && err == nil && reason != "" {
				e.books[r.SKU].waitingWrites++
			}
		}
		e.mu.Unlock()
		if settled == nil {
			return c, partner, reason, err
		}
		select {
		case <-settled:
		case <-ctx.Done():
			return claim{}, "", "", ctx.Err()
		}
	}
}

// settledChan returns the channel the next settle, or the end of a pass
// serving a waiting list, closes. Callers hold mu.
func (e *Engine) settledChan() chan struct{} {
	if e.settled == nil {
		e.settled = make(chan struct{})
	}
	return e.settled
}

// wake closes the channel of settledChan. Callers hold mu.
func (e *Engine) wake() {
	if e.settled != nil {
		close(e.settled)
		e.settled = nil
	}
}

// heldInReach reports whether a pass serving the waiting list of a
// pharmacy within round r's reach of cell runs. Callers hold mu.
func (e *Engine) heldInReach(r *hub.Round, cell hub.Cell) bool {
	b := e.books[r.SKU]
	if b.holding == 0 {
		return false
	}
	for i, n := range b.held {
		if n > 0 && inReach(cell, e.pharm[i].cell, r.MaxK) {
			return true
		}
	}
	return false
}

// waited ends the count of a WAITING write that claimSettled began.
func (e *Engine) waited(sku hub.SKU) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.books[sku].waitingWrites--
	e.wake()
}

// createWaiting records a new reservation WAITING from the start, for
// reason, and returns it as stored (another one when the idempotency key
// was used before, without a reason).
func (e *Engine) createWaiting(ctx context.Context, resv *hub.Reservation, reason string) (*hub.Reservation, *hub.Allocation, string, error) {
	w := *resv
	w.Status = hub.ReservationWaiting
	var stored *hub.Reservation
	var err error
	if es, ok := e.store.(eventStore); ok {
		stored, err = es.createWaiting(ctx, &w)
	} else {
		stored, err = e.store.CreateReservation(ctx, &w)
	}
	if err != nil {
		return nil, nil, "", err
	}
	if stored.ID != w.ID {
		return stored, nil, "", nil
	}
	return stored, nil, reason, nil
}

// createEntry records a lottery entry while the window is still open:
// it holds entryMu for reading, so that the entry list a draw takes is
// final.
func (e *Engine) createEntry(ctx context.Context, resv *hub.Reservation) (*hub.Reservation, error) {
	e.entryMu.RLock()
	defer e.entryMu.RUnlock()
	r, err := e.round(ctx, resv.RoundID)
	if err != nil {
		return nil, err
	}
	if err := checkWindow(r, e.now()); err != nil {
		return nil, err
	}
	return e.store.CreateReservation(ctx, resv)
}

// checkEligible returns an EFORBIDDEN error saying why the resident may
// not reserve in the round, or nil.
func (e *Engine) checkEligible(ctx context.Context, r *hub.Round, res *hub.Resident) error {
	if l := r.Eligibility.IDHashes; len(l) > 0 {
		if _, ok := slices.BinarySearch(l, res.IDHash); !ok {
			return hub.Errorf(hub.EFORBIDDEN, "round %q is for the people on its list, and this ID number is not on it", r.ID)
		}
	}
	if l := r.Eligibility.DistrictIDs; len(l) > 0 {
		if _, ok := slices.BinarySearch(l, res.DistrictID); !ok {
			return hub.Errorf(hub.EFORBIDDEN, "round %q is for residents of districts %v, not of %q", r.ID, l, res.DistrictID)
		}
	}
	if r.Mode == hub.ByCommittee {
		if _, ok := r.Quotas[res.CommitteeID]; !ok || res.CommitteeID == "" {
			return hub.Errorf(hub.EFORBIDDEN, "round %q is for residents of committees holding a quota in it, and committee %q holds none", r.ID, res.CommitteeID)
		}
	}
	return nil
}

// claimFor picks a pharmacy for a reservation and takes the units from
// the book (and the committee's quota, and a place in a pickup slot,
// prefer's when it has one), or says why it waits. Callers hold mu.
func (e *Engine) claimFor(r *hub.Round, resv *hub.Reservation, prefer time.Time) (c claim, partner, reason string, err error) {
	q := r.PerPerson
	if r.Mode == hub.ByCommittee && e.quotaUsed[r.ID][resv.CommitteeID]+q > r.Quotas[resv.CommitteeID] {
		return claim{}, "", ReasonQuotaExhausted, nil
	}
	if resv.Fulfilment == hub.Delivery {
		if partner = e.partnerFor(resv.Cell); partner == "" {
			return claim{}, "", ReasonNoPartner, nil
		}
	}
	req := Request{ID: resv.ID, Cell: resv.Cell, Quantity: q}
	var m *Matcher
	var sm *slotMatcher
	if hasSlots(r) && partner == "" {
		if sm, err = e.slotMatcherOf(r, e.now()); err != nil {
			return claim{}, "", "", err
		}
		m = sm.m
		if !prefer.IsZero() {
			req.Slot = prefer.Truncate(sm.d)
		}
	} else if m, err = e.matcher(e.books[r.SKU], r.MaxK); err != nil {
		return claim{}, "", "", err
	}
	a, err := m.Assign(req)
	if err != nil {
		return claim{}, "", "", err
	}
	if !a.Served() {
		return claim{}, "", a.Reason.String(), nil
	}
	c = e.take(r.SKU, a.Supply, q)
	if sm != nil {
		e.notePlace(r, sm, a.Supply, a.Slot, &c)
	}
	e.countQuota(r, resv, &c)
	return c, partner, "", nil
}

// countQuota counts a claim of a COMMITTEE round in its committee's
// quota. Callers hold mu.
func (e *Engine) countQuota(r *hub.Round, resv *hub.Reservation, c *claim) {
	if r.Mode != hub.ByCommittee {
		return
	}
	c.roundID, c.committee = r.ID, resv.CommitteeID
	if e.quotaUsed[r.ID] == nil {
		e.quotaUsed[r.ID] = map[string]int{}
	}
	e.quotaUsed[r.ID][resv.CommitteeID] += c.quantity
}

// newAllocation returns the allocation of a claim: DELIVERING with the
// partner, or RESERVED for pickup until now + window, with its code hash;
// a claim of a pickup slot names it and waits until SlotGrace after it
// ends instead.
func (e *Engine) newAllocation(c claim, partner string, now time.Time, window time.Duration) *hub.Allocation {
	a := &hub.Allocation{
		ID: e.newID(AllocationPrefix), PharmacyID: c.pharmacyID, PartnerID: partner, SKU: c.sku,
		Quantity: c.quantity, Status: hub.AllocationReserved, CreatedAt: now, UpdatedAt: now,
	}
	switch {
	case partner != "":
		a.Status = hub.AllocationDelivering
	case c.slotRound != "":
		a.Slot, a.ExpiresAt = c.slot, c.slotEnd.Add(SlotGrace)
	default:
		a.ExpiresAt = now.Add(window)
	}
	a.CodeHash = e.codeHash(e.PickupCode(a))
	return a
}

// reservationAllocation returns the allocation of a claim for a
// reservation. A pickup without a slot place (a round without slots)
// records the preferred slot as given.
func (e *Engine) reservationAllocation(r *hub.Round, resv *hub.Reservation, c claim, partner string, slot time.Time) *hub.Allocation {
	a := e.newAllocation(c, partner, e.now(), r.PickupWindow)
	a.RoundID, a.ReservationID, a.ResidentID, a.Cell = r.ID, resv.ID, resv.ResidentID, resv.Cell
	if partner == "" && c.slotRound == "" {
		a.Slot = slot
	}
	return a
}

// allocated returns the reservation as Allocate leaves it.
func allocated(resv *hub.Reservation, a *hub.Allocation) *hub.Reservation {
	cp := *resv
	cp.Status, cp.AllocationID, cp.UpdatedAt = hub.ReservationAllocated, a.ID, a.CreatedAt
	return &cp
}

// serve matches a PENDING or WAITING reservation and allocates it: the
// matcher picks a pharmacy under mu, the store write runs outside it. On
// EOUTOFSTOCK the pharmacy's stock is reread and the match tried again,
// up to allocateTries times; then, or when nothing can serve it, the
// reservation waits. It returns the reservation as it stands, its
// allocation if any and the reason it waits.
func (e *Engine) serve(ctx context.Context, r *hub.Round, resv *hub.Reservation, slot time.Time) (*hub.Reservation, *hub.Allocation, string, error) {
	refused := 0
	for try := 1; ; try++ {
		e.mu.Lock()
		c, partner, reason, err := e.claimFor(r, resv, slot)
		e.mu.Unlock()
		if err != nil {
			return nil, nil, "", err
		}
		if reason != "" {
			w, a, err := e.wait(ctx, resv)
			if a != nil || w.Status != hub.ReservationWaiting {
				reason = ""
			}
			return w, a, reason, err
		}
		a := e.reservationAllocation(r, resv, c, partner, slot)
		err = e.store.Allocate(ctx, a)
		e.settle(err == nil, c)
		if err == nil {
			return allocated(resv, a), a, "", nil
		}
		switch hub.ErrorCode(err) {
		case hub.EOUTOFSTOCK:
			reason := ReasonOutOfStock
			if e.guardRefused(err, r, c) {
				// Counted full now: the match moves on, trying no stock.
				if refused++; refused < maxGuardRefusals {
					try--
					continue
				}
				reason = guardReason(err)
			} else if err := e.refreshStock(ctx, c.pharmacyID, c.sku); err != nil {
				return nil, nil, "", err
			} else if try < allocateTries {
				continue
			}
			w, a, err := e.wait(ctx, resv)
			if a != nil || w.Status != hub.ReservationWaiting {
				reason = ""
			}
			return w, a, reason, err
		case hub.ECONFLICT:
			// Served or cancelled meanwhile (a retry racing its
			// original), or, once in 2^65, a code already taken.
			cur, a, err := e.current(ctx, resv.ID)
			if err != nil {
				return nil, nil, "", err
			}
			if cur.Status != hub.ReservationPending && cur.Status != hub.ReservationWaiting || try >= allocateTries {
				return cur, a, "", nil
			}
			resv = cur
		default:
			return nil, nil, "", err
		}
	}
}

// wait makes a PENDING reservation WAITING and returns it as it stands,
// with its allocation if something else served it meanwhile.
func (e *Engine) wait(ctx context.Context, resv *hub.Reservation) (*hub.Reservation, *hub.Allocation, error) {
	if resv.Status == hub.ReservationPending {
		err := e.store.SetReservationStatus(ctx, hub.ReservationWaiting, []hub.ReservationStatus{hub.ReservationPending}, resv.ID)
		if err != nil && hub.ErrorCode(err) != hub.ECONFLICT {
			return nil, nil, err
		}
	}
	return e.current(ctx, resv.ID)
}

// current reads a reservation and its allocation, if any.
func (e *Engine) current(ctx context.Context, id string) (*hub.Reservation, *hub.Allocation, error) {
	resv, err := e.store.Reservation(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if resv.AllocationID == "" {
		return resv, nil, nil
	}
	a, err := e.store.Allocation(ctx, resv.AllocationID)
	if err != nil {
		return nil, nil, err
	}
	return resv, a, nil
}

// serveWinners allocates a drawn lottery's winners, given in draw order:
// FairShare over the book's stock shares them between cells, the
// allocations are written in batches, a batch the store refuses is
// retried one winner at a time (serve), and winners left unserved wait.
func (e *Engine) serveWinners(ctx context.Context, r *hub.Round, winners []*hub.Reservation) (*DrawReport, error) {
	rep := &DrawReport{}
	type job struct {
		resv    *hub.Reservation
		c       claim
		partner string
	}
	var jobs []job
	var waiting []string
	reqs := make([]Request, 0, len(winners))
	whose := make([]*hub.Reservation, 0, len(winners))

	e.mu.Lock()
	for i, w := range winners {
		if w.Fulfilment == hub.Delivery && e.partnerFor(w.Cell) == "" {
			waiting = append(waiting, w.ID)
			continue
		}
		reqs = append(reqs, Request{ID: w.ID, Cell: w.Cell, Quantity: r.PerPerson, Seq: uint64(i)})
		whose = append(whose, w)
	}
	b := e.books[r.SKU]
	supply := make([]SupplyPoint, len(e.pharm))
	for i, p := range e.pharm {
		supply[i] = SupplyPoint{ID: p.id, Cell: p.cell, Stock: b.stock[i]}
	}
	// With pickup slots the shares count the places left too; a delivery
	// winner counts in them, but takes no place.
	var sm *slotMatcher
	var err error
	if hasSlots(r) {
		if sm, err = e.slotMatcherOf(r, e.now()); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		sm.offer(supply)
	}
	fair, err := FairShare(reqs, supply, r.MaxK)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	// Jobs in draw order.
	for j, a := range fair.Assignments {
		if !a.Served() {
			waiting = append(waiting, whose[j].ID)
			continue
		}
		partner := ""
		if whose[j].Fulfilment == hub.Delivery {
			partner = e.partnerFor(whose[j].Cell)
		}
		c := e.take(r.SKU, a.Supply, r.PerPerson)
		if sm != nil && partner == "" && a.Slot >= 0 {
			if s := sm.m.slotAt(a.Supply, supply[a.Supply].Slots[a.Slot].Start); s >= 0 && sm.m.hold(a.Supply, s, 1) == 1 {
				e.notePlace(r, sm, a.Supply, s, &c)
			}
		}
		jobs = append(jobs, job{resv: whose[j], c: c, partner: partner})
	}
	e.mu.Unlock()

	served := map[hub.Cell]int{}
	for chunk := range slices.Chunk(jobs, storeBatch) {
		as := make([]*hub.Allocation, len(chunk))
		cs := make([]claim, len(chunk))
		for i, j := range chunk {
			as[i] = e.reservationAllocation(r, j.resv, j.c, j.partner, time.Time{})
			cs[i] = j.c
		}
		err := e.store.Allocate(ctx, as...)
		e.settle(err == nil, cs...)
		if err == nil {
			for _, j := range chunk {
				served[j.resv.Cell]++
			}
			rep.Allocated += len(chunk)
			continue
		}
		if _, ok := err.(*hub.Error); !ok || ctx.Err() != nil {
			return nil, err
		}
		for _, j := range chunk {
			cur, a, _, err := e.serve(ctx, r, j.resv, time.Time{})
			if err != nil {
				return nil, err
			}
			if a != nil && cur.Status == hub.ReservationAllocated {
				served[j.resv.Cell]++
				rep.Allocated++
			} else if cur.Status == hub.ReservationWaiting {
				rep.Waiting++
			}
		}
	}
	for chunk := range slices.Chunk(waiting, storeBatch) {
		err := e.store.SetReservationStatus(ctx, hub.ReservationWaiting, []hub.ReservationStatus{hub.ReservationPending}, chunk...)
		if err == nil {
			rep.Waiting += len(chunk)
			continue
		}
		if hub.ErrorCode(err) != hub.ECONFLICT {
			return nil, err
		}
		for _, id := range chunk {
			cur, _, err := e.wait(ctx, &hub.Reservation{ID: id, Status: hub.ReservationPending})
			if err != nil {
				return nil, err
			}
			if cur.Status == hub.ReservationWaiting {
				rep.Waiting++
			}
		}
	}
	rep.Cells = fair.Cells
	for i := range rep.Cells {
		c := &rep.Cells[i]
		c.ServedRequests = served[c.Cell]
		c.Served = c.ServedRequests * r.PerPerson
	}
	rep.Gini = FulfilmentGini(rep.Cells)
	return rep, nil
}

// CancelReservation cancels a reservation and returns it. An allocation
// still awaiting pickup is cancelled with it and its stock returns. An
// already cancelled reservation is returned as it is. ECONFLICT: the
// supply was picked up or delivered, the delivery is under way, a lottery
// entry after entries closed, a LOST entry, or a drawn lottery's waiting
// winner (who stays on the list until served, so that the published draw
// can always be recomputed from the store).
func (e *Engine) CancelReservation(ctx context.Context, reservationID string) (*hub.Reservation, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	resv, err := e.store.Reservation(ctx, reservationID)
	if err != nil {
		return nil, err
	}
	r, err := e.round(ctx, resv.RoundID)
	if err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		var err error
		switch resv.Status {
		case hub.ReservationCancelled:
			return resv, nil
		case hub.ReservationLost:
			return nil, hub.Errorf(hub.ECONFLICT, "reservation %q was not drawn: there is nothing to cancel", resv.ID)
		case hub.ReservationPending:
			if r.Mode == hub.Lottery {
				err = e.cancelEntry(ctx, resv)
			} else {
				err = e.store.SetReservationStatus(ctx, hub.ReservationCancelled, []hub.ReservationStatus{hub.ReservationPending}, resv.ID)
			}
		case hub.ReservationWaiting:
			if r.Mode == hub.Lottery {
				return nil, hub.Errorf(hub.ECONFLICT, "reservation %q is a waiting winner of drawn lottery %q: it stays on the list until a restock serves it", resv.ID, r.ID)
			}
			err = e.store.SetReservationStatus(ctx, hub.ReservationCancelled, []hub.ReservationStatus{hub.ReservationWaiting}, resv.ID)
		case hub.ReservationAllocated:
			err = e.cancelAllocated(ctx, resv)
		default:
			return nil, fmt.Errorf("reservation %q has unknown status %q", resv.ID, resv.Status)
		}
		if err == nil {
			return e.store.Reservation(ctx, resv.ID)
		}
		if hub.ErrorCode(err) != hub.ECONFLICT || try >= 3 {
			return nil, err
		}
		// It moved meanwhile: look again.
		if resv, err = e.store.Reservation(ctx, resv.ID); err != nil {
			return nil, err
		}
	}
}

// cancelEntry cancels a PENDING lottery entry while entries are open.
func (e *Engine) cancelEntry(ctx context.Context, resv *hub.Reservation) error {
	e.entryMu.RLock()
	defer e.entryMu.RUnlock()
	r, err := e.round(ctx, resv.RoundID)
	if err != nil {
		return err
	}
	if r.Status != hub.RoundOpen || !e.now().Before(r.Closes) {
		return hub.Errorf(hub.ECONFLICT, "round %q: entries closed at %s; the entry stays in the draw", r.ID, r.Closes.Format(time.RFC3339))
	}
	return e.store.SetReservationStatus(ctx, hub.ReservationCancelled, []hub.ReservationStatus{hub.ReservationPending}, resv.ID)
}

// cancelAllocated cancels an ALLOCATED reservation and its allocation if
// that still awaits pickup.
func (e *Engine) cancelAllocated(ctx context.Context, resv *hub.Reservation) error {
	a, err := e.store.Allocation(ctx, resv.AllocationID)
	if err != nil {
		return err
	}
	switch a.Status {
	case hub.AllocationReserved:
		if _, err := e.transition(ctx, a, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationCancelled); err != nil {
			if hub.ErrorCode(err) == hub.ECONFLICT {
				return e.cancelAllocated(ctx, resv) // it moved: look again
			}
			return err
		}
	case hub.AllocationDelivering:
		return hub.Errorf(hub.ECONFLICT, "reservation %q: the delivery is under way; the partner reports it delivered or failed", resv.ID)
	case hub.AllocationRedeemed, hub.AllocationDelivered:
		return hub.Errorf(hub.ECONFLICT, "reservation %q: the supply was already handed out (%s)", resv.ID, a.Status)
	}
	return e.store.SetReservationStatus(ctx, hub.ReservationCancelled, []hub.ReservationStatus{hub.ReservationAllocated}, resv.ID)
}

// RegisterShortage records that a resident found nothing in reach: a
// WAITING registration that a restock nearby serves in order
// (ServeWaiting). Quantity is 1 to MaxPerPerson. A second WAITING
// registration of a resident for a SKU is ECONFLICT naming the first.
func (e *Engine) RegisterShortage(ctx context.Context, resident *hub.Resident, sku hub.SKU, quantity int) (*hub.Shortage, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	if err := checkResident(resident); err != nil {
		return nil, err
	}
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return nil, err
	}
	if quantity < 1 || quantity > MaxPerPerson {
		return nil, hub.Errorf(hub.EINVALID, "quantity %d is outside [1, %d]", quantity, MaxPerPerson)
	}
	now := e.now()
	sh := &hub.Shortage{
		ID: e.newID("sho_"), ResidentID: resident.ID, Cell: resident.Cell, SKU: sku,
		Quantity: quantity, Status: hub.ShortageWaiting, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateShortage(ctx, sh); err != nil {
		return nil, err
	}
	return sh, nil
}

// waiter is one entry of the waiting list a restock serves: a shortage
// registration or a WAITING reservation.
type waiter struct {
	sh    *hub.Shortage
	resv  *hub.Reservation
	round *hub.Round // the reservation's
}

func (w *waiter) quantity() int {
	if w.sh != nil {
		return w.sh.Quantity
	}
	return w.round.PerPerson
}

// claimAt takes stock at pharmacy i for a waiter, and for a pickup of a
// round with slots a place in the earliest slot with one. It skips the
// waiter (ok false) when its committee's quota is full, no partner
// delivers to it or no slot has a place, and stops the line (stop true)
// when the pharmacy has too little left: the line is served in order,
// nobody overtakes. Callers hold mu.
func (e *Engine) claimAt(i int, sku hub.SKU, w *waiter) (c claim, partner string, ok, stop bool) {
	q := w.quantity()
	if w.resv != nil {
		r := w.round
		if r.Mode == hub.ByCommittee && e.quotaUsed[r.ID][w.resv.CommitteeID]+q > r.Quotas[w.resv.CommitteeID] {
			return claim{}, "", false, false
		}
		if w.resv.Fulfilment == hub.Delivery {
			if partner = e.partnerFor(w.resv.Cell); partner == "" {
				return claim{}, "", false, false
			}
		}
	}
	if e.books[sku].stock[i] < q {
		return claim{}, "", false, true
	}
	var sm *slotMatcher
	s := -1
	if w.resv != nil && partner == "" && hasSlots(w.round) {
		var err error
		if sm, err = e.slotMatcherOf(w.round, e.now()); err != nil {
			return claim{}, "", false, false // never met: cannot happen after waitingLine
		}
		if s = sm.m.firstFree(i); s < 0 {
			return claim{}, "", false, false
		}
	}
	c = e.take(sku, i, q)
	if sm != nil {
		sm.m.hold(i, s, 1)
		e.notePlace(w.round, sm, i, s, &c)
	}
	if w.resv != nil {
		e.countQuota(w.round, w.resv, &c)
	}
	return c, partner, true, false
}

// allocationOf returns the allocation of a claim for a waiter.
func (e *Engine) allocationOf(w *waiter, c claim, partner string) *hub.Allocation {
	if w.resv != nil {
		return e.reservationAllocation(w.round, w.resv, c, partner, time.Time{})
	}
	a := e.newAllocation(c, "", e.now(), DefaultPickupWindow)
	a.ShortageID, a.ResidentID, a.Cell = w.sh.ID, w.sh.ResidentID, w.sh.Cell
	return a
}

// ServeWaiting serves the waiting list from a pharmacy's stock of sku,
// after a restock, and returns the allocations made. It rereads the
// pharmacy's stock from the store, then serves, in order while stock
// lasts (the first that does not fit stops the line; nobody overtakes):
//
//  1. WAITING shortage registrations of the SKU whose cell is within
//     DefaultMaxK rings of the pharmacy, first registered first;
//  2. the waiting winners of drawn lotteries of the SKU (they won a
//     published draw), rounds in ID order, each in draw order;
//  3. WAITING reservations of the open FIRST_COME and COMMITTEE rounds of
//     the SKU (status OPEN, window not over), all rounds together in ID,
//     that is arrival, order: earliest waiting first.
//
// Reservations count only when their cell is within the round's MaxK
// rings of the pharmacy. A reservation whose committee's quota is full,
// which asks delivery where no partner serves, or whose round has no
// pickup slot place left, is skipped.
//
// While it runs the pharmacy is held: a new reservation in its reach
// waits for the line to be served before it claims (claimSettled), and
// one made WAITING meanwhile joins the line behind those before it
// (servePasses). Stock that comes back to a pharmacy (a cancellation,
// an expiry, a failed delivery) is served the same way (serveHeld).
func (e *Engine) ServeWaiting(ctx context.Context, pharmacyID string, sku hub.SKU) ([]*hub.Allocation, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return nil, err
	}
	p, err := e.store.Pharmacy(ctx, pharmacyID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	i, known := e.pharmIdx[p.ID]
	known = known && e.pharm[i].cell == p.Cell
	e.mu.Unlock()
	if !known {
		if err := e.refreshPharmacies(ctx); err != nil {
			return nil, err
		}
	}
	if !e.hold(p.ID, sku) {
		return nil, nil // gone from the index meanwhile: nothing to serve
	}
	defer e.release(p.ID, sku, 1)
	if err := e.refreshStock(ctx, p.ID, sku); err != nil {
		return nil, err
	}
	return e.servePasses(ctx, p, sku)
}

// hold marks a pass serving the waiting list of a pharmacy (see
// book.held); false when the engine does not know the pharmacy.
func (e *Engine) hold(pharmacyID string, sku hub.SKU) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.pharmIdx[pharmacyID]
	if !ok {
		return false
	}
	b := e.books[sku]
	b.held[i]++
	b.holding++
	return true
}

// release ends n holds of a pharmacy and wakes the reservations waiting
// for them.
func (e *Engine) release(pharmacyID string, sku hub.SKU, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.wake()
	i, ok := e.pharmIdx[pharmacyID]
	if !ok {
		return
	}
	b := e.books[sku]
	n = min(n, b.held[i])
	b.held[i] -= n
	b.holding -= n
}

// serveHeld serves the waiting list of a pharmacy from stock that came
// back to it (move left it held holds times), then ends the holds. The
// stock is already back: a failure here is logged, not returned, and
// leaves the units open to new reservations.
func (e *Engine) serveHeld(ctx context.Context, pharmacyID string, sku hub.SKU, holds int) {
	defer e.release(pharmacyID, sku, holds)
	ctx = context.WithoutCancel(ctx) // the return is done; its line is served whoever asked
	p, err := e.store.Pharmacy(ctx, pharmacyID)
	if err == nil {
		_, err = e.servePasses(ctx, p, sku)
	}
	if err != nil {
		e.log.Error("dispatch: serve the waiting list from returned stock", "pharmacy", pharmacyID, "sku", sku, "err", err)
	}
}

// maxServePasses bounds the times one hold reads the waiting list.
const maxServePasses = 4

// servePasses serves the waiting list of held pharmacy p: it reads the
// line and serves it (serveLine); then, while stock is left and new
// reservations found nothing and are being written WAITING (they decided
// before the hold), it waits for those writes and serves the line again,
// so that they too are served in order rather than left waiting beside
// stock.
func (e *Engine) servePasses(ctx context.Context, p *hub.Pharmacy, sku hub.SKU) ([]*hub.Allocation, error) {
	var out []*hub.Allocation
	for pass := 1; ; pass++ {
		line, err := e.waitingLine(ctx, p, sku)
		if err != nil {
			return out, err
		}
		as, err := e.serveLine(ctx, p.ID, sku, line)
		out = append(out, as...)
		if err != nil || pass >= maxServePasses {
			return out, err
		}
		for waits := 0; ; waits++ {
			e.mu.Lock()
			i, ok := e.pharmIdx[p.ID]
			b := e.books[sku]
			left := ok && b.stock[i] > 0
			pending := b.waitingWrites > 0
			var ch chan struct{}
			if left && pending && waits < maxSettleWaits {
				ch = e.settledChan()
			}
			e.mu.Unlock()
			if !left || waits == 0 && !pending {
				return out, nil
			}
			if ch == nil {
				break // the writes are done: read the line again
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
	}
}

// waitingLine returns the waiting list in reach of pharmacy p, in the
// order ServeWaiting serves it.
func (e *Engine) waitingLine(ctx context.Context, p *hub.Pharmacy, sku hub.SKU) ([]*waiter, error) {
	var line []*waiter
	shs, err := e.store.Shortages(ctx, hub.ShortageFilter{SKU: sku, Status: hub.ShortageWaiting})
	if err != nil {
		return nil, err
	}
	for _, sh := range shs {
		if inReach(sh.Cell, p.Cell, e.defaultMaxK) {
			line = append(line, &waiter{sh: sh})
		}
	}
	now := e.now()
	rounds, err := e.store.Rounds(ctx, "")
	if err != nil {
		return nil, err
	}
	var arrived []*waiter
	for _, r := range rounds {
		drawn := r.Mode == hub.Lottery && r.Status == hub.RoundDrawn
		live := r.Mode != hub.Lottery && r.Status == hub.RoundOpen && !now.Before(r.Opens) && now.Before(r.Closes)
		if r.SKU != sku || !live && !drawn {
			continue
		}
		if err := e.noteRound(ctx, r); err != nil {
			return nil, err
		}
		resvs, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, Status: hub.ReservationWaiting})
		if err != nil {
			return nil, err
		}
		if drawn && len(resvs) > 1 {
			// Winners wait in draw order. A draw that cannot be
			// rebuilt (a round not drawn by an engine) leaves ID order.
			if pd, err := e.publishedDraw(ctx, r); err == nil {
				place := make(map[string]int, len(pd.Winners))
				for j, w := range pd.Winners {
					place[w] = j
				}
				slices.SortStableFunc(resvs, func(a, b *hub.Reservation) int { return place[a.EntryHash] - place[b.EntryHash] })
			} else if ctx.Err() != nil {
				return nil, err
			}
		}
		for _, rv := range resvs {
			if !inReach(rv.Cell, p.Cell, r.MaxK) {
				continue
			}
			if drawn {
				line = append(line, &waiter{resv: rv, round: r})
			} else {
				arrived = append(arrived, &waiter{resv: rv, round: r})
			}
		}
	}
	// The open rounds' reservations wait in one line, in arrival (ID)
	// order, whichever round they are in.
	slices.SortStableFunc(arrived, func(a, b *waiter) int { return cmp.Compare(a.resv.ID, b.resv.ID) })
	return append(line, arrived...), nil
}

// serveLine serves a waiting line from one pharmacy. It plans a batch
// under mu and writes it in one store call; when the store refuses a
// batch (the stock or a waiter moved meanwhile) it goes on one waiter at
// a time, skipping those served or cancelled elsewhere and stopping when
// the store has no stock left.
func (e *Engine) serveLine(ctx context.Context, pharmacyID string, sku hub.SKU, line []*waiter) ([]*hub.Allocation, error) {
	var out []*hub.Allocation
	at := func() (int, bool) {
		i, ok := e.pharmIdx[pharmacyID]
		return i, ok
	}
	next, single := 0, false
	for next < len(line) && !single {
		var as []*hub.Allocation
		var cs []claim
		stop := false
		start := next
		e.mu.Lock()
		i, ok := at()
		for ; ok && next < len(line) && len(as) < storeBatch; next++ {
			c, partner, took, halt := e.claimAt(i, sku, line[next])
			if halt {
				stop = true
				break
			}
			if took {
				as = append(as, e.allocationOf(line[next], c, partner))
				cs = append(cs, c)
			}
		}
		e.mu.Unlock()
		if !ok {
			return out, nil
		}
		if len(as) > 0 {
			err := e.store.Allocate(ctx, as...)
			e.settle(err == nil, cs...)
			if err != nil {
				if _, app := err.(*hub.Error); !app || ctx.Err() != nil {
					return out, err
				}
				next, single = start, true
				break
			}
			out = append(out, as...)
		}
		if stop {
			return out, nil
		}
	}
	for ; single && next < len(line); next++ {
		w := line[next]
		for try := 1; ; try++ {
			e.mu.Lock()
			i, ok := at()
			var c claim
			var partner string
			var took, halt bool
			if ok {
				c, partner, took, halt = e.claimAt(i, sku, w)
			}
			e.mu.Unlock()
			if !ok || halt {
				return out, nil
			}
			if !took {
				break
			}
			a := e.allocationOf(w, c, partner)
			err := e.store.Allocate(ctx, a)
			e.settle(err == nil, c)
			if err == nil {
				out = append(out, a)
				break
			}
			switch hub.ErrorCode(err) {
			case hub.ECONFLICT: // served or cancelled elsewhere
			case hub.EOUTOFSTOCK:
				if w.resv != nil && e.guardRefused(err, w.round, c) {
					break // its slot or quota counted full: the next waiter
				}
				if err := e.refreshStock(ctx, pharmacyID, sku); err != nil {
					return out, err
				}
				if try < 2 {
					continue
				}
				return out, nil
			default:
				return out, err
			}
			break
		}
	}
	return out, nil
}
