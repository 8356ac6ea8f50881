package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestWebsocketProtocolErrors sends what each protocol forbids and checks
// the close code the connection ends with (and, on graphql-ws, the
// connection_error before it).
func TestWebsocketProtocolErrors(t *testing.T) {
	type step struct{ typ, id, payload string }
	for _, tc := range []struct {
		name     string
		protocol string
		init     bool   // send connection_init and wait for the ack first
		raw      string // sent as is, after the steps
		steps    []step
		code     int
		connErr  bool // a connection_error comes first
	}{
		{name: "subscribe before init", protocol: SubprotocolGraphQLTransportWS,
			steps: []step{{"subscribe", "1", subscriptionQuery}}, code: 4401},
		{name: "second init", protocol: SubprotocolGraphQLTransportWS, init: true,
			steps: []step{{"connection_init", "", ""}}, code: 4429},
		{name: "id in use", protocol: SubprotocolGraphQLTransportWS, init: true,
			steps: []step{{"subscribe", "1", subscriptionQuery}, {"subscribe", "1", subscriptionQuery}}, code: 4409},
		{name: "not json", protocol: SubprotocolGraphQLTransportWS, init: true, raw: `{"type":`, code: 4400},
		{name: "type not a string", protocol: SubprotocolGraphQLTransportWS, init: true, raw: `{"type":1}`, code: 4400},
		{name: "unknown type", protocol: SubprotocolGraphQLTransportWS, init: true, raw: `{"type":"start","id":"1"}`, code: 4400},
		{name: "subscribe without id", protocol: SubprotocolGraphQLTransportWS, init: true,
			steps: []step{{"subscribe", "", subscriptionQuery}}, code: 4400},
		{name: "subscribe without payload", protocol: SubprotocolGraphQLTransportWS, init: true,
			raw: `{"type":"subscribe","id":"1"}`, code: 4400},
		{name: "payload not an object", protocol: SubprotocolGraphQLTransportWS, init: true,
			raw: `{"type":"subscribe","id":"1","payload":"{ name }"}`, code: 4400},
		{name: "init payload not an object", protocol: SubprotocolGraphQLTransportWS,
			raw: `{"type":"connection_init","payload":[1]}`, code: 4400},
		{name: "legacy start before init", protocol: SubprotocolGraphQLWS,
			steps: []step{{"start", "1", subscriptionQuery}}, code: 4401},
		{name: "legacy unknown type", protocol: SubprotocolGraphQLWS, init: true,
			raw: `{"type":"subscribe","id":"1"}`, code: websocket.CloseProtocolError, connErr: true},
		{name: "legacy not json", protocol: SubprotocolGraphQLWS, init: true,
			raw: `nope`, code: websocket.CloseProtocolError, connErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: -1, PingPongInterval: -1}))
			baseline := newGoroutineBaseline()
			c := srv.connect(t, tc.protocol)
			if tc.init {
				c.send("connection_init", "", "")
				c.expect("connection_ack", "")
			}
			for _, s := range tc.steps {
				c.send(s.typ, s.id, s.payload)
			}
			if tc.raw != "" {
				if err := c.conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.connErr {
				msg := c.expect("connection_error", "", "ka")
				if !strings.Contains(string(msg.Payload), `"message"`) {
					t.Errorf("connection_error payload %s", msg.Payload)
				}
			}
			if ce := c.expectClose("ka"); ce.Code != tc.code {
				t.Errorf("close %d %q, want %d", ce.Code, ce.Text, tc.code)
			}
			_ = c.conn.Close()
			baseline.check(t)
		})
	}
}

