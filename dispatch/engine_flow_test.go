package dispatch_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

func TestIdempotentReserve(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 10)
	c.round(dispatch.RoundInput{ID: "fc"})
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 1})
	ann := c.resident("ann", home, "", "")
	bo := c.resident("bo", home, "", "")

	in := dispatch.ReserveInput{RoundID: "fc", Resident: ann, IdempotencyKey: "k1"}
	first, err := c.eng.Reserve(c.ctx(), in)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || first.Allocation == nil {
		t.Fatalf("first: %+v", first)
	}
	again, err := c.eng.Reserve(c.ctx(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.Reservation.ID != first.Reservation.ID || again.Allocation == nil || again.Allocation.ID != first.Allocation.ID {
		t.Fatalf("replay: %+v, want the first outcome replayed", again)
	}
	if c.eng.PickupCode(again.Allocation) != c.eng.PickupCode(first.Allocation) {
		t.Errorf("the replayed allocation shows another code")
	}
	if got := c.stockOf("P1"); got != 8 {
		t.Errorf("stock %d after a replay, want 8", got)
	}
	// The key is the first request's: another person cannot use it.
	_, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: bo, IdempotencyKey: "k1"})
	wantCode(t, err, hub.ECONFLICT, "idempotency key")
	// Without the key a retry is a second reservation: refused, naming
	// the first.
	_, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: ann})
	wantCode(t, err, hub.ECONFLICT, first.Reservation.ID)

	// A lottery entry replays as the same entry.
	e1, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "lot", Resident: ann, IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "lot", Resident: ann, IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Replayed || !e2.Replayed || e2.Reservation.ID != e1.Reservation.ID || e1.Reservation.Status != hub.ReservationPending {
		t.Errorf("lottery entry %+v, replay %+v", e1.Reservation, e2)
	}
	want, _ := dispatch.EntryHash("lot", e1.Reservation.ID)
	if e1.Reservation.EntryHash != want {
		t.Errorf("entry hash %q, want %q", e1.Reservation.EntryHash, want)
	}
	c.conserved()
}

func TestCancelReturnsStock(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 4)
	c.round(dispatch.RoundInput{ID: "fc"})
	a := c.reserve("fc", c.resident("a", home, "", ""))
	b := c.reserve("fc", c.resident("b", home, "", ""))
	w := c.reserve("fc", c.resident("w", home, "", ""))
	if w.Reservation.Status != hub.ReservationWaiting {
		t.Fatalf("third: %s, want WAITING", w.Reservation.Status)
	}
	got, err := c.eng.CancelReservation(c.ctx(), a.Reservation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hub.ReservationCancelled {
		t.Errorf("cancelled reservation is %s", got.Status)
	}
	if al, _ := c.store.Allocation(c.ctx(), a.Allocation.ID); al.Status != hub.AllocationCancelled {
		t.Errorf("its allocation is %s, want CANCELLED", al.Status)
	}
	// The returned units serve the waiting list first: w, not the next
	// person to come.
	if rv, _ := c.store.Reservation(c.ctx(), w.Reservation.ID); rv.Status != hub.ReservationAllocated {
		t.Errorf("the waiting reservation is %s after the cancellation, want ALLOCATED", rv.Status)
	}
	if s := c.stockOf("P1"); s != 0 {
		t.Errorf("stock %d after the cancellation, want 0 (the waiting one served)", s)
	}
	// Cancelling again answers the same and returns nothing more.
	if again, err := c.eng.CancelReservation(c.ctx(), a.Reservation.ID); err != nil || again.Status != hub.ReservationCancelled {
		t.Fatalf("second cancel: %v %v", again, err)
	}
	d := c.reserve("fc", c.resident("d", home, "", ""))
	if d.Allocation != nil || d.Reservation.Status != hub.ReservationWaiting {
		t.Fatalf("a newcomer took units the waiting list was served: %+v", d.Reservation)
	}
	// A waiting reservation cancels; a redeemed one does not.
	if got, err := c.eng.CancelReservation(c.ctx(), d.Reservation.ID); err != nil || got.Status != hub.ReservationCancelled {
		t.Fatalf("cancel WAITING: %v %v", got, err)
	}
	if _, err := c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(b.Allocation).String()); err != nil {
		t.Fatal(err)
	}
	_, err = c.eng.CancelReservation(c.ctx(), b.Reservation.ID)
	wantCode(t, err, hub.ECONFLICT, "handed out")
	_, err = c.eng.CancelReservation(c.ctx(), "rsv_none")
	wantCode(t, err, hub.ENOTFOUND, "")
	c.conserved()
}

