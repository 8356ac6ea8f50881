package httpapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
)

// clientFrame encodes one masked client frame (a zero mask: the payload
// goes as it is) of the given opcode.
func clientFrame(opcode byte, payload string) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

// TestWebsocketMessagesInOneWrite sends several messages in one write, or
// cut in two writes anywhere, so that the server's buffered reader holds
// a message, or part of one, when the one before it has been handled:
// every message must be answered, whether it waits in that buffer or in
// the socket.
func TestWebsocketMessagesInOneWrite(t *testing.T) {
	text := func(s string) []byte { return clientFrame(websocket.TextMessage, s) }
	big := strings.Repeat("x", 3*wsReadBufferSize)
	tests := []struct {
		name     string
		protocol string
		give     [][]byte
		want     []string // the messages answered, as type:id, in any order
	}{
		{
			name:     "init and ping",
			protocol: SubprotocolGraphQLTransportWS,
			give:     [][]byte{text(`{"type":"connection_init"}`), text(`{"type":"ping"}`)},
			want:     []string{"connection_ack:", "pong:"},
		},
		{
			name:     "pings, a pong and a control ping between them",
			protocol: SubprotocolGraphQLTransportWS,
			give: [][]byte{text(`{"type":"connection_init"}`), text(`{"type":"ping","payload":{"a":1}}`),
				text(`{"type":"pong"}`), clientFrame(websocket.PingMessage, "are you there"),
				text(`{"type":"ping","payload":{"b":2}}`), text(`{"type":"ping"}`)},
			want: []string{"connection_ack:", "pong:", "pong:", "pong:"},
		},
		{
			name:     "operations",
			protocol: SubprotocolGraphQLTransportWS,
			give: [][]byte{text(`{"type":"connection_init"}`),
				text(`{"type":"subscribe","id":"1","payload":{"query":"{ name }"}}`),
				text(`{"type":"subscribe","id":"2","payload":{"query":"query { name }"}}`),
				text(`{"type":"ping"}`)},
			want: []string{"connection_ack:", "next:1", "complete:1", "next:2", "complete:2", "pong:"},
		},
		{
			name:     "messages larger than the read buffer",
			protocol: SubprotocolGraphQLTransportWS,
			give: [][]byte{text(`{"type":"connection_init","payload":{"pad":"` + big + `"}}`),
				text(`{"type":"ping","payload":{"pad":"` + big + `"}}`), text(`{"type":"ping"}`),
				text(`{"type":"subscribe","id":"big","payload":{"query":"{ name }","extensions":{"pad":"` + big + `"}}}`)},
			want: []string{"connection_ack:", "pong:", "pong:", "next:big", "complete:big"},
		},
		{
			name:     "legacy",
			protocol: SubprotocolGraphQLWS,
			give: [][]byte{text(`{"type":"connection_init"}`),
				text(`{"type":"start","id":"1","payload":{"query":"{ name }"}}`),
				text(`{"type":"start","id":"2","payload":{"query":"{ name }"}}`)},
			want: []string{"connection_ack:", "data:1", "complete:1", "data:2", "complete:2"},
		},
	}
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: -1, PingPongInterval: -1}))
	for _, tt := range tests {
		stream := bytes.Join(tt.give, nil)
		// Cut points: none, then within the first frame's header, at
		// each frame's end and inside each frame.
		cuts := []int{len(stream), 1}
		at := 0
		for _, f := range tt.give {
			cuts = append(cuts, at+len(f)/2, at+len(f))
			at += len(f)
		}
		slices.Sort(cuts)
		for _, cut := range slices.Compact(cuts) {
			t.Run(fmt.Sprintf("%s/cut %d of %d", tt.name, cut, len(stream)), func(t *testing.T) {
				c := srv.connect(t, tt.protocol)
				if _, err := c.conn.NetConn().Write(stream[:cut]); err != nil {
					t.Fatal(err)
				}
				if cut < len(stream) {
					time.Sleep(20 * time.Millisecond) // the server reads the first part alone
					if _, err := c.conn.NetConn().Write(stream[cut:]); err != nil {
						t.Fatal(err)
					}
				}
				var got []string
				for len(got) < len(tt.want) {
					msg, err := c.next("ka")
					if err != nil {
						t.Fatalf("after %v: %v, want %v", got, err, tt.want)
					}
					got = append(got, msg.Type+":"+msg.ID)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("answered %v, want %v", got, want)
				}
			})
		}
	}
}

