// Package dispatch matches rationed supplies to people by neighborhood on
// the grid. It knows nothing of GraphQL or HTTP. The algorithms (the
// locator, matching, fair shares, the lottery, pickup codes) work on hub
// types alone and can be benchmarked alone; the Engine runs rounds over
// any hub.Store.
package dispatch

import (
	"cmp"
	"slices"
	"sync"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Match is a pharmacy found near a person: Ring is the number of grid
// steps between their cells, Meters the great-circle distance.
type Match struct {
	Pharmacy *hub.Pharmacy
	Ring     int
	Meters   float64
}

// Locator indexes pharmacies by cell so that a neighborhood search costs
// the cells of the disk, not the number of pharmacies. It is safe for
// concurrent use.
type Locator struct {
	mu     sync.RWMutex
	byID   map[string]*hub.Pharmacy
	byCell map[hub.Cell][]string // sorted pharmacy IDs
}

// NewLocator returns an empty locator.
func NewLocator() *Locator {
	return &Locator{byID: map[string]*hub.Pharmacy{}, byCell: map[hub.Cell][]string{}}
}

// Put adds or replaces a pharmacy. The locator keeps its own copy.
func (l *Locator) Put(p *hub.Pharmacy) {
	cp := clonePharmacy(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.byID[p.ID]; ok && old.Cell != p.Cell {
		l.byCell[old.Cell] = slices.DeleteFunc(l.byCell[old.Cell], func(id string) bool { return id == p.ID })
		if len(l.byCell[old.Cell]) == 0 {
			delete(l.byCell, old.Cell)
		}
	}
	if _, ok := l.byID[p.ID]; !ok || l.byID[p.ID].Cell != p.Cell {
		ids := l.byCell[p.Cell]
		i, _ := slices.BinarySearch(ids, p.ID)
		l.byCell[p.Cell] = slices.Insert(ids, i, p.ID)
	}
	l.byID[p.ID] = cp
}

// Reset replaces everything indexed with ps.
func (l *Locator) Reset(ps []*hub.Pharmacy) {
	fresh := NewLocator()
	for _, p := range ps {
		fresh.Put(p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID, l.byCell = fresh.byID, fresh.byCell
}

// Len returns the number of pharmacies indexed.
func (l *Locator) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.byID)
}

// Near returns the pharmacies within k rings of the point, nearest ring
// first and, within a ring, nearest first (ties by ID). With a non-empty
// sku only pharmacies with that supply in stock are returned.
func (l *Locator) Near(at hub.Point, k int, sku hub.SKU) ([]Match, error) {
	origin, err := grid.CellAt(at, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	rings, err := grid.Rings(origin, k)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Match
	for ring, cells := range rings {
		start := len(out)
		for _, c := range cells {
			for _, id := range l.byCell[c] {
				p := l.byID[id]
				if sku != "" && p.Stock[sku] <= 0 {
					continue
				}
				out = append(out, Match{Pharmacy: clonePharmacy(p), Ring: ring, Meters: grid.DistanceMeters(at, p.Location)})
			}
		}
		sortMatches(out[start:])
	}
	return out, nil
}

// NearScan answers the same question as Near by measuring the grid
// distance to every pharmacy. It is the baseline the index is measured
// against, and a cross-check in tests.
func (l *Locator) NearScan(at hub.Point, k int, sku hub.SKU) ([]Match, error) {
	origin, err := grid.CellAt(at, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	if err := grid.CheckK(k); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Match
	for _, p := range l.byID {
		if sku != "" && p.Stock[sku] <= 0 {
			continue
		}
		d, err := grid.Distance(origin, p.Cell)
		if err != nil || d > k {
			continue // too far for H3 to measure is also out of reach
		}
		out = append(out, Match{Pharmacy: clonePharmacy(p), Ring: d, Meters: grid.DistanceMeters(at, p.Location)})
	}
	sortMatches(out)
	return out, nil
}

func sortMatches(ms []Match) {
	slices.SortFunc(ms, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Ring, b.Ring), cmp.Compare(a.Meters, b.Meters), cmp.Compare(a.Pharmacy.ID, b.Pharmacy.ID))
	})
}

func clonePharmacy(p *hub.Pharmacy) *hub.Pharmacy {
	cp := *p
	cp.Stock = make(map[hub.SKU]int, len(p.Stock))
	for k, v := range p.Stock {
		cp.Stock[k] = v
	}
	return &cp
}
