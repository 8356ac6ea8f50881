// Package mongobus is the broker.Bus of several hub instances: events
// published on any hub reach the subscribers of every hub, through a
// MongoDB replica set's change streams.
//
// # The fan-out path
//
//	hub A: Publish ──insert──> events collection (w: majority)
//	                                 │ change stream, one per hub
//	        ┌────────────────────────┴────────────────────────┐
//	hub A: watcher ──> local *broker.Broker ──> A's subscriptions
//	hub B: watcher ──> local *broker.Broker ──> B's subscriptions
//
// Publish writes the event to the events collection (one document per
// event, mapped field by field, payload included: docs.go) and returns
// once its own hub's watcher has handed it to the local broker, with the
// Seq that broker gave it. Every hub runs one watcher: a change stream on
// the events collection that decodes each inserted event and publishes it
// into the hub's local *broker.Broker, whose Subscribe is the Bus's. So
// routing, filters, bounded queues and gap markers stay the broker's, and
// an event takes the same path whichever hub published it. Seq is per
// hub: each hub's broker numbers events in the order its change stream
// delivers them, which is the order of the oplog, the same on every hub.
//
// # Resuming, and what is lost
//
// The watcher saves its change stream's resume token in the busCursors
// collection ({_id: hub ID}) about once a second and when the bus closes;
// a restarted hub resumes from it and hands its local broker what was
// published while it was down (it reaches the subscriptions open by
// then: after a restart, few, as clients reconnect once the hub is up and
// should refetch what they show). Delivery is at least once across a
// restart (up to a second of events may come again) and exactly once
// while a hub runs; a stream that breaks while the hub runs (a failover)
// resumes from the token in memory, so its subscribers miss nothing.
// Events delivered again after a restart were stored before the bus
// opened: once the stream has delivered a run of them and stands idle, the
// watcher calls Options.OnReplayed, so that a hub whose in-memory views
// were read from the store at start (and so hold those events' effects)
// reads them afresh.
// When the token is no longer in the oplog (the hub was down longer than
// the oplog window), or the server refuses it, the watcher says so in the
// log, naming the time the token was saved, starts from now, counts the
// gap in Stats and calls Options.OnGap: the events between were not
// delivered by this hub. When the stream fails (a primary steps down, the
// network breaks), the driver resumes it once on its own; past that the
// watcher opens it again with backoff (100 ms doubling to 30 s), logging
// each failure, until the bus closes.
//
// Events are kept in the collection for Options.Retention (a TTL index on
// the time they were stored), for operators to look at; the TTL monitor's
// deletes are not events. A hub catches up from the oplog, not from the
// collection, so how long it may be down and lose nothing is the oplog
// window (size it with replSetResizeOplog or oplogMinRetentionHours).
package mongobus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/mongostore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Defaults of Options.
const (
	DefaultCollection  = "events"
	DefaultRetention   = 24 * time.Hour
	DefaultPublishWait = 2 * time.Second
	// cursorsCollection holds each hub's resume token.
	cursorsCollection = "busCursors"
	// saveEvery is how often the watcher saves its resume token.
	saveEvery = time.Second
	// maxAwait bounds how long one getMore of the change stream waits for
	// events, so that the watcher saves its token while idle too.
	maxAwait = time.Second
	// minBackoff and maxBackoff bound the wait between attempts to open
	// the change stream again.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Options configures a Bus. The zero value is usable.
type Options struct {
	// Broker configures the local broker that fans events out to this
	// hub's subscriptions (queue size, metrics, clock).
	Broker broker.Options
	// HubID names this hub instance: its resume token is saved under it
	// and its events carry it. Each hub sharing a database needs its own;
	// the host name when empty.
	HubID string
	// Collection is the events collection; DefaultCollection when empty.
	Collection string
	// Retention is how long events stay in the collection (a TTL index);
	// DefaultRetention when zero.
	Retention time.Duration
	// PublishWait bounds how long Publish waits for its event to come
	// back through the change stream; DefaultPublishWait when zero. When
	// negative, Publish returns as soon as the event is stored, with Seq
	// 0: publishers that ignore the Seq (the hub's services do) save the
	// round trip.
	PublishWait time.Duration
	// Log receives what the watcher has to say; slog.Default() when nil.
	Log *slog.Logger
	// OnGap, when set, is called (from the watcher's goroutine) when the
	// bus knows events were published that this hub will not deliver.
	OnGap func(Gap)
	// OnReplayed, when set, is called (from the watcher's goroutine) when
	// the change stream of a hub that resumed from a saved token has
	// delivered n events stored before the bus opened (replay.go) and
	// stands idle: state read from the store at start already holds
	// their effects, so what counted them again should be read afresh.
	OnReplayed func(n int)
	// Dial configures the connection of Open.
	Dial mongostore.DialOptions
}

// Gap describes events a hub did not deliver: those published between
// Since (when the hub last saved its place; zero when unknown) and Until.
type Gap struct {
	Since, Until time.Time
	Reason       string
}

// Stats is a snapshot of a bus's counters.
type Stats struct {
	broker.Stats        // the local broker's
	Received     uint64 // events the change stream delivered to this hub
	Gaps         uint64 // times events were lost to this hub (see Gap)
	Restarts     uint64 // times the change stream was opened again after a failure
	Watching     bool   // whether the change stream is open now
}

// Bus is a broker.Bus shared by every hub on one MongoDB database. Create
// one with Open or New and release it with Close.
type Bus struct {
	local   *broker.Broker
	events  *mongo.Collection
	cursors *mongo.Collection
	client  *mongo.Client // closed by Close when the bus made it
	target  mongostore.Target
	hubID   string
	wait    time.Duration
	now     func() time.Time
	log     *slog.Logger
	onGap   func(Gap)
	// onReplayed and replay: the watcher's goroutine only.
	onReplayed func(int)
	replay     replay

	ctx    context.Context // the watcher's; canceled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the watcher returns
	closed atomic.Bool
	once   sync.Once

	mu      sync.Mutex
	waiters map[bson.ObjectID]chan uint64

	// The watcher's own state.
	token     bson.Raw  // where the stream stands
	savedAt   time.Time // when token was last saved
	lastEvent time.Time // when the last event arrived

	received, gaps, restarts atomic.Uint64
	watching                 atomic.Bool
}

var (
	_ broker.Bus    = (*Bus)(nil)
	_ hub.Publisher = (*Bus)(nil)
)

// Open connects to the MongoDB deployment uri names (mongostore.Dial says
// what it checks and how it fails), and returns a bus on the URI's
// database. The bus owns the connection: Close ends it.
func Open(ctx context.Context, uri string, opts Options) (*Bus, error) {
	client, t, err := mongostore.Dial(ctx, uri, opts.Dial)
	if err != nil {
		return nil, fmt.Errorf("mongobus: %w", err)
	}
	b, err := newBus(ctx, client.Database(t.Database), t, opts)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	b.client = client
	return b, nil
}

// New returns a bus on db, sharing its connection (a mongostore.Store's
// Database, say); Close leaves the connection open.
func New(ctx context.Context, db *mongo.Database, opts Options) (*Bus, error) {
	return newBus(ctx, db, mongostore.Target{Hosts: []string{"the MongoDB of database " + db.Name()}}, opts)
}

func newBus(ctx context.Context, db *mongo.Database, t mongostore.Target, opts Options) (*Bus, error) {
	if opts.HubID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return nil, errors.New("mongobus: no hub ID given and no host name to use instead")
		}
		opts.HubID = host
	}
	if opts.Collection == "" {
		opts.Collection = DefaultCollection
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.PublishWait == 0 {
		opts.PublishWait = DefaultPublishWait
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	now := opts.Broker.Now
	if now == nil {
		now = time.Now
	}
	b := &Bus{
		local:      broker.New(opts.Broker),
		events:     db.Collection(opts.Collection, options.Collection().SetWriteConcern(writeconcern.Majority())),
		cursors:    db.Collection(cursorsCollection, options.Collection().SetWriteConcern(writeconcern.Majority())),
		target:     t,
		hubID:      opts.HubID,
		wait:       opts.PublishWait,
		now:        now,
		log:        opts.Log.With("hub", opts.HubID),
		onGap:      opts.OnGap,
		onReplayed: opts.OnReplayed,
		done:       make(chan struct{}),
		waiters:    make(map[bson.ObjectID]chan uint64),
	}
	if err := b.prepare(ctx, opts.Retention); err != nil {
		b.local.Close()
		return nil, err
	}
	if err := b.loadToken(ctx); err != nil {
		b.local.Close()
		return nil, err
	}
	if b.token != nil {
		b.replay.opened = time.Now()
	}
	cs, err := b.watch(ctx)
	if err != nil {
		b.local.Close()
		return nil, fmt.Errorf("mongobus: open the change stream of %s at %s: %s (change streams need a replica set or a sharded cluster)",
			b.events.Name(), t.Address(), t.Scrub(err.Error()))
	}
	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go b.run(cs)
	return b, nil
}

// prepare makes the TTL index of the events collection, or changes its
// retention when it has another.
func (b *Bus) prepare(ctx context.Context, retention time.Duration) error {
	secs := int32(min(retention/time.Second, 1<<31-1))
	secs = max(secs, 1)
	model := mongo.IndexModel{
		Keys:    bson.D{{Key: "stored", Value: 1}},
		Options: options.Index().SetName("stored_ttl").SetExpireAfterSeconds(secs),
	}
	_, err := b.events.Indexes().CreateOne(ctx, model)
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == codeIndexOptionsConflict || ce.Name == "IndexOptionsConflict") {
		// The index exists with another retention: take this hub's.
		err = b.events.Database().RunCommand(ctx, bson.D{
			{Key: "collMod", Value: b.events.Name()},
			{Key: "index", Value: bson.D{{Key: "name", Value: "stored_ttl"}, {Key: "expireAfterSeconds", Value: secs}}},
		}).Err()
	}
	if err != nil {
		return fmt.Errorf("mongobus: index the %s collection at %s: %s", b.events.Name(), b.target.Address(), b.target.Scrub(err.Error()))
	}
	return nil
}

