package dispatch_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// exampleCells returns the cell of Taipei 101 and the rings around it.
func exampleCells() [][]hub.Cell {
	c, _ := grid.CellAt(hub.Point{Lat: 25.0336, Lng: 121.5648}, grid.BaseResolution)
	rs, _ := grid.Rings(c, 3)
	return rs
}

func ExampleAllocate() {
	rs := exampleCells()
	home := rs[0][0]
	nine := time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)
	supply := []dispatch.SupplyPoint{
		{ID: "next-door", Cell: home, Stock: 4, Slots: []dispatch.Slot{
			{Start: nine, End: nine.Add(time.Hour), Capacity: 1},
			{Start: nine.Add(time.Hour), End: nine.Add(2 * time.Hour), Capacity: 5},
		}},
		{ID: "ring-2-small", Cell: rs[2][0], Stock: 2},
		{ID: "ring-2-big", Cell: rs[2][6], Stock: 50},
	}
	reqs := []dispatch.Request{
		{ID: "ann", Cell: home, Quantity: 2, Seq: 1, Slot: nine.Add(time.Hour)},
		{ID: "bo", Cell: home, Quantity: 2, Seq: 2},
		{ID: "cy", Cell: home, Quantity: 2, Seq: 3},
		{ID: "di", Cell: home, Quantity: 3, Seq: 4},
	}
	as, err := dispatch.Allocate(reqs, supply, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, a := range as {
		if !a.Served() {
			fmt.Printf("%s: %s\n", reqs[i].ID, a.Reason)
			continue
		}
		slot := "any time"
		if a.Slot >= 0 {
			slot = supply[a.Supply].Slots[a.Slot].Start.Format("15:04")
		}
		fmt.Printf("%s: %s, ring %d, %s\n", reqs[i].ID, supply[a.Supply].ID, a.Ring, slot)
	}
	// Output:
	// ann: next-door, ring 0, 10:00
	// bo: next-door, ring 0, 09:00
	// cy: ring-2-big, ring 2, any time
	// di: ring-2-big, ring 2, any time
}

func ExampleMatcher_Assign() {
	rs := exampleCells()
	m, _ := dispatch.NewMatcher([]dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 2}}, 1)
	first, _ := m.Assign(dispatch.Request{ID: "a", Cell: rs[1][0], Quantity: 2})
	second, _ := m.Assign(dispatch.Request{ID: "b", Cell: rs[0][0], Quantity: 2})
	fmt.Println(first.Reason, second.Reason)
	// a cancels: the stock goes back and b is served.
	_ = m.Release(first, 2)
	second, _ = m.Assign(dispatch.Request{ID: "b", Cell: rs[0][0], Quantity: 2})
	fmt.Println(second.Reason, m.Stock(0))
	// Output:
	// SERVED OUT_OF_STOCK_IN_REACH
	// SERVED 0
}

func ExampleFairShare() {
	rs := exampleCells()
	// Enough for everyone in reach: every cell's share is its demand.
	supply := []dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 10}}
	var reqs []dispatch.Request
	for i := range 10 {
		c := rs[0][0]
		if i >= 8 {
			c = rs[2][0]
		}
		reqs = append(reqs, dispatch.Request{ID: fmt.Sprint(i), Cell: c, Quantity: 1, Seq: uint64(i)})
	}
	plain, _ := dispatch.Allocate(reqs, supply, 2)
	fair, _ := dispatch.FairShare(reqs, supply, 2)
	for i, c := range fair.Cells {
		fmt.Printf("%d asked: first come %d, fair share %d\n", c.Demand, dispatch.CellShares(reqs, plain)[i].Served, c.Served)
	}
	// Output:
	// 2 asked: first come 2, fair share 2
	// 8 asked: first come 8, fair share 8
}

func ExampleFairShare_scarce() {
	rs := exampleCells()
	// 5 masks by a dense cell of 8 people, who come first; 2 people
	// two rings away.
	supply := []dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 5}}
	var reqs []dispatch.Request
	for i := range 10 {
		c := rs[0][0] // the first 8 in line live next door
		if i >= 8 {
			c = rs[2][0]
		}
		reqs = append(reqs, dispatch.Request{ID: fmt.Sprint(i), Cell: c, Quantity: 1, Seq: uint64(i)})
	}
	plain, _ := dispatch.Allocate(reqs, supply, 2)
	fair, _ := dispatch.FairShare(reqs, supply, 2)
	nearest := dispatch.CellShares(reqs, plain)
	for i, c := range fair.Cells {
		fmt.Printf("cell %d: %d asked, first come %d, fair share %d\n", i, c.Demand, nearest[i].Served, c.Served)
	}
	fmt.Printf("Gini: first come %.2f, fair share %.2f\n", dispatch.FulfilmentGini(nearest), dispatch.FulfilmentGini(fair.Cells))
	// Output:
	// cell 0: 2 asked, first come 0, fair share 1
	// cell 1: 8 asked, first come 5, fair share 4
	// Gini: first come 0.50, fair share 0.00
}

func ExampleApportion() {
	// 100 masks for three committees of 50, 30 and 15 households, the
	// first of which asks for no more than 40.
	quotas, _ := dispatch.Apportion(100, []int{50, 30, 15}, []int{40, 100, 100})
	fmt.Println(quotas)
	// Output: [40 40 20]
}

func ExampleDraw() {
	seed := sha256.Sum256([]byte("an example seed; use NewSeed(crypto/rand.Reader)"))
	fmt.Println("commitment", dispatch.Commit(seed[:])[:16], "...")
	var entries []string
	for _, res := range []string{"res-1", "res-2", "res-3", "res-4", "res-5"} {
		e, _ := dispatch.EntryHash("round-1", res)
		entries = append(entries, e)
	}
	winners, _ := dispatch.Draw(seed[:], "round-1", entries, 2)
	for _, w := range winners {
		fmt.Println("winner", w[:16], "...")
	}
	// Output:
	// commitment dd51b02a9197e218 ...
	// winner 534a23948972b931 ...
	// winner 5b4b1b942deb75db ...
}

func ExamplePublishedDraw_Verify() {
	seed := sha256.Sum256([]byte("another example seed"))
	var entries []string
	for i := range 10 {
		e, _ := dispatch.EntryHash("round-2", fmt.Sprintf("res-%d", i))
		entries = append(entries, e)
	}
	d, _ := dispatch.Publish(seed[:], "round-2", entries, 3)
	fmt.Println(d.Verify())
	d.Winners[0], d.Winners[1] = d.Winners[1], d.Winners[0]
	fmt.Println(hub.ErrorMessage(d.Verify())[:33])
	// Output:
	// <nil>
	// the winners are out of order: win
}

func ExampleNewPickupCode() {
	// In production: dispatch.NewPickupCode(crypto/rand.Reader).
	code, _ := dispatch.NewPickupCode(bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	fmt.Println(code)
	typed, _ := dispatch.ParsePickupCode("g4or 4om3 oe2o 9") // as typed at a counter
	fmt.Println(typed, typed == code)
	fmt.Println(code.Matches([]byte("the hub's secret"), code.Hash([]byte("the hub's secret"))))
	// Output:
	// G40R-40M3-0E20-9
	// G40R-40M3-0E20-9 true
	// true
}
