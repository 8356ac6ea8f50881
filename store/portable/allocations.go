package portable

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"math"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// expiryKey is the key of a RESERVED allocation in the expiry index: the
// big-endian unix nanoseconds of its ExpiresAt, then its ID, so the index
// sorts by expiry, then ID. Only times storecheck.Expiry accepts are keyed.
func expiryKey(expires time.Time, id string) []byte {
	k := make([]byte, 0, 8+len(id))
	k = binary.BigEndian.AppendUint64(k, uint64(expires.UnixNano()))
	return append(k, id...)
}

// expiryKeyed reports whether an allocation belongs in the expiry index:
// RESERVED with an expiry.
func expiryKeyed(r *allocationRec) bool {
	return r.Status == hub.AllocationReserved && !r.ExpiresAt.IsZero()
}

// The range of expiry times the index can hold: unix nanoseconds from 0 to
// math.MaxInt64 (1970 to 2262).
var (
	minExpiry = time.Unix(0, 0)
	maxExpiry = time.Unix(0, math.MaxInt64)
)

// allocate checks a batch of new allocations on its own and returns the
// write that checks it against the store and records it: for each, in
// order, stock taken with an ALLOCATE ledger entry dated its CreatedAt,
// the allocation and its index entries, and the reservation it serves
// made ALLOCATED (or the shortage SERVED), its UpdatedAt the allocation's
// CreatedAt.
func (s *Store) allocate(as []*hub.Allocation) (func(tx driver.Tx) error, error) {
	recs := make([]allocationRec, len(as))
	vals := make([][]byte, len(as))
	ids, codes, served := make(map[string]bool), make(map[string]bool), make(map[string]bool)
	for i, a := range as {
		if err := storecheck.Allocation(i, a); err != nil {
			return nil, err
		}
		key := "r" + a.ReservationID
		if a.ShortageID != "" {
			key = "s" + a.ShortageID
		}
		switch {
		case ids[a.ID]:
			return nil, hub.Errorf(hub.ECONFLICT, "allocation %q is repeated in the batch", a.ID)
		case a.CodeHash != "" && codes[a.CodeHash]:
			return nil, hub.Errorf(hub.ECONFLICT, "allocation %q: the pickup code is repeated in the batch", a.ID)
		case served[key]:
			return nil, hub.Errorf(hub.ECONFLICT, "allocation %q: its reservation or shortage is served twice in the batch", a.ID)
		}
		ids[a.ID], codes[a.CodeHash], served[key] = true, true, true
		recs[i] = allocationToRec(a)
		v, err := encode("allocation", recs[i])
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}

	return func(tx driver.Tx) error {
		// Check everything against the store, with the stock the batch
		// takes counted as it goes.
		allocs, byCode := growing(bucket(tx, bktAllocations)), bucket(tx, bktAllocByCode)
		pharmacies := make(map[string]*pharmacyRec)
		taken := make(map[string]map[hub.SKU]int)
		resvs := make([]*reservationRec, len(recs))
		shorts := make([]*shortageRec, len(recs))
		g := s.newGuards(tx)
		for i := range recs {
			a := &recs[i]
			if allocs.Get([]byte(a.ID)) != nil {
				return hub.Errorf(hub.ECONFLICT, "allocation %q already exists", a.ID)
			}
			if a.CodeHash != "" && byCode.Get([]byte(a.CodeHash)) != nil {
				return hub.Errorf(hub.ECONFLICT, "allocation %q: the pickup code is already in use", a.ID)
			}
			if a.ReservationID != "" {
				r, err := readRec[reservationRec](tx, bktReservations, "reservation", a.ReservationID)
				if err != nil {
					return err
				}
				if r.Status != hub.ReservationPending && r.Status != hub.ReservationWaiting {
					return hub.Errorf(hub.ECONFLICT, "reservation %q is %s, not PENDING or WAITING", r.ID, r.Status)
				}
				if r.RoundID != a.RoundID {
					return hub.Errorf(hub.EINVALID, "allocation %q is of round %q, its reservation %q of round %q", a.ID, a.RoundID, r.ID, r.RoundID)
				}
				resvs[i] = r
			} else {
				sh, err := readRec[shortageRec](tx, bktShortages, "shortage", a.ShortageID)
				if err != nil {
					return err
				}
				if sh.Status != hub.ShortageWaiting {
					return hub.Errorf(hub.ECONFLICT, "shortage %q is %s, not WAITING", sh.ID, sh.Status)
				}
				if sh.SKU != a.SKU {
					return hub.Errorf(hub.EINVALID, "allocation %q is of %s, its shortage %q of %s", a.ID, a.SKU, sh.ID, sh.SKU)
				}
				shorts[i] = sh
			}

			p, ok := pharmacies[a.PharmacyID]
			if !ok {
				var err error
				if p, err = s.readPharmacy(tx, a.PharmacyID); err != nil {
					return err
				}
				pharmacies[a.PharmacyID], taken[a.PharmacyID] = p, make(map[hub.SKU]int)
			}
			if have, want := p.Stock[a.SKU]-taken[a.PharmacyID][a.SKU], a.Quantity; have < want {
				return hub.Errorf(hub.EOUTOFSTOCK, "pharmacy %q has %d %s left for allocation %q, which takes %d", a.PharmacyID, max(have, 0), a.SKU, a.ID, want)
			}
			taken[a.PharmacyID][a.SKU] += a.Quantity
			committee := ""
			if resvs[i] != nil {
				committee = resvs[i].CommitteeID
			}
			if err := g.take(a, committee); err != nil {
				return err
			}
		}

		// Write.
		for i := range recs {
			a := &recs[i]
			p := pharmacies[a.PharmacyID]
			after, err := stockAfter(p, a.SKU, -a.Quantity)
			if err != nil {
				return internal(err)
			}
			c := hub.StockChange{PharmacyID: a.PharmacyID, SKU: a.SKU, Delta: -a.Quantity, Reason: ReasonAllocate, At: a.CreatedAt}
			if err := s.applyStock(tx, p, c, after); err != nil {
				return err
			}
			as[i].Step = &hub.StockStep{After: after, Cell: p.Cell, DistrictID: p.DistrictID}
			if err := put(allocs, []byte(a.ID), vals[i]); err != nil {
				return err
			}
			if err := indexAllocation(tx, a); err != nil {
				return err
			}
			if r := resvs[i]; r != nil {
				old := resvStatusKey(r)
				r.Status, r.AllocationID, r.UpdatedAt = hub.ReservationAllocated, a.ID, a.CreatedAt
				if err := moveIndex(tx, bktResvByRoundStatus, old, resvStatusKey(r)); err != nil {
					return err
				}
				if err := putRec(tx, bktReservations, "reservation", r.ID, r); err != nil {
					return err
				}
			} else if err := serveShortage(tx, shorts[i], a); err != nil {
				return err
			}
		}
		return g.flush()
	}, nil
}

