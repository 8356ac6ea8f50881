package mongostore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/store/driver"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// kv is the MongoDB driver of the portable store (the layout is in the
// package documentation).
type kv struct {
	client *mongo.Client // nil for an in-memory driver (tests)
	db     *mongo.Database
	target Target
	closed atomic.Bool

	// coll returns a collection by name and txn runs a transaction: on
	// MongoDB (mongoColl, mongoTxn) or, in tests, in memory.
	coll func(name string) collection
	txn  func(ctx context.Context, write bool, fn func(ctx context.Context) error) error
}

// collection is what the driver asks of a collection. Each call runs in
// the transaction whose ctx it is given.
type collection interface {
	// find returns the value of the document id, and whether there is one.
	find(ctx context.Context, id string) ([]byte, bool, error)
	// replace writes the document id with value v, creating it if need be.
	replace(ctx context.Context, id string, v []byte) error
	// remove deletes the document id, if there is one.
	remove(ctx context.Context, id string) error
	// incr adds one to the field n of the document id, creating it if need
	// be, and returns the new n.
	incr(ctx context.Context, id string) (int64, error)
	// scan returns the documents whose _id is in r, in r's order.
	scan(ctx context.Context, r idRange) (docIter, error)
}

// idRange is a range of _ids: from lo (greater than lo when loOpen) to hi
// (at most hi when hiClosed, else less than hi), ascending or descending.
type idRange struct {
	lo, hi           string
	loOpen, hiClosed bool
	desc             bool
}

// contains reports whether id is in r.
func (r idRange) contains(id string) bool {
	if id < r.lo || r.loOpen && id == r.lo {
		return false
	}
	return id < r.hi || r.hiClosed && id == r.hi
}

// docIter walks the documents of a scan.
type docIter interface {
	// next returns the next document, or ok false at the end (err says
	// whether the end is a failure).
	next(ctx context.Context) (id string, v []byte, ok bool, err error)
	close(ctx context.Context)
}

var _ driver.Driver = (*kv)(nil)

const (
	collPrefix = "kv_"
	// writerColl and writerID name the document every write transaction
	// increments first, so that write transactions conflict and run one at
	// a time.
	writerColl = collPrefix + "meta"
	writerID   = "!writer"
	// codeNamespaceExists is the server's error code for a collection that
	// exists already.
	codeNamespaceExists = 48
	// scanBatch is the batch size of a cursor's query: most walks stop
	// after a few keys.
	scanBatch = 32
)

// keySep ends a bucket's path; keyEnd is the least string greater than
// every key of a bucket after its path and keySep (hex digits are at most
// 'f'); pathSep ends the hex name of a nested bucket; seqSuffix names a
// bucket's sequence document.
const (
	keySep    = "."
	keyEnd    = "g"
	pathSep   = "/"
	seqSuffix = "#"
)

// Prepare creates the collections before any transaction needs them (a
// transaction that would create one fails on servers before 4.4 and on
// some sharded deployments) and the writer document.
func (d *kv) Prepare(ctx context.Context, buckets []string) error {
	if err := d.checkOpen(ctx); err != nil {
		return err
	}
	if d.client == nil {
		return nil // in memory: nothing to create
	}
	have, err := d.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return d.fail("list collections", err)
	}
	if old := oldLayout(have); len(old) > 0 {
		return fmt.Errorf("mongostore: database %s in %s holds collections of the layout before the portable store (%s) "+
			"and none of this one: this build does not read them; move the data with an export from the build that wrote it",
			d.db.Name(), d.target.Address(), strings.Join(old, ", "))
	}
	for _, b := range buckets {
		name := collPrefix + b
		if slices.Contains(have, name) {
			continue
		}
		err := d.db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Code == codeNamespaceExists) { // another hub made it first
			return d.fail("create collection "+name, err)
		}
	}
	_, err = d.db.Collection(writerColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: writerID}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "n", Value: int64(0)}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // another hub made it first
		return d.fail("create the writer document", err)
	}
	return nil
}

// oldCollections returns the collections of the layout before the
// portable store, one document kind each.
func oldCollections() []string {
	return []string{
		"districts", "committees", "residents", "pharmacies", "ledger", "checkpoints", "audit", "counters",
		"rounds", "reservations", "allocations", "partners", "shortages", "subjects", "declarations",
		"healthCodes", "scans",
	}
}

