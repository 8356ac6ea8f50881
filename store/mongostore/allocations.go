package mongostore

import (
	"context"
	"errors"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Allocate records allocations in one transaction, all or nothing: for
// each, in order, the reservation it serves becomes ALLOCATED (or the
// shortage SERVED) through a guarded update, stock drops through the
// guarded update of stockFilter with an ALLOCATE ledger entry dated the
// allocation's CreatedAt, and the allocation is inserted. Later members
// of the batch see what earlier ones took.
//
// Each allocation serves exactly one reservation (then RoundID, the
// reservation's round, is required) or one shortage (of the same SKU), is
// new (RESERVED or DELIVERING), has a positive quantity, a known SKU and a
// CreatedAt; otherwise the call is an EINVALID error. An allocation ID or
// a non-empty CodeHash already in use, or repeated in the batch, is
// ECONFLICT, as is a reservation not PENDING or WAITING, a shortage not
// WAITING, or either served twice in the batch; an unknown pharmacy,
// reservation or shortage is ENOTFOUND; a batch that takes more of a SKU
// at a pharmacy than it has is EOUTOFSTOCK. In every such case nothing is
// written.
func (s *Store) Allocate(ctx context.Context, as ...*hub.Allocation) error {
	if len(as) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]allocationDoc, len(as))
	ids, codes, served := make(map[string]bool), make(map[string]bool), make(map[string]bool)
	for i, a := range as {
		if err := storecheck.Allocation(i, a); err != nil {
			return err
		}
		key := "r" + a.ReservationID
		if a.ShortageID != "" {
			key = "s" + a.ShortageID
		}
		switch {
		case ids[a.ID]:
			return hub.Errorf(hub.ECONFLICT, "allocation %q is repeated in the batch", a.ID)
		case a.CodeHash != "" && codes[a.CodeHash]:
			return hub.Errorf(hub.ECONFLICT, "allocation %q: the pickup code is repeated in the batch", a.ID)
		case served[key]:
			return hub.Errorf(hub.ECONFLICT, "allocation %q: its reservation or shortage is served twice in the batch", a.ID)
		}
		ids[a.ID], codes[a.CodeHash], served[key] = true, true, true
		docs[i] = allocationToDoc(a)
	}

	return s.tx(ctx, "allocate", func(ctx context.Context) error {
		for i := range docs {
			after, err := s.allocateOne(ctx, &docs[i])
			if err != nil {
				return err
			}
			as[i].StockAfter = after
		}
		return nil
	})
}

// allocateOne records one allocation inside Allocate's transaction and
// returns the stock of its SKU at its pharmacy after it.
func (s *Store) allocateOne(ctx context.Context, a *allocationDoc) (int, error) {
	if ok, err := exists(ctx, s.c.allocations, byID(a.ID)); err != nil {
		return 0, err
	} else if ok {
		return 0, hub.Errorf(hub.ECONFLICT, "allocation %q already exists", a.ID)
	}
	if a.CodeHash != "" {
		if ok, err := exists(ctx, s.c.allocations, bson.D{{Key: "codeHash", Value: a.CodeHash}}); err != nil {
			return 0, err
		} else if ok {
			return 0, hub.Errorf(hub.ECONFLICT, "allocation %q: the pickup code is already in use", a.ID)
		}
	}
	if a.ReservationID != "" {
		if err := s.allocateReservation(ctx, a); err != nil {
			return 0, err
		}
	} else if err := s.serveShortage(ctx, a); err != nil {
		return 0, err
	}
	c := hub.StockChange{PharmacyID: a.PharmacyID, SKU: hub.SKU(a.SKU), Delta: -int(a.Quantity), Reason: ReasonAllocate, At: a.CreatedAt}
	p, err := s.changeStock(ctx, c)
	if err != nil {
		if hub.ErrorCode(err) == hub.EOUTOFSTOCK {
			have := 0
			if d, _ := findOne[pharmacyDoc](ctx, s.c.pharmacies, byID(a.PharmacyID)); d != nil {
				have = int(d.Stock[a.SKU])
			}
			return 0, hub.Errorf(hub.EOUTOFSTOCK, "pharmacy %q has %d %s left for allocation %q, which takes %d",
				a.PharmacyID, max(have, 0), a.SKU, a.ID, a.Quantity)
		}
		return 0, err
	}
	if _, err := s.c.allocations.InsertOne(ctx, a); err != nil {
		return 0, err
	}
	return int(p.Stock[a.SKU]), nil
}

