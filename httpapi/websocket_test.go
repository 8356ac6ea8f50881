package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const (
	subscriptionQuery = `{"query":"subscription { name }"}`
	// wsReadTimeout bounds every read of a test client.
	wsReadTimeout = 5 * time.Second
)

// wsMessage is a message of either GraphQL websocket protocol.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscriptionServer serves a small schema behind a transport on a real
// HTTP server, as gqlgen's testserver does: query name answers "test",
// mutations fail, and subscription name sends "test" each time the test
// calls sendNext and ends at sendComplete. Unlike the testserver, whose
// subscriptions all take from one unbuffered channel and drop a message
// that no subscription takes within a second, each subscription has its
// own channel, and a message goes to every subscription whose context has
// not ended, once one listens: a subscription the client stopped or
// replaced cannot take the message meant for the one that followed it,
// nor can a slow start lose it.
type subscriptionServer struct {
	*handler.Server
	http *httptest.Server

	mu   sync.Mutex
	subs []*testSubscription
	// subscribed is closed, and replaced, when a subscription starts.
	subscribed chan struct{}
}

// testSubscription is one subscription of a subscriptionServer: true on
// next is a result, false the end.
type testSubscription struct {
	ctx  context.Context
	next chan bool
}

func newSubscriptionServer(t testing.TB, ws graphql.Transport) *subscriptionServer {
	t.Helper()
	s := &subscriptionServer{subscribed: make(chan struct{})}
	s.Server = handler.New(s.schema())
	s.AddTransport(ws)
	s.http = httptest.NewServer(s)
	t.Cleanup(s.http.Close)
	return s
}

func (s *subscriptionServer) schema() graphql.ExecutableSchema {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String! }
		type Mutation { name: String! }
		type Subscription { name: String! }
	`})
	return &graphql.ExecutableSchemaMock{
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			switch graphql.GetOperationContext(ctx).Operation.Operation {
			case ast.Query:
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"test"}`)})
			case ast.Mutation:
				return graphql.OneShot(graphql.ErrorResponse(ctx, "mutations are not supported"))
			}
			sub := &testSubscription{ctx: ctx, next: make(chan bool, 16)}
			s.mu.Lock()
			s.subs = append(s.subs, sub)
			close(s.subscribed)
			s.subscribed = make(chan struct{})
			s.mu.Unlock()
			return func(context.Context) *graphql.Response {
				select {
				case <-ctx.Done():
					return nil
				case more := <-sub.next:
					if !more {
						return nil
					}
					return &graphql.Response{Data: []byte(`{"name":"test"}`)}
				}
			}
		},
		SchemaFunc:     func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) { return 0, true },
	}
}

// sendNext has every running subscription send a result, waiting up to
// wsReadTimeout for one to run.
func (s *subscriptionServer) sendNext(t *testing.T) {
	t.Helper()
	s.send(t, true)
}

// sendComplete ends every running subscription, waiting up to
// wsReadTimeout for one to run.
func (s *subscriptionServer) sendComplete(t *testing.T) {
	t.Helper()
	s.send(t, false)
}

// waitRunning waits up to wsReadTimeout for n subscriptions to run: to
// have started, and their context not to have ended.
func (s *subscriptionServer) waitRunning(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(wsReadTimeout)
	for {
		s.mu.Lock()
		s.subs = slices.DeleteFunc(s.subs, func(sub *testSubscription) bool { return sub.ctx.Err() != nil })
		running := len(s.subs)
		s.mu.Unlock()
		if running == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions run, want %d", running, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *subscriptionServer) send(t *testing.T, more bool) {
	t.Helper()
	timeout := time.NewTimer(wsReadTimeout)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		s.subs = slices.DeleteFunc(s.subs, func(sub *testSubscription) bool { return sub.ctx.Err() != nil })
		running := s.subs
		if !more {
			s.subs = nil
		}
		subscribed := s.subscribed
		s.mu.Unlock()
		if len(running) > 0 {
			for _, sub := range running {
				select {
				case sub.next <- more:
				default:
					t.Fatal("a subscription holds 16 messages it has not sent")
				}
			}
			return
		}
		select {
		case <-subscribed:
		case <-timeout.C:
			t.Fatalf("no subscription runs after %v", wsReadTimeout)
		}
	}
}

func (s *subscriptionServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http")
}

