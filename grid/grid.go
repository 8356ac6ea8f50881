// Package grid places things on the H3 hexagon grid. It is the only
// importer of h3-go; everything else speaks in hub.Cell and hub.Point.
//
// Results that other code depends on are deterministic: disks, rings,
// children and polygon fills come back sorted and free of zero cells
// (H3 returns them unordered, with zeros near pentagons).
package grid

import (
	"errors"
	"math"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"github.com/uber/h3-go/v4"
)

// Resolutions used by the hub.
const (
	BaseResolution  = 9 // a person, a pharmacy, a committee's cells (~0.1 km²)
	HeatResolution  = 7 // dashboard heat maps
	ShardResolution = 5 // sharding key
	MaxResolution   = 15
	// MaxK bounds the rings a caller may ask for: a disk of k rings has
	// 3k(k+1)+1 cells.
	MaxK = 100
)

// Sentinel errors. Every error grid returns is a *hub.Error with code
// EINVALID that matches one of these with errors.Is.
var (
	ErrInvalidCell       = errors.New("invalid cell")
	ErrInvalidLatLng     = errors.New("invalid coordinates")
	ErrInvalidResolution = errors.New("invalid resolution")
	ErrInvalidK          = errors.New("invalid ring count")
	ErrInvalidPolygon    = errors.New("invalid polygon")
)

func invalid(sentinel error, format string, args ...any) error {
	return hub.Wrapf(hub.EINVALID, sentinel, format, args...)
}

// ParseCell parses the standard 15-character lower-case hex form of a
// cell and checks that it is a valid H3 cell.
func ParseCell(s string) (hub.Cell, error) {
	var c hub.Cell
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return 0, invalid(ErrInvalidCell, "invalid cell %q: want 15 lower-case hex characters", truncate(s))
	}
	if !h3.Cell(c).IsValid() {
		return 0, invalid(ErrInvalidCell, "invalid cell %q: not an H3 cell index", s)
	}
	return c, nil
}

// Validate reports whether c is a valid H3 cell.
func Validate(c hub.Cell) error {
	if !h3.Cell(c).IsValid() {
		return invalid(ErrInvalidCell, "invalid cell %s: not an H3 cell index", c)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// CheckPoint reports whether p is a position on Earth.
func CheckPoint(p hub.Point) error {
	switch {
	case math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return invalid(ErrInvalidLatLng, "latitude %v is outside [-90, 90]", p.Lat)
	case math.IsNaN(p.Lng) || p.Lng < -180 || p.Lng > 180:
		return invalid(ErrInvalidLatLng, "longitude %v is outside [-180, 180]", p.Lng)
	}
	return nil
}

// CheckResolution reports whether res is an H3 resolution.
func CheckResolution(res int) error {
	if res < 0 || res > MaxResolution {
		return invalid(ErrInvalidResolution, "resolution %d is outside [0, %d]", res, MaxResolution)
	}
	return nil
}

// CheckK reports whether k is an acceptable ring count.
func CheckK(k int) error {
	if k < 0 || k > MaxK {
		return invalid(ErrInvalidK, "ring count %d is outside [0, %d]", k, MaxK)
	}
	return nil
}

// CellAt returns the cell at resolution res that contains p.
func CellAt(p hub.Point, res int) (hub.Cell, error) {
	if err := CheckPoint(p); err != nil {
		return 0, err
	}
	if err := CheckResolution(res); err != nil {
		return 0, err
	}
	c, err := h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lng), res)
	if err != nil {
		return 0, invalid(ErrInvalidLatLng, "cannot place %v,%v on the grid: %v", p.Lat, p.Lng, err)
	}
	return hub.Cell(c), nil
}

// Resolution returns the resolution of c.
func Resolution(c hub.Cell) int { return h3.Cell(c).Resolution() }

// IsPentagon reports whether c is one of the twelve pentagons of its
// resolution.
func IsPentagon(c hub.Cell) bool { return h3.Cell(c).IsPentagon() }

// Center returns the centre of c.
func Center(c hub.Cell) (hub.Point, error) {
	if err := Validate(c); err != nil {
		return hub.Point{}, err
	}
	ll, err := h3.CellToLatLng(h3.Cell(c))
	if err != nil {
		return hub.Point{}, invalid(ErrInvalidCell, "cell %s: %v", c, err)
	}
	return hub.Point{Lat: ll.Lat, Lng: ll.Lng}, nil
}

// Boundary returns the vertices of c in counter-clockwise order.
func Boundary(c hub.Cell) ([]hub.Point, error) {
	if err := Validate(c); err != nil {
		return nil, err
	}
	b, err := h3.CellToBoundary(h3.Cell(c))
	if err != nil {
		return nil, invalid(ErrInvalidCell, "cell %s: %v", c, err)
	}
	out := make([]hub.Point, len(b))
	for i, ll := range b {
		out[i] = hub.Point{Lat: ll.Lat, Lng: ll.Lng}
	}
	return out, nil
}

