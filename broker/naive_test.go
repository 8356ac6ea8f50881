package broker

import (
	"context"
	"slices"
	"sync"

	"github.com/gridhub/gridhub/hub"
)

// naiveBroker is the baseline the index is measured against and the
// oracle the tests check it with: it routes an event by checking every
// subscription's filter. It delivers through the same queues as Broker.
type naiveBroker struct {
	queueSize int
	owner     *Broker // never indexes anything; lets Subscription.Close work

	mu   sync.Mutex
	seq  uint64
	subs []*Subscription
}

func newNaive(queueSize int) *naiveBroker {
	b := New(Options{QueueSize: queueSize})
	return &naiveBroker{queueSize: b.queueSize, owner: b}
}

func (n *naiveBroker) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	cf, err := compile(f)
	if err != nil {
		return nil, err
	}
	s := &Subscription{b: n.owner, f: cf, ch: make(chan Delivery, 1)}
	n.mu.Lock()
	n.subs = append(n.subs, s)
	n.mu.Unlock()
	return s, nil
}

func (n *naiveBroker) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	e := &ev
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	e.Seq = n.seq
	for _, s := range n.subs {
		if s.f.match(e, false) {
			s.enqueue(Delivery{Event: e}, n.queueSize)
		}
	}
	return e.Seq, nil
}

func (n *naiveBroker) Close() error {
	n.mu.Lock()
	subs := n.subs
	n.subs = nil
	n.mu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	return n.owner.Close()
}

// oracle reports whether f selects e, written from Filter's documentation
// alone, for the tests to check both brokers with.
func oracle(f Filter, e *hub.Event) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind) {
		return false
	}
	if len(f.Cells) > 0 && !slices.ContainsFunc(f.Cells, func(c hub.Cell) bool { return slices.Contains(e.Cells, c) }) {
		return false
	}
	if f.CommitteeID != "" && !slices.Contains(e.CommitteeIDs, f.CommitteeID) {
		return false
	}
	return (f.DistrictID == "" || f.DistrictID == e.DistrictID) &&
		(f.PartnerID == "" || f.PartnerID == e.PartnerID) &&
		(f.PharmacyID == "" || f.PharmacyID == e.PharmacyID) &&
		(f.SKU == "" || f.SKU == e.SKU)
}
