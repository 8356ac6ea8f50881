package boltstore_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	"github.com/gridhub/gridhub/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// migrateDirEnv, when set, makes TestMigrationKill9 the child: it opens the
// store in that directory, which moves its format 1 data, and says when it
// starts and when it is done.
const migrateDirEnv = "GRIDHUB_BOLTSTORE_MIGRATE_DIR"

// TestMigrationKill9 kills a process with SIGKILL while it opens format 1
// data, which it moves to format 2 in several transactions, at times spread
// over the move, and wants every such file to open afterwards with every
// pharmacy's ledger and allocations as before the move.
func TestMigrationKill9(t *testing.T) {
	if dir := os.Getenv(migrateDirEnv); dir != "" {
		fmt.Println("start")
		s, err := boltstore.Open(dir)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("opened")
		_ = s.Close()
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	src := t.TempDir()
	want := migrationCity(t, src)

	// How long a whole move takes, to spread the kills over it.
	full := t.TempDir()
	copyFile(t, filepath.Join(src, boltstore.FileName), filepath.Join(full, boltstore.FileName))
	began := time.Now()
	s, err := boltstore.Open(full)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	_ = s.Close()

	const kills = 6
	cut := 0
	for i := range kills {
		dir := t.TempDir()
		copyFile(t, filepath.Join(src, boltstore.FileName), filepath.Join(dir, boltstore.FileName))
		delay := time.Duration(rand.Int64N(int64(took)*3/2 + 1))
		opened := killAfter(t, dir, delay)
		version, running := formatOf(t, dir)
		if running {
			cut++
		}
		t.Logf("kill %d at %v of a %v move: opened %v, version %q, move noted running %v", i+1, delay, took, opened, version, running)
		s, err := boltstore.Open(dir)
		if err != nil {
			t.Fatalf("open after kill %d: %v", i+1, err)
		}
		if got := readCity(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("after kill %d and an open, the data differs from before the move", i+1)
		}
		if _, running := formatOfStore(t, s, dir); running {
			t.Errorf("after kill %d and an open, the move is still noted as running", i+1)
		}
	}
	t.Logf("%d of %d kills cut a move short", cut, kills)
}

// migrationCity writes, through the group commit, pharmacies with ledgers
// and allocations, enough for several transactions of the move; rewrites
// them into format 1; and returns what the store read of them first.
func migrationCity(t *testing.T, dir string) map[string]any {
	t.Helper()
	ctx := t.Context()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const pharmacies, changes, reservations = 300, 40, 4000
	at := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	var ps []*hub.Pharmacy
	for i := range pharmacies {
		ps = append(ps, &hub.Pharmacy{ID: fmt.Sprintf("p%03d", i), DistrictID: "d1", Stock: map[hub.SKU]int{hub.MaskAdult: 1000, hub.MaskChild: 100}, UpdatedAt: at})
	}
	if err := s.UpsertPharmacies(ctx, ps...); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRound(ctx, &hub.Round{ID: "round1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < pharmacies*changes; i += 32 {
				c := hub.StockChange{PharmacyID: fmt.Sprintf("p%03d", i%pharmacies), SKU: hub.MaskChild, Delta: 1, Reason: "RESTOCK", At: at}
				if _, err := s.AdjustStock(ctx, c); err != nil {
					t.Error(err)
					return
				}
			}
			for i := w; i < reservations; i += 32 {
				id := fmt.Sprintf("%05d", i)
				_, err := s.ReserveAllocated(ctx,
					&hub.Reservation{ID: "res" + id, RoundID: "round1", ResidentID: "r" + id, IDHash: "h" + id, Fulfilment: hub.Pickup,
						Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at},
					&hub.Allocation{ID: "a" + id, RoundID: "round1", ReservationID: "res" + id, ResidentID: "r" + id, PharmacyID: fmt.Sprintf("p%03d", i%pharmacies),
						SKU: hub.MaskAdult, Quantity: 1, CodeHash: "code" + id, Status: hub.AllocationReserved, CreatedAt: at, UpdatedAt: at})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := readCity(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := boltstore.OpenDriver(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(ctx, []string{"allocationsByPharmacy"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		storetest.ToFormat1(t, d, p.ID)
	}
	storetest.SetFormat(t, d, "1", false)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// readCity reads every pharmacy's ledger and allocations.
func readCity(t *testing.T, s hub.Store) map[string]any {
	t.Helper()
	ctx := t.Context()
	ps, err := s.Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, p := range ps {
		es, err := s.StockLedger(ctx, p.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		as, err := s.Allocations(ctx, hub.AllocationFilter{PharmacyID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		out[p.ID] = fmt.Sprint(p.Stock, len(es), es[len(es)-1].Seq, es[len(es)-1].After, ids)
	}
	return out
}

// killAfter starts a child that opens dir and kills it delay after it
// says it starts; it reports whether the child had opened the store.
func killAfter(t *testing.T, dir string, delay time.Duration) bool {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMigrationKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), migrateDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	opened := false
	var timer <-chan time.Time
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return opened
			}
			switch line {
			case "start":
				timer = time.After(delay)
			case "opened":
				opened = true
			}
		case <-timer:
			timer = nil
			_ = cmd.Process.Kill()
		}
	}
}

// formatOf reads the layout version of the file in dir and whether a move
// is noted as running, with bbolt directly.
func formatOf(t *testing.T, dir string) (string, bool) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	var running bool
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		version = string(meta.Get([]byte("version")))
		running = meta.Get([]byte("migrating")) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return version, running
}

// formatOfStore is formatOf on a store it closes first.
func formatOfStore(t *testing.T, s *boltstore.Store, dir string) (string, bool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return formatOf(t, dir)
}
