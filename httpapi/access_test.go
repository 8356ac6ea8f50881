package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gridhub/gridhub/internal/testclock"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/time/rate"
)

var accessSecret = []byte("access-test-secret-0123456789abcdef")

func accessKeys(t *testing.T) *auth.Keys {
	t.Helper()
	k, err := auth.HMACKeys(accessSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func accessToken(t *testing.T, k *auth.Keys, role auth.Role, scope string) string {
	t.Helper()
	tok, err := k.Mint(auth.Principal{Role: role, Scope: scope, Subject: "test-" + strings.ToLower(string(role))}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// accessError is the body of an error answered outside the executor.
type accessError struct {
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func decodeAccessError(t *testing.T, body io.Reader) accessError {
	t.Helper()
	var e accessError
	if err := json.NewDecoder(body).Decode(&e); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if len(e.Errors) != 1 {
		t.Fatalf("want one error, got %+v", e)
	}
	return e
}

func TestLimiters(t *testing.T) {
	c := testclock.New(time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC))
	l := newLimiters[string](2, 3) // 2 per second, burst 3
	l.now = c.Now

	for i := range 3 {
		if ok, retry := l.reserve("a"); !ok {
			t.Fatalf("request %d of the burst refused (retry %v)", i+1, retry)
		}
	}
	ok, retry := l.reserve("a")
	if ok {
		t.Fatal("a request beyond the burst was allowed")
	}
	if retry <= 0 || retry > 500*time.Millisecond {
		t.Errorf("retry %v, want within (0, 500ms] at 2 per second", retry)
	}
	// A refusal does not use up a token: the retry hint stays the same.
	if ok, again := l.reserve("a"); ok || again != retry {
		t.Errorf("second refusal: ok %v retry %v, want false %v", ok, again, retry)
	}
	// Another key has its own bucket.
	if ok, _ := l.reserve("b"); !ok {
		t.Error("another key was refused")
	}
	// Halfway to the hint: still refused; at it: allowed once.
	c.Advance(retry / 2)
	if ok, _ := l.reserve("a"); ok {
		t.Error("allowed before the retry hint")
	}
	c.Advance(retry / 2)
	if ok, _ := l.reserve("a"); !ok {
		t.Error("refused after waiting for the retry hint")
	}
	if ok, _ := l.reserve("a"); ok {
		t.Error("two requests allowed after one refill")
	}
	// After a long pause the whole burst is back, and no more.
	c.Advance(time.Minute)
	for i := range 3 {
		if ok, _ := l.reserve("a"); !ok {
			t.Fatalf("after a pause, request %d refused", i+1)
		}
	}
	if ok, _ := l.reserve("a"); ok {
		t.Error("after a pause, more than the burst allowed")
	}
}

func TestLimitersBurstDefault(t *testing.T) {
	tests := []struct {
		limit float64
		burst int
		want  int
	}{
		{5, 0, 5},
		{0.5, 0, 1},
		{5, -3, 5},
		{5, 2, 2},
	}
	for _, tt := range tests {
		l := newLimiters[string](rate.Limit(tt.limit), tt.burst)
		if l.burst != tt.want {
			t.Errorf("newLimiters(%v, %d).burst = %d, want %d", tt.limit, tt.burst, l.burst, tt.want)
		}
	}
}

func TestLimitersSweepIdle(t *testing.T) {
	c := testclock.New(time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC))
	l := newLimiters[string](1, 1)
	l.now = c.Now
	l.reserve("idle-1")
	l.reserve("idle-2")
	c.Advance(5 * time.Minute)
	l.reserve("recent")
	c.Advance(limiterIdle + time.Minute - 5*time.Minute)
	for l.calls%limiterSweep != limiterSweep-1 {
		l.reserve("busy")
	}
	if len(l.buckets) != 4 {
		t.Fatalf("before the sweep: %d buckets, want 4", len(l.buckets))
	}
	l.reserve("busy") // this call sweeps
	for _, k := range []string{"idle-1", "idle-2"} {
		if _, ok := l.buckets[k]; ok {
			t.Errorf("bucket %q idle for %v survived the sweep", k, limiterIdle+time.Minute)
		}
	}
	for _, k := range []string{"recent", "busy"} {
		if _, ok := l.buckets[k]; !ok {
			t.Errorf("bucket %q in use was swept", k)
		}
	}
	// A swept key starts again with a full burst.
	if ok, _ := l.reserve("idle-1"); !ok {
		t.Error("a swept key was refused")
	}
}

func TestLimitersConcurrent(t *testing.T) {
	c := testclock.New(time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC))
	l := newLimiters[string](1, 10)
	l.now = c.Now
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := "shared"
				if i%2 == 1 {
					key = fmt.Sprintf("own-%d", g)
				}
				if ok, _ := l.reserve(key); ok && key == "shared" {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// 200 requests on the shared key at one instant: exactly the burst.
	if allowed != 10 {
		t.Errorf("%d requests allowed on the shared key, want the burst of 10", allowed)
	}
}

func TestTooMany(t *testing.T) {
	tests := []struct {
		give time.Duration
		want int
	}{
		{0, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{1200 * time.Millisecond, 2},
		{90 * time.Second, 90},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		tooMany(rec, tt.give, "this token")
		checkTooMany(t, rec.Result(), tt.want)
	}
}

// checkTooMany checks a 429 answer: Retry-After and extensions.retryAfter
// agree and are want seconds (0: any value of at least 1).
func checkTooMany(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 || want > 0 && secs != want {
		t.Errorf("Retry-After %q, want %d", resp.Header.Get("Retry-After"), want)
	}
	e := decodeAccessError(t, resp.Body)
	if code := e.Errors[0].Extensions["code"]; code != hub.ERATELIMITED {
		t.Errorf("extensions.code %v, want %s", code, hub.ERATELIMITED)
	}
	if ra, _ := e.Errors[0].Extensions["retryAfter"].(float64); int(ra) != secs {
		t.Errorf("extensions.retryAfter %v, Retry-After %d", e.Errors[0].Extensions["retryAfter"], secs)
	}
}

// okHandler answers 200 with the caller's role, or "anonymous".
func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			io.WriteString(w, "anonymous")
			return
		}
		fmt.Fprintf(w, "%s|%s|%s", p.Role, p.Scope, p.Subject)
	})
}

