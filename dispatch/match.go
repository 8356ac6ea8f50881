package dispatch

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// This file is the matching core of the dispatch engine: pending requests
// in, one pharmacy (and pickup slot) per request out. It is pure: no
// storage, no clock, no randomness; the same input gives the same output.
//
// The rule, from DESIGN.md §6:
//
//   - requests are served in line order (Request.Seq, ties by ID), each
//     whole from one pharmacy or not at all;
//   - a request looks at the rings around its cell outward, ring 0 (its
//     own cell) to ring maxK, and takes the first ring holding a pharmacy
//     that can serve it;
//   - within that ring it takes the pharmacy with the most stock left, so
//     that queues spread; ties go to the lower pharmacy ID (grid distance,
//     the next key, is the ring itself and so already equal);
//   - a pharmacy can serve a request when its stock left is at least the
//     request's quantity and, if it has pickup slots, one of them has a
//     place left; stock is never exceeded;
//   - the slot is the one the request prefers when it has a place, else
//     the earliest slot with a place.

// Request is one person's pending request in a round.
type Request struct {
	// ID names the request (a reservation ID); it breaks ties in Seq.
	ID string
	// Cell is where the person lives, at the base resolution.
	Cell hub.Cell
	// Quantity is how many units the person asks for, at least 1. A
	// request is served whole from one pharmacy or not at all.
	Quantity int
	// Seq is the request's place in line: lower goes first. It is the
	// arrival order in a FIRST_COME round and the draw order (Draw's
	// winners, in order) in a LOTTERY round.
	Seq uint64
	// Slot is the Start of the pickup slot the person prefers; the zero
	// time means no preference.
	Slot time.Time
}

// Slot is a pickup time slot at a pharmacy (Guangzhou's 到店时段).
type Slot struct {
	Start, End time.Time
	// Capacity is how many pickups the slot takes, at least 0.
	Capacity int
}

// SupplyPoint is a pharmacy as the matcher sees it in one round: where it
// stands, how many units of the round's SKU it has left, and its pickup
// slots.
type SupplyPoint struct {
	// ID is the pharmacy ID, unique among the supply points; it breaks
	// ties between pharmacies with equal stock in one ring.
	ID string
	// Cell is where the pharmacy stands, at the base resolution.
	Cell hub.Cell
	// Stock is the number of units left, at least 0.
	Stock int
	// Slots are the pickup slots, earliest first with distinct starts.
	// None means pickups are not limited by slots (delivery, or a
	// pharmacy that takes walk-ins).
	Slots []Slot
}

// SupplyFromPharmacies returns a supply point per pharmacy for the given
// SKU, in the order given, without slots.
func SupplyFromPharmacies(ps []*hub.Pharmacy, sku hub.SKU) []SupplyPoint {
	out := make([]SupplyPoint, len(ps))
	for i, p := range ps {
		out[i] = SupplyPoint{ID: p.ID, Cell: p.Cell, Stock: max(p.Stock[sku], 0)}
	}
	return out
}

// Reason tells whether a request was served and, if not, why.
type Reason uint8

// The reasons. The zero value is Served.
const (
	// Served: the request has a pharmacy (and a slot, if it has slots).
	Served Reason = iota
	// NothingInReach: no pharmacy stands within maxK rings of the cell;
	// the person may register a shortage, a restock will not help.
	NothingInReach
	// OutOfStockInReach: pharmacies stand within reach, but none has
	// enough stock left and a pickup slot with a place.
	OutOfStockInReach
)

