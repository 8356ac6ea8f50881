package broker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// alert is what the tests' Stream converts a delivery into.
type alert struct {
	seq uint64
	gap int
}

func toAlert(d Delivery) (alert, bool) { return alert{seq: d.Event.Seq, gap: d.Gap}, true }

func mustStream(t *testing.T, ctx context.Context, bus Bus, f Filter, convert func(Delivery) (alert, bool)) <-chan alert {
	t.Helper()
	ch, err := Stream(ctx, bus, f, convert)
	if err != nil {
		t.Fatalf("Stream(%+v): %v", f, err)
	}
	return ch
}

// next returns the next value on ch, failing after 5 s.
func next(t *testing.T, ch <-chan alert) alert {
	t.Helper()
	select {
	case a, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("nothing on the stream for 5s")
	}
	return alert{}
}

// TestStream checks that a stream delivers what its filter selects,
// converted, in order, drops what convert refuses, and holds no goroutine
// while idle.
func TestStream(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{})
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	odd := func(d Delivery) (alert, bool) { return alert{seq: d.Event.Seq}, d.Event.Seq%2 == 1 }
	area := mustStream(t, ctx, b, Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: cells(1, 2)}, toAlert)
	odds := mustStream(t, ctx, b, Filter{Kinds: []hub.EventKind{hub.EventRestock}}, odd)
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines with two idle streams, want the %d of before", n, base)
	}
	for i := range 6 {
		ev := hub.Event{Kind: hub.EventRestock, Cells: cells(9)}
		if i%3 == 0 {
			ev.Cells = cells(2, 3)
		}
		mustPublish(t, b, ev)
		if i%3 == 0 {
			if a := next(t, area); a.seq != uint64(i+1) || a.gap != 0 {
				t.Errorf("area stream got %+v, want seq %d", a, i+1)
			}
		}
		if i%2 == 0 {
			if a := next(t, odds); a.seq != uint64(i+1) {
				t.Errorf("odd stream got %+v, want seq %d", a, i+1)
			}
		}
	}
	waitGoroutines(t, base) // the forwarders have ended
	select {
	case a := <-area:
		t.Errorf("area stream got %+v after the last event it selects", a)
	default:
	}
	cancel()
	for _, ch := range []<-chan alert{area, odds} {
		for a := range ch {
			t.Errorf("stream got %+v after its context ended", a)
		}
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
}

// TestStreamOverflow lets a stream's consumer fall behind: the stream
// keeps the queue's bound and reports the gap, as C does.
func TestStreamOverflow(t *testing.T) {
	const queueSize, publish = 8, 100
	b := New(Options{QueueSize: queueSize})
	defer b.Close()
	var converted atomic.Int32
	ch := mustStream(t, t.Context(), b, Filter{}, func(d Delivery) (alert, bool) {
		converted.Add(1)
		return toAlert(d)
	})
	for i := range publish {
		mustPublish(t, b, hub.Event{Kind: hub.EventStockChanged})
		if i == 1 {
			// Event 1 sits in the channel; let the forwarder take event 2
			// so that what follows is exact.
			waitHanded(t, onlySubscription(t, b))
		}
	}
	var got []alert
	for len(got) == 0 || got[len(got)-1].seq != publish {
		got = append(got, next(t, ch))
	}
	// One in the channel, one in the forwarder's hand, the rest queued.
	want := []alert{{seq: 1}, {seq: 2}, {seq: publish - queueSize + 3, gap: publish - queueSize}}
	for s := publish - queueSize + 4; s <= publish; s++ {
		want = append(want, alert{seq: uint64(s)})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := int(converted.Load()); n != len(want) {
		t.Errorf("convert ran %d times, want %d: dropped events are not converted", n, len(want))
	}
	if st := b.Stats(); st.Dropped != publish-queueSize {
		t.Errorf("Stats().Dropped = %d, want %d", st.Dropped, publish-queueSize)
	}
}

// TestStreamEnds closes streams in each way a subscription ends, with and
// without a backlog, and checks nothing is left behind.
func TestStreamEnds(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{QueueSize: 4})
	ctx, cancel := context.WithCancel(t.Context())
	idle := mustStream(t, ctx, b, Filter{Cells: cells(9)}, toAlert)
	busy := mustStream(t, ctx, b, Filter{}, toAlert)
	for range 10 {
		mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	}
	cancel()
	for _, ch := range []<-chan alert{idle, busy} {
		for range ch {
		}
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)

	other := mustStream(t, t.Context(), b, Filter{}, toAlert)
	mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	b.Close()
	for range other {
	}
	waitGoroutines(t, base)
	if _, err := Stream(t.Context(), b, Filter{}, toAlert); !errors.Is(err, ErrClosed) {
		t.Errorf("Stream on a closed broker: %v, want ErrClosed", err)
	}
	if _, err := Stream(t.Context(), New(Options{}), Filter{Kinds: []hub.EventKind{0}}, toAlert); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("Stream with an invalid filter: %v, want ErrInvalidFilter", err)
	}
}