// TestWebsocketOperationErrors checks that an operation that fails is an
// error on that operation only: the connection serves the next one.
func TestWebsocketOperationErrors(t *testing.T) {
	for _, tc := range []struct {
		protocol, subscribe, data string
	}{
		{SubprotocolGraphQLTransportWS, "subscribe", "next"},
		{SubprotocolGraphQLWS, "start", "data"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: -1, PingPongInterval: -1}))
			c := srv.connect(t, tc.protocol)
			c.send("connection_init", "", "")
			c.expect("connection_ack", "")

			// A query that does not parse, and one that does not validate:
			// an error message, and no complete after it.
			c.send(tc.subscribe, "1", `{"query":"subscription {"}`)
			if msg := c.expect("error", "1", "ka"); !strings.Contains(string(msg.Payload), "GRAPHQL_PARSE_FAILED") {
				t.Errorf("parse error payload %s", msg.Payload)
			}
			c.send(tc.subscribe, "2", `{"query":"subscription { nope }"}`)
			if msg := c.expect("error", "2", "ka"); !strings.Contains(string(msg.Payload), "GRAPHQL_VALIDATION_FAILED") {
				t.Errorf("validation error payload %s", msg.Payload)
			}
			// Variables that are not an object.
			c.send(tc.subscribe, "3", `{"query":"subscription { name }","variables":[1]}`)
			c.expect("error", "3", "ka")

			// A query and a failing mutation over the socket: a result,
			// then complete.
			c.send(tc.subscribe, "4", `{"query":"{ name }"}`)
			checkNameData(t, c.expect(tc.data, "4", "ka").Payload)
			c.expect("complete", "4", "ka")
			c.send(tc.subscribe, "5", `{"query":"mutation { name }"}`)
			if msg := c.expect(tc.data, "5", "ka"); !strings.Contains(string(msg.Payload), "mutations are not supported") {
				t.Errorf("mutation payload %s", msg.Payload)
			}
			c.expect("complete", "5", "ka")

			// The ids of ended operations may be used again, and the
			// connection still serves subscriptions.
			c.send(tc.subscribe, "1", subscriptionQuery)
			srv.sendNext(t)
			checkNameData(t, c.expect(tc.data, "1", "ka").Payload)
			c.closeNormally()
		})
	}
}

// TestWebsocketMaxOperations checks the bound on the operations one
// connection runs at once.
func TestWebsocketMaxOperations(t *testing.T) {
	srv := newSubscriptionServer(t, WebsocketTransport(WSOptions{MaxOperations: 2, PingPongInterval: -1}))
	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	c.send("subscribe", "1", subscriptionQuery)
	c.send("subscribe", "2", subscriptionQuery)
	c.send("subscribe", "3", subscriptionQuery)
	if msg := c.expect("error", "3"); !strings.Contains(string(msg.Payload), hub.ERATELIMITED) {
		t.Errorf("over the bound: %s, want %s", msg.Payload, hub.ERATELIMITED)
	}
	c.send("complete", "1", "")
	// The complete is acted on before the next message is read, but the
	// operation ends on its own goroutine: until it has, the bound holds.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.send("subscribe", "4", subscriptionQuery)
		c.send("ping", "", "")
		if msg := c.expectAny("error", "pong"); msg.Type == "pong" {
			break
		}
		c.expect("pong", "")
		if time.Now().After(deadline) {
			t.Fatal("a completed operation still counts against the bound")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.sendNext(t)
	c.expectAny("next")
	c.closeNormally()
}

// TestWebsocketLegacyReplacesOperation checks that graphql-ws's start with
// the id of a running operation replaces it, as its reference server does:
// the replaced operation sends nothing more, the new one sends each event
// once, and stop completes it. Each subscription publishes an event as it
// subscribes, so the test knows when each one listens.
func TestWebsocketLegacyReplacesOperation(t *testing.T) {
	srv := newStreamServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: -1}))
	srv.publishOnSubscribe = true
	baseline := newGoroutineBaseline()
	c := srv.connect(t, SubprotocolGraphQLWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	name := func() string {
		t.Helper()
		var p struct{ Data struct{ Name string } }
		_ = json.Unmarshal(c.expect("data", "1", "ka").Payload, &p)
		return p.Data.Name
	}
	c.send("start", "1", subscriptionQuery)
	if got := name(); got != "1" {
		t.Fatalf("the first operation sent event %s, want 1", got)
	}
	// The replacing operation subscribes, then publishes event 2; the
	// replaced one, silenced first, may still receive it but must not
	// send it. Event 3 must come next, so a second copy of 2 fails.
	c.send("start", "1", subscriptionQuery)
	if got := name(); got != "2" {
		t.Fatalf("the replacing operation sent event %s, want 2", got)
	}
	srv.publish(t)
	if got := name(); got != "3" {
		t.Fatalf("after event 2 came %s, want 3 (only one operation may send)", got)
	}
	c.send("stop", "1", "")
	c.expect("complete", "1", "ka")
	waitSubscribers(t, srv.Broker, 0)
	c.closeNormally()
	baseline.check(t)
}

