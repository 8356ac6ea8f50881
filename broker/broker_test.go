package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Cells for tests: the broker routes by index value and never needs them
// to be places.
const c0 = hub.Cell(0x8928308280fffff)

func cell(i int) hub.Cell { return c0 + hub.Cell(i)<<16 }

func cells(is ...int) []hub.Cell {
	out := make([]hub.Cell, len(is))
	for i, v := range is {
		out[i] = cell(v)
	}
	return out
}

// received returns the seqs of what s has been handed, reading until its
// queue is empty and its forwarder has stopped. Publishing must be over.
func received(t testing.TB, s *Subscription) []Delivery {
	t.Helper()
	var out []Delivery
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case d, ok := <-s.ch:
			if !ok {
				return out
			}
			out = append(out, d)
			continue
		default:
		}
		s.mu.Lock()
		idle := s.q.n == 0 && !s.pumping
		s.mu.Unlock()
		if idle && len(s.ch) == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription still busy after 5s")
		}
		select {
		case d, ok := <-s.ch:
			if !ok {
				return out
			}
			out = append(out, d)
		case <-time.After(100 * time.Microsecond):
		}
	}
}

// waitDrained waits until another goroutine has read everything s was
// handed. Publishing must be over.
func waitDrained(t testing.TB, s *Subscription) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		idle := s.q.n == 0 && !s.pumping
		s.mu.Unlock()
		if idle && len(s.ch) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not catch up in 5s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func seqs(ds []Delivery) []uint64 {
	out := make([]uint64, len(ds))
	for i, d := range ds {
		out[i] = d.Event.Seq
	}
	return out
}

// checkEmpty fails unless b indexes nothing.
func checkEmpty(t testing.TB, b *Broker) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.idx.len(); n != 0 || len(b.subs) != 0 {
		t.Errorf("index holds %d keys and %d subscriptions, want none: %+v", n, len(b.subs), b.idx)
	}
	if n := b.Stats().Subscribers; n != 0 {
		t.Errorf("Stats().Subscribers = %d, want 0", n)
	}
}

// waitGoroutines waits for the number of goroutines to fall to at most
// want.
func waitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func mustSubscribe(t testing.TB, b Bus, f Filter) *Subscription {
	t.Helper()
	s, err := b.Subscribe(t.Context(), f)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", f, err)
	}
	return s
}

func mustPublish(t testing.TB, b Bus, ev hub.Event) uint64 {
	t.Helper()
	seq, err := b.Publish(t.Context(), ev)
	if err != nil {
		t.Fatalf("Publish(%v): %v", ev.Kind, err)
	}
	return seq
}

