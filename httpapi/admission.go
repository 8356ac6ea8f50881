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
// A closed crowd (each client asks again once answered) never has more
// requests outstanding than it has clients, however slow the hub: its
// queue stands but does not grow. An open overload (requests arriving
// faster than the hub completes them, whatever its answers) grows the
// queue window after window. When the requests outstanding (served and
// queued) have risen by more than an eighth of the window's completions
// in OverloadWindows windows in a row, with a queue all along, the hub
// is overloaded and the queue tightens, so that what is admitted waits
// little and the excess is refused at once, as CoDel does for a
// standing queue: a request is queued only when its estimated wait is
// within half of OverloadLatency, and a queued request that has waited
// OverloadLatency is refused (shed) rather than served late. The limit
// then climbs to where the hub completes the most requests a second
// (see climb): a store that commits the writes in flight together
// completes more with more in flight, up to a knee, so a limit cut to
// make requests faster would cut the throughput with it (measured: 128
// in flight completed 0.6 of what 512 did); past the knee more in flight
// only wait longer, and the climb steps back. The limit stays within
// MaxInFlight/4 and MaxInFlight, and the gradient on latency rests
// meanwhile: in an overload a request shares the CPU with the refusals
// and connections of the excess, which fewer in flight do not make
// faster (measured: the gradient cut the limit to the floor and the
// throughput with it). What is admitted is answered within what a
// closed crowd of MaxInFlight gets plus OverloadLatency. After OverloadWindows*2 windows in a row
// without a refusal the overload is over: the limit returns to where it
// stood before, if higher, and the queue to QueueDelay.
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
	// which the limit follows outside an open overload; 0 means
	// DefaultLatencyTarget.
	LatencyTarget time.Duration
	// Window is how often the limit is adjusted; 0 means
	// DefaultAdmissionWindow.
	Window time.Duration
	// RetryAfter is what refused clients are told to wait; 0 means one
	// second.
	RetryAfter time.Duration
	// OverloadLatency is the longest a request waits in the queue under
	// an open overload; 0 means DefaultOverloadLatency.
	OverloadLatency time.Duration
	// OverloadWindows is how many windows in a row the requests
	// outstanding must rise, with a queue, for an overload; 0 means
	// DefaultOverloadWindows.
	OverloadWindows int
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
// about a second is refused. An open overload (more requests arriving
// than the hub completes, window after window) is found in 300 ms and
// then what is admitted waits at most 100 ms in the queue, and the
// limit climbs to where the hub completes the most (at least 128 in
// flight): holding it at what the hub completes in 100 ms, as before,
// shared fewer writes per group commit and completed about 0.6 of what
// 512 in flight did (BENCHMARKS.md).
const (
	DefaultMaxInFlight     = 512
	DefaultLatencyTarget   = 500 * time.Millisecond
	DefaultQueueDelay      = time.Second
	DefaultAdmissionWait   = 2 * time.Second
	DefaultAdmissionWindow = 100 * time.Millisecond
	DefaultOverloadLatency = 100 * time.Millisecond
	DefaultOverloadWindows = 3
)

// Reasons a request is refused, as gridhub_admission_refused_total
// labels them.
const (
	refusedQueueFull  = "queue_full"
	refusedQueueDelay = "queue_delay"
	refusedWait       = "wait_timeout"
	refusedShed       = "shed"
)

// Bounds of one window's adjustment of the limit, and the weight of the
// newest window's average latency (1/avgWeight) in the smoothed one.
const (
	limitStepDown = 0.75
	limitStepUp   = 1.25
	avgWeight     = 4
	// minRise is the least rise of the requests outstanding in a window
	// that counts toward an overload, whatever the completions.
	minRise = 4
	// probeEvery is how many windows an overload lasts between probes.
	probeEvery = 20
	// The climb of an overload: a step up multiplies the limit by
	// climbUp, a step down divides it by climbUp; climbMeasure windows count
	// the completions of a step; climbWeight is the weight of the
	// latency in its score.
	climbUp      = 1.25
	climbMeasure = 5
	climbWeight  = 0.1
)

