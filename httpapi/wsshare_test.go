package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shareServer serves a schema shaped like the hub's subscriptions on a
// real broker: changes(districtId) streams the district's events through
// broker.Stream, for a DISTRICT token of that district or an ADMIN token
// (anyone else is refused FORBIDDEN, as the policy refuses them), and
// renders seq, gap, who (the caller's role and scope, so that a frame
// shows whose visibility rendered it) and pad (padLen bytes), aliases
// honoured.
type shareServer struct {
	*broker.Broker
	ws     WSTransport
	http   *httptest.Server
	padLen int
	// ttl, when set, is how long the tokens of connections opened from
	// now on last.
	ttl atomic.Int64
}

const shareQuery = `subscription($d: ID!) { changes(districtId: $d) { seq gap who } }`

func newShareServer(t *testing.T, share *ShareOptions) *shareServer {
	t.Helper()
	b := broker.New(broker.Options{QueueSize: 1 << 12})
	t.Cleanup(func() { _ = b.Close() })
	s := &shareServer{Broker: b}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String! }
		type Change { seq: Int! gap: Int! who: String! pad: String! }
		type Subscription { changes(districtId: ID!): Change! other(districtId: ID!): Change! }
	`})
	srv := handler.New(&graphql.ExecutableSchemaMock{
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			oc := graphql.GetOperationContext(ctx)
			if oc.Operation.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"query"}`)})
			}
			root := oc.Operation.SelectionSet[0].(*ast.Field)
			d, _ := root.ArgumentMap(oc.Variables)["districtId"].(string)
			p, _ := auth.FromContext(ctx)
			if !p.Is(auth.District, d) && p.Role != auth.Admin {
				return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{Message: "outside the scope of this token", Extensions: map[string]any{"code": hub.EFORBIDDEN}}}})
			}
			type change struct{ seq, gap int }
			ch, err := broker.Stream(ctx, b, broker.Filter{DistrictID: d}, func(dl broker.Delivery) (change, bool) {
				return change{int(dl.Event.Seq), dl.Gap}, true
			})
			if err != nil {
				return graphql.OneShot(graphql.ErrorResponse(ctx, "%s", err))
			}
			who := string(p.Role) + ":" + p.Scope
			return func(ctx context.Context) *graphql.Response {
				var v change
				select {
				case c, ok := <-ch:
					if !ok {
						return nil
					}
					v = c
				case <-ctx.Done():
					return nil
				}
				var sb strings.Builder
				sb.WriteString(`{"` + responseKey(root) + `":{`)
				for i, f := range fieldsOf(root.SelectionSet) {
					if i > 0 {
						sb.WriteByte(',')
					}
					sb.WriteString(`"` + responseKey(f) + `":`)
					switch f.Name {
					case "seq":
						sb.WriteString(strconv.Itoa(v.seq))
					case "gap":
						sb.WriteString(strconv.Itoa(v.gap))
					case "who":
						sb.WriteString(strconv.Quote(who))
					case "pad":
						sb.WriteString(`"` + strings.Repeat("x", s.padLen) + `"`)
					}
				}
				sb.WriteString("}}")
				return &graphql.Response{Data: []byte(sb.String())}
			}
		},
		SchemaFunc:     func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) { return 1, true },
	})
	// A slow member's write waits as long as the test needs.
	s.ws = WebsocketTransport(WSOptions{KeepAlivePingInterval: time.Hour, PingPongInterval: time.Hour, WriteTimeout: time.Minute, Share: share})
	// The token is "ROLE:SCOPE".
	s.ws.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		role, scope, _ := strings.Cut(p.GetString("token"), ":")
		ctx = auth.WithPrincipal(ctx, auth.Principal{Role: auth.Role(role), Scope: scope, Subject: "s"})
		if ttl := time.Duration(s.ttl.Load()); ttl > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, ttl)
			time.AfterFunc(ttl+time.Second, cancel) // after the deadline, which ends it first
		}
		return ctx, nil, nil
	}
	srv.AddTransport(s.ws)
	s.http = httptest.NewServer(srv)
	t.Cleanup(s.http.Close)
	return s
}

