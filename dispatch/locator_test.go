package dispatch_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

var taipei101 = hub.Point{Lat: 25.0330, Lng: 121.5654}

// checkMatches fails unless ms is what Near promises for a query at at:
// within k rings, in stock when sku is set, ordered by ring, then metres,
// then ID, with Ring and Meters measured right.
func checkMatches(t *testing.T, at hub.Point, k int, sku hub.SKU, ms []dispatch.Match) {
	t.Helper()
	origin, err := grid.CellAt(at, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		p := m.Pharmacy
		if m.Ring < 0 || m.Ring > k {
			t.Fatalf("match %d (%s): ring %d outside [0, %d]", i, p.ID, m.Ring, k)
		}
		if d, err := grid.Distance(origin, p.Cell); err != nil || d != m.Ring {
			t.Fatalf("match %d (%s): ring %d, grid distance %d (%v)", i, p.ID, m.Ring, d, err)
		}
		if want := grid.DistanceMeters(at, p.Location); m.Meters != want {
			t.Fatalf("match %d (%s): %f m, want %f", i, p.ID, m.Meters, want)
		}
		if sku != "" && p.Stock[sku] <= 0 {
			t.Fatalf("match %d (%s): has %d of %s", i, p.ID, p.Stock[sku], sku)
		}
		if i == 0 {
			continue
		}
		prev := ms[i-1]
		switch {
		case prev.Ring < m.Ring:
		case prev.Ring > m.Ring:
			t.Fatalf("match %d (%s) in ring %d after ring %d", i, p.ID, m.Ring, prev.Ring)
		case prev.Meters < m.Meters:
		case prev.Meters > m.Meters:
			t.Fatalf("match %d (%s) at %f m after %f m in ring %d", i, p.ID, m.Meters, prev.Meters, m.Ring)
		case prev.Pharmacy.ID >= m.Pharmacy.ID:
			t.Fatalf("match %d: tie at %f m not broken by ID: %s after %s", i, m.Meters, p.ID, prev.Pharmacy.ID)
		}
	}
}

func ids(ms []dispatch.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Pharmacy.ID
	}
	return out
}

// TestNearEqualsScan is the locator's property: the cell index answers
// exactly what a linear scan of every pharmacy answers, order included.
func TestNearEqualsScan(t *testing.T) {
	skus := []hub.SKU{"", hub.MaskAdult, hub.MaskChild, hub.MaskN95, hub.TestKit}
	tests := []struct {
		name    string
		load    func(testing.TB) []*hub.Pharmacy
		queries int
		// near returns a query point: anywhere in the city, or close to
		// a pharmacy where they are sparse.
		near bool
	}{
		{"synthetic taipei 5000", func(tb testing.TB) []*hub.Pharmacy { return syntheticCity(tb, 5000, 1) }, 400, false},
		{"taiwan 2020", taiwanPharmacies, 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := tt.load(t)
			l := locatorOf(ps)
			if err := l.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(42, 7))
			var total, tiesByRing int
			for q := range tt.queries {
				at := randomPoint(r)
				if tt.near {
					p := ps[r.IntN(len(ps))].Location
					at = hub.Point{Lat: p.Lat + 0.01*(r.Float64()-0.5), Lng: p.Lng + 0.01*(r.Float64()-0.5)}
				}
				k := r.IntN(7)
				if q%20 == 0 {
					k = 10 + r.IntN(20)
				}
				sku := skus[r.IntN(len(skus))]

				got, err := l.Near(at, k, sku)
				if err != nil {
					t.Fatal(err)
				}
				want, err := l.NearScan(at, k, sku)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("query %d at %v k=%d sku=%q:\nNear     %v\nNearScan %v", q, at, k, sku, ids(got), ids(want))
				}
				checkMatches(t, at, k, sku, got)
				total += len(got)
				for i := 1; i < len(got); i++ {
					if got[i].Ring == got[i-1].Ring {
						tiesByRing++
					}
				}
			}
			// The property means little if the queries found nothing.
			if total < tt.queries || tiesByRing == 0 {
				t.Errorf("queries too sparse: %d matches, %d sharing a ring", total, tiesByRing)
			}
		})
	}
}

