package city_test

import (
	"fmt"
	"testing"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// TestViewsFollowTheBus runs two services over one store, as two hubs, each
// fed every event of one shared broker: what one writes (districts,
// committees, pharmacies and their moves, restocks) the other's indexes show as soon as
// the write returns, and both agree with a service built afresh from the
// store.
func TestViewsFollowTheBus(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	bus := broker.New(broker.Options{})
	t.Cleanup(func() { bus.Close() })
	hubs := make([]*city.Service, 2)
	for i := range hubs {
		svc, err := city.New(ctx, e.store, e.hasher, city.Options{Now: e.clock.Now, Events: bus, FedByBus: true,
			NewID: func(prefix string) string { return fmt.Sprintf("%s%d-%04d", prefix, i, e.ids.Add(1)) }})
		if err != nil {
			t.Fatal(err)
		}
		bus.View(svc)
		hubs[i] = svc
	}
	c := cellAt(t, taipei101)
	tests := []struct {
		give string
		by   int // the hub that writes
		do   func(svc *city.Service) error
	}{
		{"district", 0, func(svc *city.Service) error {
			_, err := svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d1", Name: "d1", Area: city.Area{Cells: disk(t, c, 3)}})
			return err
		}},
		{"district elsewhere", 1, func(svc *city.Service) error {
			_, err := svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d2", Name: "d2", Area: city.Area{Cells: disk(t, ring(t, c, 8)[0], 2)}})
			return err
		}},
		{"district moved", 1, func(svc *city.Service) error {
			_, err := svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d1", Name: "d1", Area: city.Area{Cells: disk(t, c, 1)}})
			return err
		}},
		{"committees", 1, func(svc *city.Service) error {
			_, err := svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "k1", Code: "K1", Name: "k1", Area: city.Area{Cells: []hub.Cell{c}}},
				city.CommitteeInput{ID: "k2", Code: "K2", Name: "k2", Area: city.Area{Cells: ring(t, c, 1)[:3]}})
			return err
		}},
		{"committee moved", 0, func(svc *city.Service) error {
			_, err := svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "k2", Code: "K2", Name: "k2", Area: city.Area{Cells: ring(t, c, 1)[3:]}})
			return err
		}},
		{"pharmacies", 0, func(svc *city.Service) error {
			var ins []city.PharmacyInput
			for i, cell := range ring(t, c, 1) {
				ins = append(ins, city.PharmacyInput{ID: fmt.Sprintf("p%d", i), Name: "p", Location: center(t, cell), Stock: map[hub.SKU]int{hub.MaskAdult: i}})
			}
			_, err := svc.UpsertPharmacies(ctx, ins...)
			return err
		}},
		{"pharmacy moved", 1, func(svc *city.Service) error {
			_, err := svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p2", Name: "p", Location: center(t, ring(t, c, 2)[3])})
			return err
		}},
		{"restock", 1, func(svc *city.Service) error {
			_, err := svc.Restock(ctx, "p3", hub.MaskAdult, 40)
			return err
		}},
		{"restock again", 0, func(svc *city.Service) error {
			_, err := svc.Restock(ctx, "p3", hub.MaskAdult, 2)
			return err
		}},
	}
	cells := disk(t, c, 10)
	for _, tt := range tests {
		if err := tt.do(hubs[tt.by]); err != nil {
			t.Fatalf("%s: %v", tt.give, err)
		}
		fresh, err := city.New(ctx, e.store, e.hasher, city.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := fresh.Locator().Len()
		for i, svc := range hubs {
			for _, cell := range cells {
				if got, want := svc.DistrictAt(cell), fresh.DistrictAt(cell); got != want {
					t.Fatalf("after %s, hub %d: DistrictAt(%s) = %q, the store says %q", tt.give, i, cell, got, want)
				}
				if got, want := svc.CommitteeAt(cell), fresh.CommitteeAt(cell); got != want {
					t.Fatalf("after %s, hub %d: CommitteeAt(%s) = %q, the store says %q", tt.give, i, cell, got, want)
				}
			}
			if got := svc.Locator().Len(); got != want {
				t.Fatalf("after %s, hub %d: locator holds %d pharmacies, the store %d", tt.give, i, got, want)
			}
			got, err := svc.PharmaciesNear(ctx, center(t, c), 4, "")
			if err != nil {
				t.Fatal(err)
			}
			wantNear, err := fresh.PharmaciesNear(ctx, center(t, c), 4, "")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(matchIDs(got)) != fmt.Sprint(matchIDs(wantNear)) {
				t.Fatalf("after %s, hub %d: near %v, the store says %v", tt.give, i, matchIDs(got), matchIDs(wantNear))
			}
		}
	}
	for i, svc := range hubs {
		lr := svc.LastRestock(&hub.Pharmacy{ID: "p3"})
		if lr == nil || lr.Quantity != 2 || lr.StockAfterRestock != 45 {
			t.Errorf("hub %d: LastRestock %+v, want the 2 units on 43", i, lr)
		}
	}
}

func center(t *testing.T, c hub.Cell) hub.Point {
	t.Helper()
	p, err := grid.Center(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