// onlySubscription returns b's one subscription.
func onlySubscription(t *testing.T, b *Broker) *Subscription {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) != 1 {
		t.Fatalf("the broker has %d subscriptions, want 1", len(b.subs))
	}
	for s := range b.subs {
		return s
	}
	return nil
}

// busOnly hides a Broker behind the Bus interface alone, as a bus of
// another kind would be.
type busOnly struct{ Bus }

// TestStreamOtherBus checks the stream of a bus that is not a Broker: one
// goroutine per stream, the same values.
func TestStreamOtherBus(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{})
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch := mustStream(t, ctx, busOnly{b}, Filter{Cells: cells(1)}, toAlert)
	mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	if a := next(t, ch); a.seq != 1 {
		t.Errorf("got %+v, want seq 1", a)
	}
	cancel()
	for range ch {
	}
	waitGoroutines(t, base)
	checkEmpty(t, b)
}

// TestShared checks that what subscribers derive from an event through
// Shared is derived once per event and key, however many subscriptions
// the event reaches and however they race.
func TestShared(t *testing.T) {
	type countKey struct{}
	type otherKey struct{}
	const subscribers, events = 50, 20
	b := New(Options{})
	defer b.Close()
	var derived sync.Map // seq -> *atomic.Int32
	derive := func(e *hub.Event) string {
		n, _ := derived.LoadOrStore(e.Seq, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		time.Sleep(time.Millisecond) // let the others arrive meanwhile
		return fmt.Sprint("event ", e.Seq)
	}
	var wrong atomic.Int32
	convert := func(d Delivery) (alert, bool) {
		if Shared(d, countKey{}, derive) != fmt.Sprint("event ", d.Event.Seq) {
			wrong.Add(1)
		}
		if Shared(d, otherKey{}, func(e *hub.Event) uint64 { return e.Seq * 2 }) != d.Event.Seq*2 {
			wrong.Add(1)
		}
		return toAlert(d)
	}
	var chans []<-chan alert
	for range subscribers {
		chans = append(chans, mustStream(t, t.Context(), b, Filter{Cells: cells(1)}, convert))
	}
	for range events {
		mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	}
	for _, ch := range chans {
		for i := range events {
			if a := next(t, ch); a.seq != uint64(i+1) {
				t.Fatalf("got %+v, want seq %d", a, i+1)
			}
		}
	}
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d conversions got another event's value", n)
	}
	for seq := range uint64(events) {
		n, ok := derived.Load(seq + 1)
		if !ok || n.(*atomic.Int32).Load() != 1 {
			t.Errorf("event %d derived %v times, want once", seq+1, n)
		}
	}
	// A Delivery no broker made derives each time.
	d := Delivery{Event: &hub.Event{Seq: 99}}
	Shared(d, countKey{}, derive)
	Shared(d, countKey{}, derive)
	if n, _ := derived.Load(uint64(99)); n.(*atomic.Int32).Load() != 2 {
		t.Errorf("a Delivery without a broker derived %d times, want 2", n.(*atomic.Int32).Load())
	}
}

