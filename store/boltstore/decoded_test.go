package boltstore_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	"github.com/gridhub/gridhub/store/portable"
)

// twoHubs returns two portable layers over one bbolt driver: what two
// hubs sharing a store are to each other, each with its own records kept
// decoded.
func twoHubs(t *testing.T) (a, b *portable.Store) {
	t.Helper()
	d, err := boltstore.OpenDriver(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err = portable.New(t.Context(), d, portable.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, portable.Attach(d, portable.Options{})
}

var decodedT0 = time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)

func decodedPharmacy(i int, name string, stock int) *hub.Pharmacy {
	return &hub.Pharmacy{
		ID: fmt.Sprintf("ph%02d", i), Name: name, Phone: "02-2345-6789", Address: "2 Renai Rd",
		Location: hub.Point{Lat: 25.04, Lng: 121.53}, Cell: 0x8928308283bffff, DistrictID: fmt.Sprintf("d%d", i%3),
		Hours: "NNNNNNNNNNNNNNYYYYYYY", Stock: map[hub.SKU]int{hub.MaskAdult: stock, hub.MaskChild: i}, UpdatedAt: decodedT0,
	}
}

func decodedRound(i int, status hub.RoundStatus) *hub.Round {
	return &hub.Round{
		ID: fmt.Sprintf("round%02d", i), Name: "Round", SKU: hub.MaskAdult, PerPerson: 1 + i%3, Mode: hub.FirstCome,
		Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery},
		Eligibility: hub.Eligibility{IDHashes: []string{"h1", "h2"}, DistrictIDs: []string{"d1"}},
		HealthGate:  true, HealthRules: []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{}, Reason: "the committee brings it"},
		},
		Opens: decodedT0, Closes: decodedT0.Add(time.Hour), MaxK: 3, PickupWindow: 48 * time.Hour,
		Quotas: map[string]int{"c1": 100}, Status: status, CreatedAt: decodedT0, UpdatedAt: decodedT0,
	}
}

