package dispatch_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

func TestApportion(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		weights []int
		caps    []int
		want    []int
	}{
		{"exact", 10, []int{1, 1, 3}, nil, []int{2, 2, 6}},
		// Quotas 4.5, 3.5, 2.0: the half units go to the larger weight
		// first; here both remainders are .5 and one unit is left.
		{"tie to the larger weight", 10, []int{45, 35, 20}, nil, []int{5, 3, 2}},
		{"tie to the earlier claimant", 1, []int{1, 1, 1}, nil, []int{1, 0, 0}},
		{"largest remainders", 7, []int{5, 3, 2}, nil, []int{4, 2, 1}}, // 3.5 2.1 1.4
		// The Alabama-paradox example: 3.23 3.23 3.55 for 10 seats.
		{"hamilton textbook", 10, []int{323, 323, 355}, nil, []int{3, 3, 4}},
		{"total 0", 0, []int{1, 2}, nil, []int{0, 0}},
		{"no weight", 5, []int{0, 0}, nil, []int{0, 0}},
		{"zero weight gets nothing", 5, []int{0, 1}, nil, []int{0, 5}},
		{"no claimants", 5, nil, nil, []int{}},
		{"cap binds and the rest is shared", 10, []int{8, 1, 1}, []int{2, 10, 10}, []int{2, 4, 4}},
		{"caps below total: everyone capped", 10, []int{1, 1}, []int{3, 4}, []int{3, 4}},
		{"cap 0 takes nothing", 6, []int{1, 1, 1}, []int{0, 9, 9}, []int{0, 3, 3}},
		{"chain of caps", 100, []int{50, 30, 15, 5}, []int{10, 20, 100, 100}, []int{10, 20, 53, 17}},
		{"caps equal to quotas", 6, []int{1, 2}, []int{2, 4}, []int{2, 4}},
		// Quotas 2^39 - 0.25, 2^39 - 0.25 and 0.5: the two seats left go to
		// the remainders of .75.
		{"huge numbers", 1 << 40, []int{1 << 40, 1 << 40, 1}, nil, []int{1 << 39, 1 << 39, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dispatch.Apportion(tt.total, tt.weights, tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for name, f := range map[string]func() ([]int, error){
		"negative total":  func() ([]int, error) { return dispatch.Apportion(-1, []int{1}, nil) },
		"negative weight": func() ([]int, error) { return dispatch.Apportion(1, []int{1, -1}, nil) },
		"negative cap":    func() ([]int, error) { return dispatch.Apportion(1, []int{1}, []int{-1}) },
		"caps too short":  func() ([]int, error) { return dispatch.Apportion(1, []int{1, 1}, []int{1}) },
		"weights too big": func() ([]int, error) { return dispatch.Apportion(1, []int{math.MaxInt, math.MaxInt}, nil) },
	} {
		if got, err := f(); hub.ErrorCode(err) != hub.EINVALID || got != nil {
			t.Errorf("%s: %v %v, want an EINVALID error", name, got, err)
		}
	}
}

// TestApportionProperties checks Hamilton's guarantees on random input:
// everything given when the caps allow, nobody above their cap, and
// without caps everybody within one unit of their exact quota.
func TestApportionProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + r.IntN(12)
		w := make([]int, n)
		caps := make([]int, n)
		sumW, sumCaps := 0, 0
		for i := range w {
			w[i] = r.IntN(50)
			caps[i] = r.IntN(40)
			sumW += w[i]
			if w[i] > 0 {
				sumCaps += caps[i]
			}
		}
		total := r.IntN(200)
		got, _ := dispatch.Apportion(total, w, nil)
		sum := 0
		for i, g := range got {
			sum += g
			if sumW > 0 {
				exact := float64(total) * float64(w[i]) / float64(sumW)
				if float64(g) < math.Floor(exact) || float64(g) > math.Ceil(exact) {
					t.Fatalf("Apportion(%d, %v): %v, %d is not within a unit of %f", total, w, got, g, exact)
				}
			}
		}
		if sumW > 0 && sum != total {
			t.Fatalf("Apportion(%d, %v) = %v gives %d", total, w, got, sum)
		}
		got, _ = dispatch.Apportion(total, w, caps)
		sum = 0
		for i, g := range got {
			sum += g
			if g > caps[i] || g < 0 || w[i] == 0 && g != 0 {
				t.Fatalf("Apportion(%d, %v, %v) = %v: %d above cap or weightless", total, w, caps, got, i)
			}
		}
		if sum != min(total, sumCaps) {
			t.Fatalf("Apportion(%d, %v, %v) = %v gives %d, want %d", total, w, caps, got, sum, min(total, sumCaps))
		}
	}
}

func TestGini(t *testing.T) {
	tests := []struct {
		give []float64
		want float64
	}{
		{nil, 0},
		{[]float64{0, 0}, 0},
		{[]float64{0.4, 0.4, 0.4}, 0},
		{[]float64{0, 1}, 0.5},
		{[]float64{1, 0, 0}, 2.0 / 3},
		{[]float64{1, 2, 3, 4}, 0.25},
	}
	for _, tt := range tests {
		if got := dispatch.Gini(tt.give); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Gini(%v) = %f, want %f", tt.give, got, tt.want)
		}
	}
}

