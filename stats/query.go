package stats

import (
	"slices"

	"github.com/gridhub/gridhub/hub"
)

// StockLevel is the stock of one supply.
type StockLevel struct {
	SKU      hub.SKU
	Quantity int
}

// CellStats are the aggregates of one cell at the resolution asked for:
// sums over its base-resolution cells that belong to the district (or the
// district's totals).
type CellStats struct {
	Cell       hub.Cell
	Residents  int
	Pharmacies int
	// Stock on hand by supply, in catalogue order; only the supply asked
	// for when one was.
	Stock []StockLevel
	// Reservations are open ones (PENDING or WAITING) of the cell's
	// residents; Shortages their WAITING waiting-list registrations.
	Reservations int
	Shortages    int
	// Allocations made to the cell's residents, held, redeemed or
	// delivered (not expired, cancelled or failed); Fulfilled those
	// redeemed or delivered.
	Allocations int
	Fulfilled   int
	// Health codes of residents living in the cell, by colour.
	Green, Yellow, Red int
	// Risk is the highest level some risk area in force gives one of the
	// cells, "" for none.
	Risk hub.RiskLevel
}

// Demand is what still waits: open reservations and waiting-list
// registrations.
func (s *CellStats) Demand() int { return s.Reservations + s.Shortages }

// FulfilmentRate is Allocations / (Allocations + Demand), from 0 to 1, or
// nil with neither.
func (s *CellStats) FulfilmentRate() *float64 {
	n := s.Allocations + s.Demand()
	if n <= 0 {
		return nil
	}
	r := float64(s.Allocations) / float64(n)
	return &r
}

// RiskLevel is Risk, nil for none.
func (s *CellStats) RiskLevel() *hub.RiskLevel {
	if s.Risk == "" {
		return nil
	}
	r := s.Risk
	return &r
}

// Active reports whether the cell has something to show: residents,
// pharmacies, stock, demand, allocations, codes or risk.
func (s *CellStats) Active() bool {
	if s.Residents != 0 || s.Pharmacies != 0 || s.Demand() != 0 || s.Allocations != 0 || s.Fulfilled != 0 ||
		s.Green != 0 || s.Yellow != 0 || s.Red != 0 || s.Risk != "" {
		return true
	}
	for _, l := range s.Stock {
		if l.Quantity != 0 {
			return true
		}
	}
	return false
}

// Query says which aggregates to return.
type Query struct {
	// Resolution of the cells returned, MinResolution to MaxResolution;
	// 0 means MaxResolution.
	Resolution int
	// SKU restricts stock, demand and allocations to one supply; "" sums
	// every supply (and lists stock of each).
	SKU hub.SKU
	// Active leaves out cells with nothing to show (CellStats.Active).
	Active bool
}

// check validates q and returns its resolution and supply slot (-1 for
// every supply).
func (q Query) check() (res, k int, err error) {
	res = q.Resolution
	if res == 0 {
		res = MaxResolution
	}
	if res < MinResolution || res > MaxResolution {
		return 0, 0, hub.Errorf(hub.EINVALID, "resolution %d is outside [%d, %d]", q.Resolution, MinResolution, MaxResolution)
	}
	k = -1
	if q.SKU != "" {
		if k = skuIndex(q.SKU); k < 0 {
			return 0, 0, hub.Errorf(hub.EINVALID, "unknown supply %q", q.SKU)
		}
	}
	return res, k, nil
}

