package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/progress"
)

// SubscribersConfig configures a subscribers run.
type SubscribersConfig struct {
	hubTarget
	N int `json:"n"`
	// PerConnection is the subscriptions each connection opens to its
	// committee's restockAlerts: M of them reach a restock's fan-out
	// as M connections would, within the file-descriptor limit.
	PerConnection int `json:"per_connection"`
	// Query is what each subscription follows: restockAlerts of its
	// committee (each connection a committee's, in turn), or stockChanged
	// of one district (District, by default the one with the most
	// pharmacies), every connection with the same DISTRICT token, so that
	// the hub can share one execution between them all.
	Query    string        `json:"query"`
	District string        `json:"district"`
	Duration time.Duration `json:"duration_ns"`
	Force    bool          `json:"force"`

	DialConcurrency int           `json:"dial_concurrency"`
	Sources         int           `json:"sources"`
	Timeout         time.Duration `json:"timeout_ns"`

	Restocks         int           `json:"restocks"`
	RestockRate      float64       `json:"restock_rate"`
	BurstRestocks    int           `json:"burst_restocks"`
	BurstConcurrency int           `json:"burst_concurrency"`
	Drain            time.Duration `json:"drain_ns"`
	SKU              string        `json:"sku"`
	ServiceK         int           `json:"service_k"`
	Seed             uint64        `json:"seed"`

	Idle                time.Duration `json:"idle_ns"`
	Settle              time.Duration `json:"settle_ns"`
	BaselineRequests    int           `json:"baseline_requests"`
	BaselineConcurrency int           `json:"baseline_concurrency"`
	TCPConnects         int           `json:"tcp_connects"`

	// Floor measures, before the subscribers open, one process writing
	// a stockChanged frame once to each of -n loopback sockets
	// (FloorRounds times, from FloorWriters goroutines) while a child
	// process reads them: the kernel's share of a delivery.
	Floor        bool `json:"floor"`
	FloorRounds  int  `json:"floor_rounds"`
	FloorWriters int  `json:"floor_writers"`
	FloorBytes   int  `json:"floor_bytes"`

	clientOptions
}

// flags binds c to fs with the defaults.
func (c *SubscribersConfig) flags(fs *flag.FlagSet) {
	c.hubTarget.flags(fs)
	fs.IntVar(&c.N, "n", 50_000, "WebSocket subscribers (connections) to open")
	fs.IntVar(&c.PerConnection, "per-connection", 1, "M: subscriptions to its committee's restockAlerts on each connection (ids 1..M), so that a restock reaches -n times M subscriptions, beyond the connections a file-descriptor limit allows (1-100: the hub's default bound on a connection's operations)")
	fs.StringVar(&c.Query, "query", queryRestockAlerts, "what the subscriptions follow: restockAlerts (each connection its committee's) or stockChanged (one district's, every connection with the same DISTRICT token; restocks only at its pharmacies)")
	fs.StringVar(&c.District, "district", "", "with -query stockChanged: the district (default: the one with the most pharmacies)")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "cap on the whole run before teardown (teardown takes at most 15s more)")
	fs.BoolVar(&c.Force, "force", false, "run even when a file-descriptor limit (this process's or the hub's) is below -n")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 128, "connections being opened at once")
	fs.IntVar(&c.Sources, "sources", 0, "local source addresses 127.0.0.1..127.0.0.N to dial from (0: one per 25,000 connections)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on each handshake step")
	fs.IntVar(&c.Restocks, "restocks", 50, "restocks in the paced phase")
	fs.Float64Var(&c.RestockRate, "restock-rate", 5, "restocks per second in the paced phase")
	fs.IntVar(&c.BurstRestocks, "burst-restocks", 200, "restocks in the burst phase, sent back to back (0: no burst)")
	fs.IntVar(&c.BurstConcurrency, "burst-concurrency", 4, "restocks in flight in the burst phase")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after a phase's last restock, how long to wait for alerts with none arriving")
	fs.StringVar(&c.SKU, "sku", "MASK_ADULT", "the supply restocked")
	fs.IntVar(&c.ServiceK, "service-k", 3, "the hub's service disk in rings (city.DefaultServiceK)")
	fs.Uint64Var(&c.Seed, "seed", 2020, "seed of the order of pharmacies restocked")
	fs.DurationVar(&c.Idle, "idle", 10*time.Second, "window over which the hub's CPU at idle is measured, without and with subscribers")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "pause before each idle window, for the hub's collector and scavenger to finish")
	fs.IntVar(&c.BaselineRequests, "baseline-requests", 2000, "trivial queries of the baseline")
	fs.IntVar(&c.BaselineConcurrency, "baseline-concurrency", 4, "trivial queries in flight")
	fs.IntVar(&c.TCPConnects, "tcp-connects", 2000, "raw TCP connections of the connect-rate baseline")
	fs.BoolVar(&c.Floor, "floor", false, "measure the floor of a delivery before the subscribers open: this process writes one stockChanged frame to each of -n loopback sockets read by a child process, and reports its CPU per write")
	fs.IntVar(&c.FloorRounds, "floor-rounds", 10, "with -floor: writes to each socket (one a round, as one restock makes one frame for each subscriber)")
	fs.IntVar(&c.FloorWriters, "floor-writers", 4, "with -floor: goroutines writing, taking the sockets in turn (the hub's writers of a shared event)")
	fs.IntVar(&c.FloorBytes, "floor-bytes", 0, "with -floor: bytes of each write (0: the size of a stockChanged frame)")
	c.clientOptions.flags(fs, "this client's GOGC: fewer collections, so that its pauses delay fewer receipts")
}

