package stats_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/stats"
)

// The benchmarks run on a district of 10,000 base cells (about 100 km²)
// with a city's worth of records: 300,000 residents, 500 pharmacies,
// 60,000 reservations, 36,000 allocations, 5,000 waiting-list
// registrations, 200,000 health codes and 30 risk areas, made over 72
// hours. Each query is timed against the scan of the records that the
// counters replace, run in the same loop on the same records (held in
// memory, which flatters the scan: a store would be slower still).

const benchCells = 10_000

// records are the city's records, as a scan sees them.
type records struct {
	residents    []hub.Resident
	pharmacies   []hub.Pharmacy
	roundSKU     map[string]hub.SKU
	reservations []hub.Reservation
	allocations  []hub.Allocation
	shortages    []hub.Shortage
	codes        []hub.HealthCode
	areas        []hub.RiskArea
}

type fixture struct {
	tally *stats.Tally
	d     *hub.District
	rec   *records
	start time.Time    // the hour the records begin
	now   atomic.Int64 // the tally's clock, Unix nanoseconds: read without a lock, as time.Now is
}

func (f *fixture) Now() time.Time { return time.Unix(0, f.now.Load()).UTC() }

// benchFixture builds the fixture once for every benchmark of the run.
var benchFixture = sync.OnceValues(func() (*fixture, error) { return newFixture() })

