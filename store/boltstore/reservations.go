package boltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
	bolt "go.etcd.io/bbolt"
)

// checkReservation returns an EINVALID error unless r can be created.
func checkReservation(r *hub.Reservation) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "reservation is missing")
	}
	if err := checkID("reservation", r.ID); err != nil {
		return err
	}
	if err := checkID("round", r.RoundID); err != nil {
		return err
	}
	if r.IDHash == "" {
		return hub.Errorf(hub.EINVALID, "reservation %q has no ID hash", r.ID)
	}
	if err := checkKey("ID hash", r.IDHash); err != nil {
		return err
	}
	if err := checkKey("idempotency key", r.IdempotencyKey); err != nil {
		return err
	}
	for _, ref := range []struct{ kind, id string }{
		{"resident", r.ResidentID}, {"committee", r.CommitteeID}, {"district", r.DistrictID},
	} {
		if err := checkRef(ref.kind, ref.id); err != nil {
			return err
		}
	}
	if r.Fulfilment != "" {
		if err := checkEnum("fulfilment", r.Fulfilment, fulfilments); err != nil {
			return err
		}
	}
	if err := checkEnum("reservation status", r.Status, reservationStatuses); err != nil {
		return err
	}
	if r.Status == hub.ReservationAllocated || r.AllocationID != "" {
		return hub.Errorf(hub.EINVALID, "reservation %q: only Allocate makes a reservation ALLOCATED", r.ID)
	}
	return nil
}

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
	if err := checkReservation(r); err != nil {
		return nil, err
	}
	rec := reservationToRec(r)
	v, err := encode("reservation", rec)
	if err != nil {
		return nil, err
	}

	var out *hub.Reservation
	err = s.write(ctx, func(tx *bolt.Tx) error {
		out = nil
		if bucket(tx, bktRounds).Get([]byte(rec.RoundID)) == nil {
			return hub.Errorf(hub.ENOTFOUND, "round %q not found", rec.RoundID)
		}
		recs, byKey, byHash := bucket(tx, bktReservations), bucket(tx, bktResvByKey), bucket(tx, bktResvByHash)
		if rec.IdempotencyKey != "" {
			if id := byKey.Get(ikey(rec.RoundID, rec.IdempotencyKey)); id != nil {
				var old reservationRec
				if ok, err := getRec(recs, "reservation", id, &old); err != nil {
					return err
				} else if !ok {
					return fmt.Errorf("boltstore: idempotency key index names missing reservation %q", id)
				}
				out = old.domain()
				return nil
			}
		}
		if recs.Get([]byte(rec.ID)) != nil {
			return hub.Errorf(hub.ECONFLICT, "reservation %q already exists", rec.ID)
		}
		if id := byHash.Get(ikey(rec.RoundID, rec.IDHash)); id != nil {
			return hub.Errorf(hub.ECONFLICT, "the ID number already has reservation %q in round %q", id, rec.RoundID)
		}

		if err := put(recs, []byte(rec.ID), v); err != nil {
			return err
		}
		if err := put(byHash, ikey(rec.RoundID, rec.IDHash), []byte(rec.ID)); err != nil {
			return err
		}
		if rec.IdempotencyKey != "" {
			if err := put(byKey, ikey(rec.RoundID, rec.IdempotencyKey), []byte(rec.ID)); err != nil {
				return err
			}
		}
		if err := mark(bucket(tx, bktResvByRound), ikey(rec.RoundID, rec.ID)); err != nil {
			return err
		}
		if err := mark(bucket(tx, bktResvByRoundStatus), resvStatusKey(&rec)); err != nil {
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

// resvStatusKey is the key of a reservation in reservationsByRoundStatus.
func resvStatusKey(r *reservationRec) []byte {
	return ikey(r.RoundID, string(r.Status), r.ID)
}

// Reservation returns a reservation or an ENOTFOUND error.
func (s *Store) Reservation(ctx context.Context, id string) (*hub.Reservation, error) {
	var r *reservationRec
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
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
	if err := checkID("round", f.RoundID); err != nil {
		return nil, err
	}
	if err := checkFilterEnum("reservation status", f.Status, reservationStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Reservation
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
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
	if err := checkEnum("reservation status", to, reservationStatuses); err != nil {
		return err
	}
	if to == hub.ReservationAllocated {
		return hub.Errorf(hub.EINVALID, "only Allocate makes a reservation ALLOCATED")
	}
	if len(from) == 0 {
		return hub.Errorf(hub.EINVALID, "no status to move reservations from")
	}
	for _, f := range from {
		if err := checkEnum("reservation status", f, reservationStatuses); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := checkID("reservation", id); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return s.checkOpen(ctx)
	}
	from = slices.Clone(from)
	ids = slices.Clone(ids)
	now := time.Now().UTC()

	return s.write(ctx, func(tx *bolt.Tx) error {
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
