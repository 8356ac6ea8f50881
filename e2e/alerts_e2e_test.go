package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseSubscription is a live subscription over SSE: its events arrive on
// next until the stream ends.
type sseSubscription struct {
	next   chan gqlResponse
	cancel context.CancelFunc
}

// subscribeSSE starts a subscription over SSE (POST with Accept:
// text/event-stream). The stream ends with the test.
func subscribeSSE(t *testing.T, c client, query string, vars map[string]any) *sseSubscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe: %v", err)
	}
	s := &sseSubscription{next: make(chan gqlResponse, 64), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.next)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data:") {
				continue
			}
			var r gqlResponse
			if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &r) == nil {
				s.next <- r
			}
		}
	}()
	return s
}

// first waits up to d for the first event; ok is false when none came.
func (s *sseSubscription) first(d time.Duration) (r gqlResponse, ok bool) {
	select {
	case r, ok = <-s.next:
		return r, ok
	case <-time.After(d):
		return gqlResponse{}, false
	}
}

// subscriptionCode reports how a subscription starts: the error code of
// an immediate error, or "" when it stays open without one.
func subscriptionCode(t *testing.T, c client, query string, vars map[string]any) (string, gqlResponse) {
	t.Helper()
	s := subscribeSSE(t, c, query, vars)
	defer s.cancel()
	r, ok := s.first(300 * time.Millisecond)
	if !ok {
		return "", r
	}
	return r.code(), r
}

