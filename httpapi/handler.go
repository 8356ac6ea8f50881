// Package httpapi is Gridhub's transport: it serves GraphQL over POST,
// GET, WebSocket and SSE on /graphql, the GraphiQL page at /, health at
// /healthz, Prometheus metrics at /metrics and pickup codes as QR images
// at /pickup/{id}/qr.png.
package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/opendata"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
)

// Defaults for Options.
const (
	DefaultMaxBodyBytes  = 1 << 20 // 1 MiB
	DefaultMaxDepth      = 12
	DefaultMaxComplexity = 200_000 // signed-in callers; see DefaultMaxComplexityAnonymous
	DefaultMaxAliases    = 50
)

// Options configure the handler. Schema, Logger and Registry are
// required; zero limits take the defaults.
type Options struct {
	Schema         graphql.ExecutableSchema
	ErrorPresenter graphql.ErrorPresenterFunc
	Recover        graphql.RecoverFunc
	Logger         *slog.Logger
	Registry       *prometheus.Registry
	// Health reports whether the hub can serve (the store answers).
	Health func(ctx context.Context) error

	MaxBodyBytes int64
	MaxDepth     int
	// MaxComplexity is the cost budget of one operation of a signed-in
	// caller, MaxComplexityAnonymous of a caller without a token (see
	// CostLimit).
	MaxComplexity          int
	MaxComplexityAnonymous int
	MaxAliases             int
	// MaxTokens bounds the lexical tokens of a document, MaxFields its
	// fields with fragments expanded (see DocumentLimit).
	MaxTokens int
	MaxFields int
	// MaxResponseBytes caps the bytes of one answer (see ResponseLimit).
	MaxResponseBytes int
	// Checked, if set, is called with each document the document limits
	// parse (tests count them).
	Checked func(query string)
	// Introspection allows schema introspection (GraphiQL needs it).
	Introspection bool
	// SlowIntrospection answers introspection through the executor, at its
	// full cost, instead of CostLimit.Fast (tests compare the two).
	SlowIntrospection bool

	WS WSOptions

	// Verifier checks bearer tokens on HTTP requests and in WebSocket
	// connection_init payloads; Authorize enforces the policy on every
	// field.
	Verifier  Verifier
	Authorize graphql.FieldMiddleware
	Limits    RateLimits
	// PublicMetrics serves /metrics without a token; otherwise it needs an
	// ADMIN token.
	PublicMetrics bool
	// TrustList, when set, serves the health codes' trust list at
	// /trust.json, without a token.
	TrustList http.Handler
	// PickupQR, when set, is mounted at PickupQRRoute (see PickupQR) behind
	// the per-address rate limit.
	PickupQR http.Handler
	// HealthQR, when set, is mounted at HealthQRRoute (see HealthQR) behind
	// the per-address rate limit.
	HealthQR http.Handler
	// Export, when set, is mounted at ExportRoute (see Export) behind the
	// per-address rate limit.
	Export   http.Handler
	OpenData *opendata.Feed // when set, /open/maskdata.csv and /open/pharmacies.geojson (opendata.go)
	// Admission bounds the requests to /graphql and the QR images served
	// at once (see Admission); /healthz and /metrics bypass it.
	Admission Admission
}