// admitter enforces an Admission.
type admitter struct {
	minLimit, maxLimit int
	maxQueue           int
	queueDelay         time.Duration
	maxWait            time.Duration
	target             time.Duration
	window             time.Duration
	overTarget         time.Duration
	overWindows        int
	retryAfter         int       // whole seconds
	refusals           []refusal // naming retryAfter, retryAfter+1, ... seconds
	now                func() time.Time

	mu       sync.Mutex
	limit    int
	inFlight int
	queue    []*waiter // first come first
	// The current window: its start, the requests that ended in it and
	// the time they took, whether a request found no place in it, and
	// whether one was refused.
	winStart   time.Time
	winN       int
	winSum     time.Duration
	winLimited bool
	winRefused bool
	// winQMin is the least queue in the current window, winArrived
	// the requests that came in it, refused or not.
	winQMin, winArrived int
	// avg is the average time of a request, smoothed over the windows
	// that had any: what the limit follows. rate is the requests
	// completed a second, smoothed likewise (0 before the first window).
	avg  time.Duration
	rate float64
	// lastCut is when the limit last fell.
	lastCut time.Time
	// overloaded is set while an open overload lasts; streak counts the
	// windows in a row that rose (before) or refused none (during);
	// saved is the limit before it.
	overloaded bool
	streak     int
	saved      int
	overloads  int // since the start, for tests
	// In an overload, a probe every probeEvery windows: probing counts
	// its windows left, probeArrived and probeN the requests that came
	// and ended in them (the first aside), sinceProbe the windows since
	// the last.
	probing, probeArrived, probeN, sinceProbe int
	probeSum                                  time.Duration
	probeHeld                                 float64
	// The climb of an overload (see climb): the limit of the last step
	// measured and its completions a second, the direction it moves
	// in, the windows to wait before measuring, and what the windows
	// measured so far of the current step counted.
	climbLast int
	climbRate float64
	climbDir  int
	climbSkip int
	climbWins int
	climbN    int
	climbSum  time.Duration
	climbHeld float64
	climbSpan time.Duration
	// held is the places held, integrated over time (request-seconds),
	// up to heldAt; winHeld what it was as the window started.
	held, winHeld float64
	heldAt        time.Time

	refusedFull, refusedDelay, refusedWait, refusedShed prometheus.Counter
	abandoned                                           prometheus.Counter
	wait                                                prometheus.Observer
}

// waiter is a request in the queue: since it came; ready is closed when
// it is given a place (granted, at) or refused (refused, the reason).
type waiter struct {
	since   time.Time
	ready   chan struct{}
	granted bool
	at      time.Time
	refused string
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
	if a.OverloadLatency <= 0 {
		a.OverloadLatency = DefaultOverloadLatency
	}
	if a.OverloadWindows <= 0 {
		a.OverloadWindows = DefaultOverloadWindows
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	ad := &admitter{
		minLimit:    a.MinInFlight,
		maxLimit:    a.MaxInFlight,
		maxQueue:    a.MaxQueue,
		queueDelay:  a.QueueDelay,
		maxWait:     a.MaxWait,
		target:      a.LatencyTarget,
		window:      a.Window,
		overTarget:  a.OverloadLatency,
		overWindows: a.OverloadWindows,
		retryAfter:  max(1, int(math.Ceil(a.RetryAfter.Seconds()))),
		now:         a.Now,
		limit:       a.MaxInFlight,
		avg:         a.LatencyTarget,
	}
	for secs := ad.retryAfter; secs <= 2*ad.retryAfter && len(ad.refusals) < maxWrittenRefusals; secs++ {
		ad.refusals = append(ad.refusals, newRefusal(secs))
	}
	ad.winStart = ad.now()
	ad.heldAt = ad.winStart
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gridhub_admission_refused_total", Help: "Requests refused with RATE_LIMITED because the hub was at capacity, by reason (queue_full, queue_delay: the estimated wait was too long, wait_timeout, shed: waited past the overload latency in an overload).",
	}, []string{"reason"})
	ad.refusedFull = refused.WithLabelValues(refusedQueueFull)
	ad.refusedDelay = refused.WithLabelValues(refusedQueueDelay)
	ad.refusedWait = refused.WithLabelValues(refusedWait)
	ad.refusedShed = refused.WithLabelValues(refusedShed)
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
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridhub_admission_overloaded", Help: "1 while an open overload lasts (requests arrive faster than the hub completes them) and admission is tightened, else 0.",
			}, func() float64 {
				if ad.overloadedNow() {
					return 1
				}
				return 0
			}),
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
	wt, reason := a.enter(now)
	a.mu.Unlock()
	switch {
	case reason != "":
		return time.Time{}, false, reason
	case wt == nil:
		a.wait.Observe(0)
		return now, true, ""
	}

	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	select {
	case <-wt.ready:
	case <-t.C:
		reason = refusedWait
	case <-ctx.Done():
	}
	a.mu.Lock()
	switch {
	case wt.refused != "":
		a.mu.Unlock()
		return time.Time{}, false, wt.refused
	case !wt.granted:
		a.dequeue(wt)
		a.mu.Unlock()
		if reason == refusedWait {
			a.refusedWait.Inc()
		} else {
			a.abandoned.Inc()
		}
		return time.Time{}, false, reason
	}
	start = wt.at
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