// dial opens a websocket to the server with gorilla's client.
func (s *subscriptionServer) dial(
	t *testing.T,
	header http.Header,
	subprotocols ...string,
) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	dialer := websocket.Dialer{HandshakeTimeout: wsReadTimeout, Subprotocols: subprotocols}
	conn, resp, err := dialer.DialContext(t.Context(), s.wsURL(), header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return conn, resp, err
}

// wsClient is a test client speaking one of the GraphQL websocket protocols.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	// autoPong answers graphql-transport-ws pings from the server while
	// reading; pingsAnswered counts them.
	autoPong      bool
	pingsAnswered int
}

func (s *subscriptionServer) connect(t *testing.T, subprotocols ...string) *wsClient {
	t.Helper()
	conn, resp, err := s.dial(t, nil, subprotocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", s.wsURL(), err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(typ, id, payload string) {
	c.t.Helper()
	msg := wsMessage{Type: typ, ID: id}
	if payload != "" {
		msg.Payload = json.RawMessage(payload)
	}
	if err := c.conn.WriteJSON(msg); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// next returns the next message that is not of one of the skipped types,
// failing if none arrives within wsReadTimeout.
func (c *wsClient) next(skip ...string) (wsMessage, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(wsReadTimeout)); err != nil {
		return wsMessage{}, err
	}
	for {
		var msg wsMessage
		if err := c.conn.ReadJSON(&msg); err != nil {
			return wsMessage{}, err
		}
		if c.autoPong && msg.Type == "ping" {
			if err := c.conn.WriteJSON(wsMessage{Type: "pong"}); err != nil {
				return wsMessage{}, err
			}
			c.pingsAnswered++
			continue
		}
		if !contains(skip, msg.Type) {
			return msg, nil
		}
	}
}

// expect reads the next message not of a skipped type and checks its type
// and id.
func (c *wsClient) expect(typ, id string, skip ...string) wsMessage {
	c.t.Helper()
	msg, err := c.next(skip...)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if msg.Type != typ || msg.ID != id {
		c.t.Fatalf("got %+v (payload %s), want type %q id %q", msg, msg.Payload, typ, id)
	}
	return msg
}

// expectClose reads until the connection fails and returns the close error.
func (c *wsClient) expectClose(skip ...string) *websocket.CloseError {
	c.t.Helper()
	for {
		msg, err := c.next(skip...)
		if err == nil {
			c.t.Fatalf("got %+v (payload %s), want the connection to close", msg, msg.Payload)
		}
		var closeErr *websocket.CloseError
		if !errors.As(err, &closeErr) {
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		return closeErr
	}
}

// closeNormally performs the client side of a normal close handshake.
func (c *wsClient) closeNormally() {
	c.t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		c.t.Fatalf("write close: %v", err)
	}
	for {
		if _, err := c.next(); err != nil {
			break
		}
	}
	_ = c.conn.Close()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkNameData(t *testing.T, payload json.RawMessage) {
	t.Helper()
	var got struct {
		Data struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &got); err != nil || got.Data.Name != "test" {
		t.Fatalf("payload %s, want data.name \"test\" (%v)", payload, err)
	}
}

// goroutineBaseline records the goroutine count; its check method waits for
// the count to drop back to it, failing with all stacks if it does not.
type goroutineBaseline int

func newGoroutineBaseline() goroutineBaseline { return goroutineBaseline(runtime.NumGoroutine()) }

func (b goroutineBaseline) check(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= int(b) {
			return
		}
		if time.Now().After(deadline) {
			var stacks bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("%d goroutines still running after disconnect, %d before connecting:\n%s", n, b, stacks.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebsocketGraphQLTransportWS(t *testing.T) {
	// The hub drops a client that answers no ping for two intervals; keep
	// that well above scheduling stalls on a loaded machine.
	const interval = 500 * time.Millisecond
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{PingPongInterval: interval}))
	baseline := newGoroutineBaseline()

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	if got := c.conn.Subprotocol(); got != SubprotocolGraphQLTransportWS {
		t.Fatalf("negotiated subprotocol %q", got)
	}
	c.autoPong = true
	c.send("connection_init", "", `{}`)
	c.expect("connection_ack", "")

	// A subscription the server completes.
	c.send("subscribe", "1", subscriptionQuery)
	for range 2 {
		srv.sendNext(t)
		checkNameData(t, c.expect("next", "1").Payload)
	}
	srv.sendComplete(t)
	c.expect("complete", "1")

	// A subscription the client completes: nothing more is sent for it,
	// complete included, so the pong is the next message, and it ends.
	c.send("subscribe", "2", subscriptionQuery)
	srv.sendNext(t)
	checkNameData(t, c.expect("next", "2").Payload)
	c.send("complete", "2", "")
	c.send("ping", "", "")
	c.expect("pong", "")
	srv.waitRunning(t, 0)

	// Client-initiated ping.
	c.send("ping", "", "")
	c.expect("pong", "")

	// Server-initiated pings: answering them keeps the connection open well
	// past the read deadline.
	for c.pingsAnswered < 3 {
		c.send("ping", "", "")
		c.expect("pong", "")
		time.Sleep(10 * time.Millisecond)
	}
	c.send("subscribe", "3", subscriptionQuery)
	srv.sendNext(t)
	checkNameData(t, c.expect("next", "3").Payload)

	c.closeNormally()
	baseline.check(t)
}

func TestWebsocketGraphQLWS(t *testing.T) {
	const interval = 50 * time.Millisecond
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: interval}))
	baseline := newGoroutineBaseline()

	c := srv.connect(t, SubprotocolGraphQLWS)
	if got := c.conn.Subprotocol(); got != SubprotocolGraphQLWS {
		t.Fatalf("negotiated subprotocol %q", got)
	}
	c.send("connection_init", "", `{}`)
	c.expect("connection_ack", "")
	for range 3 {
		c.expect("ka", "")
	}

	c.send("start", "1", subscriptionQuery)
	for range 2 {
		srv.sendNext(t)
		checkNameData(t, c.expect("data", "1", "ka").Payload)
	}
	srv.sendComplete(t)
	c.expect("complete", "1", "ka")

	c.send("start", "2", subscriptionQuery)
	srv.sendNext(t)
	checkNameData(t, c.expect("data", "2", "ka").Payload)
	c.send("stop", "2", "")
	c.expect("complete", "2", "ka")

	c.send("connection_terminate", "", "")
	if closeErr := c.expectClose("ka"); closeErr.Code != websocket.CloseNormalClosure {
		t.Errorf("close code %d, want %d", closeErr.Code, websocket.CloseNormalClosure)
	}
	_ = c.conn.Close()
	baseline.check(t)
}

