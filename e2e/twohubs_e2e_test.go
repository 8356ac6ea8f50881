package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store"
	"github.com/gridhub/gridhub/store/mongostore"
)

// sharedEmbedded opens what two hubs in this process share on the
// embedded store: a data directory, its store and one in-process broker,
// closed when t ends.
func sharedEmbedded(t *testing.T) (dir string, st hub.Store, bus *broker.Broker) {
	t.Helper()
	dir = t.TempDir()
	st, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bus = broker.New(broker.Options{})
	t.Cleanup(func() { _ = bus.Close() })
	return dir, st, bus
}

// TestTwoHubs runs two full hubs in this process (each an app.Program with
// its own HTTP server, GraphQL, views and sweeper) over one store and one
// event bus, as two hubs behind a load balancer: the embedded store with
// one in-process broker, and, when GRIDHUB_TEST_MONGODB_URI names a
// replica set, one MongoDB database with each hub's own MongoDB bus.
func TestTwoHubs(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		dir, st, bus := sharedEmbedded(t)
		testTwoHubs(t, dir, st, func() broker.Bus { return bus }, func(*twoHubsHub) int { return bus.Stats().Subscribers })
	})
	t.Run("mongodb", func(t *testing.T) {
		uri := os.Getenv("GRIDHUB_TEST_MONGODB_URI")
		if uri == "" {
			t.Skip("GRIDHUB_TEST_MONGODB_URI is not set: skipping the two hubs over MongoDB (store and change-stream bus); " +
				"set it to a replica set's URI, e.g. mongodb://localhost:27017/?replicaSet=rs0, to run them")
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/gridhub_twohubs_" + rand.Text()[:12]
		dir := t.TempDir()
		st, err := store.Open(t.Context(), u.String(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if ms, ok := st.(*mongostore.Store); ok {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = ms.Database().Drop(ctx)
			}
			_ = st.Close()
		})
		// Each hub opens its own bus (its own change stream) on the store.
		testTwoHubs(t, dir, st, func() broker.Bus { return nil }, func(x *twoHubsHub) int { return gauge(t, x.h.url, "gridhub_subscriptions") })
	})
}

// twoHubsHub is one of the two hubs.
type twoHubsHub struct {
	name string
	p    *app.Program
	h    *hubProc // its address and data directory, for the test helpers
	once sync.Once
}

func (x *twoHubsHub) close(t *testing.T) {
	x.once.Do(func() {
		if err := x.p.Close(); err != nil {
			t.Errorf("close hub %s: %v", x.name, err)
		}
	})
}

// shutdownGrace is the drain a test hub's Close allows. net/http's
// Shutdown waits up to 5 s for a connection that has not sent its first
// request, and the client's pool may keep one it dialled for a request
// that another connection served meanwhile: a shorter grace fails Close
// when that happens, as it does under load.
const shutdownGrace = 10 * time.Second

// startProgram opens and serves one hub over st and the bus that bus
// returns (nil: the program opens its own from the store).
func startProgram(t *testing.T, name, dir string, st hub.Store, bus broker.Bus) *twoHubsHub {
	t.Helper()
	c, err := app.ServeConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0", "--hub-id", name}, io.Discard, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c.SweepEvery = 100 * time.Millisecond
	c.ShutdownGrace = shutdownGrace
	p := &app.Program{Config: c, Log: slog.New(slog.DiscardHandler), Store: st, Bus: bus}
	if err := p.Open(t.Context()); err != nil {
		t.Fatalf("open hub %s: %v", name, err)
	}
	if err := p.Serve(t.Context()); err != nil {
		_ = p.Close()
		t.Fatalf("serve hub %s: %v", name, err)
	}
	x := &twoHubsHub{name: name, p: p, h: &hubProc{url: "http://" + p.Addr(), dir: dir}}
	t.Cleanup(func() { x.close(t) })
	return x
}

type dashboard struct {
	Residents, Pharmacies, Demand, Allocations int
	Stock                                      []struct {
		Sku      string
		Quantity int
	}
}

