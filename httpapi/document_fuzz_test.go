package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
)

// maxDocumentTime bounds what one document may take, from the request to
// the answer; the limits exist to keep it to milliseconds.
const maxDocumentTime = time.Second

// FuzzGraphQLDocument sends arbitrary documents, variables and operation
// names, over POST or GET, from a caller without a token to the hub's
// handler (httpapi.New: the transports, the body limit, the document,
// shape, cost and response limits, the introspection fast path, parsing,
// validation and the error presenter) over the real schema and its
// complexity functions, in process, without a network. Root fields that
// need a store answer NOT_FOUND without running (see newCostHub); the grid
// fields (cell, cellAt) and introspection run. Each input: no panic and no
// INTERNAL error; the answer is a GraphQL response whose every error has a
// known extensions.code; the fields resolved stay within the budget of a
// caller without a token (an operation is refused or costs what it was
// costed); the answer comes within maxDocumentTime.
func FuzzGraphQLDocument(f *testing.F) {
	cell := "8928308280fffff"
	for _, seed := range []struct{ query, vars, op string }{
		{`{ supplies { sku name } }`, ``, ``},
		{`{ cellAt(lat: 25.0478, lng: 121.5170) { id center { lat lng } neighbors(k: 1) { id } parent(resolution: 7) { id } } }`, ``, ``},
		{`query($k: Int!) { cell(id: "` + cell + `") { neighbors(k: $k) { id boundary { lat lng } } } }`, `{"k": 14}`, ``},
		{`query($k: Int!) { cell(id: "` + cell + `") { neighbors(k: $k) { id } } }`, `{"k": 2147483647}`, ``},
		{`{ cell(id: "` + cell + `") { neighbors(k: 10) { neighbors(k: 10) { neighbors(k: 10) { id } } } } }`, ``, ``},
		{`{ cell(id: "` + cell + `") { ` + strings.Repeat("parent(resolution: 1) { ", 20) + "id" + strings.Repeat(" }", 20) + ` } }`, ``, ``},
		{`{ ` + strings.Repeat(`a: __typename `, 60) + `}`, ``, ``},
		{`query A { supplies { sku } } query B { __typename }`, ``, `B`},
		{`query A { supplies { sku } } query B { __typename }`, ``, `C`},
		{`query A { supplies { sku } } query B { __typename }`, ``, ``},
		{`fragment F on Query { ...G } fragment G on Query { ...F } { ...F }`, ``, ``},
		{`fragment F on Cell { id neighbors(k: 3) { ...F } } { cell(id: "` + cell + `") { ...F } }`, ``, ``},
		{`{ __schema { types { name fields { name type { kind ofType { name } } } } } }`, ``, ``},
		{`{ __type(name: "Cell") { name fields(includeDeprecated: true) { name args { name defaultValue } } } }`, ``, ``},
		{`query($n: String!) { __type(name: $n) { name possibleTypes { name } enumValues { name } } }`, `{"n": "ErrorCode"}`, ``},
		{`{ __schema { directives { name locations args { name } } } }`, ``, ``},
		{`query($t: Time!) { trajectory(residentId: "r", since: $t, purpose: "p") { id } }`, `{"t": "0000-01-01T0:00:00,00000+01:00"}`, ``},
		{`mutation { restock(pharmacyId: "p", sku: MASK_ADULT, quantity: 1) { id } }`, ``, ``},
		{`subscription { riskAlerts(committeeId: "c") { seq } }`, ``, ``},
		{`{ cell(id: "` + cell + `") @include(if: $x) { id } }`, `{"x": true}`, ``},
		{`{ cellAt(lat: 91, lng: 0) { id } }`, `[]`, ``},
		{`{ cellAt(lat: "a", lng: 0) { id } }`, `"x"`, ``},
		{`{ allocations(partnerId: "p", first: -1) { totalCount } }`, `null`, ``},
		{`{`, ``, ``},
		{``, ``, ``},
		{"\x00\xff", `{`, "\x00"},
		{`{ ... on Query @defer { supplies { sku } } }`, ``, ``},
	} {
		f.Add(seed.query, seed.vars, seed.op, false)
		f.Add(seed.query, seed.vars, seed.op, true)
	}
	for _, name := range []string{"introspection.graphql", "introspection_all.graphql", "introspection_graphiql.graphql"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), ``, ``, false)
	}
	h := newCostHub(f)
	budget := min(httpapi.DefaultMaxComplexityAnonymous, httpapi.DefaultMaxComplexity)
	f.Fuzz(func(t *testing.T, query, vars, op string, get bool) {
		req := documentRequest(query, vars, op, get)
		before := h.resolved.Load()
		rec := httptest.NewRecorder()
		start := time.Now()
		h.handler.ServeHTTP(rec, req)
		took := time.Since(start)
		resolved := h.resolved.Load() - before
		if took > maxDocumentTime {
			t.Errorf("answered in %v, more than %v", took, maxDocumentTime)
		}
		if resolved > int64(budget) {
			t.Errorf("%d fields resolved, more than the budget of %d of a caller without a token", resolved, budget)
		}
		var answer struct {
			Data   json.RawMessage `json:"data"`
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		body := rec.Body.Bytes()
		if err := json.Unmarshal(body, &answer); err != nil {
			t.Fatalf("status %d, answer not JSON: %v: %.300q", rec.Code, err, body)
		}
		if len(answer.Errors) == 0 && (len(answer.Data) == 0 || string(answer.Data) == "null") {
			t.Fatalf("status %d, neither data nor errors: %.300q", rec.Code, body)
		}
		for _, e := range answer.Errors {
			code, _ := e.Extensions["code"].(string)
			switch {
			case code == hub.EINTERNAL:
				t.Fatalf("INTERNAL error %q", e.Message)
			case !slices.Contains(documentCodes, code):
				t.Fatalf("error %q has code %q, not one of %v", e.Message, code, documentCodes)
			}
		}
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %.300q", rec.Code, body)
		}
	})
}

// documentCodes are the codes an answer to a caller without a token may
// carry: the hub's, and automatic persisted queries' own.
var documentCodes = []string{
	hub.EINVALID, hub.EUNAUTHORIZED, hub.EFORBIDDEN, hub.ENOTFOUND, hub.ECONFLICT, hub.ERATELIMITED,
	"PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_SUPPORTED",
}

// documentRequest is the request a client sends for a document: a JSON
// body over POST, with variables as they are when they are JSON and as a
// string when not; or a URL's query over GET.
func documentRequest(query, vars, op string, get bool) *http.Request {
	if get {
		v := url.Values{"query": {query}}
		if vars != "" {
			v.Set("variables", vars)
		}
		if op != "" {
			v.Set("operationName", op)
		}
		return httptest.NewRequest(http.MethodGet, "/graphql?"+v.Encode(), nil)
	}
	var b bytes.Buffer
	b.WriteString(`{"query":`)
	b.WriteString(strconv.Quote(query))
	if vars != "" {
		b.WriteString(`,"variables":`)
		if json.Valid([]byte(vars)) {
			b.WriteString(vars)
		} else {
			q, _ := json.Marshal(vars)
			b.Write(q)
		}
	}
	if op != "" {
		q, _ := json.Marshal(op)
		b.WriteString(`,"operationName":`)
		b.Write(q)
	}
	b.WriteString(`}`)
	req := httptest.NewRequest(http.MethodPost, "/graphql", &b)
	req.Header.Set("Content-Type", "application/json")
	return req
}
