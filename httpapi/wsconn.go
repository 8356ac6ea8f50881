package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Close codes of the GraphQL WebSocket protocols (graphql-transport-ws
// names them; the transport uses them for graphql-ws connections too where
// that protocol names none).
const (
	wsCloseBadRequest          = 4400
	wsCloseUnauthorized        = 4401
	wsCloseForbidden           = 4403
	wsCloseInitTimeout         = 4408
	wsCloseSubscriberExists    = 4409
	wsCloseTooManyInitRequests = 4429
)

// Where a connection is in its handshake.
const (
	wsAwaitingInit = iota // connection_init not yet received
	wsInitialising        // InitFunc runs
	wsAcknowledged        // connection_ack sent: operations may start
)

// wsConn is one WebSocket connection. Its goroutine (serve) reads; every
// other piece of work runs on a goroutine that ends with it.
type wsConn struct {
	t      WSTransport
	ws     wsSocket
	exec   graphql.GraphExecutor
	modern bool         // graphql-transport-ws, else graphql-ws
	remote string       // the client's address, for the log
	ready  *wsReadiness // waits for a message on a shallow stack; nil: ReadMessage waits

	writeMu   sync.Mutex   // one writer of data frames at a time, as gorilla asks
	fw        *frameWriter // writes frames to the socket (writeMu); nil until the first
	closeSent bool         // the close frame goes out: no data frame may follow it (writeMu)

	mu        sync.Mutex
	ctx       context.Context // the request's, then InitFunc's
	state     int
	ops       []*wsOp // running operations: few, so a slice is smaller than a map
	closed    bool
	accepted  bool        // InitFunc accepted it: CloseFunc is due at close
	initTimer *time.Timer // InitTimeout
	timer     *time.Timer // the next keep-alive or the token's expiry; nil until acknowledged
	nextKA    time.Time   // when the next keep-alive is due; zero for none
	expires   time.Time   // when the principal's token expires; zero for never
	heard     bool        // a message arrived since the last ping
	stopCtx   func() bool // stops the close at the end of InitFunc's context
}

func newWSConn(t WSTransport, ws wsSocket, exec graphql.GraphExecutor, ctx context.Context, remote string) *wsConn {
	return &wsConn{
		t:      t,
		ws:     ws,
		exec:   exec,
		modern: ws.Subprotocol() == SubprotocolGraphQLTransportWS,
		remote: remote,
		ctx:    ctx,
	}
}

// wsEnvelope is a message of either protocol as read.
type wsEnvelope struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// open sets the connection's read limit and arms its init timeout,
// before serve reads.
func (c *wsConn) open() {
	if c.t.cfg.readLimit > 0 {
		c.ws.SetReadLimit(c.t.cfg.readLimit)
	}
	if d := c.t.cfg.initTimeout; d > 0 {
		c.mu.Lock()
		c.initTimer = time.AfterFunc(d, c.initTimedOut)
		c.mu.Unlock()
	}
}

// serve reads the connection's messages until it ends.
//
// With c.ready, each message is read and handled on a goroutine of its
// own: it waits on a shallow stack until the message is there, reads and
// handles it, which deepens its stack for good (the runtime does not
// shrink a grown stack back to the least), and leaves the wait for the
// next message to a fresh goroutine, whose stack starts at the least. An
// idle connection thus costs one goroutine of 2 KiB, not 4 KiB.
func (c *wsConn) serve() {
	defer func() {
		if p := recover(); p != nil {
			c.t.cfg.logger.Error("websocket connection panicked", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
			c.close(websocket.CloseInternalServerErr, "internal error")
		}
	}()
	for {
		if c.ready != nil {
			c.ready.wait()
		}
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.heardFrom()
		if !c.handle(data, time.Now()) {
			return
		}
		if c.ready != nil {
			go c.serve()
			return
		}
	}
}

// readFailed closes the connection after its read failed with err.
func (c *wsConn) readFailed(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		c.close(ce.Code, "") // gorilla has answered the peer's close frame
	case errors.Is(err, websocket.ErrReadLimit):
		c.close(websocket.CloseMessageTooBig, "message too big")
	case errors.As(err, &ne) && ne.Timeout():
		c.close(websocket.CloseGoingAway, "no pong in time")
	default:
		c.close(websocket.CloseAbnormalClosure, "")
	}
}

// handle acts on one message; it reports false when the connection ended.
func (c *wsConn) handle(data []byte, read time.Time) bool {
	if c.modern && bytes.Equal(data, pongBytes) {
		// The answer to a ping is nearly all an idle connection reads:
		// heardFrom has counted it, it needs no decoding.
		return true
	}
	var m wsEnvelope
	if err := json.Unmarshal(data, &m); err != nil {
		return c.badMessage("invalid message: " + err.Error())
	}
	switch {
	case m.Type == "connection_init":
		return c.init(m.Payload)
	case m.Type == "subscribe" && c.modern, m.Type == "start" && !c.modern:
		if m.ID == "" {
			return c.badMessage(m.Type + " without an id")
		}
		if p := bytes.TrimSpace(m.Payload); len(p) == 0 || p[0] != '{' {
			return c.badMessage(m.Type + " " + m.ID + ": the payload must be an object")
		}
		return c.start(m.ID, m.Payload, read)
	case m.Type == "complete" && c.modern, m.Type == "stop" && !c.modern:
		c.stop(m.ID)
		return true
	case m.Type == "ping" && c.modern:
		var pong []byte
		if p := bytes.TrimSpace(m.Payload); len(p) > 0 && p[0] == '{' {
			pong = p
		}
		return c.write(c.message("pong", "", pong)) == nil
	case m.Type == "pong" && c.modern:
		return true // heardFrom has counted it
	case m.Type == "connection_terminate" && !c.modern:
		c.close(websocket.CloseNormalClosure, "terminated")
		return false
	default:
		return c.badMessage(fmt.Sprintf("unexpected message type %q", m.Type))
	}
}

// badMessage closes the connection after a message the protocol does not
// allow: 4400 on graphql-transport-ws; connection_error and 1002 on
// graphql-ws. It reports false.
func (c *wsConn) badMessage(reason string) bool {
	if c.modern {
		c.close(wsCloseBadRequest, reason)
		return false
	}
	c.connectionError(reason)
	c.close(websocket.CloseProtocolError, reason)
	return false
}

// connectionError sends graphql-ws's connection_error.
func (c *wsConn) connectionError(msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	_ = c.write(c.message("connection_error", "", b))
}

// init answers connection_init. InitFunc runs on the reader: nothing else
// may be read before the connection is acknowledged or refused. A panic in
// it is serve's to report.
func (c *wsConn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	if c.state != wsAwaitingInit {
		c.mu.Unlock()
		c.close(wsCloseTooManyInitRequests, "Too many initialisation requests")
		return false
	}
	c.state = wsInitialising
	if c.initTimer != nil {
		c.initTimer.Stop()
		c.initTimer = nil // its memory goes with it
	}
	ctx := c.ctx
	c.mu.Unlock()

	var p transport.InitPayload
	if q := bytes.TrimSpace(payload); len(q) > 0 && !bytes.Equal(q, []byte("null")) {
		if err := json.Unmarshal(q, &p); err != nil {
			return c.badMessage("the connection_init payload must be an object")
		}
	}
	var ack *transport.InitPayload
	if c.t.InitFunc != nil {
		initCtx, initAck, err := c.t.InitFunc(ctx, p)
		if err != nil {
			if !c.modern {
				c.connectionError(err.Error())
			}
			c.close(wsCloseForbidden, err.Error())
			return false
		}
		if initCtx != nil {
			ctx = initCtx
		}
		ack = initAck
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.ctx = ctx
	c.state = wsAcknowledged
	c.accepted = true
	if ctx.Done() != nil {
		c.stopCtx = context.AfterFunc(ctx, func() { c.contextEnded(ctx) })
	}
	if p, ok := auth.FromContext(ctx); ok {
		c.expires = p.Expires
	}
	c.mu.Unlock()

	var ackPayload []byte
	if ack != nil {
		var err error
		if ackPayload, err = json.Marshal(*ack); err != nil {
			c.close(websocket.CloseInternalServerErr, "internal error")
			return false
		}
	}
	if c.write(c.message("connection_ack", "", ackPayload)) != nil {
		return false
	}
	if !c.modern && c.write(c.message("ka", "", nil)) != nil {
		return false
	}
	c.startTimer()
	return true
}

// contextEnded closes the connection when the context InitFunc gave it
// ends: as tokenExpired when its deadline passed, else with 1000.
func (c *wsConn) contextEnded(ctx context.Context) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		c.close(websocket.CloseNormalClosure, "terminated")
		return
	}
	c.tokenExpired()
}

