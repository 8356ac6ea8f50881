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
// past its capacity waits briefly or is refused quickly instead of
// slowing every request down or filling memory.
//
// The bound adapts. At most limit requests are served at once; limit
// starts at MaxInFlight and is adjusted every Window from what the
// requests served in it took (a gradient on latency, smoothed over
// windows): when they took longer than LatencyTarget on average, limit
// falls in proportion (at most by a quarter, once per average latency:
// what ends sooner was admitted before the last cut; never below
// MinInFlight); when they took less and requests had to wait for a
// place, it rises the same way (at most by a quarter a window, never
// above MaxInFlight). So the hub serves as many at once as keeps its
// answers within the target: many when each mostly waits for a shared
// group commit (the disk wait costs no CPU and a larger group commits
// more writes per fsync), few when each needs the CPU.
//
// Past limit a request waits in a first-come-first-served queue, but
// only when the wait ahead of it, estimated from its place in the queue
// and the rate the hub completes requests at (measured, or limit
// divided by the average time a request took, by Little's law, when
// that is more), is within QueueDelay:
// a short burst is queued, a crowd the hub cannot serve in time is
// refused at once. A request that waits longer than MaxWait anyway (the
// hub slowed down) is refused then. A refusal is HTTP 503, a Retry-After
// header spread over RetryAfter to twice that, and a GraphQL error whose
// extensions.code is RATE_LIMITED; it costs no more than writing it.
//
// A WebSocket upgrade holds a place until the connection is upgraded, a
// streamed response (SSE) until its first flush: a subscription counts
// once, when it starts, not for its connection's life.
type Admission struct {
	// MaxInFlight is the most requests served at once, where the limit
	// starts; 0 turns admission control off.
	MaxInFlight int
	// MinInFlight is the least the limit falls to; 0 means
	// MaxInFlight/32 (at least 1).
	MinInFlight int
	// MaxQueue bounds the requests waiting for a place whatever their
	// estimated wait; 0 means 4 * MaxInFlight, a negative value no
	// queue.
	MaxQueue int
	// QueueDelay is the longest estimated wait a request is queued for;
	// 0 means DefaultQueueDelay.
	QueueDelay time.Duration
	// MaxWait bounds the time a request waits in the queue; 0 means
	// DefaultAdmissionWait.
	MaxWait time.Duration
	// LatencyTarget is the average time a served request should take,
	// which the limit follows; 0 means DefaultLatencyTarget.
	LatencyTarget time.Duration
	// Window is how often the limit is adjusted; 0 means
	// DefaultAdmissionWindow.
	Window time.Duration
	// RetryAfter is what refused clients are told to wait; 0 means one
	// second.
	RetryAfter time.Duration
	// Now is the clock the latencies and windows are measured with; nil
	// means time.Now.
	Now func() time.Time
}

// Defaults of Admission. A launch-day crowd of 512 reservations at once
// is served fastest with all 512 in flight, each taking 150-350 ms, most
// of it waiting for its group commit (fewer in flight make smaller
// groups and fewer reservations a second): so the limit starts at 512
// and falls only when requests take longer than 500 ms on average, as
// they do when each needs much CPU or the machine is starved. Past the
// limit a request waits when it is expected to wait at most a second:
// a crowd that comes back as soon as it is answered is queued, not
// refused, since refusing it only makes it ask again at once, and the
// refusals would take the CPU from the requests being served (the
// measurements in BENCHMARKS.md); what the hub cannot serve within
// about a second is refused.
const (
	DefaultMaxInFlight     = 512
	DefaultLatencyTarget   = 500 * time.Millisecond
	DefaultQueueDelay      = time.Second
	DefaultAdmissionWait   = 2 * time.Second
	DefaultAdmissionWindow = 100 * time.Millisecond
)

// Reasons a request is refused, as gridhub_admission_refused_total
// labels them.
const (
	refusedQueueFull  = "queue_full"
	refusedQueueDelay = "queue_delay"
	refusedWait       = "wait_timeout"
)

// Bounds of one window's adjustment of the limit, and the weight of the
// newest window's average latency (1/avgWeight) in the smoothed one.
const (
	limitStepDown = 0.75
	limitStepUp   = 1.25
	avgWeight     = 4
)