// streamServer serves a schema whose one subscription, name, streams the
// events of a real broker through broker.Stream, as the hub's resolvers
// do: each event's Seq as a string.
type streamServer struct {
	*broker.Broker
	http *httptest.Server
	// publishOnSubscribe has each subscription publish an event right
	// after it subscribed, and wait for it to be handed over, before its
	// operation is dispatched.
	publishOnSubscribe bool
}

func newStreamServer(t *testing.T, ws WSTransport) *streamServer {
	t.Helper()
	b := broker.New(broker.Options{QueueSize: 1 << 16})
	t.Cleanup(func() { _ = b.Close() })
	s := &streamServer{Broker: b}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String! }
		type Subscription { name: String! }
	`})
	srv := handler.New(&graphql.ExecutableSchemaMock{
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			if graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"query"}`)})
			}
			ch, err := broker.Stream(ctx, b, broker.Filter{DistrictID: "d1"}, func(d broker.Delivery) (string, bool) {
				return fmt.Sprint(d.Event.Seq), true
			})
			if err != nil {
				return graphql.OneShot(graphql.ErrorResponse(ctx, "%s", err))
			}
			if s.publishOnSubscribe {
				_, _ = b.Publish(ctx, hub.Event{Kind: hub.EventRestock, DistrictID: "d1"})
				// The broker's forwarder hands it over meanwhile.
				time.Sleep(5 * time.Millisecond)
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case v, ok := <-ch:
					if !ok {
						return nil
					}
					return &graphql.Response{Data: []byte(`{"name":"` + v + `"}`)}
				case <-ctx.Done():
					return nil
				}
			}
		},
		SchemaFunc:     func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) { return 1, true },
	})
	srv.AddTransport(ws)
	s.http = httptest.NewServer(srv)
	t.Cleanup(s.http.Close)
	return s
}

func (s *streamServer) connect(t *testing.T, protocol string) *wsClient {
	return (&subscriptionServer{http: s.http}).connect(t, protocol)
}

func (s *streamServer) publish(t *testing.T) {
	t.Helper()
	if _, err := s.Publish(context.Background(), hub.Event{Kind: hub.EventRestock, DistrictID: "d1"}); err != nil {
		t.Fatal(err)
	}
}

