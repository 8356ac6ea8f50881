package stats

import (
	"cmp"
	"github.com/gridhub/gridhub/internal/testclock"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

var epoch = time.Date(2020, 2, 14, 9, 30, 0, 0, time.UTC)

// disk returns the cells within k rings of a cell in Wuhan, sorted.
func disk(t testing.TB, k int) []hub.Cell {
	t.Helper()
	c, err := grid.CellAt(hub.Point{Lat: 30.5928, Lng: 114.3055}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := grid.Disk(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestCatalogue(t *testing.T) {
	sp := hub.Supplies()
	if len(sp) != numSKUs {
		t.Fatalf("the catalogue has %d supplies, the counters %d slots", len(sp), numSKUs)
	}
	for i, s := range sp {
		if skus()[i] != s.SKU || skuIndex(s.SKU) != i {
			t.Errorf("slot %d: %s, index %d; want %s", i, skus()[i], skuIndex(s.SKU), s.SKU)
		}
	}
	if skuIndex("SOAP") != -1 {
		t.Error("an unknown supply has a slot")
	}
}

// TestObserve applies each kind of event and checks the counters of the
// cells it touches.
func TestObserve(t *testing.T) {
	b := disk(t, 0)[0] // the centre
	a := disk(t, 1)[0]
	if a == b {
		a = disk(t, 1)[1]
	}
	tl := New(Options{Now: testclock.New(epoch).Now})
	alloc := func(id string, st hub.AllocationStatus, resv, short string) hub.Allocation {
		return hub.Allocation{ID: id, ReservationID: resv, ShortageID: short, PharmacyID: "p1", SKU: hub.MaskN95, Quantity: 2, Cell: a, Status: st}
	}
	evs := []hub.Event{
		{Kind: hub.EventResidentRegistered, Cells: []hub.Cell{a, b}, Payload: hub.ResidentPayload{Residents: []hub.ResidentRef{{ID: "r1", Cell: a}, {ID: "r2", Cell: a}, {ID: "r3", Cell: b}}}},
		{Kind: hub.EventPharmacyUpserted, Cells: []hub.Cell{b}, Payload: hub.PharmacyPayload{PharmacyID: "p1", Cell: b, Created: true, Initial: map[hub.SKU]int{hub.MaskN95: 100, hub.TestKit: 5}}},
		{Kind: hub.EventRestock, Cells: []hub.Cell{a, b}, Payload: hub.RestockPayload{StockEntry: hub.StockEntry{StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskN95, Delta: 50}}}},
		hub.StockChangedEvent(&hub.Pharmacy{ID: "p1", Cell: b}, hub.StockEntry{StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskN95, Delta: 50}}),
		{Kind: hub.EventReservationCreated, Cells: []hub.Cell{a}, Payload: hub.ReservationPayload{SKU: hub.MaskN95, To: hub.ReservationPending, Reservations: []hub.ReservationRef{{ID: "v1", Cell: a}, {ID: "v2", Cell: a}, {ID: "v3", Cell: a}}}},
		{Kind: hub.EventReservationUpdated, Cells: []hub.Cell{a}, Payload: hub.ReservationPayload{SKU: hub.MaskN95, From: hub.ReservationPending, To: hub.ReservationWaiting, Reservations: []hub.ReservationRef{{ID: "v2", Cell: a}}}},
		{Kind: hub.EventReservationUpdated, Cells: []hub.Cell{a}, Payload: hub.ReservationPayload{SKU: hub.MaskN95, From: hub.ReservationWaiting, To: hub.ReservationCancelled, Reservations: []hub.ReservationRef{{ID: "v2", Cell: a}}}},
		{Kind: hub.EventShortageRegistered, Cells: []hub.Cell{a}, Payload: hub.ShortagePayload{Shortage: hub.Shortage{ID: "s1", Cell: a, SKU: hub.MaskN95, Status: hub.ShortageWaiting}}},
		{Kind: hub.EventShortageRegistered, Cells: []hub.Cell{a}, Payload: hub.ShortagePayload{Shortage: hub.Shortage{ID: "s2", Cell: a, SKU: hub.MaskN95, Status: hub.ShortageWaiting}}},
		{Kind: hub.EventAllocationCreated, Cells: []hub.Cell{a}, Payload: hub.AllocationPayload{Allocation: alloc("a1", hub.AllocationReserved, "v1", "")}},
		{Kind: hub.EventAllocationCreated, Cells: []hub.Cell{a}, Payload: hub.AllocationPayload{Allocation: alloc("a2", hub.AllocationReserved, "", "s1")}},
		{Kind: hub.EventShortageServed, Cells: []hub.Cell{a}, Payload: hub.ShortageServedPayload{Shortage: hub.Shortage{ID: "s1", Cell: a, SKU: hub.MaskN95}}},
		{Kind: hub.EventAllocationUpdated, Cells: []hub.Cell{a}, Payload: hub.AllocationPayload{Allocation: alloc("a1", hub.AllocationRedeemed, "v1", ""), From: hub.AllocationReserved}},
		{Kind: hub.EventAllocationExpired, Cells: []hub.Cell{a}, Payload: hub.AllocationPayload{Allocation: alloc("a2", hub.AllocationExpired, "", "s1"), From: hub.AllocationReserved}},
		{Kind: hub.EventColourChanged, Cells: []hub.Cell{a}, Payload: hub.ColourChangedPayload{To: "GREEN", Cell: a}},
		{Kind: hub.EventColourChanged, Cells: []hub.Cell{a}, Payload: hub.ColourChangedPayload{To: "GREEN", Cell: a}},
		{Kind: hub.EventColourChanged, Cells: []hub.Cell{a}, Payload: hub.ColourChangedPayload{From: "GREEN", To: "RED", Cell: a}},
		{Kind: hub.EventFeverScan, Cells: []hub.Cell{a}, Payload: hub.FeverScanPayload{Cell: a}},
		{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: b.String(), Center: b, K: 1}},
		{Kind: hub.EventStockChanged, Cells: []hub.Cell{0}}, // invalid: ignored
	}
	for _, ev := range evs {
		tl.Observe(ev)
	}
	got, err := tl.Cell(a, "")
	if err != nil {
		t.Fatal(err)
	}
	want := CellStats{
		Cell: a, Residents: 2, Stock: levels(0, 0, 0, 0, 0),
		Reservations: 1, Shortages: 1, Allocations: 1, Fulfilled: 1, Green: 1, Red: 1, Risk: hub.RiskMedium,
	}
	if !equalStats(got, want) {
		t.Errorf("cell a:\n got %+v\nwant %+v", got, want)
	}
	if r := got.FulfilmentRate(); r == nil || *r != 1.0/3 {
		t.Errorf("fulfilment rate %v, want 1/3", r)
	}
	got, _ = tl.Cell(b, hub.MaskN95)
	want = CellStats{Cell: b, Residents: 1, Pharmacies: 1, Stock: []StockLevel{{hub.MaskN95, 150}}, Risk: hub.RiskHigh}
	if !equalStats(got, want) {
		t.Errorf("cell b, N95:\n got %+v\nwant %+v", got, want)
	}
	if got.FulfilmentRate() != nil {
		t.Errorf("fulfilment rate %v with neither allocations nor demand, want nil", *got.FulfilmentRate())
	}

	// The pharmacy moves to a, taking its stock; the area is lifted.
	tl.Observe(hub.Event{Kind: hub.EventPharmacyUpserted, Cells: []hub.Cell{a, b}, Payload: hub.PharmacyPayload{PharmacyID: "p1", Cell: a, FromCell: b}})
	tl.Observe(hub.Event{Kind: hub.EventRiskAreaLifted, Payload: hub.RiskAreaPayload{AreaID: b.String(), Center: b, K: 1}})
	got, _ = tl.Cell(b, "")
	if got.Pharmacies != 0 || got.Stock[2].Quantity != 0 || got.Risk != "" {
		t.Errorf("cell b after the move and the lift: %+v", got)
	}
	got, _ = tl.Cell(a, hub.TestKit)
	if got.Pharmacies != 1 || got.Stock[0] != (StockLevel{hub.TestKit, 5}) {
		t.Errorf("cell a after the move: %+v", got)
	}
}

func levels(qs ...int) []StockLevel {
	out := make([]StockLevel, len(qs))
	for i, q := range qs {
		out[i] = StockLevel{skus()[i], q}
	}
	return out
}

func equalStats(a, b CellStats) bool {
	type flat struct {
		Cell                                                                   hub.Cell
		Residents, Pharmacies, Reservations, Shortages, Allocations, Fulfilled int
		Green, Yellow, Red                                                     int
		Risk                                                                   hub.RiskLevel
	}
	f := func(s CellStats) flat {
		return flat{s.Cell, s.Residents, s.Pharmacies, s.Reservations, s.Shortages, s.Allocations, s.Fulfilled, s.Green, s.Yellow, s.Red, s.Risk}
	}
	return f(a) == f(b) && slices.Equal(a.Stock, b.Stock)
}

// TestRollUp checks that each parent sums exactly the district's cells
// under it, at every resolution, and that the totals sum them all.
func TestRollUp(t *testing.T) {
	all := disk(t, 12)
	// The district takes two thirds of the disk, so some parents hold
	// cells of other districts.
	var cells []hub.Cell
	for i, c := range all {
		if i%3 != 0 {
			cells = append(cells, c)
		}
	}
	d := &hub.District{ID: "d1", Cells: cells}
	tl := New(Options{})
	for i, c := range all {
		tl.Observe(hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{Residents: slices.Repeat([]hub.ResidentRef{{Cell: c}}, i%4+1)}})
		tl.Observe(hub.Event{Kind: hub.EventShortageRegistered, Payload: hub.ShortagePayload{Shortage: hub.Shortage{Cell: c, SKU: hub.Supplies()[i%numSKUs].SKU, Status: hub.ShortageWaiting}}})
	}
	tl.Observe(hub.Event{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: "x", Center: cells[7], K: 0}})
	res9, err := tl.CellStats(d, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res9) != len(cells) {
		t.Fatalf("%d cells at resolution 9, want %d", len(res9), len(cells))
	}
	for r := MinResolution; r <= MaxResolution; r++ {
		got, err := tl.CellStats(d, Query{Resolution: r})
		if err != nil {
			t.Fatal(err)
		}
		want := map[hub.Cell]CellStats{}
		for _, s := range res9 {
			p, err := grid.Parent(s.Cell, r)
			if err != nil {
				t.Fatal(err)
			}
			w := want[p]
			w.Cell = p
			w.Residents += s.Residents
			w.Shortages += s.Shortages
			if s.Risk.Rank() > w.Risk.Rank() {
				w.Risk = s.Risk
			}
			want[p] = w
		}
		if len(got) != len(want) {
			t.Errorf("resolution %d: %d cells, want %d", r, len(got), len(want))
		}
		if !slices.IsSortedFunc(got, func(a, b CellStats) int { return cmp.Compare(a.Cell, b.Cell) }) {
			t.Errorf("resolution %d: cells out of order", r)
		}
		sum := 0
		for _, g := range got {
			w := want[g.Cell]
			if g.Residents != w.Residents || g.Shortages != w.Shortages || g.Demand() != w.Shortages || g.Risk != w.Risk {
				t.Errorf("resolution %d, %s: %+v, want %+v", r, g.Cell, g, w)
			}
			sum += g.Residents
		}
		tot, err := tl.Totals(d, "")
		if err != nil {
			t.Fatal(err)
		}
		if tot.Residents != sum || tot.Risk != hub.RiskHigh || grid.Resolution(tot.Cell) != MinResolution {
			t.Errorf("resolution %d: totals %+v, residents summed %d", r, tot, sum)
		}
	}
	// Of one supply: a fifth of the shortages, and one stock level.
	one, _ := tl.Totals(d, hub.MaskChild)
	all5, _ := tl.Totals(d, "")
	if len(one.Stock) != 1 || one.Stock[0].SKU != hub.MaskChild || len(all5.Stock) != numSKUs || one.Shortages >= all5.Shortages || one.Residents != all5.Residents {
		t.Errorf("totals of MASK_CHILD %+v, of all %+v", one, all5)
	}
	if _, err := tl.CellStats(d, Query{Resolution: 4}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("resolution 4: %v, want EINVALID", err)
	}
	if _, err := tl.CellStats(d, Query{SKU: "SOAP"}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("unknown supply: %v, want EINVALID", err)
	}
}