// scarceTown is the fairness scenario: one pharmacy with 400 masks in a
// dense cell of 600 people, eight cells two to four rings away with 50
// people each, and a second small pharmacy (40 masks) by the far cells.
// Everyone asks for 2 masks: 2,000 asked, 440 held. The line is what
// happens at a pharmacy door: the people next to it arrive first, the
// others by distance.
func scarceTown(t *testing.T) ([]dispatch.Request, []dispatch.SupplyPoint) {
	rs := rings(t, 6)
	dense := rs[0][0]
	supply := []dispatch.SupplyPoint{
		{ID: "by-the-dense-cell", Cell: dense, Stock: 400},
		{ID: "small", Cell: rs[4][3], Stock: 40},
	}
	var far []hub.Cell
	for i, ring := range [][]hub.Cell{rs[2], rs[3], rs[4]} {
		for j := range 3 {
			if len(far) < 8 {
				far = append(far, ring[(5*j+i)%len(ring)])
			}
		}
	}
	var reqs []dispatch.Request
	add := func(c hub.Cell, n int) {
		for range n {
			reqs = append(reqs, dispatch.Request{ID: fmt.Sprintf("R%04d", len(reqs)), Cell: c, Quantity: 2})
		}
	}
	add(dense, 600)
	for _, c := range far {
		add(c, 50)
	}
	// The line: nearest to the big pharmacy first, in order within a
	// cell.
	slices.SortStableFunc(reqs, func(a, b dispatch.Request) int {
		da, _ := grid.Distance(dense, a.Cell)
		db, _ := grid.Distance(dense, b.Cell)
		return da - db
	})
	for i := range reqs {
		reqs[i].Seq = uint64(i)
	}
	return reqs, supply
}

// TestFairShareGini shows the point of fair shares: on the same scarce
// input, nearest-first (plain Allocate in a line where neighbours come
// first) gives the dense cell by the pharmacy everything, fair shares
// give every cell about the same fraction.
func TestFairShareGini(t *testing.T) {
	reqs, supply := scarceTown(t)
	const maxK = 4
	plain, err := dispatch.Allocate(reqs, supply, maxK)
	if err != nil {
		t.Fatal(err)
	}
	checkAllocation(t, reqs, supply, maxK, plain)
	fair, err := dispatch.FairShare(reqs, supply, maxK)
	if err != nil {
		t.Fatal(err)
	}
	checkAllocation(t, reqs, supply, maxK, fair.Assignments)

	nearest := dispatch.CellShares(reqs, plain)
	gNearest, gFair := dispatch.FulfilmentGini(nearest), dispatch.FulfilmentGini(fair.Cells)
	t.Logf("fulfilment Gini: nearest-first %.4f, fair share %.4f", gNearest, gFair)
	for i, c := range fair.Cells {
		t.Logf("  %s demand %3d  nearest-first served %3d (%.3f)  fair share %3d served %3d (%.3f)",
			c.Cell, c.Demand, nearest[i].Served, nearest[i].Fulfilment(), c.Share, c.Served, c.Fulfilment())
	}
	if gNearest < 0.6 || gFair > 0.05 || gNearest-gFair < 0.55 {
		t.Errorf("Gini nearest-first %.4f, fair %.4f: want nearest >= 0.6, fair <= 0.05, a gap of 0.55 or more", gNearest, gFair)
	}
	// Both hand out everything: fairness costs no masks.
	if a, b := servedUnits(reqs, plain), servedUnits(reqs, fair.Assignments); a != 440 || b != 440 {
		t.Errorf("served %d nearest-first, %d fair, want all 440", a, b)
	}
	// The same Gini holds whatever the line's order within the cells
	// and across them: fair shares do not depend on who came first.
	r := rand.New(rand.NewPCG(3, 3))
	shuffled := slices.Clone(reqs)
	for i, p := range r.Perm(len(shuffled)) {
		shuffled[i].Seq = uint64(p)
	}
	again, err := dispatch.FairShare(shuffled, supply, maxK)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range again.Cells {
		if c.Share != fair.Cells[i].Share || c.Served != fair.Cells[i].Served {
			t.Errorf("cell %s: share %d served %d in a shuffled line, %d and %d in order", c.Cell, c.Share, c.Served, fair.Cells[i].Share, fair.Cells[i].Served)
		}
	}
}