// fieldsOf returns the fields of set, through fragments.
func fieldsOf(set ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			out = append(out, sel)
		case *ast.InlineFragment:
			out = append(out, fieldsOf(sel.SelectionSet)...)
		case *ast.FragmentSpread:
			out = append(out, fieldsOf(sel.Definition.SelectionSet)...)
		}
	}
	return out
}

func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// member opens a connection in protocol with token and subscribes id to
// query with district d.
func (s *shareServer) member(t *testing.T, protocol, token, id, query, d string) *wsClient {
	t.Helper()
	c := (&subscriptionServer{http: s.http}).connect(t, protocol)
	c.send("connection_init", "", `{"token":"`+token+`"}`)
	c.expect("connection_ack", "", "ka")
	c.subscribe(protocol, id, query, d)
	return c
}

func (c *wsClient) subscribe(protocol, id, query, d string) {
	c.t.Helper()
	typ := "subscribe"
	if protocol == SubprotocolGraphQLWS {
		typ = "start"
	}
	b, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]string{"d": d}})
	c.send(typ, id, string(b))
}

func (s *shareServer) publish(t *testing.T, d string) {
	t.Helper()
	if _, err := s.Publish(context.Background(), hub.Event{Kind: hub.EventRestock, DistrictID: d}); err != nil {
		t.Fatal(err)
	}
}

// change is what a frame of the test schema carries.
type change struct {
	Seq, Gap int
	Who      string
}

// expectChange reads the next data message and checks its type for
// protocol and its id.
func (c *wsClient) expectChange(protocol, id string) change {
	c.t.Helper()
	typ := "next"
	if protocol == SubprotocolGraphQLWS {
		typ = "data"
	}
	msg := c.expect(typ, id, "ka", "ping")
	var p struct {
		Data   map[string]change
		Errors []any
	}
	if err := json.Unmarshal(msg.Payload, &p); err != nil || len(p.Data) != 1 || len(p.Errors) > 0 {
		c.t.Fatalf("payload %s: want one root field (%v)", msg.Payload, err)
	}
	for _, v := range p.Data {
		return v
	}
	return change{}
}

func shareOptions() *ShareOptions {
	return &ShareOptions{Fields: []string{"changes"}, Unshared: []string{"Change.pad"}}
}

// shareWait waits up to 5 s for cond.
func shareWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShareOneExecution has members on many connections, over both
// protocols and with several operations per connection, subscribe to the
// same operation with the same variables and visibility: they share one
// execution (one broker subscription, one execution per event), and each
// gets every event, in order, in its own protocol's frame with its own id.
func TestShareOneExecution(t *testing.T) {
	const conns, perConn, events = 12, 3, 7
	srv := newShareServer(t, shareOptions())
	baseline := newGoroutineBaseline()
	var clients []*wsClient
	protocols := []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS}
	for i := range conns {
		c := srv.member(t, protocols[i%2], "DISTRICT:d1", "a", shareQuery, "d1")
		for j := 1; j < perConn; j++ {
			c.subscribe(protocols[i%2], fmt.Sprint("op-", j), shareQuery, "d1")
		}
		clients = append(clients, c)
	}
	sh := srv.ws.cfg.share
	shareWait(t, "every member to join", func() bool { return sh.membersNow() == conns*perConn })
	waitSubscribers(t, srv.Broker, 1)
	if got := sh.started.Load(); got != 1 {
		t.Fatalf("%d shared executions started, want 1", got)
	}
	for range events {
		srv.publish(t, "d1")
	}
	for i, c := range clients {
		got := map[string][]int{}
		for range perConn * events {
			typ := "next"
			if protocols[i%2] == SubprotocolGraphQLWS {
				typ = "data"
			}
			msg := c.expectAny(typ)
			var p struct{ Data struct{ Changes change } }
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.Data.Changes.Who != "DISTRICT:d1" || p.Data.Changes.Gap != 0 {
				t.Errorf("connection %d: %s", i, msg.Payload)
			}
			got[msg.ID] = append(got[msg.ID], p.Data.Changes.Seq)
		}
		for _, id := range []string{"a", "op-1", "op-2"} {
			if fmt.Sprint(got[id]) != "[1 2 3 4 5 6 7]" {
				t.Errorf("connection %d (%s) operation %s got %v, want [1 2 3 4 5 6 7]", i, protocols[i%2], id, got[id])
			}
		}
	}
	if got := int64(counterValue(sh.events)); got != events {
		t.Errorf("%d executions for %d events to %d subscribers, want %d", got, events, conns*perConn, events)
	}
	for _, c := range clients {
		_ = c.conn.Close()
	}
	waitSubscribers(t, srv.Broker, 0)
	shareWait(t, "the execution to end", func() bool { return sh.groupsNow() == 0 && sh.membersNow() == 0 })
	baseline.check(t)
}

