package httpapi

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// FuzzWebsocketMessages sends arbitrary messages, after a proper
// connection_init, over both GraphQL WebSocket protocols to a real server.
// The server must never panic (a panic fails the fuzzer), must answer or
// close, and after a protocol error must close with a status code, never
// hang.
func FuzzWebsocketMessages(f *testing.F) {
	for _, seed := range []string{
		`{"type":"subscribe","id":"1","payload":{"query":"subscription { initPayload }"}}`,
		`{"type":"start","id":"1","payload":{"query":"{ name }"}}`,
		`{"type":"subscribe","id":"1"}`,
		`{"type":"subscribe","payload":{"query":"{"}}`,
		`{"type":"complete","id":"nope"}`,
		`{"type":"ping"}`,
		`{"type":"pong","payload":[1,2]}`,
		`{"type":"connection_init"}`,
		`{"type":"unknown"}`,
		`{"type":1}`,
		`{}`, `[]`, `null`, `"x"`, `{`, ``, "\x00\xff",
		`{"type":"subscribe","id":"` + string(make([]byte, 300)) + `","payload":{"query":"{ name }"}}`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	s := newSubscriptionServer(f, WebsocketTransport(WSOptions{PingPongInterval: -1, KeepAlivePingInterval: -1}))
	f.Fuzz(func(t *testing.T, msg string, modern bool) {
		proto := SubprotocolGraphQLWS
		if modern {
			proto = SubprotocolGraphQLTransportWS
		}
		c := s.connect(t, proto)
		c.send("connection_init", "", "")
		if _, err := c.next("ka", "ping"); err != nil {
			t.Fatalf("no connection_ack: %v", err)
		}
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			return // the server already closed
		}
		// Read until the server goes quiet or closes; either is fine, a
		// hang past the deadline is not.
		for {
			if err := c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				return
			}
			if _, _, err := c.conn.ReadMessage(); err != nil {
				if ce, ok := err.(*websocket.CloseError); ok && ce.Code == 0 {
					t.Errorf("closed without a status code: %v", ce)
				}
				return
			}
		}
	})
}
