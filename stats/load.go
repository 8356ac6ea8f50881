package stats

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// loadPage is how many records Load reads at once.
const loadPage = 5000

// Load replaces the tally's counters with a count of the store's records,
// once, at start: call it before the tally observes any event, and before
// the services that publish through it start (an event applied during
// Load may be counted twice or not at all).
//
// It also rebuilds each district's hourly points for the last MaxHours
// hours, as far as the records' times allow:
//
//   - stock from the stock ledger, every entry dated (at the pharmacy's
//     present cell: a pharmacy that moved is counted where it is now);
//   - allocations from their creation time, and their end (returned, or
//     fulfilled) from their last update, which is that move since a final
//     status never moves again;
//   - reservations as demand from their creation until their allocation
//     was made or, when they ended otherwise (cancelled, lost), their last
//     update; a reservation that went back to PENDING after it ended
//     counts as open all along;
//   - waiting-list registrations from their creation until served;
//   - risk cells from the areas' marking and lifting times (a marking that
//     a later one of the same centre replaced is not kept, so the later
//     one is taken as the only one);
//   - health codes by colour keep no history: every point has the
//     colours as they are at Load.
//
// Points start at the hour of the oldest record's time, or at the hour in
// progress when there are none.
func (t *Tally) Load(ctx context.Context, st hub.Store) error {
	t.rollMu.Lock()
	defer t.rollMu.Unlock()
	t.pharmMu.Lock()
	defer t.pharmMu.Unlock()
	t.riskMu.Lock()
	defer t.riskMu.Unlock()
	t.reset()
	now := t.now()
	h := hourOf(now)
	hist := newHistory(h)

	ds, err := st.Districts(ctx)
	if err != nil {
		return fmt.Errorf("stats: load districts: %w", err)
	}
	views := make([]*view, len(ds))
	for i, d := range ds {
		views[i] = t.newView(d.ID, d.Cells, d.UpdatedAt)
		for _, c := range views[i].cells {
			hist.districtOf[c] = i
		}
	}

	if err := t.loadResidents(ctx, st); err != nil {
		return err
	}
	if err := t.loadPharmacies(ctx, st, hist); err != nil {
		return err
	}
	allocated, err := t.loadAllocations(ctx, st, hist)
	if err != nil {
		return err
	}
	if err := t.loadReservations(ctx, st, hist, allocated); err != nil {
		return err
	}
	if err := t.loadShortages(ctx, st, hist); err != nil {
		return err
	}
	ccs, err := st.ColourCounts(ctx, "")
	if err != nil {
		return fmt.Errorf("stats: load colour counts: %w", err)
	}
	for _, cc := range ccs {
		if r := cc.Colour.Rank(); r > 0 && cc.Cell != 0 {
			t.cell(cc.Cell).colours[r-1].Add(int64(cc.Count))
		}
	}
	areas, err := st.RiskAreas(ctx, false)
	if err != nil {
		return fmt.Errorf("stats: load risk areas: %w", err)
	}
	for _, a := range areas {
		if a.Active() {
			t.setArea(a.ID, slices.Clone(a.Cells))
		}
		hist.area(a)
	}

	t.dmu.Lock()
	defer t.dmu.Unlock()
	for i, v := range views {
		d := &district{id: v.id, view: v}
		cur := v.total()
		d.hist = hist.series(i, &cur)
		t.districts[v.id] = d
	}
	t.rolled = h
	return nil
}

func (t *Tally) loadResidents(ctx context.Context, st hub.Store) error {
	after := ""
	for {
		rs, err := st.Residents(ctx, hub.ResidentFilter{After: after, Limit: loadPage})
		if err != nil {
			return fmt.Errorf("stats: load residents: %w", err)
		}
		for _, r := range rs {
			if r.Cell != 0 {
				t.cell(r.Cell).residents.Add(1)
			}
		}
		if len(rs) < loadPage {
			return nil
		}
		after = rs[len(rs)-1].ID
	}
}