func fixtureOf(b *testing.B) *fixture {
	b.Helper()
	f, err := benchFixture()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func newFixture() (*fixture, error) {
	r := rand.New(rand.NewPCG(2020, 1))
	centre, err := grid.CellAt(hub.Point{Lat: 30.5928, Lng: 114.3055}, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	disk, err := grid.Disk(centre, 58)
	if err != nil {
		return nil, err
	}
	cells := disk[:benchCells]
	start := time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)
	f := &fixture{d: &hub.District{ID: "d1", Cells: cells, UpdatedAt: start}, rec: &records{}, start: start}
	rec := f.rec
	cell := func() hub.Cell { return cells[r.IntN(len(cells))] }
	hour := func() time.Time { return start.Add(time.Duration(r.IntN(66*60)) * time.Minute) }

	// Events by hour, to feed the tally in time order.
	byHour := make([][]hub.Event, 73)
	at := func(t time.Time, ev hub.Event) {
		h := int(t.Sub(start) / time.Hour)
		byHour[h] = append(byHour[h], ev)
	}
	byHour[0] = append(byHour[0], hub.Event{Kind: hub.EventDistrictUpserted, Payload: hub.DistrictPayload{DistrictID: "d1", Cells: cells}})

	for i := range 300_000 {
		res := hub.Resident{ID: fmt.Sprintf("res%06d", i), Cell: cell(), RegisteredAt: hour()}
		rec.residents = append(rec.residents, res)
		at(res.RegisteredAt, hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{Residents: []hub.ResidentRef{{ID: res.ID, Cell: res.Cell}}}})
	}
	for i := range 500 {
		p := hub.Pharmacy{ID: fmt.Sprintf("ph%03d", i), Cell: cell(), Stock: map[hub.SKU]int{}}
		for _, sp := range hub.Supplies() {
			p.Stock[sp.SKU] = r.IntN(500)
		}
		rec.pharmacies = append(rec.pharmacies, p)
		byHour[0] = append(byHour[0], hub.Event{Kind: hub.EventPharmacyUpserted, Payload: hub.PharmacyPayload{PharmacyID: p.ID, Cell: p.Cell, Created: true, Initial: p.Stock}})
	}
	rec.roundSKU = map[string]hub.SKU{"r1": hub.MaskAdult, "r2": hub.MaskN95, "r3": hub.TestKit}
	for i := range 60_000 {
		res := rec.residents[r.IntN(len(rec.residents))]
		rid := fmt.Sprintf("r%d", 1+i%3)
		sku := rec.roundSKU[rid]
		made := hour()
		rv := hub.Reservation{ID: fmt.Sprintf("rsv%06d", i), RoundID: rid, Cell: res.Cell, Status: hub.ReservationPending, CreatedAt: made, UpdatedAt: made}
		ref := []hub.ReservationRef{{ID: rv.ID, Cell: rv.Cell}}
		at(made, hub.Event{Kind: hub.EventReservationCreated, Payload: hub.ReservationPayload{RoundID: rid, SKU: sku, To: hub.ReservationPending, Reservations: ref}})
		later := made.Add(time.Duration(r.IntN(120)) * time.Minute)
		switch n := r.IntN(100); {
		case n < 60:
			a := hub.Allocation{ID: fmt.Sprintf("al%06d", i), ReservationID: rv.ID, SKU: sku, Quantity: 1, Cell: rv.Cell, Status: hub.AllocationReserved, CreatedAt: later, UpdatedAt: later}
			rv.Status, rv.AllocationID, rv.UpdatedAt = hub.ReservationAllocated, a.ID, later
			at(later, hub.Event{Kind: hub.EventAllocationCreated, Payload: hub.AllocationPayload{Allocation: a}})
			to := []hub.AllocationStatus{hub.AllocationReserved, hub.AllocationRedeemed, hub.AllocationRedeemed, hub.AllocationExpired, hub.AllocationDelivered}[r.IntN(5)]
			if to != hub.AllocationReserved {
				a.Status, a.UpdatedAt = to, later.Add(time.Duration(r.IntN(180))*time.Minute)
				at(a.UpdatedAt, hub.Event{Kind: hub.EventAllocationUpdated, Payload: hub.AllocationPayload{Allocation: a, From: hub.AllocationReserved}})
			}
			rec.allocations = append(rec.allocations, a)
		case n < 85:
			rv.Status = []hub.ReservationStatus{hub.ReservationPending, hub.ReservationWaiting}[r.IntN(2)]
			if rv.Status == hub.ReservationWaiting {
				rv.UpdatedAt = later
				at(later, hub.Event{Kind: hub.EventReservationUpdated, Payload: hub.ReservationPayload{RoundID: rid, SKU: sku, From: hub.ReservationPending, To: hub.ReservationWaiting, Reservations: ref}})
			}
		default:
			rv.Status, rv.UpdatedAt = []hub.ReservationStatus{hub.ReservationCancelled, hub.ReservationLost}[r.IntN(2)], later
			at(later, hub.Event{Kind: hub.EventReservationUpdated, Payload: hub.ReservationPayload{RoundID: rid, SKU: sku, From: hub.ReservationPending, To: rv.Status, Reservations: ref}})
		}
		rec.reservations = append(rec.reservations, rv)
	}
	for i := range 5000 {
		s := hub.Shortage{ID: fmt.Sprintf("sh%05d", i), Cell: cell(), SKU: hub.Supplies()[r.IntN(5)].SKU, Quantity: 1, Status: hub.ShortageWaiting, CreatedAt: hour()}
		at(s.CreatedAt, hub.Event{Kind: hub.EventShortageRegistered, Payload: hub.ShortagePayload{Shortage: s}})
		rec.shortages = append(rec.shortages, s)
	}
	for i := range 200_000 {
		res := rec.residents[i]
		c := hub.HealthCode{ResidentID: res.ID, Cell: res.Cell, Colour: hub.Green, UpdatedAt: hour()}
		if n := r.IntN(100); n >= 95 {
			c.Colour = hub.Red
		} else if n >= 85 {
			c.Colour = hub.Yellow
		}
		rec.codes = append(rec.codes, c)
		at(c.UpdatedAt, hub.Event{Kind: hub.EventColourChanged, Payload: hub.ColourChangedPayload{To: string(c.Colour), Cell: c.Cell}})
	}
	for range 30 {
		c, k := cell(), r.IntN(4)
		rcs, err := codes.AreaCells(c, k)
		if err != nil {
			return nil, err
		}
		a := hub.RiskArea{ID: c.String(), Cell: c, Rings: k, Cells: rcs, MarkedAt: hour()}
		rec.areas = append(rec.areas, a)
		at(a.MarkedAt, hub.Event{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: a.ID, Center: c, K: k}})
	}

	f.tally = stats.New(stats.Options{Now: f.Now})
	for h, evs := range byHour {
		f.now.Store(start.Add(time.Duration(h) * time.Hour).UnixNano())
		for _, ev := range evs {
			f.tally.Observe(ev)
		}
	}
	f.now.Store(start.Add(72*time.Hour + 30*time.Minute).UnixNano())
	// The counters and the scan must agree before either is timed.
	got, err := f.tally.CellStats(f.d, stats.Query{Resolution: 7})
	if err != nil {
		return nil, err
	}
	want := scanCellStats(f.rec, f.d, 7, "")
	if len(got) != len(want) {
		return nil, fmt.Errorf("the tally has %d cells at resolution 7, the scan %d", len(got), len(want))
	}
	for i := range got {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			return nil, fmt.Errorf("cell %s: tally %+v, scan %+v", got[i].Cell, got[i], want[i])
		}
	}
	return f, nil
}

