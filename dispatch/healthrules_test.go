package dispatch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// TestOpenRoundHealthRules: a round's health rules are checked when it
// opens, each refusal EINVALID naming the field (healthRules[i] and its
// part), and nothing is stored; good rules are stored in colour order,
// their fulfilments in the round's order, colours left out taking the
// default rule.
func TestOpenRoundHealthRules(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{HealthColour: func(context.Context, string) (hub.Colour, error) { return hub.Green, nil }})
	const (
		P, D    = hub.Pickup, hub.Delivery
		G, Y, R = hub.Green, hub.Yellow, hub.Red
	)
	both := []hub.Fulfilment{P, D}
	tests := []struct {
		name  string
		gate  bool
		offer []hub.Fulfilment
		give  []hub.HealthRule
		say   string // in the EINVALID message; "" for none
	}{
		{"rules without the gate", false, both, []hub.HealthRule{{Colour: G, Fulfilments: both}}, "healthRules are the rules of the health gate"},
		{"no colour", true, both, []hub.HealthRule{{Fulfilments: both}}, `healthRules[0].colour "" is not a colour`},
		{"unknown colour", true, both, []hub.HealthRule{{Colour: G}, {Colour: "BLUE"}}, `healthRules[1].colour "BLUE" is not a colour`},
		{"lower-case colour", true, both, []hub.HealthRule{{Colour: "red"}}, `healthRules[0].colour "red" is not a colour`},
		{"colour twice", true, both, []hub.HealthRule{{Colour: R}, {Colour: G}, {Colour: R, Fulfilments: both}}, "healthRules[2].colour: RED has a rule already, healthRules[0]"},
		{"green twice", true, both, []hub.HealthRule{{Colour: G}, {Colour: G}}, "healthRules[1].colour: GREEN has a rule already"},
		{"unknown fulfilment", true, both, []hub.HealthRule{{Colour: Y, Fulfilments: []hub.Fulfilment{D, "DRONE"}}}, `healthRules[0].fulfilments[1]: unknown fulfilment "DRONE"`},
		{"delivery not offered", true, []hub.Fulfilment{P}, []hub.HealthRule{{Colour: Y, Fulfilments: []hub.Fulfilment{D}}}, "healthRules[0].fulfilments[0]: the round offers [PICKUP], not DELIVERY"},
		{"pickup not offered", true, []hub.Fulfilment{D}, []hub.HealthRule{{Colour: G, Fulfilments: []hub.Fulfilment{D}}, {Colour: R, Fulfilments: []hub.Fulfilment{P}}}, "healthRules[1].fulfilments[0]: the round offers [DELIVERY], not PICKUP"},
		{"pickup not offered by default", true, nil, []hub.HealthRule{{Colour: G, Fulfilments: both}}, "healthRules[0].fulfilments[1]: the round offers [PICKUP], not DELIVERY"},
		{"fulfilment twice", true, both, []hub.HealthRule{{Colour: G, Fulfilments: []hub.Fulfilment{P, D, P}}}, "healthRules[0].fulfilments lists PICKUP twice"},
		{"reason too long", true, both, []hub.HealthRule{{Colour: R, Reason: strings.Repeat("x", dispatch.MaxHealthRuleReason+1)}}, "healthRules[0].reason is longer than 200 characters"},
		{"reason with a control character", true, both, []hub.HealthRule{{Colour: R, Reason: "call\n1999"}}, "healthRules[0].reason holds the control"},
		{"reason not UTF-8", true, both, []hub.HealthRule{{Colour: R, Reason: "\xff"}}, "healthRules[0].reason is not valid UTF-8"},
		{"ok reason at the limit", true, both, []hub.HealthRule{{Colour: R, Reason: strings.Repeat("界", dispatch.MaxHealthRuleReason)}}, ""},
		{"ok every colour", true, both, []hub.HealthRule{{Colour: Y}, {Colour: R}, {Colour: G}}, ""},
		{"ok none without the gate", false, both, nil, ""},
		{"ok empty list without the gate", false, both, []hub.HealthRule{}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "rules-" + string(rune('a'+i))
			_, err := c.eng.OpenRound(c.ctx(), defaults(dispatch.RoundInput{ID: id, HealthGate: tt.gate, Fulfilments: tt.offer, HealthRules: tt.give}))
			if tt.say == "" {
				if err != nil {
					t.Fatalf("OpenRound: %v", err)
				}
				return
			}
			wantCode(t, err, hub.EINVALID, tt.say)
			if _, err := c.store.Round(c.ctx(), id); hub.ErrorCode(err) != hub.ENOTFOUND {
				t.Errorf("a refused round was stored: %v", err)
			}
		})
	}

	must := roundOr(t)
	// Stored: colour order, the round's fulfilment order, defaults kept.
	r := c.round(dispatch.RoundInput{ID: "order", HealthGate: true, Fulfilments: []hub.Fulfilment{D, P}, HealthRules: []hub.HealthRule{
		{Colour: R, Fulfilments: []hub.Fulfilment{P}, Reason: "a separate counter"},
		{Colour: G, Fulfilments: []hub.Fulfilment{P, D}},
	}})
	want := []hub.HealthRule{
		{Colour: G, Fulfilments: []hub.Fulfilment{D, P}},
		{Colour: Y, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason},
		{Colour: R, Fulfilments: []hub.Fulfilment{P}, Reason: "a separate counter"},
	}
	for _, got := range []*hub.Round{r, must(c.eng.Round(c.ctx(), "order")), must(c.store.Round(c.ctx(), "order"))} {
		if !equalRules(got.HealthRules, want) {
			t.Errorf("rules %+v, want %+v", got.HealthRules, want)
		}
	}
	// Without the gate a round holds no rules, and GateRules is nil.
	if r := must(c.store.Round(c.ctx(), "rules-"+string(rune('a'+len(tests)-2)))); r.HealthRules != nil || dispatch.GateRules(r) != nil {
		t.Errorf("a round without the gate holds rules %+v", r.HealthRules)
	}
}

