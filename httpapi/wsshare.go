package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// ShareOptions lets WebSocket subscribers that would see the same thing
// share one execution of their subscription and one encoded message per
// event, as Hasura multiplexes its live queries: a broadcast to 19,000
// subscribers of one district's stockChanged is then executed and encoded
// once, and each subscriber costs only the write of its frame.
//
// # Who shares
//
// An operation is shared when it is a subscription of exactly one root
// field listed in Fields, and no field listed in Unshared is selected
// anywhere in it (through fragments too). Its share key is the exact
// document text, the operation name, the variables as canonical JSON
// (coerced, defaults applied, object keys sorted) and Visibility of the
// caller: everything that decides what the subscriber may see. With the
// default Visibility that is the token's role and scope, and its subject
// for a RESIDENT token (no policy rule of a shared field reads the
// subject of another role). Anything else (queries and mutations sent
// over the socket, other subscriptions, SSE) runs on its own as before.
//
// # Authorization is each subscriber's own
//
// Every subscriber is dispatched on its own first, as without sharing:
// the policy's root rule and the resolver's checks run with its token and
// arguments, and a subscriber refused there gets its error and never
// joins. Only once its own subscription is set up does it join the
// execution of its key (or start one) and drop its own. Token expiry,
// 4403 closes, MaxOperations, complete/stop and both protocols work for a
// member as for any operation: a member is an operation of its
// connection like any other, whose events come from its group instead of
// its own execution.
//
// # The execution
//
// A group's execution is dispatched with a context detached from its
// first member's connection (its values, the principal included, but not
// its cancellation or its token's deadline), so it outlives any one
// member; it ends when its last member leaves, which also removes its
// broker subscription. Per event it runs the selection set once and
// encodes one payload; each member's frame is its protocol's head ("next"
// or "data") with its own operation id, followed by the shared payload
// bytes. Per-subscriber values such as restockAlerts' ring depend only on
// the arguments, which are in the key, so they are shared too.
//
// # Slow members
//
// Each member has a queue of at most QueueSize frames. An event's frames
// are written by a few goroutines that take the idle members in turn (a
// member's queue is written by one at a time); a member whose socket
// stalls holds up the writer at it, and when every writer is held up
// another starts within 2 ms, so a member whose socket stalls holds up
// no other for long. A writer takes every frame waiting in a member's
// queue (up to shareBatch) and writes them with one write to the socket
// when the socket allows it (each frame still its own message): after a
// burst of events a member costs one system call, not one per event.
// When its queue is full the oldest queued frame is dropped and the
// member's next frame is rendered for it alone, with the gap field(s) of
// the root field's selection raised by the events it missed, as its own
// broker subscription's overflow would have told it. The frames in a
// writer's hand count against the queue's bound beyond the first, so that
// a member holds at most QueueSize+1 frames, as with one frame in hand.
// The group's own broker subscription overflows like any other, and then
// every member's frame carries the gap.
type ShareOptions struct {
	// Fields are the root subscription fields that may be shared.
	Fields []string
	// Unshared are fields, as "Type.field", whose selection anywhere in
	// an operation keeps it unshared: reads audited per reader.
	Unshared []string
	// Visibility returns what decides what the caller of ctx may see, as
	// a string; nil means the token's role and scope, and its subject
	// for a RESIDENT.
	Visibility func(ctx context.Context) string
	// QueueSize is the frames a member may have waiting; zero means
	// DefaultShareQueueSize.
	QueueSize int
	// Registry, if set, registers gridhub_shared_executions (live shared
	// executions), gridhub_shared_subscribers (subscribers served by
	// them), gridhub_shared_events_total (events they executed),
	// gridhub_shared_deliveries_total (frames they handed to members) and
	// gridhub_shared_writes_total (the writers' turns at a member: each
	// takes the frames waiting, which go out together).
	// The broker's gridhub_subscriptions counts one subscription per
	// shared execution, so the subscriptions clients hold are
	// gridhub_subscriptions - gridhub_shared_executions +
	// gridhub_shared_subscribers, and the alerts they were sent are the
	// broker's deliveries - gridhub_shared_events_total +
	// gridhub_shared_deliveries_total.
	Registry prometheus.Registerer
}

// DefaultShareQueueSize is the default of ShareOptions.QueueSize.
const DefaultShareQueueSize = 64

// VisibilityOf is the default ShareOptions.Visibility.
func VisibilityOf(ctx context.Context) string {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return "-"
	}
	v := string(p.Role) + "\x00" + p.Scope
	if p.Role == auth.Resident {
		v += "\x00" + p.Subject
	}
	return v
}

