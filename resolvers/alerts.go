package resolvers

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
)

// stream subscribes to the bus and turns each delivery into a value for
// the client until the subscription's context ends. An idle subscription
// holds no goroutine: the broker converts a delivery on the short-lived
// forwarder that hands it over (broker.Stream). convert must be quick and
// must not block: what it derives from the event alone (the pharmacy, say)
// it shares with the event's other subscribers through broker.Shared.
func stream[T any](ctx context.Context, bus broker.Bus, f broker.Filter, convert func(ctx context.Context, d broker.Delivery) (*T, bool)) (<-chan *T, error) {
	return broker.Stream(ctx, bus, f, func(d broker.Delivery) (*T, bool) { return convert(ctx, d) })
}

// SharedSubscriptions returns the subscription fields whose subscribers
// may share one execution per event when they see the same thing (the
// WebSocket transport's share key holds the document, the variables and
// the token's role and scope): their output depends on their arguments
// and on the role and scope the policy checks, never on who reads it,
// and their events come from broker.Stream (broker.StreamEach for
// districtUpdates, one value per changed cell). stockChanged,
// restockAlerts (ring depends on the committee and cells, which are
// arguments), riskAlerts, allocationUpdates and districtUpdates (its
// district's cells and the resolution and supply asked for, which are
// arguments; the district is read when the execution starts, as a
// subscriber's own reads it when it subscribes) qualify. unshared are
// the fields, reachable from these through pharmacy { district {
// committees ... } }, whose every read is audited per reader: an
// operation selecting one runs on its own.
func SharedSubscriptions() (fields, unshared []string) {
	return []string{"stockChanged", "restockAlerts", "riskAlerts", "allocationUpdates", "districtUpdates"},
		[]string{"Committee.residents", "Resident.accessLog"}
}

// eventPharmacyKey is the broker.Shared key of an event's pharmacy.
type eventPharmacyKey struct{}

// sharedPharmacy is an event's pharmacy as read once for all its
// subscribers.
type sharedPharmacy struct {
	p   *hub.Pharmacy
	err error
}

// eventPharmacy returns the pharmacy id that d's event names, read from
// the store once per event however many subscribers the event reaches;
// they share it and must not modify it. The read does not end with the
// context of the subscriber that happens to make it.
func (r *Resolver) eventPharmacy(ctx context.Context, d broker.Delivery, id string) (*hub.Pharmacy, bool) {
	sp := broker.Shared(d, eventPharmacyKey{}, func(*hub.Event) sharedPharmacy {
		p, err := r.City.Store().Pharmacy(context.WithoutCancel(ctx), id)
		return sharedPharmacy{p: p, err: err}
	})
	return sp.p, sp.err == nil
}

func (r *Resolver) restockAlerts(ctx context.Context, committeeID string, cells []hub.Cell, sku *hub.SKU) (<-chan *model.RestockAlert, error) {
	c, err := r.City.Store().Committee(ctx, committeeID)
	if err != nil {
		return nil, err
	}
	area := c.Cells
	if len(cells) > 0 {
		for _, cell := range cells {
			if _, ok := slices.BinarySearch(c.Cells, cell); !ok {
				return nil, hub.Errorf(hub.EINVALID, "cell %s is outside committee %s's area", cell, c.Code)
			}
		}
		area = cells
	}
	f := broker.Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: area, SKU: deref(sku)}
	return stream(ctx, r.Bus, f, func(ctx context.Context, d broker.Delivery) (*model.RestockAlert, bool) {
		p, ok := d.Event.Payload.(hub.RestockPayload)
		if !ok {
			return nil, false
		}
		ph, ok := r.eventPharmacy(ctx, d, p.PharmacyID)
		if !ok {
			return nil, false
		}
		ring := -1
		for _, cell := range area {
			if k := p.Ring(cell); k >= 0 && (ring < 0 || k < ring) {
				ring = k
			}
		}
		// stockAfter is what is on hand once the waiting list was
		// served (p.After is the stock right after the delivery alone,
		// which the RESTOCK stockChanged event carries).
		return &model.RestockAlert{
			Seq: int(d.Event.Seq), At: d.Event.At, Pharmacy: ph, Sku: p.SKU, Quantity: p.Delta,
			StockAfter: p.LeftForWalkIns, Ring: ring, WaitingServed: p.Served,
			ToWaitingList: p.ToWaitingList, LeftForWalkIns: p.LeftForWalkIns, Gap: d.Gap,
		}, true
	})
}

