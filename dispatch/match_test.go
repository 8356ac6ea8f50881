package dispatch_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// outcome writes an assignment as the rule tables want it: "P/ring" or
// "P/ring@hour" when served with a slot, or the reason.
func outcome(supply []dispatch.SupplyPoint, a dispatch.Assignment) string {
	if !a.Served() {
		return a.Reason.String()
	}
	s := fmt.Sprintf("%s/%d", supply[a.Supply].ID, a.Ring)
	if a.Slot >= 0 {
		s += fmt.Sprintf("@%d", supply[a.Supply].Slots[a.Slot].Start.Hour())
	}
	return s
}

// pos names a cell around Taipei 101: ring, then index in the sorted
// ring.
type pos struct{ ring, i int }

func TestAllocateRules(t *testing.T) {
	rs := rings(t, 6)
	cell := func(p pos) hub.Cell { return rs[p.ring][p.i] }
	type ph struct {
		id    string
		at    pos
		stock int
		slots []dispatch.Slot
	}
	type rq struct {
		at   pos
		q    int
		seq  uint64
		slot int // preferred hour, 0 for none
	}
	tests := []struct {
		name string
		maxK int
		give []ph
		reqs []rq
		want []string // per request, in the order given
	}{
		{
			name: "nearest ring first, however little it holds",
			maxK: 3,
			give: []ph{{"far-rich", pos{1, 0}, 100, nil}, {"near-poor", pos{0, 0}, 2, nil}},
			reqs: []rq{{pos{0, 0}, 2, 0, 0}, {pos{0, 0}, 2, 1, 0}},
			want: []string{"near-poor/0", "far-rich/1"},
		},
		{
			name: "within a ring, most stock left",
			maxK: 2,
			give: []ph{{"a", pos{1, 0}, 5, nil}, {"b", pos{1, 3}, 9, nil}, {"c", pos{1, 5}, 6, nil}},
			// b 9 -> 7 -> 5, then c (6) beats a and b (5).
			reqs: []rq{{pos{0, 0}, 2, 0, 0}, {pos{0, 0}, 2, 1, 0}, {pos{0, 0}, 2, 2, 0}, {pos{0, 0}, 2, 3, 0}},
			want: []string{"b/1", "b/1", "c/1", "a/1"},
		},
		{
			name: "equal stock in a ring goes to the lower ID",
			maxK: 1,
			give: []ph{{"z", pos{1, 0}, 4, nil}, {"m", pos{1, 2}, 4, nil}, {"x", pos{1, 4}, 4, nil}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}, {pos{0, 0}, 1, 1, 0}, {pos{0, 0}, 1, 2, 0}, {pos{0, 0}, 1, 3, 0}},
			want: []string{"m/1", "x/1", "z/1", "m/1"},
		},
		{
			name: "ring is measured from the person",
			maxK: 2,
			give: []ph{{"p", pos{2, 0}, 10, nil}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}, {pos{4, 0}, 1, 1, 0}},
			want: []string{"p/2", "NOTHING_IN_REACH"},
		},
		{
			name: "stock is never exceeded; a request is served whole",
			maxK: 2,
			give: []ph{{"near", pos{0, 0}, 5, nil}, {"next", pos{1, 1}, 3, nil}},
			// 3 from near (2 left); 3 more: near cannot, next can;
			// 2 fits near; 1 more: nothing left anywhere.
			reqs: []rq{{pos{0, 0}, 3, 0, 0}, {pos{0, 0}, 3, 1, 0}, {pos{0, 0}, 2, 2, 0}, {pos{0, 0}, 1, 3, 0}},
			want: []string{"near/0", "next/1", "near/0", "OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "a large request fails, a smaller one after it is still served",
			maxK: 1,
			give: []ph{{"p", pos{0, 0}, 4, nil}},
			reqs: []rq{{pos{0, 0}, 5, 0, 0}, {pos{0, 0}, 4, 1, 0}, {pos{0, 0}, 6, 2, 0}},
			want: []string{"OUT_OF_STOCK_IN_REACH", "p/0", "OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "nothing in reach against out of stock in reach",
			maxK: 1,
			give: []ph{{"empty", pos{1, 0}, 0, nil}, {"far", pos{3, 0}, 10, nil}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}, {pos{5, 0}, 1, 1, 0}},
			want: []string{"OUT_OF_STOCK_IN_REACH", "NOTHING_IN_REACH"},
		},
		{
			name: "maxK 0: only the person's own cell",
			maxK: 0,
			give: []ph{{"here", pos{0, 0}, 1, nil}, {"next", pos{1, 0}, 9, nil}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}, {pos{0, 0}, 1, 1, 0}, {pos{1, 0}, 1, 2, 0}},
			want: []string{"here/0", "OUT_OF_STOCK_IN_REACH", "next/0"},
		},
		{
			name: "line order is Seq, not the order given; ties by ID",
			maxK: 0,
			give: []ph{{"p", pos{0, 0}, 2, nil}},
			reqs: []rq{{pos{0, 0}, 1, 9, 0}, {pos{0, 0}, 1, 3, 0}, {pos{0, 0}, 1, 3, 0}},
			// IDs are R0, R1, R2: R1 and R2 share Seq 3 and go first.
			want: []string{"OUT_OF_STOCK_IN_REACH", "p/0", "p/0"},
		},
		{
			name: "preferred slot when it has a place, else the earliest with one",
			maxK: 0,
			give: []ph{{"p", pos{0, 0}, 100, hourly(1, 9, 10, 11)}},
			reqs: []rq{{pos{0, 0}, 1, 0, 11}, {pos{0, 0}, 1, 1, 11}, {pos{0, 0}, 1, 2, 0}, {pos{0, 0}, 1, 3, 0}},
			want: []string{"p/0@11", "p/0@9", "p/0@10", "OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "a preference for a slot the pharmacy lacks is ignored",
			maxK: 0,
			give: []ph{{"p", pos{0, 0}, 100, hourly(1, 10, 12)}},
			reqs: []rq{{pos{0, 0}, 1, 0, 11}},
			want: []string{"p/0@10"},
		},
		{
			name: "full slots send the request on, stock or not",
			maxK: 1,
			give: []ph{{"slotted", pos{0, 0}, 100, hourly(1, 9)}, {"walk-in", pos{1, 2}, 1, nil}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}, {pos{0, 0}, 1, 1, 9}, {pos{0, 0}, 1, 2, 0}},
			want: []string{"slotted/0@9", "walk-in/1", "OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "slots of capacity 0 take nobody",
			maxK: 0,
			give: []ph{{"p", pos{0, 0}, 100, hourly(0, 9, 10)}},
			reqs: []rq{{pos{0, 0}, 1, 0, 0}},
			want: []string{"OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "pharmacies sharing a cell",
			maxK: 0,
			give: []ph{{"b", pos{0, 0}, 3, nil}, {"a", pos{0, 0}, 3, nil}, {"c", pos{0, 0}, 2, nil}},
			reqs: []rq{{pos{0, 0}, 2, 0, 0}, {pos{0, 0}, 2, 1, 0}, {pos{0, 0}, 2, 2, 0}, {pos{0, 0}, 2, 3, 0}},
			want: []string{"a/0", "b/0", "c/0", "OUT_OF_STOCK_IN_REACH"},
		},
		{
			name: "no pharmacies at all",
			maxK: 3,
			reqs: []rq{{pos{0, 0}, 1, 0, 0}},
			want: []string{"NOTHING_IN_REACH"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var supply []dispatch.SupplyPoint
			for _, p := range tt.give {
				supply = append(supply, dispatch.SupplyPoint{ID: p.id, Cell: cell(p.at), Stock: p.stock, Slots: p.slots})
			}
			var reqs []dispatch.Request
			for i, r := range tt.reqs {
				req := dispatch.Request{ID: fmt.Sprintf("R%d", i), Cell: cell(r.at), Quantity: r.q, Seq: r.seq}
				if r.slot > 0 {
					req.Slot = hour(r.slot)
				}
				reqs = append(reqs, req)
			}
			for _, via := range []struct {
				name string
				run  func() ([]dispatch.Assignment, error)
			}{
				{"Allocate", func() ([]dispatch.Assignment, error) { return dispatch.Allocate(reqs, supply, tt.maxK) }},
				{"AllocateScan", func() ([]dispatch.Assignment, error) { return dispatch.AllocateScan(reqs, supply, tt.maxK) }},
				{"from pharmacies", func() ([]dispatch.Assignment, error) { return allocateVia(reqs, supply, tt.maxK, true) }},
				{"Assign one by one", func() ([]dispatch.Assignment, error) { return assignEach(reqs, supply, tt.maxK) }},
			} {
				as, err := via.run()
				if err != nil {
					t.Fatalf("%s: %v", via.name, err)
				}
				got := make([]string, len(as))
				for i, a := range as {
					got[i] = outcome(supply, a)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s:\ngot  %v\nwant %v", via.name, got, tt.want)
				}
				checkAllocation(t, reqs, supply, tt.maxK, as)
			}
		})
	}
}

