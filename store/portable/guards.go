package portable

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// The guards of a round's limits: the places of a pickup slot
// (Round.SlotCapacity per pharmacy per slot) and a committee's quota
// (Round.Quotas, COMMITTEE rounds). They are counted in the store, in the
// transaction of the write that takes or frees them, so however many hubs
// share the store, no write takes a slot beyond its capacity or a
// committee beyond its quota.
//
// An allocation of a round holds, while its status does not Return stock:
//   - one place of its slot at its pharmacy, when it is a pickup (no
//     partner) that names a slot;
//   - its quantity in its committee's units, when the reservation it
//     serves names a committee.
//
// The counters are kept for every round, whatever its mode and slots, and
// checked against the round's limits when the round has them. The bucket
// bktGuards holds, per round:
//
//	"c" roundID                                  -> empty: the round's counters are kept
//	"s" roundID 0x00 pharmacyID 0x00 start(8)    -> places held (big-endian)
//	"q" roundID 0x00 committeeID                 -> units held (big-endian)
//
// A round without its "c" key (data written before the guards, or a round
// never allocated) has no counters yet: the first write that takes a place
// or units in it counts them from the round's allocations (the
// allocationsByRound index) in its own transaction and stores them with
// the "c" key; a transition that frees a place in such a round changes no
// counter, since that count reads the allocation as it is then. Counters
// at zero are removed.
const bktGuards = "guards"

// guardKeys returns the counter keys an allocation of round roundID holds
// while it is live: its slot's (nil for none) and its committee's (nil for
// none).
func guardKeys(a *allocationRec, committee string) (slot, quota []byte) {
	if a.RoundID == "" {
		return nil, nil
	}
	if a.PartnerID == "" && !a.Slot.IsZero() {
		slot = append([]byte{'s'}, ikey(a.RoundID, a.PharmacyID, "")...)
		slot = append(slot, u64(uint64(a.Slot.UnixNano()))...)
	}
	if committee != "" {
		quota = append([]byte{'q'}, ikey(a.RoundID, committee)...)
	}
	return slot, quota
}

func countedKey(roundID string) []byte { return append([]byte{'c'}, roundID...) }

// guards counts the guarded limits within one write transaction: it reads
// and counts first, and writes (flush) only once every check passed, so a
// refused write leaves the transaction untouched.
type guards struct {
	s      *Store
	tx     driver.Tx
	b      driver.Bucket
	rounds map[string]*roundRec
	// counted says, per round met, whether its counters are stored
	// (known) or were counted in this transaction (fresh).
	known, fresh map[string]bool
	counts       map[string]uint64 // counter key -> value, as read or changed
	dirty        map[string]bool   // counter keys changed
}

func (s *Store) newGuards(tx driver.Tx) *guards {
	// The maps are made on first use: most writes meet one round, and
	// many none.
	return &guards{s: s, tx: tx, b: bucket(tx, bktGuards)}
}

// setFlag sets m[k], making m on first use.
func setFlag(m *map[string]bool, k string) {
	if *m == nil {
		*m = make(map[string]bool, 1)
	}
	(*m)[k] = true
}

// setCount sets g.counts[k] to n, making the map on first use.
func (g *guards) setCount(k string, n uint64) {
	if g.counts == nil {
		g.counts = make(map[string]uint64, 2)
	}
	g.counts[k] = n
}

// round reads a round once per transaction.
func (g *guards) round(id string) (*roundRec, error) {
	if r, ok := g.rounds[id]; ok {
		return r, nil
	}
	r, err := g.s.readRound(g.tx, id)
	if err != nil {
		return nil, err
	}
	if g.rounds == nil {
		g.rounds = make(map[string]*roundRec, 1)
	}
	g.rounds[id] = r
	return r, nil
}

// meet makes sure the counters of a round are at hand: stored, or counted
// from its allocations into g when they are not.
func (g *guards) meet(roundID string) error {
	if g.known[roundID] || g.fresh[roundID] {
		return nil
	}
	if g.b.Get(countedKey(roundID)) != nil {
		setFlag(&g.known, roundID)
		return nil
	}
	setFlag(&g.fresh, roundID)
	prefix := ikey(roundID, "")
	c := bucket(g.tx, bktAllocByRound).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := string(k[len(prefix):])
		a, err := readRec[allocationRec](g.tx, bktAllocations, "allocation", id)
		if err != nil {
			return internal(fmt.Errorf("store: round index names allocation %q: %w", id, err))
		}
		if a.Status.Returns() {
			continue
		}
		committee, err := g.committeeOf(a)
		if err != nil {
			return err
		}
		slot, quota := guardKeys(a, committee)
		if slot != nil {
			g.setCount(string(slot), g.counts[string(slot)]+1)
		}
		if quota != nil {
			g.setCount(string(quota), g.counts[string(quota)]+uint64(a.Quantity))
		}
	}
	return nil
}