// restock adds stock at a pharmacy and serves its waiting list from it
// (city.Service.RestockServing); the answer is the pharmacy as it is after
// both, its lastRestock telling what the waiting list took. When the
// delivery was recorded but serving the waiting list failed, the answer
// still comes, with the failure as an error beside it: the delivery
// stands, and a client must not send it again.
func (r *Resolver) restock(ctx context.Context, pharmacyID string, sku hub.SKU, quantity int) (*hub.Pharmacy, error) {
	res, err := r.City.RestockServing(ctx, pharmacyID, sku, quantity, r.Dispatch)
	if res == nil {
		return nil, err
	}
	if err != nil {
		graphql.AddError(ctx, err)
	}
	return res.Pharmacy, nil
}

// lastRestock is Pharmacy.lastRestock: the restock whose answer p is, else
// the last restock of p this hub learnt of (from any hub), or nil.
func (r *Resolver) lastRestock(p *hub.Pharmacy) *model.RestockOutcome {
	lr := r.City.LastRestock(p)
	if lr == nil {
		return nil
	}
	return &model.RestockOutcome{
		Sku: lr.SKU, Quantity: lr.Quantity, ToWaitingList: lr.ToWaitingList, WaitingServed: lr.Served,
		LeftForWalkIns: lr.LeftForWalkIns, At: lr.At,
	}
}

func (r *Resolver) stockChanged(ctx context.Context, districtID, pharmacyID *string) (<-chan *model.StockChange, error) {
	if districtID == nil && pharmacyID == nil {
		return nil, hub.Errorf(hub.EINVALID, "give a districtId or a pharmacyId")
	}
	if districtID != nil {
		if _, err := r.City.Store().District(ctx, *districtID); err != nil {
			return nil, err
		}
	}
	if pharmacyID != nil {
		if _, err := r.City.Store().Pharmacy(ctx, *pharmacyID); err != nil {
			return nil, err
		}
	}
	f := broker.Filter{Kinds: []hub.EventKind{hub.EventStockChanged}, DistrictID: deref(districtID), PharmacyID: deref(pharmacyID)}
	return stream(ctx, r.Bus, f, func(ctx context.Context, d broker.Delivery) (*model.StockChange, bool) {
		p, ok := d.Event.Payload.(hub.StockChangedPayload)
		if !ok {
			return nil, false
		}
		ph, ok := r.eventPharmacy(ctx, d, p.PharmacyID)
		if !ok {
			return nil, false
		}
		return &model.StockChange{
			Seq: int(d.Event.Seq), At: d.Event.At, Pharmacy: ph, Sku: p.SKU, Delta: p.Delta,
			StockAfter: p.After, Reason: p.Reason, Gap: d.Gap,
		}, true
	})
}

func (r *Resolver) allocationUpdates(ctx context.Context, partnerID string) (<-chan *model.AllocationUpdate, error) {
	if _, err := r.City.Store().Partner(ctx, partnerID); err != nil {
		return nil, err
	}
	f := broker.Filter{
		Kinds:     []hub.EventKind{hub.EventAllocationCreated, hub.EventAllocationUpdated, hub.EventAllocationExpired},
		PartnerID: partnerID,
	}
	return stream(ctx, r.Bus, f, func(ctx context.Context, d broker.Delivery) (*model.AllocationUpdate, bool) {
		p, ok := d.Event.Payload.(hub.AllocationPayload)
		if !ok {
			return nil, false
		}
		a := p.Allocation
		u := &model.AllocationUpdate{Seq: int(d.Event.Seq), At: d.Event.At, Allocation: &a, Gap: d.Gap}
		if p.From != "" {
			from := p.From
			u.From = &from
		}
		return u, true
	})
}

func (r *Resolver) riskAlerts(ctx context.Context, committeeID string) (<-chan *model.RiskAlert, error) {
	c, err := r.City.Store().Committee(ctx, committeeID)
	if err != nil {
		return nil, err
	}
	f := broker.Filter{Kinds: []hub.EventKind{hub.EventFeverScan, hub.EventRiskAreaMarked, hub.EventRiskAreaLifted}, Cells: c.Cells}
	return stream(ctx, r.Bus, f, func(ctx context.Context, d broker.Delivery) (*model.RiskAlert, bool) {
		a := &model.RiskAlert{Seq: int(d.Event.Seq), At: d.Event.At, Kind: d.Event.Kind.String(), Gap: d.Gap}
		switch p := d.Event.Payload.(type) {
		case hub.FeverScanPayload:
			cell, id, temp := p.Cell, p.CheckpointID, p.TemperatureC
			a.Cell, a.CheckpointID, a.Temperature = &cell, &id, &temp
		case hub.RiskAreaPayload:
			cell, k, reason := p.Center, p.K, p.Reason
			a.Cell, a.Rings, a.Reason = &cell, &k, &reason
		default:
			return nil, false
		}
		return a, true
	})
}
