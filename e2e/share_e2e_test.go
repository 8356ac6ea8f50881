package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// shareMember is one subscription of TestSharedSubscriptions.
type shareMember struct {
	name     string
	c        *hubWS
	id       string
	legacy   bool
	wantCode string // the error it is refused with; "" when it subscribes
	root     string // the root field its events carry
}

// TestSharedSubscriptions subscribes the real hub's callers over both
// WebSocket protocols: subscribers with the same operation, variables,
// role and scope share one execution (gridhub_shared_executions and
// gridhub_shared_subscribers), others do not, a subscriber refused by the
// policy never joins, one that selects a field audited per reader runs
// alone, every member gets the restock in its own protocol's frame with
// its own id, and when they leave the executions end.
func TestSharedSubscriptions(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	base := gauge(t, h.url, "gridhub_subscriptions")

	const stock = `subscription($d: ID!) { stockChanged(districtId: $d) { seq sku delta reason gap pharmacy { id phone } } }`
	const alerts = `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq quantity ring gap pharmacy { id } } }`
	const audited = `subscription($d: ID!) { stockChanged(districtId: $d) { seq pharmacy { district { committees { residents(purpose: "test") { edges { node { id } } } } } } } }`
	subscribe := func(name, role, scope, query string, vars map[string]any, legacy bool, i int) *shareMember {
		protocol, start := "graphql-transport-ws", "subscribe"
		if legacy {
			protocol, start = "graphql-ws", "start"
		}
		c := mustDialWS(t, h, protocol)
		t.Cleanup(func() { _ = c.conn.Close() })
		c.init(map[string]any{"Authorization": "Bearer " + mintToken(t, h.dir, role, scope)})
		m := &shareMember{name: name, c: c, id: fmt.Sprint("op-", i), legacy: legacy}
		c.send(start, m.id, map[string]any{"query": query, "variables": vars})
		return m
	}
	var members []*shareMember
	add := func(m *shareMember, code, root string) {
		m.wantCode, m.root = code, root
		members = append(members, m)
	}
	// Six district dashboards, each with a token of its own: one execution.
	for i := range 6 {
		add(subscribe("district", "DISTRICT", ac.districts[0], stock, map[string]any{"d": ac.districts[0]}, i%2 == 1, i), "", "stockChanged")
	}
	// Two committees' alerts (ring is the committee's): one execution.
	for i := range 2 {
		add(subscribe("committee", "COMMITTEE", ac.committees[0], alerts, map[string]any{"c": ac.committees[0]}, i == 1, 10+i), "", "restockAlerts")
	}
	// ADMIN, with the same document and variables as the districts: its own.
	add(subscribe("admin", "ADMIN", "", stock, map[string]any{"d": ac.districts[0]}, false, 20), "", "stockChanged")
	// Refused: another district's token, a committee's; never joins.
	add(subscribe("other district", "DISTRICT", ac.districts[1], stock, map[string]any{"d": ac.districts[0]}, false, 30), "FORBIDDEN", "")
	add(subscribe("committee on stock", "COMMITTEE", ac.committees[0], stock, map[string]any{"d": ac.districts[0]}, true, 31), "FORBIDDEN", "")
	// An audited read: runs alone.
	add(subscribe("audited", "ADMIN", "", audited, map[string]any{"d": ac.districts[0]}, false, 40), "", "stockChanged")

	for _, m := range members {
		if m.wantCode == "" {
			continue
		}
		msg := m.c.expect(map[bool]string{false: "next", true: "data"}[m.legacy])
		var r gqlResponse
		if err := json.Unmarshal(msg.Payload, &r); err != nil || r.code() != m.wantCode {
			t.Errorf("%s: got %s, want %s", m.name, msg.Payload, m.wantCode)
		}
	}
	// districts (6), committees (2), ADMIN (1): three executions; the
	// audited one holds a broker subscription of its own.
	waitGauge(t, h.url, "gridhub_shared_subscribers", 9)
	waitGauge(t, h.url, "gridhub_shared_executions", 3)
	waitGauge(t, h.url, "gridhub_subscriptions", base+4)

	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 7) { id } }`, map[string]any{"p": ac.pharmacies[0]}, nil)
	for _, m := range members {
		if m.wantCode != "" {
			continue
		}
		typ := map[bool]string{false: "next", true: "data"}[m.legacy]
		msg := m.c.expect(typ)
		if msg.ID != m.id {
			t.Errorf("%s: %s for id %q, want %q", m.name, typ, msg.ID, m.id)
		}
		var r struct {
			Data   map[string]map[string]any
			Errors []any
		}
		if err := json.Unmarshal(msg.Payload, &r); err != nil || len(r.Errors) > 0 || r.Data[m.root] == nil {
			t.Fatalf("%s: %s (%v)", m.name, msg.Payload, err)
		}
		got := r.Data[m.root]
		switch m.root {
		case "stockChanged":
			if got["seq"] == nil || (got["delta"] != nil && got["delta"] != 7.0) {
				t.Errorf("%s: %s", m.name, msg.Payload)
			}
		case "restockAlerts":
			if got["quantity"] != 7.0 || got["ring"] != 0.0 || got["gap"] != 0.0 {
				t.Errorf("%s: %s", m.name, msg.Payload)
			}
		}
	}
	if n := gauge(t, h.url, "gridhub_shared_events_total"); n < 2 {
		t.Errorf("gridhub_shared_events_total %d, want at least the stock change and the alert", n)
	}
	if audit := gql(t, admin, `{ auditLog(first: 100) { entries { action } } }`, nil); !strings.Contains(string(audit.Data), "committee.residents") {
		t.Errorf("the audited subscription's read was not audited: %s", audit.Data)
	}

	// The first district leaves: the others still get the next restock.
	members[0].c.send("complete", members[0].id, nil)
	waitGauge(t, h.url, "gridhub_shared_subscribers", 8)
	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 8) { id } }`, map[string]any{"p": ac.pharmacies[0]}, nil)
	for _, m := range members[1:6] {
		msg := m.c.expect(map[bool]string{false: "next", true: "data"}[m.legacy])
		if msg.ID != m.id || !strings.Contains(string(msg.Payload), `"delta":8`) {
			t.Errorf("%s after the first left: %s %s", m.name, msg.ID, msg.Payload)
		}
	}
	for _, m := range members {
		_ = m.c.conn.Close()
	}
	waitGauge(t, h.url, "gridhub_shared_executions", 0)
	waitGauge(t, h.url, "gridhub_shared_subscribers", 0)
	waitGauge(t, h.url, "gridhub_subscriptions", base)
}
