package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// echoSchema answers every operation with what the executor was given:
// the query, operation name, variables (their Go types included) and
// extensions.
func echoSchema() graphql.ExecutableSchema {
	return oneShotSchema(`
		type Query { echo: String! }
		type Mutation { touch: String! }`, func(ctx context.Context) any {
		oc := graphql.GetOperationContext(ctx)
		types := map[string]string{}
		for k, v := range oc.Variables {
			types[k] = strings.TrimPrefix(strings.TrimPrefix(typeName(v), "json."), "map")
		}
		return map[string]any{"echo": map[string]any{
			"query": oc.RawQuery, "operationName": oc.OperationName, "variables": oc.Variables,
			"types": types, "extensions": oc.Extensions, "headers": oc.Headers.Get("X-Echo"),
		}}
	})
}

func typeName(v any) string {
	switch v.(type) {
	case json.Number:
		return "json.Number"
	case float64:
		return "float64"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return "other"
}

// TestPostTransportAsGqlgens: the POST transport that takes the
// parameters checkPOST decoded answers every request exactly as gqlgen's
// transport.POST does after the same checks (status, headers, body), on
// bodies well-formed and not, with every kind of Accept header; and it
// does take the decoded parameters for the well-formed ones.
func TestPostTransportAsGqlgens(t *testing.T) {
	ours, theirs := postPair()
	tests := []struct {
		name string
		give string
		fast bool // decoded once by checkPOST
	}{
		{name: "query", give: `{"query":"{ echo }"}`, fast: true},
		{name: "all members", give: `{"query":"query Q($a: Int) { echo }","operationName":"Q","variables":{"a":1,"b":1.5e300,"c":"x","d":[1,{"e":null}],"f":true,"g":12345678901234567890},"extensions":{"x":{"y":[1]}}}`, fast: true},
		{name: "null members", give: `{"query":"{ echo }","operationName":null,"variables":null,"extensions":null}`, fast: true},
		{name: "white space around", give: " \t\r\n{\"query\":\"{ echo }\"}\n\n ", fast: true},
		{name: "unicode space after", give: "{\"query\":\"{ echo }\"}\u00a0", fast: true},
		{name: "unicode space before", give: "\u00a0{\"query\":\"{ echo }\"}"},
		{name: "keys in other cases", give: `{"QUERY":"{ echo }","Variables":{"a":2}}`, fast: true},
		{name: "a key twice", give: `{"query":"{ nope }","query":"{ echo }"}`, fast: true},
		{name: "a key twice, once a number", give: `{"query":1,"query":"{ echo }"}`},
		{name: "unknown members", give: `{"query":"{ echo }","headers":{"X-Echo":["no"]},"id":7}`, fast: true},
		{name: "escapes", give: `{"query":"{ echo }\u0000","variables":{"s":"\u003c\ud83d\ude00\""}}`, fast: true},
		{name: "invalid UTF-8", give: "{\"query\":\"{ echo }\",\"variables\":{\"s\":\"\xff\"}}", fast: true},
		{name: "a compact answer", give: `{"query":"{echo}","variables":{"s":"x"}}`, fast: true},
		{name: "an answer with what JSON escapes", give: `{"query":"{echo}","variables":{"s":"<&>"}}`, fast: true},
		{name: "an answer with U+2028", give: `{"query":"{echo}","variables":{"s":"\u2028"}}`, fast: true},
		{name: "an answer with U+2029", give: `{"query":"{echo}","variables":{"s":"\u2029"}}`, fast: true},
		{name: "an answer with white space", give: `{"query":"{echo}","variables":{"s":"a\tb"}}`, fast: true},
		{name: "no query", give: `{}`, fast: true},
		{name: "empty query", give: `{"query":""}`, fast: true},
		{name: "syntax error", give: `{"query":"{ echo "}`, fast: true},
		{name: "validation error", give: `{"query":"{ nope }"}`, fast: true},
		{name: "unknown operation", give: `{"query":"query A { echo }","operationName":"B"}`, fast: true},
		{name: "a variable undeclared", give: `{"query":"query($a: Int!) { echo }","variables":{}}`, fast: true},
		{name: "a variable of the wrong type", give: `{"query":"query($a: Int!) { echo }","variables":{"a":"x"}}`, fast: true},
		{name: "a mutation", give: `{"query":"mutation { touch }"}`, fast: true},
		{name: "query a number", give: `{"query":1}`},
		{name: "variables an array", give: `{"query":"{ echo }","variables":[1]}`},
		{name: "extensions a string", give: `{"query":"{ echo }","extensions":"x"}`},
		{name: "more after the object", give: `{"query":"{ echo }"} {}`},
		{name: "not JSON", give: `{"query":`},
		{name: "an array", give: `[{"query":"{ echo }"}]`},
		{name: "a string", give: `"{ echo }"`},
		{name: "null", give: `null`},
		{name: "empty", give: ``},
	}
	fast := 0
	for _, tt := range tests {
		if _, ok := decodeParams([]byte(tt.give)); ok != tt.fast {
			t.Errorf("%s: decoded once %v, want %v", tt.name, ok, tt.fast)
		} else if ok {
			fast++
		}
		for _, accept := range postAccepts {
			for _, ct := range postTypes {
				if diff := comparePOST(ours, theirs, tt.give, accept, ct); diff != "" {
					t.Errorf("%s: %s", tt.name, diff)
				}
			}
		}
	}
	if fast < 15 {
		t.Errorf("only %d bodies decoded once", fast)
	}
}

// postAccepts and postTypes are the Accept and Content-Type headers the
// POST transports are compared under.
var (
	postAccepts = []string{"", "application/json", "application/graphql-response+json", "*/*", "text/html",
		"application/graphql-response+json, application/json", "text/html, application/*;q=0.5", "a/b;;, application/json", "text/event-stream"}
	postTypes = []string{"application/json", "", "application/json; charset=utf-8"}
)

// postPair is the handler with the POST transport that takes checkPOST's
// parameters and the same with gqlgen's transport.POST, over echoSchema.
func postPair() (ours, theirs http.Handler) {
	serve := func(tr graphql.Transport) http.Handler {
		srv := handler.New(echoSchema())
		srv.AddTransport(transport.SSE{})
		srv.AddTransport(tr)
		return limitBody(1<<20, checkTransport(srv))
	}
	return serve(postTransport{}), serve(transport.POST{})
}

// comparePOST sends body with the headers to both handlers and says how
// the answers differ (status, Content-Type, body), or "".
func comparePOST(ours, theirs http.Handler, body, accept, contentType string) string {
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		r.Header.Set("X-Echo", "yes")
		return r
	}
	got, want := httptest.NewRecorder(), httptest.NewRecorder()
	ours.ServeHTTP(got, req())
	theirs.ServeHTTP(want, req())
	if got.Code != want.Code || got.Body.String() != want.Body.String() ||
		strings.Join(got.Header().Values("Content-Type"), ",") != strings.Join(want.Header().Values("Content-Type"), ",") {
		return fmt.Sprintf("body %q, Accept %q, Content-Type %q:\n got %d %v %s\nwant %d %v %s", body, accept, contentType,
			got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
	}
	return ""
}

// FuzzPOSTBody: on any body, under any of the compared Accept and
// Content-Type headers, the POST transport that takes checkPOST's
// parameters answers exactly as gqlgen's transport.POST does.
func FuzzPOSTBody(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ echo }"}`,
		`{"query":"query Q($a: Int) { echo }","operationName":"Q","variables":{"a":1,"b":1.5e300,"c":"x","d":[1,{"e":null}]},"extensions":{"x":{"y":[1]}}}`,
		`{"query":"{ echo }","operationName":null,"variables":null,"extensions":null}`,
		"\u00a0{\"query\":\"{ echo }\"}",
		`{"QUERY":"{ echo }","Variables":{"a":2}}`,
		`{"query":1,"query":"{ echo }"}`,
		`{"query":"{ echo }"} {}`,
		`[{"query":"{ echo }"}]`,
		`{"query":"query($a: Int!) { echo }","variables":{"a":"x"}}`,
		`null`,
		``,
	} {
		f.Add(seed, uint8(0), uint8(0))
	}
	ours, theirs := postPair()
	f.Fuzz(func(t *testing.T, body string, accept, contentType uint8) {
		a := postAccepts[int(accept)%len(postAccepts)]
		ct := postTypes[int(contentType)%len(postTypes)]
		if diff := comparePOST(ours, theirs, body, a, ct); diff != "" {
			t.Error(diff)
		}
	})
}

