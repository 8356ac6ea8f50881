package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// operationsSchema has a query, a mutation and a subscription; every
// operation answers {"whoami": "..."} once.
func operationsSchema() graphql.ExecutableSchema {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { whoami: String! }
		type Mutation { touch: String! }
		type Subscription { ticks: String! }`})
	m := whoamiSchema().(*graphql.ExecutableSchemaMock)
	m.SchemaFunc = func() *ast.Schema { return schema }
	return m
}

// TestTransportRefusals: every request to /graphql that no transport
// takes, or that one would refuse with a bare message, gets a GraphQL
// error with extensions.code BAD_USER_INPUT and a status that names it;
// the well-formed ones around them are served.
func TestTransportRefusals(t *testing.T) {
	srv := httptest.NewServer(New(Options{
		Schema:   operationsSchema(),
		Logger:   slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(),
	}))
	t.Cleanup(srv.Close)
	endpoint := srv.URL + "/graphql"
	get := func(params ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		return "?" + v.Encode()
	}
	const (
		query    = `{"query":"{ whoami }"}`
		anyType  = "*" // a Content-Type header left unset
		jsonType = "application/json"
	)
	tests := []struct {
		name        string
		method      string
		target      string // the URL's query string
		contentType string // anyType: none
		header      http.Header
		body        string
		want        int    // status
		wantMsg     string // a part of the message; "" when served
		wantAllow   string
	}{
		// GET runs queries only.
		{name: "GET a query", method: "GET", target: get("query", "{ whoami }"), want: 200},
		{name: "GET a mutation", method: "GET", target: get("query", "mutation { touch }"), want: 405, wantMsg: "mutations need POST", wantAllow: "POST"},
		{name: "GET a named mutation", method: "GET", target: get("query", "mutation Touch { touch }"), want: 405, wantMsg: "mutations need POST", wantAllow: "POST"},
		{name: "GET a mutation after a comment", method: "GET", target: get("query", "# hello\n  mutation{touch}"), want: 405, wantMsg: "mutations need POST", wantAllow: "POST"},
		{name: "GET a mutation chosen by operationName", method: "GET", target: get("query", "query A { whoami } mutation B { touch }", "operationName", "B"), want: 405, wantMsg: "mutations need POST", wantAllow: "POST"},
		{name: "GET a query beside a mutation", method: "GET", target: get("query", "query A { whoami } mutation B { touch }", "operationName", "A"), want: 200},
		{name: "GET a query naming a field mutation", method: "GET", target: get("query", "query mutation { whoami }"), want: 200},
		{name: "GET a subscription", method: "GET", target: get("query", "subscription { ticks }"), want: 405, wantMsg: "subscriptions need POST", wantAllow: "POST"},
		{name: "GET with variables an array", method: "GET", target: get("query", "{ whoami }", "variables", "[1]"), want: 400, wantMsg: "variables must be a JSON object"},
		{name: "GET with variables not JSON", method: "GET", target: get("query", "{ whoami }", "variables", "{a"), want: 400, wantMsg: "variables must be a JSON object"},
		{name: "GET with variables a string", method: "GET", target: get("query", "{ whoami }", "variables", `"x"`), want: 400, wantMsg: "variables must be a JSON object"},
		{name: "GET with variables an object", method: "GET", target: get("query", "{ whoami }", "variables", `{"a":1}`), want: 200},
		{name: "GET with extensions a number", method: "GET", target: get("query", "{ whoami }", "extensions", "5"), want: 400, wantMsg: "extensions must be a JSON object"},
		{name: "GET with a malformed URL query", method: "GET", target: "?query=%zz", want: 400, wantMsg: "URL query string is malformed"},

		// POST takes JSON.
		{name: "POST JSON", method: "POST", contentType: jsonType, body: query, want: 200},
		{name: "POST JSON with a charset", method: "POST", contentType: "application/json; charset=utf-8", body: query, want: 200},
		{name: "POST JSON in capitals", method: "POST", contentType: "Application/JSON", body: query, want: 200},
		{name: "POST a mutation", method: "POST", contentType: jsonType, body: `{"query":"mutation { touch }"}`, want: 200},
		{name: "POST without Content-Type, a JSON object", method: "POST", contentType: anyType, body: query, want: 200},
		{name: "POST without Content-Type, not JSON", method: "POST", contentType: anyType, body: "query={whoami}", want: 400, wantMsg: "not valid JSON"},
		{name: "POST without Content-Type, empty", method: "POST", contentType: anyType, want: 400, wantMsg: "body is empty"},
		{name: "POST text/plain", method: "POST", contentType: "text/plain", body: query, want: 415, wantMsg: `Content-Type "text/plain" is not supported`},
		{name: "POST text/plain with a charset", method: "POST", contentType: "text/plain;charset=UTF-8", body: query, want: 415, wantMsg: "is not supported"},
		{name: "POST multipart", method: "POST", contentType: "multipart/form-data; boundary=x", body: "--x\r\n\r\n" + query + "\r\n--x--\r\n", want: 415, wantMsg: "is not supported"},
		{name: "POST a form", method: "POST", contentType: "application/x-www-form-urlencoded", body: "query=%7Bwhoami%7D", want: 415, wantMsg: "is not supported"},
		{name: "POST application/graphql", method: "POST", contentType: "application/graphql", body: "{ whoami }", want: 415, wantMsg: "is not supported"},
		{name: "POST application/xml", method: "POST", contentType: "application/xml", body: "<q/>", want: 415, wantMsg: "is not supported"},
		{name: "POST a malformed Content-Type", method: "POST", contentType: ";;;", body: query, want: 415, wantMsg: "is not supported"},
		{name: "POST an empty body", method: "POST", contentType: jsonType, want: 400, wantMsg: "body is empty"},
		{name: "POST a blank body", method: "POST", contentType: jsonType, body: " \n\t", want: 400, wantMsg: "body is empty"},
		{name: "POST malformed JSON", method: "POST", contentType: jsonType, body: `{"query":`, want: 400, wantMsg: "not valid JSON"},
		{name: "POST unquoted keys", method: "POST", contentType: jsonType, body: `{query:"{ whoami }"}`, want: 400, wantMsg: "not valid JSON"},
		{name: "POST single quotes", method: "POST", contentType: jsonType, body: `{'query':'{ whoami }'}`, want: 400, wantMsg: "not valid JSON"},
		{name: "POST a truncated array", method: "POST", contentType: jsonType, body: `[{"query":"{ whoami }"}`, want: 400, wantMsg: "not valid JSON"},
		{name: "POST a batch", method: "POST", contentType: jsonType, body: `[` + query + `,` + query + `]`, want: 400, wantMsg: "batched operations are not supported"},
		{name: "POST an empty array", method: "POST", contentType: jsonType, body: `[]`, want: 400, wantMsg: "JSON array"},
		{name: "POST a string", method: "POST", contentType: jsonType, body: `"{ whoami }"`, want: 400, wantMsg: "must be a JSON object"},
		{name: "POST a number", method: "POST", contentType: jsonType, body: `42`, want: 400, wantMsg: "must be a JSON object"},
		{name: "POST null", method: "POST", contentType: jsonType, body: `null`, want: 400, wantMsg: "must be a JSON object"},
		{name: "POST true", method: "POST", contentType: jsonType, body: `true`, want: 400, wantMsg: "must be a JSON object"},
		{name: "POST two objects", method: "POST", contentType: jsonType, body: query + query, want: 400, wantMsg: "more after its JSON object"},
		{name: "POST an object and garbage", method: "POST", contentType: jsonType, body: query + " x", want: 400, wantMsg: "more after its JSON object"},
		{name: "POST query a number", method: "POST", contentType: jsonType, body: `{"query":5}`, want: 400, wantMsg: "query must be a string"},
		{name: "POST query an object", method: "POST", contentType: jsonType, body: `{"query":{"whoami":true}}`, want: 400, wantMsg: "query must be a string"},
		{name: "POST query an array", method: "POST", contentType: jsonType, body: `{"query":["{ whoami }"]}`, want: 400, wantMsg: "query must be a string"},
		{name: "POST query true", method: "POST", contentType: jsonType, body: `{"query":true}`, want: 400, wantMsg: "query must be a string"},
		{name: "POST operationName a number", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","operationName":1}`, want: 400, wantMsg: "operationName must be a string"},
		{name: "POST variables an array", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":[]}`, want: 400, wantMsg: "variables must be a JSON object"},
		{name: "POST variables a string", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":"{}"}`, want: 400, wantMsg: "variables must be a JSON object"},
		{name: "POST variables a number", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":5}`, want: 400, wantMsg: "variables must be a JSON object"},
		{name: "POST variables false", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":false}`, want: 400, wantMsg: "variables must be a JSON object"},
		{name: "POST variables null", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":null}`, want: 200},
		{name: "POST variables an object", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","variables":{"a":[1]}}`, want: 200},
		{name: "POST extensions an array", method: "POST", contentType: jsonType, body: `{"query":"{ whoami }","extensions":[]}`, want: 400, wantMsg: "extensions must be a JSON object"},
		{name: "SSE malformed JSON", method: "POST", contentType: jsonType, header: http.Header{"Accept": {"text/event-stream"}}, body: `{"query"`, want: 400, wantMsg: "not valid JSON"},
		{name: "SSE text/plain", method: "POST", contentType: "text/plain", header: http.Header{"Accept": {"text/event-stream"}}, body: query, want: 415, wantMsg: "is not supported"},

		// Other methods.
		{name: "PUT", method: "PUT", contentType: jsonType, body: query, want: 405, wantMsg: "method PUT is not allowed", wantAllow: "GET, POST, OPTIONS"},
		{name: "DELETE", method: "DELETE", want: 405, wantMsg: "method DELETE is not allowed", wantAllow: "GET, POST, OPTIONS"},
		{name: "PATCH", method: "PATCH", contentType: jsonType, body: query, want: 405, wantMsg: "method PATCH is not allowed", wantAllow: "GET, POST, OPTIONS"},
		{name: "TRACE", method: "TRACE", want: 405, wantMsg: "method TRACE is not allowed", wantAllow: "GET, POST, OPTIONS"},
		{name: "PROPFIND", method: "PROPFIND", want: 405, wantMsg: "method PROPFIND is not allowed", wantAllow: "GET, POST, OPTIONS"},
		{name: "HEAD", method: "HEAD", want: 405, wantAllow: "GET, POST, OPTIONS"},
		{name: "OPTIONS", method: "OPTIONS", want: 200, wantAllow: "OPTIONS, GET, POST"},

		// Upgrades go to the WebSocket transport only.
		{name: "Upgrade h2c", method: "GET", header: http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade"}}, want: 400, wantMsg: "upgrades to websocket only"},
		{name: "WebSocket upgrade over POST", method: "POST", contentType: jsonType, header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, body: query, want: 405, wantMsg: "a WebSocket upgrade is a GET request", wantAllow: "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, endpoint+tt.target, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.contentType != anyType && tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, b)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			switch {
			case tt.method == http.MethodHead || tt.method == http.MethodOptions:
				return
			case tt.want == http.StatusOK:
				if !strings.Contains(string(b), `"whoami":"anonymous"`) {
					t.Errorf("served, yet body %s", b)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var r struct {
				Data   json.RawMessage `json:"data"`
				Errors []struct {
					Message    string         `json:"message"`
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if r.Data != nil || len(r.Errors) != 1 {
				t.Fatalf("want one error and no data, got %s", b)
			}
			if code := r.Errors[0].Extensions["code"]; code != hub.EINVALID {
				t.Errorf("code %v, want %s", code, hub.EINVALID)
			}
			if msg := r.Errors[0].Message; !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tt.wantMsg)
			}
			if tt.wantMsg == "" {
				t.Error("the case lacks wantMsg")
			}
		})
	}
}

// TestTransportRefusalsDoNotEcho: a refused body, header or URL query is
// not repeated whole in the answer.
func TestTransportRefusalsDoNotEcho(t *testing.T) {
	h := checkTransport(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a refused request was served") }))
	long := strings.Repeat("secret-", 200)
	request := func(method, target, contentType, body string) *http.Request {
		r := httptest.NewRequestWithContext(context.Background(), method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		return r
	}
	for _, r := range []*http.Request{
		request(http.MethodPost, "/graphql", "application/json", `{"query":"`+long),
		request(http.MethodPost, "/graphql", "application/json", `{"query":"`+long+`"}x`),
		request(http.MethodPost, "/graphql", "application/json", `{"query":"`+long+`","variables":[]}`),
		request(http.MethodPost, "/graphql", "text/"+long, `{"query":"{ a }"}`),
		request(http.MethodGet, "/graphql?variables="+url.QueryEscape(`["`+long+`"]`), "", ""),
		request(http.MethodGet, "/graphql?query="+long+"%zz", "", ""),
		request(long[:20], "/graphql", "", ""),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code < 400 {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.Contains(rec.Body.String(), strings.Repeat("secret-", 20)) {
			t.Errorf("the answer echoes the input: %.300s", rec.Body.String())
		}
	}
}

// BenchmarkCheckBody measures the check every POST body passes before
// gqlgen decodes it, on a dashboard's typical request.
func BenchmarkCheckBody(b *testing.B) {
	body := []byte(`{"operationName":"Cells","query":"query Cells($id: ID!, $res: Int!) { district(id: $id) { cells(resolution: $res) { id stock demand share } } }","variables":{"id":"tpe-TP01","res":7}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if msg := checkBody(body); msg != "" {
			b.Fatal(msg)
		}
	}
}
