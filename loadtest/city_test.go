package main

import (
	"slices"
	"testing"
)

func TestNewCityMapReach(t *testing.T) {
	m := newCityMap(
		[]committeeArea{
			{ID: "c2", Cells: []string{"x3", "x4"}},
			{ID: "c1", Cells: []string{"x1", "x2"}},
			{ID: "c3", Cells: []string{"x9"}},
		},
		[]pharmacyDisk{
			{ID: "p2", Disk: []string{"x7"}},             // touches nobody
			{ID: "p1", Disk: []string{"x2", "x1", "x3"}}, // c1 twice, c2 once
		},
	)
	if !slices.Equal(m.Committees, []string{"c1", "c2", "c3"}) || !slices.Equal(m.Pharmacies, []string{"p1", "p2"}) {
		t.Fatalf("ids = %v %v, want sorted", m.Committees, m.Pharmacies)
	}
	if !slices.Equal(m.Reach[0], []int{0, 1}) || len(m.Reach[1]) != 0 {
		t.Errorf("Reach = %v, want [[0 1] []]", m.Reach)
	}
	if due := dueCounts(m, []int{3, 2, 5}); !slices.Equal(due, []int{5, 0}) {
		t.Errorf("dueCounts = %v, want [5 0]", due)
	}
}
