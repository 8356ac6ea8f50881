package broker

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/gridhub/gridhub/hub"
)

// LocalBus is a Bus whose subscriptions are those of a local Broker that it
// feeds (events from other hubs included): Local returns that broker, Open
// reports ErrClosed once the bus is closed.
type LocalBus interface {
	Bus
	Local() *Broker
	Open() error
}

// Stream subscribes to the events f selects, as Bus.Subscribe does, and
// delivers each as convert makes it into a T on the returned channel;
// convert drops an event by returning false. It suits a transport that
// wants values of its own on a channel, as gqlgen's subscription resolvers
// do. On a *Broker the subscription owns no goroutine while it is idle:
// convert runs on the forwarder that a delivery starts and that ends once
// the queue is empty (see the package doc), never under the broker's lock.
// A Bus that fans out through a local *Broker (a LocalBus, as the MongoDB
// bus does) gets the same. On another Bus, one goroutine per subscription
// converts what Subscription.C delivers.
//
// When ctx carries a Waker (WithWaker) that no Stream has claimed yet,
// this Stream claims it and calls it after each value it puts on the
// channel and after closing the channel, so that the consumer too can do
// without a goroutine waiting on the channel (see Waker).
//
// Queueing, overflow and gaps are the Subscription's: convert sees each
// Delivery with its Gap, and the channel's one-slot buffer counts as the
// buffer of C does. convert may run on different goroutines, one call at a
// time, in Seq order. The channel is closed when the subscription ends:
// when ctx ends, which it must for the subscription to end before the bus
// does, or when the bus closes.
func Stream[T any](ctx context.Context, bus Bus, f Filter, convert func(Delivery) (T, bool)) (<-chan T, error) {
	return stream(ctx, bus, f, func(ch chan T, wake func()) outlet {
		return &outletOf[T]{ch: ch, convert: convert, wake: wake}
	}, func(d Delivery, put func(T) bool) bool {
		if v, ok := convert(d); ok {
			return put(v)
		}
		return true
	})
}

// StreamEach is Stream for events that each make several values (or
// none): convert returns the values of a Delivery, and each is put on the
// channel in turn, in their order, before any value of the next event.
// Every value counts as one for a Waker (one call after each), and a
// Delivery's Gap is seen by convert once, with the values of the event
// that follows the loss. A Delivery whose values wait for the consumer
// holds the forwarder until the consumer has taken them all, as one value
// does in Stream.
func StreamEach[T any](ctx context.Context, bus Bus, f Filter, convert func(Delivery) []T) (<-chan T, error) {
	return stream(ctx, bus, f, func(ch chan T, wake func()) outlet {
		return &outletEach[T]{ch: ch, convert: convert, wake: wake}
	}, func(d Delivery, put func(T) bool) bool {
		for _, v := range convert(d) {
			if !put(v) {
				return false
			}
		}
		return true
	})
}

