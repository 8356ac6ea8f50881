package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gate is a handler that holds each request until it is opened, and
// says when a request has come in.
type gate struct {
	entered chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 64), open: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.entered <- struct{}{}
	<-g.open
	io.WriteString(w, "served")
}

// counterValue returns a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// serveAsync serves one request through h on its own goroutine; the
// recorder is complete once done is closed.
func serveAsync(ctx context.Context, h http.Handler) (rec *httptest.ResponseRecorder, done chan struct{}) {
	rec, done = httptest.NewRecorder(), make(chan struct{})
	r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{}`)).WithContext(ctx)
	go func() {
		defer close(done)
		h.ServeHTTP(rec, r)
	}()
	return rec, done
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkRefused checks a refusal: 503, a Retry-After of wantRetry to twice
// that many seconds, and a GraphQL error with extensions.code RATE_LIMITED
// and the same retryAfter. It returns the Retry-After.
func checkRefused(t *testing.T, status int, header http.Header, body []byte, wantRetry string) int {
	t.Helper()
	if status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", status)
	}
	least, _ := strconv.Atoi(wantRetry)
	got, err := strconv.Atoi(header.Get("Retry-After"))
	if err != nil || got < least || got > 2*least {
		t.Errorf("Retry-After %q, want %d to %d", header.Get("Retry-After"), least, 2*least)
	}
	var e accessError
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("body %q is not one GraphQL error: %v", body, err)
	}
	if code := e.Errors[0].Extensions["code"]; code != string(hub.ERATELIMITED) {
		t.Errorf("extensions.code %v, want RATE_LIMITED", code)
	}
	if ra, _ := e.Errors[0].Extensions["retryAfter"].(float64); int(ra) != got {
		t.Errorf("extensions.retryAfter %v, Retry-After %d", e.Errors[0].Extensions["retryAfter"], got)
	}
	return got
}

// TestAdmissionRetryAfterSpread: a crowd refused at once is told waits
// spread over RetryAfter to twice that, so it does not come back in one
// wave.
func TestAdmissionRetryAfterSpread(t *testing.T) {
	a := newAdmitter(Admission{MaxInFlight: 1, RetryAfter: 3 * time.Second}, prometheus.NewRegistry())
	seen := map[int]int{}
	for range 400 {
		rec := httptest.NewRecorder()
		a.refuse(rec)
		seen[checkRefused(t, rec.Code, rec.Header(), rec.Body.Bytes(), "3")]++
	}
	if len(seen) < 3 {
		t.Errorf("400 refusals were told only %v: not spread over 3 to 6 s", seen)
	}
	for s, n := range seen {
		if n > 200 {
			t.Errorf("%d of 400 refusals were told %d s", n, s)
		}
	}
}

func TestAdmissionQueueAndRefusal(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newAdmitter(Admission{MaxInFlight: 2, MaxQueue: 1, MaxWait: time.Minute, RetryAfter: 2 * time.Second, QueueDelay: time.Hour}, reg)
	g := newGate()
	h := a.admit(g)
	ctx := t.Context()

	// Two are served at once, the third waits, the fourth is refused at once.
	var recs []*httptest.ResponseRecorder
	var dones []chan struct{}
	for range 2 {
		rec, done := serveAsync(ctx, h)
		recs, dones = append(recs, rec), append(dones, done)
		<-g.entered
	}
	rec3, done3 := serveAsync(ctx, h)
	waitFor(t, "the third request to queue", func() bool { return a.queuedNow() == 1 })

	start := time.Now()
	rec4, done4 := serveAsync(ctx, h)
	<-done4
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %s", d)
	}
	checkRefused(t, rec4.Code, rec4.Header(), rec4.Body.Bytes(), "2")
	if got := counterValue(a.refusedFull); got != 1 {
		t.Errorf("refused queue_full = %v, want 1", got)
	}

	// Opening the gate serves the first two and then the queued one.
	close(g.open)
	for i, done := range dones {
		<-done
		if recs[i].Code != http.StatusOK {
			t.Errorf("request %d: status %d", i, recs[i].Code)
		}
	}
	<-g.entered
	<-done3
	if rec3.Code != http.StatusOK || rec3.Body.String() != "served" {
		t.Errorf("queued request: %d %q", rec3.Code, rec3.Body.String())
	}
	if a.inFlightNow() != 0 || a.queuedNow() != 0 {
		t.Errorf("after the requests: %d in flight, %d queued", a.inFlightNow(), a.queuedNow())
	}
}

func TestAdmissionWaitTimeout(t *testing.T) {
	a := newAdmitter(Admission{MaxInFlight: 1, MaxWait: 30 * time.Millisecond, QueueDelay: time.Hour}, nil)
	g := newGate()
	h := a.admit(g)
	_, done1 := serveAsync(t.Context(), h)
	<-g.entered

	start := time.Now()
	rec, done := serveAsync(t.Context(), h)
	<-done
	if d := time.Since(start); d < 30*time.Millisecond || d > 2*time.Second {
		t.Errorf("refused after %s, want about 30ms", d)
	}
	checkRefused(t, rec.Code, rec.Header(), rec.Body.Bytes(), "1")
	if got := counterValue(a.refusedWait); got != 1 {
		t.Errorf("refused wait_timeout = %v, want 1", got)
	}
	close(g.open)
	<-done1
}

func TestAdmissionClientGoneWhileQueued(t *testing.T) {
	a := newAdmitter(Admission{MaxInFlight: 1, MaxWait: time.Minute, QueueDelay: time.Hour}, nil)
	g := newGate()
	h := a.admit(g)
	_, done1 := serveAsync(t.Context(), h)
	<-g.entered

	ctx, cancel := context.WithCancel(t.Context())
	_, done := serveAsync(ctx, h)
	waitFor(t, "the request to queue", func() bool { return a.queuedNow() == 1 })
	cancel()
	<-done
	if a.queuedNow() != 0 {
		t.Errorf("%d still queued after the client went away", a.queuedNow())
	}
	if got := counterValue(a.abandoned); got != 1 {
		t.Errorf("abandoned = %v, want 1", got)
	}
	close(g.open)
	<-done1
	if a.inFlightNow() != 0 {
		t.Errorf("%d places still held", a.inFlightNow())
	}
}

func TestAdmissionOff(t *testing.T) {
	if a := newAdmitter(Admission{}, nil); a != nil {
		t.Fatal("MaxInFlight 0 made an admitter")
	}
	var a *admitter
	h := a.admit(okHandler())
	if resp := serveAs(h, nil, "192.0.2.1:1"); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d without admission control", resp.StatusCode)
	}
}

// TestAdmissionConcurrent runs many requests through a small admitter:
// never more in flight than allowed, and every place given back.
func TestAdmissionConcurrent(t *testing.T) {
	a := newAdmitter(Admission{MaxInFlight: 3, MaxQueue: 5, MaxWait: 5 * time.Millisecond}, nil)
	var mu sync.Mutex
	in, most := 0, 0
	h := a.admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		in++
		most = max(most, in)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		in--
		mu.Unlock()
	}))
	var wg sync.WaitGroup
	var served, refused int
	var cmu sync.Mutex
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				resp := serveAs(h, nil, "192.0.2.1:1")
				cmu.Lock()
				if resp.StatusCode == http.StatusOK {
					served++
				} else {
					refused++
				}
				cmu.Unlock()
			}
		}()
	}
	wg.Wait()
	if most > 3 {
		t.Errorf("%d requests in flight at once, want at most 3", most)
	}
	if served == 0 || served+refused != 640 {
		t.Errorf("served %d, refused %d of 640", served, refused)
	}
	if a.inFlightNow() != 0 || a.queuedNow() != 0 {
		t.Errorf("after the run: %d in flight, %d queued", a.inFlightNow(), a.queuedNow())
	}
}

// blockingVerifier holds a request whose token is "slow" until released,
// so that it keeps its place; any other token is an ADMIN's.
type blockingVerifier struct {
	entered chan struct{}
	release chan struct{}
}

func (v blockingVerifier) Verify(token string) (auth.Principal, error) {
	if token == "slow" {
		v.entered <- struct{}{}
		<-v.release
	}
	return auth.Principal{Role: auth.Admin, Subject: "test"}, nil
}

// TestAdmissionInHandler: with the one place held by a slow request,
// /graphql is refused while /healthz and /metrics answer; a WebSocket
// subscription holds its place only until it is upgraded.
func TestAdmissionInHandler(t *testing.T) {
	v := blockingVerifier{entered: make(chan struct{}, 1), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	h := New(Options{
		Schema: whoamiSchema(), Logger: slog.New(slog.DiscardHandler), Registry: reg,
		Verifier: v, PublicMetrics: true,
		Admission: Admission{MaxInFlight: 1, MaxQueue: -1},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	slowDone := make(chan int)
	go func() {
		resp, _ := accessDo(t, http.MethodPost, srv.URL+"/graphql", "slow", "")
		slowDone <- resp.StatusCode
	}()
	<-v.entered

	resp, body := accessDo(t, http.MethodPost, srv.URL+"/graphql", "", "")
	checkRefused(t, resp.StatusCode, resp.Header, body, "1")
	for _, path := range []string{"/healthz", "/metrics"} {
		if resp, _ := accessDo(t, http.MethodGet, srv.URL+path, "", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s while at capacity: status %d, want 200", path, resp.StatusCode)
		}
	}
	_, metrics := accessDo(t, http.MethodGet, srv.URL+"/metrics", "", "")
	for _, want := range []string{
		`gridhub_admission_refused_total{reason="queue_full"} 1`,
		`gridhub_admission_in_flight 1`,
		`gridhub_http_requests_total{code="503",method="POST",route="/graphql"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	close(v.release)
	if status := <-slowDone; status != http.StatusOK {
		t.Errorf("slow request: status %d", status)
	}

	// A subscription's connection stays open, but its place is free once
	// upgraded: a query goes through beside it.
	d := websocket.Dialer{Subprotocols: []string{SubprotocolGraphQLTransportWS}}
	conn, _, err := d.DialContext(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "connection_init"}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack wsMessage
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v %v", ack, err)
	}
	if resp, body := accessDo(t, http.MethodPost, srv.URL+"/graphql", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("query beside an open WebSocket: status %d %s", resp.StatusCode, body)
	}
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ whoami }"}}); err != nil {
		t.Fatal(err)
	}
	var next wsMessage
	if err := conn.ReadJSON(&next); err != nil || next.Type != "next" || !strings.Contains(string(next.Payload), "ANONYMOUS") && !strings.Contains(string(next.Payload), "anonymous") {
		t.Errorf("operation over the WebSocket: %+v %v", next, err)
	}
}