// String returns the reason as clients see it: SERVED, NOTHING_IN_REACH
// or OUT_OF_STOCK_IN_REACH.
func (r Reason) String() string {
	switch r {
	case Served:
		return "SERVED"
	case NothingInReach:
		return "NOTHING_IN_REACH"
	case OutOfStockInReach:
		return "OUT_OF_STOCK_IN_REACH"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Assignment is the outcome for one request.
type Assignment struct {
	// Supply is the index of the pharmacy in the supply points given, or
	// -1 when the request is not served.
	Supply int
	// Slot is the index of the pickup slot in that pharmacy's Slots, or
	// -1 when it has none or the request is not served.
	Slot int
	// Ring is the number of grid steps from the request's cell to the
	// pharmacy's, or -1 when the request is not served.
	Ring int
	// Reason is Served or why the request is not served.
	Reason Reason
}

// Served reports whether the request has a pharmacy.
func (a Assignment) Served() bool { return a.Reason == Served }

func unserved(r Reason) Assignment { return Assignment{Supply: -1, Slot: -1, Ring: -1, Reason: r} }

// Allocate assigns each request to a pharmacy by the rule at the top of this
// file, walking at most maxK rings (0 to grid.MaxK). The assignments come
// back in the order of reqs; the supply points are not changed. It is
// NewMatcher followed by Matcher.Allocate.
func Allocate(reqs []Request, supply []SupplyPoint, maxK int) ([]Assignment, error) {
	m, err := NewMatcher(supply, maxK)
	if err != nil {
		return nil, err
	}
	return m.Allocate(reqs)
}

// Matcher holds the state of one round's matching: stock and slot places
// left per pharmacy, and for every cell it has seen the pharmacies in its
// reach, ring by ring. Build it once from the round's supply, then feed it
// requests in batches (Allocate) or one at a time (Assign). A Matcher is not
// safe for concurrent use; the engine that owns it serialises calls.
//
// Speed comes from three things. The reach of a cell (its candidate
// pharmacies per ring) is computed once per distinct cell, not per request,
// and a batch computes it from whichever side is smaller: from each new
// request cell's rings, or from each pharmacy cell's rings, inverted (an
// H3 disk is symmetric away from the twelve pentagons). Pharmacies that
// can serve no one (no stock, or every slot full) are dropped from a
// cell's lists the first time a scan meets them. And a cell remembers the
// smallest quantity it failed to serve: stock only falls during matching,
// so a larger or equal request there fails at once.
type Matcher struct {
	maxK int

	// Per supply point, by the caller's index.
	ids       []string
	cells     []hub.Cell
	rank      []int32 // position in ID order: the tie-break
	stock     []int
	room      []int // places left over all slots; math.MaxInt without slots
	slotStart [][]time.Time
	slotLeft  [][]int
	slotCap   [][]int

	byCell map[hub.Cell][]int32 // supply indexes per pharmacy cell
	pcells []hub.Cell           // the pharmacy cells, sorted

	// Per request cell ("group"): its candidates, ring by ring, in one
	// flat array. Group g's ring r is cand[off[g*(maxK+2)+r]:][:live[g*(maxK+1)+r]];
	// dead candidates are swapped past live, never overwritten, so that
	// revive can bring them back.
	groups map[hub.Cell]int32
	cand   []int32
	off    []int32
	live   []int32
	failQ  []int    // smallest quantity known to fail; math.MaxInt for none
	epoch  []uint32 // the revive epoch the group's live counts belong to
	now    uint32   // the current revive epoch

	// via forces how reach is built (tests only): 0 picks the cheaper
	// side, 1 builds from request cells, 2 from pharmacy cells.
	via int
}

// NewMatcher returns a matcher over the supply points with the given
// reach in rings. The supply points are copied; their indexes name them in
// every Assignment. Invalid input (a bad cell, negative stock or capacity,
// a repeated ID, slots out of order, maxK outside [0, grid.MaxK]) is an
// EINVALID error.
func NewMatcher(supply []SupplyPoint, maxK int) (*Matcher, error) {
	if err := grid.CheckK(maxK); err != nil {
		return nil, err
	}
	n := len(supply)
	if n > math.MaxInt32 {
		return nil, hub.Errorf(hub.EINVALID, "%d supply points, more than %d", n, math.MaxInt32)
	}
	m := &Matcher{
		maxK:      maxK,
		ids:       make([]string, n),
		cells:     make([]hub.Cell, n),
		rank:      make([]int32, n),
		stock:     make([]int, n),
		room:      make([]int, n),
		slotStart: make([][]time.Time, n),
		slotLeft:  make([][]int, n),
		slotCap:   make([][]int, n),
		byCell:    map[hub.Cell][]int32{},
		groups:    map[hub.Cell]int32{},
	}
	order := make([]int32, n)
	for i := range supply {
		s := &supply[i]
		if err := checkBaseCell(s.Cell); err != nil {
			return nil, invalidf(err, "pharmacy %q: %s", s.ID, hub.ErrorMessage(err))
		}
		if s.Stock < 0 {
			return nil, hub.Errorf(hub.EINVALID, "pharmacy %q: stock %d, want at least 0", s.ID, s.Stock)
		}
		m.ids[i], m.cells[i], m.stock[i], order[i] = s.ID, s.Cell, s.Stock, int32(i)
		m.room[i] = math.MaxInt
		if len(s.Slots) > 0 {
			m.room[i] = 0
			m.slotStart[i] = make([]time.Time, len(s.Slots))
			m.slotLeft[i] = make([]int, len(s.Slots))
			m.slotCap[i] = make([]int, len(s.Slots))
			for j, sl := range s.Slots {
				if sl.Capacity < 0 {
					return nil, hub.Errorf(hub.EINVALID, "pharmacy %q: slot %d has capacity %d, want at least 0", s.ID, j, sl.Capacity)
				}
				if sl.Start.IsZero() {
					return nil, hub.Errorf(hub.EINVALID, "pharmacy %q: slot %d has no start", s.ID, j)
				}
				if j > 0 && !sl.Start.After(s.Slots[j-1].Start) {
					return nil, hub.Errorf(hub.EINVALID, "pharmacy %q: slot %d starts at %s, not after slot %d: want slots earliest first with distinct starts", s.ID, j, sl.Start.Format(time.RFC3339), j-1)
				}
				m.slotStart[i][j] = sl.Start
				m.slotLeft[i][j] = sl.Capacity
				m.slotCap[i][j] = sl.Capacity
				m.room[i] += sl.Capacity
			}
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(m.ids[a], m.ids[b]) })
	for r, i := range order {
		if r > 0 && m.ids[i] == m.ids[order[r-1]] {
			return nil, hub.Errorf(hub.EINVALID, "pharmacy %q is listed twice", m.ids[i])
		}
		m.rank[i] = int32(r)
		m.byCell[m.cells[i]] = append(m.byCell[m.cells[i]], i)
	}
	m.pcells = make([]hub.Cell, 0, len(m.byCell))
	for c := range m.byCell {
		m.pcells = append(m.pcells, c)
	}
	slices.Sort(m.pcells)
	return m, nil
}

// Groups returns the number of distinct request cells whose reach the
// matcher has built; they are numbered from 0.
func (m *Matcher) Groups() int { return len(m.failQ) }

// MaxK returns the matcher's reach in rings.
func (m *Matcher) MaxK() int { return m.maxK }

// Len returns the number of supply points.
func (m *Matcher) Len() int { return len(m.ids) }

// Stock returns the units left at supply point i, which must be in
// range (as with a slice index).
func (m *Matcher) Stock(i int) int { return m.stock[i] }

// SlotLeft returns the places left in slot s of supply point i, both in
// range.
func (m *Matcher) SlotLeft(i, s int) int { return m.slotLeft[i][s] }

// Allocate serves the requests in line order (Seq, then ID) and returns
// their assignments in the order given. Every request is checked first:
// a quantity below 1 or a cell that is not a valid base-resolution cell
// is an EINVALID error naming the request, and then nothing is assigned.
func (m *Matcher) Allocate(reqs []Request) ([]Assignment, error) {
	if len(reqs) > math.MaxInt32 {
		return nil, hub.Errorf(hub.EINVALID, "%d requests, more than %d", len(reqs), math.MaxInt32)
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
	out := make([]Assignment, len(reqs))
	for _, i := range lineOrder(reqs) {
		out[i] = m.assign(groupOf[i], &reqs[i])
	}
	return out, nil
}

// Assign serves one request against what is left, as Allocate would serve
// it after every request before it. Use it for FIRST_COME rounds that
// allocate as requests arrive.
func (m *Matcher) Assign(r Request) (Assignment, error) {
	if r.Quantity < 1 {
		return Assignment{}, hub.Errorf(hub.EINVALID, "request %q: quantity %d, want at least 1", r.ID, r.Quantity)
	}
	g, ok := m.groups[r.Cell]
	if !ok {
		gs, err := m.groupsOf([]Request{r})
		if err != nil {
			return Assignment{}, err
		}
		g = gs[0]
	}
	return m.assign(g, &r), nil
}

// Release gives back what a served assignment took: quantity units of
// stock and its slot's place. The engine calls it when a reservation is
// cancelled, a pickup code expires or a delivery fails, once per
// assignment: the matcher cannot tell a second release of stock from a
// restock, only a slot given back more places than it has.
func (m *Matcher) Release(a Assignment, quantity int) error {
	if !a.Served() || a.Supply < 0 || a.Supply >= len(m.ids) {
		return hub.Errorf(hub.EINVALID, "release: the assignment is not served here")
	}
	if quantity < 1 {
		return hub.Errorf(hub.EINVALID, "release: quantity %d, want at least 1", quantity)
	}
	if a.Slot >= len(m.slotLeft[a.Supply]) || a.Slot < 0 && len(m.slotLeft[a.Supply]) > 0 {
		return hub.Errorf(hub.EINVALID, "release: pharmacy %q has no slot %d", m.ids[a.Supply], a.Slot)
	}
	if a.Slot >= 0 && m.slotLeft[a.Supply][a.Slot] >= m.slotCap[a.Supply][a.Slot] {
		return hub.Errorf(hub.EINVALID, "release: slot %d of pharmacy %q has no place taken", a.Slot, m.ids[a.Supply])
	}
	m.stock[a.Supply] += quantity
	if a.Slot >= 0 {
		m.slotLeft[a.Supply][a.Slot]++
		m.room[a.Supply]++
	}
	m.revive()
	return nil
}

// SetStock sets the units left at supply point i, after a restock or a
// correction. Requests not served before are not retried: the engine
// serves its waiting list again (Allocate) after a restock.
func (m *Matcher) SetStock(i, stock int) error {
	if i < 0 || i >= len(m.ids) {
		return hub.Errorf(hub.EINVALID, "no supply point %d", i)
	}
	if stock < 0 {
		return hub.Errorf(hub.EINVALID, "pharmacy %q: stock %d, want at least 0", m.ids[i], stock)
	}
	up := stock > m.stock[i]
	m.stock[i] = stock
	if up {
		m.revive()
	}
	return nil
}

// revive forgets what the cells learnt while stock only fell: every
// candidate is live again and no quantity is known to fail. It costs
// nothing now; each group resets itself on its next use.
func (m *Matcher) revive() { m.now++ }

// assign serves one request of group g.
func (m *Matcher) assign(g int32, r *Request) Assignment {
	k1 := m.maxK + 1
	offs := m.off[int(g)*(k1+1):][:k1+1]
	if offs[k1] == offs[0] {
		return unserved(NothingInReach)
	}
	live := m.live[int(g)*k1:][:k1]
	if m.epoch[g] != m.now {
		for ring := range live {
			live[ring] = offs[ring+1] - offs[ring]
		}
		m.failQ[g] = math.MaxInt
		m.epoch[g] = m.now
	}
	q := r.Quantity
	if q >= m.failQ[g] {
		return unserved(OutOfStockInReach)
	}
	stock, room, rank := m.stock, m.room, m.rank
	for ring := range live {
		cs := m.cand[offs[ring]:][:live[ring]]
		best, bestStock := int32(-1), 0
		for i := 0; i < len(cs); {
			p := cs[i]
			st := stock[p]
			if st == 0 || room[p] == 0 {
				last := len(cs) - 1
				cs[i], cs[last] = cs[last], cs[i]
				cs = cs[:last]
				continue
			}
			if st >= q && (st > bestStock || st == bestStock && rank[p] < rank[best]) {
				best, bestStock = p, st
			}
			i++
		}
		live[ring] = int32(len(cs))
		if best >= 0 {
			return Assignment{Supply: int(best), Slot: m.take(best, q, r.Slot), Ring: ring, Reason: Served}
		}
	}
	m.failQ[g] = q
	return unserved(OutOfStockInReach)
}

// take takes q units and a slot place at supply point p, which must have
// them, and returns the slot's index or -1.
func (m *Matcher) take(p int32, q int, prefer time.Time) int {
	m.stock[p] -= q
	left := m.slotLeft[p]
	if len(left) == 0 {
		return -1
	}
	m.room[p]--
	s := -1
	if !prefer.IsZero() {
		if j, ok := slices.BinarySearchFunc(m.slotStart[p], prefer, time.Time.Compare); ok && left[j] > 0 {
			s = j
		}
	}
	if s < 0 {
		s = slices.IndexFunc(left, func(n int) bool { return n > 0 })
	}
	left[s]--
	return s
}

// hold takes up to n places of slot s at supply point i without taking
// stock: places taken before the matcher was built, or by a caller that
// chose the pharmacy itself. It returns the places taken.
func (m *Matcher) hold(i, s, n int) int {
	n = max(min(n, m.slotLeft[i][s]), 0)
	m.slotLeft[i][s] -= n
	m.room[i] -= n
	return n
}

// releaseSlot gives back one place of slot s at supply point i, when one
// is taken, without touching stock.
func (m *Matcher) releaseSlot(i, s int) {
	if m.slotLeft[i][s] >= m.slotCap[i][s] {
		return
	}
	m.slotLeft[i][s]++
	m.room[i]++
	m.revive()
}

// slotAt returns the index of the slot of supply point i that starts at
// start, or -1.
func (m *Matcher) slotAt(i int, start time.Time) int {
	if j, ok := slices.BinarySearchFunc(m.slotStart[i], start, time.Time.Compare); ok {
		return j
	}
	return -1
}

// firstFree returns the earliest slot of supply point i with a place
// left, or -1.
func (m *Matcher) firstFree(i int) int {
	return slices.IndexFunc(m.slotLeft[i], func(n int) bool { return n > 0 })
}

// canServe reports whether supply point p can serve a request for q
// units now.
func (m *Matcher) canServe(p int32, q int) bool {
	return m.stock[p] >= q && m.room[p] > 0
}

// lineOrder returns the indexes of reqs in line order: by Seq, then ID,
// then position.
func lineOrder(reqs []Request) []int32 {
	order := make([]int32, len(reqs))
	for i := range order {
		order[i] = int32(i)
	}
	less := func(a, b int32) int {
		ra, rb := &reqs[a], &reqs[b]
		return cmp.Or(cmp.Compare(ra.Seq, rb.Seq), cmp.Compare(ra.ID, rb.ID), cmp.Compare(a, b))
	}
	if !slices.IsSortedFunc(order, less) {
		slices.SortFunc(order, less)
	}
	return order
}

// groupsOf returns the group of each request's cell, building the reach of
// cells not seen before. A new cell that is not a valid base cell is an
// EINVALID error, and then no group is added.
func (m *Matcher) groupsOf(reqs []Request) ([]int32, error) {
	groupOf := make([]int32, len(reqs))
	var fresh []hub.Cell
	var freshIdx map[hub.Cell]int32
	for i := range reqs {
		c := reqs[i].Cell
		if g, ok := m.groups[c]; ok {
			groupOf[i] = g
			continue
		}
		if freshIdx == nil {
			freshIdx = map[hub.Cell]int32{}
		}
		t, ok := freshIdx[c]
		if !ok {
			if err := checkBaseCell(c); err != nil {
				return nil, invalidf(err, "request %q: %s", reqs[i].ID, hub.ErrorMessage(err))
			}
			t = int32(len(fresh))
			freshIdx[c] = t
			fresh = append(fresh, c)
		}
		groupOf[i] = -1 - t
	}
	if len(fresh) == 0 {
		return groupOf, nil
	}
	first := int32(len(m.failQ))
	nCand, nOff, nLive := len(m.cand), len(m.off), len(m.live)
	var err error
	if m.via == 1 || m.via == 0 && len(fresh) <= len(m.pcells) {
		err = m.reachFromRequests(fresh)
	} else {
		err = m.reachFromPharmacies(fresh, freshIdx)
	}
	if err != nil {
		m.cand, m.off, m.live = m.cand[:nCand], m.off[:nOff], m.live[:nLive]
		m.failQ, m.epoch = m.failQ[:first], m.epoch[:first]
		return nil, err
	}
	for i, g := range groupOf {
		if g < 0 {
			groupOf[i] = first + (-1 - g)
		}
	}
	for t, c := range fresh {
		m.groups[c] = first + int32(t)
	}
	return groupOf, nil
}

// addGroups adds the per-group state of n new groups; their offsets are
// appended by the caller.
func (m *Matcher) addGroups(n int) {
	k1 := m.maxK + 1
	m.off = slices.Grow(m.off, n*(k1+1))
	m.live = append(m.live, make([]int32, n*k1)...)
	m.failQ = slices.Grow(m.failQ, n)
	m.epoch = slices.Grow(m.epoch, n)
	for range n {
		m.failQ = append(m.failQ, math.MaxInt)
		// An epoch behind the matcher's makes the first use set the
		// live counts from the offsets.
		m.epoch = append(m.epoch, m.now-1)
	}
}

// reachFromRequests builds the reach of each new cell from its own rings.
func (m *Matcher) reachFromRequests(fresh []hub.Cell) error {
	m.addGroups(len(fresh))
	for _, c := range fresh {
		rings, err := grid.Rings(c, m.maxK)
		if err != nil {
			// The cell was checked; H3 failing on a valid cell is a bug.
			panic(fmt.Sprintf("dispatch: rings of checked cell %s: %v", c, err))
		}
		for ring := 0; ring <= m.maxK; ring++ {
			m.off = append(m.off, int32(len(m.cand)))
			if ring < len(rings) {
				for _, x := range rings[ring] {
					m.cand = append(m.cand, m.byCell[x]...)
				}
			}
		}
		if len(m.cand) > maxCandidates {
			return tooFar(len(fresh), m.maxK)
		}
		m.off = append(m.off, int32(len(m.cand)))
	}
	return nil
}

// maxCandidates bounds the candidate lists of a matcher, whose offsets
// are 32-bit.
const maxCandidates = math.MaxInt32

func tooFar(cells, maxK int) error {
	return hub.Errorf(hub.EINVALID, "the pharmacies within %d rings of %d cells are more than %d candidates: use a smaller reach", maxK, cells, maxCandidates)
}

// reachFromPharmacies builds the reach of the new cells by walking the
// rings of every pharmacy cell and noting each new cell it meets: when
// there are more new cells than pharmacy cells this asks H3 for fewer
// disks. A pharmacy d rings from a cell is d rings from the pharmacy.
func (m *Matcher) reachFromPharmacies(fresh []hub.Cell, freshIdx map[hub.Cell]int32) error {
	k1 := m.maxK + 1
	type hit struct {
		t    int32 // index in fresh
		ring int32
		pc   int32 // index in pcells
	}
	var hits []hit
	count := make([]int32, len(fresh)*k1)
	for pc, c := range m.pcells {
		rings, err := grid.Rings(c, m.maxK)
		if err != nil {
			panic(fmt.Sprintf("dispatch: rings of checked cell %s: %v", c, err))
		}
		n := int32(len(m.byCell[c]))
		for ring, cells := range rings {
			for _, x := range cells {
				if t, ok := freshIdx[x]; ok {
					hits = append(hits, hit{t, int32(ring), int32(pc)})
					count[int(t)*k1+ring] += n
				}
			}
		}
	}
	total := int64(len(m.cand))
	for _, n := range count {
		total += int64(n)
	}
	if total > maxCandidates {
		return tooFar(len(fresh), m.maxK)
	}
	m.addGroups(len(fresh))
	base := int32(len(m.cand))
	pos := make([]int32, len(count)) // next free place per (t, ring)
	at := base
	for t := range fresh {
		for ring := range k1 {
			m.off = append(m.off, at)
			pos[t*k1+ring] = at
			at += count[t*k1+ring]
		}
		m.off = append(m.off, at)
	}
	m.cand = append(m.cand, make([]int32, at-base)...)
	for _, h := range hits {
		j := int(h.t)*k1 + int(h.ring)
		pos[j] += int32(copy(m.cand[pos[j]:], m.byCell[m.pcells[h.pc]]))
	}
	return nil
}

// AllocateScan answers what Allocate answers by measuring the grid distance from
// each request to every pharmacy, in line order. It is the naive baseline
// the matcher is benchmarked against and a cross-check in tests: for every
// request it scans all pharmacies, skipping those that cannot serve it
// before measuring, and keeps the one with the lowest (ring, most stock
// left, ID).
func AllocateScan(reqs []Request, supply []SupplyPoint, maxK int) ([]Assignment, error) {
	m, err := NewMatcher(supply, maxK)
	if err != nil {
		return nil, err
	}
	for i := range reqs {
		if reqs[i].Quantity < 1 {
			return nil, hub.Errorf(hub.EINVALID, "request %q: quantity %d, want at least 1", reqs[i].ID, reqs[i].Quantity)
		}
		if err := checkBaseCell(reqs[i].Cell); err != nil {
			return nil, invalidf(err, "request %q: %s", reqs[i].ID, hub.ErrorMessage(err))
		}
	}
	out := make([]Assignment, len(reqs))
	for _, i := range lineOrder(reqs) {
		r := &reqs[i]
		best, bestRing, inReach := int32(-1), 0, false
		for p := range int32(len(m.ids)) {
			// A pharmacy out of stock may still be in reach, which
			// decides the reason; measure it only when no pharmacy
			// in reach is known yet.
			can := m.canServe(p, r.Quantity)
			if !can && inReach {
				continue
			}
			d, err := grid.Distance(r.Cell, m.cells[p])
			if err != nil || d > maxK {
				continue // too far for H3 to measure is out of reach too
			}
			inReach = true
			if !can {
				continue
			}
			if best < 0 || d < bestRing || d == bestRing && (m.stock[p] > m.stock[best] || m.stock[p] == m.stock[best] && m.rank[p] < m.rank[best]) {
				best, bestRing = p, d
			}
		}
		switch {
		case best >= 0:
			out[i] = Assignment{Supply: int(best), Slot: m.take(best, r.Quantity, r.Slot), Ring: bestRing, Reason: Served}
		case inReach:
			out[i] = unserved(OutOfStockInReach)
		default:
			out[i] = unserved(NothingInReach)
		}
	}
	return out, nil
}

// checkBaseCell reports whether c is a valid cell at the base resolution.
func checkBaseCell(c hub.Cell) error {
	if err := grid.Validate(c); err != nil {
		return err
	}
	if r := grid.Resolution(c); r != grid.BaseResolution {
		return &hub.Error{Code: hub.EINVALID, Err: grid.ErrInvalidResolution,
			Message: fmt.Sprintf("cell %s has resolution %d, want %d", c, r, grid.BaseResolution)}
	}
	return nil
}

// invalidf returns an EINVALID error with the given message that still
// matches the sentinel of err (a grid error) with errors.Is.
func invalidf(err error, format string, args ...any) error {
	var he *hub.Error
	var sentinel error
	if errors.As(err, &he) {
		sentinel = he.Err
	}
	return hub.Wrapf(hub.EINVALID, sentinel, format, args...)
}