// agg is what the scan adds up for one cell.
type agg struct {
	residents, pharmacies int
	stock                 [5]int
	resv, short           int
	alloc, fulfilled      int
	colours               [3]int
	risk                  int
}

// scanCellStats answers cellStats the way the counters replace: a pass
// over every record, keeping those in the district's cells.
func scanCellStats(rec *records, d *hub.District, res int, sku hub.SKU) []stats.CellStats {
	idx := make(map[hub.Cell]int, len(d.Cells))
	for i, c := range d.Cells {
		idx[c] = i
	}
	acc := make([]agg, len(d.Cells))
	in := func(c hub.Cell) *agg {
		if i, ok := idx[c]; ok {
			return &acc[i]
		}
		return nil
	}
	slot := map[hub.SKU]int{}
	for i, sp := range hub.Supplies() {
		slot[sp.SKU] = i
	}
	for i := range rec.residents {
		if a := in(rec.residents[i].Cell); a != nil {
			a.residents++
		}
	}
	for i := range rec.pharmacies {
		p := &rec.pharmacies[i]
		if a := in(p.Cell); a != nil {
			a.pharmacies++
			for s, q := range p.Stock {
				a.stock[slot[s]] += q
			}
		}
	}
	for i := range rec.reservations {
		rv := &rec.reservations[i]
		if sku != "" && rec.roundSKU[rv.RoundID] != sku {
			continue
		}
		if a := in(rv.Cell); a != nil && (rv.Status == hub.ReservationPending || rv.Status == hub.ReservationWaiting) {
			a.resv++
		}
	}
	for i := range rec.allocations {
		al := &rec.allocations[i]
		if sku != "" && al.SKU != sku {
			continue
		}
		if a := in(al.Cell); a != nil {
			if !al.Status.Returns() {
				a.alloc++
			}
			if al.Status == hub.AllocationRedeemed || al.Status == hub.AllocationDelivered {
				a.fulfilled++
			}
		}
	}
	for i := range rec.shortages {
		s := &rec.shortages[i]
		if sku != "" && s.SKU != sku {
			continue
		}
		if a := in(s.Cell); a != nil && s.Status == hub.ShortageWaiting {
			a.short++
		}
	}
	for i := range rec.codes {
		if a := in(rec.codes[i].Cell); a != nil {
			a.colours[rec.codes[i].Colour.Rank()-1]++
		}
	}
	for i := range rec.areas {
		for _, rc := range rec.areas[i].Cells {
			if a := in(rc.Cell); a != nil {
				a.risk = max(a.risk, rc.Level.Rank())
			}
		}
	}
	// Roll up to the resolution asked for.
	type group struct {
		cell hub.Cell
		agg
	}
	byParent := map[hub.Cell]*group{}
	for i, c := range d.Cells {
		p := c
		if res < grid.BaseResolution {
			p, _ = grid.Parent(c, res)
		}
		g := byParent[p]
		if g == nil {
			g = &group{cell: p}
			byParent[p] = g
		}
		a := &acc[i]
		g.residents += a.residents
		g.pharmacies += a.pharmacies
		for k := range a.stock {
			g.stock[k] += a.stock[k]
		}
		g.resv += a.resv
		g.short += a.short
		g.alloc += a.alloc
		g.fulfilled += a.fulfilled
		for k := range a.colours {
			g.colours[k] += a.colours[k]
		}
		g.risk = max(g.risk, a.risk)
	}
	out := make([]stats.CellStats, 0, len(byParent))
	for _, g := range byParent {
		s := stats.CellStats{
			Cell: g.cell, Residents: g.residents, Pharmacies: g.pharmacies, Reservations: g.resv, Shortages: g.short,
			Allocations: g.alloc, Fulfilled: g.fulfilled, Green: g.colours[0], Yellow: g.colours[1], Red: g.colours[2],
		}
		for k, sp := range hub.Supplies() {
			if sku == "" || sp.SKU == sku {
				s.Stock = append(s.Stock, stats.StockLevel{SKU: sp.SKU, Quantity: g.stock[k]})
			}
		}
		if g.risk > 0 {
			s.Risk = []hub.RiskLevel{hub.RiskLow, hub.RiskMedium, hub.RiskHigh}[g.risk-1]
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b stats.CellStats) int { return cmp.Compare(a.Cell, b.Cell) })
	return out
}