// TestShareKeySeparates checks that members that differ in anything that
// decides what they see, or in what they asked, do not share: each
// variant gets an execution of its own, rendered for its own caller.
func TestShareKeySeparates(t *testing.T) {
	tests := []struct {
		name         string
		token, query string
		d            string
		wantWho      string
	}{
		{"the reference", "DISTRICT:d1", shareQuery, "d1", "DISTRICT:d1"},
		{"another role", "ADMIN:", shareQuery, "d1", "ADMIN:"},
		{"another scope and variables", "DISTRICT:d2", shareQuery, "d2", "DISTRICT:d2"},
		{"ADMIN with other variables", "ADMIN:", shareQuery, "d2", "ADMIN:"},
		{"other operation text", "DISTRICT:d1", `subscription($d: ID!) { changes(districtId: $d) { seq who gap } }`, "d1", "DISTRICT:d1"},
		{"an operation name", "DISTRICT:d1", `subscription Named($d: ID!) { changes(districtId: $d) { seq gap who } }`, "d1", "DISTRICT:d1"},
		{"an alias", "DISTRICT:d1", `subscription($d: ID!) { c: changes(districtId: $d) { seq gap who } }`, "d1", "DISTRICT:d1"},
	}
	srv := newShareServer(t, shareOptions())
	sh := srv.ws.cfg.share
	var clients []*wsClient
	for i, tt := range tests {
		// Two members of each variant: they share with each other only.
		for j := range 2 {
			protocol := []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS}[j]
			clients = append(clients, srv.member(t, protocol, tt.token, "x", tt.query, tt.d))
		}
		shareWait(t, "the variant's members to join", func() bool { return sh.membersNow() == 2*(i+1) })
	}
	if got := sh.started.Load(); got != int64(len(tests)) {
		t.Fatalf("%d executions started for %d distinct variants, want one each", got, len(tests))
	}
	srv.publish(t, "d1")
	srv.publish(t, "d2")
	for i, tt := range tests {
		for j := range 2 {
			protocol := []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS}[j]
			got := clients[2*i+j].expectChange(protocol, "x")
			want := 1
			if tt.d == "d2" {
				want = 2
			}
			if got.Who != tt.wantWho || got.Seq != want {
				t.Errorf("%s (%s): got %+v, want who %s seq %d", tt.name, protocol, got, tt.wantWho, want)
			}
		}
	}
}