// enter decides on a request arriving at now: a place at once (nil,
// ""), a place in the queue (its waiter), or a refusal (its reason).
// a.mu is held.
func (a *admitter) enter(now time.Time) (*waiter, string) {
	a.roll(now)
	a.winArrived++
	if a.inFlight < a.limit && len(a.queue) == 0 {
		a.inFlight++
		return nil, ""
	}
	a.winLimited = true
	delay := a.queueDelay
	switch {
	case a.probing > 0:
		delay = time.Duration(math.MaxInt64) // the count bounds it
	case a.overloaded:
		delay = a.overTarget / 2
	}
	if a.probing > 0 && a.maxQueue > 0 && len(a.queue) >= a.maxQueue {
		// A probe serves the newest first: the oldest make room, so
		// that the newest do not age behind a full queue.
		a.shedFirst(refusedShed)
	}
	switch {
	case len(a.queue) >= a.maxQueue:
		a.winRefused = true
		a.refusedFull.Inc()
		return nil, refusedQueueFull
	case a.estimatedWait(len(a.queue)+1) > delay:
		a.winRefused = true
		a.refusedDelay.Inc()
		return nil, refusedQueueDelay
	}
	wt := &waiter{since: now, ready: make(chan struct{})}
	a.queue = append(a.queue, wt)
	return wt, ""
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
	a.leave(start, a.now())
}

// leave gives back at now the place of a request admitted at start.
// a.mu is held.
func (a *admitter) leave(start, now time.Time) {
	a.hold(now)
	a.inFlight--
	a.winN++
	a.winSum += now.Sub(start)
	a.roll(now)
}

// grant sheds the queue's first that waited too long (in an overload,
// OverloadLatency; else MaxWait, which their own timers enforce too)
// and gives free places to the first in the queue, or, while an
// overload is probed, to the last. a.mu is held.
func (a *admitter) grant(now time.Time) {
	if a.overloaded && a.probing == 0 {
		a.shed(now, a.overTarget, refusedShed)
	} else {
		a.shed(now, a.maxWait, refusedWait)
	}
	for a.inFlight < a.limit && len(a.queue) > 0 {
		var wt *waiter
		if a.probing > 0 {
			last := len(a.queue) - 1
			wt = a.queue[last]
			a.queue[last] = nil
			a.queue = a.queue[:last]
		} else {
			wt = a.queue[0]
			a.queue[0] = nil
			a.queue = a.queue[1:]
		}
		wt.granted, wt.at = true, now
		a.inFlight++
		close(wt.ready)
	}
	a.winQMin = min(a.winQMin, len(a.queue))
}

