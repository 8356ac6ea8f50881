package dispatch_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// reserveWriters is the number of concurrent callers of the reservation
// benchmark: a busy hub has many requests in flight.
const reserveWriters = 64

// BenchmarkReserve measures FIRST_COME reservations through the engine
// over the embedded store, every answer durable (one group-committed
// write each: the reservation with its allocation and its stock), from
// 64 goroutines: reservations per second and the 99th percentile of one
// call's latency. ns/op is the engine's own run.
//
// In the same run, on a fresh store, the baseline: the same reservations
// with one lock held across each whole Reserve, store writes included, as
// if the engine kept its mutex while the store wrote. Durable writes then
// go one at a time, one fsync each. speedup is the engine's reservations
// per second over the baseline's.
//
//	go test -run '^$' -bench 'BenchmarkReserve$' -benchtime 3000x -count 3 ./dispatch/
func BenchmarkReserve(b *testing.B) {
	n := b.N
	grouped := runReserve(b, n, false)
	b.StopTimer()
	serial := runReserve(b, n, true)
	b.ReportMetric(grouped.perSec, "resv/s")
	b.ReportMetric(grouped.p99ms, "p99_ms")
	b.ReportMetric(serial.perSec, "serial_resv/s")
	b.ReportMetric(serial.p99ms, "serial_p99_ms")
	b.ReportMetric(grouped.perSec/serial.perSec, "speedup")
}

type reserveRun struct {
	perSec, p99ms float64
}

// runReserve makes n reservations from reserveWriters goroutines on a
// fresh city, serialised or not, and measures them. The engine's own run
// restarts the benchmark timer when its city is ready.
func runReserve(b *testing.B, n int, serialised bool) reserveRun {
	c := newCity(b, dispatch.EngineOptions{})
	dispatch.SetSerialWrites(c.eng, serialised)
	// Twenty pharmacies within three rings, stock for everyone.
	for i := range 20 {
		ring := c.rs[i%4]
		c.pharmacy(fmt.Sprintf("P%02d", i), ring[(i*5)%len(ring)], 2*n)
	}
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2, Closes: t0.Add(24 * time.Hour)})
	people := make([]*hub.Resident, n)
	for i := range people {
		ring := c.rs[i%4]
		// The engine takes residents as loaded; they need not be stored.
		people[i] = &hub.Resident{ID: fmt.Sprintf("r%07d", i), IDHash: fmt.Sprintf("h%07d", i), Cell: ring[i%len(ring)]}
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	if !serialised {
		b.ResetTimer()
	}
	start := time.Now()
	for range reserveWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: people[i]})
				lat[i] = time.Since(t)
				if err != nil {
					b.Error(err)
					return
				}
				if out.Allocation == nil {
					b.Errorf("%s not served: %s", people[i].ID, out.Reason)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return reserveRun{
		perSec: float64(n) / elapsed.Seconds(),
		p99ms:  float64(lat[min(n-1, n*99/100)]) / float64(time.Millisecond),
	}
}
