package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
)

// TestDispatchEndToEnd runs the modes through GraphQL on the real
// program: a first-come round with pickup codes, a lottery anyone can
// verify, and a shortage served by a restock.
func TestDispatchEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	resident := h.as(t, "RESIDENT", ac.residents[0])
	other := h.as(t, "RESIDENT", ac.residents[1])
	pharmacy := h.as(t, "PHARMACY", ac.pharmacies[0])
	now := time.Now().UTC()
	opens, closes := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)

	// First come: a resident reserves, sees their code; the pharmacy redeems it once.
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "fc", name: "Masks Monday", sku: MASK_ADULT, perPerson: 5, mode: FIRST_COME, opens: $o, closes: $c, maxK: 2}) { id status } }`,
		map[string]any{"o": opens, "c": closes}, nil)
	var res struct {
		Reserve struct {
			Replayed    bool
			Reservation struct{ ID, Status string }
			Allocation  struct {
				ID, PickupCode, Status string
				Quantity               int
				Pharmacy               struct{ ID string }
			}
		}
	}
	reserve := `mutation($p: ID!) { reserve(input: {roundId: "fc", residentId: $p, idempotencyKey: "k-1"}) {
		replayed reservation { id status } allocation { id pickupCode status quantity pharmacy { id } } } }`
	must(t, resident, reserve, map[string]any{"p": ac.residents[0]}, &res)
	a := res.Reserve.Allocation
	if res.Reserve.Reservation.Status != "ALLOCATED" || a.Quantity != 5 || a.Pharmacy.ID != ac.pharmacies[0] || len(a.PickupCode) < 13 {
		t.Fatalf("reserve = %+v", res)
	}
	var again = res
	must(t, resident, reserve, map[string]any{"p": ac.residents[0]}, &again)
	if !again.Reserve.Replayed || again.Reserve.Allocation.ID != a.ID {
		t.Errorf("retry with the same key = %+v, want the stored outcome", again)
	}
	if r := gql(t, resident, `mutation($p: ID!) { reserve(input: {roundId: "fc", residentId: $p}) { reservation { id } } }`, map[string]any{"p": ac.residents[0]}); r.code() != "CONFLICT" {
		t.Errorf("second reservation: code %q, want CONFLICT", r.code())
	}
	// The code is its owner's only.
	var seen struct {
		Reservation struct{ Allocation struct{ PickupCode *string } }
	}
	must(t, h.as(t, "COMMITTEE", ac.committees[0]), `query($id: ID!) { reservation(id: $id) { allocation { pickupCode } } }`,
		map[string]any{"id": res.Reserve.Reservation.ID}, &seen)
	if seen.Reservation.Allocation.PickupCode != nil {
		t.Errorf("a committee sees the pickup code %q", *seen.Reservation.Allocation.PickupCode)
	}
	var stock struct {
		Pharmacy struct{ Stock []struct{ Quantity int } }
	}
	must(t, admin, `query($id: ID!) { pharmacy(id: $id) { stock { quantity } } }`, map[string]any{"id": ac.pharmacies[0]}, &stock)
	if stock.Pharmacy.Stock[0].Quantity != 95 {
		t.Errorf("stock after one allocation of 5 = %d, want 95", stock.Pharmacy.Stock[0].Quantity)
	}
	redeem := `mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { id status } }`
	var red struct{ Redeem struct{ Status string } }
	must(t, pharmacy, redeem, map[string]any{"p": ac.pharmacies[0], "c": a.PickupCode}, &red)
	if red.Redeem.Status != "REDEEMED" {
		t.Errorf("redeem = %+v", red)
	}
	if r := gql(t, pharmacy, redeem, map[string]any{"p": ac.pharmacies[0], "c": a.PickupCode}); r.code() != "CONFLICT" {
		t.Errorf("second redeem: code %q, want CONFLICT", r.code())
	}
	if r := gql(t, pharmacy, redeem, map[string]any{"p": ac.pharmacies[0], "c": "0000-0000-0000-0"}); r.code() == "" {
		t.Error("an unknown code was redeemed")
	}

	// Lottery: commit before entries close, draw after, verify from what is published.
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "lot", name: "Draw", sku: MASK_ADULT, perPerson: 1, mode: LOTTERY, opens: $o, closes: $c, winners: 1}) { id } }`,
		map[string]any{"o": opens, "c": closes}, nil)
	var committed struct{ CommitLottery struct{ Commitment string } }
	must(t, admin, `mutation { commitLottery(roundId: "lot") { commitment } }`, nil, &committed)
	var hidden struct{ Round struct{ Seed *string } }
	must(t, admin, `{ round(id: "lot") { seed } }`, nil, &hidden)
	if hidden.Round.Seed != nil {
		t.Errorf("the seed is visible before the draw: %q", *hidden.Round.Seed)
	}
	for i, c := range []client{resident, other} {
		must(t, c, `mutation($p: ID!) { reserve(input: {roundId: "lot", residentId: $p}) { reservation { status } } }`, map[string]any{"p": ac.residents[i]}, nil)
	}
	if r := gql(t, admin, `mutation { drawLottery(roundId: "lot") { seed } }`, nil); r.code() != "CONFLICT" {
		t.Errorf("draw before entries close: code %q, want CONFLICT", r.code())
	}
	must(t, admin, `mutation { closeRound(id: "lot") { status } }`, nil, nil)
	var drawn struct{ DrawLottery json.RawMessage }
	must(t, admin, `mutation { drawLottery(roundId: "lot") { algorithm roundId commitment seed entries winnerCount winners } }`, nil, &drawn)
	var pub dispatch.PublishedDraw
	if err := json.Unmarshal(drawn.DrawLottery, &pub); err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify(); err != nil || pub.Commitment != committed.CommitLottery.Commitment || len(pub.Entries) != 2 || len(pub.Winners) != 1 {
		t.Errorf("published draw %+v does not verify: %v", pub, err)
	}
	var published struct {
		Round struct{ Draw json.RawMessage }
	}
	must(t, resident, `{ round(id: "lot") { draw { algorithm roundId commitment seed entries winnerCount winners } } }`, nil, &published)
	var again2 dispatch.PublishedDraw
	if err := json.Unmarshal(published.Round.Draw, &again2); err != nil || again2.Verify() != nil || fmt.Sprint(again2.Winners) != fmt.Sprint(pub.Winners) {
		t.Errorf("the draw as published to residents differs: %s", published.Round.Draw)
	}

	// A shortage registered where nothing is in reach is served by a restock nearby.
	var sh struct{ RegisterShortage struct{ ID, Status string } }
	must(t, other, `mutation($p: ID!) { registerShortage(residentId: $p, sku: MASK_N95, quantity: 2) { id status } }`, map[string]any{"p": ac.residents[1]}, &sh)
	if sh.RegisterShortage.Status != "WAITING" {
		t.Fatalf("shortage = %+v", sh)
	}
	must(t, admin, `mutation($id: ID!) { restock(pharmacyId: $id, sku: MASK_N95, quantity: 10) { id } }`, map[string]any{"id": ac.pharmacies[1]}, nil)
	var n95 struct {
		Pharmacy struct {
			Stock []struct {
				SKU      string
				Quantity int
			}
		}
	}
	must(t, admin, `query($id: ID!) { pharmacy(id: $id) { stock { sku quantity } } }`, map[string]any{"id": ac.pharmacies[1]}, &n95)
	if q := n95.Pharmacy.Stock[2]; q.SKU != "MASK_N95" || q.Quantity != 8 {
		t.Errorf("after serving the waiting list, N95 stock = %+v, want 8", q)
	}
}