// TestAdmissionStreamReleasesOnFlush: a streamed response (SSE) holds its
// place until its first flush, not for the stream's life.
func TestAdmissionStreamReleasesOnFlush(t *testing.T) {
	a := newAdmitter(Admission{MaxInFlight: 1, MaxQueue: -1}, nil)
	flushed, end := make(chan struct{}), make(chan struct{})
	stream := a.admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "event: next\n\n")
		w.(http.Flusher).Flush()
		close(flushed)
		<-end
	}))
	_, done := serveAsync(t.Context(), stream)
	<-flushed
	if resp := serveAs(a.admit(okHandler()), nil, "192.0.2.1:1"); resp.StatusCode != http.StatusOK {
		t.Errorf("a request beside an open stream: status %d, want 200", resp.StatusCode)
	}
	close(end)
	<-done
	if a.inFlightNow() != 0 {
		t.Errorf("%d places held after the stream ended", a.inFlightNow())
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2020, 2, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// runWindow plays one window of a on the clock: n requests served, each
// taking lat; when limited, every place is taken and one request more is
// refused first (the hub was at its limit). Then the window ends and the
// limit is adjusted.
func runWindow(t *testing.T, a *admitter, clk *fakeClock, n int, lat time.Duration, limited bool) {
	t.Helper()
	if limited {
		n = a.limitNow()
	}
	for i := range n {
		if _, ok, reason := a.acquire(t.Context()); !ok {
			t.Fatalf("request %d of %d refused (%s) below the limit %d", i, n, reason, a.limitNow())
		}
	}
	if limited {
		if _, ok, _ := a.acquire(t.Context()); ok {
			t.Fatalf("a request past the limit %d was admitted", a.limitNow())
		}
	}
	for range n {
		a.release(clk.Now().Add(-lat))
	}
	clk.Advance(a.window)
	a.mu.Lock()
	a.roll(clk.Now())
	a.mu.Unlock()
}

// TestAdmissionLimitFollowsLatency: each window moves the limit by the
// ratio of the latency target to the average latency (smoothed, a
// quarter the newest window), at most a quarter each way, down once per
// average latency at most, up only when requests found no place, within
// its bounds.
func TestAdmissionLimitFollowsLatency(t *testing.T) {
	type win struct {
		n       int
		lat     time.Duration
		limited bool
	}
	repeat := func(w win, n int) []win { return slices.Repeat([]win{w}, n) }
	tens := func(limits ...int) []int { // each limit for ten windows
		var out []int
		for _, l := range limits {
			out = append(out, slices.Repeat([]int{l}, 10)...)
		}
		return out
	}
	// A second a request: the limit falls a quarter at most, once a
	// second (ten windows), to the floor.
	slow := win{n: 10, lat: time.Second}
	down := tens(75, 56, 42, 31, 23, 17, 12, 10)
	fastRoom := win{n: 5, lat: time.Millisecond}
	fastFull := win{lat: time.Millisecond, limited: true}
	tests := []struct {
		name string
		give []win
		want []int // the limit after each window
	}{
		{"on target: unchanged", []win{{lat: 100 * time.Millisecond, limited: true}}, []int{100}},
		{"slower: down in proportion", []win{{n: 10, lat: 125 * time.Millisecond}}, []int{94}},
		{"twice as slow", []win{{n: 10, lat: 200 * time.Millisecond}}, []int{80}},
		{"much slower: a quarter at most, once per average latency", repeat(slow, 11), append(tens(75), 56)},
		{"nothing ended: unchanged", []win{slow, {n: 0}}, []int{75, 75}},
		{"never below the floor", repeat(slow, 90), slices.Concat(down, tens(10))},
		{"fast with room to spare: never up", slices.Concat(repeat(slow, 80), repeat(fastRoom, 8)), slices.Concat(down, slices.Repeat([]int{10}, 8))},
		{
			"fast at the limit: up a quarter a window at most, to the ceiling",
			slices.Concat(repeat(slow, 80), repeat(fastFull, 20)),
			slices.Concat(down, []int{10, 10, 10, 10, 10, 10, 10, 10, 13, 17, 22, 28, 35, 44, 55, 69, 87, 100, 100, 100}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			a := newAdmitter(Admission{MaxInFlight: 100, MinInFlight: 10, MaxQueue: -1, LatencyTarget: 100 * time.Millisecond, Window: 100 * time.Millisecond, Now: clk.Now}, nil)
			var got []int
			for _, w := range tt.give {
				runWindow(t, a, clk, w.n, w.lat, w.limited)
				got = append(got, a.limitNow())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("limits %v, want %v", got, tt.want)
			}
			if a.inFlightNow() != 0 {
				t.Errorf("%d places held", a.inFlightNow())
			}
		})
	}
}

// TestAdmissionLimitConverges: on a hub whose requests take limit/rate
// (its CPU serves rate a second whatever the concurrency), the limit
// settles where a request takes the target, rate * target, from above
// and from below (or at its bounds), and stays there.
func TestAdmissionLimitConverges(t *testing.T) {
	tests := []struct {
		give  int     // MaxInFlight, where the limit starts
		rate  float64 // requests the hub completes a second
		floor int
		want  int // rate * target
	}{
		{give: 1024, rate: 3000, floor: 16, want: 300},
		{give: 512, rate: 1000, floor: 16, want: 100},
		{give: 512, rate: 200, floor: 4, want: 20},
		{give: 512, rate: 50000, floor: 16, want: 512},
		{give: 64, rate: 100, floor: 16, want: 16},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d at %.0f/s", tt.give, tt.rate), func(t *testing.T) {
			clk := newFakeClock()
			a := newAdmitter(Admission{MaxInFlight: tt.give, MinInFlight: tt.floor, MaxQueue: -1, LatencyTarget: 100 * time.Millisecond, Now: clk.Now}, nil)
			for i := range 200 {
				l := a.limitNow()
				runWindow(t, a, clk, 0, time.Duration(float64(l)/tt.rate*float64(time.Second)), true)
				if i >= 100 {
					if got := a.limitNow(); math.Abs(float64(got-tt.want)) > 0.1*float64(tt.want)+1 {
						t.Fatalf("window %d: limit %d, want about %d", i, got, tt.want)
					}
				}
			}
		})
	}
}

