package boltstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// benchWriters is the number of concurrent callers in the group commit
// runs: a busy hub has many requests in flight.
const benchWriters = 64

func benchResident(n int64) *hub.Resident {
	id := fmt.Sprintf("r%09d", n)
	return &hub.Resident{
		ID: id, Name: "Resident " + id, IDHash: "h" + id, IDMasked: "A1******89",
		Phone: "0912345678", Address: "1 Zhongshan Rd", Location: hub.Point{Lat: 25.0478, Lng: 121.517},
		Cell: 0x8928308280fffff, CommitteeID: fmt.Sprintf("c%02d", n%50), DistrictID: "d1",
		RegisteredAt: time.Unix(1580000000+n, 0).UTC(),
	}
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// createGrouped registers n residents, one per CreateResidents call, from
// benchWriters goroutines through the group commit.
func createGrouped(b *testing.B, s *Store, next *atomic.Int64, n int) {
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	for range benchWriters {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := s.CreateResidents(b.Context(), benchResident(next.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// commitBy sets how s commits: for the baselines, before s is shared.
func commitBy(s *Store, m commitMode) *Store {
	s.db.mode = m
	return s
}

// createSerial is the baseline: n residents, one bbolt Update (one commit,
// one fsync) each, one after another, doing the same work per write. s
// commits directly (commitBy).
func createSerial(b *testing.B, s *Store, next *atomic.Int64, n int) {
	for range n {
		if err := s.CreateResidents(b.Context(), benchResident(next.Add(1))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateResident measures one registration per call, through the
// group commit from many goroutines and through the serial baseline.
func BenchmarkCreateResident(b *testing.B) {
	b.Run("group", func(b *testing.B) {
		s, next := benchStore(b), new(atomic.Int64)
		b.ResetTimer()
		createGrouped(b, s, next, b.N)
	})
	b.Run("baseline", func(b *testing.B) {
		s, next := commitBy(benchStore(b), commitDirect), new(atomic.Int64)
		b.ResetTimer()
		createSerial(b, s, next, b.N)
	})
	// For reference: bbolt's own DB.Batch from as many goroutines; it
	// waits up to its MaxBatchDelay (10 ms) to fill a batch.
	b.Run("bolt_batch", func(b *testing.B) {
		s, next := commitBy(benchStore(b), commitBatch), new(atomic.Int64)
		b.ResetTimer()
		createGrouped(b, s, next, b.N)
	})
}

// BenchmarkGroupCommitVsBaseline runs both in each iteration, on the same
// number of writes, and reports the group commit's speedup over the
// baseline as x_vs_baseline.
func BenchmarkGroupCommitVsBaseline(b *testing.B) {
	const writes = 200
	grouped, serial := benchStore(b), commitBy(benchStore(b), commitDirect)
	nextG, nextS := new(atomic.Int64), new(atomic.Int64)
	var tGroup, tSerial time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		createSerial(b, serial, nextS, writes)
		tSerial += time.Since(start)

		start = time.Now()
		createGrouped(b, grouped, nextG, writes)
		tGroup += time.Since(start)
	}
	b.ReportMetric(tSerial.Seconds()/tGroup.Seconds(), "x_vs_baseline")
	n := float64(nextG.Load())
	b.ReportMetric(n/tGroup.Seconds(), "group_writes/s")
	b.ReportMetric(n/tSerial.Seconds(), "baseline_writes/s")
}