func TestExpiryReturnsStock(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 4)
	c.round(dispatch.RoundInput{ID: "fc", PickupWindow: time.Hour})
	a := c.reserve("fc", c.resident("a", home, "", ""))
	c.clock.Advance(30 * time.Minute)
	b := c.reserve("fc", c.resident("b", home, "", ""))
	if n, err := c.eng.ExpireDue(c.ctx()); err != nil || n != 0 {
		t.Fatalf("ExpireDue before anything is due: %d, %v", n, err)
	}
	c.clock.Advance(31 * time.Minute)
	n, err := c.eng.ExpireDue(c.ctx())
	if err != nil || n != 1 {
		t.Fatalf("ExpireDue: %d, %v; want 1", n, err)
	}
	if al, _ := c.store.Allocation(c.ctx(), a.Allocation.ID); al.Status != hub.AllocationExpired {
		t.Errorf("a is %s, want EXPIRED", al.Status)
	}
	if al, _ := c.store.Allocation(c.ctx(), b.Allocation.ID); al.Status != hub.AllocationReserved {
		t.Errorf("b is %s, want RESERVED", al.Status)
	}
	if s := c.stockOf("P1"); s != 2 {
		t.Errorf("stock %d, want 2", s)
	}
	if d := c.reserve("fc", c.resident("d", home, "", "")); d.Allocation == nil {
		t.Fatalf("the expired units serve no one: %+v %s", d.Reservation, d.Reason)
	}
	c.conserved()
}

func TestSweeper(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{ExpiryEvery: 5 * time.Millisecond})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 4)
	c.round(dispatch.RoundInput{ID: "fc", PickupWindow: time.Hour, Closes: t0.Add(2 * time.Hour)})
	c.reserve("fc", c.resident("a", home, "", ""))
	c.clock.Advance(3 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for c.stockOf("P1") != 4 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not expire the pickup")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		r, err := c.store.Round(c.ctx(), "fc")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == hub.RoundClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not close the round")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRedeem(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 10)
	c.pharmacy("P2", c.rs[5][0], 10)
	c.round(dispatch.RoundInput{ID: "fc", PickupWindow: time.Hour})
	a := c.reserve("fc", c.resident("a", home, "", "")).Allocation
	late := c.reserve("fc", c.resident("late", home, "", "")).Allocation
	code := c.eng.PickupCode(a).String()
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))

	_, err := c.eng.Redeem(c.ctx(), "P1", "not a code")
	wantCode(t, err, hub.EINVALID, "")
	other := dispatch.PickupCode("0000-0000-0000-0")
	_, err = c.eng.Redeem(c.ctx(), "P1", other.String())
	wantCode(t, err, hub.ENOTFOUND, "")
	_, err = c.eng.Redeem(c.ctx(), "P2", code)
	wantCode(t, err, hub.EFORBIDDEN, "another pharmacy")

	got, err := c.eng.Redeem(c.ctx(), "P1", typed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hub.AllocationRedeemed || got.ID != a.ID {
		t.Fatalf("redeemed %+v", got)
	}
	_, err = c.eng.Redeem(c.ctx(), "P1", code)
	wantCode(t, err, hub.ECONFLICT, "already redeemed")

	c.clock.Advance(2 * time.Hour)
	before := c.stockOf("P1")
	_, err = c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(late).String())
	wantCode(t, err, hub.ECONFLICT, "expired")
	if s := c.stockOf("P1"); s != before+2 {
		t.Errorf("the expired code's stock did not return: %d -> %d", before, s)
	}
	_, err = c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(late).String())
	wantCode(t, err, hub.ECONFLICT, "expired")
	c.conserved()
}

