package httpapi

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// wsFuzzSeeds are messages a client may send after connection_init, as
// the fuzz targets and TestWebsocketMessagesEndToEnd send them.
var wsFuzzSeeds = []string{
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
}

// TestWebsocketMessagesEndToEnd sends each seed of the fuzz targets, after
// a proper connection_init, over both GraphQL WebSocket protocols to a
// real server. The server must answer or close, and after a protocol
// error must close with a status code, never hang.
func TestWebsocketMessagesEndToEnd(t *testing.T) {
	s := newSubscriptionServer(t, WebsocketTransport(WSOptions{PingPongInterval: -1, KeepAlivePingInterval: -1}))
	for _, msg := range wsFuzzSeeds {
		for _, proto := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
			t.Run(proto, func(t *testing.T) {
				c := s.connect(t, proto)
				c.send("connection_init", "", "")
				if _, err := c.next("ka", "ping"); err != nil {
					t.Fatalf("no connection_ack: %v", err)
				}
				if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					return // the server already closed
				}
				// Read until the server goes quiet or closes; either is
				// fine, a hang past the deadline is not.
				for {
					if err := c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
						return
					}
					if _, _, err := c.conn.ReadMessage(); err != nil {
						if ce, ok := err.(*websocket.CloseError); ok && ce.Code == 0 {
							t.Errorf("%q: closed without a status code: %v", msg, ce)
						}
						return
					}
				}
			})
		}
	}
}

// FuzzWebsocketMessages drives a connection's protocol (message decoding,
// the handshake, operations starting and stopping, protocol errors)
// without a network: each input is a few messages, one a line, handled as
// the connection's reader handles them, on a socket that records what the
// server writes. Each input: no panic; a message the protocol refuses
// closes the connection with one close frame carrying a code of the
// protocol and a valid reason, and only then; every message written is a
// JSON object of a type its protocol has; each operation of the test
// schema ends; CloseFunc runs once for an accepted connection.
func FuzzWebsocketMessages(f *testing.F) {
	for _, seed := range wsFuzzSeeds {
		f.Add(seed, true, true)
		f.Add(seed, false, true)
	}
	for _, seed := range []string{
		"{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"subscription { ticks }\"}}\n{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"{ whoami }\"}}",
		"{\"type\":\"start\",\"id\":\"a\",\"payload\":{\"query\":\"{ whoami }\"}}\n{\"type\":\"stop\",\"id\":\"a\"}\n{\"type\":\"connection_terminate\"}",
		"{\"type\":\"ping\",\"payload\":{\"x\":1}}\n{\"type\":\"pong\"}\n{\"type\":\"complete\",\"id\":\"1\"}",
		"{\"type\":\"connection_init\",\"payload\":{\"deny\":true}}",
		"{\"type\":\"connection_init\",\"payload\":[1]}",
		"{\"type\":\"subscribe\",\"id\":\"<&>\\u2028\",\"payload\":{\"query\":\"mutation { touch }\",\"variables\":{\"a\":1}}}",
		"{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"{ whoami }\"}}\n{\"type\":\"subscribe\",\"id\":\"2\",\"payload\":{\"query\":\"{ whoami }\"}}\n{\"type\":\"subscribe\",\"id\":\"3\",\"payload\":{\"query\":\"{ whoami }\"}}\n{\"type\":\"subscribe\",\"id\":\"4\",\"payload\":{\"query\":\"{ whoami }\"}}\n{\"type\":\"subscribe\",\"id\":\"5\",\"payload\":{\"query\":\"{ whoami }\"}}",
		"{\"type\":\"start\",\"id\":\"1\",\"payload\":\"{}\"}",
		"{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":1}}",
	} {
		for _, modern := range []bool{true, false} {
			f.Add(seed, modern, true)
			f.Add(seed, modern, false)
		}
	}
	exec := executor.New(operationsSchema())
	f.Fuzz(func(t *testing.T, input string, modern, init bool) {
		h := newWSHarness(exec, modern)
		if init {
			if !h.handle(t, `{"type":"connection_init"}`) {
				t.Fatalf("connection_init refused: %+v", h.sock.frames())
			}
			if got := h.sock.written(); len(got) == 0 || !strings.HasPrefix(string(got[0]), `{"type":"connection_ack"`) {
				t.Fatalf("connection_init answered %q, not connection_ack", got)
			}
		}
		for i, msg := range strings.Split(input, "\n") {
			if i == 16 || !h.handle(t, msg) {
				break
			}
		}
		h.finish(t)
	})
}

// wsHarness is a connection on a wsFakeSocket with the handlers the fuzz
// target checks.
type wsHarness struct {
	c      *wsConn
	sock   *wsFakeSocket
	closes int // CloseFunc calls
	mu     sync.Mutex
}

func newWSHarness(exec *executor.Executor, modern bool) *wsHarness {
	h := &wsHarness{sock: &wsFakeSocket{proto: SubprotocolGraphQLWS}}
	if modern {
		h.sock.proto = SubprotocolGraphQLTransportWS
	}
	tr := WebsocketTransport(WSOptions{
		PingPongInterval: -1, KeepAlivePingInterval: -1, InitTimeout: -1, MaxOperations: 4,
		Logger: slog.New(slog.DiscardHandler),
	})
	tr.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if _, deny := p["deny"]; deny {
			return nil, nil, errors.New("denied")
		}
		return ctx, nil, nil
	}
	tr.CloseFunc = func(context.Context, int) {
		h.mu.Lock()
		h.closes++
		h.mu.Unlock()
	}
	h.c = newWSConn(tr, h.sock, exec, context.Background(), "fuzz")
	return h
}

