package boltstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/gridhub/gridhub/hub"
	bolt "go.etcd.io/bbolt"
)

// The known values of the dispatch enums, for checking records and
// filters: an unknown value never reaches an index key.
var (
	roundStatuses       = []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed, hub.RoundDrawn}
	modes               = []hub.Mode{hub.FirstCome, hub.Lottery, hub.ByCommittee}
	fulfilments         = []hub.Fulfilment{hub.Pickup, hub.Delivery}
	reservationStatuses = []hub.ReservationStatus{
		hub.ReservationPending, hub.ReservationAllocated, hub.ReservationWaiting,
		hub.ReservationLost, hub.ReservationCancelled,
	}
	allocationStatuses = []hub.AllocationStatus{
		hub.AllocationReserved, hub.AllocationRedeemed, hub.AllocationExpired, hub.AllocationCancelled,
		hub.AllocationDelivering, hub.AllocationDelivered, hub.AllocationFailed,
	}
	shortageStatuses = []hub.ShortageStatus{hub.ShortageWaiting, hub.ShortageServed}
)

// checkEnum returns an EINVALID error unless v is one of known.
func checkEnum[T ~string](what string, v T, known []T) error {
	if !slices.Contains(known, v) {
		return hub.Errorf(hub.EINVALID, "unknown %s %q", what, v)
	}
	return nil
}

// checkFilterEnum is checkEnum for an optional filter value.
func checkFilterEnum[T ~string](what string, v T, known []T) error {
	if v == "" {
		return nil
	}
	return checkEnum(what, v, known)
}

// checkSKU returns an EINVALID error naming the record unless sku is a
// known supply.
func checkSKU(kind, id string, sku hub.SKU) error {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return hub.Errorf(hub.EINVALID, "%s %q: unknown supply %q", kind, id, sku)
	}
	return nil
}

// checkRound returns an EINVALID error unless r can be stored.
func checkRound(r *hub.Round) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "round is missing")
	}
	if err := checkID("round", r.ID); err != nil {
		return err
	}
	if err := checkSKU("round", r.ID, r.SKU); err != nil {
		return err
	}
	if r.PerPerson <= 0 {
		return hub.Errorf(hub.EINVALID, "round %q: %d units per person, want at least 1", r.ID, r.PerPerson)
	}
	if err := checkEnum("mode", r.Mode, modes); err != nil {
		return err
	}
	if err := checkEnum("round status", r.Status, roundStatuses); err != nil {
		return err
	}
	for _, f := range r.Fulfilments {
		if err := checkEnum("fulfilment", f, fulfilments); err != nil {
			return err
		}
	}
	if r.MaxK < 0 || r.Winners < 0 || r.PickupWindow < 0 || r.SlotMinutes < 0 || r.SlotCapacity < 0 {
		return hub.Errorf(hub.EINVALID, "round %q: negative MaxK, Winners, PickupWindow, SlotMinutes or SlotCapacity", r.ID)
	}
	for c, q := range r.Quotas {
		if q < 0 {
			return hub.Errorf(hub.EINVALID, "round %q: negative quota of committee %q", r.ID, c)
		}
	}
	return nil
}

// UpsertRound creates or replaces a round. A round needs an ID, a known
// SKU, mode and status, known fulfilments, at least one unit per person and
// no negative counts; otherwise the call is an EINVALID error.
func (s *Store) UpsertRound(ctx context.Context, r *hub.Round) error {
	if err := checkRound(r); err != nil {
		return err
	}
	id, status := r.ID, string(r.Status)
	v, err := encode("round", roundToRec(r))
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b, byStatus := bucket(tx, bktRounds), bucket(tx, bktRoundsByStatus)
		var old roundRec
		exists, err := getRec(b, "round", []byte(id), &old)
		if err != nil {
			return err
		}
		if exists && string(old.Status) != status {
			if err := del(byStatus, ikey(string(old.Status), id)); err != nil {
				return err
			}
		}
		if err := mark(byStatus, ikey(status, id)); err != nil {
			return err
		}
		return put(b, []byte(id), v)
	})
}

// Round returns a round or an ENOTFOUND error.
func (s *Store) Round(ctx context.Context, id string) (*hub.Round, error) {
	var r roundRec
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getRec(bucket(tx, bktRounds), "round", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "round %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Rounds lists rounds in ID order, those of one status when status is not
// empty. An unknown status is an EINVALID error.
func (s *Store) Rounds(ctx context.Context, status hub.RoundStatus) ([]*hub.Round, error) {
	if err := checkFilterEnum("round status", status, roundStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Round
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		var idx []*idIndex
		if status != "" {
			idx = append(idx, newIDIndex(tx, bktRoundsByStatus, ikey(string(status), "")))
		}
		out, err = listByID(tx, bktRounds, "round", idx, "", 0, (*roundRec).domain)
		return err
	})
	return out, err
}

// UpsertPartners creates or replaces partners in one write.
func (s *Store) UpsertPartners(ctx context.Context, ps ...*hub.Partner) error {
	if len(ps) == 0 {
		return s.checkOpen(ctx)
	}
	ids, vs := make([]string, len(ps)), make([][]byte, len(ps))
	for i, p := range ps {
		if p == nil {
			return hub.Errorf(hub.EINVALID, "partner %d of the batch is missing", i)
		}
		if err := checkID("partner", p.ID); err != nil {
			return err
		}
		v, err := encode("partner", partnerToRec(p))
		if err != nil {
			return err
		}
		ids[i], vs[i] = p.ID, v
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bktPartners)
		for i, id := range ids {
			if err := put(b, []byte(id), vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Partner returns a partner or an ENOTFOUND error.
func (s *Store) Partner(ctx context.Context, id string) (*hub.Partner, error) {
	var r partnerRec
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getRec(bucket(tx, bktPartners), "partner", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "partner %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Partners lists every partner in ID order.
func (s *Store) Partners(ctx context.Context) ([]*hub.Partner, error) {
	var out []*hub.Partner
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktPartners), "partner", (*partnerRec).domain, nil)
		return err
	})
	return out, err
}

// readRec reads the record under id in the bucket name, or returns an
// ENOTFOUND error naming it as kind.
func readRec[R any](tx *bolt.Tx, name, kind, id string) (*R, error) {
	var r R
	ok, err := getRec(bucket(tx, name), kind, []byte(id), &r)
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "%s %q not found", kind, id)
	}
	return &r, nil
}

// putRec encodes a record and stores it under id in the bucket name.
func putRec(tx *bolt.Tx, name, kind, id string, r any) error {
	v, err := encode(kind, r)
	if err != nil {
		return err
	}
	return put(bucket(tx, name), []byte(id), v)
}

// moveIndex refiles a key of an index bucket: it removes from and adds to
// when they differ.
func moveIndex(tx *bolt.Tx, name string, from, to []byte) error {
	if string(from) == string(to) {
		return nil
	}
	b := bucket(tx, name)
	if err := del(b, from); err != nil {
		return err
	}
	if err := mark(b, to); err != nil {
		return fmt.Errorf("boltstore: index %s: %w", name, err)
	}
	return nil
}
