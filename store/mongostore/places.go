package mongostore

import (
	"context"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// replace writes a whole document under its ID, creating it when needed.
func replace(ctx context.Context, coll *mongo.Collection, id string, doc any) error {
	_, err := coll.ReplaceOne(ctx, byID(id), doc, options.Replace().SetUpsert(true))
	return err
}

// get reads the document under id, or returns an ENOTFOUND error naming
// it as kind.
func get[D any](ctx context.Context, s *Store, coll *mongo.Collection, kind, id string) (*D, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	d, err := findOne[D](ctx, coll, byID(id))
	if err != nil {
		return nil, s.fail("read "+kind, err)
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "%s %q not found", kind, id)
	}
	return d, nil
}

// list reads the documents filter selects, in ID order.
func list[D any, T any](ctx context.Context, s *Store, coll *mongo.Collection, kind string, filter bson.D, limit int, domain func(*D) T) ([]T, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	out, err := findAll(ctx, coll, filter, byIDOrder(limit), domain)
	if err != nil {
		return nil, s.fail("list "+kind, err)
	}
	return out, nil
}

// UpsertDistrict creates or replaces a district.
func (s *Store) UpsertDistrict(ctx context.Context, d *hub.District) error {
	if d == nil {
		return hub.Errorf(hub.EINVALID, "district is missing")
	}
	if err := storecheck.ID("district", d.ID); err != nil {
		return err
	}
	doc := districtToDoc(d)
	return s.again(ctx, "upsert district", func() error { return replace(ctx, s.c.districts, doc.ID, doc) })
}

// District returns a district or an ENOTFOUND error.
func (s *Store) District(ctx context.Context, id string) (*hub.District, error) {
	d, err := get[districtDoc](ctx, s, s.c.districts, "district", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Districts lists every district in ID order.
func (s *Store) Districts(ctx context.Context) ([]*hub.District, error) {
	return list(ctx, s, s.c.districts, "districts", bson.D{}, 0, (*districtDoc).domain)
}

// UpsertCommittees creates or replaces committees, in order, in one
// transaction. A code held by another committee (before the call or after
// an earlier committee of the call) is an ECONFLICT error and nothing is
// written. An empty code is allowed and not indexed.
func (s *Store) UpsertCommittees(ctx context.Context, cs ...*hub.Committee) error {
	if len(cs) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]committeeDoc, len(cs))
	for i, c := range cs {
		if c == nil {
			return hub.Errorf(hub.EINVALID, "committee %d of the batch is missing", i)
		}
		if err := storecheck.ID("committee", c.ID); err != nil {
			return err
		}
		if err := storecheck.Ref("district", c.DistrictID); err != nil {
			return err
		}
		if err := storecheck.Key("committee code", c.Code); err != nil {
			return err
		}
		docs[i] = committeeToDoc(c)
	}
	return s.tx(ctx, "upsert committees", func(ctx context.Context) error {
		for _, d := range docs {
			if d.Code != "" {
				holder, err := findOne[committeeDoc](ctx, s.c.committees,
					bson.D{{Key: "code", Value: d.Code}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: d.ID}}}},
					options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
				if err != nil {
					return err
				}
				if holder != nil {
					return hub.Errorf(hub.ECONFLICT, "committee code %q is already held by committee %q", d.Code, holder.ID)
				}
			}
			if err := replace(ctx, s.c.committees, d.ID, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Committee returns a committee or an ENOTFOUND error.
func (s *Store) Committee(ctx context.Context, id string) (*hub.Committee, error) {
	d, err := get[committeeDoc](ctx, s, s.c.committees, "committee", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// CommitteeByCode returns the committee holding a code or an ENOTFOUND
// error.
func (s *Store) CommitteeByCode(ctx context.Context, code string) (*hub.Committee, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	var d *committeeDoc
	if code != "" {
		var err error
		if d, err = findOne[committeeDoc](ctx, s.c.committees, bson.D{{Key: "code", Value: code}}); err != nil {
			return nil, s.fail("read committee", err)
		}
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "no committee has code %q", code)
	}
	return d.domain(), nil
}

// Committees lists committees in ID order, those of one district when
// districtID is not empty.
func (s *Store) Committees(ctx context.Context, districtID string) ([]*hub.Committee, error) {
	filter := bson.D{}
	if districtID != "" {
		filter = append(filter, bson.E{Key: "districtId", Value: districtID})
	}
	return list(ctx, s, s.c.committees, "committees", filter, 0, (*committeeDoc).domain)
}

// UpsertCheckpoints creates or replaces checkpoints in one transaction.
func (s *Store) UpsertCheckpoints(ctx context.Context, cs ...*hub.Checkpoint) error {
	if len(cs) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]checkpointDoc, len(cs))
	for i, c := range cs {
		if c == nil {
			return hub.Errorf(hub.EINVALID, "checkpoint %d of the batch is missing", i)
		}
		if err := storecheck.ID("checkpoint", c.ID); err != nil {
			return err
		}
		docs[i] = checkpointToDoc(c)
	}
	return s.tx(ctx, "upsert checkpoints", func(ctx context.Context) error {
		for _, d := range docs {
			if err := replace(ctx, s.c.checkpoints, d.ID, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Checkpoint returns a checkpoint or an ENOTFOUND error.
func (s *Store) Checkpoint(ctx context.Context, id string) (*hub.Checkpoint, error) {
	d, err := get[checkpointDoc](ctx, s, s.c.checkpoints, "checkpoint", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Checkpoints lists every checkpoint in ID order.
func (s *Store) Checkpoints(ctx context.Context) ([]*hub.Checkpoint, error) {
	return list(ctx, s, s.c.checkpoints, "checkpoints", bson.D{}, 0, (*checkpointDoc).domain)
}