func (c *SubscribersConfig) check() error {
	switch {
	case c.N < 1:
		return errors.New("-n must be at least 1")
	case c.Duration <= 0:
		return errors.New("-duration must be positive")
	case c.DialConcurrency < 1 || c.BaselineConcurrency < 1 || c.BurstConcurrency < 1:
		return errors.New("concurrencies must be at least 1")
	case c.Restocks < 0 || c.BurstRestocks < 0 || c.Restocks+c.BurstRestocks > 1_000_000:
		return errors.New("-restocks plus -burst-restocks must be within [0, 1,000,000] (each restock's quantity is its number)")
	case c.Restocks > 0 && c.RestockRate <= 0:
		return errors.New("-restock-rate must be positive")
	case c.Sources < 0 || c.Sources > 250:
		return errors.New("-sources must be within [0, 250]")
	case c.PerConnection < 1 || c.PerConnection > 100:
		return errors.New("-per-connection must be within [1, 100] (the hub's default bound on a connection's operations)")
	case c.Query != queryRestockAlerts && c.Query != queryStockChanged:
		return fmt.Errorf("-query must be %s or %s", queryRestockAlerts, queryStockChanged)
	case c.District != "" && c.Query != queryStockChanged:
		return errors.New("-district goes with -query stockChanged")
	case c.FloorRounds < 1 || c.FloorWriters < 1 || c.FloorBytes < 0:
		return errors.New("-floor-rounds and -floor-writers must be at least 1, -floor-bytes not negative")
	}
	return nil
}

func subscribersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c SubscribersConfig
	if err := parseFlags("subscribers", args, stdout, stderr, c.flags); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return cli.Usage(err)
	}
	l := &subscribersLoad{cfg: c, hubSession: hubSession{log: stderr}}
	return runLoad(ctx, c.clientOptions, stdout, l.run)
}

// subscribersLoad is one subscribers run.
type subscribersLoad struct {
	hubSession
	cfg  SubscribersConfig
	city *cityMap
	// initMsgs are each committee's connection_init (its token), subMsgs
	// its -per-connection subscribe messages to restockAlerts, ids "1"..M.
	initMsgs [][]byte
	subMsgs  [][][]byte

	// restocks are the run's restocks, by number; each is written by the
	// goroutine that sends it, and read once every sender has ended.
	restocks []restock
}