// tokenExpired closes the connection when its token has expired: with
// 4403 "token expired" (after a connection_error on graphql-ws), a
// refusal, not 1000, which graphql-ws clients answer by reconnecting at
// once, without backoff or a count of attempts, with the same token, in a
// loop; 4403 they retry with their backoff, up to their retryAttempts.
func (c *wsConn) tokenExpired() {
	if !c.modern {
		c.connectionError(msgTokenExpired)
	}
	c.close(wsCloseForbidden, msgTokenExpired)
}

// initTimedOut closes a connection that sent no connection_init in time.
func (c *wsConn) initTimedOut() {
	c.mu.Lock()
	waiting := c.state == wsAwaitingInit
	c.mu.Unlock()
	if waiting {
		c.close(wsCloseInitTimeout, "Connection initialisation timeout")
	}
}

// heardFrom notes that the client sent a message: on graphql-transport-ws
// that answers the last ping, whatever the message.
func (c *wsConn) heardFrom() {
	if !c.modern {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.nextKA.IsZero() {
		c.heard = true
		_ = c.ws.SetReadDeadline(time.Time{})
	}
}

// keepAliveInterval is the connection's interval between keep-alives;
// zero for none.
func (c *wsConn) keepAliveInterval() time.Duration {
	if c.modern {
		return c.t.cfg.pingPong
	}
	return c.t.cfg.keepAlive
}

// startTimer arms the connection's one timer, once it is acknowledged,
// for the first keep-alive and the token's expiry, whichever comes first.
// On graphql-transport-ws the client must answer keep-alives: its read
// deadline is one interval after the first ping. The token's expiry is
// kept on this timer rather than as a deadline on the connection's
// context, which would cost a timer of its own and the context's
// bookkeeping of every operation's context below it.
func (c *wsConn) startTimer() {
	d := c.keepAliveInterval()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	now := time.Now()
	if d > 0 {
		next := onGrid(now, d)
		c.nextKA = now.Add(next)
		if c.modern {
			_ = c.ws.SetReadDeadline(now.Add(next + d))
		}
	}
	if wait, ok := c.untilTick(now); ok {
		c.timer = time.AfterFunc(wait, c.tick)
	}
}

// untilTick returns how long after now the timer is next due: at the next
// keep-alive or the token's expiry, whichever comes first; false when
// neither is ahead. c.mu is held.
func (c *wsConn) untilTick(now time.Time) (time.Duration, bool) {
	var wait time.Duration
	ok := false
	if !c.nextKA.IsZero() {
		wait, ok = c.nextKA.Sub(now), true
	}
	if !c.expires.IsZero() {
		if e := c.expires.Sub(now); !ok || e < wait {
			wait, ok = e, true
		}
	}
	return max(wait, 0), ok
}

// tick is the connection's timer: it closes the connection when the
// token has expired, else sends the keep-alive ("ping" or "ka") if one is
// due, and arms the timer again. When the client must answer and has
// since the last ping, its read deadline moves to one interval after the
// next ping; when it has not, the deadline set before stands (one
// interval after this ping), and the read fails when it passes. Any
// message from the client clears the deadline (heardFrom).
func (c *wsConn) tick() {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	expired := !c.expires.IsZero() && !now.Before(c.expires)
	due := !c.nextKA.IsZero() && !now.Before(c.nextKA)
	c.mu.Unlock()
	if expired {
		c.tokenExpired()
		return
	}
	if due {
		if c.write([]byte(c.keepAliveMessage())) != nil {
			return
		}
		now = time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if due {
		c.keepAliveSent(now)
	}
	wait, _ := c.untilTick(now)
	c.timer.Reset(wait)
}

// keepAliveNow returns the connection's keep-alive message ("ping" or
// "ka") when one is due within half an interval of now, reckoning it
// sent as tick does (the next is due an interval on, the read deadline
// moves as after a ping, the timer is armed again); "" when none is due.
// A writer of data that sends it in the same write as its data spares
// the connection a wakeup and a write of its own: a connection sent data
// at least every half interval, as a shared subscription's members are,
// never wakes for a keep-alive.
func (c *wsConn) keepAliveNow(now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.timer == nil || c.nextKA.IsZero() || c.nextKA.Sub(now) > c.keepAliveInterval()/2 {
		return ""
	}
	c.keepAliveSent(now)
	wait, _ := c.untilTick(now)
	c.timer.Reset(wait)
	return c.keepAliveMessage()
}

// keepAliveSent reckons a keep-alive sent at now: the next is due an
// interval on, on the grid, and on graphql-transport-ws a client heard
// from since the last one must answer within an interval of the next.
// c.mu is held.
func (c *wsConn) keepAliveSent(now time.Time) {
	d := c.keepAliveInterval()
	next := onGrid(now, d)
	c.nextKA = now.Add(next)
	if c.modern && c.heard {
		c.heard = false
		_ = c.ws.SetReadDeadline(now.Add(next + d))
	}
}

// keepAliveMessage returns the connection's keep-alive: "ping" on
// graphql-transport-ws, "ka" on graphql-ws.
func (c *wsConn) keepAliveMessage() string {
	if c.modern {
		return pingMessage
	}
	return keepAliveMessage
}

// keepAliveGrid is the grid keep-alives are sent on: every connection's
// fall on its multiples, so that an idle hub's thousands of connections
// share the process's wakeups in a few batches a second instead of each
// waking it on its own (on a virtual machine each wakeup costs more than
// the keep-alive it sends).
const keepAliveGrid = 250 * time.Millisecond

// onGrid returns how long after now the first point of keepAliveGrid at
// or after now+d is.
func onGrid(now time.Time, d time.Duration) time.Duration {
	return now.Add(d + keepAliveGrid - 1).Truncate(keepAliveGrid).Sub(now)
}

// The keep-alive messages of the two protocols.
const (
	pingMessage      = `{"type":"ping"}`
	keepAliveMessage = `{"type":"ka"}`
)

// pongBytes is a pong as clients send it.
var pongBytes = []byte(`{"type":"pong"}`)

// message encodes a message of type typ, with id and payload when they
// are not empty.
func (c *wsConn) message(typ, id string, payload []byte) []byte {
	b := make([]byte, 0, len(`{"type":"","id":"","payload":}`)+len(typ)+len(id)+len(payload)+8)
	b = appendMessageHead(b, typ, id)
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// appendMessageHead appends a message's opening: its type and, when not
// empty, its id. The object is left open.
func appendMessageHead(b []byte, typ, id string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, id)
	}
	return b
}

// appendJSONString appends s as a JSON string. Ids are nearly always plain
// ASCII, quoted as they are; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s)
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// messageBuffers holds the buffers results are encoded in on their way
// to the socket; gorilla copies a message into its frame before the write
// returns, so a buffer is free again at once.
var messageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledMessage is the largest buffer put back in messageBuffers: a
// rare large result should not keep its buffer alive.
const maxPooledMessage = 64 << 10

// write sends data as one text message. A write that fails closes the
// connection.
//
// On a served connection (framed) the message is framed here and written
// to the socket under the WebSocket by its frameWriter, without gorilla
// (which would copy it into a frame just as well) and without setting
// the write deadline unless the socket is full. Once the connection's
// close frame is going out nothing is written, as gorilla writes nothing
// after it.
func (c *wsConn) write(data []byte) error {
	if c.framed() {
		bp := messageBuffers.Get().(*[]byte)
		b := appendFrameHead((*bp)[:0], len(data))
		b = append(b, data...)
		err := c.writeFrames(b)
		if cap(b) <= maxPooledMessage {
			*bp = b[:0]
			messageBuffers.Put(bp)
		}
		return err
	}
	c.writeMu.Lock()
	err := net.ErrClosed
	if !c.closeSent {
		err = c.writeLocked(data)
	}
	c.writeMu.Unlock()
	if err != nil {
		c.close(websocket.CloseAbnormalClosure, "")
	}
	return err
}

// writeLocked writes data through the stand-in socket of a connection
// that is not framed. c.writeMu is held.
func (c *wsConn) writeLocked(data []byte) error {
	if d := c.t.cfg.writeTimeout; d > 0 {
		if err := c.ws.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return err
		}
	}
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// framed reports whether frames may be written to the connection under
// the WebSocket directly (writeFrames): a served connection, whose
// gorilla/websocket Conn compresses nothing; false for a stand-in.
func (c *wsConn) framed() bool {
	_, ok := c.ws.(*websocket.Conn)
	return ok
}

// frameWriterLocked returns the connection's frameWriter, made on first
// use. The connection is framed; c.writeMu is held.
func (c *wsConn) frameWriterLocked() *frameWriter {
	if c.fw == nil {
		c.fw = newFrameWriter(c.ws.(*websocket.Conn).NetConn())
	}
	return c.fw
}

// writeWithDeadline writes b to conn, with the write deadline set timeout
// on (zero: none): a frameWriter's write where it has no descriptor of
// its own to write to.
func writeWithDeadline(conn net.Conn, b []byte, timeout time.Duration) error {
	if timeout > 0 {
		if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
	}
	_, err := conn.Write(b)
	return err
}

// appendFrameHead appends the head of a final, unmasked text frame of n
// payload bytes, as a server sends it (RFC 6455 section 5.2).
func appendFrameHead(b []byte, n int) []byte {
	const finText = 0x80 | websocket.TextMessage
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return append(b, finText, 126, byte(n>>8), byte(n))
	default:
		return append(b, finText, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// writeFrames writes frames, whole WebSocket frames of data messages
// (appendFrameHead), to the connection under the WebSocket (framed), with
// one write, bounded by the write timeout as a message is. It holds
// writeMu, as every writer of data messages does; gorilla writes each of
// its frames (close frames, pongs) with one write to the same
// connection, which the connection does not interleave with another, so
// no frame cuts into another. A write that fails closes the connection.
func (c *wsConn) writeFrames(frames []byte) error {
	c.writeMu.Lock()
	err := net.ErrClosed
	if !c.closeSent {
		err = c.frameWriterLocked().write(frames, c.t.cfg.writeTimeout)
	}
	c.writeMu.Unlock()
	if err != nil {
		c.close(websocket.CloseAbnormalClosure, "")
	}
	return err
}

// close ends the connection, once: its operations are cancelled, a close
// frame with code and reason is sent (none for 1006, which says there was
// none), the socket is closed and CloseFunc is called.
func (c *wsConn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	ops := c.ops
	c.ops = nil
	for _, t := range []*time.Timer{c.initTimer, c.timer} {
		if t != nil {
			t.Stop()
		}
	}
	if c.stopCtx != nil {
		c.stopCtx()
	}
	ctx, accepted := c.ctx, c.accepted
	c.mu.Unlock()

	for _, op := range ops {
		op.cancel()
	}
	if code != websocket.CloseAbnormalClosure {
		// No data frame may follow the close frame: a write under way
		// ends first (as the close frame would wait for the socket
		// anyway), and none starts after. Without a close frame (1006)
		// closing the socket ends a write under way at once.
		c.writeMu.Lock()
		c.closeSent = true
		c.writeMu.Unlock()
		payload := websocket.FormatCloseMessage(code, truncateUTF8(reason, maxCloseReason))
		_ = c.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(closeFrameTimeout))
	}
	_ = c.ws.Close()
	if accepted && c.t.CloseFunc != nil {
		c.t.CloseFunc(ctx, code)
	}
}

// start registers the operation id and starts it on a goroutine of its
// own. It reports false when the connection ended.
func (c *wsConn) start(id string, payload json.RawMessage, read time.Time) bool {
	c.mu.Lock()
	if c.state != wsAcknowledged {
		c.mu.Unlock()
		c.close(wsCloseUnauthorized, "Unauthorized")
		return false
	}
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if i, old := c.op(id); old != nil {
		if c.modern {
			c.mu.Unlock()
			c.close(wsCloseSubscriberExists, "Subscriber for "+id+" already exists")
			return false
		}
		// graphql-ws replaces the operation, as its reference server does.
		old.silence()
		old.cancel()
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	if len(c.ops) >= c.t.cfg.maxOps {
		c.mu.Unlock()
		c.operationError(id, &gqlerror.Error{
			Message:    fmt.Sprintf("a connection runs at most %d operations at once", c.t.cfg.maxOps),
			Extensions: map[string]any{"code": hub.ERATELIMITED},
		})
		return true
	}
	ctx, cancel := context.WithCancel(c.ctx)
	op := &wsOp{c: c, id: id, cancel: cancel}
	c.ops = append(c.ops, op)
	c.mu.Unlock()
	go op.run(ctx, payload, read)
	return true
}

// stop ends the operation id at the client's request; an id that runs no
// operation is ignored. graphql-ws is told with complete, as its reference
// server does; graphql-transport-ws is sent nothing more for it.
func (c *wsConn) stop(id string) {
	c.mu.Lock()
	i, op := c.op(id)
	if op != nil {
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	c.mu.Unlock()
	if op == nil {
		return
	}
	if c.modern {
		op.silence()
	}
	op.cancel()
}

// forget removes op from the running operations and reports whether the
// connection goes on: it is open and its context has not ended (when it
// has, the connection closes, which ends its operations).
func (c *wsConn) forget(op *wsOp) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.ops, op); i >= 0 {
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	return !c.closed && c.ctx.Err() == nil
}

// op returns the running operation id and its index; nil if there is
// none. c.mu is held.
func (c *wsConn) op(id string) (int, *wsOp) {
	for i, op := range c.ops {
		if op.id == id {
			return i, op
		}
	}
	return -1, nil
}

// operationError sends an error message for operation id.
func (c *wsConn) operationError(id string, errs ...*gqlerror.Error) {
	b, err := json.Marshal(gqlerror.List(errs))
	if err != nil {
		b = []byte(`[{"message":"internal error"}]`)
	}
	_ = c.write(c.message("error", id, b))
}

// wsOp is one operation of a connection: a subscription, or a query or
// mutation sent over the socket.
type wsOp struct {
	c      *wsConn
	id     string
	cancel context.CancelFunc

	mu    sync.Mutex
	pump  pump // its values, once dispatched as a subscription
	quiet bool // nothing more goes out: the client completed it, or an error ended it
}

// run parses, validates and dispatches the operation, then leaves it to
// its Waker when its events come from a broker.Stream, or waits on it
// here otherwise.
func (op *wsOp) run(ctx context.Context, payload json.RawMessage, read time.Time) {
	defer op.recover()
	c := op.c
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		op.fail(&gqlerror.Error{Message: "invalid operation payload: " + err.Error(), Extensions: map[string]any{"code": hub.EINVALID}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: read, End: graphql.Now()}
	ctx = graphql.StartOperationTrace(ctx)
	rc, err := c.exec.CreateOperationContext(ctx, params)
	if err != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), err)
		if errcode.GetErrorKind(err) == errcode.KindProtocol {
			op.fail(resp.Errors...)
			return
		}
		op.send(resp)
		op.finish()
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	// An operation that may share an execution (see ShareOptions) is
	// dispatched on its own first, so that its authorization is its own;
	// once it joins a shared execution its own subscription ends.
	shareKey, shared := c.t.cfg.share.keyOf(ctx, rc)
	own, endOwn := ownContext(ctx, shared)
	waker := broker.NewWaker(op.wake)
	next, nctx := c.exec.DispatchOperation(broker.WithWaker(own, waker), rc)
	if waker.Claimed() && shared && c.t.cfg.share.join(ctx, c, rc, shareKey, op) {
		endOwn()
		return
	}
	ctx = nctx
	if !waker.Claimed() {
		for {
			resp := next(ctx)
			if resp == nil {
				break
			}
			op.send(resp)
		}
		op.finish()
		return
	}
	op.mu.Lock()
	drain := op.pump.dispatched(next, ctx)
	op.mu.Unlock()
	if drain {
		op.drain()
	}
}

// wake is the operation's Waker: its Stream put a value on the channel
// (or closed it). A goroutine takes it to the client, unless one is at it
// already or the operation is not yet dispatched (run then does).
func (op *wsOp) wake() {
	op.mu.Lock()
	start := op.pump.announce()
	op.mu.Unlock()
	if start {
		go op.drain()
	}
}

// drain sends what the Stream announced, then ends.
func (op *wsOp) drain() {
	defer op.recover()
	for {
		op.mu.Lock()
		next, ctx, ok := op.pump.take()
		op.mu.Unlock()
		if !ok {
			return
		}
		resp := next(ctx)
		if resp == nil {
			op.finish()
			return
		}
		op.send(resp)
	}
}

// send sends resp as the operation's next (data) message, unless the
// operation has gone quiet.
func (op *wsOp) send(resp *graphql.Response) {
	op.mu.Lock()
	quiet := op.quiet
	op.mu.Unlock()
	if quiet {
		return
	}
	typ := "data"
	if op.c.modern {
		typ = "next"
	}
	if !plainData(resp) {
		b, err := json.Marshal(resp)
		if err != nil {
			op.fail(&gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": hub.EINTERNAL}})
			return
		}
		_ = op.c.write(op.c.message(typ, op.id, b))
		return
	}
	// Nearly every result is data alone, which the executor has encoded
	// already: it goes into the message as it is, in a pooled buffer.
	bp := messageBuffers.Get().(*[]byte)
	b := appendMessageHead((*bp)[:0], typ, op.id)
	b = append(b, `,"payload":{"data":`...)
	b = append(b, resp.Data...)
	b = append(b, "}}"...)
	_ = op.c.write(b)
	if cap(b) <= maxPooledMessage {
		*bp = b[:0]
		messageBuffers.Put(bp)
	}
}

// sendTails sends the operation's next (data) messages whose payloads
// and closing braces are tails, in order, as a shared execution encoded
// them, unless the operation has gone quiet. Each is a message of its
// own; on a socket that allows it (writeFrames) they go out together, in
// as few writes as maxPooledMessage allows. A keep-alive due soon
// (keepAliveNow) follows them, in their last write.
func (op *wsOp) sendTails(tails [][]byte) {
	op.mu.Lock()
	quiet := op.quiet
	op.mu.Unlock()
	if quiet {
		return
	}
	typ := "data"
	if op.c.modern {
		typ = "next"
	}
	var headBuf [64]byte
	head := appendMessageHead(headBuf[:0], typ, op.id)
	bp := messageBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	framed := op.c.framed()
	for i, tail := range tails {
		if !framed {
			b = append(append(b[:0], head...), tail...)
			if op.c.write(b) != nil {
				break
			}
			if i == len(tails)-1 {
				if ka := op.c.keepAliveNow(time.Now()); ka != "" {
					_ = op.c.write([]byte(ka))
				}
			}
			continue
		}
		b = appendFrameHead(b, len(head)+len(tail))
		b = append(b, head...)
		b = append(b, tail...)
		last := i == len(tails)-1
		if last {
			if ka := op.c.keepAliveNow(time.Now()); ka != "" {
				b = appendFrameHead(b, len(ka))
				b = append(b, ka...)
			}
		}
		if len(b) >= maxPooledMessage || last {
			if op.c.writeFrames(b) != nil {
				break
			}
			b = b[:0]
		}
	}
	if cap(b) <= maxPooledMessage {
		*bp = b[:0]
		messageBuffers.Put(bp)
	}
}

// plainData reports whether resp is data and nothing else, as
// {"data": ...} encodes it.
func plainData(resp *graphql.Response) bool {
	return len(resp.Data) > 0 && len(resp.Errors) == 0 && resp.Label == "" && resp.Path == nil &&
		resp.HasNext == nil && len(resp.Extensions) == 0
}

// fail ends the operation with an error message, which on both protocols
// takes the place of complete.
func (op *wsOp) fail(errs ...*gqlerror.Error) {
	op.mu.Lock()
	quiet := op.quiet
	op.quiet = true
	op.mu.Unlock()
	if !quiet {
		op.c.operationError(op.id, errs...)
	}
	op.finish()
}

// silence makes the operation send nothing more, complete included.
func (op *wsOp) silence() {
	op.mu.Lock()
	op.quiet = true
	op.mu.Unlock()
}

// finish ends the operation, once: its context is cancelled, which ends
// its Stream, and the client is sent complete unless it went quiet.
func (op *wsOp) finish() {
	op.mu.Lock()
	if op.pump.ended {
		op.mu.Unlock()
		return
	}
	op.pump.ended = true
	quiet := op.quiet
	op.mu.Unlock()
	op.cancel()
	if op.c.forget(op) && !quiet {
		_ = op.c.write(op.c.message("complete", op.id, nil))
	}
}

// recover turns a panic in the operation into an error on it; the
// connection goes on.
func (op *wsOp) recover() {
	if v := recover(); v != nil {
		op.c.t.cfg.logger.Error("websocket operation panicked", "remote", op.c.remote, "id", op.id, "panic", v, "stack", string(debug.Stack()))
		op.fail(&gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": hub.EINTERNAL}})
	}
}
