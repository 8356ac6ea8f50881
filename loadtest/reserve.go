package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/cli"
)

// ReserveConfig configures a reserve run.
type ReserveConfig struct {
	hubTarget

	Phases         string        `json:"phases"`
	Concurrency    int           `json:"concurrency"`
	MaxOutstanding int           `json:"max_outstanding"`
	Conns          int           `json:"conns"`
	Sources        int           `json:"sources"`
	Timeout        time.Duration `json:"timeout_ns"`
	PlanRate       float64       `json:"plan_rate"`

	SKU            string `json:"sku"`
	PerPerson      int    `json:"per_person"`
	MaxK           int    `json:"max_k"`
	Restock        int    `json:"restock"`
	ResidentPrefix string `json:"resident_prefix"`
	Residents      int    `json:"residents"`
	Seed           uint64 `json:"seed"`

	DashboardRate float64 `json:"dashboard_rate"`
	ReportRate    float64 `json:"report_rate"`
	Subscribers   int     `json:"subscribers"`

	BaselineDuration time.Duration `json:"baseline_duration_ns"`
	RawBaseline      bool          `json:"raw_baseline"`
	Reference        int           `json:"reference_phase"`

	clientOptions
}

// flags binds c to fs with the defaults.
func (c *ReserveConfig) flags(fs *flag.FlagSet) {
	c.hubTarget.flags(fs)
	fs.StringVar(&c.Phases, "phases", "200:10s,max:20s,3x:20s,200:10s",
		"comma-separated phases: RATE:DURATION sends RATE reservations/s whatever the answers (an open model, as a crowd does); "+
			"max:DURATION runs -concurrency workers back to back (what the hub sustains); Nx:DURATION sends N times what the last max phase sustained")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "workers of max phases and of the baselines")
	fs.IntVar(&c.MaxOutstanding, "max-outstanding", 8192, "requests this client keeps in flight at most in an open phase; past it a request is counted as client_overrun, not sent")
	fs.IntVar(&c.Conns, "conns", 1024, "HTTP connections to the hub at most")
	fs.IntVar(&c.Sources, "sources", 64, "local addresses 127.0.0.1..127.0.0.N the crowd sends from, resident i from address i mod N, as residents come from many addresses (each with its own token): the hub's per-address limit counts each apart")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on each request")
	fs.Float64Var(&c.PlanRate, "plan-rate", 30000, "reservations/s assumed for max phases when planning how many rounds to open")
	fs.StringVar(&c.SKU, "sku", "MASK_ADULT", "the supply of the rounds")
	fs.IntVar(&c.PerPerson, "per-person", 1, "units per reservation")
	fs.IntVar(&c.MaxK, "max-k", 3, "rings a reservation searches")
	fs.IntVar(&c.Restock, "restock", 5000, "units of -sku added to every pharmacy before the run (0: none), so that reservations are allocated rather than left waiting")
	fs.StringVar(&c.ResidentPrefix, "resident-prefix", "tpe", "prefix of the demo city's resident IDs (PREFIX-r0000001, ...)")
	fs.IntVar(&c.Residents, "residents", 0, "residents to reserve for (0: every resident of the city)")
	fs.Uint64Var(&c.Seed, "seed", 2020, "seed of the order residents reserve in")
	fs.Float64Var(&c.DashboardRate, "dashboard-rate", 20, "district dashboard queries per second during the phases: a district's cells, residents and pharmacies' stock (0: none)")
	fs.Float64Var(&c.ReportRate, "report-rate", 0.2, "fairness reports per second during the phases: round(id) { cells { ... } } of the round being filled, which reads the whole round (0: none)")
	fs.IntVar(&c.Subscribers, "subscribers", 50, "WebSocket subscribers of stockChanged, one district each in turn (0: none)")
	fs.DurationVar(&c.BaselineDuration, "baseline", 5*time.Second, "duration of each baseline (raw net/http, the hub's /healthz, the trivial query)")
	fs.BoolVar(&c.RawBaseline, "raw-baseline", true, "measure a raw net/http server in a child process as a baseline")
	fs.IntVar(&c.Reference, "reference", 0, "the phase whose p99 the others are compared with (the unloaded one)")
	c.clientOptions.flags(fs, "this client's GOGC")
}

