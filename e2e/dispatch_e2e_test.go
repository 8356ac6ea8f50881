package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/privacy"
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

// TestCommitteeRoundEndToEnd: a committee's quota serves its residents and
// nobody else's.
func TestCommitteeRoundEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!, $q: ID!) { openRound(input: {id: "com", name: "Committee round", sku: MASK_ADULT, perPerson: 2,
		mode: COMMITTEE, opens: $o, closes: $c, quotas: [{committeeId: $q, quota: 2}]}) { quotas { committeeId quota } } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339), "q": ac.committees[0]}, nil)
	committee := h.as(t, "COMMITTEE", ac.committees[0])
	var r struct {
		Reserve struct {
			Reservation struct{ Status string }
			Allocation  *struct{ Quantity int }
		}
	}
	must(t, committee, `mutation($p: ID!) { reserve(input: {roundId: "com", residentId: $p}) { reservation { status } allocation { quantity } } }`,
		map[string]any{"p": ac.residents[0]}, &r)
	if r.Reserve.Reservation.Status != "ALLOCATED" || r.Reserve.Allocation == nil || r.Reserve.Allocation.Quantity != 2 {
		t.Errorf("committee reservation = %+v", r)
	}
	// The other committee holds no quota in this round.
	if res := gql(t, admin, `mutation($p: ID!) { reserve(input: {roundId: "com", residentId: $p}) { reservation { status } } }`,
		map[string]any{"p": ac.residents[1]}); res.code() != "FORBIDDEN" {
		t.Errorf("resident of a committee without quota: code %q, want FORBIDDEN (%+v)", res.code(), res.Errors)
	}
}

// TestKillNineMidRound kills the hub with SIGKILL during a burst of
// reservations and checks, after a restart, that every acknowledged
// reservation and allocation is there and that stock is conserved.
func TestKillNineMidRound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	child := startChild(t, dir)
	admin := client{url: child.url, token: mintToken(t, dir, "ADMIN", "")}
	ac := seedAccessCity(t, admin)
	// Many residents around the first pharmacy (100 masks), one mask each.
	var ids []string
	for i := range 150 {
		var r struct{ RegisterResident struct{ ID string } }
		must(t, admin, `mutation($n: String!, $c: String!) { registerResident(input: {name: "K", idNumber: $n, location: {lat: 25.045, lng: 121.515}, committeeCode: $c}) { id } }`,
			map[string]any{"n": privacy.ExampleTaiwanID('Q', i), "c": ac.codes[0]}, &r)
		ids = append(ids, r.RegisterResident.ID)
	}
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "burst", name: "Burst", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c, maxK: 1}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)

	type ack struct{ reservation, allocation string }
	acks := make(chan ack, len(ids))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, id := range ids {
			_, r := postQuiet(child.url, admin.token, `mutation($p: ID!) { reserve(input: {roundId: "burst", residentId: $p}) { reservation { id } allocation { id } } }`, map[string]any{"p": id})
			if r == nil {
				return // killed
			}
			var d struct {
				Reserve struct {
					Reservation struct{ ID string }
					Allocation  *struct{ ID string }
				}
			}
			if json.Unmarshal(r.Data, &d) == nil && d.Reserve.Reservation.ID != "" {
				a := ack{reservation: d.Reserve.Reservation.ID}
				if d.Reserve.Allocation != nil {
					a.allocation = d.Reserve.Allocation.ID
				}
				acks <- a
			}
		}
	}()
	time.Sleep(150 * time.Millisecond)
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.cmd.Wait()
	<-done
	close(acks)

	h := startHub(t, dir)
	after := h.as(t, "ADMIN", "")
	allocated := 0
	n := 0
	for a := range acks {
		n++
		var r struct {
			Reservation struct {
				Status     string
				Allocation *struct{ ID string }
			}
		}
		must(t, after, `query($id: ID!) { reservation(id: $id) { status allocation { id } } }`, map[string]any{"id": a.reservation}, &r)
		if a.allocation != "" {
			allocated++
			if r.Reservation.Allocation == nil || r.Reservation.Allocation.ID != a.allocation {
				t.Errorf("acknowledged allocation %s of reservation %s lost after kill -9: %+v", a.allocation, a.reservation, r)
			}
		}
	}
	// Stock is conserved: what left the shelf is what is held.
	var p struct {
		Pharmacy struct{ Stock []struct{ Quantity int } }
	}
	must(t, after, `query($id: ID!) { pharmacy(id: $id) { stock { quantity } } }`, map[string]any{"id": ac.pharmacies[0]}, &p)
	var held struct {
		Round struct{ Cells []struct{ Served int } }
	}
	must(t, after, `{ round(id: "burst") { cells { served } } }`, nil, &held)
	served := 0
	for _, c := range held.Round.Cells {
		served += c.Served
	}
	if got := p.Pharmacy.Stock[0].Quantity + served; got != 100 {
		t.Errorf("stock %d + served %d = %d, want the initial 100", p.Pharmacy.Stock[0].Quantity, served, got)
	}
	if served < allocated {
		t.Errorf("served %d < acknowledged allocations %d", served, allocated)
	}
	t.Logf("%d reservations acknowledged (%d allocated) before kill -9; all present, stock conserved (%d on hand, %d served)", n, allocated, p.Pharmacy.Stock[0].Quantity, served)
}

