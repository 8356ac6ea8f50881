package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// districtDashboard is one districtUpdates subscriber of TestSharedDistrictUpdates.
type districtDashboard struct {
	group  string // its variables: members of one group see the same frames
	c      *hubWS
	id     string
	legacy bool
	frames []string // the payloads of its frames, in the order received
}

// districtUpdatesDoc is the dashboards' operation.
const districtUpdatesDoc = `subscription($d: ID!, $r: Int!, $s: SKU) { districtUpdates(districtId: $d, resolution: $r, sku: $s) { cell { id } residents pharmacies stock { sku quantity } riskLevel } }`

// TestSharedDistrictUpdates runs district dashboards' districtUpdates on
// a hub that shares subscriptions and on one that does not, with the same
// city and the same events. Sharing: dashboards of one district with the
// same variables share one execution (gridhub_shared_executions), another
// resolution or supply makes another; a DISTRICT token of another
// district and a COMMITTEE token are refused as before and never join.
// Every member of a group receives every update exactly once, in order
// (an event that changes several cells sends one message per cell, in
// cell order), in its own protocol's frame with its own id; and the
// frames are those the unshared hub sends, one for one.
func TestSharedDistrictUpdates(t *testing.T) {
	shared := runDistrictDashboards(t, true)
	unshared := runDistrictDashboards(t, false)
	for group, want := range unshared {
		if got := shared[group]; !slices.Equal(got, want) {
			t.Errorf("group %s: shared frames differ from unshared ones:\nshared   %q\nunshared %q", group, got, want)
		}
	}
	if len(shared) != len(unshared) {
		t.Errorf("%d groups shared, %d unshared", len(shared), len(unshared))
	}
}