func TestWebsocketSubprotocolNegotiation(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
		// legacy is whether graphql-ws is spoken: the hub uses it when no
		// subprotocol was negotiated.
		legacy bool
	}{
		{offered: []string{SubprotocolGraphQLWS, SubprotocolGraphQLTransportWS}, want: SubprotocolGraphQLTransportWS},
		{offered: []string{SubprotocolGraphQLTransportWS}, want: SubprotocolGraphQLTransportWS},
		{offered: []string{SubprotocolGraphQLWS}, want: SubprotocolGraphQLWS, legacy: true},
		{offered: nil, want: "", legacy: true},
		{offered: []string{"other"}, want: "", legacy: true},
	} {
		t.Run(strings.Join(tc.offered, ","), func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: time.Hour}))
			c := srv.connect(t, tc.offered...)
			if got := c.conn.Subprotocol(); got != tc.want {
				t.Errorf("negotiated %q, want %q", got, tc.want)
			}
			c.send("connection_init", "", "")
			c.expect("connection_ack", "")
			if tc.legacy {
				c.expect("ka", "")
				c.send("start", "1", subscriptionQuery)
				srv.sendNext(t)
				c.expect("data", "1", "ka")
			} else {
				c.send("subscribe", "1", subscriptionQuery)
				srv.sendNext(t)
				c.expect("next", "1")
			}
			c.closeNormally()
		})
	}
}

func TestWebsocketOriginPolicy(t *testing.T) {
	refuseAll := func(*http.Request) bool { return false }
	for _, tc := range []struct {
		name    string
		opts    WSOptions
		origin  string // "self" is the server's own origin
		allowed bool
	}{
		{"no origin", WSOptions{}, "", true},
		{"same origin", WSOptions{}, "self", true},
		{"other origin", WSOptions{}, "http://evil.example", false},
		{"null origin", WSOptions{}, "null", false},
		{"listed origin", WSOptions{AllowedOrigins: []string{"https://app.example.com/"}}, "HTTPS://App.Example.com", true},
		{"listed host other scheme", WSOptions{AllowedOrigins: []string{"https://app.example.com"}}, "http://app.example.com", false},
		{"unlisted origin", WSOptions{AllowedOrigins: []string{"https://app.example.com"}}, "https://evil.example", false},
		{"custom policy", WSOptions{CheckOrigin: refuseAll}, "self", false},
		{"custom policy without origin", WSOptions{CheckOrigin: refuseAll}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(tc.opts))
			header := http.Header{}
			switch tc.origin {
			case "":
			case "self":
				header.Set("Origin", srv.http.URL)
			default:
				header.Set("Origin", tc.origin)
			}
			conn, resp, err := srv.dial(t, header, SubprotocolGraphQLTransportWS)
			if tc.allowed {
				if err != nil {
					t.Fatalf("dial with Origin %q: %v", tc.origin, err)
				}
				_ = conn.Close()
				return
			}
			if err == nil {
				_ = conn.Close()
				t.Fatalf("dial with Origin %q succeeded, want it refused", tc.origin)
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("dial with Origin %q: %v, response %v; want a 400", tc.origin, err, resp)
			}
		})
	}
}

