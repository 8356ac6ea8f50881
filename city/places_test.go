package city_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

func matchIDs(ms []dispatch.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Pharmacy.ID
	}
	return out
}

func TestUpsertPharmacies(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	hours := "NNNNNNYNNNNNNYNNNNNNY"

	ps, err := e.svc.UpsertPharmacies(ctx,
		city.PharmacyInput{ID: "p1", Name: "信義藥局", Phone: "(02)2345-6789", Address: "台北市信義區", Location: taipei101, Hours: hours, Stock: map[hub.SKU]int{hub.MaskAdult: 100, hub.MaskChild: 0}},
		city.PharmacyInput{Name: "高雄藥局", Location: kaohsiung},
	)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if p.Cell != m.xinyiCenter || p.DistrictID != "xinyi" || p.Hours != hours || p.Stock[hub.MaskAdult] != 100 || !p.UpdatedAt.Equal(epoch) {
		t.Errorf("got %+v", p)
	}
	if ps[1].DistrictID != "" || !strings.HasPrefix(ps[1].ID, "pha_") {
		t.Errorf("got %+v", ps[1])
	}
	if n := e.svc.Locator().Len(); n != 2 {
		t.Errorf("locator holds %d pharmacies, want 2", n)
	}

	// An update changes the record but not the stock, which moves only
	// through Restock and dispatch; it may move the pharmacy.
	moved := hub.Point{Lat: 25.0478, Lng: 121.5170}
	ps, err = e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "信義藥局 (新址)", Location: moved, Stock: map[hub.SKU]int{hub.MaskAdult: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Stock[hub.MaskAdult] != 100 || ps[0].Name != "信義藥局 (新址)" || ps[0].DistrictID != "" {
		t.Errorf("after the update: %+v", ps[0])
	}
	if ms, _ := e.svc.PharmaciesNear(t.Context(), taipei101, 2, ""); len(ms) != 0 {
		t.Errorf("still found at the old address: %v", matchIDs(ms))
	}
	if ms, _ := e.svc.PharmaciesNear(t.Context(), moved, 0, hub.MaskAdult); !slices.Equal(matchIDs(ms), []string{"p1"}) || ms[0].Pharmacy.Stock[hub.MaskAdult] != 100 {
		t.Errorf("at the new address: %+v", ms)
	}
}

func TestUpsertPharmaciesInvalid(t *testing.T) {
	e := newEnv(t)
	in := func(mod func(*city.PharmacyInput)) city.PharmacyInput {
		p := city.PharmacyInput{Name: "藥局", Location: taipei101, Hours: strings.Repeat("N", 21), Stock: map[hub.SKU]int{hub.MaskAdult: 1}}
		mod(&p)
		return p
	}
	tests := []struct {
		name string
		give city.PharmacyInput
		is   error
	}{
		{"no name", in(func(p *city.PharmacyInput) { p.Name = "" }), nil},
		{"name of 201 characters", in(func(p *city.PharmacyInput) { p.Name = strings.Repeat("藥", 201) }), nil},
		{"name not UTF-8", in(func(p *city.PharmacyInput) { p.Name = "\xed\xa0\x80" }), nil},
		{"phone of 41 characters", in(func(p *city.PharmacyInput) { p.Phone = strings.Repeat("1", 41) }), nil},
		{"address of 501 characters", in(func(p *city.PharmacyInput) { p.Address = strings.Repeat("a", 501) }), nil},
		{"hours of 20 characters", in(func(p *city.PharmacyInput) { p.Hours = strings.Repeat("N", 20) }), nil},
		{"hours in lower case", in(func(p *city.PharmacyInput) { p.Hours = strings.Repeat("n", 21) }), nil},
		{"location NaN", in(func(p *city.PharmacyInput) { p.Location.Lng = math.NaN() }), grid.ErrInvalidLatLng},
		{"location zero is fine but lat 91 is not", in(func(p *city.PharmacyInput) { p.Location.Lat = 91 }), grid.ErrInvalidLatLng},
		{"negative stock", in(func(p *city.PharmacyInput) { p.Stock[hub.MaskChild] = -1 }), nil},
		{"unknown supply", in(func(p *city.PharmacyInput) { p.Stock["ASPIRIN"] = 1 }), nil},
		{"ID with a space", in(func(p *city.PharmacyInput) { p.ID = "p 1" }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := e.svc.UpsertPharmacies(t.Context(), in(func(*city.PharmacyInput) {}), tt.give)
			wantCode(t, err, hub.EINVALID)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			if ps != nil {
				t.Errorf("got pharmacies with an error: %v", ps)
			}
		})
	}
	if ps, _ := e.store.Pharmacies(t.Context()); len(ps) != 0 {
		t.Errorf("a refused batch wrote %d pharmacies", len(ps))
	}
	if e.svc.Locator().Len() != 0 {
		t.Errorf("a refused batch reached the locator")
	}
}

func TestRestock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "藥局", Location: taipei101, Stock: map[hub.SKU]int{hub.MaskAdult: 10, hub.MaskN95: 0}}))

	tests := []struct {
		name string
		id   string
		sku  hub.SKU
		q    int
		want string
	}{
		{"negative", "p1", hub.MaskN95, -5, hub.EINVALID},
		{"zero", "p1", hub.MaskN95, 0, hub.EINVALID},
		{"above MaxRestock", "p1", hub.MaskN95, city.MaxRestock + 1, hub.EINVALID},
		{"huge", "p1", hub.MaskN95, math.MaxInt, hub.EINVALID},
		{"most negative", "p1", hub.MaskN95, math.MinInt, hub.EINVALID},
		{"unknown supply", "p1", "ASPIRIN", 5, hub.EINVALID},
		{"empty supply", "p1", "", 5, hub.EINVALID},
		{"unknown pharmacy", "nope", hub.MaskN95, 5, hub.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.svc.Restock(ctx, tt.id, tt.sku, tt.q)
			wantCode(t, err, tt.want)
			if p != nil {
				t.Errorf("got a pharmacy with an error: %+v", p)
			}
		})
	}
	if ledger, _ := e.store.StockLedger(ctx, "p1", 0, 0); slices.ContainsFunc(ledger, func(en hub.StockEntry) bool { return en.Reason == "RESTOCK" }) {
		t.Errorf("a refused restock reached the ledger: %+v", ledger)
	}

	// PharmaciesNear's SKU filter follows the restock.
	if ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 1, hub.MaskN95); err != nil || len(ms) != 0 {
		t.Fatalf("before the restock: %v, %v", matchIDs(ms), err)
	}
	p, err := e.svc.Restock(ctx, "p1", hub.MaskN95, 50)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stock[hub.MaskN95] != 50 || p.Stock[hub.MaskAdult] != 10 {
		t.Errorf("after the restock: %v", p.Stock)
	}
	ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 1, hub.MaskN95)
	if err != nil || !slices.Equal(matchIDs(ms), []string{"p1"}) || ms[0].Pharmacy.Stock[hub.MaskN95] != 50 {
		t.Errorf("after the restock: %+v, %v", ms, err)
	}
	p, err = e.svc.Restock(ctx, "p1", hub.MaskN95, city.MaxRestock)
	if err != nil || p.Stock[hub.MaskN95] != 50+city.MaxRestock {
		t.Errorf("a restock of MaxRestock: %v, %v", p, err)
	}
	stored, _ := e.store.Pharmacy(ctx, "p1")
	if stored.Stock[hub.MaskN95] != 50+city.MaxRestock {
		t.Errorf("stored stock %d", stored.Stock[hub.MaskN95])
	}
}