func TestDelivery(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 10)
	_, err := c.eng.UpsertPartner(c.ctx(), "fast", "Fast", []hub.Cell{home, home, c.rs[1][0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.UpsertPartner(c.ctx(), "slow", "Slow", []hub.Cell{c.rs[1][0], c.rs[1][1]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.eng.UpsertPartner(c.ctx(), "bad", "Bad", []hub.Cell{12345})
	wantCode(t, err, hub.EINVALID, "")
	_, err = c.eng.UpsertPartner(c.ctx(), "empty", "Empty", nil)
	wantCode(t, err, hub.EINVALID, "no cells")
	c.round(dispatch.RoundInput{ID: "fc", Fulfilments: []hub.Fulfilment{hub.Delivery, hub.Pickup}})

	a := c.reserve("fc", c.resident("a", home, "", "")).Allocation
	b := c.reserve("fc", c.resident("b", c.rs[1][1], "", "")).Allocation
	if a.PartnerID != "fast" || b.PartnerID != "slow" || a.Status != hub.AllocationDelivering {
		t.Fatalf("partners %q %q, status %s", a.PartnerID, b.PartnerID, a.Status)
	}
	_, err = c.eng.MarkDelivery(c.ctx(), "slow", a.ID, true)
	wantCode(t, err, hub.EFORBIDDEN, "")
	_, err = c.eng.Redeem(c.ctx(), "P1", c.eng.PickupCode(a).String())
	wantCode(t, err, hub.ECONFLICT, "delivery")
	got, err := c.eng.MarkDelivery(c.ctx(), "fast", a.ID, true)
	if err != nil || got.Status != hub.AllocationDelivered {
		t.Fatalf("delivered: %+v, %v", got, err)
	}
	_, err = c.eng.MarkDelivery(c.ctx(), "fast", a.ID, false)
	wantCode(t, err, hub.ECONFLICT, "not DELIVERING")

	before := c.stockOf("P1")
	got, err = c.eng.MarkDelivery(c.ctx(), "slow", b.ID, false)
	if err != nil || got.Status != hub.AllocationFailed {
		t.Fatalf("failed: %+v, %v", got, err)
	}
	if s := c.stockOf("P1"); s != before+2 {
		t.Errorf("a failed delivery did not return its stock: %d -> %d", before, s)
	}
	_, err = c.eng.MarkDelivery(c.ctx(), "fast", "alc_none", true)
	wantCode(t, err, hub.ENOTFOUND, "")

	// Moving the area away leaves a cell without a partner.
	if _, err := c.eng.UpsertPartner(c.ctx(), "slow", "Slow", []hub.Cell{c.rs[2][0]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: c.resident("d", c.rs[1][1], "", "")})
	wantCode(t, err, hub.EINVALID, "no delivery partner")
	c.restart()
	if out := c.reserve("fc", c.resident("e", c.rs[1][0], "", "")); out.Allocation == nil || out.Allocation.PartnerID != "fast" {
		t.Errorf("after restart the partner index is lost: %+v", out.Allocation)
	}
	c.conserved()
}

func TestShortagesServedInOrder(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 0)
	c.round(dispatch.RoundInput{ID: "fc"})
	var order []string
	for i, q := range []int{3, 1, 2, 4, 1} {
		cell := c.rs[i%3][0]
		id := fmt.Sprintf("s%d", i)
		sh, err := c.eng.RegisterShortage(c.ctx(), c.resident(id, cell, "", ""), hub.MaskAdult, q)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, sh.ID)
	}
	// One far away, out of the pharmacy's reach.
	farRes := c.resident("far", c.rs[8][0], "", "")
	if _, err := c.eng.RegisterShortage(c.ctx(), farRes, hub.MaskAdult, 1); err != nil {
		t.Fatal(err)
	}
	_, err := c.eng.RegisterShortage(c.ctx(), farRes, hub.MaskAdult, 1)
	wantCode(t, err, hub.ECONFLICT, "already waits")
	_, err = c.eng.RegisterShortage(c.ctx(), farRes, hub.MaskChild, 0)
	wantCode(t, err, hub.EINVALID, "quantity")
	_, err = c.eng.RegisterShortage(c.ctx(), farRes, "GOLD", 1)
	wantCode(t, err, hub.EINVALID, "")
	// A reservation waits too; it comes after the shortages.
	w := c.reserve("fc", c.resident("w", home, "", ""))
	if w.Reservation.Status != hub.ReservationWaiting {
		t.Fatalf("reservation %s, want WAITING", w.Reservation.Status)
	}

	// 7 units: 3 + 1 + 2 go to the first three; the fourth wants 4, so
	// the line stops there (nobody overtakes).
	c.restock("P1", 7)
	as, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.ShortageID)
		if a.Status != hub.AllocationReserved || a.PharmacyID != "P1" || a.CodeHash == "" {
			t.Errorf("allocation %+v", a)
		}
	}
	if !slices.Equal(got, order[:3]) {
		t.Fatalf("served %v, want %v", got, order[:3])
	}
	// 5 more: the fourth (4) and the fifth (1); then the reservation.
	c.restock("P1", 7)
	as, err = c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, a := range as {
		got = append(got, a.ShortageID+a.ReservationID)
	}
	if want := []string{order[3], order[4], w.Reservation.ID}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
	waiting, err := c.store.Shortages(c.ctx(), hub.ShortageFilter{Status: hub.ShortageWaiting})
	if err != nil {
		t.Fatal(err)
	}
	if len(waiting) != 1 || waiting[0].ResidentID != "far" {
		t.Errorf("still waiting: %+v, want only the far one", waiting)
	}
	_, err = c.eng.ServeWaiting(c.ctx(), "P9", hub.MaskAdult)
	wantCode(t, err, hub.ENOTFOUND, "")
	c.conserved()
}

