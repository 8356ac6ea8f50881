package dispatch

import (
	"context"
	"fmt"
	"slices"

	"github.com/gridhub/gridhub/hub"
)

// MaxHealthRuleReason bounds the reason of a round's health rule, in
// characters.
const MaxHealthRuleReason = 200

// DefaultGateReason is the reason of the default rules of YELLOW and RED.
const DefaultGateReason = "nobody unwell queues at a pharmacy"

// GateFulfilments returns the fulfilments the default health rules let a
// resident whose health code has colour c take: GREEN either, YELLOW and
// RED DELIVERY only, so that nobody with symptoms, a fever, a contact or
// a home in a risk area queues at a pharmacy, and nobody is left without
// the supply either.
func GateFulfilments(c hub.Colour) []hub.Fulfilment {
	if c == hub.Green {
		return []hub.Fulfilment{hub.Pickup, hub.Delivery}
	}
	return []hub.Fulfilment{hub.Delivery}
}

// DefaultHealthRules returns the rules of a round with the health gate
// that offers the fulfilments offered and sets no rules of its own: for
// GREEN, YELLOW and RED in that order, GateFulfilments among offered, in
// offered's order (none: that colour may not reserve). YELLOW's and RED's
// reason is DefaultGateReason.
func DefaultHealthRules(offered []hub.Fulfilment) []hub.HealthRule {
	out := make([]hub.HealthRule, 0, 3)
	for _, c := range hub.Colours() {
		rule := hub.HealthRule{Colour: c, Fulfilments: []hub.Fulfilment{}}
		for _, f := range offered {
			if slices.Contains(GateFulfilments(c), f) {
				rule.Fulfilments = append(rule.Fulfilments, f)
			}
		}
		if c != hub.Green {
			rule.Reason = DefaultGateReason
		}
		out = append(out, rule)
	}
	return out
}

// offeredBy returns the fulfilments round r offers: PICKUP when it names
// none.
func offeredBy(r *hub.Round) []hub.Fulfilment {
	if len(r.Fulfilments) == 0 {
		return []hub.Fulfilment{hub.Pickup}
	}
	return r.Fulfilments
}

// GateRules returns what GREEN, YELLOW and RED may each do in round r, in
// that order: the round's own rules, or for a round stored without them
// DefaultHealthRules of what it offers. Nil for a round without the gate.
// The slices are the caller's.
func GateRules(r *hub.Round) []hub.HealthRule {
	if !r.HealthGate {
		return nil
	}
	if r.HealthRules != nil {
		return cloneHealthRules(r.HealthRules)
	}
	return DefaultHealthRules(offeredBy(r))
}

// gateRule returns the rule of colour c in round r (one with no
// fulfilments when the round holds none for c).
func gateRule(r *hub.Round, c hub.Colour) hub.HealthRule {
	rules := r.HealthRules
	if rules == nil {
		rules = DefaultHealthRules(offeredBy(r))
	}
	for _, rule := range rules {
		if rule.Colour == c {
			return rule
		}
	}
	return hub.HealthRule{Colour: c, Fulfilments: []hub.Fulfilment{}}
}

// GateDefault returns the fulfilment of a reservation that names none:
// the first the round offers that colour c may take (any colour in a
// round without the gate).
func GateDefault(r *hub.Round, c hub.Colour, offered []hub.Fulfilment) hub.Fulfilment {
	if r.HealthGate {
		allowed := gateRule(r, c).Fulfilments
		for _, f := range offered {
			if slices.Contains(allowed, f) {
				return f
			}
		}
	}
	return offered[0]
}

// cloneHealthRules returns a copy of rules, slices included; nil stays
// nil.
func cloneHealthRules(rules []hub.HealthRule) []hub.HealthRule {
	if rules == nil {
		return nil
	}
	out := make([]hub.HealthRule, len(rules))
	for i, rule := range rules {
		out[i] = rule
		out[i].Fulfilments = append([]hub.Fulfilment{}, rule.Fulfilments...)
	}
	return out
}

