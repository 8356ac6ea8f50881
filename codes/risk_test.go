package codes_test

import (
	"testing"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// shanghai is a base-resolution cell in Huangpu, Shanghai.
func shanghai(t testing.TB) hub.Cell {
	t.Helper()
	c, err := grid.CellAt(hub.Point{Lat: 31.2304, Lng: 121.4737}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLevelAt(t *testing.T) {
	tests := []struct {
		ring, rings int
		want        hub.RiskLevel
	}{
		{0, 0, hub.RiskHigh},
		{1, 0, ""},
		{0, 1, hub.RiskHigh},
		{1, 1, hub.RiskMedium},
		{1, 2, hub.RiskMedium},
		{2, 2, hub.RiskLow},
		{2, 3, hub.RiskMedium},
		{3, 3, hub.RiskLow},
		{5, 10, hub.RiskMedium},
		{6, 10, hub.RiskLow},
		{-1, 3, ""},
	}
	for _, tt := range tests {
		if got := codes.LevelAt(tt.ring, tt.rings); got != tt.want {
			t.Errorf("LevelAt(%d, %d) = %q, want %q", tt.ring, tt.rings, got, tt.want)
		}
	}
}

func TestAreaCells(t *testing.T) {
	centre := shanghai(t)
	tests := []struct {
		rings               int
		high, medium, lowCt int
	}{
		{0, 1, 0, 0},
		{1, 1, 6, 0},
		{2, 1, 6, 12},
		{3, 1, 18, 18},
	}
	for _, tt := range tests {
		cells, err := codes.AreaCells(centre, tt.rings)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[hub.RiskLevel]int{}
		for i, c := range cells {
			counts[c.Level]++
			if i > 0 && c.Cell <= cells[i-1].Cell {
				t.Fatalf("rings %d: cells not sorted", tt.rings)
			}
			d, err := grid.Distance(centre, c.Cell)
			if err != nil {
				t.Fatal(err)
			}
			if c.Level != codes.LevelAt(d, tt.rings) {
				t.Fatalf("rings %d: cell %s at distance %d is %s", tt.rings, c.Cell, d, c.Level)
			}
		}
		want := map[hub.RiskLevel]int{hub.RiskHigh: tt.high, hub.RiskMedium: tt.medium, hub.RiskLow: tt.lowCt}
		for l, n := range want {
			if counts[l] != n {
				t.Errorf("rings %d: %d %s cells, want %d", tt.rings, counts[l], l, n)
			}
		}
	}

	parent, err := grid.Parent(centre, 7)
	if err != nil {
		t.Fatal(err)
	}
	for name, give := range map[string]struct {
		c hub.Cell
		k int
	}{
		"not a cell":     {0x123, 1},
		"coarse cell":    {parent, 1},
		"negative rings": {centre, -1},
		"too many rings": {centre, hub.MaxRiskRings + 1},
	} {
		if _, err := codes.AreaCells(give.c, give.k); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	a, err := codes.NewRiskArea(centre, 2, "cluster at a market", now)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != centre.String() || a.Cell != centre || len(a.Cells) != 19 || !a.Active() {
		t.Fatalf("NewRiskArea = %+v", a)
	}
}
