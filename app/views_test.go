package app

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// TestRebuildViews writes records to the store behind the bus's back (no
// events: what a hub misses in a gap) and checks that RebuildViews brings
// every view to what the store holds: the district and committee indexes,
// the pharmacy locator, the dashboard counters and the engine's book.
func TestRebuildViews(t *testing.T) {
	ctx := t.Context()
	c, err := ServeConfig([]string{"--data", t.TempDir(), "--secret", "test-secret-0123456789"}, io.Discard, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	p := &Program{Config: c}
	if err := p.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	centre, err := grid.CellAt(hub.Point{Lat: 25.045, Lng: 121.515}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := grid.Disk(centre, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := p.Store.UpsertDistrict(ctx, &hub.District{ID: "d1", Name: "D1", Cells: disk, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := p.Store.UpsertCommittees(ctx, &hub.Committee{ID: "c1", Code: "C1", Name: "C1", DistrictID: "d1", Cells: disk, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var ps []*hub.Pharmacy
	for i, cell := range disk {
		at, err := grid.Center(cell)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, &hub.Pharmacy{ID: fmt.Sprintf("p%02d", i), Name: "P", Location: at, Cell: cell, DistrictID: "d1",
			Stock: map[hub.SKU]int{hub.MaskAdult: 10 + i}, UpdatedAt: now})
	}
	if err := p.Store.UpsertPharmacies(ctx, ps...); err != nil {
		t.Fatal(err)
	}
	check := func(rebuilt bool) {
		t.Helper()
		want := func(s string) string {
			if rebuilt {
				return s
			}
			return ""
		}
		for _, cell := range disk {
			if got := p.City.DistrictAt(cell); got != want("d1") {
				t.Errorf("rebuilt %v: DistrictAt(%s) = %q", rebuilt, cell, got)
			}
			if got := p.City.CommitteeAt(cell); got != want("c1") {
				t.Errorf("rebuilt %v: CommitteeAt(%s) = %q", rebuilt, cell, got)
			}
		}
		n := 0
		if rebuilt {
			n = len(ps)
		}
		if got := p.City.Locator().Len(); got != n {
			t.Errorf("rebuilt %v: the locator holds %d pharmacies, want %d", rebuilt, got, n)
		}
		for i, ph := range ps {
			cs, err := p.Stats.Cell(ph.Cell, hub.MaskAdult)
			if err != nil {
				t.Fatal(err)
			}
			wantStock := 0
			if rebuilt {
				wantStock = 10 + i
			}
			if cs.Pharmacies != n/len(ps) || len(cs.Stock) != 1 || cs.Stock[0].Quantity != wantStock {
				t.Errorf("rebuilt %v: the counters of %s: %+v, want 1 pharmacy with %d", rebuilt, ph.Cell, cs, wantStock)
			}
		}
	}
	check(false)
	if err := p.RebuildViews(ctx); err != nil {
		t.Fatal(err)
	}
	check(true)
	// The engine's book: a round opened now matches at the pharmacies it
	// never heard of.
	res := &hub.Resident{ID: "r1", Name: "R", IDHash: "h1", IDMasked: "A1******89", Cell: centre, CommitteeID: "c1", DistrictID: "d1", RegisteredAt: now}
	if err := p.Store.CreateResidents(ctx, res); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Bus.(*broker.Broker); !ok {
		t.Fatalf("the bus is %T, want the in-process broker", p.Bus)
	}
	r, err := p.Dispatch.OpenRound(ctx, dispatch.RoundInput{Name: "R", SKU: hub.MaskAdult, PerPerson: 2, Mode: hub.FirstCome, Closes: now.Add(time.Hour), MaxK: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Dispatch.Reserve(ctx, dispatch.ReserveInput{RoundID: r.ID, Resident: res})
	if err != nil {
		t.Fatal(err)
	}
	if out.Allocation == nil || out.Allocation.PharmacyID == "" {
		t.Fatalf("reserve after the rebuild: %+v (%s), want an allocation", out.Reservation, out.Reason)
	}
}