// TestWebsocketIdleReaderWaitsShallow checks where an idle connection's
// goroutine waits: for readiness on its socket (a shallow stack), not in
// gorilla's ReadMessage; after the handshake, after an operation and
// after a message from the client alike.
func TestWebsocketIdleReaderWaitsShallow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connections wait in ReadMessage outside Linux")
	}
	const conns = 8
	tests := []struct {
		name     string
		protocol string
		give     []string // messages after connection_init, as type:id
		want     []string // what each is answered with
	}{
		{name: "acknowledged", protocol: SubprotocolGraphQLTransportWS},
		{name: "acknowledged, legacy", protocol: SubprotocolGraphQLWS},
		{name: "subscribed", protocol: SubprotocolGraphQLTransportWS, give: []string{"subscribe:1"}},
		{name: "subscribed, legacy", protocol: SubprotocolGraphQLWS, give: []string{"start:1"}},
		{name: "pinged", protocol: SubprotocolGraphQLTransportWS, give: []string{"subscribe:1", "ping:", "pong:"}, want: []string{"pong"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: -1, PingPongInterval: -1}))
			baseline := newGoroutineBaseline()
			var clients []*wsClient
			for range conns {
				c := srv.connect(t, tt.protocol)
				c.send("connection_init", "", "")
				c.expect("connection_ack", "", "ka")
				for _, m := range tt.give {
					typ, id, _ := strings.Cut(m, ":")
					payload := ""
					if id != "" {
						payload = subscriptionQuery
					}
					c.send(typ, id, payload)
				}
				for _, typ := range tt.want {
					c.expect(typ, "", "ka")
				}
				clients = append(clients, c)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				var stacks bytes.Buffer
				_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
				shallow := countStacks(stacks.String(), "httpapi.(*wsReadiness).wait")
				deep := countStacks(stacks.String(), "websocket.(*Conn).ReadMessage")
				if shallow == conns && deep == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d connections wait for readiness and %d in ReadMessage, want %d and 0:\n%s",
						shallow, deep, conns, stacks.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, c := range clients {
				_ = c.conn.Close()
			}
			baseline.check(t)
		})
	}
}

// TestConnContext checks what a connection keeps of the upgrade
// request's context: the principal that authenticated it, and nothing
// else: no other value, no deadline, no cancellation.
func TestConnContext(t *testing.T) {
	type otherKey struct{}
	committee := auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "s", Expires: time.Now().Add(time.Hour)}
	tests := []struct {
		name string
		give *auth.Principal // on the request; nil: none
	}{
		{name: "anonymous"},
		{name: "committee", give: &committee},
		{name: "admin", give: &auth.Principal{Role: auth.Admin, Subject: "root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), otherKey{}, "x"), time.Now().Add(time.Hour))
			if tt.give != nil {
				ctx = auth.WithPrincipal(ctx, *tt.give)
			}
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/graphql", nil)
			got := connContext(r)
			cancel()
			p, ok := auth.FromContext(got)
			switch {
			case tt.give == nil && ok:
				t.Errorf("principal %+v, want none", p)
			case tt.give != nil && (!ok || p != *tt.give):
				t.Errorf("principal %+v, %v; want %+v", p, ok, *tt.give)
			}
			if v := got.Value(otherKey{}); v != nil {
				t.Errorf("kept the request's value %v", v)
			}
			if d, ok := got.Deadline(); ok {
				t.Errorf("deadline %v, want none", d)
			}
			if got.Err() != nil || got.Done() != nil {
				t.Errorf("ends with the request: %v", got.Err())
			}
		})
	}
}

