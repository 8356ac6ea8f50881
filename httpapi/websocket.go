package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
)

// Defaults applied by WebsocketTransport to zero-valued WSOptions fields.
const (
	DefaultWSMaxMessageSize        int64 = 1 << 20
	DefaultWSKeepAlivePingInterval       = 10 * time.Second
	DefaultWSPingPongInterval            = 10 * time.Second
	DefaultWSInitTimeout                 = 10 * time.Second
	DefaultWSWriteTimeout                = 10 * time.Second
)

// Subprotocol names of the two GraphQL-over-WebSocket protocols spoken.
const (
	// SubprotocolGraphQLTransportWS is the graphql-transport-ws protocol of
	// the graphql-ws library (messages subscribe, next, complete, ping, pong).
	SubprotocolGraphQLTransportWS = "graphql-transport-ws"
	// SubprotocolGraphQLWS is the legacy subscriptions-transport-ws protocol
	// (messages start, data, stop, ka), also spoken to clients that
	// offer no subprotocol.
	SubprotocolGraphQLWS = "graphql-ws"
)

// closeFrameTimeout bounds the write of a close frame.
const closeFrameTimeout = time.Second

// Buffers of a connection. An idle subscriber should cost little, and most
// of what a connection costs is buffers: the read buffer is held for the
// connection's life, while write buffers come from a pool shared by all
// connections and are held only while a message is written.
const (
	// wsReadBufferSize is each connection's read buffer. What clients
	// send is small and rare (connection_init, subscribe, pong); a larger
	// message is read past the buffer. The upgrader is given no read
	// buffer size, so that gorilla reads through the reader of the
	// hijacked connection (its documented behaviour for size zero), which
	// Do then cuts to this size: the connection can then ask that reader
	// whether it holds unread bytes (see wsReadiness).
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
	// accepted. A request refused here is answered 400 "unable to
	// upgrade".
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
	// graphql-transport-ws connections (on a 250 ms grid, so a ping may
	// come up to 250 ms late); a client that sends nothing ("pong" or any
	// other message) for two to three intervals is disconnected (1001). Zero means DefaultWSPingPongInterval, a negative value
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

	// MaxOperations bounds the operations one connection runs at once; a
	// further one gets an error (RATE_LIMITED) and the connection stays
	// up. Zero means DefaultWSMaxOperations.
	MaxOperations int

	// InitFunc is WSTransport.InitFunc; it can also be set on the
	// returned WSTransport.
	InitFunc transport.WebsocketInitFunc

	// Share, if set, lets subscribers that would see the same thing share
	// one execution and one encoded message per event (see ShareOptions);
	// nil runs every operation on its own.
	Share *ShareOptions

	// Logger reports a connection that panicked (the connection is closed
	// and the hub goes on); slog.Default() when nil.
	Logger *slog.Logger
}

// DefaultWSMaxOperations is the default of WSOptions.MaxOperations.
const DefaultWSMaxOperations = 100

