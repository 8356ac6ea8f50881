package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDistrictAggregates: a district's dashboard numbers follow what
// happens in it, at every resolution, and a live subscriber sees each
// changed cell's new numbers.
func TestDistrictAggregates(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	district := h.as(t, "DISTRICT", ac.districts[0])

	type cellStats struct {
		Cell       struct{ ID string }
		Residents  int
		Pharmacies int
		Stock      []struct {
			Sku      string
			Quantity int
		}
		Demand         int
		Allocations    int
		FulfilmentRate *float64
		Green          int
		RiskLevel      *string
	}
	const fields = `cell { id } residents pharmacies stock { sku quantity } demand allocations fulfilmentRate green riskLevel`
	totals := func(t *testing.T) cellStats {
		t.Helper()
		var q struct{ District struct{ Totals cellStats } }
		must(t, district, `query($d: ID!) { district(id: $d) { totals(sku: MASK_ADULT) { `+fields+` } } }`, map[string]any{"d": ac.districts[0]}, &q)
		return q.District.Totals
	}
	before := totals(t)
	if before.Residents != 1 || before.Pharmacies != 1 || len(before.Stock) != 1 || before.Stock[0].Quantity != 100 || before.FulfilmentRate != nil {
		t.Fatalf("totals at start = %+v", before)
	}

	base := gauge(t, h.url, "gridhub_subscriptions")
	live := subscribeSSE(t, district, `subscription($d: ID!) { districtUpdates(districtId: $d, resolution: 8, sku: MASK_ADULT) { `+fields+` } }`,
		map[string]any{"d": ac.districts[0]})
	waitGauge(t, h.url, "gridhub_subscriptions", base+1) // the stream opens before the subscription
	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 40) { id } }`, map[string]any{"p": ac.pharmacies[0]}, nil)
	r, ok := live.first(5 * time.Second)
	if !ok || len(r.Errors) > 0 {
		t.Fatalf("no live update after a restock: %+v", r)
	}
	var u struct{ DistrictUpdates cellStats }
	if err := json.Unmarshal(r.Data, &u); err != nil {
		t.Fatal(err)
	}
	if got := u.DistrictUpdates; got.Pharmacies != 1 || len(got.Stock) != 1 || got.Stock[0].Quantity != 140 || !strings.HasPrefix(got.Cell.ID, "88") {
		t.Errorf("update after a restock = %+v, want the resolution-8 cell with 140 in stock", got)
	}

	// A reservation served at once: an allocation, fulfilment 1.
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "r1", name: "R", sku: MASK_ADULT, perPerson: 2, mode: FIRST_COME, opens: $o, closes: $c, maxK: 2}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	must(t, admin, `mutation($p: ID!) { reserve(input: {roundId: "r1", residentId: $p}) { allocation { id } } }`, map[string]any{"p": ac.residents[0]}, nil)
	after := totals(t)
	if after.Allocations != 1 || after.Demand != 0 || after.FulfilmentRate == nil || *after.FulfilmentRate != 1 || after.Stock[0].Quantity != 138 {
		t.Errorf("totals after a reservation = %+v", after)
	}

	// Every resolution sums to the same totals.
	for _, res := range []int{9, 8, 7, 6, 5} {
		var q struct {
			District struct{ CellStats []cellStats }
		}
		must(t, district, `query($d: ID!, $r: Int!) { district(id: $d) { cellStats(resolution: $r, sku: MASK_ADULT, active: true) { `+fields+` } } }`,
			map[string]any{"d": ac.districts[0], "r": res}, &q)
		var residents, stock, allocations int
		for _, c := range q.District.CellStats {
			residents += c.Residents
			allocations += c.Allocations
			for _, l := range c.Stock {
				stock += l.Quantity
			}
		}
		if residents != 1 || stock != 138 || allocations != 1 || len(q.District.CellStats) == 0 {
			t.Errorf("resolution %d: %d cells, %d residents, %d in stock, %d allocations", res, len(q.District.CellStats), residents, stock, allocations)
		}
	}

	var s struct {
		District struct {
			Series []struct {
				At    string
				Stock int
			}
			Outline [][]struct{ Lat, Lng float64 }
		}
	}
	must(t, district, `query($d: ID!) { district(id: $d) { series(hours: 3, sku: MASK_ADULT) { at stock } outline { lat lng } } }`, map[string]any{"d": ac.districts[0]}, &s)
	if n := len(s.District.Series); n == 0 || n > 4 || s.District.Series[n-1].Stock != 138 {
		t.Errorf("series = %+v", s.District.Series)
	}
	if len(s.District.Outline) != 1 || len(s.District.Outline[0]) < 6 {
		t.Errorf("outline = %d loops", len(s.District.Outline))
	}
	for _, bad := range []string{
		`{ district(id: "d1") { cellStats(resolution: 10) { demand } } }`,
		`{ district(id: "d1") { series(hours: 0) { stock } } }`,
	} {
		if got := gql(t, district, bad, nil).code(); got != "BAD_USER_INPUT" {
			t.Errorf("%s: code %q, want BAD_USER_INPUT", bad, got)
		}
	}
}