func TestActive(t *testing.T) {
	cells := disk(t, 3)
	d := &hub.District{ID: "d1", Cells: cells}
	tl := New(Options{})
	tl.Observe(hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{Residents: []hub.ResidentRef{{Cell: cells[3]}}}})
	tl.Observe(hub.Event{Kind: hub.EventPharmacyUpserted, Payload: hub.PharmacyPayload{PharmacyID: "p", Cell: cells[5], Created: true}})
	got, err := tl.CellStats(d, Query{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Cell != cells[3] || got[1].Cell != cells[5] {
		t.Errorf("active cells %+v, want %s and %s", got, cells[3], cells[5])
	}
	if got[0].Stock[0].SKU != hub.MaskAdult || len(got[0].Stock) != numSKUs {
		t.Errorf("stock levels %+v", got[0].Stock)
	}
}

// TestChanged follows events into a district's cells and parents.
func TestChanged(t *testing.T) {
	cells := disk(t, 8)
	d := &hub.District{ID: "d1", Cells: cells}
	ring9, err := grid.Ring(disk(t, 0)[0], 9)
	if err != nil {
		t.Fatal(err)
	}
	outside := ring9[0] // none of d's
	tl := New(Options{})
	pub := tl.Publisher(nil)
	ev := hub.Event{Kind: hub.EventReservationCreated, Cells: []hub.Cell{cells[4], cells[9], outside}, Payload: hub.ReservationPayload{
		SKU: hub.MaskN95, To: hub.ReservationPending,
		Reservations: []hub.ReservationRef{{ID: "1", Cell: cells[9]}, {ID: "2", Cell: cells[4]}, {ID: "3", Cell: outside}, {ID: "4", Cell: cells[4]}},
	}}
	if _, err := pub.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	got, err := tl.Changed(d, ev, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []hub.Cell{cells[4], cells[9]}) {
		t.Errorf("changed at 9: %v, want %v", got, []hub.Cell{cells[4], cells[9]})
	}
	up, err := tl.Updates(d, ev, Query{Resolution: 7, SKU: hub.MaskN95})
	if err != nil {
		t.Fatal(err)
	}
	p4, _ := grid.Parent(cells[4], 7)
	p9, _ := grid.Parent(cells[9], 7)
	want := 1
	if p4 != p9 {
		want = 2
	}
	n := 0
	for _, u := range up {
		n += u.Reservations
	}
	if len(up) != want || n != 3 {
		t.Errorf("updates at 7: %+v, want %d parents with 3 reservations", up, want)
	}
	if up, _ := tl.Updates(d, ev, Query{SKU: hub.MaskAdult}); len(up) != 0 {
		t.Errorf("an N95 event changed MASK_ADULT cells: %+v", up)
	}
	// A resident changes every supply's aggregates.
	ev = hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{Residents: []hub.ResidentRef{{Cell: cells[0]}}}}
	tl.Observe(ev)
	if up, _ := tl.Updates(d, ev, Query{SKU: hub.MaskAdult}); len(up) != 1 || up[0].Residents != 1 {
		t.Errorf("resident's update: %+v", up)
	}
	// A district replaced changes all of its cells.
	ev = hub.Event{Kind: hub.EventDistrictUpserted, DistrictID: "d1", Payload: hub.DistrictPayload{DistrictID: "d1", Cells: cells[:10]}}
	tl.Observe(ev)
	d2 := &hub.District{ID: "d1", Cells: cells[:10]}
	if got, _ := tl.Changed(d2, ev, Query{}); len(got) != 10 {
		t.Errorf("district replaced: %d cells changed, want 10", len(got))
	}
	if got, _ := tl.Changed(d2, hub.Event{Kind: hub.EventFeverScan, Cells: cells[:3], Payload: hub.FeverScanPayload{}}, Query{}); len(got) != 0 {
		t.Errorf("a fever scan changed %v", got)
	}
}