// localBus is a Bus that fans out through a local Broker, as the MongoDB
// bus does.
type localBus struct {
	busOnly
	closed atomic.Bool
}

func (l *localBus) Local() *Broker { return l.busOnly.Bus.(*Broker) }

func (l *localBus) Open() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return nil
}

// TestStreamLocalBus checks that a stream of a LocalBus subscribes to its
// local broker (no goroutine while idle) and that a closed one refuses.
func TestStreamLocalBus(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{})
	defer b.Close()
	lb := &localBus{busOnly: busOnly{b}}
	ctx, cancel := context.WithCancel(t.Context())
	ch := mustStream(t, ctx, lb, Filter{Cells: cells(1)}, toAlert)
	waitGoroutines(t, base)
	mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
	if a := next(t, ch); a.seq != 1 {
		t.Errorf("got %+v, want seq 1", a)
	}
	cancel()
	for range ch {
	}
	lb.closed.Store(true)
	if _, err := Stream(t.Context(), lb, Filter{}, toAlert); !errors.Is(err, ErrClosed) {
		t.Errorf("a closed local bus: %v, want ErrClosed", err)
	}
	checkEmpty(t, b)
}

// TestStreamWaker checks the Waker contract on both kinds of bus: the
// first Stream made with it claims it, and it is called once per value put
// on the channel and once after the channel closes, so that a consumer
// that receives only when woken never blocks and misses nothing; a second
// Stream with the same context does not claim it, and a Stream that fails
// gives it back.
func TestStreamWaker(t *testing.T) {
	for _, tc := range []struct {
		name string
		bus  func(*Broker) Bus
	}{
		{"broker", func(b *Broker) Bus { return b }},
		{"other bus", func(b *Broker) Bus { return busOnly{b} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(Options{})
			defer b.Close()
			wakes := make(chan struct{}, 100)
			w := NewWaker(func() { wakes <- struct{}{} })
			ctx, cancel := context.WithCancel(WithWaker(t.Context(), w))
			defer cancel()
			ch := mustStream(t, ctx, tc.bus(b), Filter{Cells: cells(1)}, toAlert)
			if !w.Claimed() {
				t.Fatal("the Stream did not claim the Waker")
			}
			other := mustStream(t, ctx, tc.bus(b), Filter{Cells: cells(1)}, toAlert)
			const events = 5
			for range events {
				mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
			}
			var got []uint64
			for len(got) < events {
				select {
				case <-wakes:
				case <-time.After(5 * time.Second):
					t.Fatalf("woken %d times for %d events", len(got), events)
				}
				select {
				case a := <-ch:
					got = append(got, a.seq)
				default:
					t.Fatal("woken with nothing on the channel")
				}
			}
			if fmt.Sprint(got) != "[1 2 3 4 5]" {
				t.Errorf("got %v", got)
			}
			for range events {
				next(t, other) // the unclaimed Stream delivers as ever
			}
			cancel()
			select {
			case <-wakes:
			case <-time.After(5 * time.Second):
				t.Fatal("not woken when the channel closed")
			}
			if _, ok := <-ch; ok {
				t.Fatal("woken at the end with the channel still open")
			}
			select {
			case <-wakes:
				t.Error("woken more often than values and the close")
			case <-time.After(50 * time.Millisecond):
			}
		})
	}

	b := New(Options{})
	w := NewWaker(func() {})
	ctx := WithWaker(t.Context(), w)
	b.Close()
	for _, bus := range []Bus{b, busOnly{b}} {
		if _, err := Stream(ctx, bus, Filter{}, toAlert); !errors.Is(err, ErrClosed) {
			t.Fatalf("Stream on a closed bus: %v", err)
		}
		if w.Claimed() {
			t.Error("a Stream that failed kept the Waker")
		}
	}
}

// part is what the tests' StreamEach makes of a delivery: its n-th value.
type part struct {
	seq uint64
	n   int
	gap int
}

// parts makes seq%4 values of each delivery (none for every fourth), the
// first carrying its gap.
func parts(d Delivery) []part {
	var out []part
	for n := range int(d.Event.Seq % 4) {
		p := part{seq: d.Event.Seq, n: n}
		if n == 0 {
			p.gap = d.Gap
		}
		out = append(out, p)
	}
	return out
}

