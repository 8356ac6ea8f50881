package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/privacy"
)

// registerAt registers a resident of committee C1 of seedAccessCity at
// its pharmacy's spot and returns the ID.
func registerAt(t *testing.T, admin client, letter byte, n int) string {
	t.Helper()
	var r struct{ RegisterResident struct{ ID string } }
	must(t, admin, `mutation($n: String!, $l: LatLngInput!) { registerResident(input: {name: "Chen Mei", idNumber: $n, phone: "0911222333", location: $l, committeeCode: "C1"}) { id } }`,
		map[string]any{"n": privacy.ExampleTaiwanID(letter, n), "l": map[string]float64{"lat": 25.045, "lng": 121.515}}, &r)
	return r.RegisterResident.ID
}

// TestHealthGateColoursEndToEnd: through GraphQL on the real program, a
// round with the health gate says what each colour may do (healthRules),
// and residents declared GREEN, YELLOW and RED (by the hub's own rules)
// or not at all reserve PICKUP, DELIVERY or neither: GREEN takes either,
// YELLOW and RED delivery only (the default for them), no declaration is
// FORBIDDEN.
func TestHealthGateColoursEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	seedAccessCity(t, admin)
	must(t, admin, `mutation($a: AreaInput!) { upsertPartner(input: {id: "courier-g", name: "G", area: $a}) { id } }`,
		map[string]any{"a": map[string]any{"polygon": taipeiSquare}}, nil)

	declare := map[string]string{
		"GREEN":  `{temperature: 36.6}`,
		"YELLOW": `{temperature: 37.6}`,
		"RED":    `{temperature: 39.0, symptoms: ["cough"]}`,
	}
	who := map[string][]string{} // colour -> residents, one per round below
	n := 0
	for _, colour := range []string{"GREEN", "YELLOW", "RED", "NONE"} {
		for range 3 {
			n++
			id := registerAt(t, admin, 'G', n)
			who[colour] = append(who[colour], id)
			if colour == "NONE" {
				continue
			}
			in := strings.Replace(declare[colour], "{", `{residentId: "`+id+`", `, 1)
			var d struct {
				DeclareHealth struct{ Declaration struct{ Colour string } }
			}
			must(t, h.as(t, "RESIDENT", id), `mutation { declareHealth(input: `+in+`) { declaration { colour } } }`, nil, &d)
			if d.DeclareHealth.Declaration.Colour != colour {
				t.Fatalf("declared %s, got %s", declare[colour], d.DeclareHealth.Declaration.Colour)
			}
		}
	}
	now := time.Now().UTC()
	window := map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}
	rounds := []string{"pickup", "delivery", "default"}
	for _, id := range rounds {
		window["id"] = "gate-" + id
		must(t, admin, `mutation($o: Time!, $c: Time!, $id: ID!) { openRound(input: {id: $id, name: "Gated", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, fulfilments: [PICKUP, DELIVERY], healthGate: true, opens: $o, closes: $c}) { id } }`, window, nil)
	}
	var rules struct {
		Round struct {
			HealthGate  bool
			HealthRules []struct {
				Colour      string
				Fulfilments []string
			}
		}
	}
	must(t, admin, `{ round(id: "gate-pickup") { healthGate healthRules { colour fulfilments } } }`, nil, &rules)
	got := fmt.Sprint(rules.Round.HealthRules)
	if want := "[{GREEN [PICKUP DELIVERY]} {YELLOW [DELIVERY]} {RED [DELIVERY]}]"; !rules.Round.HealthGate || got != want {
		t.Errorf("healthRules %s, want %s", got, want)
	}

	want := map[string]map[string]string{ // colour -> round -> fulfilment or error code
		"GREEN":  {"pickup": "PICKUP", "delivery": "DELIVERY", "default": "PICKUP"},
		"YELLOW": {"pickup": "FORBIDDEN", "delivery": "DELIVERY", "default": "DELIVERY"},
		"RED":    {"pickup": "FORBIDDEN", "delivery": "DELIVERY", "default": "DELIVERY"},
		"NONE":   {"pickup": "FORBIDDEN", "delivery": "FORBIDDEN", "default": "FORBIDDEN"},
	}
	for colour, byRound := range want {
		for i, round := range rounds {
			id := who[colour][i]
			ful := ""
			if round != "default" {
				ful = ", fulfilment: " + strings.ToUpper(round)
			}
			q := `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p` + ful + `}) { reservation { status fulfilment } allocation { partnerId } } }`
			r := gql(t, h.as(t, "RESIDENT", id), q, map[string]any{"r": "gate-" + round, "p": id})
			if code := r.code(); code != "" {
				if code != byRound[round] {
					t.Errorf("%s in gate-%s: %s %v, want %s", colour, round, code, r.Errors, byRound[round])
				} else if colour != "NONE" && !strings.Contains(r.Errors[0].Message, "a "+colour+" health code takes [DELIVERY] only") {
					t.Errorf("%s in gate-%s: the refusal does not say why: %q", colour, round, r.Errors[0].Message)
				}
				continue
			}
			var res struct {
				Reserve struct {
					Reservation struct{ Status, Fulfilment string }
					Allocation  *struct{ PartnerID *string }
				}
			}
			if err := json.Unmarshal(r.Data, &res); err != nil {
				t.Fatal(err)
			}
			rv := res.Reserve
			if rv.Reservation.Fulfilment != byRound[round] || rv.Reservation.Status != "ALLOCATED" || rv.Allocation == nil ||
				(rv.Allocation.PartnerID != nil) != (byRound[round] == "DELIVERY") {
				t.Errorf("%s in gate-%s: %+v, want %s ALLOCATED", colour, round, rv, byRound[round])
			}
		}
	}
}