// TestShareUnsharedOperations checks that what may not be shared runs on
// its own: a field not allowed, a selection of an Unshared field, two
// root fields, and every operation when sharing is off.
func TestShareUnsharedOperations(t *testing.T) {
	tests := []struct {
		name, query string
		share       *ShareOptions
	}{
		{"not allowed", `subscription($d: ID!) { other(districtId: $d) { seq } }`, shareOptions()},
		{"an unshared field", `subscription($d: ID!) { changes(districtId: $d) { seq pad } }`, shareOptions()},
		{"an unshared field in a fragment", `subscription($d: ID!) { changes(districtId: $d) { seq ...F } } fragment F on Change { pad }`, shareOptions()},
		{"sharing off", shareQuery, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newShareServer(t, tt.share)
			const n = 3
			var clients []*wsClient
			for range n {
				clients = append(clients, srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "1", tt.query, "d1"))
			}
			waitSubscribers(t, srv.Broker, n)
			srv.publish(t, "d1")
			for _, c := range clients {
				if got := c.expectChange(SubprotocolGraphQLTransportWS, "1"); got.Seq != 1 {
					t.Errorf("got %+v", got)
				}
			}
			if sh := srv.ws.cfg.share; sh != nil && sh.started.Load() != 0 {
				t.Errorf("%d shared executions started, want none", sh.started.Load())
			}
		})
	}
}

// TestShareRefusedNeverJoins checks that a member the subscription
// refuses gets its error, as without sharing, and never joins, whether an
// execution of the same operation and variables runs or not.
func TestShareRefusedNeverJoins(t *testing.T) {
	srv := newShareServer(t, shareOptions())
	sh := srv.ws.cfg.share
	for _, running := range []bool{false, true} {
		if running {
			srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "1", shareQuery, "d1")
			shareWait(t, "the member to join", func() bool { return sh.membersNow() == 1 })
		}
		for _, token := range []string{"DISTRICT:d2", "PHARMACY:d1", "COMMITTEE:c1"} {
			for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
				c := srv.member(t, protocol, token, "1", shareQuery, "d1")
				msg := c.expectAny("error", "data", "next")
				if !strings.Contains(string(msg.Payload), hub.EFORBIDDEN) {
					t.Errorf("%s over %s: got %+v (%s), want a FORBIDDEN error", token, protocol, msg, msg.Payload)
				}
			}
		}
	}
	if got := sh.membersNow(); got != 1 {
		t.Errorf("%d members, want the one allowed", got)
	}
	if got := sh.started.Load(); got != 1 {
		t.Errorf("%d executions started, want 1", got)
	}
}

// TestShareMembersLeave checks that the execution outlives any member but
// the last: the first to leave (by complete, by stop, or by closing its
// connection) leaves the others fed; a graphql-ws member stopped gets
// complete, as without sharing; when the last leaves, the execution and
// its broker subscription end and no goroutine is left.
func TestShareMembersLeave(t *testing.T) {
	srv := newShareServer(t, shareOptions())
	sh := srv.ws.cfg.share
	baseline := newGoroutineBaseline()
	modern := srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "m", shareQuery, "d1")
	legacy := srv.member(t, SubprotocolGraphQLWS, "DISTRICT:d1", "l", shareQuery, "d1")
	closer := srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "c", shareQuery, "d1")
	stayer := srv.member(t, SubprotocolGraphQLWS, "DISTRICT:d1", "s", shareQuery, "d1")
	shareWait(t, "4 members", func() bool { return sh.membersNow() == 4 })

	srv.publish(t, "d1")
	for _, m := range []struct {
		c            *wsClient
		protocol, id string
	}{{modern, SubprotocolGraphQLTransportWS, "m"}, {legacy, SubprotocolGraphQLWS, "l"}, {closer, SubprotocolGraphQLTransportWS, "c"}, {stayer, SubprotocolGraphQLWS, "s"}} {
		if got := m.c.expectChange(m.protocol, m.id); got.Seq != 1 {
			t.Fatalf("%s: %+v", m.id, got)
		}
	}
	// The first member (it started the execution) completes.
	modern.send("complete", "m", "")
	shareWait(t, "3 members", func() bool { return sh.membersNow() == 3 })
	srv.publish(t, "d1")
	legacy.expectChange(SubprotocolGraphQLWS, "l")
	closer.expectChange(SubprotocolGraphQLTransportWS, "c")
	stayer.expectChange(SubprotocolGraphQLWS, "s")
	// The legacy member stops: it is told complete.
	legacy.send("stop", "l", "")
	legacy.expect("complete", "l", "ka")
	_ = closer.conn.Close()
	shareWait(t, "1 member", func() bool { return sh.membersNow() == 1 })
	srv.publish(t, "d1")
	if got := stayer.expectChange(SubprotocolGraphQLWS, "s"); got.Seq != 3 {
		t.Errorf("the last member got %+v, want seq 3", got)
	}
	if sh.groupsNow() != 1 {
		t.Fatalf("%d executions, want 1", sh.groupsNow())
	}
	// A member that subscribes now joins the same execution.
	late := srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "z", shareQuery, "d1")
	shareWait(t, "2 members", func() bool { return sh.membersNow() == 2 })
	if sh.started.Load() != 1 {
		t.Errorf("%d executions started, want the first only", sh.started.Load())
	}
	late.send("complete", "z", "")
	stayer.send("stop", "s", "")
	stayer.expect("complete", "s", "ka")
	waitSubscribers(t, srv.Broker, 0)
	shareWait(t, "the execution to end", func() bool { return sh.groupsNow() == 0 && sh.membersNow() == 0 })
	modern.closeNormally()
	legacy.closeNormally()
	stayer.closeNormally()
	late.closeNormally()
	baseline.check(t)

	// The next subscriber starts a new execution.
	srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "n", shareQuery, "d1")
	shareWait(t, "a new execution", func() bool { return sh.started.Load() == 2 && sh.membersNow() == 1 })
}

