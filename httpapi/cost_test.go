package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/vektah/gqlparser/v2"
)

const (
	reasonTooLarge   = "QUERY_TOO_LARGE"
	reasonComplexity = "QUERY_COMPLEXITY_LIMIT"
	reasonShape      = "QUERY_SHAPE_LIMIT"
	reasonResponse   = "RESPONSE_TOO_LARGE"
	someCell         = "894ba0a4023ffff"
)

// repeat joins n copies of format (with %d the copy's index).
func repeat(n int, format string) string {
	var b strings.Builder
	for i := range n {
		if strings.Contains(format, "%d") {
			fmt.Fprintf(&b, format, i)
		} else {
			b.WriteString(format)
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// aliasedNeighbors is the adversary's 2 KB operation: 50 aliased cells,
// each with the disk of k rings.
func aliasedNeighbors(n, k int) string {
	return "{ " + repeat(n, `a%d: cell(id:"`+someCell+`"){ neighbors(k:`+fmt.Sprint(k)+`){ id } }`) + "}"
}

// fragmentBomb spreads each of depth fragments twice in the one before it:
// 2^depth fields once expanded.
func fragmentBomb(depth int) string {
	var b strings.Builder
	b.WriteString("{ supplies { ...F0 } }\n")
	for i := range depth {
		fmt.Fprintf(&b, "fragment F%d on Supply { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Supply { sku name }\n", depth)
	return b.String()
}

// fragmentChain nests depth fragments, each selecting a field and the
// next one.
func fragmentChain(depth int) string {
	var b strings.Builder
	b.WriteString("{ supplies { ...F0 } }\n")
	for i := range depth {
		fmt.Fprintf(&b, "fragment F%d on Supply { sku ...F%d }\n", i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Supply { name }\n", depth)
	return b.String()
}

// hostileDocuments are operations the hub must refuse before any resolver
// runs, by class, each with the reason it is refused for and whether a
// token is sent.
func hostileDocuments() []struct {
	name   string
	give   string
	signed bool
	want   string
} {
	type doc = struct {
		name   string
		give   string
		signed bool
		want   string
	}
	var tests []doc
	for _, k := range []int{30, 50, 70, 100} {
		tests = append(tests, doc{fmt.Sprintf("50 aliased neighbors k=%d", k), aliasedNeighbors(50, k), false, reasonComplexity})
	}
	for _, k := range []int{60, 100} {
		tests = append(tests, doc{fmt.Sprintf("50 aliased neighbors k=%d signed", k), aliasedNeighbors(50, k), true, reasonComplexity})
	}
	for _, k := range []int{75, 90, 100} {
		tests = append(tests, doc{fmt.Sprintf("one neighbors k=%d", k), aliasedNeighbors(1, k), false, reasonComplexity})
	}
	tests = append(tests,
		doc{"nested neighbors 100 x 3", `{ cell(id:"` + someCell + `"){ neighbors(k:100){ neighbors(k:3){ id } } } }`, true, reasonComplexity},
		doc{"nested neighbors 10 x 10 x 10", `{ cell(id:"` + someCell + `"){ neighbors(k:10){ neighbors(k:10){ neighbors(k:10){ id } } } } }`, true, reasonComplexity},
		doc{"nested neighbors 20 x 20", `{ cellAt(lat:25, lng:121.5){ neighbors(k:20){ neighbors(k:20){ id } } } }`, false, reasonComplexity},
		doc{"residents first 500 with disks", `{ committee(id:"c"){ residents(first:500){ edges{ node{ id name cell{ neighbors(k:10){ id } } } } } } }`, true, reasonComplexity},
		doc{"residents first 500", `{ committee(id:"c"){ a: residents(first:500){ totalCount edges{ cursor node{ id name idNumberMasked phoneMasked address registeredAt cell{ id boundary{ lat lng } } } } } b: residents(first:500){ edges{ node{ id name } } } } }`, false, reasonComplexity},
		doc{"allocations first 500", `{ allocations(partnerId:"p", first:500){ edges{ node{ id pharmacy{ name stock{ sku quantity } cell{ boundary{ lat lng } } } } } } }`, false, reasonComplexity},
		doc{"audit log first 1000 nested", `{ a: auditLog(first:1000){ entries{ seq at actorRole actorId subject action targetId purpose count } } b: auditLog(first:1000){ entries{ seq at actorRole actorId subject action targetId purpose count } } c: auditLog(first:1000){ entries{ seq at } } }`, false, reasonComplexity},
		doc{"districts cells stats", `{ districts{ cellStats(resolution:9){ cell{ neighbors(k:3){ id } } } } }`, true, reasonComplexity},
		doc{"district series 720 x districts", `{ districts{ series(hours:720){ at stock demand allocations fulfilled green yellow red riskCells } } }`, false, reasonComplexity},
		doc{"trajectory first 10000", `{ trajectory(residentId:"r", since:"2026-01-01T00:00:00Z", purpose:"p", first:10000){ id at cell checkpointId result temperature } }`, false, reasonComplexity},
		doc{"pharmaciesNear k=10 with disks", `{ pharmaciesNear(lat:25, lng:121.5, k:10){ pharmacy{ cell{ neighbors(k:20){ id } } } } }`, true, reasonComplexity},
		doc{"lottery entries", `{ rounds{ draw{ entries winners } } }`, false, reasonComplexity},
		doc{"introspection 50 times", "{ " + repeat(50, "s%d: __schema { types { name fields { name args { name type { name ofType { name } } } } } }") + "}", false, reasonComplexity},
	)
	for _, n := range []int{1100, 2000, 8000, 32000} {
		tests = append(tests, doc{fmt.Sprintf("repeated supplies x%d", n), "{ " + repeat(n, "supplies { sku }") + "}", false, reasonTooLarge})
	}
	for _, n := range []int{600, 900} {
		tests = append(tests, doc{fmt.Sprintf("repeated fields x%d under the token limit", n), "{ supplies { " + repeat(n, "sku name") + "} }", true, reasonTooLarge})
	}
	for _, depth := range []int{12, 20, 40, 64} {
		tests = append(tests, doc{fmt.Sprintf("fragment bomb depth %d", depth), fragmentBomb(depth), true, reasonTooLarge})
	}
	tests = append(tests,
		doc{"nested fragments 400 deep", fragmentChain(400), true, reasonTooLarge},
		doc{"many fragments", "{ supplies { " + repeat(150, "...F%d") + "} }\n" + repeat(150, "fragment F%d on Supply { sku }"), false, reasonTooLarge},
		doc{"many variables", "query(" + repeat(150, "$v%d: Int") + ") { supplies { sku } }", false, reasonTooLarge},
		doc{"many directives", "{ supplies { " + repeat(150, "sku @include(if: true)") + "} }", false, reasonTooLarge},
		doc{"many operations", repeat(150, "query Q%d { __typename }"), false, reasonTooLarge},
		doc{"deep selection", `{ cell(id:"` + someCell + `"){ ` + strings.Repeat("parent(resolution:1){ ", 20) + "id" + strings.Repeat(" }", 20) + " } }", false, reasonShape},
		doc{"aliases", "{ " + repeat(60, "a%d: __typename") + "}", false, reasonShape},
		doc{"many arguments", "{ " + repeat(5000, `cell(id:"x")`) + "}", false, reasonTooLarge},
	)
	return tests
}

// TestHostileOperationsRefusedBeforeExecution sends each hostile document
// by POST, GET, SSE and automatic persisted query, and checks that it is
// refused with BAD_USER_INPUT and its reason, before any resolver runs.
func TestHostileOperationsRefusedBeforeExecution(t *testing.T) {
	h := newCostHub(t)
	for _, tt := range hostileDocuments() {
		t.Run(tt.name, func(t *testing.T) {
			before := h.resolved.Load()
			got := h.query(t, tt.give, tt.signed)
			if !got.hasReason(tt.want) {
				t.Fatalf("POST: got %v %d, want BAD_USER_INPUT/%s", got.codes(), got.Status, tt.want)
			}
			if n := h.resolved.Load() - before; n != 0 {
				t.Fatalf("%d fields resolved before the refusal", n)
			}
			if len(tt.give) < 40_000 { // in a URL
				req, _ := http.NewRequest(http.MethodGet, h.url+"?query="+url.QueryEscape(tt.give), nil)
				if tt.signed {
					req.Header.Set("Authorization", "Bearer "+h.token)
				}
				if got := h.do(t, req); !got.hasReason(tt.want) {
					t.Fatalf("GET: got %v, want %s", got.codes(), tt.want)
				}
			}
			// Automatic persisted query: refused; a document too large is
			// not kept, others are refused again when named by hash.
			sum := sha256.Sum256([]byte(tt.give))
			apq := map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}
			got = h.post(t, map[string]any{"query": tt.give, "extensions": map[string]any{"persistedQuery": apq}}, tt.signed)
			if !got.hasReason(tt.want) {
				t.Fatalf("APQ: got %v, want %s", got.codes(), tt.want)
			}
			got = h.post(t, map[string]any{"extensions": map[string]any{"persistedQuery": apq}}, tt.signed)
			switch {
			case tt.want == reasonTooLarge && (len(got.Errors) == 0 || got.Errors[0].Extensions.Code != "PERSISTED_QUERY_NOT_FOUND"):
				t.Fatalf("APQ by hash after a refusal: got %v, want PERSISTED_QUERY_NOT_FOUND", got.codes())
			case tt.want != reasonTooLarge && !got.hasReason(tt.want):
				t.Fatalf("APQ by hash: got %v, want %s", got.codes(), tt.want)
			}
			if n := h.resolved.Load() - before; n != 0 {
				t.Fatalf("%d fields resolved", n)
			}
		})
	}
}

// TestHostileOperationsOverSSEAndWebSocket refuses hostile operations sent
// as SSE subscriptions and over both WebSocket protocols.
func TestHostileOperationsOverSSEAndWebSocket(t *testing.T) {
	h := newCostHub(t)
	srv := strings.TrimSuffix(h.url, "/graphql")
	docs := map[string]string{
		aliasedNeighbors(50, 100):                         reasonComplexity,
		"{ " + repeat(8000, "supplies { sku }") + "}":     reasonTooLarge,
		fragmentBomb(30):                                  reasonTooLarge,
		"{ supplies { " + repeat(900, "sku name") + "} }": reasonTooLarge,
	}
	for give, want := range docs {
		b, _ := json.Marshal(map[string]string{"query": give})
		req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil || strings.Contains(body.String(), "event: complete") {
				break
			}
		}
		resp.Body.Close()
		if !strings.Contains(body.String(), want) || !strings.Contains(body.String(), "BAD_USER_INPUT") {
			t.Errorf("SSE %.40s: got %.300s, want %s", give, body.String(), want)
		}

		for _, proto := range []string{httpapi.SubprotocolGraphQLTransportWS, httpapi.SubprotocolGraphQLWS} {
			got := wsRun(t, srv, proto, "", give)
			if !strings.Contains(got, want) || !strings.Contains(got, "BAD_USER_INPUT") {
				t.Errorf("%s %.40s: got %.300s, want %s", proto, give, got, want)
			}
		}
	}
	if n := h.resolved.Load(); n != 0 {
		t.Fatalf("%d fields resolved", n)
	}
}

// wsRun runs one operation over a WebSocket in the given protocol, with
// a token in connection_init when one is given, and returns the payload
// of the first answer.
func wsRun(t *testing.T, srv, proto, token, query string) string {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := "subscribe"
	if proto == httpapi.SubprotocolGraphQLWS {
		start = "start"
	}
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_ = conn.WriteJSON(map[string]any{"type": "connection_init", "payload": init})
	_ = conn.WriteJSON(map[string]any{"type": start, "id": "1", "payload": map[string]string{"query": query}})
	for {
		var msg struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := conn.ReadJSON(&msg); err != nil {
			t.Fatalf("%s %.40s: %v", proto, query, err)
		}
		if msg.Type == "error" || msg.Type == "next" || msg.Type == "data" {
			return string(msg.Payload)
		}
	}
}

// TestWebSocketBudgetByPrincipal: a connection authenticated in
// connection_init gets the larger budget.
func TestWebSocketBudgetByPrincipal(t *testing.T) {
	h := newCostHub(t)
	srv := strings.TrimSuffix(h.url, "/graphql")
	q := aliasedNeighbors(1, 60) // between the two budgets
	for _, proto := range []string{httpapi.SubprotocolGraphQLTransportWS, httpapi.SubprotocolGraphQLWS} {
		if got := wsRun(t, srv, proto, "", q); !strings.Contains(got, reasonComplexity) {
			t.Errorf("%s anonymous: got %.200s, want %s", proto, got, reasonComplexity)
		}
		if got := wsRun(t, srv, proto, h.token, q); strings.Contains(got, "errors") || !strings.Contains(got, someCell) {
			t.Errorf("%s signed: got %.200s, want the disk", proto, got)
		}
	}
}

// TestIntrospectionQueriesPass sends graphql-js 16's getIntrospectionQuery()
// as GraphiQL and the tools send it, exactly, with and without a token.
func TestIntrospectionQueriesPass(t *testing.T) {
	h := newCostHub(t)
	files, err := filepath.Glob("testdata/introspection*.graphql")
	if err != nil || len(files) < 3 {
		t.Fatalf("introspection documents: %v %v", files, err)
	}
	for _, f := range files {
		q, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, signed := range []bool{false, true} {
			got := h.post(t, map[string]any{"query": string(q), "operationName": "IntrospectionQuery"}, signed)
			var data struct {
				Schema struct {
					QueryType struct{ Name string }
					Types     []struct {
						Name   string
						Fields []struct{ Name string }
					}
				} `json:"__schema"`
			}
			if len(got.Errors) > 0 {
				t.Fatalf("%s signed=%v: %v %s", f, signed, got.codes(), got.Errors[0].Message)
			}
			if err := json.Unmarshal(got.Data, &data); err != nil || data.Schema.QueryType.Name != "Query" || len(data.Schema.Types) < 50 {
				t.Fatalf("%s signed=%v: no schema in %.200s (%v)", f, signed, got.Data, err)
			}
		}
	}
}

// TestCostBudgetByPrincipal checks that the budget of a caller without a
// token is the smaller one: operations between the two budgets are
// refused without a token and run with one.
func TestCostBudgetByPrincipal(t *testing.T) {
	h := newCostHub(t)
	tests := []struct {
		give          string
		wantAnonymous bool // allowed without a token
		wantSigned    bool
	}{
		{aliasedNeighbors(1, 10), true, true},
		{aliasedNeighbors(1, 14), true, true},  // 1,264
		{aliasedNeighbors(1, 15), false, true}, // 1,444
		{aliasedNeighbors(1, 40), false, true},
		{aliasedNeighbors(1, 60), false, true},
		{aliasedNeighbors(7, 5), true, true},   // 1,288
		{aliasedNeighbors(8, 5), false, true},  // 1,472
		{aliasedNeighbors(35, 2), true, true},  // 1,400, the budget
		{aliasedNeighbors(36, 2), false, true}, // 1,440
		{aliasedNeighbors(50, 1), true, true},
		{aliasedNeighbors(10, 10), false, true},
		{aliasedNeighbors(20, 10), false, true},
		{aliasedNeighbors(50, 20), false, true},
		{aliasedNeighbors(30, 30), false, true},
		{aliasedNeighbors(50, 100), false, false},
	}
	for _, tt := range tests {
		for _, signed := range []bool{false, true} {
			want := tt.wantAnonymous
			if signed {
				want = tt.wantSigned
			}
			got := h.query(t, tt.give, signed)
			if refused := got.hasReason(reasonComplexity); refused == want {
				t.Errorf("%.60s signed=%v: got %v, want allowed=%v", tt.give, signed, got.codes(), want)
			}
			// Refused without a token but allowed with one: UNAUTHENTICATED.
			wantCode := hub.EINVALID
			if !signed && tt.wantSigned {
				wantCode = hub.EUNAUTHORIZED
			}
			if !want && (len(got.Errors) != 1 || got.Errors[0].Extensions.Code != wantCode) {
				t.Errorf("%.60s signed=%v: got %v, want %s", tt.give, signed, got.codes(), wantCode)
			}
		}
	}
}

// TestResponseLimit replaces an answer over the byte cap with an error and
// stops resolving fields once the cap is passed.
func TestResponseLimit(t *testing.T) {
	const max = 20 << 10
	h := newCostHub(t, func(o *httpapi.Options) { o.MaxResponseBytes = max })
	for _, k := range []int{20, 40, 60} {
		before := h.resolved.Load()
		got := h.query(t, aliasedNeighbors(1, k), true)
		if !got.hasReason(reasonResponse) || got.Data != nil && string(got.Data) != "null" {
			t.Fatalf("k=%d: got %v data %.100s, want only RESPONSE_TOO_LARGE", k, got.codes(), got.Data)
		}
		cells := 3*k*k + 3*k + 1
		if n := h.resolved.Load() - before; cells*6 > max && (n > int64(max/4) || n >= int64(cells)) {
			t.Errorf("k=%d: %d fields resolved for %d cells: execution did not stop at the cap", k, n, cells)
		}
	}
	if got := h.query(t, aliasedNeighbors(1, 5), false); len(got.Errors) != 0 || got.Bytes > max {
		t.Errorf("a small answer: %v (%d bytes)", got.codes(), got.Bytes)
	}
}

// TestAllowedOperationsPass: the README's queries and the dashboard's
// (httpapi/assets/dashboard/dashboard.js) pass every limit and run.
func TestAllowedOperationsPass(t *testing.T) {
	h := newCostHub(t)
	const (
		stats     = `residents pharmacies stock { sku quantity } demand reservations shortages allocations fulfilled fulfilmentRate green yellow red riskLevel`
		cellStats = `cell { id resolution boundary { lat lng } } ` + stats
	)
	var batch []string
	for j := range 40 {
		batch = append(batch, fmt.Sprintf(`c%d: cell(id: %q) { id resolution boundary { lat lng } }`, j, someCell))
	}
	tests := []struct {
		name   string
		give   string
		vars   map[string]any
		signed bool
	}{
		{"readme cellAt", `{ cellAt(lat: 25.0478, lng: 121.5170) { id center { lat lng } neighbors(k: 1) { id } parent(resolution: 7) { id } } }`, nil, false},
		{"readme pharmaciesNear", `{ pharmaciesNear(lat: 25.0478, lng: 121.5170, k: 3, sku: MASK_ADULT) { ring distanceMeters pharmacy { id name address hours stock { sku quantity } } } }`, nil, false},
		{"readme districts", `{ districts { id code name cellCount } }`, nil, false},
		{"readme district", `{ district(id: "tpe-TP01") { name cellCount cells(resolution: 7) residentCount committees { code name cellCount residentCount } pharmacies { id name } } }`, nil, false},
		{"readme residents", `{ committeeByCode(code: "TP01001") { name residents(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name idNumberMasked phoneMasked cell { id } } } } } }`, nil, true},
		{"readme allocations", `{ allocations(partnerId: "courier-1", status: DELIVERING, first: 50) { edges { cursor node { id cell quantity pharmacy { address } } } pageInfo { hasNextPage endCursor } } }`, nil, true},
		{"readme fairness", `{ round(id: "masks-0214") { cells { cell requests demand share served fulfilmentRate } } }`, nil, true},
		{"readme draw", `{ round(id: "masks-0214") { draw { algorithm roundId commitment seed entries winnerCount winners } } }`, nil, true},
		{"readme restock", `mutation { restock(pharmacyId: "5901092087", sku: MASK_ADULT, quantity: 200) { id stock { sku quantity } } }`, nil, true},
		{"dashboard supplies", `{ supplies { sku name } }`, nil, false},
		{"dashboard committee", `query($id: ID!) { committee(id: $id) { id code name cells district { id name } } }`, map[string]any{"id": "c"}, true},
		{"dashboard boundaries", "{ " + strings.Join(batch, " ") + " }", nil, false},
		{"dashboard district", `query($id: ID!) { district(id: $id) { id code name cellCount pharmacies { id name location { lat lng } } } }`, map[string]any{"id": "d"}, true},
		{"dashboard outline", `query($id: ID!) { district(id: $id) { outline { lat lng } } }`, map[string]any{"id": "d"}, true},
		{"dashboard aggregates", `query($id: ID!, $res: Int!, $sku: SKU) { district(id: $id) { cellStats(resolution: $res, sku: $sku) { ` + cellStats + ` } totals(sku: $sku) { ` + stats + ` } } }`, map[string]any{"id": "d", "res": 9}, true},
		{"dashboard cells", `query($id: ID!, $res: Int!) { district(id: $id) { cells(resolution: $res) } }`, map[string]any{"id": "d", "res": 9}, true},
		{"dashboard series", `query($id: ID!, $sku: SKU) { district(id: $id) { series(hours: 72, sku: $sku) { at stock demand allocations fulfilled green yellow red riskCells } } }`, map[string]any{"id": "d"}, true},
		{"dashboard totals", `query($id: ID!, $sku: SKU) { district(id: $id) { totals(sku: $sku) { ` + stats + ` } } }`, map[string]any{"id": "d"}, true},
		{"dashboard pharmaciesNear", `query($lat: Float!, $lng: Float!, $k: Int!) { pharmaciesNear(lat: $lat, lng: $lng, k: $k) { ring pharmacy { id name address cell { id resolution boundary { lat lng } } stock { sku quantity } } } }`, map[string]any{"lat": 25.04, "lng": 121.51, "k": 10}, true},
		{"dashboard districtUpdates", `subscription($id: ID!, $res: Int!, $sku: SKU) { districtUpdates(districtId: $id, resolution: $res, sku: $sku) { ` + cellStats + ` } }`, map[string]any{"id": "d", "res": 9}, true},
		{"dashboard restockAlerts", `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring waitingServed gap pharmacy { id name address cell { id resolution boundary { lat lng } } stock { sku quantity } } } }`, map[string]any{"c": "c"}, true},
		{"dashboard riskAlerts", `subscription($c: ID!) { riskAlerts(committeeId: $c) { seq at kind cell checkpointId temperature rings reason gap } }`, map[string]any{"c": "c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.resolved.Load()
			body := map[string]any{"query": tt.give}
			if tt.vars != nil {
				body["variables"] = tt.vars
			}
			got := h.post(t, body, tt.signed)
			for _, e := range got.Errors {
				if e.Extensions.Reason != "" || e.Extensions.Code == "GRAPHQL_VALIDATION_FAILED" || e.Extensions.Code == "GRAPHQL_PARSE_FAILED" {
					t.Fatalf("refused: %v %s", got.codes(), e.Message)
				}
			}
			if h.resolved.Load() == before && !strings.HasPrefix(tt.give, "subscription") {
				t.Fatalf("nothing resolved: %v", got.codes())
			}
		})
	}
}

// TestDocumentChecksStopEarly: a document over the token limit is refused
// after MaxTokens+1 tokens whatever its length, without being parsed; one
// under it is parsed once and validated once (the query cache holds it).
func TestDocumentChecksStopEarly(t *testing.T) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		doc := "{ " + strings.Repeat("supplies { sku } ", n/17) + "}"
		got, over := httpapi.CountTokens(doc, httpapi.DefaultMaxTokens)
		if !over || got != httpapi.DefaultMaxTokens+1 {
			if n/17*4 > httpapi.DefaultMaxTokens {
				t.Errorf("%d bytes: counted %d tokens (over %v), want to stop at %d", n, got, over, httpapi.DefaultMaxTokens+1)
			}
		}
	}
	h := newCostHub(t)
	for _, n := range []int{2000, 8000, 32000} {
		before := h.checked.Load()
		h.query(t, "{ "+repeat(n, "supplies { sku }")+"}", false)
		if h.checked.Load() != before {
			t.Errorf("x%d: a document over the token limit was parsed", n)
		}
	}
	// The token limit is exact, and the parser's own limit agrees with it.
	for _, tt := range []struct {
		typenames int
		want      string
	}{{2, ""}, {3, reasonTooLarge}} {
		doc := "{ " + strings.Repeat("cellAt(lat: 1, lng: 2) { id } ", 333) + strings.Repeat("__typename ", tt.typenames) + "}"
		n, _ := httpapi.CountTokens(doc, 1<<20)
		got := h.query(t, doc, false)
		switch {
		case tt.want == "" && len(got.Errors) != 0:
			t.Errorf("%d tokens: %v %s", n, got.codes(), got.Errors[0].Message)
		case tt.want != "" && !got.hasReason(tt.want):
			t.Errorf("%d tokens: got %v, want %s", n, got.codes(), tt.want)
		}
	}
	// A cost set through variables counts too.
	for _, tt := range []struct {
		k    int
		want bool
	}{{10, true}, {14, true}, {15, false}, {40, false}, {100, false}} {
		q := `query($k: Int!) { cell(id: "` + someCell + `") { neighbors(k: $k) { id } } }`
		got := h.post(t, map[string]any{"query": q, "variables": map[string]any{"k": tt.k}}, false)
		if allowed := len(got.Errors) == 0; allowed != tt.want {
			t.Errorf("neighbors(k: $k = %d): got %v, want allowed=%v", tt.k, got.codes(), tt.want)
		}
	}

	q := `{ supplies { sku name } }`
	before := h.checked.Load()
	for range 3 {
		if got := h.query(t, q, false); len(got.Errors) != 0 {
			t.Fatal(got.codes())
		}
	}
	if n := h.checked.Load() - before; n != 1 {
		t.Errorf("a cached document was checked %d times, want once", n)
	}
}

// answerCost counts an answer as CostLimit costs it: one per field, a
// list of objects one per item besides the item's fields, a list of
// scalars one per item.
func answerCost(v any) int {
	n := 0
	for _, f := range v.(map[string]any) {
		n++
		switch f := f.(type) {
		case map[string]any:
			n += answerCost(f)
		case []any:
			for _, it := range f {
				n++
				if m, ok := it.(map[string]any); ok {
					n += answerCost(m)
				}
			}
		}
	}
	return n
}

// TestIntrospectionCostIsExact: the cost of each introspection query is
// exactly what its answer holds.
func TestIntrospectionCostIsExact(t *testing.T) {
	h := newCostHub(t)
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
	files, _ := filepath.Glob("testdata/introspection*.graphql")
	queries := []string{`{ __type(name: "Cell") { name fields { name type { kind ofType { name } } } } }`,
		`{ __schema { directives { name locations args { name } } } }`}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, string(b))
	}
	for _, q := range queries {
		doc, err := gqlparser.LoadQuery(es.Schema(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := httpapi.Cost(t.Context(), es, doc.Operations[0], nil, 1<<40)
		got := h.query(t, q, false)
		var data map[string]any
		if err := json.Unmarshal(got.Data, &data); err != nil || len(got.Errors) > 0 {
			t.Fatalf("%.40s: %v %v", q, got.codes(), err)
		}
		if n := answerCost(data); n != want {
			t.Errorf("%.60s: costed %d, the answer holds %d", strings.Join(strings.Fields(q), " "), want, n)
		}
	}
}

// TestBoundedListsCostWhatTheyHold: for lists whose arguments bound their
// length (disks, the catalogue of supplies), the cost is what the answer holds
// (away from pentagons), never less.
func TestBoundedListsCostWhatTheyHold(t *testing.T) {
	h := newCostHub(t)
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
	var queries []string
	for _, k := range []int{0, 1, 2, 5, 10, 20, 40} {
		queries = append(queries, aliasedNeighbors(1, k), aliasedNeighbors(3, k/2))
	}
	queries = append(queries,
		`{ supplies { sku name unit } cell(id: "`+someCell+`") { center { lat lng } parent(resolution: 5) { id neighbors(k: 2) { id resolution } } } }`,
		`{ cellAt(lat: 25, lng: 121.5) { neighbors(k: 3) { id neighbors(k: 1) { id isPentagon } } } }`)
	for _, q := range queries {
		doc, err := gqlparser.LoadQuery(es.Schema(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := httpapi.Cost(t.Context(), es, doc.Operations[0], nil, 1<<40)
		got := h.query(t, q, true)
		var data map[string]any
		if err := json.Unmarshal(got.Data, &data); err != nil || len(got.Errors) > 0 {
			t.Fatalf("%.40s: %v %v", q, got.codes(), err)
		}
		if n := answerCost(data); n != want {
			t.Errorf("%.60s: costed %d, the answer holds %d", q, want, n)
		}
	}
}
