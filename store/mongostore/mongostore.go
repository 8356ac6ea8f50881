// Package mongostore is Gridhub's MongoDB store: a hub.Store on a replica
// set (or a sharded cluster), chosen by a mongodb:// or mongodb+srv://
// URI. It is the path for a city that outgrows one machine: several hub
// instances share one database, and broker/mongobus fans their events out
// through change streams.
//
// # Durability and atomicity
//
// Every write is acknowledged by a majority of the replica set with
// journaling (write concern {w: "majority", j: true}) before its method
// returns, and reads go to the primary, so a write one hub acknowledged is
// seen by the next read of any hub. A write that touches more than one
// document (a batch, an allocation and its stock, a stock change and its
// ledger entry) runs in one multi-document transaction (snapshot read
// concern), all or nothing: that is why the store needs a replica set,
// and why Open refuses a standalone server. The driver retries a
// transaction that meets a write conflict; one that meets a duplicate key
// (a concurrent writer took a unique key between its checks and its
// write) is run again once or twice, so that its checks can say which
// record holds the key.
//
// Stock never goes below zero, however many hubs allocate at once: every
// change is one guarded update, {_id: pharmacy, "stock.SKU": {$gte: n}}
// with {$inc: {"stock.SKU": -n, ledgerSeq: 1}}, which matches nothing
// when n are not on hand (see stockFilter). The same update numbers the
// change in the pharmacy's ledger, so ledger Seqs are strictly increasing
// per pharmacy and never reused. Audit Seqs come from a counter document,
// counters {_id: "audit"}, taken with $inc in the transaction that writes
// the entries; the counter is one document, so appends from every hub
// are serialised on it and Seq order is commit order.
//
// Errors are translated at this edge: no document is ENOTFOUND, a
// duplicate key (11000) ECONFLICT, a guarded stock update that matches
// nothing EOUTOFSTOCK, all as *hub.Error, with messages built from the
// records, never from the driver's text.
//
// Times are kept at millisecond precision (BSON dates), in UTC; bounds of
// time queries (Trajectory, ContactsIn, ExpiringAllocations) are taken at
// millisecond precision too, so a record is found by the time it was
// written with. Cells are stored as 64-bit integers (an H3 index never
// sets the top bit, so they sort as cells do), and documents located on
// the grid carry p5, their cell's parent at H3 resolution 5, the coarse
// part of the shard key deploy/SHARDING.md proposes.
//
// # Collections and indexes
//
// Places and people:
//   - districts, checkpoints, partners: by _id.
//   - committees: unique {code} (only those with a code); {districtId, _id}
//     for a district's committees in ID order.
//   - residents: unique {idHash}; {committeeId, _id} for a committee's
//     residents, paged by ID, and counted.
//   - pharmacies: by _id, with stock {SKU: n} and ledgerSeq, the last
//     ledger Seq; ledger: unique {pharmacyId, seq}.
//   - audit: _id is the Seq; {targetId, _id} and {actorId, _id};
//     counters holds the audit Seq.
//   - meta: the hub's settings (Meta, SwapMeta), {_id: name, value}.
//
// Dispatch:
//   - rounds: {status, _id}.
//   - reservations: unique {roundId, idHash} (one per person per round,
//     the person being their ID number's keyed hash), unique {roundId,
//     idemKey} (those with a key), {roundId, _id}, {roundId, status, _id}.
//   - allocations: unique {codeHash} (those with a code); {partnerId, _id}
//     and {partnerId, status, _id} (a partner's allocations by cursor),
//     {pharmacyId, _id}, {roundId, _id}, {status, _id} and {status,
//     expiresAt, _id} (the expiry sweep).
//   - shortages: unique {residentId, sku} among WAITING ones; {sku,
//     status, _id} and {status, _id} (the waiting list in order).
//
// Health codes and checkpoints:
//   - subjects: _id is the resident ID; unique {subject}.
//   - declarations: {residentId, at, _id} (a resident's latest);
//     latestDeclarations: _id is the resident ID, the declaration that
//     counts, written by every change of it so that two concurrent
//     declarations of one resident conflict; declarationCounts and
//     colourCounts: maintained aggregates, one document per group, {d}
//     for a district's groups.
//   - riskAreas: {cells.cell} among areas in force (active: true).
//   - healthCodes: _id is the resident ID; {cell, _id}.
//   - cases: _id is the resident ID.
//   - scans: {r, at, _id} (a resident's trajectory), {c, at, _id} (the
//     scans of a cell over a time window), {k, at} (a checkpoint's
//     scans over time, for operators' reports; no Store method reads it).
//
// Open creates the indexes (createIndexes does nothing for an index that
// exists) and the audit counter.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// ErrClosed is matched, with errors.Is, by the error of every call made on
// a Store after Close.
var ErrClosed = errors.New("mongostore: store is closed")