// serveAs sends one request through h as p (nil: anonymous) from addr.
func serveAs(h http.Handler, p *auth.Principal, addr string) *http.Response {
	r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{}`))
	r.RemoteAddr = addr
	if p != nil {
		r = r.WithContext(auth.WithPrincipal(r.Context(), *p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

func TestRateLimitPerToken(t *testing.T) {
	// One request per 1000 s: the second in a row is always refused.
	h := tokenLimit(RateLimits{PerToken: 0.001, TokenBurst: 2}, okHandler())
	d1 := &auth.Principal{Role: auth.District, Scope: "d1", Subject: "ops"}
	d2 := &auth.Principal{Role: auth.District, Scope: "d2", Subject: "ops"}
	d1Other := &auth.Principal{Role: auth.District, Scope: "d1", Subject: "night-shift"}
	c1 := &auth.Principal{Role: auth.Committee, Scope: "d1", Subject: "ops"}

	// The token's budget follows it from address to address.
	for i, addr := range []string{"10.0.0.1:1000", "10.0.0.2:2000"} {
		if resp := serveAs(h, d1, addr); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
		}
	}
	resp := serveAs(h, d1, "10.0.0.3:3000")
	checkTooMany(t, resp, 0)
	if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s < 900 {
		t.Errorf("Retry-After %d, want about 1000 s at 0.001 per second", s)
	}
	// Other principals from the same address are not held back by it.
	for _, p := range []*auth.Principal{d2, d1Other, c1} {
		if resp := serveAs(h, p, "10.0.0.1:1000"); resp.StatusCode != http.StatusOK {
			t.Errorf("%+v from the same address: status %d", *p, resp.StatusCode)
		}
	}
	// Anonymous requests have no token budget; with no address limit they
	// pass.
	for range 5 {
		if resp := serveAs(h, nil, "10.0.0.1:1000"); resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous: status %d", resp.StatusCode)
		}
	}
}

func TestRateLimitPerAddress(t *testing.T) {
	h := addressLimit(RateLimits{PerAddress: 0.001, AddrBurst: 1}, okHandler())
	admin := &auth.Principal{Role: auth.Admin, Subject: "ops"}
	if resp := serveAs(h, nil, "10.0.0.1:1000"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d", resp.StatusCode)
	}
	// Another port of the same host is the same address, token or not.
	checkTooMany(t, serveAs(h, nil, "10.0.0.1:1001"), 0)
	checkTooMany(t, serveAs(h, admin, "10.0.0.1:1002"), 0)
	if resp := serveAs(h, nil, "10.0.0.2:1000"); resp.StatusCode != http.StatusOK {
		t.Errorf("another address: status %d", resp.StatusCode)
	}
	if resp := serveAs(h, nil, "[2001:db8::1]:443"); resp.StatusCode != http.StatusOK {
		t.Errorf("an IPv6 address: status %d", resp.StatusCode)
	}
	checkTooMany(t, serveAs(h, nil, "[2001:db8::1]:444"), 0)
}

func TestRateLimitOff(t *testing.T) {
	next := okHandler()
	h := rateLimit(RateLimits{}, func(h http.Handler) http.Handler { return h }, next)
	for range 100 {
		if resp := serveAs(h, &auth.Principal{Role: auth.Admin, Subject: "s"}, "10.0.0.1:1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d with no limits", resp.StatusCode)
		}
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ give, want string }{
		{"10.0.0.1:1234", "10.0.0.1"},
		{"[::1]:80", "::1"},
		{"no-port", "no-port"},
		{"", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.give
		r.Header.Set("X-Forwarded-For", "1.2.3.4") // not trusted
		if got := ClientAddr(r, nil); got != tt.want {
			t.Errorf("ClientAddr(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestClientAddrBehindProxies(t *testing.T) {
	trusted, err := ParseProxies("172.18.0.0/16, 10.1.2.3, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"from a trusted proxy: the client it names", "172.18.0.5:40000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"two trusted proxies", "172.18.0.5:40000", []string{"203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"a forged hop left of the client is not believed", "172.18.0.5:40000", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"several headers read as one list", "172.18.0.5:40000", []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"spaces", "172.18.0.5:40000", []string{"  203.0.113.7  "}, "203.0.113.7"},
		{"IPv6 client", "172.18.0.5:40000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped IPv6 client", "172.18.0.5:40000", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"IPv6 proxy", "[::1]:80", []string{"203.0.113.7"}, "203.0.113.7"},
		{"no header: the proxy itself", "172.18.0.5:40000", nil, "172.18.0.5"},
		{"empty header", "172.18.0.5:40000", []string{""}, "172.18.0.5"},
		{"malformed last hop: the proxy", "172.18.0.5:40000", []string{"not-an-ip"}, "172.18.0.5"},
		{"malformed hop left of the client", "172.18.0.5:40000", []string{"junk, 203.0.113.7"}, "203.0.113.7"},
		{"hop with a port is malformed", "172.18.0.5:40000", []string{"203.0.113.7:5555"}, "172.18.0.5"},
		{"every hop trusted: the leftmost", "172.18.0.5:40000", []string{"10.1.2.3, 172.18.0.9"}, "10.1.2.3"},
		{"from an untrusted address the header is ignored", "198.51.100.9:1234", []string{"203.0.113.7"}, "198.51.100.9"},
		{"just outside the trusted prefix", "172.19.0.1:1234", []string{"203.0.113.7"}, "172.19.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, trusted); got != tt.want {
				t.Errorf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "1.2.3"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) took it", bad)
		}
	}
}

// TestAddressLimitBehindProxy: behind a trusted proxy each client has its
// own budget; a client cannot escape its budget by writing the header.
func TestAddressLimitBehindProxy(t *testing.T) {
	trusted, _ := ParseProxies("172.18.0.0/16")
	h := addressLimit(RateLimits{PerAddress: 1, AddrBurst: 1, TrustedProxies: trusted}, okHandler())
	send := func(remote, xff string) int {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 5 {
		if code := send("172.18.0.5:1", fmt.Sprintf("203.0.113.%d", i+1)); code != http.StatusOK {
			t.Errorf("client %d behind the proxy: %d, want its own budget", i+1, code)
		}
	}
	if code := send("172.18.0.5:1", "203.0.113.1"); code != http.StatusTooManyRequests {
		t.Errorf("client 1 again: %d, want 429", code)
	}
	// Directly, with a forged header: limited by its own address.
	send("198.51.100.9:1", "203.0.113.50")
	if code := send("198.51.100.9:1", "203.0.113.51"); code != http.StatusTooManyRequests {
		t.Errorf("a forged header escaped the limit: %d", code)
	}
}

func TestAuthenticate(t *testing.T) {
	k := accessKeys(t)
	district := accessToken(t, k, auth.District, "d1")
	other, err := auth.HMACKeys([]byte("another-secret-0123456789abcdefgh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := accessToken(t, other, auth.Admin, "")
	h := authenticate(k, okHandler())

	tests := []struct {
		name   string
		header string
		status int
		body   string
	}{
		{"no header", "", http.StatusOK, "anonymous"},
		{"valid token", "Bearer " + district, http.StatusOK, "DISTRICT|d1|test-district"},
		{"lower-case scheme", "bearer " + district, http.StatusOK, "DISTRICT|d1|test-district"},
		{"Basic", "Basic x", http.StatusUnauthorized, ""},
		{"Basic with credentials", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, ""},
		{"bare token", district, http.StatusUnauthorized, ""},
		{"Bearer without token", "Bearer ", http.StatusUnauthorized, ""},
		{"bad token", "Bearer not.a.token", http.StatusUnauthorized, ""},
		{"tampered token", "Bearer " + district[:len(district)-10] + "AAAAAAAAAA", http.StatusUnauthorized, ""},
		{"token of another hub", "Bearer " + foreign, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{}`))
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			resp := rec.Result()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusOK {
				if b, _ := io.ReadAll(resp.Body); string(b) != tt.body {
					t.Errorf("body %q, want %q", b, tt.body)
				}
				return
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q", got)
			}
			b, _ := io.ReadAll(resp.Body)
			e := decodeAccessError(t, strings.NewReader(string(b)))
			if code := e.Errors[0].Extensions["code"]; code != hub.EUNAUTHORIZED {
				t.Errorf("code %v, want %s", code, hub.EUNAUTHORIZED)
			}
			if tok := auth.BearerToken(tt.header); len(tok) >= 8 && strings.Contains(string(b), tok) {
				t.Errorf("the answer echoes the token: %s", b)
			}
		})
	}
}

