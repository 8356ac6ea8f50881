package boltstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// allocBenchStore opens a store with a round and a pharmacy holding more
// masks than any run takes.
func allocBenchStore(b *testing.B) *Store {
	b.Helper()
	s := benchStore(b)
	ctx := b.Context()
	if err := s.UpsertPharmacies(ctx, &hub.Pharmacy{ID: "p1", Stock: map[hub.SKU]int{hub.MaskAdult: 1 << 40}}); err != nil {
		b.Fatal(err)
	}
	r := &hub.Round{ID: "bench", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen}
	if err := s.UpsertRound(ctx, r); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchReservations creates reservations from..from+n-1 of the bench round
// through the group commit, for the allocations to serve. It is set-up,
// not measured.
func benchReservations(b *testing.B, s *Store, from, n int64) {
	b.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(from)
	for range benchWriters {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < from+n; i = next.Add(1) - 1 {
				id := fmt.Sprintf("res%09d", i)
				r := &hub.Reservation{
					ID: id, RoundID: "bench", ResidentID: fmt.Sprintf("r%09d", i), IDHash: "h" + id,
					Cell: 0x8928308280fffff, Status: hub.ReservationPending, CreatedAt: time.Unix(1580000000+i, 0).UTC(),
				}
				if _, err := s.CreateReservation(b.Context(), r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchAllocation is one mask for reservation i: a pickup with a code and
// an expiry, so every index is written.
func benchAllocation(i int64) *hub.Allocation {
	created := time.Unix(1580000000+i, 0).UTC()
	return &hub.Allocation{
		ID: fmt.Sprintf("a%09d", i), RoundID: "bench", ReservationID: fmt.Sprintf("res%09d", i),
		ResidentID: fmt.Sprintf("r%09d", i), PharmacyID: "p1", SKU: hub.MaskAdult, Quantity: 1,
		Cell: 0x8928308280fffff, Slot: created.Add(time.Hour), CodeHash: fmt.Sprintf("code%09d", i),
		Status: hub.AllocationReserved, ExpiresAt: created.Add(48 * time.Hour), CreatedAt: created, UpdatedAt: created,
	}
}

// allocateGrouped makes allocations from..from+n-1, one per Allocate call,
// from benchWriters goroutines through the group commit.
func allocateGrouped(b *testing.B, s *Store, from, n int64) {
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(from)
	for range benchWriters {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < from+n; i = next.Add(1) - 1 {
				if err := s.Allocate(b.Context(), benchAllocation(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// allocateSerial is the baseline: the same allocations, one bbolt Update
// (one commit, one fsync) each, one after another, doing the same work per
// write. s commits directly (commitBy).
func allocateSerial(b *testing.B, s *Store, from, n int64) {
	for i := from; i < from+n; i++ {
		if err := s.Allocate(b.Context(), benchAllocation(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocate measures one allocation per call, with its stock
// change, ledger entry, reservation update and index entries, through the
// group commit from many goroutines and through the serial baseline.
func BenchmarkAllocate(b *testing.B) {
	b.Run("group", func(b *testing.B) {
		s := allocBenchStore(b)
		benchReservations(b, s, 0, int64(b.N))
		b.ResetTimer()
		allocateGrouped(b, s, 0, int64(b.N))
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
	})
	b.Run("baseline", func(b *testing.B) {
		s := commitBy(allocBenchStore(b), commitDirect)
		benchReservations(b, s, 0, int64(b.N))
		b.ResetTimer()
		allocateSerial(b, s, 0, int64(b.N))
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
	})
}

// BenchmarkAllocateVsBaseline runs both in each iteration, on the same
// number of allocations, and reports the group commit's speedup over the
// baseline as x_vs_baseline. Creating the reservations is not counted.
func BenchmarkAllocateVsBaseline(b *testing.B) {
	const allocs = 200
	grouped, serial := allocBenchStore(b), commitBy(allocBenchStore(b), commitDirect)
	var tGroup, tSerial time.Duration
	var done int64
	for b.Loop() {
		benchReservations(b, serial, done, allocs)
		benchReservations(b, grouped, done, allocs)

		start := time.Now()
		allocateSerial(b, serial, done, allocs)
		tSerial += time.Since(start)

		start = time.Now()
		allocateGrouped(b, grouped, done, allocs)
		tGroup += time.Since(start)
		done += allocs
	}
	b.ReportMetric(tSerial.Seconds()/tGroup.Seconds(), "x_vs_baseline")
	b.ReportMetric(float64(done)/tGroup.Seconds(), "group_allocs/s")
	b.ReportMetric(float64(done)/tSerial.Seconds(), "baseline_allocs/s")
}
