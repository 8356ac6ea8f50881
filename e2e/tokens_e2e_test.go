package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/cli"
)

// tokenSecret is the HS256 key the hubs of these tests sign with, so that
// the tests can mint tokens at any instant.
const tokenSecret = "token-e2e-secret-0123456789abcdef"

// mintAt mints a token for role and scope as if at the instant at, valid
// for ttl.
func mintAt(t *testing.T, at time.Time, ttl time.Duration, role auth.Role, scope string) string {
	t.Helper()
	k, err := auth.HMACKeys([]byte(tokenSecret), func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Mint(auth.Principal{Role: role, Scope: scope, Subject: "e2e-" + strings.ToLower(string(role))}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readClose reads until the server closes c and returns the close frame;
// messages before it are returned in before.
func readClose(t *testing.T, c *hubWS) (ce *websocket.CloseError, before []string) {
	t.Helper()
	for {
		msg, err := c.read()
		if err == nil {
			before = append(before, msg.Type+" "+string(msg.Payload))
			continue
		}
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v, want a close frame (after %v)", err, before)
		}
		return ce, before
	}
}

// TestTokenExpiredOnEveryTransport: a token that expired a second or an
// hour ago is refused at once, the same way whatever the clock skew
// allowed on iat: 401 UNAUTHENTICATED "token expired" over POST (and the
// mutation does not run), GET and SSE, 4403 "token expired" at
// connection_init on both WebSocket protocols.
func TestTokenExpiredOnEveryTransport(t *testing.T) {
	h := startHub(t, t.TempDir(), "--jwt-secret", tokenSecret)
	admin := client{url: h.url, token: mintAt(t, time.Now(), time.Hour, auth.Admin, "")}
	ac := seedAccessCity(t, admin)
	mutation := `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 7) { id } }`
	stock := func() string {
		var out struct {
			Pharmacy struct{ Stock json.RawMessage } `json:"pharmacy"`
		}
		must(t, admin, `query($p: ID!) { pharmacy(id: $p) { stock { sku quantity } } }`, map[string]any{"p": ac.pharmacies[0]}, &out)
		return string(out.Pharmacy.Stock)
	}
	before := stock()

	checkHTTP := func(t *testing.T, resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d WWW-Authenticate %q, want 401 with it: %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		var r gqlResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if r.code() != "UNAUTHENTICATED" || r.Errors[0].Message != "token expired" || !noData(r.Data) {
			t.Errorf("answer %s, want UNAUTHENTICATED \"token expired\" and no data", body)
		}
	}
	do := func(t *testing.T, method, target, accept, token string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, h.url+"/graphql"+target, bytes.NewReader(body))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	mutationBody, _ := json.Marshal(map[string]any{"query": mutation, "variables": map[string]any{"p": ac.pharmacies[0]}})
	subscriptionBody, _ := json.Marshal(map[string]any{
		"query":     `subscription($c: ID!) { restockAlerts(committeeId: $c) { quantity } }`,
		"variables": map[string]any{"c": ac.committees[0]},
	})

	for _, ago := range []time.Duration{time.Second, 10 * time.Second, 29 * time.Second, 31 * time.Second, time.Hour} {
		expired := func(role auth.Role, scope string) string {
			return mintAt(t, time.Now().Add(-time.Hour-ago), time.Hour, role, scope)
		}
		t.Run(fmt.Sprintf("POST mutation %v", ago), func(t *testing.T) {
			resp, b := do(t, http.MethodPost, "", "", expired(auth.Admin, ""), mutationBody)
			checkHTTP(t, resp, b)
		})
		t.Run(fmt.Sprintf("GET %v", ago), func(t *testing.T) {
			q := url.Values{"query": {`{ supplies { sku } }`}}
			resp, b := do(t, http.MethodGet, "?"+q.Encode(), "", expired(auth.Admin, ""), nil)
			checkHTTP(t, resp, b)
		})
		t.Run(fmt.Sprintf("SSE %v", ago), func(t *testing.T) {
			resp, b := do(t, http.MethodPost, "", "text/event-stream", expired(auth.Committee, ac.committees[0]), subscriptionBody)
			checkHTTP(t, resp, b)
		})
		for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
			t.Run(fmt.Sprintf("%s init %v", protocol, ago), func(t *testing.T) {
				c := mustDialWS(t, h, protocol)
				c.send("connection_init", "", map[string]any{"Authorization": "Bearer " + expired(auth.Committee, ac.committees[0])})
				ce, before := readClose(t, c)
				if ce.Code != 4403 || ce.Text != "token expired" {
					t.Errorf("close %d %q, want 4403 \"token expired\"", ce.Code, ce.Text)
				}
				wantBefore := 0
				if protocol == "graphql-ws" {
					wantBefore = 1
				}
				if len(before) != wantBefore || (wantBefore == 1 && !strings.Contains(before[0], `connection_error {"message":"token expired"}`)) {
					t.Errorf("before the close: %q", before)
				}
			})
		}
	}
	if after := stock(); after != before {
		t.Errorf("a mutation with an expired token ran: stock %s, then %s", before, after)
	}
}

// TestTokenExpiresOnOpenStream: a subscription whose token expires is
// ended at the token's exp: by a close 4403 "token expired" on both
// WebSocket protocols; on SSE by a next event carrying the error
// UNAUTHENTICATED "token expired", then complete.
func TestTokenExpiresOnOpenStream(t *testing.T) {
	h := startHub(t, t.TempDir(), "--jwt-secret", tokenSecret)
	ac := seedAccessCity(t, client{url: h.url, token: mintAt(t, time.Now(), time.Hour, auth.Admin, "")})
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			tok := mintAt(t, time.Now(), 2*time.Second, auth.Committee, ac.committees[0])
			c := mustDialWS(t, h, protocol)
			c.init(map[string]any{"Authorization": "Bearer " + tok})
			start := "subscribe"
			if protocol == "graphql-ws" {
				start = "start"
			}
			c.send(start, "1", map[string]any{
				"query":     `subscription($c: ID!) { restockAlerts(committeeId: $c) { quantity } }`,
				"variables": map[string]any{"c": ac.committees[0]},
			})
			ce, _ := readClose(t, c)
			if ce.Code != 4403 || ce.Text != "token expired" {
				t.Errorf("close %d %q, want 4403 \"token expired\"", ce.Code, ce.Text)
			}
		})
	}
	t.Run("SSE", func(t *testing.T) {
		t.Parallel()
		tok := mintAt(t, time.Now(), 2*time.Second, auth.Committee, ac.committees[0])
		body, _ := json.Marshal(map[string]any{
			"query":     `subscription($c: ID!) { restockAlerts(committeeId: $c) { quantity } }`,
			"variables": map[string]any{"c": ac.committees[0]},
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		events, data := sseEvents(t, resp.Body)
		if len(events) != 2 || events[0] != "next" || events[1] != "complete" {
			t.Fatalf("events %q (data %q), want next (the error) and complete", events, data)
		}
		var r gqlResponse
		if err := json.Unmarshal([]byte(data[0]), &r); err != nil || r.code() != "UNAUTHENTICATED" || r.Errors[0].Message != "token expired" {
			t.Errorf("last result %s (%v), want UNAUTHENTICATED \"token expired\"", data[0], err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("the stream lasted %v, its token 2 s", d)
		}
	})
}

// TestTokenCommandTTL: gridhub token refuses a lifetime outside (0, 366
// days] as a usage error (exit 2), before it looks for a key.
func TestTokenCommandTTL(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		give string
		ok   bool
	}{
		{"1s", true},
		{"24h", true},
		{"8784h", true}, // 366 days
		{"8784h0m1s", false},
		{"8785h", false},
		{"17568h", false}, // two years
		{"87600h", false}, // ten years
		{"2562047h", false},
		{"0s", false},
		{"-1s", false},
		{"-87600h", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"token", "-data", dir, "-jwt-secret", strings.Repeat("k", 32), "-role", "ADMIN", "-subject", "ops", "-ttl", tt.give}
			err := app.Run(context.Background(), args, &out, &errOut, func(string) string { return "" })
			if tt.ok {
				if err != nil || out.Len() == 0 {
					t.Fatalf("refused: %v (%s)", err, errOut.String())
				}
				return
			}
			if code := cli.Code(err); code != cli.ExitUsage {
				t.Errorf("exit %d (err %v), want %d", code, err, cli.ExitUsage)
			}
			if out.Len() != 0 {
				t.Errorf("printed a token: %s", out.String())
			}
			if err != nil && !strings.Contains(err.Error(), "366 days") {
				t.Errorf("message %q does not name the 366-day bound", err)
			}
		})
	}
	// The bound is checked before the key is read: a data directory that
	// cannot hold one does not hide the usage error.
	err := app.Run(context.Background(), []string{"token", "-data", "/dev/null/none", "-role", "ADMIN", "-subject", "ops", "-ttl", "87600h"},
		io.Discard, io.Discard, func(string) string { return "" })
	if code := cli.Code(err); code != cli.ExitUsage {
		t.Errorf("ten years without a key: exit %d (%v), want %d", code, err, cli.ExitUsage)
	}
}