// TestNearOrder pins the order on a hand-built neighbourhood: a pharmacy in
// the person's own cell comes before a nearer one in the next ring, and
// pharmacies at one spot are ordered by ID.
func TestNearOrder(t *testing.T) {
	origin, err := grid.CellAt(taipei101, grid.BaseResolution)
	if err != nil {
		t.Fatal(err)
	}
	ctr, _ := grid.Center(origin)
	b, _ := grid.Boundary(origin)
	// The midpoint of one edge, and points just inside and outside it.
	mid := hub.Point{Lat: (b[0].Lat + b[1].Lat) / 2, Lng: (b[0].Lng + b[1].Lng) / 2}
	toward := func(from, to hub.Point, f float64) hub.Point {
		return hub.Point{Lat: from.Lat + f*(to.Lat-from.Lat), Lng: from.Lng + f*(to.Lng-from.Lng)}
	}
	at := toward(mid, ctr, 0.05)      // the person, just inside the edge
	across := toward(mid, ctr, -0.05) // just across the edge, in ring 1
	opposite := toward(b[3], ctr, 0.1)

	place := func(id string, p hub.Point) *hub.Pharmacy {
		c, err := grid.CellAt(p, grid.BaseResolution)
		if err != nil {
			t.Fatal(err)
		}
		return &hub.Pharmacy{ID: id, Location: p, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 1}}
	}
	l := dispatch.NewLocator()
	for _, p := range []*hub.Pharmacy{
		place("near-but-ring-1", across),
		place("far-but-ring-0", opposite),
		place("same-spot-c", ctr),
		place("same-spot-a", ctr),
		place("same-spot-b", ctr),
	} {
		l.Put(p)
	}
	if c, _ := grid.CellAt(at, grid.BaseResolution); c != origin {
		t.Fatalf("the person stands in %s, not %s", c, origin)
	}
	if d, _ := grid.Distance(origin, place("x", across).Cell); d != 1 {
		t.Fatalf("the pharmacy across the edge is %d rings away, want 1", d)
	}

	got, err := l.Near(at, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"same-spot-a", "same-spot-b", "same-spot-c", "far-but-ring-0", "near-but-ring-1"}
	if !slices.Equal(ids(got), want) {
		t.Errorf("got %v, want %v", ids(got), want)
	}
	if got[4].Meters >= got[3].Meters {
		t.Errorf("the ring 1 pharmacy (%f m) is not nearer than the ring 0 one (%f m): the test proves nothing", got[4].Meters, got[3].Meters)
	}
	checkMatches(t, at, 1, "", got)

	got, _ = l.Near(at, 0, "")
	if !slices.Equal(ids(got), want[:4]) {
		t.Errorf("k=0: got %v, want %v", ids(got), want[:4])
	}
}

func TestNearSKU(t *testing.T) {
	c, _ := grid.CellAt(taipei101, grid.BaseResolution)
	l := dispatch.NewLocator()
	l.Put(&hub.Pharmacy{ID: "both", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 5, hub.MaskChild: 1}})
	l.Put(&hub.Pharmacy{ID: "adult-only", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 3, hub.MaskChild: 0}})
	l.Put(&hub.Pharmacy{ID: "empty", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{}})
	l.Put(&hub.Pharmacy{ID: "nil-stock", Location: taipei101, Cell: c})
	tests := []struct {
		give hub.SKU
		want []string
	}{
		{"", []string{"adult-only", "both", "empty", "nil-stock"}},
		{hub.MaskAdult, []string{"adult-only", "both"}},
		{hub.MaskChild, []string{"both"}},
		{hub.MaskN95, nil},
		{"NOT_A_SKU", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.give), func(t *testing.T) {
			got, err := l.Near(taipei101, 0, tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("Near: got %v, want %v", ids(got), tt.want)
			}
			scan, _ := l.NearScan(taipei101, 0, tt.give)
			if !slices.Equal(ids(scan), tt.want) {
				t.Errorf("NearScan: got %v, want %v", ids(scan), tt.want)
			}
		})
	}
}