// TestAlertsEndToEnd: a restock reaches the committees whose area its
// service disk touches, once each, and nobody else; stock changes reach the
// district; a partner follows its allocations.
func TestAlertsEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	base := gauge(t, h.url, "gridhub_subscriptions") // the hub's own (open data)
	near := subscribeSSE(t, h.as(t, "COMMITTEE", ac.committees[0]),
		`subscription($c: ID!) { restockAlerts(committeeId: $c, sku: MASK_ADULT) { seq pharmacy { id } sku quantity stockAfter ring gap } }`,
		map[string]any{"c": ac.committees[0]})
	far := subscribeSSE(t, h.as(t, "COMMITTEE", ac.committees[1]),
		`subscription($c: ID!) { restockAlerts(committeeId: $c) { seq pharmacy { id } } }`,
		map[string]any{"c": ac.committees[1]})
	child := subscribeSSE(t, h.as(t, "COMMITTEE", ac.committees[0]),
		`subscription($c: ID!) { restockAlerts(committeeId: $c, sku: MASK_CHILD) { seq } }`,
		map[string]any{"c": ac.committees[0]})
	district := subscribeSSE(t, h.as(t, "DISTRICT", ac.districts[0]),
		`subscription($d: ID!) { stockChanged(districtId: $d) { pharmacy { id } sku delta stockAfter reason } }`,
		map[string]any{"d": ac.districts[0]})
	// An SSE stream opens before its subscription reaches the broker: the
	// restock waits for all four.
	waitGauge(t, h.url, "gridhub_subscriptions", base+4)

	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 40) { id } }`, map[string]any{"p": ac.pharmacies[0]}, nil)

	r, ok := near.first(5 * time.Second)
	if !ok || len(r.Errors) > 0 {
		t.Fatalf("the near committee got no restock alert: %+v", r)
	}
	var alert struct {
		RestockAlerts struct {
			Pharmacy                        struct{ ID string }
			SKU                             string
			Quantity, StockAfter, Ring, Gap int
		}
	}
	json.Unmarshal(r.Data, &alert)
	if a := alert.RestockAlerts; a.Pharmacy.ID != ac.pharmacies[0] || a.Quantity != 40 || a.StockAfter != 140 || a.Ring != 0 || a.Gap != 0 {
		t.Errorf("restock alert = %+v", a)
	}
	if r, ok := near.first(300 * time.Millisecond); ok {
		t.Errorf("a second alert for one restock: %+v", r)
	}
	if r, ok := far.first(300 * time.Millisecond); ok {
		t.Errorf("a committee outside the service disk got %+v", r)
	}
	if r, ok := child.first(100 * time.Millisecond); ok {
		t.Errorf("a subscription to child masks got an adult-mask restock: %+v", r)
	}
	r, ok = district.first(5 * time.Second)
	if !ok || !strings.Contains(string(r.Data), `"reason":"RESTOCK"`) {
		t.Errorf("the district got no stock change: %+v", r)
	}
}

// TestUnsubscribeLeavesNothing: subscriptions that end (client gone) leave
// no subscription behind in the broker, as /metrics shows.
func TestUnsubscribeLeavesNothing(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	committee := h.as(t, "COMMITTEE", ac.committees[0])
	base := gauge(t, h.url, "gridhub_subscriptions") // the hub's own (open data)
	var subs []*sseSubscription
	for range 20 {
		subs = append(subs, subscribeSSE(t, committee, `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq } }`, map[string]any{"c": ac.committees[0]}))
	}
	waitGauge(t, h.url, "gridhub_subscriptions", base+20)
	for _, s := range subs {
		s.cancel()
	}
	waitGauge(t, h.url, "gridhub_subscriptions", base)
}

// waitGauge polls /metrics until the gauge has the value, for up to 10 s,
// and fails the test if it does not get there.
func waitGauge(t *testing.T, url, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/metrics")
		if err == nil {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, name+" ") {
					last = line
				}
			}
			resp.Body.Close()
			if last == fmt.Sprintf("%s %d", name, want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: last %q, want %d", name, last, want)
}

// TestAllocationUpdates: a partner follows its allocations live, from
// creation to delivery.
func TestAllocationUpdates(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	var d struct{ District struct{ Cells []string } }
	must(t, admin, `query($d: ID!) { district(id: $d) { cells } }`, map[string]any{"d": ac.districts[0]}, &d)
	must(t, admin, `mutation($c: [H3Cell!]) { upsertPartner(input: {id: "courier", name: "Courier", area: {cells: $c}}) { id } }`, map[string]any{"c": d.District.Cells}, nil)
	partner := h.as(t, "PARTNER", "courier")
	base := gauge(t, h.url, "gridhub_subscriptions")
	sub := subscribeSSE(t, partner, `subscription { allocationUpdates(partnerId: "courier") { allocation { id status } from } }`, nil)
	stock := subscribeSSE(t, h.as(t, "PHARMACY", ac.pharmacies[0]), `subscription($p: ID) { stockChanged(pharmacyId: $p) { delta stockAfter reason } }`, map[string]any{"p": ac.pharmacies[0]})
	waitGauge(t, h.url, "gridhub_subscriptions", base+2)
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "dl", name: "D", sku: MASK_ADULT, perPerson: 2, mode: FIRST_COME, fulfilments: [DELIVERY], opens: $o, closes: $c}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	var res struct {
		Reserve struct{ Allocation struct{ ID string } }
	}
	must(t, admin, `mutation($p: ID!) { reserve(input: {roundId: "dl", residentId: $p}) { allocation { id } } }`, map[string]any{"p": ac.residents[0]}, &res)

	type update struct {
		AllocationUpdates struct {
			Allocation struct{ ID, Status string }
			From       *string
		}
	}
	next := func(what string) update {
		r, ok := sub.first(5 * time.Second)
		if !ok || len(r.Errors) > 0 {
			t.Fatalf("%s: no allocation update (%+v)", what, r)
		}
		var u update
		json.Unmarshal(r.Data, &u)
		return u
	}
	if u := next("created"); u.AllocationUpdates.Allocation.ID != res.Reserve.Allocation.ID || u.AllocationUpdates.Allocation.Status != "DELIVERING" || u.AllocationUpdates.From != nil {
		t.Errorf("created: %+v", u)
	}
	must(t, partner, `mutation($a: ID!) { markDelivery(allocationId: $a, delivered: false) { status } }`, map[string]any{"a": res.Reserve.Allocation.ID}, nil)
	if u := next("failed"); u.AllocationUpdates.Allocation.Status != "FAILED" || u.AllocationUpdates.From == nil || *u.AllocationUpdates.From != "DELIVERING" {
		t.Errorf("failed: %+v", u)
	}
	// The pharmacy saw its stock go out and come back.
	for _, want := range []string{`"delta":-2,"stockAfter":98,"reason":"ALLOCATE"`, `"delta":2,"stockAfter":100,"reason":"RETURN"`} {
		r, ok := stock.first(5 * time.Second)
		if !ok || !strings.Contains(string(r.Data), want) {
			t.Errorf("stock change: got %s, want %s", r.Data, want)
		}
	}
}
