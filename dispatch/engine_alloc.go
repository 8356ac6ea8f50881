package dispatch

import (
	"context"
	"slices"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Redeem hands out the allocation of a pickup code at a pharmacy: RESERVED
// becomes REDEEMED, once. The code is parsed as people type it (EINVALID
// if it is not a code); an unknown code is ENOTFOUND; another pharmacy's
// code is EFORBIDDEN; a code used, cancelled or of a delivery is
// ECONFLICT. A code past its expiry is expired on the spot (its stock
// returns) and is ECONFLICT saying so.
func (e *Engine) Redeem(ctx context.Context, pharmacyID, code string) (*hub.Allocation, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	c, err := ParsePickupCode(code)
	if err != nil {
		return nil, err
	}
	a, err := e.store.AllocationByCode(ctx, e.codeHash(c))
	if err != nil {
		return nil, err
	}
	if a.PharmacyID != pharmacyID {
		return nil, hub.Errorf(hub.EFORBIDDEN, "that pickup code is for another pharmacy")
	}
	now := e.now()
	if a.Status == hub.AllocationReserved && !a.ExpiresAt.IsZero() && a.ExpiresAt.Before(now) {
		if _, err := e.transition(ctx, a, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired); err == nil {
			return nil, hub.Errorf(hub.ECONFLICT, "that pickup code expired at %s; its stock went back on the shelf", a.ExpiresAt.Format(time.RFC3339))
		} else if hub.ErrorCode(err) != hub.ECONFLICT {
			return nil, err
		}
		if a, err = e.store.Allocation(ctx, a.ID); err != nil { // it moved meanwhile
			return nil, err
		}
	}
	if a.Status == hub.AllocationReserved {
		out, err := e.store.TransitionAllocation(ctx, a.ID, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, now)
		if hub.ErrorCode(err) != hub.ECONFLICT {
			return out, err
		}
		if a, err = e.store.Allocation(ctx, a.ID); err != nil { // it moved meanwhile
			return nil, err
		}
	}
	return nil, usedCode(a)
}

// usedCode is the ECONFLICT error of a code whose allocation is not
// RESERVED.
func usedCode(a *hub.Allocation) error {
	switch a.Status {
	case hub.AllocationRedeemed:
		return hub.Errorf(hub.ECONFLICT, "that pickup code was already redeemed at %s", a.UpdatedAt.Format(time.RFC3339))
	case hub.AllocationExpired:
		return hub.Errorf(hub.ECONFLICT, "that pickup code expired at %s; its stock went back on the shelf", a.ExpiresAt.Format(time.RFC3339))
	case hub.AllocationCancelled:
		return hub.Errorf(hub.ECONFLICT, "that pickup code was cancelled")
	case hub.AllocationDelivering, hub.AllocationDelivered, hub.AllocationFailed:
		return hub.Errorf(hub.ECONFLICT, "that code is of a delivery (%s), not a pickup", a.Status)
	}
	return hub.Errorf(hub.ECONFLICT, "that pickup code is %s", a.Status)
}

// MarkDelivery records a partner's delivery of an allocation: DELIVERING
// becomes DELIVERED, or FAILED, which returns the stock. An unknown
// allocation is ENOTFOUND, another partner's EFORBIDDEN, one not
// DELIVERING ECONFLICT.
func (e *Engine) MarkDelivery(ctx context.Context, partnerID, allocationID string, delivered bool) (*hub.Allocation, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	a, err := e.store.Allocation(ctx, allocationID)
	if err != nil {
		return nil, err
	}
	if a.PartnerID == "" || a.PartnerID != partnerID {
		return nil, hub.Errorf(hub.EFORBIDDEN, "allocation %q is not a delivery of partner %q", a.ID, partnerID)
	}
	if a.Status != hub.AllocationDelivering {
		return nil, hub.Errorf(hub.ECONFLICT, "allocation %q is %s, not DELIVERING", a.ID, a.Status)
	}
	to := hub.AllocationDelivered
	if !delivered {
		to = hub.AllocationFailed
	}
	return e.transition(ctx, a, []hub.AllocationStatus{hub.AllocationDelivering}, to)
}

// ExpireDue runs one sweep: RESERVED allocations whose ExpiresAt is before
// now become EXPIRED, their stock back at the pharmacy and in the
// matchers. The stock that came back serves each pharmacy's waiting list
// first, in order, as a restock does (ServeWaiting), once per pharmacy
// and SKU after each batch. It returns how many it expired. The sweeper
// calls it every EngineOptions.ExpiryEvery.
func (e *Engine) ExpireDue(ctx context.Context) (int, error) {
	if err := e.begin(); err != nil {
		return 0, err
	}
	defer e.end()
	now := e.now()
	n := 0
	for {
		as, err := e.store.ExpiringAllocations(ctx, now, expiryBatch)
		if err != nil {
			return n, err
		}
		moved := 0
		var held []heldAt
		for _, a := range as {
			_, h, err := e.move(ctx, a, []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired)
			if h {
				held = addHeld(held, a.PharmacyID, a.SKU)
			}
			switch hub.ErrorCode(err) {
			case "":
				moved++
			case hub.ECONFLICT: // redeemed or cancelled meanwhile
			default:
				e.serveAllHeld(ctx, held)
				return n + moved, err
			}
		}
		e.serveAllHeld(ctx, held)
		n += moved
		if len(as) < expiryBatch || moved == 0 {
			return n, nil
		}
	}
}

// heldAt is a pharmacy and SKU left held by returns, and how many times.
type heldAt struct {
	pharmacyID string
	sku        hub.SKU
	holds      int
}

func addHeld(hs []heldAt, pharmacyID string, sku hub.SKU) []heldAt {
	for i := range hs {
		if hs[i].pharmacyID == pharmacyID && hs[i].sku == sku {
			hs[i].holds++
			return hs
		}
	}
	return append(hs, heldAt{pharmacyID: pharmacyID, sku: sku, holds: 1})
}

// serveAllHeld serves the waiting lists of held pharmacies, in the order
// they were first held.
func (e *Engine) serveAllHeld(ctx context.Context, hs []heldAt) {
	for _, h := range hs {
		e.serveHeld(ctx, h.pharmacyID, h.sku, h.holds)
	}
}

// maxPartnerName bounds a partner's name.
const maxPartnerName = 200

// UpsertPartner creates or replaces a logistics partner and its service
// area, given as base-resolution cells (grid.Normalize: sorted, repeats
// dropped). Deliveries to a cell go to the partner covering it, the lowest
// ID when several do. Bad input is EINVALID.
func (e *Engine) UpsertPartner(ctx context.Context, id, name string, cells []hub.Cell) (*hub.Partner, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	if err := checkRef("partner id", id, true); err != nil {
		return nil, err
	}
	if err := checkName("partner name", name, maxPartnerName); err != nil {
		return nil, err
	}
	cs, err := grid.Normalize(cells, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, hub.Errorf(hub.EINVALID, "partner %q: the service area holds no cells", id)
	}
	p := &hub.Partner{ID: id, Name: name, Cells: cs, UpdatedAt: e.now()}
	e.partnerMu.Lock()
	defer e.partnerMu.Unlock()
	if err := e.store.UpsertPartners(ctx, p); err != nil {
		return nil, err
	}
	if e.events != nil {
		// Published under partnerMu, in the order of the writes.
		_, _ = e.events.Publish(ctx, hub.Event{Kind: hub.EventPartnerUpserted, At: p.UpdatedAt, PartnerID: p.ID,
			Payload: hub.PartnerPayload{PartnerID: p.ID, Cells: slices.Clone(p.Cells)}})
	}
	if !e.fedByBus {
		e.mu.Lock()
		e.indexPartner(p.ID, p.Cells)
		e.mu.Unlock()
	}
	cp := *p
	cp.Cells = slices.Clone(p.Cells)
	return &cp, nil
}
