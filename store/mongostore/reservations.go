package mongostore

import (
	"context"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// CreateReservation records a reservation and returns the stored one.
//
// With an IdempotencyKey already used in the round it writes nothing and
// returns the reservation stored under that key, as it is now. Otherwise a
// reservation ID already taken, or a second reservation of one IDHash in a
// round, is an ECONFLICT error (the latter's message names the first
// reservation's ID), and an unknown round ENOTFOUND. The unique indexes
// {roundId, idHash} and {roundId, idemKey} decide races between hubs: the
// loser meets a duplicate key, runs its checks again and so answers as if
// it had come second.
func (s *Store) CreateReservation(ctx context.Context, r *hub.Reservation) (*hub.Reservation, error) {
	if err := storecheck.Reservation(r); err != nil {
		return nil, err
	}
	doc := reservationToDoc(r)
	var out *hub.Reservation
	err := s.again(ctx, "create reservation", func() error {
		out = nil
		old, err := s.checkNewReservation(ctx, &doc)
		if err != nil || old != nil {
			out = old
			return err
		}
		if _, err := s.c.reservations.InsertOne(ctx, doc); err != nil {
			return err
		}
		out = doc.domain()
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
func (s *Store) checkNewReservation(ctx context.Context, doc *reservationDoc) (*hub.Reservation, error) {
	ok, err := exists(ctx, s.c.rounds, byID(doc.RoundID))
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "round %q not found", doc.RoundID)
	}
	if doc.IdempotencyKey != "" {
		first, err := findOne[reservationDoc](ctx, s.c.reservations,
			bson.D{{Key: "roundId", Value: doc.RoundID}, {Key: "idemKey", Value: doc.IdempotencyKey}})
		if err != nil {
			return nil, err
		}
		if first != nil {
			return first.domain(), nil
		}
	}
	if ok, err := exists(ctx, s.c.reservations, byID(doc.ID)); err != nil {
		return nil, err
	} else if ok {
		return nil, hub.Errorf(hub.ECONFLICT, "reservation %q already exists", doc.ID)
	}
	first, err := findOne[reservationDoc](ctx, s.c.reservations,
		bson.D{{Key: "roundId", Value: doc.RoundID}, {Key: "idHash", Value: doc.IDHash}})
	if err != nil {
		return nil, err
	}
	if first != nil {
		return nil, hub.Errorf(hub.ECONFLICT, "the ID number already has reservation %q in round %q", first.ID, doc.RoundID)
	}
	return nil, nil
}

// ReserveAllocated records a new reservation and the allocation that
// serves it in one transaction, all or nothing: the reservation is
// checked and inserted as CreateReservation does it, then allocated as
// Allocate does it (the reservation made ALLOCATED through its guarded
// update, stock taken through stockFilter's guarded update with an
// ALLOCATE ledger entry, the allocation inserted). It returns the stored
// reservation, ALLOCATED.
//
// r is checked as CreateReservation checks it and must be PENDING or
// WAITING; a is checked as Allocate checks it and must serve r. With an
// IdempotencyKey already used in the round the transaction writes
// nothing and the reservation stored under that key is returned, as it
// is now. Otherwise the errors of CreateReservation come first, then
// those of Allocate; with any of them the transaction is aborted and
// nothing is written. The unique indexes decide races between hubs as
// for CreateReservation: the loser's transaction meets a duplicate key
// and runs again, so answering as if it had come second.
func (s *Store) ReserveAllocated(ctx context.Context, r *hub.Reservation, a *hub.Allocation) (*hub.Reservation, error) {
	if err := storecheck.Reservation(r); err != nil {
		return nil, err
	}
	if err := storecheck.Allocation(0, a); err != nil {
		return nil, err
	}
	switch {
	case r.Status != hub.ReservationPending && r.Status != hub.ReservationWaiting:
		return nil, hub.Errorf(hub.EINVALID, "reservation %q is %s: an allocation serves a PENDING or WAITING one", r.ID, r.Status)
	case a.ShortageID != "" || a.ReservationID != r.ID:
		return nil, hub.Errorf(hub.EINVALID, "allocation %q does not serve reservation %q", a.ID, r.ID)
	case a.RoundID != r.RoundID:
		return nil, hub.Errorf(hub.EINVALID, "allocation %q is of round %q, its reservation %q of round %q", a.ID, a.RoundID, r.ID, r.RoundID)
	}
	doc := reservationToDoc(r)
	ad := allocationToDoc(a)
	var out *hub.Reservation
	err := s.tx(ctx, "reserve and allocate", func(ctx context.Context) error {
		out = nil
		old, err := s.checkNewReservation(ctx, &doc)
		if err != nil || old != nil {
			out = old
			return err
		}
		if _, err := s.c.reservations.InsertOne(ctx, doc); err != nil {
			return err
		}
		after, err := s.allocateOne(ctx, &ad)
		if err != nil {
			return err
		}
		a.StockAfter = after
		stored := doc
		stored.Status, stored.AllocationID, stored.UpdatedAt = string(hub.ReservationAllocated), ad.ID, ad.CreatedAt
		out = stored.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Reservation returns a reservation or an ENOTFOUND error.
func (s *Store) Reservation(ctx context.Context, id string) (*hub.Reservation, error) {
	d, err := get[reservationDoc](ctx, s, s.c.reservations, "reservation", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Reservations lists the reservations of round f.RoundID in ID order:
// those of status f.Status when it is not empty, with ID greater than
// f.After, at most f.Limit (all when f.Limit <= 0). It walks {roundId,
// _id} or {roundId, status, _id}. An empty RoundID or an unknown status
// is an EINVALID error; an unknown round has no reservations.
func (s *Store) Reservations(ctx context.Context, f hub.ReservationFilter) ([]*hub.Reservation, error) {
	if err := storecheck.ID("round", f.RoundID); err != nil {
		return nil, err
	}
	if err := storecheck.FilterEnum("reservation status", f.Status, storecheck.ReservationStatuses); err != nil {
		return nil, err
	}
	return list(ctx, s, s.c.reservations, "reservations", reservationsFilter(f), f.Limit, (*reservationDoc).domain)
}

// SetReservationStatus moves reservations to status to when each is in
// one of from, in one transaction; otherwise it is an ECONFLICT error
// naming the first that is not, an unknown reservation ENOTFOUND, and
// nothing is written. to may be PENDING, WAITING, LOST or CANCELLED: only
// Allocate makes a reservation ALLOCATED. An ID repeated in ids is checked
// against the status the earlier occurrence gave it. UpdatedAt becomes the
// time of the call by the store's clock.
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
	now := msTime(s.now())

	return s.tx(ctx, "set reservation status", func(ctx context.Context) error {
		for _, id := range ids {
			d, err := findOne[reservationDoc](ctx, s.c.reservations, byID(id))
			if err != nil {
				return err
			}
			if d == nil {
				return hub.Errorf(hub.ENOTFOUND, "reservation %q not found", id)
			}
			if !slices.Contains(from, hub.ReservationStatus(d.Status)) {
				return hub.Errorf(hub.ECONFLICT, "reservation %q is %s, not %v", id, d.Status, from)
			}
			res, err := s.c.reservations.UpdateOne(ctx,
				bson.D{{Key: "_id", Value: id}, {Key: "status", Value: d.Status}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: string(to)}, {Key: "updatedAt", Value: now}}}})
			if err != nil {
				return err
			}
			if res.MatchedCount != 1 {
				return fmt.Errorf("reservation %q changed under its transaction", id)
			}
		}
		return nil
	})
}
