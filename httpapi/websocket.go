package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// "pong" within twice the interval is disconnected. Zero means
	// DefaultWSPingPongInterval, a negative value no pings.
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
	// transport.Websocket.
	InitFunc transport.WebsocketInitFunc
}

// WebsocketTransport returns gqlgen's websocket transport configured by opts
// and running on github.com/gorilla/websocket instead of gqlgen's default
// github.com/coder/websocket. It speaks both graphql-transport-ws and the
// legacy graphql-ws; when a client offers both, graphql-transport-ws is
// chosen. Fields of the returned value (ErrorFunc, CloseFunc, InitFunc, ...)
// may be adjusted before it is passed to handler.Server.AddTransport.
func WebsocketTransport(opts WSOptions) transport.Websocket {
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

	return transport.Websocket{
		Implementation: gorillaWebsocket{
			upgrader: websocket.Upgrader{
				HandshakeTimeout: DefaultWSWriteTimeout,
				CheckOrigin:      checkOrigin,
				// gqlgen answers a failed upgrade itself; writing a response
				// here too would make it a second, superfluous one.
				Error: func(http.ResponseWriter, *http.Request, int, error) {},
			},
			writeTimeout: durationOrDefault(opts.WriteTimeout, DefaultWSWriteTimeout),
		},
		InitFunc:              opts.InitFunc,
		InitTimeout:           durationOrDefault(opts.InitTimeout, DefaultWSInitTimeout),
		KeepAlivePingInterval: durationOrDefault(opts.KeepAlivePingInterval, DefaultWSKeepAlivePingInterval),
		PingPongInterval:      durationOrDefault(opts.PingPongInterval, DefaultWSPingPongInterval),
		PayloadReadLimit:      &readLimit,
	}
}

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
	if _, ok := w.(http.Hijacker); !ok {
		// gorilla/websocket type-asserts http.Hijacker; middleware wrappers
		// that only offer Unwrap (as http.ResponseController expects) would
		// otherwise make every upgrade fail.
		w = unwrappingHijacker{w}
	}
	conn, err := upgrader.Upgrade(w, r, options.ResponseHeader)
	if err != nil {
		return nil, fmt.Errorf("gorilla websocket upgrade: %w", err)
	}
	return &gorillaConn{conn: conn, writeTimeout: g.writeTimeout}, nil
}

// unwrappingHijacker gives a ResponseWriter that does not implement
// http.Hijacker itself the Hijack method of the writer it wraps, found
// through Unwrap by http.ResponseController.
type unwrappingHijacker struct {
	http.ResponseWriter
}

// Hijack takes over the connection of the innermost hijackable writer.
func (u unwrappingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack connection for websocket: %w", err)
	}
	return conn, rw, nil
}

// gorillaConn adapts a *websocket.Conn to transport.WebsocketConn and its
// optional read limit and read deadline interfaces.
type gorillaConn struct {
	conn         *websocket.Conn
	writeTimeout time.Duration

	// writeMu serialises data frames: gorilla allows one concurrent writer.
	// gqlgen already serialises its writes, this keeps the adapter safe on
	// its own.
	writeMu sync.Mutex
}

var (
	_ transport.WebsocketConn          = (*gorillaConn)(nil)
	_ transport.WebsocketReadLimiter   = (*gorillaConn)(nil)
	_ transport.WebsocketReadDeadliner = (*gorillaConn)(nil)
)

// Close closes the underlying network connection without a close frame.
func (c *gorillaConn) Close() error {
	return c.conn.Close()
}

// NextReader returns the next data message. A close frame with status 1000,
// 1001 or none is reported as transport.ErrWebsocketClosed, as gqlgen
// expects for a peer's normal close.
func (c *gorillaConn) NextReader() (int, io.Reader, error) {
	messageType, r, err := c.conn.NextReader()
	if err != nil {
		if websocket.IsCloseError(err,
			websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			return messageType, nil, transport.ErrWebsocketClosed
		}
		return messageType, nil, err
	}
	return messageType, r, nil
}

// WriteJSON sends v as one text message.
func (c *gorillaConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode websocket message: %w", err)
	}
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
// gqlgen drops clients that stop answering pings.
func (c *gorillaConn) SetReadDeadline(t time.Time) error {
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