func (t *Tally) loadPharmacies(ctx context.Context, st hub.Store, hist *history) error {
	ps, err := st.Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("stats: load pharmacies: %w", err)
	}
	for _, p := range ps {
		if p.Cell == 0 {
			continue
		}
		ph := &pharmacy{cell: p.Cell, counted: true}
		ctr := t.cell(p.Cell)
		ctr.pharmacies.Add(1)
		for sku, q := range p.Stock {
			if k := skuIndex(sku); k >= 0 {
				ph.stock[k] += int64(q)
				ctr.sku[k][fStock].Add(int64(q))
			}
		}
		t.pharm[p.ID] = ph
		if _, ok := hist.districtOf[p.Cell]; !ok {
			continue // no district's: no series to rebuild
		}
		var after uint64
		for {
			es, err := st.StockLedger(ctx, p.ID, after, loadPage)
			if err != nil {
				return fmt.Errorf("stats: load stock ledger of %s: %w", p.ID, err)
			}
			for _, e := range es {
				hist.add(e.At, p.Cell, e.SKU, pStock, int64(e.Delta))
			}
			if len(es) < loadPage {
				break
			}
			after = es[len(es)-1].Seq
		}
	}
	return nil
}

// loadAllocations counts allocations and returns when each was made, by
// ID, for the reservations they served.
func (t *Tally) loadAllocations(ctx context.Context, st hub.Store, hist *history) (map[string]time.Time, error) {
	made := map[string]time.Time{}
	after := ""
	for {
		as, err := st.Allocations(ctx, hub.AllocationFilter{After: after, Limit: loadPage})
		if err != nil {
			return nil, fmt.Errorf("stats: load allocations: %w", err)
		}
		for _, a := range as {
			made[a.ID] = a.CreatedAt
			t.status.move("", a.Status)
			k := skuIndex(a.SKU)
			if k < 0 || a.Cell == 0 {
				continue
			}
			ctr := t.cell(a.Cell)
			ctr.sku[k][fAllocations].Add(held(a.Status))
			ctr.sku[k][fFulfilled].Add(handedOut(a.Status))
			hist.add(a.CreatedAt, a.Cell, a.SKU, pAllocations, 1)
			if held(a.Status) == 0 {
				hist.add(a.UpdatedAt, a.Cell, a.SKU, pAllocations, -1)
			}
			if handedOut(a.Status) == 1 {
				hist.add(a.UpdatedAt, a.Cell, a.SKU, pFulfilled, 1)
			}
		}
		if len(as) < loadPage {
			return made, nil
		}
		after = as[len(as)-1].ID
	}
}

func (t *Tally) loadReservations(ctx context.Context, st hub.Store, hist *history, allocated map[string]time.Time) error {
	rounds, err := st.Rounds(ctx, "")
	if err != nil {
		return fmt.Errorf("stats: load rounds: %w", err)
	}
	for _, r := range rounds {
		k := skuIndex(r.SKU)
		if k < 0 {
			continue
		}
		after := ""
		for {
			rs, err := st.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, After: after, Limit: loadPage})
			if err != nil {
				return fmt.Errorf("stats: load reservations of round %s: %w", r.ID, err)
			}
			for _, rv := range rs {
				if rv.Cell == 0 {
					continue
				}
				if open(rv.Status) == 1 {
					t.cell(rv.Cell).sku[k][fReservations].Add(1)
				}
				hist.add(rv.CreatedAt, rv.Cell, r.SKU, pDemand, 1)
				if open(rv.Status) == 0 {
					ended := rv.UpdatedAt
					if at, ok := allocated[rv.AllocationID]; ok && rv.AllocationID != "" {
						ended = at
					}
					hist.add(ended, rv.Cell, r.SKU, pDemand, -1)
				}
			}
			if len(rs) < loadPage {
				break
			}
			after = rs[len(rs)-1].ID
		}
	}
	return nil
}

func (t *Tally) loadShortages(ctx context.Context, st hub.Store, hist *history) error {
	after := ""
	for {
		ss, err := st.Shortages(ctx, hub.ShortageFilter{After: after, Limit: loadPage})
		if err != nil {
			return fmt.Errorf("stats: load shortages: %w", err)
		}
		for _, s := range ss {
			k := skuIndex(s.SKU)
			if k < 0 || s.Cell == 0 {
				continue
			}
			if s.Status == hub.ShortageWaiting {
				t.cell(s.Cell).sku[k][fShortages].Add(1)
			}
			hist.add(s.CreatedAt, s.Cell, s.SKU, pDemand, 1)
			if s.Status != hub.ShortageWaiting {
				hist.add(s.UpdatedAt, s.Cell, s.SKU, pDemand, -1)
			}
		}
		if len(ss) < loadPage {
			return nil
		}
		after = ss[len(ss)-1].ID
	}
}

