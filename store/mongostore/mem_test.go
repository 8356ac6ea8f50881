package mongostore

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/driver/drivertest"
	"github.com/gridhub/gridhub/store/portable"
	"github.com/gridhub/gridhub/store/storetest"
)

// The driver's logic (key layout, buckets, sequences, cursors, failures
// inside a transaction) on an in-memory database instead of MongoDB, so
// that it runs here: the driver suite and the conformance suite pass
// through it. What it cannot show is MongoDB's side (mongo.go): its
// transactions, which the in-memory one replaces with a lock and an undo
// log, and its queries, which it replaces with sorted maps.

// memDB is a database of collections of documents {_id, v, n}.
type memDB struct {
	mu    sync.RWMutex
	colls map[string]map[string]memDoc
	undo  []memUndo // of the write transaction running
}

type memDoc struct {
	v []byte
	n int64
}

type memUndo struct {
	coll, id string
	doc      memDoc
	existed  bool
}

func newMemDB() *memDB { return &memDB{colls: map[string]map[string]memDoc{}} }

// txn runs fn alone (a write) or beside other reads, and undoes a write
// whose fn fails.
func (m *memDB) txn(ctx context.Context, write bool, fn func(ctx context.Context) error) error {
	if !write {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return fn(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.undo = nil
	err := fn(ctx)
	if err != nil {
		for i := len(m.undo) - 1; i >= 0; i-- {
			u := m.undo[i]
			if u.existed {
				m.colls[u.coll][u.id] = u.doc
			} else {
				delete(m.colls[u.coll], u.id)
			}
		}
	}
	m.undo = nil
	return err
}

// memKV returns the driver on db.
func memKV(db *memDB) *kv {
	return &kv{
		coll: func(name string) collection { return memColl{db, name} },
		txn:  db.txn,
	}
}

type memColl struct {
	db   *memDB
	name string
}

func (c memColl) docs() map[string]memDoc {
	d := c.db.colls[c.name]
	if d == nil {
		d = map[string]memDoc{}
		c.db.colls[c.name] = d
	}
	return d
}

func (c memColl) save(id string) {
	d, ok := c.docs()[id]
	c.db.undo = append(c.db.undo, memUndo{coll: c.name, id: id, doc: d, existed: ok})
}

func (c memColl) find(_ context.Context, id string) ([]byte, bool, error) {
	d, ok := c.db.colls[c.name][id]
	return slices.Clone(d.v), ok, nil
}

func (c memColl) replace(_ context.Context, id string, v []byte) error {
	c.save(id)
	c.docs()[id] = memDoc{v: slices.Clone(v)}
	return nil
}

func (c memColl) remove(_ context.Context, id string) error {
	c.save(id)
	delete(c.docs(), id)
	return nil
}

func (c memColl) incr(_ context.Context, id string) (int64, error) {
	c.save(id)
	d := c.docs()[id]
	d.n++
	c.docs()[id] = d
	return d.n, nil
}

func (c memColl) scan(_ context.Context, r idRange) (docIter, error) {
	var ids []string
	for id := range c.db.colls[c.name] {
		if r.contains(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if r.desc {
		slices.Reverse(ids)
	}
	it := &memIter{}
	for _, id := range ids {
		it.docs = append(it.docs, kvDoc{ID: id, V: slices.Clone(c.db.colls[c.name][id].v)})
	}
	return it, nil
}

type memIter struct{ docs []kvDoc }

func (it *memIter) next(context.Context) (string, []byte, bool, error) {
	if len(it.docs) == 0 {
		return "", nil, false, nil
	}
	d := it.docs[0]
	it.docs = it.docs[1:]
	return d.ID, d.V, true, nil
}

func (it *memIter) close(context.Context) {}

// memHarness opens drivers and stores on in-memory databases; Reopen
// opens a new driver on the same one.
type memHarness struct {
	mu  sync.Mutex
	dbs map[any]*memDB
}

func (h *memHarness) openDriver(t *testing.T, db *memDB) *kv {
	d := memKV(db)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func (h *memHarness) remember(k any, db *memDB) {
	h.mu.Lock()
	h.dbs[k] = db
	h.mu.Unlock()
}

func (h *memHarness) dbOf(t *testing.T, k any) *memDB {
	t.Helper()
	h.mu.Lock()
	db, ok := h.dbs[k]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of what the harness did not open")
	}
	return db
}

// memDrivers is the driver suite's harness.
type memDrivers struct{ memHarness }

func (h *memDrivers) Open(t *testing.T) driver.Driver {
	db := newMemDB()
	d := h.openDriver(t, db)
	h.remember(d, db)
	return d
}

func (h *memDrivers) Reopen(t *testing.T, d driver.Driver) driver.Driver {
	db := h.dbOf(t, d)
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	nd := h.openDriver(t, db)
	h.remember(nd, db)
	return nd
}

// memStores is the conformance suite's harness.
type memStores struct{ memHarness }

func (h *memStores) open(t *testing.T, db *memDB) hub.Store {
	t.Helper()
	d := h.openDriver(t, db)
	ps, err := portable.New(t.Context(), d, portable.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &Store{Store: ps, kv: d}
	h.remember(s, db)
	return s
}

func (h *memStores) Open(t *testing.T) hub.Store { return h.open(t, newMemDB()) }

func (h *memStores) Reopen(t *testing.T, s hub.Store) hub.Store {
	db := h.dbOf(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, db)
}

// TestDriverInMemory runs the driver suite through the driver's logic on
// an in-memory database.
func TestDriverInMemory(t *testing.T) {
	drivertest.Run(t, &memDrivers{memHarness{dbs: map[any]*memDB{}}})
}

// TestConformanceInMemory runs the conformance suite through the portable
// store on the driver's logic on an in-memory database.
func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, &memStores{memHarness{dbs: map[any]*memDB{}}})
}

// TestMigrationInMemory runs the format move of the portable store on the
// driver's logic on an in-memory database.
func TestMigrationInMemory(t *testing.T) {
	h := &memDrivers{memHarness{dbs: map[any]*memDB{}}}
	storetest.RunMigration(t, h.Open)
}