// codeIndexOptionsConflict is the server's error code for an index that
// exists with other options.
const codeIndexOptionsConflict = 85

// cursorDoc is where a hub's change stream stands.
type cursorDoc struct {
	HubID     string    `bson:"_id"`
	Token     bson.Raw  `bson:"token"`
	SavedAt   time.Time `bson:"savedAt"`
	LastEvent time.Time `bson:"lastEvent,omitempty"`
}

// loadToken reads the hub's saved resume token, if it has one.
func (b *Bus) loadToken(ctx context.Context) error {
	var d cursorDoc
	err := b.cursors.FindOne(ctx, bson.D{{Key: "_id", Value: b.hubID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	} else if err != nil {
		return fmt.Errorf("mongobus: read the resume token of hub %q at %s: %s", b.hubID, b.target.Address(), b.target.Scrub(err.Error()))
	}
	b.token, b.savedAt, b.lastEvent = d.Token, d.SavedAt, d.LastEvent
	return nil
}

// saveToken saves where the stream stands.
func (b *Bus) saveToken(ctx context.Context) {
	if b.token == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := b.now()
	_, err := b.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: b.hubID}},
		bson.D{{Key: "$set", Value: cursorDoc{HubID: b.hubID, Token: b.token, SavedAt: now, LastEvent: b.lastEvent}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		b.log.Warn("mongobus: cannot save the change stream's resume token; a restart may deliver more events again",
			"err", b.target.Scrub(err.Error()))
		return
	}
	b.savedAt = now
}

// pipeline is the change stream's: inserted events only (the TTL
// monitor's deletes are not events).
func pipeline() mongo.Pipeline {
	return mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}}
}