// sharing is a transport's shared executions.
type sharing struct {
	fields     map[string]bool
	unshared   map[string]bool
	visibility func(context.Context) string
	queueSize  int

	mu     sync.Mutex
	groups map[shareKey]*shareGroup

	started    atomic.Int64 // groups started, for tests
	liveGroups prometheus.Gauge
	members    prometheus.Gauge
	events     prometheus.Counter
	deliveries prometheus.Counter
	writes     prometheus.Counter
}

type shareKey struct {
	exec graphql.GraphExecutor
	key  string
}

func newSharing(o *ShareOptions) *sharing {
	if o == nil {
		return nil
	}
	s := &sharing{
		fields:     map[string]bool{},
		unshared:   map[string]bool{},
		visibility: o.Visibility,
		queueSize:  o.QueueSize,
		groups:     map[shareKey]*shareGroup{},
		liveGroups: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridhub_shared_executions", Help: "Live shared subscription executions (one broker subscription each)."}),
		members:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridhub_shared_subscribers", Help: "WebSocket subscriptions served by a shared execution."}),
		events:     prometheus.NewCounter(prometheus.CounterOpts{Name: "gridhub_shared_events_total", Help: "Events executed by shared subscription executions (once for all their members)."}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridhub_shared_deliveries_total", Help: "Messages shared subscription executions handed to their members."}),
		writes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "gridhub_shared_writes_total", Help: "Writes of shared subscription messages to members: each writes the messages a member has waiting (up to 16) together."}),
	}
	for _, f := range o.Fields {
		s.fields[f] = true
	}
	for _, f := range o.Unshared {
		s.unshared[f] = true
	}
	if s.visibility == nil {
		s.visibility = VisibilityOf
	}
	if s.queueSize <= 0 {
		s.queueSize = DefaultShareQueueSize
	}
	if o.Registry != nil {
		o.Registry.MustRegister(s.liveGroups, s.members, s.events, s.deliveries, s.writes)
	}
	return s
}

// keyOf returns the share key of the operation rc in ctx, and false when
// it is not to be shared. A nil sharing shares nothing.
func (s *sharing) keyOf(ctx context.Context, rc *graphql.OperationContext) (string, bool) {
	if s == nil || rc.Operation == nil || rc.Operation.Operation != ast.Subscription || len(rc.Operation.SelectionSet) != 1 {
		return "", false
	}
	root, ok := rc.Operation.SelectionSet[0].(*ast.Field)
	if !ok || !s.fields[root.Name] || len(root.Directives) > 0 || !s.allowed(root.SelectionSet, 0) {
		return "", false
	}
	vars, err := json.Marshal(rc.Variables)
	if err != nil {
		return "", false
	}
	var b bytes.Buffer
	b.Grow(len(rc.RawQuery) + len(rc.Operation.Name) + len(vars) + 64)
	for _, part := range []string{rc.RawQuery, rc.Operation.Name, string(vars), s.visibility(ctx)} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String(), true
}

// allowed reports whether set selects no Unshared field, at any depth.
func (s *sharing) allowed(set ast.SelectionSet, depth int) bool {
	if depth > 64 {
		return false
	}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.ObjectDefinition == nil || s.unshared[sel.ObjectDefinition.Name+"."+sel.Name] {
				return false
			}
			if !s.allowed(sel.SelectionSet, depth+1) {
				return false
			}
		case *ast.InlineFragment:
			if !s.allowed(sel.SelectionSet, depth+1) {
				return false
			}
		case *ast.FragmentSpread:
			if sel.Definition == nil || !s.allowed(sel.Definition.SelectionSet, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// gapKeys returns the response keys of the gap field selected on the
// root field rc's operation selects (aliases included).
func gapKeys(rc *graphql.OperationContext) (root string, keys []string) {
	f := rc.Operation.SelectionSet[0].(*ast.Field)
	root = f.Alias
	if root == "" {
		root = f.Name
	}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				if sel.Name == "gap" {
					k := sel.Alias
					if k == "" {
						k = sel.Name
					}
					if !slices.Contains(keys, k) {
						keys = append(keys, k)
					}
				}
			case *ast.InlineFragment:
				walk(sel.SelectionSet)
			case *ast.FragmentSpread:
				if sel.Definition != nil {
					walk(sel.Definition.SelectionSet)
				}
			}
		}
	}
	walk(f.SelectionSet)
	return root, keys
}