// stats turns sums into CellStats, of supply slot k (-1: all). levels, when
// not nil, is where the stock levels go (len 1 or numSKUs), so that many
// cells share one allocation.
func (s *sums) stats(c hub.Cell, k int, levels []StockLevel) CellStats {
	out := CellStats{
		Cell: c, Residents: int(s.residents), Pharmacies: int(s.pharmacies),
		Green: int(s.colours[0]), Yellow: int(s.colours[1]), Red: int(s.colours[2]),
	}
	if s.level > 0 {
		out.Risk = [...]hub.RiskLevel{hub.RiskLow, hub.RiskMedium, hub.RiskHigh}[s.level-1]
	}
	all := skus()
	var f [numFields]int64
	if k >= 0 {
		f = s.sku[k]
		if levels == nil {
			levels = make([]StockLevel, 1)
		}
		levels[0] = StockLevel{SKU: all[k], Quantity: int(f[fStock])}
	} else {
		if levels == nil {
			levels = make([]StockLevel, numSKUs)
		}
		for i := range s.sku {
			for j := range f {
				f[j] += s.sku[i][j]
			}
			levels[i] = StockLevel{SKU: all[i], Quantity: int(s.sku[i][fStock])}
		}
	}
	out.Stock = levels
	out.Reservations, out.Shortages = int(f[fReservations]), int(f[fShortages])
	out.Allocations, out.Fulfilled = int(f[fAllocations]), int(f[fFulfilled])
	return out
}

// CellStats returns the aggregates of district d's cells at q.Resolution,
// in cell order: at MaxResolution one per cell of the district, coarser
// one per parent holding some of them, each summing only the district's
// cells. The district's cells are d's; the tally keeps what it needs to
// answer the next query for them without building it again.
func (t *Tally) CellStats(d *hub.District, q Query) ([]CellStats, error) {
	res, k, err := q.check()
	if err != nil {
		return nil, err
	}
	v, err := t.viewOf(d)
	if err != nil {
		return nil, err
	}
	width := numSKUs
	if k >= 0 {
		width = 1
	}
	if res == MaxResolution {
		out := make([]CellStats, 0, len(v.cells))
		levels := make([]StockLevel, len(v.cells)*width)
		for j, c := range v.cells {
			var s sums
			s.add(v.ctr[j])
			cs := s.stats(c, k, levels[:width:width])
			if q.Active && !cs.Active() {
				continue
			}
			levels = levels[width:]
			out = append(out, cs)
		}
		return out, nil
	}
	g := &v.ups[res-MinResolution]
	out := make([]CellStats, 0, len(g.parents))
	levels := make([]StockLevel, len(g.parents)*width)
	for i, p := range g.parents {
		s := v.sum(g, i)
		cs := s.stats(p, k, levels[:width:width])
		if q.Active && !cs.Active() {
			continue
		}
		levels = levels[width:]
		out = append(out, cs)
	}
	return out, nil
}

// sum adds up the counters of the cells under parent i of rollup g.
func (v *view) sum(g *rollup, i int) sums {
	var s sums
	for _, j := range g.order[g.start[i]:g.start[i+1]] {
		s.add(v.ctr[j])
	}
	return s
}

// Totals returns district d's totals, of one supply when sku is not "".
// Its Cell is the cell at MinResolution holding the centre of the
// district's cells, and Risk the highest level over them.
func (t *Tally) Totals(d *hub.District, sku hub.SKU) (CellStats, error) {
	_, k, err := Query{SKU: sku}.check()
	if err != nil {
		return CellStats{}, err
	}
	v, err := t.viewOf(d)
	if err != nil {
		return CellStats{}, err
	}
	s := v.total()
	return s.stats(v.centre, k, nil), nil
}

// total adds up every cell of the view.
func (v *view) total() sums {
	var s sums
	for _, c := range v.ctr {
		s.add(c)
	}
	return s
}

// Cell returns the aggregates of one base-resolution cell, of one supply
// when sku is not "".
func (t *Tally) Cell(c hub.Cell, sku hub.SKU) (CellStats, error) {
	_, k, err := Query{SKU: sku}.check()
	if err != nil {
		return CellStats{}, err
	}
	var s sums
	if ctr := t.peek(c); ctr != nil {
		s.add(ctr)
	}
	return s.stats(c, k, nil), nil
}

