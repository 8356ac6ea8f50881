package dispatch

import (
	"fmt"
	"slices"
)

// CheckInvariants reports the first way the locator's two indexes
// disagree: every pharmacy is listed once, in the cell it stands in, cell
// lists are sorted and none is empty.
func (l *Locator) CheckInvariants() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	seen := map[string]bool{}
	for c, ids := range l.byCell {
		if len(ids) == 0 {
			return fmt.Errorf("cell %s has an empty list", c)
		}
		if !slices.IsSorted(ids) {
			return fmt.Errorf("cell %s: ids not sorted: %v", c, ids)
		}
		for _, id := range ids {
			p, ok := l.byID[id]
			if !ok {
				return fmt.Errorf("cell %s lists unknown pharmacy %s", c, id)
			}
			if p.Cell != c {
				return fmt.Errorf("cell %s lists pharmacy %s, which stands in %s", c, id, p.Cell)
			}
			if seen[id] {
				return fmt.Errorf("pharmacy %s is listed twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != len(l.byID) {
		return fmt.Errorf("%d pharmacies, %d listed in cells", len(l.byID), len(seen))
	}
	return nil
}

// CellCount returns the number of cells holding pharmacies.
func (l *Locator) CellCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.byCell)
}