// routingEvents are published in order, so event i has Seq i+1.
func routingEvents() []hub.Event {
	return []hub.Event{
		{Kind: hub.EventRestock, PharmacyID: "P1", DistrictID: "D1", SKU: hub.MaskAdult, Cells: cells(1, 2, 3)},
		{Kind: hub.EventRestock, PharmacyID: "P2", DistrictID: "D2", SKU: hub.MaskN95, Cells: cells(4, 5)},
		{Kind: hub.EventStockChanged, PharmacyID: "P1", DistrictID: "D1", SKU: hub.MaskAdult},
		{Kind: hub.EventAllocationCreated, PartnerID: "X", PharmacyID: "P1", DistrictID: "D1", SKU: hub.MaskAdult, Cells: cells(2)},
		{Kind: hub.EventRiskAreaMarked, Cells: cells(3, 6), CommitteeIDs: []string{"C1", "C2"}, DistrictID: "D1"},
		{Kind: hub.EventFeverScan, Cells: cells(6), CommitteeIDs: []string{"C2"}, DistrictID: "D2"},
		{Kind: hub.EventColourChanged, Cells: cells(7), CommitteeIDs: []string{"C3"}, DistrictID: "D2"},
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name string
		give Filter
		want []uint64
	}{
		{"everything", Filter{}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"one cell", Filter{Cells: cells(2)}, []uint64{1, 4}},
		{"cells, once each", Filter{Cells: cells(1, 3, 2)}, []uint64{1, 4, 5}},
		{"committee", Filter{CommitteeID: "C2"}, []uint64{5, 6}},
		{"district", Filter{DistrictID: "D1"}, []uint64{1, 3, 4, 5}},
		{"partner", Filter{PartnerID: "X"}, []uint64{4}},
		{"pharmacy", Filter{PharmacyID: "P1"}, []uint64{1, 3, 4}},
		{"kind", Filter{Kinds: []hub.EventKind{hub.EventRestock}}, []uint64{1, 2}},
		{"kinds and sku", Filter{Kinds: []hub.EventKind{hub.EventRestock, hub.EventStockChanged}, SKU: hub.MaskAdult}, []uint64{1, 3}},
		{"sku", Filter{SKU: hub.MaskN95}, []uint64{2}},
		{"cell and kind", Filter{Cells: cells(2), Kinds: []hub.EventKind{hub.EventRestock}}, []uint64{1}},
		{"district, pharmacy and kind", Filter{DistrictID: "D1", PharmacyID: "P1", Kinds: []hub.EventKind{hub.EventStockChanged}}, []uint64{3}},
		{"committee and cell", Filter{CommitteeID: "C2", Cells: cells(6)}, []uint64{5, 6}},
		{"committee and other cell", Filter{CommitteeID: "C1", Cells: cells(6)}, []uint64{5}},
		{"district and cells", Filter{DistrictID: "D2", Cells: cells(5, 6, 7)}, []uint64{2, 6, 7}},
		{"risk alerts", Filter{Cells: cells(3, 6, 7), Kinds: []hub.EventKind{hub.EventRiskAreaMarked, hub.EventFeverScan}}, []uint64{5, 6}},
		{"partner and pharmacy", Filter{PartnerID: "X", PharmacyID: "P2"}, nil},
		{"unknown partner", Filter{PartnerID: "Y"}, nil},
		{"unknown cell", Filter{Cells: cells(8)}, nil},
		{"kind nobody published", Filter{Kinds: []hub.EventKind{hub.EventRiskAreaLifted}}, nil},
	}
	events := routingEvents()
	for _, bus := range []string{"indexed", "naive"} {
		t.Run(bus, func(t *testing.T) {
			var b Bus = New(Options{QueueSize: 100})
			if bus == "naive" {
				b = newNaive(100)
			}
			defer b.Close()
			subs := make([]*Subscription, len(tests))
			for i, tt := range tests {
				subs[i] = mustSubscribe(t, b, tt.give)
			}
			for _, ev := range events {
				mustPublish(t, b, ev)
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var oracleWant []uint64
					for j := range events {
						e := events[j]
						e.Seq = uint64(j + 1)
						if oracle(tt.give, &e) {
							oracleWant = append(oracleWant, e.Seq)
						}
					}
					if !slices.Equal(oracleWant, tt.want) {
						t.Fatalf("test table disagrees with the oracle: want %v, oracle %v", tt.want, oracleWant)
					}
					if got := seqs(received(t, subs[i])); !slices.Equal(got, tt.want) {
						t.Errorf("received %v, want %v", got, tt.want)
					}
				})
			}
		})
	}
}