func TestWSInit(t *testing.T) {
	k := accessKeys(t)
	committee := accessToken(t, k, auth.Committee, "c1")
	initFn := wsInit(k)
	tests := []struct {
		name    string
		give    transport.InitPayload
		want    string // role|scope, "" anonymous
		refused bool
	}{
		{"no payload", nil, "", false},
		{"empty payload", transport.InitPayload{}, "", false},
		{"Authorization", transport.InitPayload{"Authorization": "Bearer " + committee}, "COMMITTEE|c1", false},
		{"authorization", transport.InitPayload{"authorization": "Bearer " + committee}, "COMMITTEE|c1", false},
		{"token", transport.InitPayload{"token": committee}, "COMMITTEE|c1", false},
		{"Basic", transport.InitPayload{"Authorization": "Basic x"}, "", true},
		{"bare token in Authorization", transport.InitPayload{"Authorization": committee}, "", true},
		{"bad token", transport.InitPayload{"Authorization": "Bearer x.y.z"}, "", true},
		{"bad token under token", transport.InitPayload{"token": "x.y.z"}, "", true},
		{"tampered", transport.InitPayload{"Authorization": "Bearer " + committee + "x"}, "", true},
		{"Authorization wins over token", transport.InitPayload{"Authorization": "Bearer bad", "token": committee}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, ack, err := initFn(t.Context(), tt.give)
			if ack != nil {
				t.Errorf("ack payload %v", *ack)
			}
			if tt.refused {
				if err == nil {
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), committee) {
					t.Errorf("error echoes the token: %v", err)
				}
				if _, ok := auth.FromContext(ctx); ok {
					t.Error("a refused connection carries a principal")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			p, ok := auth.FromContext(ctx)
			got := ""
			if ok {
				got = string(p.Role) + "|" + p.Scope
			}
			if got != tt.want {
				t.Errorf("principal %q, want %q", got, tt.want)
			}
		})
	}

	// A connection upgraded with a valid Authorization header keeps its
	// principal when connection_init carries none.
	upgraded := auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.Admin, Subject: "ops"})
	ctx, _, err := initFn(upgraded, transport.InitPayload{})
	if p, ok := auth.FromContext(ctx); err != nil || !ok || p.Role != auth.Admin {
		t.Errorf("upgraded connection: %+v %v %v", p, ok, err)
	}
}