// check reads -phases and checks the other values.
func (c *ReserveConfig) check() ([]Phase, error) {
	phases, err := ParsePhases(c.Phases)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Concurrency < 1 || c.MaxOutstanding < 1 || c.Conns < 1:
		return nil, errors.New("-concurrency, -max-outstanding and -conns must be at least 1")
	case c.Sources < 1 || c.Sources > 250:
		return nil, errors.New("-sources must be within [1, 250]")
	case c.Reference < 0 || c.Reference >= len(phases):
		return nil, fmt.Errorf("-reference %d: there are %d phases", c.Reference, len(phases))
	case c.PerPerson < 1 || c.MaxK < 0 || c.Restock < 0 || c.Residents < 0 || c.Subscribers < 0 || c.DashboardRate < 0 || c.ReportRate < 0:
		return nil, errors.New("-per-person must be positive; -max-k, -restock, -residents, -subscribers, -dashboard-rate and -report-rate not negative")
	}
	return phases, nil
}

func reserveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c ReserveConfig
	if err := parseFlags("reserve", args, stdout, stderr, c.flags); err != nil {
		return err
	}
	phases, err := c.check()
	if err != nil {
		return cli.Usage(err)
	}
	l := &reserveLoad{cfg: c, phases: phases, hubSession: hubSession{log: stderr}}
	return runLoad(ctx, c.clientOptions, stdout, l.run)
}

// reserveLoad is one reserve run.
type reserveLoad struct {
	hubSession
	cfg    ReserveConfig
	phases []Phase

	residents []string // IDs
	tokens    []string // RESIDENT tokens, by resident
	order     []int    // the order residents reserve in, within a round
	rounds    []string
	districts []string
	distToken []string // DISTRICT tokens, by district
	// crowd holds an HTTP client per source address: resident i sends
	// from crowd[i mod len(crowd)].
	crowd []*http.Client
	// next numbers the reservations: number k is resident order[k mod
	// n] in round k div n, so no pair is asked twice.
	next atomic.Int64
}

// The operations of a reserve run, beside trivialQuery and
// restockMutation.
const (
	reserveMutation = `mutation($r: ID!, $p: ID!, $k: String) { reserve(input: {roundId: $r, residentId: $p, idempotencyKey: $k}) { reservation { id status } allocation { id } } }`
	districtQuery   = `query($d: ID!) { district(id: $d) { cellCount residentCount pharmacies { id stock { sku quantity } } } }`
	roundQuery      = `query($r: ID!) { round(id: $r) { status cells { cell requests demand served } } }`
)

var (
	reserveQueryJSON, _ = json.Marshal(reserveMutation)
	trivialBody, _      = json.Marshal(map[string]string{"query": trivialQuery})
)

