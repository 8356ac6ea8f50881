package mongostore

import (
	"context"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/storecheck"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// UpsertRound creates or replaces a round. A round needs an ID, a known
// SKU, mode and status, known storecheck.Fulfilments, at least one unit per person
// and no negative counts; otherwise the call is an EINVALID error.
func (s *Store) UpsertRound(ctx context.Context, r *hub.Round) error {
	if err := storecheck.Round(r); err != nil {
		return err
	}
	doc := roundToDoc(r)
	return s.again(ctx, "upsert round", func() error { return replace(ctx, s.c.rounds, doc.ID, doc) })
}

// UpdateRound replaces a stored round only while its stored status is one
// of from (hub.DispatchStore): one ReplaceOne filtered on the ID and the
// status, so the check and the write are atomic; a miss is read back to
// tell ENOTFOUND from ECONFLICT.
func (s *Store) UpdateRound(ctx context.Context, r *hub.Round, from ...hub.RoundStatus) error {
	if err := storecheck.Round(r); err != nil {
		return err
	}
	if err := storecheck.RoundFrom(r.ID, from); err != nil {
		return err
	}
	doc := roundToDoc(r)
	return s.again(ctx, "update round", func() error {
		res, err := s.c.rounds.ReplaceOne(ctx, roundFromFilter(r.ID, r.Commitment, from), doc)
		if err != nil {
			return err
		}
		if res.MatchedCount == 1 {
			return nil
		}
		old, err := findOne[roundDoc](ctx, s.c.rounds, byID(r.ID))
		switch {
		case err != nil:
			return err
		case old == nil:
			return hub.Errorf(hub.ENOTFOUND, "round %q not found", r.ID)
		}
		if err := storecheck.RoundMove(r.ID, hub.RoundStatus(old.Status), old.Commitment, r.Commitment, from); err != nil {
			return err
		}
		return hub.Errorf(hub.ECONFLICT, "round %q changed while it was updated", r.ID)
	})
}

// roundFromFilter selects the round id while its status is one of from
// and its commitment is none or commitment (a commitment is written once;
// the field is left out when empty).
func roundFromFilter(id, commitment string, from []hub.RoundStatus) bson.D {
	in := make(bson.A, len(from))
	for i, st := range from {
		in[i] = string(st)
	}
	same := bson.A{bson.D{{Key: "commitment", Value: bson.D{{Key: "$exists", Value: false}}}}, bson.D{{Key: "commitment", Value: ""}}}
	if commitment != "" {
		same = append(same, bson.D{{Key: "commitment", Value: commitment}})
	}
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "status", Value: bson.D{{Key: "$in", Value: in}}},
		{Key: "$or", Value: same},
	}
}

// Round returns a round or an ENOTFOUND error.
func (s *Store) Round(ctx context.Context, id string) (*hub.Round, error) {
	d, err := get[roundDoc](ctx, s, s.c.rounds, "round", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Rounds lists rounds in ID order, those of one status when status is not
// empty (through {status, _id}). An unknown status is an EINVALID error.
func (s *Store) Rounds(ctx context.Context, status hub.RoundStatus) ([]*hub.Round, error) {
	if err := storecheck.FilterEnum("round status", status, storecheck.RoundStatuses); err != nil {
		return nil, err
	}
	filter := bson.D{}
	if status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(status)})
	}
	return list(ctx, s, s.c.rounds, "rounds", filter, 0, (*roundDoc).domain)
}

// UpsertPartners creates or replaces partners in one transaction.
func (s *Store) UpsertPartners(ctx context.Context, ps ...*hub.Partner) error {
	if len(ps) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]partnerDoc, len(ps))
	for i, p := range ps {
		if p == nil {
			return hub.Errorf(hub.EINVALID, "partner %d of the batch is missing", i)
		}
		if err := storecheck.ID("partner", p.ID); err != nil {
			return err
		}
		docs[i] = partnerToDoc(p)
	}
	return s.tx(ctx, "upsert partners", func(ctx context.Context) error {
		for _, d := range docs {
			if err := replace(ctx, s.c.partners, d.ID, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Partner returns a partner or an ENOTFOUND error.
func (s *Store) Partner(ctx context.Context, id string) (*hub.Partner, error) {
	d, err := get[partnerDoc](ctx, s, s.c.partners, "partner", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Partners lists every partner in ID order.
func (s *Store) Partners(ctx context.Context) ([]*hub.Partner, error) {
	return list(ctx, s, s.c.partners, "partners", bson.D{}, 0, (*partnerDoc).domain)
}
