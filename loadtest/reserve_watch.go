package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// HubWindow is the most the hub held during a window, sampled: resident
// memory every 250 ms, the rest from /metrics every second.
type HubWindow struct {
	RSSMax        int64   `json:"rss_max_bytes"`
	RSSAnonMax    int64   `json:"rss_anon_max_bytes"`
	HeapMax       float64 `json:"heap_inuse_max_bytes"`
	GoroutinesMax float64 `json:"goroutines_max"`
	InFlightMax   float64 `json:"admission_in_flight_max"`
	QueuedMax     float64 `json:"admission_queued_max"`
	Samples       int     `json:"samples"`
}

type hubSample struct {
	at                         time.Time
	rss, anon                  int64
	heap, goroutines, inflight float64
	queued                     float64
	metrics                    bool
}

// sampler samples the hub's memory and gauges until stopped.
type sampler struct {
	mu      sync.Mutex
	samples []hubSample
	cancel  context.CancelFunc
	done    chan struct{}
}

// startSampler samples through a client of its own, so that a busy
// connection pool never delays a sample.
func startSampler(ctx context.Context, hub *hubClient, p *proc) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	mc, err := newHubClient(hub.base.String(), 2)
	go func() {
		defer close(s.done)
		if err == nil {
			defer mc.close()
		}
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			hs := hubSample{at: time.Now()}
			if p != nil {
				hs.rss, hs.anon, _ = p.RSS()
			}
			if err == nil && i%4 == 0 {
				mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
				m, merr := mc.Metrics(mctx, "go_goroutines", "go_memstats_heap_inuse_bytes", "gridhub_admission_in_flight", "gridhub_admission_queued")
				mcancel()
				if merr == nil {
					hs.metrics = true
					hs.goroutines, hs.heap = m["go_goroutines"], m["go_memstats_heap_inuse_bytes"]
					hs.inflight, hs.queued = m["gridhub_admission_in_flight"], m["gridhub_admission_queued"]
				}
			}
			s.mu.Lock()
			s.samples = append(s.samples, hs)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() {
	s.cancel()
	<-s.done
}

// window returns the most of each figure sampled between from and to.
func (s *sampler) window(from, to time.Time) HubWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w HubWindow
	for _, hs := range s.samples {
		if hs.at.Before(from) || hs.at.After(to) {
			continue
		}
		w.Samples++
		w.RSSMax, w.RSSAnonMax = max(w.RSSMax, hs.rss), max(w.RSSAnonMax, hs.anon)
		if hs.metrics {
			w.HeapMax = max(w.HeapMax, hs.heap)
			w.GoroutinesMax = max(w.GoroutinesMax, hs.goroutines)
			w.InFlightMax = max(w.InFlightMax, hs.inflight)
			w.QueuedMax = max(w.QueuedMax, hs.queued)
		}
	}
	return w
}

// stockChangedQuery is what a district dashboard follows live.
const stockChangedQuery = `subscription($d: ID) { stockChanged(districtId: $d) { seq at delta stockAfter reason gap } }`

// stockEvent is one stockChanged event received.
type stockEvent struct {
	recv time.Time
	lat  time.Duration // the event's at (the hub's clock) to receipt
	gap  int
}

// stockSubs are district dashboards subscribed to stockChanged.
type stockSubs struct {
	conns  []*websocket.Conn
	opened int
	mu     sync.Mutex
	events []stockEvent
	lost   atomic.Int64
	closed atomic.Bool
	wg     sync.WaitGroup
	errs   *ErrorCounts
}

// openStockSubs opens n subscriptions, district i mod len(districts) for
// subscription i, over graphql-transport-ws.
func openStockSubs(ctx context.Context, url string, districts, tokens []string, n int, timeout time.Duration, errs *ErrorCounts) (*stockSubs, error) {
	s := &stockSubs{errs: errs}
	d := websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: timeout}).DialContext,
		HandshakeTimeout: timeout,
		Subprotocols:     []string{subprotocol},
	}
	for i := range n {
		di := i % len(districts)
		conn, err := s.open(ctx, &d, url, tokens[di], districts[di], timeout)
		if err != nil {
			errs.Add("stock_subscribe/"+netErrorKind(err), err.Error())
			continue
		}
		s.conns = append(s.conns, conn)
		s.wg.Add(1)
		go s.read(conn)
	}
	s.opened = len(s.conns)
	if s.opened == 0 && n > 0 {
		return nil, fmt.Errorf("none of %d stockChanged subscriptions opened", n)
	}
	return s, nil
}

func (s *stockSubs) open(ctx context.Context, d *websocket.Dialer, url, token, district string, timeout time.Duration) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, _, err := d.DialContext(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	init := map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}}
	if err := conn.WriteJSON(init); err != nil {
		conn.Close()
		return nil, err
	}
	if err := awaitAck(conn); err != nil {
		conn.Close()
		return nil, err
	}
	sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": stockChangedQuery, "variables": map[string]string{"d": district}}}
	if err := conn.WriteJSON(sub); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
}

func (s *stockSubs) read(conn *websocket.Conn) {
	defer s.wg.Done()
	for {
		_, b, err := conn.ReadMessage()
		now := time.Now()
		if err != nil {
			if !s.closed.Load() {
				s.lost.Add(1)
				s.errs.Add("stock_read/"+netErrorKind(err), err.Error())
			}
			return
		}
		var m wsMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "next":
			var p struct {
				Data *struct {
					StockChanged *struct {
						At  time.Time `json:"at"`
						Gap int       `json:"gap"`
					} `json:"stockChanged"`
				} `json:"data"`
				Errors []gqlError `json:"errors"`
			}
			if json.Unmarshal(m.Payload, &p) != nil || p.Data == nil || p.Data.StockChanged == nil {
				kind := "stock_next/bad_payload"
				if len(p.Errors) > 0 {
					kind = "stock_next/" + p.Errors[0].Extensions.Code
				}
				s.errs.Add(kind, truncate(string(m.Payload), 200))
				continue
			}
			ev := stockEvent{recv: now, lat: now.Sub(p.Data.StockChanged.At), gap: p.Data.StockChanged.Gap}
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
		case "ping":
			_ = conn.WriteMessage(websocket.TextMessage, pongMsg)
		case "error", "complete":
			s.errs.Add("stock_subscribe/"+m.Type, truncate(string(m.Payload), 200))
		}
	}
}

// window returns the events received between from and to, the events
// the hub reported dropped (gaps), and their latency.
func (s *stockSubs) window(from, to time.Time) (n, gaps int, lat Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ls []time.Duration
	for _, e := range s.events {
		if e.recv.Before(from) || e.recv.After(to) {
			continue
		}
		ls = append(ls, e.lat)
		gaps += e.gap
	}
	return len(ls), gaps, Summarize(ls)
}

func (s *stockSubs) close() {
	s.closed.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, c := range s.conns {
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		for _, c := range s.conns {
			c.Close()
		}
		<-done
	}
}
