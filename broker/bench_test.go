package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Sizes of the benchmark city.
const (
	benchCityK = 81     // a disk of 81 rings: 19,927 base cells, about 210 km²
	benchSubs  = 50_000 // committee subscriptions, each a disk of 1 ring (7 cells)
)

// benchCity is a city to benchmark in: its cells and the restock alert
// filters of its committees, each a random 7-cell area.
type benchCity struct {
	cells   []hub.Cell
	filters []Filter
}

// newBenchCity builds the city around Taipei 101, the same for every run.
func newBenchCity(tb testing.TB) *benchCity {
	center, err := grid.CellAt(hub.Point{Lat: 25.0340, Lng: 121.5645}, grid.BaseResolution)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := grid.Disk(center, benchCityK)
	if err != nil {
		tb.Fatal(err)
	}
	c := &benchCity{cells: cs, filters: make([]Filter, benchSubs)}
	r := rand.New(rand.NewPCG(2020, 6))
	for i := range c.filters {
		area, err := grid.Disk(cs[r.IntN(len(cs))], 1)
		if err != nil {
			tb.Fatal(err)
		}
		c.filters[i] = Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: area, SKU: hub.MaskAdult}
	}
	return c
}

// events returns n events of the kind at random places of the city, each
// touching the disk of k rings around its place: restocks of adult masks
// at pharmacies, or others without a payload.
func (c *benchCity) events(tb testing.TB, n, k int, kind hub.EventKind) []hub.Event {
	r := rand.New(rand.NewPCG(uint64(k), 14))
	out := make([]hub.Event, n)
	for i := range out {
		at := c.cells[r.IntN(len(c.cells))]
		rings, err := grid.Rings(at, k)
		if err != nil {
			tb.Fatal(err)
		}
		var disk []hub.Cell
		for _, ring := range rings {
			disk = append(disk, ring...)
		}
		slices.Sort(disk)
		if kind != hub.EventRestock {
			out[i] = hub.Event{Kind: kind, Cells: disk}
			continue
		}
		id := fmt.Sprintf("P%05d", i)
		out[i] = hub.Event{
			Kind: hub.EventRestock, PharmacyID: id, SKU: hub.MaskAdult, Cells: disk,
			Payload: hub.RestockPayload{
				StockEntry: hub.StockEntry{After: 200, StockChange: hub.StockChange{PharmacyID: id, SKU: hub.MaskAdult, Delta: 200, Reason: "RESTOCK"}},
				Cell:       at, Rings: rings,
			},
		}
	}
	return out
}

// matching returns, for each event, the indexes of the filters that
// select it, by the oracle.
func (c *benchCity) matching(events []hub.Event) [][]int {
	byCell := make(map[hub.Cell][]int)
	for i, f := range c.filters {
		for _, cell := range f.Cells {
			byCell[cell] = append(byCell[cell], i)
		}
	}
	out := make([][]int, len(events))
	for j := range events {
		e := &events[j]
		var cand []int
		for _, cell := range e.Cells {
			cand = append(cand, byCell[cell]...)
		}
		slices.Sort(cand)
		for _, i := range slices.Compact(cand) {
			if oracle(c.filters[i], e) {
				out[j] = append(out[j], i)
			}
		}
	}
	return out
}

// take receives the one event each of subs[i], i in idx, must hold.
func take(tb testing.TB, subs []*Subscription, idx []int, seq uint64) {
	for _, i := range idx {
		select {
		case d := <-subs[i].ch:
			if d.Event.Seq != seq {
				tb.Fatalf("subscription %d got seq %d, want %d", i, d.Event.Seq, seq)
			}
		default:
			tb.Fatalf("subscription %d got nothing for seq %d", i, seq)
		}
	}
}