func servedUnits(reqs []dispatch.Request, as []dispatch.Assignment) int {
	n := 0
	for i, a := range as {
		if a.Served() {
			n += reqs[i].Quantity
		}
	}
	return n
}

// TestFairShareProperties checks, on random rounds, what fair shares
// promise: stock and slots never exceeded; no cell shares more than it
// asks; with one quantity and no slots every share served exactly; and
// nothing useful left on the shelf: no unserved request has a pharmacy
// in reach that could still serve it.
func TestFairShareProperties(t *testing.T) {
	for seed := range uint64(16) {
		maxK := 1 + int(seed%5)
		t.Run(fmt.Sprintf("seed=%d/k=%d", seed, maxK), func(t *testing.T) {
			reqs, supply := randomRound(t, seed, 20+int(seed)*10, 600)
			uniform := seed%2 == 0
			if uniform {
				for i := range reqs {
					reqs[i].Quantity = 2
				}
				for i := range supply {
					supply[i].Slots = nil
				}
			}
			res, err := dispatch.FairShare(reqs, supply, maxK)
			if err != nil {
				t.Fatal(err)
			}
			checkAllocation(t, reqs, supply, maxK, res.Assignments)
			if uniform && res.Quantum != 2 {
				t.Errorf("quantum %d, want 2", res.Quantum)
			}
			if want := dispatch.CellShares(reqs, res.Assignments); len(want) != len(res.Cells) {
				t.Fatalf("%d cells reported, %d with requests", len(res.Cells), len(want))
			}
			for _, c := range res.Cells {
				if c.Share > c.Demand || c.Served > c.Demand || c.ServedRequests > c.Requests {
					t.Errorf("cell %s: %+v", c.Cell, c)
				}
				if uniform && c.Served != c.Share {
					t.Errorf("cell %s: share %d, served %d", c.Cell, c.Share, c.Served)
				}
			}
			left := make([]int, len(supply))
			room := make([]int, len(supply))
			for i, s := range supply {
				left[i] = s.Stock
				room[i] = math.MaxInt
				if len(s.Slots) > 0 {
					room[i] = 0
					for _, sl := range s.Slots {
						room[i] += sl.Capacity
					}
				}
			}
			for i, a := range res.Assignments {
				if a.Served() {
					left[a.Supply] -= reqs[i].Quantity
					if room[a.Supply] != math.MaxInt {
						room[a.Supply]--
					}
				}
			}
			for i, a := range res.Assignments {
				if a.Served() {
					continue
				}
				for p, s := range supply {
					if d, err := grid.Distance(reqs[i].Cell, s.Cell); err == nil && d <= maxK && left[p] >= reqs[i].Quantity && room[p] > 0 {
						t.Fatalf("request %s (%d) unserved, %s has %d left %d rings away", reqs[i].ID, reqs[i].Quantity, s.ID, left[p], d)
					}
				}
			}
			again, err := dispatch.FairShare(reqs, supply, maxK)
			if err != nil || !slices.Equal(again.Assignments, res.Assignments) || !slices.Equal(again.Cells, res.Cells) {
				t.Error("not deterministic")
			}
		})
	}
}