// committeeOf returns the committee of the reservation an allocation
// serves, "" for none.
func (g *guards) committeeOf(a *allocationRec) (string, error) {
	if a.ReservationID == "" {
		return "", nil
	}
	r, err := readRec[reservationRec](g.tx, bktReservations, "reservation", a.ReservationID)
	if err != nil {
		return "", internal(fmt.Errorf("store: allocation %q names reservation %q: %w", a.ID, a.ReservationID, err))
	}
	return r.CommitteeID, nil
}

// get returns a counter of a round met.
func (g *guards) get(key []byte) (uint64, error) {
	if n, ok := g.counts[string(key)]; ok {
		return n, nil
	}
	n, err := readCount(g.b, key)
	if err != nil {
		return 0, err
	}
	g.setCount(string(key), n)
	return n, nil
}

func (g *guards) set(key []byte, n uint64) {
	setFlag(&g.dirty, string(key))
	g.setCount(string(key), n)
}

// take checks that a new allocation, serving a reservation of committee
// (or a shortage: ""), fits its slot's places and its committee's quota
// with what the transaction took before, and counts it. A slot full is an
// EOUTOFSTOCK error matching hub.ErrSlotFull, a quota exhausted one
// matching hub.ErrQuotaExhausted.
func (g *guards) take(a *allocationRec, committee string) error {
	slot, quota := guardKeys(a, committee)
	if (slot == nil && quota == nil) || a.Status.Returns() {
		return nil // holds nothing: no count to keep
	}
	r, err := g.round(a.RoundID)
	if err != nil {
		return err
	}
	if err := g.meet(a.RoundID); err != nil {
		return err
	}
	if slot != nil {
		n, err := g.get(slot)
		if err != nil {
			return err
		}
		if r.SlotCapacity > 0 && n+1 > uint64(r.SlotCapacity) {
			return hub.Wrapf(hub.EOUTOFSTOCK, hub.ErrSlotFull, "the pickup slot at %s at pharmacy %q in round %q is full: %d of %d places taken, none left for allocation %q",
				a.Slot.UTC().Format("2006-01-02T15:04:05Z07:00"), a.PharmacyID, a.RoundID, n, r.SlotCapacity, a.ID)
		}
		g.set(slot, n+1)
	}
	if quota != nil {
		n, err := g.get(quota)
		if err != nil {
			return err
		}
		if r.Mode == hub.ByCommittee {
			q := uint64(max(r.Quotas[committee], 0))
			if n+uint64(a.Quantity) > q {
				return hub.Wrapf(hub.EOUTOFSTOCK, hub.ErrQuotaExhausted, "committee %q has %d of its quota of %d units left in round %q, and allocation %q takes %d",
					committee, q-min(n, q), q, a.RoundID, a.ID, a.Quantity)
			}
		}
		g.set(quota, n+uint64(a.Quantity))
	}
	return nil
}

// release frees what a live allocation holds, for its move to a status
// that Returns stock, in a round whose counters are stored; in a round
// without them it changes nothing (their first count reads the allocation
// as moved).
func (g *guards) release(a *allocationRec) error {
	if a.RoundID == "" || a.Status.Returns() {
		return nil
	}
	if g.b.Get(countedKey(a.RoundID)) == nil {
		return nil
	}
	setFlag(&g.known, a.RoundID)
	committee, err := g.committeeOf(a)
	if err != nil {
		return err
	}
	slot, quota := guardKeys(a, committee)
	for _, d := range []struct {
		key []byte
		n   uint64
	}{{slot, 1}, {quota, uint64(a.Quantity)}} {
		if d.key == nil {
			continue
		}
		n, err := g.get(d.key)
		if err != nil {
			return err
		}
		if n < d.n {
			return internal(fmt.Errorf("store: guard counter %q holds %d, below the %d allocation %q frees", d.key, n, d.n, a.ID))
		}
		g.set(d.key, n-d.n)
	}
	return nil
}

// flush writes the counters changed and the marks of rounds counted in
// this transaction.
func (g *guards) flush() error {
	for id := range g.fresh {
		if err := mark(g.b, countedKey(id)); err != nil {
			return err
		}
		// Every counter the count found is written, changed or not.
		prefixes := [][]byte{append([]byte{'s'}, ikey(id, "")...), append([]byte{'q'}, ikey(id, "")...)}
		for k := range g.counts {
			if bytes.HasPrefix([]byte(k), prefixes[0]) || bytes.HasPrefix([]byte(k), prefixes[1]) {
				setFlag(&g.dirty, k)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(g.dirty)) {
		var err error
		if n := g.counts[k]; n == 0 {
			err = del(g.b, []byte(k))
		} else {
			err = put(g.b, []byte(k), u64(n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
