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
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/progress"
)

// SubscribersConfig configures a subscribers run.
type SubscribersConfig struct {
	URL       string        `json:"url"`
	DataDir   string        `json:"data_dir"`
	JWTSecret string        `json:"-"`
	HubPID    int           `json:"hub_pid"`
	N         int           `json:"n"`
	Duration  time.Duration `json:"duration_ns"`
	Force     bool          `json:"force"`

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

	ClientGOGC int    `json:"client_gogc"`
	JSON       string `json:"-"`
	CPUProfile string `json:"-"`
}

// flags binds c to fs with the defaults.
func (c *SubscribersConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:18090", "the hub, on a loopback address")
	fs.StringVar(&c.DataDir, "data", "/tmp/loaddata", "the hub's data directory, to read its jwt-secret")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "the hub's HS256 secret, if given to it by flag (wins over -data)")
	fs.IntVar(&c.HubPID, "hub-pid", 0, "the hub's process id for memory and CPU (0: the process listening on -url's port)")
	fs.IntVar(&c.N, "n", 50_000, "WebSocket subscribers to open")
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
	fs.StringVar(&c.JSON, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write this client's CPU profile to this file")
	fs.IntVar(&c.ClientGOGC, "client-gogc", 400, "this client's GOGC: fewer collections, so that its pauses delay fewer receipts")
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
	}
	return nil
}

func subscribersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c SubscribersConfig
	fs := flag.NewFlagSet("subscribers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./loadtest subscribers [flags]")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	if err := c.check(); err != nil {
		return cli.Usage(err)
	}
	if c.ClientGOGC != 0 {
		debug.SetGCPercent(c.ClientGOGC)
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	l := &subscribersLoad{cfg: c, log: stderr}
	rep, err := l.run(ctx)
	if rep != nil {
		rep.Print(stdout)
		if c.JSON != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(c.JSON, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				return errors.Join(err, fmt.Errorf("write json: %w", jerr))
			}
		}
	}
	return err
}

// subscribersLoad is one subscribers run.
type subscribersLoad struct {
	cfg SubscribersConfig
	log io.Writer

	hub    *hubClient
	proc   *proc // nil when the hub's process is unknown
	city   *cityMap
	minter *Minter
	admin  string
	errs   ErrorCounts

	// restocks are the run's restocks, by number; each is written by the
	// goroutine that sends it, and read once every sender has ended.
	restocks []restock
}