// TestWebsocketTokenExpiryTimer checks the connection's one timer, which
// sends the keep-alives and closes the connection when its token expires:
// with keep-alives more frequent than the token lasts, rarer, or none;
// with the token from connection_init or from the upgrade request's
// header; on both protocols. The connection is closed with 4403 "token
// expired" at the token's exp (not before, and within a second), after
// every keep-alive due before then; a token that does not expire leaves
// the keep-alives going.
func TestWebsocketTokenExpiryTimer(t *testing.T) {
	k := accessKeys(t)
	tests := []struct {
		name      string
		interval  time.Duration // keep-alives; negative: none
		ttl       time.Duration // the token's; 0: never expires
		viaHeader bool
		wantKA    int // keep-alives at least before the close (or in 1.5 s): every 250 ms (the grid), and the token lasts 1-2 s (its exp is in whole seconds)
	}{
		// An interval of one grid step: a graphql-transport-ws client
		// has one interval to answer a ping, and a shorter one (the grid
		// sends no more often) only makes the test fail when the machine
		// stalls the client for that long.
		{name: "keep-alives every 250ms", interval: keepAliveGrid, ttl: 2 * time.Second, wantKA: 2},
		{name: "keep-alives every hour", interval: time.Hour, ttl: 2 * time.Second},
		{name: "no keep-alives", interval: -1, ttl: 2 * time.Second},
		{name: "token in the upgrade header", interval: keepAliveGrid, ttl: 2 * time.Second, viaHeader: true, wantKA: 2},
		{name: "token in the upgrade header, no keep-alives", interval: -1, ttl: 2 * time.Second, viaHeader: true},
		{name: "a token that does not expire", interval: keepAliveGrid, wantKA: 2},
	}
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				srv := newAccessServer(t, Options{Verifier: k, WS: WSOptions{PingPongInterval: tt.interval, KeepAlivePingInterval: tt.interval}})
				var tok string
				var expires time.Time
				if tt.ttl > 0 {
					var err error
					tok, err = k.Mint(auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "soon"}, tt.ttl)
					if err != nil {
						t.Fatal(err)
					}
					p, err := k.Verify(tok)
					if err != nil {
						t.Fatal(err)
					}
					expires = p.Expires
				} else {
					tok = accessToken(t, k, auth.Committee, "c1")
				}
				var header http.Header
				payload := `{"token":"` + tok + `"}`
				if tt.viaHeader {
					header, payload = http.Header{"Authorization": {"Bearer " + tok}}, ""
				}
				c, _, err := wsDial(t, srv.URL, protocol, header)
				if err != nil {
					t.Fatal(err)
				}
				c.autoPong = true
				c.send("connection_init", "", payload)
				c.expect("connection_ack", "")
				keepAlives := 0
				if tt.ttl == 0 {
					for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
						if protocol == SubprotocolGraphQLWS {
							c.expect("ka", "")
							keepAlives++
						} else {
							c.send("ping", "", "")
							c.expect("pong", "")
							keepAlives = c.pingsAnswered
							time.Sleep(20 * time.Millisecond)
						}
					}
					if keepAlives < tt.wantKA {
						t.Errorf("%d keep-alives in 1.5 s every %v, want %d or more", keepAlives, tt.interval, tt.wantKA)
					}
					c.closeNormally()
					return
				}
				var closeErr error
				for {
					msg, err := c.next()
					if err != nil {
						closeErr = err
						break
					}
					if time.Now().After(expires.Add(2 * time.Second)) {
						t.Fatalf("open 2 s after the token expired at %v", expires.Format(time.StampMilli))
					}
					switch msg.Type {
					case "ka":
						keepAlives++
					case "connection_error":
						if protocol != SubprotocolGraphQLWS || !strings.Contains(string(msg.Payload), `"token expired"`) {
							t.Errorf("got %+v (payload %s)", msg, msg.Payload)
						}
					default:
						t.Errorf("got %+v (payload %s), want keep-alives and the close", msg, msg.Payload)
					}
				}
				closed := time.Now()
				keepAlives += c.pingsAnswered
				var ce *websocket.CloseError
				if !errors.As(closeErr, &ce) || ce.Code != wsCloseForbidden || ce.Text != msgTokenExpired {
					t.Errorf("ended with %v, want 4403 %q", closeErr, msgTokenExpired)
				}
				if closed.Before(expires) || closed.After(expires.Add(time.Second)) {
					t.Errorf("closed at %v, the token expired at %v", closed.Format(time.StampMilli), expires.Format(time.StampMilli))
				}
				if keepAlives < tt.wantKA {
					t.Errorf("%d keep-alives before the close, every %v, want %d or more", keepAlives, tt.interval, tt.wantKA)
				}
			})
		}
	}
}
