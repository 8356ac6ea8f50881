package dispatch_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/internal/testclock"
)

// The timed jobs of dispatch (docs/TIMERS.md) must take effect once when
// several hubs, each with its own engine and sweeper, share one store.
// These tests open a second engine over the city's store, as a second hub
// would, fire each job on both at the same instant of one injected clock,
// many times over many records, and count the effects in the store and
// in the events of both engines.

// twoHubs returns a city whose engine (hub A) publishes to logA and reads
// the injected clock tc; a second hub opens with (*city).hub.
func twoHubs(t *testing.T) (c *city, tc *testclock.Clock, logA *eventLog) {
	tc, logA = testclock.New(t0), &eventLog{}
	return newCity(t, dispatch.EngineOptions{Now: tc.Now, Events: logA}), tc, logA
}

// hub opens another engine over the city's store, with the city's clock,
// IDs and keys, publishing to log; wrap, when set, wraps the store it gets.
// It closes with the test unless closed before.
func (c *city) hub(log *eventLog, wrap func(hub.Store) hub.Store) *dispatch.Engine {
	c.t.Helper()
	opts := c.opts
	opts.Events = log
	var st hub.Store = c.store
	if wrap != nil {
		st = wrap(st)
	}
	e, err := dispatch.NewEngine(context.Background(), st, opts)
	if err != nil {
		c.t.Fatalf("NewEngine (second hub): %v", err)
	}
	c.t.Cleanup(func() { _ = e.Close() })
	return e
}

// race runs the functions at once, each released by one start signal.
func race(fns ...func()) {
	var start, done sync.WaitGroup
	start.Add(1)
	for _, f := range fns {
		done.Go(func() {
			start.Wait()
			f()
		})
	}
	start.Done()
	done.Wait()
}

// allocationIDs returns the IDs of the allocations the events carry.
func allocationIDs(evs []hub.Event) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.Payload.(hub.AllocationPayload).Allocation.ID)
	}
	return ids
}

// onceEach fails t unless every id of want appears exactly once in got
// and got holds nothing else.
func onceEach(t *testing.T, what string, got, want []string) {
	t.Helper()
	n := map[string]int{}
	for _, id := range got {
		n[id]++
	}
	for _, id := range want {
		if n[id] != 1 {
			t.Errorf("%s: allocation %s published %d times, want once", what, id, n[id])
		}
		delete(n, id)
	}
	for id, k := range n {
		t.Errorf("%s: allocation %s published %d times, want never", what, id, k)
	}
}

// returns counts the STOCK_CHANGED events of RETURN steps.
func returns(evs []hub.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == hub.EventStockChanged && ev.Payload.(hub.StockChangedPayload).Reason == "RETURN" {
			n++
		}
	}
	return n
}

func TestTimersRunOnceAcrossHubs(t *testing.T) {
	t.Run("expiry", testExpiryOnce)
	t.Run("close", testCloseOnce)
	t.Run("staleClose", testStaleCloseAfterDraw)
	t.Run("draw", testDrawOnce)
	t.Run("waitingList", testServeWaitingOnce)
	t.Run("commit", testCommitOnce)
}