func (l *reserveLoad) run(ctx context.Context) (*ReserveReport, error) {
	cfg := l.cfg
	start := time.Now()
	rep := &ReserveReport{Date: start.Format(time.RFC3339), Cores: runtime.NumCPU(), Config: cfg, LoadAvgStart: loadAverage()}
	defer l.close()
	if err := l.setup(ctx, rep); err != nil {
		return nil, err
	}
	cpu := startMark(l.proc)

	// Baselines, the hub idle.
	if cfg.RawBaseline {
		l.progress("baseline: raw net/http in a child process, %d workers, %s", cfg.Concurrency, cfg.BaselineDuration)
		raw, err := startRawServer()
		if err != nil {
			return nil, err
		}
		rawCPU := &proc{pid: raw.PID}
		rep.RawHTTP = l.closedLoop(ctx, "raw", rawCPU, func(ctx context.Context, w int) string {
			return l.post(ctx, l.from(w), raw.URL+"/graphql", "", trivialBody)
		})
		raw.Stop()
	}
	l.progress("baseline: the hub's /healthz and the trivial query %s, %d workers, %s each", trivialQuery, cfg.Concurrency, cfg.BaselineDuration)
	rep.Healthz = l.closedLoop(ctx, "healthz", l.proc, func(ctx context.Context, w int) string {
		return l.get(ctx, l.from(w), l.hub.base.String()+"/healthz")
	})
	// Worker w asks as resident w, from that resident's address.
	rep.Trivial = l.closedLoop(ctx, "trivial", l.proc, func(ctx context.Context, w int) string {
		r := w % len(l.tokens)
		return l.post(ctx, l.from(r), l.hub.gql, l.tokens[r], trivialBody)
	})
	rep.HubBefore = l.hubFigures(ctx)

	// Subscribers, the sampler, then the phases.
	var subs *stockSubs
	if cfg.Subscribers > 0 {
		var err error
		l.progress("opening %d stockChanged subscribers", cfg.Subscribers)
		if subs, err = openStockSubs(ctx, l.hub.ws, l.districts, l.distToken, cfg.Subscribers, cfg.Timeout, &l.errs); err != nil {
			return nil, err
		}
		defer subs.close()
		rep.Subscribed = len(subs.conns)
	}
	samp := startSampler(ctx, l.hub, l.proc)
	defer samp.stop()

	lastMax := 0.0
	for i, ph := range l.phases {
		if ctx.Err() != nil {
			break
		}
		rate := ph.Rate
		if ph.Times != 0 {
			rate = ph.Times * lastMax
		}
		res := l.runPhase(ctx, i, ph, rate, samp, subs)
		if ph.Closed {
			lastMax = res.AckedPerSec
		}
		rep.Phases = append(rep.Phases, res)
	}
	// Stragglers of open phases have answered by now (runPhase waits
	// for its requests); give the hub a moment, then its state at rest.
	time.Sleep(2 * time.Second)
	rep.HubAfter = l.hubFigures(ctx)
	if subs != nil {
		rep.SubscriberErrors = subs.fl.lost.Load()
	}
	rep.Errors = l.errs.Kinds()
	hub, self, others, ok := cpu.since()
	rep.ClientCPU = self
	if ok {
		rep.HubCPU, rep.OthersCPU = hub, others
	}
	rep.ClientRSS, _, _ = proc{pid: os.Getpid()}.RSS()
	rep.Elapsed = time.Since(start)
	rep.LoadAvgEnd = loadAverage()
	return rep, nil
}

