package city_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// fakeWaiting is a waiting list of quantities served in order from the
// store's stock, as dispatch serves it: the first that does not fit stops
// the line. fail, when set, is returned after the first allocation.
type fakeWaiting struct {
	store hub.Store
	line  []int
	fail  error
}

func (w *fakeWaiting) ServeWaiting(ctx context.Context, pharmacyID string, sku hub.SKU) ([]*hub.Allocation, error) {
	var out []*hub.Allocation
	for len(w.line) > 0 {
		q := w.line[0]
		if _, err := w.store.AdjustStock(ctx, hub.StockChange{PharmacyID: pharmacyID, SKU: sku, Delta: -q, Reason: "ALLOCATE", At: epoch}); err != nil {
			break
		}
		w.line = w.line[1:]
		out = append(out, &hub.Allocation{PharmacyID: pharmacyID, SKU: sku, Quantity: q})
		if w.fail != nil {
			return out, w.fail
		}
	}
	return out, nil
}

// TestRestockServing: the result and the one RESTOCK event say what was
// delivered, what the waiting list took and what is left; the delivery's
// STOCK_CHANGED comes first; a failing waiting list leaves the restock
// standing and told.
func TestRestockServing(t *testing.T) {
	tests := []struct {
		name    string
		initial int
		give    int
		line    []int
		fail    error
		took    int
		served  int
	}{
		{"takes all", 0, 6, []int{2, 3, 1}, nil, 6, 3},
		{"takes part", 0, 10, []int{2, 1}, nil, 3, 2},
		{"takes none", 4, 5, nil, nil, 0, 0},
		{"larger than the restock", 0, 5, []int{2, 2, 2, 2}, nil, 4, 2},
		{"stock on hand before", 3, 1, []int{4}, nil, 4, 1},
		{"fails midway", 0, 5, []int{2, 2}, errors.New("store gone"), 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			rec := &saleRecorder{}
			svc, err := city.New(ctx, e.store, e.hasher, city.Options{Now: e.clock.Now, Events: rec})
			if err != nil {
				t.Fatal(err)
			}
			must[[]*hub.Pharmacy](t)(svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "藥局", Location: taipei101, Stock: map[hub.SKU]int{hub.MaskAdult: tt.initial}}))
			rec.take()
			r, err := svc.RestockServing(ctx, "p1", hub.MaskAdult, tt.give, &fakeWaiting{store: e.store, line: tt.line, fail: tt.fail})
			if (err != nil) != (tt.fail != nil) || r == nil {
				t.Fatalf("err %v, result %+v", err, r)
			}
			left := tt.initial + tt.give - tt.took
			if r.Quantity != tt.give || r.ToWaitingList != tt.took || r.Served != tt.served || r.LeftForWalkIns != left ||
				r.StockAfterRestock != tt.initial+tt.give || r.Pharmacy.Stock[hub.MaskAdult] != left {
				t.Fatalf("result %+v, want %d delivered, %d taken by %d, %d left", r, tt.give, tt.took, tt.served, left)
			}
			if got := svc.LastRestock(r.Pharmacy); got != r {
				t.Fatalf("LastRestock %+v, want the restock's own", got)
			}
			evs := rec.take()
			if len(evs) != 2 || evs[0].Kind != hub.EventStockChanged || evs[1].Kind != hub.EventRestock {
				t.Fatalf("events %+v, want STOCK_CHANGED then RESTOCK", evs)
			}
			if sc := evs[0].Payload.(hub.StockChangedPayload); sc.Delta != tt.give || sc.After != tt.initial+tt.give || sc.Reason != "RESTOCK" {
				t.Fatalf("the delivery's step %+v", sc)
			}
			p := evs[1].Payload.(hub.RestockPayload)
			if p.Delta != tt.give || p.After != tt.initial+tt.give || p.ToWaitingList != tt.took || p.Served != tt.served || p.LeftForWalkIns != left {
				t.Fatalf("RESTOCK %+v", p)
			}
		})
	}
}

// TestConcurrentRestockAnswers: each of many concurrent restocks of one
// pharmacy finds its own outcome through its answer.
func TestConcurrentRestockAnswers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "藥局", Location: taipei101}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.RestockServing(ctx, "p1", hub.MaskAdult, 1+i, nil)
			if err != nil {
				errs <- err
				return
			}
			if got := e.svc.LastRestock(r.Pharmacy); got == nil || got.Quantity != 1+i {
				errs <- fmt.Errorf("restock of %d: LastRestock says %+v", 1+i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