// WebsocketTransport returns the WebSocket transport configured by opts. It
// speaks both graphql-transport-ws and the legacy graphql-ws (see
// WSTransport); when a client offers both, graphql-transport-ws is chosen,
// and a client that offers neither is spoken to in graphql-ws. InitFunc
// and CloseFunc of the returned value may be set before it is passed to
// handler.Server.AddTransport.
func WebsocketTransport(opts WSOptions) WSTransport {
	readLimit := opts.MaxMessageSize
	switch {
	case readLimit == 0:
		readLimit = DefaultWSMaxMessageSize
	case readLimit < 0:
		readLimit = 0 // gorilla's value for no limit
	}
	maxOps := opts.MaxOperations
	if maxOps <= 0 {
		maxOps = DefaultWSMaxOperations
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
		InitFunc: opts.InitFunc,
		cfg: &wsConfig{
			upgrader: websocket.Upgrader{
				HandshakeTimeout: DefaultWSWriteTimeout,
				// Zero: gorilla reads through the hijacked reader (see
				// wsReadBufferSize).
				ReadBufferSize:  0,
				WriteBufferSize: wsWriteBufferSize,
				WriteBufferPool: &sync.Pool{},
				CheckOrigin:     checkOrigin,
				Subprotocols:    []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS},
				// Do answers a failed upgrade itself.
				Error: func(http.ResponseWriter, *http.Request, int, error) {},
			},
			readLimit:    readLimit,
			maxOps:       maxOps,
			initTimeout:  durationOrDefault(opts.InitTimeout, DefaultWSInitTimeout),
			writeTimeout: durationOrDefault(opts.WriteTimeout, DefaultWSWriteTimeout),
			keepAlive:    durationOrDefault(opts.KeepAlivePingInterval, DefaultWSKeepAlivePingInterval),
			pingPong:     durationOrDefault(opts.PingPongInterval, DefaultWSPingPongInterval),
			logger:       logger,
			share:        newSharing(opts.Share),
		},
	}
}

// WSTransport serves GraphQL over WebSocket on github.com/gorilla/websocket,
// in either GraphQL WebSocket protocol: graphql-transport-ws (the graphql-ws
// library's: connection_init, subscribe, next, error, complete, ping, pong)
// and the legacy graphql-ws of subscriptions-transport-ws (connection_init,
// start, data, error, complete, stop, ka, connection_terminate).
//
// A connection costs one goroutine, waiting in a read of its socket with a
// small stack, however many subscriptions it holds: a subscription whose
// events come from broker.Stream holds no goroutine while it waits for
// one (a broker.Waker hands each event to a goroutine that writes it out
// and ends), keep-alives are sent from a timer, and the end of the
// connection's context (its token expiring) closes it through
// context.AfterFunc. Starting an operation (parsing, validating,
// subscribing) runs on a goroutine of its own that ends once the operation
// is dispatched, so that the reader goes on meanwhile. A subscription whose channel does not come from a
// Stream, and a query or mutation sent over the socket, get a goroutine
// while they last.
//
// Protocol errors close the connection with the protocol's codes: 4400
// for a malformed or unexpected message, 4401 for an operation before the
// connection was acknowledged, 4403 when InitFunc refuses it and when
// the token of an acknowledged connection expires, 4408 when
// connection_init does not arrive within InitTimeout, 4409 for an
// operation id already in use, 4429 for a second connection_init, 1009
// for a message over MaxMessageSize (graphql-ws connections are told of a
// malformed message with connection_error and closed with 1002). An error
// in an operation (one that does not parse or validate, unknown ids, a
// refusal) is an error on that operation only; the connection stays up.
type WSTransport struct {
	// InitFunc, if set, is called with the connection_init payload before
	// the connection is acknowledged, for example to authenticate it. The
	// context it returns is the connection's: its operations run in it,
	// and the connection closes when it ends (with 4403 "token expired"
	// when its deadline passed, else with 1000) and when the principal it
	// carries (auth.FromContext) expires, with 4403 "token expired". Its
	// ack payload, if not nil, is sent with connection_ack. An error
	// refuses the connection: 4403 with
	// the error's message as the reason (graphql-ws clients first get it
	// in connection_error).
	InitFunc transport.WebsocketInitFunc
	// CloseFunc, if set, is called once when a connection that InitFunc
	// accepted ends, with its context and the close code.
	CloseFunc transport.WebsocketCloseFunc

	cfg *wsConfig
}

// wsConfig is what every connection of a WSTransport shares.
type wsConfig struct {
	upgrader                                       websocket.Upgrader
	readLimit                                      int64
	maxOps                                         int
	initTimeout, writeTimeout, keepAlive, pingPong time.Duration
	logger                                         *slog.Logger
	share                                          *sharing // nil: nothing shared
}

var _ graphql.Transport = WSTransport{}

// Supports reports whether r asks for a protocol upgrade.
func (t WSTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") != ""
}