// oldLayout returns the collections of the layout before the portable
// store among have, the collections of a database, when it holds none of
// this layout's: such a database must not be taken for an empty one.
func oldLayout(have []string) []string {
	for _, name := range have {
		if strings.HasPrefix(name, collPrefix) {
			return nil
		}
	}
	var old []string
	for _, name := range oldCollections() {
		if slices.Contains(have, name) {
			old = append(old, name)
		}
	}
	return old
}

// View runs fn in a read-only transaction, on one snapshot.
func (d *kv) View(ctx context.Context, fn func(tx driver.Tx) error) error {
	return d.run(ctx, "read", false, fn)
}

// Update runs fn in a write transaction, after the writer document.
func (d *kv) Update(ctx context.Context, fn func(tx driver.Tx) error) error {
	return d.run(ctx, "write", true, fn)
}

func (d *kv) run(ctx context.Context, op string, write bool, fn func(tx driver.Tx) error) error {
	if err := d.checkOpen(ctx); err != nil {
		return err
	}
	err := d.txn(ctx, write, func(ctx context.Context) error {
		t := &kvTx{ctx: ctx, d: d, write: write}
		defer t.closeCursors()
		if write {
			if _, err := d.coll(writerColl).incr(ctx, writerID); err != nil {
				return err
			}
		}
		err := fn(t)
		if t.err != nil {
			// The failure of the store, not what fn made of a read that
			// failed; returned as it is, so that the MongoDB driver sees
			// its labels and retries a transient one.
			return t.err
		}
		return err
	})
	return d.fail(op, err)
}

// Ping reports whether the primary answers.
func (d *kv) Ping(ctx context.Context) error {
	if err := d.checkOpen(ctx); err != nil || d.client == nil {
		return err
	}
	return d.fail("ping", d.client.Ping(ctx, readpref.Primary()))
}

// Close ends the connection. Calls after Close, Close included, return an
// error matching ErrClosed.
func (d *kv) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if d.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongostore: close: %s", d.target.Scrub(err.Error()))
	}
	return nil
}

func (d *kv) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (d *kv) fail(op string, err error) error { return translate(d.target, op, err) }

// kvTx is one run of a transaction's function. It keeps the first failure
// of an operation: the transaction fails with it whatever fn returns.
type kvTx struct {
	ctx     context.Context // the session's, for this run only
	d       *kv
	write   bool
	err     error
	cursors []*kvCursor
}