// postQuiet is post for goroutines: no testing.T, nil on any failure.
func postQuiet(url, token, query string, vars map[string]any) (*http.Response, *gqlResponse) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	var out gqlResponse
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return resp, nil
	}
	return resp, &out
}

// TestPartnerAllocations pages a partner's deliveries by cursor and by
// time, and lets the partner mark them done or failed.
func TestPartnerAllocations(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	var d struct{ District struct{ Cells []string } }
	must(t, admin, `query($d: ID!) { district(id: $d) { cells } }`, map[string]any{"d": ac.districts[0]}, &d)
	must(t, admin, `mutation($c: [H3Cell!]) { upsertPartner(input: {id: "courier", name: "Courier", area: {cells: $c}}) { id } }`, map[string]any{"c": d.District.Cells}, nil)
	start := time.Now().UTC()
	for i := range 3 {
		must(t, admin, `mutation($id: ID!, $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "D", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, fulfilments: [DELIVERY], opens: $o, closes: $c}) { id } }`,
			map[string]any{"id": fmt.Sprintf("d%d", i), "o": start.Add(-time.Hour).Format(time.RFC3339), "c": start.Add(time.Hour).Format(time.RFC3339)}, nil)
		must(t, admin, `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p}) { allocation { status } } }`,
			map[string]any{"r": fmt.Sprintf("d%d", i), "p": ac.residents[0]}, nil)
	}
	partner := h.as(t, "PARTNER", "courier")
	type page struct {
		Allocations struct {
			Edges    []struct{ Node struct{ ID, Status string } }
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	q := `query($after: String, $since: Time) { allocations(partnerId: "courier", first: 2, after: $after, since: $since) {
		edges { node { id status } } pageInfo { hasNextPage endCursor } } }`
	var p1, p2 page
	must(t, partner, q, nil, &p1)
	must(t, partner, q, map[string]any{"after": *p1.Allocations.PageInfo.EndCursor}, &p2)
	if len(p1.Allocations.Edges) != 2 || !p1.Allocations.PageInfo.HasNextPage || len(p2.Allocations.Edges) != 1 || p2.Allocations.PageInfo.HasNextPage {
		t.Errorf("pages = %+v then %+v, want 2 then 1", p1, p2)
	}
	var none page
	must(t, partner, q, map[string]any{"since": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}, &none)
	if len(none.Allocations.Edges) != 0 {
		t.Errorf("allocations since a minute ahead = %+v, want none", none)
	}
	var failed struct{ MarkDelivery struct{ Status string } }
	must(t, partner, `mutation($a: ID!) { markDelivery(allocationId: $a, delivered: false) { status } }`, map[string]any{"a": p1.Allocations.Edges[0].Node.ID}, &failed)
	if failed.MarkDelivery.Status != "FAILED" {
		t.Errorf("markDelivery = %+v", failed)
	}
	// A forged cursor naming another partner's list is refused.
	forged := base64.RawURLEncoding.EncodeToString([]byte("alloc:partner-x:" + p1.Allocations.Edges[0].Node.ID))
	if r := gql(t, partner, q, map[string]any{"after": forged}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("forged cursor: code %q, want BAD_USER_INPUT", r.code())
	}
}

// TestHealthGate: a round with a health gate refuses a person without a
// current health declaration.
func TestHealthGate(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "gated", name: "G", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, healthGate: true, opens: $o, closes: $c}) { healthGate } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	r := gql(t, admin, `mutation($p: ID!) { reserve(input: {roundId: "gated", residentId: $p}) { reservation { id } } }`, map[string]any{"p": ac.residents[0]})
	if r.code() != "FORBIDDEN" {
		t.Errorf("reserve without a health declaration: code %q, want FORBIDDEN (%+v)", r.code(), r.Errors)
	}
}
