package broker

import (
	"sync"

	"github.com/gridhub/gridhub/hub"
)

// Delivery is one event as a subscription receives it.
type Delivery struct {
	// Event is shared with every other subscription it was delivered
	// to: read it, never modify it.
	Event *hub.Event
	// Gap counts the events for this subscription that were dropped just
	// before Event because its consumer fell behind; zero when none were.
	Gap int
	// GapFirst and GapLast are the Seq of the first and the last event
	// dropped when Gap > 0: every event for this subscription with a Seq
	// in [GapFirst, GapLast] was dropped, and none other.
	GapFirst, GapLast uint64

	memo *memo // what subscribers derive from Event alone (Shared)
}

// Subscription receives the events its filter selects, in Seq order, on
// C. A consumer that stops reading holds up nobody: its queue overflows
// (see the package doc). Close it when done; it also ends when the
// context it was made with ends, or when its broker closes.
type Subscription struct {
	// The fields a publish that reaches the subscription reads come
	// first, to share as few cache lines as they can: with 50,000
	// subscriptions, each publish finds them cold.
	mark   uint64        // Seq of the last event routed to it, to deliver once (broker's lock)
	mu     sync.Mutex    // guards q, pumping, holding, closed, done, err, stop
	ch     chan Delivery // nil when out is set
	out    outlet        // a Stream's converting channel; nil for C
	q      ring          // events waiting behind the one in ch
	anchor anchor        // the key it is filed under
	// pumping says the forwarder runs, holding that it holds an event
	// (out of the queue, not yet in the channel), closed that the
	// subscription ended (mu); indexed, that it is in the index (broker's
	// lock).
	pumping, holding, closed, indexed bool
	f                                 filter

	b    *Broker
	pos  []int32       // pos[k]: its place in the list of its k-th key (broker's lock)
	done chan struct{} // closed when it ends; made with the first forwarder
	err  error
	stop func() bool // stops the context.AfterFunc
	once sync.Once   // ends it
	wg   sync.WaitGroup
}

// C returns the channel on which events arrive. It is closed when the
// subscription ends, after the at most one event still in its buffer.
// C is nil for the subscription behind a Stream.
func (s *Subscription) C() <-chan Delivery { return s.ch }

// Close unsubscribes: it takes the subscription out of the broker's index,
// frees its queue, closes C and returns when its forwarder, if any, has
// ended. Closing again does nothing.
func (s *Subscription) Close() { s.end(nil) }

// Err returns why the subscription ended: nil while open or after Close,
// the context's error when its context ended, ErrClosed when the broker
// closed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end ends the subscription for reason, once; a concurrent caller waits
// until it has ended.
func (s *Subscription) end(reason error) {
	s.once.Do(func() {
		s.b.unindex(s) // no publisher reaches s after this
		s.mu.Lock()
		s.closed = true
		s.err = reason
		if s.done != nil {
			close(s.done)
		}
		stop := s.stop
		s.stop = nil
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
		s.wg.Wait()
		s.mu.Lock()
		s.q = ring{}
		s.mu.Unlock()
		if s.out != nil {
			s.out.close()
		} else {
			close(s.ch)
		}
	})
}

// enqueue hands d to the consumer without blocking: straight into the
// channel when the queue is empty and the channel has room, else into the
// queue, dropping the oldest queued event when it is full, with a
// forwarder started to drain it. A Stream's events always go through the
// queue, so that they are converted by the forwarder, never under the
// broker's lock. It reports whether an event was dropped. The broker's
// lock is held, so events arrive here in Seq order.
func (s *Subscription) enqueue(d Delivery, queueSize int) (dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.q.n == 0 && !s.pumping && s.out == nil {
		select {
		case s.ch <- d:
			return false
		default:
		}
	}
	// The channel's slot takes one event, the forwarder's hand another
	// while it holds one.
	limit := queueSize - 1
	if s.holding {
		limit--
	}
	dropped = s.q.push(d, limit)
	if !s.pumping {
		s.pumping = true
		if s.done == nil {
			s.done = make(chan struct{})
		}
		s.wg.Add(1)
		go s.forward(s.done)
	}
	return dropped
}

// forward moves queued events into the channel as the consumer takes
// them (converting them first for a Stream). It ends when the queue is
// empty or the subscription ends.
func (s *Subscription) forward(done <-chan struct{}) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		d, ok := s.q.pop()
		s.holding = ok
		if !ok {
			s.pumping = false
			s.q.shrink()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if s.out != nil {
			if !s.out.send(d, done) {
				return
			}
			continue
		}
		select {
		case s.ch <- d:
		case <-done:
			return
		}
	}
}

// ring is a FIFO of deliveries that grows on demand up to its bound. Only
// its head may carry a gap.
type ring struct {
	head, n int32 // first, so that the hot n shares the subscription's first cache line
	buf     []Delivery
}

// push appends d. When the ring already holds limit deliveries it drops
// the oldest first, carries its gap over to the new head, and reports
// true.
func (r *ring) push(d Delivery, limit int) (dropped bool) {
	if int(r.n) >= limit {
		old := r.buf[r.head]
		r.buf[r.head] = Delivery{}
		r.head = (r.head + 1) % int32(len(r.buf))
		r.n--
		first := old.Event.Seq
		if old.Gap > 0 {
			first = old.GapFirst
		}
		next := &d
		if r.n > 0 {
			next = &r.buf[r.head]
		}
		next.Gap, next.GapFirst, next.GapLast = old.Gap+1, first, old.Event.Seq
		dropped = true
	}
	if int(r.n) == len(r.buf) {
		buf := make([]Delivery, min(max(4, 2*len(r.buf)), limit))
		for i := range int(r.n) {
			buf[i] = r.buf[(int(r.head)+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(int(r.head)+int(r.n))%len(r.buf)] = d
	r.n++
	return dropped
}

// pop removes and returns the oldest delivery.
func (r *ring) pop() (Delivery, bool) {
	if r.n == 0 {
		return Delivery{}, false
	}
	d := r.buf[r.head]
	r.buf[r.head] = Delivery{}
	r.head = (r.head + 1) % int32(len(r.buf))
	r.n--
	return d, true
}

// shrink frees a large buffer once the ring is empty, so that a
// subscription that caught up goes back to costing little.
func (r *ring) shrink() {
	if r.n == 0 && len(r.buf) > 8 {
		*r = ring{}
	}
}