// testCommitOnce: 20 lotteries are committed by both hubs at once (two
// operators): one commitment per round wins, the other call is
// ECONFLICT, the store keeps the winner's, and the round draws against it.
func testCommitOnce(t *testing.T) {
	c, tc, _ := twoHubs(t)
	c.pharmacy("P1", c.rs[0][0], 100)
	b := c.hub(&eventLog{}, nil)
	for i := range 20 {
		id := fmt.Sprintf("lot%02d", i)
		c.round(dispatch.RoundInput{ID: id, Mode: hub.Lottery, PerPerson: 1, Closes: tc.Now().Add(time.Hour)})
		var rs [2]*hub.Round
		var errs [2]error
		race(
			func() { rs[0], errs[0] = c.eng.CommitLottery(c.ctx(), id) },
			func() { rs[1], errs[1] = b.CommitLottery(c.ctx(), id) },
		)
		stored, err := c.store.Round(c.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		won := 0
		for h := range rs {
			switch {
			case errs[h] == nil:
				won++
				if rs[h].Commitment != stored.Commitment {
					t.Errorf("round %s: hub %d published commitment %s, the store keeps %s", id, h, rs[h].Commitment, stored.Commitment)
				}
			case hub.ErrorCode(errs[h]) != hub.ECONFLICT:
				t.Errorf("round %s: hub %d: %v, want a commitment or ECONFLICT", id, h, errs[h])
			}
		}
		if won != 1 {
			t.Errorf("round %s: %d hubs committed, want one: %v", id, won, errs)
		}
	}
	c.reserve("lot00", c.resident("e0", c.rs[0][0], "", ""))
	tc.Advance(2 * time.Hour)
	for _, e := range []*dispatch.Engine{b, c.eng} {
		pd, _, err := e.DrawLottery(c.ctx(), "lot00")
		if err == nil {
			stored, _ := c.store.Round(c.ctx(), "lot00")
			if pd.Commitment != stored.Commitment || dispatch.Commit(mustHex(t, pd.Seed)) != pd.Commitment {
				t.Errorf("draw of lot00: commitment %s, stored %s", pd.Commitment, stored.Commitment)
			}
			return
		}
	}
	t.Error("neither hub could draw lot00")
}

// testExpiryOnce: in each of 8 waves, 36 pickups (24 with pickup slots)
// are reserved on hub A, 6 of them redeemed on a freshly started hub B,
// and when their codes lapse both hubs sweep at once: every lapsed
// allocation is EXPIRED once, its stock returned once (conservation), its
// ALLOCATION_EXPIRED and RETURN events published once across both hubs,
// and its slot place released once: by the hub that expired it.
func testExpiryOnce(t *testing.T) {
	c, tc, logA := twoHubs(t)
	c.pharmacy("P1", c.rs[0][0], 150)
	c.pharmacy("P2", c.rs[1][2], 150)
	c.pharmacy("P3", c.rs[2][5], 150)
	c.round(dispatch.RoundInput{ID: "slots", PerPerson: 1, PickupWindow: 30 * time.Minute, SlotMinutes: 15, SlotCapacity: 40})
	c.round(dispatch.RoundInput{ID: "walk", PerPerson: 2, PickupWindow: 30 * time.Minute})
	cells := slices.Concat(c.rs[0], c.rs[1], c.rs[2])
	for wave := range 8 {
		var made []*hub.Allocation
		for i := range 36 {
			roundID := "slots"
			if i%3 == 2 {
				roundID = "walk"
			}
			res := c.resident(fmt.Sprintf("x%d-%02d", wave, i), cells[(wave*36+i)%len(cells)], "", "")
			out := c.reserve(roundID, res)
			if out.Allocation == nil {
				t.Fatalf("wave %d: %s waits (%s)", wave, res.ID, out.Reason)
			}
			made = append(made, out.Allocation)
		}
		logB := &eventLog{}
		b := c.hub(logB, nil)
		if _, err := b.Round(c.ctx(), "slots"); err != nil { // hub B counts the places taken
			t.Fatal(err)
		}
		redeemed := map[string]bool{}
		for i, a := range made {
			if i%6 == 0 {
				if _, err := b.Redeem(c.ctx(), a.PharmacyID, string(c.eng.PickupCode(a))); err != nil {
					t.Fatalf("wave %d: redeem %s on hub B: %v", wave, a.ID, err)
				}
				redeemed[a.ID] = true
			}
		}
		var lapse []string
		for _, a := range made {
			if !redeemed[a.ID] {
				lapse = append(lapse, a.ID)
			}
		}
		placesA, placesB := dispatch.SlotPlaces(c.eng, "slots"), dispatch.SlotPlaces(b, "slots")
		logA.take()
		logB.take()

		tc.Advance(2 * time.Hour)
		var nA, nB int
		var errA, errB error
		race(
			func() { nA, errA = c.eng.ExpireDue(c.ctx()) },
			func() { nB, errB = b.ExpireDue(c.ctx()) },
		)
		if errA != nil || errB != nil {
			t.Fatalf("wave %d: ExpireDue: %v, %v", wave, errA, errB)
		}
		if nA+nB != len(lapse) {
			t.Errorf("wave %d: hubs expired %d + %d, want %d in all", wave, nA, nB, len(lapse))
		}
		for _, id := range lapse {
			if a := getAllocation(t, c, id); a.Status != hub.AllocationExpired {
				t.Errorf("wave %d: %s is %s, want EXPIRED", wave, id, a.Status)
			}
		}
		evA := logA.take(hub.EventAllocationExpired, hub.EventStockChanged)
		evB := logB.take(hub.EventAllocationExpired, hub.EventStockChanged)
		expA, expB := allocationIDs(kind(evA, hub.EventAllocationExpired)), allocationIDs(kind(evB, hub.EventAllocationExpired))
		onceEach(t, fmt.Sprintf("wave %d: ALLOCATION_EXPIRED", wave), slices.Concat(expA, expB), lapse)
		if len(expA) != nA || len(expB) != nB {
			t.Errorf("wave %d: hub A published %d expiries for %d, hub B %d for %d", wave, len(expA), nA, len(expB), nB)
		}
		if got := returns(evA) + returns(evB); got != len(lapse) {
			t.Errorf("wave %d: %d RETURN stock events, want %d", wave, got, len(lapse))
		}
		// A place is given back by the hub that expired its pickup, once.
		for _, h := range []struct {
			name    string
			eng     *dispatch.Engine
			before  int
			expired []string
		}{{"A", c.eng, placesA, expA}, {"B", b, placesB, expB}} {
			slotted := 0
			for _, id := range h.expired {
				if getAllocation(t, c, id).RoundID == "slots" {
					slotted++
				}
			}
			if got := h.before - dispatch.SlotPlaces(h.eng, "slots"); got != slotted {
				t.Errorf("wave %d: hub %s released %d places, want %d (the slotted pickups it expired)", wave, h.name, got, slotted)
			}
			if err := dispatch.CheckBooks(h.eng); err != nil {
				t.Errorf("wave %d: hub %s: %v", wave, h.name, err)
			}
		}
		left, err := c.store.ExpiringAllocations(c.ctx(), tc.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("wave %d: %d lapsed pickups left RESERVED", wave, len(left))
		}
		c.conserved()
		// A sweep after the race finds nothing on either hub.
		for _, e := range []*dispatch.Engine{c.eng, b} {
			if n, err := e.ExpireDue(c.ctx()); err != nil || n != 0 {
				t.Errorf("wave %d: a later sweep expired %d (%v), want 0", wave, n, err)
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// kind returns the events of one kind.
func kind(evs []hub.Event, k hub.EventKind) []hub.Event {
	var out []hub.Event
	for _, ev := range evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func getAllocation(t *testing.T, c *city, id string) *hub.Allocation {
	t.Helper()
	a, err := c.store.Allocation(c.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testCloseOnce: in each of 10 waves, 6 rounds open with windows ending
// 1 to 6 minutes on; 5 minutes later both hubs close what is due at once:
// every due round is closed once (the hubs' counts add up to the rounds
// due), none that is not due, and each keeps the window it was given.
func testCloseOnce(t *testing.T) {
	c, tc, _ := twoHubs(t)
	c.pharmacy("P1", c.rs[0][0], 10)
	b := c.hub(&eventLog{}, nil)
	open := map[string]time.Time{}
	for wave := range 10 {
		for i := range 6 {
			id := fmt.Sprintf("r%d-%d", wave, i)
			closes := tc.Now().Add(time.Duration(i+1) * time.Minute)
			c.round(dispatch.RoundInput{ID: id, Opens: tc.Now(), Closes: closes})
			open[id] = closes
		}
		now := tc.Advance(5 * time.Minute)
		var due []string
		for id, closes := range open {
			if !now.Before(closes) {
				due = append(due, id)
			}
		}
		var nA, nB int
		var errA, errB error
		race(
			func() { nA, errA = c.eng.CloseDue(c.ctx()) },
			func() { nB, errB = b.CloseDue(c.ctx()) },
		)
		if errA != nil || errB != nil {
			t.Fatalf("wave %d: CloseDue: %v, %v", wave, errA, errB)
		}
		if nA+nB != len(due) {
			t.Errorf("wave %d: hubs closed %d + %d rounds, want %d in all", wave, nA, nB, len(due))
		}
		for _, id := range due {
			r, err := c.store.Round(c.ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != hub.RoundClosed || !r.Closes.Equal(open[id]) {
				t.Errorf("wave %d: round %s is %s closing %s, want CLOSED closing %s", wave, id, r.Status, r.Closes, open[id])
			}
			delete(open, id)
		}
		for id := range open {
			if r, err := c.store.Round(c.ctx(), id); err != nil || r.Status != hub.RoundOpen {
				t.Errorf("wave %d: round %s not due: %v, %v", wave, id, r, err)
			}
		}
		for _, e := range []*dispatch.Engine{c.eng, b} {
			if n, err := e.CloseDue(c.ctx()); err != nil || n != 0 {
				t.Errorf("wave %d: a later CloseDue closed %d (%v), want 0", wave, n, err)
			}
		}
	}
}

// hookStore runs hook, once per round, before an UpdateRound of that
// round: another hub moving the round between this hub's read and write.
type hookStore struct {
	hub.Store
	mu   sync.Mutex
	done map[string]bool
	hook func(roundID string)
}

func (s *hookStore) UpdateRound(ctx context.Context, r *hub.Round, from ...hub.RoundStatus) error {
	s.mu.Lock()
	first := !s.done[r.ID]
	s.done[r.ID] = true
	s.mu.Unlock()
	if first {
		s.hook(r.ID)
	}
	return s.Store.UpdateRound(ctx, r, from...)
}

// testStaleCloseAfterDraw: hub B's sweeper reads 5 lotteries still OPEN
// after their windows, and before it writes them CLOSED hub A draws each.
// B's stale copy must not undo the draw: B closes none, every round stays
// DRAWN with the seed and winners A published, and both hubs publish the
// same draw.
func testStaleCloseAfterDraw(t *testing.T) {
	c, tc, _ := twoHubs(t)
	c.pharmacy("P1", c.rs[0][0], 6)
	const rounds = 5
	for i := range rounds {
		id := fmt.Sprintf("lot%d", i)
		c.round(dispatch.RoundInput{ID: id, Mode: hub.Lottery, PerPerson: 1, Closes: t0.Add(time.Hour)})
		if _, err := c.eng.CommitLottery(c.ctx(), id); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			c.reserve(id, c.resident(fmt.Sprintf("e%d-%d", i, j), c.rs[0][j%len(c.rs[0])], "", ""))
		}
	}
	tc.Advance(2 * time.Hour)
	drawn := map[string]*dispatch.PublishedDraw{}
	hs := &hookStore{done: map[string]bool{}}
	hs.hook = func(id string) {
		pd, _, err := c.eng.DrawLottery(c.ctx(), id)
		if err != nil {
			t.Errorf("hub A draws %s: %v", id, err)
			return
		}
		drawn[id] = pd
	}
	b := c.hub(&eventLog{}, func(s hub.Store) hub.Store { hs.Store = s; return hs })
	n, err := b.CloseDue(c.ctx())
	if err != nil || n != 0 {
		t.Fatalf("hub B's stale CloseDue closed %d (%v), want 0: every round was drawn meanwhile", n, err)
	}
	for i := range rounds {
		id := fmt.Sprintf("lot%d", i)
		pd := drawn[id]
		if pd == nil {
			t.Fatalf("round %s was never drawn", id)
		}
		r, err := c.store.Round(c.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != hub.RoundDrawn || r.Seed != pd.Seed || r.Winners != pd.WinnerCount {
			t.Errorf("round %s: %s, seed %q, %d winners; want DRAWN, seed %q, %d winners", id, r.Status, r.Seed, r.Winners, pd.Seed, pd.WinnerCount)
		}
		for _, e := range []*dispatch.Engine{c.eng, b} {
			got, err := e.PublishedDraw(c.ctx(), id)
			if err != nil || got.Seed != pd.Seed || !slices.Equal(got.Winners, pd.Winners) {
				t.Errorf("round %s: a hub publishes %+v (%v), want %+v", id, got, err, pd)
			}
		}
	}
	c.conserved()
}

// testDrawOnce: 8 lotteries, each of 12 entries, are drawn by both hubs at
// the same instant: one draw per round is revealed and published (every
// draw returned is that one), each winner is served at most once and once
// settled, every entry ends ALLOCATED, WAITING or LOST, and each
// allocation's ALLOCATION_CREATED is published once across both hubs.
func testDrawOnce(t *testing.T) {
	c, tc, logA := twoHubs(t)
	c.pharmacy("P1", c.rs[0][0], 30)
	c.pharmacy("P2", c.rs[1][1], 20)
	const rounds, entries = 8, 12
	for i := range rounds {
		id := fmt.Sprintf("lot%d", i)
		c.round(dispatch.RoundInput{ID: id, Mode: hub.Lottery, PerPerson: 1, Closes: t0.Add(time.Hour), PickupWindow: 48 * time.Hour})
		if _, err := c.eng.CommitLottery(c.ctx(), id); err != nil {
			t.Fatal(err)
		}
		for j := range entries {
			ring := c.rs[j%2]
			c.reserve(id, c.resident(fmt.Sprintf("e%d-%02d", i, j), ring[j%len(ring)], "", ""))
		}
	}
	logB := &eventLog{}
	b := c.hub(logB, nil)
	tc.Advance(2 * time.Hour)
	logA.take()
	for i := range rounds {
		id := fmt.Sprintf("lot%d", i)
		var pds [2]*dispatch.PublishedDraw
		var errs [2]error
		race(
			func() { pds[0], _, errs[0] = c.eng.DrawLottery(c.ctx(), id) },
			func() { pds[1], _, errs[1] = b.DrawLottery(c.ctx(), id) },
		)
		r, err := c.store.Round(c.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		ok := 0
		for h, pd := range pds {
			switch {
			case errs[h] == nil:
				ok++
				if pd.Seed != r.Seed || pd.WinnerCount != r.Winners {
					t.Errorf("round %s: hub %d returned seed %q, %d winners; the store holds %q, %d", id, h, pd.Seed, pd.WinnerCount, r.Seed, r.Winners)
				}
			case hub.ErrorCode(errs[h]) != hub.ECONFLICT:
				t.Errorf("round %s: hub %d: %v, want a draw or ECONFLICT", id, h, errs[h])
			}
		}
		if ok == 0 {
			t.Fatalf("round %s: neither hub drew: %v", id, errs)
		}
		pd, err := c.eng.PublishedDraw(c.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		for h, got := range pds {
			if errs[h] == nil && !slices.Equal(got.Winners, pd.Winners) {
				t.Errorf("round %s: hub %d returned winners %v, published %v", id, h, got.Winners, pd.Winners)
			}
		}
		rs, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: id})
		if err != nil {
			t.Fatal(err)
		}
		byStatus := map[hub.ReservationStatus]int{}
		for _, x := range rs {
			byStatus[x.Status]++
		}
		if byStatus[hub.ReservationAllocated]+byStatus[hub.ReservationWaiting] != len(pd.Winners) || byStatus[hub.ReservationLost] != entries-len(pd.Winners) {
			t.Errorf("round %s: entries by status %v, want %d winners (ALLOCATED or WAITING) and %d LOST", id, byStatus, len(pd.Winners), entries-len(pd.Winners))
		}
		as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{RoundID: id})
		if err != nil {
			t.Fatal(err)
		}
		perRes := map[string]int{}
		var ids []string
		for _, a := range as {
			perRes[a.ReservationID]++
			ids = append(ids, a.ID)
		}
		for res, n := range perRes {
			if n != 1 {
				t.Errorf("round %s: reservation %s has %d allocations", id, res, n)
			}
		}
		if len(as) != byStatus[hub.ReservationAllocated] {
			t.Errorf("round %s: %d allocations for %d ALLOCATED entries", id, len(as), byStatus[hub.ReservationAllocated])
		}
		created := slices.Concat(allocationIDs(logA.take(hub.EventAllocationCreated)), allocationIDs(logB.take(hub.EventAllocationCreated)))
		onceEach(t, "round "+id+": ALLOCATION_CREATED", created, ids)
		for _, e := range []*dispatch.Engine{c.eng, b} {
			if _, _, err := e.DrawLottery(c.ctx(), id); hub.ErrorCode(err) != hub.ECONFLICT {
				t.Errorf("round %s: a later draw: %v, want ECONFLICT", id, err)
			}
		}
	}
	c.conserved()
}

// testServeWaitingOnce: in each of 6 waves, 15 more people wait at an
// empty pharmacy, 10 units arrive and both hubs serve the waiting list at
// once: each entry is served at most once, the units go to the first
// waiting, none twice, and stock is conserved.
func testServeWaitingOnce(t *testing.T) {
	c, _, logA := twoHubs(t)
	home := c.rs[0][0]
	c.pharmacy("P1", home, 0)
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 1})
	logB := &eventLog{}
	b := c.hub(logB, nil)
	var line []string // reservation IDs in arrival order
	for wave := range 6 {
		for i := range 15 {
			out := c.reserve("fc", c.resident(fmt.Sprintf("w%d-%02d", wave, i), home, "", ""))
			if out.Allocation != nil {
				t.Fatalf("wave %d: served from an empty shelf", wave)
			}
			line = append(line, out.Reservation.ID)
		}
		c.restock("P1", 10)
		logA.take()
		logB.take()
		var asA, asB []*hub.Allocation
		var errA, errB error
		race(
			func() { asA, errA = c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult) },
			func() { asB, errB = b.ServeWaiting(c.ctx(), "P1", hub.MaskAdult) },
		)
		if errA != nil || errB != nil {
			t.Fatalf("wave %d: ServeWaiting: %v, %v", wave, errA, errB)
		}
		var ids []string
		for _, a := range slices.Concat(asA, asB) {
			ids = append(ids, a.ID)
		}
		created := slices.Concat(allocationIDs(logA.take(hub.EventAllocationCreated)), allocationIDs(logB.take(hub.EventAllocationCreated)))
		onceEach(t, fmt.Sprintf("wave %d: ALLOCATION_CREATED", wave), created, ids)
		served := map[string]int{}
		as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{RoundID: "fc"})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			served[a.ReservationID]++
		}
		for res, n := range served {
			if n != 1 {
				t.Errorf("wave %d: reservation %s served %d times", wave, res, n)
			}
		}
		if want := 10 * (wave + 1); len(as) != want || c.stockOf("P1") != 0 {
			t.Errorf("wave %d: %d served, %d left on the shelf; want %d served, none left", wave, len(as), c.stockOf("P1"), want)
		}
		for i, id := range line {
			st := getReservation(t, c, id).Status
			if want := i < len(as); (st == hub.ReservationAllocated) != want {
				t.Errorf("wave %d: the %d-th in line is %s", wave, i, st)
			}
		}
		c.conserved()
	}
}

func getReservation(t *testing.T, c *city, id string) *hub.Reservation {
	t.Helper()
	r, err := c.store.Reservation(c.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