// Disk returns the cells within k steps of c, c included, sorted.
func Disk(c hub.Cell, k int) ([]hub.Cell, error) {
	rings, err := Rings(c, k)
	if err != nil {
		return nil, err
	}
	var out []hub.Cell
	for _, r := range rings {
		out = append(out, r...)
	}
	slices.Sort(out)
	return out, nil
}

// Ring returns the cells exactly k steps from c, sorted.
func Ring(c hub.Cell, k int) ([]hub.Cell, error) {
	rings, err := Rings(c, k)
	if err != nil {
		return nil, err
	}
	return rings[k], nil
}

// Rings returns the disk of k rings around c split by distance: rings[i]
// holds the cells exactly i steps away, each ring sorted and free of zero
// cells. Matching walks these outward.
func Rings(c hub.Cell, k int) ([][]hub.Cell, error) {
	if err := Validate(c); err != nil {
		return nil, err
	}
	if err := CheckK(k); err != nil {
		return nil, err
	}
	rs, err := h3.GridDiskDistances(h3.Cell(c), k)
	if err != nil {
		return nil, invalid(ErrInvalidCell, "disk around %s: %v", c, err)
	}
	out := make([][]hub.Cell, k+1)
	for i := range out {
		if i < len(rs) {
			out[i] = cells(rs[i])
		}
	}
	return out, nil
}

// Distance returns the number of grid steps between a and b, which must be
// of the same resolution and not too far apart for H3 to measure.
func Distance(a, b hub.Cell) (int, error) {
	d, err := h3.GridDistance(h3.Cell(a), h3.Cell(b))
	if err != nil {
		return 0, invalid(ErrInvalidCell, "distance from %s to %s: %v", a, b, err)
	}
	return d, nil
}

// Parent returns the ancestor of c at the coarser resolution res.
func Parent(c hub.Cell, res int) (hub.Cell, error) {
	if err := Validate(c); err != nil {
		return 0, err
	}
	if err := CheckResolution(res); err != nil {
		return 0, err
	}
	if res > Resolution(c) {
		return 0, invalid(ErrInvalidResolution, "parent resolution %d is finer than cell %s (resolution %d)", res, c, Resolution(c))
	}
	p, err := h3.Cell(c).Parent(res)
	if err != nil {
		return 0, invalid(ErrInvalidResolution, "parent of %s at %d: %v", c, res, err)
	}
	return hub.Cell(p), nil
}

// Children returns the descendants of c at the finer resolution res,
// sorted.
func Children(c hub.Cell, res int) ([]hub.Cell, error) {
	if err := Validate(c); err != nil {
		return nil, err
	}
	if err := CheckResolution(res); err != nil {
		return nil, err
	}
	if res < Resolution(c) || res-Resolution(c) > 6 {
		return nil, invalid(ErrInvalidResolution, "children of %s (resolution %d) at %d: want a resolution 0 to 6 steps finer", c, Resolution(c), res)
	}
	ch, err := h3.Cell(c).Children(res)
	if err != nil {
		return nil, invalid(ErrInvalidResolution, "children of %s at %d: %v", c, res, err)
	}
	return cells(ch), nil
}

// MaxFillCells bounds how many cells a polygon fill may produce (a city
// district of 10,000 base cells is about 1,000 km²).
const MaxFillCells = 1_000_000

// Fill returns the cells at resolution res whose centres lie inside the
// polygon with the given outer ring and holes, sorted. Rings need not be
// closed (the first vertex repeated); it is accepted either way.
func Fill(outer []hub.Point, holes [][]hub.Point, res int) ([]hub.Cell, error) {
	if err := CheckResolution(res); err != nil {
		return nil, err
	}
	loop, err := loopOf(outer)
	if err != nil {
		return nil, err
	}
	// H3 sizes its output buffer from the polygon's bounding box before
	// it applies MaxFillCells: a continent-sized polygon would allocate
	// gigabytes and spin for seconds before failing. Refuse early.
	if n := bboxCells(loop, res); n > 4*MaxFillCells {
		return nil, invalid(ErrInvalidPolygon, "cannot fill polygon at resolution %d: its bounding box holds about %.0f cells, more than %d", res, n, 4*MaxFillCells)
	}
	poly := h3.GeoPolygon{GeoLoop: loop}
	for _, h := range holes {
		hl, err := loopOf(h)
		if err != nil {
			return nil, err
		}
		poly.Holes = append(poly.Holes, hl)
	}
	cs, err := h3.PolygonToCellsExperimental(poly, res, h3.ContainmentCenter, MaxFillCells)
	if err != nil {
		return nil, invalid(ErrInvalidPolygon, "cannot fill polygon at resolution %d (more than %d cells?): %v", res, MaxFillCells, err)
	}
	return cells(cs), nil
}

