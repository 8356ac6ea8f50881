package dispatch

import (
	"cmp"
	"math"
	"math/bits"
	"slices"

	"github.com/gridhub/gridhub/hub"
)

// This file shares scarce supply between cells in proportion to their
// demand, so that living next to a pharmacy is no privilege (DESIGN.md §6).
//
// Shares and reach. A cell's share is only worth something if pharmacies
// in its reach can fill it, so shares are not computed city-wide nor per
// connected "reach component" (in a dense city every cell is chained to
// every other, and a component-wide proportion would promise a cell stock
// that only its neighbours can reach). They are computed per pharmacy
// catchment and made of parts: x[p][c], the units pharmacy p sets aside
// for cell c, only for pharmacies p within maxK rings of c. A share is
// therefore servable by construction: the parts name where to collect.
//
// The parts come from progressive filling, in rounds, in quanta (the
// greatest common divisor of the requests' quantities, so that a part is
// a whole number of requests when quantities are equal):
//
//  1. Each cell with unmet demand u claims all of it from the pharmacies
//     in its reach that have supply s left, split in proportion to s
//     (largest remainders): a cell leans on the bigger pharmacies. A
//     claim is not capped at s: a pharmacy must see the whole demand on
//     it to split its supply in proportion.
//  2. Each pharmacy grants all claims on it if it can; otherwise it
//     splits its supply between the claiming cells in proportion to
//     their claims (largest remainders, capped at the claim). Cells that
//     reach the same pharmacies get the same fraction of their demand,
//     however near they live and whenever they came.
//  3. Grants are added to the parts, supply and unmet demand fall, and the
//     next round starts, until a round grants nothing.
//
// Each round either runs a pharmacy dry or satisfies every claim, so there
// are at most one round per pharmacy, plus one; a handful in practice. It
// ends with no pharmacy that has supply left in reach of a cell that has
// demand left: no stock is kept from anyone who could use it.
//
// People are then chosen within each cell in line order (Seq: arrival for
// FIRST_COME, draw order for LOTTERY) while their quantity fits the
// cell's share, and each chosen person is matched, in line order, to a
// pharmacy holding a part for their cell: nearest ring first, then most
// stock left, then ID, with a slot as in Allocate. What the parts could not
// place (a remainder below one quantum, a slot that filled up) goes last
// to everyone still unserved, by plain Allocate, so nothing useful is left on
// the shelf.
//
// What fair shares cannot do: move stock out of reach. Where supply per
// head differs from one catchment to the next, fulfilment still differs
// by place, and a cell between two catchments gets a blend of their
// rates. What they remove is the privilege of being nearest or first in
// line: on a dense cell next to a pharmacy with far cells around it (the
// test TestFairShareGini), the Gini coefficient of per-cell fulfilment
// falls from 0.89 (nearest first) to 0.03.
//
// Largest remainders (Hamilton): each claimant gets the whole part of its
// exact quota total*w/W; the units left over go one each to the largest
// fractional parts, ties to the larger weight, then to the earlier
// claimant (a pharmacy's cells in cell order; a cell's pharmacies nearest
// ring first, then by ID). Caps are met by
// giving every claimant whose exact quota reaches its cap exactly its cap
// and sharing what is left between the others, until no quota reaches a
// cap.

// CellShare reports one cell's demand and what it got.
type CellShare struct {
	Cell hub.Cell
	// Requests is the number of requests from the cell, Demand the units
	// they ask for.
	Requests int
	Demand   int
	// Share is the units set aside for the cell by the fair share; for a
	// plain Allocate it equals Served.
	Share int
	// Served is the units allocated to the cell's requests, and
	// ServedRequests how many of them were served.
	Served         int
	ServedRequests int
	// Unreachable is the number of requests with nothing in reach.
	Unreachable int
}

// Fulfilment returns the part of the cell's demand that was served,
// between 0 and 1 (0 for no demand).
func (c CellShare) Fulfilment() float64 {
	if c.Demand <= 0 {
		return 0
	}
	return float64(c.Served) / float64(c.Demand)
}

// FairResult is the outcome of FairShare.
type FairResult struct {
	// Assignments holds one assignment per request, in the order given.
	Assignments []Assignment
	// Cells reports every cell with requests, in cell order.
	Cells []CellShare
	// Quantum is the unit of the shares: the greatest common divisor of
	// the requests' quantities.
	Quantum int
	// Rounds is the number of filling rounds that granted something.
	Rounds int
}