// progress writes a line to the log, for whoever watches the run.
func (l *subscribersLoad) progress(format string, args ...any) {
	fmt.Fprintf(l.log, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// run runs the phases in order; a phase cut short by -duration leaves the
// later ones out of the report, which says so. Teardown always runs.
func (l *subscribersLoad) run(ctx context.Context) (*Report, error) {
	cfg := l.cfg
	start := time.Now()
	rep := &Report{Date: start.Format(time.RFC3339), Cores: runtime.NumCPU(), Config: cfg}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	if err := l.setup(runCtx, rep); err != nil {
		return nil, err
	}
	defer l.hub.close()
	machine0, self0 := machineBusy(), selfCPU()
	var hub0 time.Duration
	if l.proc != nil {
		hub0, _ = l.proc.CPU()
	}

	// Baselines against the empty hub.
	l.progress("baseline: %d trivial queries, %d raw TCP connects", cfg.BaselineRequests, cfg.TCPConnects)
	rep.BaselineQuery = l.trivialQueries(runCtx)
	rep.TCPConnect = l.tcpConnects(runCtx)
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
	l.progress("opening %d subscribers, %d at a time, from %s", cfg.N, cfg.DialConcurrency, strings.Join(rep.Sources, ","))
	rep.Connect = l.connect(runCtx, fl, subs)
	subscribed := make([]int, len(l.city.Committees))
	var live []*subscriber
	for _, s := range subs {
		if s != nil && s.conn != nil {
			subscribed[s.committee]++
			live = append(live, s)
		}
	}
	l.progress("%d subscribed in %s (%.0f/s)", rep.Connect.Subscribed, rep.Connect.Wall.Round(time.Millisecond), rep.Connect.PerSec)
	defer func() {
		// Teardown, bounded on its own: the run's context may be over.
		l.progress("closing %d connections", len(live))
		rep.ForcedCloses = fl.closeAll(live, 5*time.Second, cfg.DialConcurrency)
		tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
		defer tcancel()
		rep.SubscriptionsAfterClose = l.awaitSubscriptions(tctx, before.Subscriptions, 5*time.Second, false)
		rep.HubAfterClose = l.hubFigures(tctx)
		rep.Lost = fl.lost.Load()
		rep.Phases = analyze([]string{"paced", "burst"}, l.restocks, live, l.city, subscribed)
		rep.Errors = l.errs.Kinds()
		rep.ClientCPU = selfCPU()
		if l.proc != nil {
			if hub1, err := l.proc.CPU(); err == nil {
				wall := time.Since(start)
				rep.HubCPU = hub1 - hub0
				rep.OthersCPU = max(0, machineBusy()-machine0-rep.HubCPU-(rep.ClientCPU-self0))
				rep.OthersCores = ratio(float64(rep.OthersCPU), float64(wall))
			}
		}
		rep.ClientRSS, _, _ = proc{pid: os.Getpid()}.RSS()
		rep.Elapsed = time.Since(start)
	}()

	// Wait until the hub holds every subscription, then measure it idle.
	gauge := l.awaitSubscriptions(runCtx, before.Subscriptions+float64(rep.Connect.Subscribed), 15*time.Second, true)
	rep.SubscriptionsSettled = gauge - before.Subscriptions
	if l.proc != nil && runCtx.Err() == nil {
		l.progress("hub CPU at idle with %d subscribers, over %s after %s", rep.Connect.Subscribed, cfg.Idle, cfg.Settle)
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
		l.progress("paced: %d restocks at %.0f/s", cfg.Restocks, cfg.RestockRate)
		m := l.startCPU()
		l.paced(runCtx, 0, cfg.Restocks, cfg.RestockRate)
		l.awaitDeliveries(runCtx, fl, l.dueSoFar(due), cfg.Drain)
		phaseCPU[0] = m.stop()
	}
	if cfg.BurstRestocks > 0 && runCtx.Err() == nil {
		l.progress("burst: %d restocks, %d in flight", cfg.BurstRestocks, cfg.BurstConcurrency)
		m := l.startCPU()
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
func (l *subscribersLoad) setup(ctx context.Context, rep *Report) error {
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
	l.hub = hub
	rep.Hub = hub.base.String()
	pid := cfg.HubPID
	if pid == 0 {
		pid = listenerPID(hub.port())
	}
	if pid > 0 {
		l.proc = &proc{pid: pid}
		rep.HubPID = pid
		if lim, err := l.proc.FDLimit(); err == nil {
			open, _ := l.proc.OpenFDs()
			rep.HubNoFile = lim
			if room := lim - open - 16; room < cfg.N {
				msg := fmt.Sprintf("the hub's RLIMIT_NOFILE is %d with %d open: it can hold about %d connections, fewer than -n %d", lim, open, room, cfg.N)
				if !cfg.Force {
					hub.close()
					return errors.New(msg + "; -force runs anyway")
				}
				rep.Notes = append(rep.Notes, msg)
			}
		}
	} else {
		rep.Notes = append(rep.Notes, "the hub's process was not found (give -hub-pid): no memory or CPU figures")
	}

	secret := cfg.JWTSecret
	if secret == "" {
		if secret, err = ReadSecret(cfg.DataDir); err != nil {
			hub.close()
			return fmt.Errorf("%w (give the hub's -data directory, or -jwt-secret)", err)
		}
	}
	if l.minter, err = NewMinter(secret, nil); err != nil {
		hub.close()
		return err
	}
	if l.admin, err = l.minter.Mint("ADMIN", "", "loadtest", 2*time.Hour); err != nil {
		hub.close()
		return err
	}
	if l.city, err = discoverCity(ctx, hub, l.admin, cfg.ServiceK); err != nil {
		hub.close()
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

// newFleet mints a token per committee and prepares the dialler.
func (l *subscribersLoad) newFleet(rep *Report) (*fleet, error) {
	cfg := l.cfg
	tokens := make([]string, len(l.city.Committees))
	for i, id := range l.city.Committees {
		t, err := l.minter.Mint("COMMITTEE", id, "loadtest-"+id, 2*time.Hour)
		if err != nil {
			return nil, err
		}
		tokens[i] = t
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
	return newFleet(l.hub.ws, sources, tokens, l.city.Committees, cfg.Timeout, &l.errs)
}

// ConnectResult is what opening the subscribers measured.
type ConnectResult struct {
	Attempted  int           `json:"attempted"`
	Subscribed int           `json:"subscribed"`
	Failed     int           `json:"failed"`
	Wall       time.Duration `json:"wall_ns"`
	PerSec     float64       `json:"per_sec"`
	// Latency is each connection's dial to its subscribe message sent.
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
		s := &subscriber{committee: i % len(l.city.Committees)}
		c0 := time.Now()
		if err := fl.connect(ctx, s); err != nil {
			failed.Add(1)
			if ctx.Err() != nil {
				return // cut short by -duration: not the hub's failure
			}
			var se *stageError
			if errors.As(err, &se) {
				l.errs.Add(se.Kind(), err.Error())
			} else {
				l.errs.Add("connect/"+netErrorKind(err), err.Error())
			}
			return
		}
		lat[i] = time.Since(c0)
		subs[i] = s
	})
	res := ConnectResult{Attempted: len(subs), Failed: int(failed.Load()), Wall: time.Since(t0)}
	var ok []time.Duration
	for i, s := range subs {
		if s != nil {
			ok = append(ok, lat[i])
		}
	}
	res.Subscribed = len(ok)
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
		m, err := l.hub.Metrics(ctx, "gridhub_subscriptions")
		if err == nil {
			if v, ok := m["gridhub_subscriptions"]; ok {
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

// HubFigures are the hub's memory and counts at one moment.
type HubFigures struct {
	RSS           int64   `json:"rss_bytes"`
	RSSAnon       int64   `json:"rss_anon_bytes"`
	HeapInuse     float64 `json:"heap_inuse_bytes"`
	StackInuse    float64 `json:"stack_inuse_bytes"`
	Goroutines    float64 `json:"goroutines"`
	Subscriptions float64 `json:"subscriptions"`
	OpenFDs       int     `json:"open_fds"`
	GCCycles      float64 `json:"gc_cycles"`
}

func (l *subscribersLoad) hubFigures(ctx context.Context) HubFigures {
	var f HubFigures
	if l.proc != nil {
		f.RSS, f.RSSAnon, _ = l.proc.RSS()
		f.OpenFDs, _ = l.proc.OpenFDs()
	}
	if m, err := l.hub.Metrics(ctx, "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines", "gridhub_subscriptions", "go_gc_duration_seconds_count"); err == nil {
		f.GCCycles = m["go_gc_duration_seconds_count"]
		f.HeapInuse = m["go_memstats_heap_inuse_bytes"]
		f.StackInuse = m["go_memstats_stack_inuse_bytes"]
		f.Goroutines = m["go_goroutines"]
		f.Subscriptions = m["gridhub_subscriptions"]
	}
	return f
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
		if err := l.hub.Do(ctx, "", `{ supplies { sku } }`, nil, nil); err != nil {
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

// PhaseCPU is the CPU use, in cores, of the hub, of this client and of
// every other process on the machine during one phase.
type PhaseCPU struct {
	Hub    float64       `json:"hub_cores"`
	Client float64       `json:"client_cores"`
	Others float64       `json:"others_cores"`
	Wall   time.Duration `json:"wall_ns"`
}

// cpuMark is a moment's CPU counters.
type cpuMark struct {
	l                  *subscribersLoad
	at                 time.Time
	hub, self, machine time.Duration
}

func (l *subscribersLoad) startCPU() cpuMark {
	m := cpuMark{l: l, at: time.Now(), self: selfCPU(), machine: machineBusy()}
	if l.proc != nil {
		m.hub, _ = l.proc.CPU()
	}
	return m
}

// stop returns the CPU use since m.
func (m cpuMark) stop() PhaseCPU {
	now := m.l.startCPU()
	wall := now.at.Sub(m.at)
	hub, self := now.hub-m.hub, now.self-m.self
	return PhaseCPU{
		Wall:   wall,
		Hub:    ratio(float64(hub), float64(wall)),
		Client: ratio(float64(self), float64(wall)),
		Others: max(0, ratio(float64(now.machine-m.machine-hub-self), float64(wall))),
	}
}

// restockMutation adds units (the restock's number) of a supply.
const restockMutation = `mutation($p: ID!, $s: SKU!, $q: Int!) { restock(pharmacyId: $p, sku: $s, quantity: $q) { id } }`

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

// dueCounts returns, for each pharmacy, how many subscribers a restock
// there is due to reach.
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

// awaitDeliveries waits until the subscribers have received want alerts,
// or none has arrived for drain, or ctx ends.
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
