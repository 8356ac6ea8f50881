package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/internal/ctxval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The hub's Prometheus series, by name. Every label's values are bounded:
// routes are the mux's, operations the schema's root fields, codes those
// of the ErrorCode enum and a few of gqlgen's, kinds the event kinds and
// subscription fields.
//
//	gridhub_http_requests_total{route,method,code}          counter
//	gridhub_http_request_duration_seconds{route}             histogram
//	gridhub_http_requests_in_flight                          gauge
//	gridhub_graphql_requests_total{operation,type,code}      counter
//	gridhub_graphql_request_duration_seconds{operation,type} histogram
//	gridhub_graphql_errors_total{code}                       counter
//	gridhub_graphql_subscriptions{kind}                      gauge
//	gridhub_alerts_sent_total{kind}                          counter
//	gridhub_events_published_total{kind}                     counter
//	gridhub_events_delivered_total{kind}                     counter
//	gridhub_events_dropped_total                             counter
//	gridhub_subscriptions                                    gauge
//	gridhub_allocations{status}                              gauge (DomainCollector)
//	gridhub_stock_units{district,sku}                        gauge (DomainCollector)
const (
	// OperationOther labels an operation that is not exactly one root
	// field of the schema: an unknown field, several root fields, or no
	// operation at all (a request that did not parse).
	OperationOther = "other"
	// CodeOK labels a GraphQL request answered without errors.
	CodeOK = "OK"
	// CodeOther labels an error code outside the known set.
	CodeOther = "OTHER"
	// typeUnknown labels a request whose operation type is unknown.
	typeUnknown = "unknown"
)

// knownCode reports whether code labels series as it is: the ErrorCode
// enum's codes, and gqlgen's for the requests it refuses before any
// resolver (in case the error presenter leaves them as they are).
func knownCode(code string) bool {
	switch code {
	case hub.EINVALID, hub.EUNAUTHORIZED, hub.EFORBIDDEN, hub.ENOTFOUND, hub.ECONFLICT,
		hub.EOUTOFSTOCK, hub.ERATELIMITED, hub.EINTERNAL,
		errcode.ParseFailed, errcode.ValidationFailed, "PERSISTED_QUERY_NOT_FOUND":
		return true
	}
	return false
}

// Metrics are the hub's Prometheus metrics for its HTTP and GraphQL
// traffic. It is a gqlgen extension (add it with Use) and an error
// presenter wrapper (ErrorPresenter); it learns the schema's root fields
// when it is added.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	gqlRequests   *prometheus.CounterVec
	gqlDuration   *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	subscriptions *prometheus.GaugeVec
	alertsSent    *prometheus.CounterVec

	// roots are the schema's root fields by operation type, set by
	// Validate before the first request.
	roots map[ast.Operation]map[string]bool

	// The series each request counts in, found by their labels once.
	gqlCounts    series[*prometheus.CounterVec, [3]string, prometheus.Counter]
	gqlDurations series[*prometheus.HistogramVec, [2]string, prometheus.Observer]
}

// series keeps the children of a metric vector by their label values, so
// that a request finds its series without the vector hashing the labels
// (and allocating their slice) each time. The children are the vector's
// own: what they count is the same.
type series[V any, K comparable, M any] struct {
	mu sync.RWMutex
	m  map[K]M
}

// get returns the child k names, from resolve(vec, k) the first time.
func (s *series[V, K, M]) get(vec V, k K, resolve func(V, K) M) M {
	s.mu.RLock()
	c, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return c
	}
	c = resolve(vec, k)
	s.mu.Lock()
	if s.m == nil {
		s.m = map[K]M{}
	}
	s.m[k] = c
	s.mu.Unlock()
	return c
}

func counter3(v *prometheus.CounterVec, k [3]string) prometheus.Counter {
	return v.WithLabelValues(k[0], k[1], k[2])
}

func observer2(v *prometheus.HistogramVec, k [2]string) prometheus.Observer {
	return v.WithLabelValues(k[0], k[1])
}