// FairShare allocates the supply to the requests so that cells in reach
// of the same pharmacies are served the same fraction of their demand,
// by the method described at the top of this file. When supply is ample
// every cell's share is its demand, as far as pharmacies in reach hold
// it. A pharmacy with pickup slots offers at most its slot places times
// the largest quantity asked. Errors are those of Allocate.
func FairShare(reqs []Request, supply []SupplyPoint, maxK int) (*FairResult, error) {
	m, err := NewMatcher(supply, maxK)
	if err != nil {
		return nil, err
	}
	for i := range reqs {
		if reqs[i].Quantity < 1 {
			return nil, hub.Errorf(hub.EINVALID, "request %q: quantity %d, want at least 1", reqs[i].ID, reqs[i].Quantity)
		}
	}
	groupOf, err := m.groupsOf(reqs)
	if err != nil {
		return nil, err
	}
	res := &FairResult{Assignments: make([]Assignment, len(reqs)), Quantum: 1}
	if len(reqs) == 0 {
		return res, nil
	}

	// The cells with requests, in cell order, and each request's cell.
	// Groups are numbered densely by the matcher.
	cellIdx := make([]int32, m.Groups()) // group -> cell index, -1 for none
	for g := range cellIdx {
		cellIdx[g] = -1
	}
	groupCell := make([]hub.Cell, m.Groups())
	var groups []int32
	qmax, quantum := 0, 0
	for i, g := range groupOf {
		if cellIdx[g] < 0 {
			cellIdx[g] = 0
			groupCell[g] = reqs[i].Cell
			groups = append(groups, g)
		}
		quantum = gcd(quantum, reqs[i].Quantity)
		qmax = max(qmax, reqs[i].Quantity)
	}
	res.Quantum = quantum
	slices.SortFunc(groups, func(a, b int32) int { return cmp.Compare(groupCell[a], groupCell[b]) })
	cells := make([]CellShare, len(groups))
	for ci, g := range groups {
		cellIdx[g] = int32(ci)
		cells[ci].Cell = groupCell[g]
	}
	cellOf := make([]int32, len(reqs))
	for i, g := range groupOf {
		ci := cellIdx[g]
		cellOf[i] = ci
		cells[ci].Requests++
		cells[ci].Demand += reqs[i].Quantity
	}

	// The edges: for each cell, the pharmacies in its reach that hold at
	// least a quantum, by ring and then ID.
	k1 := m.maxK + 1
	supplyQ := make([]int, len(m.ids)) // quanta left per pharmacy
	for p := range supplyQ {
		s := m.stock[p] / quantum
		if m.room[p] != math.MaxInt {
			s = min(s, m.room[p]*(qmax/quantum))
		}
		supplyQ[p] = s
	}
	type edge struct {
		p    int32 // pharmacy
		ring int32 // grid steps from the cell
		ci   int32 // cell
	}
	var edges []edge
	cellEdges := make([]int32, len(groups)+1) // cell ci's edges are edges[cellEdges[ci]:cellEdges[ci+1]]
	for ci, g := range groups {
		cellEdges[ci] = int32(len(edges))
		offs := m.off[int(g)*(k1+1):][:k1+1]
		for ring := range k1 {
			start := len(edges)
			for _, p := range m.cand[offs[ring]:offs[ring+1]] {
				if supplyQ[p] > 0 {
					edges = append(edges, edge{p, int32(ring), int32(ci)})
				}
			}
			slices.SortFunc(edges[start:], func(a, b edge) int { return cmp.Compare(m.rank[a.p], m.rank[b.p]) })
		}
	}
	cellEdges[len(groups)] = int32(len(edges))
	// For each pharmacy, its edges in cell order.
	pharmEdges := make([]int32, len(m.ids)+1)
	for _, e := range edges {
		pharmEdges[e.p+1]++
	}
	for p := range m.ids {
		pharmEdges[p+1] += pharmEdges[p]
	}
	byPharm := make([]int32, len(edges))
	fill := slices.Clone(pharmEdges[:len(m.ids)])
	for e := range edges {
		p := edges[e].p
		byPharm[fill[p]] = int32(e)
		fill[p]++
	}

	// Progressive filling.
	unmet := make([]int, len(groups))
	for ci := range cells {
		unmet[ci] = cells[ci].Demand / quantum
	}
	part := make([]int, len(edges))  // quanta set aside per edge
	claim := make([]int, len(edges)) // this round's claims
	var ap apportioner
	var w, out []int
	for {
		for ci := range cells {
			es := edges[cellEdges[ci]:cellEdges[ci+1]]
			if unmet[ci] == 0 {
				clear(claim[cellEdges[ci]:cellEdges[ci+1]])
				continue
			}
			w = w[:0]
			for _, e := range es {
				w = append(w, supplyQ[e.p])
			}
			out = ap.apportion(unmet[ci], w, nil, out)
			copy(claim[cellEdges[ci]:], out)
		}
		granted := 0
		for p := range m.ids {
			es := byPharm[pharmEdges[p]:pharmEdges[p+1]]
			if supplyQ[p] == 0 || len(es) == 0 {
				continue
			}
			w = w[:0]
			total := 0
			for _, e := range es {
				w = append(w, claim[e])
				total += claim[e]
			}
			if total == 0 {
				continue
			}
			if total <= supplyQ[p] {
				out = append(out[:0], w...)
			} else {
				out = ap.apportion(supplyQ[p], w, w, out)
			}
			for j, e := range es {
				part[e] += out[j]
				supplyQ[p] -= out[j]
				unmet[edges[e].ci] -= out[j]
				granted += out[j]
			}
		}
		if granted == 0 {
			break
		}
		res.Rounds++
	}

	// Shares, and the people chosen within each cell in line order.
	partLeft := make([]int, len(edges)) // units
	shareLeft := make([]int, len(cells))
	for ci := range cells {
		for e := cellEdges[ci]; e < cellEdges[ci+1]; e++ {
			partLeft[e] = part[e] * quantum
			cells[ci].Share += partLeft[e]
		}
		shareLeft[ci] = cells[ci].Share
	}
	order := lineOrder(reqs)
	full := make([]bool, len(cells)) // the line stopped at someone who did not fit
	chosen := make([]bool, len(reqs))
	for _, i := range order {
		ci := cellOf[i]
		if full[ci] {
			continue
		}
		if q := reqs[i].Quantity; q <= shareLeft[ci] {
			shareLeft[ci] -= q
			chosen[i] = true
		} else {
			full[ci] = true
		}
	}

	// The chosen, matched to the parts, in line order.
	var rest []Request
	var restIdx []int
	for _, i := range order {
		r := &reqs[i]
		ci := cellOf[i]
		best := int32(-1)
		if chosen[i] {
			for e := cellEdges[ci]; e < cellEdges[ci+1]; e++ {
				ed := edges[e]
				if partLeft[e] < r.Quantity || !m.canServe(ed.p, r.Quantity) {
					continue
				}
				if best < 0 {
					best = e
					continue
				}
				b := edges[best]
				if ed.ring > b.ring {
					break
				}
				if m.stock[ed.p] > m.stock[b.p] || m.stock[ed.p] == m.stock[b.p] && m.rank[ed.p] < m.rank[b.p] {
					best = e
				}
			}
		}
		if best < 0 {
			rest = append(rest, *r)
			restIdx = append(restIdx, int(i))
			continue
		}
		p := edges[best].p
		partLeft[best] -= r.Quantity
		res.Assignments[i] = Assignment{Supply: int(p), Slot: m.take(p, r.Quantity, r.Slot), Ring: int(edges[best].ring), Reason: Served}
	}

	// What the parts could not place goes to everyone still unserved.
	as, err := m.Allocate(rest)
	if err != nil {
		return nil, err // cannot happen: the requests were checked
	}
	for j, a := range as {
		res.Assignments[restIdx[j]] = a
	}

	for i, a := range res.Assignments {
		c := &cells[cellOf[i]]
		switch a.Reason {
		case Served:
			c.Served += reqs[i].Quantity
			c.ServedRequests++
		case NothingInReach:
			c.Unreachable++
		}
	}
	res.Cells = cells
	return res, nil
}