// run runs the phases in order; a phase cut short by -duration leaves the
// later ones out of the report, which says so. Teardown always runs.
func (l *subscribersLoad) run(ctx context.Context) (*SubscribersReport, error) {
	cfg := l.cfg
	start := time.Now()
	rep := &SubscribersReport{Date: start.Format(time.RFC3339), Cores: runtime.NumCPU(), Config: cfg, LoadAvgStart: loadAverage()}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	defer l.close()
	if err := l.setup(runCtx, rep); err != nil {
		return nil, err
	}
	cpu := startMark(l.proc)

	// Baselines against the empty hub.
	l.progress("baseline: %d trivial queries, %d raw TCP connects", cfg.BaselineRequests, cfg.TCPConnects)
	rep.BaselineQuery = l.trivialQueries(runCtx)
	rep.TCPConnect = l.tcpConnects(runCtx)
	if cfg.Floor && runCtx.Err() == nil {
		frame := stockChangedFrame()
		if cfg.FloorBytes > 0 {
			frame = make([]byte, cfg.FloorBytes)
		}
		l.progress("floor: one process writes %d bytes to each of %d loopback sockets, %d times, %d writers; a child reads them", len(frame), cfg.N, cfg.FloorRounds, cfg.FloorWriters)
		f, err := measureFloor(runCtx, cfg.N, cfg.FloorRounds, cfg.FloorWriters, frame)
		if err != nil {
			l.errs.Add("floor", err.Error())
			rep.Notes = append(rep.Notes, "the floor was not measured: "+err.Error())
		} else {
			rep.Floor = &f
			l.progress("  floor: %.2f us of CPU per write (%d writes, %d errors)", f.PerWrite, f.Writes, f.Errors)
		}
	}
	if l.proc != nil {
		l.progress("hub CPU at idle without subscribers, over %s after %s", cfg.Idle, cfg.Settle)
		rep.HubCPUIdleEmpty = l.cpuIdle(runCtx)
	}
	before := l.hubFigures(runCtx)
	rep.HubBefore = before

	// Open the subscribers.
	subs := make([]*subscriber, cfg.N)
	fl, err := l.newFleet(rep)
	if err != nil {
		return nil, err
	}
	if cfg.PerConnection == 1 {
		l.progress("opening %d subscribers, %d at a time, from %s", cfg.N, cfg.DialConcurrency, strings.Join(rep.Sources, ","))
	} else {
		l.progress("opening %d subscribers, %d subscriptions each (%d in all), %d at a time, from %s",
			cfg.N, cfg.PerConnection, cfg.N*cfg.PerConnection, cfg.DialConcurrency, strings.Join(rep.Sources, ","))
	}
	rep.Connect = l.connect(runCtx, fl, subs)
	// subscribed counts subscriptions, not connections: every one of
	// them is due an alert of each restock in its committee's range.
	subscribed := make([]int, len(l.city.Committees))
	var live []*subscriber
	var conns []*websocket.Conn
	for _, s := range subs {
		if s != nil && s.conn != nil {
			subscribed[s.committee] += s.subs
			live = append(live, s)
			conns = append(conns, s.conn)
		}
	}
	l.progress("%d subscribed in %s (%.0f/s)", rep.Connect.Subscribed, rep.Connect.Wall.Round(time.Millisecond), rep.Connect.PerSec)
	defer func() {
		// Teardown, bounded on its own: the run's context may be over.
		l.progress("closing %d connections", len(live))
		rep.ForcedCloses = fl.closeAll(conns, 5*time.Second, cfg.DialConcurrency)
		tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
		defer tcancel()
		rep.SubscriptionsAfterClose = l.awaitSubscriptions(tctx, before.Subscriptions, 5*time.Second, false)
		rep.HubAfterClose = l.hubFigures(tctx)
		rep.Lost = fl.lost.Load()
		rep.Phases = analyze([]string{"paced", "burst"}, l.restocks, live, l.city, subscribed)
		rep.Errors = l.errs.Kinds()
		rep.ClientCPU = selfCPU() // since the process started, setup included
		if hub, _, others, ok := cpu.since(); ok {
			rep.HubCPU, rep.OthersCPU = hub, others
			rep.OthersCores = ratio(float64(others), float64(time.Since(start)))
		}
		rep.ClientRSS, _, _ = proc{pid: os.Getpid()}.RSS()
		rep.Elapsed = time.Since(start)
		rep.LoadAvgEnd = loadAverage()
	}()

	// Wait until the hub holds every subscription, then measure it idle.
	gauge := l.awaitSubscriptions(runCtx, before.Subscriptions+float64(rep.Connect.Subscriptions), 15*time.Second, true)
	rep.SubscriptionsSettled = gauge - before.Subscriptions
	if l.proc != nil && runCtx.Err() == nil {
		l.progress("hub CPU at idle with %d subscribers (%d subscriptions), over %s after %s", rep.Connect.Subscribed, rep.Connect.Subscriptions, cfg.Idle, cfg.Settle)
		rep.HubCPUIdleLoaded = l.cpuIdle(runCtx)
	}
	rep.HubIdle = l.hubFigures(runCtx)
	l.progress("baseline again with the subscribers idle")
	rep.LoadedQuery = l.trivialQueries(runCtx)

	// Restocks: paced, then a burst.
	l.restocks = make([]restock, cfg.Restocks+cfg.BurstRestocks)
	order := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed)).Perm(len(l.city.Pharmacies))
	due := dueCounts(l.city, subscribed)
	for i := range l.restocks {
		l.restocks[i].Pharmacy = order[i%len(order)]
		if i >= cfg.Restocks {
			l.restocks[i].Phase = 1
		}
	}
	var phaseCPU [2]PhaseCPU
	if cfg.Restocks > 0 && runCtx.Err() == nil {
		l.progress("paced: %d restocks at %g/s", cfg.Restocks, cfg.RestockRate)
		m := startMark(l.proc)
		l.paced(runCtx, 0, cfg.Restocks, cfg.RestockRate)
		l.awaitDeliveries(runCtx, fl, l.dueSoFar(due), cfg.Drain)
		phaseCPU[0] = m.stop()
	}
	if cfg.BurstRestocks > 0 && runCtx.Err() == nil {
		l.progress("burst: %d restocks, %d in flight", cfg.BurstRestocks, cfg.BurstConcurrency)
		m := startMark(l.proc)
		l.burst(runCtx, cfg.Restocks, cfg.BurstRestocks, cfg.BurstConcurrency)
		l.awaitDeliveries(runCtx, fl, l.dueSoFar(due), cfg.Drain)
		phaseCPU[1] = m.stop()
	}
	rep.PhaseCPU = phaseCPU[:]
	rep.HubAfterLoad = l.hubFigures(runCtx)
	if runCtx.Err() != nil && ctx.Err() == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the run reached -duration %s before its end: later phases are partial or missing", cfg.Duration))
	}
	return rep, nil
}

