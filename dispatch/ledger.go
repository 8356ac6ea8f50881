package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// ledgerSteps finds, in a pharmacy's stock ledger, the entries that a
// write of this hub just appended, so that each STOCK_CHANGED event carries
// the stock after its own step (the ledger's After) rather than the stock
// read once after the whole write. The store appends the entries of one
// write in the order of the write, after every entry that existed before
// it; so a writer notes the ledger's tail before it writes (mark) and,
// once the write is durable, reads the entries after that tail and claims
// those that are its own (steps).
//
// Several writers may write to one pharmacy at once: an entry is claimed
// once, so two writes of identical steps (same SKU, delta, reason and
// time) each get one of the two entries, and the events together carry
// every step's value.
type ledgerSteps struct {
	marks sync.Map // pharmacy ID -> *ledgerMark
}

// ledgerMark is what this hub knows of one pharmacy's ledger: the last
// Seq it has seen, and the entries after some in-flight writer's mark
// that a writer has claimed.
type ledgerMark struct {
	mu      sync.Mutex
	known   bool
	seq     uint64
	claimed map[uint64]struct{}
}

// claimWindow bounds the claimed entries remembered per pharmacy: those
// more than claimWindow entries behind the last one seen are forgotten.
const claimWindow = 4096

// stepWant is one step of a write: the ledger entry it appends.
type stepWant struct {
	sku    hub.SKU
	delta  int
	reason string
	at     time.Time
}

func (w stepWant) matches(e hub.StockEntry) bool {
	// A backend may keep times at millisecond precision.
	return e.SKU == w.sku && e.Delta == w.delta && e.Reason == w.reason &&
		e.At.Truncate(time.Millisecond).Equal(w.at.Truncate(time.Millisecond))
}

func (l *ledgerSteps) markOf(pharmacyID string) *ledgerMark {
	if m, ok := l.marks.Load(pharmacyID); ok {
		return m.(*ledgerMark)
	}
	m, _ := l.marks.LoadOrStore(pharmacyID, &ledgerMark{claimed: map[uint64]struct{}{}})
	return m.(*ledgerMark)
}

// mark returns the Seq of the pharmacy's last ledger entry as this hub
// knows it, at or before the ledger's tail now: a write that starts after
// mark returns appends entries after it. The first call for a pharmacy
// finds the tail in the store.
func (l *ledgerSteps) mark(ctx context.Context, st hub.Store, pharmacyID string) (uint64, error) {
	m := l.markOf(pharmacyID)
	m.mu.Lock()
	known, seq := m.known, m.seq
	m.mu.Unlock()
	if known {
		return seq, nil
	}
	tail, err := ledgerTail(ctx, st, pharmacyID)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known || tail > m.seq {
		m.known, m.seq = true, max(m.seq, tail)
	}
	return tail, nil
}

// steps reads the pharmacy's ledger after from (a mark taken before the
// write) and returns, for each want in order, the entry that is its step:
// the first unclaimed entry after from that matches it, after the step
// before it. ok is false when some want has no entry (nothing is claimed
// then).
//
// A writer may claim another's identical entry, never more entries than
// writers that have written; but a ledger read before some later writers
// claimed can run out of unclaimed entries while theirs, written after the
// read, are still free. So a read that runs out is read again with the
// lock held: every writer that claimed before it had written its own entry
// by then, so one unclaimed match is there for each want.
func (l *ledgerSteps) steps(ctx context.Context, st hub.Store, pharmacyID string, from uint64, wants []stepWant) ([]hub.StockEntry, bool) {
	es, err := st.StockLedger(ctx, pharmacyID, from, 0)
	if err != nil || len(es) == 0 {
		return nil, false
	}
	m := l.markOf(pharmacyID)
	m.mu.Lock()
	defer m.mu.Unlock()
	out, ok := m.claim(es, wants)
	if !ok {
		if es, err = st.StockLedger(ctx, pharmacyID, from, 0); err != nil || len(es) == 0 {
			return nil, false
		}
		if out, ok = m.claim(es, wants); !ok {
			return nil, false
		}
	}
	last := es[len(es)-1].Seq
	m.known, m.seq = true, max(m.seq, last)
	if len(m.claimed) > claimWindow {
		for s := range m.claimed {
			if s+claimWindow < m.seq {
				delete(m.claimed, s)
			}
		}
	}
	return out, true
}

// claim finds in es, for each want in order, the first unclaimed entry
// that matches it after the one found for the want before, and claims
// them all; ok is false (nothing claimed) when some want has none. The
// caller holds m.mu.
func (m *ledgerMark) claim(es []hub.StockEntry, wants []stepWant) ([]hub.StockEntry, bool) {
	out := make([]hub.StockEntry, 0, len(wants))
	j := 0
	for _, w := range wants {
		for j < len(es) {
			_, taken := m.claimed[es[j].Seq]
			if !taken && w.matches(es[j]) {
				break
			}
			j++
		}
		if j == len(es) {
			return nil, false
		}
		out = append(out, es[j])
		j++
	}
	for _, e := range out {
		m.claimed[e.Seq] = struct{}{}
	}
	return out, true
}

// ledgerTail returns the Seq of a pharmacy's last ledger entry (0 when it
// has none) in a logarithmic number of one-entry reads: Seqs increase
// along the ledger, so "an entry after x exists" holds below the tail and
// fails from it on.
func ledgerTail(ctx context.Context, st hub.Store, pharmacyID string) (uint64, error) {
	after := func(x uint64) (uint64, bool, error) {
		es, err := st.StockLedger(ctx, pharmacyID, x, 1)
		if err != nil || len(es) == 0 {
			return 0, false, err
		}
		return es[0].Seq, true, nil
	}
	lo, ok, err := after(0) // lo: an entry's Seq, so lo <= tail
	if err != nil || !ok {
		return 0, err
	}
	step := uint64(64)
	hi := lo + step // once a Seq past which no entry exists: tail < hi
	for {
		s, ok, err := after(hi - 1)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, step = s, step*2
		hi = lo + step
	}
	// lo <= tail < hi: find the least x in [lo, hi) with no entry after x.
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		s, ok, err := after(mid - 1)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = s
			if lo >= hi {
				break
			}
		} else {
			hi = mid
		}
	}
	return lo, nil
}
