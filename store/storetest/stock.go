package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// reasonInitial is the reason of a new pharmacy's first ledger entries.
const reasonInitial = "INITIAL"

func pharmacyID(p *hub.Pharmacy) string { return p.ID }

func testPharmacies(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	ps, err := s.Pharmacies(ctx)
	must(t, err, "Pharmacies of an empty store")
	same(t, "Pharmacies of an empty store", len(ps), 0)

	p2 := pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: 100, hub.TestKit: 5})
	p1 := pharmacy("p1", nil)
	must(t, s.UpsertPharmacies(ctx, p2, p1), "UpsertPharmacies p2 p1")

	got, err := s.Pharmacy(ctx, "p2")
	must(t, err, "Pharmacy p2")
	same(t, "Pharmacy p2", normPharmacy(got), normPharmacy(p2))
	got, err = s.Pharmacy(ctx, "p1")
	must(t, err, "Pharmacy p1")
	same(t, "Pharmacy p1", normPharmacy(got), normPharmacy(p1))
	if got.Stock[hub.MaskAdult] != 0 {
		t.Fatalf("Pharmacy p1 has stock %v, want none", got.Stock)
	}

	// The initial stock is in the ledger as INITIAL entries.
	es := ledger(t, s, "p2")
	if len(es) != 2 {
		t.Fatalf("ledger of p2 has %d entries, want 2 INITIAL ones: %+v", len(es), es)
	}
	want := map[hub.SKU]int{hub.MaskAdult: 100, hub.TestKit: 5}
	for i, e := range es {
		if e.PharmacyID != "p2" || e.Reason != reasonInitial || e.Delta != want[e.SKU] || e.After != want[e.SKU] {
			t.Fatalf("ledger of p2, entry %d: %+v, want an INITIAL entry of the initial stock %v", i, e, want)
		}
		delete(want, e.SKU)
		if i > 0 && e.Seq <= es[i-1].Seq {
			t.Fatalf("ledger of p2: Seq %d after %d", e.Seq, es[i-1].Seq)
		}
	}
	same(t, "ledger of p1", len(ledger(t, s, "p1")), 0)

	// An upsert of an existing pharmacy changes everything but its stock.
	p2.Name, p2.Hours, p2.UpdatedAt = "Renamed", "YYYYYYYNNNNNNNNNNNNNN", at(120)
	p2.Stock = map[hub.SKU]int{hub.MaskAdult: 1, hub.MaskN95: 50}
	p1.Stock = map[hub.SKU]int{hub.MaskChild: 9}
	must(t, s.UpsertPharmacies(ctx, p1, p2), "UpsertPharmacies p1 p2 again")
	got, err = s.Pharmacy(ctx, "p2")
	must(t, err, "Pharmacy p2 after upsert")
	p2.Stock = map[hub.SKU]int{hub.MaskAdult: 100, hub.TestKit: 5}
	same(t, "Pharmacy p2 after upsert", normPharmacy(got), normPharmacy(p2))
	got, err = s.Pharmacy(ctx, "p1")
	must(t, err, "Pharmacy p1 after upsert")
	same(t, "stock of p1 after upsert", normStock(got.Stock), nil)
	same(t, "ledger of p2 after upsert", ledger(t, s, "p2"), es)
	same(t, "ledger of p1 after upsert", len(ledger(t, s, "p1")), 0)

	ps, err = s.Pharmacies(ctx)
	must(t, err, "Pharmacies")
	same(t, "Pharmacies", ids(ps, pharmacyID), []string{"p1", "p2"})
	same(t, "Pharmacies[1]", normPharmacy(ps[1]), normPharmacy(p2))

	_, err = s.Pharmacy(ctx, "p-none")
	wantCode(t, err, hub.ENOTFOUND, "Pharmacy of a missing ID")
}