// TestReadBody reads bodies whose stated length is right, short, long or
// unknown: each is read whole up to max+1 bytes, whatever it states.
func TestReadBody(t *testing.T) {
	const max = 8
	tests := []struct {
		body   string
		length int64 // ContentLength as stated; -1 unknown
		want   string
	}{
		{"abc", 3, "abc"},
		{"abc", -1, "abc"},
		{"", 0, ""},
		{"abcdefgh", 8, "abcdefgh"},
		{"abcdefghij", 10, "abcdefghi"}, // stated over max: max+1 as it comes
		{"abcdefghij", 3, "abcdefghi"},  // longer than stated: the rest up to max+1
		{"abcdefghij", 8, "abcdefghi"},
		{"ab", 5, "ab"}, // shorter than stated
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(tt.body))
		r.ContentLength = tt.length
		got, err := readBody(r, max)
		if err != nil || string(got) != tt.want {
			t.Errorf("readBody(%q, length %d) = %q, %v; want %q", tt.body, tt.length, got, err, tt.want)
		}
	}
}

// TestWriteResponseAsMarshal checks that writeResponse writes what
// json.Marshal writes, for answers it writes itself and for those it
// leaves to json.Marshal.
func TestWriteResponseAsMarshal(t *testing.T) {
	yes := true
	tests := []struct {
		give *graphql.Response
		fast bool
	}{
		{&graphql.Response{Data: []byte(`{"a":{"b":"c","d":[1,2.5e3,null,true]}}`)}, true},
		{&graphql.Response{Data: []byte(`{"a":"é😀\u0001"}`)}, true},
		{&graphql.Response{Data: []byte(`null`)}, true},
		{&graphql.Response{Data: []byte("{\"a\":\"\u2028\"}")}, false},
		{&graphql.Response{Data: []byte("{\"a\":\"\u2029\"}")}, false},
		{&graphql.Response{Data: []byte("{\"a\":\"\u2027\"}")}, false}, // the same first byte: left to json.Marshal
		{&graphql.Response{Data: []byte(`{"a":"<b>&"}`)}, false},
		{&graphql.Response{Data: []byte(`{"a": 1}`)}, false},
		{&graphql.Response{Data: []byte("{\"a\":\n1}")}, false},
		{&graphql.Response{Data: []byte(`{"a":1}`), Extensions: map[string]any{"x": 1}}, false},
		{&graphql.Response{Data: []byte(`{"a":1}`), Label: "l"}, false},
		{&graphql.Response{Data: []byte(`{"a":1}`), HasNext: &yes}, false},
		{&graphql.Response{Data: []byte(`{"a":1}`), Path: ast.Path{ast.PathName("a")}}, false},
		{&graphql.Response{Data: []byte(`{"a":1}`), Errors: gqlerror.List{gqlerror.Errorf("x")}}, false},
		{&graphql.Response{}, false},
	}
	for _, tt := range tests {
		if got := dataOnly(tt.give); got != tt.fast {
			t.Errorf("dataOnly(%s) = %v, want %v", tt.give.Data, got, tt.fast)
		}
		want, err := json.Marshal(tt.give)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		writeResponse(&got, tt.give)
		if got.String() != string(want) {
			t.Errorf("writeResponse(%s) wrote %s, json.Marshal %s", tt.give.Data, got.String(), want)
		}
	}
}

// FuzzWriteResponse checks writeResponse against json.Marshal on any
// data: the same bytes whenever json.Marshal accepts the data.
func FuzzWriteResponse(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":"<b>"}`, "{\"a\":\"\u2028\"}", `{"a": [1, 2]}`, `null`, `"\u00e9"`, "{\"a\":\"\xff\"}", `{"a":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &graphql.Response{Data: data}
		want, err := json.Marshal(r)
		if err != nil {
			if dataOnly(r) {
				t.Fatalf("dataOnly accepts %q, which json.Marshal refuses: %v", data, err)
			}
			return
		}
		var got strings.Builder
		writeResponse(&got, r)
		if got.String() != string(want) {
			t.Fatalf("writeResponse(%q) wrote %s, json.Marshal %s", data, got.String(), want)
		}
	})
}