// runDistrictDashboards subscribes the dashboards, sends the events, and
// returns each group's frames (the same for every member of the group).
func runDistrictDashboards(t *testing.T, share bool) map[string][]string {
	t.Helper()
	h := startHub(t, t.TempDir(), fmt.Sprintf("--share-subscriptions=%t", share))
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	var cell struct{ CellAt struct{ ID string } }
	must(t, admin, `{ cellAt(lat: 25.045, lng: 121.515) { id } }`, nil, &cell) // the first pharmacy's
	base := gauge(t, h.url, "gridhub_subscriptions")

	n := 0
	dial := func(role, scope string, legacy bool, vars map[string]any) (*hubWS, string) {
		protocol, start := "graphql-transport-ws", "subscribe"
		if legacy {
			protocol, start = "graphql-ws", "start"
		}
		c := mustDialWS(t, h, protocol)
		c.init(map[string]any{"Authorization": "Bearer " + mintToken(t, h.dir, role, scope)})
		n++
		id := fmt.Sprint("dash-", n)
		c.send(start, id, map[string]any{"query": districtUpdatesDoc, "variables": vars})
		return c, id
	}
	groups := []struct {
		name    string
		members int
		vars    map[string]any
	}{
		{"res9", 5, map[string]any{"d": ac.districts[0], "r": 9}},
		{"res8", 3, map[string]any{"d": ac.districts[0], "r": 8}},
		{"res9-adult", 2, map[string]any{"d": ac.districts[0], "r": 9, "s": "MASK_ADULT"}},
	}
	var dashboards []*districtDashboard
	for _, g := range groups {
		for i := range g.members {
			d := &districtDashboard{group: g.name, legacy: i%2 == 1}
			d.c, d.id = dial("DISTRICT", ac.districts[0], d.legacy, g.vars)
			dashboards = append(dashboards, d)
		}
	}
	// Refused, as without sharing: another district's token, a committee's.
	refused := []struct {
		role, scope string
		legacy      bool
	}{
		{"DISTRICT", ac.districts[1], false},
		{"DISTRICT", ac.districts[1], true},
		{"COMMITTEE", ac.committees[0], false},
	}
	for _, r := range refused {
		c, id := dial(r.role, r.scope, r.legacy, groups[0].vars)
		msg := c.expect(map[bool]string{false: "next", true: "data"}[r.legacy])
		var resp gqlResponse
		if err := json.Unmarshal(msg.Payload, &resp); err != nil || msg.ID != id || resp.code() != "FORBIDDEN" {
			t.Errorf("share=%t: %s %s on district %s: %s %s, want FORBIDDEN", share, r.role, r.scope, ac.districts[0], msg.ID, msg.Payload)
		}
	}
	// Every dashboard listens before the first event.
	if share {
		waitGauge(t, h.url, "gridhub_shared_subscribers", len(dashboards))
		waitGauge(t, h.url, "gridhub_shared_executions", len(groups))
	} else {
		waitGauge(t, h.url, "gridhub_subscriptions", base+len(dashboards))
	}

	// The risk area's cells: the pharmacy's and its ring, all in the
	// district, and their parents at resolution 8.
	var disk struct {
		Cell struct {
			Neighbors []struct {
				ID     string
				Parent struct{ ID string }
			}
		}
	}
	must(t, admin, `query($c: H3Cell!) { cell(id: $c) { neighbors(k: 1) { id parent(resolution: 8) { id } } } }`, map[string]any{"c": cell.CellAt.ID}, &disk)
	parents := map[string]bool{}
	for _, n := range disk.Cell.Neighbors {
		parents[n.Parent.ID] = true
	}

	// One cell's stock; a risk area over the pharmacy's cell and its ring
	// (several cells, one message each); child masks, which the
	// MASK_ADULT dashboards do not follow; adult masks again. Each step's
	// frames are read before the next step (an update carries the cell's
	// aggregates when it is sent, which a later event would change).
	restock := func(sku string, q int) func() {
		return func() {
			must(t, admin, `mutation($p: ID!, $s: SKU!, $q: Int!) { restock(pharmacyId: $p, sku: $s, quantity: $q) { id } }`,
				map[string]any{"p": ac.pharmacies[0], "s": sku, "q": q}, nil)
		}
	}
	steps := []struct {
		do   func()
		want map[string]int // frames per group
	}{
		{restock("MASK_ADULT", 7), map[string]int{"res9": 1, "res8": 1, "res9-adult": 1}},
		{func() {
			must(t, admin, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "test") { id } }`, map[string]any{"c": cell.CellAt.ID}, nil)
		}, map[string]int{"res9": len(disk.Cell.Neighbors), "res8": len(parents), "res9-adult": len(disk.Cell.Neighbors)}},
		{restock("MASK_CHILD", 5), map[string]int{"res9": 1, "res8": 1, "res9-adult": 0}},
		{restock("MASK_ADULT", 3), map[string]int{"res9": 1, "res8": 1, "res9-adult": 1}},
	}
	for _, st := range steps {
		st.do()
		for _, d := range dashboards {
			typ := map[bool]string{false: "next", true: "data"}[d.legacy]
			for range st.want[d.group] {
				msg := d.c.expect(typ)
				var r gqlResponse
				if err := json.Unmarshal(msg.Payload, &r); err != nil || len(r.Errors) > 0 || msg.ID != d.id {
					t.Fatalf("share=%t %s %s: %s %s", share, d.group, d.id, msg.ID, msg.Payload)
				}
				d.frames = append(d.frames, string(r.Data))
			}
		}
	}
	out := map[string][]string{}
	for _, d := range dashboards {
		want, ok := out[d.group]
		if !ok {
			out[d.group] = d.frames
			continue
		}
		if !slices.Equal(d.frames, want) {
			t.Errorf("share=%t: %s's members got different frames:\n%q\n%q", share, d.group, d.frames, want)
		}
	}
	// What each group must have seen, whatever the transport: the first
	// restock's cell, the risk area's cells in order (several at
	// resolution 9), no child masks for MASK_ADULT, the last restock.
	for group, frames := range out {
		var cells []string
		risk := 0
		for _, f := range frames {
			var u struct {
				DistrictUpdates struct {
					Cell      struct{ ID string }
					RiskLevel *string
					Stock     []struct{ SKU string }
				}
			}
			if err := json.Unmarshal([]byte(f), &u); err != nil {
				t.Fatal(err)
			}
			cells = append(cells, u.DistrictUpdates.Cell.ID)
			if u.DistrictUpdates.RiskLevel != nil {
				risk++
			}
			for _, s := range u.DistrictUpdates.Stock {
				if group == "res9-adult" && s.SKU != "MASK_ADULT" {
					t.Errorf("share=%t: %s got %s: %s", share, group, s.SKU, f)
				}
			}
		}
		if !strings.Contains(frames[0], `"quantity":107`) || !strings.Contains(frames[len(frames)-1], `"quantity":110`) {
			t.Errorf("share=%t: %s's frames %q, want the restock to 107 first and to 110 last", share, group, frames)
		}
		if group != "res8" && risk < 2 {
			t.Errorf("share=%t: %s saw %d cells at risk, want the ring: %q", share, group, risk, frames)
		}
		if group != "res8" {
			// The risk area's frames: one per cell of the ring (7), in
			// cell order, after the first restock and before the next.
			var riskCells []string
			for i, f := range frames {
				if strings.Contains(f, `"quantity":5`) || strings.Contains(f, `"quantity":110`) {
					break
				}
				if strings.Contains(f, `"riskLevel":"`) {
					riskCells = append(riskCells, cells[i])
				}
			}
			if len(riskCells) != 7 || !slices.IsSorted(riskCells) || len(slices.Compact(slices.Clone(riskCells))) != 7 {
				t.Errorf("share=%t: %s: the risk area's cells came as %q, want the 7 of the ring in cell order", share, group, riskCells)
			}
		}
	}
	for _, d := range dashboards {
		_ = d.c.conn.Close()
	}
	if share {
		waitGauge(t, h.url, "gridhub_shared_executions", 0)
		waitGauge(t, h.url, "gridhub_shared_subscribers", 0)
	}
	return out
}