// TestExactlyOnce publishes events that reach one subscription through
// several of their keys.
func TestExactlyOnce(t *testing.T) {
	tests := []struct {
		name string
		give Filter
		ev   hub.Event
	}{
		{"every cell of the area", Filter{Cells: cells(1, 2, 3)}, hub.Event{Kind: hub.EventRestock, Cells: cells(3, 2, 1, 9)}},
		{"a cell listed twice", Filter{Cells: cells(1)}, hub.Event{Kind: hub.EventRestock, Cells: cells(1, 1)}},
		{"a committee listed twice", Filter{CommitteeID: "C1"}, hub.Event{Kind: hub.EventRiskAreaMarked, CommitteeIDs: []string{"C1", "C1"}}},
		{"committee and cells", Filter{CommitteeID: "C1", Cells: cells(1, 2)}, hub.Event{Kind: hub.EventRiskAreaMarked, CommitteeIDs: []string{"C1"}, Cells: cells(1, 2)}},
		{"every key", Filter{Cells: cells(1, 2), DistrictID: "D", PharmacyID: "P", PartnerID: "X", Kinds: []hub.EventKind{hub.EventAllocationCreated}},
			hub.Event{Kind: hub.EventAllocationCreated, Cells: cells(1, 2), DistrictID: "D", PharmacyID: "P", PartnerID: "X", CommitteeIDs: []string{"C1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Options{})
			defer b.Close()
			s := mustSubscribe(t, b, tt.give)
			all := mustSubscribe(t, b, Filter{})
			mustPublish(t, b, tt.ev)
			mustPublish(t, b, tt.ev)
			if got := seqs(received(t, s)); !slices.Equal(got, []uint64{1, 2}) {
				t.Errorf("received %v, want [1 2]", got)
			}
			if got := seqs(received(t, all)); !slices.Equal(got, []uint64{1, 2}) {
				t.Errorf("catch-all received %v, want [1 2]", got)
			}
			if st := b.Stats(); st.Published != 2 || st.Delivered != 4 || st.Dropped != 0 {
				t.Errorf("Stats() = %+v, want 2 published, 4 delivered", st)
			}
		})
	}
}

// randomFilter and randomEvent draw from small key sets so that matches
// are common.
func randomFilter(r *rand.Rand) Filter {
	var f Filter
	if r.IntN(3) == 0 {
		for range 1 + r.IntN(3) {
			f.Kinds = append(f.Kinds, hub.EventKinds()[r.IntN(len(hub.EventKinds()))])
		}
	}
	if r.IntN(2) == 0 {
		for range 1 + r.IntN(7) {
			f.Cells = append(f.Cells, cell(r.IntN(40)))
		}
	}
	pick := func(p int, ids ...string) string {
		if r.IntN(p) == 0 {
			return ids[r.IntN(len(ids))]
		}
		return ""
	}
	f.CommitteeID = pick(4, "C1", "C2", "C3", "C4")
	f.DistrictID = pick(4, "D1", "D2")
	f.PartnerID = pick(6, "X1", "X2", "X3")
	f.PharmacyID = pick(6, "P1", "P2", "P3", "P4")
	f.SKU = hub.SKU(pick(4, string(hub.MaskAdult), string(hub.MaskN95)))
	return f
}

func randomEvent(r *rand.Rand) hub.Event {
	ks := hub.EventKinds()
	e := hub.Event{Kind: ks[r.IntN(len(ks))]}
	for range r.IntN(10) {
		e.Cells = append(e.Cells, cell(r.IntN(40)))
	}
	for range r.IntN(3) {
		e.CommitteeIDs = append(e.CommitteeIDs, []string{"C1", "C2", "C3", "C4"}[r.IntN(4)])
	}
	maybe := func(ids ...string) string {
		if r.IntN(3) == 0 {
			return ""
		}
		return ids[r.IntN(len(ids))]
	}
	e.DistrictID = maybe("D1", "D2")
	e.PartnerID = maybe("X1", "X2", "X3")
	e.PharmacyID = maybe("P1", "P2", "P3", "P4")
	e.SKU = hub.SKU(maybe(string(hub.MaskAdult), string(hub.MaskN95)))
	return e
}

// TestAgreesWithOracle routes random events to random filters through both
// brokers and checks that each subscription gets exactly the events the
// oracle selects, each once, in order.
func TestAgreesWithOracle(t *testing.T) {
	const nsubs, nevents = 400, 600
	r := rand.New(rand.NewPCG(6, 2020))
	filters := make([]Filter, nsubs)
	for i := range filters {
		filters[i] = randomFilter(r)
	}
	events := make([]hub.Event, nevents)
	for i := range events {
		events[i] = randomEvent(r)
	}
	for _, bus := range []string{"indexed", "naive"} {
		t.Run(bus, func(t *testing.T) {
			var b Bus = New(Options{QueueSize: nevents + 2})
			if bus == "naive" {
				b = newNaive(nevents + 2)
			}
			defer b.Close()
			subs := make([]*Subscription, nsubs)
			for i, f := range filters {
				subs[i] = mustSubscribe(t, b, f)
			}
			for _, ev := range events {
				mustPublish(t, b, ev)
			}
			total := 0
			for i, f := range filters {
				var want []uint64
				for j := range events {
					e := events[j]
					if oracle(f, &e) {
						want = append(want, uint64(j+1))
					}
				}
				total += len(want)
				got := received(t, subs[i])
				if !slices.Equal(seqs(got), want) {
					t.Fatalf("filter %+v:\nreceived %v\nwant     %v", f, seqs(got), want)
				}
				for _, d := range got {
					if d.Gap != 0 {
						t.Fatalf("filter %+v: gap %d with a queue larger than the events", f, d.Gap)
					}
				}
			}
			if total < nsubs {
				t.Fatalf("only %d deliveries: the random keys rarely match, the test proves little", total)
			}
		})
	}
}

// waitHanded waits until s's forwarder holds an event, its queue being
// empty and its channel full.
func waitHanded(t *testing.T, s *Subscription) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		ok := s.q.n == 0 && s.pumping
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the forwarder did not take the event")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestOverflowDropsOldest fills a slow subscription's queue and checks
// which events it gets and which gap it is told of, while a fast
// subscription to the same events gets them all.
func TestOverflowDropsOldest(t *testing.T) {
	tests := []struct {
		name      string
		queueSize int
		publish   int
		want      []Delivery // Event holds only the Seq
	}{
		{"no overflow", 8, 8, []Delivery{{Event: &hub.Event{Seq: 1}}, {Event: &hub.Event{Seq: 2}}, {Event: &hub.Event{Seq: 3}},
			{Event: &hub.Event{Seq: 4}}, {Event: &hub.Event{Seq: 5}}, {Event: &hub.Event{Seq: 6}}, {Event: &hub.Event{Seq: 7}}, {Event: &hub.Event{Seq: 8}}}},
		{"one dropped", 8, 9, []Delivery{{Event: &hub.Event{Seq: 1}}, {Event: &hub.Event{Seq: 2}},
			{Event: &hub.Event{Seq: 4}, Gap: 1, GapFirst: 3, GapLast: 3},
			{Event: &hub.Event{Seq: 5}}, {Event: &hub.Event{Seq: 6}}, {Event: &hub.Event{Seq: 7}}, {Event: &hub.Event{Seq: 8}}, {Event: &hub.Event{Seq: 9}}}},
		{"many dropped", 8, 100, []Delivery{{Event: &hub.Event{Seq: 1}}, {Event: &hub.Event{Seq: 2}},
			{Event: &hub.Event{Seq: 95}, Gap: 92, GapFirst: 3, GapLast: 94},
			{Event: &hub.Event{Seq: 96}}, {Event: &hub.Event{Seq: 97}}, {Event: &hub.Event{Seq: 98}}, {Event: &hub.Event{Seq: 99}}, {Event: &hub.Event{Seq: 100}}}},
		{"smallest queue", MinQueueSize, 10, []Delivery{{Event: &hub.Event{Seq: 1}}, {Event: &hub.Event{Seq: 2}},
			{Event: &hub.Event{Seq: 10}, Gap: 7, GapFirst: 3, GapLast: 9}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Options{QueueSize: tt.queueSize})
			defer b.Close()
			f := Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: cells(1)}
			slow := mustSubscribe(t, b, f)
			fast := mustSubscribe(t, b, f)
			ev := hub.Event{Kind: hub.EventRestock, Cells: cells(1, 2)}
			for i := range tt.publish {
				seq := mustPublish(t, b, ev)
				if i == 1 {
					// Event 1 sits in the channel; let the forwarder
					// take event 2 so that what follows is exact.
					waitHanded(t, slow)
				}
				select {
				case d := <-fast.C():
					if d.Event.Seq != seq || d.Gap != 0 {
						t.Fatalf("fast subscriber got seq %d gap %d, want seq %d gap 0", d.Event.Seq, d.Gap, seq)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("fast subscriber got nothing for seq %d", seq)
				}
			}
			got := received(t, slow)
			if len(got) != len(tt.want) {
				t.Fatalf("slow subscriber got %d deliveries %v, want %d", len(got), seqs(got), len(tt.want))
			}
			dropped := 0
			for i, d := range got {
				w := tt.want[i]
				if d.Event.Seq != w.Event.Seq || d.Gap != w.Gap || d.GapFirst != w.GapFirst || d.GapLast != w.GapLast {
					t.Errorf("delivery %d: seq %d gap %d [%d, %d], want seq %d gap %d [%d, %d]",
						i, d.Event.Seq, d.Gap, d.GapFirst, d.GapLast, w.Event.Seq, w.Gap, w.GapFirst, w.GapLast)
				}
				dropped += d.Gap
			}
			if st := b.Stats(); st.Dropped != uint64(dropped) {
				t.Errorf("Stats().Dropped = %d, the gaps add up to %d", st.Dropped, dropped)
			}
		})
	}
}

