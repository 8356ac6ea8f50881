package codes_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// The trajectory and contacts benchmarks run over a generated city of
// checkpoint scans in the embedded store, so they are kept out of CI: they
// run only when GRIDHUB_BENCH_SCANS names how many scans to generate, e.g.
//
//	GRIDHUB_BENCH_SCANS=1000000 go test -run XXX -bench 'Trajectory|Contacts' -benchtime 200x ./codes/
//
// Goals: a trajectory among 10 million scans in at most 10 ms; contacts
// over 14 days in at most 100 ms. Each reports its ratio to a baseline
// without the indexes, measured in the same run: one pass over every scan.

// scanCity is the generated data: scans of residents at checkpoints, one
// checkpoint in each cell of a disk of cityRings rings (1,261 cells, about
// 130 km²) around central Shanghai, over scanDays days. Each resident
// makes about scansPerResident scans, at checkpoints within two rings of
// home four times in five, anywhere in the city otherwise.
type scanCity struct {
	st        *boltstore.Store
	dir       string
	residents int
	scans     int
	start     time.Time
}

const (
	cityRings        = 20
	scanDays         = 28
	scansPerResident = 100
)

var (
	benchCityOnce sync.Once
	benchCity     *scanCity
	benchCityErr  error
)

// loadCity generates the city once per process.
func loadCity(b *testing.B) *scanCity {
	b.Helper()
	n, _ := strconv.Atoi(os.Getenv("GRIDHUB_BENCH_SCANS"))
	if n <= 0 {
		b.Skip("set GRIDHUB_BENCH_SCANS (e.g. 1000000) to run the scan benchmarks")
	}
	benchCityOnce.Do(func() { benchCity, benchCityErr = generateCity(n) })
	if benchCityErr != nil {
		b.Fatal(benchCityErr)
	}
	return benchCity
}

func generateCity(n int) (*scanCity, error) {
	dir, err := os.MkdirTemp("", "gridhub-bench-scans-")
	if err != nil {
		return nil, err
	}
	st, err := boltstore.Open(dir)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	centre, err := grid.CellAt(hub.Point{Lat: 31.2304, Lng: 121.4737}, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	cells, err := grid.Disk(centre, cityRings)
	if err != nil {
		return nil, err
	}
	cps := make([]*hub.Checkpoint, len(cells))
	for i, c := range cells {
		cps[i] = &hub.Checkpoint{ID: fmt.Sprintf("k%04d", i), Kind: "HOUSING", Cell: c, DistrictID: "d1"}
	}
	if err := st.UpsertCheckpoints(ctx, cps...); err != nil {
		return nil, err
	}
	cellIdx := make(map[hub.Cell]int, len(cells))
	for i, c := range cells {
		cellIdx[c] = i
	}
	residents := max(1, n/scansPerResident)
	rng := rand.New(rand.NewPCG(2020, 1))
	homes := make([][]int, residents) // checkpoints within two rings of home
	for r := range homes {
		disk, err := grid.Disk(cells[rng.IntN(len(cells))], 2)
		if err != nil {
			return nil, err
		}
		for _, c := range disk {
			if i, ok := cellIdx[c]; ok {
				homes[r] = append(homes[r], i)
			}
		}
	}
	c := &scanCity{st: st, dir: dir, residents: residents, scans: n, start: time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)}
	span := int64(scanDays * 24 * time.Hour)

	// Draw every scan first, compactly (16 bytes each), then load them
	// with the store's bulk loader, which writes each index in its key
	// order in large writes: minutes for 10 million scans, where batches
	// of RecordScans took half an hour.
	type draw struct {
		at       int64 // since start
		resident int32
		cp       uint16
		temp     uint8
	}
	draws := make([]draw, n)
	for i := range draws {
		r := rng.IntN(residents)
		k := homes[r][rng.IntN(len(homes[r]))]
		if rng.IntN(5) == 0 {
			k = rng.IntN(len(cells))
		}
		draws[i] = draw{at: rng.Int64N(span), resident: int32(r), cp: uint16(k)}
		draws[i].temp = uint8(rng.IntN(12))
	}
	err = st.LoadScans(ctx, n, func(i int) *hub.Scan {
		d := draws[i]
		res := residentName(int(d.resident))
		return &hub.Scan{
			ID: fmt.Sprintf("s%09d", i), CheckpointID: cps[d.cp].ID, Cell: cells[d.cp],
			ResidentID: res, SubjectID: "S" + res, At: c.start.Add(time.Duration(d.at)).Truncate(time.Millisecond),
			Temperature: 36.0 + float64(d.temp)/10, Colour: hub.Green, Result: hub.ScanPass,
		}
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func residentName(r int) string { return fmt.Sprintf("r%07d", r) }

// baselineRuns bounds the runs of a baseline, which reads every scan: at
// 10 million scans one run takes tens of seconds.
const baselineRuns = 3

// reportBaseline reports the time per run of a baseline that ran runs of
// its b.N operations, overriding ns/op.
func reportBaseline(b *testing.B, runs int, d time.Duration) {
	b.ReportMetric(float64(d.Nanoseconds())/float64(runs), "ns/op")
	b.ReportMetric(d.Seconds()*1000/float64(runs), "ms/op")
}

// reportSize reports the database file's size.
func (c *scanCity) reportSize(b *testing.B) {
	fi, err := os.Stat(filepath.Join(c.dir, boltstore.FileName))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "MB_on_disk")
	b.ReportMetric(float64(c.scans), "scans")
}

// everyScan is the baseline's read: one pass over every scan in the store,
// through one range of the cell index that covers the whole city and all
// time, calling keep for each.
func (c *scanCity) everyScan(b *testing.B, keep func(*hub.Scan)) {
	centre, _ := grid.CellAt(hub.Point{Lat: 31.2304, Lng: 121.4737}, grid.BaseResolution)
	cells, _ := grid.Disk(centre, cityRings)
	for len(cells) > 0 {
		n := min(len(cells), hub.MaxContactCells)
		scans, err := c.st.ContactsIn(b.Context(), cells[:n], c.start, c.start.Add(scanDays*24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range scans {
			keep(s)
		}
		cells = cells[n:]
	}
}

// BenchmarkTrajectory reads one resident's whole trajectory (about 100
// scans over 28 days) per operation, a different resident each time.
func BenchmarkTrajectory(b *testing.B) {
	c := loadCity(b)
	b.Run("indexed", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(7, 7))
		var got int
		for b.Loop() {
			scans, err := c.st.Trajectory(b.Context(), residentName(rng.IntN(c.residents)), c.start, 0)
			if err != nil {
				b.Fatal(err)
			}
			got += len(scans)
		}
		b.ReportMetric(float64(got)/float64(b.N), "scans/op")
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
		c.reportSize(b)
	})
	b.Run("baseline_full_pass", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(7, 7))
		runs, start := min(b.N, baselineRuns), time.Now()
		for range runs {
			who := residentName(rng.IntN(c.residents))
			var got []*hub.Scan
			c.everyScan(b, func(s *hub.Scan) {
				if s.ResidentID == who {
					got = append(got, s)
				}
			})
			slices.SortFunc(got, func(x, y *hub.Scan) int { return x.At.Compare(y.At) })
		}
		reportBaseline(b, runs, time.Since(start))
	})
}

