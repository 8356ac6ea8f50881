package democity

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

// newService returns a service over a fresh store whose clock moves one
// second at each reading, so a record written twice shows it.
func newService(t testing.TB) *city.Service {
	t.Helper()
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := privacy.NewHasher([]byte("democity-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	now := func() time.Time {
		return time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC).Add(time.Duration(tick.Add(1)) * time.Second)
	}
	svc, err := city.New(context.Background(), st, h, city.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func seed(t testing.TB, svc *city.Service, opts Options) *Summary {
	t.Helper()
	sum, err := Seed(context.Background(), svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// contents is everything a store holds, for comparisons.
type contents struct {
	Districts   []*hub.District
	Committees  []*hub.Committee
	Pharmacies  []*hub.Pharmacy
	Checkpoints []*hub.Checkpoint
	Residents   []*hub.Resident
}

// dump reads every record of the store. Times are left out: records
// equal but for when they were written are equal.
func dump(t testing.TB, st hub.Store, withTimes bool) *contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	var err error
	if c.Districts, err = st.Districts(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Committees, err = st.Committees(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if c.Pharmacies, err = st.Pharmacies(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Checkpoints, err = st.Checkpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Residents, err = st.Residents(ctx, hub.ResidentFilter{}); err != nil {
		t.Fatal(err)
	}
	if !withTimes {
		for _, d := range c.Districts {
			d.UpdatedAt = time.Time{}
		}
		for _, x := range c.Committees {
			x.UpdatedAt = time.Time{}
		}
		for _, x := range c.Pharmacies {
			x.UpdatedAt = time.Time{}
		}
		for _, x := range c.Checkpoints {
			x.UpdatedAt = time.Time{}
		}
		for _, x := range c.Residents {
			x.RegisteredAt = time.Time{}
		}
	}
	return &c
}

func TestTaipei(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	sum := seed(t, svc, Options{Seed: 1, Residents: 2000})
	if !sum.Seeded || sum.Districts != 7 || sum.Committees != 343 || sum.Residents != 2000 || sum.Cells != 7*343 ||
		sum.Checkpoints != 28 || sum.Pharmacies < 343/4 || sum.Pharmacies > 343/3 || sum.RealPharmacies == 0 {
		t.Fatalf("summary = %+v", sum)
	}
	c := dump(t, svc.Store(), false)
	if len(c.Districts) != 7 || len(c.Committees) != 343 || len(c.Residents) != 2000 || len(c.Pharmacies) != sum.Pharmacies || len(c.Checkpoints) != 28 {
		t.Fatalf("stored %d districts, %d committees, %d residents, %d pharmacies, %d checkpoints",
			len(c.Districts), len(c.Committees), len(c.Residents), len(c.Pharmacies), len(c.Checkpoints))
	}
	center, err := grid.CellAt(hub.Point{Lat: CenterLat, Lng: CenterLng}, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	if d := svc.DistrictAt(center); d != "tpe-TP01" {
		t.Errorf("Taipei Main Station lies in district %q, want tpe-TP01", d)
	}
	names := map[string]bool{}
	for _, d := range c.Districts {
		if len(d.Cells) != 343 {
			t.Errorf("district %s has %d cells, want 343", d.ID, len(d.Cells))
		}
		names[d.Name] = true
	}
	if len(names) != 7 || !names["Zhongzheng District"] {
		t.Errorf("district names = %v", names)
	}
	committees := map[string]*hub.Committee{}
	for _, cm := range c.Committees {
		committees[cm.ID] = cm
		if len(cm.Cells) != 7 {
			t.Errorf("committee %s has %d cells, want 7", cm.ID, len(cm.Cells))
		}
	}
	if cm := committees["tpe-TP01031"]; cm == nil || cm.Code != "TP01031" || cm.Name != "Committee 031 of Zhongzheng District" || cm.DistrictID != "tpe-TP01" {
		t.Errorf("committee tpe-TP01031 = %+v", cm)
	}
	perCell := map[hub.Cell]int{}
	for _, r := range c.Residents {
		cm := committees[r.CommitteeID]
		if cm == nil {
			t.Fatalf("resident %s is in no committee (%q)", r.ID, r.CommitteeID)
		}
		if _, ok := slices.BinarySearch(cm.Cells, r.Cell); !ok {
			t.Errorf("resident %s: cell %s is outside committee %s", r.ID, r.Cell, cm.ID)
		}
		if r.DistrictID != cm.DistrictID {
			t.Errorf("resident %s in district %s, its committee in %s", r.ID, r.DistrictID, cm.DistrictID)
		}
		if cell, err := grid.CellAt(r.Location, grid.BaseResolution); err != nil || cell != r.Cell {
			t.Errorf("resident %s: location %v is in cell %s, not %s", r.ID, r.Location, cell, r.Cell)
		}
		if r.Name == "" || r.Address == "" || len(r.IDMasked) != 10 {
			t.Errorf("resident %+v", r)
		}
		perCell[r.Cell]++
	}
	// Uneven density: many cells empty, a few dense.
	most := 0
	for _, n := range perCell {
		most = max(most, n)
	}
	if empty := 7*343 - len(perCell); empty < 7*343/10 || most < 8 {
		t.Errorf("%d of %d cells empty, at most %d residents in a cell: want some empty and some dense", empty, 7*343, most)
	}
	for _, p := range c.Pharmacies {
		if p.DistrictID == "" || p.Stock[hub.MaskAdult] <= 0 && p.Stock[hub.MaskChild] <= 0 || len(p.Hours) != 21 {
			t.Errorf("pharmacy %+v", p)
		}
	}
	for _, k := range c.Checkpoints {
		if k.DistrictID == "" || k.Name == "" {
			t.Errorf("checkpoint %+v", k)
		}
	}
	n, err := svc.Store().CountResidents(ctx, "")
	if err != nil || n != 2000 {
		t.Errorf("CountResidents = %d, %v", n, err)
	}
}

func TestTaipeiRealPharmacies(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	sum := seed(t, svc, Options{Seed: 7, Residents: -1})
	reals, err := realPharmacies()
	if err != nil {
		t.Fatal(err)
	}
	inside := 0
	for _, r := range reals {
		if svc.DistrictAt(r.cell) == "" {
			continue
		}
		inside++
		p, err := svc.Store().Pharmacy(ctx, r.in.ID)
		if err != nil {
			t.Errorf("real pharmacy %s (%s) inside the districts: %v", r.in.ID, r.in.Name, err)
			continue
		}
		stockOK := true
		for _, sku := range []hub.SKU{hub.MaskAdult, hub.MaskChild} {
			if q := r.in.Stock[sku]; q != 0 && p.Stock[sku] != q || p.Stock[sku] <= 0 {
				stockOK = false
			}
		}
		if p.Name != r.in.Name || p.Location != r.in.Location || p.Hours != r.in.Hours || !stockOK {
			t.Errorf("pharmacy %s = %+v, want %+v", r.in.ID, p, r.in)
		}
	}
	if inside == 0 || inside != sum.RealPharmacies {
		t.Errorf("%d real pharmacies inside, summary says %d", inside, sum.RealPharmacies)
	}
	if sum.Residents != 0 {
		t.Errorf("%d residents with Residents: -1", sum.Residents)
	}
	// Without residents, the second call is a no-op too.
	if again := seed(t, svc, Options{Seed: 7, Residents: -1}); again.Seeded {
		t.Errorf("second call without residents wrote: %+v", again)
	}
}

func TestDeterministic(t *testing.T) {
	opts := Options{Seed: 42, Residents: 2000, BatchSize: 700}
	a, b, other := newService(t), newService(t), newService(t)
	seed(t, a, opts)
	seed(t, b, opts)
	ca, cb := dump(t, a.Store(), false), dump(t, b.Store(), false)
	if !reflect.DeepEqual(ca, cb) {
		for i := range ca.Residents {
			if !reflect.DeepEqual(ca.Residents[i], cb.Residents[i]) {
				t.Fatalf("resident %d differs:\n%+v\n%+v", i, ca.Residents[i], cb.Residents[i])
			}
		}
		t.Fatal("two runs with the same seed differ")
	}
	opts.Seed = 43
	seed(t, other, opts)
	co := dump(t, other.Store(), false)
	if !reflect.DeepEqual(ca.Districts, co.Districts) || !reflect.DeepEqual(ca.Committees, co.Committees) {
		t.Error("the grid of the city depends on the seed")
	}
	same := 0
	for i := range ca.Residents {
		if ca.Residents[i].IDHash == co.Residents[i].IDHash || ca.Residents[i].Location == co.Residents[i].Location {
			same++
		}
	}
	if same > 2 || reflect.DeepEqual(ca.Pharmacies, co.Pharmacies) {
		t.Errorf("a different seed gives the same city (%d residents alike)", same)
	}
}

func TestSeedTwiceIsANoop(t *testing.T) {
	svc := newService(t)
	opts := Options{Seed: 3, Residents: 1500}
	seed(t, svc, opts)
	before := dump(t, svc.Store(), true)
	start := time.Now()
	sum := seed(t, svc, opts)
	if took := time.Since(start); took > time.Second {
		t.Errorf("second call took %v", took)
	}
	if sum.Seeded || sum.Districts+sum.Committees+sum.Pharmacies+sum.Checkpoints+sum.Residents != 0 {
		t.Errorf("second call: %+v", sum)
	}
	if after := dump(t, svc.Store(), true); !reflect.DeepEqual(before, after) {
		t.Error("second call changed the store")
	}
	// Fewer residents asked for than are there: nothing to do either.
	if sum := seed(t, svc, Options{Seed: 3, Residents: 100}); sum.Seeded {
		t.Errorf("call for fewer residents: %+v", sum)
	}
}

func TestProgress(t *testing.T) {
	svc := newService(t)
	var calls int
	var last, total int64
	opts := Options{Seed: 3, Residents: 1200, BatchSize: 500, Progress: func(done, n int64) {
		if done <= last || (total != 0 && n != total) || done > n {
			t.Errorf("progress %d of %d after %d of %d", done, n, last, total)
		}
		calls++
		last, total = done, n
	}}
	sum := seed(t, svc, opts)
	written := int64(sum.Districts + sum.Committees + sum.Pharmacies + sum.Checkpoints + sum.Residents)
	if last != written || total != written {
		t.Errorf("progress ended at %d of %d; %d records written", last, total, written)
	}
	// Three batches of residents, at least one call per kind of place.
	if calls < 3+4 {
		t.Errorf("%d progress calls", calls)
	}
	calls = 0
	seed(t, svc, opts)
	if calls != 0 {
		t.Errorf("a seeded city: %d progress calls, want none", calls)
	}
}

func TestResume(t *testing.T) {
	// A run cut short after its first residents (here: one asked for
	// fewer) is completed by the next call, which writes only the rest;
	// the result is the city a single run makes.
	svc, whole := newService(t), newService(t)
	seed(t, svc, Options{Seed: 5, Residents: 900, BatchSize: 300})
	before := dump(t, svc.Store(), true)
	sum := seed(t, svc, Options{Seed: 5, Residents: 2000, BatchSize: 300})
	if !sum.Seeded || sum.Residents != 1100 || sum.Districts != 0 || sum.Pharmacies != 0 {
		t.Errorf("resuming call: %+v", sum)
	}
	after := dump(t, svc.Store(), true)
	if !reflect.DeepEqual(before.Pharmacies, after.Pharmacies) || !reflect.DeepEqual(before.Residents, after.Residents[:900]) {
		t.Error("the resuming call rewrote records already there")
	}
	seed(t, whole, Options{Seed: 5, Residents: 2000})
	if a, b := dump(t, svc.Store(), false), dump(t, whole.Store(), false); !reflect.DeepEqual(a, b) {
		t.Error("a resumed city differs from one seeded in one run")
	}

	// Places written but no resident yet: the places are written again
	// (upserts) and the residents follow.
	svc = newService(t)
	seed(t, svc, Options{Seed: 5, Residents: -1})
	if sum := seed(t, svc, Options{Seed: 5, Residents: 500}); !sum.Seeded || sum.Residents != 500 || sum.Districts != 7 {
		t.Errorf("call after places only: %+v", sum)
	}
}

func TestTaiwan(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	sum := seed(t, svc, Options{Demo: Taiwan, Seed: 1, Residents: 300})
	if !sum.Seeded || sum.Pharmacies != 319 || sum.RealPharmacies != 319 || sum.Residents != 300 || sum.Districts == 0 {
		t.Fatalf("summary = %+v", sum)
	}
	t.Logf("Taiwan demo: %d districts, %d committees, %d base cells", sum.Districts, sum.Committees, sum.Cells)
	ps, err := svc.Store().Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 319 {
		t.Fatalf("%d pharmacies stored", len(ps))
	}
	for _, p := range ps {
		if p.DistrictID == "" || svc.CommitteeAt(p.Cell) == "" {
			t.Errorf("pharmacy %s is in district %q, committee %q", p.ID, p.DistrictID, svc.CommitteeAt(p.Cell))
		}
	}
	if _, err := svc.Store().Pharmacy(ctx, "592202A296"); err != nil {
		t.Error(err)
	}
	if again := seed(t, svc, Options{Demo: Taiwan, Seed: 1, Residents: 300}); again.Seeded {
		t.Errorf("second call: %+v", again)
	}
}

func TestOneDemoPerStore(t *testing.T) {
	svc := newService(t)
	seed(t, svc, Options{Seed: 1, Residents: -1})
	_, err := Seed(context.Background(), svc, Options{Demo: Taiwan, Seed: 1, Residents: -1})
	if hub.ErrorCode(err) != hub.ECONFLICT {
		t.Errorf("Taiwan over Taipei: err = %v, want ECONFLICT", err)
	}
}

// TestIDNumbers: the demo's ID numbers pass privacy's validator, and the
// generator draws exactly what it drew before it used privacy's check
// digit (the reference below), so a seed still gives the same city.
func TestIDNumbers(t *testing.T) {
	reference := func(rng *rand.Rand, letter byte, sex int) string {
		codes := "ABCDEFGHJKLMNPQRSTUVXYWZIO" // codes 10 to 35, in this order
		code := 10 + strings.IndexByte(codes, letter)
		b := []byte{letter, byte('0' + sex)}
		sum := code/10 + code%10*9 + sex*8
		for w := 7; w >= 1; w-- {
			d := rng.IntN(10)
			b = append(b, byte('0'+d))
			sum += d * w
		}
		return string(append(b, byte('0'+(10-sum%10)%10)))
	}
	rng, ref := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		letter := byte('A' + rng.IntN(26))
		sex := 1 + rng.IntN(2)
		_, _ = ref.IntN(26), ref.IntN(2)
		id := idNumber(rng, letter, sex)
		if want := reference(ref, letter, sex); id != want {
			t.Fatalf("idNumber(%c, %d) = %s, the reference draws %s", letter, sex, id, want)
		}
		if c, err := privacy.CanonicalID(id, privacy.TW); err != nil || c != id || id[0] != letter || int(id[1]-'0') != sex {
			t.Fatalf("idNumber(%c, %d) = %s: %q, %v", letter, sex, id, c, err)
		}
	}
}

func TestParseDemo(t *testing.T) {
	for _, tt := range []struct {
		give string
		want Demo
	}{{"taipei", Taipei}, {"Taiwan", Taiwan}} {
		if got, err := ParseDemo(tt.give); err != nil || got != tt.want {
			t.Errorf("ParseDemo(%q) = %v, %v", tt.give, got, err)
		}
	}
	if _, err := ParseDemo("tokyo"); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("ParseDemo(tokyo) err = %v", err)
	}
}
