package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParsePhases(t *testing.T) {
	tests := []struct {
		give    string
		want    []Phase
		wantErr bool
	}{
		{give: "200:10s", want: []Phase{{Rate: 200, Duration: 10 * time.Second}}},
		{give: "max:20s, 3x:20s ,200:5s", want: []Phase{
			{Closed: true, Duration: 20 * time.Second},
			{Times: 3, Duration: 20 * time.Second},
			{Rate: 200, Duration: 5 * time.Second},
		}},
		{give: "1.5x:1s", wantErr: true}, // no max phase before it
		{give: "", wantErr: true},
		{give: "200", wantErr: true},
		{give: "200:0s", wantErr: true},
		{give: "-5:1s", wantErr: true},
		{give: "max:forever", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePhases(tt.give)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePhases(%q) error %v, want error %v", tt.give, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParsePhases(%q) = %v, want %v", tt.give, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParsePhases(%q)[%d] = %+v, want %+v", tt.give, i, got[i], tt.want[i])
			}
			if back, err := ParsePhases(got[i].String()); err == nil && back[0] != got[i] {
				t.Errorf("%v does not read back: %+v", got[i], back[0])
			}
		}
	}
}

func TestParseLoadAverage(t *testing.T) {
	la, err := parseLoadAverage([]byte("1.13 1.34 1.79 3/812 12345\n"))
	if err != nil || la != [3]float64{1.13, 1.34, 1.79} {
		t.Errorf("parseLoadAverage = %v, %v", la, err)
	}
	if _, err := parseLoadAverage([]byte("1.0\n")); err == nil {
		t.Error("a short /proc/loadavg was read")
	}
}

// fakeHub answers reserve mutations: the first n with an allocation,
// then RATE_LIMITED with 503, then an HTTP 500 without a body.
func fakeHub(t *testing.T, n int64) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string            `json:"query"`
			Variables map[string]string `json:"variables"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.Query, "reserve(") ||
			req.Variables["r"] == "" || req.Variables["p"] == "" || !strings.HasPrefix(req.Variables["k"], "lt-") ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			t.Errorf("bad request: %+v %v", req, err)
		}
		switch c := calls.Add(1); {
		case c <= n:
			io.WriteString(w, `{"data":{"reserve":{"reservation":{"id":"rsv_1","status":"ALLOCATED"},"allocation":{"id":"alc_1"}}}}`)
		case c == n+1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errors":[{"message":"at capacity","extensions":{"code":"RATE_LIMITED"}}]}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestReserveOneOutcomes(t *testing.T) {
	srv, _ := fakeHub(t, 1)
	hub, err := newHubClient(srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	l := &reserveLoad{
		hubSession: hubSession{hub: hub},
		residents:  []string{"tpe-r0000001", "tpe-r0000002", "tpe-r0000003"},
		tokens:     []string{"tok-1", "tok-2", "tok-3"},
		order:      []int{2, 0, 1},
		rounds:     []string{"load-a"},
	}
	var got []string
	for k := range int64(4) {
		got = append(got, l.reserveOne(context.Background(), k))
	}
	want := []string{"ALLOCATED", "RATE_LIMITED", "http_500", "client_out_of_pairs"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("outcome %d = %q, want %q", i, got[i], want[i])
		}
	}
	if !acknowledged("ALLOCATED") || !acknowledged("WAITING") || acknowledged("RATE_LIMITED") || acknowledged("http_500") {
		t.Error("acknowledged() misreads the outcomes")
	}
}

// TestOpenLoop sends at a rate to the fake hub: every request is sent
// once, and the stats count each outcome.
func TestOpenLoop(t *testing.T) {
	srv, calls := fakeHub(t, 1<<30)
	hub, err := newHubClient(srv.URL, 16)
	if err != nil {
		t.Fatal(err)
	}
	n := 50
	l := &reserveLoad{hubSession: hubSession{hub: hub}, rounds: []string{"load-a"}, cfg: ReserveConfig{MaxOutstanding: 64}}
	for i := range n {
		l.residents = append(l.residents, "r"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		l.tokens = append(l.tokens, "tok-x")
		l.order = append(l.order, i)
	}
	var st phaseStats
	ctx := context.Background()
	sent, overrun := l.openLoop(ctx, ctx, 500, 60*time.Millisecond, &st)
	if sent != 30 || overrun != 0 || calls.Load() != 30 {
		t.Errorf("sent %d, overrun %d, the hub saw %d; want 30, 0, 30", sent, overrun, calls.Load())
	}
	if len(st.acked) != 30 || st.outcomes.Kinds()[0].Kind != "ALLOCATED" {
		t.Errorf("acked %d, outcomes %v", len(st.acked), st.outcomes.Kinds())
	}
}

func TestRawHandler(t *testing.T) {
	srv := httptest.NewServer(rawHandler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/graphql", "application/json", strings.NewReader(`{"query":"{ supplies { sku } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Data struct{ Supplies []struct{ SKU string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Data.Supplies) != 5 {
		t.Errorf("raw answer %+v, %v", v, err)
	}
}
