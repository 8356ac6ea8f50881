package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Defaults applied by WebsocketTransport to zero-valued WSOptions fields.
const (
	DefaultWSMaxMessageSize        int64 = 1 << 20
	DefaultWSKeepAlivePingInterval       = 10 * time.Second
	DefaultWSPingPongInterval            = 10 * time.Second
	DefaultWSInitTimeout                 = 10 * time.Second
	DefaultWSWriteTimeout                = 10 * time.Second
)

// Subprotocol names of the two GraphQL-over-WebSocket protocols gqlgen speaks.
const (
	// SubprotocolGraphQLTransportWS is the graphql-transport-ws protocol of
	// the graphql-ws library (messages subscribe, next, complete, ping, pong).
	SubprotocolGraphQLTransportWS = "graphql-transport-ws"
	// SubprotocolGraphQLWS is the legacy subscriptions-transport-ws protocol
	// (messages start, data, stop, ka). gqlgen also uses it for clients that
	// offer no subprotocol.
	SubprotocolGraphQLWS = "graphql-ws"
)

// closeFrameTimeout bounds the write of a close frame.
const closeFrameTimeout = time.Second

// Buffers of a connection. An idle subscriber should cost little, and most
// of what a connection costs is buffers: the read buffer is held for the
// connection's life, since its goroutine always waits in a read, while
// write buffers come from a pool shared by all connections and are held
// only while a message is written.
const (
	// wsReadBufferSize is each connection's read buffer. What clients
	// send is small and rare (connection_init, subscribe, pong); a larger
	// message is read past the buffer.
	wsReadBufferSize = 256
	// wsWriteBufferSize is the size of the pooled write buffers; a message
	// goes out as one frame whatever its size.
	wsWriteBufferSize = 4096
)

// maxCloseReason is the longest close reason a close frame can carry: 125
// payload bytes less the 2-byte status code.
const maxCloseReason = 123

// WSOptions configures WebsocketTransport. The zero value is usable: it
// accepts same-origin and Origin-less requests, limits messages to
// DefaultWSMaxMessageSize and uses the default intervals and timeouts.
type WSOptions struct {
	// CheckOrigin decides whether the handshake request r may be upgraded.
	// If nil, requests without an Origin header, requests whose Origin host
	// equals the request's Host, and requests from AllowedOrigins are
	// accepted. A request refused here is answered 400 "unable to upgrade"
	// by gqlgen.
	CheckOrigin func(r *http.Request) bool

	// AllowedOrigins lists further origins accepted by the default policy,
	// as scheme://host[:port] (for example "https://app.example.com"),
	// compared case-insensitively. It is ignored when CheckOrigin is set.
	AllowedOrigins []string

	// MaxMessageSize is the largest message in bytes read from a client;
	// a larger one closes the connection with status 1009. Zero means
	// DefaultWSMaxMessageSize, a negative value no limit.
	MaxMessageSize int64

	// KeepAlivePingInterval is how often a "ka" message is sent on legacy
	// graphql-ws connections. Zero means DefaultWSKeepAlivePingInterval, a
	// negative value none.
	KeepAlivePingInterval time.Duration

	// PingPongInterval is how often a "ping" message is sent on
	// graphql-transport-ws connections; a client that does not answer with
	// "pong" (or any other message) within twice the interval is
	// disconnected. Zero means DefaultWSPingPongInterval, a negative value
	// no pings.
	PingPongInterval time.Duration

	// InitTimeout is how long a client has after the handshake to send
	// connection_init. Zero means DefaultWSInitTimeout, a negative value no
	// limit.
	InitTimeout time.Duration

	// WriteTimeout bounds each message write, so a stalled client cannot
	// block the connection's other writers. Zero means
	// DefaultWSWriteTimeout, a negative value no limit.
	WriteTimeout time.Duration

	// InitFunc, if set, is called with the connection_init payload before
	// the connection is acknowledged, for example to authenticate it. The
	// context it returns is used for the connection's operations; an error
	// refuses the connection. It can also be set on the returned
	// WSTransport.
	InitFunc transport.WebsocketInitFunc

	// Logger reports a connection that panicked (the connection is closed
	// and the hub goes on); slog.Default() when nil.
	Logger *slog.Logger
}