// admitter enforces an Admission.
type admitter struct {
	minLimit, maxLimit int
	maxQueue           int
	queueDelay         time.Duration
	maxWait            time.Duration
	target             time.Duration
	window             time.Duration
	retryAfter         int // whole seconds
	now                func() time.Time

	mu       sync.Mutex
	limit    int
	inFlight int
	queue    []*waiter // first come first
	// The current window: its start, the requests that ended in it and
	// the time they took, and whether a request found no place in it.
	winStart   time.Time
	winN       int
	winSum     time.Duration
	winLimited bool
	// avg is the average time of a request, smoothed over the windows
	// that had any: what the limit follows. rate is the requests
	// completed a second, smoothed likewise (0 before the first window).
	avg  time.Duration
	rate float64
	// lastCut is when the limit last fell.
	lastCut time.Time

	refusedFull, refusedDelay, refusedWait prometheus.Counter
	abandoned                              prometheus.Counter
	wait                                   prometheus.Observer
}

// waiter is a request in the queue; ready is closed when it is given a
// place.
type waiter struct {
	ready   chan struct{}
	granted bool
}

// newAdmitter returns the admitter of a, with its metrics registered with
// reg (when not nil), or nil when a turns admission control off.
func newAdmitter(a Admission, reg prometheus.Registerer) *admitter {
	if a.MaxInFlight <= 0 {
		return nil
	}
	if a.MinInFlight <= 0 {
		a.MinInFlight = max(1, a.MaxInFlight/32)
	}
	a.MinInFlight = min(a.MinInFlight, a.MaxInFlight)
	switch {
	case a.MaxQueue == 0:
		a.MaxQueue = 4 * a.MaxInFlight
	case a.MaxQueue < 0:
		a.MaxQueue = 0
	}
	if a.QueueDelay <= 0 {
		a.QueueDelay = DefaultQueueDelay
	}
	if a.MaxWait <= 0 {
		a.MaxWait = DefaultAdmissionWait
	}
	if a.LatencyTarget <= 0 {
		a.LatencyTarget = DefaultLatencyTarget
	}
	if a.Window <= 0 {
		a.Window = DefaultAdmissionWindow
	}
	if a.RetryAfter <= 0 {
		a.RetryAfter = time.Second
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	ad := &admitter{
		minLimit:   a.MinInFlight,
		maxLimit:   a.MaxInFlight,
		maxQueue:   a.MaxQueue,
		queueDelay: a.QueueDelay,
		maxWait:    a.MaxWait,
		target:     a.LatencyTarget,
		window:     a.Window,
		retryAfter: max(1, int(math.Ceil(a.RetryAfter.Seconds()))),
		now:        a.Now,
		limit:      a.MaxInFlight,
		avg:        a.LatencyTarget,
	}
	ad.winStart = ad.now()
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gridhub_admission_refused_total", Help: "Requests refused with RATE_LIMITED because the hub was at capacity, by reason (queue_full, queue_delay: the estimated wait was too long, wait_timeout).",
	}, []string{"reason"})
	ad.refusedFull = refused.WithLabelValues(refusedQueueFull)
	ad.refusedDelay = refused.WithLabelValues(refusedQueueDelay)
	ad.refusedWait = refused.WithLabelValues(refusedWait)
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
			}, func() float64 { return float64(ad.inFlightNow()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_queued", Help: "Requests waiting for a place.",
			}, func() float64 { return float64(ad.queuedNow()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_capacity", Help: "Places: requests served at once at most, as the limit stands now.",
			}, func() float64 { return float64(ad.limitNow()) }),
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
		start, ok, reason := a.acquire(r.Context())
		if !ok {
			if reason != "" {
				a.refuse(w)
			}
			return
		}
		aw := &admittedWriter{ResponseWriter: w, a: a, start: start}
		defer aw.release()
		next.ServeHTTP(aw, r)
	})
}

