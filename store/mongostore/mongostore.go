// Package mongostore is Gridhub's MongoDB store: the portable store
// (store/portable) on a MongoDB driver, chosen by a mongodb:// or
// mongodb+srv:// URI. It is the path for a city that outgrows one machine:
// several hub instances share one database, and broker/mongobus fans their
// events out through change streams.
//
// This package owns persistence only (see store/driver): the connection
// (Dial), the key-value layout below, transactions, and the translation of
// the driver's errors. The records, their encoding, their indexes and
// every rule are the portable store's, the same as on the embedded store,
// and are proven there by the conformance suite, which runs here only with
// a server (GRIDHUB_TEST_MONGODB_URI).
//
// # Layout
//
// Each top-level bucket of the portable store is a collection, "kv_" and
// the bucket's name. A key is the document's _id, a string: the path of
// its bucket below the top level (each nested bucket's name in lower-case
// hex, then "/"), ".", and the key in lower-case hex. Hex keeps byte order
// (MongoDB compares strings byte by byte), so a bucket's keys are the _id
// range [path+".", path+".g") and a cursor is a range query sorted on _id;
// the value is the field v, binary. A nested bucket's marker is the
// document whose _id is its path; a bucket's sequence is the field n of
// the document path+"#".
//
// # Durability and atomicity
//
// Every write is acknowledged by a majority of the replica set with
// journaling (write concern {w: "majority", j: true}) before its method
// returns, and reads go to the primary. Every Update runs in one
// multi-document transaction (snapshot read concern), all or nothing,
// which is why the store needs a replica set and Open refuses a standalone
// server. MongoDB's transactions are snapshot-isolated, not serializable;
// the driver interface asks for serializable ones, so every Update first
// increments one document (the field n of {_id: "!writer"} in kv_meta):
// two write transactions at once conflict there, and the later one is
// retried by the MongoDB driver. Write transactions of every hub sharing
// the database therefore run one at a time, which is the price of keeping
// every rule in the portable store; reads (View) do not take it.
//
// Errors are translated at this edge: a failed operation inside a
// transaction fails the whole call, with a message scrubbed of the URI's
// password; a disconnected client is driver.ErrClosed.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/portable"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// ErrClosed is matched, with errors.Is, by the error of every call made on
// a Store after Close.
var ErrClosed = driver.ErrClosed

// Options configures Open. The zero value is usable.
type Options struct {
	// Database overrides the database the URI names (DefaultDatabase when
	// it names none).
	Database string
	// Dial configures the connection and the first ping.
	Dial DialOptions
	// Now is the clock of the times the store sets itself; time.Now when
	// nil.
	Now func() time.Time
}

// Store is the MongoDB store: the portable store on this package's
// driver. It is safe for concurrent use. Create one with Open and release
// it with Close.
type Store struct {
	*portable.Store
	kv *kv
}

var _ hub.Store = (*Store)(nil)

// durable is the write concern of every write: acknowledged by a
// majority, journaled.
func durable() *writeconcern.WriteConcern {
	j := true
	return &writeconcern.WriteConcern{W: "majority", Journal: &j}
}

// Open connects to the MongoDB deployment uri names (Dial says what it
// checks), creates the store's collections and returns the store. The
// store owns the connection: Close ends it.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	d, err := openKV(ctx, uri, opts)
	if err != nil {
		return nil, err
	}
	ps, err := portable.New(ctx, d, portable.Options{Now: opts.Now})
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("mongostore: %w", err)
	}
	return &Store{Store: ps, kv: d}, nil
}

// OpenDriver connects as Open does and returns the driver alone, for the
// driver's own tests (store/driver/drivertest).
func OpenDriver(ctx context.Context, uri string, opts Options) (driver.Driver, error) {
	return openKV(ctx, uri, opts)
}

func openKV(ctx context.Context, uri string, opts Options) (*kv, error) {
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
	return newKV(client, name, t), nil
}

// newStore returns the store on database name of client without a request
// to the server, for tests that never reach one.
func newStore(client *mongo.Client, name string, t Target, opts Options) *Store {
	d := newKV(client, name, t)
	return &Store{Store: portable.Attach(d, portable.Options{Now: opts.Now}), kv: d}
}

func newKV(client *mongo.Client, name string, t Target) *kv {
	db := client.Database(name, options.Database().
		SetWriteConcern(durable()).
		SetReadPreference(readpref.Primary()))
	return &kv{
		client: client,
		db:     db,
		target: t,
		coll:   func(name string) collection { return mongoColl{db.Collection(name)} },
		txn: mongoTxn(client, options.Transaction().
			SetReadConcern(readconcern.Snapshot()).
			SetWriteConcern(durable()).
			SetReadPreference(readpref.Primary())),
	}
}

// Database returns the store's database, for a bus that shares the
// store's connection (mongobus.New).
func (s *Store) Database() *mongo.Database { return s.kv.db }

// Target returns what the store's URI names, without credentials.
func (s *Store) Target() Target { return s.kv.target }

// translate turns an error of the MongoDB driver into the store's:
// application errors pass, a disconnected client is ErrClosed, an ended
// context its error; anything else is wrapped with the operation's name,
// scrubbed of the URI's password.
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
