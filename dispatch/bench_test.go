package dispatch_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// benchCity is a place to benchmark in: its locator and seeded query
// points.
type benchCity struct {
	name    string
	l       *dispatch.Locator
	queries []hub.Point
}

// benchCities returns the dense synthetic Taipei (20,000 pharmacies,
// about 45 per km²) and Taiwan's real, sparse 319, the latter only when
// the data is checked out.
func benchCities(b *testing.B) []benchCity {
	r := rand.New(rand.NewPCG(2020, 2))
	synth := syntheticCity(b, 20_000, 2020)
	cities := []benchCity{{name: "taipei-20000", l: locatorOf(synth)}}
	for range 1024 {
		cities[0].queries = append(cities[0].queries, randomPoint(r))
	}
	ps, err := loadTaiwan()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b.Logf("real data not found at %s: benchmarking the synthetic city only", taiwanPath)
	case err != nil:
		b.Fatal(err)
	default:
		tw := benchCity{name: "taiwan-319", l: locatorOf(ps)}
		// People live near pharmacies: query within about 1 km of one.
		for range 1024 {
			p := ps[r.IntN(len(ps))].Location
			tw.queries = append(tw.queries, hub.Point{Lat: p.Lat + 0.02*(r.Float64()-0.5), Lng: p.Lng + 0.02*(r.Float64()-0.5)})
		}
		cities = append(cities, tw)
	}
	return cities
}

var benchKs = []int{1, 2, 5}

// BenchmarkNear measures the cell index and the linear scan apart.
func BenchmarkNear(b *testing.B) {
	for _, c := range benchCities(b) {
		for _, k := range benchKs {
			for _, m := range []struct {
				name string
				fn   func(hub.Point, int, hub.SKU) ([]dispatch.Match, error)
			}{{"index", c.l.Near}, {"scan", c.l.NearScan}} {
				b.Run(fmt.Sprintf("%s/k=%d/%s", c.name, k, m.name), func(b *testing.B) {
					b.ReportAllocs()
					i, found := 0, 0
					for b.Loop() {
						ms, err := m.fn(c.queries[i%len(c.queries)], k, hub.MaskAdult)
						if err != nil {
							b.Fatal(err)
						}
						found += len(ms)
						i++
					}
					b.ReportMetric(float64(found)/float64(i), "matches/op")
				})
			}
		}
	}
}

// BenchmarkNearVsScan runs the index and the scan on the same queries in
// the same loop, so that both see the same machine, and reports how many
// times faster the index is. ns/op is the index's.
func BenchmarkNearVsScan(b *testing.B) {
	for _, c := range benchCities(b) {
		for _, k := range benchKs {
			b.Run(fmt.Sprintf("%s/k=%d", c.name, k), func(b *testing.B) {
				var index, scan time.Duration
				i := 0
				for b.Loop() {
					at := c.queries[i%len(c.queries)]
					t0 := time.Now()
					got, err := c.l.Near(at, k, hub.MaskAdult)
					t1 := time.Now()
					want, err2 := c.l.NearScan(at, k, hub.MaskAdult)
					t2 := time.Now()
					if err != nil || err2 != nil || len(got) != len(want) {
						b.Fatalf("query %v k=%d: %d matches (%v), scan %d (%v)", at, k, len(got), err, len(want), err2)
					}
					index += t1.Sub(t0)
					scan += t2.Sub(t1)
					i++
				}
				b.ReportMetric(float64(index.Nanoseconds())/float64(i), "ns/op")
				b.ReportMetric(float64(scan.Nanoseconds())/float64(i), "scan-ns/op")
				b.ReportMetric(float64(scan)/float64(index), "x_faster_than_scan")
			})
		}
	}
}
