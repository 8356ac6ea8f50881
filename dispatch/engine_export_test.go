package dispatch

import (
	"fmt"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// SetSerialWrites makes every Reserve of e hold one lock from start to
// end, store writes included: the baseline of the reservation benchmark.
func SetSerialWrites(e *Engine, on bool) { e.serialWrites = on }

// BookStock returns the units e may still hand out of sku at a pharmacy,
// and whether it knows the pharmacy.
func BookStock(e *Engine, sku hub.SKU, pharmacyID string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.pharmIdx[pharmacyID]
	if !ok {
		return 0, false
	}
	return e.books[sku].stock[i], true
}

// CheckBooks reports the first way e's books disagree with themselves
// when no call is in progress: nothing in flight, no pharmacy held for
// its waiting list, every matcher on the book's stock, no stock negative.
func CheckBooks(e *Engine) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for sku, b := range e.books {
		if b.holding != 0 || b.waitingWrites != 0 {
			return fmt.Errorf("%s: %d holds, %d WAITING writes in flight", sku, b.holding, b.waitingWrites)
		}
		for i, p := range e.pharm {
			if b.held[i] != 0 {
				return fmt.Errorf("%s at %s: held %d times", sku, p.id, b.held[i])
			}
			if b.inflight[i] != 0 || b.returning[i] != 0 {
				return fmt.Errorf("%s at %s: %d in flight, %d returning", sku, p.id, b.inflight[i], b.returning[i])
			}
			if b.stock[i] < 0 {
				return fmt.Errorf("%s at %s: stock %d", sku, p.id, b.stock[i])
			}
			for k, m := range b.matchers {
				if m.Stock(i) != b.stock[i] {
					return fmt.Errorf("%s at %s: matcher of reach %d has %d, the book %d", sku, p.id, k, m.Stock(i), b.stock[i])
				}
			}
			for id, sm := range b.slotted {
				if sm.m.Stock(i) != b.stock[i] {
					return fmt.Errorf("%s at %s: the matcher of round %s has %d, the book %d", sku, p.id, id, sm.m.Stock(i), b.stock[i])
				}
				for s, start := range sm.m.slotStart[i] {
					taken := sm.m.slotCap[i][s] - sm.m.slotLeft[i][s]
					if want := min(e.slotUsed[id][keyOf(p.id, start)], sm.m.slotCap[i][s]); taken != want {
						return fmt.Errorf("round %s at %s, slot %s: the matcher has %d places taken, the counts %d", id, p.id, start.Format(time.RFC3339), taken, want)
					}
				}
			}
		}
	}
	return nil
}
