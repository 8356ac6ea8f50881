package broker_test

import (
	"context"
	"fmt"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// A committee follows restocks of adult masks in its area; a pharmacy two
// rings away is restocked, and its publisher routes the event by the
// pharmacy's service disk.
func Example() {
	ctx := context.Background()
	b := broker.New(broker.Options{})
	defer b.Close()

	taipei101, _ := grid.CellAt(hub.Point{Lat: 25.0340, Lng: 121.5645}, grid.BaseResolution)
	area, _ := grid.Disk(taipei101, 1) // the committee's 7 cells
	sub, err := b.Subscribe(ctx, broker.Filter{
		Kinds: []hub.EventKind{hub.EventRestock},
		Cells: area,
		SKU:   hub.MaskAdult,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	far, _ := grid.Ring(taipei101, 3)
	pharmacy := far[0]
	rings, _ := grid.Rings(pharmacy, 2)
	disk, _ := grid.Disk(pharmacy, 2)
	seq, err := b.Publish(ctx, hub.Event{
		Kind:       hub.EventRestock,
		PharmacyID: "P1",
		SKU:        hub.MaskAdult,
		Cells:      disk,
		Payload: hub.RestockPayload{
			StockEntry: hub.StockEntry{After: 200, StockChange: hub.StockChange{PharmacyID: "P1", SKU: hub.MaskAdult, Delta: 200, Reason: "RESTOCK"}},
			Cell:       pharmacy,
			Rings:      rings,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	d := <-sub.C()
	p := d.Event.Payload.(hub.RestockPayload)
	nearest := -1
	for _, c := range area {
		if r := p.Ring(c); r >= 0 && (nearest < 0 || r < nearest) {
			nearest = r
		}
	}
	fmt.Printf("seq %d (published %d): %s of %d %s at %s, %d rings from the committee; gap %d\n",
		d.Event.Seq, seq, d.Event.Kind, p.Delta, p.SKU, p.PharmacyID, nearest, d.Gap)
	// Output:
	// seq 1 (published 1): RESTOCK of 200 MASK_ADULT at P1, 2 rings from the committee; gap 0
}