// Touched returns the base-resolution cells whose counters an event
// changes (sorted, no repeats), and the supply whose counters alone it
// changes, "" when it changes counters of no one supply (residents,
// pharmacies, codes, risk, a district's area). It reads nothing but the
// event, so it can run after the event was applied.
func Touched(ev hub.Event) (cells []hub.Cell, sku hub.SKU) {
	switch p := ev.Payload.(type) {
	case hub.StockChangedPayload:
		cells, sku = ev.Cells, p.SKU
	case hub.AllocationPayload:
		cells, sku = []hub.Cell{p.Allocation.Cell}, p.Allocation.SKU
	case hub.RiskAreaPayload:
		cells = ev.Cells
	case hub.ColourChangedPayload:
		cells = ev.Cells
		if p.Cell != 0 {
			cells = []hub.Cell{p.Cell}
		}
	case hub.ReservationPayload:
		if open(p.To) == open(p.From) {
			return nil, p.SKU
		}
		sku = p.SKU
		for _, r := range p.Reservations {
			cells = append(cells, r.Cell)
		}
	case hub.ShortagePayload:
		cells, sku = []hub.Cell{p.Shortage.Cell}, p.Shortage.SKU
	case hub.ResidentPayload:
		for _, r := range p.Residents {
			cells = append(cells, r.Cell)
		}
	case hub.PharmacyPayload:
		cells = []hub.Cell{p.Cell}
		if p.FromCell != 0 {
			cells = append(cells, p.FromCell)
		}
	case hub.DistrictPayload:
		cells = p.Cells
	case hub.RecordsExpiredPayload:
		// One supply's counters when every count is of that supply.
		one := len(p.Counts) > 0
		for _, c := range p.Counts {
			cells = append(cells, c.Cell)
			one = one && c.Record != hub.ExpiredHealthCode && c.SKU == p.Counts[0].SKU
		}
		if one {
			sku = p.Counts[0].SKU
		}
	default:
		return nil, ""
	}
	out := make([]hub.Cell, 0, len(cells))
	for _, c := range cells {
		if c != 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), sku
}

// Changed returns the cells at q.Resolution of district d whose
// aggregates (of q.SKU, when set) the event changed, sorted: what a live
// map recolours. An event of another supply changes nothing of one
// supply's aggregates. A DISTRICT_UPSERTED of d itself changes every
// cell.
func (t *Tally) Changed(d *hub.District, ev hub.Event, q Query) ([]hub.Cell, error) {
	v, res, _, idx, err := t.changed(d, ev, q)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make([]hub.Cell, len(idx))
	for n, i := range idx {
		if res == MaxResolution {
			out[n] = v.cells[i]
		} else {
			out[n] = v.ups[res-MinResolution].parents[i]
		}
	}
	return out, nil
}

// Updates returns the new aggregates of the cells Changed returns, in
// cell order: what districtUpdates sends. q.Active is ignored: a cell
// that has just emptied is news too.
func (t *Tally) Updates(d *hub.District, ev hub.Event, q Query) ([]CellStats, error) {
	v, res, k, idx, err := t.changed(d, ev, q)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make([]CellStats, len(idx))
	for n, i := range idx {
		if res == MaxResolution {
			var s sums
			s.add(v.ctr[i])
			out[n] = s.stats(v.cells[i], k, nil)
			continue
		}
		g := &v.ups[res-MinResolution]
		s := v.sum(g, i)
		out[n] = s.stats(g.parents[i], k, nil)
	}
	return out, nil
}

// changed returns d's view, q's resolution and supply slot, and the
// indexes (cells at MaxResolution, else parents) the event changed,
// sorted.
func (t *Tally) changed(d *hub.District, ev hub.Event, q Query) (v *view, res, k int, idx []int, err error) {
	if res, k, err = q.check(); err != nil {
		return nil, 0, 0, nil, err
	}
	if v, err = t.viewOf(d); err != nil {
		return nil, 0, 0, nil, err
	}
	if p, ok := ev.Payload.(hub.DistrictPayload); ok && p.DistrictID == v.id {
		n := len(v.cells)
		if res < MaxResolution {
			n = len(v.ups[res-MinResolution].parents)
		}
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return v, res, k, idx, nil
	}
	cells, sku := Touched(ev)
	if q.SKU != "" && sku != "" && sku != q.SKU {
		return v, res, k, nil, nil
	}
	for _, c := range cells {
		j := v.index(c)
		if j < 0 {
			continue
		}
		if res < MaxResolution {
			j = int(v.ups[res-MinResolution].of[j])
		}
		idx = append(idx, j)
	}
	slices.Sort(idx)
	return v, res, k, slices.Compact(idx), nil
}