// TestWebsocketStreamSubscriptionsHoldNoGoroutine checks that
// subscriptions fed by broker.Stream cost their connection no goroutine
// while idle, over both protocols: each connection holds only its reader,
// whatever its subscriptions; every event still reaches every subscriber,
// in order; and what the client completes, or leaves by closing, ends its
// broker subscription.
func TestWebsocketStreamSubscriptionsHoldNoGoroutine(t *testing.T) {
	const conns, perConn, events = 10, 3, 5
	for _, tc := range []struct {
		protocol, subscribe, data, stop string
	}{
		{SubprotocolGraphQLTransportWS, "subscribe", "next", "complete"},
		{SubprotocolGraphQLWS, "start", "data", "stop"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			srv := newStreamServer(t, WebsocketTransport(WSOptions{KeepAlivePingInterval: time.Hour, PingPongInterval: time.Hour}))
			baseline := newGoroutineBaseline()
			var clients []*wsClient
			for range conns {
				c := srv.connect(t, tc.protocol)
				c.send("connection_init", "", "")
				c.expect("connection_ack", "")
				for i := range perConn {
					c.send(tc.subscribe, fmt.Sprint(i), subscriptionQuery)
				}
				clients = append(clients, c)
			}
			waitSubscribers(t, srv.Broker, conns*perConn)
			waitGoroutines(t, baseline, conns, conns)

			for range events {
				srv.publish(t)
			}
			for _, c := range clients {
				got := map[string][]string{}
				for range perConn * events {
					msg := c.expectAny(tc.data)
					var p struct{ Data struct{ Name string } }
					_ = json.Unmarshal(msg.Payload, &p)
					got[msg.ID] = append(got[msg.ID], p.Data.Name)
				}
				for i := range perConn {
					if want := []string{"1", "2", "3", "4", "5"}; fmt.Sprint(got[fmt.Sprint(i)]) != fmt.Sprint(want) {
						t.Errorf("subscription %d got %v, want %v", i, got[fmt.Sprint(i)], want)
					}
				}
			}
			// Delivered, the subscriptions hold no goroutine again.
			waitGoroutines(t, baseline, conns, conns)

			// The first connection completes its subscriptions, the
			// second leaves; the rest stay.
			for i := range perConn {
				clients[0].send(tc.stop, fmt.Sprint(i), "")
			}
			_ = clients[1].conn.Close()
			waitSubscribers(t, srv.Broker, (conns-2)*perConn)
			clients[0].send("connection_init", "", "") // a second init closes it
			clients[0].expectClose("ka", "complete")
			for _, c := range clients[2:] {
				_ = c.conn.Close()
			}
			waitSubscribers(t, srv.Broker, 0)
			baseline.check(t)
		})
	}
}