// handle passes msg to the connection as its reader does and checks that
// it reports the end of the connection exactly when it closed it with a
// close frame of the protocol.
func (h *wsHarness) handle(t *testing.T, msg string) bool {
	t.Helper()
	h.c.heardFrom()
	goesOn := h.c.handle([]byte(msg), time.Now())
	h.c.mu.Lock()
	closed := h.c.closed
	h.c.mu.Unlock()
	frames := h.sock.frames()
	switch {
	case goesOn && closed:
		t.Fatalf("%q: the connection closed but the reader would go on", msg)
	case !goesOn && !closed:
		t.Fatalf("%q: the reader stops but the connection is open", msg)
	case !goesOn && len(frames) != 1:
		t.Fatalf("%q: ended with %d close frames, want 1", msg, len(frames))
	case goesOn:
		return true
	}
	f := frames[0]
	codes := []int{websocket.CloseNormalClosure, websocket.CloseInternalServerErr, wsCloseUnauthorized,
		wsCloseForbidden, wsCloseTooManyInitRequests}
	if h.c.modern {
		codes = append(codes, wsCloseBadRequest, wsCloseSubscriberExists)
	} else {
		codes = append(codes, websocket.CloseProtocolError)
	}
	if !slices.Contains(codes, f.code) {
		t.Fatalf("%q: closed with code %d, not one of %v", msg, f.code, codes)
	}
	if len(f.reason) > maxCloseReason || !utf8.ValidString(f.reason) {
		t.Fatalf("%q: close reason %q: over %d bytes or not UTF-8", msg, f.reason, maxCloseReason)
	}
	return false
}

// finish waits for the operations to end, closes the connection as a
// client going away would, and checks what the server wrote.
func (h *wsHarness) finish(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		h.c.mu.Lock()
		running := len(h.c.ops)
		h.c.mu.Unlock()
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations of the test schema still run after 2 s", running)
		}
		time.Sleep(50 * time.Microsecond)
	}
	h.c.mu.Lock()
	accepted := h.c.accepted
	h.c.mu.Unlock()
	h.c.close(websocket.CloseGoingAway, "")
	h.c.close(websocket.CloseGoingAway, "") // a second close does nothing
	if n := len(h.sock.frames()); n != 1 {
		t.Fatalf("%d close frames, want 1", n)
	}
	h.mu.Lock()
	closes := h.closes
	h.mu.Unlock()
	if want := map[bool]int{true: 1}[accepted]; closes != want {
		t.Fatalf("CloseFunc ran %d times for a connection accepted=%v", closes, accepted)
	}
	types := []string{"connection_ack", "error", "complete"}
	if h.c.modern {
		types = append(types, "next", "pong")
	} else {
		types = append(types, "data", "ka", "connection_error")
	}
	for _, b := range h.sock.written() {
		var m struct {
			Type    string          `json:"type"`
			ID      *string         `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("wrote %q, not a JSON object: %v", b, err)
		}
		if !slices.Contains(types, m.Type) {
			t.Fatalf("wrote %q: type %q is not one of %v", b, m.Type, types)
		}
		if needsID := m.Type != "connection_ack" && m.Type != "ka" && m.Type != "pong" && m.Type != "connection_error"; needsID != (m.ID != nil) {
			t.Fatalf("wrote %q: an id where none belongs, or none where one does", b)
		}
	}
}

// wsFakeSocket stands in for a *websocket.Conn: it records what is
// written and refuses writes once closed.
type wsFakeSocket struct {
	proto string

	mu     sync.Mutex
	msgs   [][]byte
	closes []wsCloseFrame
	closed bool
}

type wsCloseFrame struct {
	code   int
	reason string
}

var _ wsSocket = (*wsFakeSocket)(nil)

func (s *wsFakeSocket) Subprotocol() string               { return s.proto }
func (s *wsFakeSocket) SetReadLimit(int64)                {}
func (s *wsFakeSocket) ReadMessage() (int, []byte, error) { return 0, nil, io.EOF }
func (s *wsFakeSocket) SetReadDeadline(time.Time) error   { return nil }
func (s *wsFakeSocket) SetWriteDeadline(time.Time) error  { return nil }
func (s *wsFakeSocket) WriteControl(typ int, data []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return websocket.ErrCloseSent
	}
	if typ == websocket.CloseMessage {
		f := wsCloseFrame{code: websocket.CloseNoStatusReceived}
		if len(data) >= 2 {
			f = wsCloseFrame{code: int(binary.BigEndian.Uint16(data)), reason: string(data[2:])}
		}
		s.closes = append(s.closes, f)
	}
	return nil
}

func (s *wsFakeSocket) WriteMessage(_ int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return websocket.ErrCloseSent
	}
	s.msgs = append(s.msgs, slices.Clone(data))
	return nil
}

func (s *wsFakeSocket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *wsFakeSocket) written() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *wsFakeSocket) frames() []wsCloseFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.closes)
}
