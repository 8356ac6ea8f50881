package grid_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/uber/h3-go/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Places the tests stand on.
var (
	taipei101 = hub.Point{Lat: 25.0330, Lng: 121.5654}
	// taipeiCell is the base cell of Taipei 101.
	taipeiCell = mustParse("894ba0a4e27ffff")
)

func mustParse(s string) hub.Cell {
	c, err := grid.ParseCell(s)
	if err != nil {
		panic(err)
	}
	return c
}

// pentagon returns the first of the twelve pentagons at resolution res.
func pentagon(t testing.TB, res int) hub.Cell {
	t.Helper()
	ps, err := h3.Pentagons(res)
	if err != nil || len(ps) != 12 {
		t.Fatalf("h3.Pentagons(%d) = %d cells, %v", res, len(ps), err)
	}
	return hub.Cell(ps[0])
}

// wantInvalid fails unless err is an EINVALID *hub.Error matching sentinel.
func wantInvalid(t *testing.T, err, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v does not match %v", err, sentinel)
	}
	if code := hub.ErrorCode(err); code != hub.EINVALID {
		t.Errorf("code %q, want %q", code, hub.EINVALID)
	}
}

func TestParseCell(t *testing.T) {
	tests := []struct {
		name string
		give string
		want hub.Cell // 0: an error is wanted
	}{
		{"valid res 9", "8928308280fffff", 0x8928308280fffff},
		{"valid res 0", "8001fffffffffff", 0x8001fffffffffff},
		{"valid res 15", "8f4ba0a4e2a2b0a", 0},
		{"taipei", "894ba0a4e27ffff", 0x894ba0a4e27ffff},
		{"upper case", "8928308280FFFFF", 0},
		{"14 characters", "8928308280ffff", 0},
		{"16 characters", "08928308280fffff", 0},
		{"space inside", "ffffffffffffff f", 0},
		{"space before", " 8928308280fffff", 0},
		{"non-hex", "8928308280fffgz", 0},
		{"0x prefix", "0x8928308280fff", 0},
		{"sign", "-928308280fffff", 0},
		{"empty", "", 0},
		{"zero", "000000000000000", 0},
		{"all f", "fffffffffffffff", 0},
		{"mode 0", "0928308280fffff", 0},
		{"unused digit not 7", "8928308280ffff0", 0},
		{"res 15 digit 7 set", "8f28308280fffff", 0},
		{"bad base cell", "80fffffffffffff", 0},
		{"unicode", "８928308280fffff", 0},
		{"long garbage", strings.Repeat("a", 1000), 0},
	}
	// The res 15 case is computed, so that the table cannot drift from H3.
	fine, err := grid.CellAt(taipei101, 15)
	if err != nil {
		t.Fatal(err)
	}
	tests[2].give, tests[2].want = fine.String(), fine

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grid.ParseCell(tt.give)
			if tt.want == 0 {
				wantInvalid(t, err, grid.ErrInvalidCell)
				if got != 0 {
					t.Errorf("got cell %s with an error", got)
				}
				if msg := hub.ErrorMessage(err); len(msg) > 120 {
					t.Errorf("message not truncated: %d bytes", len(msg))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCell(%q): %v", tt.give, err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if got.String() != tt.give {
				t.Errorf("round trip: %q -> %q", tt.give, got.String())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		give hub.Cell
		ok   bool
	}{
		{"taipei", taipeiCell, true},
		{"zero", 0, false},
		{"high bit", 1<<63 | taipeiCell, false},
		{"vertex mode", 0x2222597fffffffff, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := grid.Validate(tt.give)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, grid.ErrInvalidCell)
		})
	}
}

