package boltstore_test

import (
	"sync"
	"testing"

	"github.com/gridhub/gridhub/store/boltstore"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/driver/drivertest"
	"github.com/gridhub/gridhub/store/storetest"
)

// driverHarness opens each driver in a test's temporary directory.
type driverHarness struct {
	mu   sync.Mutex
	dirs map[driver.Driver]string
}

func (h *driverHarness) Open(t *testing.T) driver.Driver {
	t.Helper()
	return h.open(t, t.TempDir())
}

func (h *driverHarness) Reopen(t *testing.T, d driver.Driver) driver.Driver {
	t.Helper()
	h.mu.Lock()
	dir, ok := h.dirs[d]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of a driver the harness did not open")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, dir)
}

func (h *driverHarness) open(t *testing.T, dir string) driver.Driver {
	t.Helper()
	d, err := boltstore.OpenDriver(dir)
	if err != nil {
		t.Fatalf("OpenDriver: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	h.mu.Lock()
	h.dirs[d] = dir
	h.mu.Unlock()
	return d
}

// TestDriver runs the driver suite against the bbolt driver.
func TestDriver(t *testing.T) {
	drivertest.Run(t, &driverHarness{dirs: make(map[driver.Driver]string)})
}

// TestMigration runs the format move of the portable store on the bbolt
// driver.
func TestMigration(t *testing.T) {
	h := &driverHarness{dirs: make(map[driver.Driver]string)}
	storetest.RunMigration(t, h.Open)
}
