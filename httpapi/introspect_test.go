package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// oddSchema is the hub's schema with what it lacks but introspection must
// describe: deprecated fields, arguments, input fields and enum values
// (with and without a reason), @specifiedBy, @oneOf, and descriptions with
// every character a JSON string escapes.
func oddSchema(t testing.TB) *ast.Schema {
	t.Helper()
	text, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	const extra = `
"quote \" backslash \\ tab \t newline \n bell \u0007 <b>&amp; é 中"
scalar Legacy @specifiedBy(url: "https://example.com/legacy?a=1&b=<2>")
input LegacyInput @oneOf { a: Int @deprecated(reason: "use b"), b: String, c: [Int!] = [1, 2] @deprecated }
extend type Query {
	"old \"one\""
	legacy(a: Int @deprecated(reason: "gone\nfor good"), b: String = "x\ty", c: LegacyInput): Legacy @deprecated
	legacyToo(k: Int = 3): [Legacy!]! @deprecated(reason: "see legacy")
}
enum LegacyColour { RED @deprecated(reason: "no red"), GREEN @deprecated, BLUE }
`
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(text) + extra})
	if gerr != nil {
		t.Fatal(gerr)
	}
	s.Description = "The hub's \"schema\"\n<described>"
	return s
}

// rawPost sends one operation and returns the answer's bytes.
func (h *costHub) rawPost(t testing.TB, body map[string]any, signed bool) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// introspectionDocuments are the three graphql-js texts, each also
// without its options, and variations of every construct the fast path
// reads.
func introspectionDocuments(t testing.TB) []struct {
	name string
	give string
	vars map[string]any
} {
	type doc = struct {
		name string
		give string
		vars map[string]any
	}
	var docs []doc
	files, err := filepath.Glob("testdata/introspection*.graphql")
	if err != nil || len(files) < 3 {
		t.Fatalf("introspection documents: %v %v", files, err)
	}
	strip := strings.NewReplacer("description\n", "\n", "specifiedByURL\n", "\n", "isOneOf\n", "\n", "isRepeatable\n", "\n")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		q := string(b)
		docs = append(docs,
			doc{f, q, nil},
			doc{f + " without includeDeprecated", strings.ReplaceAll(q, "(includeDeprecated: true)", ""), nil},
			doc{f + " includeDeprecated false", strings.ReplaceAll(q, "(includeDeprecated: true)", "(includeDeprecated: false)"), nil},
			doc{f + " includeDeprecated variable", strings.Replace(strings.ReplaceAll(q, "(includeDeprecated: true)", "(includeDeprecated: $d)"), "query IntrospectionQuery", "query IntrospectionQuery($d: Boolean!)", 1), map[string]any{"d": true}},
			doc{f + " without descriptions and flags", strip.Replace(q), nil},
		)
	}
	docs = append(docs,
		doc{"typename", `{ __typename }`, nil},
		doc{"typename everywhere", `{ a: __typename __schema { __typename types { __typename name fields { __typename args { __typename } type { __typename ofType { __typename } } } enumValues { __typename } } directives { __typename args { __typename } } } }`, nil},
		doc{"type Pharmacy", `{ __type(name: "Pharmacy") { name kind description fields { name type { kind name ofType { kind name ofType { kind name } } } args { name defaultValue } } interfaces { name } possibleTypes { name } enumValues { name } inputFields { name } ofType { name } specifiedByURL isOneOf } }`, nil},
		doc{"type unknown", `{ __type(name: "NoSuchType") { name } t: __typename }`, nil},
		doc{"type by variable", `query($n: String!) { __type(name: $n) { name fields(includeDeprecated: true) { name isDeprecated deprecationReason args(includeDeprecated: true) { name isDeprecated deprecationReason defaultValue } } } }`, map[string]any{"n": "Query"}},
		doc{"type enum", `{ __type(name: "LegacyColour") { a: enumValues { name } b: enumValues(includeDeprecated: true) { name isDeprecated deprecationReason description } } }`, nil},
		doc{"type input", `{ __type(name: "LegacyInput") { isOneOf x: inputFields { name } y: inputFields(includeDeprecated: true) { name defaultValue isDeprecated deprecationReason type { kind ofType { kind ofType { kind name } } } } } }`, nil},
		doc{"type scalar", `{ s: __type(name: "Legacy") { name description specifiedByURL fields { name } enumValues { name } inputFields { name } interfaces { name } possibleTypes { name } } c: __type(name: "H3Cell") { specifiedByURL } }`, nil},
		doc{"aliases", `{ s: __schema { q: queryType { n: name k: kind } m: mutationType { name } sub: subscriptionType { name } d: directives { n: name l: locations r: isRepeatable } } t: __type(name: "Cell") { n: name } }`, nil},
		doc{"merged fields", `{ __schema { queryType { name } queryType { kind fields { name } } types { name } types { kind } } }`, nil},
		doc{"inline fragments", `{ __schema { ... on __Schema { queryType { ... on __Type { name } ...{ kind } } } } ... on Query { __type(name: "Cell") { name } } }`, nil},
		doc{"fragment spreads", `query { ...Q } fragment Q on Query { __schema { types { ...T ...T } } } fragment T on __Type { name fields { ...F } } fragment F on __Field { name type { name } }`, nil},
		doc{"skip and include", `query($yes: Boolean!, $no: Boolean!) { __schema { types { name @include(if: $yes) kind @skip(if: $yes) description @include(if: $no) fields @skip(if: $no) { name } } queryType @include(if: false) { name } } __type(name: "Cell") @skip(if: true) { name } }`, map[string]any{"yes": true, "no": false}},
		doc{"skip on fragments", `query($s: Boolean!) { __schema { types { ...T @skip(if: $s) ... on __Type @include(if: $s) { kind } } } } fragment T on __Type { name }`, map[string]any{"s": true}},
		doc{"description of the schema", `{ __schema { description } }`, nil},
		doc{"directives", `{ __schema { directives { name description isRepeatable locations args { name type { kind name ofType { name } } defaultValue } } } }`, nil},
		doc{"includeDeprecated null variable", `query($d: Boolean) { __type(name: "Query") { fields(includeDeprecated: $d) { name } } }`, map[string]any{"d": nil}},
		doc{"deep ofType", `{ __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { name kind } } } } } } } }`, nil},
	)
	return docs
}