func TestServeWaitingNewPharmacy(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.round(dispatch.RoundInput{ID: "fc"})
	w := c.reserve("fc", c.resident("w", home, "", ""))
	if w.Reason != dispatch.ReasonNothingInReach {
		t.Fatalf("reason %q, want NOTHING_IN_REACH", w.Reason)
	}
	// A pharmacy opens: the registry writes it; the engine learns of it
	// when asked to serve from it.
	if err := c.store.UpsertPharmacies(c.ctx(), &hub.Pharmacy{ID: "new", Name: "New", Cell: c.rs[1][2], Stock: map[hub.SKU]int{hub.MaskAdult: 2}, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	c.supplied += 2
	as, err := c.eng.ServeWaiting(c.ctx(), "new", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].ReservationID != w.Reservation.ID {
		t.Fatalf("served %+v", as)
	}
	c.conserved()
}

// TestStockMovedElsewhere takes stock away behind the engine's back: the
// store refuses the planned allocation, the engine rereads and goes to
// the next pharmacy.
func TestStockMovedElsewhere(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("big", home, 10)
	c.pharmacy("small", c.rs[1][0], 4)
	c.round(dispatch.RoundInput{ID: "fc"})
	if _, err := c.store.AdjustStock(c.ctx(), hub.StockChange{PharmacyID: "big", SKU: hub.MaskAdult, Delta: -9, Reason: "CORRECTION", At: t0}); err != nil {
		t.Fatal(err)
	}
	c.supplied -= 9
	out := c.reserve("fc", c.resident("a", home, "", ""))
	if out.Allocation == nil || out.Allocation.PharmacyID != "small" {
		t.Fatalf("allocation %+v (%s), want one at small", out.Allocation, out.Reason)
	}
	c.reserve("fc", c.resident("b", home, "", ""))
	out = c.reserve("fc", c.resident("c", home, "", ""))
	if out.Reason != dispatch.ReasonOutOfStock {
		t.Fatalf("third: %s %q, want OUT_OF_STOCK", out.Reservation.Status, out.Reason)
	}
	c.conserved()
}

func TestLottery(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(7)})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 6)
	c.pharmacy("P2", c.rs[2][0], 4)
	closes := t0.Add(time.Hour)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 4, Closes: closes})
	c.round(dispatch.RoundInput{ID: "uncommitted", Mode: hub.Lottery, Winners: 4, Closes: closes})
	c.round(dispatch.RoundInput{ID: "fc"})

	_, err := c.eng.CommitLottery(c.ctx(), "fc")
	wantCode(t, err, hub.EINVALID, "not a LOTTERY")
	r, err := c.eng.CommitLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Commitment) != 64 || r.Seed != "" {
		t.Fatalf("committed round: commitment %q, seed %q", r.Commitment, r.Seed)
	}
	stored, _ := c.store.Round(c.ctx(), "lot")
	if !strings.HasPrefix(stored.Seed, "sealed-v1:") {
		t.Fatalf("the store keeps the seed as %q, not sealed", stored.Seed)
	}
	_, err = c.eng.CommitLottery(c.ctx(), "lot")
	wantCode(t, err, hub.ECONFLICT, "already committed")
	_, err = c.eng.PublishedDraw(c.ctx(), "lot")
	wantCode(t, err, hub.ENOTFOUND, "")

	var entries []*hub.Reservation
	for i := range 12 {
		out := c.reserve("lot", c.resident(fmt.Sprintf("r%02d", i), c.rs[1+i%2][i%6], "", ""))
		if out.Reservation.Status != hub.ReservationPending || out.Allocation != nil {
			t.Fatalf("entry %d: %+v", i, out)
		}
		entries = append(entries, out.Reservation)
	}
	// One withdraws before entries close: not in the draw.
	if _, err := c.eng.CancelReservation(c.ctx(), entries[11].ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.eng.DrawLottery(c.ctx(), "lot")
	wantCode(t, err, hub.ECONFLICT, "draw after")

	c.clock.Advance(time.Hour)
	_, err = c.eng.CommitLottery(c.ctx(), "uncommitted")
	wantCode(t, err, hub.ECONFLICT, "entries closed")
	_, _, err = c.eng.DrawLottery(c.ctx(), "uncommitted")
	wantCode(t, err, hub.ECONFLICT, "never committed")
	_, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "lot", Resident: c.resident("late", home, "", "")})
	wantCode(t, err, hub.ECONFLICT, "closed")
	_, err = c.eng.CancelReservation(c.ctx(), entries[0].ID)
	wantCode(t, err, hub.ECONFLICT, "entries closed")

	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.Verify(); err != nil {
		t.Fatalf("the published draw does not verify: %v", err)
	}
	if pd.Commitment != r.Commitment || len(pd.Entries) != 11 || len(pd.Winners) != 4 {
		t.Fatalf("draw: commitment %s, %d entries, %d winners", pd.Commitment, len(pd.Entries), len(pd.Winners))
	}
	if rep.Entries != 11 || rep.Winners != 4 || rep.Allocated != 4 || rep.Waiting != 0 || rep.Lost != 7 {
		t.Errorf("report %+v", rep)
	}
	withdrawn, _ := dispatch.EntryHash("lot", entries[11].ID)
	if slices.Contains(pd.Entries, withdrawn) {
		t.Errorf("a withdrawn entry is in the draw")
	}
	// Winners ALLOCATED, the others LOST, exactly.
	resvs, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "lot"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rv := range resvs {
		won := slices.Contains(pd.Winners, rv.EntryHash)
		switch {
		case rv.ID == entries[11].ID:
			if rv.Status != hub.ReservationCancelled {
				t.Errorf("withdrawn entry is %s", rv.Status)
			}
		case won && rv.Status != hub.ReservationAllocated, !won && rv.Status != hub.ReservationLost:
			t.Errorf("entry %s (winner %v) is %s", rv.ID, won, rv.Status)
		}
	}
	_, _, err = c.eng.DrawLottery(c.ctx(), "lot")
	wantCode(t, err, hub.ECONFLICT, "already drawn")
	_, err = c.eng.CancelReservation(c.ctx(), entries[0].ID)
	if hub.ErrorCode(err) != hub.ECONFLICT && err != nil {
		t.Fatalf("cancel after the draw: %v", err)
	}

	// The draw is the same after a restart, and it is what
	// verify-lottery reads.
	c.restart()
	again, err := c.eng.PublishedDraw(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(pd)
	j2, _ := json.Marshal(again)
	if string(j1) != string(j2) {
		t.Fatalf("the draw rebuilt after a restart differs:\n%s\n%s", j1, j2)
	}
	round, _ := c.eng.Round(c.ctx(), "lot")
	if round.Status != hub.RoundDrawn || round.Seed != pd.Seed {
		t.Errorf("drawn round: %s, seed %q", round.Status, round.Seed)
	}
	c.conserved()
}

