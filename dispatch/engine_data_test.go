package dispatch_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test -update if the change is intended\ngot:\n%s", path, got)
	}
}

// rings returns the rings around the cell of Taipei 101, out to k.
func rings(tb testing.TB, k int) [][]hub.Cell {
	tb.Helper()
	origin, err := grid.CellAt(taipei101, grid.BaseResolution)
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := grid.Rings(origin, k)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// at9 is 09:00 on the day of the CSV snapshots, Taiwan time; slots are
// hours after it.
var at9 = time.Date(2020, 2, 14, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

func hour(h int) time.Time { return at9.Add(time.Duration(h-9) * time.Hour) }

// hourly returns slots from the given hours, each an hour long with the
// given capacity.
func hourly(capacity int, hours ...int) []dispatch.Slot {
	out := make([]dispatch.Slot, len(hours))
	for i, h := range hours {
		out[i] = dispatch.Slot{Start: hour(h), End: hour(h + 1), Capacity: capacity}
	}
	return out
}

// smallCity is the deterministic city of the golden files: five
// pharmacies around Taipei 101 (two with pickup slots, two with equal
// stock in one ring, one far out) and 48 people spread over eight rings,
// most asking for 2 masks, some for 3, some preferring a slot, arriving
// in a seeded order.
func smallCity(tb testing.TB) ([]dispatch.Request, []dispatch.SupplyPoint) {
	tb.Helper()
	rs := rings(tb, 8)
	supply := []dispatch.SupplyPoint{
		{ID: "P-A", Cell: rs[0][0], Stock: 8, Slots: hourly(2, 10, 11)},
		{ID: "P-B", Cell: rs[2][3], Stock: 10},
		{ID: "P-C", Cell: rs[2][9], Stock: 10},
		{ID: "P-D", Cell: rs[4][5], Stock: 5, Slots: hourly(1, 9, 10, 11)},
		{ID: "P-E", Cell: rs[7][20], Stock: 20},
	}
	r := rand.New(rand.NewPCG(2020, 214))
	var disk []hub.Cell
	for _, ring := range rs {
		disk = append(disk, ring...)
	}
	const n = 48
	seq := r.Perm(n)
	reqs := make([]dispatch.Request, n)
	for i := range reqs {
		// Half the people live within two rings, as a dense core.
		c := disk[r.IntN(len(disk))]
		if i%2 == 0 {
			c = disk[r.IntN(19)]
		}
		q := 2
		if r.IntN(5) == 0 {
			q = 3
		}
		var slot time.Time
		if r.IntN(3) == 0 {
			slot = hour(9 + r.IntN(3))
		}
		reqs[i] = dispatch.Request{ID: fmt.Sprintf("R%02d", i), Cell: c, Quantity: q, Seq: uint64(seq[i]), Slot: slot}
	}
	return reqs, supply
}

// Taiwan's mask-stock feed (see shared/data/README.md).
const (
	maskDataDir  = "../../shared/data/tw-maskdata/2020-02-14"
	maskDataFile = "maskdata_2020-02-14-085535.csv" // the morning's stock
)

// institution is one row of the NHIA mask-stock feed.
type institution struct {
	code, name, address string
	adult, child        int
}

// loadMaskData reads one snapshot of the feed, or skips when the shared
// data is not checked out.
func loadMaskData(tb testing.TB, file string) []institution {
	tb.Helper()
	path := filepath.Join(maskDataDir, file)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("real data not found at %s (check out shared/ beside the repository): %v", path, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	var out []institution
	for line := 0; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 0 || text == "" {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 7 {
			tb.Fatalf("%s:%d: %d fields, want 7", path, line+1, len(f))
		}
		adult, err1 := strconv.Atoi(f[4])
		child, err2 := strconv.Atoi(f[5])
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatalf("%s:%d: %v", path, line+1, err)
		}
		out = append(out, institution{code: f[0], name: f[1], address: f[2], adult: adult, child: child})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// located is a pharmacy of the GeoJSON file with its county and town.
type located struct {
	id           string
	at           hub.Point
	county, town string
}

func loadLocated(tb testing.TB) []located {
	tb.Helper()
	b, err := os.ReadFile(taiwanPath)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("real data not found at %s (check out shared/ beside the repository): %v", taiwanPath, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties struct {
				ID     string `json:"id"`
				County string `json:"county"`
				Town   string `json:"town"`
			} `json:"properties"`
			Geometry struct {
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		tb.Fatal(err)
	}
	out := make([]located, len(fc.Features))
	for i, f := range fc.Features {
		c := f.Geometry.Coordinates
		out[i] = located{id: f.Properties.ID, at: hub.Point{Lat: c[1], Lng: c[0]}, county: f.Properties.County, town: f.Properties.Town}
	}
	slices.SortFunc(out, func(a, b located) int { return strings.Compare(a.id, b.id) })
	return out
}

// countyTown splits the head of a Taiwanese address into its county (the
// first three characters, 台 written 臺 as the GeoJSON file writes it) and
// its town (up to the first 區, 鄉, 鎮 or 市 after the county).
func countyTown(address string) (county, town string) {
	rs := []rune(strings.TrimSpace(address))
	if len(rs) < 3 {
		return "", ""
	}
	county = strings.ReplaceAll(string(rs[:3]), "台", "臺")
	for i := 3; i < len(rs) && i < 8; i++ {
		if strings.ContainsRune("區鄉鎮市", rs[i]) {
			return county, string(rs[3 : i+1])
		}
	}
	return county, ""
}

// jitter returns a point about sigma metres from p in a random direction
// (each axis normal).
func jitter(r *rand.Rand, p hub.Point, sigma float64) hub.Point {
	const mPerDeg = 111_320.0
	return hub.Point{
		Lat: p.Lat + r.NormFloat64()*sigma/mPerDeg,
		Lng: p.Lng + r.NormFloat64()*sigma/(mPerDeg*math.Cos(p.Lat*math.Pi/180)),
	}
}

// taiwanSupply places every institution of the morning snapshot of
// 2020-02-14 (6,086 of them) on the grid, with its real adult-mask stock
// (463,402 masks in all; 2,420 institutions have none at 08:55). The feed
// has no coordinates, so:
//
//   - an institution in the GeoJSON file (286 of them) stands where the
//     file puts it;
//   - any other stands near a located pharmacy of its own town (county
//     and town read from the head of its address; 4,090 of them), drawn
//     at random (FNV-64a of its code seeds a PCG), normal jitter σ = 1 km
//     on each axis; failing a town, near one of its county (1,670),
//     σ = 3 km; failing a county, near any (40), σ = 3 km.
//
// Each institution's place depends on its code alone, not on the order of
// the file.
func taiwanSupply(tb testing.TB) []dispatch.SupplyPoint {
	tb.Helper()
	rows := loadMaskData(tb, maskDataFile)
	locs := loadLocated(tb)
	byID := map[string]located{}
	byTown := map[string][]located{}
	byCounty := map[string][]located{}
	for _, l := range locs {
		byID[l.id] = l
		byTown[l.county+l.town] = append(byTown[l.county+l.town], l)
		byCounty[l.county] = append(byCounty[l.county], l)
	}
	out := make([]dispatch.SupplyPoint, 0, len(rows))
	for _, row := range rows {
		at := hub.Point{}
		if l, ok := byID[row.code]; ok {
			at = l.at
		} else {
			h := fnv.New64a()
			h.Write([]byte(row.code))
			r := rand.New(rand.NewPCG(h.Sum64(), 0x2020_0214))
			county, town := countyTown(row.address)
			anchors, sigma := byTown[county+town], 1000.0
			if len(anchors) == 0 || town == "" {
				anchors, sigma = byCounty[county], 3000
			}
			if len(anchors) == 0 {
				anchors = locs
			}
			at = jitter(r, anchors[r.IntN(len(anchors))].at, sigma)
		}
		c, err := grid.CellAt(at, grid.BaseResolution)
		if err != nil {
			tb.Fatalf("institution %s at %v: %v", row.code, at, err)
		}
		out = append(out, dispatch.SupplyPoint{ID: row.code, Cell: c, Stock: row.adult})
	}
	return out
}

// peopleAround returns n requests for q masks each, from people living
// near the supply points: each picks a supply point at random and lives
// about sigma metres from the centre of its cell (normal on each axis).
// They arrive in the order returned (Seq = index), and one in prefer
// prefers a pickup slot among hours 9 to 14 (none when prefer is 0).
func peopleAround(tb testing.TB, supply []dispatch.SupplyPoint, n, q int, sigma float64, seed uint64, prefer int) []dispatch.Request {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	centers := make([]hub.Point, len(supply))
	for i, s := range supply {
		var err error
		if centers[i], err = grid.Center(s.Cell); err != nil {
			tb.Fatal(err)
		}
	}
	reqs := make([]dispatch.Request, n)
	for i := range reqs {
		p := jitter(r, centers[r.IntN(len(centers))], sigma)
		c, err := grid.CellAt(p, grid.BaseResolution)
		if err != nil {
			tb.Fatal(err)
		}
		reqs[i] = dispatch.Request{ID: "R" + strconv.Itoa(i), Cell: c, Quantity: q, Seq: uint64(i)}
		if prefer > 0 && r.IntN(prefer) == 0 {
			reqs[i].Slot = hour(9 + r.IntN(6))
		}
	}
	return reqs
}

// uniformPeople returns n requests for q masks from people spread evenly
// over the synthetic Taipei box.
func uniformPeople(tb testing.TB, n, q int, seed uint64) []dispatch.Request {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	reqs := make([]dispatch.Request, n)
	for i := range reqs {
		c, err := grid.CellAt(randomPoint(r), grid.BaseResolution)
		if err != nil {
			tb.Fatal(err)
		}
		reqs[i] = dispatch.Request{ID: "R" + strconv.Itoa(i), Cell: c, Quantity: q, Seq: uint64(i)}
	}
	return reqs
}

// denseTaipei places the institutions of the morning snapshot, with
// their real adult stock, at seeded points spread evenly over the
// synthetic Taipei box (about 22 x 20 km, 14 per km²): a city far denser
// than any real one, so each ring holds many candidates.
func denseTaipei(tb testing.TB) []dispatch.SupplyPoint {
	tb.Helper()
	rows := loadMaskData(tb, maskDataFile)
	r := rand.New(rand.NewPCG(6086, 214))
	out := make([]dispatch.SupplyPoint, len(rows))
	for i, row := range rows {
		c, err := grid.CellAt(randomPoint(r), grid.BaseResolution)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = dispatch.SupplyPoint{ID: row.code, Cell: c, Stock: row.adult}
	}
	return out
}

// withSlots returns a copy of supply in which every pharmacy opens six
// hourly slots from 09:00, together taking about as many pickups as its
// stock serves requests of q.
func withSlots(supply []dispatch.SupplyPoint, q int) []dispatch.SupplyPoint {
	out := slices.Clone(supply)
	for i := range out {
		per := (out[i].Stock/q + 5) / 6
		out[i].Slots = hourly(per, 9, 10, 11, 12, 13, 14)
	}
	return out
}

// scaled returns a copy of supply with every stock multiplied by f.
func scaled(supply []dispatch.SupplyPoint, f int) []dispatch.SupplyPoint {
	out := slices.Clone(supply)
	for i := range out {
		out[i].Stock *= f
	}
	return out
}