// BenchmarkPublish publishes events to 50,000 committee subscriptions to
// restocks (7 cells each, among 19,927 cells) through the indexed broker
// and through the naive one that checks every subscription's filter, in
// the same loop so that both see the same machine. ns/op is the indexed
// broker's. The subscribers keep up: the benchmark takes each delivery
// between publishes, untimed. The naive broker's pass over its own 50,000
// subscriptions leaves the indexed broker's memory cold, as a city's would
// be between two restocks.
//
// restock/k=2 and k=3 touch the 19 and 37 cells of the pharmacy's disk;
// fever-scan/k=2 touches 19 cells that no subscription wants that kind
// for, so it measures the index walk alone.
func BenchmarkPublish(b *testing.B) {
	city := newBenchCity(b)
	tests := []struct {
		kind hub.EventKind
		k    int
	}{{hub.EventRestock, 2}, {hub.EventRestock, 3}, {hub.EventFeverScan, 2}}
	indexed, naive := New(Options{}), newNaive(0)
	defer indexed.Close()
	defer naive.Close()
	isubs := make([]*Subscription, len(city.filters))
	nsubs := make([]*Subscription, len(city.filters))
	for i, f := range city.filters {
		isubs[i] = mustSubscribe(b, indexed, f)
		nsubs[i] = mustSubscribe(b, naive, f)
	}
	for _, tt := range tests {
		name := strings.ToLower(strings.ReplaceAll(tt.kind.String(), "_", "-"))
		b.Run(fmt.Sprintf("%s/k=%d", name, tt.k), func(b *testing.B) {
			events := city.events(b, 512, tt.k, tt.kind)
			want := city.matching(events)
			runtime.GC()
			ctx := context.Background()
			delivered0 := indexed.Stats().Delivered
			var tIndexed, tNaive time.Duration
			n, delivered := 0, 0
			for b.Loop() {
				j := n % len(events)
				t0 := time.Now()
				seq, err := indexed.Publish(ctx, events[j])
				t1 := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				take(b, isubs, want[j], seq)
				t2 := time.Now()
				seq, err = naive.Publish(ctx, events[j])
				t3 := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				take(b, nsubs, want[j], seq)
				tIndexed += t1.Sub(t0)
				tNaive += t3.Sub(t2)
				delivered += len(want[j])
				n++
			}
			if got := indexed.Stats().Delivered - delivered0; got != uint64(delivered) {
				b.Fatalf("indexed broker delivered %d, the oracle says %d", got, delivered)
			}
			b.ReportMetric(float64(tIndexed.Nanoseconds())/float64(n), "ns/op")
			b.ReportMetric(float64(tNaive.Nanoseconds())/float64(n), "naive-ns/op")
			b.ReportMetric(float64(tNaive)/float64(tIndexed), "x_faster_than_naive")
			b.ReportMetric(float64(delivered)/float64(n), "deliveries/op")
			b.ReportMetric(float64(len(events[0].Cells)), "cells/event")
		})
	}
}