// TestGateRulesOfOldRounds: a gated round stored before rounds held their
// own rules (HealthRules nil) follows the default rules of what it offers,
// at the gate and in GateRules.
func TestGateRulesOfOldRounds(t *testing.T) {
	colours := map[string]hub.Colour{"g": hub.Green, "y": hub.Yellow, "r": hub.Red}
	c := newCity(t, dispatch.EngineOptions{HealthColour: func(ctx context.Context, id string) (hub.Colour, error) {
		return colours[id[:1]], nil
	}})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	if _, err := c.eng.UpsertPartner(c.ctx(), "courier", "Courier", []hub.Cell{home}); err != nil {
		t.Fatal(err)
	}
	both := []hub.Fulfilment{hub.Pickup, hub.Delivery}
	c.round(dispatch.RoundInput{ID: "old", HealthGate: true, Fulfilments: both, HealthRules: []hub.HealthRule{{Colour: hub.Red, Fulfilments: both}}})
	// The round as an older hub stored it: no rules.
	must := roundOr(t)
	old := must(c.store.Round(c.ctx(), "old"))
	old.HealthRules = nil
	if err := c.store.UpsertRound(c.ctx(), old); err != nil {
		t.Fatal(err)
	}
	c.restart()
	r := must(c.eng.Round(c.ctx(), "old"))
	if r.HealthRules != nil {
		t.Fatalf("old round has rules %+v", r.HealthRules)
	}
	if got, want := dispatch.GateRules(r), dispatch.DefaultHealthRules(both); !equalRules(got, want) {
		t.Errorf("GateRules of an old round %+v, want the default %+v", got, want)
	}
	tests := []struct {
		who  string
		give hub.Fulfilment
		want string // fulfilment, or the error code
	}{
		{"g", hub.Pickup, "PICKUP"},
		{"g", "", "PICKUP"},
		{"y", hub.Pickup, hub.EFORBIDDEN},
		{"y", "", "DELIVERY"},
		{"r", hub.Pickup, hub.EFORBIDDEN},
		{"r", hub.Delivery, "DELIVERY"},
	}
	for i, tt := range tests {
		res := c.resident(tt.who+string(rune('a'+i)), home, "", "")
		out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "old", Resident: res, Fulfilment: tt.give})
		if got := hub.ErrorCode(err); err != nil && got != tt.want || err == nil && string(out.Reservation.Fulfilment) != tt.want {
			t.Errorf("%s asking %q in an old round: %v %v, want %s", tt.who, tt.give, out, err, tt.want)
		}
	}
}

// roundOr returns the round, failing t on an error.
func roundOr(t *testing.T) func(*hub.Round, error) *hub.Round {
	return func(r *hub.Round, err error) *hub.Round {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func equalRules(a, b []hub.HealthRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Colour != b[i].Colour || a[i].Reason != b[i].Reason || strings.Join(fuls(a[i].Fulfilments), ",") != strings.Join(fuls(b[i].Fulfilments), ",") {
			return false
		}
	}
	return true
}

func fuls(fs []hub.Fulfilment) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
