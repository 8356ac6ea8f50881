package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The builders below make the filters and updates of the store's queries.
// They are pure, so their tests run without a server.

// byID is the filter of one document.
func byID(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }

// page adds to filter the ID cursor of a page: IDs greater than after.
func page(filter bson.D, after string) bson.D {
	if after != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	return filter
}

// byIDOrder returns find options sorting by _id, limited to limit when
// it is positive.
func byIDOrder(limit int) *options.FindOptionsBuilder {
	o := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	return o
}

// residentsFilter selects a page of residents.
func residentsFilter(f hub.ResidentFilter) bson.D {
	filter := bson.D{}
	if f.CommitteeID != "" {
		filter = append(filter, bson.E{Key: "committeeId", Value: f.CommitteeID})
	}
	return page(filter, f.After)
}

// stockField is the field of a SKU's stock in a pharmacy document.
func stockField(sku hub.SKU) string { return "stock." + string(sku) }

// stockFilter is the guard of a stock change: it matches the pharmacy
// only when the change leaves its stock of the SKU at zero or more (a
// take) or does not overflow it (a restock). An update under it can
// never oversell, however many writers race: a take of n matches only
// while n are on hand.
func stockFilter(pharmacyID string, sku hub.SKU, delta int) bson.D {
	f := stockField(sku)
	if delta < 0 {
		return bson.D{{Key: "_id", Value: pharmacyID}, {Key: f, Value: bson.D{{Key: "$gte", Value: -int64(delta)}}}}
	}
	return bson.D{{Key: "_id", Value: pharmacyID}, {Key: f, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: math.MaxInt64 - int64(delta)}}}}}}
}

// stockUpdate applies a stock change and takes the pharmacy's next ledger
// Seq, in one atomic update.
func stockUpdate(sku hub.SKU, delta int) bson.D {
	return bson.D{{Key: "$inc", Value: bson.D{{Key: stockField(sku), Value: int64(delta)}, {Key: "ledgerSeq", Value: int64(1)}}}}
}

// reservationsFilter selects a page of a round's reservations.
func reservationsFilter(f hub.ReservationFilter) bson.D {
	filter := bson.D{{Key: "roundId", Value: f.RoundID}}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(f.Status)})
	}
	return page(filter, f.After)
}

// allocationsFilter selects a page of allocations.
func allocationsFilter(f hub.AllocationFilter) bson.D {
	filter := bson.D{}
	for _, x := range []struct{ key, v string }{
		{"partnerId", f.PartnerID}, {"pharmacyId", f.PharmacyID}, {"roundId", f.RoundID}, {"status", string(f.Status)},
	} {
		if x.v != "" {
			filter = append(filter, bson.E{Key: x.key, Value: x.v})
		}
	}
	return page(filter, f.After)
}

// shortagesFilter selects a page of shortage registrations.
func shortagesFilter(f hub.ShortageFilter) bson.D {
	filter := bson.D{}
	if f.SKU != "" {
		filter = append(filter, bson.E{Key: "sku", Value: string(f.SKU)})
	}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(f.Status)})
	}
	return page(filter, f.After)
}

// auditFilter returns the filter of an audit page and its size; ok is
// false when the page is empty whatever is stored (After beyond any Seq
// the store gives).
func auditFilter(f hub.AuditFilter) (filter bson.D, limit int, ok bool) {
	limit = f.Limit
	if limit <= 0 {
		limit = hub.DefaultAuditLimit
	}
	limit = min(limit, hub.MaxAuditLimit)
	if f.After >= math.MaxInt64 {
		return nil, limit, false
	}
	filter = bson.D{}
	if f.TargetID != "" {
		filter = append(filter, bson.E{Key: "targetId", Value: f.TargetID})
	}
	if f.ActorID != "" {
		filter = append(filter, bson.E{Key: "actorId", Value: f.ActorID})
	}
	if f.After > 0 {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: int64(f.After)}}})
	}
	return filter, limit, true
}

// queryTime returns a query bound as the store compares it: at
// millisecond precision, like the times it keeps, so a record is found by
// the very time it was written with.
func queryTime(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// expiringFilter selects the RESERVED allocations that expire before t.
// An allocation that never expires has no expiresAt, which no bound
// matches.
func expiringFilter(t time.Time) bson.D {
	return bson.D{
		{Key: "status", Value: string(hub.AllocationReserved)},
		{Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: queryTime(t)}}},
	}
}

