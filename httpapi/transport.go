package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// checkTransport answers the requests to /graphql that no transport
// would take, or that a transport would refuse with a bare message, with
// a GraphQL error carrying extensions.code BAD_USER_INPUT and the HTTP
// status that names the refusal:
//
//   - a method other than GET, POST and OPTIONS: 405, Allow: GET, POST, OPTIONS;
//   - a mutation or subscription over GET: 405, Allow: POST;
//   - a GET whose URL query, variables or extensions do not decode: 400;
//   - a POST body that is not JSON but says so (Content-Type other than
//     application/json): 415; a POST without Content-Type is taken as
//     JSON when its body is a JSON object;
//   - a POST body that is empty, not JSON, not one object (a batch), or
//     whose query, operationName, variables or extensions have the wrong
//     type: 400.
//
// WebSocket upgrades pass to their transport. What passes here reaches
// gqlgen's transports well-formed; a POST body checkPOST decoded reaches
// the POST transport decoded (postTransport), any other is decoded again
// by its transport.
func checkTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if up := r.Header.Get("Upgrade"); up != "" {
			switch {
			case !strings.EqualFold(strings.TrimSpace(up), "websocket"):
				refuse(w, http.StatusBadRequest, "Upgrade %q is not supported: /graphql upgrades to websocket only", hub.Clip(up))
			case r.Method != http.MethodGet:
				w.Header().Set("Allow", http.MethodGet)
				refuse(w, http.StatusMethodNotAllowed, "a WebSocket upgrade is a GET request, not %s", hub.Clip(r.Method))
			default:
				next.ServeHTTP(w, r)
			}
			return
		}
		switch r.Method {
		case http.MethodOptions:
			next.ServeHTTP(w, r)
		case http.MethodGet:
			if checkGET(w, r) {
				next.ServeHTTP(w, r)
			}
		case http.MethodPost:
			if r, ok := checkPOST(w, r); ok {
				next.ServeHTTP(w, r)
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			refuse(w, http.StatusMethodNotAllowed, "method %s is not allowed on /graphql: send POST (or GET for a query)", hub.Clip(r.Method))
		}
	})
}

// refuse answers a request with a BAD_USER_INPUT GraphQL error.
func refuse(w http.ResponseWriter, status int, format string, args ...any) {
	WriteError(w, status, hub.Errorf(hub.EINVALID, format, args...))
}

// checkGET refuses a GET request the GET transport would answer without
// extensions.code; it reports whether the request may go on.
func checkGET(w http.ResponseWriter, r *http.Request) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		refuse(w, http.StatusBadRequest, "the URL query string is malformed: %s", hub.Clip(err.Error()))
		return false
	}
	for _, name := range []string{"variables", "extensions"} {
		if v := q.Get(name); v != "" && !isJSONObject([]byte(v)) {
			refuse(w, http.StatusBadRequest, "%s must be a JSON object", name)
			return false
		}
	}
	switch operationType(q.Get("query"), q.Get("operationName")) {
	case ast.Mutation:
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, "mutations need POST: GET runs queries only")
		return false
	case ast.Subscription:
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, "subscriptions need POST with Accept: text/event-stream, or a WebSocket: GET runs queries only")
		return false
	}
	return true
}

// operationType is the type of the operation a GET request would run, or
// "" when the document does not parse or names no single operation (the
// executor then says what is wrong). Only a document that mentions a
// mutation or subscription is parsed here.
func operationType(query, name string) ast.Operation {
	if !strings.Contains(query, string(ast.Mutation)) && !strings.Contains(query, string(ast.Subscription)) {
		return ""
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return ""
	}
	if name == "" && len(doc.Operations) != 1 {
		return ""
	}
	if op := doc.Operations.ForName(name); op != nil {
		return op.Operation
	}
	return ""
}

// postBody is the shape of a GraphQL POST body, each member undecoded.
type postBody struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

// checkPOST refuses a POST request whose body the POST and SSE transports
// would refuse without extensions.code, or take for something it is not;
// it returns the request to go on with (given application/json when it
// had no Content-Type) and whether it may.
//
// A body it finds well-formed it decodes once, for the POST transport
// (see postTransport).
func checkPOST(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && ct != jsonMediaType {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != jsonMediaType {
			w.Header().Set("Accept-Post", jsonMediaType)
			refuse(w, http.StatusUnsupportedMediaType, "Content-Type %q is not supported: send the request as application/json", hub.Clip(ct))
			return nil, false
		}
	}
	body, buffered := unread(r)
	if !buffered && r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			refuse(w, http.StatusBadRequest, "cannot read request body")
			return nil, false
		}
	}
	start := graphql.Now()
	params, ok := decodeParams(body)
	if !ok {
		if msg := checkBody(body); msg != "" {
			WriteError(w, http.StatusBadRequest, &hub.Error{Code: hub.EINVALID, Message: msg})
			return nil, false
		}
	}
	b, _ := r.Body.(*bodyBuffer)
	if !buffered {
		b = newBodyBuffer(body)
	}
	if ok {
		b.params = params
		b.readTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	}
	r.Body = b
	if ct == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Content-Type", "application/json")
	}
	return r, true
}

// checkBody says what is wrong with a POST body, or "".
func checkBody(body []byte) string {
	const example = `send a JSON object such as {"query": "{ supplies { sku } }"}`
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return "the request body is empty: " + example
	case trimmed[0] == '[':
		if json.Valid(trimmed) {
			return "the request body is a JSON array: batched operations are not supported, " + example
		}
	case trimmed[0] != '{':
		if json.Valid(trimmed) {
			return "the request body must be a JSON object: " + example
		}
	}
	var b postBody
	if err := json.Unmarshal(trimmed, &b); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se) && json.Valid(trimmed[:firstValueEnd(trimmed)]):
			return "the request body has more after its JSON object: " + example
		case errors.As(err, &se):
			return "the request body is not valid JSON (at byte " + strconv.FormatInt(se.Offset, 10) + "): " + example
		case errors.As(err, &te):
			return "the request body must be a JSON object: " + example
		}
		return "the request body is not valid JSON: " + example
	}
	switch {
	case !isJSONKind(b.Query, '"'):
		return "query must be a string"
	case !isJSONKind(b.OperationName, '"'):
		return "operationName must be a string"
	case !isJSONKind(b.Variables, '{'):
		return "variables must be a JSON object"
	case !isJSONKind(b.Extensions, '{'):
		return "extensions must be a JSON object"
	}
	return ""
}

// firstValueEnd is the offset just past the first JSON value of b, or 0
// when it does not start with one.
func firstValueEnd(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v json.RawMessage
	if dec.Decode(&v) != nil {
		return 0
	}
	return int(dec.InputOffset())
}

// isJSONKind reports whether raw is absent, null or a JSON value that
// starts with first ('"' a string, '{' an object).
func isJSONKind(raw json.RawMessage, first byte) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || raw[0] == first
}

// isJSONObject reports whether b is a JSON object (or null).
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return json.Valid(b) && isJSONKind(b, '{')
}