// Do upgrades the request on the HTTP server's goroutine, starts the
// connection's own goroutine and returns: on the server's goroutine the
// connection would keep the deep stack the request was served on and the
// server's per-connection state for as long as the client stays. The
// connection keeps nothing of the request but its remote address and the
// principal that authenticated it, if any (see connContext). A failed
// upgrade is answered 400 "unable to upgrade".
func (t WSTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if t.cfg == nil { // the zero WSTransport: the defaults, its own hooks kept
		t.cfg = WebsocketTransport(WSOptions{}).cfg
	}
	// gorilla/websocket type-asserts http.Hijacker; middleware wrappers
	// that only offer Unwrap (as http.ResponseController expects) would
	// otherwise make every upgrade fail. The wrapper also keeps what the
	// hijack returned, to release its buffers below.
	hw := &hijackingWriter{ResponseWriter: w}
	conn, err := t.cfg.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		transport.SendErrorf(w, http.StatusBadRequest, "unable to upgrade")
		return
	}
	br := hw.releaseBuffers()
	c := newWSConn(t, conn, exec, connContext(r), r.RemoteAddr)
	c.ready = newWSReadiness(conn.NetConn(), br)
	c.open()
	go c.serve()
}

// connContext returns the context a connection starts from: a context of
// its own, carrying the principal that authenticated the upgrade request
// (an Authorization header), if any, which InitFunc takes when
// connection_init carries no token. Nothing else of the request's context
// is kept: an idle connection would otherwise hold the HTTP server's
// contexts of the request and its connection for its whole life.
func connContext(r *http.Request) context.Context {
	ctx := context.Background()
	if p, ok := auth.FromContext(r.Context()); ok {
		ctx = auth.WithPrincipal(ctx, p)
	}
	return ctx
}

// wsSocket is what a connection uses of its socket: a *websocket.Conn
// when served, a stand-in when a test drives the protocol without a
// network.
type wsSocket interface {
	Subprotocol() string
	SetReadLimit(limit int64)
	ReadMessage() (messageType int, p []byte, err error)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	Close() error
}

var _ wsSocket = (*websocket.Conn)(nil)

// durationOrDefault maps zero to def and negative durations to zero, which
// the connection reads as disabled.
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

// hijackingWriter gives gorilla/websocket the Hijack of the writer it
// wraps, or of the innermost writer that has one, found through Unwrap by
// http.ResponseController.
type hijackingWriter struct {
	http.ResponseWriter
	conn net.Conn          // what Hijack returned
	rw   *bufio.ReadWriter // what Hijack returned
}

// Hijack takes over the connection.
func (h *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack connection for websocket: %w", err)
	}
	h.conn, h.rw = conn, rw
	return conn, rw, nil
}

// releaseBuffers drops the 4 KiB buffers of the hijacked connection's
// reader and writer, which are ours after the hijack (net/http does not
// touch them again). gorilla writes through the pool, so the writer is
// not used once the upgrade has answered. It reads through the reader
// (the upgrader has no read buffer size of its own, and gorilla has
// pointed the reader at the socket itself); that reader is given a
// buffer of wsReadBufferSize in place of its 4 KiB and returned. When
// gorilla did not take it (a reader of 256 bytes or less; gorilla then
// reads through a 4 KiB buffer of its own), it is dropped too and nil
// returned.
func (h *hijackingWriter) releaseBuffers() *bufio.Reader {
	if h.rw == nil {
		return nil
	}
	br := h.rw.Reader
	*h.rw.Writer = bufio.Writer{}
	h.rw = nil
	if br.Size() <= 256 { // gorilla reuses a larger one only
		*br = bufio.Reader{}
		return nil
	}
	// gorilla has read nothing yet: it refuses an upgrade whose client
	// sent data before the handshake ended.
	*br = *bufio.NewReaderSize(h.conn, wsReadBufferSize)
	return br
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