// TestLotteryAsManyAsStock draws with Winners 0: as many winners as the
// stock in reach serves; a winner left unserved waits and a restock
// serves them.
func TestLotteryAsManyAsStock(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(8)})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 7)
	if _, err := c.eng.UpsertPartner(c.ctx(), "fast", "Fast", []hub.Cell{c.rs[1][0]}); err != nil {
		t.Fatal(err)
	}
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Closes: t0.Add(time.Hour), Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		c.reserve("lot", c.resident(fmt.Sprintf("r%d", i), c.rs[1][i], "", ""))
	}
	c.clock.Advance(time.Hour)
	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if pd.WinnerCount != 3 || rep.Allocated != 3 || rep.Lost != 3 {
		t.Fatalf("7 units, 2 each: %d winners, report %+v; want 3", pd.WinnerCount, rep)
	}
	if err := pd.Verify(); err != nil {
		t.Fatal(err)
	}
	c.conserved()
}

// TestLotteryWaitingWinner: winners beyond the stock wait, in draw order,
// and a restock serves them first come in the draw's line.
func TestLotteryWaitingWinner(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(9)})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 2)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 3, Closes: t0.Add(time.Hour)})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // entry hash -> reservation
	for i := range 5 {
		out := c.reserve("lot", c.resident(fmt.Sprintf("r%d", i), home, "", ""))
		ids[out.Reservation.EntryHash] = out.Reservation.ID
	}
	c.clock.Advance(time.Hour)
	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Allocated != 1 || rep.Waiting != 2 || rep.Lost != 2 {
		t.Fatalf("report %+v", rep)
	}
	first, _ := c.store.Reservation(c.ctx(), ids[pd.Winners[0]])
	if first.Status != hub.ReservationAllocated {
		t.Fatalf("the first winner is %s", first.Status)
	}
	_, err = c.eng.CancelReservation(c.ctx(), ids[pd.Winners[1]])
	wantCode(t, err, hub.ECONFLICT, "waiting winner")
	c.restart()
	c.restock("P1", 2)
	as, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].ReservationID != ids[pd.Winners[1]] {
		t.Fatalf("restock served %+v, want the second winner", as)
	}
	again, err := c.eng.PublishedDraw(c.ctx(), "lot")
	if err != nil || again.Verify() != nil || !slices.Equal(again.Winners, pd.Winners) {
		t.Fatalf("draw after restart: %+v, %v", again, err)
	}
	c.conserved()
}

