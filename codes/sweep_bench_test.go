package codes_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/retention"
)

// BenchmarkSweepScans measures the retention sweep over the generated
// city of scans (loadCity: GRIDHUB_BENCH_SCANS scans over 28 days): one
// pass that deletes the scans of the first 14 days, about half, in
// batches of hub.DefaultSweepBatch, while writers reserve (the store
// write of a reservation) as fast as they can. It reports the pass's time
// and rate, and the reservations' latency during the pass against the
// same writers' latency with no sweep, measured in the same run just
// before. GRIDHUB_BENCH_SWEEP_BATCH and GRIDHUB_BENCH_SWEEP_REST set the
// service's Batch and Rest (its defaults when unset). The pass deletes
// what it measures: run it alone, once,
//
//	GRIDHUB_BENCH_SCANS=1000000 go test -run XXX -bench SweepScans -benchtime 1x ./codes/
func BenchmarkSweepScans(b *testing.B) {
	benchBatch, _ := strconv.Atoi(os.Getenv("GRIDHUB_BENCH_SWEEP_BATCH"))
	benchRest, _ := strconv.ParseFloat(os.Getenv("GRIDHUB_BENCH_SWEEP_REST"), 64)
	c := loadCity(b)
	ctx := b.Context()
	st := c.st
	if err := st.UpsertRound(ctx, &hub.Round{
		ID: "bench-round", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Fulfilments: []hub.Fulfilment{hub.Pickup},
		Opens: c.start, Closes: c.start.Add(1000 * time.Hour), MaxK: 2, Status: hub.RoundOpen, CreatedAt: c.start, UpdatedAt: c.start,
	}); err != nil && hub.ErrorCode(err) != hub.ECONFLICT {
		b.Fatal(err)
	}
	// Hold 1 resident in 100: the sweep reads holds for every scan.
	var held []string
	for r := 0; r < c.residents; r += 100 {
		held = append(held, residentName(r))
	}
	for i := 0; i < len(held); i += hub.MaxHoldResidents {
		part := held[i:min(i+hub.MaxHoldResidents, len(held))]
		if err := st.PutHold(ctx, &hub.Hold{
			ID: fmt.Sprintf("bench-hold-%d", i), DistrictID: "d1", CaseID: part[0], ResidentIDs: part, Reason: "benchmark",
			PlacedAt: c.start, Until: c.start.Add(10000 * time.Hour),
		}); err != nil && hub.ErrorCode(err) != hub.ECONFLICT {
			b.Fatal(err)
		}
	}

	// reserve writes reservations from 4 writers until stop, and returns
	// their latencies.
	var seq atomic.Int64
	reserve := func(stop <-chan struct{}) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := seq.Add(1)
					t0 := time.Now()
					_, err := st.CreateReservation(context.Background(), &hub.Reservation{
						ID: fmt.Sprintf("bench-res-%d", n), RoundID: "bench-round", IDHash: fmt.Sprintf("h%d", n),
						Status: hub.ReservationPending, CreatedAt: c.start, UpdatedAt: c.start,
					})
					d := time.Since(t0)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat
	}
	pct := func(lat []time.Duration, p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		s := slices.Clone(lat)
		slices.Sort(s)
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}

	// Baseline: the writers alone for 3 s.
	stop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(stop) })
	base := reserve(stop)

	b.ResetTimer()
	now := c.start.Add(28 * 24 * time.Hour)
	stop = make(chan struct{})
	during := make(chan []time.Duration)
	go func() { during <- reserve(stop) }()
	svc, err := retention.New(retention.Options{
		Store: st, Periods: retention.Periods{Scans: 14 * 24 * time.Hour}, Batch: benchBatch, Rest: benchRest,
		Now: func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	swept, err := svc.Sweep(ctx)
	if err != nil {
		b.Fatal(err)
	}
	total, batches := swept[0], swept[0].Batches
	pass := time.Since(t0)
	close(stop)
	lat := <-during
	b.StopTimer()

	b.ReportMetric(pass.Seconds(), "s_pass")
	b.ReportMetric(float64(total.Deleted), "deleted")
	b.ReportMetric(float64(total.Held), "held")
	b.ReportMetric(float64(total.Deleted)/pass.Seconds(), "deleted/s")
	b.ReportMetric(float64(batches), "batches")
	b.ReportMetric(float64(benchBatch), "batch")
	b.ReportMetric(benchRest, "rest")
	b.ReportMetric(float64(len(lat))/pass.Seconds(), "reserves/s_during")
	b.ReportMetric(float64(len(base))/3, "reserves/s_alone")
	b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "ms_p50_during")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "ms_p99_during")
	b.ReportMetric(float64(pct(lat, 1).Microseconds())/1000, "ms_max_during")
	b.ReportMetric(float64(pct(base, 0.5).Microseconds())/1000, "ms_p50_alone")
	b.ReportMetric(float64(pct(base, 0.99).Microseconds())/1000, "ms_p99_alone")
	b.ReportMetric(float64(pct(base, 1).Microseconds())/1000, "ms_max_alone")
	c.reportSize(b)
}
