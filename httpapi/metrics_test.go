package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

const metricsSchema = `
type Query { pharmaciesNear: [String!]! districts: [String!]! forbidden: String }
type Mutation { reserve: String! }
type Subscription { restockAlerts: String! riskAlerts: String! }
`

// metricsHub is a hub whose schema answers from fixed data: forbidden and
// riskAlerts are refused with FORBIDDEN, restockAlerts sends what is put
// on alerts.
func metricsHub(t *testing.T, reg *prometheus.Registry, alerts <-chan string) *httptest.Server {
	t.Helper()
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: metricsSchema})
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			op := graphql.GetOperationContext(ctx).Operation
			field := op.SelectionSet[0].(*ast.Field).Name
			if field == "forbidden" || field == "riskAlerts" {
				graphql.AddError(ctx, hub.Errorf(hub.EFORBIDDEN, "not yours"))
				if op.Operation == ast.Subscription {
					return nil // as generated code: the executor answers the error
				}
				return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"forbidden":null}`)})
			}
			if op.Operation != ast.Subscription {
				data := map[string]any{}
				for _, sel := range op.SelectionSet {
					data[sel.(*ast.Field).Alias] = []string{"x"}
				}
				b, _ := json.Marshal(data)
				return graphql.OneShot(&graphql.Response{Data: b})
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case a := <-alerts:
					return &graphql.Response{Data: json.RawMessage(fmt.Sprintf(`{"restockAlerts":%q}`, a))}
				case <-ctx.Done():
					return nil
				}
			}
		},
	}
	presenter := func(ctx context.Context, err error) *gqlerror.Error {
		e := graphql.DefaultErrorPresenter(ctx, err)
		var he *hub.Error
		if errors.As(err, &he) {
			e.Message, e.Extensions = he.Message, map[string]any{"code": he.Code}
		}
		return e
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Options{
		Schema: es, ErrorPresenter: presenter, Logger: slog.New(slog.DiscardHandler), Registry: reg,
		PublicMetrics: true, Introspection: true,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, query string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(url+"/graphql", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// subscribe opens a subscription over SSE and returns its events, one
// data line each, and a function that ends it.
func subscribe(t *testing.T, url, query string) (events <-chan string, end func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	b, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				ch <- strings.TrimSpace(data)
			}
		}
	}()
	return ch, func() { cancel(); resp.Body.Close(); <-done }
}

// scrape reads /metrics as Prometheus does.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the series of name with labels (a gauge,
// counter or histogram's count), and whether it is there.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// stats is a domain's state as DomainCollector reads it.
type stats struct{}

func (stats) AllocationsByStatus() map[string]int {
	return map[string]int{"RESERVED": 40, "REDEEMED": 12, "EXPIRED": 0}
}

func (stats) StockBySKU() map[string]map[string]int {
	return map[string]map[string]int{
		"tpe-TP01": {"MASK_ADULT": 1200, "MASK_CHILD": 300},
		"tpe-TP02": {"MASK_ADULT": 0},
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(httpapi.NewDomainCollector(stats{}))
	httpapi.NewEventMetrics(reg)
	alerts := make(chan string, 4)
	srv := metricsHub(t, reg, alerts)

	post(t, srv.URL, `{ pharmaciesNear }`)
	post(t, srv.URL, `query Nearby { a: pharmaciesNear b: pharmaciesNear }`) // one root field, aliased twice
	post(t, srv.URL, `mutation { reserve }`)
	post(t, srv.URL, `{ forbidden }`)
	post(t, srv.URL, `{ pharmaciesNear districts }`) // two root fields: other
	post(t, srv.URL, `{ __typename }`)               // no root field: other
	post(t, srv.URL, `{ noSuchField }`)              // refused before it runs
	post(t, srv.URL, `{ pharmaciesNear `)            // does not parse

	// A live subscription: counted once, in the gauge while it lives,
	// each alert counted as sent.
	events, end := subscribe(t, srv.URL, `subscription { restockAlerts }`)
	alerts <- "pharmacy 1"
	alerts <- "pharmacy 2"
	for range 2 {
		select {
		case <-events:
		case <-time.After(5 * time.Second):
			t.Fatal("no alert")
		}
	}
	fams := scrape(t, srv.URL)
	if v, _ := value(fams, "gridhub_graphql_subscriptions", "kind", "restockAlerts"); v != 1 {
		t.Errorf("live restockAlerts subscriptions %v, want 1", v)
	}
	end()
	// A refused subscription never goes live.
	refused, endRefused := subscribe(t, srv.URL, `subscription { riskAlerts }`)
	for range refused {
	}
	endRefused()

	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, srv.URL)
		if v, _ := value(fams, "gridhub_graphql_subscriptions", "kind", "restockAlerts"); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended subscription is still counted live")
		}
		time.Sleep(10 * time.Millisecond)
	}

	tests := []struct {
		name   string
		labels []string
		want   float64 // -1: present, any value
	}{
		{"gridhub_graphql_requests_total", []string{"operation", "pharmaciesNear", "type", "query", "code", "OK"}, 2},
		{"gridhub_graphql_requests_total", []string{"operation", "reserve", "type", "mutation", "code", "OK"}, 1},
		{"gridhub_graphql_requests_total", []string{"operation", "forbidden", "type", "query", "code", "FORBIDDEN"}, 1},
		{"gridhub_graphql_requests_total", []string{"operation", "other", "type", "query", "code", "OK"}, 2},
		{"gridhub_graphql_requests_total", []string{"operation", "other", "type", "unknown", "code", "GRAPHQL_VALIDATION_FAILED"}, 1},
		{"gridhub_graphql_requests_total", []string{"operation", "other", "type", "unknown", "code", "GRAPHQL_PARSE_FAILED"}, 1},
		{"gridhub_graphql_requests_total", []string{"operation", "restockAlerts", "type", "subscription", "code", "OK"}, 1},
		{"gridhub_graphql_requests_total", []string{"operation", "riskAlerts", "type", "subscription", "code", "FORBIDDEN"}, 1},
		{"gridhub_graphql_request_duration_seconds", []string{"operation", "pharmaciesNear", "type", "query"}, 2},
		{"gridhub_graphql_request_duration_seconds", []string{"operation", "restockAlerts", "type", "subscription"}, 1},
		{"gridhub_graphql_errors_total", []string{"code", "FORBIDDEN"}, 2},
		{"gridhub_graphql_subscriptions", []string{"kind", "restockAlerts"}, 0},
		{"gridhub_graphql_subscriptions", []string{"kind", "riskAlerts"}, 0},
		{"gridhub_alerts_sent_total", []string{"kind", "restockAlerts"}, 2},
		{"gridhub_alerts_sent_total", []string{"kind", "riskAlerts"}, 0},
		{"gridhub_events_dropped_total", nil, 0},
		{"gridhub_events_published_total", []string{"kind", "RESTOCK"}, 0},
		{"gridhub_events_delivered_total", []string{"kind", "RESTOCK"}, 0},
		{"gridhub_subscriptions", nil, 0},
		{"gridhub_http_requests_total", []string{"route", "/graphql", "method", "POST", "code", "200"}, -1},
		{"gridhub_http_request_duration_seconds", []string{"route", "/graphql"}, -1},
		{"gridhub_http_requests_in_flight", nil, -1},
		{"gridhub_allocations", []string{"status", "RESERVED"}, 40},
		{"gridhub_allocations", []string{"status", "EXPIRED"}, 0},
		{"gridhub_stock_units", []string{"district", "tpe-TP01", "sku", "MASK_ADULT"}, 1200},
		{"gridhub_stock_units", []string{"district", "tpe-TP02", "sku", "MASK_ADULT"}, 0},
	}
	for _, tt := range tests {
		got, ok := value(fams, tt.name, tt.labels...)
		if !ok {
			t.Errorf("no series %s%v", tt.name, tt.labels)
		} else if tt.want >= 0 && got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	// Bounded labels: operations only the schema's root fields and
	// other, codes only the known ones.
	allowed := map[string][]string{
		"operation": {"pharmaciesNear", "districts", "forbidden", "reserve", "restockAlerts", "riskAlerts", httpapi.OperationOther},
		"kind":      {"restockAlerts", "riskAlerts"},
		"type":      {"query", "mutation", "subscription", "unknown"},
		"code": {httpapi.CodeOK, hub.EINVALID, hub.EUNAUTHORIZED, hub.EFORBIDDEN, hub.ENOTFOUND, hub.ECONFLICT,
			hub.EOUTOFSTOCK, hub.ERATELIMITED, hub.EINTERNAL, "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
			"PERSISTED_QUERY_NOT_FOUND", httpapi.CodeOther},
	}
	for _, name := range []string{"gridhub_graphql_requests_total", "gridhub_graphql_request_duration_seconds",
		"gridhub_graphql_errors_total", "gridhub_graphql_subscriptions", "gridhub_alerts_sent_total"} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.Label {
				if !slices.Contains(allowed[l.GetName()], l.GetValue()) {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestRootFieldsOfTheSchema checks, on the hub's own schema, that the
// operation label takes only its root fields (and other), so that its
// series are as many as the schema's root fields at most.
func TestRootFieldsOfTheSchema(t *testing.T) {
	b, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(b)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	m := httpapi.NewMetrics(prometheus.NewRegistry())
	if err := m.Validate(&graphql.ExecutableSchemaMock{SchemaFunc: func() *ast.Schema { return schema }}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		opType string
		def    *ast.Definition
		want   []string // root fields the design names, among them
	}{
		{"query", schema.Query, []string{"cellAt", "pharmaciesNear", "district", "allocations", "verifyCode"}},
		{"mutation", schema.Mutation, []string{"reserve", "restock", "redeem", "registerResident"}},
		{"subscription", schema.Subscription, []string{"restockAlerts", "stockChanged", "allocationUpdates", "riskAlerts"}},
	} {
		got := m.RootFields(tt.opType)
		if len(got) != len(tt.def.Fields)+1 || got[len(got)-1] != httpapi.OperationOther {
			t.Errorf("%s: %d names for %d root fields: %v", tt.opType, len(got), len(tt.def.Fields), got)
		}
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: %q missing from %v", tt.opType, w, got)
			}
		}
	}
}

// TestGrafanaDashboard checks that every hub series the dashboard in
// deploy/grafana queries is one the hub exports, so that no panel stays
// empty because of a name.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/gridhub.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	// What a hub exports once it has served a query and refused one.
	reg := prometheus.NewRegistry()
	httpapi.NewEventMetrics(reg)
	reg.MustRegister(httpapi.NewDomainCollector(stats{}))
	srv := metricsHub(t, reg, nil)
	post(t, srv.URL, `{ pharmaciesNear }`)
	post(t, srv.URL, `{ forbidden }`)
	exported := map[string]bool{}
	for n := range scrape(t, srv.URL) {
		exported[n] = true
	}
	exprs := []string{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	name := regexp.MustCompile(`gridhub_[a-z_]+`)
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if s, ok := strings.CutSuffix(n, suffix); ok && strings.HasSuffix(s, "_seconds") {
					base = s
				}
			}
			seen[base] = true
			// Admission control's series exist when it is on.
			if !exported[base] && !strings.HasPrefix(base, "gridhub_admission_") {
				t.Errorf("the dashboard queries %s, which the hub does not export (in %q)", n, e)
			}
		}
	}
	for _, want := range []string{"gridhub_graphql_requests_total", "gridhub_graphql_request_duration_seconds",
		"gridhub_graphql_subscriptions", "gridhub_alerts_sent_total", "gridhub_events_dropped_total",
		"gridhub_allocations", "gridhub_stock_units"} {
		if !seen[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	if dash.UID == "" || len(dash.Panels) < 10 {
		t.Errorf("uid %q, %d panels", dash.UID, len(dash.Panels))
	}
}