// CellShares reports per cell what an allocation gave: demand, units and
// requests served, and requests with nothing in reach, with Share equal to
// Served. as must hold one assignment per request, in the same order.
func CellShares(reqs []Request, as []Assignment) []CellShare {
	byCell := map[hub.Cell]*CellShare{}
	var cells []hub.Cell
	for i := range reqs {
		r := &reqs[i]
		c, ok := byCell[r.Cell]
		if !ok {
			c = &CellShare{Cell: r.Cell}
			byCell[r.Cell] = c
			cells = append(cells, r.Cell)
		}
		c.Requests++
		c.Demand += r.Quantity
		if i < len(as) {
			switch as[i].Reason {
			case Served:
				c.Served += r.Quantity
				c.Share += r.Quantity
				c.ServedRequests++
			case NothingInReach:
				c.Unreachable++
			}
		}
	}
	slices.Sort(cells)
	out := make([]CellShare, len(cells))
	for i, c := range cells {
		out[i] = *byCell[c]
	}
	return out
}

// FulfilmentGini returns the Gini coefficient of the cells' fulfilment
// rates: 0 when every cell got the same fraction of its demand, towards 1
// when a few cells got everything. Each cell counts once, whatever its
// size. Cells whose every request had nothing in reach are left out: no
// allocation can serve them, so they say nothing about its fairness.
func FulfilmentGini(cells []CellShare) float64 {
	xs := make([]float64, 0, len(cells))
	for _, c := range cells {
		if c.Demand > 0 && c.Unreachable < c.Requests {
			xs = append(xs, c.Fulfilment())
		}
	}
	return Gini(xs)
}