// TestReturnedStockEndToEnd: through GraphQL, a cancellation's stock goes
// to the earliest waiting reservation, not to the next newcomer, who
// waits behind the one still waiting.
func TestReturnedStockEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	seedAccessCity(t, admin)
	now := time.Now().UTC()
	// Pharmacy p1 holds 100: two people at 50 each take it all.
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "q", name: "Queue", sku: MASK_ADULT, perPerson: 50, mode: FIRST_COME, opens: $o, closes: $c, maxK: 1}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	reserve := func(id string) (resvID, status string) {
		t.Helper()
		var r struct {
			Reserve struct{ Reservation struct{ ID, Status string } }
		}
		must(t, admin, `mutation($p: ID!) { reserve(input: {roundId: "q", residentId: $p}) { reservation { id status } } }`, map[string]any{"p": id}, &r)
		return r.Reserve.Reservation.ID, r.Reserve.Reservation.Status
	}
	status := func(resvID string) string {
		t.Helper()
		var r struct{ Reservation struct{ Status string } }
		must(t, admin, `query($id: ID!) { reservation(id: $id) { status } }`, map[string]any{"id": resvID}, &r)
		return r.Reservation.Status
	}
	var holders, waiting []string
	for i := range 2 {
		id, st := reserve(registerAt(t, admin, 'H', i+1))
		if st != "ALLOCATED" {
			t.Fatalf("holder %d: %s", i, st)
		}
		holders = append(holders, id)
	}
	for i := range 3 {
		id, st := reserve(registerAt(t, admin, 'W', i+1))
		if st != "WAITING" {
			t.Fatalf("waiting %d: %s", i, st)
		}
		waiting = append(waiting, id)
	}
	for i, holder := range holders {
		var c struct{ CancelReservation struct{ Status string } }
		must(t, admin, `mutation($id: ID!) { cancelReservation(id: $id) { status } }`, map[string]any{"id": holder}, &c)
		if c.CancelReservation.Status != "CANCELLED" {
			t.Fatalf("cancel: %s", c.CancelReservation.Status)
		}
		got := []string{status(waiting[0]), status(waiting[1]), status(waiting[2])}
		want := []string{"ALLOCATED", "WAITING", "WAITING"}
		if i == 1 {
			want[1] = "ALLOCATED"
		}
		if !slices.Equal(got, want) {
			t.Errorf("after %d cancelled: waiting list %v, want %v (earliest first)", i+1, got, want)
		}
		if _, st := reserve(registerAt(t, admin, 'N', i+1)); st != "WAITING" {
			t.Errorf("a newcomer after %d cancelled is %s, want WAITING behind the list", i+1, st)
		}
	}
}
