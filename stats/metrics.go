package stats

import (
	"sync"
	"sync/atomic"

	"github.com/gridhub/gridhub/hub"
)

// statuses counts allocations by status, the whole hub's.
type statuses struct {
	mu sync.RWMutex
	n  map[hub.AllocationStatus]*atomic.Int64
}

// move counts one allocation out of from (none when "") and into to.
func (s *statuses) move(from, to hub.AllocationStatus) {
	if from == to {
		return
	}
	if from != "" {
		s.counter(from).Add(-1)
	}
	if to != "" {
		s.counter(to).Add(1)
	}
}

func (s *statuses) counter(st hub.AllocationStatus) *atomic.Int64 {
	s.mu.RLock()
	c := s.n[st]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[hub.AllocationStatus]*atomic.Int64{}
	}
	if c = s.n[st]; c == nil {
		c = new(atomic.Int64)
		s.n[st] = c
	}
	return c
}

func (s *statuses) reset() {
	s.mu.Lock()
	s.n = map[hub.AllocationStatus]*atomic.Int64{}
	s.mu.Unlock()
}

// AllocationsByStatus returns the number of allocations in each status
// the hub has seen, zero ones included: what a metrics scrape reports.
func (t *Tally) AllocationsByStatus() map[string]int {
	t.status.mu.RLock()
	defer t.status.mu.RUnlock()
	out := make(map[string]int, len(t.status.n))
	for st, c := range t.status.n {
		out[string(st)] = int(c.Load())
	}
	return out
}

// StockBySKU returns the stock on hand in each district the tally knows,
// by supply: district ID -> SKU -> units. It adds up every cell of every
// district, so a scrape costs what a totals query per district does.
func (t *Tally) StockBySKU() map[string]map[string]int {
	t.dmu.RLock()
	views := make([]*view, 0, len(t.districts))
	for _, d := range t.districts {
		if d.view != nil {
			views = append(views, d.view)
		}
	}
	t.dmu.RUnlock()
	all := skus()
	out := make(map[string]map[string]int, len(views))
	for _, v := range views {
		s := v.total()
		m := make(map[string]int, numSKUs)
		for k := range all {
			m[string(all[k])] = int(s.sku[k][fStock])
		}
		out[v.id] = m
	}
	return out
}