// routeKey names a route's request counter: the route, the method and
// the status.
type routeKey struct {
	route  string
	method string
	status int
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gridhub_http_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gridhub_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		gqlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_graphql_requests_total",
			Help: "GraphQL requests by operation (the root field, or \"other\"), type and outcome code (OK or the first error's extensions.code); a subscription counts once, when it starts.",
		}, []string{"operation", "type", "code"}),
		gqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gridhub_graphql_request_duration_seconds",
			Help:    "GraphQL request duration by operation and type, from the request's start to its answer (for a subscription: until it is set up).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"operation", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_graphql_errors_total", Help: "GraphQL errors by extensions.code.",
		}, []string{"code"}),
		subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gridhub_graphql_subscriptions", Help: "Live GraphQL subscriptions by kind (the subscription field).",
		}, []string{"kind"}),
		alertsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_alerts_sent_total", Help: "Alerts sent to subscribers, by kind (the subscription field).",
		}, []string{"kind"}),
		roots: map[ast.Operation]map[string]bool{},
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight,
		m.gqlRequests, m.gqlDuration, m.errors, m.subscriptions, m.alertsSent)
	return m
}

// Route wraps h so that its requests are counted under route.
func (m *Metrics) Route(route string, h http.Handler) http.Handler {
	duration := m.duration.WithLabelValues(route)
	var requests series[*prometheus.CounterVec, routeKey, prometheus.Counter]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		requests.get(m.requests, routeKey{route, r.Method, sw.status}, routeCounter).Inc()
		duration.Observe(time.Since(start).Seconds())
	})
}

// routeCounter is the counter of a route's requests by method and status.
func routeCounter(v *prometheus.CounterVec, k routeKey) prometheus.Counter {
	return v.WithLabelValues(k.route, k.method, strconv.Itoa(k.status))
}

// statusWriter records the status code. It passes Flush and Unwrap
// through, so SSE streaming and WebSocket upgrades keep working.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ graphql.HandlerExtension     = (*Metrics)(nil)
	_ graphql.OperationInterceptor = (*Metrics)(nil)
	_ graphql.ResponseInterceptor  = (*Metrics)(nil)
)

// ExtensionName implements graphql.HandlerExtension.
func (m *Metrics) ExtensionName() string { return "Metrics" }

// Validate implements graphql.HandlerExtension: it learns the schema's
// root fields, the only operation names its series carry, and starts the
// subscription series at zero.
func (m *Metrics) Validate(es graphql.ExecutableSchema) error {
	s := es.Schema()
	for op, def := range map[ast.Operation]*ast.Definition{
		ast.Query: s.Query, ast.Mutation: s.Mutation, ast.Subscription: s.Subscription,
	} {
		if def == nil {
			continue
		}
		names := map[string]bool{}
		for _, f := range def.Fields {
			names[f.Name] = true
			if op == ast.Subscription {
				m.subscriptions.WithLabelValues(f.Name)
				m.alertsSent.WithLabelValues(f.Name)
			}
		}
		m.roots[op] = names
	}
	return nil
}

// RootFields returns the operation names the series may carry for an
// operation type ("query", "mutation", "subscription"): the schema's root
// fields, sorted, and OperationOther.
func (m *Metrics) RootFields(opType string) []string {
	var names []string
	for n := range m.roots[ast.Operation(opType)] {
		names = append(names, n)
	}
	slices.Sort(names)
	return append(names, OperationOther)
}

// operation names what oc runs for the series: its only root field when
// it is one of the schema's, OperationOther otherwise; and its type.
func (m *Metrics) operation(oc *graphql.OperationContext) (name, opType string) {
	if oc == nil || oc.Operation == nil {
		return OperationOther, typeUnknown
	}
	op := oc.Operation.Operation
	var w rootWalk
	w.walk(oc.Operation.SelectionSet)
	if w.several || !m.roots[op][w.field] {
		return OperationOther, string(op)
	}
	return w.field, string(op)
}