func TestCellAt(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		give    hub.Point
		res     int
		want    hub.Cell // when wantErr is nil
		wantErr error
	}{
		{"taipei 101", taipei101, 9, taipeiCell, nil},
		{"res 0", taipei101, 0, 0x804bfffffffffff, nil},
		{"north pole", hub.Point{Lat: 90, Lng: 0}, 9, 0x890326233abffff, nil},
		{"south pole", hub.Point{Lat: -90, Lng: 0}, 9, 0x89f29380e0fffff, nil},
		{"antimeridian east", hub.Point{Lat: 0, Lng: 180}, 9, 0x897eb57221bffff, nil},
		{"antimeridian west", hub.Point{Lat: 0, Lng: -180}, 9, 0x897eb57221bffff, nil},
		{"lat above 90", hub.Point{Lat: 90.0000001, Lng: 0}, 9, 0, grid.ErrInvalidLatLng},
		{"lat below -90", hub.Point{Lat: -91, Lng: 0}, 9, 0, grid.ErrInvalidLatLng},
		{"lng above 180", hub.Point{Lat: 0, Lng: 180.5}, 9, 0, grid.ErrInvalidLatLng},
		{"lng below -180", hub.Point{Lat: 0, Lng: -181}, 9, 0, grid.ErrInvalidLatLng},
		{"lat NaN", hub.Point{Lat: nan, Lng: 0}, 9, 0, grid.ErrInvalidLatLng},
		{"lng NaN", hub.Point{Lat: 0, Lng: nan}, 9, 0, grid.ErrInvalidLatLng},
		{"lat +Inf", hub.Point{Lat: inf, Lng: 0}, 9, 0, grid.ErrInvalidLatLng},
		{"lat -Inf", hub.Point{Lat: -inf, Lng: 0}, 9, 0, grid.ErrInvalidLatLng},
		{"lng +Inf", hub.Point{Lat: 0, Lng: inf}, 9, 0, grid.ErrInvalidLatLng},
		{"lng -Inf", hub.Point{Lat: 0, Lng: -inf}, 9, 0, grid.ErrInvalidLatLng},
		{"lng swapped with lat", hub.Point{Lat: 121.5654, Lng: 25.0330}, 9, 0, grid.ErrInvalidLatLng},
		{"res -1", taipei101, -1, 0, grid.ErrInvalidResolution},
		{"res 16", taipei101, 16, 0, grid.ErrInvalidResolution},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grid.CellAt(tt.give, tt.res)
			if tt.wantErr != nil {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if r := grid.Resolution(got); r != tt.res {
				t.Errorf("resolution %d, want %d", r, tt.res)
			}
		})
	}
}

// TestCellAtEveryResolution checks that a point lies in its cell's parent
// chain: the cell at each coarser resolution is the parent of the finer one.
func TestCellAtEveryResolution(t *testing.T) {
	fine, err := grid.CellAt(taipei101, grid.MaxResolution)
	if err != nil {
		t.Fatal(err)
	}
	for res := range grid.MaxResolution + 1 {
		c, err := grid.CellAt(taipei101, res)
		if err != nil {
			t.Fatal(err)
		}
		p, err := grid.Parent(fine, res)
		if err != nil {
			t.Fatal(err)
		}
		if c != p {
			t.Errorf("res %d: CellAt %s, Parent %s", res, c, p)
		}
	}
}

// checkSorted fails unless cs is strictly increasing and free of zeros.
func checkSorted(t *testing.T, cs []hub.Cell) {
	t.Helper()
	for i, c := range cs {
		if c == 0 {
			t.Fatalf("zero cell at %d", i)
		}
		if i > 0 && cs[i-1] >= c {
			t.Fatalf("not strictly sorted at %d: %s then %s", i, cs[i-1], c)
		}
	}
}

