package democity

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// twPharmacies is Taiwan's NHIA pharmacy file of 2020 (319 pharmacies);
// data/README.md gives its source and licence.
//
//go:embed data/tw-pharmacies.geojson
var twPharmacies []byte

// realPharmacy is one pharmacy of the embedded file, placed on the grid.
type realPharmacy struct {
	in     city.PharmacyInput
	cell   hub.Cell
	county string
	town   string
}

// realPharmacies decodes the embedded file, sorted by id.
func realPharmacies() ([]realPharmacy, error) {
	var fc struct {
		Features []struct {
			Properties struct {
				ID             string `json:"id"`
				Name           string `json:"name"`
				Phone          string `json:"phone"`
				Address        string `json:"address"`
				MaskAdult      int    `json:"mask_adult"`
				MaskChild      int    `json:"mask_child"`
				County         string `json:"county"`
				Town           string `json:"town"`
				ServicePeriods string `json:"service_periods"`
			} `json:"properties"`
			Geometry struct {
				Type        string    `json:"type"`
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(twPharmacies, &fc); err != nil {
		return nil, fmt.Errorf("democity: embedded pharmacies: %w", err)
	}
	out := make([]realPharmacy, 0, len(fc.Features))
	for i, f := range fc.Features {
		p, g := f.Properties, f.Geometry
		if g.Type != "Point" || len(g.Coordinates) < 2 {
			return nil, fmt.Errorf("democity: embedded pharmacy %d (%q) has no point", i, p.ID)
		}
		at := hub.Point{Lat: g.Coordinates[1], Lng: g.Coordinates[0]}
		cell, err := grid.CellAt(at, grid.BaseResolution)
		if err != nil {
			return nil, fmt.Errorf("democity: embedded pharmacy %q: %w", p.ID, err)
		}
		out = append(out, realPharmacy{
			in: city.PharmacyInput{
				ID: p.ID, Name: strings.TrimSpace(p.Name), Phone: p.Phone, Address: p.Address,
				Location: at, Hours: p.ServicePeriods,
				Stock: map[hub.SKU]int{hub.MaskAdult: p.MaskAdult, hub.MaskChild: p.MaskChild},
			},
			cell: cell, county: p.County, town: p.Town,
		})
	}
	slices.SortFunc(out, func(a, b realPharmacy) int { return strings.Compare(a.in.ID, b.in.ID) })
	return out, nil
}