// rootWalk finds the root fields of an operation, fragments followed and
// __typename left out: the first one's name, and whether another differs.
type rootWalk struct {
	field   string
	several bool
}

func (w *rootWalk) walk(set ast.SelectionSet) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			switch {
			case s.Name == "__typename":
			case w.field == "":
				w.field = s.Name
			case w.field != s.Name:
				w.several = true
			}
		case *ast.InlineFragment:
			w.walk(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				w.walk(s.Definition.SelectionSet)
			}
		}
	}
}

// recordKey keys the opRecord of an operation in its context.
type recordKey struct{}

// opRecord is what the metrics learn of one operation while it runs: the
// code of the first error presented for it, and whether it was counted.
type opRecord struct {
	code    atomic.Pointer[string]
	counted atomic.Bool
}

func (r *opRecord) note(code string) { r.code.CompareAndSwap(nil, &code) }

func (r *opRecord) firstCode() string {
	if c := r.code.Load(); c != nil {
		return *c
	}
	return CodeOK
}

// ErrorPresenter wraps the hub's error presenter (graphql's default when
// nil) so that every error presented is counted by its code, and noted
// for the operation it belongs to.
func (m *Metrics) ErrorPresenter(next graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	if next == nil {
		next = graphql.DefaultErrorPresenter
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := next(ctx, err)
		code := errorCode(e)
		m.errors.WithLabelValues(code).Inc()
		if r, ok := ctx.Value(recordKey{}).(*opRecord); ok {
			r.note(code)
		}
		return e
	}
}

// errorCode returns e's extensions.code if it is a known one, CodeOther
// if not.
func errorCode(e *gqlerror.Error) string {
	if e == nil {
		return CodeOther
	}
	code, _ := e.Extensions["code"].(string)
	if knownCode(code) {
		return code
	}
	return CodeOther
}

// responseCode returns the code of a response: CodeOK without errors, the
// first error's code with.
func responseCode(resp *graphql.Response) string {
	switch {
	case resp == nil:
		return CodeOther
	case len(resp.Errors) == 0:
		return CodeOK
	}
	return errorCode(resp.Errors[0])
}

// InterceptOperation counts each operation once, by its root field, type
// and outcome, and times it; it keeps the gauge of live subscriptions and
// counts the alerts each sends.
func (m *Metrics) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	name, opType := m.operation(oc)
	start := oc.Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	rc, rec := ctxval.With[recordKey, opRecord](ctx)
	h := next(rc)

	if opType != string(ast.Subscription) {
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			if rec.counted.CompareAndSwap(false, true) {
				m.count(name, opType, responseCode(resp), start)
			}
			return resp
		}
	}

	// A subscription whose setup failed (refused, bad input) answers one
	// error and ends; any other is live until its handler ends or its
	// context does.
	code := rec.firstCode()
	m.count(name, opType, code, start)
	if code != CodeOK {
		return h
	}
	live := m.subscriptions.WithLabelValues(name)
	sent := m.alertsSent.WithLabelValues(name)
	live.Inc()
	var once sync.Once
	end := func() { once.Do(live.Dec) }
	stop := context.AfterFunc(ctx, end)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp == nil {
			stop()
			end()
			return nil
		}
		if resp.Data != nil {
			sent.Inc()
		}
		return resp
	}
}

// count counts one request and observes its duration.
func (m *Metrics) count(name, opType, code string, start time.Time) {
	m.gqlCounts.get(m.gqlRequests, [3]string{name, opType, code}, counter3).Inc()
	m.gqlDurations.get(m.gqlDuration, [2]string{name, opType}, observer2).Observe(time.Since(start).Seconds())
}

