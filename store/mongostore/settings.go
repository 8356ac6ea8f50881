package mongostore

import (
	"context"
	"errors"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/storecheck"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// metaDoc is a setting: meta {_id: name, value}.
type metaDoc struct {
	ID    string `bson:"_id"`
	Value string `bson:"value"`
}

// Meta returns the value of setting key, or an ENOTFOUND error.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	if err := storecheck.MetaKey(key); err != nil {
		return "", err
	}
	if err := s.checkOpen(ctx); err != nil {
		return "", err
	}
	var d metaDoc
	err := s.c.meta.FindOne(ctx, byID(key)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", hub.Errorf(hub.ENOTFOUND, "setting %s not found", key)
	} else if err != nil {
		return "", s.fail("read setting", err)
	}
	return d.Value, nil
}

// SwapMeta sets key to value if it holds old ("" for none) and returns
// what it holds after the call: one guarded update, an upsert with
// $setOnInsert when old is empty, {_id: key, value: old} with $set
// otherwise.
func (s *Store) SwapMeta(ctx context.Context, key, old, value string) (string, error) {
	if err := storecheck.SwapMeta(key, old, value); err != nil {
		return "", err
	}
	var now string
	err := s.again(ctx, "write setting", func() error {
		var d metaDoc
		if old == "" {
			err := s.c.meta.FindOneAndUpdate(ctx, byID(key),
				bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "value", Value: value}}}},
				after().SetUpsert(true)).Decode(&d)
			now = d.Value
			return err
		}
		err := s.c.meta.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: key}, {Key: "value", Value: old}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: value}}}},
			after()).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			// Not old: say what it holds instead.
			err = s.c.meta.FindOne(ctx, byID(key)).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return hub.Errorf(hub.ENOTFOUND, "setting %s not found", key)
			}
		}
		now = d.Value
		return err
	})
	if err != nil {
		return "", err
	}
	return now, nil
}