// TestStreamEach checks StreamEach on both kinds of bus: every value of
// every event, in order (an event's values together and in convert's
// order, events in Seq order), none for an event that makes none, one
// Waker call per value and one after the close, so that a consumer that
// receives only when woken never blocks and misses nothing, and no
// goroutine left once it ends.
func TestStreamEach(t *testing.T) {
	tests := []struct {
		give string
		bus  func(*Broker) Bus
	}{
		{"broker", func(b *Broker) Bus { return b }},
		{"other bus", func(b *Broker) Bus { return busOnly{b} }},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			base := runtime.NumGoroutine()
			b := New(Options{})
			defer b.Close()
			wakes := make(chan struct{}, 1000)
			w := NewWaker(func() { wakes <- struct{}{} })
			ctx, cancel := context.WithCancel(WithWaker(t.Context(), w))
			defer cancel()
			ch, err := StreamEach(ctx, tt.bus(b), Filter{Cells: cells(1)}, parts)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Claimed() {
				t.Fatal("the stream did not claim the Waker")
			}
			const events = 13
			var want []part
			for range events {
				seq := mustPublish(t, b, hub.Event{Kind: hub.EventFeverScan, Cells: cells(1)})
				want = append(want, parts(Delivery{Event: &hub.Event{Seq: seq}})...)
			}
			var got []part
			for len(got) < len(want) {
				select {
				case <-wakes:
				case <-time.After(5 * time.Second):
					t.Fatalf("woken %d times for %d values", len(got), len(want))
				}
				select {
				case p := <-ch:
					got = append(got, p)
				default:
					t.Fatal("woken with nothing on the channel")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
			cancel()
			select {
			case <-wakes:
			case <-time.After(5 * time.Second):
				t.Fatal("not woken when the channel closed")
			}
			if p, ok := <-ch; ok {
				t.Fatalf("woken at the end with %v on the channel", p)
			}
			select {
			case <-wakes:
				t.Error("woken more often than values and the close")
			case <-time.After(50 * time.Millisecond):
			}
			waitGoroutines(t, base)
			checkEmpty(t, b)
		})
	}
}

// TestStreamEachOverflow lets a StreamEach consumer fall behind: the
// queue's bound is in events, not values, and the values that arrive are
// whole events, in order, the event after the loss telling its gap once.
func TestStreamEachOverflow(t *testing.T) {
	const queueSize, publish = 8, 100
	b := New(Options{QueueSize: queueSize})
	defer b.Close()
	ch, err := StreamEach(t.Context(), b, Filter{}, func(d Delivery) []part {
		return []part{{seq: d.Event.Seq, gap: d.Gap}, {seq: d.Event.Seq, n: 1}}
	})
	if err != nil {
		t.Fatal(err)
	}
	for range publish {
		mustPublish(t, b, hub.Event{Kind: hub.EventStockChanged})
	}
	var got []part
	for len(got) == 0 || got[len(got)-1] != (part{seq: publish, n: 1}) {
		got = append(got, next2(t, ch))
	}
	seen, lost := 0, 0
	last := uint64(0)
	for i := 0; i < len(got); i += 2 {
		a, z := got[i], got[i+1]
		if a.n != 0 || z.n != 1 || a.seq != z.seq || z.gap != 0 || a.seq <= last {
			t.Fatalf("values %d and %d: %v %v, want both values of one event after %d", i, i+1, a, z, last)
		}
		if a.seq-last-1 != uint64(a.gap) {
			t.Errorf("event %d after %d tells a gap of %d", a.seq, last, a.gap)
		}
		seen++
		lost += a.gap
		last = a.seq
	}
	if seen+lost != publish || lost == 0 {
		t.Errorf("%d events seen and %d lost of %d published", seen, lost, publish)
	}
}

// next2 returns the next value on ch, failing after 5 s.
func next2[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing on the stream for 5s")
	}
	var zero T
	return zero
}