// setup checks the limits, finds the hub's process, mints the tokens and
// reads the city.
func (l *subscribersLoad) setup(ctx context.Context, rep *SubscribersReport) error {
	cfg := l.cfg
	need := uint64(cfg.N + cfg.DialConcurrency + cfg.BaselineConcurrency + cfg.BurstConcurrency + 64)
	soft, hard, err := raiseNoFile(need)
	if err != nil {
		return err
	}
	rep.ClientNoFile = [2]uint64{soft, hard}
	if soft < need {
		msg := fmt.Sprintf("this process's RLIMIT_NOFILE is %d (hard %d), below the %d that -n %d needs: at most about %d subscribers fit; raising the hard limit needs CAP_SYS_RESOURCE (ulimit -Hn as root)",
			soft, hard, need, cfg.N, int(soft)-int(need)+cfg.N)
		if !cfg.Force {
			return errors.New(msg + "; -force runs anyway")
		}
		rep.Notes = append(rep.Notes, msg)
	}

	hub, err := newHubClient(cfg.URL, cfg.BaselineConcurrency+cfg.BurstConcurrency+64)
	if err != nil {
		return err
	}
	rep.Hub = hub.base.String()
	if rep.HubPID = l.attach(hub, cfg.HubPID); rep.HubPID == 0 {
		rep.Notes = append(rep.Notes, noHubProcessNote)
	} else if lim, err := l.proc.FDLimit(); err == nil {
		open, _ := l.proc.OpenFDs()
		rep.HubNoFile = lim
		if room := lim - open - 16; room < cfg.N {
			msg := fmt.Sprintf("the hub's RLIMIT_NOFILE is %d with %d open: it can hold about %d connections, fewer than -n %d", lim, open, room, cfg.N)
			if !cfg.Force {
				return errors.New(msg + "; -force runs anyway")
			}
			rep.Notes = append(rep.Notes, msg)
		}
	}

	if err := l.mintAdmin(cfg.hubTarget, 2*time.Hour); err != nil {
		return err
	}
	if cfg.Query == queryStockChanged {
		l.city, err = discoverDistrict(ctx, hub, l.admin, cfg.District)
	} else {
		l.city, err = discoverCity(ctx, hub, l.admin, cfg.ServiceK)
	}
	if err != nil {
		return err
	}
	rep.Committees, rep.Pharmacies = len(l.city.Committees), len(l.city.Pharmacies)
	var sum int
	rep.ReachMin = len(l.city.Committees)
	for _, r := range l.city.Reach {
		sum += len(r)
		rep.ReachMin = min(rep.ReachMin, len(r))
		rep.ReachMax = max(rep.ReachMax, len(r))
	}
	rep.ReachMean = float64(sum) / float64(len(l.city.Reach))
	return nil
}

