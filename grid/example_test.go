package grid_test

import (
	"errors"
	"fmt"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

func ExampleCellAt() {
	taipei101 := hub.Point{Lat: 25.0330, Lng: 121.5654}
	c, err := grid.CellAt(taipei101, grid.BaseResolution)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c, grid.Resolution(c))

	_, err = grid.CellAt(hub.Point{Lat: 121.5654, Lng: 25.0330}, grid.BaseResolution)
	fmt.Println(errors.Is(err, grid.ErrInvalidLatLng), hub.ErrorCode(err))
	// Output:
	// 894ba0a4e27ffff 9
	// true BAD_USER_INPUT
}

func ExampleDisk() {
	c, _ := grid.ParseCell("894ba0a4e27ffff")
	disk, err := grid.Disk(c, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range disk {
		fmt.Println(d)
	}
	// Output:
	// 894ba0a4853ffff
	// 894ba0a485bffff
	// 894ba0a48cbffff
	// 894ba0a4e23ffff
	// 894ba0a4e27ffff
	// 894ba0a4e2fffff
	// 894ba0a4e37ffff
}

func ExampleParseCell() {
	c, err := grid.ParseCell("8928308280fffff")
	fmt.Println(c, grid.Resolution(c), err)

	_, err = grid.ParseCell("8928308280FFFFF")
	fmt.Println(errors.Is(err, grid.ErrInvalidCell), hub.ErrorMessage(err))

	_, err = grid.ParseCell("000000000000000")
	fmt.Println(errors.Is(err, grid.ErrInvalidCell), hub.ErrorMessage(err))
	// Output:
	// 8928308280fffff 9 <nil>
	// true invalid cell "8928308280FFFFF": want 15 lower-case hex characters
	// true invalid cell "000000000000000": not an H3 cell index
}

func ExampleRings() {
	c, _ := grid.ParseCell("894ba0a4e27ffff")
	rings, _ := grid.Rings(c, 3)
	for k, r := range rings {
		fmt.Println(k, len(r))
	}
	// Output:
	// 0 1
	// 1 6
	// 2 12
	// 3 18
}