// TestShareSlowMember has one member stop reading while the others read
// large events: the others get every event without waiting for it, and
// the slow member, once it reads again, learns what it missed: each
// frame's seq is the last one's plus one plus its gap (under an alias,
// and under gap too), with some gap in the end.
func TestShareSlowMember(t *testing.T) {
	const events = 200
	opts := shareOptions()
	opts.Unshared = nil
	opts.QueueSize = 32
	srv := newShareServer(t, opts)
	srv.padLen = 128 << 10
	sh := srv.ws.cfg.share
	const query = `subscription($d: ID!) { changes(districtId: $d) { seq missed: gap gap pad } }`
	var fast []*wsClient
	for range 2 {
		fast = append(fast, srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "f", query, "d1"))
	}
	// The slow client's socket buffers little, so that its frames back up
	// in the hub.
	dialer := websocket.Dialer{Subprotocols: []string{SubprotocolGraphQLWS}, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}}
		return d.DialContext(ctx, network, addr)
	}}
	conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.http.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	slow := &wsClient{t: t, conn: conn}
	slow.send("connection_init", "", `{"token":"DISTRICT:d1"}`)
	slow.expect("connection_ack", "", "ka")
	slow.subscribe(SubprotocolGraphQLWS, "s", query, "d1")
	shareWait(t, "3 members", func() bool { return sh.membersNow() == 3 })

	done := make(chan error, len(fast))
	for _, c := range fast {
		go func() {
			for i := 1; i <= events; i++ {
				_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, msg, err := c.conn.ReadMessage()
				if err != nil {
					done <- err
					return
				}
				if want := fmt.Sprintf(`{"seq":%d,"missed":0,"gap":0,`, i); !strings.Contains(string(msg[:min(len(msg), 200)]), want) {
					done <- fmt.Errorf("event %d: got %.100s", i, msg)
					return
				}
			}
			done <- nil
		}()
	}
	for range events {
		srv.publish(t, "d1")
		time.Sleep(time.Millisecond)
	}
	for range fast {
		if err := <-done; err != nil {
			t.Fatalf("a fast member: %v", err)
		}
	}
	// The slow member reads what is left for it.
	last, gaps := 0, 0
	for last < events {
		msg, err := slow.next("ka")
		if err != nil {
			t.Fatalf("after seq %d (gaps %d): %v", last, gaps, err)
		}
		var p struct {
			Data struct {
				Changes struct{ Seq, Missed, Gap int }
			}
		}
		if err := json.Unmarshal(msg.Payload, &p); err != nil {
			t.Fatal(err)
		}
		c := p.Data.Changes
		if c.Missed != c.Gap || c.Seq != last+1+c.Gap {
			t.Fatalf("after seq %d got seq %d gap %d missed %d: want seq = %d + 1 + gap", last, c.Seq, c.Gap, c.Missed, last)
		}
		last, gaps = c.Seq, gaps+c.Gap
	}
	if gaps == 0 {
		t.Errorf("the slow member missed nothing: the test did not make it fall behind")
	}
	if got := int64(counterValue(sh.events)); got != events {
		t.Errorf("%d executions, want %d", got, events)
	}
}

