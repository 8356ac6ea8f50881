// Package app is the gridhub program without its process: the
// configuration (Config, from flags and GRIDHUB_* variables), the
// composition of a running hub from it (Program: the store, the event bus,
// the city, dispatch and health-code services, the HTTP server) and the
// commands serve, import, demo, token, replay and ids.
//
// The command in the repository root (server.go) is main: it calls Run
// with the process's arguments, standard streams and environment. The
// end-to-end tests (e2e/) call Run the same way, on a free port and a
// temporary data directory, so they drive the real program.
//
// Configuration comes from flags, each with an environment variable
// (GRIDHUB_ADDR, GRIDHUB_DATA, GRIDHUB_STORE, ...); a flag wins. Exit codes
// follow package cli: 0 done (or help), 1 failure, 2 usage error.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/broker/mongobus"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/gridhub/gridhub/retention"
	"github.com/gridhub/gridhub/stats"
	"github.com/gridhub/gridhub/store"
	"github.com/gridhub/gridhub/store/mongostore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"
)

// SignalContext returns a context cancelled by SIGINT or SIGTERM: the
// context main runs the program in, so that serve drains and closes the
// store on either signal.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

const usage = `usage: gridhub COMMAND [flags]

commands:
  serve    run the hub (default store: embedded, in GRIDHUB_DATA)
  import   import records from CSV or GeoJSON
  demo     seed the demo city into the store and exit
  token    mint an access token for an operator or device
  replay   replay a day of Taiwan's 2020 mask-stock feed as restocks and sales
  ids      report residents stored under non-canonical ID-number spellings (read only)
  compact  rewrite the embedded store's file without the bytes of deleted records (hub stopped)

Run "gridhub COMMAND -h" for a command's flags.
Exit codes: 0 done, 1 failure, 2 usage error.
`

// Run is main without the process: it parses args (without the program's
// name) and runs a command, writing to stdout and stderr and reading the
// environment through getenv. serve returns when ctx is cancelled, after
// draining the server and closing the store; it prints "gridhub listening
// on ADDR" on stdout once it serves. The error's exit code is cli.Code's.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("no command given")
	}
	switch args[0] {
	case "serve":
		return serveCommand(ctx, args[1:], stdout, stderr, getenv)
	case "import":
		return importCommand(ctx, args[1:], stdout, stderr, getenv)
	case "demo":
		return demoCommand(ctx, args[1:], stdout, stderr, getenv)
	case "token":
		return tokenCommand(args[1:], stdout, stderr, getenv)
	case "replay":
		return replayCommand(ctx, args[1:], stdout, stderr, getenv)
	case "ids":
		return idsCommand(ctx, args[1:], stdout, stderr, getenv)
	case "compact":
		return compactCommand(ctx, args[1:], stdout, stderr, getenv)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return cli.Usagef("unknown command %q", args[0])
}

// Config is the hub's configuration.
type Config struct {
	Addr          string
	DataDir       string
	StoreURI      string
	Secret        string
	SecretsBefore string // comma-separated keys the secret replaced
	Demo          bool
	DemoCity      string
	DemoResidents int
	Introspection bool
	MaxBodyBytes  int64
	AllowOrigins  string
	LogLevel      string
	ShutdownGrace time.Duration
	// Pprof, when set, is the loopback address of a separate listener
	// serving Go's runtime profiles (/debug/pprof/).
	Pprof string

	// Cost limits of one operation (see httpapi.Options).
	MaxComplexity          int
	MaxComplexityAnonymous int
	MaxTokens              int
	MaxResponseBytes       int

	JWTSecret     string // HS256 secret, 32+ bytes
	JWTEd25519    string // base64 Ed25519 seed (32 bytes); wins over JWTSecret
	PublicMetrics bool
	// ShowOfficialNames shows residents the name of the official who read
	// their data (access logs, exports); false: role and scope only.
	ShowOfficialNames bool
	RatePerToken      float64
	RatePerAddr       float64
	// TrustedProxies lists the reverse proxies (addresses and CIDR
	// prefixes) whose X-Forwarded-For names the client.
	TrustedProxies string
	MaxInFlight    int // requests served at once (admission control); 0: no bound
	// UnsharedSubscriptions runs every WebSocket subscription on its own;
	// false (the default) lets subscribers that would see the same thing
	// share one execution per event (httpapi.ShareOptions).
	UnsharedSubscriptions bool
	// OverloadLatency is the longest an admitted request waits for a
	// place under an open overload (httpapi.Admission.OverloadLatency).
	OverloadLatency time.Duration

	// HubID names this hub among hubs sharing a MongoDB store.
	HubID string
	// SweepEvery is the period of the dispatch sweeper (expiry, closing
	// rounds): dispatch.EngineOptions.ExpiryEvery, 0 its default. Not a
	// flag: tests shorten it.
	SweepEvery time.Duration

	// Retention are the retention periods of personal records, and
	// RetentionEvery how often this hub deletes those past them (0: never).
	Retention      retention.Periods
	RetentionEvery time.Duration

	// TrustLists names other issuers' trust-list files (comma-separated),
	// merged with this hub's own key so their codes verify here.
	TrustLists string

	// IDForms are the accepted forms of ID number (privacy.ParseForms):
	// "TW,CN,OTHER" when empty.
	IDForms string

	// The other keys, and the files that may hold each key instead of
	// its value (keys.go says which source wins).
	PickupSecret      string // key of pickup codes, 16+ bytes
	CodesSeed         string // hex Ed25519 seed (32 bytes) signing health codes
	SecretFile        string
	SecretsBeforeFile string
	JWTSecretFile     string
	JWTEd25519File    string
	PickupSecretFile  string
	CodesSeedFile     string
	// Rekey names keys whose fingerprint in the store this start replaces
	// (serve -rekey).
	Rekey string
}

