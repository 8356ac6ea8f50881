package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// bodyBuffer is a request body held in memory, as limitBody read it and
// checkPOST checked it: the bytes, a reader over them, and once checkPOST
// has decoded them, the request's parameters, so that the POST transport
// takes them instead of reading and decoding the body again. It is still
// an ordinary body to anything that reads it.
type bodyBuffer struct {
	bytes.Reader
	body     []byte
	params   *graphql.RawParams // nil until decoded
	readTime graphql.TraceTiming
}

func newBodyBuffer(body []byte) *bodyBuffer {
	b := &bodyBuffer{body: body}
	b.Reset(body)
	return b
}

// Close implements io.Closer.
func (*bodyBuffer) Close() error { return nil }

// unread returns the bytes of r's body when it is a bodyBuffer nothing
// has read from yet.
func unread(r *http.Request) ([]byte, bool) {
	b, ok := r.Body.(*bodyBuffer)
	if !ok || b.Len() != len(b.body) {
		return nil, false
	}
	return b.body, true
}

// decodeParams decodes a POST body as gqlgen's POST transport does (a
// json.Decoder with UseNumber) and reports whether it is well-formed: one
// JSON object, with nothing but white space around it, whose members
// decode into graphql.RawParams. Any body it refuses goes through
// checkBody and the transport's own decoding, as before; one it accepts
// checkBody would pass and the transport would decode to the same
// parameters.
func decodeParams(body []byte) (*graphql.RawParams, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var p graphql.RawParams
	if err := dec.Decode(&p); err != nil {
		return nil, false
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return nil, false
	}
	return &p, true
}

// postTransport is gqlgen's POST transport (transport.POST with its
// defaults) that takes the parameters checkPOST decoded instead of
// reading and decoding the body a second time. A request without them is
// served by transport.POST itself.
type postTransport struct {
	transport.POST
}

var _ graphql.Transport = postTransport{}

// Supports implements graphql.Transport as transport.POST does.
func (t postTransport) Supports(r *http.Request) bool {
	if b, ok := r.Body.(*bodyBuffer); ok && b.params != nil && r.Method == http.MethodPost &&
		r.Header.Get("Upgrade") == "" && r.Header.Get("Content-Type") == jsonMediaType {
		return true
	}
	return t.POST.Supports(r)
}

// jsonMediaType is the Content-Type of a GraphQL POST body.
const jsonMediaType = "application/json"

// Do implements graphql.Transport: what transport.POST.Do does once it
// has decoded the body.
func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	b, ok := r.Body.(*bodyBuffer)
	if !ok || b.params == nil {
		t.POST.Do(w, r, exec)
		return
	}
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Add("Content-Type", contentType)
	params := b.params
	params.Headers = r.Header
	params.ReadTime = b.readTime
	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
			if contentType == graphqlResponseMediaType {
				status = http.StatusBadRequest
			}
		}
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
}

// graphqlResponseMediaType is the Content-Type of the GraphQL over HTTP
// draft's answers.
const graphqlResponseMediaType = "application/graphql-response+json"

// responseContentType is the Content-Type transport.POST answers r with:
// application/json when r accepts it (or anything) before the GraphQL
// response type, or has no Accept header; the GraphQL response type
// otherwise.
func responseContentType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return jsonMediaType
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", jsonMediaType:
			return jsonMediaType
		case graphqlResponseMediaType:
			return graphqlResponseMediaType
		}
	}
	return graphqlResponseMediaType
}

// writeResponse writes a response as transport.POST does: the bytes
// json.Marshal writes. An answer with data only, whose data json.Marshal
// would copy as it is (valid JSON without white space, nothing it
// escapes), is written without it.
func writeResponse(w io.Writer, response *graphql.Response) {
	if dataOnly(response) {
		buf := responseBufs.Get().(*bytes.Buffer)
		buf.Reset()
		buf.WriteString(`{"data":`)
		buf.Write(response.Data)
		buf.WriteByte('}')
		_, _ = w.Write(buf.Bytes())
		if buf.Cap() <= maxPooledResponse {
			responseBufs.Put(buf)
		}
		return
	}
	b, err := json.Marshal(response)
	if err != nil {
		panic(fmt.Errorf("unable to marshal %s: %w", string(response.Data), err))
	}
	_, _ = w.Write(b)
}

// responseBufs holds the buffers writeResponse writes answers with; one
// that grew past maxPooledResponse is left to the collector.
var responseBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledResponse = 64 << 10

// dataOnly reports whether json.Marshal would write r as {"data":DATA}
// with its data as it is: r has no errors, label, path, hasNext or
// extensions, and its data is valid JSON with no white space and no byte
// json.Marshal escapes in it (<, >, & and the first byte of U+2028 and
// U+2029).
func dataOnly(r *graphql.Response) bool {
	if r == nil || len(r.Errors) > 0 || r.Label != "" || len(r.Path) > 0 || r.HasNext != nil || len(r.Extensions) > 0 || len(r.Data) == 0 {
		return false
	}
	for _, b := range r.Data {
		switch b {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return false
		}
	}
	return json.Valid(r.Data)
}