// TestOverflowAccounting lets a slow consumer race the publisher and
// checks the stream it sees: in order, newest event kept, and every event
// either received or inside exactly one reported gap.
func TestOverflowAccounting(t *testing.T) {
	const queueSize, publish = 16, 5000
	b := New(Options{QueueSize: queueSize})
	defer b.Close()
	s := mustSubscribe(t, b, Filter{})
	var got []Delivery
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range s.C() {
			got = append(got, d)
			if len(got)%7 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for range publish {
		mustPublish(t, b, hub.Event{Kind: hub.EventStockChanged})
	}
	waitDrained(t, s)
	s.Close()
	<-done
	next, dropped := uint64(1), 0
	for _, d := range got {
		if d.Gap > 0 {
			if d.GapFirst != next || d.GapLast != d.Event.Seq-1 || int(d.GapLast-d.GapFirst+1) != d.Gap {
				t.Fatalf("at seq %d: gap %d [%d, %d], expected the gap to start at %d and end just before", d.Event.Seq, d.Gap, d.GapFirst, d.GapLast, next)
			}
			dropped += d.Gap
			next += uint64(d.Gap)
		}
		if d.Event.Seq != next {
			t.Fatalf("got seq %d, want %d", d.Event.Seq, next)
		}
		next++
	}
	if next != publish+1 {
		t.Fatalf("stream ends before seq %d, want %d", next, publish+1)
	}
	if st := b.Stats(); st.Dropped != uint64(dropped) || st.Delivered != publish {
		t.Errorf("Stats() = %+v, want %d delivered and %d dropped", st, publish, dropped)
	}
	t.Logf("%d received, %d dropped in %d gaps", len(got), dropped, countGaps(got))
}

func countGaps(ds []Delivery) int {
	n := 0
	for _, d := range ds {
		if d.Gap > 0 {
			n++
		}
	}
	return n
}

// backlog subscribes to everything and publishes n events it does not
// read, so that its forwarder runs.
func backlog(t *testing.T, b *Broker, ctx context.Context, n int) *Subscription {
	t.Helper()
	s, err := b.Subscribe(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	}
	s.mu.Lock()
	pumping := s.pumping
	s.mu.Unlock()
	if !pumping {
		t.Fatal("no forwarder for a backlog")
	}
	return s
}

func TestCloseUnsubscribes(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{QueueSize: 4})
	defer b.Close()
	area := mustSubscribe(t, b, Filter{Cells: cells(1, 2, 3), CommitteeID: "C1"})
	kinds := mustSubscribe(t, b, Filter{Kinds: []hub.EventKind{hub.EventRestock, hub.EventFeverScan}})
	s := backlog(t, b, t.Context(), 10)
	if runtime.NumGoroutine() <= base {
		t.Fatal("expected a forwarder goroutine")
	}
	for _, s := range []*Subscription{area, kinds, s} {
		s.Close()
		s.Close() // again: nothing
		if s.Err() != nil {
			t.Errorf("Err() = %v after Close, want nil", s.Err())
		}
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
	n := 0
	for range s.C() {
		n++
	}
	if n > 1 {
		t.Errorf("%d events left in the channel after Close, want at most 1", n)
	}
	s.mu.Lock()
	if s.q.buf != nil {
		t.Error("queue not freed")
	}
	s.mu.Unlock()
	// Publishing after the subscriptions are gone reaches no one.
	before := b.Stats().Delivered
	mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	if st := b.Stats(); st.Delivered != before {
		t.Errorf("Stats().Delivered = %d, want the %d of before Close", st.Delivered, before)
	}
}

func TestContextEndUnsubscribes(t *testing.T) {
	tests := []struct {
		name string
		give func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			b := New(Options{QueueSize: 4})
			defer b.Close()
			ctx, cancel := tt.give()
			defer cancel()
			idle, err := b.Subscribe(ctx, Filter{Cells: cells(9)})
			if err != nil {
				t.Fatal(err)
			}
			busy := backlog(t, b, ctx, 10)
			if tt.want == context.Canceled {
				cancel()
			}
			for _, s := range []*Subscription{idle, busy} {
				for range s.C() {
				}
				if !errors.Is(s.Err(), tt.want) {
					t.Errorf("Err() = %v, want %v", s.Err(), tt.want)
				}
			}
			waitGoroutines(t, base)
			checkEmpty(t, b)
			if _, err := b.Subscribe(ctx, Filter{}); !errors.Is(err, tt.want) {
				t.Errorf("Subscribe with an ended context: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBrokerClose(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{QueueSize: 4})
	subs := []*Subscription{
		mustSubscribe(t, b, Filter{}),
		mustSubscribe(t, b, Filter{Cells: cells(1, 2)}),
		backlog(t, b, t.Context(), 10),
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		for range s.C() {
		}
		if !errors.Is(s.Err(), ErrClosed) {
			t.Errorf("subscription %d: Err() = %v, want ErrClosed", i, s.Err())
		}
		s.Close() // after the broker: nothing
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
	before := b.Stats()
	if seq, err := b.Publish(t.Context(), hub.Event{Kind: hub.EventRestock}); !errors.Is(err, ErrClosed) || seq != 0 {
		t.Errorf("Publish after Close = %d, %v; want 0, ErrClosed", seq, err)
	}
	if b.Stats() != before {
		t.Errorf("Publish after Close changed the stats: %+v, then %+v", before, b.Stats())
	}
	if _, err := b.Subscribe(t.Context(), Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	filters := []struct {
		name string
		give Filter
	}{
		{"unknown kind", Filter{Kinds: []hub.EventKind{0}}},
		{"kind out of range", Filter{Kinds: []hub.EventKind{200}}},
		{"zero cell", Filter{Cells: []hub.Cell{cell(1), 0}}},
		{"too many cells", Filter{Cells: make([]hub.Cell, MaxFilterCells+1)}},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Subscribe(t.Context(), tt.give)
			if !errors.Is(err, ErrInvalidFilter) || hub.ErrorCode(err) != hub.EINVALID {
				t.Errorf("Subscribe: %v, want an EINVALID ErrInvalidFilter", err)
			}
		})
	}
	events := []struct {
		name string
		give hub.Event
	}{
		{"no kind", hub.Event{}},
		{"unknown kind", hub.Event{Kind: 99}},
		{"payload of another kind", hub.Event{Kind: hub.EventRestock, Payload: hub.FeverScanPayload{}}},
		{"zero cell", hub.Event{Kind: hub.EventFeverScan, Cells: []hub.Cell{0}}},
	}
	for _, tt := range events {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Publish(t.Context(), tt.give); hub.ErrorCode(err) != hub.EINVALID {
				t.Errorf("Publish: %v, want EINVALID", err)
			}
		})
	}
	if st := b.Stats(); st.Published != 0 || st.Subscribers != 0 {
		t.Errorf("Stats() = %+v after invalid calls, want zeros", st)
	}
}

func TestPublishStampsEvent(t *testing.T) {
	at := time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)
	b := New(Options{Now: func() time.Time { return at }})
	defer b.Close()
	s := mustSubscribe(t, b, Filter{})
	given := at.Add(-time.Hour)
	payload := hub.RestockPayload{StockEntry: hub.StockEntry{After: 30, StockChange: hub.StockChange{PharmacyID: "P1", SKU: hub.MaskAdult, Delta: 10}}}
	mustPublish(t, b, hub.Event{Kind: hub.EventRestock, Payload: payload})
	mustPublish(t, b, hub.Event{Kind: hub.EventRestock, At: given, Seq: 999})
	got := received(t, s)
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(got))
	}
	if e := got[0].Event; !e.At.Equal(at) || e.Seq != 1 || e.Payload.(hub.RestockPayload).After != 30 {
		t.Errorf("first event %+v: want At from the clock, Seq 1 and the payload", e)
	}
	if e := got[1].Event; !e.At.Equal(given) || e.Seq != 2 {
		t.Errorf("second event At %v Seq %d: want the given At and Seq 2 (the broker's, not the publisher's)", e.At, e.Seq)
	}
}