// allocateVia allocates with the reach built from one side.
func allocateVia(reqs []dispatch.Request, supply []dispatch.SupplyPoint, maxK int, fromPharmacies bool) ([]dispatch.Assignment, error) {
	m, err := dispatch.NewMatcher(supply, maxK)
	if err != nil {
		return nil, err
	}
	dispatch.ReachVia(m, fromPharmacies)
	return m.Allocate(reqs)
}

// assignEach feeds the requests to Assign one at a time, in line order.
func assignEach(reqs []dispatch.Request, supply []dispatch.SupplyPoint, maxK int) ([]dispatch.Assignment, error) {
	m, err := dispatch.NewMatcher(supply, maxK)
	if err != nil {
		return nil, err
	}
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := compareU64(reqs[a].Seq, reqs[b].Seq); c != 0 {
			return c
		}
		return strings.Compare(reqs[a].ID, reqs[b].ID)
	})
	out := make([]dispatch.Assignment, len(reqs))
	for _, i := range order {
		if out[i], err = m.Assign(reqs[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkAllocation checks what must hold of any allocation: stock and
// slot capacity never exceeded, rings right and within reach, and
// NOTHING_IN_REACH exactly when no pharmacy is within maxK.
func checkAllocation(t *testing.T, reqs []dispatch.Request, supply []dispatch.SupplyPoint, maxK int, as []dispatch.Assignment) {
	t.Helper()
	if len(as) != len(reqs) {
		t.Fatalf("%d assignments for %d requests", len(as), len(reqs))
	}
	taken := make([]int, len(supply))
	slotTaken := make([][]int, len(supply))
	for i, s := range supply {
		slotTaken[i] = make([]int, len(s.Slots))
	}
	// reach caches, per cell, whether any pharmacy is within maxK.
	reach := map[hub.Cell]bool{}
	inReach := func(c hub.Cell) bool {
		v, ok := reach[c]
		if !ok {
			for _, s := range supply {
				if d, err := grid.Distance(c, s.Cell); err == nil && d <= maxK {
					v = true
					break
				}
			}
			reach[c] = v
		}
		return v
	}
	for i, a := range as {
		r := reqs[i]
		switch a.Reason {
		case dispatch.Served:
			s := supply[a.Supply]
			taken[a.Supply] += r.Quantity
			if d, err := grid.Distance(r.Cell, s.Cell); err != nil || d != a.Ring || d > maxK {
				t.Fatalf("request %s: ring %d, distance %d (%v), maxK %d", r.ID, a.Ring, d, err, maxK)
			}
			if len(s.Slots) == 0 && a.Slot != -1 || len(s.Slots) > 0 && (a.Slot < 0 || a.Slot >= len(s.Slots)) {
				t.Fatalf("request %s: slot %d at %s with %d slots", r.ID, a.Slot, s.ID, len(s.Slots))
			}
			if a.Slot >= 0 {
				slotTaken[a.Supply][a.Slot]++
			}
		case dispatch.NothingInReach:
			if a.Supply != -1 || a.Slot != -1 || a.Ring != -1 {
				t.Fatalf("request %s: unserved with %+v", r.ID, a)
			}
			if inReach(r.Cell) {
				t.Fatalf("request %s: NOTHING_IN_REACH with a pharmacy within %d rings", r.ID, maxK)
			}
		case dispatch.OutOfStockInReach:
			if a.Supply != -1 || a.Slot != -1 || a.Ring != -1 {
				t.Fatalf("request %s: unserved with %+v", r.ID, a)
			}
			if !inReach(r.Cell) {
				t.Fatalf("request %s: OUT_OF_STOCK_IN_REACH with no pharmacy within %d rings", r.ID, maxK)
			}
		default:
			t.Fatalf("request %s: reason %v", r.ID, a.Reason)
		}
	}
	for i, s := range supply {
		if taken[i] > s.Stock {
			t.Fatalf("pharmacy %s: %d allocated, stock %d", s.ID, taken[i], s.Stock)
		}
		for j, sl := range s.Slots {
			if slotTaken[i][j] > sl.Capacity {
				t.Fatalf("pharmacy %s slot %d: %d taken, capacity %d", s.ID, j, slotTaken[i][j], sl.Capacity)
			}
		}
	}
}

// randomRound returns a seeded round in a small dense box of Taipei:
// pharmacies with stock (some none, some sharing a cell, a third with
// slots) and requests of 1 to 3 units, some preferring a slot, with Seqs
// in a shuffled order and some repeated.
func randomRound(tb testing.TB, seed uint64, pharmacies, people int) ([]dispatch.Request, []dispatch.SupplyPoint) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	// A box of about 3 x 3 km around Taipei 101.
	point := func() hub.Point {
		return hub.Point{Lat: taipei101.Lat - 0.015 + 0.03*r.Float64(), Lng: taipei101.Lng - 0.015 + 0.03*r.Float64()}
	}
	cellOf := func(p hub.Point) hub.Cell {
		c, err := grid.CellAt(p, grid.BaseResolution)
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	supply := make([]dispatch.SupplyPoint, pharmacies)
	ids := r.Perm(pharmacies)
	for i := range supply {
		c := cellOf(point())
		if i > 0 && r.IntN(8) == 0 {
			c = supply[r.IntN(i)].Cell
		}
		supply[i] = dispatch.SupplyPoint{ID: fmt.Sprintf("P%03d", ids[i]), Cell: c, Stock: r.IntN(4) * r.IntN(12)}
		if r.IntN(3) == 0 {
			hours := []int{9, 10, 11, 12, 13}[:1+r.IntN(5)]
			supply[i].Slots = hourly(r.IntN(4), hours...)
		}
	}
	reqs := make([]dispatch.Request, people)
	seqs := r.Perm(people)
	for i := range reqs {
		reqs[i] = dispatch.Request{ID: fmt.Sprintf("R%04d", i), Cell: cellOf(point()), Quantity: 1 + r.IntN(3), Seq: uint64(seqs[i] / 2)}
		if r.IntN(4) == 0 {
			reqs[i].Slot = hour(9 + r.IntN(6))
		}
	}
	return reqs, supply
}

// TestAllocateEqualsScan is the matcher's property: its indexes answer
// exactly what the naive scan answers, whichever side the reach is built
// from and whether requests come in a batch or one at a time.
func TestAllocateEqualsScan(t *testing.T) {
	for seed := range uint64(12) {
		maxK := int(seed % 6)
		t.Run(fmt.Sprintf("seed=%d/k=%d", seed, maxK), func(t *testing.T) {
			pharmacies := 10 + int(seed)*15
			people := 6*pharmacies + 100
			reqs, supply := randomRound(t, seed, pharmacies, people)
			want, err := dispatch.AllocateScan(reqs, supply, maxK)
			if err != nil {
				t.Fatal(err)
			}
			checkAllocation(t, reqs, supply, maxK, want)
			served := 0
			for _, a := range want {
				if a.Served() {
					served++
				}
			}
			if served == 0 || served == len(reqs) {
				t.Fatalf("%d of %d served: the round tests little", served, len(reqs))
			}
			for _, via := range []struct {
				name string
				run  func() ([]dispatch.Assignment, error)
			}{
				{"Allocate", func() ([]dispatch.Assignment, error) { return dispatch.Allocate(reqs, supply, maxK) }},
				{"from requests", func() ([]dispatch.Assignment, error) { return allocateVia(reqs, supply, maxK, false) }},
				{"from pharmacies", func() ([]dispatch.Assignment, error) { return allocateVia(reqs, supply, maxK, true) }},
				{"Assign", func() ([]dispatch.Assignment, error) { return assignEach(reqs, supply, maxK) }},
			} {
				got, err := via.run()
				if err != nil {
					t.Fatalf("%s: %v", via.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s: request %s: %+v, the scan says %+v", via.name, reqs[i].ID, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestAllocateTaiwan checks the indexes against the scan on the real
// data: institutions placed as the benchmark places them, people around
// them, both reach paths.
func TestAllocateTaiwan(t *testing.T) {
	supply := taiwanSupply(t)
	if len(supply) != 6086 {
		t.Fatalf("%d supply points, want the 6,086 rows of %s", len(supply), maskDataFile)
	}
	total := 0
	for _, s := range supply {
		total += s.Stock
	}
	if total != 463_402 {
		t.Errorf("adult stock %d, want 463,402 (shared/data/README.md)", total)
	}
	reqs := peopleAround(t, supply, 3000, 2, 800, 1, 0)
	// Scarce: a tenth of the stock, so that people travel rings.
	supply = slices.Clone(supply)
	for i := range supply {
		supply[i].Stock /= 150
	}
	want, err := dispatch.AllocateScan(reqs, supply, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkAllocation(t, reqs, supply, 5, want)
	rings := map[int]int{}
	for _, a := range want {
		rings[a.Ring]++
	}
	t.Logf("by ring (-1 unserved): %v", rings)
	if len(rings) < 4 {
		t.Errorf("only rings %v used: the round tests little", rings)
	}
	for _, fromPharmacies := range []bool{false, true} {
		got, err := allocateVia(reqs, supply, 5, fromPharmacies)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("from pharmacies %v: differs from the scan", fromPharmacies)
		}
	}
}

func TestAllocateErrors(t *testing.T) {
	rs := rings(t, 1)
	good := rs[0][0]
	parent, _ := grid.Parent(good, 8)
	okSupply := []dispatch.SupplyPoint{{ID: "p", Cell: good, Stock: 1}}
	okReq := dispatch.Request{ID: "r", Cell: good, Quantity: 1}
	tests := []struct {
		name   string
		supply []dispatch.SupplyPoint
		reqs   []dispatch.Request
		maxK   int
		want   error // a sentinel, or nil for EINVALID alone
	}{
		{"maxK -1", okSupply, nil, -1, grid.ErrInvalidK},
		{"maxK above grid.MaxK", okSupply, nil, grid.MaxK + 1, grid.ErrInvalidK},
		{"pharmacy cell invalid", []dispatch.SupplyPoint{{ID: "p", Cell: 12345}}, nil, 1, grid.ErrInvalidCell},
		{"pharmacy cell coarse", []dispatch.SupplyPoint{{ID: "p", Cell: parent}}, nil, 1, grid.ErrInvalidResolution},
		{"negative stock", []dispatch.SupplyPoint{{ID: "p", Cell: good, Stock: -1}}, nil, 1, nil},
		{"repeated pharmacy", []dispatch.SupplyPoint{{ID: "p", Cell: good}, {ID: "q", Cell: good}, {ID: "p", Cell: good}}, nil, 1, nil},
		{"negative slot capacity", []dispatch.SupplyPoint{{ID: "p", Cell: good, Slots: hourly(-1, 9)}}, nil, 1, nil},
		{"slots out of order", []dispatch.SupplyPoint{{ID: "p", Cell: good, Slots: hourly(1, 10, 9)}}, nil, 1, nil},
		{"slots repeated", []dispatch.SupplyPoint{{ID: "p", Cell: good, Slots: hourly(1, 9, 9)}}, nil, 1, nil},
		{"slot without start", []dispatch.SupplyPoint{{ID: "p", Cell: good, Slots: []dispatch.Slot{{Capacity: 1}}}}, nil, 1, nil},
		{"quantity 0", okSupply, []dispatch.Request{okReq, {ID: "bad", Cell: good}}, 1, nil},
		{"request cell invalid", okSupply, []dispatch.Request{okReq, {ID: "bad", Cell: 1, Quantity: 1}}, 1, grid.ErrInvalidCell},
		{"request cell coarse", okSupply, []dispatch.Request{okReq, {ID: "bad", Cell: parent, Quantity: 1}}, 1, grid.ErrInvalidResolution},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, fn := range map[string]func([]dispatch.Request, []dispatch.SupplyPoint, int) ([]dispatch.Assignment, error){
				"Allocate": dispatch.Allocate, "AllocateScan": dispatch.AllocateScan,
			} {
				as, err := fn(tt.reqs, tt.supply, tt.maxK)
				if hub.ErrorCode(err) != hub.EINVALID || tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("%s: %v, want an EINVALID error matching %v", name, err, tt.want)
				}
				if as != nil {
					t.Errorf("%s: assignments with an error", name)
				}
			}
			fr, err := dispatch.FairShare(tt.reqs, tt.supply, tt.maxK)
			if hub.ErrorCode(err) != hub.EINVALID || fr != nil {
				t.Errorf("FairShare: %v, want an EINVALID error", err)
			}
			if strings.Contains(tt.name, "request") || strings.Contains(tt.name, "quantity") {
				if !strings.Contains(hub.ErrorMessage(err), `"bad"`) {
					t.Errorf("the message does not name the request: %s", hub.ErrorMessage(err))
				}
			}
		})
	}
}

// TestMatcherBadRequestChangesNothing: a batch with one bad request is
// refused whole; the matcher then serves as if it had never seen it.
func TestMatcherBadRequestChangesNothing(t *testing.T) {
	rs := rings(t, 2)
	m, err := dispatch.NewMatcher([]dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Allocate([]dispatch.Request{{ID: "a", Cell: rs[0][0], Quantity: 1}, {ID: "b", Cell: 7, Quantity: 1}}); err == nil {
		t.Fatal("no error")
	}
	if m.Stock(0) != 1 || m.Groups() != 0 {
		t.Fatalf("stock %d, %d groups after a refused batch", m.Stock(0), m.Groups())
	}
	a, err := m.Assign(dispatch.Request{ID: "a", Cell: rs[0][0], Quantity: 1})
	if err != nil || !a.Served() {
		t.Fatalf("%+v, %v", a, err)
	}
	if _, err := m.Assign(dispatch.Request{ID: "c", Cell: rs[0][0]}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("quantity 0: %v", err)
	}
}

// TestMatcherReleaseAndRestock: stock given back, by a release or a
// restock, serves the next request, even in a cell that had learnt that
// nothing was left.
func TestMatcherReleaseAndRestock(t *testing.T) {
	rs := rings(t, 2)
	supply := []dispatch.SupplyPoint{
		{ID: "slotted", Cell: rs[0][0], Stock: 4, Slots: hourly(1, 9, 10)},
		{ID: "ring1", Cell: rs[1][0], Stock: 0},
	}
	m, err := dispatch.NewMatcher(supply, 1)
	if err != nil {
		t.Fatal(err)
	}
	req := func(id string, q int) dispatch.Request {
		return dispatch.Request{ID: id, Cell: rs[0][0], Quantity: q}
	}
	must := func(a dispatch.Assignment, err error) dispatch.Assignment {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := must(m.Assign(req("a", 2)))
	a2 := must(m.Assign(req("b", 2)))
	if outcome(supply, a1) != "slotted/0@9" || outcome(supply, a2) != "slotted/0@10" {
		t.Fatalf("%s, %s", outcome(supply, a1), outcome(supply, a2))
	}
	if got := must(m.Assign(req("c", 1))); got.Reason != dispatch.OutOfStockInReach {
		t.Fatalf("stock 0 left: %s", outcome(supply, got))
	}
	// a cancels: the 10:00 place and two masks come back.
	if err := m.Release(a2, 2); err != nil {
		t.Fatal(err)
	}
	if m.Stock(0) != 2 || m.SlotLeft(0, 1) != 1 {
		t.Fatalf("stock %d, 10:00 places %d after release", m.Stock(0), m.SlotLeft(0, 1))
	}
	c := must(m.Assign(req("c", 1)))
	if outcome(supply, c) != "slotted/0@10" {
		t.Fatalf("after release: %s", outcome(supply, c))
	}
	if got := must(m.Assign(req("d", 1))); got.Reason != dispatch.OutOfStockInReach {
		t.Fatalf("slots full: %s", outcome(supply, got))
	}
	if err := m.SetStock(1, 3); err != nil {
		t.Fatal(err)
	}
	if got := must(m.Assign(req("d", 3))); outcome(supply, got) != "ring1/1" {
		t.Fatalf("after restock: %s", outcome(supply, got))
	}
	if err := m.SetStock(1, 1); err != nil {
		t.Fatal(err)
	}
	if got := must(m.Assign(req("e", 2))); got.Reason != dispatch.OutOfStockInReach {
		t.Fatalf("after a correction down: %s", outcome(supply, got))
	}

	// c cancels, then its cancellation is replayed: the second release
	// would give the slot a place it never had.
	if err := m.Release(c, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(c, 1); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("a second release: %v, want EINVALID", err)
	}
	if m.SlotLeft(0, 1) != 1 {
		t.Errorf("10:00 places %d, want 1", m.SlotLeft(0, 1))
	}

	for name, err := range map[string]error{
		"release unserved":     m.Release(dispatch.Assignment{Supply: -1, Slot: -1, Ring: -1, Reason: dispatch.OutOfStockInReach}, 1),
		"release bad supply":   m.Release(dispatch.Assignment{Supply: 7}, 1),
		"release quantity 0":   m.Release(a1, 0),
		"release bad slot":     m.Release(dispatch.Assignment{Supply: 0, Slot: 5}, 1),
		"release missing slot": m.Release(dispatch.Assignment{Supply: 0, Slot: -1}, 1),
		"release slot at none": m.Release(dispatch.Assignment{Supply: 1, Slot: 0}, 1),
		"set stock negative":   m.SetStock(0, -1),
		"set stock bad index":  m.SetStock(2, 1),
	} {
		if hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}

// TestAllocateDoesNotChangeInput: the supply points and requests given
// are the caller's and stay as they were.
func TestAllocateDoesNotChangeInput(t *testing.T) {
	reqs, supply := smallCity(t)
	reqs0, supply0 := slices.Clone(reqs), slices.Clone(supply)
	slots0 := make([][]dispatch.Slot, len(supply))
	for i, s := range supply {
		slots0[i] = slices.Clone(s.Slots)
	}
	if _, err := dispatch.Allocate(reqs, supply, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := dispatch.FairShare(reqs, supply, 3); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(reqs, reqs0) || !reflect.DeepEqual(supply, supply0) {
		t.Error("the input changed")
	}
	for i, s := range supply {
		if !reflect.DeepEqual(s.Slots, slots0[i]) {
			t.Errorf("slots of %s changed", s.ID)
		}
	}
}

// TestAllocateGolden pins the allocation of the small city.
func TestAllocateGolden(t *testing.T) {
	reqs, supply := smallCity(t)
	as, err := dispatch.Allocate(reqs, supply, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkAllocation(t, reqs, supply, 3, as)
	golden(t, "allocate_city.golden", []byte(describe(reqs, supply, 3, as, nil)))
}

// describe writes a round and its outcome for a golden file: the
// pharmacies, each request in line order, stock left, and the cells.
func describe(reqs []dispatch.Request, supply []dispatch.SupplyPoint, maxK int, as []dispatch.Assignment, cells []dispatch.CellShare) string {
	var b strings.Builder
	fmt.Fprintf(&b, "maxK %d\n\npharmacies\n", maxK)
	taken := make([]int, len(supply))
	for i, a := range as {
		if a.Served() {
			taken[a.Supply] += reqs[i].Quantity
		}
	}
	for i, s := range supply {
		fmt.Fprintf(&b, "  %s %s stock %d left %d", s.ID, s.Cell, s.Stock, s.Stock-taken[i])
		for _, sl := range s.Slots {
			fmt.Fprintf(&b, " %02d:00x%d", sl.Start.Hour(), sl.Capacity)
		}
		b.WriteByte('\n')
	}
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return compareU64(reqs[x].Seq, reqs[y].Seq) })
	b.WriteString("\nrequests in line order\n")
	for _, i := range order {
		r := reqs[i]
		pref := "--"
		if !r.Slot.IsZero() {
			pref = fmt.Sprintf("%02d", r.Slot.Hour())
		}
		fmt.Fprintf(&b, "  seq %2d %s %s q %d prefers %s -> %s\n", r.Seq, r.ID, r.Cell, r.Quantity, pref, outcome(supply, as[i]))
	}
	if cells == nil {
		cells = dispatch.CellShares(reqs, as)
	}
	b.WriteString("\ncells: requests demand share served served-requests unreachable fulfilment\n")
	for _, c := range cells {
		fmt.Fprintf(&b, "  %s %2d %3d %3d %3d %2d %2d %.3f\n", c.Cell, c.Requests, c.Demand, c.Share, c.Served, c.ServedRequests, c.Unreachable, c.Fulfilment())
	}
	fmt.Fprintf(&b, "\nfulfilment Gini %.4f\n", dispatch.FulfilmentGini(cells))
	return b.String()
}

func TestReasonText(t *testing.T) {
	tests := []struct {
		give dispatch.Reason
		want string
	}{
		{dispatch.Served, "SERVED"},
		{dispatch.NothingInReach, "NOTHING_IN_REACH"},
		{dispatch.OutOfStockInReach, "OUT_OF_STOCK_IN_REACH"},
		{dispatch.Reason(9), "Reason(9)"},
	}
	for _, tt := range tests {
		b, err := tt.give.MarshalText()
		if err != nil || string(b) != tt.want || tt.give.String() != tt.want {
			t.Errorf("%d: %q %v, want %q", tt.give, b, err, tt.want)
		}
	}
}

func TestSupplyFromPharmacies(t *testing.T) {
	rs := rings(t, 0)
	ps := []*hub.Pharmacy{
		{ID: "b", Cell: rs[0][0], Stock: map[hub.SKU]int{hub.MaskAdult: 5, hub.MaskChild: 2}},
		{ID: "a", Cell: rs[0][0]},
		{ID: "c", Cell: rs[0][0], Stock: map[hub.SKU]int{hub.MaskAdult: -3}},
	}
	got := dispatch.SupplyFromPharmacies(ps, hub.MaskAdult)
	want := []dispatch.SupplyPoint{{ID: "b", Cell: rs[0][0], Stock: 5}, {ID: "a", Cell: rs[0][0]}, {ID: "c", Cell: rs[0][0]}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}

// TestSlotZoneIndependence: a preferred slot is matched by instant, not
// by how the time is written.
func TestSlotZoneIndependence(t *testing.T) {
	rs := rings(t, 0)
	supply := []dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 9, Slots: hourly(1, 9, 10)}}
	as, err := dispatch.Allocate([]dispatch.Request{{ID: "r", Cell: rs[0][0], Quantity: 1, Slot: hour(10).UTC()}}, supply, 0)
	if err != nil || outcome(supply, as[0]) != "p/0@10" {
		t.Errorf("%v %v", as, err)
	}
}