// bboxCells estimates how many cells of resolution res fit in the bounding
// box of loop, about the room H3 allocates before it fills. A loop spanning
// more than 180° of longitude is taken to cross the antimeridian, as H3
// takes it.
func bboxCells(loop h3.GeoLoop, res int) float64 {
	south, north := loop[0].Lat, loop[0].Lat
	west, east := loop[0].Lng, loop[0].Lng
	for _, ll := range loop[1:] {
		south, north = min(south, ll.Lat), max(north, ll.Lat)
		west, east = min(west, ll.Lng), max(east, ll.Lng)
	}
	width := east - west
	if width > 180 {
		width = 360 - width
	}
	const earthRadiusKm = 6371.007180918475
	areaKm2 := earthRadiusKm * earthRadiusKm * width * math.Pi / 180 *
		math.Abs(math.Sin(north*math.Pi/180)-math.Sin(south*math.Pi/180))
	hexKm2, err := h3.HexagonAreaAvgKm2(res)
	if err != nil || hexKm2 <= 0 {
		return math.Inf(1)
	}
	return areaKm2 / hexKm2
}

// loopOf checks a ring and converts it for H3. Repeated consecutive
// vertices (the closing vertex among them) are dropped, and at least three
// distinct vertices must remain.
func loopOf(ring []hub.Point) (h3.GeoLoop, error) {
	loop := make(h3.GeoLoop, 0, len(ring))
	for i, p := range ring {
		if err := CheckPoint(p); err != nil {
			return nil, err
		}
		if i > 0 && p == ring[i-1] {
			continue
		}
		loop = append(loop, h3.NewLatLng(p.Lat, p.Lng))
	}
	if n := len(loop); n > 1 && loop[0] == loop[n-1] {
		loop = loop[:n-1]
	}
	if len(loop) < 3 {
		return nil, invalid(ErrInvalidPolygon, "a polygon ring needs at least 3 distinct vertices, got %d", len(loop))
	}
	return loop, nil
}

// Outline returns the outer boundaries of the area covered by cs, as
// rings of points; a dashboard draws a district's outline from it.
// The cells must share one resolution; repeated cells count once.
func Outline(cs []hub.Cell) ([][]hub.Point, error) {
	// H3's behaviour is undefined for duplicates and mixed resolutions.
	sorted := slices.Clone(cs)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	in := make([]h3.Cell, 0, len(sorted))
	for _, c := range sorted {
		if err := Validate(c); err != nil {
			return nil, err
		}
		if r, r0 := Resolution(c), Resolution(sorted[0]); r != r0 {
			return nil, invalid(ErrInvalidResolution, "outline: cell %s has resolution %d, cell %s has %d", c, r, sorted[0], r0)
		}
		in = append(in, h3.Cell(c))
	}
	polys, err := h3.CellsToMultiPolygon(in)
	if err != nil {
		return nil, invalid(ErrInvalidCell, "outline: %v", err)
	}
	out := make([][]hub.Point, 0, len(polys))
	for _, p := range polys {
		ring := make([]hub.Point, len(p.GeoLoop))
		for i, ll := range p.GeoLoop {
			ring[i] = hub.Point{Lat: ll.Lat, Lng: ll.Lng}
		}
		out = append(out, ring)
	}
	return out, nil
}

// DistanceMeters returns the great-circle distance between two points.
func DistanceMeters(a, b hub.Point) float64 {
	return h3.GreatCircleDistanceM(h3.NewLatLng(a.Lat, a.Lng), h3.NewLatLng(b.Lat, b.Lng))
}

// Normalize sorts cs, removes duplicates and zero cells, and checks that
// every cell is valid and of resolution res.
func Normalize(cs []hub.Cell, res int) ([]hub.Cell, error) {
	out := make([]hub.Cell, 0, len(cs))
	for _, c := range cs {
		if c == 0 {
			continue
		}
		if err := Validate(c); err != nil {
			return nil, err
		}
		if r := Resolution(c); r != res {
			return nil, invalid(ErrInvalidResolution, "cell %s has resolution %d, want %d", c, r, res)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// cells converts H3 cells to sorted hub cells without zeros.
func cells(in []h3.Cell) []hub.Cell {
	out := make([]hub.Cell, 0, len(in))
	for _, c := range in {
		if c != 0 {
			out = append(out, hub.Cell(c))
		}
	}
	slices.Sort(out)
	return out
}