// newFleet mints a token per committee, prepares each committee's
// messages (-per-connection subscribes to the same restockAlerts, ids
// "1".."M") and the dialler.
func (l *subscribersLoad) newFleet(rep *SubscribersReport) (*fleet, error) {
	cfg := l.cfg
	for _, id := range l.city.Committees {
		role, query, arg := "COMMITTEE", restockAlertQuery, "c"
		if cfg.Query == queryStockChanged {
			role, query, arg = "DISTRICT", districtStockQuery, "d"
		}
		t, err := l.minter.Mint(role, id, "loadtest-"+id, 2*time.Hour)
		if err != nil {
			return nil, err
		}
		l.initMsgs = append(l.initMsgs, initMessage(t))
		l.subMsgs = append(l.subMsgs, subscribes(query, arg, id, cfg.PerConnection))
	}
	n := cfg.Sources
	if n == 0 {
		n = (cfg.N + 24_999) / 25_000
	}
	var sources []*net.TCPAddr
	if n == 1 {
		sources = []*net.TCPAddr{nil} // no bind: the kernel picks 127.0.0.1 and a port
		rep.Sources = []string{"127.0.0.1"}
	} else {
		for i := 1; i <= n; i++ {
			ip := net.IPv4(127, 0, 0, byte(i))
			sources = append(sources, &net.TCPAddr{IP: ip})
			rep.Sources = append(rep.Sources, ip.String())
		}
	}
	return newFleet(l.hub.ws, sources, cfg.Timeout, "", &l.errs), nil
}

// restockAlertQuery is the subscription each connection runs (-per-connection
// times): what a committee's dashboard would ask for.
const restockAlertQuery = `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring gap pharmacy { id name } } }`

// districtStockQuery is the subscription of -query stockChanged: what a
// district's dashboard would ask for.
const districtStockQuery = `subscription($d: ID!) { stockChanged(districtId: $d) { seq at sku delta stockAfter reason gap pharmacy { id name } } }`

// The values of -query.
const (
	queryRestockAlerts = "restockAlerts"
	queryStockChanged  = "stockChanged"
)

