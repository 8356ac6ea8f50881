// Package broker routes domain events (hub.Event) from the code where they
// happen to the subscriptions that want them, in process. It knows nothing
// of GraphQL or HTTP: the transport subscribes on behalf of a client and
// turns what arrives on Subscription.C into messages.
//
// # Routing
//
// A Filter selects events by any combination of kinds, cells, committee,
// district, partner, pharmacy and supply. Every field that is set must
// match (fields combine with AND); Kinds and Cells match when the event
// has any of the listed kinds or touches any of the listed cells. The
// publisher computes an event's routing keys (a restock touches the disk
// of k rings around its pharmacy); the broker only routes.
//
// Routing is indexed, never a scan of all subscriptions. Each subscription
// is filed under one key of its filter, the most selective it has, in this
// order: pharmacy, partner, committee, each of its cells, district, each of
// its kinds, or else under "every kind". Publishing an event looks up only
// the keys the event carries (each of its cells and committees, its
// partner, pharmacy, district and kind), checks the rest of each
// candidate's filter, and hands the event to each matching subscription
// exactly once, however many of the event's keys lead to it. An index entry
// carries its filter's kinds, so a subscription to other kinds is passed
// over without being touched. With 50,000 committee subscriptions of 7
// cells each, a restock touching 19 cells costs tens of microseconds,
// nearly all of it the ~90 channel sends, where checking every filter
// costs milliseconds (BenchmarkPublish).
//
// # Delivery and overflow
//
// Publish never blocks on a subscriber. A subscription holds at most
// Options.QueueSize events (default 64) that its consumer has not yet
// received: one in the buffer of its channel, one in the hand of its
// forwarder (below), the rest in its queue. When a publish finds the queue
// full, the broker drops the OLDEST event in it and appends the new one.
// The consumer learns of the loss from the next event it receives after
// it: Delivery.Gap counts the events dropped just before that one, and
// GapFirst and GapLast are the Seq of the first and the last of them. The
// report is exact: every event for that subscription with a Seq in
// [GapFirst, GapLast] was dropped, and no other. The two events already on
// their way out are never taken back; they arrive first, then the marked
// event. Dropping costs the publisher constant time, and neither the
// publisher nor any other subscription waits for a slow one. A consumer
// told of a gap should refetch the state it shows rather than trust the
// events it has.
//
// Each subscription receives its events in Seq order. Seq numbers every
// event published, so a subscription sees gaps in Seq that are events for
// others; only Delivery.Gap reports losses. The broker assigns Seq and
// enqueues under one lock, so publishes are serialised (each takes
// microseconds) and none overtakes another. Subscribe and unsubscribe take
// the same lock for as long as they take to file a filter's keys (about
// 100 ns a cell).
//
// # Goroutines and ends
//
// An idle subscription, and one whose consumer keeps up, owns no
// goroutine: the publisher puts the event straight into the channel's
// one-slot buffer. Only when the consumer falls behind does the
// subscription start a forwarder, which moves queued events into the
// channel as the consumer takes them and ends as soon as the queue is
// empty or the subscription ends. A subscription ends when it is closed,
// when the context given to Subscribe ends (through context.AfterFunc,
// which needs no goroutine for the standard library's contexts), or when
// the broker closes. Ending takes it out of the index, frees its queue,
// waits for its forwarder to return and closes its channel; the channel
// still yields the at most one event in its buffer first. After
// Broker.Close, Publish is a no-op that returns ErrClosed.
//
// Stream is a subscription that delivers values of the consumer's own type
// instead of Delivery (gqlgen's subscription resolvers want a channel of
// their model): its events always go through the queue, and the forwarder
// converts each on its way to the channel, so that an idle stream owns no
// goroutine either and no conversion runs under the broker's lock. With a
// Waker in its context, a Stream also tells its consumer each time a value
// waits, so that the consumer needs no goroutine blocked on the channel
// either (the WebSocket transport's subscriptions). What every subscriber
// derives alike from an event (a record read from the store, say) is
// derived once per event with Shared.
//
// # Views
//
// A view (Broker.View) is an in-memory state derived from the events (a
// dashboard's counters, an index of pharmacies) rather than a consumer of
// them: it must see every event, once, in Seq order, and be current when
// Publish returns, so that the publisher's caller reads its own write. So
// a view is not a subscription: Publish calls it synchronously, under the
// broker's lock, after assigning the event its Seq and before routing it
// to any subscription. It is never dropped from, has no queue and no gap:
// an event reaches every view exactly once or, after Close, none. A view
// must be quick (it delays every publish) and must not call the broker.
// With several hubs (a LocalBus), a hub's views sit on its local broker,
// which its watcher feeds every hub's events (its own included), so the
// same views follow every hub's writes by the same path.
//
// # Several hubs
//
// Bus is what the transport needs. The in-process Broker implements it; a
// backend for several hub instances (MongoDB change streams) can implement
// it by writing Publish to the shared stream and feeding what its change
// stream reads into a local Broker, whose subscriptions it returns.
package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Bus publishes domain events and subscribes to them.
type Bus interface {
	// Publish assigns the event its Seq, hands it to every matching
	// subscription and returns the Seq. It fails with ErrClosed after
	// Close.
	Publish(ctx context.Context, ev hub.Event) (uint64, error)
	// Subscribe returns a subscription to the events f selects. The
	// subscription ends when ctx ends, when it is closed, or when the bus
	// is.
	Subscribe(ctx context.Context, f Filter) (*Subscription, error)
	// Close ends every subscription; later calls to Publish and Subscribe
	// fail with ErrClosed.
	Close() error
}

