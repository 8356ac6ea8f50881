package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"

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