// history rebuilds districts' hourly points from dated changes: the point
// of hour b is the present minus every change dated at or after b's
// start. Changes are kept by district and hour; those before the oldest
// hour kept change every point alike and are not needed.
type history struct {
	now        int64 // the hour in progress: the newest point
	oldest     int64 // the hour of the oldest record seen, at least now-MaxHours+1
	districtOf map[hub.Cell]int
	// after[d][i] adds up district d's changes in hour now-MaxHours+1+i
	// (a change dated later than now counts in the last hour).
	after map[int]*[MaxHours][numSKUs][numFields - 1]int64
	// risk[d] are the hours each district cell spent under a risk area.
	risk map[int]map[hub.Cell][][2]int64
}

func newHistory(now int64) *history {
	return &history{
		now: now, oldest: now, districtOf: map[hub.Cell]int{},
		after: map[int]*[MaxHours][numSKUs][numFields - 1]int64{},
		risk:  map[int]map[hub.Cell][][2]int64{},
	}
}

// first is the oldest hour kept.
func (h *history) first() int64 { return h.now - MaxHours + 1 }

// add records a change of field f of supply sku in cell c at time at.
func (h *history) add(at time.Time, c hub.Cell, sku hub.SKU, f int, delta int64) {
	if at.IsZero() {
		return
	}
	d, ok := h.districtOf[c]
	k := skuIndex(sku)
	if !ok || k < 0 {
		return
	}
	hr := hourOf(at)
	h.oldest = max(min(h.oldest, hr), h.first())
	if hr < h.first() {
		return // before every point kept
	}
	hr = min(hr, h.now)
	a := h.after[d]
	if a == nil {
		a = new([MaxHours][numSKUs][numFields - 1]int64)
		h.after[d] = a
	}
	a[hr-h.first()][k][f] += delta
}

// area records the hours a risk area covered district cells: the points
// from its marking (on or after) to its lifting (before).
func (h *history) area(a *hub.RiskArea) {
	if a.MarkedAt.IsZero() {
		return
	}
	from := hourOf(a.MarkedAt)
	if !hourStart(from).Equal(a.MarkedAt) {
		from++ // marked during the hour: not at its start
	}
	to := h.now
	if !a.Active() {
		to = hourOf(a.LiftedAt)
		if hourStart(to).Equal(a.LiftedAt) {
			to-- // lifted on the hour: not at its start
		}
	}
	h.oldest = max(min(h.oldest, hourOf(a.MarkedAt)), h.first())
	from = max(from, h.first())
	if from > to {
		return
	}
	for _, rc := range a.Cells {
		d, ok := h.districtOf[rc.Cell]
		if !ok {
			continue
		}
		m := h.risk[d]
		if m == nil {
			m = map[hub.Cell][][2]int64{}
			h.risk[d] = m
		}
		m[rc.Cell] = append(m[rc.Cell], [2]int64{from, to})
	}
}

// series returns district d's rebuilt points, cur being its totals now.
func (h *history) series(d int, cur *sums) series {
	n := int(h.now - h.oldest + 1)
	s := series{last: h.now, pts: make([]hourPoint, n, min(MaxHours, n+1))}
	p := pointOf(cur)
	p.riskCells = 0
	a := h.after[d]
	// Walk back from the hour in progress: the point of an hour is the
	// point of the next one less the changes made during the hour.
	for i := n - 1; i >= 0; i-- {
		hr := h.oldest + int64(i)
		if a != nil {
			for k := range p.sku {
				for f := range p.sku[k] {
					p.sku[k][f] -= a[hr-h.first()][k][f]
				}
			}
		}
		s.pts[i] = p
	}
	// Risk cells: per cell, the union of the hours its areas covered.
	var diff [MaxHours + 1]int64
	for _, spans := range h.risk[d] {
		slices.SortFunc(spans, func(x, y [2]int64) int { return int(x[0] - y[0]) })
		lo, hi := spans[0][0], spans[0][1]
		for _, sp := range spans[1:] {
			if sp[0] <= hi+1 {
				hi = max(hi, sp[1])
				continue
			}
			diff[lo-h.first()]++
			diff[hi-h.first()+1]--
			lo, hi = sp[0], sp[1]
		}
		diff[lo-h.first()]++
		diff[hi-h.first()+1]--
	}
	var run int64
	for hr := h.first(); hr <= h.now; hr++ {
		run += diff[hr-h.first()]
		if hr >= h.oldest {
			s.pts[hr-h.oldest].riskCells = run
		}
	}
	return s
}