// allocateReservation makes the reservation an allocation serves
// ALLOCATED, if it is PENDING or WAITING and of the allocation's round.
func (s *Store) allocateReservation(ctx context.Context, a *allocationDoc) error {
	filter := bson.D{
		{Key: "_id", Value: a.ReservationID},
		{Key: "roundId", Value: a.RoundID},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{string(hub.ReservationPending), string(hub.ReservationWaiting)}}}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: string(hub.ReservationAllocated)},
		{Key: "allocationId", Value: a.ID},
		{Key: "updatedAt", Value: a.CreatedAt},
	}}}
	res, err := s.c.reservations.UpdateOne(ctx, filter, update)
	if err != nil {
		return err
	}
	if res.MatchedCount == 1 {
		return nil
	}
	r, err := findOne[reservationDoc](ctx, s.c.reservations, byID(a.ReservationID))
	switch {
	case err != nil:
		return err
	case r == nil:
		return hub.Errorf(hub.ENOTFOUND, "reservation %q not found", a.ReservationID)
	case r.Status != string(hub.ReservationPending) && r.Status != string(hub.ReservationWaiting):
		return hub.Errorf(hub.ECONFLICT, "reservation %q is %s, not PENDING or WAITING", r.ID, r.Status)
	}
	return hub.Errorf(hub.EINVALID, "allocation %q is of round %q, its reservation %q of round %q", a.ID, a.RoundID, r.ID, r.RoundID)
}

// serveShortage makes the shortage an allocation serves SERVED, if it is
// WAITING and of the allocation's SKU; that also takes it out of the
// unique index of waiting registrations.
func (s *Store) serveShortage(ctx context.Context, a *allocationDoc) error {
	filter := bson.D{
		{Key: "_id", Value: a.ShortageID},
		{Key: "sku", Value: a.SKU},
		{Key: "status", Value: string(hub.ShortageWaiting)},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: string(hub.ShortageServed)},
		{Key: "allocationId", Value: a.ID},
		{Key: "updatedAt", Value: a.CreatedAt},
	}}}
	res, err := s.c.shortages.UpdateOne(ctx, filter, update)
	if err != nil {
		return err
	}
	if res.MatchedCount == 1 {
		return nil
	}
	sh, err := findOne[shortageDoc](ctx, s.c.shortages, byID(a.ShortageID))
	switch {
	case err != nil:
		return err
	case sh == nil:
		return hub.Errorf(hub.ENOTFOUND, "shortage %q not found", a.ShortageID)
	case sh.Status != string(hub.ShortageWaiting):
		return hub.Errorf(hub.ECONFLICT, "shortage %q is %s, not WAITING", sh.ID, sh.Status)
	}
	return hub.Errorf(hub.EINVALID, "allocation %q is of %s, its shortage %q of %s", a.ID, a.SKU, sh.ID, sh.SKU)
}