var _ Bus = (*Broker)(nil)

// ErrClosed is returned by Publish and Subscribe after Close, and by the
// Err of a subscription that the closing of its broker ended.
var ErrClosed = errors.New("broker: closed")

// Queue sizes.
const (
	// DefaultQueueSize is the queue size of a broker whose
	// Options.QueueSize is zero.
	DefaultQueueSize = 64
	// MinQueueSize is the least queue size; smaller ones are raised to
	// it. Two of its places are the channel's buffer and the forwarder's
	// hand, whose events are never dropped.
	MinQueueSize = 3
)

// Options configures a Broker. The zero value is usable.
type Options struct {
	// QueueSize bounds the events a subscription holds for its consumer
	// (DefaultQueueSize when zero, at least MinQueueSize).
	QueueSize int
	// Metrics receives counters and the subscriber gauge; nil for none.
	Metrics Metrics
	// Now is the clock that stamps events published with a zero At;
	// time.Now when nil.
	Now func() time.Time
}

// Metrics receives the broker's counters and its gauge as they change, so
// that a transport can export them (to Prometheus, say) without the broker
// importing an exporter. The broker calls it with its lock held: methods
// must be quick and safe for concurrent use, and must not call the broker.
type Metrics interface {
	// Published counts one event published.
	Published(kind hub.EventKind)
	// Delivered counts n subscriptions handed an event of kind.
	Delivered(kind hub.EventKind, n int)
	// Dropped counts n events dropped from slow subscriptions' queues.
	Dropped(n int)
	// Subscribers sets the gauge of open subscriptions.
	Subscribers(n int)
}

// Stats is a snapshot of a broker's counters. Delivered counts events
// handed to subscriptions' queues; Delivered - Dropped of them reached, or
// will reach, their consumers unless the subscription ends first.
type Stats struct {
	Published   uint64
	Delivered   uint64
	Dropped     uint64
	Subscribers int
}

// Broker is the in-process Bus. Its methods are safe for concurrent use.
type Broker struct {
	queueSize int
	metrics   Metrics
	now       func() time.Time

	mu     sync.Mutex
	closed bool
	seq    uint64
	idx    index
	subs   map[*Subscription]struct{}
	views  []*viewEntry

	published, delivered, dropped atomic.Uint64
	subscribers                   atomic.Int64
}

