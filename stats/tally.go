// Package stats keeps the aggregates a district's dashboard shows: for
// every base-resolution cell, counters of residents, pharmacies, stock by
// supply, open reservations, waiting-list registrations, allocations,
// fulfilled allocations, health codes by colour and the risk level. The
// counters are kept current from domain events (Tally.Apply as a view of
// the bus, Tally.Observe, or Tally.Publisher in front of a publisher), so
// a query sums counters and
// never scans records: a district of 10,000 cells answers in about a
// millisecond. Coarser resolutions (down to 5) roll the district's cells
// up with grid.Parent, and hourly totals of each district are kept in
// memory for the last MaxHours hours.
//
// The package knows nothing of GraphQL; its types map one to one onto the
// schema's CellStats and DistrictPoint.
package stats

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/hub"
)

// numSKUs is the size of the catalogue (hub.Supplies); counters hold one
// slot per supply, in catalogue order. A test keeps the two in step.
const numSKUs = 5

// skuIndex returns the catalogue slot of sku, or -1 for no known supply.
func skuIndex(sku hub.SKU) int {
	switch sku {
	case hub.MaskAdult:
		return 0
	case hub.MaskChild:
		return 1
	case hub.MaskN95:
		return 2
	case hub.HandSanitizer:
		return 3
	case hub.TestKit:
		return 4
	}
	return -1
}

// skus lists the supplies in catalogue order, one per slot.
func skus() [numSKUs]hub.SKU {
	return [numSKUs]hub.SKU{hub.MaskAdult, hub.MaskChild, hub.MaskN95, hub.HandSanitizer, hub.TestKit}
}

// The counters of one supply in one cell.
const (
	fStock        = iota // units on hand at the cell's pharmacies
	fReservations        // open reservations (PENDING or WAITING) of the cell's residents
	fShortages           // WAITING waiting-list registrations
	fAllocations         // allocations held, redeemed or delivered
	fFulfilled           // allocations redeemed or delivered
	numFields
)

// counters are one base-resolution cell's counters. Each is updated with
// an atomic add, so writers never wait for each other or for readers; a
// reader may see an event half applied while it is being applied, never
// after Observe returns.
type counters struct {
	residents  atomic.Int64
	pharmacies atomic.Int64
	colours    [3]atomic.Int64 // health codes by colour: Rank-1
	risk       [3]atomic.Int64 // areas in force giving the cell each level: Rank-1
	sku        [numSKUs][numFields]atomic.Int64
}

// level returns the rank of the highest risk level some area in force
// gives the cell, 0 for none.
func (c *counters) level() int {
	for r := 3; r > 0; r-- {
		if c.risk[r-1].Load() > 0 {
			return r
		}
	}
	return 0
}

// sums are counters added up over cells, as plain numbers.
type sums struct {
	residents, pharmacies int64
	colours               [3]int64
	sku                   [numSKUs][numFields]int64
	level                 int   // highest risk rank over the cells
	riskCells             int64 // cells under some risk area
}

func (s *sums) add(c *counters) {
	s.residents += c.residents.Load()
	s.pharmacies += c.pharmacies.Load()
	for i := range c.colours {
		s.colours[i] += c.colours[i].Load()
	}
	for k := range c.sku {
		for f := range c.sku[k] {
			s.sku[k][f] += c.sku[k][f].Load()
		}
	}
	if l := c.level(); l > 0 {
		s.riskCells++
		s.level = max(s.level, l)
	}
}

// shards split the cell map so that a new cell's insert locks 1/64 of it.
const numShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[hub.Cell]*counters
}

// Options configure a Tally. Zero values take defaults.
type Options struct {
	// Now is the clock that dates hourly points; default time.Now.
	Now func() time.Time
}

// Tally holds the counters of every base-resolution cell, the districts
// it knows and their hourly series. It is safe for concurrent use: Observe
// may run in many goroutines at once, and queries take no lock that a
// writer holds for longer than a map lookup (except once an hour, while
// the hour's points are taken).
//
// Create it with New, fill it from the store with Load, then put it in
// front of the broker with Publisher before any service publishes.
type Tally struct {
	now    func() time.Time
	shards [numShards]shard

	// rollMu orders events with the hourly points: Observe holds it for
	// reading while it applies an event, roll for writing while it takes
	// the points, so each point holds exactly the events before its hour.
	rollMu sync.RWMutex
	rolled int64 // hour index of the newest point taken; guarded by rollMu

	pharmMu sync.Mutex
	pharm   map[string]*pharmacy

	riskMu sync.Mutex
	areas  map[string][]hub.RiskCell // risk areas in force by ID, with their cells

	dmu       sync.RWMutex
	districts map[string]*district

	status statuses // allocations by status, hub-wide
}

