package mongostore

import (
	"context"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// CreateResidents adds new residents in one transaction. A resident whose
// ID or ID hash is already registered, or repeated in the batch, makes the
// whole call an ECONFLICT error naming it, and nothing is written.
func (s *Store) CreateResidents(ctx context.Context, rs ...*hub.Resident) error {
	if len(rs) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]any, len(rs))
	ids := make([]string, len(rs))
	hashes := make([]string, len(rs))
	seenID := make(map[string]bool, len(rs))
	seenHash := make(map[string]bool, len(rs))
	for i, r := range rs {
		if r == nil {
			return hub.Errorf(hub.EINVALID, "resident %d of the batch is missing", i)
		}
		if err := storecheck.ID("resident", r.ID); err != nil {
			return err
		}
		if r.IDHash == "" {
			return hub.Errorf(hub.EINVALID, "resident %q has no ID hash", r.ID)
		}
		if err := storecheck.Key("ID hash", r.IDHash); err != nil {
			return err
		}
		if err := storecheck.Ref("committee", r.CommitteeID); err != nil {
			return err
		}
		if err := storecheck.Ref("district", r.DistrictID); err != nil {
			return err
		}
		if seenID[r.ID] {
			return hub.Errorf(hub.ECONFLICT, "resident %q is repeated in the batch", r.ID)
		}
		if seenHash[r.IDHash] {
			return hub.Errorf(hub.ECONFLICT, "resident %q: the ID number is repeated in the batch", r.ID)
		}
		seenID[r.ID], seenHash[r.IDHash] = true, true
		docs[i], ids[i], hashes[i] = residentToDoc(r), r.ID, r.IDHash
	}
	byHash := make(map[string]string, len(rs))
	for i := range ids {
		byHash[hashes[i]] = ids[i]
	}

	return s.tx(ctx, "create residents", func(ctx context.Context) error {
		// Name the first resident that clashes, in batch order.
		clash, err := findAll(ctx, s.c.residents,
			bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
				bson.D{{Key: "idHash", Value: bson.D{{Key: "$in", Value: hashes}}}},
			}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "idHash", Value: 1}}),
			func(d *residentDoc) residentDoc { return *d })
		if err != nil {
			return err
		}
		if len(clash) > 0 {
			taken := make(map[string]string) // "id:" or "hash:" -> the resident holding it
			for _, d := range clash {
				taken["id:"+d.ID], taken["hash:"+d.IDHash] = d.ID, d.ID
			}
			for i, id := range ids {
				if _, ok := taken["id:"+id]; ok {
					return hub.Errorf(hub.ECONFLICT, "resident %q already exists", id)
				}
				if first, ok := taken["hash:"+hashes[i]]; ok {
					return hub.Errorf(hub.ECONFLICT, "the ID number is already registered, as resident %q", first)
				}
			}
		}
		_, err = s.c.residents.InsertMany(ctx, docs)
		return err
	})
}

// Resident returns a resident or an ENOTFOUND error.
func (s *Store) Resident(ctx context.Context, id string) (*hub.Resident, error) {
	d, err := get[residentDoc](ctx, s, s.c.residents, "resident", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// ResidentByIDHash returns the resident registered with an ID hash or an
// ENOTFOUND error.
func (s *Store) ResidentByIDHash(ctx context.Context, idHash string) (*hub.Resident, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	var d *residentDoc
	if idHash != "" {
		var err error
		if d, err = findOne[residentDoc](ctx, s.c.residents, bson.D{{Key: "idHash", Value: idHash}}); err != nil {
			return nil, s.fail("read resident", err)
		}
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "no resident has that ID number")
	}
	return d.domain(), nil
}

// Residents pages through residents in ID order: those with ID greater
// than f.After, at most f.Limit of them (all when f.Limit <= 0), of one
// committee when f.CommitteeID is not empty. A committee's page walks the
// index {committeeId, _id}.
func (s *Store) Residents(ctx context.Context, f hub.ResidentFilter) ([]*hub.Resident, error) {
	return list(ctx, s, s.c.residents, "residents", residentsFilter(f), f.Limit, (*residentDoc).domain)
}

// CountResidents counts the residents of a committee (an index count over
// {committeeId, _id}), or all residents when committeeID is empty.
func (s *Store) CountResidents(ctx context.Context, committeeID string) (int, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	// All residents: a range over the whole _id index, which the server
	// counts from the index alone (an empty filter would read every
	// document).
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: bson.MinKey{}}}}}
	if committeeID != "" {
		filter = bson.D{{Key: "committeeId", Value: committeeID}}
	}
	n, err := s.c.residents.CountDocuments(ctx, filter)
	if err != nil {
		return 0, s.fail("count residents", err)
	}
	return int(n), nil
}
