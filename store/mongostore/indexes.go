package mongostore

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// indexSpec is the indexes of one collection.
type indexSpec struct {
	coll   string
	models []mongo.IndexModel
}

// keys makes an index key document from field names, each ascending
// unless it starts with '-'.
func keys(fields ...string) bson.D {
	d := make(bson.D, 0, len(fields))
	for _, f := range fields {
		dir := 1
		if f[0] == '-' {
			f, dir = f[1:], -1
		}
		d = append(d, bson.E{Key: f, Value: dir})
	}
	return d
}

// index is an index named name on fields.
func index(name string, fields ...string) mongo.IndexModel {
	return mongo.IndexModel{Keys: keys(fields...), Options: options.Index().SetName(name)}
}

// unique is a unique index; with partial, only the documents it selects
// are indexed (and so kept unique).
func unique(name string, partial bson.D, fields ...string) mongo.IndexModel {
	o := options.Index().SetName(name).SetUnique(true)
	if partial != nil {
		o.SetPartialFilterExpression(partial)
	}
	return mongo.IndexModel{Keys: keys(fields...), Options: o}
}

// partial is an index of the documents partial selects.
func partial(name string, partial bson.D, fields ...string) mongo.IndexModel {
	return mongo.IndexModel{Keys: keys(fields...), Options: options.Index().SetName(name).SetPartialFilterExpression(partial)}
}

// has selects the documents that have a field.
func has(field string) bson.D {
	return bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
}

// indexSpecs returns every index of the store, per collection; the
// package doc lists them with the queries they serve.
func indexSpecs() []indexSpec {
	return []indexSpec{
		{collCommittees, []mongo.IndexModel{
			unique("code_unique", has("code"), "code"),
			index("districtId_id", "districtId", "_id"),
		}},
		{collResidents, []mongo.IndexModel{
			unique("idHash_unique", nil, "idHash"),
			index("committeeId_id", "committeeId", "_id"),
		}},
		{collLedger, []mongo.IndexModel{
			unique("pharmacyId_seq_unique", nil, "pharmacyId", "seq"),
		}},
		{collAudit, []mongo.IndexModel{
			index("targetId_id", "targetId", "_id"),
			partial("actorId_id", has("actorId"), "actorId", "_id"),
		}},
		{collRounds, []mongo.IndexModel{
			index("status_id", "status", "_id"),
		}},
		{collReservations, []mongo.IndexModel{
			unique("roundId_idHash_unique", nil, "roundId", "idHash"),
			unique("roundId_idemKey_unique", has("idemKey"), "roundId", "idemKey"),
			index("roundId_id", "roundId", "_id"),
			index("roundId_status_id", "roundId", "status", "_id"),
		}},
		{collAllocations, []mongo.IndexModel{
			unique("codeHash_unique", has("codeHash"), "codeHash"),
			partial("partnerId_id", has("partnerId"), "partnerId", "_id"),
			partial("partnerId_status_id", has("partnerId"), "partnerId", "status", "_id"),
			index("pharmacyId_id", "pharmacyId", "_id"),
			partial("roundId_id", has("roundId"), "roundId", "_id"),
			index("status_id", "status", "_id"),
			partial("status_expiresAt_id", has("expiresAt"), "status", "expiresAt", "_id"),
		}},
		{collShortages, []mongo.IndexModel{
			unique("residentId_sku_waiting_unique", bson.D{{Key: "status", Value: "WAITING"}}, "residentId", "sku"),
			index("sku_status_id", "sku", "status", "_id"),
			index("status_id", "status", "_id"),
		}},
		{collSubjects, []mongo.IndexModel{
			unique("subject_unique", nil, "subject"),
		}},
		{collDecls, []mongo.IndexModel{
			index("residentId_at_id", "residentId", "-at", "-_id"),
		}},
		{collDeclCounts, []mongo.IndexModel{
			index("d", "d"),
		}},
		{collRiskAreas, []mongo.IndexModel{
			partial("cells_active", bson.D{{Key: "active", Value: true}}, "cells.cell"),
		}},
		{collHealthCodes, []mongo.IndexModel{
			index("cell_id", "cell", "_id"),
		}},
		{collColourCounts, []mongo.IndexModel{
			index("d", "d"),
		}},
		{collScans, []mongo.IndexModel{
			partial("r_at_id", has("r"), "r", "at", "_id"),
			index("c_at_id", "c", "at", "_id"),
			index("k_at", "k", "at"),
		}},
	}
}