// join makes op a member of the execution of key, starting it if there
// is none, and reports whether it did. op's own subscription is set up
// (its authorization passed); ctx is op's context with its operation.
func (s *sharing) join(ctx context.Context, c *wsConn, rc *graphql.OperationContext, key string, op *wsOp) bool {
	k := shareKey{exec: c.exec, key: key}
	s.mu.Lock()
	g := s.groups[k]
	creator := g == nil
	if creator {
		g = &shareGroup{s: s, k: k, ready: make(chan struct{})}
		g.root, g.gapKeys = gapKeys(rc)
		s.groups[k] = g
	}
	s.mu.Unlock()
	if creator {
		g.ok = g.start(ctx, c.exec, rc, c.t.cfg.logger)
		if !g.ok {
			s.remove(g)
		}
		close(g.ready)
	} else {
		select {
		case <-g.ready:
		case <-ctx.Done():
			return false
		}
	}
	if !g.ok {
		return false
	}
	m := &shareMember{op: op, g: g}
	if !g.add(m) {
		return false // its last member left meanwhile: the caller goes on alone
	}
	// The member leaves when its operation ends: completed, stopped,
	// replaced, failed, or its connection closed.
	context.AfterFunc(ctx, m.leave)
	return true
}

// ownContext returns the context an operation is dispatched in: for one
// that may join a shared execution, a context of its own that ends when
// it joins (or with ctx); else ctx itself.
func ownContext(ctx context.Context, shared bool) (context.Context, context.CancelFunc) {
	if !shared {
		return ctx, func() {}
	}
	return context.WithCancel(ctx)
}

// remove forgets g, if it is still the group of its key.
func (s *sharing) remove(g *shareGroup) {
	s.mu.Lock()
	if s.groups[g.k] == g {
		delete(s.groups, g.k)
	}
	s.mu.Unlock()
}

// shareGroup is one shared execution and its members.
type shareGroup struct {
	s       *sharing
	k       shareKey
	ready   chan struct{} // closed once start has run
	ok      bool          // start succeeded (read after ready)
	root    string        // the root field's response key
	gapKeys []string      // the response keys of its gap field

	cancel context.CancelFunc
	logger *slog.Logger

	mu      sync.Mutex
	members []*shareMember
	closing bool           // no member may join: it ends
	pump    pump           // its values, once dispatched
	scratch []*shareMember // the drainer's copy of members
}

// start dispatches the group's execution in a context detached from the
// connection of ctx, and reports whether its Stream is set up.
func (g *shareGroup) start(ctx context.Context, exec graphql.GraphExecutor, rc *graphql.OperationContext, logger *slog.Logger) bool {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel, g.logger = cancel, logger
	w := broker.NewWaker(g.wake)
	next, nctx := exec.DispatchOperation(broker.WithWaker(gctx, w), rc)
	if !w.Claimed() {
		cancel()
		return false
	}
	g.s.started.Add(1)
	g.s.liveGroups.Inc()
	g.mu.Lock()
	drain := g.pump.dispatched(next, nctx)
	g.mu.Unlock()
	if drain {
		go g.drain()
	}
	return true
}

// add adds m, unless the group is ending.
func (g *shareGroup) add(m *shareMember) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	m.idx = len(g.members)
	g.members = append(g.members, m)
	g.s.members.Inc()
	return true
}

// drop removes m; the last member to go ends the execution.
func (g *shareGroup) drop(m *shareMember) {
	g.mu.Lock()
	if m.idx < 0 || m.idx >= len(g.members) || g.members[m.idx] != m {
		g.mu.Unlock()
		return
	}
	last := len(g.members) - 1
	g.members[m.idx] = g.members[last]
	g.members[m.idx].idx = m.idx
	g.members[last] = nil
	g.members = g.members[:last]
	m.idx = -1
	g.s.members.Dec()
	end := len(g.members) == 0 && !g.closing
	if end {
		g.closing = true
	}
	g.mu.Unlock()
	if end {
		g.s.remove(g)
		g.cancel() // ends its Stream, and so its drain
	}
}

// wake is the execution's Waker.
func (g *shareGroup) wake() {
	g.mu.Lock()
	start := g.pump.announce()
	g.mu.Unlock()
	if start {
		go g.drain()
	}
}