// TestDistrictView checks that a district the tally learns from an event
// answers from the event's cells, and that a caller's other cells are
// answered for all the same.
func TestDistrictView(t *testing.T) {
	cells := disk(t, 4)
	tl := New(Options{Now: testclock.New(epoch).Now})
	tl.Observe(hub.Event{Kind: hub.EventDistrictUpserted, At: epoch, DistrictID: "d1", Payload: hub.DistrictPayload{DistrictID: "d1", Cells: cells}})
	if ids := tl.Districts(); !slices.Equal(ids, []string{"d1"}) {
		t.Errorf("districts %v", ids)
	}
	for _, give := range [][]hub.Cell{cells, cells[:5], cells} {
		got, err := tl.CellStats(&hub.District{ID: "d1", Cells: give, UpdatedAt: epoch.Add(-time.Hour)}, Query{})
		if err != nil || len(got) != len(give) {
			t.Errorf("%d cells given: %d returned, %v", len(give), len(got), err)
		}
	}
	// The older cells were kept aside, not in place of the event's.
	tl.dmu.RLock()
	dd := tl.districts["d1"]
	view, alt := dd.view, dd.alt
	tl.dmu.RUnlock()
	if !slices.Equal(view.src, cells) || alt == nil || !slices.Equal(alt.src, cells[:5]) {
		t.Errorf("view of %d cells, alt %v", len(view.src), alt)
	}
	if v, _ := tl.viewOf(&hub.District{ID: "d1", Cells: cells[:5]}); v != alt {
		t.Error("the older cells' view was built again")
	}
	if _, err := tl.CellStats(nil, Query{}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("no district: %v", err)
	}
}