// TestWalkGaps checks the rewriting of a shared payload's gap for one
// member.
func TestWalkGaps(t *testing.T) {
	tests := []struct {
		give    string
		root    string
		keys    []string
		add     int
		want    string
		wantGap int
	}{
		{`{"data":{"c":{"seq":1,"gap":0}}}`, "c", []string{"gap"}, 3, `{"data":{"c":{"seq":1,"gap":3}}}`, 0},
		{`{"data":{"c":{"gap":2,"x":{"gap":9},"g":2,"l":[{"gap":1}]}}}`, "c", []string{"gap", "g"}, 5, `{"data":{"c":{"gap":7,"x":{"gap":9},"g":7,"l":[{"gap":1}]}}}`, 2},
		{`{"data":{"c":{"seq":1}}}`, "c", nil, 3, `{"data":{"c":{"seq":1}}}`, 0},
		{`{"data":{"c":{"s":"gap","gap":10}}}`, "c", []string{"gap"}, 1, `{"data":{"c":{"s":"gap","gap":11}}}`, 10},
		{`{"errors":[{"message":"x"}],"data":{"other":{"gap":1}}}`, "c", []string{"gap"}, 1, `{"errors":[{"message":"x"}],"data":{"other":{"gap":1}}}`, 0},
	}
	for _, tt := range tests {
		g := &shareGroup{root: tt.root, gapKeys: tt.keys}
		f := &shareFrame{g: g, tail: []byte(`,"payload":` + tt.give + `}`)}
		got := string(f.withGap(tt.add))
		if want := `,"payload":` + tt.want + `}`; got != want {
			t.Errorf("withGap(%s, %d) = %s, want %s", tt.give, tt.add, got, want)
		}
		if got := f.gap(); got != tt.wantGap {
			t.Errorf("gap(%s) = %d, want %d", tt.give, got, tt.wantGap)
		}
	}
}

// membersNow returns the members of every shared execution.
func (s *sharing) membersNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.groups {
		g.mu.Lock()
		n += len(g.members)
		g.mu.Unlock()
	}
	return n
}

