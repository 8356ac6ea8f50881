package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/privacy"
)

// gauge reads a gauge without labels from a hub's /metrics.
func gauge(t *testing.T, url, name string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s is %q", name, v)
			}
			return n
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// wsSubscribe starts a subscription over a graphql-transport-ws connection
// signed in with token.
func wsSubscribe(t *testing.T, h *hubProc, token, id, query string, vars map[string]any) *hubWS {
	t.Helper()
	c := mustDialWS(t, h, "graphql-transport-ws")
	c.init(map[string]any{"Authorization": "Bearer " + token})
	c.send("subscribe", id, map[string]any{"query": query, "variables": vars})
	return c
}

// nextData reads the next event of a subscription and decodes its data.
func (c *hubWS) nextData(v any) {
	c.t.Helper()
	msg := c.expect("next")
	var r gqlResponse
	if err := json.Unmarshal(msg.Payload, &r); err != nil || len(r.Errors) > 0 {
		c.t.Fatalf("event %s: %v %+v", msg.Payload, err, r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		c.t.Fatalf("decode %s: %v", r.Data, err)
	}
}

type truthAlert struct {
	Pharmacy       struct{ ID string }
	SKU            string
	Quantity       int
	StockAfter     int
	WaitingServed  int
	ToWaitingList  int
	LeftForWalkIns int
}

type truthStep struct {
	SKU        string
	Delta      int
	StockAfter int
	Reason     string
}

// TestRestockAlertTellsTheTruth restocks a pharmacy with waiting lists of
// several shapes and checks, over real WebSocket subscriptions, that the
// one restock alert says what was delivered, what the waiting list took
// and what is left; that the stockChanged events come one per step, in
// order, each with the stock after its own step; and that restock's answer
// and the store agree.
func TestRestockAlertTellsTheTruth(t *testing.T) {
	type restock struct {
		sku     string
		q       int
		waiting int // units the waiting list takes
		served  int
	}
	tests := []struct {
		name     string
		initial  map[string]int
		waiting  map[string][]int // per SKU, quantities in order of registration
		restocks []restock
	}{
		{"waiting list takes all", nil, map[string][]int{"MASK_ADULT": {2, 3, 1}}, []restock{{"MASK_ADULT", 6, 6, 3}}},
		{"waiting list takes part", nil, map[string][]int{"MASK_ADULT": {2, 1}}, []restock{{"MASK_ADULT", 10, 3, 2}}},
		{"no waiting list", map[string]int{"MASK_ADULT": 100}, nil, []restock{{"MASK_ADULT", 5, 0, 0}}},
		{"waiting list larger than the restock", nil, map[string][]int{"MASK_ADULT": {2, 2, 2, 2}}, []restock{{"MASK_ADULT", 5, 4, 2}, {"MASK_ADULT", 3, 4, 2}}},
		{"several supplies", map[string]int{"MASK_CHILD": 1}, map[string][]int{"MASK_ADULT": {1, 1}, "MASK_CHILD": {2, 1}},
			[]restock{{"MASK_ADULT", 3, 2, 2}, {"MASK_CHILD", 2, 3, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, t.TempDir())
			admin := h.as(t, "ADMIN", "")
			ac := seedAccessCity(t, admin)
			loc := map[string]float64{"lat": 25.0452, "lng": 121.5152}
			var stock []map[string]any
			for sku, q := range tt.initial {
				stock = append(stock, map[string]any{"sku": sku, "quantity": q})
			}
			if stock == nil {
				stock = []map[string]any{}
			}
			must(t, admin, `mutation($l: LatLngInput!, $s: [StockInput!]) { upsertPharmacy(input: {id: "pw", name: "W", location: $l, stock: $s}) { id } }`,
				map[string]any{"l": loc, "s": stock}, nil)
			n := 0
			for sku, qs := range tt.waiting {
				for _, q := range qs {
					n++
					var r struct{ RegisterResident struct{ ID string } }
					must(t, admin, `mutation($n: String!, $l: LatLngInput!) { registerResident(input: {name: "Waiting", idNumber: $n, location: $l, committeeCode: "C1"}) { id } }`,
						map[string]any{"n": privacy.ExampleTaiwanID('Y', n), "l": loc}, &r)
					must(t, admin, `mutation($r: ID!, $s: SKU!, $q: Int!) { registerShortage(residentId: $r, sku: $s, quantity: $q) { id } }`,
						map[string]any{"r": r.RegisterResident.ID, "s": sku, "q": q}, nil)
				}
			}
			base := gauge(t, h.url, "gridhub_subscriptions")
			alerts := wsSubscribe(t, h, mintToken(t, h.dir, "COMMITTEE", ac.committees[0]), "a",
				`subscription($c: ID!) { restockAlerts(committeeId: $c) { pharmacy { id } sku quantity stockAfter waitingServed toWaitingList leftForWalkIns } }`,
				map[string]any{"c": ac.committees[0]})
			steps := wsSubscribe(t, h, admin.token, "s",
				`subscription { stockChanged(pharmacyId: "pw") { sku delta stockAfter reason } }`, nil)
			waitGauge(t, h.url, "gridhub_subscriptions", base+2)

			have := map[string]int{}
			for sku, q := range tt.initial {
				have[sku] = q
			}
			for _, rs := range tt.restocks {
				var answer struct {
					Restock struct {
						ID    string
						Stock []struct {
							SKU      string
							Quantity int
						}
						LastRestock struct {
							SKU                                                    string
							Quantity, ToWaitingList, WaitingServed, LeftForWalkIns int
						}
					}
				}
				must(t, admin, `mutation($s: SKU!, $q: Int!) { restock(pharmacyId: "pw", sku: $s, quantity: $q) {
					id stock { sku quantity } lastRestock { sku quantity toWaitingList waitingServed leftForWalkIns } } }`,
					map[string]any{"s": rs.sku, "q": rs.q}, &answer)
				left := have[rs.sku] + rs.q - rs.waiting
				// The stock events: RESTOCK, then one ALLOCATE per entry
				// served, each with the stock after its own step.
				before := have[rs.sku]
				for i := 0; i <= rs.served; i++ {
					var ev struct{ StockChanged truthStep }
					steps.nextData(&ev)
					s := ev.StockChanged
					wantReason := "ALLOCATE"
					if i == 0 {
						wantReason = "RESTOCK"
					}
					if s.Reason != wantReason || s.SKU != rs.sku || s.StockAfter != before+s.Delta || (i == 0) != (s.Delta == rs.q) {
						t.Fatalf("step %d: %+v, want %s of %s after %d%+d", i, s, wantReason, rs.sku, before, s.Delta)
					}
					before = s.StockAfter
				}
				if before != left {
					t.Fatalf("the steps end at %d, want %d left", before, left)
				}
				var al struct{ RestockAlerts truthAlert }
				alerts.nextData(&al)
				want := truthAlert{SKU: rs.sku, Quantity: rs.q, StockAfter: left, WaitingServed: rs.served, ToWaitingList: rs.waiting, LeftForWalkIns: left}
				want.Pharmacy.ID = "pw"
				if al.RestockAlerts != want {
					t.Fatalf("alert %+v, want %+v", al.RestockAlerts, want)
				}
				lr := answer.Restock.LastRestock
				if lr.SKU != rs.sku || lr.Quantity != rs.q || lr.ToWaitingList != rs.waiting || lr.WaitingServed != rs.served || lr.LeftForWalkIns != left {
					t.Fatalf("restock's answer says %+v, want %d delivered, %d to %d waiting, %d left", lr, rs.q, rs.waiting, rs.served, left)
				}
				for _, s := range answer.Restock.Stock {
					if s.SKU == rs.sku && s.Quantity != left {
						t.Fatalf("restock's answer has %d %s, want %d", s.Quantity, s.SKU, left)
					}
				}
				// The store agrees.
				var p struct {
					Pharmacy struct {
						Stock []struct {
							SKU      string
							Quantity int
						}
					}
				}
				must(t, admin, `{ pharmacy(id: "pw") { stock { sku quantity } } }`, nil, &p)
				for _, s := range p.Pharmacy.Stock {
					if s.SKU == rs.sku && s.Quantity != left {
						t.Fatalf("the store has %d %s, the alert said %d", s.Quantity, s.SKU, left)
					}
				}
				have[rs.sku] = left
			}
		})
	}
}