// watch opens the change stream after b.token, or from now when there is
// none. A token the server cannot resume from is reported as a gap and
// dropped, and the stream opens from now.
func (b *Bus) watch(ctx context.Context) (*mongo.ChangeStream, error) {
	o := options.ChangeStream().SetMaxAwaitTime(maxAwait)
	if b.token != nil {
		cs, err := b.events.Watch(ctx, pipeline(), o.SetStartAfter(b.token))
		if err == nil || !refused(err) {
			return cs, err
		}
		b.gap(err)
		o = options.ChangeStream().SetMaxAwaitTime(maxAwait)
	}
	return b.events.Watch(ctx, pipeline(), o)
}

// tokenLost reports whether err says the change stream cannot resume from
// the token it was given: no longer in the oplog, or not a token at all.
func tokenLost(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		switch ce.Code {
		case 286, // ChangeStreamHistoryLost
			280, // ChangeStreamFatalError: the resume token was not found
			260, // InvalidResumeToken
			136: // CappedPositionLost
			return true
		}
	}
	msg := err.Error()
	for _, s := range []string{"ChangeStreamHistoryLost", "resume point may no longer be in the oplog", "resume token was not found", "InvalidResumeToken"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// refused reports whether the server refused to open a change stream
// from a token: the token is lost (tokenLost) or the server answered with
// any other error of its own (a token it cannot parse, say), as opposed
// to a network failure or a timeout. The watcher then starts from now; if
// the server refuses that too, the error is the server's to report.
func refused(err error) bool {
	if tokenLost(err) {
		return true
	}
	var ce mongo.CommandError
	return errors.As(err, &ce) && !ce.HasErrorLabel("NetworkError") && !mongo.IsTimeout(err) && !mongo.IsNetworkError(err)
}

// gap reports that the stream could not resume from b.token: it says so
// in the log, counts it and calls OnGap, and drops the token.
func (b *Bus) gap(err error) {
	g := Gap{Since: b.lastEvent, Until: b.now(), Reason: b.target.Scrub(err.Error())}
	if g.Since.IsZero() {
		g.Since = b.savedAt
	}
	b.gaps.Add(1)
	b.log.Error("mongobus: the change stream cannot resume from this hub's saved place (the hub was down longer than the oplog keeps, or the token is not the server's); "+
		"events published between since and until will not reach this hub's subscribers; starting from now",
		"since", g.Since, "until", g.Until, "err", g.Reason)
	b.token = nil
	if b.onGap != nil {
		b.onGap(g)
	}
}

// run is the watcher: it delivers what the stream brings until the bus
// closes, opening the stream again when it fails.
func (b *Bus) run(cs *mongo.ChangeStream) {
	defer close(b.done)
	defer b.saveToken(context.Background())
	backoff := minBackoff
	for {
		b.watching.Store(true)
		err := b.drain(cs)
		b.watching.Store(false)
		_ = cs.Close(context.WithoutCancel(b.ctx))
		if b.ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, errInvalidated):
			b.log.Warn("mongobus: the events collection was dropped or renamed; watching it again")
		case tokenLost(err):
			// The stream could not resume on its own: the oplog no longer
			// holds its place (a partition longer than the oplog window).
			b.gap(err)
		default:
			b.log.Warn("mongobus: the change stream failed; opening it again", "err", b.target.Scrub(err.Error()))
		}
		for {
			if !sleep(b.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			cs, err = b.watch(b.ctx)
			if err == nil {
				b.restarts.Add(1)
				b.log.Info("mongobus: the change stream is open again")
				backoff = minBackoff
				break
			}
			if b.ctx.Err() != nil {
				return
			}
			b.log.Warn("mongobus: cannot open the change stream; trying again", "in", backoff, "err", b.target.Scrub(err.Error()))
		}
	}
}