func testAdjustStock(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	p := pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})
	must(t, s.UpsertPharmacies(ctx, p), "UpsertPharmacies")

	tests := []struct {
		name string
		give hub.StockChange
		want int    // stock of the SKU afterwards
		code string // error code; "" for success
	}{
		{name: "take", give: hub.StockChange{SKU: hub.MaskAdult, Delta: -3, Reason: "ALLOCATE"}, want: 7},
		{name: "restock a new SKU", give: hub.StockChange{SKU: hub.MaskChild, Delta: 5, Reason: "RESTOCK"}, want: 5},
		{name: "take more than there is", give: hub.StockChange{SKU: hub.MaskAdult, Delta: -8, Reason: "ALLOCATE"}, want: 7, code: hub.EOUTOFSTOCK},
		{name: "take what was never stocked", give: hub.StockChange{SKU: hub.TestKit, Delta: -1, Reason: "ALLOCATE"}, want: 0, code: hub.EOUTOFSTOCK},
		{name: "take all", give: hub.StockChange{SKU: hub.MaskAdult, Delta: -7, Reason: "ALLOCATE"}, want: 0},
		{name: "take from none", give: hub.StockChange{SKU: hub.MaskAdult, Delta: -1, Reason: "ALLOCATE"}, want: 0, code: hub.EOUTOFSTOCK},
		{name: "return", give: hub.StockChange{SKU: hub.MaskAdult, Delta: 2, Reason: "RETURN"}, want: 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.PharmacyID, tt.give.At = "p1", at(10+i)
			before := ledger(t, s, "p1")
			stockBefore, err := s.Pharmacy(ctx, "p1")
			must(t, err, "Pharmacy")

			got, err := s.AdjustStock(ctx, tt.give)
			if tt.code != "" {
				wantCode(t, err, tt.code, "AdjustStock")
				if got != nil {
					t.Errorf("AdjustStock returned %+v with an error", got)
				}
				after, err := s.Pharmacy(ctx, "p1")
				must(t, err, "Pharmacy")
				same(t, "pharmacy after a refused change", normPharmacy(after), normPharmacy(stockBefore))
				same(t, "ledger after a refused change", ledger(t, s, "p1"), before)
				return
			}
			must(t, err, "AdjustStock")
			same(t, "stock AdjustStock returned", got.Stock[tt.give.SKU], tt.want)
			same(t, "stock afterwards", stockOf(t, s, "p1", tt.give.SKU), tt.want)

			// The rest of the pharmacy is as it was.
			want := normPharmacy(stockBefore)
			want.Stock = normStock(stockBefore.Stock)
			if want.Stock == nil {
				want.Stock = map[hub.SKU]int{}
			}
			want.Stock[tt.give.SKU] = tt.want
			want.Stock = normStock(want.Stock)
			same(t, "pharmacy AdjustStock returned", normPharmacy(got), want)

			es := ledger(t, s, "p1")
			if len(es) != len(before)+1 {
				t.Fatalf("ledger has %d entries after a change, want %d", len(es), len(before)+1)
			}
			last := es[len(es)-1]
			wantEntry := normEntry(hub.StockEntry{Seq: last.Seq, After: tt.want, StockChange: tt.give})
			same(t, "ledger entry", normEntry(last), wantEntry)
		})
	}

	_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p-none", SKU: hub.MaskAdult, Delta: 1, Reason: "RESTOCK", At: at(30)})
	wantCode(t, err, hub.ENOTFOUND, "AdjustStock of a missing pharmacy")
	_, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: "GOLD_BAR", Delta: 1, Reason: "RESTOCK", At: at(30)})
	wantCode(t, err, hub.EINVALID, "AdjustStock of an unknown SKU")
	same(t, "stock after refused changes", stockOf(t, s, "p1", hub.MaskAdult), 2)
}

