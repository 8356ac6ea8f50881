package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/vektah/gqlparser/v2/ast"
)

// The access tests beyond the matrix: tokens over every transport, rate
// limits, tokens of another hub, personal data kept out of the logs, and
// the audit trail, each against the real program.

// lockedBuffer is an io.Writer safe for the hub's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHubLogged is startHub with the hub's log (its stderr) kept.
func startHubLogged(t *testing.T, dataDir string, extra ...string) (*hubProc, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0"}, extra...)
	h := &hubProc{dir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() {
		h.done <- app.Run(ctx, args, pw, logs, func(string) string { return "" })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("hub did not start: %v (%v)\n%s", err, <-h.done, logs.String())
	}
	go io.Copy(io.Discard, pr)
	h.url = "http://" + strings.TrimSpace(strings.TrimPrefix(line, "gridhub listening on "))
	t.Cleanup(func() { h.stop(t) })
	return h, logs
}

// post sends a query and returns the HTTP response (body consumed) and the
// decoded GraphQL response.
func post(t *testing.T, c client, query string, vars map[string]any) (*http.Response, gqlResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode (status %d): %v", resp.StatusCode, err)
	}
	return resp, out
}

// noData reports whether a response carries no data at all (absent, null,
// or an object of nulls only).
func noData(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return false
	}
	for _, v := range m {
		if v != nil {
			return false
		}
	}
	return true
}