// drain executes each announced event once and hands its frame to every
// member.
func (g *shareGroup) drain() {
	defer func() {
		if v := recover(); v != nil {
			g.logger.Error("shared subscription panicked", "panic", v)
			g.end(&gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": hub.EINTERNAL}})
		}
	}()
	for {
		g.mu.Lock()
		next, ctx, ok := g.pump.take()
		g.mu.Unlock()
		if !ok {
			return
		}
		resp := next(ctx)
		if resp == nil {
			g.end(nil)
			return
		}
		g.s.events.Inc()
		f := g.frame(resp)
		g.mu.Lock()
		members := append(g.scratch[:0], g.members...)
		g.mu.Unlock()
		g.s.deliveries.Add(float64(len(members)))
		idle := make([]*shareMember, 0, len(members))
		for _, m := range members {
			if m.deliver(f) {
				idle = append(idle, m)
			}
		}
		clear(members)
		g.scratch = members[:0]
		if len(idle) > 0 {
			(&writeJob{members: idle}).start(shareWriters)
		}
	}
}

// end ends the execution after its Stream ended (the bus closed) or it
// failed (errs): every member ends as its own operation would have.
func (g *shareGroup) end(errs ...*gqlerror.Error) {
	g.mu.Lock()
	if g.pump.ended {
		g.mu.Unlock()
		return
	}
	g.pump.ended, g.closing, g.pump.running = true, true, false
	members := g.members
	g.members = nil
	for _, m := range members {
		m.idx = -1
	}
	g.mu.Unlock()
	g.s.remove(g)
	g.cancel()
	g.s.liveGroups.Dec()
	for _, m := range members {
		g.s.members.Dec()
		if len(errs) > 0 && errs[0] != nil {
			m.op.fail(errs...)
			continue
		}
		m.leave()
	}
}

// shareFrame is one event's message as every member sends it, less its
// head: the payload and the closing brace.
type shareFrame struct {
	g    *shareGroup
	tail []byte // `,"payload":{...}}`
}

// frame encodes resp once for every member.
func (g *shareGroup) frame(resp *graphql.Response) *shareFrame {
	var b []byte
	if plainData(resp) {
		b = make([]byte, 0, len(`,"payload":{"data":}}`)+len(resp.Data))
		b = append(b, `,"payload":{"data":`...)
		b = append(b, resp.Data...)
		b = append(b, "}}"...)
	} else {
		p, err := json.Marshal(resp)
		if err != nil {
			p = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
		}
		b = make([]byte, 0, len(`,"payload":}`)+len(p))
		b = append(b, `,"payload":`...)
		b = append(b, p...)
		b = append(b, '}')
	}
	return &shareFrame{g: g, tail: b}
}

// gap returns the gap the frame carries (the first gap key's value).
func (f *shareFrame) gap() int {
	n := 0
	walkGaps(f.tail[len(`,"payload":`):len(f.tail)-1], f.g.root, f.g.gapKeys, func(_, _ int, v int) { n = max(n, v) })
	return n
}

// withGap returns the frame's tail with add added to each gap value.
func (f *shareFrame) withGap(add int) []byte {
	const head = len(`,"payload":`)
	payload := f.tail[head : len(f.tail)-1]
	type span struct{ start, end, v int }
	var spans []span
	walkGaps(payload, f.g.root, f.g.gapKeys, func(start, end, v int) { spans = append(spans, span{start, end, v}) })
	out := make([]byte, 0, len(f.tail)+8*len(spans))
	out = append(out, f.tail[:head]...)
	at := 0
	for _, sp := range spans {
		out = append(out, payload[at:sp.start]...)
		out = strconv.AppendInt(out, int64(sp.v+add), 10)
		at = sp.end
	}
	out = append(out, payload[at:]...)
	return append(out, '}')
}

// walkGaps calls fn with the byte span and value of every integer at
// data.<root>.<key> of payload, for each key of keys.
func walkGaps(payload []byte, root string, keys []string, fn func(start, end, v int)) {
	if len(keys) == 0 {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	type level struct {
		obj, wantKey bool
		key          string
	}
	var stack []level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{obj: true, wantKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = t, false
				continue
			}
			valueDone()
		case json.Number:
			if len(stack) == 3 && stack[0].key == "data" && stack[1].key == root && slices.Contains(keys, stack[2].key) {
				if v, err := strconv.Atoi(string(t)); err == nil {
					end := int(dec.InputOffset())
					fn(end-len(t), end, v)
				}
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// shareMember is an operation served by a shared execution.
type shareMember struct {
	op  *wsOp
	g   *shareGroup
	idx int // its place in g.members (g.mu)

	mu      sync.Mutex
	q       []*shareFrame
	gap     int // events dropped from q since the last frame sent
	inHand  int // frames its writer took from q and writes
	writing bool
	left    bool
}

// deliver queues f for the member, dropping its oldest queued frame when
// the queue is full. It reports whether the member needs a writer: none
// is at its queue (the caller then has flush run).
func (m *shareMember) deliver(f *shareFrame) bool {
	m.mu.Lock()
	if m.left {
		m.mu.Unlock()
		return false
	}
	if len(m.q) >= m.g.s.queueSize+1-max(m.inHand, 1) {
		m.gap += 1 + m.q[0].gap()
		copy(m.q, m.q[1:])
		m.q[len(m.q)-1] = nil
		m.q = m.q[:len(m.q)-1]
	}
	m.q = append(m.q, f)
	if m.writing {
		m.mu.Unlock()
		return false
	}
	m.writing = true
	m.mu.Unlock()
	return true
}

// Writers of an event's messages.
const (
	// shareBatch is the most frames a writer takes from a member's queue
	// to write at once.
	shareBatch = 16
	// shareWriters is how many goroutines start writing an event's
	// messages to the members whose writer is idle.
	shareWriters = 4
	// shareStallCheck is how often a job with members still waiting
	// checks that its writers got on: when none finished a member since
	// the last check (their sockets block), one more writer starts.
	shareStallCheck = 2 * time.Millisecond
)

// writeJob writes one event's messages to the members whose writer was
// idle, on a few goroutines that take the members in turn, rather than a
// goroutine each: a goroutine costs more to start (and to grow its
// stack) than a message costs to write. A member whose socket blocks
// holds up the one writer at it; when every writer is held up, the
// watchdog adds another within shareStallCheck, so no member waits on
// another's socket for longer.
type writeJob struct {
	members []*shareMember
	next    atomic.Int64 // the next member to take
	done    atomic.Int64 // members written
}

// start starts the job's writers, and its watchdog when members must
// wait for them.
func (j *writeJob) start(writers int) {
	for range min(writers, len(j.members)) {
		go j.work()
	}
	if len(j.members) > writers {
		j.watch(0)
	}
}

// work writes to members in turn until none is left. It counts its
// writes once at the end, not one by one on a counter every writer
// shares.
func (j *writeJob) work() {
	writes := 0
	for {
		i := j.next.Add(1) - 1
		if i >= int64(len(j.members)) {
			break
		}
		writes += j.members[i].flush()
		j.done.Add(1)
	}
	if writes > 0 {
		j.members[0].g.s.writes.Add(float64(writes))
	}
}

// watch checks after shareStallCheck that members were written since
// last, adding a writer if none was, until every member was taken.
func (j *writeJob) watch(last int64) {
	time.AfterFunc(shareStallCheck, func() {
		if j.next.Load() >= int64(len(j.members)) {
			return
		}
		n := j.done.Load()
		if n == last {
			go j.work()
		}
		j.watch(n)
	})
}

// flush writes the member's queue out, then ends; when the member left
// meanwhile, it ends the operation after the frames it was writing. It
// takes the frames waiting (up to shareBatch) at once and writes them
// together. It returns the writes it made.
func (m *shareMember) flush() (writes int) {
	defer m.op.recover()
	var batch [shareBatch]*shareFrame
	var tails [shareBatch][]byte
	for {
		m.mu.Lock()
		m.inHand = 0
		if m.left {
			m.writing = false
			m.mu.Unlock()
			m.op.finish()
			return writes
		}
		if len(m.q) == 0 {
			m.writing = false
			if cap(m.q) > 4 {
				m.q = nil
			}
			m.mu.Unlock()
			return writes
		}
		n := copy(batch[:], m.q)
		rest := copy(m.q, m.q[n:])
		clear(m.q[rest:])
		m.q = m.q[:rest]
		m.inHand = n
		gap := m.gap
		m.gap = 0
		m.mu.Unlock()
		for i, f := range batch[:n] {
			tails[i] = f.tail
		}
		if gap > 0 {
			tails[0] = batch[0].withGap(gap)
		}
		m.op.sendTails(tails[:n])
		writes++
		clear(batch[:n])
		clear(tails[:n])
	}
}

// leave takes the member out of its group and ends its operation (after
// the frame its writer is at, if any), once.
func (m *shareMember) leave() {
	m.mu.Lock()
	if m.left {
		m.mu.Unlock()
		return
	}
	m.left = true
	m.q = nil
	writing := m.writing
	m.mu.Unlock()
	m.g.drop(m)
	if !writing {
		m.op.finish()
	}
}
