package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
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

// stockSubs are district dashboards subscribed to stockChanged, a fleet
// whose failures are counted as "stock_read/eof", "stock_next/...", ...
type stockSubs struct {
	fl     *fleet
	conns  []*websocket.Conn
	mu     sync.Mutex
	events []stockEvent
}

// openStockSubs opens n subscriptions, district i mod len(districts) for
// subscription i, over graphql-transport-ws.
func openStockSubs(ctx context.Context, url string, districts, tokens []string, n int, timeout time.Duration, errs *ErrorCounts) (*stockSubs, error) {
	s := &stockSubs{fl: newFleet(url, nil, timeout, "stock_", errs)}
	for i := range n {
		di := i % len(districts)
		sub := subscribeMessage("1", stockChangedQuery, map[string]string{"d": districts[di]})
		conn, err := s.fl.connect(ctx, initMessage(tokens[di]), [][]byte{sub}, s.record)
		if err != nil {
			errs.Add("stock_subscribe/"+netErrorKind(err), err.Error())
			continue
		}
		s.conns = append(s.conns, conn)
	}
	if len(s.conns) == 0 && n > 0 {
		return nil, fmt.Errorf("none of %d stockChanged subscriptions opened", n)
	}
	return s, nil
}

// stockPayload is the payload of a "next" message of stockChanged.
type stockPayload struct {
	Data *struct {
		StockChanged *struct {
			At  time.Time `json:"at"`
			Gap int       `json:"gap"`
		} `json:"stockChanged"`
	} `json:"data"`
}

// record keeps the event of a "next" payload with its latency; it
// reports whether the payload held one. Each connection has the one
// operation, so its id says nothing.
func (s *stockSubs) record(_ string, payload []byte, recv time.Time) bool {
	var p stockPayload
	if json.Unmarshal(payload, &p) != nil || p.Data == nil || p.Data.StockChanged == nil {
		return false
	}
	ev := stockEvent{recv: recv, lat: recv.Sub(p.Data.StockChanged.At), gap: p.Data.StockChanged.Gap}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	return true
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

// close ends the subscriptions, abortively for any still open after 3 s.
func (s *stockSubs) close() {
	s.fl.closeAll(s.conns, 3*time.Second, 16)
}