func TestDiskRingRings(t *testing.T) {
	pent := pentagon(t, grid.BaseResolution)
	tests := []struct {
		name      string
		give      hub.Cell
		k         int
		wantDisk  int
		wantRings []int
	}{
		{"hexagon k=0", taipeiCell, 0, 1, []int{1}},
		{"hexagon k=1", taipeiCell, 1, 7, []int{1, 6}},
		{"hexagon k=2", taipeiCell, 2, 19, []int{1, 6, 12}},
		{"hexagon k=3", taipeiCell, 3, 37, []int{1, 6, 12, 18}},
		{"hexagon k=10", taipeiCell, 10, 331, nil},
		{"hexagon k=MaxK", taipeiCell, grid.MaxK, 3*grid.MaxK*(grid.MaxK+1) + 1, nil},
		// A pentagon has five neighbours, and every ring around it is a
		// fifth short of a hexagon's.
		{"pentagon k=0", pent, 0, 1, []int{1}},
		{"pentagon k=1", pent, 1, 6, []int{1, 5}},
		{"pentagon k=2", pent, 2, 16, []int{1, 5, 10}},
		{"pentagon k=3", pent, 3, 31, []int{1, 5, 10, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk, err := grid.Disk(tt.give, tt.k)
			if err != nil {
				t.Fatal(err)
			}
			checkSorted(t, disk)
			if len(disk) != tt.wantDisk {
				t.Errorf("disk has %d cells, want %d", len(disk), tt.wantDisk)
			}
			if !slices.Contains(disk, tt.give) {
				t.Error("disk lacks its centre")
			}

			rings, err := grid.Rings(tt.give, tt.k)
			if err != nil {
				t.Fatal(err)
			}
			if len(rings) != tt.k+1 {
				t.Fatalf("%d rings, want %d", len(rings), tt.k+1)
			}
			var union []hub.Cell
			for i, r := range rings {
				checkSorted(t, r)
				if tt.wantRings != nil && len(r) != tt.wantRings[i] {
					t.Errorf("ring %d has %d cells, want %d", i, len(r), tt.wantRings[i])
				}
				union = append(union, r...)
			}
			slices.Sort(union)
			if !slices.Equal(union, disk) {
				t.Error("the rings do not partition the disk")
			}

			ring, err := grid.Ring(tt.give, tt.k)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ring, rings[tt.k]) {
				t.Error("Ring differs from the last of Rings")
			}
			// Every cell of ring i is i steps away, as H3 measures it
			// (GridDistance may not measure across a pentagon).
			if tt.k <= 3 && !grid.IsPentagon(tt.give) {
				for i, r := range rings {
					for _, c := range r {
						if d, err := grid.Distance(tt.give, c); err != nil || d != i {
							t.Errorf("cell %s in ring %d is %d steps away (%v)", c, i, d, err)
						}
					}
				}
			}
		})
	}
}

// TestDiskNearPentagon walks the neighbourhood of a pentagon, where H3
// leaves zero cells in its output and the fast algorithm gives up.
func TestDiskNearPentagon(t *testing.T) {
	for _, res := range []int{0, 1, 8, 9, 15} {
		pent := pentagon(t, res)
		if !grid.IsPentagon(pent) {
			t.Fatalf("%s is not a pentagon", pent)
		}
		ring1, err := grid.Ring(pent, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range ring1 {
			for k := range 4 {
				disk, err := grid.Disk(nb, k)
				if err != nil {
					t.Fatalf("res %d: disk %d around %s: %v", res, k, nb, err)
				}
				checkSorted(t, disk)
				if k > 0 && !slices.Contains(disk, pent) {
					t.Errorf("res %d: disk %d around %s lacks the pentagon", res, k, nb)
				}
				// One cell short of a hexagon's disk once the pentagon is
				// inside it, as H3's own disk says (k < 1 has no deficit).
				raw, err := h3.GridDisk(h3.Cell(nb), k)
				if err != nil {
					t.Fatal(err)
				}
				if len(disk) != len(raw) {
					t.Errorf("res %d: disk %d around %s: %d cells, H3 has %d non-zero", res, k, nb, len(disk), len(raw))
				}
			}
		}
	}
}

func TestDiskErrors(t *testing.T) {
	tests := []struct {
		name string
		give hub.Cell
		k    int
		want error
	}{
		{"k -1", taipeiCell, -1, grid.ErrInvalidK},
		{"k MaxK+1", taipeiCell, grid.MaxK + 1, grid.ErrInvalidK},
		{"zero cell", 0, 1, grid.ErrInvalidCell},
		{"not a cell", 0x8928308280ffff0, 1, grid.ErrInvalidCell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := grid.Disk(tt.give, tt.k)
			wantInvalid(t, err, tt.want)
			_, err = grid.Ring(tt.give, tt.k)
			wantInvalid(t, err, tt.want)
			_, err = grid.Rings(tt.give, tt.k)
			wantInvalid(t, err, tt.want)
		})
	}
}