type countingMetrics struct {
	published, delivered, dropped, subscribers atomic.Int64
	byKind                                     [16]atomic.Int64
}

func (m *countingMetrics) Published(k hub.EventKind) { m.published.Add(1); m.byKind[k].Add(1) }
func (m *countingMetrics) Delivered(_ hub.EventKind, n int) {
	m.delivered.Add(int64(n))
}
func (m *countingMetrics) Dropped(n int)     { m.dropped.Add(int64(n)) }
func (m *countingMetrics) Subscribers(n int) { m.subscribers.Store(int64(n)) }

func TestMetrics(t *testing.T) {
	m := new(countingMetrics)
	b := New(Options{QueueSize: MinQueueSize, Metrics: m})
	a := mustSubscribe(t, b, Filter{Cells: cells(1)})
	mustSubscribe(t, b, Filter{Cells: cells(1)})
	if m.subscribers.Load() != 2 {
		t.Errorf("subscribers gauge %d, want 2", m.subscribers.Load())
	}
	a.Close()
	if m.subscribers.Load() != 1 {
		t.Errorf("subscribers gauge %d after a Close, want 1", m.subscribers.Load())
	}
	for range 5 {
		mustPublish(t, b, hub.Event{Kind: hub.EventRestock, Cells: cells(1)})
	}
	mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(2)})
	st := b.Stats()
	if m.published.Load() != 6 || m.byKind[hub.EventRestock].Load() != 5 || m.delivered.Load() != 5 ||
		uint64(m.dropped.Load()) != st.Dropped || st.Dropped == 0 || st.Published != 6 || st.Delivered != 5 {
		t.Errorf("metrics published %d (restock %d) delivered %d dropped %d; stats %+v",
			m.published.Load(), m.byKind[hub.EventRestock].Load(), m.delivered.Load(), m.dropped.Load(), st)
	}
	b.Close()
	if m.subscribers.Load() != 0 {
		t.Errorf("subscribers gauge %d after Close, want 0", m.subscribers.Load())
	}
}

