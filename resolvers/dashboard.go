package resolvers

import (
	"context"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/stats"
)

// outline draws a district's outline from its cells. It is computed once
// per version of the district (its UpdatedAt) and kept.
func (r *Resolver) outline(_ context.Context, d *hub.District) ([][]*hub.Point, error) {
	type key struct {
		id string
		at int64
	}
	k := key{d.ID, d.UpdatedAt.UnixNano()}
	if v, ok := r.outlines.Load(k); ok {
		return v.([][]*hub.Point), nil
	}
	if len(d.Cells) == 0 {
		return [][]*hub.Point{}, nil
	}
	loops, err := grid.Outline(d.Cells)
	if err != nil {
		return nil, err
	}
	out := make([][]*hub.Point, len(loops))
	for i, l := range loops {
		out[i] = points(l)
	}
	r.outlines.Store(k, out)
	return out, nil
}

func (r *Resolver) cellStats(d *hub.District, resolution int, sku *hub.SKU, active bool) ([]*stats.CellStats, error) {
	cs, err := r.Stats.CellStats(d, stats.Query{Resolution: resolution, SKU: deref(sku), Active: active})
	return pointers(cs), err
}

func (r *Resolver) totals(d *hub.District, sku *hub.SKU) (*stats.CellStats, error) {
	s, err := r.Stats.Totals(d, deref(sku))
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (r *Resolver) series(d *hub.District, hours int, sku *hub.SKU) ([]*stats.Point, error) {
	if hours < 1 || hours > stats.MaxHours {
		return nil, hub.Errorf(hub.EINVALID, "hours %d is outside [1, %d]", hours, stats.MaxHours)
	}
	ps, err := r.Stats.Series(d, hours, deref(sku))
	return pointers(ps), err
}

func stockOf(s *stats.CellStats) []*model.StockLevel {
	out := make([]*model.StockLevel, len(s.Stock))
	for i, l := range s.Stock {
		out[i] = &model.StockLevel{Sku: l.SKU, Quantity: l.Quantity}
	}
	return out
}

// districtUpdates follows every event touching the district's cells and
// sends the new aggregates of the cells (at the resolution asked for)
// each one changed, one value per cell in cell order. The district is
// read once, when the subscription starts. Its events come from
// broker.StreamEach: an idle subscription holds no goroutine, and
// subscribers that see the same thing may share one execution
// (SharedSubscriptions).
func (r *Resolver) districtUpdates(ctx context.Context, districtID string, resolution int, sku *hub.SKU) (<-chan *stats.CellStats, error) {
	d, err := r.City.Store().District(ctx, districtID)
	if err != nil {
		return nil, err
	}
	q := stats.Query{Resolution: resolution, SKU: deref(sku)}
	if _, err := r.Stats.Changed(d, hub.Event{}, q); err != nil {
		return nil, err // a bad resolution or supply, before subscribing
	}
	return broker.StreamEach(ctx, r.Bus, broker.Filter{Kinds: stats.Kinds(), Cells: d.Cells}, func(dl broker.Delivery) []*stats.CellStats {
		cs, err := r.Stats.Updates(d, *dl.Event, q)
		if err != nil {
			return nil // q was checked above: nothing to send
		}
		return pointers(cs)
	})
}