// shed refuses, for reason, the requests at the queue's head that have
// waited longer than bound by now. a.mu is held.
func (a *admitter) shed(now time.Time, bound time.Duration, reason string) {
	for len(a.queue) > 0 && now.Sub(a.queue[0].since) > bound {
		a.shedFirst(reason)
	}
}

// shedFirst refuses, for reason, the request at the queue's head.
// a.mu is held.
func (a *admitter) shedFirst(reason string) {
	wt := a.queue[0]
	a.queue[0] = nil
	a.queue = a.queue[1:]
	wt.refused = reason
	a.winRefused = true
	if reason == refusedShed {
		a.refusedShed.Inc()
	} else {
		a.refusedWait.Inc()
	}
	close(wt.ready)
}

// roll ends the current window when it is over: it adjusts the limit by
// the requests that ended in it, finds an overload or its end, and then
// grants what it can. a.mu is held.
func (a *admitter) roll(now time.Time) {
	a.hold(now)
	if now.Sub(a.winStart) < a.window {
		a.grant(now)
		return
	}
	if r := float64(a.winN) / now.Sub(a.winStart).Seconds(); a.rate == 0 {
		a.rate = r
	} else {
		a.rate += (r - a.rate) / avgWeight
	}
	target := a.target
	if a.winN > 0 {
		// Smoothed over windows (a quarter the newest), so that one
		// window's stragglers do not swing the limit.
		a.avg = max(time.Microsecond, a.avg+(a.winSum/time.Duration(a.winN)-a.avg)/avgWeight)
		ratio := float64(target) / float64(a.avg)
		ratio = min(max(ratio, limitStepDown), limitStepUp)
		next := a.limit
		switch {
		case a.overloaded:
			// The climb moves the limit: in an overload a request
			// shares the CPU with the refusals and the connections of
			// the excess, which fewer in flight do not make faster.
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
	if a.overloaded && a.probing == 0 {
		a.climb(now.Sub(a.winStart))
	}
	a.detect(now)
	a.winStart, a.winN, a.winSum, a.winLimited, a.winRefused, a.winArrived = now, 0, 0, false, false, 0
	a.winHeld = a.held
	a.winQMin = len(a.queue)
	a.grant(now)
}

// detect counts the windows that show an open overload, or its end,
// and switches when there have been enough in a row. A window shows an
// overload when it had a queue all along and more requests came in it
// (refused or not) than ended, by an eighth of those that ended (at
// least minRise): requests arrive faster than the hub completes them,
// which a closed crowd, whose queue stands at most at its size, does
// only as it starts (or, refused, as it asks again). It shows the end
// when it refused none.
//
// A closed crowd that grew while the hub was at its limit looks like an
// overload, and once refused it never stops asking, so an overload is
// probed every probeEvery windows: for OverloadWindows+1 windows the
// queue takes every request (up to MaxQueue) and sheds none, and serves
// the newest first, so that what is admitted still waits little. A
// closed crowd all comes in in the first window and then asks no faster
// than it is answered; an open overload goes on arriving faster than
// the hub completes over the probe's windows, and stays an overload
// (the old of the queue are shed then). a.mu is held.
func (a *admitter) detect(now time.Time) {
	if !a.overloaded {
		if a.winQMin > 0 && a.outrun() {
			a.streak++
		} else {
			a.streak = 0
		}
		if a.streak < a.overWindows {
			return
		}
		// The limit stays where it stood (the hub completes the most
		// near it, as it had to keep up) and the climb moves it from
		// there; the queue is bounded by OverloadLatency now.
		a.overloaded, a.streak, a.saved, a.sinceProbe = true, 0, a.limit, 0
		a.overloads++
		a.climbFrom(-1)
		return
	}
	if a.probing > 0 {
		if a.probing <= a.overWindows { // the first lets a closed crowd in
			a.probeArrived += a.winArrived
			a.probeN += a.winN
			a.probeSum += a.winSum
			a.probeHeld += a.held - a.winHeld
		}
		if a.probing--; a.probing > 0 {
			return
		}
		if !outran(a.probeArrived, a.probeEnded()) {
			// A closed crowd, or the overload ended as it was probed:
			// what the probe left waiting is old (served last) and,
			// if from an overload, better refused than served late.
			// The limit stays: if the overload goes on after all, the
			// next one starts from it, not from MaxInFlight; a crowd
			// raises it by a quarter a window.
			a.shed(now, a.overTarget, refusedShed)
			a.overloaded, a.streak = false, 0
			return
		}
		// Still an overload: the probe's windows measured another
		// queue, so the climb measures afresh.
		a.climbFrom(a.climbDir)
		return
	}
	if a.sinceProbe++; a.sinceProbe >= probeEvery {
		a.probing, a.probeArrived, a.probeN, a.sinceProbe, a.streak = a.overWindows+1, 0, 0, 0, 0
		a.probeSum, a.probeHeld = 0, 0
		return
	}
	if a.winRefused {
		a.streak = 0
		return
	}
	if a.streak++; a.streak >= 2*a.overWindows {
		// Over: the limit it had before.
		a.overloaded, a.streak = false, 0
		a.limit = max(a.limit, a.saved)
	}
}

// climb moves the limit of an overload, a step every few windows,
// toward where the hub completes the most requests a second for the
// time they take: a store that commits the writes in flight together
// completes more with more in flight (each commit is shared by more),
// up to a knee where the CPU or the disk is full and more in flight
// only wait longer. A step multiplies or divides the limit by climbUp;
// after a step the climb waits for the requests admitted under the old
// limit to end (a window at least, the average latency) and then
// measures climbMeasure windows: the completions a second by Little's
// law, the places held on average over the average time a request held
// one (a count of completions swings with the group commits that end
// in a few windows; these two averages of many do not). A step is kept
// when its score, the completions a second over limit^climbWeight (a
// request served at a larger limit takes longer: a step up must raise
// the completions by more than 1.25^climbWeight, about 2.3 %, and a
// step down may lose as much), beats that of the limit before it, and
// the next goes the same way; otherwise the climb turns back. At a
// bound (a quarter of MaxInFlight or MaxInFlight) it turns back too, so
// it keeps measuring both sides of where it stands. The queue holds
// the rest for at most OverloadLatency. a.mu is held.
func (a *admitter) climb(span time.Duration) {
	if a.climbSkip > 0 {
		a.climbSkip--
		return
	}
	a.climbWins++
	a.climbN += a.winN
	a.climbSum += a.winSum
	a.climbHeld += a.held - a.winHeld
	a.climbSpan += span
	if a.climbWins < climbMeasure || a.climbSpan <= 0 || a.climbN == 0 || a.climbSum <= 0 {
		return
	}
	// The completions a second by Little's law: the places held on
	// average over the time a request held one on average. Both are
	// averages of many, where the count of completions in a few
	// windows swings with the commits that end in them.
	rate := a.climbHeld / a.climbSpan.Seconds() / (a.climbSum.Seconds() / float64(a.climbN))
	l := a.limit
	if a.climbLast > 0 && a.climbLast != l && climbScore(rate, l) < climbScore(a.climbRate, a.climbLast) {
		a.climbDir = -a.climbDir
	}
	a.climbLast, a.climbRate = l, rate
	next := a.climbNext(l, a.climbDir)
	if next == l {
		a.climbDir = -a.climbDir
		next = a.climbNext(l, a.climbDir)
	}
	a.limit = next
	a.climbSettle()
}

// hold integrates the places held up to now. a.mu is held.
func (a *admitter) hold(now time.Time) {
	if d := now.Sub(a.heldAt); d > 0 {
		a.held += float64(a.inFlight) * d.Seconds()
		a.heldAt = now
	}
}

// climbNext is the limit a step from l in direction dir (1 up, -1
// down) leads to, within the bounds of an overload. a.mu is held.
func (a *admitter) climbNext(l, dir int) int {
	var next int
	switch {
	case dir > 0:
		next = max(l+1, int(math.Ceil(float64(l)*climbUp)))
	default:
		next = min(l-1, int(math.Floor(float64(l)/climbUp)))
	}
	return min(max(next, a.overFloor()), a.maxLimit)
}

// climbFrom starts the climb afresh at the limit as it stands, its
// first step in direction dir once measured. a.mu is held.
func (a *admitter) climbFrom(dir int) {
	a.climbLast, a.climbRate, a.climbDir = 0, 0, dir
	a.climbSettle()
}

// climbSettle skips the windows the requests admitted before a change
// of the limit take to end, and clears the count. a.mu is held.
func (a *admitter) climbSettle() {
	a.climbSkip = max(1, int(math.Ceil(float64(a.avg)/float64(a.window))))
	a.climbWins, a.climbN, a.climbSum, a.climbHeld, a.climbSpan = 0, 0, 0, 0, 0
}

// climbScore is what the climb maximizes: completions a second,
// discounted by the time a request takes at limit l.
func climbScore(rate float64, l int) float64 {
	return rate / math.Pow(float64(l), climbWeight)
}

// probeEnded is how many requests ended in the windows of a probe, by
// Little's law (the places held over the time a request held one, on
// average), or as counted when none ended: a store that commits in
// groups ends requests in bursts, which a count of a few windows takes
// for a change of pace. a.mu is held.
func (a *admitter) probeEnded() int {
	if a.probeN == 0 || a.probeSum <= 0 {
		return a.probeN
	}
	return int(math.Round(a.probeHeld / (a.probeSum.Seconds() / float64(a.probeN))))
}

// overFloor is the least the limit falls to in an overload: a quarter
// of MaxInFlight (128 at the defaults). A starved hub serves each
// request slowly whatever their number (most of its time in flight is
// waiting for the CPU behind the connections' goroutines, and for the
// group commit): there the latency target alone would cut the limit,
// and the hub's throughput with it, without making a request faster
// (measured: 16 places served 61/s, 64 places 133/s, at the same
// latency). a.mu is held.
func (a *admitter) overFloor() int {
	return min(max(a.minLimit, a.maxLimit/4), a.maxLimit)
}

// outrun reports whether the requests that came in the current window
// outran those that ended in it. a.mu is held.
func (a *admitter) outrun() bool { return outran(a.winArrived, a.winN) }

// outran reports whether arrived requests outran the n that ended, by
// an eighth of n (at least minRise).
func outran(arrived, n int) bool { return arrived-n >= max(minRise, n/8) }

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

func (a *admitter) overloadedNow() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.overloaded
}

func (a *admitter) limitNow() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
}