func TestDistance(t *testing.T) {
	ring2, err := grid.Ring(taipeiCell, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := grid.Distance(taipeiCell, ring2[0]); err != nil || d != 2 {
		t.Errorf("Distance = %d, %v, want 2", d, err)
	}
	if d, err := grid.Distance(taipeiCell, taipeiCell); err != nil || d != 0 {
		t.Errorf("Distance to itself = %d, %v, want 0", d, err)
	}
	parent, _ := grid.Parent(taipeiCell, 8)
	_, err = grid.Distance(taipeiCell, parent)
	wantInvalid(t, err, grid.ErrInvalidCell)
	_, err = grid.Distance(taipeiCell, 0)
	wantInvalid(t, err, grid.ErrInvalidCell)
}

func TestParentChildren(t *testing.T) {
	for res := range grid.MaxResolution + 1 {
		c, err := grid.CellAt(taipei101, res)
		if err != nil {
			t.Fatal(err)
		}
		for pres := range res + 1 {
			p, err := grid.Parent(c, pres)
			if err != nil {
				t.Fatalf("Parent(%s, %d): %v", c, pres, err)
			}
			if grid.Resolution(p) != pres {
				t.Fatalf("Parent(%s, %d) has resolution %d", c, pres, grid.Resolution(p))
			}
			if res-pres > 6 {
				continue
			}
			kids, err := grid.Children(p, res)
			if err != nil {
				t.Fatalf("Children(%s, %d): %v", p, res, err)
			}
			checkSorted(t, kids)
			if !slices.Contains(kids, c) {
				t.Errorf("Children(Parent(%s, %d), %d) lacks the cell", c, pres, res)
			}
			want := int(math.Pow(7, float64(res-pres)))
			if grid.IsPentagon(p) {
				want = 1 + 5*(want-1)/6
			}
			if len(kids) != want {
				t.Errorf("Children(%s, %d): %d cells, want %d", p, res, len(kids), want)
			}
			for _, k := range kids {
				if back, err := grid.Parent(k, pres); err != nil || back != p {
					t.Fatalf("Parent(child %s, %d) = %s, %v, want %s", k, pres, back, err, p)
				}
			}
		}
	}
}

func TestPentagonChildren(t *testing.T) {
	pent := pentagon(t, 8)
	kids, err := grid.Children(pent, 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 6 {
		t.Errorf("a pentagon has %d children, want 6", len(kids))
	}
	pentKids := 0
	for _, k := range kids {
		if grid.IsPentagon(k) {
			pentKids++
		}
	}
	if pentKids != 1 {
		t.Errorf("%d pentagon children, want 1 (the centre child)", pentKids)
	}
}

func TestParentChildrenErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"parent finer", func() error { _, err := grid.Parent(taipeiCell, 10); return err }, grid.ErrInvalidResolution},
		{"parent -1", func() error { _, err := grid.Parent(taipeiCell, -1); return err }, grid.ErrInvalidResolution},
		{"parent 16", func() error { _, err := grid.Parent(taipeiCell, 16); return err }, grid.ErrInvalidResolution},
		{"parent of zero", func() error { _, err := grid.Parent(0, 5); return err }, grid.ErrInvalidCell},
		{"children coarser", func() error { _, err := grid.Children(taipeiCell, 8); return err }, grid.ErrInvalidResolution},
		{"children 7 steps", func() error {
			c, _ := grid.CellAt(taipei101, 8)
			_, err := grid.Children(c, 15)
			return err
		}, grid.ErrInvalidResolution},
		{"children 16", func() error { _, err := grid.Children(taipeiCell, 16); return err }, grid.ErrInvalidResolution},
		{"children -1", func() error { _, err := grid.Children(taipeiCell, -1); return err }, grid.ErrInvalidResolution},
		{"children of garbage", func() error { _, err := grid.Children(0x8928308280ffff0, 10); return err }, grid.ErrInvalidCell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, tt.fn(), tt.want)
		})
	}
}

