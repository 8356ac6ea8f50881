package replay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
)

// fanout holds one restockAlerts-equivalent subscription per committee
// (RESTOCK events touching any of the committee's cells, every SKU) and
// counts what each receives. Each subscription has a goroutine that
// drains it; close ends them all.
type fanout struct {
	ids    []string
	subs   []*broker.Subscription
	byCell map[hub.Cell][]int // base cell -> indexes of the committees holding it
	mark   []uint64           // mark[i]: Seq of the last event counted for committee i (expect)

	received []atomic.Int64 // received[i]: deliveries to committee i
	arrived  atomic.Int64   // deliveries to all, plus the events they were told were dropped
	dropped  atomic.Int64   // events dropped from their queues (Delivery.Gap)
	wg       sync.WaitGroup
}

// subscribeCommittees subscribes every committee of cs to the restocks
// that touch its area. The subscriptions end with ctx or close.
func subscribeCommittees(ctx context.Context, bus broker.Bus, cs []*hub.Committee) (*fanout, error) {
	f := &fanout{
		ids:      make([]string, len(cs)),
		byCell:   map[hub.Cell][]int{},
		mark:     make([]uint64, len(cs)),
		received: make([]atomic.Int64, len(cs)),
	}
	for i, c := range cs {
		f.ids[i] = c.ID
		for _, cell := range c.Cells {
			f.byCell[cell] = append(f.byCell[cell], i)
		}
		sub, err := bus.Subscribe(ctx, broker.Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: c.Cells})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("subscribe committee %s: %w", c.ID, err)
		}
		f.subs = append(f.subs, sub)
		f.wg.Go(func() {
			for d := range sub.C() {
				if d.Gap > 0 {
					f.dropped.Add(int64(d.Gap))
					f.arrived.Add(int64(d.Gap))
				}
				f.received[i].Add(1)
				f.arrived.Add(1)
			}
		})
	}
	return f, nil
}

// expect returns how many of the subscribed committees the event seq,
// touching cells, reaches: those holding any of the cells, each once.
// Calls come from one goroutine, in Seq order.
func (f *fanout) expect(seq uint64, cells []hub.Cell) int {
	n := 0
	for _, c := range cells {
		for _, i := range f.byCell[c] {
			if f.mark[i] != seq {
				f.mark[i] = seq
				n++
			}
		}
	}
	return n
}

// wait returns once the committees have received want deliveries (or been
// told of their loss), or fails after timeout or when ctx ends.
func (f *fanout) wait(ctx context.Context, want int64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for f.arrived.Load() < want {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("committees: %d of %d alerts arrived within %s", f.arrived.Load(), want, timeout)
		case <-tick.C:
		}
	}
	return nil
}

// alerted returns the deliveries counted and the number of committees that
// received at least one.
func (f *fanout) alerted() (alerts int64, committees int) {
	for i := range f.received {
		if n := f.received[i].Load(); n > 0 {
			alerts += n
			committees++
		}
	}
	return alerts, committees
}

// close ends every subscription and waits for their goroutines.
func (f *fanout) close() {
	for _, s := range f.subs {
		s.Close()
	}
	f.wg.Wait()
}
