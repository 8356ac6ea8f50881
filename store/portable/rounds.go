package portable

import (
	"context"
	"fmt"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/storecheck"
)

// UpsertRound creates or replaces a round. A round needs an ID, a known
// SKU, mode and status, known storecheck.Fulfilments, at least one unit per person and
// no negative counts; otherwise the call is an EINVALID error.
func (s *Store) UpsertRound(ctx context.Context, r *hub.Round) error {
	if err := storecheck.Round(r); err != nil {
		return err
	}
	v, err := encode("round", roundToRec(r))
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		var old roundRec
		if _, err := getRec(bucket(tx, bktRounds), "round", []byte(r.ID), &old); err != nil {
			return err
		}
		return putRound(tx, r.ID, old.Status, r.Status, v)
	})
}

// UpdateRound replaces a stored round only while its stored status is one
// of from (hub.DispatchStore): the read and the write are one transaction.
func (s *Store) UpdateRound(ctx context.Context, r *hub.Round, from ...hub.RoundStatus) error {
	if err := storecheck.Round(r); err != nil {
		return err
	}
	if err := storecheck.RoundFrom(r.ID, from); err != nil {
		return err
	}
	v, err := encode("round", roundToRec(r))
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		old, err := readRec[roundRec](tx, bktRounds, "round", r.ID)
		if err != nil {
			return err
		}
		if err := storecheck.RoundMove(r.ID, old.Status, old.Commitment, r.Commitment, from); err != nil {
			return err
		}
		return putRound(tx, r.ID, old.Status, r.Status, v)
	})
}

// putRound stores the encoded round v under id and files it under status
// in the status index, out of was, the stored round's status ("" for a
// new round).
func putRound(tx driver.Tx, id string, was, status hub.RoundStatus, v []byte) error {
	byStatus := bucket(tx, bktRoundsByStatus)
	if was != "" && was != status {
		if err := del(byStatus, ikey(string(was), id)); err != nil {
			return err
		}
	}
	if err := mark(byStatus, ikey(string(status), id)); err != nil {
		return err
	}
	return put(bucket(tx, bktRounds), []byte(id), v)
}

// Round returns a round or an ENOTFOUND error.
func (s *Store) Round(ctx context.Context, id string) (*hub.Round, error) {
	var r *roundRec
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		r, err = s.readRound(tx, id)
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
	if err := storecheck.FilterEnum("round status", status, storecheck.RoundStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Round
	err := s.view(ctx, func(tx driver.Tx) (err error) {
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
		if err := storecheck.ID("partner", p.ID); err != nil {
			return err
		}
		v, err := encode("partner", partnerToRec(p))
		if err != nil {
			return err
		}
		ids[i], vs[i] = p.ID, v
	}
	return s.write(ctx, func(tx driver.Tx) error {
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
	err := s.view(ctx, func(tx driver.Tx) error {
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
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktPartners), "partner", (*partnerRec).domain, nil)
		return err
	})
	return out, err
}

// readRec reads the record under id in the bucket name, or returns an
// ENOTFOUND error naming it as kind.
func readRec[R any](tx driver.Tx, name, kind, id string) (*R, error) {
	var r R
	ok, err := getRec(bucket(tx, name), kind, []byte(id), &r)
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "%s %q not found", kind, id)
	}
	return &r, nil
}

// readRound reads a round or returns an ENOTFOUND error.
func (s *Store) readRound(tx driver.Tx, id string) (*roundRec, error) {
	r, ok, err := s.rounds.get(bucket(tx, bktRounds), []byte(id))
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "round %q not found", id)
	}
	return r, nil
}

// putRec encodes a record and stores it under id in the bucket name.
func putRec(tx driver.Tx, name, kind, id string, r any) error {
	v, err := encode(kind, r)
	if err != nil {
		return err
	}
	return put(bucket(tx, name), []byte(id), v)
}

// moveIndex refiles a key of an index bucket: it removes from and adds to
// when they differ.
func moveIndex(tx driver.Tx, name string, from, to []byte) error {
	if string(from) == string(to) {
		return nil
	}
	b := bucket(tx, name)
	if err := del(b, from); err != nil {
		return err
	}
	if err := mark(b, to); err != nil {
		return fmt.Errorf("store: index %s: %w", name, err)
	}
	return nil
}
