package boltstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	bolt "go.etcd.io/bbolt"
)

// TestGrowingBucketsPackPages makes reservations with their allocations
// through the group commit, with time-sortable IDs as the engine makes
// them, and wants every bucket whose keys grow at its end on a
// reservation to have its leaf pages at least three quarters full: bbolt's
// default split leaves them half empty, and a commit then writes twice the
// pages. The buckets whose keys land all over (the hash and code
// indexes) keep bbolt's default, as does the ledger bucket, where a
// pharmacy's allocations grow to the right and its entries to the left of
// one point, which no fill suits better.
func TestGrowingBucketsPackPages(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.UpsertPharmacies(ctx, &hub.Pharmacy{ID: "p1", Stock: map[hub.SKU]int{hub.MaskAdult: 1 << 40}}); err != nil {
		t.Fatal(err)
	}
	r := &hub.Round{ID: "r1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen}
	if err := s.UpsertRound(ctx, r); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				at := time.Unix(1580000000+i, 0).UTC()
				id := fmt.Sprintf("rsv_%09d", i)
				resv := &hub.Reservation{ID: id, RoundID: "r1", ResidentID: fmt.Sprintf("r%09d", i), IDHash: fmt.Sprintf("h%09d", i*7919%n),
					Cell: 0x8928308280fffff, CommitteeID: "c1", Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at}
				a := &hub.Allocation{ID: fmt.Sprintf("alc_%09d", i), RoundID: "r1", ReservationID: id, ResidentID: resv.ResidentID,
					PharmacyID: "p1", SKU: hub.MaskAdult, Quantity: 1, Cell: resv.Cell, CodeHash: fmt.Sprintf("code%09d", i*7919%n),
					Status: hub.AllocationReserved, ExpiresAt: at.Add(48 * time.Hour), CreatedAt: at, UpdatedAt: at}
				if _, err := s.ReserveAllocated(ctx, resv, a); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	err = s.db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"reservations", "allocations", "reservationsByRound", "reservationsByRoundStatus",
			"allocationsByRound", "allocationsByStatus", "allocationsByExpiry"} {
			st := tx.Bucket([]byte(name)).Stats()
			if st.KeyN < n {
				t.Errorf("%s holds %d keys, want %d or more", name, st.KeyN, n)
			}
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.75 {
				t.Errorf("%s: %d leaf pages %.0f%% full, want 75%% or more", name, st.LeafPageN, 100*fill)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
