// Package driver is the narrow interface between the portable store
// (package store/portable, the one implementation of hub.Store) and a
// backend that keeps its bytes: bbolt (store/boltstore) or MongoDB
// (store/mongostore). A driver owns persistence only: transactions, get,
// put and delete by key, ordered scans of a bucket, and sequence numbers.
// Everything a record means — its encoding, its indexes, validation, the
// stock ledger, state transitions and their guards, error codes — belongs
// to the portable layer, written once.
//
// The model is an ordered key-value store with named buckets, as in bbolt:
// a bucket maps byte keys to byte values and iterates in key order; a
// bucket may hold nested buckets, each a key space of its own. Keys are at
// most MaxKey bytes; values are opaque.
//
// # What a driver promises
//
//   - Update runs its function as one serializable transaction: as if no
//     other transaction ran at the same time, all or nothing, durable when
//     Update returns nil. A driver that cannot give that (MongoDB gives
//     snapshot isolation) must make it so — mongostore serialises its write
//     transactions on one document — or it is not a driver. This is what
//     lets the portable layer keep a rule such as "stock never goes below
//     zero" as a read, a check and a write: the guarded increment is a Get,
//     a comparison and a Put in one Update.
//   - Update may run fn more than once (a retried transaction, a group
//     commit that replays the writes of a failed neighbour); fn must keep no
//     state between runs.
//   - fn must check everything before it changes anything: when fn returns
//     an application error (one carrying a *hub.Error), the driver may
//     commit the transaction with fn's other work — bbolt's group commit
//     does, to keep its neighbours' writes — so fn must not have written.
//     Any other error from fn rolls back what fn wrote.
//   - A read or write that fails inside fn (MongoDB's network, say) makes
//     the whole call fail with that error whatever fn returns; a Get that
//     failed returns nil, a cursor that failed ends, so fn runs to its end
//     and the driver reports the failure.
//   - View runs fn on a consistent snapshot; fn must not write.
//   - Byte slices a driver returns are valid until the end of the
//     transaction only, and must not be changed.
//   - After Close every call fails with an error matching ErrClosed.
//
// The change feed is not the driver's: every hub's events go through the
// broker (broker/mongobus on MongoDB's change streams), fed by the callers
// of the store, never by the store itself.
package driver

import (
	"context"
	"errors"
)

// MaxKey is the longest key a driver must accept.
const MaxKey = 512

// ErrClosed is matched, with errors.Is, by the error of every call made on
// a driver after Close.
var ErrClosed = errors.New("store is closed")

// Driver is a backend of the portable store.
type Driver interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction and returns when it is
	// durable (see the package documentation for what fn must do).
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Prepare creates the buckets named, if they do not exist, in one
	// durable write. The portable store calls it once, before any other
	// call.
	Prepare(ctx context.Context, buckets []string) error
	// Ping reports whether the backend can serve: nil when it answers.
	Ping(ctx context.Context) error
	// Close releases the backend; it waits for the writes already taken.
	Close() error
}

// Tx is a transaction.
type Tx interface {
	// Bucket returns the top-level bucket of that name, which Prepare
	// created; nil when there is none.
	Bucket(name string) Bucket
}

// Bucket is an ordered key space.
type Bucket interface {
	// Get returns the value of key, or nil when there is none.
	Get(key []byte) []byte
	// Put sets the value of key; value may be empty, never nil.
	Put(key, value []byte) error
	// Delete removes key; removing a key that is not there is no error.
	Delete(key []byte) error
	// Cursor returns a cursor over the bucket's keys in byte order.
	Cursor() Cursor
	// ForEach calls fn for every key in order, until fn returns an error.
	ForEach(fn func(k, v []byte) error) error
	// NextSequence returns the next number of the bucket's own counter,
	// starting at 1, strictly increasing over committed transactions
	// (a number taken by a transaction that rolled back may come again).
	NextSequence() (uint64, error)
	// Bucket returns the nested bucket of that name, or nil.
	Bucket(name []byte) Bucket
	// CreateBucketIfNotExists returns the nested bucket of that name,
	// creating it when there is none.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket removes the nested bucket of that name with all its
	// keys and its sequence; removing one that is not there is no error.
	// The bucket must hold no nested buckets of its own.
	DeleteBucket(name []byte) error
}

// Cursor walks a bucket's keys in byte order. Each method returns the key
// and value it lands on, or a nil key when there is none. The portable
// store never keeps keys and nested buckets in one bucket, so what a
// cursor does with nested buckets is the driver's.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek lands on the first key at least seek.
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}

// FillHinter is a Bucket that can be told how full to pack its pages: a
// bucket whose keys mostly grow at its end packs them fuller. A hint only;
// a Bucket need not be one.
type FillHinter interface {
	SetFillPercent(f float64)
}