// New returns the hub's HTTP handler.
func New(opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxComplexity <= 0 {
		opts.MaxComplexity = DefaultMaxComplexity
	}
	if opts.MaxAliases <= 0 {
		opts.MaxAliases = DefaultMaxAliases
	}
	if opts.MaxComplexityAnonymous <= 0 {
		opts.MaxComplexityAnonymous = min(DefaultMaxComplexityAnonymous, opts.MaxComplexity)
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = DefaultMaxTokens
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = DefaultMaxFields
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	metrics := NewMetrics(opts.Registry)
	adm := newAdmitter(opts.Admission, opts.Registry)

	srv := handler.New(opts.Schema)
	if opts.WS.Logger == nil {
		opts.WS.Logger = opts.Logger
	}
	ws := WebsocketTransport(opts.WS)
	if opts.Verifier != nil && ws.InitFunc == nil {
		ws.InitFunc = wsInit(opts.Verifier)
	}
	srv.AddTransport(ws)
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})
	queries := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queries)
	srv.SetParserTokenLimit(opts.MaxTokens)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	// The document limits run before automatic persisted queries keep a
	// document, and before the executor parses and validates it.
	srv.Use(DocumentLimit{
		MaxTokens: opts.MaxTokens, MaxFields: opts.MaxFields, MaxFragments: DefaultMaxFragments,
		MaxDirectives: DefaultMaxDirectives, MaxVariables: DefaultMaxVariables,
		Cache: queries, Checked: opts.Checked,
	})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(ShapeLimit{MaxDepth: opts.MaxDepth, MaxAliases: opts.MaxAliases})
	// The policy runs on every field inside the response limit.
	srv.Use(ResponseLimit{MaxBytes: opts.MaxResponseBytes, Fields: opts.Authorize})
	srv.Use(metrics)
	// Last, so that the answers it writes for introspection pass through the
	// other response interceptors.
	costs := &CostLimit{Signed: opts.MaxComplexity, Anonymous: opts.MaxComplexityAnonymous, MaxBytes: opts.MaxResponseBytes}
	if opts.Introspection && !opts.SlowIntrospection {
		costs.Fast = NewIntrospection(opts.Schema.Schema())
	}
	srv.Use(costs)
	srv.SetErrorPresenter(metrics.ErrorPresenter(opts.ErrorPresenter))
	if opts.Recover != nil {
		srv.SetRecoverFunc(opts.Recover)
	}

	mux := http.NewServeMux()
	authn := func(h http.Handler) http.Handler { return h }
	if opts.Verifier != nil {
		authn = func(h http.Handler) http.Handler { return authenticate(opts.Verifier, h) }
	}
	gql := rateLimit(opts.Limits, authn, limitBody(opts.MaxBodyBytes, checkTransport(srv)))
	var prom http.Handler = promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})
	if opts.Verifier != nil {
		if !opts.PublicMetrics {
			prom = authenticate(opts.Verifier, adminOnly(prom))
		}
	}
	mux.Handle("/graphql", metrics.Route("/graphql", adm.admit(gql)))
	mux.Handle("GET /healthz", metrics.Route("/healthz", healthz(opts.Health)))
	mux.Handle("GET /metrics", prom)
	if opts.TrustList != nil {
		mux.Handle("GET /trust.json", metrics.Route("/trust.json", opts.TrustList))
	}
	mux.Handle("GET /assets/", metrics.Route("/assets", AssetsHandler()))
	mux.Handle("GET /{$}", metrics.Route("/", GraphiQL("/graphql")))
	mountDashboard(mux, metrics, "/graphql")
	// The routes beside /graphql that serve one resource: behind admission
	// and the per-address rate limit, each mounted when it is set.
	limited := func(pattern, route string, h http.Handler) {
		if h != nil {
			mux.Handle(pattern, metrics.Route(route, adm.admit(addressLimit(opts.Limits, h))))
		}
	}
	limited(PickupQRRoute, "/pickup/qr.png", opts.PickupQR)
	mountOpenData(opts.OpenData, opts.Logger, limited)
	limited(HealthQRRoute, "/code/qr.png", opts.HealthQR)
	limited(ExportRoute, "/me/export.json", opts.Export)
	return mux
}

// limitBody reads a POST body up to max bytes and answers a larger one
// itself with 413 and a BAD_USER_INPUT GraphQL error, so that no
// transport ever sees a truncated body.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			WriteError(w, http.StatusRequestEntityTooLarge, hub.Errorf(hub.EINVALID, "request body is larger than %d bytes", max))
			return
		}
		body, err := readBody(r, max)
		if err != nil {
			WriteError(w, http.StatusBadRequest, hub.Errorf(hub.EINVALID, "cannot read request body"))
			return
		}
		if int64(len(body)) > max {
			WriteError(w, http.StatusRequestEntityTooLarge, hub.Errorf(hub.EINVALID, "request body is larger than %d bytes", max))
			return
		}
		r.Body = newBodyBuffer(body)
		next.ServeHTTP(w, r)
	})
}

// readBody reads r's body, up to max+1 bytes. A body whose length the
// request states is read into a buffer of that length plus one (the byte
// that tells a longer body), in one allocation; any other as it comes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength <= 0 || r.ContentLength > max {
		return io.ReadAll(io.LimitReader(r.Body, max+1))
	}
	buf := make([]byte, 0, r.ContentLength+1)
	for {
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		case len(buf) == cap(buf):
			// Longer than stated: the rest as it comes, up to max+1.
			rest, err := io.ReadAll(io.LimitReader(r.Body, max+1-int64(len(buf))))
			return append(buf, rest...), err
		}
	}
}

// WriteError answers a request the GraphQL executor never saw with a
// GraphQL-shaped error carrying extensions.code.
func WriteError(w http.ResponseWriter, status int, err *hub.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": err.Message, "extensions": map[string]any{"code": err.Code}}},
	})
}

// adminOnly lets through requests that carry an ADMIN token.
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		switch {
		case !ok:
			writeAppError(w, http.StatusUnauthorized, hub.Errorf(hub.EUNAUTHORIZED, "metrics need an ADMIN token"))
		case p.Role != auth.Admin:
			writeAppError(w, http.StatusForbidden, hub.Errorf(hub.EFORBIDDEN, "metrics need an ADMIN token"))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func healthz(check func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := check(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"status":"unavailable"}`+"\n")
				return
			}
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
}
