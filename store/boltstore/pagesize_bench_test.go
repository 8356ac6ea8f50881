//go:build linux

package boltstore

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkReservePageSize is BenchmarkReservePages at several bbolt page
// sizes: for each size, a new city on a file created with that page size,
// then groups of 24 or 64 reservations, each group one transaction, and
// it reports per reservation what the transactions (applying the writes
// and committing them) cost:
//
//   - pages/reserve: bbolt's TxStats.Write (a run of overflow pages
//     counts once);
//   - bytes/reserve: the bytes the process wrote to files during the
//     transactions (wchar of /proc/self/io), meta page included;
//   - cpu-us/reserve: the process's CPU time (user and system, getrusage),
//     the garbage collector's share included;
//   - txcpu-us/reserve: the CPU time of the transaction's own thread
//     (RUSAGE_THREAD), the collector's background workers left out;
//   - commit-us: the wall time of a transaction, fsync included.
//
// GRIDHUB_BENCH_PAGESIZE lists the page sizes, comma-separated (default
// 4096; powers of two from 1024, the sizes bbolt's own tests create);
// GRIDHUB_BENCH_PHARMACIES sets the city as for BenchmarkReservePages. For comparisons, run one size per process,
// alternating:
//
//	for r in 1 2 3; do for ps in 1024 2048 4096 8192; do
//	  GRIDHUB_BENCH_PAGESIZE=$ps go test -run '^$' -bench ReservePageSize -benchtime 5x ./store/boltstore
//	done; done
func BenchmarkReservePageSize(b *testing.B) {
	sizes := []int{4096}
	if v := os.Getenv("GRIDHUB_BENCH_PAGESIZE"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1024 || n&(n-1) != 0 {
				b.Fatalf("GRIDHUB_BENCH_PAGESIZE: %q is not a power of two from 1024", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		for _, group := range []int{24, 64} {
			b.Run(fmt.Sprintf("%d/%d", size, group), func(b *testing.B) {
				c := newPagesCity(b, size)
				if got := c.d.bolt.Info().PageSize; got != size {
					b.Fatalf("page size %d, want %d", got, size)
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var pages, splits int
				var wrote int64
				var cpu, txcpu, wall time.Duration
				for range b.N {
					for range pagesGroups {
						c.reserve(b, group)
						before := c.d.bolt.Stats().TxStats
						w0, p0, t0, at := procWchar(b), rusage(b, syscall.RUSAGE_SELF), rusage(b, rusageThread), time.Now()
						c.d.flush(b)
						wall += time.Since(at)
						txcpu += rusage(b, rusageThread) - t0
						cpu += rusage(b, syscall.RUSAGE_SELF) - p0
						wrote += procWchar(b) - w0
						after := c.d.bolt.Stats().TxStats
						pages += int(after.GetWrite() - before.GetWrite())
						splits += int(after.GetSplit() - before.GetSplit())
					}
				}
				commits := float64(b.N * pagesGroups)
				n := commits * float64(group)
				b.ReportMetric(float64(pages)/n, "pages/reserve")
				b.ReportMetric(float64(wrote)/n, "bytes/reserve")
				b.ReportMetric(float64(splits)/n, "splits/reserve")
				b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/reserve")
				b.ReportMetric(float64(txcpu.Microseconds())/n, "txcpu-us/reserve")
				b.ReportMetric(float64(wall.Microseconds())/commits, "commit-us")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not
// name.
const rusageThread = 1

// rusage returns the user and system CPU time getrusage reports for who.
func rusage(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procWchar returns the bytes the process has passed to write calls.
func procWchar(b *testing.B) int64 {
	buf, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range bytes.Split(buf, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}