// Options configures Open. The zero value is usable.
type Options struct {
	// Database overrides the database the URI names (DefaultDatabase when
	// it names none).
	Database string
	// Dial configures the connection and the first ping.
	Dial DialOptions
	// Now is the clock of the times the store sets itself
	// (SetReservationStatus); time.Now when nil.
	Now func() time.Time
}

// Store is the MongoDB store. It is safe for concurrent use. Create one
// with Open and release it with Close.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	target Target
	now    func() time.Time
	txOpts *options.TransactionOptionsBuilder
	closed atomic.Bool
	c      colls
}

var _ hub.Store = (*Store)(nil)

// colls are the store's collections.
type colls struct {
	districts, committees, residents, pharmacies, ledger, checkpoints *mongo.Collection
	audit, counters, meta                                             *mongo.Collection
	rounds, reservations, allocations, partners, shortages            *mongo.Collection
	subjects, declarations, latestDecls, declCounts                   *mongo.Collection
	riskAreas, healthCodes, colourCounts, cases, scans                *mongo.Collection
}

// Collection names.
const (
	collDistricts    = "districts"
	collCommittees   = "committees"
	collResidents    = "residents"
	collPharmacies   = "pharmacies"
	collLedger       = "ledger"
	collCheckpoints  = "checkpoints"
	collAudit        = "audit"
	collCounters     = "counters"
	collMeta         = "meta"
	collRounds       = "rounds"
	collReservations = "reservations"
	collAllocations  = "allocations"
	collPartners     = "partners"
	collShortages    = "shortages"
	collSubjects     = "subjects"
	collDecls        = "declarations"
	collLatestDecls  = "latestDeclarations"
	collDeclCounts   = "declarationCounts"
	collRiskAreas    = "riskAreas"
	collHealthCodes  = "healthCodes"
	collColourCounts = "colourCounts"
	collCases        = "cases"
	collScans        = "scans"
)

// durable is the write concern of every write: acknowledged by a
// majority, journaled.
func durable() *writeconcern.WriteConcern {
	j := true
	return &writeconcern.WriteConcern{W: "majority", Journal: &j}
}

// Open connects to the MongoDB deployment uri names (Dial says what it
// checks), creates the store's indexes and returns the store. The store
// owns the connection: Close ends it.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	client, t, err := Dial(ctx, uri, opts.Dial)
	if err != nil {
		return nil, fmt.Errorf("mongostore: %w", err)
	}
	name := t.Database
	if opts.Database != "" {
		if err := checkDatabase(opts.Database); err != nil {
			_ = client.Disconnect(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("mongostore: %w", err)
		}
		name = opts.Database
	}
	s := newStore(client, name, t, opts)
	if err := s.prepare(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// newStore returns a store on the database name of client.
func newStore(client *mongo.Client, name string, t Target, opts Options) *Store {
	db := client.Database(name, options.Database().
		SetWriteConcern(durable()).
		SetReadPreference(readpref.Primary()))
	s := &Store{
		client: client,
		db:     db,
		target: t,
		now:    opts.Now,
		txOpts: options.Transaction().
			SetReadConcern(readconcern.Snapshot()).
			SetWriteConcern(durable()).
			SetReadPreference(readpref.Primary()),
	}
	if s.now == nil {
		s.now = time.Now
	}
	c := &s.c
	for _, x := range []struct {
		p    **mongo.Collection
		name string
	}{
		{&c.districts, collDistricts}, {&c.committees, collCommittees}, {&c.residents, collResidents},
		{&c.pharmacies, collPharmacies}, {&c.ledger, collLedger}, {&c.checkpoints, collCheckpoints},
		{&c.audit, collAudit}, {&c.counters, collCounters}, {&c.meta, collMeta},
		{&c.rounds, collRounds}, {&c.reservations, collReservations}, {&c.allocations, collAllocations},
		{&c.partners, collPartners}, {&c.shortages, collShortages},
		{&c.subjects, collSubjects}, {&c.declarations, collDecls}, {&c.latestDecls, collLatestDecls},
		{&c.declCounts, collDeclCounts}, {&c.riskAreas, collRiskAreas}, {&c.healthCodes, collHealthCodes},
		{&c.colourCounts, collColourCounts}, {&c.cases, collCases}, {&c.scans, collScans},
	} {
		*x.p = db.Collection(x.name)
	}
	return s
}

// collectionNames returns the names of the store's collections.
func collectionNames() []string {
	return []string{
		collDistricts, collCommittees, collResidents, collPharmacies, collLedger, collCheckpoints,
		collAudit, collCounters, collMeta, collRounds, collReservations, collAllocations, collPartners,
		collShortages, collSubjects, collDecls, collLatestDecls, collDeclCounts, collRiskAreas,
		collHealthCodes, collColourCounts, collCases, collScans,
	}
}

// prepare creates the collections, their indexes and the audit counter.
// Collections are made before any transaction needs them: a transaction
// that would create one fails on servers before 4.4 and on some sharded
// deployments.
func (s *Store) prepare(ctx context.Context) error {
	have, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongostore: list the collections of %s in %s: %s", s.db.Name(), s.target.Address(), s.target.Scrub(err.Error()))
	}
	for _, name := range collectionNames() {
		if slices.Contains(have, name) {
			continue
		}
		err := s.db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Code == codeNamespaceExists) { // another hub made it first
			return fmt.Errorf("mongostore: create collection %s in %s: %s", name, s.target.Address(), s.target.Scrub(err.Error()))
		}
	}
	for _, spec := range indexSpecs() {
		if _, err := s.db.Collection(spec.coll).Indexes().CreateMany(ctx, spec.models); err != nil {
			return fmt.Errorf("mongostore: create indexes of %s in %s: %s", spec.coll, s.target.Address(), s.target.Scrub(err.Error()))
		}
	}
	_, err = s.c.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: counterAudit}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "seq", Value: int64(0)}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // another hub made it first
		return fmt.Errorf("mongostore: create the audit counter in %s: %s", s.target.Address(), s.target.Scrub(err.Error()))
	}
	return nil
}