// mintWith runs the token command with extra configuration flags.
func mintWith(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := app.Run(context.Background(), append([]string{"token"}, args...), &out, &errOut, func(string) string { return "" })
	if err != nil {
		return "", fmt.Errorf("%w (%s)", err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// wsMsg is a message of either GraphQL WebSocket protocol.
type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// hubWS is a WebSocket client of a hub.
type hubWS struct {
	t    *testing.T
	conn *websocket.Conn
}

// dialWS opens a WebSocket to a hub's /graphql with one subprotocol and
// the given upgrade request header.
func dialWS(t *testing.T, h *hubProc, subprotocol string, header http.Header) (*hubWS, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{subprotocol}}
	conn, resp, err := d.DialContext(t.Context(), "ws"+strings.TrimPrefix(h.url, "http")+"/graphql", header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { conn.Close() })
	if got := conn.Subprotocol(); got != subprotocol {
		t.Fatalf("negotiated %q, want %q", got, subprotocol)
	}
	return &hubWS{t: t, conn: conn}, resp, nil
}

func mustDialWS(t *testing.T, h *hubProc, subprotocol string) *hubWS {
	t.Helper()
	c, resp, err := dialWS(t, h, subprotocol, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	return c
}

func (c *hubWS) send(typ, id string, payload any) {
	c.t.Helper()
	msg := wsMsg{Type: typ, ID: id}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			c.t.Fatal(err)
		}
		msg.Payload = b
	}
	if err := c.conn.WriteJSON(msg); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// read returns the next message other than keep-alives, answering pings.
func (c *hubWS) read() (wsMsg, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return wsMsg{}, err
	}
	for {
		var msg wsMsg
		if err := c.conn.ReadJSON(&msg); err != nil {
			return wsMsg{}, err
		}
		switch msg.Type {
		case "ka", "pong":
			continue
		case "ping":
			if err := c.conn.WriteJSON(wsMsg{Type: "pong"}); err != nil {
				return wsMsg{}, err
			}
			continue
		}
		return msg, nil
	}
}

func (c *hubWS) expect(typ string) wsMsg {
	c.t.Helper()
	msg, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if msg.Type != typ {
		c.t.Fatalf("got %s %s, want %s", msg.Type, msg.Payload, typ)
	}
	return msg
}

// expectClose reads until the server closes the connection and returns
// the close code; messages before it (connection_error) are skipped.
func (c *hubWS) expectClose() int {
	c.t.Helper()
	for {
		msg, err := c.read()
		if err == nil {
			if msg.Type == "connection_ack" || msg.Type == "next" || msg.Type == "data" {
				c.t.Fatalf("got %s %s, want the connection closed", msg.Type, msg.Payload)
			}
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		return ce.Code
	}
}

// init sends connection_init with payload (nil: none) and waits for the
// acknowledgement.
func (c *hubWS) init(payload map[string]any) {
	c.t.Helper()
	c.send("connection_init", "", payload)
	c.expect("connection_ack")
}

// operate runs one query operation over the connection and returns its
// result: the payload of next (graphql-transport-ws) or data (graphql-ws),
// or of error; then it waits for complete.
func (c *hubWS) operate(id, query string) gqlResponse {
	c.t.Helper()
	start, result := "subscribe", "next"
	if c.conn.Subprotocol() == "graphql-ws" {
		start, result = "start", "data"
	}
	c.send(start, id, map[string]any{"query": query})
	msg, err := c.read()
	if err != nil {
		c.t.Fatalf("operation %s: %v", id, err)
	}
	if msg.ID != id {
		c.t.Fatalf("message for operation %q, want %q: %+v", msg.ID, id, msg)
	}
	var r gqlResponse
	switch msg.Type {
	case result:
		if err := json.Unmarshal(msg.Payload, &r); err != nil {
			c.t.Fatalf("decode %s: %v", msg.Payload, err)
		}
		c.expect("complete")
	case "error":
		// A request error: the payload is a list of errors.
		if err := json.Unmarshal(msg.Payload, &r.Errors); err != nil {
			var one gqlError
			if json.Unmarshal(msg.Payload, &one) != nil {
				c.t.Fatalf("decode error %s: %v", msg.Payload, err)
			}
			r.Errors = []gqlError{one}
		}
	default:
		c.t.Fatalf("operation %s: got %s %s", id, msg.Type, msg.Payload)
	}
	return r
}

func districtID(t *testing.T, r gqlResponse) string {
	t.Helper()
	var d struct{ District *struct{ ID string } }
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
	if d.District == nil {
		return ""
	}
	return d.District.ID
}

func TestAccessWebSocket(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	ac := seedAccessCity(t, h.as(t, "ADMIN", ""))
	d1 := mintToken(t, dir, "DISTRICT", ac.districts[0])
	d2 := mintToken(t, dir, "DISTRICT", ac.districts[1])
	foreign := foreignToken(t, "ADMIN", "")
	inScope := fmt.Sprintf(`{ district(id: %q) { id } }`, ac.districts[0])
	tampered := d1[:strings.LastIndexByte(d1, '.')+5] + strings.Repeat("A", 10) + d1[strings.LastIndexByte(d1, '.')+15:]

	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			t.Run("in scope", func(t *testing.T) {
				c := mustDialWS(t, h, proto)
				c.init(map[string]any{"Authorization": "Bearer " + d1})
				r := c.operate("1", inScope)
				if len(r.Errors) > 0 || districtID(t, r) != ac.districts[0] {
					t.Fatalf("in scope: %s %+v", r.Data, r.Errors)
				}
				// The connection keeps its principal for later operations.
				r = c.operate("2", `{ districts { id } }`)
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), ac.districts[0]) || strings.Contains(string(r.Data), ac.districts[1]) {
					t.Errorf("districts: %s %+v", r.Data, r.Errors)
				}
			})
			t.Run("out of scope", func(t *testing.T) {
				c := mustDialWS(t, h, proto)
				c.init(map[string]any{"Authorization": "Bearer " + d2})
				r := c.operate("1", inScope)
				if r.code() != "FORBIDDEN" {
					t.Errorf("code %q, want FORBIDDEN (%+v)", r.code(), r.Errors)
				}
				if districtID(t, r) != "" {
					t.Errorf("refused, yet data: %s", r.Data)
				}
			})
			t.Run("token key", func(t *testing.T) {
				c := mustDialWS(t, h, proto)
				c.init(map[string]any{"token": d1})
				if r := c.operate("1", inScope); districtID(t, r) != ac.districts[0] {
					t.Errorf("token in the token key: %s %+v", r.Data, r.Errors)
				}
			})
			for name, payload := range map[string]map[string]any{
				"tampered token":         {"Authorization": "Bearer " + tampered},
				"token of another hub":   {"Authorization": "Bearer " + foreign},
				"Basic credentials":      {"Authorization": "Basic dXNlcjpwYXNz"},
				"token without Bearer":   {"Authorization": d1},
				"garbage under token":    {"token": "not-a-token"},
				"tampered token, lower":  {"authorization": "Bearer " + tampered},
				"alg none in the header": {"Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoiQURNSU4iLCJpc3MiOiJncmlkaHViIiwiYXVkIjoiZ3JpZGh1YiIsInN1YiI6Im1hbGxvcnkiLCJleHAiOjQxMDI0NDQ4MDB9."},
			} {
				t.Run(name, func(t *testing.T) {
					c := mustDialWS(t, h, proto)
					c.send("connection_init", "", payload)
					if code := c.expectClose(); code != 4403 {
						t.Errorf("close code %d, want 4403", code)
					}
				})
			}
			t.Run("anonymous", func(t *testing.T) {
				c := mustDialWS(t, h, proto)
				c.init(nil)
				r := c.operate("1", `{ supplies { sku } cellAt(lat: 25.045, lng: 121.515) { id } }`)
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "MASK_ADULT") {
					t.Errorf("public fields: %s %+v", r.Data, r.Errors)
				}
				r = c.operate("2", inScope)
				if r.code() != "UNAUTHENTICATED" || districtID(t, r) != "" {
					t.Errorf("protected field: code %q, data %s", r.code(), r.Data)
				}
			})
		})
	}

	t.Run("upgrade request header", func(t *testing.T) {
		// A valid header on the upgrade request authenticates the
		// connection; connection_init need not repeat it.
		c, resp, err := dialWS(t, h, "graphql-transport-ws", http.Header{"Authorization": {"Bearer " + d1}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		c.init(nil)
		if r := c.operate("1", inScope); districtID(t, r) != ac.districts[0] {
			t.Errorf("via the upgrade header: %s %+v", r.Data, r.Errors)
		}
		// A bad one refuses the upgrade itself.
		for _, v := range []string{"Bearer " + tampered, "Basic x"} {
			_, resp, err = dialWS(t, h, "graphql-transport-ws", http.Header{"Authorization": {v}})
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("upgrade with %.12q: err %v, status %d; want 401", v, err, status)
			}
		}
	})
}

