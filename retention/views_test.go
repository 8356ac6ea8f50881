package retention_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/retention"
	"github.com/gridhub/gridhub/stats"
)

// counted is what the dashboards show of the city: the home cell's
// counters of adult masks, and the allocations by status.
type counted struct {
	Cell     stats.CellStats
	Statuses map[string]int
}

func countedBy(t *testing.T, tl *stats.Tally, c hub.Cell) counted {
	t.Helper()
	cs, err := tl.Cell(c, hub.MaskAdult)
	must(t, err)
	statuses := tl.AllocationsByStatus()
	maps.DeleteFunc(statuses, func(_ string, n int) bool { return n == 0 }) // a status seen once stays listed
	return counted{Cell: cs, Statuses: statuses}
}

// TestSweepTellsTheViews: the dashboards' counters of two hubs, each
// loaded from the store and then fed by the bus, drop as the sweep
// deletes health codes, reservations, allocations and waiting-list
// registrations, and agree at every step with counters read afresh from
// the store (a restart, or a rebuild after a gap); what a hold keeps
// stays counted in both until the hold ends.
func TestSweepTellsTheViews(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	bus := broker.New(broker.Options{})
	t.Cleanup(func() { _ = bus.Close() })
	ret, err := retention.New(retention.Options{Store: e.st, Periods: retention.DefaultPeriods(), Batch: 3, Now: e.clock.Now, Events: bus})
	must(t, err)

	// Day 30: codes for four and, as a contact of alice, dave; alice a case held until day 150, a round
	// that closes on day 31 with an allocation redeemed (alice's, held),
	// one redeemed, one expired, one still RESERVED and a reservation
	// never served; two waiting-list registrations.
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	e.clock.Set(at(30))
	for _, id := range []string{"alice", "bob", "carol", "erin"} {
		_, _, err := e.codes.Declare(ctx, codes.DeclareInput{ResidentID: id, Temperature: map[string]float64{"bob": 38.5}[id]})
		must(t, err)
	}
	_, err = e.codes.MarkCase(ctx, tracer, "alice", time.Time{})
	must(t, err)
	_, err = ret.PlaceHold(ctx, district, retention.HoldInput{CaseID: "alice", Reason: "cluster 17", Until: at(150)})
	must(t, err)
	must(t, e.st.UpsertPharmacies(ctx, &hub.Pharmacy{
		ID: "p1", Name: "Pharmacy 1", Cell: e.home, DistrictID: "huangpu", Stock: map[hub.SKU]int{hub.MaskAdult: 100}, UpdatedAt: at(30),
	}))
	round := &hub.Round{
		ID: "round1", Name: "Round 1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Fulfilments: []hub.Fulfilment{hub.Pickup},
		Opens: at(29), Closes: at(31), MaxK: 2, PickupWindow: 48 * time.Hour, Status: hub.RoundOpen, CreatedAt: at(29), UpdatedAt: at(29),
	}
	must(t, e.st.UpsertRound(ctx, round))
	final := map[string]hub.AllocationStatus{"alice": hub.AllocationRedeemed, "bob": hub.AllocationRedeemed, "carol": hub.AllocationExpired, "dave": hub.AllocationReserved}
	for _, id := range []string{"alice", "bob", "carol", "dave", "erin"} {
		r := &hub.Reservation{
			ID: "res-" + id, RoundID: "round1", ResidentID: id, IDHash: "hash-" + id, Cell: e.home, CommitteeID: "c1", DistrictID: "huangpu",
			Fulfilment: hub.Pickup, Status: hub.ReservationPending, CreatedAt: at(30), UpdatedAt: at(30),
		}
		_, err := e.st.CreateReservation(ctx, r)
		must(t, err)
		to, ok := final[id]
		if !ok {
			continue
		}
		must(t, e.st.Allocate(ctx, &hub.Allocation{
			ID: "a-" + id, RoundID: "round1", ReservationID: r.ID, ResidentID: id, PharmacyID: "p1", SKU: hub.MaskAdult, Quantity: 1,
			Cell: e.home, Slot: at(30), CodeHash: "code-" + id, Status: hub.AllocationReserved, ExpiresAt: at(32), CreatedAt: at(30), UpdatedAt: at(30),
		}))
		if to != hub.AllocationReserved {
			_, err := e.st.TransitionAllocation(ctx, "a-"+id, []hub.AllocationStatus{hub.AllocationReserved}, to, at(30))
			must(t, err)
		}
	}
	round.Status = hub.RoundClosed
	must(t, e.st.UpdateRound(ctx, round, hub.RoundOpen))
	for i, id := range []string{"erin", "bob"} {
		must(t, e.st.CreateShortage(ctx, &hub.Shortage{ID: fmt.Sprintf("sh%d", i), ResidentID: id, Cell: e.home, SKU: hub.MaskAdult, Quantity: 1,
			Status: hub.ShortageWaiting, CreatedAt: at(30 + 60*i), UpdatedAt: at(30 + 60*i)}))
	}

	// Two hubs' counters, each read from the store and then following the
	// bus.
	hubs := make([]*stats.Tally, 2)
	for i := range hubs {
		hubs[i] = stats.New(stats.Options{Now: e.clock.Now})
		must(t, hubs[i].Load(ctx, e.st))
		defer bus.View(hubs[i])()
	}
	start := countedBy(t, hubs[0], e.home)
	if start.Cell.Green+start.Cell.Yellow+start.Cell.Red != 5 || start.Cell.Allocations != 3 || start.Cell.Fulfilled != 2 ||
		start.Cell.Reservations != 1 || start.Cell.Shortages != 2 {
		t.Fatalf("the counters before any sweep: %+v", start)
	}
	var last counted
	for _, d := range []int{40, 75, 125, 140, 160} {
		e.clock.Set(at(d))
		if _, err := ret.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := stats.New(stats.Options{Now: e.clock.Now})
		must(t, fresh.Load(ctx, e.st))
		want := countedBy(t, fresh, e.home)
		for i, tl := range hubs {
			same(t, fmt.Sprintf("day %d: hub %d's counters against a fresh count", d, i), countedBy(t, tl, e.home), want)
		}
		last = want
	}
	// Everything swept but what is still open or due later: dave's
	// RESERVED allocation and its reservation, bob's registration of day
	// 90 (due on day 180).
	if c := last.Cell; c.Green+c.Yellow+c.Red != 0 || c.Allocations != 1 || c.Fulfilled != 0 || c.Reservations != 0 || c.Shortages != 1 {
		t.Fatalf("the counters after the sweeps: %+v", last)
	}
	if last.Statuses["REDEEMED"] != 0 || last.Statuses["EXPIRED"] != 0 || last.Statuses["RESERVED"] != 1 {
		t.Fatalf("allocations by status after the sweeps: %v", last.Statuses)
	}
}