// InterceptResponse counts the requests refused before they became an
// operation (a query that does not parse or validate, or breaks a limit),
// which InterceptOperation never sees.
func (m *Metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if _, ok := ctx.Value(recordKey{}).(*opRecord); ok {
		return resp // an operation's: counted by InterceptOperation
	}
	var oc *graphql.OperationContext
	start := time.Now()
	if graphql.HasOperationContext(ctx) {
		oc = graphql.GetOperationContext(ctx)
		if !oc.Stats.OperationStart.IsZero() {
			start = oc.Stats.OperationStart
		}
	}
	name, opType := m.operation(oc)
	m.count(name, opType, responseCode(resp), start)
	return resp
}

// EventMetrics counts the broker's traffic for Prometheus; it has the
// method set the broker's metrics hook asks for.
type EventMetrics struct {
	published   *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	dropped     prometheus.Counter
	subscribers prometheus.Gauge
}

// NewEventMetrics creates the event metrics and registers them with reg.
func NewEventMetrics(reg prometheus.Registerer) *EventMetrics {
	m := &EventMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_events_published_total", Help: "Domain events published, by kind.",
		}, []string{"kind"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_events_delivered_total", Help: "Event deliveries to subscribers' queues, by kind.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridhub_events_dropped_total", Help: "Alerts dropped: events dropped from slow subscribers' queues (reported to them as gaps).",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gridhub_subscriptions", Help: "Live subscriptions to the broker, in process ones included.",
		}),
	}
	for _, k := range hub.EventKinds() {
		m.published.WithLabelValues(k.String())
		m.delivered.WithLabelValues(k.String())
	}
	reg.MustRegister(m.published, m.delivered, m.dropped, m.subscribers)
	return m
}

// Published counts a published event.
func (m *EventMetrics) Published(kind hub.EventKind) {
	m.published.WithLabelValues(kind.String()).Inc()
}

// Delivered counts n deliveries of an event.
func (m *EventMetrics) Delivered(kind hub.EventKind, n int) {
	m.delivered.WithLabelValues(kind.String()).Add(float64(n))
}

// Dropped counts n dropped deliveries.
func (m *EventMetrics) Dropped(n int) { m.dropped.Add(float64(n)) }

// Subscribers sets the number of live subscriptions.
func (m *EventMetrics) Subscribers(n int) { m.subscribers.Set(float64(n)) }

// DomainStats is what the hub's domain reports of its current state, read
// at each scrape. Implementations must be quick and safe for concurrent
// use: a scrape calls them while the hub serves.
type DomainStats interface {
	// AllocationsByStatus returns the number of allocations in each
	// status (RESERVED, REDEEMED, ...); report every status, zero
	// included, so that each series is continuous.
	AllocationsByStatus() map[string]int
	// StockBySKU returns the units in stock by district id, then SKU.
	StockBySKU() map[string]map[string]int
}

// DomainCollector exports a DomainStats as gauges, read on each scrape:
// gridhub_allocations{status} and gridhub_stock_units{district,sku}. Their
// labels are the city's own statuses, districts and supplies.
type DomainCollector struct {
	stats       DomainStats
	allocations *prometheus.Desc
	stock       *prometheus.Desc
}

var _ prometheus.Collector = (*DomainCollector)(nil)

// NewDomainCollector returns the collector of stats; register it with
// the hub's registry.
func NewDomainCollector(stats DomainStats) *DomainCollector {
	return &DomainCollector{
		stats: stats,
		allocations: prometheus.NewDesc("gridhub_allocations",
			"Allocations by status, now.", []string{"status"}, nil),
		stock: prometheus.NewDesc("gridhub_stock_units",
			"Units in stock by district and SKU, now.", []string{"district", "sku"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *DomainCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.allocations
	ch <- c.stock
}

// Collect implements prometheus.Collector.
func (c *DomainCollector) Collect(ch chan<- prometheus.Metric) {
	for status, n := range c.stats.AllocationsByStatus() {
		ch <- prometheus.MustNewConstMetric(c.allocations, prometheus.GaugeValue, float64(n), status)
	}
	for district, skus := range c.stats.StockBySKU() {
		for sku, n := range skus {
			ch <- prometheus.MustNewConstMetric(c.stock, prometheus.GaugeValue, float64(n), district, sku)
		}
	}
}
