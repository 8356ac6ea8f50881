package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// subprotocol is the WebSocket subprotocol of GraphQL subscriptions.
const subprotocol = "graphql-transport-ws"

// fleet opens graphql-transport-ws connections to the hub, each
// authenticated once and subscribed once or more (operations "1", "2",
// ...), and reads them until teardown. The subscribers' restockAlerts
// connections are one fleet, the stockChanged dashboards of reserve
// another. Failures are counted in errs by kind ("read/eof",
// "next/bad_payload", ...), each kind after prefix, which tells one
// fleet's from another's.
type fleet struct {
	url     string
	dialer  *websocket.Dialer
	timeout time.Duration // per handshake step
	prefix  string
	errs    *ErrorCounts

	delivered atomic.Int64 // "next" payloads taken, all connections
	lost      atomic.Int64 // connections that ended before teardown
	closing   atomic.Bool  // teardown has begun: read errors are expected
	readers   sync.WaitGroup
}

// newFleet returns a fleet dialling url from sources in turn (a nil
// source, or none, lets the kernel choose), with small buffers so that
// each connection stays light.
func newFleet(url string, sources []*net.TCPAddr, timeout time.Duration, prefix string, errs *ErrorCounts) *fleet {
	if len(sources) == 0 {
		sources = []*net.TCPAddr{nil}
	}
	var next atomic.Uint64
	return &fleet{
		url:     url,
		timeout: timeout,
		prefix:  prefix,
		errs:    errs,
		dialer: &websocket.Dialer{
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				src := sources[int(next.Add(1)%uint64(len(sources)))]
				d := net.Dialer{Timeout: timeout, KeepAlive: -1} // the hub's pings keep the connection checked
				if src != nil {
					d.LocalAddr = src
				}
				return d.DialContext(ctx, network, addr)
			},
			HandshakeTimeout: timeout,
			ReadBufferSize:   512,
			WriteBufferSize:  512,
			WriteBufferPool:  &sync.Pool{},
			Subprotocols:     []string{subprotocol},
		},
	}
}

// initMessage is a connection_init authenticated by token.
func initMessage(token string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}})
	return b // strings only: Marshal cannot fail
}

// subscribeMessage subscribes to query with vars, as operation id.
func subscribeMessage(id, query string, vars map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	return b // strings only: Marshal cannot fail
}

// stageError is a failure at one step of opening a subscription.
type stageError struct {
	stage string // dial, init, subscribe
	kind  string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// Kind names the failure for the error counts: "stage/kind".
func (e *stageError) Kind() string { return e.stage + "/" + e.kind }

// failureKind names a failure of connect for the error counts.
func failureKind(err error) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.Kind()
	}
	return "connect/" + netErrorKind(err)
}

// connect opens a connection, authenticates it with init (a
// connection_init message) and, after the one connection_ack, sends each
// of subs (subscribe messages, each with an id of its own); then it
// starts the connection's reader, which hands the operation id and the
// payload of every "next" message to next with its receive time, until
// the connection ends. next reports whether it could read the payload.
// Failures are *stageErrors.
func (f *fleet) connect(ctx context.Context, init []byte, subs [][]byte, next func(id string, payload []byte, recv time.Time) bool) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	conn, resp, err := f.dialer.DialContext(dctx, f.url, nil)
	if err != nil {
		kind := netErrorKind(err)
		if resp != nil {
			kind = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return nil, &stageError{"dial", kind, err}
	}
	if conn.Subprotocol() != subprotocol {
		conn.Close()
		return nil, &stageError{"dial", "subprotocol", fmt.Errorf("hub chose subprotocol %q", conn.Subprotocol())}
	}
	conn.SetReadLimit(1 << 16)
	deadline := time.Now().Add(f.timeout)
	_ = conn.SetWriteDeadline(deadline)
	_ = conn.SetReadDeadline(deadline)
	if err := conn.WriteMessage(websocket.TextMessage, init); err != nil {
		conn.Close()
		return nil, &stageError{"init", netErrorKind(err), err}
	}
	if err := awaitAck(conn); err != nil {
		conn.Close()
		var se *stageError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &stageError{"init", netErrorKind(err), err}
	}
	for _, sub := range subs {
		if err := conn.WriteMessage(websocket.TextMessage, sub); err != nil {
			conn.Close()
			return nil, &stageError{"subscribe", netErrorKind(err), err}
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})
	f.readers.Add(1)
	go f.read(conn, next)
	return conn, nil
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

var pongMsg = []byte(`{"type":"pong"}`)

// awaitAck reads until connection_ack, answering pings.
func awaitAck(conn *websocket.Conn) error {
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return &stageError{"init", "bad_json", err}
		}
		switch m.Type {
		case "connection_ack":
			return nil
		case "ping":
			if err := conn.WriteMessage(websocket.TextMessage, pongMsg); err != nil {
				return err
			}
		default:
			return &stageError{"init", "unexpected_" + m.Type, fmt.Errorf("got %s before connection_ack", m.Type)}
		}
	}
}