func TestNearErrors(t *testing.T) {
	l := locatorOf(syntheticCity(t, 100, 3))
	tests := []struct {
		name string
		at   hub.Point
		k    int
		want error
	}{
		{"k -1", taipei101, -1, grid.ErrInvalidK},
		{"k above MaxK", taipei101, grid.MaxK + 1, grid.ErrInvalidK},
		{"NaN", hub.Point{Lat: math.NaN(), Lng: 121}, 1, grid.ErrInvalidLatLng},
		{"off the Earth", hub.Point{Lat: 25, Lng: 200}, 1, grid.ErrInvalidLatLng},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, fn := range map[string]func(hub.Point, int, hub.SKU) ([]dispatch.Match, error){"Near": l.Near, "NearScan": l.NearScan} {
				ms, err := fn(tt.at, tt.k, "")
				if !errors.Is(err, tt.want) || hub.ErrorCode(err) != hub.EINVALID {
					t.Errorf("%s: %v, want an EINVALID %v", name, err, tt.want)
				}
				if ms != nil {
					t.Errorf("%s: %d matches with an error", name, len(ms))
				}
			}
		})
	}
}

func TestNearEmpty(t *testing.T) {
	l := dispatch.NewLocator()
	ms, err := l.Near(taipei101, 5, "")
	if err != nil || len(ms) != 0 {
		t.Errorf("empty locator: %v, %v", ms, err)
	}
	if l.Len() != 0 {
		t.Errorf("Len = %d", l.Len())
	}
}

func TestPutReplace(t *testing.T) {
	c, _ := grid.CellAt(taipei101, grid.BaseResolution)
	l := dispatch.NewLocator()
	l.Put(&hub.Pharmacy{ID: "a", Name: "old", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 1}})
	l.Put(&hub.Pharmacy{ID: "b", Location: taipei101, Cell: c})
	l.Put(&hub.Pharmacy{ID: "a", Name: "new", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 0, hub.MaskN95: 2}})

	if l.Len() != 2 {
		t.Errorf("Len = %d, want 2", l.Len())
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Near(taipei101, 0, "")
	if !slices.Equal(ids(got), []string{"a", "b"}) || got[0].Pharmacy.Name != "new" {
		t.Errorf("got %v (%q), want a (new) and b", ids(got), got[0].Pharmacy.Name)
	}
	if got, _ := l.Near(taipei101, 0, hub.MaskAdult); len(got) != 0 {
		t.Errorf("stale stock: %v has adult masks", ids(got))
	}
	if got, _ := l.Near(taipei101, 0, hub.MaskN95); !slices.Equal(ids(got), []string{"a"}) {
		t.Errorf("new stock not seen: %v", ids(got))
	}
}