// WebsocketTransport returns gqlgen's websocket transport configured by
// opts and running on github.com/gorilla/websocket instead of gqlgen's
// default github.com/coder/websocket (see WSTransport). It speaks both
// graphql-transport-ws and the legacy graphql-ws; when a client offers
// both, graphql-transport-ws is chosen. Fields of the returned value
// (ErrorFunc, CloseFunc, InitFunc, ...) may be adjusted before it is
// passed to handler.Server.AddTransport.
//
// The keep-alives ("ping" on graphql-transport-ws, "ka" on graphql-ws) are
// sent by the connection itself from a timer, not by gqlgen, whose
// keep-alives cost a goroutine per connection: leave the returned value's
// KeepAlivePingInterval, PingPongInterval and PongOnlyInterval at zero.
func WebsocketTransport(opts WSOptions) WSTransport {
	readLimit := opts.MaxMessageSize
	switch {
	case readLimit == 0:
		readLimit = DefaultWSMaxMessageSize
	case readLimit < 0:
		readLimit = -1 // gqlgen's value for no limit.
	}

	checkOrigin := opts.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = originPolicy(opts.AllowedOrigins)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	return WSTransport{
		Websocket: transport.Websocket{
			Implementation: gorillaWebsocket{
				upgrader: websocket.Upgrader{
					HandshakeTimeout: DefaultWSWriteTimeout,
					ReadBufferSize:   wsReadBufferSize,
					WriteBufferSize:  wsWriteBufferSize,
					WriteBufferPool:  &sync.Pool{},
					CheckOrigin:      checkOrigin,
					// Do answers a failed upgrade itself, as gqlgen does;
					// writing a response here too would make it a second,
					// superfluous one.
					Error: func(http.ResponseWriter, *http.Request, int, error) {},
				},
				writeTimeout: durationOrDefault(opts.WriteTimeout, DefaultWSWriteTimeout),
				keepAlive:    durationOrDefault(opts.KeepAlivePingInterval, DefaultWSKeepAlivePingInterval),
				pingPong:     durationOrDefault(opts.PingPongInterval, DefaultWSPingPongInterval),
			},
			InitFunc:         opts.InitFunc,
			InitTimeout:      durationOrDefault(opts.InitTimeout, DefaultWSInitTimeout),
			PayloadReadLimit: &readLimit,
		},
		logger: logger,
	}
}

// WSTransport is gqlgen's websocket transport (transport.Websocket, whose
// fields it promotes), each connection of which runs on a goroutine of its
// own once upgraded (see Do).
type WSTransport struct {
	transport.Websocket
	logger *slog.Logger
}

var _ graphql.Transport = WSTransport{}

// Do upgrades the request on the HTTP server's goroutine and then leaves
// the connection to gqlgen on a new goroutine, and returns. A connection
// lives for as long as its client stays, most of it idle in a read: on the
// server's goroutine that read would keep the deep stack the request was
// served on (the server, the middleware, the handshake) and the server's
// per-connection state; on a goroutine of its own it keeps only what the
// connection needs. The connection's context keeps the request's values;
// it is not cancelled when the handler returns.
//
// A failed upgrade is answered 400 "unable to upgrade", as gqlgen answers
// it. If the transport's Implementation was replaced, Do is gqlgen's.
func (t WSTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	impl, ok := t.Implementation.(gorillaWebsocket)
	if !ok {
		t.Websocket.Do(w, r, exec)
		return
	}
	conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{ResponseHeader: http.Header{}})
	if err != nil {
		transport.SendErrorf(w, http.StatusBadRequest, "unable to upgrade")
		return
	}
	ws := t.Websocket
	ws.Implementation = acceptedConn{conn}
	r = r.WithContext(context.WithoutCancel(r.Context()))
	go func() {
		defer func() {
			if p := recover(); p != nil {
				_ = conn.Close()
				t.logger.Error("websocket connection panicked", "remote", r.RemoteAddr, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		ws.Do(discardWriter{}, r, exec)
	}()
}

// acceptedConn is the Implementation of a connection Do has accepted.
type acceptedConn struct {
	conn transport.WebsocketConn
}

var _ transport.WebsocketImplementation = acceptedConn{}

func (a acceptedConn) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return a.conn, nil
}

// discardWriter is the ResponseWriter gqlgen's Do gets for an upgraded
// connection: no response is written to it.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// durationOrDefault maps zero to def and negative durations to zero, which
// gqlgen reads as disabled.
func durationOrDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	default:
		return d
	}
}

