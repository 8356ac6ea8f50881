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

// harness opens each store on a database of its own.
type harness struct {
	uri   string
	admin *mongo.Client // drops the test databases

	mu  sync.Mutex
	dbs map[hub.Store]string
}

func (h *harness) Open(t *testing.T) hub.Store {
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

func (h *harness) Reopen(t *testing.T, s hub.Store) hub.Store {
	t.Helper()
	h.mu.Lock()
	name, ok := h.dbs[s]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of a store the harness did not open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, name)
}

func (h *harness) open(t *testing.T, name string) hub.Store {
	t.Helper()
	s, err := mongostore.Open(t.Context(), h.uri, mongostore.Options{Database: name})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h.mu.Lock()
	h.dbs[s] = name
	h.mu.Unlock()
	return s
}

// TestConformance runs the conformance suite against MongoDB, when
// GRIDHUB_TEST_MONGODB_URI names a server.
func TestConformance(t *testing.T) {
	uri := testURI(t)
	admin, _, err := mongostore.Dial(t.Context(), uri, mongostore.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	// A cleanup, not a defer: cleanups run last-in-first-out after the
	// test, so the test databases are dropped (by the harness's cleanups,
	// registered later) before the client goes.
	t.Cleanup(func() { _ = admin.Disconnect(context.Background()) })
	storetest.Run(t, &harness{uri: uri, admin: admin, dbs: make(map[hub.Store]string)})
}

// TestTwoHubs runs two stores on one database, as two hub instances
// would, and races them for the same stock: neither oversells, and the
// audit Seqs they hand out never collide.
func TestTwoHubs(t *testing.T) {
	uri := testURI(t)
	admin, _, err := mongostore.Dial(t.Context(), uri, mongostore.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	// A cleanup, not a defer: cleanups run last-in-first-out after the
	// test, so the test databases are dropped (by the harness's cleanups,
	// registered later) before the client goes.
	t.Cleanup(func() { _ = admin.Disconnect(context.Background()) })
	h := &harness{uri: uri, admin: admin, dbs: make(map[hub.Store]string)}
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

// driverHarness opens each driver on a database of its own.
type driverHarness struct {
	uri   string
	admin *mongo.Client

	mu  sync.Mutex
	dbs map[driver.Driver]string
}

func (h *driverHarness) Open(t *testing.T) driver.Driver {
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

func (h *driverHarness) Reopen(t *testing.T, d driver.Driver) driver.Driver {
	t.Helper()
	h.mu.Lock()
	name, ok := h.dbs[d]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of a driver the harness did not open")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, name)
}

func (h *driverHarness) open(t *testing.T, name string) driver.Driver {
	t.Helper()
	d, err := mongostore.OpenDriver(t.Context(), h.uri, mongostore.Options{Database: name})
	if err != nil {
		t.Fatalf("OpenDriver: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	h.mu.Lock()
	h.dbs[d] = name
	h.mu.Unlock()
	return d
}

// TestDriver runs the driver suite against the MongoDB driver, when
// GRIDHUB_TEST_MONGODB_URI names a server.
func TestDriver(t *testing.T) {
	uri := testURI(t)
	admin, _, err := mongostore.Dial(t.Context(), uri, mongostore.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = admin.Disconnect(context.Background()) })
	drivertest.Run(t, &driverHarness{uri: uri, admin: admin, dbs: make(map[driver.Driver]string)})
}