// sseEvents reads server-sent events until the stream ends.
func sseEvents(t *testing.T, r io.Reader) (events []string, data []string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var ev, d string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != "" || d != "" {
				events, data = append(events, ev), append(data, d)
			}
			ev, d = "", ""
		case strings.HasPrefix(line, "event:"):
			ev = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return events, data
}

func TestAccessSSE(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	ac := seedAccessCity(t, h.as(t, "ADMIN", ""))
	query := fmt.Sprintf(`{ district(id: %q) { id } }`, ac.districts[0])

	sse := func(t *testing.T, authz string) (int, []string, []gqlResponse) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		body, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil, nil
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("Content-Type %q", ct)
		}
		events, data := sseEvents(t, resp.Body)
		var rs []gqlResponse
		for i, ev := range events {
			if ev != "next" {
				continue
			}
			var r gqlResponse
			if err := json.Unmarshal([]byte(data[i]), &r); err != nil {
				t.Fatalf("decode %s: %v", data[i], err)
			}
			rs = append(rs, r)
		}
		return resp.StatusCode, events, rs
	}

	t.Run("in scope", func(t *testing.T) {
		_, events, rs := sse(t, "Bearer "+mintToken(t, dir, "DISTRICT", ac.districts[0]))
		if len(rs) != 1 || len(rs[0].Errors) > 0 || districtID(t, rs[0]) != ac.districts[0] {
			t.Fatalf("events %v, results %+v", events, rs)
		}
		if events[len(events)-1] != "complete" {
			t.Errorf("stream ends with %q, want complete", events[len(events)-1])
		}
	})
	t.Run("out of scope", func(t *testing.T) {
		_, events, rs := sse(t, "Bearer "+mintToken(t, dir, "DISTRICT", ac.districts[1]))
		if len(rs) != 1 || rs[0].code() != "FORBIDDEN" || districtID(t, rs[0]) != "" {
			t.Fatalf("events %v, results %+v", events, rs)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		_, events, rs := sse(t, "")
		if len(rs) != 1 || rs[0].code() != "UNAUTHENTICATED" || districtID(t, rs[0]) != "" {
			t.Fatalf("events %v, results %+v", events, rs)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		if status, events, _ := sse(t, "Bearer "+foreignToken(t, "ADMIN", "")); status != http.StatusUnauthorized {
			t.Fatalf("status %d (events %v), want 401", status, events)
		}
	})
}

func TestAccessRateLimits(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir, "--rate-per-token", "5") // burst 10
	a := h.as(t, "COMMITTEE", "c1")
	b := h.as(t, "COMMITTEE", "c2")
	const q = `{ supplies { sku } }`

	var limited *http.Response
	var body gqlResponse
	ok := 0
	for range 200 {
		resp, r := post(t, a, q, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited, body = resp, r
			break
		}
		if resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("status %d errors %+v", resp.StatusCode, r.Errors)
		}
		ok++
	}
	if limited == nil {
		t.Fatal("200 requests in a row and never RATE_LIMITED")
	}
	if ok < 10 {
		t.Errorf("limited after %d requests, before the burst of 10", ok)
	}
	secs, err := strconv.Atoi(limited.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Errorf("Retry-After %q", limited.Header.Get("Retry-After"))
	}
	if body.code() != "RATE_LIMITED" || !noData(body.Data) {
		t.Errorf("code %q data %s", body.code(), body.Data)
	}
	if ra, _ := body.Errors[0].Extensions["retryAfter"].(float64); int(ra) != secs {
		t.Errorf("extensions.retryAfter %v, Retry-After %d", body.Errors[0].Extensions["retryAfter"], secs)
	}

	// Another principal from the same address gets through.
	if resp, r := post(t, b, q, nil); resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("another token: status %d errors %+v", resp.StatusCode, r.Errors)
	}
	// A fresh token for the same principal does not reset its budget.
	again := h.as(t, "COMMITTEE", "c1")
	if resp, r := post(t, again, q, nil); resp.StatusCode != http.StatusTooManyRequests || r.code() != "RATE_LIMITED" {
		t.Errorf("a new token for the same principal: status %d code %q", resp.StatusCode, r.code())
	}
	// After the hint, the token is served again.
	time.Sleep(time.Duration(secs) * time.Second)
	if resp, r := post(t, a, q, nil); resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("after Retry-After: status %d errors %+v", resp.StatusCode, r.Errors)
	}
}