// Database returns the store's database, for a bus that shares the
// store's connection (mongobus.New).
func (s *Store) Database() *mongo.Database { return s.db }

// Target returns what the store's URI names, without credentials.
func (s *Store) Target() Target { return s.target }

// Close ends the connection. Calls after Close, Close included, return an
// error matching ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongostore: close: %s", s.target.Scrub(err.Error()))
	}
	return nil
}

// Ping reports whether the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.fail("ping", s.client.Ping(ctx, readpref.Primary()))
}

// checkOpen returns the error a call would get for an ended ctx or a
// closed store, or nil.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// codeNamespaceExists is the server's error code for a collection that
// exists already.
const codeNamespaceExists = 48

// maxRuns bounds how often a write that met a duplicate key runs again.
const maxRuns = 4

// tx runs fn in a multi-document transaction. fn may run more than once
// (the driver retries transient errors; a duplicate key runs it again, up
// to maxRuns in all) and must set its results afresh each time. An error
// fn returns aborts the transaction: nothing it wrote remains.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return s.fail(op, err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	for run := 1; ; run++ {
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return nil, fn(ctx)
		}, s.txOpts)
		if err != nil && !isAppError(err) && mongo.IsDuplicateKeyError(err) && run < maxRuns && ctx.Err() == nil {
			continue
		}
		return s.fail(op, err)
	}
}

// again runs fn, a write of one document, and runs it again when it meets
// a duplicate key, so that its checks can see the record that holds the
// key, up to maxRuns in all.
func (s *Store) again(ctx context.Context, op string, fn func() error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	for run := 1; ; run++ {
		err := fn()
		if err != nil && !isAppError(err) && mongo.IsDuplicateKeyError(err) && run < maxRuns && ctx.Err() == nil {
			continue
		}
		return s.fail(op, err)
	}
}

// fail translates an error of the driver into the store's: application
// errors pass, a missing document is ENOTFOUND, a duplicate key ECONFLICT,
// a disconnected client ErrClosed, an ended context its error; anything
// else is wrapped with the operation's name, scrubbed of the URI's
// password.
func (s *Store) fail(op string, err error) error {
	return translate(s.target, op, err)
}

func translate(t Target, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case isAppError(err):
		return err
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("mongostore: %s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("mongostore: %s: %w", op, context.DeadlineExceeded)
	case errors.Is(err, mongo.ErrNoDocuments):
		return hub.Errorf(hub.ENOTFOUND, "not found")
	case mongo.IsDuplicateKeyError(err):
		return hub.Errorf(hub.ECONFLICT, "a record with the same unique key already exists")
	case errors.Is(err, mongo.ErrClientDisconnected):
		return ErrClosed
	}
	return &storeError{op: op, msg: t.Scrub(err.Error()), err: err}
}

// storeError is a failure of the database, scrubbed of the password.
type storeError struct {
	op, msg string
	err     error
}

func (e *storeError) Error() string { return "mongostore: " + e.op + ": " + e.msg }
func (e *storeError) Unwrap() error { return e.err }

// isAppError reports whether err carries a *hub.Error: an outcome for the
// caller rather than a failure of the store.
func isAppError(err error) bool {
	var e *hub.Error
	return errors.As(err, &e)
}

// internal turns an application error met after a write's checks passed
// into an internal one, so that the transaction aborts rather than report
// an outcome that is not the caller's.
func internal(err error) error {
	if err != nil && isAppError(err) {
		return fmt.Errorf("mongostore: after checks passed: %s", hub.ErrorMessage(err))
	}
	return err
}
