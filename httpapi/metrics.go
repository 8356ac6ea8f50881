package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the hub's Prometheus metrics for its HTTP and GraphQL
// traffic.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	operations *prometheus.CounterVec
	opDuration *prometheus.HistogramVec
	errors     *prometheus.CounterVec
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
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_graphql_operations_total", Help: "GraphQL operations by type and outcome.",
		}, []string{"type", "outcome"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gridhub_graphql_operation_duration_seconds", Help: "GraphQL operation duration by type.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_graphql_errors_total", Help: "GraphQL errors by extensions.code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.operations, m.opDuration, m.errors)
	return m
}

// Route wraps h so that its requests are counted under route.
func (m *Metrics) Route(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
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
	_ graphql.HandlerExtension    = (*Metrics)(nil)
	_ graphql.ResponseInterceptor = (*Metrics)(nil)
)

// ExtensionName implements graphql.HandlerExtension.
func (m *Metrics) ExtensionName() string { return "Metrics" }

// Validate implements graphql.HandlerExtension.
func (m *Metrics) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse counts operations and their errors by code.
func (m *Metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	opType := "unknown"
	if graphql.HasOperationContext(ctx) {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
			opType = string(oc.Operation.Operation)
		}
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" {
				code = "NONE"
			}
			m.errors.WithLabelValues(code).Inc()
		}
	}
	m.operations.WithLabelValues(opType, outcome).Inc()
	m.opDuration.WithLabelValues(opType).Observe(time.Since(start).Seconds())
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
			Name: "gridhub_events_delivered_total", Help: "Event deliveries to subscribers, by kind.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridhub_events_dropped_total", Help: "Events dropped from slow subscribers' queues (reported to them as gaps).",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gridhub_subscriptions", Help: "Live subscriptions.",
		}),
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