func TestWebsocketMissingPongDisconnects(t *testing.T) {
	const interval = 50 * time.Millisecond
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{PingPongInterval: interval}))
	baseline := newGoroutineBaseline()

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	start := time.Now()
	for {
		msg, err := c.next()
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("server kept the connection open for %v without pongs", time.Since(start))
		}
		if err != nil {
			break
		}
		if msg.Type != "ping" {
			t.Fatalf("got %+v, want only pings", msg)
		}
	}
	if elapsed := time.Since(start); elapsed < 2*interval {
		t.Errorf("disconnected after %v, before the %v pong deadline", elapsed, 2*interval)
	}
	_ = c.conn.Close()
	baseline.check(t)
}

func TestWebsocketMaxMessageSize(t *testing.T) {
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{MaxMessageSize: 512}))
	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	// Below the limit.
	c.send("subscribe", "1", subscriptionQuery)
	srv.sendNext(t)
	c.expect("next", "1")

	big := `{"query":"subscription { name }` + strings.Repeat(" ", 1024) + `"}`
	c.send("subscribe", "2", big)
	if closeErr := c.expectClose(); closeErr.Code != websocket.CloseMessageTooBig {
		t.Errorf("close code %d, want %d", closeErr.Code, websocket.CloseMessageTooBig)
	}
}

type tokenKey struct{}

func TestWebsocketInitFunc(t *testing.T) {
	ws := WebsocketTransport(WSOptions{})
	ws.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if p.Authorization() != "Bearer good" {
			return transport.WithWebsocketCloseCode(ctx, 4403), nil, errors.New("forbidden")
		}
		return context.WithValue(ctx, tokenKey{}, "good"), &transport.InitPayload{"user": "u1"}, nil
	}
	srv := newSubscriptionServer(t, ws)

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"Authorization":"Bearer bad"}`)
	if closeErr := c.expectClose(); closeErr.Code != 4403 {
		t.Errorf("close code %d, want 4403", closeErr.Code)
	}

	c = srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"Authorization":"Bearer good"}`)
	ack := c.expect("connection_ack", "")
	if string(ack.Payload) != `{"user":"u1"}` {
		t.Errorf("ack payload %s", ack.Payload)
	}
	c.closeNormally()
}

func TestWebsocketInitTimeout(t *testing.T) {
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{InitTimeout: 50 * time.Millisecond}))
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		baseline := newGoroutineBaseline()
		c := srv.connect(t, protocol)
		if closeErr := c.expectClose(); closeErr.Code != 4408 {
			t.Errorf("%s: close code %d, want 4408", protocol, closeErr.Code)
		}
		_ = c.conn.Close()
		baseline.check(t)
	}
}

// TestWebsocketAbruptDisconnect drops the TCP connection under an active
// subscription of each protocol and checks nothing is left running.
func TestWebsocketAbruptDisconnect(t *testing.T) {
	for _, tc := range []struct{ protocol, subscribe, data string }{
		{SubprotocolGraphQLTransportWS, "subscribe", "next"},
		{SubprotocolGraphQLWS, "start", "data"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{
				KeepAlivePingInterval: 20 * time.Millisecond,
				PingPongInterval:      time.Second,
			}))
			baseline := newGoroutineBaseline()
			c := srv.connect(t, tc.protocol)
			c.autoPong = true
			c.send("connection_init", "", "")
			c.expect("connection_ack", "")
			c.send(tc.subscribe, "1", subscriptionQuery)
			srv.sendNext(t)
			c.expect(tc.data, "1", "ka")
			if err := c.conn.NetConn().Close(); err != nil {
				t.Fatalf("close TCP connection: %v", err)
			}
			baseline.check(t)
		})
	}
}