// Gini returns the Gini coefficient of xs, which must not be negative:
// the mean absolute difference between all pairs divided by twice the
// mean. It is 0 for no values or values all zero.
func Gini(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum, weighted float64
	for i, x := range s {
		sum += x
		weighted += float64(i+1) * x
	}
	n := float64(len(s))
	if n == 0 || sum == 0 {
		return 0
	}
	return max(0, 2*weighted/(n*sum)-(n+1)/n)
}

// Apportion splits total units between claimants in proportion to their
// weights by largest remainders (Hamilton), giving none more than its cap
// when caps is not nil, and returns each claimant's units. When the caps
// add up to less than total, every claimant gets its cap and the rest is
// not given. Ties in remainders go to the larger weight, then the earlier
// claimant. Negative input, or caps of another length than weights, is an
// EINVALID error. The committees of a COMMITTEE round take their quotas
// from it too.
func Apportion(total int, weights, caps []int) ([]int, error) {
	if total < 0 {
		return nil, hub.Errorf(hub.EINVALID, "apportion: total %d, want at least 0", total)
	}
	if caps != nil && len(caps) != len(weights) {
		return nil, hub.Errorf(hub.EINVALID, "apportion: %d caps for %d weights", len(caps), len(weights))
	}
	var sum uint64
	for i, w := range weights {
		if w < 0 || caps != nil && caps[i] < 0 {
			return nil, hub.Errorf(hub.EINVALID, "apportion: negative weight or cap at %d", i)
		}
		sum += uint64(w)
		if sum > math.MaxInt64 {
			return nil, hub.Errorf(hub.EINVALID, "apportion: weights add up to more than %d", int64(math.MaxInt64))
		}
	}
	var ap apportioner
	return ap.apportion(total, weights, caps, nil), nil
}

// apportioner holds scratch space for apportion, so that the filling
// rounds do not allocate per cell.
type apportioner struct {
	act, idx []int32
	rem      []uint64
}

// apportion is Apportion on checked input, writing into out (reused when
// it has room).
func (ap *apportioner) apportion(total int, w, caps, out []int) []int {
	out = slices.Grow(out[:0], len(w))[:len(w)]
	clear(out)
	act := ap.act[:0]
	for i := range w {
		if w[i] > 0 && (caps == nil || caps[i] > 0) {
			act = append(act, int32(i))
		}
	}
	left := uint64(total)
	for left > 0 && len(act) > 0 {
		var sum uint64
		for _, i := range act {
			sum += uint64(w[i])
		}
		if caps != nil {
			// Everyone whose exact quota left*w/sum reaches the cap
			// gets the cap; sharing the rest only raises the others'
			// quotas, so all of them can be fixed at once.
			kept, given := act[:0], uint64(0)
			for _, i := range act {
				if !less128(left, uint64(w[i]), uint64(caps[i]), sum) {
					out[i] = caps[i]
					given += uint64(caps[i])
				} else {
					kept = append(kept, i)
				}
			}
			if given > 0 {
				left -= given
				act = kept
				continue
			}
		}
		rem := ap.rem[:0]
		var given uint64
		for _, i := range act {
			hi, lo := bits.Mul64(left, uint64(w[i]))
			q, r := bits.Div64(hi, lo, sum)
			out[i] = int(q)
			given += q
			rem = append(rem, r)
		}
		seats := left - given // fewer than len(act)
		if seats > 0 {
			idx := ap.idx[:0]
			for j := range act {
				idx = append(idx, int32(j))
			}
			slices.SortFunc(idx, func(a, b int32) int {
				return cmp.Or(cmp.Compare(rem[b], rem[a]), cmp.Compare(w[act[b]], w[act[a]]), cmp.Compare(act[a], act[b]))
			})
			for _, j := range idx[:seats] {
				out[act[j]]++
			}
			ap.idx = idx
		}
		ap.rem = rem
		break
	}
	ap.act = act
	return out
}

// less128 reports whether a*b < c*d without overflow.
func less128(a, b, c, d uint64) bool {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	return h1 < h2 || h1 == h2 && l1 < l2
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