// Allocation returns an allocation or an ENOTFOUND error.
func (s *Store) Allocation(ctx context.Context, id string) (*hub.Allocation, error) {
	d, err := get[allocationDoc](ctx, s, s.c.allocations, "allocation", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// AllocationByCode finds an allocation by its pickup code's hash, or
// returns an ENOTFOUND error.
func (s *Store) AllocationByCode(ctx context.Context, codeHash string) (*hub.Allocation, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	var d *allocationDoc
	if codeHash != "" {
		var err error
		if d, err = findOne[allocationDoc](ctx, s.c.allocations, bson.D{{Key: "codeHash", Value: codeHash}}); err != nil {
			return nil, s.fail("read allocation", err)
		}
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "no allocation has that pickup code")
	}
	return d.domain(), nil
}

// Allocations lists allocations in ID order: those of every one of
// f.PartnerID, f.PharmacyID, f.RoundID and f.Status that is not empty,
// with ID greater than f.After, at most f.Limit (all when f.Limit <= 0).
// A partner's page walks {partnerId, _id} or {partnerId, status, _id}.
// An unknown status is an EINVALID error.
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
	return list(ctx, s, s.c.allocations, "allocations", allocationsFilter(f), f.Limit, (*allocationDoc).domain)
}

// TransitionAllocation moves an allocation from one of from to to, at the
// time at, and returns it after the move. An allocation in a final status
// never moves, and one not in from does not: both are ECONFLICT errors and
// nothing is written; an unknown allocation is ENOTFOUND; an unknown to,
// an empty from or a zero at is EINVALID. A move to a status that Returns
// stock gives the quantity back to the pharmacy with a RETURN ledger entry
// dated at, in the same transaction. UpdatedAt becomes at. Two hubs
// redeeming one code conflict in their transactions: the loser runs
// again, finds the allocation moved and gets ECONFLICT.
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
	at = msTime(at)

	var out *hub.Allocation
	err := s.tx(ctx, "transition allocation", func(ctx context.Context) error {
		out = nil
		stockAfter := 0
		a, err := findOne[allocationDoc](ctx, s.c.allocations, byID(id))
		if err != nil {
			return err
		}
		if a == nil {
			return hub.Errorf(hub.ENOTFOUND, "allocation %q not found", id)
		}
		was := hub.AllocationStatus(a.Status)
		if was.Final() {
			return hub.Errorf(hub.ECONFLICT, "allocation %q is %s and moves no more", id, was)
		}
		if !slices.Contains(from, was) {
			return hub.Errorf(hub.ECONFLICT, "allocation %q is %s, not %v", id, was, from)
		}
		var moved allocationDoc
		err = s.c.allocations.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: id}, {Key: "status", Value: a.Status}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: string(to)}, {Key: "updatedAt", Value: at}}}},
			after()).Decode(&moved)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("allocation %q changed under its transaction", id)
		} else if err != nil {
			return err
		}
		if to.Returns() {
			c := hub.StockChange{PharmacyID: a.PharmacyID, SKU: hub.SKU(a.SKU), Delta: int(a.Quantity), Reason: ReasonReturn, At: at}
			p, err := s.changeStock(ctx, c)
			if err != nil {
				if hub.ErrorCode(err) == hub.EINVALID { // an overflow: refused, like the embedded store's
					return err
				}
				return internal(err) // pharmacies are never removed
			}
			stockAfter = int(p.Stock[a.SKU])
		}
		out = moved.domain()
		out.StockAfter = stockAfter
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiringAllocations lists RESERVED allocations whose ExpiresAt is before
// t, earliest first (then by ID), at most limit (all when limit <= 0). It
// walks {status, expiresAt, _id}; one with a zero ExpiresAt has no
// expiresAt and never expires.
func (s *Store) ExpiringAllocations(ctx context.Context, t time.Time, limit int) ([]*hub.Allocation, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	if !t.After(storecheck.MinKeyTime) {
		return nil, nil
	}
	o := options.Find().SetSort(bson.D{{Key: "expiresAt", Value: 1}, {Key: "_id", Value: 1}})
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	out, err := findAll(ctx, s.c.allocations, expiringFilter(t), o, (*allocationDoc).domain)
	if err != nil {
		return nil, s.fail("list expiring allocations", err)
	}
	return out, nil
}
