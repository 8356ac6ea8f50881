package stats_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/gridhub/gridhub/internal/testclock"
	"maps"
	"math/rand/v2"
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

// The tests here run the real services over the embedded store in a
// temporary directory, with a tally as their publisher, and hold the
// tally's counters against a count of what the store holds.

var epoch = time.Date(2020, 2, 14, 8, 20, 0, 0, time.UTC)

// world is a hub without its transport: store, tally and services.
type world struct {
	t     *testing.T
	dir   string
	clk   *testclock.Clock
	st    hub.Store
	tally *stats.Tally
	city  *city.Service
	codes *codes.Service
	eng   *dispatch.Engine
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), clk: testclock.New(epoch)}
	w.open()
	return w
}

// open opens the store and starts the tally and the services over it, in
// the order a hub does: the tally loads before anything publishes.
func (w *world) open() {
	t := w.t
	t.Helper()
	st, err := boltstore.Open(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	w.st = st
	w.tally = stats.New(stats.Options{Now: w.clk.Now})
	if err := w.tally.Load(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	pub := w.tally.Publisher(nil)
	h, err := privacy.NewHasher([]byte("gridhub-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if w.city, err = city.New(t.Context(), st, h, city.Options{Now: w.clk.Now, Events: pub}); err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer("test", "k1", ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if w.codes, err = codes.New(codes.Options{Store: st, Issuer: issuer, Publisher: pub, Now: w.clk.Now, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if w.eng, err = dispatch.NewEngine(t.Context(), st, dispatch.EngineOptions{
		Now: w.clk.Now, CodeKey: []byte("0123456789abcdef0123"), Events: pub, HealthColour: w.codes.GateColour, ExpiryEvery: -1,
	}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) close() {
	if err := w.eng.Close(); err != nil {
		w.t.Error(err)
	}
	if err := w.st.Close(); err != nil {
		w.t.Error(err)
	}
}

// tolerate fails on any error but the application errors a random
// operation may meet (a second reservation, no stock, a code redeemed).
func (w *world) tolerate(op string, err error) {
	w.t.Helper()
	if err == nil {
		return
	}
	var he *hub.Error
	if !errors.As(err, &he) || he.Code == hub.EINTERNAL {
		w.t.Fatalf("%s: %v", op, err)
	}
}

// count is what the store holds in one cell, counted the slow way.
type count struct {
	residents, pharmacies int
	stock, resv, short    map[hub.SKU]int
	alloc, fulfilled      map[hub.SKU]int
	colours               map[hub.Colour]int
	risk                  hub.RiskLevel
}

// recount counts the store's records in the given cells, without the
// tally's code.
func recount(t *testing.T, st hub.Store, cells []hub.Cell) map[hub.Cell]*count {
	ctx := t.Context()
	out := map[hub.Cell]*count{}
	at := func(c hub.Cell) *count {
		n := out[c]
		if n == nil {
			n = &count{stock: map[hub.SKU]int{}, resv: map[hub.SKU]int{}, short: map[hub.SKU]int{}, alloc: map[hub.SKU]int{}, fulfilled: map[hub.SKU]int{}, colours: map[hub.Colour]int{}}
			out[c] = n
		}
		return n
	}
	for _, c := range cells {
		at(c)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rs, err := st.Residents(ctx, hub.ResidentFilter{})
	must(err)
	for _, r := range rs {
		at(r.Cell).residents++
	}
	ps, err := st.Pharmacies(ctx)
	must(err)
	for _, p := range ps {
		at(p.Cell).pharmacies++
		for sku, q := range p.Stock {
			at(p.Cell).stock[sku] += q
		}
	}
	rounds, err := st.Rounds(ctx, "")
	must(err)
	for _, r := range rounds {
		resvs, err := st.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID})
		must(err)
		for _, rv := range resvs {
			if rv.Status == hub.ReservationPending || rv.Status == hub.ReservationWaiting {
				at(rv.Cell).resv[r.SKU]++
			}
		}
	}
	as, err := st.Allocations(ctx, hub.AllocationFilter{})
	must(err)
	for _, a := range as {
		if !a.Status.Returns() {
			at(a.Cell).alloc[a.SKU]++
		}
		if a.Status == hub.AllocationRedeemed || a.Status == hub.AllocationDelivered {
			at(a.Cell).fulfilled[a.SKU]++
		}
	}
	shs, err := st.Shortages(ctx, hub.ShortageFilter{Status: hub.ShortageWaiting})
	must(err)
	for _, s := range shs {
		at(s.Cell).short[s.SKU]++
	}
	all := make([]hub.Cell, 0, len(out))
	for c := range out {
		all = append(all, c)
	}
	slices.Sort(all)
	for chunk := range slices.Chunk(all, 256) {
		hcs, err := st.HealthCodesIn(ctx, chunk)
		must(err)
		for _, hc := range hcs {
			at(hc.Cell).colours[hc.Colour]++
		}
	}
	levels, err := st.RiskLevels(ctx, all)
	must(err)
	for c, l := range levels {
		at(c).risk = l
	}
	return out
}

// compare fails where the tally's counters differ from the count.
func compare(t *testing.T, name string, tl *stats.Tally, want map[hub.Cell]*count) {
	t.Helper()
	bad := 0
	for c, n := range want {
		got, err := tl.Cell(c, "")
		if err != nil {
			t.Fatal(err)
		}
		ok := got.Residents == n.residents && got.Pharmacies == n.pharmacies && got.Risk == n.risk &&
			got.Green == n.colours[hub.Green] && got.Yellow == n.colours[hub.Yellow] && got.Red == n.colours[hub.Red]
		for _, sp := range hub.Supplies() {
			g, _ := tl.Cell(c, sp.SKU)
			ok = ok && g.Stock[0].Quantity == n.stock[sp.SKU] && g.Reservations == n.resv[sp.SKU] && g.Shortages == n.short[sp.SKU] &&
				g.Allocations == n.alloc[sp.SKU] && g.Fulfilled == n.fulfilled[sp.SKU]
		}
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("%s: cell %s:\n tally %+v\n store %+v", name, c, got, *n)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d cells differ", name, bad)
	}
}

// TestCountersMatchStore runs a random sequence of what a city does, then
// holds the tally against a recount of the store, against a tally loaded
// from the store, and against one loaded after a restart.
func TestCountersMatchStore(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	r := rand.New(rand.NewPCG(2020, 214))
	centre, err := grid.CellAt(hub.Point{Lat: 30.5928, Lng: 114.3055}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	cells, err := grid.Disk(centre, 5)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := grid.Ring(centre, 7)
	if err != nil {
		t.Fatal(err)
	}
	outside := ring[:6] // cells of no district
	district, err := w.city.UpsertDistrict(ctx, city.DistrictInput{ID: "d1", Name: "Jianghan", Area: city.Area{Cells: cells}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.UpsertPartner(ctx, "courier", "Courier", cells); err != nil {
		t.Fatal(err)
	}
	supplies := hub.Supplies()
	var rounds []string
	for i, sku := range []hub.SKU{hub.MaskAdult, hub.MaskN95, hub.TestKit} {
		rd, err := w.eng.OpenRound(ctx, dispatch.RoundInput{
			ID: fmt.Sprintf("fc%d", i), Name: "round", SKU: sku, PerPerson: 1 + i, Mode: hub.FirstCome,
			Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}, Closes: epoch.Add(60 * 24 * time.Hour), MaxK: 2,
			PickupWindow: 3 * time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, rd.ID)
	}
	if _, err := w.eng.OpenRound(ctx, dispatch.RoundInput{
		ID: "lot", Name: "lottery", SKU: hub.MaskChild, PerPerson: 1, Mode: hub.Lottery, Winners: 8,
		Closes: epoch.Add(5 * time.Hour), MaxK: 3,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.CommitLottery(ctx, "lot"); err != nil {
		t.Fatal(err)
	}
	rounds = append(rounds, "lot")

	var (
		residents []*hub.Resident
		pharmacy  []string
		resvs     []string
		marked    = map[hub.Cell]bool{}
		active    []string
		drawn     bool
		nid       int
	)
	someCell := func() hub.Cell {
		if r.IntN(10) == 0 {
			return outside[r.IntN(len(outside))]
		}
		return cells[r.IntN(len(cells))]
	}
	const steps = 400
	for step := range steps {
		switch op := r.IntN(14); {
		case op == 0 || len(residents) < 20:
			var ins []city.ResidentInput
			for range 1 + r.IntN(3) {
				nid++
				c := someCell()
				ins = append(ins, city.ResidentInput{Name: "Resident", IDNumber: privacy.ExampleTaiwanID('S', nid), Cell: &c})
			}
			rs, err := w.city.RegisterResidents(ctx, ins...)
			w.tolerate("register", err)
			residents = append(residents, rs...)
		case op == 1 || len(pharmacy) < 4:
			id := fmt.Sprintf("ph%02d", len(pharmacy))
			if len(pharmacy) > 0 && r.IntN(3) == 0 {
				id = pharmacy[r.IntN(len(pharmacy))] // moves
			} else {
				pharmacy = append(pharmacy, id)
			}
			loc, _ := grid.Center(cells[r.IntN(len(cells))])
			stock := map[hub.SKU]int{}
			for _, sp := range supplies {
				if r.IntN(2) == 0 {
					stock[sp.SKU] = r.IntN(8)
				}
			}
			_, err := w.city.UpsertPharmacies(ctx, city.PharmacyInput{ID: id, Name: "Pharmacy", Location: loc, Stock: stock})
			w.tolerate("upsert pharmacy", err)
			w.tolerate("refresh", w.eng.RefreshPharmacies(ctx))
		case op == 2:
			id, sku := pharmacy[r.IntN(len(pharmacy))], supplies[r.IntN(len(supplies))].SKU
			_, err := w.city.Restock(ctx, id, sku, 1+r.IntN(12))
			w.tolerate("restock", err)
			_, err = w.eng.ServeWaiting(ctx, id, sku)
			w.tolerate("serve waiting", err)
		case op == 3:
			_, err := w.city.Sell(ctx, pharmacy[r.IntN(len(pharmacy))], supplies[r.IntN(len(supplies))].SKU, 1+r.IntN(2))
			w.tolerate("sell", err)
		case op == 4 || op == 5:
			rd := rounds[r.IntN(len(rounds))]
			ful := hub.Pickup
			if r.IntN(4) == 0 && rd != "lot" {
				ful = hub.Delivery
			}
			out, err := w.eng.Reserve(ctx, dispatch.ReserveInput{RoundID: rd, Resident: residents[r.IntN(len(residents))], Fulfilment: ful})
			w.tolerate("reserve", err)
			if err == nil {
				resvs = append(resvs, out.Reservation.ID)
			}
		case op == 6 && len(resvs) > 0:
			_, err := w.eng.CancelReservation(ctx, resvs[r.IntN(len(resvs))])
			w.tolerate("cancel", err)
		case op == 7:
			_, err := w.eng.RegisterShortage(ctx, residents[r.IntN(len(residents))], supplies[r.IntN(len(supplies))].SKU, 1+r.IntN(2))
			w.tolerate("shortage", err)
		case op == 8:
			as, err := w.st.Allocations(ctx, hub.AllocationFilter{Status: hub.AllocationReserved})
			w.tolerate("allocations", err)
			if len(as) > 0 {
				a := as[r.IntN(len(as))]
				_, err := w.eng.Redeem(ctx, a.PharmacyID, w.eng.PickupCode(a).String())
				w.tolerate("redeem", err)
			}
		case op == 9:
			as, err := w.st.Allocations(ctx, hub.AllocationFilter{Status: hub.AllocationDelivering})
			w.tolerate("allocations", err)
			if len(as) > 0 {
				_, err := w.eng.MarkDelivery(ctx, "courier", as[r.IntN(len(as))].ID, r.IntN(4) != 0)
				w.tolerate("delivery", err)
			}
		case op == 10:
			w.clk.Advance(time.Duration(5+r.IntN(85)) * time.Minute)
			_, err := w.eng.ExpireDue(ctx)
			w.tolerate("expire", err)
		case op == 11:
			res := residents[r.IntN(len(residents))]
			in := codes.DeclareInput{ResidentID: res.ID, TravelFromRisk: r.IntN(5) == 0, ContactWithCase: r.IntN(8) == 0}
			if r.IntN(4) == 0 {
				in.Temperature = 38.5
			}
			_, _, err := w.codes.Declare(ctx, in)
			w.tolerate("declare", err)
		case op == 12:
			c := someCell()
			if !marked[c] { // a centre marked again replaces its history
				marked[c] = true
				a, err := w.codes.MarkRiskArea(ctx, c, r.IntN(3), "cluster")
				w.tolerate("mark", err)
				if err == nil {
					active = append(active, a.ID)
				}
			}
		case op == 13 && len(active) > 0:
			i := r.IntN(len(active))
			_, err := w.codes.LiftRiskArea(ctx, active[i])
			w.tolerate("lift", err)
			active = slices.Delete(active, i, i+1)
		}
		if step == steps/2 && !drawn {
			// Entries close: the lottery draws.
			if now := w.clk.Now(); now.Before(epoch.Add(5 * time.Hour)) {
				w.clk.Advance(epoch.Add(5*time.Hour + time.Minute).Sub(now))
			}
			_, _, err := w.eng.DrawLottery(ctx, "lot")
			w.tolerate("draw", err)
			drawn = true
		}
	}
	if w.clk.Now().Sub(epoch) < 6*time.Hour {
		t.Fatalf("the clock moved only %v: the series hold too few hours", w.clk.Now().Sub(epoch))
	}

	interest := slices.Concat(cells, outside)
	want := recount(t, w.st, interest)
	compare(t, "live", w.tally, want)

	// The district's aggregates are sums of its cells.
	tot, err := w.tally.Totals(district, "")
	if err != nil {
		t.Fatal(err)
	}
	var residentsIn, allocIn int
	for _, c := range cells {
		residentsIn += want[c].residents
		for _, n := range want[c].alloc {
			allocIn += n
		}
	}
	if tot.Residents != residentsIn || tot.Allocations != allocIn || allocIn == 0 {
		t.Errorf("totals %+v: want %d residents, %d allocations", tot, residentsIn, allocIn)
	}
	for res := stats.MinResolution; res <= stats.MaxResolution; res++ {
		cs, err := w.tally.CellStats(district, stats.Query{Resolution: res})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, s := range cs {
			sum += s.Allocations
		}
		if sum != allocIn {
			t.Errorf("resolution %d: %d allocations over %d cells, want %d", res, sum, len(cs), allocIn)
		}
	}

	// A tally loaded now counts the same.
	loaded := stats.New(stats.Options{Now: w.clk.Now})
	if err := loaded.Load(ctx, w.st); err != nil {
		t.Fatal(err)
	}
	compare(t, "loaded", loaded, want)

	// Allocations by status, hub-wide, as the metrics report them.
	byStatus := map[string]int{}
	all, err := w.st.Allocations(ctx, hub.AllocationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		byStatus[string(a.Status)]++
	}
	for name, tl := range map[string]*stats.Tally{"live": w.tally, "loaded": loaded} {
		got := maps.Clone(tl.AllocationsByStatus())
		maps.DeleteFunc(got, func(_ string, n int) bool { return n == 0 })
		if !maps.Equal(got, byStatus) || len(byStatus) < 2 {
			t.Errorf("%s allocations by status %v, the store holds %v", name, got, byStatus)
		}
	}
	stock := loaded.StockBySKU()[district.ID]
	if tot.Stock == nil || stock == nil {
		t.Fatalf("stock by SKU: %v", stock)
	}
	for _, l := range tot.Stock {
		if stock[string(l.SKU)] != l.Quantity {
			t.Errorf("stock by SKU %v, totals %v", stock, tot.Stock)
		}
	}

	// And so does one loaded after a restart; its rebuilt series agree
	// with the one taken live on what the records date.
	live := w.tally
	w.close()
	w.open()
	compare(t, "restarted", w.tally, want)
	compare(t, "live after the restart", live, want)
	livePts, err := live.Series(district, stats.MaxHours, "")
	if err != nil {
		t.Fatal(err)
	}
	loadPts, err := w.tally.Series(district, stats.MaxHours, "")
	if err != nil {
		t.Fatal(err)
	}
	byAt := map[time.Time]stats.Point{}
	for _, p := range loadPts {
		byAt[p.At] = p
	}
	matched := 0
	for _, lp := range livePts {
		p, ok := byAt[lp.At]
		if !ok {
			continue
		}
		matched++
		// Demand moved by SetReservationStatus is dated by the store's
		// own clock, and colours keep no history: the rest must agree.
		if p.Stock != lp.Stock || p.Allocations != lp.Allocations || p.Fulfilled != lp.Fulfilled || p.RiskCells != lp.RiskCells {
			t.Errorf("point at %s: rebuilt %+v, live %+v", lp.At.Format(time.RFC3339), p, lp)
		}
	}
	t.Logf("%d residents, %d reservations, %d allocations in the district, totals %+v; %d hourly points compared",
		len(residents), len(resvs), allocIn, tot, matched)
	if matched < 6 {
		t.Errorf("%d points in common (live %d, rebuilt %d), want at least 6", matched, len(livePts), len(loadPts))
	}
	w.close()
}

// TestEventsCarryNoSecrets checks that the new events name nobody beyond
// record IDs: no ID number hash travels in a reservation event.
func TestEventsCarryNoSecrets(t *testing.T) {
	var got []hub.Event
	rec := recorder(func(ev hub.Event) { got = append(got, ev) })
	w := &world{t: t, dir: t.TempDir(), clk: testclock.New(epoch)}
	w.open()
	defer w.close()
	ctx := t.Context()
	tl := stats.New(stats.Options{Now: w.clk.Now})
	eng, err := dispatch.NewEngine(ctx, w.st, dispatch.EngineOptions{Now: w.clk.Now, CodeKey: []byte("0123456789abcdef0123"), Events: tl.Publisher(rec), ExpiryEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c, _ := grid.CellAt(hub.Point{Lat: 30.59, Lng: 114.3}, grid.BaseResolution)
	rs, err := w.city.RegisterResidents(ctx, city.ResidentInput{Name: "A", IDNumber: privacy.ExampleTaiwanID('S', 0), Cell: &c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.OpenRound(ctx, dispatch.RoundInput{ID: "r", Name: "r", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Closes: epoch.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	out, err := eng.Reserve(ctx, dispatch.ReserveInput{RoundID: "r", Resident: rs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if out.Reservation.Status != hub.ReservationWaiting {
		t.Fatalf("reservation %s, want WAITING (no pharmacy)", out.Reservation.Status)
	}
	if _, err := eng.CancelReservation(ctx, out.Reservation.ID); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range got {
		kinds = append(kinds, ev.Kind.String())
		if p, ok := ev.Payload.(hub.ReservationPayload); ok {
			if p.SKU != hub.MaskAdult || len(p.Reservations) != 1 || p.Reservations[0].Cell != c || ev.SKU != hub.MaskAdult {
				t.Errorf("%s: %+v", ev.Kind, p)
			}
			if s := fmt.Sprintf("%+v", p); rs[0].IDHash != "" && strings.Contains(s, rs[0].IDHash) {
				t.Errorf("%s carries the ID hash", ev.Kind)
			}
		}
	}
	want := []string{"RESERVATION_CREATED", "RESERVATION_UPDATED", "RESERVATION_UPDATED"}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if cs, _ := tl.Cell(c, hub.MaskAdult); cs.Reservations != 0 {
		t.Errorf("%d open reservations after the cancel", cs.Reservations)
	}
}

type recorder func(hub.Event)

func (f recorder) Publish(_ context.Context, ev hub.Event) (uint64, error) {
	f(ev)
	return 0, nil
}
