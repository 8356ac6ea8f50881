package dispatch_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// taiwanPath is Taiwan's 2020 pharmacy list (see shared/data/README.md),
// checked out beside the repository.
const taiwanPath = "../../shared/data/tw-pharmacies.geojson"

// geoJSON is the part of the pharmacy file the tests read.
type geoJSON struct {
	Type     string `json:"type"`
	Features []struct {
		Properties struct {
			ID             string `json:"id"`
			Name           string `json:"name"`
			Phone          string `json:"phone"`
			Address        string `json:"address"`
			MaskAdult      int    `json:"mask_adult"`
			MaskChild      int    `json:"mask_child"`
			ServicePeriods string `json:"service_periods"`
		} `json:"properties"`
		Geometry struct {
			Type        string    `json:"type"`
			Coordinates []float64 `json:"coordinates"` // lon, lat
		} `json:"geometry"`
	} `json:"features"`
}

// taiwanPharmacies reads and places the real pharmacies, or skips the
// test when the data is not checked out.
func taiwanPharmacies(tb testing.TB) []*hub.Pharmacy {
	tb.Helper()
	ps, err := loadTaiwan()
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("real data not found at %s (check out shared/ beside the repository): %v", taiwanPath, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

// loadTaiwan reads the GeoJSON file and places each pharmacy on its base
// cell, with its adult and child mask stock.
func loadTaiwan() ([]*hub.Pharmacy, error) {
	b, err := os.ReadFile(taiwanPath)
	if err != nil {
		return nil, err
	}
	var fc geoJSON
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("%s: %w", taiwanPath, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("%s: type %q, want a FeatureCollection", taiwanPath, fc.Type)
	}
	updated := time.Date(2020, 9, 27, 19, 53, 54, 0, time.FixedZone("CST", 8*3600))
	ps := make([]*hub.Pharmacy, 0, len(fc.Features))
	for _, f := range fc.Features {
		pr := f.Properties
		if f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 {
			return nil, fmt.Errorf("%s: feature %s is not a point", taiwanPath, pr.ID)
		}
		loc := hub.Point{Lat: f.Geometry.Coordinates[1], Lng: f.Geometry.Coordinates[0]}
		cell, err := grid.CellAt(loc, grid.BaseResolution)
		if err != nil {
			return nil, fmt.Errorf("%s: feature %s: %w", taiwanPath, pr.ID, err)
		}
		ps = append(ps, &hub.Pharmacy{
			ID: pr.ID, Name: pr.Name, Phone: pr.Phone, Address: pr.Address,
			Location: loc, Cell: cell, Hours: pr.ServicePeriods,
			Stock:     map[hub.SKU]int{hub.MaskAdult: pr.MaskAdult, hub.MaskChild: pr.MaskChild},
			UpdatedAt: updated,
		})
	}
	return ps, nil
}

// Taipei's box for the synthetic city: about 22 x 20 km.
const (
	cityLat0, cityLat1 = 24.95, 25.15
	cityLng0, cityLng1 = 121.45, 121.65
)

func randomPoint(r *rand.Rand) hub.Point {
	return hub.Point{
		Lat: cityLat0 + (cityLat1-cityLat0)*r.Float64(),
		Lng: cityLng0 + (cityLng1-cityLng0)*r.Float64(),
	}
}

// syntheticCity returns n pharmacies scattered over Taipei with seeded
// randomness: some stock of each SKU or none, and one in fifty standing
// exactly where another does, so that ties in distance are broken by ID.
func syntheticCity(tb testing.TB, n int, seed uint64) []*hub.Pharmacy {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	skus := []hub.SKU{hub.MaskAdult, hub.MaskChild, hub.MaskN95, hub.HandSanitizer, hub.TestKit}
	ids := r.Perm(n)
	ps := make([]*hub.Pharmacy, 0, n)
	for i := range n {
		loc := randomPoint(r)
		if i > 0 && r.IntN(50) == 0 {
			loc = ps[r.IntN(i)].Location
		}
		cell, err := grid.CellAt(loc, grid.BaseResolution)
		if err != nil {
			tb.Fatal(err)
		}
		stock := map[hub.SKU]int{}
		for _, sku := range skus {
			if r.IntN(3) > 0 {
				stock[sku] = r.IntN(300)
			}
		}
		// IDs are not in placement order, so that ID order is a real
		// tie-break and not an accident of insertion.
		ps = append(ps, &hub.Pharmacy{
			ID:       fmt.Sprintf("P%06d", ids[i]),
			Name:     fmt.Sprintf("Pharmacy %d", i),
			Location: loc, Cell: cell, Stock: stock,
		})
	}
	return ps
}

func locatorOf(ps []*hub.Pharmacy) *dispatch.Locator {
	l := dispatch.NewLocator()
	for _, p := range ps {
		l.Put(p)
	}
	return l
}
