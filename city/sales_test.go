package city_test

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// saleRecorder is a hub.Publisher that keeps what it is given.
type saleRecorder struct {
	mu     sync.Mutex
	events []hub.Event
}

func (r *saleRecorder) Publish(_ context.Context, ev hub.Event) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return uint64(len(r.events)), nil
}

func (r *saleRecorder) take() []hub.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func TestSell(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	rec := &saleRecorder{}
	svc, err := city.New(ctx, e.store, e.hasher, city.Options{Now: e.clock.Now, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	must[[]*hub.Pharmacy](t)(svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "藥局", Location: taipei101, Stock: map[hub.SKU]int{hub.MaskAdult: 10}}))
	if evs := rec.take(); len(evs) != 1 || evs[0].Kind != hub.EventPharmacyUpserted {
		t.Fatalf("the upsert published %+v, want one PHARMACY_UPSERTED", evs)
	}

	tests := []struct {
		name string
		id   string
		sku  hub.SKU
		q    int
		want string
	}{
		{"negative", "p1", hub.MaskAdult, -5, hub.EINVALID},
		{"zero", "p1", hub.MaskAdult, 0, hub.EINVALID},
		{"above MaxRestock", "p1", hub.MaskAdult, city.MaxRestock + 1, hub.EINVALID},
		{"huge", "p1", hub.MaskAdult, math.MaxInt, hub.EINVALID},
		{"most negative", "p1", hub.MaskAdult, math.MinInt, hub.EINVALID},
		{"unknown supply", "p1", "ASPIRIN", 5, hub.EINVALID},
		{"unknown pharmacy", "nope", hub.MaskAdult, 5, hub.ENOTFOUND},
		{"more than the stock", "p1", hub.MaskAdult, 11, hub.EOUTOFSTOCK},
		{"none in stock", "p1", hub.MaskChild, 1, hub.EOUTOFSTOCK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := svc.Sell(ctx, tt.id, tt.sku, tt.q)
			wantCode(t, err, tt.want)
			if p != nil {
				t.Errorf("got a pharmacy with an error: %+v", p)
			}
		})
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Errorf("refused sales published %d events: %+v", len(evs), evs)
	}
	if ledger, _ := e.store.StockLedger(ctx, "p1", 0, 0); slices.ContainsFunc(ledger, func(en hub.StockEntry) bool { return en.Reason == city.ReasonSale }) {
		t.Errorf("a refused sale reached the ledger: %+v", ledger)
	}

	at := e.clock.Advance(time.Minute)
	p, err := svc.Sell(ctx, "p1", hub.MaskAdult, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stock[hub.MaskAdult] != 6 {
		t.Errorf("after selling 4 of 10: %v", p.Stock)
	}
	evs := rec.take()
	if len(evs) != 1 || evs[0].Kind != hub.EventStockChanged {
		t.Fatalf("a sale published %+v, want one STOCK_CHANGED", evs)
	}
	ev := evs[0]
	want := hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -4, Reason: city.ReasonSale, At: at}
	if pl, ok := ev.Payload.(hub.StockChangedPayload); !ok || pl.StockChange != want || pl.After != 6 {
		t.Errorf("payload %+v, want %+v after 6", ev.Payload, want)
	}
	if ev.PharmacyID != "p1" || ev.SKU != hub.MaskAdult || ev.DistrictID != "xinyi" || !slices.Equal(ev.Cells, []hub.Cell{m.xinyiCenter}) {
		t.Errorf("routing keys %+v", ev)
	}
	ledger := must[[]hub.StockEntry](t)(e.store.StockLedger(ctx, "p1", 0, 0))
	if last := ledger[len(ledger)-1]; last.Reason != city.ReasonSale || last.Delta != -4 || last.After != 6 {
		t.Errorf("last ledger entry %+v", last)
	}

	// Selling the rest takes the pharmacy out of the SKU filter, which
	// reads stock from the store.
	must[*hub.Pharmacy](t)(svc.Sell(ctx, "p1", hub.MaskAdult, 6))
	if ms, err := svc.PharmaciesNear(ctx, taipei101, 1, hub.MaskAdult); err != nil || len(ms) != 0 {
		t.Errorf("sold out, still found: %v, %v", matchIDs(ms), err)
	}
}
