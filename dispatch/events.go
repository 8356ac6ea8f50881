package dispatch

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// eventStore is the engine's store when it has somewhere to publish: every
// allocation made or moved, and the stock it takes or gives back, becomes a
// domain event once the store has made it durable.
type eventStore struct {
	hub.Store
	events hub.Publisher
}

// Allocate implements hub.DispatchStore.
func (s eventStore) Allocate(ctx context.Context, as ...*hub.Allocation) error {
	if err := s.Store.Allocate(ctx, as...); err != nil {
		return err
	}
	for _, a := range as {
		s.publish(ctx, hub.EventAllocationCreated, *a, "", -a.Quantity, "ALLOCATE", a.CreatedAt)
	}
	return nil
}

// TransitionAllocation implements hub.DispatchStore.
func (s eventStore) TransitionAllocation(ctx context.Context, id string, from []hub.AllocationStatus, to hub.AllocationStatus, at time.Time) (*hub.Allocation, error) {
	var was hub.AllocationStatus
	if len(from) == 1 {
		was = from[0]
	} else if a, err := s.Store.Allocation(ctx, id); err == nil {
		was = a.Status
	}
	a, err := s.Store.TransitionAllocation(ctx, id, from, to, at)
	if err != nil {
		return nil, err
	}
	kind, delta := hub.EventAllocationUpdated, 0
	if to == hub.AllocationExpired {
		kind = hub.EventAllocationExpired
	}
	if to.Returns() {
		delta = a.Quantity
	}
	s.publish(ctx, kind, *a, was, delta, "RETURN", at)
	return a, nil
}

// publish sends the allocation's event and, when stock moved, the stock
// change. Publishing never blocks; a closed bus drops events.
func (s eventStore) publish(ctx context.Context, kind hub.EventKind, a hub.Allocation, from hub.AllocationStatus, delta int, reason string, at time.Time) {
	p, err := s.Store.Pharmacy(ctx, a.PharmacyID)
	if err != nil {
		return
	}
	_, _ = s.events.Publish(ctx, hub.Event{
		Kind: kind, At: at, Cells: []hub.Cell{a.Cell}, DistrictID: p.DistrictID, PartnerID: a.PartnerID,
		PharmacyID: a.PharmacyID, SKU: a.SKU, Payload: hub.AllocationPayload{Allocation: a, From: from},
	})
	if delta != 0 {
		e := hub.StockEntry{After: p.Stock[a.SKU], StockChange: hub.StockChange{PharmacyID: p.ID, SKU: a.SKU, Delta: delta, Reason: reason, At: at}}
		_, _ = s.events.Publish(ctx, hub.StockChangedEvent(p, e))
	}
}
