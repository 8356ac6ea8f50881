package mongostore

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The driver's collections and transactions on MongoDB. Everything else of
// the driver (kv.go) runs in tests on an in-memory collection too; what is
// here runs only against a server.

// mongoTxn runs fn in a multi-document transaction: snapshot reads, a
// majority-acknowledged, journaled commit. The MongoDB driver runs fn
// again on a transient error (a write conflict on the writer document
// among them).
func mongoTxn(client *mongo.Client, opts *options.TransactionOptionsBuilder) func(ctx context.Context, write bool, fn func(ctx context.Context) error) error {
	return func(ctx context.Context, _ bool, fn func(ctx context.Context) error) error {
		sess, err := client.StartSession()
		if err != nil {
			return err
		}
		defer sess.EndSession(context.WithoutCancel(ctx))
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return nil, fn(ctx)
		}, opts)
		return err
	}
}

// mongoColl is a collection of the driver's layout: documents {_id, v} and,
// for sequences and the writer, {_id, n}.
type mongoColl struct{ c *mongo.Collection }

type kvDoc struct {
	ID string `bson:"_id"`
	V  []byte `bson:"v"`
}

func byID(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

func (m mongoColl) find(ctx context.Context, id string) ([]byte, bool, error) {
	var doc kvDoc
	err := m.c.FindOne(ctx, byID(id)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return doc.V, true, nil
}

func (m mongoColl) replace(ctx context.Context, id string, v []byte) error {
	_, err := m.c.ReplaceOne(ctx, byID(id), kvDoc{ID: id, V: v}, options.Replace().SetUpsert(true))
	return err
}

func (m mongoColl) remove(ctx context.Context, id string) error {
	_, err := m.c.DeleteOne(ctx, byID(id))
	return err
}

func (m mongoColl) incr(ctx context.Context, id string) (int64, error) {
	var doc struct {
		N int64 `bson:"n"`
	}
	err := m.c.FindOneAndUpdate(ctx, byID(id),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	return doc.N, err
}

func (m mongoColl) scan(ctx context.Context, r idRange) (docIter, error) {
	lo, hi := "$gte", "$lt"
	if r.loOpen {
		lo = "$gt"
	}
	if r.hiClosed {
		hi = "$lte"
	}
	dir := 1
	if r.desc {
		dir = -1
	}
	cur, err := m.c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: lo, Value: r.lo}, {Key: hi, Value: r.hi}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: dir}}).SetBatchSize(scanBatch))
	if err != nil {
		return nil, err
	}
	return mongoIter{cur}, nil
}

type mongoIter struct{ cur *mongo.Cursor }

func (it mongoIter) next(ctx context.Context) (string, []byte, bool, error) {
	if !it.cur.Next(ctx) {
		return "", nil, false, it.cur.Err()
	}
	var doc kvDoc
	if err := it.cur.Decode(&doc); err != nil {
		return "", nil, false, err
	}
	return doc.ID, doc.V, true, nil
}

func (it mongoIter) close(ctx context.Context) { _ = it.cur.Close(ctx) }
