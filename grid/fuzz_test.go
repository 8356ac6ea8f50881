package grid_test

import (
	"errors"
	"math"
	"testing"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// FuzzParseCell checks that ParseCell never panics, that every error is
// an EINVALID matching ErrInvalidCell, and that every accepted string is
// the canonical form of a valid cell.
func FuzzParseCell(f *testing.F) {
	for _, s := range []string{
		"8928308280fffff", "894ba0a4e27ffff", "8001fffffffffff", "000000000000000",
		"fffffffffffffff", "8928308280FFFFF", "8928308280ffff", "08928308280fffff",
		"ffffffffffffff f", "8928308280ffff0", "", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := grid.ParseCell(s)
		if err != nil {
			if !errors.Is(err, grid.ErrInvalidCell) || hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("ParseCell(%q): %v, want an EINVALID ErrInvalidCell", s, err)
			}
			if c != 0 {
				t.Fatalf("ParseCell(%q) = %s with an error", s, c)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("ParseCell(%q) = %s: does not round-trip", s, c)
		}
		if err := grid.Validate(c); err != nil {
			t.Fatalf("ParseCell(%q) accepted an invalid cell: %v", s, err)
		}
		if _, err := grid.Center(c); err != nil {
			t.Fatalf("Center(%s): %v", c, err)
		}
	})
}

// FuzzCellAt checks that CellAt never panics on any pair of float64s,
// rejects positions off the Earth with ErrInvalidLatLng and places every
// other one in a base cell whose centre lies within a kilometre.
func FuzzCellAt(f *testing.F) {
	for _, p := range [][2]float64{
		{25.0330, 121.5654}, {90, 0}, {-90, 0}, {0, 180}, {0, -180}, {90, 180}, {-90, -180},
		{math.NaN(), 0}, {0, math.Inf(1)}, {90.0000001, 0}, {0, -180.0000001},
		{math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64}, {math.MaxFloat64, 0},
		{-0.0, -0.0},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, lat, lng float64) {
		checkCellAt(t, lat, lng)
		// Most float64 pairs lie far off the Earth; fold them onto it so
		// that the fuzzer explores the placing half too.
		if !math.IsNaN(lat) && !math.IsInf(lat, 0) && !math.IsNaN(lng) && !math.IsInf(lng, 0) {
			checkCellAt(t, math.Mod(lat, 90), math.Mod(lng, 180))
		}
	})
}

func checkCellAt(t *testing.T, lat, lng float64) {
	t.Helper()
	p := hub.Point{Lat: lat, Lng: lng}
	c, err := grid.CellAt(p, grid.BaseResolution)
	onEarth := lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180 // false for NaN
	if !onEarth {
		if !errors.Is(err, grid.ErrInvalidLatLng) || hub.ErrorCode(err) != hub.EINVALID {
			t.Fatalf("CellAt(%v, %v): %v, want an EINVALID ErrInvalidLatLng", lat, lng, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("CellAt(%v, %v): %v", lat, lng, err)
	}
	if grid.Resolution(c) != grid.BaseResolution {
		t.Fatalf("CellAt(%v, %v) = %s of resolution %d", lat, lng, c, grid.Resolution(c))
	}
	ctr, err := grid.Center(c)
	if err != nil {
		t.Fatalf("Center(%s): %v", c, err)
	}
	// A base cell is about 350 m across.
	if d := grid.DistanceMeters(p, ctr); !(d < 1000) {
		t.Fatalf("CellAt(%v, %v) = %s, whose centre %v is %.0f m away", lat, lng, c, ctr, d)
	}
}