// unwrapOnlyWriter is middleware's ResponseWriter wrapper that, like many,
// offers Unwrap but not Hijack.
type unwrapOnlyWriter struct {
	http.ResponseWriter
}

func (w unwrapOnlyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestWebsocketBehindWrappingMiddleware checks upgrades work through a
// ResponseWriter wrapper that hides http.Hijacker behind Unwrap.
func TestWebsocketBehindWrappingMiddleware(t *testing.T) {
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{}))
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := http.ResponseWriter(unwrapOnlyWriter{w}).(http.Hijacker); ok {
			t.Error("test wrapper unexpectedly implements http.Hijacker")
		}
		srv.ServeHTTP(unwrapOnlyWriter{w}, r)
	})
	srv.http = httptest.NewServer(wrapped)
	t.Cleanup(srv.http.Close)

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	c.send("subscribe", "1", subscriptionQuery)
	srv.sendNext(t)
	checkNameData(t, c.expect("next", "1").Payload)
	c.closeNormally()
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
	} {
		if got := truncateUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	long := strings.Repeat("x", 200)
	if got := websocket.FormatCloseMessage(1000, truncateUTF8(long, maxCloseReason)); len(got) != 125 {
		t.Errorf("close payload %d bytes, want 125", len(got))
	}
}

// TestWebsocketIdleConnectionGoroutines checks what an idle, acknowledged
// connection keeps running on the server: one goroutine, its own, reading;
// neither the HTTP server's goroutine of the upgrade request nor one for
// the keep-alives, which keep going meanwhile.
func TestWebsocketIdleConnectionGoroutines(t *testing.T) {
	const conns = 20
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{
				KeepAlivePingInterval: 20 * time.Millisecond,
				PingPongInterval:      time.Hour,
			}))
			baseline := newGoroutineBaseline()
			var clients []*wsClient
			for range conns {
				c := srv.connect(t, protocol)
				c.send("connection_init", "", "")
				c.expect("connection_ack", "")
				clients = append(clients, c)
			}
			time.Sleep(100 * time.Millisecond) // keep-alives fire meanwhile
			// The clients read nothing: no goroutine of theirs runs.
			waitGoroutines(t, baseline, conns, conns)
			for _, c := range clients {
				_ = c.conn.Close()
			}
			baseline.check(t)
		})
	}
}

// waitGoroutines waits up to 5 s for the process to run at most want goroutines
// more than baseline, conns of them connections' readers, and none the
// HTTP server's of an upgraded request; it fails with every stack if
// that does not come to pass.
func waitGoroutines(t *testing.T, baseline goroutineBaseline, want, conns int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		n := runtime.NumGoroutine() - int(baseline)
		own := countStacks(stacks.String(), "httpapi.(*wsConn).serve")
		extra := countStacks(stacks.String(), "net/http.(*conn).serve")
		if n <= want && own == conns && extra == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d connections (%d readers, %d HTTP), want %d, %d readers:\n%s",
				n, conns, own, extra, want, conns, stacks.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countStacks counts the goroutines of a pprof goroutine profile (debug=1)
// whose stack holds any of the functions.
func countStacks(profile string, funcs ...string) int {
	n := 0
	for _, stack := range strings.Split(profile, "\n\n") {
		count, _, ok := strings.Cut(stack, " @ ")
		if !ok {
			continue
		}
		if i := strings.LastIndexByte(count, '\n'); i >= 0 {
			count = count[i+1:] // the first stack follows the profile's header
		}
		for _, f := range funcs {
			if strings.Contains(stack, f) {
				c, _ := strconv.Atoi(strings.TrimSpace(count))
				n += c
				break
			}
		}
	}
	return n
}

// TestWebsocketPanicClosesConnection makes a connection panic on its own
// goroutine: the connection is closed and reported, the server goes on.
func TestWebsocketPanicClosesConnection(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	ws := WebsocketTransport(WSOptions{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	ws.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if p.GetString("panic") != "" {
			panic("init went wrong")
		}
		return ctx, nil, nil
	}
	srv := newSubscriptionServer(t, ws)
	baseline := newGoroutineBaseline()

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"panic":"yes"}`)
	if _, err := c.next(); err == nil {
		t.Fatal("the connection stayed open after its goroutine panicked")
	}
	_ = c.conn.Close()
	baseline.check(t)
	mu.Lock()
	if !strings.Contains(logs.String(), "init went wrong") {
		t.Errorf("the panic was not logged: %q", logs.String())
	}
	mu.Unlock()

	c = srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{}`)
	c.expect("connection_ack", "")
	c.send("subscribe", "1", subscriptionQuery)
	srv.sendNext(t)
	checkNameData(t, c.expect("next", "1").Payload)
	c.closeNormally()
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hijackable is a ResponseWriter whose Hijack returns its own buffers
// and conn.
type hijackable struct {
	http.ResponseWriter
	rw   *bufio.ReadWriter
	conn net.Conn
}

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, h.rw, nil
}

