package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/gridhub/gridhub/hub"
)

// This file keeps the engine's book following the writes it did not make
// itself: other hubs' allocations and returns, restocks, sales and
// corrections, pharmacies added or moved.
//
// The book is the one view of the hub that its own writes update as they
// are made, not from their events: it counts units in flight (assigned,
// write not answered), which no event can tell. So the engine publishes
// its events with Source set to its own ID and, fed the bus's events
// (Apply), skips its own and follows the rest. It follows them by
// rereading the store, not by adding deltas: a pharmacy added or moved
// marks the pharmacies stale, a stock change another made marks that
// pharmacy's stock of the SKU stale, and the next reservation rereads
// what is stale before it matches (catchUp). A reread is idempotent, so
// an event delivered twice does no harm, and several events between two
// reservations cost one reread.
//
// The partner index holds no units in flight: fed by the bus, it follows
// PARTNER_UPSERTED of every engine, its own too.
//
// The places taken in pickup slots and the units of committees' quotas
// (engine_slots.go, noteQuotas) follow other engines' allocations by
// deltas, since another engine's allocation is never one of this
// engine's claims in flight: ALLOCATION_CREATED of a pickup in a slot
// counts its place taken, and of a COMMITTEE round its units in the
// committee the event names (AllocationPayload.CommitteeID); a move from
// a status that held them to one that returns stock (cancelled, expired,
// failed) gives them back, and then the pharmacy's waiting list is
// served from the place freed, as after a return on this engine
// (ServeWaiting), so the line moves whichever hub freed it. A round the
// engine has not counted yet is left alone: its first count reads the
// store. Deltas cannot tell an event already in that first count (an
// allocation made while it read) nor one delivered twice; the store's
// guards hold the limits whatever the counts say (engine_guards.go), and
// a count wrong by such an event at most makes one reservation wait or
// be refused by the store and then matched on.

// newEngineID returns an engine's ID, the Source of its events.
func newEngineID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "eng_" + hex.EncodeToString(b[:])
}

// ID returns the engine's ID: the Source of the events it publishes.
func (e *Engine) ID() string { return e.id }

// sourced stamps the engine's ID on every event it publishes.
type sourced struct {
	id   string
	next hub.Publisher
}

// Publish implements hub.Publisher.
func (s sourced) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	ev.Source = s.id
	return s.next.Publish(ctx, ev)
}

type stockKey struct {
	pharmacyID string
	sku        hub.SKU
}

// Apply notes what an event of another source changed in the store, and
// applies partners' areas (see above). It implements broker.View: it is
// quick, reads nothing and publishes nothing.
func (e *Engine) Apply(_ context.Context, ev hub.Event) {
	if p, ok := ev.Payload.(hub.PartnerPayload); ok {
		// The partner index follows every engine's upserts, its own
		// included (FedByBus), by replacing the partner's cells: applying
		// one twice changes nothing.
		if e.fedByBus {
			e.mu.Lock()
			e.indexPartner(p.PartnerID, p.Cells)
			e.mu.Unlock()
		}
		return
	}
	if ev.Source == e.id {
		return
	}
	switch p := ev.Payload.(type) {
	case hub.AllocationPayload:
		if e.followAllocation(ev.Kind, p) {
			e.serveFreed(p.Allocation.PharmacyID, p.Allocation.SKU)
		}
	case hub.PharmacyPayload:
		e.stale.Lock()
		e.pharmStale = true
		e.stale.Unlock()
	case hub.StockChangedPayload:
		e.stale.Lock()
		if e.stockStale == nil {
			e.stockStale = map[stockKey]struct{}{}
		}
		e.stockStale[stockKey{p.PharmacyID, p.SKU}] = struct{}{}
		e.stale.Unlock()
	}
}

// catchUp rereads what Apply marked stale.
func (e *Engine) catchUp(ctx context.Context) error {
	e.stale.Lock()
	pharm, stock := e.pharmStale, e.stockStale
	e.pharmStale, e.stockStale = false, nil
	e.stale.Unlock()
	if pharm {
		// Rereads every pharmacy and its stock.
		if err := e.refreshPharmacies(ctx); err != nil {
			e.markPharmaciesStale()
			return err
		}
		return nil
	}
	for k := range stock {
		if err := e.refreshStock(ctx, k.pharmacyID, k.sku); err != nil {
			e.stale.Lock()
			if e.stockStale == nil {
				e.stockStale = map[stockKey]struct{}{}
			}
			for k := range stock {
				e.stockStale[k] = struct{}{}
			}
			e.stale.Unlock()
			return err
		}
	}
	return nil
}

func (e *Engine) markPharmaciesStale() {
	e.stale.Lock()
	e.pharmStale = true
	e.stale.Unlock()
}

// holdsPlace reports whether an allocation in status s holds its pickup
// slot place; holdsUnits whether it holds (or was handed) its units.
func holdsPlace(s hub.AllocationStatus) bool {
	return s == hub.AllocationReserved || s == hub.AllocationRedeemed
}

func holdsUnits(s hub.AllocationStatus) bool { return s != "" && !s.Returns() }

// followAllocation counts, in the rounds the engine counts, the slot
// place and the quota units another engine's allocation took or gave
// back (see the top of this file). It reports whether something was
// given back.
func (e *Engine) followAllocation(kind hub.EventKind, p hub.AllocationPayload) bool {
	a := p.Allocation
	if a.RoundID == "" {
		return false
	}
	var took, freed bool
	switch kind {
	case hub.EventAllocationCreated:
		took = true
	case hub.EventAllocationUpdated, hub.EventAllocationExpired:
		freed = a.Status.Returns() && holdsUnits(p.From)
	}
	if !took && !freed {
		return false
	}
	slotted := a.PartnerID == "" && !a.Slot.IsZero()
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := false
	if used := e.slotUsed[a.RoundID]; used != nil && slotted {
		switch {
		case took && holdsPlace(a.Status):
			e.takePlace(a.RoundID, a.SKU, a.PharmacyID, a.Slot)
		case freed && holdsPlace(p.From):
			e.releasePlace(a.RoundID, a.SKU, a.PharmacyID, a.Slot)
			changed = true
		}
	}
	if used := e.quotaUsed[a.RoundID]; used != nil && p.CommitteeID != "" {
		switch {
		case took && holdsUnits(a.Status):
			used[p.CommitteeID] += a.Quantity
		case freed:
			used[p.CommitteeID] = max(used[p.CommitteeID]-a.Quantity, 0)
			changed = true
		}
	}
	return changed
}

// serveFreed serves, in the background, the waiting list of a pharmacy
// where another engine freed a slot place or quota units, as a return on
// this engine does. The engine owns the goroutine: Close waits for it.
func (e *Engine) serveFreed(pharmacyID string, sku hub.SKU) {
	if e.begin() != nil {
		return
	}
	go func() {
		defer e.end()
		if _, err := e.ServeWaiting(context.Background(), pharmacyID, sku); err != nil && !errors.Is(err, ErrEngineClosed) {
			e.log.Error("dispatch: serve the waiting list from a place freed by another hub", "pharmacy", pharmacyID, "sku", sku, "err", err)
		}
	}()
}
