package portable

import (
	"context"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// CreateReservation records a reservation and returns the stored one.
//
// With an IdempotencyKey already used in the round it writes nothing and
// returns the reservation stored under that key, as it is now. Otherwise a
// reservation ID already taken, or a second reservation of one IDHash in a
// round, is an ECONFLICT error (the latter's message names the first
// reservation's ID), and an unknown round ENOTFOUND. A reservation needs an
// ID, a round ID, an ID hash and a known status other than ALLOCATED
// (which only Allocate sets), or the call is an EINVALID error.
func (s *Store) CreateReservation(ctx context.Context, r *hub.Reservation) (*hub.Reservation, error) {
	if err := storecheck.Reservation(r); err != nil {
		return nil, err
	}
	rec := reservationToRec(r)
	v, err := encode("reservation", rec)
	if err != nil {
		return nil, err
	}

	var out *hub.Reservation
	err = s.write(ctx, func(tx driver.Tx) error {
		out = nil
		old, err := checkNewReservation(tx, &rec)
		if err != nil || old != nil {
			out = old
			return err
		}
		if err := putReservation(tx, &rec, v); err != nil {
			return err
		}
		out = rec.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkNewReservation checks a new reservation against the store: its
// round must exist, and neither its ID nor its ID hash in the round may
// be taken. When its idempotency key was used in the round it returns the
// reservation stored under the key, as it is now, and the caller writes
// nothing.
func checkNewReservation(tx driver.Tx, rec *reservationRec) (*hub.Reservation, error) {
	if bucket(tx, bktRounds).Get([]byte(rec.RoundID)) == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "round %q not found", rec.RoundID)
	}
	recs := bucket(tx, bktReservations)
	if rec.IdempotencyKey != "" {
		if id := bucket(tx, bktResvByKey).Get(ikey(rec.RoundID, rec.IdempotencyKey)); id != nil {
			var old reservationRec
			if ok, err := getRec(recs, "reservation", id, &old); err != nil {
				return nil, err
			} else if !ok {
				return nil, fmt.Errorf("store: idempotency key index names missing reservation %q", id)
			}
			return old.domain(), nil
		}
	}
	if recs.Get([]byte(rec.ID)) != nil {
		return nil, hub.Errorf(hub.ECONFLICT, "reservation %q already exists", rec.ID)
	}
	if id := bucket(tx, bktResvByHash).Get(ikey(rec.RoundID, rec.IDHash)); id != nil {
		return nil, hub.Errorf(hub.ECONFLICT, "the ID number already has reservation %q in round %q", id, rec.RoundID)
	}
	return nil, nil
}

// putReservation writes a new reservation, encoded as v, and files it in
// the indexes. checkNewReservation has accepted it.
func putReservation(tx driver.Tx, rec *reservationRec, v []byte) error {
	if err := put(growing(bucket(tx, bktReservations)), []byte(rec.ID), v); err != nil {
		return err
	}
	if err := put(bucket(tx, bktResvByHash), ikey(rec.RoundID, rec.IDHash), []byte(rec.ID)); err != nil {
		return err
	}
	if rec.IdempotencyKey != "" {
		if err := put(bucket(tx, bktResvByKey), ikey(rec.RoundID, rec.IdempotencyKey), []byte(rec.ID)); err != nil {
			return err
		}
	}
	if err := mark(growing(bucket(tx, bktResvByRound)), ikey(rec.RoundID, rec.ID)); err != nil {
		return err
	}
	return mark(growing(bucket(tx, bktResvByRoundStatus)), resvStatusKey(rec))
}

// ReserveAllocated records a new reservation and the allocation that
// serves it in one write, all or nothing: what CreateReservation(r) and
// then Allocate(a) would leave, with the reservation written once, as
// ALLOCATED.
//
// r is checked as CreateReservation checks it and must be PENDING or
// WAITING; a is checked as Allocate checks it and must serve r. With an
// IdempotencyKey already used in the round it writes nothing and returns
// the reservation stored under that key, as it is now. Otherwise the
// errors of CreateReservation come first, then those of Allocate; with
// any of them nothing is written.
func (s *Store) ReserveAllocated(ctx context.Context, r *hub.Reservation, a *hub.Allocation) (*hub.Reservation, error) {
	if err := storecheck.Reservation(r); err != nil {
		return nil, err
	}
	if err := storecheck.Allocation(0, a); err != nil {
		return nil, err
	}
	if err := checkServes(r, a); err != nil {
		return nil, err
	}
	rec := reservationToRec(r)
	rec.Status, rec.AllocationID, rec.UpdatedAt = hub.ReservationAllocated, a.ID, a.CreatedAt
	v, err := encode("reservation", rec)
	if err != nil {
		return nil, err
	}
	arec := allocationToRec(a)
	av, err := encode("allocation", arec)
	if err != nil {
		return nil, err
	}

	var out *hub.Reservation
	err = s.write(ctx, func(tx driver.Tx) error {
		out = nil
		old, err := checkNewReservation(tx, &rec)
		if err != nil || old != nil {
			out = old
			return err
		}
		allocs := growing(bucket(tx, bktAllocations))
		if allocs.Get([]byte(arec.ID)) != nil {
			return hub.Errorf(hub.ECONFLICT, "allocation %q already exists", arec.ID)
		}
		if arec.CodeHash != "" && bucket(tx, bktAllocByCode).Get([]byte(arec.CodeHash)) != nil {
			return hub.Errorf(hub.ECONFLICT, "allocation %q: the pickup code is already in use", arec.ID)
		}
		p, err := s.readPharmacy(tx, arec.PharmacyID)
		if err != nil {
			return err
		}
		after, err := stockAfter(p, arec.SKU, -arec.Quantity)
		if err != nil {
			return hub.Errorf(hub.EOUTOFSTOCK, "pharmacy %q has %d %s left for allocation %q, which takes %d", arec.PharmacyID, max(p.Stock[arec.SKU], 0), arec.SKU, arec.ID, arec.Quantity)
		}
		g := s.newGuards(tx)
		if err := g.take(&arec, rec.CommitteeID); err != nil {
			return err
		}

		// Write.
		c := hub.StockChange{PharmacyID: arec.PharmacyID, SKU: arec.SKU, Delta: -arec.Quantity, Reason: ReasonAllocate, At: arec.CreatedAt}
		if err := s.applyStock(tx, p, c, after); err != nil {
			return internal(err)
		}
		if err := put(allocs, []byte(arec.ID), av); err != nil {
			return err
		}
		if err := indexAllocation(tx, &arec); err != nil {
			return err
		}
		if err := putReservation(tx, &rec, v); err != nil {
			return err
		}
		if err := g.flush(); err != nil {
			return err
		}
		out = rec.domain()
		a.Step = &hub.StockStep{After: after, Cell: p.Cell, DistrictID: p.DistrictID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkServes returns an EINVALID error unless allocation a serves the
// new reservation r, which is PENDING or WAITING.
func checkServes(r *hub.Reservation, a *hub.Allocation) error {
	switch {
	case r.Status != hub.ReservationPending && r.Status != hub.ReservationWaiting:
		return hub.Errorf(hub.EINVALID, "reservation %q is %s: an allocation serves a PENDING or WAITING one", r.ID, r.Status)
	case a.ShortageID != "" || a.ReservationID != r.ID:
		return hub.Errorf(hub.EINVALID, "allocation %q does not serve reservation %q", a.ID, r.ID)
	case a.RoundID != r.RoundID:
		return hub.Errorf(hub.EINVALID, "allocation %q is of round %q, its reservation %q of round %q", a.ID, a.RoundID, r.ID, r.RoundID)
	}
	return nil
}

// resvStatusKey is the key of a reservation in reservationsByRoundStatus.
func resvStatusKey(r *reservationRec) []byte {
	return ikey(r.RoundID, string(r.Status), r.ID)
}

// Reservation returns a reservation or an ENOTFOUND error.
func (s *Store) Reservation(ctx context.Context, id string) (*hub.Reservation, error) {
	var r *reservationRec
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		r, err = readRec[reservationRec](tx, bktReservations, "reservation", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Reservations lists the reservations of round f.RoundID in ID order: those
// of status f.Status when it is not empty, with ID greater than f.After, at
// most f.Limit (all when f.Limit <= 0). It walks one index range. An empty
// RoundID or an unknown status is an EINVALID error; an unknown round has
// no reservations.
func (s *Store) Reservations(ctx context.Context, f hub.ReservationFilter) ([]*hub.Reservation, error) {
	if err := storecheck.ID("round", f.RoundID); err != nil {
		return nil, err
	}
	if err := storecheck.FilterEnum("reservation status", f.Status, storecheck.ReservationStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Reservation
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		idx := newIDIndex(tx, bktResvByRound, ikey(f.RoundID, ""))
		if f.Status != "" {
			idx = newIDIndex(tx, bktResvByRoundStatus, ikey(f.RoundID, string(f.Status), ""))
		}
		out, err = listByID(tx, bktReservations, "reservation", []*idIndex{idx}, f.After, f.Limit, (*reservationRec).domain)
		return err
	})
	return out, err
}

// SetReservationStatus moves reservations to status to when each is in one
// of from, in one write; otherwise it is an ECONFLICT error naming the
// first that is not, an unknown reservation ENOTFOUND, and nothing is
// written. to may be PENDING, WAITING, LOST or CANCELLED: only Allocate
// makes a reservation ALLOCATED. An ID repeated in ids is checked against
// the status the earlier occurrence gave it. UpdatedAt becomes the time of
// the call by the store's clock.
func (s *Store) SetReservationStatus(ctx context.Context, to hub.ReservationStatus, from []hub.ReservationStatus, ids ...string) error {
	if err := storecheck.Enum("reservation status", to, storecheck.ReservationStatuses); err != nil {
		return err
	}
	if to == hub.ReservationAllocated {
		return hub.Errorf(hub.EINVALID, "only Allocate makes a reservation ALLOCATED")
	}
	if len(from) == 0 {
		return hub.Errorf(hub.EINVALID, "no status to move reservations from")
	}
	for _, f := range from {
		if err := storecheck.Enum("reservation status", f, storecheck.ReservationStatuses); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := storecheck.ID("reservation", id); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return s.checkOpen(ctx)
	}
	from = slices.Clone(from)
	ids = slices.Clone(ids)
	now := s.now().UTC()

	return s.write(ctx, func(tx driver.Tx) error {
		// Check, over an overlay of the records the batch changes.
		recs := make(map[string]*reservationRec, len(ids))
		oldKeys := make(map[string][]byte, len(ids))
		for _, id := range ids {
			r, ok := recs[id]
			if !ok {
				var err error
				if r, err = readRec[reservationRec](tx, bktReservations, "reservation", id); err != nil {
					return err
				}
				recs[id], oldKeys[id] = r, resvStatusKey(r)
			}
			if !slices.Contains(from, r.Status) {
				return hub.Errorf(hub.ECONFLICT, "reservation %q is %s, not %v", id, r.Status, from)
			}
			r.Status, r.UpdatedAt = to, now
		}

		// Write.
		for id, r := range recs {
			if err := moveIndex(tx, bktResvByRoundStatus, oldKeys[id], resvStatusKey(r)); err != nil {
				return err
			}
			if err := putRec(tx, bktReservations, "reservation", id, r); err != nil {
				return err
			}
		}
		return nil
	})
}