// subscribes returns m subscribe messages to query with variable arg set
// to id, operations "1".."m": a connection that sends them all is due m
// alerts of each restock in range, as m connections would be.
func subscribes(query, arg, id string, m int) [][]byte {
	subs := make([][]byte, m)
	for j := range subs {
		subs[j] = subscribeMessage(strconv.Itoa(j+1), query, map[string]string{arg: id})
	}
	return subs
}

// sample is one alert received by one subscription of a subscriber.
type sample struct {
	restock int32 // the restock's index: its quantity less one
	gap     int32 // events the hub dropped before this one
	sub     int32 // the subscription's operation id on its connection, 1..subs
	seq     uint64
	at      int64 // the event's time (the stock write), Unix ns
	recv    int64 // when the client read it, Unix ns
}

// subscriber is one WebSocket connection subscribed to restockAlerts for
// one committee, subs times (operations "1".."subs"), each subscription
// due its own alert of every restock in range. Its reader goroutine
// alone writes samples; they are read once the reader has ended.
type subscriber struct {
	committee int
	subs      int
	conn      *websocket.Conn
	samples   []sample
}

// alertPayload is the payload of a "next" message of restockAlerts or
// stockChanged.
type alertPayload struct {
	Data *struct {
		RestockAlerts *struct {
			Seq      uint64    `json:"seq"`
			At       time.Time `json:"at"`
			Quantity int       `json:"quantity"`
			Gap      int       `json:"gap"`
		} `json:"restockAlerts"`
		StockChanged *struct {
			Seq    uint64    `json:"seq"`
			At     time.Time `json:"at"`
			Delta  int       `json:"delta"`
			Reason string    `json:"reason"`
			Gap    int       `json:"gap"`
		} `json:"stockChanged"`
	} `json:"data"`
}

// record keeps the alert of a "next" payload for operation id with its
// receive time; it reports whether the payload held one for an operation
// of this connection (an id it never subscribed counts as unreadable).
func (s *subscriber) record(id string, payload []byte, recv time.Time) bool {
	op, err := strconv.Atoi(id)
	if err != nil || op < 1 || op > s.subs {
		return false
	}
	var p alertPayload
	if err := json.Unmarshal(payload, &p); err != nil || p.Data == nil {
		return false
	}
	if sc := p.Data.StockChanged; sc != nil {
		// A restock's own step (RESTOCK, its delta the restock's
		// quantity) is its alert; the steps of a waiting list it serves
		// (ALLOCATE) are not counted.
		if sc.Reason == "RESTOCK" {
			s.samples = append(s.samples, sample{
				restock: int32(sc.Delta - 1), gap: int32(sc.Gap), sub: int32(op), seq: sc.Seq,
				at: sc.At.UnixNano(), recv: recv.UnixNano(),
			})
		}
		return true
	}
	a := p.Data.RestockAlerts
	if a == nil {
		return false
	}
	s.samples = append(s.samples, sample{
		restock: int32(a.Quantity - 1), gap: int32(a.Gap), sub: int32(op), seq: a.Seq,
		at: a.At.UnixNano(), recv: recv.UnixNano(),
	})
	return true
}

// ConnectResult is what opening the subscribers measured. Attempted,
// Subscribed, Failed and PerSec count connections; Subscriptions is
// Subscribed times PerConnection, the subscriptions alerts are due to.
type ConnectResult struct {
	Attempted     int           `json:"attempted"`
	Subscribed    int           `json:"subscribed"`
	Failed        int           `json:"failed"`
	PerConnection int           `json:"subscriptions_per_connection"`
	Subscriptions int           `json:"subscriptions"`
	Wall          time.Duration `json:"wall_ns"`
	PerSec        float64       `json:"per_sec"`
	// Latency is each connection's dial to its last subscribe message
	// sent.
	Latency Summary `json:"latency"`
}