// errInvalidated says the server closed the stream (the collection was
// dropped or renamed).
var errInvalidated = errors.New("change stream invalidated")

// drain delivers the stream's events until it fails or the bus closes,
// and keeps b.token where the stream stands, saving it about once a
// second.
func (b *Bus) drain(cs *mongo.ChangeStream) error {
	for {
		if cs.TryNext(b.ctx) {
			b.deliver(cs.Current)
		} else if err := cs.Err(); err != nil {
			return err
		} else if n := b.replay.idle(); n > 0 && b.onReplayed != nil {
			b.log.Info("mongobus: delivered again events stored before this hub started", "events", n)
			b.onReplayed(n)
		} else if cs.ID() == 0 {
			if t := cs.ResumeToken(); t != nil {
				b.token = t
			}
			return errInvalidated
		}
		if t := cs.ResumeToken(); t != nil {
			b.token = t
		}
		if b.now().Sub(b.savedAt) >= saveEvery {
			b.saveToken(b.ctx)
		}
	}
}

// changeEvent is the part of a change event the watcher reads.
type changeEvent struct {
	OperationType string   `bson:"operationType"`
	FullDocument  bson.Raw `bson:"fullDocument"`
}

// deliver hands one change event to the local broker and to the Publish
// waiting for it, if any.
func (b *Bus) deliver(raw bson.Raw) {
	var ch changeEvent
	if err := bson.Unmarshal(raw, &ch); err != nil {
		b.log.Error("mongobus: skipping a change event that does not decode", "err", err)
		return
	}
	if ch.OperationType != "insert" || ch.FullDocument == nil {
		return
	}
	var d eventDoc
	if err := bson.Unmarshal(ch.FullDocument, &d); err != nil {
		b.log.Error("mongobus: skipping an event document that does not decode", "err", err)
		return
	}
	ev, err := d.event()
	if err != nil {
		b.log.Error("mongobus: skipping an event the broker would refuse", "id", d.ID.Hex(), "origin", d.Origin, "err", err)
		return
	}
	b.replay.delivered(d.Stored)
	seq, err := b.local.Publish(b.ctx, ev)
	if err != nil {
		return // the bus is closing
	}
	b.received.Add(1)
	b.lastEvent = b.now()
	b.mu.Lock()
	w := b.waiters[d.ID]
	delete(b.waiters, d.ID)
	b.mu.Unlock()
	if w != nil {
		w <- seq // buffered
	}
}