// groupsNow returns the shared executions.
func (s *sharing) groupsNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// TestShareMemberLimits checks that a member counts against its
// connection's MaxOperations like any operation, and that its token's
// expiry closes its connection with 4403 while the other members of its
// execution go on.
func TestShareMemberLimits(t *testing.T) {
	srv := newShareServer(t, shareOptions())
	srv.ws.cfg.maxOps = 2
	sh := srv.ws.cfg.share
	c := srv.member(t, SubprotocolGraphQLTransportWS, "DISTRICT:d1", "1", shareQuery, "d1")
	c.subscribe(SubprotocolGraphQLTransportWS, "2", shareQuery, "d1")
	shareWait(t, "2 members", func() bool { return sh.membersNow() == 2 })
	c.subscribe(SubprotocolGraphQLTransportWS, "3", shareQuery, "d1")
	msg := c.expect("error", "3", "ping")
	if !strings.Contains(string(msg.Payload), hub.ERATELIMITED) {
		t.Errorf("a third operation: %s, want RATE_LIMITED", msg.Payload)
	}
	// Completing one makes room again.
	c.send("complete", "1", "")
	shareWait(t, "1 member", func() bool { return sh.membersNow() == 1 })
	c.subscribe(SubprotocolGraphQLTransportWS, "3", shareQuery, "d1")
	shareWait(t, "2 members", func() bool { return sh.membersNow() == 2 })

	// A connection whose token expires: its member leaves with it.
	srv.ttl.Store(int64(300 * time.Millisecond))
	for _, protocol := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		e := srv.member(t, protocol, "DISTRICT:d1", "e", shareQuery, "d1")
		closeErr := e.expectClose("ka", "ping", "connection_error")
		if closeErr == nil || closeErr.Code != wsCloseForbidden || closeErr.Text != msgTokenExpired {
			t.Errorf("%s at expiry: %v, want %d %q", protocol, closeErr, wsCloseForbidden, msgTokenExpired)
		}
	}
	shareWait(t, "the expired members to leave", func() bool { return sh.membersNow() == 2 })
	srv.publish(t, "d1")
	got := map[string]bool{}
	for range 2 {
		msg := c.expectAny("next")
		got[msg.ID] = true
	}
	if !got["2"] || !got["3"] {
		t.Errorf("after the expiries the members got %v, want 2 and 3", got)
	}
}

// gatedSocket is a wsFakeSocket whose every message write announces
// itself on entered and waits for gate.
type gatedSocket struct {
	wsFakeSocket
	entered, gate chan struct{}
}

func (s *gatedSocket) WriteMessage(typ int, data []byte) error {
	s.entered <- struct{}{}
	<-s.gate
	return s.wsFakeSocket.WriteMessage(typ, data)
}

// TestShareMemberBatches drives one member's queue step by step, its
// writer stalled in a write at each step: a writer takes every frame
// waiting (up to shareBatch), the frames in its hand count against the
// queue's bound beyond the first, so that the member holds at most
// QueueSize+1 frames, as many are dropped as with one frame at a time,
// the frame after a loss carries its gap, and every frame goes out as its
// own message, in order.
func TestShareMemberBatches(t *testing.T) {
	// f1 is in hand; f2 is dropped for f6; f3..f6 are taken at once,
	// which leaves room for one: f7 is dropped for f8 (one at a time, f2
	// would be dropped for f6 and f4 for f8).
	const want, wantWrites = "1+0 3+1 4+0 5+0 6+0 8+1", 3
	sock := &gatedSocket{wsFakeSocket: wsFakeSocket{proto: SubprotocolGraphQLTransportWS}, entered: make(chan struct{}), gate: make(chan struct{})}
	tr := WebsocketTransport(WSOptions{Share: &ShareOptions{Fields: []string{"changes"}, QueueSize: 4}})
	sh := tr.cfg.share
	c := newWSConn(tr, sock, nil, context.Background(), "test")
	op := &wsOp{c: c, id: "x", cancel: func() {}}
	c.ops = append(c.ops, op)
	g := &shareGroup{s: sh, root: "changes", gapKeys: []string{"gap"}}
	m := &shareMember{op: op, g: g}
	deliver := func(seqs ...int) {
		t.Helper()
		for _, seq := range seqs {
			f := &shareFrame{g: g, tail: fmt.Appendf(nil, `,"payload":{"data":{"changes":{"seq":%d,"gap":0}}}}`, seq)}
			if m.deliver(f) {
				go func() { sh.writes.Add(float64(m.flush())) }() // as writeJob.work counts them
			}
		}
	}
	step := func() { // the write at hand ends, the next begins
		t.Helper()
		sock.gate <- struct{}{}
		select {
		case <-sock.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("no next write")
		}
	}
	deliver(1)
	<-sock.entered
	deliver(2, 3, 4, 5, 6)
	step()
	deliver(7, 8)
	var held int
	m.mu.Lock()
	held = len(m.q) + max(m.inHand, 1)
	m.mu.Unlock()
	if held > 5 {
		t.Errorf("the member holds %d frames, want at most QueueSize+1", held)
	}
	for range 6 - 2 {
		step()
	}
	sock.gate <- struct{}{}
	shareWait(t, "the writer to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.writing
	})
	var got []string
	for _, b := range sock.written() {
		var msg struct {
			Type, ID string
			Payload  struct {
				Data struct{ Changes struct{ Seq, Gap int } }
			}
		}
		if err := json.Unmarshal(b, &msg); err != nil || msg.Type != "next" || msg.ID != "x" {
			t.Fatalf("wrote %s (%v)", b, err)
		}
		got = append(got, fmt.Sprintf("%d+%d", msg.Payload.Data.Changes.Seq, msg.Payload.Data.Changes.Gap))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("sent %s, want %s", strings.Join(got, " "), want)
	}
	if n := int(counterValue(sh.writes)); n != wantWrites {
		t.Errorf("%d writes, want %d", n, wantWrites)
	}
}