// connect opens the subscribers, committee i mod the number of
// committees for subscriber i, so that every committee has its share.
func (l *subscribersLoad) connect(ctx context.Context, fl *fleet, subs []*subscriber) ConnectResult {
	lat := make([]time.Duration, len(subs))
	var failed atomic.Int64
	bar := progress.New(l.log, progress.Options{Label: "subscribe", Total: int64(len(subs))})
	defer bar.Finish()
	t0 := time.Now()
	each(len(subs), l.cfg.DialConcurrency, func(i int) {
		if ctx.Err() != nil {
			return
		}
		defer bar.Add(1)
		s := &subscriber{committee: i % len(l.city.Committees), subs: l.cfg.PerConnection}
		c0 := time.Now()
		conn, err := fl.connect(ctx, l.initMsgs[s.committee], l.subMsgs[s.committee], s.record)
		if err != nil {
			failed.Add(1)
			if ctx.Err() != nil {
				return // cut short by -duration: not the hub's failure
			}
			l.errs.Add(failureKind(err), err.Error())
			return
		}
		lat[i] = time.Since(c0)
		s.conn = conn
		subs[i] = s
	})
	res := ConnectResult{Attempted: len(subs), Failed: int(failed.Load()), PerConnection: l.cfg.PerConnection, Wall: time.Since(t0)}
	var ok []time.Duration
	for i, s := range subs {
		if s != nil {
			ok = append(ok, lat[i])
		}
	}
	res.Subscribed = len(ok)
	res.Subscriptions = res.Subscribed * res.PerConnection
	res.Latency = Summarize(ok)
	res.PerSec = perSecond(res.Subscribed, res.Wall)
	return res
}