// count counts one failure of kind, after the fleet's prefix.
func (f *fleet) count(kind, detail string) {
	f.errs.Add(f.prefix+kind, detail)
}

// read is conn's reader: it hands each "next" payload to next with its
// operation id and answers the hub's pings, until the connection ends.
func (f *fleet) read(conn *websocket.Conn, next func(id string, payload []byte, recv time.Time) bool) {
	defer f.readers.Done()
	defer conn.Close()
	for {
		_, b, err := conn.ReadMessage()
		now := time.Now()
		if err != nil {
			if !f.closing.Load() {
				f.lost.Add(1)
				f.count("read/"+netErrorKind(err), err.Error())
			}
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			f.count("read/bad_json", truncate(string(b), 200))
			continue
		}
		switch m.Type {
		case "next":
			if !next(m.ID, m.Payload, now) {
				f.count("next/"+payloadErrorKind(m.Payload), truncate(string(m.Payload), 200))
				continue
			}
			f.delivered.Add(1)
		case "ping":
			_ = conn.SetWriteDeadline(time.Now().Add(f.timeout))
			if err := conn.WriteMessage(websocket.TextMessage, pongMsg); err != nil && !f.closing.Load() {
				f.count("pong/"+netErrorKind(err), err.Error())
			}
		case "pong":
		case "error":
			var errs []gqlError
			_ = json.Unmarshal(m.Payload, &errs)
			kind := "subscribe/error"
			if len(errs) > 0 && errs[0].Extensions.Code != "" {
				kind = "subscribe/" + errs[0].Extensions.Code
			}
			f.count(kind, truncate(string(m.Payload), 200))
		case "complete":
			f.count("subscribe/completed_by_hub", "the hub ended the subscription")
		default:
			f.count("read/unexpected_"+m.Type, truncate(string(b), 200))
		}
	}
}

// payloadErrorKind names a "next" payload that could not be read: the
// extensions.code of its first error, or bad_payload.
func payloadErrorKind(payload []byte) string {
	var p struct {
		Errors []gqlError `json:"errors"`
	}
	if json.Unmarshal(payload, &p) == nil && len(p.Errors) > 0 {
		return p.Errors[0].Extensions.Code
	}
	return "bad_payload"
}

// closeAll ends every connection: a normal close frame first, so that the
// hub closes its end (and keeps the TIME_WAIT), then, for connections
// still open after grace, an abortive close that leaves no TIME_WAIT on
// this side either. It returns how many needed the abortive close.
func (f *fleet) closeAll(conns []*websocket.Conn, grace time.Duration, workers int) int {
	f.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	deadline := time.Now().Add(grace) // one for all: a stalled hub cannot stretch the teardown
	each(len(conns), workers, func(i int) {
		_ = conns[i].WriteControl(websocket.CloseMessage, msg, deadline)
	})
	done := make(chan struct{})
	go func() {
		f.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-time.After(time.Until(deadline)):
	}
	forced := 0
	for _, c := range conns {
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		if c.Close() == nil {
			forced++
		}
	}
	<-done
	return forced
}

// each runs fn(0..n-1) on workers goroutines and waits for them.
func each(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