// TestFairShareAmple: with enough in reach for everyone, every share is
// the demand and everyone in reach is served.
func TestFairShareAmple(t *testing.T) {
	reqs, supply := scarceTown(t)
	supply = scaled(supply, 10)
	res, err := dispatch.FairShare(reqs, supply, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cells {
		if c.Share != c.Demand || c.Served != c.Demand {
			t.Errorf("cell %s: demand %d, share %d, served %d", c.Cell, c.Demand, c.Share, c.Served)
		}
	}
	if g := dispatch.FulfilmentGini(res.Cells); g != 0 {
		t.Errorf("Gini %f, want 0", g)
	}
}

// TestFairShareReach: a share is only made of stock in reach. A cell
// that reaches one small pharmacy alone gets all of it while the cells
// sharing the big one split it; a cell out of reach of everything gets
// nothing and says so.
func TestFairShareReach(t *testing.T) {
	rs := rings(t, 9)
	supply := []dispatch.SupplyPoint{
		{ID: "big", Cell: rs[0][0], Stock: 40},
		{ID: "lonely", Cell: rs[9][0], Stock: 4},
	}
	var reqs []dispatch.Request
	add := func(c hub.Cell, n int) {
		for range n {
			reqs = append(reqs, dispatch.Request{ID: fmt.Sprintf("R%03d", len(reqs)), Cell: c, Quantity: 1, Seq: uint64(len(reqs))})
		}
	}
	add(rs[0][0], 60)  // by big: 60 asks, big's catchment 80
	add(rs[1][2], 20)  // big's catchment too
	add(rs[9][0], 10)  // by lonely only: 4 of 10
	add(rs[5][14], 10) // nothing within 1 ring
	res, err := dispatch.FairShare(reqs, supply, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[hub.Cell][2]int{}
	for _, c := range res.Cells {
		got[c.Cell] = [2]int{c.Share, c.Served}
	}
	want := map[hub.Cell][2]int{rs[0][0]: {30, 30}, rs[1][2]: {10, 10}, rs[9][0]: {4, 4}, rs[5][14]: {0, 0}}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("cell %s: share, served %v, want %v", c, got[c], w)
		}
	}
	for i, a := range res.Assignments {
		if reqs[i].Cell == rs[5][14] && a.Reason != dispatch.NothingInReach {
			t.Errorf("request %s: %v, want NOTHING_IN_REACH", reqs[i].ID, a.Reason)
		}
	}
	// The unreachable cell does not count towards the Gini: the cells
	// that can be served got 0.5, 0.5 and 0.4.
	if g, want := dispatch.FulfilmentGini(res.Cells), dispatch.Gini([]float64{0.5, 0.5, 0.4}); math.Abs(g-want) > 1e-12 {
		t.Errorf("Gini %f, want %f", g, want)
	}
}

// TestFairShareLineWithinCell: within a cell, people are chosen in line
// order (Seq), so a lottery's draw order decides who in the cell gets the
// cell's share.
func TestFairShareLineWithinCell(t *testing.T) {
	rs := rings(t, 1)
	supply := []dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 4}}
	reqs := []dispatch.Request{
		{ID: "a", Cell: rs[0][0], Quantity: 2, Seq: 3},
		{ID: "b", Cell: rs[0][0], Quantity: 2, Seq: 1},
		{ID: "c", Cell: rs[1][0], Quantity: 2, Seq: 0},
		{ID: "d", Cell: rs[1][0], Quantity: 2, Seq: 2},
	}
	res, err := dispatch.FairShare(reqs, supply, 1)
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for i, a := range res.Assignments {
		if a.Served() {
			served = append(served, reqs[i].ID)
		}
	}
	if !slices.Equal(served, []string{"b", "c"}) {
		t.Errorf("served %v, want the first in line of each cell: [b c]", served)
	}
}

// TestFairShareMixedQuantities: with quantities 2 and 3 the quantum is 1,
// and what the parts cannot place goes to whoever can still use it.
func TestFairShareMixedQuantities(t *testing.T) {
	rs := rings(t, 1)
	supply := []dispatch.SupplyPoint{{ID: "p", Cell: rs[0][0], Stock: 7}}
	reqs := []dispatch.Request{
		{ID: "a", Cell: rs[0][0], Quantity: 3, Seq: 0},
		{ID: "b", Cell: rs[0][0], Quantity: 3, Seq: 1},
		{ID: "c", Cell: rs[1][0], Quantity: 2, Seq: 2},
		{ID: "d", Cell: rs[1][0], Quantity: 2, Seq: 3},
	}
	res, err := dispatch.FairShare(reqs, supply, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Quantum != 1 {
		t.Errorf("quantum %d", res.Quantum)
	}
	// Demand 6 and 4, 7 to share: 4.2 and 2.8, so 4 and 3. Cell 0
	// serves a (3), cell 1 serves c (2); 2 left: d takes them.
	if got := servedUnits(reqs, res.Assignments); got != 7 {
		t.Errorf("served %d of 7", got)
	}
	if res.Cells[0].Share+res.Cells[1].Share != 7 {
		t.Errorf("shares %+v", res.Cells)
	}
}

func TestFairShareEmpty(t *testing.T) {
	res, err := dispatch.FairShare(nil, nil, 3)
	if err != nil || len(res.Assignments) != 0 || len(res.Cells) != 0 {
		t.Errorf("%+v %v", res, err)
	}
}

// TestFairShareGolden pins the fair share of the small city.
func TestFairShareGolden(t *testing.T) {
	reqs, supply := smallCity(t)
	res, err := dispatch.FairShare(reqs, supply, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkAllocation(t, reqs, supply, 3, res.Assignments)
	out := describe(reqs, supply, 3, res.Assignments, res.Cells)
	out += fmt.Sprintf("quantum %d, filling rounds %d\n", res.Quantum, res.Rounds)
	golden(t, "fairshare_city.golden", []byte(out))
}