// awaitSubscriptions polls the hub's gridhub_subscriptions gauge until it
// reaches want (atLeast) or falls to it (!atLeast), for at most limit, and
// returns its last value (-1 when the hub exports none).
func (l *subscribersLoad) awaitSubscriptions(ctx context.Context, want float64, limit time.Duration, atLeast bool) float64 {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := -1.0
	for {
		m, err := l.hub.Metrics(ctx, subscriptionSeries...)
		if err == nil {
			if v, ok := clientSubscriptions(m); ok {
				last = v
				if (atLeast && v >= want) || (!atLeast && v <= want) {
					return v
				}
			}
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cpuIdle waits -settle for the work just done to end (garbage
// collection, the scavenger returning memory), then measures the hub's
// CPU use over -idle (or until ctx ends).
func (l *subscribersLoad) cpuIdle(ctx context.Context) CPUWindow {
	select {
	case <-ctx.Done():
		return CPUWindow{}
	case <-time.After(l.cfg.Settle):
	}
	w, err := l.proc.cpuOver(l.cfg.Idle, ctx.Done())
	if err != nil {
		l.errs.Add("proc/"+netErrorKind(err), err.Error())
	}
	return w
}

// QueryResult is what a run of trivial queries measured.
type QueryResult struct {
	N       int           `json:"n"`
	Errors  int           `json:"errors"`
	Wall    time.Duration `json:"wall_ns"`
	PerSec  float64       `json:"per_sec"`
	Latency Summary       `json:"latency"`
}

// trivialQueries sends the baseline query { supplies { sku } } over HTTP.
func (l *subscribersLoad) trivialQueries(ctx context.Context) QueryResult {
	n := l.cfg.BaselineRequests
	lat := make([]time.Duration, n)
	okAt := make([]bool, n)
	var errs atomic.Int64
	t0 := time.Now()
	each(n, l.cfg.BaselineConcurrency, func(i int) {
		if ctx.Err() != nil {
			return
		}
		s := time.Now()
		if err := l.hub.Do(ctx, "", trivialQuery, nil, nil); err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
				l.errs.Add("baseline_query/"+errorKind(err), err.Error())
			}
			return
		}
		lat[i], okAt[i] = time.Since(s), true
	})
	res := QueryResult{Errors: int(errs.Load()), Wall: time.Since(t0)}
	var ok []time.Duration
	for i := range lat {
		if okAt[i] {
			ok = append(ok, lat[i])
		}
	}
	res.N = len(ok)
	res.Latency = Summarize(ok)
	res.PerSec = perSecond(res.N, res.Wall)
	return res
}

// RateResult is what a run of raw TCP connects measured.
type RateResult struct {
	N      int           `json:"n"`
	Errors int           `json:"errors"`
	Wall   time.Duration `json:"wall_ns"`
	PerSec float64       `json:"per_sec"`
}

// tcpConnects opens and at once resets TCP connections to the hub's port:
// the connection rate of the kernel and the hub's accept loop, without
// HTTP or WebSocket. The reset leaves no TIME_WAIT to use up ports.
func (l *subscribersLoad) tcpConnects(ctx context.Context) RateResult {
	n := l.cfg.TCPConnects
	var okN, errN atomic.Int64
	d := net.Dialer{Timeout: l.cfg.Timeout}
	t0 := time.Now()
	each(n, l.cfg.DialConcurrency, func(int) {
		if ctx.Err() != nil {
			return
		}
		c, err := d.DialContext(ctx, "tcp", l.hub.base.Host)
		if err != nil {
			if ctx.Err() == nil {
				errN.Add(1)
				l.errs.Add("baseline_tcp/"+netErrorKind(err), err.Error())
			}
			return
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
		okN.Add(1)
	})
	res := RateResult{N: int(okN.Load()), Errors: int(errN.Load()), Wall: time.Since(t0)}
	res.PerSec = perSecond(res.N, res.Wall)
	return res
}

// restockOne sends restock i and records its times.
func (l *subscribersLoad) restockOne(ctx context.Context, i int) {
	r := &l.restocks[i]
	vars := map[string]any{"p": l.city.Pharmacies[r.Pharmacy], "s": l.cfg.SKU, "q": i + 1}
	r.Sent = time.Now()
	if err := l.hub.Do(ctx, l.admin, restockMutation, vars, nil); err != nil {
		r.Err = err.Error()
		if ctx.Err() == nil {
			l.errs.Add("restock/"+errorKind(err), err.Error())
		}
		return
	}
	r.Acked = time.Now()
}

// paced sends restocks from..from+n-1 at rate per second, each on its own
// goroutine (an open model: a slow hub does not slow the schedule), with
// at most 64 in flight.
func (l *subscribersLoad) paced(ctx context.Context, from, n int, rate float64) {
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	bar := progress.New(l.log, progress.Options{Label: "paced restocks", Total: int64(n)})
	defer bar.Finish()
	t0 := time.Now()
	for i := range n {
		if wait := time.Until(t0.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l.restockOne(ctx, from+i)
			bar.Add(1)
		}()
	}
	wg.Wait()
}

// burst sends restocks from..from+n-1 back to back, workers at a time.
func (l *subscribersLoad) burst(ctx context.Context, from, n, workers int) {
	bar := progress.New(l.log, progress.Options{Label: "burst restocks", Total: int64(n)})
	defer bar.Finish()
	each(n, workers, func(i int) {
		if ctx.Err() == nil {
			l.restockOne(ctx, from+i)
			bar.Add(1)
		}
	})
}

// dueCounts returns, for each pharmacy, how many subscriptions a restock
// there is due to reach; subscribed[c] counts committee c's.
func dueCounts(m *cityMap, subscribed []int) []int {
	due := make([]int, len(m.Pharmacies))
	for p, reach := range m.Reach {
		for _, c := range reach {
			due[p] += subscribed[c]
		}
	}
	return due
}

// dueSoFar returns the alerts due for the restocks acknowledged so far.
func (l *subscribersLoad) dueSoFar(due []int) int64 {
	var n int64
	for _, r := range l.restocks {
		if !r.Acked.IsZero() {
			n += int64(due[r.Pharmacy])
		}
	}
	return n
}

// awaitDeliveries waits until the subscriptions have received want
// alerts, or none has arrived for drain, or ctx ends.
func (l *subscribersLoad) awaitDeliveries(ctx context.Context, fl *fleet, want int64, drain time.Duration) {
	last, lastChange := fl.delivered.Load(), time.Now()
	for {
		n := fl.delivered.Load()
		if n >= want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > drain {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