// BenchmarkPublishBacklogged publishes the same restocks to the same
// subscriptions when no consumer reads: every queue overflows, each
// publish drops the oldest event of every subscription it reaches. It
// shows that slow subscribers do not slow the publisher down.
func BenchmarkPublishBacklogged(b *testing.B) {
	city := newBenchCity(b)
	events := city.events(b, 512, 2, hub.EventRestock)
	br := New(Options{})
	defer br.Close()
	for _, f := range city.filters {
		mustSubscribe(b, br, f)
	}
	// Fill the queues first, so that the loop measures the steady state.
	ctx := context.Background()
	for i := range 64 * len(events) {
		if _, err := br.Publish(ctx, events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	before := br.Stats()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Publish(ctx, events[n%len(events)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	st := br.Stats()
	b.ReportMetric(float64(st.Delivered-before.Delivered)/float64(n), "deliveries/op")
	b.ReportMetric(float64(st.Dropped-before.Dropped)/float64(n), "dropped/op")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

// BenchmarkIdleSubscription reports the heap bytes and goroutines per idle
// subscription: 50,000 committee subscriptions of 7 cells, each with its
// own cancellable context. The goal is well under 20 KiB each, queue
// included. ns/op is the time to make all 50,000.
func BenchmarkIdleSubscription(b *testing.B) {
	city := newBenchCity(b)
	var bytes, goroutines float64
	for b.Loop() {
		bytes, goroutines = idleSubscriptions(b, city.filters, false)
	}
	b.ReportMetric(bytes, "B/sub")
	b.ReportMetric(goroutines, "goroutines/sub")
}

// BenchmarkSubscribe subscribes and closes a filter of n cells in a
// broker that already holds the city's 50,000 subscriptions: the time the
// broker's lock is held to file and unfile it.
func BenchmarkSubscribe(b *testing.B) {
	city := newBenchCity(b)
	br := New(Options{})
	defer br.Close()
	for _, f := range city.filters {
		mustSubscribe(b, br, f)
	}
	for _, n := range []int{7, 1000, 10_000} {
		b.Run(fmt.Sprintf("cells=%d", n), func(b *testing.B) {
			f := Filter{Kinds: []hub.EventKind{hub.EventRiskAreaMarked}, Cells: city.cells[:n]}
			b.ReportAllocs()
			for b.Loop() {
				s, err := br.Subscribe(context.Background(), f)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cell")
		})
	}
}

// BenchmarkStreamFanOut publishes restocks (k=2) to the city's 50,000
// committee subscriptions and waits until every matching subscriber has
// its converted value, two ways in the same loop: Stream, where the
// forwarder that a delivery starts converts it, and the baseline it
// replaced, a Subscription with a goroutine of its own per subscriber
// that converts what C delivers (only the matching subscribers get that
// goroutine here; a hub has one for each). ns/op is Stream's, from the
// publish to the last value received.
func BenchmarkStreamFanOut(b *testing.B) {
	type value struct{ seq uint64 }
	convert := func(d Delivery) (value, bool) { return value{d.Event.Seq}, true }
	city := newBenchCity(b)
	events := city.events(b, 512, 2, hub.EventRestock)
	want := city.matching(events)
	matching := map[int]bool{}
	for _, idx := range want {
		for _, i := range idx {
			matching[i] = true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamed, goroutined := New(Options{}), New(Options{})
	defer streamed.Close()
	defer goroutined.Close()
	streams := make([]<-chan value, len(city.filters))
	baseline := make([]<-chan value, len(city.filters))
	for i, f := range city.filters {
		ch, err := Stream(ctx, streamed, f, convert)
		if err != nil {
			b.Fatal(err)
		}
		streams[i] = ch
		s := mustSubscribe(b, goroutined, f)
		if !matching[i] {
			continue
		}
		out := make(chan value, 1)
		go func() {
			defer close(out)
			for d := range s.C() {
				v, _ := convert(d)
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}()
		baseline[i] = out
	}
	receive := func(chans []<-chan value, idx []int, seq uint64) {
		for _, i := range idx {
			if v := <-chans[i]; v.seq != seq {
				b.Fatalf("subscriber %d got seq %d, want %d", i, v.seq, seq)
			}
		}
	}
	runtime.GC()
	var tStream, tBaseline, tPublish time.Duration
	n, delivered := 0, 0
	for b.Loop() {
		j := n % len(events)
		t0 := time.Now()
		seq, err := streamed.Publish(ctx, events[j])
		t1 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		receive(streams, want[j], seq)
		t2 := time.Now()
		seq, err = goroutined.Publish(ctx, events[j])
		if err != nil {
			b.Fatal(err)
		}
		receive(baseline, want[j], seq)
		t3 := time.Now()
		tPublish += t1.Sub(t0)
		tStream += t2.Sub(t0)
		tBaseline += t3.Sub(t2)
		delivered += len(want[j])
		n++
	}
	b.ReportMetric(float64(tStream.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(tPublish.Nanoseconds())/float64(n), "publish-ns/op")
	b.ReportMetric(float64(tBaseline.Nanoseconds())/float64(n), "goroutine-per-sub-ns/op")
	b.ReportMetric(float64(tBaseline)/float64(tStream), "x_baseline_time")
	b.ReportMetric(float64(delivered)/float64(n), "deliveries/op")
}