func (t *kvTx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

func (t *kvTx) closeCursors() {
	for _, c := range t.cursors {
		c.close()
	}
}

func (t *kvTx) Bucket(name string) driver.Bucket {
	return &kvBucket{t: t, c: t.d.coll(collPrefix + name)}
}

// kvBucket is a bucket: a collection and a path in it.
type kvBucket struct {
	t    *kvTx
	c    collection
	path string
}

// id returns the _id of key.
func (b *kvBucket) id(key []byte) string { return keyID(b.path, key) }

func keyID(path string, key []byte) string {
	return path + keySep + hex.EncodeToString(key)
}

// keyOf returns the key of an _id of the bucket at path.
func keyOf(path, id string) ([]byte, error) {
	rest, ok := strings.CutPrefix(id, path+keySep)
	if !ok {
		return nil, fmt.Errorf("key %q is not in bucket %q", id, path)
	}
	return hex.DecodeString(rest)
}

// bucketPath returns the path of nested bucket name below path.
func bucketPath(path string, name []byte) string {
	return path + hex.EncodeToString(name) + pathSep
}

func (b *kvBucket) Get(key []byte) []byte {
	if b.t.err != nil {
		return nil
	}
	v, ok, err := b.c.find(b.t.ctx, b.id(key))
	if err != nil {
		b.t.fail(err)
		return nil
	}
	if !ok {
		return nil
	}
	if v == nil {
		return []byte{}
	}
	return v
}

func (b *kvBucket) writable() error {
	if b.t.err != nil {
		return b.t.err
	}
	if !b.t.write {
		return errors.New("mongostore: write in a read-only transaction")
	}
	return nil
}

func (b *kvBucket) Put(key, value []byte) error {
	if err := b.writable(); err != nil {
		return err
	}
	err := b.c.replace(b.t.ctx, b.id(key), value)
	if err != nil {
		b.t.fail(err)
	}
	return err
}

func (b *kvBucket) Delete(key []byte) error {
	if err := b.writable(); err != nil {
		return err
	}
	err := b.c.remove(b.t.ctx, b.id(key))
	if err != nil {
		b.t.fail(err)
	}
	return err
}

func (b *kvBucket) NextSequence() (uint64, error) {
	if err := b.writable(); err != nil {
		return 0, err
	}
	n, err := b.c.incr(b.t.ctx, b.path+seqSuffix)
	if err != nil {
		b.t.fail(err)
		return 0, err
	}
	return uint64(n), nil
}

func (b *kvBucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *kvBucket) Bucket(name []byte) driver.Bucket {
	if b.t.err != nil {
		return nil
	}
	path := bucketPath(b.path, name)
	_, ok, err := b.c.find(b.t.ctx, path)
	if err != nil {
		b.t.fail(err)
		return nil
	}
	if !ok {
		return nil
	}
	return &kvBucket{t: b.t, c: b.c, path: path}
}

func (b *kvBucket) CreateBucketIfNotExists(name []byte) (driver.Bucket, error) {
	if err := b.writable(); err != nil {
		return nil, err
	}
	path := bucketPath(b.path, name)
	_, ok, err := b.c.find(b.t.ctx, path)
	if err == nil && !ok {
		err = b.c.replace(b.t.ctx, path, []byte{})
	}
	if err != nil {
		b.t.fail(err)
		return nil, err
	}
	return &kvBucket{t: b.t, c: b.c, path: path}, nil
}

// DeleteBucket removes the keys of the nested bucket, its sequence and
// the document that marks it.
func (b *kvBucket) DeleteBucket(name []byte) error {
	if err := b.writable(); err != nil {
		return err
	}
	nb := b.Bucket(name)
	if nb == nil {
		return b.t.err
	}
	var keys [][]byte
	if err := nb.ForEach(func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	path := bucketPath(b.path, name)
	ids := make([]string, 0, len(keys)+2)
	for _, k := range keys {
		ids = append(ids, keyID(path, k))
	}
	for _, id := range append(ids, path+seqSuffix, path) {
		if err := b.c.remove(b.t.ctx, id); err != nil {
			b.t.fail(err)
			return err
		}
	}
	return nil
}

func (b *kvBucket) Cursor() driver.Cursor {
	c := &kvCursor{b: b}
	b.t.cursors = append(b.t.cursors, c)
	return c
}

// kvCursor walks a bucket with range scans of _ids: one scan per
// positioning (First, Last, Seek, or a change of direction), read as it
// goes.
type kvCursor struct {
	b   *kvBucket
	it  docIter
	asc bool
	key []byte // where the cursor is; nil before the first move or past an end
}

func (c *kvCursor) close() {
	if c.it != nil {
		c.it.close(context.WithoutCancel(c.b.t.ctx))
		c.it = nil
	}
}

// open starts a scan in one direction from bound: keys at least (or,
// when strict, greater than) bound going up, at most (less than) going
// down; a nil bound is the end the walk starts from.
func (c *kvCursor) open(asc bool, bound []byte, strict bool) (k, v []byte) {
	c.close()
	c.asc, c.key = asc, nil
	if c.b.t.err != nil {
		return nil, nil
	}
	r := idRange{lo: c.b.path + keySep, hi: c.b.path + keySep + keyEnd, desc: !asc}
	switch {
	case bound == nil:
	case asc:
		r.lo, r.loOpen = c.b.id(bound), strict
	default:
		r.hi, r.hiClosed = c.b.id(bound), !strict
	}
	it, err := c.b.c.scan(c.b.t.ctx, r)
	if err != nil {
		c.b.t.fail(err)
		return nil, nil
	}
	c.it = it
	return c.next()
}

// next reads the next document of the open scan.
func (c *kvCursor) next() (k, v []byte) {
	if c.it == nil || c.b.t.err != nil {
		return nil, nil
	}
	id, v, ok, err := c.it.next(c.b.t.ctx)
	if err != nil {
		c.b.t.fail(err)
	}
	if !ok || err != nil {
		c.close()
		return nil, nil
	}
	key, err := keyOf(c.b.path, id)
	if err != nil {
		c.b.t.fail(err)
		return nil, nil
	}
	if v == nil {
		v = []byte{}
	}
	c.key = key
	return key, v
}

func (c *kvCursor) First() (k, v []byte)           { return c.open(true, nil, false) }
func (c *kvCursor) Last() (k, v []byte)            { return c.open(false, nil, false) }
func (c *kvCursor) Seek(seek []byte) (k, v []byte) { return c.open(true, seek, false) }

func (c *kvCursor) Next() (k, v []byte) {
	if c.key == nil {
		return nil, nil
	}
	if !c.asc {
		return c.open(true, c.key, true)
	}
	return c.next()
}

func (c *kvCursor) Prev() (k, v []byte) {
	if c.key == nil {
		return nil, nil
	}
	if c.asc {
		return c.open(false, c.key, true)
	}
	return c.next()
}