func TestAccessForeignAndMalformedTokens(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	ac := seedAccessCity(t, h.as(t, "ADMIN", ""))
	query := `query($id: ID!) { resident(id: $id, purpose: "check") { id name } }`
	vars := map[string]any{"id": ac.residents[0]}

	// A token minted from another data directory (another secret) is not
	// this hub's, whatever role it claims.
	for _, role := range []string{"ADMIN", "COMMITTEE"} {
		scope := ""
		if role == "COMMITTEE" {
			scope = ac.committees[0]
		}
		c := client{url: h.url, token: foreignToken(t, role, scope)}
		resp, r := post(t, c, query, vars)
		if resp.StatusCode != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || !noData(r.Data) {
			t.Errorf("%s token of another hub: status %d code %q data %s", role, resp.StatusCode, r.code(), r.Data)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		for _, e := range r.Errors {
			if strings.Contains(e.Message, c.token) {
				t.Errorf("the answer echoes the token")
			}
		}
	}

	// The token command refuses bad requests and canonicalises roles.
	for name, args := range map[string][]string{
		"zero lifetime":          {"-data", dir, "-role", "ADMIN", "-subject", "x", "-ttl", "0s"},
		"negative lifetime":      {"-data", dir, "-role", "ADMIN", "-subject", "x", "-ttl", "-1h"},
		"lifetime beyond a year": {"-data", dir, "-role", "ADMIN", "-subject", "x", "-ttl", "9000h"},
		"unknown role":           {"-data", dir, "-role", "ROOT", "-subject", "x"},
		"district without scope": {"-data", dir, "-role", "DISTRICT", "-subject", "x"},
		"admin with a scope":     {"-data", dir, "-role", "ADMIN", "-scope", "d1", "-subject", "x"},
		"no subject":             {"-data", dir, "-role", "ADMIN"},
	} {
		if tok, err := mintWith(t, args...); err == nil {
			t.Errorf("token %s: minted %q", name, tok)
		}
	}
	tok, err := mintWith(t, "-data", dir, "-role", "admin", "-subject", "ops", "-ttl", "1m")
	if err != nil {
		t.Fatal(err)
	}
	// Expiry itself is tested in package auth with an injected clock, and
	// on every transport in tokens_e2e_test.go.
	if _, r := post(t, client{url: h.url, token: tok}, `{ auditLog { entries { seq } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("a token minted for role \"admin\" is not ADMIN: %+v", r.Errors)
	}
}

func TestAccessEdDSAKeys(t *testing.T) {
	dir := t.TempDir()
	seed := make([]byte, 32)
	rand.Read(seed)
	b64 := base64.StdEncoding.EncodeToString(seed)
	h := startHub(t, dir, "--jwt-ed25519-seed", b64)
	ed, err := mintWith(t, "-data", dir, "-jwt-ed25519-seed", b64, "-role", "ADMIN", "-subject", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if resp, r := post(t, client{url: h.url, token: ed}, `{ auditLog { entries { seq } } }`, nil); resp.StatusCode != 200 || len(r.Errors) > 0 {
		t.Fatalf("EdDSA token: status %d errors %+v", resp.StatusCode, r.Errors)
	}
	// An HS256 token no longer passes at this hub, whatever its secret:
	// no algorithm confusion.
	hs, err := mintWith(t, "-data", dir, "-jwt-secret", "an-hs256-secret-0123456789abcdefghij", "-role", "ADMIN", "-subject", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if resp, r := post(t, client{url: h.url, token: hs}, `{ auditLog { entries { seq } } }`, nil); resp.StatusCode != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Errorf("HS256 token at an EdDSA hub: status %d code %q", resp.StatusCode, r.code())
	}
	// Nor does another seed.
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tok, err := mintWith(t, "-data", dir, "-jwt-ed25519-seed", other, "-role", "ADMIN", "-subject", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := post(t, client{url: h.url, token: tok}, `{ supplies { sku } }`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of another Ed25519 key: status %d", resp.StatusCode)
	}
}

func TestAccessNoPersonalDataInLogs(t *testing.T) {
	dir := t.TempDir()
	h, logs := startHubLogged(t, dir, "--log-level", "debug")
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	c1 := h.as(t, "COMMITTEE", ac.committees[0])
	c2 := h.as(t, "COMMITTEE", ac.committees[1])
	const (
		name     = "Chen Shu-fen"
		idNumber = "F234567898"
		phone    = "0987654321"
		phone2   = "0955111222"
	)
	loc := map[string]any{"lat": 25.045, "lng": 121.515}
	register := `mutation($n: String!, $id: String!, $ph: String!, $c: String, $l: LatLngInput) {
		registerResident(input: {name: $n, idNumber: $id, phone: $ph, address: "No. 7, Lane 3", location: $l, committeeCode: $c}) { id name idNumberMasked phoneMasked } }`
	vars := func(n, id, ph, code string, l any) map[string]any {
		return map[string]any{"n": n, "id": id, "ph": ph, "c": code, "l": l}
	}
	var reg struct {
		RegisterResident struct{ ID, Name, IDNumberMasked, PhoneMasked string }
	}
	must(t, c1, register, vars(name, idNumber, phone, ac.codes[0], loc), &reg)
	rid := reg.RegisterResident.ID
	if strings.Contains(reg.RegisterResident.IDNumberMasked, idNumber) || strings.Contains(reg.RegisterResident.PhoneMasked, phone) {
		t.Errorf("registration answers unmasked data: %+v", reg)
	}

	provoke := []struct {
		name string
		c    client
		q    string
		vars map[string]any
		want string
	}{
		{"duplicate registration", c1, register, vars(name, idNumber, phone2, ac.codes[0], loc), "CONFLICT"},
		{"duplicate, other spelling", c1, register, vars(name+" ", strings.ToLower(idNumber[:1])+idNumber[1:], phone, ac.codes[0], loc), "CONFLICT"},
		{"latitude out of range", c1, register, vars(name, privacy.ExampleTaiwanID('G', 1), phone, ac.codes[0], map[string]any{"lat": 91, "lng": 0}), "BAD_USER_INPUT"},
		{"no place", c1, register, vars(name, privacy.ExampleTaiwanID('G', 2), phone, ac.codes[0], nil), "BAD_USER_INPUT"},
		{"variable of the wrong type", c1, register, map[string]any{"n": name, "id": []any{idNumber}, "ph": phone, "c": ac.codes[0], "l": loc}, "BAD_USER_INPUT"},
		{"inline literal, syntax error", c1, `mutation { registerResident(input: {name: "` + name + `", idNumber: "` + idNumber + `", phone: "` + phone + `"`, nil, "BAD_USER_INPUT"},
		{"another committee's code", c2, register, vars(name, idNumber, phone, ac.codes[0], loc), "FORBIDDEN"},
		{"another committee's resident", c2, `query($id: ID!) { resident(id: $id, purpose: "curious") { name idNumberMasked phoneMasked } }`, map[string]any{"id": rid}, "FORBIDDEN"},
		{"no token", client{url: h.url}, register, vars(name, idNumber, phone, ac.codes[0], loc), "UNAUTHENTICATED"},
		{"bad token", client{url: h.url, token: "x.y.z"}, register, vars(name, idNumber, phone, ac.codes[0], loc), "UNAUTHENTICATED"},
		{"an ID number as an id", c1, `query($id: ID!) { resident(id: $id, purpose: "lookup") { name } }`, map[string]any{"id": idNumber}, "FORBIDDEN"}, // unknown ids look like other committees' residents
		{"overlong purpose", c1, `query($id: ID!, $p: String) { resident(id: $id, purpose: $p) { name } }`, map[string]any{"id": rid, "p": strings.Repeat(name, 60)}, "BAD_USER_INPUT"},
	}
	for _, tt := range provoke {
		if r := gql(t, tt.c, tt.q, tt.vars); r.code() != tt.want {
			t.Errorf("%s: code %q, want %q (%+v)", tt.name, r.code(), tt.want, r.Errors)
		}
	}

	// Read back as the committee.
	var back struct {
		Resident  struct{ Name, IDNumberMasked, PhoneMasked string }
		Committee struct {
			Residents struct {
				Edges []struct{ Node struct{ ID, Name string } }
			}
		}
	}
	must(t, c1, `query($id: ID!, $c: ID!) { resident(id: $id, purpose: "welfare check") { name idNumberMasked phoneMasked }
		committee(id: $c) { residents(purpose: "roll call") { edges { node { id name } } } } }`,
		map[string]any{"id": rid, "c": ac.committees[0]}, &back)
	if back.Resident.Name != name || len(back.Committee.Residents.Edges) != 2 {
		t.Errorf("read back: %+v", back)
	}

	h.stop(t)
	log := logs.String()
	if !strings.Contains(log, "gridhub serving") {
		t.Fatalf("the log was not captured: %q", log)
	}
	for what, s := range map[string]string{
		"ID number":               idNumber,
		"ID number (lower case)":  strings.ToLower(idNumber),
		"ID number digits":        idNumber[1:],
		"phone":                   phone,
		"second phone":            phone2,
		"name":                    name,
		"seeded ID number":        privacy.ExampleTaiwanID('Z', 1),
		"seeded phone":            "0911222333",
		"seeded name":             "Wang Li",
		"committee token":         c1.token,
		"token signature segment": c1.token[strings.LastIndexByte(c1.token, '.')+1:],
	} {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the %s", what)
		}
	}
	t.Logf("log: %d lines, none with personal data", strings.Count(log, "\n"))
}

type auditEntry struct {
	Seq       int
	At        string
	ActorRole string
	ActorID   string
	Subject   string
	Action    string
	TargetID  string
	Purpose   string
	Count     int
}

func auditOf(t *testing.T, admin client, target string) []auditEntry {
	t.Helper()
	var out []auditEntry
	var after any
	for range 100 {
		var page struct {
			AuditLog struct {
				Entries   []auditEntry
				NextAfter *int
			}
		}
		must(t, admin, `query($t: ID, $a: Int) { auditLog(targetId: $t, after: $a, first: 2) { entries { seq at actorRole actorId subject action targetId purpose count } nextAfter } }`,
			map[string]any{"t": target, "a": after}, &page)
		out = append(out, page.AuditLog.Entries...)
		if page.AuditLog.NextAfter == nil {
			return out
		}
		after = *page.AuditLog.NextAfter
	}
	t.Fatal("audit log pages never end")
	return nil
}

func TestAccessAuditTrail(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	committee := h.as(t, "COMMITTEE", ac.committees[0])
	resident := h.as(t, "RESIDENT", ac.residents[0])
	rid, cid := ac.residents[0], ac.committees[0]
	// A second resident, so that the committee's residents take two pages.
	must(t, committee, `mutation($c: String!) { registerResident(input: {name: "Second", idNumber: "H123456786", location: {lat: 25.045, lng: 121.515}, committeeCode: $c}) { id } }`,
		map[string]any{"c": ac.codes[0]}, nil)

	if es := auditOf(t, admin, rid); len(es) != 0 {
		t.Fatalf("audit entries before any read: %+v", es)
	}

	// A committee reads one of its residents, stating why.
	var got struct{ Resident struct{ ID string } }
	must(t, committee, `query($id: ID!) { resident(id: $id, purpose: "welfare check") { id } }`, map[string]any{"id": rid}, &got)
	if got.Resident.ID != rid {
		t.Fatalf("resident = %+v", got)
	}
	es := auditOf(t, admin, rid)
	if len(es) != 1 {
		t.Fatalf("audit of %s: %+v, want one entry", rid, es)
	}
	want := auditEntry{Seq: es[0].Seq, At: es[0].At, ActorRole: "COMMITTEE", ActorID: cid, Subject: "test-committee",
		Action: "resident", TargetID: rid, Purpose: "welfare check", Count: 1}
	if es[0] != want {
		t.Errorf("audit entry %+v, want %+v", es[0], want)
	}
	if at, err := time.Parse(time.RFC3339, es[0].At); err != nil || time.Since(at) > time.Minute || time.Until(at) > time.Minute {
		t.Errorf("audit entry at %q (%v)", es[0].At, err)
	}

	// The committee pages through its residents.
	var page struct {
		Committee struct {
			Residents struct {
				Edges    []struct{ Node struct{ ID string } }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
	}
	pageQ := `query($c: ID!, $a: String) { committee(id: $c) { residents(first: 1, after: $a, purpose: "census") { edges { node { id } } pageInfo { hasNextPage endCursor } } } }`
	must(t, committee, pageQ, map[string]any{"c": cid}, &page)
	if len(page.Committee.Residents.Edges) != 1 || !page.Committee.Residents.PageInfo.HasNextPage {
		t.Fatalf("first page: %+v", page)
	}
	must(t, committee, pageQ, map[string]any{"c": cid, "a": *page.Committee.Residents.PageInfo.EndCursor}, &page)
	if len(page.Committee.Residents.Edges) != 1 || page.Committee.Residents.PageInfo.HasNextPage {
		t.Fatalf("second page: %+v", page)
	}
	es = auditOf(t, admin, cid)
	if len(es) != 2 {
		t.Fatalf("audit of %s: %+v, want two pages read", cid, es)
	}
	for _, e := range es {
		if e.Action != "committee.residents" || e.ActorRole != "COMMITTEE" || e.ActorID != cid || e.Subject != "test-committee" ||
			e.Purpose != "census" || e.Count != 1 || e.TargetID != cid {
			t.Errorf("listing entry %+v", e)
		}
	}
	if es[0].Seq >= es[1].Seq {
		t.Errorf("audit entries out of order: %+v", es)
	}

	// A resident reading itself leaves no entry.
	must(t, resident, `query($id: ID!) { resident(id: $id, purpose: "my own record") { id } }`, map[string]any{"id": rid}, nil)
	if es := auditOf(t, admin, rid); len(es) != 1 {
		t.Errorf("after the resident read itself: %+v, want the one committee entry", es)
	}

	// Refused reads record nothing and show nothing.
	before := len(auditOf(t, admin, ""))
	refusals := []struct {
		name string
		c    client
		q    string
		vars map[string]any
		want string
	}{
		{"DISTRICT auditLog", h.as(t, "DISTRICT", ac.districts[0]), `{ auditLog { entries { targetId } } }`, nil, "FORBIDDEN"},
		{"COMMITTEE auditLog", committee, `{ auditLog { entries { targetId } } }`, nil, "FORBIDDEN"},
		{"RESIDENT auditLog of itself", resident, `query($t: ID) { auditLog(targetId: $t) { entries { targetId } } }`, map[string]any{"t": rid}, "FORBIDDEN"},
		{"anonymous auditLog", client{url: h.url}, `{ auditLog { entries { targetId } } }`, nil, "UNAUTHENTICATED"},
		{"overlong purpose", committee, `query($id: ID!, $p: String) { resident(id: $id, purpose: $p) { id name idNumberMasked } }`,
			map[string]any{"id": rid, "p": strings.Repeat("x", 501)}, "BAD_USER_INPUT"},
		{"overlong purpose, many bytes", committee, `query($id: ID!, $p: String) { resident(id: $id, purpose: $p) { id name } }`,
			map[string]any{"id": rid, "p": strings.Repeat("查", 501)}, "BAD_USER_INPUT"},
		{"overlong purpose on a listing", committee, `query($c: ID!, $p: String) { committee(id: $c) { residents(purpose: $p) { edges { node { id name } } } } }`,
			map[string]any{"c": cid, "p": strings.Repeat("x", 501)}, "BAD_USER_INPUT"},
		{"another committee's resident", h.as(t, "COMMITTEE", ac.committees[1]), `query($id: ID!) { resident(id: $id, purpose: "curious") { id name } }`,
			map[string]any{"id": rid}, "FORBIDDEN"},
		{"another resident", resident, `query($id: ID!) { resident(id: $id, purpose: "curious") { id name } }`,
			map[string]any{"id": ac.residents[1]}, "FORBIDDEN"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := gql(t, tt.c, tt.q, tt.vars)
			if r.code() != tt.want {
				t.Errorf("code %q, want %q (%+v)", r.code(), tt.want, r.Errors)
			}
			if !noData(r.Data) {
				t.Errorf("refused, yet data: %s", r.Data)
			}
		})
	}
	if after := auditOf(t, admin, ""); len(after) != before {
		t.Errorf("refused reads wrote audit entries: %+v", after[before:])
	}

	// Purposes of exactly the limit are taken, counted in characters.
	for _, p := range []string{strings.Repeat("x", 500), strings.Repeat("查", 500)} {
		must(t, committee, `query($id: ID!, $p: String) { resident(id: $id, purpose: $p) { id } }`, map[string]any{"id": rid, "p": p}, nil)
	}
	es = auditOf(t, admin, rid)
	if len(es) != 3 || es[1].Purpose != strings.Repeat("x", 500) || es[2].Purpose != strings.Repeat("查", 500) {
		t.Errorf("after reads with purposes of 500 characters: %d entries", len(es))
	}
	// ADMIN reads are recorded too, with the admin's subject.
	must(t, admin, `query($id: ID!) { resident(id: $id, purpose: "audit sample") { id } }`, map[string]any{"id": rid}, nil)
	es = auditOf(t, admin, rid)
	if last := es[len(es)-1]; last.ActorRole != "ADMIN" || last.ActorID != "" || last.Subject != "test-admin" || last.Purpose != "audit sample" {
		t.Errorf("admin read entry %+v", last)
	}

	// The trail is append-only: no mutation touches it.
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	if m := schema.Types["Mutation"]; m != nil {
		if i := slices.IndexFunc(m.Fields, func(f *ast.FieldDefinition) bool { return strings.Contains(strings.ToLower(f.Name), "audit") }); i >= 0 {
			t.Errorf("mutation %s touches the audit trail", m.Fields[i].Name)
		}
	}
}