// sleep waits for d or until ctx ends, and reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Publish writes the event to the events collection, for every hub's
// subscribers, and returns the Seq this hub's broker gave it once its
// change stream has brought it back. When that takes longer than
// Options.PublishWait, or ctx ends first, it returns 0 and no error: the
// event is stored and arrives when the stream catches up. An event the
// broker would refuse is an EINVALID error and is not written; after
// Close, Publish returns broker.ErrClosed.
func (b *Bus) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	if b.closed.Load() {
		return 0, broker.ErrClosed
	}
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	if ev.At.IsZero() {
		ev.At = b.now()
	}
	d, err := eventToDoc(ev)
	if err != nil {
		return 0, err
	}
	// Stored is the wall clock's, whatever clock the broker has: it is
	// what the server's TTL monitor compares with its own.
	d.ID, d.Origin, d.Stored = bson.NewObjectID(), b.hubID, msTime(time.Now())

	var w chan uint64
	if b.wait > 0 {
		w = make(chan uint64, 1)
		b.mu.Lock()
		b.waiters[d.ID] = w
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			delete(b.waiters, d.ID)
			b.mu.Unlock()
		}()
	}

	if _, err := b.events.InsertOne(ctx, d); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("mongobus: publish %s: %w", ev.Kind, ctx.Err())
		}
		return 0, fmt.Errorf("mongobus: publish %s to %s: %s", ev.Kind, b.target.Address(), b.target.Scrub(err.Error()))
	}
	if w == nil {
		return 0, nil
	}
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case seq := <-w:
		return seq, nil
	case <-t.C:
	case <-ctx.Done():
	case <-b.done:
	}
	return 0, nil
}

// Local returns the broker the bus feeds, where its subscriptions live
// (broker.LocalBus).
func (b *Bus) Local() *broker.Broker { return b.local }

// Open reports broker.ErrClosed once the bus is closed (broker.LocalBus).
func (b *Bus) Open() error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	return nil
}

var _ broker.LocalBus = (*Bus)(nil)

// Subscribe returns a subscription of the local broker to the events f
// selects, published on any hub, from the next one this hub's change
// stream brings. It ends when ctx ends, when it is closed or when the bus
// is.
func (b *Bus) Subscribe(ctx context.Context, f broker.Filter) (*broker.Subscription, error) {
	if b.closed.Load() {
		return nil, broker.ErrClosed
	}
	return b.local.Subscribe(ctx, f)
}

// Close stops the watcher (saving its resume token), ends every
// subscription and, when the bus made its connection (Open), ends it.
// Later calls to Publish and Subscribe return broker.ErrClosed; later
// calls to Close do nothing.
func (b *Bus) Close() error {
	var err error
	b.once.Do(func() {
		b.closed.Store(true)
		b.cancel()
		<-b.done
		_ = b.local.Close()
		if b.client != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if e := b.client.Disconnect(ctx); e != nil {
				err = fmt.Errorf("mongobus: close: %s", b.target.Scrub(e.Error()))
			}
		}
	})
	return err
}

// Stats returns a snapshot of the bus's counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Stats:    b.local.Stats(),
		Received: b.received.Load(),
		Gaps:     b.gaps.Load(),
		Restarts: b.restarts.Load(),
		Watching: b.watching.Load(),
	}
}
