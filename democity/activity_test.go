package democity

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/stats"
	"github.com/gridhub/gridhub/store/boltstore"
)

// dayHub is a demo city with the services of a hub over one store, every
// service publishing to the dashboards' counters.
type dayHub struct {
	st    hub.Store
	svc   Services
	tally *stats.Tally
}

// newDayHub seeds a small Taipei demo and opens the services over it.
func newDayHub(t *testing.T, seed uint64, residents int) *dayHub {
	t.Helper()
	ctx := context.Background()
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := privacy.NewHasher([]byte("democity-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	tally := stats.New(stats.Options{})
	events := tally.Publisher(nil)
	cs, err := city.New(ctx, st, h, city.Options{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.GenerateIssuer("Taipei", "tpe-test", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codeSvc, err := codes.New(codes.Options{Store: st, Issuer: issuer, Publisher: events})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := dispatch.NewEngine(ctx, st, dispatch.EngineOptions{
		CodeKey: []byte("democity-test-code-key"), Events: events, ExpiryEvery: -1, HealthColour: codeSvc.GateColour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = eng.Close()
		_ = st.Close()
	})
	if _, err := Seed(ctx, cs, Options{Seed: seed, Residents: residents}); err != nil {
		t.Fatal(err)
	}
	if err := eng.RefreshPharmacies(ctx); err != nil {
		t.Fatal(err)
	}
	return &dayHub{st: st, svc: Services{City: cs, Dispatch: eng, Codes: codeSvc}, tally: tally}
}

func (h *dayHub) seedDay(t *testing.T, seed uint64) *Day {
	t.Helper()
	day, err := SeedDay(context.Background(), h.svc, DayOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return day
}

// dayRecords is what a demo day leaves in the store, by resident where
// it can be, for comparisons.
type dayRecords struct {
	Reservations map[string]string // resident -> status and pharmacy
	Allocations  map[hub.AllocationStatus]int
	Shortages    []string // residents
	Codes        map[string]hub.Colour
	Declarations map[string]int // district, colour, filer kind -> count
	RiskAreas    map[hub.Cell]int
	Stock        map[string]int // pharmacy -> adult masks
}

func records(t *testing.T, h *dayHub) *dayRecords {
	t.Helper()
	ctx := context.Background()
	out := &dayRecords{
		Reservations: map[string]string{}, Allocations: map[hub.AllocationStatus]int{}, Codes: map[string]hub.Colour{},
		Declarations: map[string]int{}, RiskAreas: map[hub.Cell]int{}, Stock: map[string]int{},
	}
	rs, err := h.st.Reservations(ctx, hub.ReservationFilter{RoundID: Taipei.RoundID()})
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.st.Allocations(ctx, hub.AllocationFilter{RoundID: Taipei.RoundID()})
	if err != nil {
		t.Fatal(err)
	}
	pharmacyOf := map[string]string{}
	for _, a := range as {
		pharmacyOf[a.ID] = a.PharmacyID
		out.Allocations[a.Status]++
	}
	for _, r := range rs {
		out.Reservations[r.ResidentID] = string(r.Status) + " " + pharmacyOf[r.AllocationID]
	}
	ss, err := h.st.Shortages(ctx, hub.ShortageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		out.Shortages = append(out.Shortages, s.ResidentID)
	}
	slices.Sort(out.Shortages)
	ds, err := h.st.Districts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		hcs, err := h.st.HealthCodesIn(ctx, d.Cells)
		if err != nil {
			t.Fatal(err)
		}
		for _, hc := range hcs {
			out.Codes[hc.ResidentID] = hc.Colour
		}
		counts, err := h.st.DeclarationCounts(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			out.Declarations[d.ID+" "+string(c.Colour)+" "+string(c.FiledByKind)] += c.Count
		}
	}
	areas, err := h.st.RiskAreas(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range areas {
		out.RiskAreas[a.Cell] = a.Rings
	}
	ps, err := h.st.Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		out.Stock[p.ID] = p.Stock[hub.MaskAdult]
	}
	return out
}

// totals adds up the counters of every district.
func totals(t *testing.T, st hub.Store, tally *stats.Tally) stats.CellStats {
	t.Helper()
	ds, err := st.Districts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sum stats.CellStats
	for _, d := range ds {
		s, err := tally.Totals(d, hub.MaskAdult)
		if err != nil {
			t.Fatal(err)
		}
		sum.Residents += s.Residents
		sum.Reservations += s.Reservations
		sum.Shortages += s.Shortages
		sum.Allocations += s.Allocations
		sum.Fulfilled += s.Fulfilled
		sum.Green += s.Green
		sum.Yellow += s.Yellow
		sum.Red += s.Red
		sum.Stock = append(sum.Stock, s.Stock...)
	}
	return sum
}

func TestDay(t *testing.T) {
	ctx := context.Background()
	h := newDayHub(t, 2020, 2000)
	day := h.seedDay(t, 2020)
	t.Logf("demo day: %+v", *day)

	// What the summary says.
	switch {
	case !day.Seeded || day.RoundID != "tpe-demo-masks":
		t.Fatalf("day = %+v", day)
	case day.Declarations < 300 || day.Declarations > 500 || day.Green+day.Yellow+day.Red != day.Declarations:
		t.Errorf("%d declarations (%d green, %d yellow, %d red) of 2,000 residents, want about a fifth",
			day.Declarations, day.Green, day.Yellow, day.Red)
	case day.Yellow == 0 || day.Red == 0 || day.Green < 3*(day.Yellow+day.Red):
		t.Errorf("colours %d green, %d yellow, %d red: want most green and a few of each other", day.Green, day.Yellow, day.Red)
	case day.ByCommittee == 0 || day.ByCommittee > day.Declarations/2:
		t.Errorf("%d of %d declarations filed by committees", day.ByCommittee, day.Declarations)
	case day.RiskAreas != 2 || day.RiskCells != 37+7:
		t.Errorf("%d risk areas of %d cells, want 2 of 37 + 7", day.RiskAreas, day.RiskCells)
	case day.Sold == 0 || day.Sellers == 0:
		t.Errorf("sold %d at %d pharmacies", day.Sold, day.Sellers)
	case day.Reservations < 100 || day.Reservations > 250 || day.Allocated+day.Waiting != day.Reservations:
		t.Errorf("%d reservations, %d allocated, %d waiting", day.Reservations, day.Allocated, day.Waiting)
	case day.Allocated == 0 || day.Waiting == day.NothingInReach:
		t.Errorf("%d allocated, %d waiting (%d with nothing in reach): want some served and stock running out", day.Allocated, day.Waiting, day.NothingInReach)
	case day.Redeemed == 0 || day.Redeemed >= day.Allocated:
		t.Errorf("%d of %d allocations redeemed", day.Redeemed, day.Allocated)
	case day.Shortages == 0:
		t.Error("no shortage registered")
	case day.Scans != 12 || day.Fever != 1 || day.Denied == 0 || day.Passed+day.Denied+day.Fever != day.Scans:
		t.Errorf("%d scans: %d passed, %d denied, %d fever", day.Scans, day.Passed, day.Denied, day.Fever)
	case day.PartnerID != DemoPartnerID || day.DeliveryRoundID != "tpe-demo-delivery" || day.Deliveries == 0 ||
		day.Delivering == 0 || day.Delivering > day.Deliveries:
		t.Errorf("partner %q, round %q: %d deliveries, %d delivering", day.PartnerID, day.DeliveryRoundID, day.Deliveries, day.Delivering)
	case day.RestockedPharmacies == 0 || day.Restocked < afternoonLot*day.RestockedPharmacies || day.ServedLate > day.Allocated ||
		day.ShortagesServed > day.Shortages:
		t.Errorf("afternoon: %d masks to %d pharmacies, %d reservations and %d shortages served", day.Restocked,
			day.RestockedPharmacies, day.ServedLate, day.ShortagesServed)
	}
	afternoon(t, h, day)

	// What the store holds agrees.
	rec := records(t, h)
	status := map[string]int{}
	for _, s := range rec.Reservations {
		status[strings.Fields(s)[0]]++
	}
	if len(rec.Reservations) != day.Reservations || status[string(hub.ReservationWaiting)] != day.Waiting {
		t.Errorf("stored %d reservations, %v; summary %d, %d waiting", len(rec.Reservations), status, day.Reservations, day.Waiting)
	}
	if rec.Allocations[hub.AllocationRedeemed] != day.Redeemed || rec.Allocations[hub.AllocationReserved] != day.Allocated-day.Redeemed {
		t.Errorf("stored allocations %v; summary %d allocated, %d redeemed", rec.Allocations, day.Allocated, day.Redeemed)
	}
	if len(rec.Shortages) != day.Shortages {
		t.Errorf("stored %d shortages, summary %d", len(rec.Shortages), day.Shortages)
	}
	declared, byCommittee := 0, 0
	for k, n := range rec.Declarations {
		declared += n
		if strings.HasSuffix(k, " "+string(hub.FiledByCommittee)) {
			byCommittee += n
		}
	}
	if declared != day.Declarations || byCommittee != day.ByCommittee || len(rec.Codes) != day.Declarations {
		t.Errorf("stored %d declarations (%d by committees), %d codes; summary %d (%d)", declared, byCommittee, len(rec.Codes), day.Declarations, day.ByCommittee)
	}
	if len(rec.RiskAreas) != 2 || !slices.Equal(slices.Sorted(maps.Values(rec.RiskAreas)), []int{1, 3}) {
		t.Errorf("risk areas %v, want one of 1 ring and one of 3", rec.RiskAreas)
	}
	scans, err := h.st.ContactsIn(ctx, checkpointCells(t, h.st), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) != day.Scans {
		t.Errorf("stored %d scans, summary %d", len(scans), day.Scans)
	}

	// Every write went through the publisher: the live counters are those
	// a tally loaded from the store finds.
	loaded := stats.New(stats.Options{})
	if err := loaded.Load(ctx, h.st); err != nil {
		t.Fatal(err)
	}
	live, want := totals(t, h.st, h.tally), totals(t, h.st, loaded)
	if !reflect.DeepEqual(live, want) {
		t.Errorf("live counters %+v, loaded from the store %+v", live, want)
	}
	if live.Reservations != day.Waiting+day.Deliveries-day.Delivering || live.Shortages != day.Shortages-day.ShortagesServed ||
		live.Allocations != day.Allocated+day.Delivering+day.ShortagesServed || live.Fulfilled != day.Redeemed || live.Green+live.Yellow+live.Red != day.Declarations {
		t.Errorf("counters %+v, day %+v", live, day)
	}

	// Fulfilment differs between areas: some served in full, some not
	// at all.
	ds, err := h.st.Districts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, none := 0, 0
	for _, d := range ds {
		cells, err := h.tally.CellStats(d, stats.Query{Resolution: 8, SKU: hub.MaskAdult, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cells {
			switch r := c.FulfilmentRate(); {
			case r == nil:
			case *r == 1:
				full++
			case *r == 0:
				none++
			}
		}
	}
	if full == 0 || none == 0 {
		t.Errorf("%d committee cells served in full, %d not at all: want some of each", full, none)
	}

	// A second call writes nothing.
	again := h.seedDay(t, 2020)
	if again.Seeded || again.Declarations+again.Reservations+again.Shortages+again.Scans+again.Sold != 0 {
		t.Errorf("second call: %+v", again)
	}
	if after := records(t, h); !reflect.DeepEqual(rec, after) {
		t.Error("the second call changed the store")
	}
	if now := totals(t, h.st, h.tally); !reflect.DeepEqual(now, live) {
		t.Errorf("the second call moved the counters: %+v, was %+v", now, live)
	}
}

// afternoon checks what the afternoon left: the partner's allocations
// DELIVERING, and stock with nobody waiting around the station.
func afternoon(t *testing.T, h *dayHub, day *Day) {
	t.Helper()
	ctx := context.Background()
	as, err := h.st.Allocations(ctx, hub.AllocationFilter{PartnerID: DemoPartnerID, Status: hub.AllocationDelivering})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != day.Delivering {
		t.Errorf("%d allocations of %s DELIVERING, summary %d", len(as), DemoPartnerID, day.Delivering)
	}
	for _, a := range as {
		if a.RoundID != day.DeliveryRoundID {
			t.Errorf("allocation %s of %s in round %q, want %q", a.ID, DemoPartnerID, a.RoundID, day.DeliveryRoundID)
		}
	}
	station, err := grid.CellAt(hub.Point{Lat: CenterLat, Lng: CenterLng}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := h.st.Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	near := 0
	for _, p := range ps {
		k, err := grid.Distance(station, p.Cell)
		if err != nil || k > dayMaxK {
			continue
		}
		near++
		if p.Stock[hub.MaskAdult] < afternoonKeep {
			t.Errorf("pharmacy %s, %d rings from the station, holds %d adult masks, want at least %d", p.ID, k, p.Stock[hub.MaskAdult], afternoonKeep)
		}
		// Nobody it could serve is left waiting.
		ss, err := h.st.Shortages(ctx, hub.ShortageFilter{SKU: hub.MaskAdult, Status: hub.ShortageWaiting})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if k, err := grid.Distance(s.Cell, p.Cell); err == nil && k <= dayMaxK { // the engine's default reach, 3 rings
				t.Errorf("shortage %s waits %d rings from %s, which has stock", s.ID, k, p.ID)
			}
		}
		for _, round := range []string{day.RoundID, day.DeliveryRoundID} {
			rs, err := h.st.Reservations(ctx, hub.ReservationFilter{RoundID: round})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if k, err := grid.Distance(r.Cell, p.Cell); err == nil && k <= dayMaxK && r.Status == hub.ReservationWaiting {
					t.Errorf("reservation %s of %s waits %d rings from %s, which has stock", r.ID, round, k, p.ID)
				}
			}
		}
	}
	if near != day.RestockedPharmacies || near == 0 {
		t.Errorf("%d pharmacies within %d rings of the station, %d restocked", near, dayMaxK, day.RestockedPharmacies)
	}
}

func checkpointCells(t *testing.T, st hub.Store) []hub.Cell {
	t.Helper()
	cps, err := st.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var cells []hub.Cell
	for _, c := range cps {
		cells = append(cells, c.Cell)
	}
	slices.Sort(cells)
	return slices.Compact(cells)
}

func TestDayDeterministic(t *testing.T) {
	a, b, other := newDayHub(t, 7, 1000), newDayHub(t, 7, 1000), newDayHub(t, 7, 1000)
	da, db, do := a.seedDay(t, 7), b.seedDay(t, 7), other.seedDay(t, 8)
	da.Elapsed, db.Elapsed, do.Elapsed = 0, 0, 0
	if *da != *db {
		t.Errorf("two days with one seed differ:\n%+v\n%+v", da, db)
	}
	ra, rb, ro := records(t, a), records(t, b), records(t, other)
	if !reflect.DeepEqual(ra, rb) {
		for id, s := range ra.Reservations {
			if rb.Reservations[id] != s {
				t.Errorf("reservation of %s: %q and %q", id, s, rb.Reservations[id])
			}
		}
		t.Fatal("two days with one seed wrote different records")
	}
	if reflect.DeepEqual(ra.Reservations, ro.Reservations) || reflect.DeepEqual(ra.Codes, ro.Codes) {
		t.Error("another seed gives the same day")
	}
}

func TestDayNeedsServices(t *testing.T) {
	if _, err := SeedDay(context.Background(), Services{}, DayOptions{}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("no services: err = %v, want EINVALID", err)
	}
}
