package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// stockSteps returns the STOCK_CHANGED payloads of evs at a pharmacy, in
// the order published.
func stockSteps(evs []hub.Event, pharmacyID string) []hub.StockChangedPayload {
	var out []hub.StockChangedPayload
	for _, ev := range evs {
		if p, ok := ev.Payload.(hub.StockChangedPayload); ok && p.PharmacyID == pharmacyID {
			out = append(out, p)
		}
	}
	return out
}

// TestWaitingListStockSteps serves waiting lists of many shapes after a
// restock: each ALLOCATE STOCK_CHANGED carries the stock after its own
// step, so the sequence recomputes from the stock before and the deltas,
// and equals the ledger's entries one for one.
func TestWaitingListStockSteps(t *testing.T) {
	tests := []struct {
		name    string
		give    []int // quantities wanted, in order of registration
		restock int
		initial int
		want    int // units the waiting list takes
	}{
		{"takes all", []int{2, 3, 1}, 6, 0, 6},
		{"takes part", []int{2, 1}, 10, 0, 3},
		{"takes none", nil, 5, 0, 0},
		{"list larger than the restock", []int{2, 2, 2, 2, 2, 2}, 7, 0, 6},
		{"stock on hand before", []int{1, 1, 1}, 1, 4, 3},
		{"one long line", func() []int {
			q := make([]int, 150) // more than one store batch
			for i := range q {
				q[i] = 1 + i%3
			}
			return q
		}(), 200, 0, 199}, // 33 × (1+2+3) + 1: the next wants 2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &eventLog{}
			c := newCity(t, dispatch.EngineOptions{Events: log})
			home := c.rs[0][0]
			c.pharmacy("P1", home, tt.initial)
			for i, q := range tt.give {
				r := c.resident(fmt.Sprintf("r%03d", i), c.rs[1+i%2][i%6], "", "")
				if _, err := c.eng.RegisterShortage(c.ctx(), r, hub.MaskAdult, q); err != nil {
					t.Fatal(err)
				}
			}
			c.restock("P1", tt.restock)
			log.take(hub.EventShortageRegistered)
			as, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
			if err != nil {
				t.Fatal(err)
			}
			took := 0
			for _, a := range as {
				took += a.Quantity
			}
			if took != tt.want {
				t.Fatalf("waiting list took %d, want %d", took, tt.want)
			}
			steps := stockSteps(log.take(hub.EventStockChanged), "P1")
			if len(steps) != len(as) {
				t.Fatalf("%d STOCK_CHANGED, want %d (one per allocation)", len(steps), len(as))
			}
			stock := tt.initial + tt.restock
			for i, s := range steps {
				stock += s.Delta
				if s.Reason != "ALLOCATE" || s.Delta != -as[i].Quantity || s.After != stock {
					t.Fatalf("step %d: %s %+d after %d, want ALLOCATE %+d after %d", i, s.Reason, s.Delta, s.After, -as[i].Quantity, stock)
				}
			}
			if got := c.stockOf("P1"); got != stock {
				t.Fatalf("store has %d, the steps end at %d", got, stock)
			}
			ledger, err := c.store.StockLedger(c.ctx(), "P1", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var allocs []int
			for _, e := range ledger {
				if e.Reason == "ALLOCATE" {
					allocs = append(allocs, e.After)
				}
			}
			var got []int
			for _, s := range steps {
				got = append(got, s.After)
			}
			if !slices.Equal(got, allocs) {
				t.Fatalf("events say %v, the ledger %v", got, allocs)
			}
		})
	}
}

// TestConcurrentStockSteps reserves at one pharmacy from many goroutines
// and returns some: the STOCK_CHANGED events together carry every ledger
// step's own After, each once, whatever order they arrive in.
func TestConcurrentStockSteps(t *testing.T) {
	log := &eventLog{}
	c := newCity(t, dispatch.EngineOptions{Events: log})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 200)
	c.round(dispatch.RoundInput{ID: "fc"})
	const n = 40
	res := make([]*hub.Resident, n)
	for i := range res {
		res[i] = c.resident(fmt.Sprintf("r%03d", i), c.rs[1+i%2][i%6], "", "")
	}
	log.take()
	var wg sync.WaitGroup
	out := make([]*dispatch.ReserveResult, n)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: res[i]})
			if err != nil {
				t.Error(err)
				return
			}
			out[i] = r
		}()
	}
	wg.Wait()
	for i := 0; i < n; i += 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.eng.CancelReservation(c.ctx(), out[i].Reservation.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	steps := stockSteps(log.take(hub.EventStockChanged), "P1")
	ledger, err := c.store.StockLedger(c.ctx(), "P1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	key := func(reason string, delta, after int) string { return fmt.Sprintf("%s%+d=%d", reason, delta, after) }
	var want, got []string
	for _, e := range ledger {
		if e.Reason == "ALLOCATE" || e.Reason == "RETURN" {
			want = append(want, key(e.Reason, e.Delta, e.After))
		}
	}
	for _, s := range steps {
		got = append(got, key(s.Reason, s.Delta, s.After))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) != n+n/4 || !slices.Equal(got, want) {
		t.Fatalf("events %v\nledger %v", got, want)
	}
}

// nopEvents is a hub.Publisher that drops what it is given.
type nopEvents struct{}

func (nopEvents) Publish(context.Context, hub.Event) (uint64, error) { return 0, nil }

// BenchmarkReserveStockSteps measures what publishing costs reservations
// now that each STOCK_CHANGED carries its own step's stock (the
// allocation's Step.After, set by the store's write): FIRST_COME reservations from 64 goroutines
// with events, against the same without events (no event store at all) in
// the same run.
//
//	go test -run '^$' -bench ReserveStockSteps -benchtime 3000x ./dispatch/
func BenchmarkReserveStockSteps(b *testing.B) {
	run := func(events hub.Publisher) float64 {
		c := newCity(b, dispatch.EngineOptions{Events: events})
		for i := range 20 {
			ring := c.rs[i%4]
			c.pharmacy(fmt.Sprintf("P%02d", i), ring[(i*5)%len(ring)], 2*b.N)
		}
		c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2, Closes: t0.Add(24 * time.Hour)})
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 64 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					ring := c.rs[i%4]
					r := &hub.Resident{ID: fmt.Sprintf("r%07d", i), IDHash: fmt.Sprintf("h%07d", i), Cell: ring[i%len(ring)]}
					if _, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: r}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	with := run(nopEvents{})
	without := run(nil)
	b.ReportMetric(with, "resv/s")
	b.ReportMetric(without, "no_events_resv/s")
	b.ReportMetric(with/without, "ratio")
}