// reconnectReport is what web/clients/reconnects.mjs prints.
type reconnectReport struct {
	Attempts int `json:"attempts"`
	Acks     int `json:"acks"`
	Closes   []struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"closes"`
	Error json.RawMessage `json:"error"`
}

// TestRealClientTokenExpiry runs the reference graphql-ws client, with its
// default retry options, against a hub that refuses its token: it must
// not reconnect in a storm. graphql-ws (6.x) retries every close but a
// few fatal codes (4400, 4401, 4406, 4409, 4429, 4500, 4005, 4004 and most
// 1xxx): after 1000 it reconnects at once, without backoff and without
// counting, while it has subscriptions; after 4403 it waits its backoff
// (1 s + 0.3-3 s, then 2 s + ..., doubling) for at most retryAttempts (5)
// tries, then fails the subscription. With shouldRetry refusing 4403 (as
// the dashboard does) it stops at the first 4403.
func TestRealClientTokenExpiry(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the real-client test needs Node.js")
	}
	if _, err := os.Stat("../web/node_modules/graphql-ws"); err != nil {
		t.Skip("web/node_modules/graphql-ws is missing: run make assets (make test does)")
	}
	h := startHub(t, t.TempDir(), "--jwt-secret", tokenSecret)
	ac := seedAccessCity(t, client{url: h.url, token: mintAt(t, time.Now(), time.Hour, auth.Admin, "")})
	wsURL := "ws" + strings.TrimPrefix(h.url, "http") + "/graphql"
	query := `subscription($c: ID!) { restockAlerts(committeeId: $c) { quantity } }`
	vars, _ := json.Marshal(map[string]any{"c": ac.committees[0]})
	committee := func(at time.Time, ttl time.Duration) string {
		return mintAt(t, at, ttl, auth.Committee, ac.committees[0])
	}

	tests := []struct {
		name         string
		mode         string
		token        func() string
		window       time.Duration
		wantAcks     int
		maxAttempts  int
		wantFailed   bool // the subscription has ended with an error by then
		minAttempts  int
		wantAllCodes int
	}{
		// Expired a few seconds ago (within the old 30 s leeway, which
		// acknowledged the connection and then closed it 1000 at once:
		// hundreds of reconnections a second).
		{name: "expired 5 s ago", mode: "default", token: func() string { return committee(time.Now().Add(-time.Hour-5*time.Second), time.Hour) },
			window: 3 * time.Second, minAttempts: 1, maxAttempts: 2, wantAllCodes: 4403},
		{name: "expired an hour ago", mode: "default", token: func() string { return committee(time.Now().Add(-2*time.Hour), time.Hour) },
			window: 3 * time.Second, minAttempts: 1, maxAttempts: 2, wantAllCodes: 4403},
		// Expiring on the open connection: acknowledged once, closed 4403
		// at expiry, then at most one retry (refused 4403) in the window.
		{name: "expires while open", mode: "default", token: func() string { return committee(time.Now(), 2*time.Second) },
			window: 4 * time.Second, wantAcks: 1, minAttempts: 1, maxAttempts: 2, wantAllCodes: 4403},
		// The dashboard's option: no retry after 4403.
		{name: "expired, 4403 fatal", mode: "fatal-4403", token: func() string { return committee(time.Now().Add(-time.Minute), 30*time.Second) },
			window: 2 * time.Second, minAttempts: 1, maxAttempts: 1, wantFailed: true, wantAllCodes: 4403},
		{name: "expires while open, 4403 fatal", mode: "fatal-4403", token: func() string { return committee(time.Now(), 2*time.Second) },
			window: 4 * time.Second, wantAcks: 1, minAttempts: 1, maxAttempts: 1, wantFailed: true, wantAllCodes: 4403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tt.window+20*time.Second)
			defer cancel()
			// The token is minted once the client has started (it says
			// "ready"), so a lifetime of seconds is not spent starting
			// Node.js on a busy machine.
			cmd := exec.CommandContext(ctx, node, "../web/clients/reconnects.mjs", tt.mode, wsURL, "-",
				fmt.Sprint(tt.window.Milliseconds()), query, string(vars))
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			errPipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stderrLines := bufio.NewScanner(errPipe)
			var stderr strings.Builder
			for stderrLines.Scan() && stderrLines.Text() != "ready" {
				stderr.WriteString(stderrLines.Text() + "\n")
			}
			fmt.Fprintln(stdin, tt.token())
			stdin.Close()
			for stderrLines.Scan() {
				stderr.WriteString(stderrLines.Text() + "\n")
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("client: %v: %s", err, stderr.String())
			}
			out := stdout.Bytes()
			var r reconnectReport
			if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
				t.Fatalf("report %q: %v", out, err)
			}
			t.Logf("%s", bytes.TrimSpace(out))
			if r.Attempts < tt.minAttempts || r.Attempts > tt.maxAttempts {
				t.Errorf("%d connection attempts in %v, want %d to %d", r.Attempts, tt.window, tt.minAttempts, tt.maxAttempts)
			}
			if r.Acks != tt.wantAcks {
				t.Errorf("%d acknowledgements, want %d", r.Acks, tt.wantAcks)
			}
			if len(r.Closes) == 0 {
				t.Error("never closed")
			}
			for _, c := range r.Closes {
				if c.Code != tt.wantAllCodes || c.Reason != "token expired" {
					t.Errorf("closed %d %q, want %d \"token expired\"", c.Code, c.Reason, tt.wantAllCodes)
				}
			}
			if failed := len(r.Error) > 0 && string(r.Error) != "null"; failed != tt.wantFailed {
				t.Errorf("subscription failed: %v (%s), want %v", failed, r.Error, tt.wantFailed)
			}
		})
	}
}