// pharmacy is what the tally remembers of a pharmacy: where it is and its
// stock, so that a pharmacy that moves takes its stock along.
type pharmacy struct {
	cell    hub.Cell
	stock   [numSKUs]int64
	counted bool // counted in its cell's pharmacies (it was created or loaded)
}

// New returns an empty tally.
func New(opts Options) *Tally {
	t := &Tally{now: opts.Now}
	if t.now == nil {
		t.now = time.Now
	}
	t.reset()
	return t
}

// reset empties the tally. Callers hold rollMu, pharmMu and riskMu, or
// own t exclusively.
func (t *Tally) reset() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.m = map[hub.Cell]*counters{}
		sh.mu.Unlock()
	}
	t.pharm = map[string]*pharmacy{}
	t.areas = map[string][]hub.RiskCell{}
	t.status.reset()
	t.dmu.Lock()
	t.districts = map[string]*district{}
	t.dmu.Unlock()
	t.rolled = hourOf(t.now())
}

func shardOf(c hub.Cell) int { return int((uint64(c) * 0x9E3779B97F4A7C15) >> 58) }

// cell returns the counters of c, made on first use. Counters are never
// removed, so a pointer stays good.
func (t *Tally) cell(c hub.Cell) *counters {
	sh := &t.shards[shardOf(c)]
	sh.mu.RLock()
	ctr := sh.m[c]
	sh.mu.RUnlock()
	if ctr != nil {
		return ctr
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ctr = sh.m[c]; ctr == nil {
		ctr = new(counters)
		sh.m[c] = ctr
	}
	return ctr
}

// peek returns the counters of c, or nil when nothing was counted there.
func (t *Tally) peek(c hub.Cell) *counters {
	sh := &t.shards[shardOf(c)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[c]
}

// Publisher returns a publisher that applies each event to the counters
// and then hands it to next: a subscriber that receives an event finds
// the counters already counting it. next may be nil (count only).
func (t *Tally) Publisher(next hub.Publisher) hub.Publisher {
	return publisher{t: t, next: next}
}

type publisher struct {
	t    *Tally
	next hub.Publisher
}

// Publish implements hub.Publisher.
func (p publisher) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	p.t.Observe(ev)
	if p.next == nil {
		return 0, nil
	}
	return p.next.Publish(ctx, ev)
}

var _ hub.Publisher = publisher{}

// Apply applies one event to the counters (Observe): the tally as a view
// of the bus (broker.View), fed every event of every hub sharing it once,
// in order, as it is published. A hub's tally is loaded from the store
// (Load), then fed so, and loaded again when the bus reports events it
// did not deliver.
func (t *Tally) Apply(_ context.Context, ev hub.Event) { t.Observe(ev) }

// Kinds returns the kinds of event that change counters: what a live
// dashboard subscribes to. RESTOCK is not among them (its STOCK_CHANGED
// carries the change), nor are SHORTAGE_SERVED (its ALLOCATION_CREATED
// does) and FEVER_SCAN.
func Kinds() []hub.EventKind {
	return []hub.EventKind{
		hub.EventStockChanged, hub.EventAllocationCreated, hub.EventAllocationUpdated, hub.EventAllocationExpired,
		hub.EventRiskAreaMarked, hub.EventRiskAreaLifted, hub.EventColourChanged,
		hub.EventReservationCreated, hub.EventReservationUpdated, hub.EventShortageRegistered,
		hub.EventResidentRegistered, hub.EventPharmacyUpserted, hub.EventDistrictUpserted,
		hub.EventRecordsExpired,
	}
}

// Observe applies one domain event to the counters. Events that change
// nothing counted, or that do not validate, are ignored. Counters add up
// changes, so events of different records may arrive in any order; the
// changes of one record must arrive in the order they were made, which
// the publishers' order of writes gives.
func (t *Tally) Observe(ev hub.Event) {
	if ev.Validate() != nil {
		return
	}
	t.enter()
	defer t.rollMu.RUnlock()
	switch p := ev.Payload.(type) {
	case hub.StockChangedPayload:
		var at hub.Cell
		if len(ev.Cells) > 0 {
			at = ev.Cells[0]
		}
		t.moveStock(p.PharmacyID, at, p.SKU, int64(p.Delta))
	case hub.AllocationPayload:
		t.allocation(ev.Kind, p)
	case hub.RiskAreaPayload:
		t.riskArea(ev.Kind, p)
	case hub.ColourChangedPayload:
		c := p.Cell
		if c == 0 && len(ev.Cells) > 0 {
			c = ev.Cells[0]
		}
		if c == 0 {
			return
		}
		ctr := t.cell(c)
		if r := hub.Colour(p.From).Rank(); r > 0 {
			ctr.colours[r-1].Add(-1)
		}
		if r := hub.Colour(p.To).Rank(); r > 0 {
			ctr.colours[r-1].Add(1)
		}
	case hub.ReservationPayload:
		k := skuIndex(p.SKU)
		d := open(p.To) - open(p.From)
		if k < 0 || d == 0 {
			return
		}
		for _, r := range p.Reservations {
			if r.Cell != 0 {
				t.cell(r.Cell).sku[k][fReservations].Add(d)
			}
		}
	case hub.ShortagePayload:
		k := skuIndex(p.Shortage.SKU)
		if k >= 0 && p.Shortage.Cell != 0 && p.Shortage.Status == hub.ShortageWaiting {
			t.cell(p.Shortage.Cell).sku[k][fShortages].Add(1)
		}
	case hub.ResidentPayload:
		for _, r := range p.Residents {
			if r.Cell != 0 {
				t.cell(r.Cell).residents.Add(1)
			}
		}
	case hub.PharmacyPayload:
		t.upsertPharmacy(p)
	case hub.RecordsExpiredPayload:
		for _, c := range p.Counts {
			t.expire(c)
		}
	case hub.DistrictPayload:
		at := ev.At
		if at.IsZero() {
			at = t.now()
		}
		t.setDistrict(p.DistrictID, p.Cells, at)
	}
}

// expire takes out of the counters the records a retention sweep
// deleted, as Load, which counts the records the store holds, no longer
// counts them.
func (t *Tally) expire(c hub.ExpiredCount) {
	n := int64(c.Count)
	if n <= 0 {
		return
	}
	if c.Record == hub.ExpiredAllocation {
		t.status.counter(hub.AllocationStatus(c.Status)).Add(-n)
	}
	if c.Cell == 0 {
		return
	}
	if c.Record == hub.ExpiredHealthCode {
		if r := hub.Colour(c.Status).Rank(); r > 0 {
			t.cell(c.Cell).colours[r-1].Add(-n)
		}
		return
	}
	k := skuIndex(c.SKU)
	if k < 0 {
		return
	}
	ctr := t.cell(c.Cell)
	switch c.Record {
	case hub.ExpiredReservation:
		ctr.sku[k][fReservations].Add(-n * open(hub.ReservationStatus(c.Status)))
	case hub.ExpiredAllocation:
		ctr.sku[k][fAllocations].Add(-n * held(hub.AllocationStatus(c.Status)))
		ctr.sku[k][fFulfilled].Add(-n * handedOut(hub.AllocationStatus(c.Status)))
	case hub.ExpiredShortage:
		if hub.ShortageStatus(c.Status) == hub.ShortageWaiting {
			ctr.sku[k][fShortages].Add(-n)
		}
	}
}

// enter takes the hour's points if an hour has ended since the last ones,
// and returns holding rollMu for reading.
func (t *Tally) enter() {
	for {
		t.rollMu.RLock()
		h := hourOf(t.now())
		if h <= t.rolled {
			return
		}
		t.rollMu.RUnlock()
		t.roll(h)
	}
}

// open counts a reservation status as demand: 1 for PENDING and WAITING.
func open(s hub.ReservationStatus) int64 {
	if s == hub.ReservationPending || s == hub.ReservationWaiting {
		return 1
	}
	return 0
}

// held counts an allocation status as allocated: 1 unless it gave its
// stock back.
func held(s hub.AllocationStatus) int64 {
	switch s {
	case hub.AllocationReserved, hub.AllocationDelivering, hub.AllocationRedeemed, hub.AllocationDelivered:
		return 1
	}
	return 0
}

// handedOut counts an allocation status as fulfilled.
func handedOut(s hub.AllocationStatus) int64 {
	if s == hub.AllocationRedeemed || s == hub.AllocationDelivered {
		return 1
	}
	return 0
}

func (t *Tally) allocation(kind hub.EventKind, p hub.AllocationPayload) {
	a := p.Allocation
	if kind == hub.EventAllocationCreated {
		t.status.move("", a.Status)
	} else if p.From != "" {
		t.status.move(p.From, a.Status)
	} else {
		t.status.move(hub.AllocationReserved, a.Status)
	}
	k := skuIndex(a.SKU)
	if k < 0 || a.Cell == 0 {
		return
	}
	ctr := t.cell(a.Cell)
	if kind == hub.EventAllocationCreated {
		ctr.sku[k][fAllocations].Add(held(a.Status))
		ctr.sku[k][fFulfilled].Add(handedOut(a.Status))
		// The reservation or registration it serves stops waiting.
		switch {
		case a.ReservationID != "":
			ctr.sku[k][fReservations].Add(-1)
		case a.ShortageID != "":
			ctr.sku[k][fShortages].Add(-1)
		}
		return
	}
	// Only an allocation awaiting pickup or delivery moves (a final one
	// never does), so a move with no From came from RESERVED.
	from := p.From
	if from == "" {
		from = hub.AllocationReserved
	}
	ctr.sku[k][fAllocations].Add(held(a.Status) - held(from))
	ctr.sku[k][fFulfilled].Add(handedOut(a.Status) - handedOut(from))
}

// moveStock applies a stock change at a pharmacy. A pharmacy the tally
// does not know yet (a restock racing its creation's event) is placed at
// the cell the event names, and counted when its PHARMACY_UPSERTED comes.
func (t *Tally) moveStock(id string, at hub.Cell, sku hub.SKU, delta int64) {
	k := skuIndex(sku)
	if k < 0 || id == "" {
		return
	}
	t.pharmMu.Lock()
	defer t.pharmMu.Unlock()
	p := t.pharm[id]
	if p == nil {
		if at == 0 {
			return
		}
		p = &pharmacy{cell: at}
		t.pharm[id] = p
	}
	p.stock[k] += delta
	t.cell(p.cell).sku[k][fStock].Add(delta)
}

func (t *Tally) upsertPharmacy(pl hub.PharmacyPayload) {
	if pl.PharmacyID == "" || pl.Cell == 0 {
		return
	}
	t.pharmMu.Lock()
	defer t.pharmMu.Unlock()
	p := t.pharm[pl.PharmacyID]
	if p == nil {
		p = &pharmacy{cell: pl.Cell}
		t.pharm[pl.PharmacyID] = p
	}
	if p.cell != pl.Cell {
		from, to := t.cell(p.cell), t.cell(pl.Cell)
		for k, q := range p.stock {
			from.sku[k][fStock].Add(-q)
			to.sku[k][fStock].Add(q)
		}
		if p.counted {
			from.pharmacies.Add(-1)
			to.pharmacies.Add(1)
		}
		p.cell = pl.Cell
	}
	ctr := t.cell(p.cell)
	if !p.counted {
		p.counted = true
		ctr.pharmacies.Add(1)
	}
	if pl.Created {
		for sku, q := range pl.Initial {
			if k := skuIndex(sku); k >= 0 && q != 0 {
				p.stock[k] += int64(q)
				ctr.sku[k][fStock].Add(int64(q))
			}
		}
	}
}

// riskArea applies a risk area marked (replacing an earlier marking of
// the same ID) or lifted.
func (t *Tally) riskArea(kind hub.EventKind, p hub.RiskAreaPayload) {
	if p.AreaID == "" {
		return
	}
	var cells []hub.RiskCell
	if kind == hub.EventRiskAreaMarked {
		var err error
		if cells, err = codes.AreaCells(p.Center, p.K); err != nil {
			return
		}
	}
	t.riskMu.Lock()
	defer t.riskMu.Unlock()
	t.setArea(p.AreaID, cells)
}

// setArea replaces the cells of area id (none: lifted). Callers hold
// riskMu or own t exclusively.
func (t *Tally) setArea(id string, cells []hub.RiskCell) {
	for _, rc := range t.areas[id] {
		if r := rc.Level.Rank(); r > 0 {
			t.cell(rc.Cell).risk[r-1].Add(-1)
		}
	}
	delete(t.areas, id)
	if len(cells) == 0 {
		return
	}
	t.areas[id] = cells
	for _, rc := range cells {
		if r := rc.Level.Rank(); r > 0 {
			t.cell(rc.Cell).risk[r-1].Add(1)
		}
	}
}