func testStockLedger(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskN95: 4})), "UpsertPharmacies")

	changes := []hub.StockChange{
		{SKU: hub.MaskN95, Delta: 6, Reason: "RESTOCK"},
		{SKU: hub.HandSanitizer, Delta: 3, Reason: "RESTOCK"},
		{SKU: hub.MaskN95, Delta: -9, Reason: "ALLOCATE"},
		{SKU: hub.HandSanitizer, Delta: -1, Reason: "ALLOCATE"},
		{SKU: hub.MaskN95, Delta: 2, Reason: "CORRECTION"},
	}
	for i := range changes {
		changes[i].PharmacyID, changes[i].At = "p1", at(20+i)
		_, err := s.AdjustStock(ctx, changes[i])
		must(t, err, "AdjustStock")
	}

	es := ledger(t, s, "p1")
	if len(es) != 6 {
		t.Fatalf("ledger has %d entries, want 6: %+v", len(es), es)
	}
	if e := es[0]; e.Reason != reasonInitial || e.SKU != hub.MaskN95 || e.Delta != 4 || e.After != 4 || e.PharmacyID != "p1" {
		t.Fatalf("first entry %+v, want INITIAL 4 of %s", e, hub.MaskN95)
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has Seq %d: a pharmacy's entries are numbered 1, 2, 3 with no gap", i, e.Seq)
		}
	}
	wantAfter := []int{10, 3, 1, 2, 3}
	for i, e := range es[1:] {
		same(t, fmt.Sprintf("entry %d", i+1), normEntry(e),
			normEntry(hub.StockEntry{Seq: e.Seq, After: wantAfter[i], StockChange: changes[i]}))
	}

	tests := []struct {
		name  string
		after uint64
		limit int
		want  []hub.StockEntry
	}{
		{name: "all", after: 0, limit: 0, want: es},
		{name: "negative limit", after: 0, limit: -1, want: es},
		{name: "first two", after: 0, limit: 2, want: es[:2]},
		{name: "after the second", after: es[1].Seq, limit: 2, want: es[2:4]},
		{name: "after the second, no limit", after: es[1].Seq, limit: 0, want: es[2:]},
		{name: "after the last", after: es[5].Seq, limit: 0, want: nil},
		{name: "far after the last", after: es[5].Seq + 1000, limit: 3, want: nil},
	}
	for _, tt := range tests {
		got, err := s.StockLedger(ctx, "p1", tt.after, tt.limit)
		must(t, err, "StockLedger")
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		same(t, fmt.Sprintf("StockLedger %s", tt.name), got, tt.want)
	}

	_, err := s.StockLedger(ctx, "p-none", 0, 0)
	wantCode(t, err, hub.ENOTFOUND, "StockLedger of a missing pharmacy")
}

func testStockConservation(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	initial := map[hub.SKU]int{hub.MaskAdult: 20, hub.MaskChild: 5}
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", initial), pharmacy("p2", nil)), "UpsertPharmacies")

	skus := []hub.SKU{hub.MaskAdult, hub.MaskChild, hub.MaskN95, hub.TestKit}
	rng := rand.New(rand.NewPCG(3, 4))
	var refused int
	for i := range 200 {
		c := hub.StockChange{
			PharmacyID: []string{"p1", "p2"}[rng.IntN(2)],
			SKU:        skus[rng.IntN(len(skus))],
			Delta:      rng.IntN(13) - 8, // more takes than restocks
			Reason:     "ALLOCATE",
			At:         at(i),
		}
		if c.Delta >= 0 {
			c.Delta++
			c.Reason = "RESTOCK"
		}
		_, err := s.AdjustStock(ctx, c)
		if hub.ErrorCode(err) == hub.EOUTOFSTOCK {
			refused++
			continue
		}
		must(t, err, "AdjustStock")
	}
	if refused == 0 {
		t.Fatal("no change was refused; the test exercises nothing")
	}

	for _, id := range []string{"p1", "p2"} {
		p, err := s.Pharmacy(ctx, id)
		must(t, err, "Pharmacy")
		sum := make(map[hub.SKU]int)
		for i, e := range ledger(t, s, id) {
			sum[e.SKU] += e.Delta
			if e.After != sum[e.SKU] || e.After < 0 {
				t.Fatalf("%s: entry %d %+v: After is %d, the running sum %d", id, i, e, e.After, sum[e.SKU])
			}
		}
		same(t, id+": sum of ledger deltas", normStock(sum), normStock(p.Stock))
		for sku, n := range p.Stock {
			if n < 0 {
				t.Fatalf("%s: stock of %s is %d", id, sku, n)
			}
		}
	}
}