// TestDrawResumes fails the store writes of a draw after the reveal,
// which leaves the entries PENDING as a crash would, and finishes the
// draw after a restart.
func TestDrawResumes(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(10)})
	faulty := &faultyStore{}
	c.wrap = func(s hub.Store) hub.Store { faulty.Store = s; return faulty }
	c.restart()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 20)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 3, Closes: t0.Add(time.Hour)})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		c.reserve("lot", c.resident(fmt.Sprintf("r%d", i), home, "", ""))
	}
	c.clock.Advance(time.Hour)
	faulty.fail.Store(true)
	first, _, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err == nil {
		t.Fatalf("the draw went through a failing store: %+v", first)
	}
	if r, _ := c.store.Round(c.ctx(), "lot"); r.Status != hub.RoundDrawn {
		t.Fatalf("round %s after the reveal, want DRAWN", r.Status)
	}
	c.conserved()
	c.wrap = nil
	c.restart()
	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.Verify(); err != nil {
		t.Fatal(err)
	}
	pending, _ := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "lot", Status: hub.ReservationPending})
	allocated, _ := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "lot", Status: hub.ReservationAllocated})
	lost, _ := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "lot", Status: hub.ReservationLost})
	if len(pending) != 0 || len(allocated) != 3 || len(lost) != 3 {
		t.Fatalf("after the resumed draw: %d pending, %d allocated, %d lost (report %+v)", len(pending), len(allocated), len(lost), rep)
	}
	for _, rv := range allocated {
		if !slices.Contains(pd.Winners, rv.EntryHash) {
			t.Errorf("%s is allocated but did not win", rv.ID)
		}
	}
	_, _, err = c.eng.DrawLottery(c.ctx(), "lot")
	wantCode(t, err, hub.ECONFLICT, "already drawn")
	c.conserved()
}