// roundHealthRules checks the health rules of a round to open, which
// offers offered, and returns the rules to store: nil without the gate;
// with it one rule per colour, GREEN, YELLOW and RED, each the input's
// when it gives one (its fulfilments in offered's order), else the
// default. Bad rules are EINVALID naming the field: rules without the
// gate, an unknown colour, a colour given twice, a fulfilment unknown,
// not offered or listed twice, a reason that is not fit text.
func roundHealthRules(gate bool, in []hub.HealthRule, offered []hub.Fulfilment) ([]hub.HealthRule, error) {
	if !gate {
		if len(in) > 0 {
			return nil, hub.Errorf(hub.EINVALID, "healthRules are the rules of the health gate: give healthGate: true with them")
		}
		return nil, nil
	}
	out := DefaultHealthRules(offered)
	given := map[hub.Colour]int{}
	for i, rule := range in {
		field := fmt.Sprintf("healthRules[%d]", i)
		if !rule.Colour.Valid() {
			return nil, hub.Errorf(hub.EINVALID, "%s.colour %q is not a colour: want GREEN, YELLOW or RED", field, hub.Clip(string(rule.Colour)))
		}
		if j, ok := given[rule.Colour]; ok {
			return nil, hub.Errorf(hub.EINVALID, "%s.colour: %s has a rule already, healthRules[%d]; give each colour at most once", field, rule.Colour, j)
		}
		given[rule.Colour] = i
		for j, f := range rule.Fulfilments {
			switch {
			case f != hub.Pickup && f != hub.Delivery:
				return nil, hub.Errorf(hub.EINVALID, "%s.fulfilments[%d]: unknown fulfilment %q: want PICKUP or DELIVERY", field, j, hub.Clip(string(f)))
			case !slices.Contains(offered, f):
				return nil, hub.Errorf(hub.EINVALID, "%s.fulfilments[%d]: the round offers %v, not %s", field, j, offered, f)
			case slices.Contains(rule.Fulfilments[:j], f):
				return nil, hub.Errorf(hub.EINVALID, "%s.fulfilments lists %s twice", field, f)
			}
		}
		if err := hub.CheckText(field+".reason", rule.Reason, MaxHealthRuleReason, false); err != nil {
			return nil, err
		}
		fs := []hub.Fulfilment{}
		for _, f := range offered {
			if slices.Contains(rule.Fulfilments, f) {
				fs = append(fs, f)
			}
		}
		out[rule.Colour.Rank()-1] = hub.HealthRule{Colour: rule.Colour, Fulfilments: fs, Reason: rule.Reason}
	}
	return out, nil
}

// gate applies round r's health gate to a resident asking for fulfilment
// ful ("" for the round's default) among offered: it returns the colour
// of their health code (GREEN in a round without the gate), or an
// EFORBIDDEN error saying why they may not reserve so: no current
// declaration, or a colour whose rule in the round does not allow the
// fulfilment or allows none (with the rule's reason).
func (e *Engine) gate(ctx context.Context, r *hub.Round, res *hub.Resident, ful hub.Fulfilment, offered []hub.Fulfilment) (hub.Colour, error) {
	if !r.HealthGate {
		return hub.Green, nil
	}
	if e.healthColour == nil {
		return "", fmt.Errorf("round %q has a health gate and the engine has no HealthColour", r.ID)
	}
	c, err := e.healthColour(ctx, res.ID)
	if err != nil {
		return "", fmt.Errorf("health declaration of %q: %w", res.ID, err)
	}
	if c == "" {
		return "", hub.Errorf(hub.EFORBIDDEN, "round %q requires a current health declaration, and resident %q has none: declare health first", r.ID, res.ID)
	}
	rule := gateRule(r, c)
	why := ""
	if rule.Reason != "" {
		why = ": " + rule.Reason
	}
	switch {
	case !slices.ContainsFunc(offered, func(f hub.Fulfilment) bool { return slices.Contains(rule.Fulfilments, f) }):
		return "", hub.Errorf(hub.EFORBIDDEN, "round %q has a health gate: a %s health code may take none of the round's fulfilments %v%s", r.ID, c, offered, why)
	case ful != "" && !slices.Contains(rule.Fulfilments, ful):
		return "", hub.Errorf(hub.EFORBIDDEN, "round %q has a health gate: a %s health code takes %v only, not %s%s", r.ID, c, rule.Fulfilments, ful, why)
	}
	return c, nil
}
