package dispatch_test

import (
	"fmt"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

func ExampleLocator_Near() {
	l := dispatch.NewLocator()
	for _, p := range []struct {
		id    string
		at    hub.Point
		masks int
	}{
		{"taipei-101", hub.Point{Lat: 25.0336, Lng: 121.5648}, 40},
		{"xinyi", hub.Point{Lat: 25.0360, Lng: 121.5680}, 0},
		{"main-station", hub.Point{Lat: 25.0478, Lng: 121.5170}, 100},
	} {
		c, _ := grid.CellAt(p.at, grid.BaseResolution)
		l.Put(&hub.Pharmacy{ID: p.id, Location: p.at, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: p.masks}})
	}

	person := hub.Point{Lat: 25.0330, Lng: 121.5654}
	all, _ := l.Near(person, 3, "")
	for _, m := range all {
		fmt.Printf("%s ring %d %.0f m\n", m.Pharmacy.ID, m.Ring, m.Meters)
	}
	stocked, _ := l.Near(person, 3, hub.MaskAdult)
	fmt.Println(len(stocked), "with adult masks")
	// Output:
	// taipei-101 ring 1 90 m
	// xinyi ring 1 424 m
	// 1 with adult masks
}
