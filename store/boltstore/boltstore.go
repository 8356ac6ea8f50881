// Package boltstore is Gridhub's embedded default store: the portable
// store (store/portable) on a bbolt driver, a single file, gridhub.db, in a
// data directory.
//
// This package owns persistence only: opening the file, its lock and the
// durability of its directory entry, bbolt's transactions behind the
// driver interface (store/driver), and the group commit. The records, their
// encoding (the on-disk format), their indexes and every rule are the
// portable store's.
//
// Every write is durable when its method returns: bbolt fsyncs on commit.
// Writes go through a group commit. Each write is handed to one committer
// goroutine owned by the driver, which takes every write queued at that
// moment, applies them in order in one read-write transaction and commits
// once, so concurrent writers share one fsync. A write checks everything
// before it changes anything, so one that fails with an application error
// (*hub.Error) has written nothing and the others in its transaction still
// commit. Reads use their own read-only transactions and never wait for the
// committer. bbolt allows one writer at a time, so every Update is
// serializable, as the driver interface asks.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/portable"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the database file inside the data directory.
const FileName = "gridhub.db"

// ErrClosed is matched, with errors.Is, by the error of every call made on
// a Store after Close.
var ErrClosed = driver.ErrClosed

const (
	// maxGroup bounds the writes applied in one transaction, so that one
	// commit never holds a huge dirty set.
	maxGroup = 1024
	// lockTimeout is how long Open waits for another process to release
	// the file.
	lockTimeout = 2 * time.Second
)

// Store is the embedded store: the portable store on this package's
// driver. It is safe for concurrent use. Create one with Open and release
// it with Close.
type Store struct {
	*portable.Store
	db *db
}

var _ hub.Store = (*Store)(nil)

// Open opens the store in dir, creating the directory (mode 0700) and the
// database file as needed. Only one process may have a directory open; Open
// gives up after a short wait for another holder.
func Open(dir string) (*Store, error) {
	d, err := openDB(dir)
	if err != nil {
		return nil, err
	}
	ps, err := portable.New(context.Background(), d, portable.Options{})
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", filepath.Join(dir, FileName), err)
	}
	return &Store{Store: ps, db: d}, nil
}

// OpenDriver opens the bbolt driver on dir without the portable store on
// top, for the driver's own tests (store/driver/drivertest).
func OpenDriver(dir string) (driver.Driver, error) {
	return openDB(dir)
}

// db is the bbolt driver.
type db struct {
	bolt *bolt.DB

	ops       chan *op      // writes for the committer; unbuffered
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed by the committer when it ends
	closeOnce sync.Once
	closeErr  error
	// mode is how Update commits: commitGroup but in the benchmarks.
	mode commitMode
}

// commitMode is how Update commits a write.
type commitMode int

const (
	// commitGroup hands the write to the committer (the group commit).
	commitGroup commitMode = iota
	// commitDirect commits each write alone, in the caller's goroutine:
	// the benchmarks' baseline.
	commitDirect
	// commitBatch uses bbolt's own DB.Batch, for reference.
	commitBatch
)

var _ driver.Driver = (*db)(nil)

func openDB(dir string) (*db, error) {
	if dir == "" {
		return nil, errors.New("boltstore: no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	// The freelist is not written at each commit (NoFreelistSync, as etcd
	// does): written whole, it grows with every page a deletion frees, so
	// once the retention sweep has freed millions of pages every commit,
	// the sweep's and the reservations', wrote megabytes of it. bbolt
	// rebuilds it from the file's pages when the store opens instead,
	// which makes opening a large store slower, and a crash loses
	// nothing: the file's pages are the truth.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        lockTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: in use by another process: %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(dir); err != nil {
			_ = bdb.Close()
			return nil, err
		}
	}
	d := &db{
		bolt:    bdb,
		ops:     make(chan *op),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go d.commitLoop()
	return d, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("boltstore: sync data directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("boltstore: sync data directory: %w", err)
	}
	return nil
}

// Prepare creates the buckets in one transaction, outside the committer.
func (d *db) Prepare(ctx context.Context, buckets []string) error {
	if err := d.checkOpen(ctx); err != nil {
		return err
	}
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	return nil
}

// Close waits for the writes already taken by the committer, stops it and
// closes the database. Calls after Close, Close included, return an error
// matching ErrClosed.
func (d *db) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		close(d.quit)
		<-d.stopped
		if err := d.bolt.Close(); err != nil {
			d.closeErr = fmt.Errorf("boltstore: close: %w", err)
		}
	})
	if !first {
		return ErrClosed
	}
	return d.closeErr
}

// Ping reports whether the database answers a read.
func (d *db) Ping(ctx context.Context) error {
	return d.View(ctx, func(driver.Tx) error { return nil })
}

// View runs fn in a read-only transaction and translates bbolt's errors.
func (d *db) View(ctx context.Context, fn func(tx driver.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := d.bolt.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
	switch {
	case err == nil:
		return nil
	case isAppError(err):
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return fmt.Errorf("boltstore: read: %w", err)
}

// isAppError reports whether err carries a *hub.Error: an outcome for the
// caller rather than a failure of the store.
func isAppError(err error) bool {
	var e *hub.Error
	return errors.As(err, &e)
}

// boltTx, boltBucket: bbolt's transactions and buckets as the driver
// interface has them. *bolt.Cursor is a driver.Cursor as it is.
type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name string) driver.Bucket {
	return wrapBucket(t.tx.Bucket([]byte(name)))
}

type boltBucket struct{ b *bolt.Bucket }

func wrapBucket(b *bolt.Bucket) driver.Bucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (b boltBucket) SetFillPercent(f float64)    { b.b.FillPercent = f }
func (b boltBucket) Get(key []byte) []byte       { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error { return b.b.Put(key, value) }
func (b boltBucket) Delete(key []byte) error     { return b.b.Delete(key) }
func (b boltBucket) Cursor() driver.Cursor       { return b.b.Cursor() }
func (b boltBucket) NextSequence() (uint64, error) {
	return b.b.NextSequence()
}
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) Bucket(name []byte) driver.Bucket         { return wrapBucket(b.b.Bucket(name)) }
func (b boltBucket) CreateBucketIfNotExists(name []byte) (driver.Bucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{nb}, nil
}
func (b boltBucket) DeleteBucket(name []byte) error {
	if err := b.b.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return nil
}