// TestStress runs publishers and subscribers that come and go at once,
// for the race detector, and checks what every subscriber sees: events
// its filter selects, in Seq order, gaps that fit.
func TestStress(t *testing.T) {
	publishers, subscribers, perPublisher := 4, 24, 3000
	if testing.Short() {
		perPublisher = 500
	}
	base := runtime.NumGoroutine()
	b := New(Options{QueueSize: 8})
	var pubs, subs sync.WaitGroup
	stop := make(chan struct{})
	var received, sessions atomic.Int64
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for range perPublisher {
				if _, err := b.Publish(context.Background(), randomEvent(r)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range subscribers {
		subs.Add(1)
		go func() {
			defer subs.Done()
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := randomFilter(r)
				ctx, cancel := context.WithCancel(context.Background())
				s, err := b.Subscribe(ctx, f)
				if err != nil {
					cancel()
					t.Error(err)
					return
				}
				sessions.Add(1)
				last, want := uint64(0), r.IntN(50)
				slow := r.IntN(4) == 0
				timeout := time.After(20 * time.Millisecond)
			read:
				for n := 0; n < want; n++ {
					select {
					case d := <-s.C():
						e := d.Event
						if e.Seq <= last || !oracle(f, e) {
							t.Errorf("filter %+v: got seq %d after %d, matching %v", f, e.Seq, last, oracle(f, e))
						}
						if d.Gap > 0 && (d.GapFirst <= last || d.GapLast >= e.Seq || d.GapLast < d.GapFirst) {
							t.Errorf("gap %d [%d, %d] between seqs %d and %d", d.Gap, d.GapFirst, d.GapLast, last, e.Seq)
						}
						last = e.Seq
						received.Add(1)
						if slow {
							time.Sleep(100 * time.Microsecond)
						}
					case <-timeout:
						break read
					}
				}
				if r.IntN(2) == 0 {
					s.Close()
				} else {
					cancel()
					for range s.C() {
					}
				}
				cancel()
			}
		}()
	}
	pubs.Wait()
	close(stop)
	subs.Wait()
	st := b.Stats()
	t.Logf("%d sessions received %d events; stats %+v", sessions.Load(), received.Load(), st)
	if st.Published != uint64(publishers*perPublisher) {
		t.Errorf("published %d, want %d", st.Published, publishers*perPublisher)
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
	b.Close()
}

// TestOrderUnderConcurrentPublishers checks that every subscriber sees
// events in strictly increasing Seq order, and all of them when it keeps
// up.
func TestOrderUnderConcurrentPublishers(t *testing.T) {
	const publishers, per = 8, 500
	b := New(Options{QueueSize: publishers * per})
	defer b.Close()
	subs := []*Subscription{
		mustSubscribe(t, b, Filter{}),
		mustSubscribe(t, b, Filter{Cells: cells(1)}),
		mustSubscribe(t, b, Filter{Kinds: []hub.EventKind{hub.EventRestock}}),
	}
	var wg sync.WaitGroup
	counts := make([]int, len(subs))
	for i, s := range subs {
		wg.Go(func() {
			var last uint64
			for d := range s.C() {
				if d.Event.Seq <= last || d.Gap != 0 {
					t.Errorf("subscription %d: seq %d (gap %d) after %d", i, d.Event.Seq, d.Gap, last)
				}
				last = d.Event.Seq
				counts[i]++
			}
		})
	}
	var pubs sync.WaitGroup
	for range publishers {
		pubs.Go(func() {
			for range per {
				mustPublish(t, b, hub.Event{Kind: hub.EventRestock, Cells: cells(1)})
			}
		})
	}
	pubs.Wait()
	for _, s := range subs {
		waitDrained(t, s)
	}
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
	for i, n := range counts {
		if n != publishers*per {
			t.Errorf("subscription %d got %d events, want %d", i, n, publishers*per)
		}
	}
}

// TestIdleSubscriptionMemory checks the goal of well under 20 KiB per idle
// subscription, queue included, and that it owns no goroutine;
// BenchmarkIdleSubscription reports the figures for 50,000.
func TestIdleSubscriptionMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 0))
	filters := make([]Filter, 10_000)
	for i := range filters {
		base := r.IntN(20_000)
		filters[i] = Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: cells(base, base+1, base+2, base+3, base+4, base+5, base+6)}
	}
	for _, stream := range []bool{false, true} {
		bytes, goroutines := idleSubscriptions(t, filters, stream)
		t.Logf("stream %t: %.0f bytes and %.2f goroutines per idle subscription", stream, bytes, goroutines)
		if bytes > 20*1024 {
			t.Errorf("stream %t: %.0f bytes per idle subscription, goal well under 20 KiB", stream, bytes)
		}
		if goroutines > 0 {
			t.Errorf("stream %t: %.2f goroutines per idle subscription, want none", stream, goroutines)
		}
	}
}