// setup finds the hub's process, mints the tokens, finds the residents,
// restocks the pharmacies and opens the rounds.
func (l *reserveLoad) setup(ctx context.Context, rep *ReserveReport) error {
	cfg := l.cfg
	need := uint64(cfg.Conns + cfg.Subscribers + cfg.Concurrency + 256)
	if soft, hard, err := raiseNoFile(need); err != nil {
		return err
	} else if soft < need {
		return fmt.Errorf("this process's RLIMIT_NOFILE is %d (hard %d), below the %d that -conns %d needs", soft, hard, need, cfg.Conns)
	}
	hub, err := newHubClient(cfg.URL, cfg.Conns)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        cfg.Conns,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	hub.http = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	closers := []func(){tr.CloseIdleConnections}
	per := (cfg.Conns + cfg.Sources - 1) / cfg.Sources
	for i := range cfg.Sources {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))}
		ctr := &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        per,
			MaxIdleConnsPerHost: per,
			MaxConnsPerHost:     per,
			IdleConnTimeout:     30 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: src}).DialContext,
		}
		l.crowd = append(l.crowd, &http.Client{Transport: ctr, Timeout: cfg.Timeout})
		closers = append(closers, ctr.CloseIdleConnections)
	}
	hub.close = func() {
		for _, c := range closers {
			c()
		}
	}
	rep.Sources = cfg.Sources
	rep.Hub = hub.base.String()
	if rep.HubPID = l.attach(hub, cfg.HubPID); rep.HubPID == 0 {
		rep.Notes = append(rep.Notes, noHubProcessNote)
	}
	if err := l.mintAdmin(cfg.hubTarget, 4*time.Hour); err != nil {
		return err
	}

	var city struct {
		Districts []struct {
			ID            string `json:"id"`
			ResidentCount int    `json:"residentCount"`
			Pharmacies    []struct {
				ID string `json:"id"`
			} `json:"pharmacies"`
		} `json:"districts"`
	}
	if err := hub.Do(ctx, l.admin, `{ districts { id residentCount pharmacies { id } } }`, nil, &city); err != nil {
		return fmt.Errorf("read the city: %w", err)
	}
	total := 0
	var pharmacies []string
	for _, d := range city.Districts {
		total += d.ResidentCount
		l.districts = append(l.districts, d.ID)
		for _, p := range d.Pharmacies {
			pharmacies = append(pharmacies, p.ID)
		}
	}
	n := total
	if cfg.Residents > 0 {
		n = min(n, cfg.Residents)
	}
	if n == 0 || len(pharmacies) == 0 {
		return errors.New("the hub has no residents or no pharmacies: start it with --demo")
	}
	for _, i := range []int{0, n - 1} {
		id := fmt.Sprintf("%s-r%07d", cfg.ResidentPrefix, i+1)
		if err := hub.Do(ctx, l.admin, `query($id: ID!) { resident(id: $id) { id } }`, map[string]any{"id": id}, nil); err != nil {
			return fmt.Errorf("resident %s: %w (the demo city's residents are PREFIX-r0000001...; see -resident-prefix)", id, err)
		}
	}
	rep.Residents, rep.Districts, rep.Pharmacies = n, len(l.districts), len(pharmacies)

	l.progress("minting %d RESIDENT tokens and %d DISTRICT tokens", n, len(l.districts))
	l.residents = make([]string, n)
	l.tokens = make([]string, n)
	for i := range n {
		l.residents[i] = fmt.Sprintf("%s-r%07d", cfg.ResidentPrefix, i+1)
		if l.tokens[i], err = l.minter.Mint("RESIDENT", l.residents[i], "loadtest-"+l.residents[i], 4*time.Hour); err != nil {
			return err
		}
	}
	for _, d := range l.districts {
		tok, err := l.minter.Mint("DISTRICT", d, "loadtest-dashboard-"+d, 4*time.Hour)
		if err != nil {
			return err
		}
		l.distToken = append(l.distToken, tok)
	}
	l.order = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)).Perm(n)

	if cfg.Restock > 0 {
		l.progress("restocking %d pharmacies with %d units of %s", len(pharmacies), cfg.Restock, cfg.SKU)
		var restockErr error
		var mu sync.Mutex
		each(len(pharmacies), 8, func(i int) {
			err := hub.Do(ctx, l.admin, restockMutation,
				map[string]any{"p": pharmacies[i], "s": cfg.SKU, "q": cfg.Restock}, nil)
			if err != nil {
				mu.Lock()
				restockErr = errors.Join(restockErr, err)
				mu.Unlock()
			}
		})
		if restockErr != nil {
			return fmt.Errorf("restock: %w", restockErr)
		}
	}

	// Enough rounds that no resident is asked twice in one.
	planned := 0.0
	for _, p := range l.phases {
		switch {
		case p.Closed:
			planned += cfg.PlanRate * p.Duration.Seconds()
		case p.Times != 0:
			planned += p.Times * cfg.PlanRate * p.Duration.Seconds()
		default:
			planned += p.Rate * p.Duration.Seconds()
		}
	}
	rounds := int(math.Ceil(planned * 1.1 / float64(n)))
	rounds = max(rounds, 1)
	l.progress("opening %d FIRST_COME rounds of %s (%d per person, %d rings) for about %.0f reservations", rounds, cfg.SKU, cfg.PerPerson, cfg.MaxK, planned)
	now := time.Now().UTC()
	tag := strconv.FormatInt(now.Unix(), 36)
	for i := range rounds {
		id := fmt.Sprintf("load-%s-%03d", tag, i)
		err := hub.Do(ctx, l.admin, `mutation($id: ID!, $s: SKU!, $pp: Int!, $k: Int, $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "Load", sku: $s, perPerson: $pp, mode: FIRST_COME, opens: $o, closes: $c, maxK: $k}) { id } }`,
			map[string]any{"id": id, "s": cfg.SKU, "pp": cfg.PerPerson, "k": cfg.MaxK,
				"o": now.Add(-time.Minute).Format(time.RFC3339), "c": now.Add(6 * time.Hour).Format(time.RFC3339)}, nil)
		if err != nil {
			return fmt.Errorf("open round %s: %w", id, err)
		}
		l.rounds = append(l.rounds, id)
	}
	rep.Rounds = len(l.rounds)
	return nil
}