// indexAllocation files a new allocation in the indexes.
func indexAllocation(tx driver.Tx, a *allocationRec) error {
	if a.CodeHash != "" {
		if err := put(bucket(tx, bktAllocByCode), []byte(a.CodeHash), []byte(a.ID)); err != nil {
			return err
		}
	}
	// By pharmacy, in the pharmacy's key range of the ledger bucket, next
	// to the ledger entry of the stock the allocation takes.
	if a.PharmacyID != "" {
		if err := mark(bucket(tx, bktLedger), pharmacyAllocKey(a.PharmacyID, a.ID)); err != nil {
			return err
		}
	}
	// By round and by status, new allocations go to the end of a range
	// that ends the bucket or nearly so: pack them (growing). By partner
	// they go to the ends of many ranges, each followed by the next;
	// there the pages keep bbolt's room for them.
	for _, ix := range []struct {
		name, by string
		grows    bool
	}{
		{bktAllocByPartner, a.PartnerID, false},
		{bktAllocByRound, a.RoundID, true}, {bktAllocByStatus, string(a.Status), true},
	} {
		if ix.by == "" {
			continue
		}
		b := bucket(tx, ix.name)
		if ix.grows {
			b = growing(b)
		}
		if err := mark(b, ikey(ix.by, a.ID)); err != nil {
			return err
		}
	}
	if expiryKeyed(a) {
		return mark(growing(bucket(tx, bktAllocExpiry)), expiryKey(a.ExpiresAt, a.ID))
	}
	return nil
}