// stream is Stream and StreamEach: newOutlet makes the outlet of a
// streamer's subscription, each puts a Delivery's values through put on
// another Bus (and reports false when put did).
func stream[T any](ctx context.Context, bus Bus, f Filter, newOutlet func(ch chan T, wake func()) outlet, each func(d Delivery, put func(T) bool) bool) (<-chan T, error) {
	if lb, ok := bus.(LocalBus); ok {
		if err := lb.Open(); err != nil {
			return nil, err
		}
		bus = lb.Local()
	}
	// The Waker is claimed before subscribing, so that no delivery can
	// find it half set up, and given back if subscribing fails.
	wake := func() {}
	w, ok := ctx.Value(wakerKey{}).(*Waker)
	if ok && w.claimed.CompareAndSwap(false, true) {
		wake = w.wake
	} else {
		w = nil
	}
	ch := make(chan T, 1)
	if b, ok := bus.(streamer); ok {
		if _, err := b.subscribe(ctx, f, newOutlet(ch, wake)); err != nil {
			w.unclaim()
			return nil, err
		}
		return ch, nil
	}
	sub, err := bus.Subscribe(ctx, f)
	if err != nil {
		w.unclaim()
		return nil, err
	}
	put := func(v T) bool {
		select {
		case ch <- v:
			wake()
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer wake()
		defer close(ch)
		defer sub.Close()
		for d := range sub.C() {
			if !each(d, put) {
				return
			}
		}
	}()
	return ch, nil
}

// A Waker lets the consumer of a Stream's channel read it only when there
// is something to read, instead of keeping a goroutine blocked on it: the
// Stream that claims the Waker calls it once after each value it puts on
// the channel, and once after closing the channel, each time on the
// goroutine that did so. So after n calls the consumer can receive n
// times without blocking (the last receive may find the channel closed).
// The function must not block: it should hand the reading to another
// goroutine if there is none at work already. A transport that serves
// many idle subscriptions uses it to hold no goroutine for any of them.
type Waker struct {
	wake    func()
	claimed atomic.Bool
}

// NewWaker returns a Waker calling wake.
func NewWaker(wake func()) *Waker { return &Waker{wake: wake} }

// Claimed reports whether a Stream has claimed w. A consumer whose
// channel did not come from a Stream that claimed its Waker has to wait
// on the channel itself.
func (w *Waker) Claimed() bool { return w.claimed.Load() }

// unclaim gives w back after the Stream that claimed it failed; nil does
// nothing.
func (w *Waker) unclaim() {
	if w != nil {
		w.claimed.Store(false)
	}
}

type wakerKey struct{}

// WithWaker returns a context carrying w for the first Stream made with it
// or a context derived from it.
func WithWaker(ctx context.Context, w *Waker) context.Context {
	return context.WithValue(ctx, wakerKey{}, w)
}

// streamer is a Bus whose subscriptions can deliver to an outlet: the
// Broker, and types that embed one.
type streamer interface {
	subscribe(ctx context.Context, f Filter, out outlet) (*Subscription, error)
}

var _ streamer = (*Broker)(nil)

// outlet is where a Stream's subscription delivers instead of C.
type outlet interface {
	// send converts d and hands it to the consumer, waiting until the
	// consumer takes it or done is closed; it reports false in that case.
	send(d Delivery, done <-chan struct{}) bool
	// close closes the consumer's channel; no send runs then or after.
	close()
}

// outletOf is a Stream's outlet: a channel of T.
type outletOf[T any] struct {
	ch      chan T
	convert func(Delivery) (T, bool)
	wake    func() // after each value sent and after the close (Waker)
}

func (o *outletOf[T]) send(d Delivery, done <-chan struct{}) bool {
	v, ok := o.convert(d)
	if !ok {
		return true
	}
	select {
	case o.ch <- v:
		o.wake()
		return true
	case <-done:
		return false
	}
}

func (o *outletOf[T]) close() {
	close(o.ch)
	o.wake()
}

// outletEach is StreamEach's outlet: a channel of T, each Delivery making
// any number of them.
type outletEach[T any] struct {
	ch      chan T
	convert func(Delivery) []T
	wake    func() // after each value sent and after the close (Waker)
}

func (o *outletEach[T]) send(d Delivery, done <-chan struct{}) bool {
	for _, v := range o.convert(d) {
		select {
		case o.ch <- v:
			o.wake()
		case <-done:
			return false
		}
	}
	return true
}

func (o *outletEach[T]) close() {
	close(o.ch)
	o.wake()
}

// Shared returns derive(d.Event), derived once per published event and key
// however many subscriptions the event reached, so that what every
// subscriber derives alike from an event (a record read from the store,
// say) costs once per event rather than once per subscriber. The first
// caller for an event and key runs derive; callers for the same event and
// key meanwhile wait for it, later ones get its result. The key names the
// derivation and its type V: it must be comparable, and of a type of the
// caller's package, as with context keys. A Delivery that no broker made
// (a test's, say) derives afresh each time.
func Shared[V any](d Delivery, key any, derive func(*hub.Event) V) V {
	if d.memo == nil {
		return derive(d.Event)
	}
	e := d.memo.entry(key)
	e.once.Do(func() { e.val = derive(d.Event) })
	if v, ok := e.val.(V); ok {
		return v
	}
	return derive(d.Event) // derive panicked, or the key was used for another type
}

// memo holds what was derived from one event for its subscribers (Shared).
// It lives as long as a delivery of the event does.
type memo struct {
	mu      sync.Mutex
	entries []*memoEntry // a few at most: a linear search is quickest
}

type memoEntry struct {
	key  any
	once sync.Once
	val  any
}

// entry returns the entry of key, adding it if there is none.
func (m *memo) entry(key any) *memoEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.key == key {
			return e
		}
	}
	e := &memoEntry{key: key}
	m.entries = append(m.entries, e)
	return e
}