// TestStoreFailureReleases fails the write of a reservation and its
// allocation: nothing is stored, the units return to the engine's book
// (the next person gets them), and a retry with the idempotency key is
// served as a new request. A reservation a failed allocation left PENDING
// (stored by an earlier write) is finished by a retry with its key.
func TestStoreFailureReleases(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	faulty := &faultyStore{}
	c.wrap = func(s hub.Store) hub.Store { faulty.Store = s; return faulty }
	c.restart()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 2)
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2})
	ann := c.resident("ann", home, "", "")
	faulty.fail.Store(true)
	_, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: ann, IdempotencyKey: "ann-1"})
	wantCode(t, err, hub.EINTERNAL, "")
	if rs, _ := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "fc"}); len(rs) != 0 {
		t.Fatalf("a failed write stored %d reservations", len(rs))
	}
	faulty.fail.Store(false)
	bob := c.resident("bob", home, "", "")
	if out := c.reserve("fc", bob); out.Allocation == nil {
		t.Fatalf("bob: %+v, want the units ann's failed write held", out)
	}
	c.pharmacy("P2", home, 2)
	out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: ann, IdempotencyKey: "ann-1"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Replayed || out.Allocation == nil {
		t.Fatalf("retry: %+v, want a new request served", out)
	}

	// A reservation stored PENDING, its allocation never written.
	cy := c.resident("cy", home, "", "")
	if _, err := c.store.CreateReservation(c.ctx(), &hub.Reservation{
		ID: "rsv_cy", RoundID: "fc", ResidentID: cy.ID, IDHash: cy.IDHash, Cell: cy.Cell,
		Fulfilment: hub.Pickup, IdempotencyKey: "cy-1", Status: hub.ReservationPending, CreatedAt: t0, UpdatedAt: t0,
	}); err != nil {
		t.Fatal(err)
	}
	c.pharmacy("P3", home, 2)
	out, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: cy, IdempotencyKey: "cy-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Replayed || out.Reservation.ID != "rsv_cy" || out.Allocation == nil {
		t.Fatalf("retry of a stored request: %+v, want it replayed and served", out)
	}
	c.conserved()
}