// TestSeries moves the clock over hours and checks the points taken on
// each hour.
func TestSeries(t *testing.T) {
	cells := disk(t, 2)
	d := &hub.District{ID: "d1", Cells: cells}
	clk := testclock.New(epoch) // 09:30
	tl := New(Options{Now: clk.Now})
	tl.Observe(hub.Event{Kind: hub.EventDistrictUpserted, DistrictID: "d1", Payload: hub.DistrictPayload{DistrictID: "d1", Cells: cells}})
	stock := func(sku hub.SKU, q int) {
		tl.Observe(hub.StockChangedEvent(&hub.Pharmacy{ID: "p1", Cell: cells[0]}, hub.StockEntry{StockChange: hub.StockChange{PharmacyID: "p1", SKU: sku, Delta: q}}))
	}
	stock(hub.MaskN95, 10)
	clk.Set(epoch.Add(45 * time.Minute)) // 10:15: the 10:00 point holds 10
	stock(hub.MaskN95, 5)
	stock(hub.TestKit, 7)
	clk.Set(epoch.Add(3*time.Hour + 10*time.Minute)) // 12:40: 11:00 and 12:00 hold 22
	centre := disk(t, 0)[0]
	tl.Observe(hub.Event{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: "a", Center: centre, K: 1}})
	stock(hub.MaskN95, -3)
	clk.Set(epoch.Add(4*time.Hour + 35*time.Minute)) // 14:05 on a query
	pts, err := tl.Series(d, 72, "")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return time.Date(2020, 2, 14, h, 0, 0, 0, time.UTC) }
	want := []Point{
		{At: at(10), Stock: 10},
		{At: at(11), Stock: 22},
		{At: at(12), Stock: 22},
		{At: at(13), Stock: 19, RiskCells: 7},
		{At: at(14), Stock: 19, RiskCells: 7},
		{At: at(14).Add(5 * time.Minute), Stock: 19, RiskCells: 7}, // now
	}
	if !slices.Equal(pts, want) {
		t.Errorf("series:\n got %+v\nwant %+v", pts, want)
	}
	pts, _ = tl.Series(d, 2, hub.TestKit)
	if len(pts) != 3 || pts[0].Stock != 7 || !pts[1].At.Equal(at(14)) || !pts[2].At.Equal(at(14).Add(5*time.Minute)) {
		t.Errorf("last 2 hours of TEST_KIT: %+v", pts)
	}
	if _, err := tl.Series(d, 721, ""); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("721 hours: %v", err)
	}
	// A month later the series keeps MaxHours points.
	clk.Set(epoch.Add(40 * 24 * time.Hour))
	pts, _ = tl.Series(d, MaxHours, "")
	if len(pts) != MaxHours+1 || pts[0].Stock != 19 || !pts[MaxHours-1].At.Equal(epoch.Add(40*24*time.Hour).Truncate(time.Hour)) {
		t.Errorf("after 40 days: %d points, first %+v", len(pts), pts[0])
	}
}