// New returns a broker.
func New(opts Options) *Broker {
	b := &Broker{
		queueSize: opts.QueueSize,
		metrics:   opts.Metrics,
		now:       opts.Now,
		idx:       newIndex(),
		subs:      make(map[*Subscription]struct{}),
	}
	if b.queueSize == 0 {
		b.queueSize = DefaultQueueSize
	}
	b.queueSize = max(b.queueSize, MinQueueSize)
	if b.metrics == nil {
		b.metrics = nopMetrics{}
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Publish assigns ev the next Seq (and the broker's time if its At is
// zero), hands it to every subscription whose filter matches, once each,
// and returns the Seq. It never blocks on a subscriber. The event is then
// shared read-only by its subscribers: the caller must not modify its
// slices or payload afterwards.
//
// An event without a valid kind, with a payload its kind does not carry or
// touching the zero cell is an EINVALID error. After Close, Publish does
// nothing and returns ErrClosed. The in-process broker ignores ctx; it is
// there for backends that write to the network.
func (b *Broker) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	e := &ev
	if e.At.IsZero() {
		e.At = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	b.seq++
	e.Seq = b.seq
	for _, v := range b.views {
		v.apply(ctx, *e)
	}
	delivered, dropped := b.route(e)
	b.published.Add(1)
	b.delivered.Add(uint64(delivered))
	b.metrics.Published(e.Kind)
	b.metrics.Delivered(e.Kind, delivered)
	if dropped > 0 {
		b.dropped.Add(uint64(dropped))
		b.metrics.Dropped(dropped)
	}
	return e.Seq, nil
}

// route hands e to the subscriptions filed under its keys, each once. It
// returns how many it was handed to and how many older events that
// dropped. b.mu is held.
func (b *Broker) route(e *hub.Event) (delivered, dropped int) {
	r := router{e: e, queueSize: b.queueSize}
	x := &b.idx
	for _, c := range e.Cells {
		r.visit(x.cells[c])
	}
	for _, id := range e.CommitteeIDs {
		r.visit(x.committees[id])
	}
	if e.PartnerID != "" {
		r.visit(x.partners[e.PartnerID])
	}
	if e.PharmacyID != "" {
		r.visit(x.pharmacies[e.PharmacyID])
	}
	if e.DistrictID != "" {
		r.visit(x.districts[e.DistrictID])
	}
	r.visit(x.kinds[e.Kind])
	r.visit(x.kinds[0])
	return r.delivered, r.dropped
}

// router is one event's walk through the index.
type router struct {
	e                  *hub.Event
	memo               *memo // shared by the event's deliveries; made with the first
	queueSize          int
	delivered, dropped int
}

// visit hands the event to the subscriptions of one index entry list that
// have not seen it yet and whose filters match.
func (r *router) visit(es []entry) {
	bit := uint32(1) << r.e.Kind
	for _, en := range es {
		if en.kinds != 0 && en.kinds&bit == 0 {
			continue // wants other kinds
		}
		s := en.s
		if s.mark == r.e.Seq {
			continue // reached by another of the event's keys
		}
		s.mark = r.e.Seq
		// A subscription filed under its cells was reached through one
		// of them, so its cells match.
		if !s.f.match(r.e, s.anchor == byCell) {
			continue
		}
		r.delivered++
		if r.memo == nil {
			r.memo = &memo{}
		}
		if s.enqueue(Delivery{Event: r.e, memo: r.memo}, r.queueSize) {
			r.dropped++
		}
	}
}

// View is an in-memory state kept current from the events: Apply is
// called once for every event published, in Seq order, synchronously
// within Publish (see the package doc). ctx is the publisher's.
type View interface {
	Apply(ctx context.Context, ev hub.Event)
}

// ViewFunc is a View of a function.
type ViewFunc func(ctx context.Context, ev hub.Event)

// Apply implements View.
func (f ViewFunc) Apply(ctx context.Context, ev hub.Event) { f(ctx, ev) }

type viewEntry struct{ v View }

func (e *viewEntry) apply(ctx context.Context, ev hub.Event) { e.v.Apply(ctx, ev) }

// View adds v to the views the broker feeds, from the next event
// published on, and returns the function that removes it. After Close it
// adds nothing.
func (b *Broker) View(v View) (remove func()) {
	en := &viewEntry{v: v}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return func() {}
	}
	b.views = append(b.views, en)
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range b.views {
			if x == en {
				b.views = append(b.views[:i:i], b.views[i+1:]...)
				return
			}
		}
	}
}

// LocalOf returns the broker that delivers bus's events in this process:
// bus itself when it is a *Broker, its local broker when it is a LocalBus,
// else nil. Views (Broker.View) go there.
func LocalOf(bus Bus) *Broker {
	switch b := bus.(type) {
	case *Broker:
		return b
	case LocalBus:
		return b.Local()
	}
	return nil
}

// Subscribe returns a subscription to the events f selects, from the next
// one published on. It ends when ctx ends (Err then returns ctx.Err()),
// when it is closed, or when the broker is (ErrClosed). A filter that is
// not valid is an EINVALID error; after Close, Subscribe returns
// ErrClosed; with ctx already ended, ctx.Err().
func (b *Broker) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	return b.subscribe(ctx, f, nil)
}

// subscribe is Subscribe delivering to out, or to a channel of Delivery
// (C) when out is nil.
func (b *Broker) subscribe(ctx context.Context, f Filter, out outlet) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cf, err := compile(f)
	if err != nil {
		return nil, err
	}
	s := &Subscription{b: b, f: cf, out: out}
	if out == nil {
		s.ch = make(chan Delivery, 1)
	}
	s.anchor = cf.anchor()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.idx.add(s)
	s.indexed = true
	b.subs[s] = struct{}{}
	b.setSubscribers(len(b.subs))
	b.mu.Unlock()
	if ctx.Done() != nil {
		s.mu.Lock()
		if !s.closed { // Close on the broker may have ended it already
			s.stop = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
		}
		s.mu.Unlock()
	}
	return s, nil
}

// unindex removes s from the index, if it is still there.
func (b *Broker) unindex(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !s.indexed {
		return
	}
	s.indexed = false
	b.idx.remove(s)
	delete(b.subs, s)
	b.setSubscribers(len(b.subs))
}

// setSubscribers records the number of subscriptions. b.mu is held.
func (b *Broker) setSubscribers(n int) {
	b.subscribers.Store(int64(n))
	b.metrics.Subscribers(n)
}

// Close ends every subscription (their Err returns ErrClosed) and returns
// when they have ended. Later calls to Publish and Subscribe return
// ErrClosed; later calls to Close do nothing. It always returns nil.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		s.indexed = false
		subs = append(subs, s)
	}
	b.subs = nil
	b.views = nil
	b.idx = newIndex()
	b.setSubscribers(0)
	b.mu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	return nil
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Published:   b.published.Load(),
		Delivered:   b.delivered.Load(),
		Dropped:     b.dropped.Load(),
		Subscribers: int(b.subscribers.Load()),
	}
}

type nopMetrics struct{}

func (nopMetrics) Published(hub.EventKind)      {}
func (nopMetrics) Delivered(hub.EventKind, int) {}
func (nopMetrics) Dropped(int)                  {}
func (nopMetrics) Subscribers(int)              {}
