package city_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// TestRegistryEvents checks the events of what the registry records:
// residents by district, pharmacies created and moved, districts.
func TestRegistryEvents(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	rec := &saleRecorder{}
	svc, err := city.New(ctx, e.store, e.hasher, city.Options{Now: e.clock.Now, Events: rec})
	if err != nil {
		t.Fatal(err)
	}

	// Residents: one event per district, naming cells, not people.
	daan := m.daan[0]
	rs := must[[]*hub.Resident](t)(svc.RegisterResidents(ctx,
		city.ResidentInput{Name: "甲", IDNumber: "A123456789", Cell: &m.xinyi1[0]},
		city.ResidentInput{Name: "乙", IDNumber: twID('A', 2), Cell: &daan},
		city.ResidentInput{Name: "丙", IDNumber: twID('A', 3), Cell: &m.xinyi2[0]},
	))
	evs := rec.take()
	if len(evs) != 2 {
		t.Fatalf("%d events for residents of two districts, want 2: %+v", len(evs), evs)
	}
	byDistrict := map[string]hub.Event{}
	for _, ev := range evs {
		if ev.Kind != hub.EventResidentRegistered {
			t.Fatalf("kind %s", ev.Kind)
		}
		byDistrict[ev.DistrictID] = ev
	}
	xy := byDistrict["xinyi"]
	p, _ := xy.Payload.(hub.ResidentPayload)
	if len(p.Residents) != 2 || p.Residents[0] != (hub.ResidentRef{ID: rs[0].ID, Cell: m.xinyi1[0], CommitteeID: "xinyi-1"}) ||
		!slices.Equal(xy.CommitteeIDs, []string{"xinyi-1", "xinyi-2"}) || !slices.IsSorted(xy.Cells) || len(xy.Cells) != 2 {
		t.Errorf("xinyi's event %+v", xy)
	}
	if da := byDistrict["daan"]; len(da.Cells) != 1 || da.Cells[0] != daan {
		t.Errorf("daan's event %+v", da)
	}
	if err := xy.Validate(); err != nil {
		t.Error(err)
	}

	// A refused batch publishes nothing.
	_, err = svc.RegisterResidents(ctx, city.ResidentInput{Name: "甲", IDNumber: "A123456789", Cell: &m.xinyi1[0]})
	wantCode(t, err, hub.ECONFLICT)
	if evs := rec.take(); len(evs) != 0 {
		t.Errorf("a refused registration published %+v", evs)
	}

	// A pharmacy created, updated in place, then moved.
	stock := map[hub.SKU]int{hub.MaskAdult: 10, hub.TestKit: 2}
	must[[]*hub.Pharmacy](t)(svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "藥局", Location: taipei101, Stock: stock}))
	must[[]*hub.Pharmacy](t)(svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "新藥局", Location: taipei101, Stock: map[hub.SKU]int{hub.MaskAdult: 99}}))
	there, _ := grid.Center(daan)
	must[[]*hub.Pharmacy](t)(svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "新藥局", Location: there}))
	evs = rec.take()
	want := []hub.PharmacyPayload{
		{PharmacyID: "p1", Cell: m.xinyiCenter, DistrictID: "xinyi", Created: true, Initial: stock},
		{PharmacyID: "p1", Cell: m.xinyiCenter, DistrictID: "xinyi"},
		{PharmacyID: "p1", Cell: daan, DistrictID: "daan", FromCell: m.xinyiCenter, FromDistrictID: "xinyi"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events for 3 upserts: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		got, _ := ev.Payload.(hub.PharmacyPayload)
		w := want[i]
		if ev.Kind != hub.EventPharmacyUpserted || ev.PharmacyID != "p1" || ev.DistrictID != w.DistrictID ||
			got.PharmacyID != w.PharmacyID || got.Cell != w.Cell || got.DistrictID != w.DistrictID || got.Created != w.Created ||
			!maps.Equal(got.Initial, w.Initial) || got.FromCell != w.FromCell || got.FromDistrictID != w.FromDistrictID {
			t.Errorf("upsert %d: %+v, want %+v", i, ev, w)
		}
	}
	if got := evs[2].Cells; !slices.Contains(got, daan) || !slices.Contains(got, m.xinyiCenter) {
		t.Errorf("the move's cells %v: want both places", got)
	}

	// A district replaced: its cells in the payload.
	must[*hub.District](t)(svc.UpsertDistrict(ctx, city.DistrictInput{ID: "xinyi", Code: "TPE-XY", Name: "信義區", Area: city.Area{Cells: m.xinyi1}}))
	evs = rec.take()
	if len(evs) != 1 || evs[0].Kind != hub.EventDistrictUpserted || evs[0].DistrictID != "xinyi" {
		t.Fatalf("district upsert published %+v", evs)
	}
	if p, _ := evs[0].Payload.(hub.DistrictPayload); p.DistrictID != "xinyi" || !slices.Equal(p.Cells, m.xinyi1) {
		t.Errorf("district payload %+v", p)
	}
}