// originPolicy returns the default WSOptions.CheckOrigin: it accepts requests
// without an Origin header, same-origin requests (the Origin's host equals
// the request's Host, as gorilla/websocket's own default compares them) and
// requests from one of allowed.
func originPolicy(allowed []string) func(*http.Request) bool {
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		set[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" {
			return false
		}
		if strings.EqualFold(u.Host, r.Host) {
			return true
		}
		return set[strings.ToLower(u.Scheme+"://"+u.Host)]
	}
}

// gorillaWebsocket implements transport.WebsocketImplementation with
// github.com/gorilla/websocket.
type gorillaWebsocket struct {
	upgrader     websocket.Upgrader
	writeTimeout time.Duration
	// keepAlive and pingPong are the intervals of the "ka" messages of
	// graphql-ws and of the pings of graphql-transport-ws; zero for none.
	keepAlive, pingPong time.Duration
}

var _ transport.WebsocketImplementation = gorillaWebsocket{}

// preferredSubprotocols lists the subprotocols in the order the server
// prefers them when a client offers several.
func preferredSubprotocols() []string {
	return []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS}
}

// Accept upgrades the request to a websocket connection, negotiating one of
// the subprotocols gqlgen asks for.
func (g gorillaWebsocket) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	upgrader := g.upgrader
	upgrader.Subprotocols = preferredSubprotocols()
	for _, p := range options.Subprotocols {
		if !slices.Contains(upgrader.Subprotocols, p) {
			upgrader.Subprotocols = append(upgrader.Subprotocols, p)
		}
	}
	// gorilla/websocket type-asserts http.Hijacker; middleware wrappers
	// that only offer Unwrap (as http.ResponseController expects) would
	// otherwise make every upgrade fail. The wrapper also keeps what the
	// hijack returned, to release its buffers below.
	hw := &hijackingWriter{ResponseWriter: w}
	conn, err := upgrader.Upgrade(hw, r, options.ResponseHeader)
	if err != nil {
		return nil, fmt.Errorf("gorilla websocket upgrade: %w", err)
	}
	hw.releaseBuffers()
	c := &gorillaConn{conn: conn, writeTimeout: g.writeTimeout}
	switch conn.Subprotocol() {
	case SubprotocolGraphQLTransportWS:
		c.keepAlive, c.keepAliveMsg, c.needPong = g.pingPong, pingMessage, true
	default: // graphql-ws, which gqlgen also speaks when none was negotiated
		c.keepAlive, c.keepAliveMsg = g.keepAlive, keepAliveMessage
	}
	return c, nil
}

// The keep-alive messages of the two protocols, as gqlgen writes them.
const (
	pingMessage      = `{"type":"ping"}`
	keepAliveMessage = `{"type":"ka"}`
)

// hijackingWriter gives gorilla/websocket the Hijack of the writer it
// wraps, or of the innermost writer that has one, found through Unwrap by
// http.ResponseController.
type hijackingWriter struct {
	http.ResponseWriter
	rw *bufio.ReadWriter // what Hijack returned
}

// Hijack takes over the connection.
func (h *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack connection for websocket: %w", err)
	}
	h.rw = rw
	return conn, rw, nil
}

// releaseBuffers drops the 4 KiB reader and writer of the hijacked
// connection. They are ours after the hijack, and net/http does not touch
// them again, but its connection, alive for as long as the handler runs
// (the whole websocket connection), keeps pointing at them. gorilla reads
// through its own smaller buffer and writes through the pool, so neither
// is used once the upgrade has answered.
func (h *hijackingWriter) releaseBuffers() {
	if h.rw == nil {
		return
	}
	*h.rw.Reader = bufio.Reader{}
	*h.rw.Writer = bufio.Writer{}
	h.rw = nil
}

// gorillaConn adapts a *websocket.Conn to transport.WebsocketConn and its
// optional read limit and read deadline interfaces. It also sends the
// protocol's keep-alives, from a timer that needs no goroutine between
// them: they start once gqlgen has answered connection_init, when gqlgen
// reads the second message.
type gorillaConn struct {
	conn         *websocket.Conn
	writeTimeout time.Duration

	// writeMu serialises data frames: gorilla allows one concurrent writer.
	// gqlgen already serialises its writes; the keep-alives are written
	// from their timer.
	writeMu sync.Mutex

	keepAlive    time.Duration // between keep-alives; zero for none
	keepAliveMsg string
	// needPong says the client must answer: a client that sends nothing
	// within twice keepAlive of a keep-alive is disconnected.
	needPong bool
	reads    atomic.Int32 // calls of NextReader

	kaMu   sync.Mutex  // guards the fields below and the read deadline
	timer  *time.Timer // the next keep-alive; nil until they start
	heard  bool        // a message arrived since the last keep-alive
	closed bool
}