// vsScan times fn and scan in the same loop and reports both, and how
// many times faster fn is. Both return a count of unit, which must agree.
func vsScan(b *testing.B, unit string, fn, scan func() int) {
	b.Helper()
	var tFn, tScan time.Duration
	n, items := 0, 0
	for b.Loop() {
		t0 := time.Now()
		got := fn()
		t1 := time.Now()
		want := scan()
		t2 := time.Now()
		if got != want {
			b.Fatalf("%d items, the scan %d", got, want)
		}
		tFn += t1.Sub(t0)
		tScan += t2.Sub(t1)
		items += got
		n++
	}
	b.ReportMetric(float64(tFn.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(tFn.Nanoseconds())/float64(n)/1e6, "ms/query")
	b.ReportMetric(float64(tScan.Nanoseconds())/float64(n), "scan-ns/op")
	b.ReportMetric(float64(tScan)/float64(tFn), "x_faster_than_scan")
	b.ReportMetric(float64(items)/float64(n), unit+"/op")
}

// BenchmarkCellStats answers cellStats for the whole district at
// resolutions 9, 7 and 5, of every supply and of one.
func BenchmarkCellStats(b *testing.B) {
	f := fixtureOf(b)
	for _, res := range []int{9, 7, 5} {
		for _, sku := range []hub.SKU{"", hub.MaskN95} {
			name := fmt.Sprintf("res=%d/sku=%s", res, cmp.Or(string(sku), "all"))
			b.Run(name, func(b *testing.B) {
				vsScan(b, "cells", func() int {
					cs, err := f.tally.CellStats(f.d, stats.Query{Resolution: res, SKU: sku})
					if err != nil {
						b.Fatal(err)
					}
					return len(cs)
				}, func() int { return len(scanCellStats(f.rec, f.d, res, sku)) })
			})
		}
	}
}

// BenchmarkTotals answers totals: the scan is the same pass, summed.
func BenchmarkTotals(b *testing.B) {
	f := fixtureOf(b)
	vsScan(b, "residents", func() int {
		t, err := f.tally.Totals(f.d, "")
		if err != nil {
			b.Fatal(err)
		}
		return t.Residents
	}, func() int {
		n := 0
		for _, s := range scanCellStats(f.rec, f.d, 5, "") {
			n += s.Residents
		}
		return n
	})
}

// BenchmarkSeries answers series for the 72 hours the records span. The
// scan rebuilds each hour's allocations from the records' times.
func BenchmarkSeries(b *testing.B) {
	f := fixtureOf(b)
	vsScan(b, "allocations", func() int {
		pts, err := f.tally.Series(f.d, 72, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(pts) != 72 {
			b.Fatalf("%d points, want 72", len(pts))
		}
		return pts[40].Allocations
	}, func() int {
		in := make(map[hub.Cell]bool, len(f.d.Cells))
		for _, c := range f.d.Cells {
			in[c] = true
		}
		var points [72]int
		for h := range points {
			at := f.start.Add(time.Duration(h+1) * time.Hour)
			for i := range f.rec.allocations {
				a := &f.rec.allocations[i]
				if in[a.Cell] && a.CreatedAt.Before(at) && (!a.Status.Returns() || !a.UpdatedAt.Before(at)) {
					points[h]++
				}
			}
		}
		return points[40]
	})
}

// BenchmarkObserve measures events applied per second from as many
// goroutines as there are CPUs, against one map behind one mutex (the
// simplest counters that are safe to share), in the same run.
func BenchmarkObserve(b *testing.B) {
	f := fixtureOf(b)
	r := rand.New(rand.NewPCG(7, 7))
	evs := make([]hub.Event, 4096)
	for i := range evs {
		c := f.d.Cells[r.IntN(len(f.d.Cells))]
		switch i % 4 {
		case 0:
			evs[i] = hub.Event{Kind: hub.EventReservationCreated, Payload: hub.ReservationPayload{SKU: hub.MaskAdult, To: hub.ReservationPending, Reservations: []hub.ReservationRef{{Cell: c}}}}
		case 1:
			evs[i] = hub.Event{Kind: hub.EventAllocationCreated, Payload: hub.AllocationPayload{Allocation: hub.Allocation{ReservationID: "x", SKU: hub.MaskAdult, Cell: c, Status: hub.AllocationReserved}}}
		case 2:
			evs[i] = hub.Event{Kind: hub.EventColourChanged, Payload: hub.ColourChangedPayload{From: "GREEN", To: "YELLOW", Cell: c}}
		default:
			p := f.rec.pharmacies[r.IntN(len(f.rec.pharmacies))]
			evs[i] = hub.StockChangedEvent(&p, hub.StockEntry{StockChange: hub.StockChange{PharmacyID: p.ID, SKU: hub.MaskAdult, Delta: 1}})
		}
	}
	type plain struct {
		mu sync.Mutex
		m  map[hub.Cell]*[8]int64
	}
	base := &plain{m: map[hub.Cell]*[8]int64{}}
	baseline := func(ev hub.Event) {
		cells, _ := stats.Touched(ev)
		base.mu.Lock()
		for _, c := range cells {
			v := base.m[c]
			if v == nil {
				v = new([8]int64)
				base.m[c] = v
			}
			v[int(ev.Kind)%8]++
		}
		base.mu.Unlock()
	}
	workers := runtime.GOMAXPROCS(0)
	run := func(n int, fn func(hub.Event)) time.Duration {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					fn(evs[i%len(evs)])
				}
			})
		}
		wg.Wait()
		return time.Since(t0)
	}
	var tTally, tBase time.Duration
	n := 0
	for b.Loop() {
		tTally += run(1024, f.tally.Observe)
		tBase += run(1024, baseline)
		n += 1024
	}
	b.ReportMetric(float64(tTally.Nanoseconds())/float64(n), "ns/event")
	b.ReportMetric(float64(n)/tTally.Seconds(), "events/s")
	b.ReportMetric(float64(tBase.Nanoseconds())/float64(n), "mutex-map-ns/event")
	b.ReportMetric(float64(tBase)/float64(tTally), "x_vs_mutex_map")
	b.ReportMetric(float64(workers), "goroutines")
}
