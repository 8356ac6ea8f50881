package mongostore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/driver/drivertest"
	"github.com/gridhub/gridhub/store/mongostore"
	"github.com/gridhub/gridhub/store/storetest"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// EnvURI names the environment variable that points the MongoDB tests at
// a server: a replica set (one member will do), e.g.
// mongodb://localhost:27017/?replicaSet=rs0. Each test uses a database of
// its own, gridhub_test_..., and drops it at the end.
const EnvURI = "GRIDHUB_TEST_MONGODB_URI"

// testURI returns the test server's URI, or skips t with a line saying
// how to run it.
func testURI(t *testing.T) string {
	t.Helper()
	uri := os.Getenv(EnvURI)
	if uri == "" {
		t.Skip(EnvURI + " is not set: skipping the MongoDB tests that need a server " +
			"(set it to a replica set's URI, e.g. mongodb://localhost:27017/?replicaSet=rs0, to run them)")
	}
	return uri
}

// harness opens each store (T hub.Store) or driver (T driver.Driver) on a
// database of its own, with openAt, and drops the database at the end.
type harness[T interface {
	comparable
	Close() error
}] struct {
	uri    string
	admin  *mongo.Client // drops the test databases
	openAt func(ctx context.Context, uri string, o mongostore.Options) (T, error)

	mu  sync.Mutex
	dbs map[T]string
}

func newHarness[T interface {
	comparable
	Close() error
}](uri string, admin *mongo.Client, openAt func(context.Context, string, mongostore.Options) (T, error)) *harness[T] {
	return &harness[T]{uri: uri, admin: admin, openAt: openAt, dbs: make(map[T]string)}
}

func (h *harness[T]) Open(t *testing.T) T {
	t.Helper()
	name := "gridhub_test_" + rand.Text()[:12]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.admin.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return h.open(t, name)
}

func (h *harness[T]) Reopen(t *testing.T, s T) T {
	t.Helper()
	h.mu.Lock()
	name, ok := h.dbs[s]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of what the harness did not open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, name)
}

func (h *harness[T]) open(t *testing.T, name string) T {
	t.Helper()
	s, err := h.openAt(t.Context(), h.uri, mongostore.Options{Database: name})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h.mu.Lock()
	h.dbs[s] = name
	h.mu.Unlock()
	return s
}

// openStore and openDriver open what the two suites test.
func openStore(ctx context.Context, uri string, o mongostore.Options) (hub.Store, error) {
	return mongostore.Open(ctx, uri, o)
}

func openDriver(ctx context.Context, uri string, o mongostore.Options) (driver.Driver, error) {
	return mongostore.OpenDriver(ctx, uri, o)
}

// dialAdmin connects the client that drops the test databases, closed
// by a cleanup, not a defer: cleanups run last-in-first-out after the
// test, so the test databases are dropped (by the harness's cleanups,
// registered later) before the client goes.
func dialAdmin(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	admin, _, err := mongostore.Dial(t.Context(), uri, mongostore.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = admin.Disconnect(context.Background()) })
	return admin
}

// TestConformance runs the conformance suite against MongoDB, when
// GRIDHUB_TEST_MONGODB_URI names a server.
func TestConformance(t *testing.T) {
	uri := testURI(t)
	storetest.Run(t, newHarness(uri, dialAdmin(t, uri), openStore))
}

// TestTwoHubs runs two stores on one database, as two hub instances
// would, and races them for the same stock: neither oversells, and the
// audit Seqs they hand out never collide.
func TestTwoHubs(t *testing.T) {
	uri := testURI(t)
	h := newHarness(uri, dialAdmin(t, uri), openStore)
	a := h.Open(t)
	h.mu.Lock()
	name := h.dbs[a]
	h.mu.Unlock()
	b := h.open(t, name)
	ctx := t.Context()

	at := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	if err := a.UpsertPharmacies(ctx, &hub.Pharmacy{ID: "p1", Stock: map[hub.SKU]int{hub.MaskAdult: 50}, UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	const takers = 40 // 80 takes of one from 50, half through each hub
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 2 * takers {
		s := []hub.Store{a, b}[i%2]
		wg.Go(func() {
			_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -1, Reason: "ALLOCATE", At: at})
			mu.Lock()
			codes[hub.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	seqs := make([][]hub.AuditEntry, 2*takers)
	for i := range 2 * takers {
		s := []hub.Store{a, b}[i%2]
		wg.Go(func() {
			es, err := s.AppendAudit(ctx, hub.AuditEntry{At: at, Action: "resident", TargetID: fmt.Sprint("r", i), Purpose: "test", Count: 1})
			if err != nil {
				t.Errorf("AppendAudit: %v", err)
			}
			seqs[i] = es
		})
	}
	wg.Wait()
	if codes[""] != 50 || codes[hub.EOUTOFSTOCK] != 2*takers-50 {
		t.Errorf("outcomes of %d takes of one from 50 through two hubs: %v", 2*takers, codes)
	}
	for _, s := range []hub.Store{a, b} {
		p, err := s.Pharmacy(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if n := p.Stock[hub.MaskAdult]; n != 0 {
			t.Errorf("stock after the race: %d, want 0", n)
		}
	}
	seen := map[uint64]bool{}
	for _, es := range seqs {
		for _, e := range es {
			if seen[e.Seq] {
				t.Errorf("audit Seq %d given twice", e.Seq)
			}
			seen[e.Seq] = true
		}
	}
}

// TestDriver runs the driver suite against the MongoDB driver, when
// GRIDHUB_TEST_MONGODB_URI names a server.
func TestDriver(t *testing.T) {
	uri := testURI(t)
	drivertest.Run(t, newHarness(uri, dialAdmin(t, uri), openDriver))
}