// idleSubscriptions subscribes with each filter (through Stream when
// stream is set), each with its own cancellable context (made beforehand:
// it is the transport's), and returns the heap bytes and the goroutines
// per subscription.
func idleSubscriptions(tb testing.TB, filters []Filter, stream bool) (bytes, goroutines float64) {
	n := len(filters)
	parent, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithCancel(parent)
	}
	b := New(Options{})
	defer b.Close()
	subs := make([]any, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for i := range subs {
		var s any
		var err error
		if stream {
			s, err = Stream(ctxs[i], b, filters[i], func(d Delivery) (*hub.Event, bool) { return d.Event, true })
		} else {
			s, err = b.Subscribe(ctxs[i], filters[i])
		}
		if err != nil {
			tb.Fatal(err)
		}
		subs[i] = s
	}
	g1 := runtime.NumGoroutine()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(subs)
	for _, cancel := range cancels {
		cancel()
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), float64(g1-g0) / float64(n)
}

func TestRing(t *testing.T) {
	var r ring
	d := func(seq uint64) Delivery { return Delivery{Event: &hub.Event{Seq: seq}} }
	for i := range uint64(3) {
		if r.push(d(i+1), 3) {
			t.Fatalf("push %d dropped", i+1)
		}
	}
	if !r.push(d(4), 3) || !r.push(d(5), 3) {
		t.Fatal("push to a full ring did not drop")
	}
	var got []string
	for {
		x, ok := r.pop()
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%d/%d[%d,%d]", x.Event.Seq, x.Gap, x.GapFirst, x.GapLast))
	}
	if want := []string{"3/2[1,2]", "4/0[0,0]", "5/0[0,0]"}; !slices.Equal(got, want) {
		t.Errorf("ring gave %v, want %v", got, want)
	}
	r.push(d(6), 1)
	r.push(d(7), 1)
	if x, _ := r.pop(); x.Event.Seq != 7 || x.Gap != 1 || x.GapFirst != 6 {
		t.Errorf("ring of one gave %+v, want seq 7 with a gap of 1 from 6", x)
	}
}