// TestAppendFrameHead checks the head of a server's text frame at each
// boundary of its three length forms (RFC 6455 section 5.2).
func TestAppendFrameHead(t *testing.T) {
	tests := []struct {
		give int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{1<<32 + 5, []byte{0x81, 127, 0, 0, 0, 1, 0, 0, 0, 5}},
	}
	for _, tt := range tests {
		if got := appendFrameHead([]byte{'x'}, tt.give); string(got) != "x"+string(tt.want) {
			t.Errorf("appendFrameHead(%d) = %v, want %v", tt.give, got[1:], tt.want)
		}
	}
}

// TestShareBatchesOnTheWire has members whose socket takes little fall
// behind a burst of events and then read: each gets every event, in
// order, each a message of its own with its own id, small frames and
// large (the frame head's one- and two-byte lengths), though their
// writers wrote several frames at once (fewer writes than frames).
func TestShareBatchesOnTheWire(t *testing.T) {
	const events = 40
	srv := newShareServer(t, &ShareOptions{Fields: []string{"changes"}})
	srv.padLen = 16 << 10
	sh := srv.ws.cfg.share
	dialer := websocket.Dialer{Subprotocols: []string{SubprotocolGraphQLTransportWS}, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}}
		return d.DialContext(ctx, network, addr)
	}}
	queries := []string{
		`subscription($d: ID!) { changes(districtId: $d) { seq gap } }`,
		`subscription($d: ID!) { changes(districtId: $d) { seq gap pad } }`,
	}
	var members []*wsClient
	for i, q := range queries {
		for range 2 {
			conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.http.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			c := &wsClient{t: t, conn: conn}
			c.send("connection_init", "", `{"token":"DISTRICT:d1"}`)
			c.expect("connection_ack", "", "ka")
			c.subscribe(SubprotocolGraphQLTransportWS, fmt.Sprint("m", i), q, "d1")
			members = append(members, c)
		}
	}
	shareWait(t, "4 members", func() bool { return sh.membersNow() == len(members) })
	for range events {
		srv.publish(t, "d1")
	}
	for i, c := range members {
		for seq := 1; seq <= events; seq++ {
			ch := c.expectChange(SubprotocolGraphQLTransportWS, fmt.Sprint("m", i/2))
			if ch.Seq != seq || ch.Gap != 0 {
				t.Fatalf("member %d: got seq %d gap %d, want seq %d gap 0", i, ch.Seq, ch.Gap, seq)
			}
		}
	}
	writes, deliveries := counterValue(sh.writes), counterValue(sh.deliveries)
	if deliveries != events*float64(len(members)) || writes >= deliveries {
		t.Errorf("%v frames in %v writes: want %d frames in fewer writes", deliveries, writes, events*len(members))
	}
	t.Logf("%v frames in %v writes", deliveries, writes)
}
