package stats_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/stats"
)

// A tally in front of the broker counts what the services publish; a
// dashboard's query then sums counters.
func Example() {
	ctx := context.Background()
	home, _ := grid.CellAt(hub.Point{Lat: 30.5928, Lng: 114.3055}, grid.BaseResolution)
	cells, _ := grid.Disk(home, 2)
	d := &hub.District{ID: "jianghan", Cells: cells}

	t := stats.New(stats.Options{Now: func() time.Time { return time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC) }})
	// A hub loads the tally from its store first (t.Load), then gives
	// t.Publisher(bus) to every service as where it publishes.
	pub := t.Publisher(nil)
	_, _ = pub.Publish(ctx, hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{
		Residents: []hub.ResidentRef{{ID: "r1", Cell: home}, {ID: "r2", Cell: home}, {ID: "r3", Cell: cells[0]}},
	}})
	_, _ = pub.Publish(ctx, hub.Event{Kind: hub.EventPharmacyUpserted, Payload: hub.PharmacyPayload{
		PharmacyID: "p1", Cell: home, Created: true, Initial: map[hub.SKU]int{hub.MaskAdult: 40},
	}})
	_, _ = pub.Publish(ctx, hub.Event{Kind: hub.EventReservationCreated, Payload: hub.ReservationPayload{
		SKU: hub.MaskAdult, To: hub.ReservationPending, Reservations: []hub.ReservationRef{{ID: "v1", Cell: home}, {ID: "v2", Cell: cells[0]}},
	}})
	_, _ = pub.Publish(ctx, hub.Event{Kind: hub.EventAllocationCreated, Payload: hub.AllocationPayload{
		Allocation: hub.Allocation{ID: "a1", ReservationID: "v1", SKU: hub.MaskAdult, Quantity: 2, Cell: home, Status: hub.AllocationReserved},
	}})

	tot, _ := t.Totals(d, hub.MaskAdult)
	fmt.Printf("residents %d, pharmacies %d, stock %v, demand %d, allocations %d, fulfilment rate %.2f\n",
		tot.Residents, tot.Pharmacies, tot.Stock, tot.Demand(), tot.Allocations, *tot.FulfilmentRate())
	active, _ := t.CellStats(d, stats.Query{Active: true})
	fmt.Println(len(cells), "cells,", len(active), "active")
	// Output:
	// residents 3, pharmacies 1, stock [{MASK_ADULT 40}], demand 1, allocations 1, fulfilment rate 0.50
	// 19 cells, 2 active
}