func TestPutMove(t *testing.T) {
	from := taipei101
	to := hub.Point{Lat: 25.0478, Lng: 121.5170} // Taipei Main Station, ~5 km
	fromCell, _ := grid.CellAt(from, grid.BaseResolution)
	toCell, _ := grid.CellAt(to, grid.BaseResolution)
	l := dispatch.NewLocator()
	put := func(id string, at hub.Point, c hub.Cell) {
		l.Put(&hub.Pharmacy{ID: id, Location: at, Cell: c})
		if err := l.CheckInvariants(); err != nil {
			t.Fatalf("after Put(%s): %v", id, err)
		}
	}
	near := func(at hub.Point) []string {
		ms, err := l.Near(at, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		return ids(ms)
	}

	put("m", from, fromCell)
	put("z", to, toCell)
	put("a", to, toCell)
	if l.CellCount() != 2 {
		t.Fatalf("%d cells, want 2", l.CellCount())
	}

	put("m", to, toCell) // move into an occupied cell, between a and z
	if got := near(from); len(got) != 0 {
		t.Errorf("still found at the old place: %v", got)
	}
	if got := near(to); !slices.Equal(got, []string{"a", "m", "z"}) {
		t.Errorf("at the new place: %v, want [a m z]", got)
	}
	if l.CellCount() != 1 {
		t.Errorf("the emptied cell is still indexed: %d cells, want 1", l.CellCount())
	}

	put("m", from, fromCell) // and back
	if got := near(from); !slices.Equal(got, []string{"m"}) {
		t.Errorf("moved back: %v, want [m]", got)
	}
	if got := near(to); !slices.Equal(got, []string{"a", "z"}) {
		t.Errorf("left behind: %v, want [a z]", got)
	}
	if l.Len() != 3 || l.CellCount() != 2 {
		t.Errorf("Len %d, cells %d, want 3 and 2", l.Len(), l.CellCount())
	}
}

// TestPutCopies checks that the locator keeps its own copies: neither the
// caller's record nor a match handed out can change what it holds.
func TestPutCopies(t *testing.T) {
	c, _ := grid.CellAt(taipei101, grid.BaseResolution)
	p := &hub.Pharmacy{ID: "a", Location: taipei101, Cell: c, Stock: map[hub.SKU]int{hub.MaskAdult: 1}}
	l := dispatch.NewLocator()
	l.Put(p)
	p.Stock[hub.MaskAdult] = 0
	p.Name = "changed"

	ms, _ := l.Near(taipei101, 0, hub.MaskAdult)
	if len(ms) != 1 || ms[0].Pharmacy.Name != "" {
		t.Fatalf("the caller's change reached the locator: %+v", ms)
	}
	ms[0].Pharmacy.Stock[hub.MaskAdult] = 0
	ms[0].Pharmacy.Name = "changed"
	if again, _ := l.Near(taipei101, 0, hub.MaskAdult); len(again) != 1 || again[0].Pharmacy.Name != "" {
		t.Errorf("a match's change reached the locator: %+v", again)
	}
	if scan, _ := l.NearScan(taipei101, 0, hub.MaskAdult); len(scan) != 1 {
		t.Errorf("NearScan: %d matches, want 1", len(scan))
	}
}

// TestConcurrent runs Puts that move pharmacies about against Nears and
// scans; run it with -race. Afterwards the indexes must agree.
func TestConcurrent(t *testing.T) {
	ps := syntheticCity(t, 2000, 5)
	l := locatorOf(ps)
	const writers, readers, rounds = 4, 4, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				p := *ps[r.IntN(len(ps))]
				p.Location = randomPoint(r)
				p.Cell, _ = grid.CellAt(p.Location, grid.BaseResolution)
				p.Stock = map[hub.SKU]int{hub.MaskAdult: r.IntN(3)}
				l.Put(&p)
				l.Put(&hub.Pharmacy{ID: fmt.Sprintf("new-%d-%d", w, r.IntN(50)), Location: p.Location, Cell: p.Cell})
			}
		})
	}
	for rd := range readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(rd), 2))
			for i := range rounds {
				at := randomPoint(r)
				ms, err := l.Near(at, r.IntN(4), hub.MaskAdult)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range ms {
					if m.Pharmacy.Stock[hub.MaskAdult] <= 0 {
						t.Errorf("%s matched without stock", m.Pharmacy.ID)
					}
				}
				if i%10 == 0 {
					if _, err := l.NearScan(at, 2, ""); err != nil {
						t.Error(err)
					}
				}
				_ = l.Len()
			}
		})
	}
	wg.Wait()
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 50 {
		at := randomPoint(r)
		got, _ := l.Near(at, 3, "")
		want, _ := l.NearScan(at, 3, "")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after the storm at %v: Near %v, NearScan %v", at, ids(got), ids(want))
		}
	}
}

func TestTaiwanData(t *testing.T) {
	ps := taiwanPharmacies(t)
	if len(ps) != 319 {
		t.Errorf("%d pharmacies, want the 319 of the README", len(ps))
	}
	l := locatorOf(ps)
	if l.Len() != len(ps) {
		t.Errorf("Len %d, want %d: IDs not unique", l.Len(), len(ps))
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	// Standing at the first pharmacy of the file (郭藥局, Hualien), it is
	// the nearest, at 0 m.
	first := ps[0]
	if first.ID != "5945010154" {
		t.Fatalf("first pharmacy %s, want 5945010154 (the IDs must stay strings)", first.ID)
	}
	ms, err := l.Near(first.Location, 2, hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Pharmacy.ID != first.ID || ms[0].Meters != 0 || ms[0].Ring != 0 {
		t.Fatalf("nearest to %s: %+v", first.ID, ms)
	}
	if ms[0].Pharmacy.Name != "郭藥局" || len(ms[0].Pharmacy.Hours) != 21 {
		t.Errorf("metadata lost: %q %q", ms[0].Pharmacy.Name, ms[0].Pharmacy.Hours)
	}
}