// flags binds the configuration shared by every command to fs, with
// defaults from the environment.
func (c *Config) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.DataDir, "data", env("GRIDHUB_DATA", "./data"), "data directory of the embedded store (GRIDHUB_DATA)")
	fs.StringVar(&c.StoreURI, "store", env("GRIDHUB_STORE", ""), "store: empty for the embedded default, or a mongodb:// URI (GRIDHUB_STORE)")
	fs.StringVar(&c.Secret, "secret", env("GRIDHUB_SECRET", ""), "key for ID-number hashes, at least 16 bytes; empty: made once and kept in DATA/secret (GRIDHUB_SECRET)")
	fs.StringVar(&c.SecretsBefore, "secret-previous", env("GRIDHUB_SECRET_PREVIOUS", ""), "comma-separated ID-hash keys that -secret replaced, still recognised (GRIDHUB_SECRET_PREVIOUS)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", env("GRIDHUB_JWT_SECRET", ""), "HS256 key of access tokens, 32+ bytes; empty: made once and kept in DATA/jwt-secret (GRIDHUB_JWT_SECRET)")
	fs.StringVar(&c.JWTEd25519, "jwt-ed25519-seed", env("GRIDHUB_JWT_ED25519_SEED", ""), "base64 Ed25519 seed: sign tokens with EdDSA instead of HS256 (GRIDHUB_JWT_ED25519_SEED)")
	fs.StringVar(&c.PickupSecret, "pickup-secret", env("GRIDHUB_PICKUP_SECRET", ""), "key of pickup codes, at least 16 bytes; empty: made once and kept in DATA/pickup-secret (GRIDHUB_PICKUP_SECRET)")
	fs.StringVar(&c.CodesSeed, "codes-ed25519-seed", env("GRIDHUB_CODES_ED25519_SEED", ""), "hex Ed25519 seed (32 bytes) signing health codes; empty: made once and kept in DATA/codes-ed25519-seed (GRIDHUB_CODES_ED25519_SEED)")
	fs.StringVar(&c.SecretFile, "secret-file", env("GRIDHUB_SECRET_FILE", ""), "file holding -secret, e.g. a mounted secret /run/secrets/...; one trailing newline is trimmed (GRIDHUB_SECRET_FILE)")
	fs.StringVar(&c.SecretsBeforeFile, "secret-previous-file", env("GRIDHUB_SECRET_PREVIOUS_FILE", ""), "file holding -secret-previous, one key a line (GRIDHUB_SECRET_PREVIOUS_FILE)")
	fs.StringVar(&c.JWTSecretFile, "jwt-secret-file", env("GRIDHUB_JWT_SECRET_FILE", ""), "file holding -jwt-secret (GRIDHUB_JWT_SECRET_FILE)")
	fs.StringVar(&c.JWTEd25519File, "jwt-ed25519-seed-file", env("GRIDHUB_JWT_ED25519_SEED_FILE", ""), "file holding -jwt-ed25519-seed (GRIDHUB_JWT_ED25519_SEED_FILE)")
	fs.StringVar(&c.PickupSecretFile, "pickup-secret-file", env("GRIDHUB_PICKUP_SECRET_FILE", ""), "file holding -pickup-secret (GRIDHUB_PICKUP_SECRET_FILE)")
	fs.StringVar(&c.CodesSeedFile, "codes-ed25519-seed-file", env("GRIDHUB_CODES_ED25519_SEED_FILE", ""), "file holding -codes-ed25519-seed (GRIDHUB_CODES_ED25519_SEED_FILE)")
	fs.StringVar(&c.HubID, "hub-id", env("GRIDHUB_HUB_ID", ""), "name of this hub among hubs sharing a MongoDB store; default the host name (GRIDHUB_HUB_ID)")
	fs.StringVar(&c.TrustLists, "trust-lists", env("GRIDHUB_TRUST_LISTS", ""), "comma-separated trust-list JSON files of other issuers (other cities' /trust.json) whose health codes verify here (GRIDHUB_TRUST_LISTS)")
	fs.StringVar(&c.IDForms, "id-forms", env("GRIDHUB_ID_FORMS", privacy.DefaultForms.String()), "accepted forms of ID number, comma-separated: TW (Taiwan national ID), CN (PRC resident ID), OTHER (passport: country code and number) (GRIDHUB_ID_FORMS)")
	fs.StringVar(&c.LogLevel, "log-level", env("GRIDHUB_LOG_LEVEL", "info"), "debug, info, warn or error (GRIDHUB_LOG_LEVEL)")
}