// waitSubscribers waits up to 5 s for the broker to hold n subscriptions.
func waitSubscribers(t *testing.T, b *broker.Broker, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("the broker holds %d subscriptions, want %d", b.Stats().Subscribers, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebsocketStreamSubscriptionSlowStart has each subscription publish
// an event as it subscribes, so that an event reaches its Stream before
// its operation is dispatched, and others while later ones start: none is
// lost or sent twice.
func TestWebsocketStreamSubscriptionSlowStart(t *testing.T) {
	srv := newStreamServer(t, WebsocketTransport(WSOptions{PingPongInterval: -1}))
	srv.publishOnSubscribe = true
	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", "")
	c.expect("connection_ack", "")
	const subs = 20
	for i := range subs {
		c.send("subscribe", fmt.Sprint(i), subscriptionQuery)
	}
	waitSubscribers(t, srv.Broker, subs)
	// The last event is one a subscription published before its operation
	// was dispatched: nothing comes after it to set its delivery going.
	const last = subs
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Published != last; {
		if time.Now().After(deadline) {
			t.Fatalf("%d events published, want %d", srv.Stats().Published, last)
		}
		time.Sleep(time.Millisecond)
	}
	// Every subscription sees consecutive Seqs up to the last event,
	// whatever it started from.
	seen := map[string]uint64{}
	for done := 0; done < subs; {
		msg := c.expectAny("next")
		var p struct{ Data struct{ Name string } }
		_ = json.Unmarshal(msg.Payload, &p)
		var seq uint64
		fmt.Sscan(p.Data.Name, &seq)
		if prev, ok := seen[msg.ID]; ok && seq != prev+1 {
			t.Fatalf("subscription %s: %d after %d", msg.ID, seq, prev)
		}
		seen[msg.ID] = seq
		if seq == last {
			done++
		}
	}
	c.closeNormally()
}

// expectAny reads the next message whose type is not skipped ("ka" and
// "ping" are) and checks it is one of types, whatever its id.
func (c *wsClient) expectAny(types ...string) wsMessage {
	c.t.Helper()
	msg, err := c.next("ka", "ping")
	if err != nil {
		c.t.Fatalf("waiting for %v: %v", types, err)
	}
	if !contains(types, msg.Type) {
		c.t.Fatalf("got %+v (payload %s), want one of %v", msg, msg.Payload, types)
	}
	return msg
}

// TestOnGrid checks that keep-alives fall on the grid, never early and at
// most one grid step late.
func TestOnGrid(t *testing.T) {
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now time.Duration // after base
		d   time.Duration
	}{
		{0, 10 * time.Second},
		{time.Nanosecond, 10 * time.Second},
		{123456789 * time.Nanosecond, 10 * time.Second},
		{keepAliveGrid - time.Nanosecond, time.Second},
		{7 * time.Millisecond, 20 * time.Millisecond},
	} {
		now := base.Add(tc.now)
		got := onGrid(now, tc.d)
		if got < tc.d || got >= tc.d+keepAliveGrid {
			t.Errorf("onGrid(+%v, %v) = %v, want within [d, d+%v)", tc.now, tc.d, got, keepAliveGrid)
		}
		if at := now.Add(got); !at.Equal(at.Truncate(keepAliveGrid)) {
			t.Errorf("onGrid(+%v, %v) = %v: fires at %v, off the grid", tc.now, tc.d, got, at)
		}
	}
}

// TestMessageEncoding checks the messages the transport builds by hand
// against encoding/json: ids quoted as JSON wants them, results with data
// alone put in as the executor encoded them, anything else encoded whole.
func TestMessageEncoding(t *testing.T) {
	for _, id := range []string{"1", "a-b_c.d:e", `q"uote`, `back\slash`, "tab\there", "é", "<&>", "\u2028"} {
		got := appendJSONString(nil, id)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != id {
			t.Errorf("appendJSONString(%q) = %s: decodes to %q, %v", id, got, back, err)
		}
	}
	c := &wsConn{modern: true}
	if got := string(c.message("ping", "", nil)); got != `{"type":"ping"}` {
		t.Errorf("ping: %s", got)
	}
	if got := string(c.message("error", "7", []byte(`[{"message":"x"}]`))); got != `{"type":"error","id":"7","payload":[{"message":"x"}]}` {
		t.Errorf("error: %s", got)
	}
	hasNext := true
	for _, tc := range []struct {
		resp  graphql.Response
		plain bool
	}{
		{graphql.Response{Data: []byte(`{"a":1}`)}, true},
		{graphql.Response{Data: []byte(`{"a":1}`), Extensions: map[string]any{"x": 1}}, false},
		{graphql.Response{Errors: gqlerror.List{{Message: "no"}}}, false},
		{graphql.Response{Data: []byte(`{"a":1}`), HasNext: &hasNext}, false},
		{graphql.Response{}, false},
	} {
		if got := plainData(&tc.resp); got != tc.plain {
			t.Errorf("plainData(%+v) = %v", tc.resp, got)
		}
	}
}

// TestWebsocketZeroTransport checks that the zero WSTransport serves with
// the defaults and keeps the hooks set on it.
func TestWebsocketZeroTransport(t *testing.T) {
	closed := make(chan int, 1)
	srv := newSubscriptionServer(t, WSTransport{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			return ctx, &transport.InitPayload{"hello": p.GetString("name")}, nil
		},
		CloseFunc: func(_ context.Context, code int) { closed <- code },
	})
	c := srv.connect(t, SubprotocolGraphQLTransportWS)
	c.send("connection_init", "", `{"name":"zero"}`)
	if ack := c.expect("connection_ack", ""); string(ack.Payload) != `{"hello":"zero"}` {
		t.Errorf("ack payload %s", ack.Payload)
	}
	c.closeNormally()
	select {
	case code := <-closed:
		if code != websocket.CloseNormalClosure {
			t.Errorf("CloseFunc got %d, want %d", code, websocket.CloseNormalClosure)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CloseFunc was not called")
	}
}
