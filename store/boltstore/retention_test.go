package boltstore_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	bolt "go.etcd.io/bbolt"
)

// Retention on the embedded store: what a sweep leaves in the data
// directory, and a sweep killed halfway.

var sweepEpoch = time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)

// sweepSeed writes residents "held-resident-N" and "plain-resident-N" and
// their scans at checkpoint k1, one a minute for minutes 0..perResident-1
// from sweepEpoch, spread over cells; scan IDs name the resident and the
// minute.
func sweepSeed(t testing.TB, s hub.Store, residents, perResident int) {
	t.Helper()
	ctx := t.Context()
	if err := s.UpsertCheckpoints(ctx, &hub.Checkpoint{ID: "k1", Name: "Gate", Cell: 0x8928308280fffff, DistrictID: "d1"}); err != nil {
		t.Fatal(err)
	}
	var rs []*hub.Resident
	for i := range residents {
		for _, kind := range []string{"held", "plain"} {
			id := fmt.Sprintf("%s-resident-%d", kind, i)
			rs = append(rs, &hub.Resident{ID: id, IDHash: "h-" + id, CommitteeID: "c1", DistrictID: "d1", RegisteredAt: sweepEpoch})
		}
	}
	if err := s.CreateResidents(ctx, rs...); err != nil {
		t.Fatal(err)
	}
	var batch []*hub.Scan
	flush := func() {
		if err := s.RecordScans(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for _, r := range rs {
		for n := range perResident {
			batch = append(batch, &hub.Scan{
				ID: fmt.Sprintf("scan-%s-m%04d", r.ID, n), CheckpointID: "k1",
				Cell: hub.Cell(0x8928308280fffff + uint64(n%7)<<12), ResidentID: r.ID, SubjectID: "sub-" + r.ID,
				At: sweepEpoch.Add(time.Duration(n) * time.Minute), Temperature: 36.6, Colour: hub.Green, Result: hub.ScanPass,
			})
			if len(batch) == hub.MaxScanBatch {
				flush()
			}
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// TestSweepLeavesNoBytes: after a sweep and a compaction the data
// directory holds no byte of an expired scan (its ID, which its record,
// its ID index entry and its cell index value all carry), and every byte
// of a held one.
func TestSweepLeavesNoBytes(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const residents, per, cut = 20, 120, 90
	sweepSeed(t, s, residents, per)
	var held []string
	for i := range residents {
		held = append(held, fmt.Sprintf("held-resident-%d", i))
	}
	if err := s.PutHold(ctx, &hub.Hold{
		ID: "hold1", DistrictID: "d1", CaseID: held[0], ResidentIDs: held, Reason: "case 7",
		PlacedAt: sweepEpoch, Until: sweepEpoch.Add(1000 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	before, now := sweepEpoch.Add(cut*time.Minute), sweepEpoch.Add(100*time.Hour)
	var total hub.SweepResult
	var from []byte
	for {
		r, err := s.Sweep(ctx, hub.SweepRequest{Kind: hub.RecordScans, Before: before, Now: now, From: from, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		total.Deleted += r.Deleted
		total.Held += r.Held
		if from = r.Next; from == nil {
			break
		}
	}
	if want := residents * cut; total.Deleted != want || total.Held != want {
		t.Fatalf("swept %+v, want %d deleted and %d held", total, want, want)
	}
	for i := range residents {
		for _, kind := range []string{"held", "plain"} {
			id := fmt.Sprintf("%s-resident-%d", kind, i)
			ss, err := s.Trajectory(ctx, id, time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := per - cut
			if kind == "held" {
				want = per
			}
			if len(ss) != want {
				t.Fatalf("trajectory of %s: %d scans, want %d", id, len(ss), want)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	scanID := regexp.MustCompile(`scan-(held|plain)-resident-[0-9]+-m([0-9]{4})`)
	count := func(b []byte) (expired, kept int) {
		seen := map[string]bool{}
		for _, m := range scanID.FindAllSubmatch(b, -1) {
			if seen[string(m[0])] {
				continue
			}
			seen[string(m[0])] = true
			n, _ := strconv.Atoi(string(m[2]))
			if string(m[1]) == "plain" && n < cut {
				expired++
			} else {
				kept++
			}
		}
		return expired, kept
	}
	path := filepath.Join(dir, boltstore.FileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := count(raw)
	t.Logf("before compaction the file still holds the ID of %d of the %d expired scans in freed pages", left, residents*cut)

	sizeBefore, sizeAfter, err := boltstore.Compact(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	expired, kept := count(raw)
	if expired != 0 {
		t.Fatalf("after compaction the file holds %d expired scan IDs", expired)
	}
	if want := 2*residents*per - residents*cut; kept != want {
		t.Fatalf("after compaction the file holds %d kept scan IDs, want %d", kept, want)
	}
	t.Logf("compaction: %d -> %d bytes", sizeBefore, sizeAfter)

	// The compacted store opens and answers.
	s, err = boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ss, err := s.Trajectory(ctx, held[3], time.Time{}, 0)
	if err != nil || len(ss) != per {
		t.Fatalf("trajectory after compaction: %d scans, %v", len(ss), err)
	}
}

// sweepKillDirEnv, when set, makes TestSweepKill9 the child: it sweeps the
// store in that directory in small batches, printing "batch N" after each,
// until it is killed.
const sweepKillDirEnv = "GRIDHUB_BOLTSTORE_SWEEP_KILL_DIR"

// TestSweepKill9 kills a sweep halfway with SIGKILL: no scan is left half
// deleted (in one of its three buckets and not the others), and the next
// sweep finishes the job.
func TestSweepKill9(t *testing.T) {
	const residents, per, cut = 50, 200, 150
	before := sweepEpoch.Add(cut * time.Minute)
	now := sweepEpoch.Add(100 * time.Hour)
	if dir := os.Getenv(sweepKillDirEnv); dir != "" {
		sweepChild(t, dir, before, now)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sweepSeed(t, s, residents, per)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	batches := 0
	waitErr := runKilled(t, "TestSweepKill9", sweepKillDirEnv, dir, func(line string) bool {
		if strings.HasPrefix(line, "batch ") {
			batches++
		}
		return batches >= 20
	})

	// Read the three buckets raw: each scan is in all of them or none.
	db, err := bolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	inScans, inIDs, inCells := map[string]bool{}, map[string]bool{}, map[string]bool{}
	err = db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("scanIDs")).ForEach(func(k, _ []byte) error { inIDs[string(k)] = true; return nil }); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("scansByCell")).ForEach(func(k, _ []byte) error { inCells[string(k[16:])] = true; return nil }); err != nil {
			return err
		}
		return tx.Bucket([]byte("scans")).ForEach(func(k, _ []byte) error {
			i := bytes.IndexByte(k, 0)
			inScans[string(k[i+1+8:])] = true
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	total := 2 * residents * per
	deleted := total - len(inScans)
	if deleted == 0 || deleted >= residents*cut {
		t.Fatalf("the kill came at %d scans deleted: not halfway", deleted)
	}
	for id := range inScans {
		if !inIDs[id] || !inCells[id] {
			t.Fatalf("scan %s half deleted: in scans, scanIDs %v, scansByCell %v", id, inIDs[id], inCells[id])
		}
	}
	if len(inIDs) != len(inScans) || len(inCells) != len(inScans) {
		t.Fatalf("after the kill: %d scans, %d scan IDs, %d cell entries", len(inScans), len(inIDs), len(inCells))
	}
	t.Logf("child killed after %d acknowledged batches (%v): %d scans deleted, none half", batches, waitErr, deleted)

	s, err = boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rest int
	var from []byte
	for {
		r, err := s.Sweep(t.Context(), hub.SweepRequest{Kind: hub.RecordScans, Before: before, Now: now, From: from})
		if err != nil {
			t.Fatal(err)
		}
		rest += r.Deleted
		if from = r.Next; from == nil {
			break
		}
	}
	if deleted+rest != 2*residents*cut {
		t.Fatalf("%d deleted before the kill and %d after, want %d in all", deleted, rest, 2*residents*cut)
	}
	for i := range residents {
		id := fmt.Sprintf("plain-resident-%d", i)
		ss, err := s.Trajectory(t.Context(), id, time.Time{}, 0)
		if err != nil || len(ss) != per-cut {
			t.Fatalf("trajectory of %s after the finished sweep: %d scans, %v", id, len(ss), err)
		}
	}
}

// sweepChild sweeps in batches of 50, printing each acknowledged batch,
// until it is killed or the pass ends.
func sweepChild(t *testing.T, dir string, before, now time.Time) {
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("child: open: %v", err)
	}
	defer s.Close()
	var from []byte
	for n := 1; ; n++ {
		r, err := s.Sweep(t.Context(), hub.SweepRequest{Kind: hub.RecordScans, Before: before, Now: now, From: from, Limit: 50})
		if err != nil {
			t.Fatalf("child: sweep: %v", err)
		}
		fmt.Fprintf(os.Stdout, "batch %d %d\n", n, r.Deleted)
		if from = r.Next; from == nil {
			return
		}
	}
}