// TestConcurrentEnds ends subscriptions in every way at once: Close, their
// context, and the broker's Close.
func TestConcurrentEnds(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{QueueSize: 4})
	ctx, cancel := context.WithCancel(context.Background())
	var subs []*Subscription
	for range 50 {
		subs = append(subs, backlog(t, b, ctx, 3))
		subs = append(subs, mustSubscribe(t, b, Filter{Cells: cells(1)}))
	}
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.Close)
	}
	wg.Go(cancel)
	wg.Go(func() { b.Close() })
	wg.Wait()
	for i, s := range subs {
		for range s.C() {
		}
		if err := s.Err(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			t.Errorf("subscription %d: Err() = %v", i, err)
		}
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
}

// TestViews: every view sees every event published once, in Seq order,
// before Publish returns and before any subscription; a removed view sees
// no more, and a closed broker none.
func TestViews(t *testing.T) {
	tests := []struct {
		give     int // events published by each of 8 goroutines
		views    int
		removeAt int // events after which the last view is removed; 0: never
	}{
		{give: 1, views: 1},
		{give: 50, views: 3},
		{give: 200, views: 2, removeAt: 300},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx8/%d", tt.give, tt.views), func(t *testing.T) {
			b := New(Options{})
			type seen struct {
				mu   sync.Mutex
				seqs []uint64
			}
			vs := make([]*seen, tt.views)
			removes := make([]func(), tt.views)
			for i := range vs {
				v := &seen{}
				vs[i] = v
				removes[i] = b.View(ViewFunc(func(_ context.Context, ev hub.Event) {
					v.mu.Lock()
					v.seqs = append(v.seqs, ev.Seq)
					v.mu.Unlock()
				}))
			}
			var published atomic.Int64
			var removed atomic.Uint64 // Seq of the last event before the removal
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < tt.give; i++ {
						seq, err := b.Publish(context.Background(), hub.Event{Kind: hub.EventFeverScan, Cells: []hub.Cell{0x8928308280fffff}})
						if err != nil {
							t.Error(err)
							return
						}
						// Current when Publish returns.
						v := vs[0]
						v.mu.Lock()
						if !slices.Contains(v.seqs, seq) {
							t.Errorf("event %d published, not yet in the view", seq)
						}
						v.mu.Unlock()
						if n := published.Add(1); tt.removeAt > 0 && n == int64(tt.removeAt) {
							removes[tt.views-1]()
							removed.Store(seq)
						}
					}
				}()
			}
			wg.Wait()
			total := uint64(8 * tt.give)
			for i, v := range vs {
				want := total
				if tt.removeAt > 0 && i == tt.views-1 {
					if n := uint64(len(v.seqs)); n < removed.Load() || n > total {
						t.Errorf("removed view %d saw %d events, want from %d to %d", i, n, removed.Load(), total)
					}
					want = uint64(len(v.seqs))
				}
				if uint64(len(v.seqs)) != want {
					t.Fatalf("view %d saw %d events, want %d", i, len(v.seqs), want)
				}
				for j, s := range v.seqs {
					if s != uint64(j+1) {
						t.Fatalf("view %d: event %d has Seq %d, want %d (once each, in order)", i, j, s, j+1)
					}
				}
			}
			b.Close()
			_, _ = b.Publish(context.Background(), hub.Event{Kind: hub.EventFeverScan})
			if n := len(vs[0].seqs); uint64(n) != total {
				t.Errorf("after Close the view saw %d events, want %d", n, total)
			}
		})
	}
}