// BenchmarkContacts traces one resident's contacts over the last 14 days
// with a 30-minute window (FindContacts: same cell or ring-1 neighbours),
// a different resident each time.
func BenchmarkContacts(b *testing.B) {
	c := loadCity(b)
	since := c.start.Add(14 * 24 * time.Hour)
	caseScans := func(rng *rand.Rand) (string, []*hub.Scan) {
		who := residentName(rng.IntN(c.residents))
		scans, err := c.st.Trajectory(b.Context(), who, since, 0)
		if err != nil {
			b.Fatal(err)
		}
		return who, scans
	}
	b.Run("indexed", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(9, 9))
		var found, traced int
		for b.Loop() {
			who, scans := caseScans(rng)
			cs, err := codes.FindContacts(b.Context(), c.st, who, "", scans, 30*time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			found += len(cs)
			traced += len(scans)
		}
		b.ReportMetric(float64(traced)/float64(b.N), "case_scans/op")
		b.ReportMetric(float64(found)/float64(b.N), "contacts/op")
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
		c.reportSize(b)
	})
	b.Run("baseline_full_pass", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(9, 9))
		runs, start := min(b.N, baselineRuns), time.Now()
		for range runs {
			who, scans := caseScans(rng)
			type window struct {
				disk     []hub.Cell
				from, to time.Time
			}
			ws := make([]window, len(scans))
			for i, s := range scans {
				disk, err := grid.Disk(s.Cell, 1)
				if err != nil {
					b.Fatal(err)
				}
				ws[i] = window{disk, s.At.Add(-30 * time.Minute), s.At.Add(30 * time.Minute)}
			}
			found := map[string]bool{}
			c.everyScan(b, func(s *hub.Scan) {
				if s.ResidentID == who || found[s.ResidentID] {
					return
				}
				for _, w := range ws {
					if !s.At.Before(w.from) && !s.At.After(w.to) && slices.Contains(w.disk, s.Cell) {
						found[s.ResidentID] = true
						return
					}
				}
			})
		}
		reportBaseline(b, runs, time.Since(start))
	})
}

// TestMain removes the generated city after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchCity != nil {
		_ = benchCity.st.Close()
		_ = os.RemoveAll(benchCity.dir)
	}
	os.Exit(code)
}
