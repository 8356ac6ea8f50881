package codes

import (
	"slices"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// LevelAt returns the level a risk area of the given rings gives a cell
// ring steps from its centre: the centre is HIGH, rings 1 to ⌈rings/2⌉
// are MEDIUM, the rest LOW. So one ring makes a HIGH cell with a MEDIUM
// ring around it; three rings a HIGH cell, two MEDIUM rings and a LOW
// one. A ring outside the area has no level ("").
func LevelAt(ring, rings int) hub.RiskLevel {
	switch {
	case ring < 0 || ring > rings:
		return ""
	case ring == 0:
		return hub.RiskHigh
	case ring <= (rings+1)/2:
		return hub.RiskMedium
	}
	return hub.RiskLow
}

// AreaCells returns the cells of a risk area around centre (a cell of
// grid.BaseResolution) with the given rings (0 to hub.MaxRiskRings), each
// with its level (LevelAt), sorted by cell.
func AreaCells(centre hub.Cell, rings int) ([]hub.RiskCell, error) {
	if err := grid.Validate(centre); err != nil {
		return nil, err
	}
	if r := grid.Resolution(centre); r != grid.BaseResolution {
		return nil, hub.Errorf(hub.EINVALID, "risk area centre %s has resolution %d, want %d", centre, r, grid.BaseResolution)
	}
	if rings < 0 || rings > hub.MaxRiskRings {
		return nil, hub.Errorf(hub.EINVALID, "risk area of %d rings, want 0 to %d", rings, hub.MaxRiskRings)
	}
	rs, err := grid.Rings(centre, rings)
	if err != nil {
		return nil, err
	}
	var out []hub.RiskCell
	for i, ring := range rs {
		for _, c := range ring {
			out = append(out, hub.RiskCell{Cell: c, Level: LevelAt(i, rings)})
		}
	}
	slices.SortFunc(out, func(a, b hub.RiskCell) int {
		switch {
		case a.Cell < b.Cell:
			return -1
		case a.Cell > b.Cell:
			return 1
		}
		return 0
	})
	return out, nil
}

// NewRiskArea returns the risk area marked around centre at the given
// time, before it is stored: its ID is the centre's hex string.
func NewRiskArea(centre hub.Cell, rings int, reason string, at time.Time) (*hub.RiskArea, error) {
	cells, err := AreaCells(centre, rings)
	if err != nil {
		return nil, err
	}
	return &hub.RiskArea{
		ID: centre.String(), Cell: centre, Rings: rings, Reason: reason,
		Cells: cells, MarkedAt: at,
	}, nil
}

// areaCells returns the bare cells of an area.
func areaCells(a *hub.RiskArea) []hub.Cell {
	out := make([]hub.Cell, len(a.Cells))
	for i, c := range a.Cells {
		out[i] = c.Cell
	}
	return out
}
