package dispatch_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// pharmacyReads counts the engine's reads of one pharmacy.
type pharmacyReads struct {
	hub.Store
	n atomic.Int64
}

func (s *pharmacyReads) Pharmacy(ctx context.Context, id string) (*hub.Pharmacy, error) {
	s.n.Add(1)
	return s.Store.Pharmacy(ctx, id)
}

// TestStockEventsFromTheWrite: every reservation that takes stock
// publishes its ALLOCATION_CREATED and STOCK_CHANGED with the district
// and cell of the pharmacy as the write found it, without reading the
// pharmacy again, also right after the pharmacy moved to another district
// behind the engine's back (as another hub would move it); the
// allocation in the payload carries none of what the write reported.
func TestStockEventsFromTheWrite(t *testing.T) {
	log := &eventLog{}
	c := newCity(t, dispatch.EngineOptions{Events: log})
	reads := &pharmacyReads{}
	c.wrap = func(s hub.Store) hub.Store { reads.Store = s; return reads }
	c.restart()
	c.areas()
	const pharmacies = 4
	put := func(i int, district string) *hub.Pharmacy {
		p := &hub.Pharmacy{ID: fmt.Sprintf("P%d", i), Name: "Pharmacy", Cell: c.rs[0][0], DistrictID: district,
			Stock: map[hub.SKU]int{hub.MaskAdult: 100}, UpdatedAt: t0}
		if i > 0 {
			p.Cell = c.rs[1][i]
		}
		if err := c.store.UpsertPharmacies(c.ctx(), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored := map[string]*hub.Pharmacy{}
	for i := range pharmacies {
		p := put(i, fmt.Sprintf("d%d", i+1))
		stored[p.ID] = p
	}
	if err := c.eng.RefreshPharmacies(c.ctx()); err != nil {
		t.Fatal(err)
	}
	c.round(dispatch.RoundInput{ID: "fc", SKU: hub.MaskAdult, PerPerson: 1})
	log.take()
	check := func(step string, n int) {
		t.Helper()
		evs := log.take(hub.EventAllocationCreated, hub.EventStockChanged)
		if len(evs) != 2*n {
			t.Fatalf("%s: %d events for %d reservations, want 2 each", step, len(evs), n)
		}
		for _, ev := range evs {
			p := stored[ev.PharmacyID]
			if p == nil || ev.DistrictID != p.DistrictID {
				t.Fatalf("%s: %s of %s in district %q, the pharmacy is in %+v", step, ev.Kind, ev.PharmacyID, ev.DistrictID, p)
			}
			switch pl := ev.Payload.(type) {
			case hub.StockChangedPayload:
				if len(ev.Cells) != 1 || ev.Cells[0] != p.Cell || pl.Delta != -1 || pl.PharmacyID != p.ID {
					t.Fatalf("%s: STOCK_CHANGED %+v, the pharmacy is %+v", step, ev, p)
				}
			case hub.AllocationPayload:
				if pl.Allocation.Step != nil {
					t.Fatalf("%s: the event's allocation carries what the write reported: %+v", step, pl.Allocation)
				}
			default:
				t.Fatalf("%s: %s with payload %T", step, ev.Kind, ev.Payload)
			}
		}
		if got := reads.n.Load(); got != 0 {
			t.Fatalf("%s: the engine read a pharmacy %d times", step, got)
		}
	}
	next := 0
	reserve := func(n int) {
		for range n {
			r := c.resident(fmt.Sprintf("r%03d", next), c.rs[1][next%6], "", "d1")
			if out := c.reserve("fc", r); out.Allocation == nil {
				t.Fatalf("resident %d: no allocation: %+v", next, out)
			}
			next++
		}
	}
	reserve(20)
	check("at first", 20)
	for step := range 3 {
		for i := range pharmacies {
			p := put(i, fmt.Sprintf("moved%d-%d", step, i))
			p.Stock = nil
			stored[p.ID].DistrictID = p.DistrictID
		}
		reserve(10)
		check(fmt.Sprintf("moved %d", step), 10)
	}
}
