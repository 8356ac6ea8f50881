package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
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

// TestHealthGateColoursEndToEnd: through GraphQL on the real program,
// rounds with the health gate say what each colour may do (healthRules),
// by default or by the rules they were opened with, and residents declared
// GREEN, YELLOW and RED (by the hub's own rules) or not at all reserve
// PICKUP, DELIVERY or neither named in each: with the default rules GREEN
// takes either, YELLOW and RED delivery only; with the round's own rules
// (GREEN delivery only, YELLOW either, RED refused with a reason) each
// colour takes what they allow; no declaration is FORBIDDEN. Bad rules are
// BAD_USER_INPUT naming the field.
func TestHealthGateColoursEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	seedAccessCity(t, admin)
	must(t, admin, `mutation($a: AreaInput!) { upsertPartner(input: {id: "courier-g", name: "G", area: $a}) { id } }`,
		map[string]any{"a": map[string]any{"polygon": taipeiSquare}}, nil)

	const refused = "RED codes: the committee brings the supply, call 1999"
	ruleSets := map[string]string{ // rule set -> healthRules of openRound ("": left out)
		"default": "",
		"own": `healthRules: [{colour: RED, fulfilments: [], reason: "` + refused + `"},
			{colour: GREEN, fulfilments: [DELIVERY]}, {colour: YELLOW, fulfilments: [DELIVERY, PICKUP]}]`,
	}
	asks := []string{"pickup", "delivery", "default"} // the fulfilment named in reserve
	declare := map[string]string{
		"GREEN":  `{temperature: 36.6}`,
		"YELLOW": `{temperature: 37.6}`,
		"RED":    `{temperature: 39.0, symptoms: ["cough"]}`,
	}
	who := map[string][]string{} // colour -> residents, one per round below
	n := 0
	for _, colour := range []string{"GREEN", "YELLOW", "RED", "NONE"} {
		for range len(ruleSets) * len(asks) {
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
	for set, rules := range ruleSets {
		for _, ask := range asks {
			window["id"] = "gate-" + set + "-" + ask
			must(t, admin, `mutation($o: Time!, $c: Time!, $id: ID!) { openRound(input: {id: $id, name: "Gated", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, fulfilments: [PICKUP, DELIVERY], healthGate: true, `+rules+` opens: $o, closes: $c}) { id } }`, window, nil)
		}
	}
	wantRules := map[string]string{
		"default": "[{GREEN [PICKUP DELIVERY] <nil>} {YELLOW [DELIVERY] nobody unwell queues at a pharmacy} {RED [DELIVERY] nobody unwell queues at a pharmacy}]",
		"own":     "[{GREEN [DELIVERY] <nil>} {YELLOW [PICKUP DELIVERY] <nil>} {RED [] " + refused + "}]",
	}
	for set, want := range wantRules {
		var rules struct {
			Round struct {
				HealthGate  bool
				HealthRules []struct {
					Colour      string
					Fulfilments []string
					Reason      *string
				}
			}
		}
		must(t, admin, `{ round(id: "gate-`+set+`-pickup") { healthGate healthRules { colour fulfilments reason } } }`, nil, &rules)
		var got []string
		for _, r := range rules.Round.HealthRules {
			reason := "<nil>"
			if r.Reason != nil {
				reason = *r.Reason
			}
			got = append(got, fmt.Sprintf("{%s %v %s}", r.Colour, r.Fulfilments, reason))
		}
		if g := "[" + strings.Join(got, " ") + "]"; !rules.Round.HealthGate || g != want {
			t.Errorf("healthRules of the %s rules %s, want %s", set, g, want)
		}
	}

	// colour -> rule set -> asked -> fulfilment, or error code and what
	// the message says.
	const (
		noDecl = "FORBIDDEN current health declaration"
		unwell = ": nobody unwell queues at a pharmacy"
	)
	redOut := "FORBIDDEN a RED health code may take none of the round's fulfilments [PICKUP DELIVERY]: " + refused
	want := map[string]map[string]map[string]string{
		"GREEN": {
			"default": {"pickup": "PICKUP", "delivery": "DELIVERY", "default": "PICKUP"},
			"own":     {"pickup": "FORBIDDEN a GREEN health code takes [DELIVERY] only, not PICKUP", "delivery": "DELIVERY", "default": "DELIVERY"},
		},
		"YELLOW": {
			"default": {"pickup": "FORBIDDEN a YELLOW health code takes [DELIVERY] only, not PICKUP" + unwell, "delivery": "DELIVERY", "default": "DELIVERY"},
			"own":     {"pickup": "PICKUP", "delivery": "DELIVERY", "default": "PICKUP"},
		},
		"RED": {
			"default": {"pickup": "FORBIDDEN a RED health code takes [DELIVERY] only, not PICKUP" + unwell, "delivery": "DELIVERY", "default": "DELIVERY"},
			"own":     {"pickup": redOut, "delivery": redOut, "default": redOut},
		},
		"NONE": {
			"default": {"pickup": noDecl, "delivery": noDecl, "default": noDecl},
			"own":     {"pickup": noDecl, "delivery": noDecl, "default": noDecl},
		},
	}
	for colour, bySet := range want {
		i := 0
		for _, set := range slices.Sorted(maps.Keys(bySet)) {
			for _, ask := range asks {
				id := who[colour][i]
				i++
				ful := ""
				if ask != "default" {
					ful = ", fulfilment: " + strings.ToUpper(ask)
				}
				round := "gate-" + set + "-" + ask
				q := `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p` + ful + `}) { reservation { status fulfilment } allocation { partnerId } } }`
				r := gql(t, h.as(t, "RESIDENT", id), q, map[string]any{"r": round, "p": id})
				w := bySet[set][ask]
				if code := r.code(); code != "" {
					wantCode, say, _ := strings.Cut(w, " ")
					if code != wantCode || !strings.Contains(r.Errors[0].Message, say) {
						t.Errorf("%s in %s: %s %q, want %s saying %q", colour, round, code, r.Errors[0].Message, wantCode, say)
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
				if rv.Reservation.Fulfilment != w || rv.Reservation.Status != "ALLOCATED" || rv.Allocation == nil ||
					(rv.Allocation.PartnerID != nil) != (w == "DELIVERY") {
					t.Errorf("%s in %s: %+v, want %s ALLOCATED", colour, round, rv, w)
				}
			}
		}
	}

	// Bad rules: BAD_USER_INPUT naming the field, and no round.
	bad := []struct {
		give string // openRound's input beyond the common fields
		say  string
	}{
		{`healthGate: true, healthRules: [{colour: RED, fulfilments: []}, {colour: RED, fulfilments: [DELIVERY]}]`, "healthRules[1].colour: RED has a rule already"},
		{`fulfilments: [PICKUP], healthGate: true, healthRules: [{colour: YELLOW, fulfilments: [DELIVERY]}]`, "healthRules[0].fulfilments[0]: the round offers [PICKUP], not DELIVERY"},
		{`healthGate: true, healthRules: [{colour: GREEN, fulfilments: [PICKUP, PICKUP]}]`, "healthRules[0].fulfilments lists PICKUP twice"},
		{`healthRules: [{colour: GREEN, fulfilments: [PICKUP]}]`, "healthRules are the rules of the health gate"},
		{`healthGate: true, healthRules: [{colour: RED, fulfilments: [], reason: "` + strings.Repeat("x", 201) + `"}]`, "healthRules[0].reason is longer than 200 characters"},
	}
	for i, tt := range bad {
		id := fmt.Sprintf("gate-bad-%d", i)
		r := gql(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "`+id+`", name: "Bad", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, `+tt.give+`, opens: $o, closes: $c}) { id } }`,
			map[string]any{"o": window["o"], "c": window["c"]})
		if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, tt.say) {
			t.Errorf("openRound with %s: %+v, want BAD_USER_INPUT saying %q", tt.give, r.Errors, tt.say)
		}
		if r := gql(t, admin, `{ round(id: "`+id+`") { id } }`, nil); r.code() != "NOT_FOUND" {
			t.Errorf("round %s after a refused openRound: %s %+v", id, r.code(), r.Errors)
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