// TestDecodedFollowsOtherHub: each hub reads pharmacies and rounds the
// other changed as the other wrote them (name, district, stock, status,
// quotas, rules), however often it read them before: what one hub keeps
// decoded is never served once the stored record differs.
func TestDecodedFollowsOtherHub(t *testing.T) {
	ctx := t.Context()
	a, b := twoHubs(t)
	const n = 12
	for i := range n {
		if err := a.UpsertPharmacies(ctx, decodedPharmacy(i, "first", 100)); err != nil {
			t.Fatal(err)
		}
		if err := a.UpsertRound(ctx, decodedRound(i, hub.RoundOpen)); err != nil {
			t.Fatal(err)
		}
	}
	hubs := []*portable.Store{a, b}
	stock := make([]int, n) // taken so far; an upsert keeps the stored stock
	for step := range 6 {
		writer, reader := hubs[step%2], hubs[(step+1)%2]
		for i := range n {
			// The reader has it decoded.
			for range 2 {
				if _, err := reader.Pharmacy(ctx, fmt.Sprintf("ph%02d", i)); err != nil {
					t.Fatal(err)
				}
				if _, err := reader.Round(ctx, fmt.Sprintf("round%02d", i)); err != nil {
					t.Fatal(err)
				}
			}
			// The other hub changes it: an upsert or a stock change.
			want := decodedPharmacy(i, fmt.Sprintf("step %d", step), 100)
			want.DistrictID = fmt.Sprintf("d%d", (i+step)%5)
			want.Stock[hub.MaskAdult] -= stock[i]
			if err := writer.UpsertPharmacies(ctx, want); err != nil {
				t.Fatal(err)
			}
			if step%3 == 2 {
				if _, err := writer.AdjustStock(ctx, hub.StockChange{PharmacyID: want.ID, SKU: hub.MaskAdult, Delta: -(i + 1), Reason: "CORRECTION", At: decodedT0}); err != nil {
					t.Fatal(err)
				}
				want.Stock[hub.MaskAdult] -= i + 1
				stock[i] += i + 1
			}
			wantRound := decodedRound(i, hub.RoundOpen)
			wantRound.Quotas = map[string]int{"c1": 100 + step, fmt.Sprint("c", step): step}
			wantRound.HealthRules[0].Fulfilments = []hub.Fulfilment{hub.Delivery}
			wantRound.Name = fmt.Sprintf("step %d", step)
			if step%2 == 1 {
				wantRound.Status = hub.RoundClosed
			}
			if err := writer.UpsertRound(ctx, wantRound); err != nil {
				t.Fatal(err)
			}
			got, err := reader.Pharmacy(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != want.Name || got.DistrictID != want.DistrictID || !reflect.DeepEqual(got.Stock, want.Stock) {
				t.Fatalf("step %d: the reader's pharmacy %s = %q %s %v, the writer stored %q %s %v", step, want.ID,
					got.Name, got.DistrictID, got.Stock, want.Name, want.DistrictID, want.Stock)
			}
			gotRound, err := reader.Round(ctx, wantRound.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotRound, wantRound) {
				t.Fatalf("step %d: the reader's round = %+v, the writer stored %+v", step, gotRound, wantRound)
			}
		}
	}
}

// TestDecodedCopies: a pharmacy or round a caller changes, in every part
// that is shared by reference (stock, fulfilments, eligibility, health
// rules, quotas), changes nothing that the next read returns, and the
// stock the store changes itself starts from what is stored each time.
func TestDecodedCopies(t *testing.T) {
	ctx := t.Context()
	a, b := twoHubs(t)
	p0, r0 := decodedPharmacy(1, "first", 100), decodedRound(1, hub.RoundOpen)
	if err := a.UpsertPharmacies(ctx, p0); err != nil {
		t.Fatal(err)
	}
	if err := a.UpsertRound(ctx, r0); err != nil {
		t.Fatal(err)
	}
	edits := []struct {
		name string
		give func(p *hub.Pharmacy, r *hub.Round)
	}{
		{"stock", func(p *hub.Pharmacy, _ *hub.Round) { p.Stock[hub.MaskAdult] = 999 }},
		{"new SKU", func(p *hub.Pharmacy, _ *hub.Round) { p.Stock[hub.HandSanitizer] = 5 }},
		{"fulfilments", func(_ *hub.Pharmacy, r *hub.Round) { r.Fulfilments[0] = hub.Delivery }},
		{"eligible hashes", func(_ *hub.Pharmacy, r *hub.Round) { r.Eligibility.IDHashes[0] = "x" }},
		{"eligible districts", func(_ *hub.Pharmacy, r *hub.Round) { r.Eligibility.DistrictIDs[0] = "x" }},
		{"rule fulfilments", func(_ *hub.Pharmacy, r *hub.Round) { r.HealthRules[0].Fulfilments[0] = hub.Delivery }},
		{"quotas", func(_ *hub.Pharmacy, r *hub.Round) { r.Quotas["c1"] = 1; r.Quotas["c9"] = 9 }},
	}
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 {
				p, err := a.Pharmacy(ctx, p0.ID)
				if err != nil {
					t.Fatal(err)
				}
				r, err := a.Round(ctx, r0.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(p, p0) || !reflect.DeepEqual(r, r0) {
					t.Fatalf("read %+v %+v, stored %+v %+v", p, r, p0, r0)
				}
				tt.give(p, r)
			}
		})
	}
	for i := range 5 {
		got, err := a.AdjustStock(ctx, hub.StockChange{PharmacyID: p0.ID, SKU: hub.MaskAdult, Delta: -1, Reason: "CORRECTION", At: decodedT0})
		if err != nil {
			t.Fatal(err)
		}
		if want := 100 - (i + 1); got.Stock[hub.MaskAdult] != want {
			t.Fatalf("stock change %d: %d left, want %d", i+1, got.Stock[hub.MaskAdult], want)
		}
		// Read back (from what the write kept) and through the other
		// layer (decoded afresh): the same pharmacy.
		mine, err := a.Pharmacy(ctx, p0.ID)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := b.Pharmacy(ctx, p0.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mine, got) || !reflect.DeepEqual(theirs, got) {
			t.Fatalf("stock change %d: read back %+v, the other hub read %+v, the change returned %+v", i+1, mine, theirs, got)
		}
		mine.Stock[hub.MaskAdult] = -7
	}
}