// TestConcurrent observes events from many goroutines while others
// query, for the race detector, and checks that nothing was lost.
func TestConcurrent(t *testing.T) {
	cells := disk(t, 10)
	d := &hub.District{ID: "d1", Cells: cells}
	clk := testclock.New(epoch)
	tl := New(Options{Now: clk.Now})
	pub := tl.Publisher(nil)
	const writers, each = 4, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				c := cells[(w*each+i)%len(cells)]
				id := string(rune('a'+w)) + "-p"
				_, _ = pub.Publish(t.Context(), hub.StockChangedEvent(&hub.Pharmacy{ID: id, Cell: cells[w]}, hub.StockEntry{StockChange: hub.StockChange{PharmacyID: id, SKU: hub.MaskAdult, Delta: 1}}))
				tl.Observe(hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{Residents: []hub.ResidentRef{{Cell: c}}}})
				tl.Observe(hub.Event{Kind: hub.EventColourChanged, Payload: hub.ColourChangedPayload{To: "YELLOW", Cell: c}})
				if i%100 == 0 {
					tl.Observe(hub.Event{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: c.String(), Center: c, K: 1}})
					tl.Observe(hub.Event{Kind: hub.EventRiskAreaLifted, Payload: hub.RiskAreaPayload{AreaID: c.String(), Center: c, K: 1}})
				}
				if w == 0 && i%50 == 0 {
					clk.Set(clk.Now().Add(20 * time.Minute))
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := tl.CellStats(d, Query{Resolution: 7}); err != nil {
					t.Error(err)
				}
				if _, err := tl.Series(d, 24, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	tot, err := tl.Totals(d, "")
	if err != nil {
		t.Fatal(err)
	}
	if tot.Residents != writers*each || tot.Yellow != writers*each || tot.Stock[0].Quantity != writers*each || tot.Risk != "" {
		t.Errorf("totals %+v, want %d residents, yellow codes and units, no risk", tot, writers*each)
	}
	pts, _ := tl.Series(d, MaxHours, "")
	pts = pts[:len(pts)-1] // the hourly points, without the one of now
	for i := 1; i < len(pts); i++ {
		if pts[i].Stock < pts[i-1].Stock || !pts[i].At.Equal(pts[i-1].At.Add(time.Hour)) {
			t.Fatalf("points %d and %d: %+v, %+v", i-1, i, pts[i-1], pts[i])
		}
	}
}

func TestAreaCellsLevels(t *testing.T) {
	// The tally takes an area's levels from codes: a check that the two
	// agree on what a marking of 3 rings covers.
	c := disk(t, 0)[0]
	rcs, err := codes.AreaCells(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	tl := New(Options{})
	tl.Observe(hub.Event{Kind: hub.EventRiskAreaMarked, Payload: hub.RiskAreaPayload{AreaID: "a", Center: c, K: 3}})
	for _, rc := range rcs {
		got, _ := tl.Cell(rc.Cell, "")
		if got.Risk != rc.Level {
			t.Errorf("%s: %q, want %q", rc.Cell, got.Risk, rc.Level)
		}
	}
}
