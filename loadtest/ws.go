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

// The graphql-transport-ws subprotocol and the subscription each
// connection runs: what a committee's dashboard would ask for.
const (
	subprotocol       = "graphql-transport-ws"
	restockAlertQuery = `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring gap pharmacy { id name } } }`
)

// sample is one alert received by one subscriber.
type sample struct {
	restock int32 // the restock's index: its quantity less one
	gap     int32 // events the hub dropped before this one
	seq     uint64
	at      int64 // the event's time (the stock write), Unix ns
	recv    int64 // when the client read it, Unix ns
}

// subscriber is one WebSocket connection subscribed to restockAlerts for
// one committee. Its reader goroutine alone writes samples and data
// frames; samples are read once the reader has ended.
type subscriber struct {
	committee int
	conn      *websocket.Conn
	samples   []sample
}

// fleet opens and reads the subscribers' connections.
type fleet struct {
	url     string
	dialer  *websocket.Dialer
	timeout time.Duration // per handshake step
	initMsg [][]byte      // connection_init per committee (its token)
	subMsg  [][]byte      // subscribe per committee
	errs    *ErrorCounts

	delivered atomic.Int64 // alerts received, all subscribers
	lost      atomic.Int64 // connections that ended before teardown
	closing   atomic.Bool  // teardown has begun: read errors are expected
	readers   sync.WaitGroup
}

// newFleet returns a fleet dialling url from sources in turn (a nil
// source lets the kernel choose), with small buffers so that each
// connection stays light.
func newFleet(url string, sources []*net.TCPAddr, tokens, committees []string, timeout time.Duration, errs *ErrorCounts) (*fleet, error) {
	var next atomic.Uint64
	f := &fleet{
		url:     url,
		timeout: timeout,
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
	for i, id := range committees {
		init, err := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + tokens[i]}})
		if err != nil {
			return nil, err
		}
		sub, err := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": restockAlertQuery, "variables": map[string]string{"c": id},
		}})
		if err != nil {
			return nil, err
		}
		f.initMsg = append(f.initMsg, init)
		f.subMsg = append(f.subMsg, sub)
	}
	return f, nil
}

// stageError is a failure at one step of opening a subscription.
type stageError struct {
	stage string // dial, init, subscribe
	kind  string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }

// Kind names the failure for the error counts: "stage/kind".
func (e *stageError) Kind() string { return e.stage + "/" + e.kind }

// connect opens s's connection, authenticates it in connection_init and
// subscribes; then it starts the connection's reader, which runs until
// the connection ends.
func (f *fleet) connect(ctx context.Context, s *subscriber) error {
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	conn, resp, err := f.dialer.DialContext(dctx, f.url, nil)
	if err != nil {
		kind := netErrorKind(err)
		if resp != nil {
			kind = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return &stageError{"dial", kind, err}
	}
	if conn.Subprotocol() != subprotocol {
		conn.Close()
		return &stageError{"dial", "subprotocol", fmt.Errorf("hub chose subprotocol %q", conn.Subprotocol())}
	}
	conn.SetReadLimit(1 << 16)
	deadline := time.Now().Add(f.timeout)
	_ = conn.SetWriteDeadline(deadline)
	_ = conn.SetReadDeadline(deadline)
	if err := conn.WriteMessage(websocket.TextMessage, f.initMsg[s.committee]); err != nil {
		conn.Close()
		return &stageError{"init", netErrorKind(err), err}
	}
	if err := awaitAck(conn); err != nil {
		conn.Close()
		var se *stageError
		if errors.As(err, &se) {
			return se
		}
		return &stageError{"init", netErrorKind(err), err}
	}
	if err := conn.WriteMessage(websocket.TextMessage, f.subMsg[s.committee]); err != nil {
		conn.Close()
		return &stageError{"subscribe", netErrorKind(err), err}
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})
	s.conn = conn
	f.readers.Add(1)
	go f.read(s)
	return nil
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

// alertPayload is the payload of a "next" message of restockAlerts.
type alertPayload struct {
	Data *struct {
		RestockAlerts *struct {
			Seq      uint64    `json:"seq"`
			At       time.Time `json:"at"`
			Quantity int       `json:"quantity"`
			Gap      int       `json:"gap"`
		} `json:"restockAlerts"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// read is s's reader: it records each alert with its receive time and
// answers the hub's pings, until the connection ends.
func (f *fleet) read(s *subscriber) {
	defer f.readers.Done()
	defer s.conn.Close()
	for {
		_, b, err := s.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			if !f.closing.Load() {
				f.lost.Add(1)
				f.errs.Add("read/"+netErrorKind(err), err.Error())
			}
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			f.errs.Add("read/bad_json", truncate(string(b), 200))
			continue
		}
		switch m.Type {
		case "next":
			var p alertPayload
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Data == nil || p.Data.RestockAlerts == nil {
				kind := "next/bad_payload"
				if len(p.Errors) > 0 {
					kind = "next/" + p.Errors[0].Extensions.Code
				}
				f.errs.Add(kind, truncate(string(m.Payload), 200))
				continue
			}
			a := p.Data.RestockAlerts
			s.samples = append(s.samples, sample{
				restock: int32(a.Quantity - 1), gap: int32(a.Gap), seq: a.Seq,
				at: a.At.UnixNano(), recv: now.UnixNano(),
			})
			f.delivered.Add(1)
		case "ping":
			_ = s.conn.SetWriteDeadline(time.Now().Add(f.timeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, pongMsg); err != nil && !f.closing.Load() {
				f.errs.Add("pong/"+netErrorKind(err), err.Error())
			}
		case "pong":
		case "error":
			var errs []gqlError
			_ = json.Unmarshal(m.Payload, &errs)
			kind := "subscribe/error"
			if len(errs) > 0 && errs[0].Extensions.Code != "" {
				kind = "subscribe/" + errs[0].Extensions.Code
			}
			f.errs.Add(kind, truncate(string(m.Payload), 200))
		case "complete":
			f.errs.Add("subscribe/completed_by_hub", "the hub ended the subscription")
		default:
			f.errs.Add("read/unexpected_"+m.Type, truncate(string(b), 200))
		}
	}
}

// closeAll ends every connection: a normal close frame first, so that the
// hub closes its end (and keeps the TIME_WAIT), then, for connections
// still open after grace, an abortive close that leaves no TIME_WAIT on
// this side either. It returns how many needed the abortive close.
func (f *fleet) closeAll(subs []*subscriber, grace time.Duration, workers int) int {
	f.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	deadline := time.Now().Add(grace) // one for all: a stalled hub cannot stretch the teardown
	each(len(subs), workers, func(i int) {
		if c := subs[i].conn; c != nil {
			_ = c.WriteControl(websocket.CloseMessage, msg, deadline)
		}
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
	for _, s := range subs {
		if s.conn == nil {
			continue
		}
		if tc, ok := s.conn.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		if s.conn.Close() == nil {
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