// reserveAnswer is the part of a reserve answer the client reads.
type reserveAnswer struct {
	Data *struct {
		Reserve *struct {
			Reservation struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"reservation"`
			Allocation *struct {
				ID string `json:"id"`
			} `json:"allocation"`
		} `json:"reserve"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// reserveOne sends reservation number k and returns its outcome: the
// reservation's status when the hub acknowledged it, else the kind of
// failure (an extensions.code, http_NNN, a network failure).
func (l *reserveLoad) reserveOne(ctx context.Context, k int64) string {
	n := int64(len(l.residents))
	ri := k / n
	if ri >= int64(len(l.rounds)) {
		return "client_out_of_pairs"
	}
	res := l.order[k%n]
	var b bytes.Buffer
	b.Grow(400)
	b.WriteString(`{"query":`)
	b.Write(reserveQueryJSON)
	b.WriteString(`,"variables":{"r":"`)
	b.WriteString(l.rounds[ri])
	b.WriteString(`","p":"`)
	b.WriteString(l.residents[res])
	b.WriteString(`","k":"lt-`)
	b.WriteString(strconv.FormatInt(k, 36))
	b.WriteString(`"}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.hub.gql, &b)
	if err != nil {
		return "client_error"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.tokens[res])
	resp, err := l.from(res).Do(req)
	if err != nil {
		return netErrorKind(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return netErrorKind(err)
	}
	var ans reserveAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return "http_" + strconv.Itoa(resp.StatusCode)
	}
	if len(ans.Errors) > 0 {
		if c := ans.Errors[0].Extensions.Code; c != "" {
			return c
		}
		return "GRAPHQL_ERROR"
	}
	if resp.StatusCode != http.StatusOK || ans.Data == nil || ans.Data.Reserve == nil || ans.Data.Reserve.Reservation.Status == "" {
		return "http_" + strconv.Itoa(resp.StatusCode)
	}
	return ans.Data.Reserve.Reservation.Status
}

// acknowledged reports whether an outcome is a durable acknowledgement.
func acknowledged(outcome string) bool {
	switch outcome {
	case "ALLOCATED", "WAITING", "PENDING":
		return true
	}
	return false
}

// from is the client resident (or worker) i sends from: the hub's
// client until the crowd's are made.
func (l *reserveLoad) from(i int) *http.Client {
	if len(l.crowd) == 0 {
		return l.hub.http
	}
	return l.crowd[i%len(l.crowd)]
}

// post sends body to url from c and returns "" or the kind of failure.
func (l *reserveLoad) post(ctx context.Context, c *http.Client, url, token string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "client_error"
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return l.do(c, req)
}

func (l *reserveLoad) get(ctx context.Context, c *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "client_error"
	}
	return l.do(c, req)
}

func (l *reserveLoad) do(c *http.Client, req *http.Request) string {
	resp, err := c.Do(req)
	if err != nil {
		return netErrorKind(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return netErrorKind(err)
	}
	if resp.StatusCode != http.StatusOK {
		return "http_" + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// BaselineResult is what a closed loop of one request kind measured.
type BaselineResult struct {
	Name    string        `json:"name"`
	N       int           `json:"n"`
	Errors  []ErrorKind   `json:"errors"`
	Wall    time.Duration `json:"wall_ns"`
	PerSec  float64       `json:"per_sec"`
	Latency Summary       `json:"latency"`
	// ServerCores is the CPU the server used meanwhile, in cores.
	ServerCores float64 `json:"server_cores"`
	ClientCores float64 `json:"client_cores"`
}

// closedLoop runs -concurrency workers sending fn back to back for
// -baseline; fn returns "" on success or the kind of failure.
func (l *reserveLoad) closedLoop(ctx context.Context, name string, server *proc, fn func(ctx context.Context, worker int) string) BaselineResult {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.BaselineDuration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs ErrorCounts
	m := startMark(server)
	var wg sync.WaitGroup
	for w := range l.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				s := time.Now()
				kind := fn(ctx, w)
				if ctx.Err() != nil {
					break // cut by the end of the window: not counted
				}
				if kind != "" {
					errs.Add(kind, "")
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	cpu := m.stop()
	res := BaselineResult{Name: name, N: len(lat), Errors: errs.Kinds(), Wall: cpu.Wall, Latency: Summarize(lat),
		ServerCores: cpu.Hub, ClientCores: cpu.Client}
	res.PerSec = perSecond(res.N, res.Wall)
	l.progress("  %s: %.0f/s, %s; errors %s", name, res.PerSec, res.Latency, formatKinds(res.Errors))
	return res
}

// phaseStats gathers the outcomes of one phase's requests.
type phaseStats struct {
	mu       sync.Mutex
	acked    []time.Duration
	refused  []time.Duration
	outcomes ErrorCounts
	lastDone time.Time
}

func (s *phaseStats) add(outcome string, lat time.Duration, done time.Time) {
	s.outcomes.Add(outcome, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case acknowledged(outcome):
		s.acked = append(s.acked, lat)
	case outcome == "RATE_LIMITED":
		s.refused = append(s.refused, lat)
	}
	if done.After(s.lastDone) {
		s.lastDone = done
	}
}

// runPhase runs one phase and waits for its requests' answers.
func (l *reserveLoad) runPhase(ctx context.Context, i int, ph Phase, rate float64, samp *sampler, subs *stockSubs) ReservePhaseResult {
	cfg := l.cfg
	res := ReservePhaseResult{Phase: ph, Rate: rate, LoadAvgStart: loadAverage()}
	if ph.Closed {
		l.progress("phase %d: max, %d workers, %s", i, cfg.Concurrency, ph.Duration)
	} else {
		l.progress("phase %d: %.0f reservations/s for %s", i, rate, ph.Duration)
	}
	var st phaseStats
	pctx, cancel := context.WithTimeout(ctx, ph.Duration)
	defer cancel()
	m := startMark(l.proc)
	start := time.Now()
	var dash, report *dashboardLoad
	if cfg.DashboardRate > 0 {
		dash = l.startDashboard(pctx, cfg.DashboardRate, l.districtSummary)
	}
	if cfg.ReportRate > 0 {
		report = l.startDashboard(pctx, cfg.ReportRate, l.fairnessReport)
	}
	sent := 0
	overrun := 0
	if ph.Closed {
		var wg sync.WaitGroup
		var total atomic.Int64
		for range cfg.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pctx.Err() == nil {
					s := time.Now()
					out := l.reserveOne(ctx, l.next.Add(1)-1)
					now := time.Now()
					total.Add(1)
					st.add(out, now.Sub(s), now)
				}
			}()
		}
		wg.Wait()
		sent = int(total.Load())
	} else {
		sent, overrun = l.openLoop(pctx, ctx, rate, ph.Duration, &st)
	}
	end := time.Now()
	if dash != nil {
		res.Dashboard = dash.wait()
	}
	if report != nil {
		res.Report = report.wait()
	}
	cpu := m.stop()

	res.Sent, res.ClientOverrun = sent, overrun
	res.Wall = end.Sub(start)
	st.mu.Lock()
	res.Acked = len(st.acked)
	res.Latency = Summarize(st.acked)
	res.Refused = len(st.refused)
	res.RefusedLatency = Summarize(st.refused)
	if !st.lastDone.IsZero() && st.lastDone.After(start) {
		res.Drain = max(0, st.lastDone.Sub(end))
	}
	st.mu.Unlock()
	if overrun > 0 {
		for range overrun {
			st.outcomes.Add("client_overrun", "")
		}
	}
	res.Outcomes = st.outcomes.Kinds()
	res.AckedPerSec = perSecond(res.Acked, res.Wall)
	res.HubCores, res.ClientCores, res.OthersCores = cpu.Hub, cpu.Client, cpu.Others
	res.Hub = samp.window(start, time.Now())
	if subs != nil {
		res.Events, res.EventGaps, res.EventLatency = subs.window(start, time.Now())
	}
	res.LoadAvgEnd = loadAverage()
	l.progress("  %d sent, %d acknowledged (%.0f/s), %d refused; acknowledged %s; outcomes %s",
		res.Sent, res.Acked, res.AckedPerSec, res.Refused, res.Latency, formatKinds(res.Outcomes))
	return res
}

// openLoop sends reservations at rate for d (an open model: each at its
// time, whatever the answers), each on its own goroutine with at most
// -max-outstanding in flight, and waits for the answers. Latency runs
// from a request's scheduled time, so a client that falls behind counts
// against the figures, not for them. pctx ends the sending, ctx the
// requests.
func (l *reserveLoad) openLoop(pctx, ctx context.Context, rate float64, d time.Duration, st *phaseStats) (sent, overrun int) {
	total := int(rate * d.Seconds())
	interval := float64(time.Second) / rate
	sem := make(chan struct{}, l.cfg.MaxOutstanding)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < total && pctx.Err() == nil; {
		due := t0.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-pctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		now := time.Now()
		for ; i < total; i++ {
			sched := t0.Add(time.Duration(float64(i) * interval))
			if sched.After(now) {
				break
			}
			select {
			case sem <- struct{}{}:
			default:
				overrun++
				continue
			}
			sent++
			k := l.next.Add(1) - 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := l.reserveOne(ctx, k)
				done := time.Now()
				<-sem
				st.add(out, done.Sub(sched), done)
			}()
		}
	}
	wg.Wait()
	return sent, overrun
}

// dashboardLoad is the district dashboards' queries during a phase.
type dashboardLoad struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	lat  []time.Duration
	errs ErrorCounts
	n    int
}

// districtSummary is query i of a district dashboard: its district's
// cells, residents and pharmacies' stock.
func (l *reserveLoad) districtSummary(ctx context.Context, i int) error {
	d := i % len(l.districts)
	return l.hub.Do(ctx, l.distToken[d], districtQuery, map[string]any{"d": l.districts[d]}, nil)
}

// fairnessReport is query i of the fairness report: the round being
// filled, cell by cell.
func (l *reserveLoad) fairnessReport(ctx context.Context, i int) error {
	d := i % len(l.districts)
	r := l.rounds[min(int(l.next.Load()/int64(len(l.residents))), len(l.rounds)-1)]
	return l.hub.Do(ctx, l.distToken[d], roundQuery, map[string]any{"r": r}, nil)
}

// startDashboard sends query number 0, 1, 2, ... at rate until ctx ends,
// each on its own goroutine (an open model).
func (l *reserveLoad) startDashboard(ctx context.Context, rate float64, query func(context.Context, int) error) *dashboardLoad {
	dl := &dashboardLoad{}
	interval := time.Duration(float64(time.Second) / rate)
	dl.wg.Add(1)
	go func() {
		defer dl.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			dl.wg.Add(1)
			go func() {
				defer dl.wg.Done()
				s := time.Now()
				err := query(context.WithoutCancel(ctx), i)
				lat := time.Since(s)
				dl.mu.Lock()
				defer dl.mu.Unlock()
				dl.n++
				if err != nil {
					dl.errs.Add(errorKind(err), err.Error())
					return
				}
				dl.lat = append(dl.lat, lat)
			}()
		}
	}()
	return dl
}

// DashboardResult is what the dashboard queries of a phase measured.
type DashboardResult struct {
	N       int         `json:"n"`
	Latency Summary     `json:"latency"`
	Errors  []ErrorKind `json:"errors"`
}

func (dl *dashboardLoad) wait() DashboardResult {
	dl.wg.Wait()
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return DashboardResult{N: dl.n, Latency: Summarize(dl.lat), Errors: dl.errs.Kinds()}
}