// TestHijackedBuffersReleased checks what is left of the buffers the
// hijack hands over once the upgrade no longer needs them: no writer; a
// reader larger than 256 bytes, which gorilla reads through, cut to
// wsReadBufferSize and reading the hijacked connection; a smaller one,
// which gorilla does not use, nothing.
func TestHijackedBuffersReleased(t *testing.T) {
	tests := []struct {
		give     int // the hijacked reader's size
		wantSize int // after the release; 0: dropped
	}{
		{give: 16, wantSize: 0},
		{give: 256, wantSize: 0},
		{give: 257, wantSize: wsReadBufferSize},
		{give: 4096, wantSize: wsReadBufferSize},
		{give: 64 << 10, wantSize: wsReadBufferSize},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.give), func(t *testing.T) {
			server, client := net.Pipe()
			defer server.Close()
			defer client.Close()
			rw := bufio.NewReadWriter(bufio.NewReaderSize(strings.NewReader("not the connection"), tt.give), bufio.NewWriter(io.Discard))
			hw := &hijackingWriter{ResponseWriter: hijackable{rw: rw, conn: server}}
			conn, got, err := hw.Hijack()
			if err != nil || got != rw || conn != server {
				t.Fatalf("Hijack() = %v, %v, %v; want the writer's own buffers and conn", conn, got, err)
			}
			br := hw.releaseBuffers()
			if rw.Writer.Size() != 0 {
				t.Errorf("after release the writer holds %d bytes, want none", rw.Writer.Size())
			}
			if rw.Reader.Size() != tt.wantSize {
				t.Errorf("after release the reader holds %d bytes, want %d", rw.Reader.Size(), tt.wantSize)
			}
			if tt.wantSize == 0 {
				if br != nil {
					t.Errorf("releaseBuffers() = %p, want nil for a reader gorilla does not use", br)
				}
			} else {
				if br != rw.Reader {
					t.Fatalf("releaseBuffers() = %p, want the hijacked reader %p", br, rw.Reader)
				}
				go func() { _, _ = client.Write([]byte("from the socket")) }()
				line := make([]byte, len("from the socket"))
				if _, err := io.ReadFull(br, line); err != nil || string(line) != "from the socket" {
					t.Errorf("the reader read %q, %v; want what the connection sent", line, err)
				}
			}
			if again := hw.releaseBuffers(); again != nil { // again: nothing
				t.Errorf("a second releaseBuffers() = %p, want nil", again)
			}
		})
	}
}

// shortVerifier accepts the token "soon", which expires after ttl.
type shortVerifier struct{ ttl time.Duration }

func (v shortVerifier) Verify(token string) (auth.Principal, error) {
	if token != "soon" {
		return auth.Principal{}, hub.Errorf(hub.EUNAUTHORIZED, "bad token")
	}
	return auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "s", Expires: time.Now().Add(v.ttl)}, nil
}

// TestWebsocketTokenExpiry checks that a connection authenticated in
// connection_init is closed (4403) when its token expires, and that a connection
// closed before then goes without its timer firing.
func TestWebsocketTokenExpiry(t *testing.T) {
	ws := WebsocketTransport(WSOptions{})
	ws.InitFunc = wsInit(shortVerifier{ttl: 300 * time.Millisecond})
	srv := newSubscriptionServer(t, ws)

	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"Authorization":"Bearer soon"}`)
	c.expect("connection_ack", "")
	c.send("subscribe", "1", subscriptionQuery)
	start := time.Now()
	closeErr := c.expectClose("ping")
	if closeErr == nil || closeErr.Code != wsCloseForbidden || closeErr.Text != "token expired" {
		t.Errorf("at expiry: close %v, want %d \"token expired\"", closeErr, wsCloseForbidden)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed %v after the subscription, the token lasted 300ms", d)
	}

	ws.InitFunc = wsInit(shortVerifier{ttl: time.Hour})
	srv = newSubscriptionServer(t, ws)
	c = srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"Authorization":"Bearer soon"}`)
	c.expect("connection_ack", "")
	c.closeNormally()
}