// whoamiSchema is a one-field schema whose field answers the caller's role.
func whoamiSchema() graphql.ExecutableSchema {
	return oneShotSchema(`type Query { whoami: String! }`, func(ctx context.Context) any {
		who := "anonymous"
		if p, ok := auth.FromContext(ctx); ok {
			who = string(p.Role)
		}
		return map[string]string{"whoami": who}
	})
}

// oneShotSchema is a schema of sdl whose every operation answers, once,
// data: what answer returns for the operation's context, as JSON.
func oneShotSchema(sdl string, answer func(ctx context.Context) any) graphql.ExecutableSchema {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: sdl})
	return &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			done := false
			return func(ctx context.Context) *graphql.Response {
				if done {
					return nil
				}
				done = true
				data, _ := json.Marshal(answer(ctx))
				return &graphql.Response{Data: data}
			}
		},
	}
}

func newAccessServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	opts.Schema = whoamiSchema()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Registry = prometheus.NewRegistry()
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func accessDo(t *testing.T, method, url, token, authz string) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"query":"{ whoami }"}`)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case authz != "":
		req.Header.Set("Authorization", authz)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestMetricsNeedAdmin(t *testing.T) {
	k := accessKeys(t)
	admin := accessToken(t, k, auth.Admin, "")
	district := accessToken(t, k, auth.District, "d1")
	srv := newAccessServer(t, Options{Verifier: k, PublicMetrics: false})

	tests := []struct {
		name   string
		token  string
		authz  string
		status int
		code   string
	}{
		{"anonymous", "", "", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"Basic", "", "Basic x", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"bad token", "not.a.token", "", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"DISTRICT", district, "", http.StatusForbidden, hub.EFORBIDDEN},
		{"ADMIN", admin, "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := accessDo(t, http.MethodGet, srv.URL+"/metrics", tt.token, tt.authz)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == http.StatusOK {
				if !strings.Contains(string(b), "gridhub_http_requests_in_flight") {
					t.Errorf("metrics lack gridhub_http_requests_in_flight")
				}
				return
			}
			if strings.Contains(string(b), "gridhub_http") {
				t.Errorf("refused, yet metrics shown: %.200s", b)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			e := decodeAccessError(t, strings.NewReader(string(b)))
			if code := e.Errors[0].Extensions["code"]; code != tt.code {
				t.Errorf("code %v, want %s", code, tt.code)
			}
		})
	}

	public := newAccessServer(t, Options{Verifier: k, PublicMetrics: true})
	if resp, _ := accessDo(t, http.MethodGet, public.URL+"/metrics", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("public metrics: status %d", resp.StatusCode)
	}
}

func TestHandlerAuthentication(t *testing.T) {
	k := accessKeys(t)
	pharmacy := accessToken(t, k, auth.Pharmacy, "p1")
	srv := newAccessServer(t, Options{Verifier: k})
	url := srv.URL + "/graphql"

	resp, b := accessDo(t, http.MethodPost, url, "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"whoami":"anonymous"`) {
		t.Errorf("anonymous: %d %s", resp.StatusCode, b)
	}
	resp, b = accessDo(t, http.MethodPost, url, pharmacy, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"whoami":"PHARMACY"`) {
		t.Errorf("pharmacy: %d %s", resp.StatusCode, b)
	}
	for _, authz := range []string{"Basic x", "Bearer garbage", "Bearer " + pharmacy + "x"} {
		resp, b = accessDo(t, http.MethodPost, url, "", authz)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%.20q: status %d, WWW-Authenticate %q", authz, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(b), "whoami") {
			t.Errorf("%.20q: refused, yet executed: %s", authz, b)
		}
		if e := decodeAccessError(t, strings.NewReader(string(b))); e.Errors[0].Extensions["code"] != hub.EUNAUTHORIZED {
			t.Errorf("%.20q: code %v", authz, e.Errors[0].Extensions["code"])
		}
	}
	// GET requests are authenticated the same way.
	resp, _ = accessDo(t, http.MethodGet, url+"?query=%7Bwhoami%7D", "", "Basic x")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET with Basic: status %d", resp.StatusCode)
	}
	// The health check needs no token, even a bad one is not looked at.
	resp, _ = accessDo(t, http.MethodGet, srv.URL+"/healthz", "", "Basic x")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: status %d", resp.StatusCode)
	}
}

func TestHandlerRateLimit(t *testing.T) {
	k := accessKeys(t)
	a := accessToken(t, k, auth.Committee, "c1")
	b := accessToken(t, k, auth.Committee, "c2")
	srv := newAccessServer(t, Options{Verifier: k, Limits: RateLimits{PerToken: 0.001, TokenBurst: 3}})
	url := srv.URL + "/graphql"
	for i := range 3 {
		if resp, body := accessDo(t, http.MethodPost, url, a, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"query":"{ whoami }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	checkTooMany(t, resp, 0)
	if resp, body := accessDo(t, http.MethodPost, url, b, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another token: %d %s", resp.StatusCode, body)
	}
	// Anonymous callers have no token budget to exhaust.
	for range 5 {
		if resp, _ := accessDo(t, http.MethodPost, url, "", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous: status %d", resp.StatusCode)
		}
	}
}

// TestBadTokensSpendTheAddressBudget: requests refused by authentication
// still count against their address, so bad tokens cannot flood the hub.
func TestBadTokensSpendTheAddressBudget(t *testing.T) {
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeAppError(w, http.StatusUnauthorized, hub.Errorf(hub.EUNAUTHORIZED, "bad token"))
		})
	}
	h := rateLimit(RateLimits{PerAddress: 0.001, AddrBurst: 3}, refuse, okHandler())
	codes := map[int]int{}
	for range 10 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.RemoteAddr = "192.0.2.7:5555"
		h.ServeHTTP(rec, req)
		codes[rec.Code]++
	}
	if codes[http.StatusUnauthorized] != 3 || codes[http.StatusTooManyRequests] != 7 {
		t.Errorf("status counts %v, want 3 x 401 then 7 x 429", codes)
	}
}