// trajectoryFilter selects a resident's scans at or after since.
func trajectoryFilter(residentID string, since time.Time) bson.D {
	return bson.D{{Key: "r", Value: residentID}, {Key: "at", Value: bson.D{{Key: "$gte", Value: queryTime(since)}}}}
}

// contactsFilter selects the scans in cells between from and to, both
// included.
func contactsFilter(cells []hub.Cell, from, to time.Time) bson.D {
	return bson.D{
		{Key: "c", Value: bson.D{{Key: "$in", Value: cellInts(cells)}}},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: queryTime(from)}, {Key: "$lte", Value: queryTime(to)}}},
	}
}

// byTimeOrder sorts by at, then _id.
func byTimeOrder(limit int) *options.FindOptionsBuilder {
	o := options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}})
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	return o
}

// contactUpdate is the update of a traced contact's case document: its
// contactAt becomes at, and contactOf caseID, when at is later than the
// contactAt stored (or there is none). It is a pipeline, so that one
// update compares and sets; $literal keeps a case ID that starts with '$'
// from being read as a field path.
func contactUpdate(caseID string, at time.Time) bson.A {
	at = msTime(at)
	later := bson.D{{Key: "$lt", Value: bson.A{bson.D{{Key: "$ifNull", Value: bson.A{"$contactAt", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}}}, at}}}
	return bson.A{bson.D{{Key: "$set", Value: bson.D{
		{Key: "contactOf", Value: bson.D{{Key: "$cond", Value: bson.A{later, bson.D{{Key: "$literal", Value: caseID}}, "$contactOf"}}}},
		{Key: "contactAt", Value: bson.D{{Key: "$cond", Value: bson.A{later, at, "$contactAt"}}}},
	}}}}
}

// groupID is the _id of an aggregate group: district, cell, colour rank
// and filer kind (empty for the colour aggregate). IDs hold no NUL bytes,
// so no two groups share one.
func groupID(districtID string, cell hub.Cell, colour hub.Colour, kind hub.FiledByKind) string {
	return fmt.Sprintf("%s\x00%016x\x00%d\x00%s", districtID, uint64(cell), colour.Rank(), kind)
}

// countUpdate adds n to an aggregate group, creating it as needed.
func countUpdate(districtID string, cell hub.Cell, colour hub.Colour, kind hub.FiledByKind, n int64) bson.D {
	set := bson.D{{Key: "d", Value: districtID}, {Key: "c", Value: cellInt(cell)}, {Key: "r", Value: int64(colour.Rank())}}
	if kind != "" {
		set = append(set, bson.E{Key: "k", Value: string(kind)})
	}
	return bson.D{
		{Key: "$inc", Value: bson.D{{Key: "n", Value: n}}},
		{Key: "$setOnInsert", Value: set},
	}
}

// countsFilter selects the non-empty groups of an aggregate, of one
// district when districtID is not empty.
func countsFilter(districtID string) bson.D {
	filter := bson.D{}
	if districtID != "" {
		filter = append(filter, bson.E{Key: "d", Value: districtID})
	}
	return append(filter, bson.E{Key: "n", Value: bson.D{{Key: "$gt", Value: int64(0)}}})
}

// findAll decodes every document a query returns.
func findAll[D any, T any](ctx context.Context, coll *mongo.Collection, filter any, opts *options.FindOptionsBuilder, domain func(*D) T) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []T
	for cur.Next(ctx) {
		var d D
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("decode a document of %s: %w", coll.Name(), err)
		}
		out = append(out, domain(&d))
	}
	return out, cur.Err()
}

// findOne decodes the document a query selects; it returns nil, and no
// error, when there is none.
func findOne[D any](ctx context.Context, coll *mongo.Collection, filter any, opts ...options.Lister[options.FindOneOptions]) (*D, error) {
	var d D
	err := coll.FindOne(ctx, filter, opts...).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &d, nil
}

// exists reports whether a query selects a document.
func exists(ctx context.Context, coll *mongo.Collection, filter any) (bool, error) {
	err := coll.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// after is the FindOneAndUpdate option that returns the updated document.
func after() *options.FindOneAndUpdateOptionsBuilder {
	return options.FindOneAndUpdate().SetReturnDocument(options.After)
}