// refuse answers a request the hub has no place for. The wait it names
// is spread over RetryAfter to twice that, drawn for each refusal, so
// that a crowd refused in one burst does not come back in one wave.
//
// A refusal costs the hub as little as it can: its answers, one for each
// wait it may name, are written once, when the admitter is made.
func (a *admitter) refuse(w http.ResponseWriter) {
	secs := a.retryAfter + rand.IntN(a.retryAfter+1)
	var r refusal
	if i := secs - a.retryAfter; i < len(a.refusals) {
		r = a.refusals[i]
	} else {
		r = newRefusal(secs)
	}
	h := w.Header()
	h["Retry-After"] = r.retryAfter
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(r.body)
}

// refusal is the answer of a refusal naming one wait: its Retry-After
// header's value and its body. Its header values are shared by every
// refusal: whoever changes a header sets or appends (each slice is full,
// so an append copies it), never writes into them.
type refusal struct {
	retryAfter []string
	body       []byte
}

func newRefusal(secs int) refusal {
	return refusal{
		retryAfter: []string{strconv.Itoa(secs)},
		body: fmt.Appendf(nil, `{"errors":[{"message":"the hub is at capacity: retry after %d s","extensions":{"code":%q,"retryAfter":%d}}]}`+"\n",
			secs, hub.ERATELIMITED, secs),
	}
}

// maxWrittenRefusals bounds the refusals an admitter writes beforehand;
// past it (a RetryAfter of minutes) each is written when it is sent.
const maxWrittenRefusals = 64

// The values of a refusal's other headers, shared like its own.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

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