// Allocate records allocations in one write, all or nothing.
//
// Each allocation serves exactly one reservation (then RoundID, the
// reservation's round, is required) or one shortage (of the same SKU), is
// new (RESERVED or DELIVERING), has a positive quantity, a known SKU and a
// CreatedAt; otherwise the call is an EINVALID error. An allocation ID or a
// non-empty CodeHash already in use, or repeated in the batch, is
// ECONFLICT, as is a reservation not PENDING or WAITING, a shortage not
// WAITING, or either served twice in the batch; an unknown pharmacy,
// reservation or shortage is ENOTFOUND; a batch that takes more of a SKU
// at a pharmacy than it has is EOUTOFSTOCK. In every such case nothing is
// written.
func (s *Store) Allocate(ctx context.Context, as ...*hub.Allocation) error {
	if len(as) == 0 {
		return s.checkOpen(ctx)
	}
	apply, err := s.allocate(as)
	if err != nil {
		return err
	}
	return s.write(ctx, apply)
}

// Allocation returns an allocation or an ENOTFOUND error.
func (s *Store) Allocation(ctx context.Context, id string) (*hub.Allocation, error) {
	var r *allocationRec
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		r, err = readRec[allocationRec](tx, bktAllocations, "allocation", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// AllocationByCode finds an allocation by its pickup code's hash, or
// returns an ENOTFOUND error.
func (s *Store) AllocationByCode(ctx context.Context, codeHash string) (*hub.Allocation, error) {
	var r allocationRec
	err := s.view(ctx, func(tx driver.Tx) error {
		var id []byte
		if codeHash != "" {
			id = bucket(tx, bktAllocByCode).Get([]byte(codeHash))
		}
		if id == nil {
			return hub.Errorf(hub.ENOTFOUND, "no allocation has that pickup code")
		}
		ok, err := getRec(bucket(tx, bktAllocations), "allocation", id, &r)
		if err == nil && !ok {
			err = fmt.Errorf("store: code index names missing allocation %q", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Allocations lists allocations in ID order: those of every one of
// f.PartnerID, f.PharmacyID, f.RoundID and f.Status that is not empty,
// with ID greater than f.After, at most f.Limit (all when f.Limit <= 0).
// It walks the indexes of the given fields together, reading only the
// allocations it returns. An unknown status is an EINVALID error.
func (s *Store) Allocations(ctx context.Context, f hub.AllocationFilter) ([]*hub.Allocation, error) {
	for _, ref := range []struct{ kind, id string }{
		{"partner", f.PartnerID}, {"pharmacy", f.PharmacyID}, {"round", f.RoundID},
	} {
		if err := storecheck.Ref(ref.kind, ref.id); err != nil {
			return nil, err
		}
	}
	if err := storecheck.FilterEnum("allocation status", f.Status, storecheck.AllocationStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Allocation
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		var idx []*idIndex
		if f.PharmacyID != "" {
			idx = append(idx, newIDIndex(tx, bktLedger, pharmacyAllocKey(f.PharmacyID, "")))
		}
		for _, ix := range []struct{ name, by string }{
			{bktAllocByPartner, f.PartnerID},
			{bktAllocByRound, f.RoundID}, {bktAllocByStatus, string(f.Status)},
		} {
			if ix.by != "" {
				idx = append(idx, newIDIndex(tx, ix.name, ikey(ix.by, "")))
			}
		}
		out, err = listByID(tx, bktAllocations, "allocation", idx, f.After, f.Limit, (*allocationRec).domain)
		return err
	})
	return out, err
}

// TransitionAllocation moves an allocation from one of from to to, at the
// time at, and returns it after the move. An allocation in a final status
// never moves, and one not in from does not: both are ECONFLICT errors and
// nothing is written; an unknown allocation is ENOTFOUND; an unknown to,
// an empty from or a zero at is EINVALID. A move to a status that Returns
// stock gives the quantity back to the pharmacy with a RETURN ledger entry
// dated at, in the same transaction. UpdatedAt becomes at.
func (s *Store) TransitionAllocation(ctx context.Context, id string, from []hub.AllocationStatus, to hub.AllocationStatus, at time.Time) (*hub.Allocation, error) {
	if err := storecheck.ID("allocation", id); err != nil {
		return nil, err
	}
	if err := storecheck.Enum("allocation status", to, storecheck.AllocationStatuses); err != nil {
		return nil, err
	}
	if len(from) == 0 {
		return nil, hub.Errorf(hub.EINVALID, "no status to move allocation %q from", id)
	}
	for _, f := range from {
		if err := storecheck.Enum("allocation status", f, storecheck.AllocationStatuses); err != nil {
			return nil, err
		}
	}
	if at.IsZero() {
		return nil, hub.Errorf(hub.EINVALID, "no time for the move of allocation %q", id)
	}
	from = slices.Clone(from)

	var out *hub.Allocation
	err := s.write(ctx, func(tx driver.Tx) error {
		a, err := readRec[allocationRec](tx, bktAllocations, "allocation", id)
		if err != nil {
			return err
		}
		if a.Status.Final() {
			return hub.Errorf(hub.ECONFLICT, "allocation %q is %s and moves no more", id, a.Status)
		}
		if !slices.Contains(from, a.Status) {
			return hub.Errorf(hub.ECONFLICT, "allocation %q is %s, not %v", id, a.Status, from)
		}
		var p *pharmacyRec
		after := 0
		g := s.newGuards(tx)
		if to.Returns() {
			if err := g.release(a); err != nil {
				return err
			}
			if p, err = s.readPharmacy(tx, a.PharmacyID); err != nil {
				return internal(err) // pharmacies are never removed
			}
			if after, err = stockAfter(p, a.SKU, a.Quantity); err != nil {
				return err
			}
		}

		// Write.
		old := *a
		a.Status, a.UpdatedAt = to, at
		if err := moveIndex(tx, bktAllocByStatus, ikey(string(old.Status), id), ikey(string(to), id)); err != nil {
			return err
		}
		if expiryKeyed(&old) && !expiryKeyed(a) {
			if err := del(bucket(tx, bktAllocExpiry), expiryKey(old.ExpiresAt, id)); err != nil {
				return err
			}
		} else if !expiryKeyed(&old) && expiryKeyed(a) {
			if err := mark(bucket(tx, bktAllocExpiry), expiryKey(a.ExpiresAt, id)); err != nil {
				return err
			}
		}
		if p != nil {
			c := hub.StockChange{PharmacyID: p.ID, SKU: a.SKU, Delta: a.Quantity, Reason: ReasonReturn, At: at}
			if err := s.applyStock(tx, p, c, after); err != nil {
				return err
			}
		}
		if err := putRec(tx, bktAllocations, "allocation", id, a); err != nil {
			return err
		}
		if err := g.flush(); err != nil {
			return err
		}
		out = a.domain()
		if p != nil {
			out.Step = &hub.StockStep{After: after, Cell: p.Cell, DistrictID: p.DistrictID}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiringAllocations lists RESERVED allocations whose ExpiresAt is before
// t, earliest first (then by ID), at most limit (all when limit <= 0). It
// walks the expiry index, which holds only RESERVED allocations with an
// expiry: one with a zero ExpiresAt never expires.
func (s *Store) ExpiringAllocations(ctx context.Context, t time.Time, limit int) ([]*hub.Allocation, error) {
	var out []*hub.Allocation
	err := s.view(ctx, func(tx driver.Tx) error {
		if !t.After(minExpiry) {
			return nil
		}
		var bound []byte // keys sort before it when their expiry is before t
		if !t.After(maxExpiry) {
			bound = u64(uint64(t.UnixNano()))
		}
		allocs := bucket(tx, bktAllocations)
		c := bucket(tx, bktAllocExpiry).Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			if len(k) <= 8 {
				return fmt.Errorf("store: expiry index has key %q", k)
			}
			if bound != nil && bytes.Compare(k[:8], bound) >= 0 {
				break
			}
			id := k[8:]
			var r allocationRec
			if ok, err := getRec(allocs, "allocation", id, &r); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("store: expiry index names missing allocation %q", id)
			}
			out = append(out, r.domain())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