// acquire takes a place, waiting in the queue when the wait is estimated
// to be short enough. It returns the time the request was given its
// place, or false with the reason of a refusal, or with "" when the
// client went away while it waited.
func (a *admitter) acquire(ctx context.Context) (start time.Time, ok bool, reason string) {
	a.mu.Lock()
	now := a.now()
	a.roll(now)
	if a.inFlight < a.limit && len(a.queue) == 0 {
		a.inFlight++
		a.mu.Unlock()
		a.wait.Observe(0)
		return now, true, ""
	}
	a.winLimited = true
	if len(a.queue) >= a.maxQueue {
		a.mu.Unlock()
		a.refusedFull.Inc()
		return time.Time{}, false, refusedQueueFull
	}
	if a.estimatedWait(len(a.queue)+1) > a.queueDelay {
		a.mu.Unlock()
		a.refusedDelay.Inc()
		return time.Time{}, false, refusedQueueDelay
	}
	wt := &waiter{ready: make(chan struct{})}
	a.queue = append(a.queue, wt)
	a.mu.Unlock()

	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	select {
	case <-wt.ready:
	case <-t.C:
		reason = refusedWait
	case <-ctx.Done():
	}
	a.mu.Lock()
	if !wt.granted {
		a.dequeue(wt)
		a.mu.Unlock()
		if reason == refusedWait {
			a.refusedWait.Inc()
		} else {
			a.abandoned.Inc()
		}
		return time.Time{}, false, reason
	}
	start = a.now()
	a.mu.Unlock()
	if reason == "" && ctx.Err() != nil {
		// Given a place as the client went away: give it back.
		a.release(start)
		a.abandoned.Inc()
		return time.Time{}, false, ""
	}
	a.wait.Observe(start.Sub(now).Seconds())
	return start, true, ""
}

// estimatedWait is how long the request at place n of the queue would
// wait, at the rate the hub completes requests: the rate measured, or
// limit requests per average request time (Little's law) when that is
// more, as it is before a burst (the measure is of the calm before)
// and never is for long otherwise. The measure keeps a crowd queued
// while the limit falls (the average lags behind): refusing a crowd
// that asks again at once only adds the refusals' CPU to its load.
// a.mu is held.
func (a *admitter) estimatedWait(n int) time.Duration {
	perSec := max(a.rate, float64(max(1, a.limit))/a.avg.Seconds())
	return time.Duration(float64(n) / perSec * float64(time.Second))
}

// dequeue takes wt out of the queue. a.mu is held.
func (a *admitter) dequeue(wt *waiter) {
	for i, q := range a.queue {
		if q == wt {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			return
		}
	}
}

// release gives back the place of a request admitted at start, and
// hands places to the queue's first while there are places.
func (a *admitter) release(start time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.inFlight--
	a.winN++
	a.winSum += now.Sub(start)
	a.roll(now)
	a.grant()
}

// grant gives free places to the first in the queue. a.mu is held.
func (a *admitter) grant() {
	for a.inFlight < a.limit && len(a.queue) > 0 {
		wt := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		wt.granted = true
		a.inFlight++
		close(wt.ready)
	}
}

// roll ends the current window when it is over and adjusts the limit
// by the requests that ended in it. a.mu is held.
func (a *admitter) roll(now time.Time) {
	if now.Sub(a.winStart) < a.window {
		return
	}
	if r := float64(a.winN) / now.Sub(a.winStart).Seconds(); a.rate == 0 {
		a.rate = r
	} else {
		a.rate += (r - a.rate) / avgWeight
	}
	if a.winN > 0 {
		// Smoothed over windows (a quarter the newest), so that one
		// window's stragglers do not swing the limit.
		a.avg = max(time.Microsecond, a.avg+(a.winSum/time.Duration(a.winN)-a.avg)/avgWeight)
		ratio := float64(a.target) / float64(a.avg)
		ratio = min(max(ratio, limitStepDown), limitStepUp)
		next := a.limit
		switch {
		case ratio < 1 && now.Sub(a.lastCut) >= a.avg:
			// Once per average latency at most: the requests that end
			// sooner were admitted before the last cut and cannot show
			// its effect yet; cutting again for them overshoots.
			next = int(math.Floor(float64(a.limit) * ratio))
			a.lastCut = now
		case ratio > 1 && a.winLimited:
			next = max(a.limit+1, int(math.Ceil(float64(a.limit)*ratio)))
		}
		a.limit = min(max(next, a.minLimit), a.maxLimit)
	}
	a.winStart, a.winN, a.winSum, a.winLimited = now, 0, 0, false
	a.grant()
}

func (a *admitter) inFlightNow() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight
}

func (a *admitter) queuedNow() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue)
}

func (a *admitter) limitNow() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
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
	a     *admitter
	start time.Time
	once  sync.Once
}

func (w *admittedWriter) release() {
	w.once.Do(func() { w.a.release(w.start) })
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