// TestRestartMidRound closes engine and store in the middle of a round,
// after some reservations and a crash-cut one, and goes on.
func TestRestartMidRound(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 10)
	c.pharmacy("P2", c.rs[2][4], 10)
	c.round(dispatch.RoundInput{ID: "fc", PickupWindow: time.Hour})
	var acked []*dispatch.ReserveResult
	for i := range 6 {
		acked = append(acked, c.reserve("fc", c.resident(fmt.Sprintf("a%d", i), c.rs[i%2][(i%2)*i], "", "")))
	}
	if _, err := c.eng.CancelReservation(c.ctx(), acked[0].Reservation.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.Redeem(c.ctx(), acked[1].Allocation.PharmacyID, c.eng.PickupCode(acked[1].Allocation).String()); err != nil {
		t.Fatal(err)
	}
	// A request the store took but the engine never matched: the process
	// stopped in between.
	cut := c.resident("cut", home, "", "")
	if _, err := c.store.CreateReservation(c.ctx(), &hub.Reservation{
		ID: "rsv_cut", RoundID: "fc", ResidentID: cut.ID, IDHash: cut.IDHash, Cell: cut.Cell,
		Fulfilment: hub.Pickup, Status: hub.ReservationPending, CreatedAt: t0, UpdatedAt: t0,
	}); err != nil {
		t.Fatal(err)
	}
	c.conserved()
	c.restart()

	// Nothing acknowledged is lost.
	for i, out := range acked {
		rv, err := c.store.Reservation(c.ctx(), out.Reservation.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := hub.ReservationAllocated
		if i == 0 {
			want = hub.ReservationCancelled
		}
		if rv.Status != want || rv.AllocationID != out.Allocation.ID {
			t.Errorf("reservation %d after restart: %s %s, want %s %s", i, rv.Status, rv.AllocationID, want, out.Allocation.ID)
		}
	}
	// The cut request was finished on start.
	if rv, _ := c.store.Reservation(c.ctx(), "rsv_cut"); rv.Status != hub.ReservationAllocated {
		t.Errorf("the cut request is %s after restart, want ALLOCATED", rv.Status)
	}
	c.conserved()

	// The matchers know the stock: 20 - 7*2 + 2 (cancelled) = 8 units
	// left, 4 people get them, the fifth waits.
	for i := range 5 {
		out := c.reserve("fc", c.resident(fmt.Sprintf("b%d", i), home, "", ""))
		if i < 4 && out.Allocation == nil || i == 4 && out.Reason != dispatch.ReasonOutOfStock {
			t.Fatalf("b%d after restart: %s %q", i, out.Reservation.Status, out.Reason)
		}
	}
	// Expiry after the restart returns what the first engine allocated.
	c.clock.Advance(2 * time.Hour)
	if n, err := c.eng.ExpireDue(c.ctx()); err != nil || n != 4+1+4 {
		t.Fatalf("ExpireDue: %d, %v; want 9", n, err)
	}
	// The units back serve b4, who was waiting, first.
	if s := c.stockOf("P1") + c.stockOf("P2"); s != 16 {
		t.Errorf("stock %d after expiry, want 16 (2 redeemed, 2 to the one waiting)", s)
	}
	c.conserved()
}

func TestCellReport(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 4)
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2})
	c.reserve("fc", c.resident("a", home, "", ""))
	c.reserve("fc", c.resident("b", home, "", ""))
	c.reserve("fc", c.resident("c", c.rs[1][0], "", ""))
	cells, err := c.eng.CellReport(c.ctx(), "fc")
	if err != nil {
		t.Fatal(err)
	}
	byCell := map[hub.Cell]dispatch.CellShare{}
	for _, cs := range cells {
		byCell[cs.Cell] = cs
	}
	if h := byCell[home]; h.Requests != 2 || h.Demand != 4 || h.Served != 4 || h.Fulfilment() != 1 {
		t.Errorf("home cell %+v", h)
	}
	if n := byCell[c.rs[1][0]]; n.Requests != 1 || n.Served != 0 {
		t.Errorf("neighbour cell %+v", n)
	}
	_, err = c.eng.CellReport(c.ctx(), "nope")
	wantCode(t, err, hub.ENOTFOUND, "")
}
