package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// expiredToken is a token of k's secret that expired ago (to the second:
// exp is whole seconds) before now.
func expiredToken(t *testing.T, ago time.Duration) string {
	t.Helper()
	mintAt := time.Now().Add(-time.Hour - ago)
	k, err := auth.HMACKeys(accessSecret, func() time.Time { return mintAt })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Mint(auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "expired"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenExpiries are how long before the request the tokens of the tests
// expired: within and beyond the clock skew allowed on iat and nbf, which
// expiry must not get.
var tokenExpiries = []time.Duration{time.Second, 10 * time.Second, 29 * time.Second, 31 * time.Second, time.Hour}

// checkExpiredAnswer checks a refusal of an expired token over HTTP: 401
// with WWW-Authenticate and one error, UNAUTHENTICATED "token expired",
// and no data.
func checkExpiredAnswer(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if r.Data != nil {
		t.Errorf("refused, yet data %s", r.Data)
	}
	if len(r.Errors) != 1 || r.Errors[0].Message != "token expired" || r.Errors[0].Extensions["code"] != hub.EUNAUTHORIZED {
		t.Errorf("errors %+v, want one UNAUTHENTICATED \"token expired\"", r.Errors)
	}
}

// TestExpiredTokenOverHTTP: an expired token is refused at once, however
// recently it expired, over POST, GET and SSE alike; a valid one is
// served.
func TestExpiredTokenOverHTTP(t *testing.T) {
	k := accessKeys(t)
	srv := newAccessServer(t, Options{Verifier: k})
	endpoint := srv.URL + "/graphql"
	requests := []struct {
		name string
		req  func(token string) *http.Request
	}{
		{"POST", func(token string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"query":"{ whoami }"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"GET", func(token string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, endpoint+"?query="+url.QueryEscape("{ whoami }"), nil)
			return r
		}},
		{"SSE", func(token string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"query":"{ whoami }"}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "text/event-stream")
			return r
		}},
	}
	do := func(t *testing.T, r *http.Request, token string) (*http.Response, []byte) {
		t.Helper()
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(r.WithContext(t.Context()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, rq := range requests {
		for _, ago := range tokenExpiries {
			t.Run(rq.name+"/expired "+ago.String()+" ago", func(t *testing.T) {
				tok := expiredToken(t, ago)
				resp, b := do(t, rq.req(tok), tok)
				checkExpiredAnswer(t, resp, b)
			})
		}
		t.Run(rq.name+"/valid", func(t *testing.T) {
			tok := accessToken(t, k, auth.Committee, "c1")
			resp, b := do(t, rq.req(tok), tok)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"whoami":"COMMITTEE"`) {
				t.Errorf("valid token: %d %s", resp.StatusCode, b)
			}
		})
	}
}

// laggingVerifier accepts every token its keys accept, as a verifier with a
// clock behind the transport's would: the transport itself must refuse
// the expired ones rather than run them to a deadline already passed.
type laggingVerifier struct{ keys *auth.Keys }

func (v laggingVerifier) Verify(token string) (auth.Principal, error) { return v.keys.Verify(token) }

// TestTransportRefusesWhatItsVerifierLetsExpire: whatever the verifier's
// clock, the transport does not serve a token past its exp (it would
// answer 200 with data null, the operation cancelled by its deadline).
func TestTransportRefusesWhatItsVerifierLetsExpire(t *testing.T) {
	behind := time.Now().Add(-time.Hour)
	k, err := auth.HMACKeys(accessSecret, func() time.Time { return behind })
	if err != nil {
		t.Fatal(err)
	}
	srv := newAccessServer(t, Options{Verifier: laggingVerifier{k}})
	for _, ago := range tokenExpiries[:3] {
		tok := expiredToken(t, ago)
		if _, err := k.Verify(tok); err != nil {
			t.Fatalf("the lagging verifier refuses the token: %v", err)
		}
		resp, b := accessDo(t, http.MethodPost, srv.URL+"/graphql", tok, "")
		checkExpiredAnswer(t, resp, b)
	}
}

// wsDial opens a WebSocket to srv with one subprotocol and header.
func wsDial(t *testing.T, srvURL, subprotocol string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	dialer := websocket.Dialer{HandshakeTimeout: wsReadTimeout, Subprotocols: []string{subprotocol}}
	conn, resp, err := dialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(srvURL, "http")+"/graphql", header)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}, resp, nil
}

// TestExpiredTokenOverWebSocket: connection_init with an expired token is
// refused with 4403 "token expired" on both protocols (graphql-ws hears
// it in connection_error first); an upgrade request with one is refused
// 401; a valid token is acknowledged.
func TestExpiredTokenOverWebSocket(t *testing.T) {
	k := accessKeys(t)
	srv := newAccessServer(t, Options{Verifier: k})
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		for _, ago := range tokenExpiries {
			t.Run(protocol+"/init expired "+ago.String()+" ago", func(t *testing.T) {
				c, _, err := wsDial(t, srv.URL, protocol, nil)
				if err != nil {
					t.Fatal(err)
				}
				payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + expiredToken(t, ago)})
				c.send("connection_init", "", string(payload))
				if protocol == SubprotocolGraphQLWS {
					msg := c.expect("connection_error", "")
					if !strings.Contains(string(msg.Payload), `"token expired"`) {
						t.Errorf("connection_error payload %s, want the message token expired", msg.Payload)
					}
				}
				ce := c.expectClose()
				if ce == nil || ce.Code != wsCloseForbidden || ce.Text != "token expired" {
					t.Errorf("close %v, want 4403 \"token expired\"", ce)
				}
			})
			t.Run(protocol+"/upgrade expired "+ago.String()+" ago", func(t *testing.T) {
				h := http.Header{"Authorization": {"Bearer " + expiredToken(t, ago)}}
				_, resp, err := wsDial(t, srv.URL, protocol, h)
				if err == nil {
					t.Fatal("upgraded with an expired token")
				}
				if resp == nil {
					t.Fatalf("no answer: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				checkExpiredAnswer(t, resp, b)
			})
		}
		t.Run(protocol+"/valid", func(t *testing.T) {
			c, _, err := wsDial(t, srv.URL, protocol, nil)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + accessToken(t, k, auth.Committee, "c1")})
			c.send("connection_init", "", string(payload))
			c.expect("connection_ack", "")
			c.closeNormally()
		})
	}
}

// TestTokenExpiresOnOpenWebSocket: a connection whose token expires while
// it is open is closed with 4403 "token expired" (not 1000, which
// graphql-ws clients answer by reconnecting at once, in a loop), on both
// protocols, at the token's exp.
func TestTokenExpiresOnOpenWebSocket(t *testing.T) {
	k := accessKeys(t)
	srv := newAccessServer(t, Options{Verifier: k})
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			tok, err := k.Mint(auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "soon"}, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p, err := k.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := wsDial(t, srv.URL, protocol, nil)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]string{"token": tok})
			c.send("connection_init", "", string(payload))
			c.expect("connection_ack", "")
			skip := []string{"ping", "ka"}
			if protocol == SubprotocolGraphQLWS {
				msg := c.expect("connection_error", "", skip...)
				if !strings.Contains(string(msg.Payload), `"token expired"`) {
					t.Errorf("connection_error payload %s", msg.Payload)
				}
			}
			ce := c.expectClose(skip...)
			closed := time.Now()
			if ce == nil || ce.Code != wsCloseForbidden || ce.Text != "token expired" {
				t.Errorf("close %v, want 4403 \"token expired\"", ce)
			}
			if closed.Before(p.Expires) || closed.After(p.Expires.Add(time.Second)) {
				t.Errorf("closed at %v, the token expired at %v", closed, p.Expires)
			}
		})
	}
}

// TestSSEExpiry: when the token's deadline has passed, the stream's
// closing complete event is preceded by the error "token expired"; on any
// other end, or for any other write, nothing is added.
func TestSSEExpiry(t *testing.T) {
	expiredCtx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelledCtx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	tests := []struct {
		name  string
		ctx   context.Context
		write string
		want  string
	}{
		{"complete after expiry", expiredCtx, "event: complete\n\n", sseTokenExpired + "event: complete\n\n"},
		{"complete while valid", context.Background(), "event: complete\n\n", "event: complete\n\n"},
		{"complete after a cancel", cancelledCtx, "event: complete\n\n", "event: complete\n\n"},
		{"a result after expiry", expiredCtx, "event: next\ndata: {}\n\n", "event: next\ndata: {}\n\n"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		w := &sseExpiry{ResponseWriter: rec, ctx: tt.ctx}
		if _, err := io.WriteString(w, tt.write); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("%s: wrote %q, want %q", tt.name, got, tt.want)
		}
		if !rec.Flushed {
			t.Errorf("%s: Flush did not reach the writer", tt.name)
		}
	}
	var r struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	data := strings.TrimSuffix(strings.TrimPrefix(sseTokenExpired, "event: next\ndata: "), "\n\n")
	if err := json.Unmarshal([]byte(data), &r); err != nil || len(r.Errors) != 1 || r.Errors[0].Message != "token expired" || r.Errors[0].Extensions["code"] != hub.EUNAUTHORIZED {
		t.Errorf("the expiry event's data %q (%v)", data, err)
	}
}