// TestAdmissionQueueDelay: a request is queued only while the wait
// estimated for its place (its place over the rate of completions:
// measured, or the limit over the average latency when that is more) is
// within QueueDelay; past it the refusal is immediate.
func TestAdmissionQueueDelay(t *testing.T) {
	tests := []struct {
		name  string
		lat   time.Duration // the latency of one window measured (0: none yet, the target)
		done  int           // requests completed in that window, one after the other (0: 4 at once)
		delay time.Duration
		want  int // requests queued before the first refusal
	}{
		// 400/s measured, more than the limit over the average latency
		// (4 / 95 ms): 2.5 ms a place.
		{"the rate measured when higher", 80 * time.Millisecond, 40, 31 * time.Millisecond, 12},
		{"the rate measured when higher, to the count", 80 * time.Millisecond, 40, time.Second, 20},
		// 10/s measured, less than 4 / 80 ms: 20 ms a place.
		{"the limit over the latency when higher", 20 * time.Millisecond, 1, 60 * time.Millisecond, 3},
		{"no measure yet: the target", 0, 0, 60 * time.Millisecond, 2},                     // 25 ms a place
		{"fast requests queue more", 20 * time.Millisecond, 0, 60 * time.Millisecond, 3},   // smoothed: 80 ms
		{"slow requests queue fewer", 200 * time.Millisecond, 1, 60 * time.Millisecond, 1}, // 125 ms: 32/s
		{"very slow: none", time.Second, 1, 60 * time.Millisecond, 0},                      // 325 ms: 12/s
		{"a longer delay queues more", 0, 0, 200 * time.Millisecond, 8},
		{"slow, but 40/s measured", time.Second, 0, 60 * time.Millisecond, 2},
		{"the count bounds it too", time.Millisecond, 0, time.Second, 20}, // MaxQueue
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			reg := prometheus.NewRegistry()
			a := newAdmitter(Admission{MaxInFlight: 4, MinInFlight: 4, MaxQueue: 20, QueueDelay: tt.delay, MaxWait: time.Minute, LatencyTarget: 100 * time.Millisecond, Now: clk.Now}, reg)
			switch {
			case tt.done > 0:
				for range tt.done {
					a.acquire(t.Context())
					a.release(clk.Now().Add(-tt.lat))
				}
				clk.Advance(a.window)
				a.mu.Lock()
				a.roll(clk.Now())
				a.mu.Unlock()
			case tt.lat > 0:
				runWindow(t, a, clk, 4, tt.lat, false)
			}
			for range 4 {
				if _, ok, _ := a.acquire(t.Context()); !ok {
					t.Fatal("refused below the limit")
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for i := range tt.want {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.acquire(ctx)
				}()
				waitFor(t, "a request to queue", func() bool { return a.queuedNow() == i+1 })
			}
			probe, stop := context.WithTimeout(t.Context(), 2*time.Second)
			defer stop()
			_, ok, reason := a.acquire(probe)
			wantReason := refusedQueueDelay
			if tt.want == 20 { // MaxQueue
				wantReason = refusedQueueFull
			}
			if ok || reason != wantReason {
				t.Errorf("request %d past the limit: admitted %v, reason %q; want refused %s", tt.want+1, ok, reason, wantReason)
			}
			cancel()
			wg.Wait()
			if a.queuedNow() != 0 || a.inFlightNow() != 4 {
				t.Errorf("after the queue gave up: %d queued, %d in flight", a.queuedNow(), a.inFlightNow())
			}
			if got := counterValue(a.abandoned); got != float64(tt.want) {
				t.Errorf("abandoned %v, want %d", got, tt.want)
			}
		})
	}
}