func TestParentSameResolution(t *testing.T) {
	p, err := grid.Parent(taipeiCell, grid.BaseResolution)
	if err != nil || p != taipeiCell {
		t.Errorf("Parent at own resolution = %s, %v, want the cell", p, err)
	}
	kids, err := grid.Children(taipeiCell, grid.BaseResolution)
	if err != nil || !slices.Equal(kids, []hub.Cell{taipeiCell}) {
		t.Errorf("Children at own resolution = %v, %v, want the cell", kids, err)
	}
}

func TestCenterBoundary(t *testing.T) {
	tests := []struct {
		name       string
		give       hub.Cell
		wantVerts  int
		wantPentag bool
	}{
		{"hexagon res 9", taipeiCell, 6, false},
		{"hexagon res 8", mustCellAt(taipei101, 8), 6, false},
		// Class II resolutions (even) have pentagons of five vertices; at
		// class III (odd) H3 adds a vertex where each edge crosses an
		// icosahedron face, giving ten.
		{"pentagon res 8", pentagon(t, 8), 5, true},
		{"pentagon res 9", pentagon(t, 9), 10, true},
		{"pentagon res 0", pentagon(t, 0), 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if grid.IsPentagon(tt.give) != tt.wantPentag {
				t.Errorf("IsPentagon = %v", !tt.wantPentag)
			}
			ctr, err := grid.Center(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := grid.CellAt(ctr, grid.Resolution(tt.give)); err != nil || back != tt.give {
				t.Errorf("centre %v lies in %s, %v, want %s", ctr, back, err, tt.give)
			}
			b, err := grid.Boundary(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != tt.wantVerts {
				t.Errorf("%d vertices, want %d", len(b), tt.wantVerts)
			}
			for _, v := range b {
				if err := grid.CheckPoint(v); err != nil {
					t.Errorf("vertex %v: %v", v, err)
				}
			}
		})
	}
	if _, err := grid.Center(0); !errors.Is(err, grid.ErrInvalidCell) {
		t.Errorf("Center(0): %v, want ErrInvalidCell", err)
	}
	if _, err := grid.Boundary(0x8928308280ffff0); !errors.Is(err, grid.ErrInvalidCell) {
		t.Errorf("Boundary(garbage): %v, want ErrInvalidCell", err)
	}
}

// TestBoundaryCounterClockwise checks the documented vertex order with
// the shoelace formula on a small cell, where lat/lng is nearly planar.
func TestBoundaryCounterClockwise(t *testing.T) {
	b, err := grid.Boundary(taipeiCell)
	if err != nil {
		t.Fatal(err)
	}
	var area2 float64
	for i := range b {
		p, q := b[i], b[(i+1)%len(b)]
		area2 += p.Lng*q.Lat - q.Lng*p.Lat
	}
	if area2 <= 0 {
		t.Errorf("signed area %g: vertices are not counter-clockwise", area2)
	}
}

func mustCellAt(p hub.Point, res int) hub.Cell {
	c, err := grid.CellAt(p, res)
	if err != nil {
		panic(err)
	}
	return c
}

// square returns the corners of a lat/lng box around p, counter-clockwise,
// without the closing vertex.
func square(p hub.Point, half float64) []hub.Point {
	return []hub.Point{
		{Lat: p.Lat - half, Lng: p.Lng - half},
		{Lat: p.Lat - half, Lng: p.Lng + half},
		{Lat: p.Lat + half, Lng: p.Lng + half},
		{Lat: p.Lat + half, Lng: p.Lng - half},
	}
}

func inBox(p, centre hub.Point, half float64) bool {
	return math.Abs(p.Lat-centre.Lat) < half && math.Abs(p.Lng-centre.Lng) < half
}

func TestFill(t *testing.T) {
	const half, holeHalf = 0.01, 0.004
	outer := square(taipei101, half)
	closed := append(slices.Clone(outer), outer[0])
	hole := square(taipei101, holeHalf)

	got, err := grid.Fill(outer, nil, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	checkSorted(t, got)
	// About 4.5 km² of 0.105 km² cells.
	if len(got) < 35 || len(got) > 55 {
		t.Errorf("%d cells, want about 43", len(got))
	}

	// The fill is exactly the cells whose centres lie in the square: look
	// at every cell of a disk that covers it.
	disk, err := grid.Disk(taipeiCell, 12)
	if err != nil {
		t.Fatal(err)
	}
	var want, wantHoled []hub.Cell
	for _, c := range disk {
		ctr, _ := grid.Center(c)
		if inBox(ctr, taipei101, half) {
			want = append(want, c)
			if !inBox(ctr, taipei101, holeHalf) {
				wantHoled = append(wantHoled, c)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Fill = %v\nwant cells whose centres lie inside: %v", got, want)
	}

	gotClosed, err := grid.Fill(closed, nil, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotClosed, got) {
		t.Error("a closed ring fills differently from an open one")
	}

	clockwise := slices.Clone(outer)
	slices.Reverse(clockwise)
	gotCW, err := grid.Fill(clockwise, nil, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotCW, got) {
		t.Error("a clockwise ring fills differently")
	}

	holed, err := grid.Fill(outer, [][]hub.Point{hole}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	checkSorted(t, holed)
	if !slices.Equal(holed, wantHoled) {
		t.Errorf("Fill with a hole = %v\nwant %v", holed, wantHoled)
	}
	if len(holed) >= len(got) {
		t.Errorf("the hole removed nothing: %d of %d cells left", len(holed), len(got))
	}
	if slices.Contains(holed, taipeiCell) {
		t.Error("the cell in the hole is filled")
	}

	coarse, err := grid.Fill(outer, nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(coarse) > 1 {
		t.Errorf("res 7 (5 km² cells): %d cells, want at most 1", len(coarse))
	}
}

func TestFillGolden(t *testing.T) {
	// A triangle over Da'an district with a hole, so that the golden file
	// pins H3's containment and our sorting in one place.
	outer := []hub.Point{{Lat: 25.020, Lng: 121.530}, {Lat: 25.020, Lng: 121.560}, {Lat: 25.045, Lng: 121.545}}
	hole := square(hub.Point{Lat: 25.027, Lng: 121.545}, 0.002)
	cs, err := grid.Fill(outer, [][]hub.Point{hole}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, c := range cs {
		fmt.Fprintln(&buf, c)
	}
	golden(t, "fill_daan.golden", buf.Bytes())
}

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

func TestFillErrors(t *testing.T) {
	a, b, c := hub.Point{Lat: 25, Lng: 121}, hub.Point{Lat: 25, Lng: 121.01}, hub.Point{Lat: 25.01, Lng: 121.01}
	good := []hub.Point{a, b, c}
	tests := []struct {
		name  string
		outer []hub.Point
		holes [][]hub.Point
		res   int
		want  error
	}{
		{"no vertices", nil, nil, 9, grid.ErrInvalidPolygon},
		{"one vertex", []hub.Point{a}, nil, 9, grid.ErrInvalidPolygon},
		{"two vertices", []hub.Point{a, b}, nil, 9, grid.ErrInvalidPolygon},
		{"two vertices closed", []hub.Point{a, b, a}, nil, 9, grid.ErrInvalidPolygon},
		{"one vertex repeated", []hub.Point{a, a, a, a}, nil, 9, grid.ErrInvalidPolygon},
		{"two vertices repeated", []hub.Point{a, a, b, b, a}, nil, 9, grid.ErrInvalidPolygon},
		{"NaN vertex", []hub.Point{a, b, {Lat: math.NaN(), Lng: 121}}, nil, 9, grid.ErrInvalidLatLng},
		{"vertex off the Earth", []hub.Point{a, b, {Lat: 95, Lng: 121}}, nil, 9, grid.ErrInvalidLatLng},
		{"degenerate hole", good, [][]hub.Point{{a, b}}, 9, grid.ErrInvalidPolygon},
		{"hole with a NaN", good, [][]hub.Point{{a, b, {Lat: 25, Lng: math.Inf(-1)}}}, 9, grid.ErrInvalidLatLng},
		{"res -1", good, nil, -1, grid.ErrInvalidResolution},
		{"res 16", good, nil, 16, grid.ErrInvalidResolution},
		// More than MaxFillCells: refused before H3 allocates for it.
		{"too many cells", square(taipei101, 0.05), nil, 13, grid.ErrInvalidPolygon},
		{"a continent", square(hub.Point{Lat: 0, Lng: 0}, 30), nil, 9, grid.ErrInvalidPolygon},
		{"the hemisphere", []hub.Point{{Lat: 0, Lng: -179}, {Lat: 0, Lng: 0}, {Lat: 0, Lng: 179}, {Lat: 89, Lng: 0}}, nil, 9, grid.ErrInvalidPolygon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grid.Fill(tt.outer, tt.holes, tt.res)
			wantInvalid(t, err, tt.want)
			if got != nil {
				t.Errorf("got %d cells with an error", len(got))
			}
		})
	}
}

// TestFillLimit checks both sides of MaxFillCells: a polygon just under
// the bounding-box guard but over the cell limit is refused by H3's own
// bound, and one under it fills.
func TestFillLimit(t *testing.T) {
	hexKm2, err := h3.HexagonAreaAvgKm2(12)
	if err != nil {
		t.Fatal(err)
	}
	// A box of about 2 million res 12 cells: under the 4x guard, over
	// the limit.
	halfDeg := math.Sqrt(2*grid.MaxFillCells*hexKm2) / 111.2 / 2
	_, err = grid.Fill(square(taipei101, halfDeg), nil, 12)
	wantInvalid(t, err, grid.ErrInvalidPolygon)

	// A box of about 0.5 million cells fills.
	halfDeg = math.Sqrt(grid.MaxFillCells/2*hexKm2) / 111.2 / 2
	if testing.Short() {
		t.Skip("filling half a million cells")
	}
	cs, err := grid.Fill(square(taipei101, halfDeg), nil, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < grid.MaxFillCells/4 || len(cs) > grid.MaxFillCells {
		t.Errorf("%d cells, want about %d", len(cs), grid.MaxFillCells/2)
	}
}

func TestFillAntimeridian(t *testing.T) {
	// A small box astride the antimeridian, over Fiji's Taveuni.
	outer := []hub.Point{{Lat: -16.80, Lng: 179.98}, {Lat: -16.80, Lng: -179.98}, {Lat: -16.78, Lng: -179.98}, {Lat: -16.78, Lng: 179.98}}
	cs, err := grid.Fill(outer, nil, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < 70 || len(cs) > 120 {
		t.Errorf("%d cells, want about 90 (a 2.2 x 4.3 km box)", len(cs))
	}
	for _, c := range cs {
		ctr, _ := grid.Center(c)
		if ctr.Lat < -16.80 || ctr.Lat > -16.78 || math.Abs(ctr.Lng) < 179.98 {
			t.Errorf("cell %s centre %v lies outside the box", c, ctr)
		}
	}
}

func TestOutline(t *testing.T) {
	for _, k := range []int{0, 1, 3} {
		disk, err := grid.Disk(taipeiCell, k)
		if err != nil {
			t.Fatal(err)
		}
		rings, err := grid.Outline(disk)
		if err != nil {
			t.Fatal(err)
		}
		if len(rings) != 1 {
			t.Fatalf("k=%d: %d rings, want 1", k, len(rings))
		}
		// The outline of a hexagonal disk of radius k has 6(2k+1) vertices.
		if got, want := len(rings[0]), 6*(2*k+1); got != want {
			t.Errorf("k=%d: %d vertices, want %d", k, got, want)
		}
		// Filling the outline gives the disk back.
		back, err := grid.Fill(rings[0], nil, grid.BaseResolution)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back, disk) {
			t.Errorf("k=%d: filling the outline gives %d cells, want the %d of the disk", k, len(back), len(disk))
		}
	}

	// Two disks apart: two outlines. A hollow ring: one outline (its hole
	// is not part of an outer boundary).
	far, err := grid.Ring(taipeiCell, 10)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := grid.Disk(taipeiCell, 1)
	b, _ := grid.Disk(far[0], 1)
	if rings, err := grid.Outline(append(a, b...)); err != nil || len(rings) != 2 {
		t.Errorf("two disks: %d rings, %v, want 2", len(rings), err)
	}
	hollow, _ := grid.Ring(taipeiCell, 2)
	if rings, err := grid.Outline(hollow); err != nil || len(rings) != 1 {
		t.Errorf("hollow ring: %d rings, %v, want 1", len(rings), err)
	}

	// Repeated cells count once (H3 rejects duplicates).
	dup := append(slices.Clone(a), a...)
	if rings, err := grid.Outline(dup); err != nil || len(rings) != 1 || len(rings[0]) != 18 {
		t.Errorf("repeated cells: %v, %v, want one ring of 18", rings, err)
	}
	if rings, err := grid.Outline(nil); err != nil || len(rings) != 0 {
		t.Errorf("no cells: %v, %v, want no rings", rings, err)
	}

	parent, _ := grid.Parent(taipeiCell, 8)
	_, err = grid.Outline(append(slices.Clone(a), parent))
	wantInvalid(t, err, grid.ErrInvalidResolution)
	_, err = grid.Outline([]hub.Cell{taipeiCell, 0})
	wantInvalid(t, err, grid.ErrInvalidCell)
}

func TestOutlineDoesNotChangeInput(t *testing.T) {
	disk, _ := grid.Disk(taipeiCell, 1)
	in := append(slices.Clone(disk), disk[0])
	slices.Reverse(in)
	before := slices.Clone(in)
	if _, err := grid.Outline(in); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, before) {
		t.Error("Outline reordered its input")
	}
}

func TestNormalize(t *testing.T) {
	disk, _ := grid.Disk(taipeiCell, 1)
	shuffled := []hub.Cell{disk[3], 0, disk[1], disk[3], disk[0], 0, disk[6], disk[2], disk[5], disk[4], disk[1]}
	parent, _ := grid.Parent(taipeiCell, 8)
	tests := []struct {
		name    string
		give    []hub.Cell
		want    []hub.Cell
		wantErr error
	}{
		{"nil", nil, []hub.Cell{}, nil},
		{"zeros only", []hub.Cell{0, 0}, []hub.Cell{}, nil},
		{"shuffled with repeats and zeros", shuffled, disk, nil},
		{"wrong resolution", []hub.Cell{taipeiCell, parent}, nil, grid.ErrInvalidResolution},
		{"not a cell", []hub.Cell{taipeiCell, 0x8928308280ffff0}, nil, grid.ErrInvalidCell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grid.Normalize(tt.give, grid.BaseResolution)
			if tt.wantErr != nil {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDistanceMeters(t *testing.T) {
	tests := []struct {
		name string
		a, b hub.Point
		want float64 // metres
		tol  float64
	}{
		{"same point", taipei101, taipei101, 0, 1e-9},
		// Taipei 101 to Taipei Main Station: about 5.2 km.
		{"taipei 101 to main station", taipei101, hub.Point{Lat: 25.0478, Lng: 121.5170}, 5_140, 100},
		{"one degree of latitude", hub.Point{Lat: 0, Lng: 0}, hub.Point{Lat: 1, Lng: 0}, 111_195, 10},
		{"across the antimeridian", hub.Point{Lat: 0, Lng: 179.5}, hub.Point{Lat: 0, Lng: -179.5}, 111_195, 10},
		{"pole to pole", hub.Point{Lat: 90, Lng: 0}, hub.Point{Lat: -90, Lng: 0}, math.Pi * 6_371_007.18, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := grid.DistanceMeters(tt.a, tt.b)
			if math.Abs(got-tt.want) > tt.tol {
				t.Errorf("got %.1f m, want %.1f ± %.1f", got, tt.want, tt.tol)
			}
			if back := grid.DistanceMeters(tt.b, tt.a); math.Abs(back-got) > 1e-6 {
				t.Errorf("not symmetric: %f and %f", got, back)
			}
		})
	}
}

func TestCheckK(t *testing.T) {
	tests := []struct {
		give int
		ok   bool
	}{{-1, false}, {0, true}, {grid.MaxK, true}, {grid.MaxK + 1, false}}
	for _, tt := range tests {
		err := grid.CheckK(tt.give)
		if tt.ok != (err == nil) {
			t.Errorf("CheckK(%d) = %v", tt.give, err)
		}
		if err != nil && !errors.Is(err, grid.ErrInvalidK) {
			t.Errorf("CheckK(%d) = %v, want ErrInvalidK", tt.give, err)
		}
	}
}