func TestPharmaciesNear(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	near := hub.Point{Lat: 25.0336, Lng: 121.5648}
	must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx,
		city.PharmacyInput{ID: "b", Name: "b", Location: near, Stock: map[hub.SKU]int{hub.MaskAdult: 1}},
		city.PharmacyInput{ID: "a", Name: "a", Location: near},
		city.PharmacyInput{ID: "far", Name: "far", Location: kaohsiung, Stock: map[hub.SKU]int{hub.MaskAdult: 1}},
	))
	ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 2, "")
	if err != nil || !slices.Equal(matchIDs(ms), []string{"a", "b"}) {
		t.Errorf("no filter: %v, %v", matchIDs(ms), err)
	}
	ms, err = e.svc.PharmaciesNear(t.Context(), taipei101, 2, hub.MaskAdult)
	if err != nil || !slices.Equal(matchIDs(ms), []string{"b"}) {
		t.Errorf("adult masks: %v, %v", matchIDs(ms), err)
	}
	tests := []struct {
		name string
		at   hub.Point
		k    int
		sku  hub.SKU
		is   error
	}{
		{"unknown supply", taipei101, 1, "ASPIRIN", nil},
		{"k -1", taipei101, -1, "", grid.ErrInvalidK},
		{"k above MaxK", taipei101, grid.MaxK + 1, "", grid.ErrInvalidK},
		{"NaN", hub.Point{Lat: math.NaN()}, 1, "", grid.ErrInvalidLatLng},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.PharmaciesNear(t.Context(), tt.at, tt.k, tt.sku)
			wantCode(t, err, hub.EINVALID)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
		})
	}
}

func TestUpsertCheckpoints(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	cs, err := e.svc.UpsertCheckpoints(ctx,
		city.CheckpointInput{Name: "市府站", Kind: "STATION", Location: taipei101},
		city.CheckpointInput{ID: "kh", Name: "高雄", Kind: "OTHER", Location: kaohsiung},
	)
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].DistrictID != "xinyi" || cs[0].Cell != cellAt(t, taipei101) || !strings.HasPrefix(cs[0].ID, "chk_") {
		t.Errorf("got %+v", cs[0])
	}
	if cs[1].DistrictID != "" {
		t.Errorf("got %+v", cs[1])
	}
	for _, kind := range city.CheckpointKinds() {
		if _, err := e.svc.UpsertCheckpoints(ctx, city.CheckpointInput{ID: "k-" + kind, Name: kind, Kind: kind, Location: taipei101}); err != nil {
			t.Errorf("kind %s: %v", kind, err)
		}
	}
	tests := []struct {
		name string
		give city.CheckpointInput
	}{
		{"unknown kind", city.CheckpointInput{Name: "x", Kind: "CASINO", Location: taipei101}},
		{"kind in lower case", city.CheckpointInput{Name: "x", Kind: "station", Location: taipei101}},
		{"no kind", city.CheckpointInput{Name: "x", Location: taipei101}},
		{"no name", city.CheckpointInput{Kind: "STATION", Location: taipei101}},
		{"location off the Earth", city.CheckpointInput{Name: "x", Kind: "STATION", Location: hub.Point{Lat: -100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.UpsertCheckpoints(ctx, tt.give)
			wantCode(t, err, hub.EINVALID)
		})
	}
}