// testTwoHubs runs the two hubs over st, each with the bus that bus
// returns; subscribers counts the subscriptions open on a hub.
func testTwoHubs(t *testing.T, dir string, st hub.Store, bus func() broker.Bus, subscribers func(*twoHubsHub) int) {
	a := startProgram(t, "hub-a", dir, st, bus())
	b := startProgram(t, "hub-b", dir, st, bus())
	adminA, adminB := a.h.as(t, "ADMIN", ""), b.h.as(t, "ADMIN", "")
	districtToken := mintToken(t, dir, "DISTRICT", "d1")

	// Both hubs' dashboards of d1 answer the same, and what want says
	// when it is set. With the in-process bus both are current when a
	// write returns; with the MongoDB bus hub B follows within moments.
	var steps int
	same := func(step string, want func(d dashboard) bool) dashboard {
		t.Helper()
		steps++
		const q = `query($d: ID!) { district(id: $d) { totals(sku: MASK_ADULT) { residents pharmacies demand allocations stock { sku quantity } } } }`
		var da, db dashboard
		deadline := time.Now().Add(10 * time.Second)
		for {
			var ra, rb struct{ District struct{ Totals dashboard } }
			must(t, client{url: a.h.url, token: districtToken}, q, map[string]any{"d": "d1"}, &ra)
			must(t, client{url: b.h.url, token: districtToken}, q, map[string]any{"d": "d1"}, &rb)
			da, db = ra.District.Totals, rb.District.Totals
			if reflect.DeepEqual(da, db) && (want == nil || want(da)) {
				return da
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s the dashboards differ or are wrong: hub A %+v, hub B %+v", step, da, db)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stockOf := func(d dashboard) int {
		for _, s := range d.Stock {
			if s.Sku == "MASK_ADULT" {
				return s.Quantity
			}
		}
		return 0
	}

	// Through hub A: the district and its committee, then a pharmacy.
	poly := []map[string]float64{{"lat": 25.040, "lng": 121.510}, {"lat": 25.040, "lng": 121.521}, {"lat": 25.050, "lng": 121.521}, {"lat": 25.050, "lng": 121.510}}
	must(t, adminA, `mutation($a: AreaInput!) { upsertDistrict(input: {id: "d1", name: "D1", area: $a}) { id } }`, map[string]any{"a": map[string]any{"polygon": poly}}, nil)
	must(t, adminA, `mutation($a: AreaInput!) { upsertCommittee(input: {id: "c1", code: "C1", name: "C1", area: $a}) { id } }`, map[string]any{"a": map[string]any{"polygon": poly}}, nil)
	same("the district", func(d dashboard) bool { return d.Pharmacies == 0 })

	// A committee of d1 subscribes to restock alerts on hub B, over a
	// WebSocket, before the pharmacy exists.
	base := subscribers(b)
	alerts := wsSubscribe(t, b.h, mintToken(t, dir, "COMMITTEE", "c1"), "a",
		`subscription($c: ID!) { restockAlerts(committeeId: $c) { pharmacy { id } sku quantity stockAfter } }`, map[string]any{"c": "c1"})
	defer alerts.conn.Close()
	for deadline := time.Now().Add(10 * time.Second); subscribers(b) < base+1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the committee's subscription never opened on hub B")
		}
	}

	loc := map[string]float64{"lat": 25.045, "lng": 121.515}
	must(t, adminA, `mutation($l: LatLngInput!) { upsertPharmacy(input: {id: "pa", name: "PA", location: $l, stock: [{sku: MASK_ADULT, quantity: 10}]}) { id } }`,
		map[string]any{"l": loc}, nil)
	same("the pharmacy", func(d dashboard) bool { return d.Pharmacies == 1 && stockOf(d) == 10 })

	// Hub B finds it by its neighbourhood at once: its locator follows
	// hub A's upsert.
	var near struct {
		PharmaciesNear []struct{ Pharmacy struct{ ID string } }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		must(t, adminB, `query($lat: Float!, $lng: Float!) { pharmaciesNear(lat: $lat, lng: $lng, k: 1) { pharmacy { id } } }`,
			map[string]any{"lat": loc["lat"], "lng": loc["lng"]}, &near)
		if len(near.PharmaciesNear) == 1 && near.PharmaciesNear[0].Pharmacy.ID == "pa" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub B's pharmaciesNear = %+v, want pa", near)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Through hub A: a restock, whose alert the committee gets on hub B.
	must(t, adminA, `mutation { restock(pharmacyId: "pa", sku: MASK_ADULT, quantity: 90) { id } }`, nil, nil)
	var al struct {
		RestockAlerts struct {
			Pharmacy             struct{ ID string }
			SKU                  string
			Quantity, StockAfter int
		}
	}
	alerts.nextData(&al)
	if r := al.RestockAlerts; r.Pharmacy.ID != "pa" || r.SKU != "MASK_ADULT" || r.Quantity != 90 || r.StockAfter != 100 {
		t.Fatalf("hub B's committee got %+v, want hub A's restock of 90 to 100", r)
	}
	same("the restock", func(d dashboard) bool { return stockOf(d) == 100 })
	var lr struct {
		Pharmacy struct{ LastRestock *struct{ Quantity int } }
	}
	must(t, adminB, `{ pharmacy(id: "pa") { lastRestock { quantity } } }`, nil, &lr)
	if lr.Pharmacy.LastRestock == nil || lr.Pharmacy.LastRestock.Quantity != 90 {
		t.Errorf("hub B's lastRestock of pa = %+v, want hub A's 90", lr.Pharmacy.LastRestock)
	}

	// Residents, registered on both hubs alternately.
	const residents = 46
	ids := make([]string, residents)
	for i := range residents {
		c := []client{adminA, adminB}[i%2]
		var r struct{ RegisterResident struct{ ID string } }
		must(t, c, `mutation($n: String!, $l: LatLngInput!) { registerResident(input: {name: "R", idNumber: $n, location: $l, committeeCode: "C1"}) { id } }`,
			map[string]any{"n": privacy.ExampleTaiwanID('K', i+1), "l": loc}, &r)
		ids[i] = r.RegisterResident.ID
	}
	same("the residents", func(d dashboard) bool { return d.Residents == residents })

	// Through hub A: a first-come round; through hub B: a reservation,
	// matched to hub A's pharmacy.
	now := time.Now().UTC()
	must(t, adminA, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "fc", name: "FC", sku: MASK_ADULT, perPerson: 2, mode: FIRST_COME, opens: $o, closes: $c, maxK: 2}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	reserve := `mutation($r: ID!, $p: ID!, $k: String) { reserve(input: {roundId: $r, residentId: $p, idempotencyKey: $k}) {
		reservation { id status } allocation { quantity pharmacy { id } } } }`
	type reserved struct {
		Reserve struct {
			Reservation struct{ ID, Status string }
			Allocation  *struct {
				Quantity int
				Pharmacy struct{ ID string }
			}
		}
	}
	var first reserved
	must(t, adminB, reserve, map[string]any{"r": "fc", "p": ids[0], "k": "fc-0"}, &first)
	if al := first.Reserve.Allocation; al == nil || al.Pharmacy.ID != "pa" || al.Quantity != 2 {
		t.Fatalf("hub B's reservation: %+v, want 2 at hub A's pharmacy pa", first.Reserve)
	}
	same("a reservation on hub B", func(d dashboard) bool { return d.Allocations == 1 && stockOf(d) == 98 })

	// A lottery whose window ends while both hubs run: it closes once
	// (both sweepers try), and drawn on both hubs at once it draws once.
	closes := time.Now().UTC().Add(2 * time.Second)
	must(t, adminB, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "lot", name: "Lot", sku: MASK_ADULT, perPerson: 1, mode: LOTTERY, opens: $o, closes: $c, winners: 3, maxK: 2}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": closes.Format(time.RFC3339)}, nil)
	must(t, adminA, `mutation { commitLottery(roundId: "lot") { commitment } }`, nil, nil)
	for i := 1; i <= 6; i++ {
		must(t, []client{adminA, adminB}[i%2], reserve, map[string]any{"r": "lot", "p": ids[i], "k": fmt.Sprintf("lot-%d", i)}, nil)
	}
	for {
		var r struct{ Round struct{ Status string } }
		must(t, adminA, `{ round(id: "lot") { status } }`, nil, &r)
		if r.Round.Status == "CLOSED" {
			break
		}
		if time.Now().After(closes.Add(10 * time.Second)) {
			t.Fatalf("the lottery is %s 10s after it closed, want CLOSED", r.Round.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var draws [2]gqlResponse
	var wg sync.WaitGroup
	for i, c := range []client{adminA, adminB} {
		wg.Go(func() { draws[i] = gql(t, c, `mutation { drawLottery(roundId: "lot") { seed winners } }`, nil) })
	}
	wg.Wait()
	var seeds []string
	for i, r := range draws {
		switch {
		case len(r.Errors) == 0:
			var d struct{ DrawLottery struct{ Seed string } }
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, d.DrawLottery.Seed)
		case r.code() != "CONFLICT":
			t.Fatalf("draw on hub %d: %+v, want a draw or CONFLICT", i, r.Errors)
		}
	}
	if len(seeds) == 0 || len(seeds) == 2 && seeds[0] != seeds[1] {
		t.Fatalf("two draws at once gave seeds %q (%+v, %+v): want one draw", seeds, draws[0].Errors, draws[1].Errors)
	}
	var lot struct {
		Round struct{ Status string }
	}
	must(t, adminB, `{ round(id: "lot") { status } }`, nil, &lot)
	lotAllocs, err := st.Allocations(t.Context(), hub.AllocationFilter{RoundID: "lot"})
	if err != nil {
		t.Fatal(err)
	}
	if lot.Round.Status != "DRAWN" || len(lotAllocs) != 3 {
		t.Fatalf("after two draws at once: round %s with %d allocations, want DRAWN with 3", lot.Round.Status, len(lotAllocs))
	}
	same("the draw", func(d dashboard) bool { return d.Allocations == 4 && stockOf(d) == 95 })

	// A burst of reservations on both hubs; hub A is closed in the middle
	// of it. What hub A could not answer is sent again to hub B with the
	// same idempotency key: every resident ends with one reservation, and
	// every unit is where the store says. Hub A's last reservation of the
	// burst waits for its Close to return, so that at least one comes
	// after it however the burst's requests interleave on a loaded
	// machine (where they may all be in flight before Close starts, and
	// drained by it).
	burst := ids[7:]
	lastA := (len(burst) - 1) &^ 1 // the even indexes go to hub A
	closedA := make(chan struct{})
	var done atomic.Int64
	var killed sync.Once
	failedA := make([]bool, len(burst))
	var bwg sync.WaitGroup
	for i, id := range burst {
		bwg.Go(func() {
			time.Sleep(time.Duration(i) * 15 * time.Millisecond) // a burst over about 600ms
			target := []*twoHubsHub{a, b}[i%2]
			if i == lastA {
				<-closedA
			}
			_, r := postQuiet(target.h.url, adminA.token, reserve, map[string]any{"r": "fc", "p": id, "k": "fc-" + id})
			if r == nil || len(r.Errors) > 0 {
				if target != a {
					t.Errorf("hub B failed a reservation: %+v", r)
				}
				failedA[i] = true
			}
			if done.Add(1) == int64(len(burst)/3) {
				killed.Do(func() {
					go func() {
						a.close(t)
						close(closedA)
					}()
				})
			}
		})
	}
	bwg.Wait()
	a.close(t)
	if !failedA[lastA] {
		t.Errorf("hub A answered a reservation after it closed")
	}
	retried := 0
	for i, id := range burst {
		if !failedA[i] {
			continue
		}
		retried++
		var r reserved
		must(t, adminB, reserve, map[string]any{"r": "fc", "p": id, "k": "fc-" + id}, &r)
	}
	rs, err := st.Reservations(t.Context(), hub.ReservationFilter{RoundID: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, r := range rs {
		per[r.ResidentID]++
	}
	for _, id := range append([]string{ids[0]}, burst...) {
		if per[id] != 1 {
			t.Errorf("resident %s holds %d reservations in the round, want 1", id, per[id])
		}
	}
	allocs, err := st.Allocations(t.Context(), hub.AllocationFilter{RoundID: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Pharmacy(t.Context(), "pa")
	if err != nil {
		t.Fatal(err)
	}
	handed := 0
	for _, al := range allocs {
		handed += al.Quantity
	}
	if handed+len(lotAllocs)+p.Stock[hub.MaskAdult] != 100 {
		t.Errorf("%d units allocated in fc, %d in the lottery, %d on hand: want 100 in all", handed, len(lotAllocs), p.Stock[hub.MaskAdult])
	}
	// Hub B alone still serves, and its dashboard counts everything,
	// hub A's writes before it closed included.
	var rb struct{ District struct{ Totals dashboard } }
	must(t, client{url: b.h.url, token: districtToken}, `query($d: ID!) { district(id: $d) { totals(sku: MASK_ADULT) { residents pharmacies demand allocations stock { sku quantity } } } }`,
		map[string]any{"d": "d1"}, &rb)
	if d := rb.District.Totals; d.Allocations != len(allocs)+len(lotAllocs) || stockOf(d) != p.Stock[hub.MaskAdult] {
		t.Errorf("hub B's dashboard: %d allocations, %d on hand; the store: %d and %d", d.Allocations, stockOf(d), len(allocs)+len(lotAllocs), p.Stock[hub.MaskAdult])
	}
	t.Logf("%d dashboard checks agreed; burst of %d reservations, hub A closed after %d, %d sent again to hub B; %d allocations in fc, %d units left",
		steps, len(burst), len(burst)/3, retried, len(allocs), p.Stock[hub.MaskAdult])
}
