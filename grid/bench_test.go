package grid_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/uber/h3-go/v4"
)

// sink keeps the compiler from dropping benchmarked calls.
var sink any

// benchPoints returns n seeded points around Taipei.
func benchPoints(n int) []hub.Point {
	r := rand.New(rand.NewPCG(1, 2))
	ps := make([]hub.Point, n)
	for i := range ps {
		ps[i] = hub.Point{Lat: 24.95 + 0.2*r.Float64(), Lng: 121.45 + 0.2*r.Float64()}
	}
	return ps
}

func benchCells(b *testing.B, n, res int) []hub.Cell {
	cs := make([]hub.Cell, n)
	for i, p := range benchPoints(n) {
		c, err := grid.CellAt(p, res)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

// vsH3 runs op (through grid) and base (raw h3-go) in alternating batches
// of the same loop, so that both see the same machine state, and reports
// grid's ns/op, h3's ns/op and their ratio: the cost of validation,
// sorting and zero filtering.
func vsH3(b *testing.B, op, base func(i int)) {
	const batch = 64
	var opT, baseT time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		for j := range batch {
			op(n + j)
		}
		t1 := time.Now()
		for j := range batch {
			base(n + j)
		}
		baseT += time.Since(t1)
		opT += t1.Sub(t0)
		n += batch
	}
	b.ReportMetric(float64(opT.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(baseT.Nanoseconds())/float64(n), "h3-ns/op")
	b.ReportMetric(float64(opT)/float64(baseT), "x_h3")
}

func BenchmarkCellAt(b *testing.B) {
	ps := benchPoints(1024)
	vsH3(b, func(i int) {
		c, _ := grid.CellAt(ps[i%len(ps)], grid.BaseResolution)
		sink = c
	}, func(i int) {
		p := ps[i%len(ps)]
		c, _ := h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lng), grid.BaseResolution)
		sink = c
	})
}

func BenchmarkDisk(b *testing.B) {
	cs := benchCells(b, 256, grid.BaseResolution)
	for _, k := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			vsH3(b, func(i int) {
				d, _ := grid.Disk(cs[i%len(cs)], k)
				sink = d
			}, func(i int) {
				d, _ := h3.GridDisk(h3.Cell(cs[i%len(cs)]), k)
				sink = d
			})
		})
	}
}

func BenchmarkParent(b *testing.B) {
	cs := benchCells(b, 1024, grid.BaseResolution)
	vsH3(b, func(i int) {
		p, _ := grid.Parent(cs[i%len(cs)], grid.HeatResolution)
		sink = p
	}, func(i int) {
		p, _ := h3.Cell(cs[i%len(cs)]).Parent(grid.HeatResolution)
		sink = p
	})
}

func BenchmarkParseCell(b *testing.B) {
	cs := benchCells(b, 1024, grid.BaseResolution)
	ss := make([]string, len(cs))
	for i, c := range cs {
		ss[i] = c.String()
	}
	vsH3(b, func(i int) {
		c, _ := grid.ParseCell(ss[i%len(ss)])
		sink = c
	}, func(i int) {
		c := h3.CellFromString(ss[i%len(ss)])
		sink = c.IsValid()
	})
}