// TestAdmissionQueueOrder: places freed go to the queue's first, in the
// order they came, and a raised limit hands out places to the queue at
// once.
func TestAdmissionQueueOrder(t *testing.T) {
	clk := newFakeClock()
	a := newAdmitter(Admission{MaxInFlight: 8, MinInFlight: 2, QueueDelay: time.Hour, MaxWait: time.Minute, LatencyTarget: 100 * time.Millisecond, Window: time.Second, Now: clk.Now}, nil)
	for range 4 { // the limit falls from 8 to 2: 8, 6, 4, 3, 2 (a cut a window: a window is longer than the latency)
		runWindow(t, a, clk, 1, time.Second, false)
	}
	if got := a.limitNow(); got != 2 {
		t.Fatalf("limit %d, want 2", got)
	}
	for range 2 {
		a.acquire(t.Context())
	}
	order := make(chan int, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, reason := a.acquire(t.Context()); !ok {
				t.Errorf("waiter %d refused: %s", i, reason)
				return
			}
			order <- i
		}()
		waitFor(t, "a request to queue", func() bool { return a.queuedNow() == i+1 })
	}
	a.release(clk.Now()) // one place: waiter 0
	if got := <-order; got != 0 {
		t.Errorf("first served: waiter %d, want 0", got)
	}
	// A window of fast requests at the limit raises it to 3 and the
	// next waiter gets the new place without a release.
	clk.Advance(a.window)
	a.mu.Lock()
	a.avg, a.winN, a.winSum, a.winLimited = time.Millisecond, 2, 2*time.Millisecond, true
	a.roll(clk.Now())
	a.mu.Unlock()
	if got := <-order; got != 1 {
		t.Errorf("served on the raise: waiter %d, want 1", got)
	}
	for want := 2; want < 6; want++ {
		a.release(clk.Now())
		if got := <-order; got != want {
			t.Errorf("served waiter %d, want %d", got, want)
		}
	}
	wg.Wait()
	if a.queuedNow() != 0 || a.inFlightNow() != 3 {
		t.Errorf("%d queued, %d in flight; want 0 and 3", a.queuedNow(), a.inFlightNow())
	}
}
