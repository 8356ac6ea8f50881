package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
)

// Admission bounds the work the hub takes on at once, so that a burst
// past its capacity is refused quickly instead of slowing every request
// down or filling memory. A request is served when fewer than
// MaxInFlight are being served; otherwise it waits in a queue of at most
// MaxQueue requests, for at most MaxWait, and is served first come first
// served as places free up. A request that finds the queue full, or waits
// longer than MaxWait, is answered at once with HTTP 503, a Retry-After
// header and a GraphQL error whose extensions.code is RATE_LIMITED.
//
// A WebSocket upgrade holds a place until the connection is upgraded, a
// streamed response (SSE) until its first flush: a subscription counts
// once, when it starts, not for its connection's life.
//
// Sizing: the store's writes share a group commit, so a few dozen writes
// in flight keep it busy; more add to every answer's latency and little
// to the throughput (BENCHMARKS.md has the measurements).
type Admission struct {
	// MaxInFlight bounds the requests served at once; 0 turns admission
	// control off.
	MaxInFlight int
	// MaxQueue bounds the requests waiting for a place; 0 means
	// 2 * MaxInFlight, a negative value no queue.
	MaxQueue int
	// MaxWait bounds the time a request waits in the queue; 0 means
	// DefaultAdmissionWait.
	MaxWait time.Duration
	// RetryAfter is what refused clients are told to wait; 0 means one
	// second.
	RetryAfter time.Duration
}

// DefaultAdmissionWait is the longest a request waits for a place unless
// Admission.MaxWait says otherwise: long enough to ride out a short
// spike, short enough to add little to the latency of what is admitted.
const DefaultAdmissionWait = 25 * time.Millisecond

// Reasons a request is refused, as gridhub_admission_refused_total
// labels them.
const (
	refusedQueueFull = "queue_full"
	refusedWait      = "wait_timeout"
)

// admitter enforces an Admission.
type admitter struct {
	slots      chan struct{} // a token per request being served
	queued     chan struct{} // a token per request waiting
	maxWait    time.Duration
	retryAfter int // whole seconds

	refusedFull, refusedWait prometheus.Counter
	abandoned                prometheus.Counter
	wait                     prometheus.Observer
}

// newAdmitter returns the admitter of a, with its metrics registered with
// reg (when not nil), or nil when a turns admission control off.
func newAdmitter(a Admission, reg prometheus.Registerer) *admitter {
	if a.MaxInFlight <= 0 {
		return nil
	}
	switch {
	case a.MaxQueue == 0:
		a.MaxQueue = 2 * a.MaxInFlight
	case a.MaxQueue < 0:
		a.MaxQueue = 0
	}
	if a.MaxWait <= 0 {
		a.MaxWait = DefaultAdmissionWait
	}
	if a.RetryAfter <= 0 {
		a.RetryAfter = time.Second
	}
	ad := &admitter{
		slots:      make(chan struct{}, a.MaxInFlight),
		queued:     make(chan struct{}, a.MaxQueue),
		maxWait:    a.MaxWait,
		retryAfter: max(1, int(math.Ceil(a.RetryAfter.Seconds()))),
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gridhub_admission_refused_total", Help: "Requests refused with RATE_LIMITED because the hub was at capacity, by reason (queue_full, wait_timeout).",
	}, []string{"reason"})
	ad.refusedFull, ad.refusedWait = refused.WithLabelValues(refusedQueueFull), refused.WithLabelValues(refusedWait)
	abandoned := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gridhub_admission_abandoned_total", Help: "Requests whose client went away while they waited for a place.",
	})
	ad.abandoned = abandoned
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gridhub_admission_wait_seconds", Help: "Time admitted requests waited for a place (0 for most).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
	})
	ad.wait = wait
	if reg != nil {
		reg.MustRegister(refused, abandoned, wait,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_in_flight", Help: "Requests holding a place (being served).",
			}, func() float64 { return float64(len(ad.slots)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_queued", Help: "Requests waiting for a place.",
			}, func() float64 { return float64(len(ad.queued)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_capacity", Help: "Places: requests served at once at most.",
			}, func() float64 { return float64(cap(ad.slots)) }),
		)
	}
	return ad
}

// admit wraps next so that its requests go through admission control.
// A nil admitter lets every request through.
func (a *admitter) admit(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, reason := a.acquire(r.Context())
		if !ok {
			if reason != "" {
				a.refuse(w)
			}
			return
		}
		aw := &admittedWriter{ResponseWriter: w, a: a}
		defer aw.release()
		next.ServeHTTP(aw, r)
	})
}

// acquire takes a place, waiting in the queue if there is room in it. It
// returns false with the reason of a refusal, or with "" when the
// client went away while it waited.
func (a *admitter) acquire(ctx context.Context) (ok bool, reason string) {
	select {
	case a.slots <- struct{}{}:
		a.wait.Observe(0)
		return true, ""
	default:
	}
	select {
	case a.queued <- struct{}{}:
	default:
		a.refusedFull.Inc()
		return false, refusedQueueFull
	}
	defer func() { <-a.queued }()
	start := time.Now()
	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	// Blocked senders on a channel are woken in the order they came:
	// the queue is first come first served.
	select {
	case a.slots <- struct{}{}:
		a.wait.Observe(time.Since(start).Seconds())
		return true, ""
	case <-t.C:
		a.refusedWait.Inc()
		return false, refusedWait
	case <-ctx.Done():
		a.abandoned.Inc()
		return false, ""
	}
}

// refuse answers a request the hub has no place for. The wait it names
// is spread over RetryAfter to twice that, drawn for each refusal, so
// that a crowd refused in one burst does not come back in one wave.
func (a *admitter) refuse(w http.ResponseWriter) {
	secs := a.retryAfter + rand.IntN(a.retryAfter+1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, `{"errors":[{"message":"the hub is at capacity: retry after %d s","extensions":{"code":%q,"retryAfter":%d}}]}`+"\n",
		secs, hub.ERATELIMITED, secs)
}

// admittedWriter is the ResponseWriter of an admitted request. It gives
// the request's place back when the request ends, or earlier when the
// connection is hijacked (a WebSocket upgrade) or the response is first
// flushed (a stream): long-lived connections count once, at their start.
type admittedWriter struct {
	http.ResponseWriter
	a    *admitter
	once sync.Once
}

func (w *admittedWriter) release() {
	w.once.Do(func() { <-w.a.slots })
}

// Hijack implements http.Hijacker for the WebSocket upgrade, through the
// writers it wraps, and gives the place back.
func (w *admittedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.release()
	}
	return conn, rw, err
}

// Flush implements http.Flusher for streams, through the writers it
// wraps, and gives the place back.
func (w *admittedWriter) Flush() {
	w.release()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writers below.
func (w *admittedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