func (c *Config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.LogLevel, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// hasher returns the ID hasher: from the configured secret, or from a key
// made at first start and kept in the data directory, so that hashes (and
// so duplicate detection) survive restarts.
func (c *Config) hasher() (*privacy.Hasher, error) {
	secret, err := c.secretKey()
	if err != nil {
		return nil, err
	}
	keys, err := c.previousKeys()
	if err != nil {
		return nil, err
	}
	var previous [][]byte
	for _, k := range keys {
		previous = append(previous, k.b)
	}
	return privacy.NewHasher(secret.b, previous...)
}

// idForms returns the accepted forms of ID number; a bad list is a usage
// error.
func (c *Config) idForms() (privacy.Forms, error) {
	if strings.TrimSpace(c.IDForms) == "" {
		return privacy.DefaultForms, nil
	}
	f, err := privacy.ParseForms(c.IDForms)
	if err != nil {
		return 0, cli.Usagef("-id-forms: %s", hub.ErrorMessage(err))
	}
	return f, nil
}

// keys returns the access-token keys: EdDSA from a configured seed, or
// HS256 from the configured secret or one made at first start and kept in
// the data directory (so that `gridhub token` mints tokens the server
// accepts, offline, from the same configuration).
func (c *Config) keys() (*auth.Keys, error) {
	k, ed, err := c.jwtKey()
	if err != nil {
		return nil, err
	}
	if ed {
		priv := ed25519.NewKeyFromSeed(k.b)
		return auth.Ed25519Keys(priv, priv.Public().(ed25519.PublicKey), nil)
	}
	return auth.HMACKeys(k.b, nil)
}

// secret returns the key kept in DATA/name, made (32 random bytes, hex)
// at first use.
func (c *Config) secret(name string) ([]byte, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(c.DataDir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make %s: %w", name, err)
		}
		b = []byte(hex.EncodeToString(key))
		if err := writeFileSync(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("keep %s: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

func writeFileSync(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Program is a running hub: its store, its city and its HTTP server.
//
// Store and Bus, when set before Open, are taken as given and neither
// opened nor closed by the program: several hubs in one process (the
// end-to-end test of two hubs) share one store and one bus so. Bus must
// then deliver in this process through a *broker.Broker (broker.LocalOf):
// a *broker.Broker, or the MongoDB bus. Left nil, Open opens them from
// Config, as serve does.
//
// Every in-memory view of the hub (the dashboards' counters, the city's
// area indexes, pharmacy locator and last restocks, the dispatch
// engine's book) is a view on the bus's local broker (broker.Broker.View):
// it follows every event of every hub sharing the bus, its own by the
// same path, and is rebuilt from the store when the bus reports events
// it could not deliver (RebuildViews).
type Program struct {
	Config   Config
	Log      *slog.Logger
	Store    hub.Store
	City     *city.Service
	Dispatch *dispatch.Engine
	Codes    *codes.Service
	// Retention sweeps expired personal records and keeps legal holds.
	Retention *retention.Service
	Bus       broker.Bus
	Stats     *stats.Tally  // the dashboards' counters
	Events    hub.Publisher // where the services publish: the Bus
	Keys      *auth.Keys
	Registry  *prometheus.Registry

	ownStore, ownBus bool     // opened here, so closed here
	views            []func() // removes each view from the bus

	listener net.Listener
	server   *http.Server
	pprof    *http.Server

	stopSweep func()        // ends the retention sweep (StartSweep)
	sweepDone chan struct{} // closed when it has ended
}

// Open opens the hub's store (unless given), bus (unless given) and
// services, ready to Serve. Close releases what it opened.
func (p *Program) Open(ctx context.Context) error {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	return p.open(ctx)
}

// closeOwn releases what open opened, on a failed open.
func (p *Program) closeOwn() {
	p.removeViews()
	if p.ownBus && p.Bus != nil {
		_ = p.Bus.Close()
	}
	if p.ownStore && p.Store != nil {
		_ = p.Store.Close()
	}
}

// view adds v to the views of the bus's local broker.
func (p *Program) view(v broker.View) {
	p.views = append(p.views, broker.LocalOf(p.Bus).View(v))
}

func (p *Program) removeViews() {
	for _, remove := range p.views {
		remove()
	}
	p.views = nil
}

// RebuildViews reads every view afresh from the store: what the hub does
// when its bus reports events it did not deliver (a gap). Events of
// other hubs written while a view reads the store may be counted twice or
// not at all in it until the next rebuild.
func (p *Program) RebuildViews(ctx context.Context) error {
	var errs []error
	if p.Stats != nil {
		errs = append(errs, p.Stats.Load(ctx, p.Store))
	}
	if p.City != nil {
		errs = append(errs, p.City.Rebuild(ctx))
	}
	if p.Dispatch != nil {
		errs = append(errs, p.Dispatch.RefreshPharmacies(ctx))
	}
	return errors.Join(errs...)
}

// open opens the store and the city service.
func (p *Program) open(ctx context.Context) error {
	fps, err := p.Config.fingerprints()
	if err != nil {
		return err
	}
	rekey, err := rekeyNames(p.Config.Rekey)
	if err != nil {
		return err
	}
	for _, w := range p.Config.keyFileWarnings() {
		p.Log.Warn(w)
	}
	h, err := p.Config.hasher()
	if err != nil {
		return err
	}
	forms, err := p.Config.idForms()
	if err != nil {
		return err
	}
	if p.Keys, err = p.Config.keys(); err != nil {
		return err
	}
	if p.Store == nil {
		if p.Store, err = store.Open(ctx, p.Config.StoreURI, p.Config.DataDir); err != nil {
			return err
		}
		p.ownStore = true
	}
	if err := checkKeys(ctx, p.Store, fps, rekey, p.Log); err != nil {
		p.closeOwn()
		return err
	}
	p.Registry = prometheus.NewRegistry()
	p.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if p.Bus == nil {
		if p.Bus, err = p.openBus(ctx); err != nil {
			p.closeOwn()
			return err
		}
		p.ownBus = true
	}
	if broker.LocalOf(p.Bus) == nil {
		p.closeOwn()
		return fmt.Errorf("the event bus %T delivers through no local broker", p.Bus)
	}
	p.Events = p.Bus
	// Each view joins the bus before the service that feeds it can
	// publish, and after it read the store: the engine's recovery at
	// start publishes, and the counters must count it.
	p.Stats = stats.New(stats.Options{})
	if err := p.Stats.Load(ctx, p.Store); err != nil {
		p.closeOwn()
		return fmt.Errorf("load dashboard counters: %w", err)
	}
	p.view(p.Stats)
	p.Registry.MustRegister(httpapi.NewDomainCollector(p.Stats))
	p.City, err = city.New(ctx, p.Store, h, city.Options{Events: p.Events, FedByBus: true, IDForms: forms})
	if err != nil {
		p.closeOwn()
		return fmt.Errorf("load city: %w", err)
	}
	p.view(p.City)
	codeKey, err := p.Config.pickupKey()
	if err != nil {
		p.closeOwn()
		return err
	}
	if p.Codes, err = p.openCodes(); err != nil {
		p.closeOwn()
		return err
	}
	if p.Retention, err = retention.New(retention.Options{Store: p.Store, Periods: p.Config.Retention, Now: p.City.Now, Log: p.Log, Events: p.Events}); err != nil {
		p.Store.Close()
		return err
	}
	p.Dispatch, err = dispatch.NewEngine(ctx, p.Store, dispatch.EngineOptions{
		CodeKey: codeKey.b, Log: p.Log, Events: p.Events, HealthColour: p.Codes.GateColour,
		ExpiryEvery: p.Config.SweepEvery, FedByBus: true,
	})
	if err != nil {
		p.closeOwn()
		return fmt.Errorf("load dispatch: %w", err)
	}
	p.view(p.Dispatch)
	return nil
}

// openBus starts the event bus: in process for the embedded store, on the
// store's change streams for MongoDB, so that an event published by one
// hub reaches the subscribers of every hub sharing the store.
func (p *Program) openBus(ctx context.Context) (broker.Bus, error) {
	opts := broker.Options{Metrics: httpapi.NewEventMetrics(p.Registry)}
	ms, ok := p.Store.(*mongostore.Store)
	if !ok {
		return broker.New(opts), nil
	}
	onGap := func(g mongobus.Gap) {
		// The views missed events: read them afresh.
		if err := p.RebuildViews(context.Background()); err != nil {
			p.Log.Error("rebuild the views after a gap on the bus", "err", err)
		}
	}
	onReplayed := func(int) {
		// Events whose effects the views read from the store at start
		// came again: read them afresh.
		if err := p.RebuildViews(context.Background()); err != nil {
			p.Log.Error("rebuild the views after a replay on the bus", "err", err)
		}
	}
	bus, err := mongobus.New(ctx, ms.Database(), mongobus.Options{Broker: opts, HubID: p.Config.HubID, Log: p.Log, OnGap: onGap, OnReplayed: onReplayed})
	if err != nil {
		return nil, fmt.Errorf("open the event bus: %w", err)
	}
	return bus, nil
}

// openCodes starts the health codes: this hub signs them with the Ed25519
// seed it is given, or one made at first start and kept in the data
// directory.
func (p *Program) openCodes() (*codes.Service, error) {
	seed, err := p.Config.codesSeed()
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed.b)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	issuer, err := token.NewIssuer("gridhub", hex.EncodeToString(sum[:4]), priv, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	svc, err := codes.New(codes.Options{Store: p.Store, Issuer: issuer, Publisher: p.Events, Log: p.Log})
	if err != nil {
		return nil, err
	}
	if tl, err := p.Config.trustLists(svc.TrustList()); err != nil {
		return nil, err
	} else if tl != nil {
		svc.SetTrustList(tl)
	}
	return svc, nil
}

// trustLists merges the trust lists named in TrustLists into own; nil
// when there are none.
func (c *Config) trustLists(own *token.TrustList) (*token.TrustList, error) {
	lists := []*token.TrustList{own}
	for _, name := range strings.Split(c.TrustLists, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("trust list: %w", err)
		}
		tl, err := token.ParseTrustList(b)
		if err != nil {
			return nil, fmt.Errorf("trust list %s: %w", name, err)
		}
		lists = append(lists, tl)
	}
	if len(lists) == 1 {
		return nil, nil
	}
	tl, err := token.Merge(lists...)
	if err != nil {
		return nil, fmt.Errorf("trust lists: %w", err)
	}
	return tl, nil
}

// trustJSON serves the trust list as a static JSON document, for
// checkpoint devices and other cities' hubs.
func (p *Program) trustJSON(w http.ResponseWriter, r *http.Request) {
	b, err := p.Codes.TrustList().MarshalJSON()
	if err != nil {
		p.Log.Error("trust list", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// Serve starts listening and serving; it returns once the listener is up.
func (p *Program) Serve(ctx context.Context) error {
	reg := p.Registry
	var origins []string
	if p.Config.AllowOrigins != "" {
		origins = strings.Split(p.Config.AllowOrigins, ",")
	}
	proxies, err := httpapi.ParseProxies(p.Config.TrustedProxies)
	if err != nil {
		return err
	}
	res := &resolvers.Resolver{City: p.City, Dispatch: p.Dispatch, Bus: p.Bus, Codes: p.Codes, Retention: p.Retention, Stats: p.Stats, ShowOfficialNames: p.Config.ShowOfficialNames}
	h := httpapi.New(httpapi.Options{
		Schema:        res.Batched(graph.NewExecutableSchema(graph.Config{Resolvers: res, Complexity: resolvers.Complexity()})),
		Verifier:      p.Keys,
		Authorize:     res.Authorize(),
		PublicMetrics: p.Config.PublicMetrics,
		TrustList:     http.HandlerFunc(p.trustJSON),
		Limits: httpapi.RateLimits{
			PerToken: rate.Limit(p.Config.RatePerToken), TokenBurst: int(2 * p.Config.RatePerToken),
			PerAddress: rate.Limit(p.Config.RatePerAddr), AddrBurst: int(2 * p.Config.RatePerAddr),
			TrustedProxies: proxies,
		},
		ErrorPresenter: resolvers.ErrorPresenter(p.Log),
		Recover:        resolvers.Recover(p.Log),
		Logger:         p.Log,
		Registry:       reg,
		Health:         p.Store.Ping,
		MaxBodyBytes:   p.Config.MaxBodyBytes,
		Introspection:  p.Config.Introspection,
		PickupQR:       httpapi.PickupQR(p.Keys, p.pickupCode, p.Log),
		HealthQR:       httpapi.HealthQR(p.Keys, p.healthCode, p.Log),
		Export:         httpapi.Export(p.Keys, p.export, p.Log),
		OpenData:       p.openData(ctx),
		WS:             httpapi.WSOptions{AllowedOrigins: origins, Share: p.shareOptions(reg)},
		Admission:      httpapi.Admission{MaxInFlight: p.Config.MaxInFlight, OverloadLatency: p.Config.OverloadLatency},

		MaxComplexity:          p.Config.MaxComplexity,
		MaxComplexityAnonymous: p.Config.MaxComplexityAnonymous,
		MaxTokens:              p.Config.MaxTokens,
		MaxResponseBytes:       p.Config.MaxResponseBytes,
	})
	ln, err := net.Listen("tcp", p.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	p.listener = ln
	p.server = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := p.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.Log.Error("serve", "err", err)
		}
	}()
	if p.Config.Pprof != "" {
		if err := p.servePprof(); err != nil {
			return err
		}
	}
	return nil
}

// shareOptions is what the WebSocket transport shares between
// subscribers (nil: nothing), its gauges registered with reg.
func (p *Program) shareOptions(reg *prometheus.Registry) *httpapi.ShareOptions {
	if p.Config.UnsharedSubscriptions {
		return nil
	}
	fields, unshared := resolvers.SharedSubscriptions()
	o := &httpapi.ShareOptions{Fields: fields, Unshared: unshared}
	if reg != nil {
		o.Registry = reg
	}
	return o
}

// servePprof serves Go's runtime profiles on the loopback address
// Config.Pprof, apart from the hub's own port.
func (p *Program) servePprof() error {
	if err := httpapi.CheckLoopback(p.Config.Pprof); err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	ln, err := net.Listen("tcp", p.Config.Pprof)
	if err != nil {
		return fmt.Errorf("pprof: listen: %w", err)
	}
	p.pprof = &http.Server{Handler: httpapi.Profiler(), ReadHeaderTimeout: 10 * time.Second}
	p.Log.Info("profiles served", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	go func() {
		if err := p.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.Log.Error("pprof", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the hub listens on.
func (p *Program) Addr() string { return p.listener.Addr().String() }

// pickupCode is the lookup of the pickup QR image (httpapi.PickupQR): the
// code of an allocation for the resident it is for, and no one else, not
// even ADMIN (as Allocation.pickupCode). Any other role is FORBIDDEN
// before the allocation is read, so that it cannot probe which
// allocations exist; an unknown allocation is NOT_FOUND, another
// resident's FORBIDDEN.
func (p *Program) pickupCode(ctx context.Context, who auth.Principal, allocationID string) (string, error) {
	if who.Role != auth.Resident {
		return "", hub.Errorf(hub.EFORBIDDEN, "a pickup code is shown to its resident only, not to a %s token", who.Role)
	}
	a, err := p.Store.Allocation(ctx, allocationID)
	if err != nil {
		return "", err
	}
	if !who.Is(auth.Resident, a.ResidentID) {
		return "", hub.Errorf(hub.EFORBIDDEN, "that pickup code is another resident's")
	}
	return p.Dispatch.PickupCode(a).String(), nil
}

// healthCode is the lookup of the health code's QR image
// (httpapi.HealthQR): the resident's code freshly signed, for the resident,
// their committee or an ADMIN, the scope of Query.healthCode. Other roles
// are FORBIDDEN before anything is read.
func (p *Program) healthCode(ctx context.Context, who auth.Principal, residentID string) (string, error) {
	if who.Role != auth.Admin {
		if err := resolvers.ResidentInScope(ctx, p.Store, who, residentID); err != nil {
			return "", err
		}
	}
	c, err := p.Codes.Code(ctx, residentID)
	if err != nil {
		return "", err
	}
	return c.Token, nil
}

// export is the lookup of /me/export.json (httpapi.Export): everything
// the hub holds about the resident of a RESIDENT token. Other roles are
// FORBIDDEN before anything is read.
func (p *Program) export(ctx context.Context, who auth.Principal) (any, error) {
	if who.Role != auth.Resident || who.Scope == "" {
		return nil, hub.Errorf(hub.EFORBIDDEN, "an export is for a resident's own token, not a %s token", who.Role)
	}
	return exportOf(ctx, p.Store, p.Dispatch.PickupCode, p.City.Now(), who.Scope, p.Config.ShowOfficialNames)
}

// StartSweep runs the retention sweep on this hub every Config.RetentionEvery
// (never when it is 0), until ctx ends or Close.
func (p *Program) StartSweep(ctx context.Context) {
	if p.Config.RetentionEvery <= 0 {
		return
	}
	ctx, p.stopSweep = context.WithCancel(ctx)
	p.sweepDone = make(chan struct{})
	go func() {
		defer close(p.sweepDone)
		p.Retention.Run(ctx, p.Config.RetentionEvery)
	}()
}

// Close drains the server within the grace period and closes the store
// and the bus, unless they were given (Program).
func (p *Program) Close() error {
	var errs []error
	if p.stopSweep != nil {
		p.stopSweep()
		<-p.sweepDone
	}
	p.removeViews()
	if p.Bus != nil && p.ownBus {
		// Ends every subscription first, so that their streams (SSE,
		// WebSocket) close instead of holding the drain open.
		_ = p.Bus.Close()
	}
	if p.pprof != nil {
		_ = p.pprof.Close()
	}
	if p.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.Config.ShutdownGrace)
		defer cancel()
		if err := p.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	if p.Dispatch != nil {
		if err := p.Dispatch.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dispatch: %w", err))
		}
	}
	if p.Store != nil && p.ownStore {
		if err := p.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c, err := ServeConfig(args, stdout, stderr, getenv)
	if err != nil {
		return err
	}
	return serve(ctx, c, stdout, stderr)
}

// ServeConfig parses the flags of serve (args, without the command's
// name) with defaults from getenv, as serve does: the configuration of a
// Program that a caller opens itself (Program.Open).
func ServeConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envBool := func(name string, def bool) bool {
		b, err := strconv.ParseBool(env(name, strconv.FormatBool(def)))
		return err == nil && b
	}
	envFloat := func(name string, def float64) float64 {
		f, err := strconv.ParseFloat(env(name, ""), 64)
		if err != nil {
			return def
		}
		return f
	}
	fs.StringVar(&c.Addr, "addr", env("GRIDHUB_ADDR", ":8080"), "listen address (GRIDHUB_ADDR)")
	fs.BoolVar(&c.Demo, "demo", envBool("GRIDHUB_DEMO", false), "seed the demo city and its demo day when the store does not hold them yet (GRIDHUB_DEMO)")
	fs.StringVar(&c.DemoCity, "demo-city", env("GRIDHUB_DEMO_CITY", "taipei"), "demo city: taipei or taiwan (GRIDHUB_DEMO_CITY)")
	fs.IntVar(&c.DemoResidents, "demo-residents", 0, "residents in the demo city (0: the demo's default, 50,000 for taipei)")
	fs.BoolVar(&c.Introspection, "introspection", envBool("GRIDHUB_INTROSPECTION", true), "allow schema introspection (GRIDHUB_INTROSPECTION)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body", httpapi.DefaultMaxBodyBytes, "largest request body in bytes")
	fs.IntVar(&c.MaxComplexity, "max-complexity", int(envFloat("GRIDHUB_MAX_COMPLEXITY", httpapi.DefaultMaxComplexity)), "cost budget of one operation of a caller with a token: one per field of the answer, lists counting their items (GRIDHUB_MAX_COMPLEXITY)")
	fs.IntVar(&c.MaxComplexityAnonymous, "max-complexity-anonymous", int(envFloat("GRIDHUB_MAX_COMPLEXITY_ANONYMOUS", httpapi.DefaultMaxComplexityAnonymous)), "cost budget of one operation of a caller without a token (GRIDHUB_MAX_COMPLEXITY_ANONYMOUS)")
	fs.IntVar(&c.MaxTokens, "max-tokens", int(envFloat("GRIDHUB_MAX_TOKENS", httpapi.DefaultMaxTokens)), "lexical tokens of one GraphQL document, counted before it is parsed (GRIDHUB_MAX_TOKENS)")
	fs.IntVar(&c.MaxResponseBytes, "max-response-bytes", int(envFloat("GRIDHUB_MAX_RESPONSE_BYTES", httpapi.DefaultMaxResponseBytes)), "largest answer in bytes; a larger one is replaced by a RESPONSE_TOO_LARGE error (GRIDHUB_MAX_RESPONSE_BYTES)")
	fs.StringVar(&c.AllowOrigins, "allow-origins", env("GRIDHUB_ALLOW_ORIGINS", ""), "comma-separated extra origins allowed to open WebSockets (GRIDHUB_ALLOW_ORIGINS)")
	fs.BoolVar(&c.PublicMetrics, "public-metrics", envBool("GRIDHUB_PUBLIC_METRICS", true), "serve /metrics without a token; false: ADMIN token needed (GRIDHUB_PUBLIC_METRICS)")
	fs.BoolVar(&c.ShowOfficialNames, "show-official-names", envBool("GRIDHUB_SHOW_OFFICIAL_NAMES", false), "show residents the name of the official who read their data; false: the reader's role and scope only (GRIDHUB_SHOW_OFFICIAL_NAMES)")
	fs.Float64Var(&c.RatePerToken, "rate-per-token", envFloat("GRIDHUB_RATE_PER_TOKEN", 200), "requests per second one token may send, 0 for no limit (GRIDHUB_RATE_PER_TOKEN)")
	fs.Float64Var(&c.RatePerAddr, "rate-per-address", envFloat("GRIDHUB_RATE_PER_ADDRESS", 500), "requests per second one client address may send, 0 for no limit (GRIDHUB_RATE_PER_ADDRESS)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", int(envFloat("GRIDHUB_MAX_IN_FLIGHT", httpapi.DefaultMaxInFlight)), "requests served at once at most; below it the limit follows the measured latency (500ms on average), past it a request waits if its estimated wait is under 1s and is refused at once otherwise with RATE_LIMITED (HTTP 503), 0 for no bound (GRIDHUB_MAX_IN_FLIGHT)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time to drain requests on SIGTERM")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", env("GRIDHUB_TRUSTED_PROXIES", ""), "comma-separated addresses and CIDR prefixes of the reverse proxies in front of the hub, whose X-Forwarded-For names the client for the per-address limit (GRIDHUB_TRUSTED_PROXIES)")
	fs.StringVar(&c.Rekey, "rekey", "", "comma-separated keys (secret, jwt, pickup-secret, codes-ed25519-seed) whose fingerprint in the store this start replaces with its own: once, on one hub, to change a key on purpose")
	share := fs.Bool("share-subscriptions", envBool("GRIDHUB_SHARE_SUBSCRIPTIONS", true), "let WebSocket subscribers with the same operation, variables, role and scope share one execution and one encoded message per event; false: each runs its own (GRIDHUB_SHARE_SUBSCRIPTIONS)")
	fs.StringVar(&c.Pprof, "pprof", env("GRIDHUB_PPROF", ""), "loopback address (127.0.0.1:6060) to serve Go's runtime profiles on, at /debug/pprof/; empty: off (GRIDHUB_PPROF)")
	var badEnv []string
	envDuration := func(name string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(env(name, def.String()))
		if err != nil {
			badEnv = append(badEnv, name)
			return def
		}
		return d
	}
	fs.DurationVar(&c.OverloadLatency, "overload-latency", envDuration("GRIDHUB_OVERLOAD_LATENCY", httpapi.DefaultOverloadLatency), "under an open overload (requests arriving faster than the hub completes them, window after window), the longest an admitted request waits for a place, while the limit climbs to where the hub completes the most; the excess is refused at once with RATE_LIMITED (GRIDHUB_OVERLOAD_LATENCY)")
	fs.DurationVar(&c.Retention.Scans, "retain-scans", envDuration("GRIDHUB_RETAIN_SCANS", retention.DefaultScans), "how long checkpoint scans (and so trajectories and contacts) are kept, and case marks after the later mark, 0 for ever (GRIDHUB_RETAIN_SCANS)")
	fs.DurationVar(&c.Retention.Declarations, "retain-declarations", envDuration("GRIDHUB_RETAIN_DECLARATIONS", retention.DefaultDeclarations), "how long health declarations are kept, and a health code no declaration or case mark is left for, 0 for ever (GRIDHUB_RETAIN_DECLARATIONS)")
	fs.DurationVar(&c.Retention.Dispatch, "retain-dispatch", envDuration("GRIDHUB_RETAIN_DISPATCH", retention.DefaultDispatch), "how long reservations and allocations are kept after their round closed, and shortage registrations after they were served or registered, 0 for ever (GRIDHUB_RETAIN_DISPATCH)")
	fs.DurationVar(&c.Retention.Audit, "retain-audit", envDuration("GRIDHUB_RETAIN_AUDIT", retention.DefaultAudit), "how long audit entries of reads of personal data are kept, 0 for ever (GRIDHUB_RETAIN_AUDIT)")
	fs.DurationVar(&c.RetentionEvery, "sweep-every", envDuration("GRIDHUB_SWEEP_EVERY", retention.DefaultEvery), "how often this hub deletes records past their retention period (the first time a minute after start, or one period if shorter), 0 for never (GRIDHUB_SWEEP_EVERY)")
	fs.Usage = usageFunc(fs, "gridhub serve [flags]", "Runs the hub: GraphQL on /graphql, GraphiQL on /, /healthz, /metrics.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return c, cli.Usagef("serve takes no arguments, got %q", fs.Args())
	}
	c.UnsharedSubscriptions = !*share
	if _, err := httpapi.ParseProxies(c.TrustedProxies); err != nil {
		return c, cli.Usagef("-trusted-proxies: %v", err)
	}
	if len(badEnv) > 0 {
		return c, cli.Usagef("%s: not a duration (e.g. 672h)", strings.Join(badEnv, ", "))
	}
	if err := c.Retention.Check(); err != nil || c.RetentionEvery < 0 {
		return c, cli.Usagef("-retain-* and -sweep-every must not be negative")
	}
	if _, err := rekeyNames(c.Rekey); err != nil {
		return c, err
	}
	if c.Pprof != "" {
		if err := httpapi.CheckLoopback(c.Pprof); err != nil {
			return c, cli.Usagef("-pprof: %v: the profiles are served on this machine only", err)
		}
	}
	return c, nil
}

// serve runs the hub of configuration c until ctx ends.
func serve(ctx context.Context, c Config, stdout, stderr io.Writer) error {
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	p := &Program{Config: c, Log: log}
	if err := p.open(ctx); err != nil {
		return err
	}
	if c.Demo {
		if err := seedDemoWithDay(ctx, p, c.DemoCity, c.DemoResidents, stderr); err != nil {
			p.Close()
			return fmt.Errorf("demo city: %w", err)
		}
		if err := p.Dispatch.RefreshPharmacies(ctx); err != nil {
			p.Close()
			return err
		}
	}
	if err := p.Serve(ctx); err != nil {
		p.Close()
		return err
	}
	p.StartSweep(ctx)
	log.Info("gridhub serving", "addr", p.Addr(), "data", c.DataDir, "store", storeName(c.StoreURI))
	fmt.Fprintf(stdout, "gridhub listening on %s\n", p.Addr())
	<-ctx.Done()
	log.Info("shutting down")
	return p.Close()
}

// storeName names the store for logs without any credentials in its URI.
func storeName(uri string) string {
	if uri == "" {
		return "embedded"
	}
	scheme, _, _ := strings.Cut(uri, "://")
	return scheme
}
