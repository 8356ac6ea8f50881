package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// TestEnginesFollowTheBus runs two engines over one store, as two hubs,
// fed every event of one shared broker and told nothing else: a pharmacy
// added and restocked by the registry (its events only, no
// RefreshPharmacies), then a burst of reservations on both engines at
// once. Both must match against the pharmacy and its stock as the store
// has it, whoever wrote it: every unit handed out, none twice, and the
// reservations beyond the stock made to wait.
func TestEnginesFollowTheBus(t *testing.T) {
	tests := []struct {
		give      int // units restocked
		residents int
	}{
		{give: 30, residents: 40},
		{give: 64, residents: 32},
		{give: 7, residents: 20},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d for %d", tt.give, tt.residents), func(t *testing.T) {
			bus := broker.New(broker.Options{})
			t.Cleanup(func() { bus.Close() })
			c := newCity(t, dispatch.EngineOptions{Events: bus})
			bus.View(c.eng)
			opts := c.opts
			opts.Events = bus
			b, err := dispatch.NewEngine(context.Background(), c.store, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			bus.View(b)
			if b.ID() == c.eng.ID() {
				t.Fatalf("two engines share the ID %s", b.ID())
			}
			engines := []*dispatch.Engine{c.eng, b}

			// The registry of hub A adds the pharmacy, empty, and restocks it.
			at := c.rs[0][0]
			p := &hub.Pharmacy{ID: "P1", Name: "P1", Cell: at, Stock: map[hub.SKU]int{}, UpdatedAt: t0}
			if err := c.store.UpsertPharmacies(c.ctx(), p); err != nil {
				t.Fatal(err)
			}
			publish(t, bus, hub.Event{Kind: hub.EventPharmacyUpserted, Cells: []hub.Cell{at}, PharmacyID: "P1",
				Payload: hub.PharmacyPayload{PharmacyID: "P1", Cell: at, Created: true}})
			round := c.round(dispatch.RoundInput{PerPerson: 2})
			change := hub.StockChange{PharmacyID: "P1", SKU: hub.MaskAdult, Delta: tt.give, Reason: "RESTOCK", At: t0}
			stored, err := c.store.AdjustStock(c.ctx(), change)
			if err != nil {
				t.Fatal(err)
			}
			publish(t, bus, hub.StockChangedEvent(stored, hub.StockEntry{StockChange: change, After: stored.Stock[hub.MaskAdult]}))

			var wg sync.WaitGroup
			var mu sync.Mutex
			allocated, waiting := 0, 0
			for i := range tt.residents {
				res := c.resident(fmt.Sprintf("r%03d", i), c.rs[i%3][i%len(c.rs[i%3])], "", "")
				wg.Go(func() {
					out, err := engines[i%2].Reserve(c.ctx(), dispatch.ReserveInput{RoundID: round.ID, Resident: res})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case out.Allocation != nil:
						if out.Allocation.PharmacyID != "P1" {
							t.Errorf("allocated at %s", out.Allocation.PharmacyID)
						}
						allocated++
					case out.Reservation.Status == hub.ReservationWaiting:
						waiting++
					}
				})
			}
			wg.Wait()
			want := min(tt.give/2, tt.residents)
			if allocated != want || waiting != tt.residents-want {
				t.Errorf("%d allocated, %d waiting; want %d and %d", allocated, waiting, want, tt.residents-want)
			}
			now, err := c.store.Pharmacy(c.ctx(), "P1")
			if err != nil {
				t.Fatal(err)
			}
			if got := now.Stock[hub.MaskAdult]; got != tt.give-2*allocated {
				t.Errorf("stock %d left, want %d", got, tt.give-2*allocated)
			}
		})
	}
}

func publish(t *testing.T, bus broker.Bus, ev hub.Event) {
	t.Helper()
	if _, err := bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// TestPartnersFollowTheBus: a partner's area written through one engine is
// the area the other matches deliveries with, as soon as the write
// returns; moved through the other, the first follows.
func TestPartnersFollowTheBus(t *testing.T) {
	bus := broker.New(broker.Options{})
	t.Cleanup(func() { bus.Close() })
	c := newCity(t, dispatch.EngineOptions{Events: bus, FedByBus: true})
	bus.View(c.eng)
	opts := c.opts
	opts.Events, opts.FedByBus = bus, true
	b, err := dispatch.NewEngine(context.Background(), c.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	bus.View(b)
	c.pharmacy("P1", c.rs[0][0], 100)
	publish(t, bus, hub.Event{Kind: hub.EventPharmacyUpserted, Cells: []hub.Cell{c.rs[0][0]}, PharmacyID: "P1",
		Payload: hub.PharmacyPayload{PharmacyID: "P1", Cell: c.rs[0][0], Created: true}})
	round := c.round(dispatch.RoundInput{PerPerson: 1, Fulfilments: []hub.Fulfilment{hub.Delivery}})
	near, far := c.rs[1], c.rs[2]
	tests := []struct {
		give   string
		writer *dispatch.Engine
		area   []hub.Cell
	}{
		{"created through A", c.eng, near},
		{"moved through B", b, far},
		{"moved back through A", c.eng, near[:2]},
	}
	n := 0
	for _, tt := range tests {
		if _, err := tt.writer.UpsertPartner(c.ctx(), "courier", "Courier", tt.area); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*dispatch.Engine{c.eng, b} {
			for _, cell := range append(append([]hub.Cell{}, near...), far...) {
				n++
				res := c.resident(fmt.Sprintf("r%04d", n), cell, "", "")
				out, err := e.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: round.ID, Resident: res, Fulfilment: hub.Delivery})
				served := slices.Contains(tt.area, cell)
				switch {
				case served && (err != nil || out.Allocation == nil || out.Allocation.PartnerID != "courier"):
					t.Fatalf("%s: cell %s in the area: %+v, %v; want a delivery by courier", tt.give, cell, out, err)
				case !served && hub.ErrorCode(err) != hub.EINVALID:
					t.Fatalf("%s: cell %s outside the area: %+v, %v; want EINVALID (no partner)", tt.give, cell, out, err)
				}
			}
		}
	}
}