var (
	_ transport.WebsocketConn          = (*gorillaConn)(nil)
	_ transport.WebsocketReadLimiter   = (*gorillaConn)(nil)
	_ transport.WebsocketReadDeadliner = (*gorillaConn)(nil)
)

// Close stops the keep-alives and closes the underlying network
// connection without a close frame.
func (c *gorillaConn) Close() error {
	c.kaMu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.kaMu.Unlock()
	return c.conn.Close()
}

// NextReader returns the next data message. A close frame with status 1000,
// 1001 or none is reported as transport.ErrWebsocketClosed, as gqlgen
// expects for a peer's normal close.
func (c *gorillaConn) NextReader() (int, io.Reader, error) {
	if c.reads.Add(1) == 2 {
		c.startKeepAlive()
	}
	messageType, r, err := c.conn.NextReader()
	if err != nil {
		if websocket.IsCloseError(err,
			websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			return messageType, nil, transport.ErrWebsocketClosed
		}
		return messageType, nil, err
	}
	if c.needPong {
		// The client answered, with a pong or anything else.
		_ = c.SetReadDeadline(time.Time{})
	}
	return messageType, r, nil
}

// startKeepAlive arms the first keep-alive. gqlgen reads the message after
// connection_init only once it has acknowledged the connection, which is
// when it would start its own keep-alives.
func (c *gorillaConn) startKeepAlive() {
	if c.keepAlive <= 0 {
		return
	}
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	if c.closed {
		return
	}
	if c.needPong {
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * c.keepAlive))
	}
	c.timer = time.AfterFunc(c.keepAlive, c.sendKeepAlive)
}

// sendKeepAlive writes one keep-alive and arms the next. When the client
// must answer and has since the last one, its read deadline is set to
// twice the interval from now; when it has not, the deadline set before
// stands, and the connection's read fails when it passes. The client's
// next message clears the deadline (SetReadDeadline).
func (c *gorillaConn) sendKeepAlive() {
	c.kaMu.Lock()
	if c.closed {
		c.kaMu.Unlock()
		return
	}
	if c.needPong && c.heard {
		c.heard = false
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * c.keepAlive))
	}
	c.kaMu.Unlock()
	// A failed write leaves the connection to its reader, which fails too.
	_ = c.writeMessage([]byte(c.keepAliveMsg))
	c.kaMu.Lock()
	if !c.closed {
		c.timer.Reset(c.keepAlive)
	}
	c.kaMu.Unlock()
}

// WriteJSON sends v as one text message.
func (c *gorillaConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode websocket message: %w", err)
	}
	return c.writeMessage(data)
}

// writeMessage sends data as one text message.
func (c *gorillaConn) writeMessage(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeTimeout > 0 {
		if err := c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return fmt.Errorf("set websocket write deadline: %w", err)
		}
	}
	return c.conn.WriteMessage(websocket.TextMessage, data)
}

// WriteClose sends a close frame; it does not wait for the peer's answer.
// A reason too long for a control frame is truncated.
func (c *gorillaConn) WriteClose(closeCode int, message string) error {
	payload := websocket.FormatCloseMessage(closeCode, truncateUTF8(message, maxCloseReason))
	return c.conn.WriteControl(websocket.CloseMessage, payload, time.Now().Add(closeFrameTimeout))
}

// Subprotocol returns the negotiated subprotocol, or "" if none was.
func (c *gorillaConn) Subprotocol() string {
	return c.conn.Subprotocol()
}

// SetReadLimit sets the largest message size read; a larger message closes
// the connection with status 1009.
func (c *gorillaConn) SetReadLimit(limit int64) {
	c.conn.SetReadLimit(limit)
}

// SetReadDeadline sets the deadline for reads; the zero time clears it.
// After a deadline has passed the connection is unusable, which is how
// clients that stop answering pings are dropped. gqlgen clears the
// deadline when a pong arrives; that counts as the client's answer to the
// keep-alives.
func (c *gorillaConn) SetReadDeadline(t time.Time) error {
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	if t.IsZero() {
		c.heard = true
	}
	return c.conn.SetReadDeadline(t)
}

// truncateUTF8 shortens s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