// TestIntrospectionMatchesExecutor: every introspection document gets the
// same bytes from the fast path as from the executor, on the hub's schema
// and on one with deprecations and odd descriptions, and the fast path
// resolves no field through the executor.
func TestIntrospectionMatchesExecutor(t *testing.T) {
	real := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()}).Schema()
	for _, schema := range []struct {
		name string
		s    *ast.Schema
	}{{"hub", real}, {"odd", oddSchema(t)}} {
		with := func(slow bool) func(*httpapi.Options) {
			return func(o *httpapi.Options) {
				o.Schema = graph.NewExecutableSchema(graph.Config{Schema: schema.s, Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
				o.SlowIntrospection = slow
				if slow {
					o.MaxComplexityAnonymous = httpapi.DefaultMaxComplexity
				}
			}
		}
		fast, slow := newCostHub(t, with(false)), newCostHub(t, with(true))
		for _, tt := range introspectionDocuments(t) {
			t.Run(schema.name+"/"+tt.name, func(t *testing.T) {
				body := map[string]any{"query": tt.give}
				if tt.vars != nil {
					body["variables"] = tt.vars
				}
				for _, signed := range []bool{false, true} {
					before := fast.resolved.Load()
					got := fast.rawPost(t, body, signed)
					if n := fast.resolved.Load() - before; n != 0 {
						t.Errorf("signed=%v: the fast path resolved %d fields through the executor", signed, n)
					}
					before = slow.resolved.Load()
					want := slow.rawPost(t, body, signed)
					if slow.resolved.Load() == before && tt.give != "{ __typename }" {
						t.Fatalf("the executor resolved nothing: %.200s", want)
					}
					if !bytes.Contains(want, []byte(`"data":{`)) || bytes.Contains(want, []byte(`"errors"`)) {
						t.Fatalf("the executor's answer: %.300s", want)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("signed=%v: answers differ at byte %d:\nfast %s\nslow %s", signed, diffAt(got, want), around(got, diffAt(got, want)), around(want, diffAt(got, want)))
					}
				}
			})
		}
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func around(b []byte, i int) string {
	return fmt.Sprintf("…%s…", b[max(0, i-80):min(len(b), i+80)])
}

// TestIntrospectionFastPathFallsBack: what the fast path does not answer
// goes to the executor at its full cost: a mix of introspection and data,
// and introspection switched off.
func TestIntrospectionFastPathFallsBack(t *testing.T) {
	h := newCostHub(t)
	before := h.resolved.Load()
	got := h.query(t, `{ __schema { queryType { name } } supplies { sku } }`, false)
	if len(got.Errors) > 0 || h.resolved.Load() == before {
		t.Errorf("mixed: %v, %d fields resolved", got.codes(), h.resolved.Load()-before)
	}
	off := newCostHub(t, func(o *httpapi.Options) { o.Introspection = false })
	if got := off.query(t, `{ __schema { queryType { name } } }`, false); len(got.Errors) == 0 {
		t.Errorf("introspection off: answered %.100s", got.Data)
	}
}

// TestIntrospectionCostsItsWork: an introspection operation answered by
// the fast path costs the fields of its answer divided by
// IntrospectionFieldsPerUnit, rounded up: it passes a budget of exactly
// that and is refused by one unit less. The standard queries pass the
// default anonymous budget; larger ones do not.
func TestIntrospectionCostsItsWork(t *testing.T) {
	probe := newCostHub(t)
	for _, tt := range introspectionDocuments(t) {
		body := map[string]any{"query": tt.give}
		if tt.vars != nil {
			body["variables"] = tt.vars
		}
		a := probe.post(t, body, true)
		var data map[string]any
		if err := json.Unmarshal(a.Data, &data); err != nil || len(a.Errors) > 0 {
			t.Fatalf("%s: %v %v", tt.name, a.codes(), err)
		}
		want := (answerCost(data) + httpapi.IntrospectionFieldsPerUnit - 1) / httpapi.IntrospectionFieldsPerUnit
		if strings.Contains(tt.name, "testdata") && want > httpapi.DefaultMaxComplexityAnonymous {
			t.Errorf("%s costs %d, over the anonymous budget %d", tt.name, want, httpapi.DefaultMaxComplexityAnonymous)
		}
		for _, budget := range []int{want, want - 1} {
			if budget < 1 {
				continue // 0 is the default budget
			}
			h := newCostHub(t, func(o *httpapi.Options) { o.MaxComplexityAnonymous = budget })
			got := h.post(t, body, false)
			if refused := got.hasReason(reasonComplexity); refused != (budget < want) {
				t.Errorf("%s: budget %d, cost %d: got %v", tt.name, budget, want, got.codes())
			}
		}
	}
	q, err := os.ReadFile("testdata/introspection_all.graphql")
	if err != nil {
		t.Fatal(err)
	}
	twice := strings.Replace(string(q), "__schema {", "again: __schema { types { ...FullType } } __schema {", 1)
	if got := probe.query(t, twice, false); !got.hasReason(reasonComplexity) {
		t.Errorf("introspection twice without a token: %v", got.codes())
	}
	if got := probe.query(t, twice, true); len(got.Errors) > 0 {
		t.Errorf("introspection twice with a token: %v", got.codes())
	}
}

// TestIntrospectionFastPathResponseLimit: a fast answer over the byte cap
// is refused as the executor's is, before it is written whole.
func TestIntrospectionFastPathResponseLimit(t *testing.T) {
	q, err := os.ReadFile("testdata/introspection_all.graphql")
	if err != nil {
		t.Fatal(err)
	}
	for _, slow := range []bool{false, true} {
		h := newCostHub(t, func(o *httpapi.Options) {
			o.MaxResponseBytes = 20 << 10
			o.SlowIntrospection = slow
			o.MaxComplexityAnonymous = httpapi.DefaultMaxComplexity
		})
		if got := h.query(t, string(q), false); !got.hasReason(reasonResponse) {
			t.Errorf("slow=%v: got %v, want %s", slow, got.codes(), reasonResponse)
		}
		if got := h.query(t, `{ __type(name: "Cell") { name fields { name } } }`, false); len(got.Errors) > 0 {
			t.Errorf("slow=%v: a small answer: %v", slow, got.codes())
		}
	}
}

// TestIntrospectionFastPathOverWebSocket: the fast path answers over both
// WebSocket protocols as over HTTP, without resolving a field.
func TestIntrospectionFastPathOverWebSocket(t *testing.T) {
	h := newCostHub(t)
	srv := strings.TrimSuffix(h.url, "/graphql")
	for _, proto := range []string{httpapi.SubprotocolGraphQLTransportWS, httpapi.SubprotocolGraphQLWS} {
		for _, token := range []string{"", h.token} {
			before := h.resolved.Load()
			got := wsRun(t, srv, proto, token, `{ __type(name: "Cell") { name kind } t: __typename }`)
			if !strings.Contains(got, `{"__type":{"name":"Cell","kind":"OBJECT"},"t":"Query"}`) {
				t.Errorf("%s token=%v: got %.200s", proto, token != "", got)
			}
			if n := h.resolved.Load() - before; n != 0 {
				t.Errorf("%s: %d fields resolved through the executor", proto, n)
			}
		}
	}
}
