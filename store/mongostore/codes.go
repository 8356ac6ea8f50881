package mongostore

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// --- Subjects ---

// SubjectOf returns the resident's subject, making a random one on first
// use. Two hubs making one at once meet on the subjects _id: the loser
// runs again and returns the winner's.
func (s *Store) SubjectOf(ctx context.Context, residentID string) (string, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return "", err
	}
	var sub string
	err := s.again(ctx, "make subject", func() error {
		d, err := findOne[subjectDoc](ctx, s.c.subjects, byID(residentID))
		if err != nil {
			return err
		}
		if d != nil {
			sub = d.Subject
			return nil
		}
		if ok, err := exists(ctx, s.c.residents, byID(residentID)); err != nil {
			return err
		} else if !ok {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", residentID)
		}
		// 128 random bits in base32: opaque, and no guess finds anyone.
		made := rand.Text()
		if _, err := s.c.subjects.InsertOne(ctx, subjectDoc{ResidentID: residentID, Subject: made}); err != nil {
			return err
		}
		sub = made
		return nil
	})
	if err != nil {
		return "", err
	}
	return sub, nil
}

// ResidentOfSubject returns the resident whose subject it is.
func (s *Store) ResidentOfSubject(ctx context.Context, subjectID string) (string, error) {
	if err := s.checkOpen(ctx); err != nil {
		return "", err
	}
	var d *subjectDoc
	if subjectID != "" && len(subjectID) <= storecheck.MaxKeyLen {
		var err error
		if d, err = findOne[subjectDoc](ctx, s.c.subjects, bson.D{{Key: "subject", Value: subjectID}}); err != nil {
			return "", s.fail("read subject", err)
		}
	}
	if d == nil {
		return "", hub.Errorf(hub.ENOTFOUND, "no resident has that subject")
	}
	return d.ResidentID, nil
}

// --- Declarations ---

// PutDeclaration records a declaration and, when it is the resident's
// latest (greatest At at millisecond precision, then ID), moves the
// resident's count in the aggregate to it, in one transaction. The
// resident's latestDeclarations document is written by every such move,
// so two hubs filing for one resident at once conflict and one runs
// again.
func (s *Store) PutDeclaration(ctx context.Context, d *hub.Declaration) error {
	if err := storecheck.Declaration(d); err != nil {
		return err
	}
	doc := declarationToDoc(d)
	latest := latestDoc{
		ResidentID: doc.ResidentID, DeclarationID: doc.ID, At: doc.At,
		Group: groupID(doc.DistrictID, d.Cell, d.Colour, d.FiledByKind),
	}
	return s.tx(ctx, "put declaration", func(ctx context.Context) error {
		if ok, err := exists(ctx, s.c.residents, byID(doc.ResidentID)); err != nil {
			return err
		} else if !ok {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", doc.ResidentID)
		}
		if ok, err := exists(ctx, s.c.declarations, byID(doc.ID)); err != nil {
			return err
		} else if ok {
			return hub.Errorf(hub.ECONFLICT, "declaration %q already exists", doc.ID)
		}
		old, err := findOne[latestDoc](ctx, s.c.latestDecls, byID(doc.ResidentID))
		if err != nil {
			return err
		}
		if _, err := s.c.declarations.InsertOne(ctx, doc); err != nil {
			return err
		}
		if old != nil && olderDeclaration(latest, *old) {
			return nil // kept, counted nowhere
		}
		if old != nil {
			if _, err := s.c.declCounts.UpdateOne(ctx, byID(old.Group), bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(-1)}}}}); err != nil {
				return err
			}
		}
		if err := replace(ctx, s.c.latestDecls, latest.ResidentID, latest); err != nil {
			return err
		}
		_, err = s.c.declCounts.UpdateOne(ctx, byID(latest.Group),
			countUpdate(doc.DistrictID, d.Cell, d.Colour, d.FiledByKind, 1), options.UpdateOne().SetUpsert(true))
		return err
	})
}

// olderDeclaration reports whether declaration a comes before b: an
// earlier At, or the same At and a smaller ID.
func olderDeclaration(a, b latestDoc) bool {
	if c := a.At.Compare(b.At); c != 0 {
		return c < 0
	}
	return a.DeclarationID < b.DeclarationID
}

// LatestDeclaration returns the resident's latest declaration, through
// {residentId, at, _id}.
func (s *Store) LatestDeclaration(ctx context.Context, residentID string) (*hub.Declaration, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	d, err := findOne[declarationDoc](ctx, s.c.declarations, bson.D{{Key: "residentId", Value: residentID}},
		options.FindOne().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, s.fail("read declaration", err)
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "resident %q has no health declaration", residentID)
	}
	return d.domain(), nil
}

// DeclarationCounts reads the declaration aggregate.
func (s *Store) DeclarationCounts(ctx context.Context, districtID string) ([]hub.DeclarationCount, error) {
	groups, err := s.counts(ctx, s.c.declCounts, districtID)
	if err != nil {
		return nil, err
	}
	var out []hub.DeclarationCount
	for _, g := range groups {
		out = append(out, hub.DeclarationCount{
			DistrictID: g.D, Cell: cellOf(g.C), Colour: colourOfRank(g.R), FiledByKind: hub.FiledByKind(g.K), Count: int(g.N),
		})
	}
	return out, nil
}

// counts reads the non-empty groups of an aggregate, of one district when
// districtID is not empty, ordered by district, cell, colour rank and
// filer kind.
func (s *Store) counts(ctx context.Context, coll *mongo.Collection, districtID string) ([]countDoc, error) {
	if err := storecheck.Ref("district", districtID); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	out, err := findAll(ctx, coll, countsFilter(districtID), options.Find(), func(d *countDoc) countDoc { return *d })
	if err != nil {
		return nil, s.fail("read "+coll.Name(), err)
	}
	for _, g := range out {
		if g.R < 1 || g.R > 3 {
			return nil, fmt.Errorf("mongostore: %s group %q has colour rank %d", coll.Name(), g.ID, g.R)
		}
	}
	slices.SortFunc(out, compareGroups)
	return out, nil
}

// compareGroups orders aggregate groups by district, cell, colour rank
// and filer kind.
func compareGroups(a, b countDoc) int {
	return cmp.Or(
		strings.Compare(a.D, b.D),
		cmp.Compare(uint64(a.C), uint64(b.C)),
		cmp.Compare(a.R, b.R),
		strings.Compare(a.K, b.K),
	)
}

// colourOfRank is Colour.Rank's inverse for ranks 1 to 3.
func colourOfRank(r int64) hub.Colour { return hub.Colours()[r-1] }

// --- Risk areas ---

// UpsertRiskArea creates or replaces a risk area. An area in force
// (active) has its cells in the partial index {cells.cell}.
func (s *Store) UpsertRiskArea(ctx context.Context, a *hub.RiskArea) error {
	if err := storecheck.RiskArea(a); err != nil {
		return err
	}
	doc := riskAreaToDoc(a)
	return s.again(ctx, "upsert risk area", func() error { return replace(ctx, s.c.riskAreas, doc.ID, doc) })
}

// LiftRiskArea lifts an area in force, with one guarded update.
func (s *Store) LiftRiskArea(ctx context.Context, id string, at time.Time) (*hub.RiskArea, error) {
	if err := storecheck.ID("risk area", id); err != nil {
		return nil, err
	}
	if err := storecheck.Time("lifting of risk area "+id, at); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	var d riskAreaDoc
	err := s.c.riskAreas.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "active", Value: true}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "liftedAt", Value: msTime(at)}, {Key: "active", Value: false}}}},
		after()).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		ok, err := exists(ctx, s.c.riskAreas, byID(id))
		if err != nil {
			return nil, s.fail("read risk area", err)
		}
		if !ok {
			return nil, hub.Errorf(hub.ENOTFOUND, "risk area %q not found", id)
		}
		return nil, hub.Errorf(hub.ECONFLICT, "risk area %q was already lifted", id)
	} else if err != nil {
		return nil, s.fail("lift risk area", err)
	}
	return d.domain(), nil
}

// RiskArea returns a risk area or an ENOTFOUND error.
func (s *Store) RiskArea(ctx context.Context, id string) (*hub.RiskArea, error) {
	d, err := get[riskAreaDoc](ctx, s, s.c.riskAreas, "risk area", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// RiskAreas lists risk areas in ID order, only those in force when
// activeOnly is set.
func (s *Store) RiskAreas(ctx context.Context, activeOnly bool) ([]*hub.RiskArea, error) {
	filter := bson.D{}
	if activeOnly {
		filter = append(filter, bson.E{Key: "active", Value: true})
	}
	return list(ctx, s, s.c.riskAreas, "risk areas", filter, 0, (*riskAreaDoc).domain)
}

// RiskLevels returns the highest level areas in force give each of cells,
// through the partial index {cells.cell} of areas in force.
func (s *Store) RiskLevels(ctx context.Context, cells []hub.Cell) (map[hub.Cell]hub.RiskLevel, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	out := make(map[hub.Cell]hub.RiskLevel)
	if len(cells) == 0 {
		return out, nil
	}
	want := make(map[int64]bool, len(cells))
	for _, c := range cells {
		want[cellInt(c)] = true
	}
	areas, err := findAll(ctx, s.c.riskAreas,
		bson.D{{Key: "active", Value: true}, {Key: "cells.cell", Value: bson.D{{Key: "$in", Value: cellInts(cells)}}}},
		options.Find().SetProjection(bson.D{{Key: "cells", Value: 1}}),
		func(d *riskAreaDoc) riskAreaDoc { return *d })
	if err != nil {
		return nil, s.fail("read risk levels", err)
	}
	for _, a := range areas {
		for _, c := range a.Cells {
			if !want[c.Cell] {
				continue
			}
			cell, l := cellOf(c.Cell), hub.RiskLevel(c.Level)
			if l.Rank() > out[cell].Rank() {
				out[cell] = l
			}
		}
	}
	return out, nil
}

// --- Health codes ---

// PutHealthCode stores a health code if its Version is the stored one,
// and moves the resident's count in the colour aggregate, in one
// transaction.
func (s *Store) PutHealthCode(ctx context.Context, c *hub.HealthCode) (*hub.HealthCode, error) {
	if err := storecheck.HealthCode(c); err != nil {
		return nil, err
	}
	doc := healthCodeToDoc(c)
	doc.Version++
	group := groupID(doc.DistrictID, c.Cell, c.Colour, "")
	err := s.tx(ctx, "put health code", func(ctx context.Context) error {
		old, err := findOne[healthCodeDoc](ctx, s.c.healthCodes, byID(doc.ResidentID))
		if err != nil {
			return err
		}
		var version uint64
		if old != nil {
			version = uint64(old.Version)
		}
		if version != c.Version {
			return hub.Errorf(hub.ECONFLICT, "health code of %q is at version %d, not %d", c.ResidentID, version, c.Version)
		}
		if old == nil {
			if _, err := s.c.healthCodes.InsertOne(ctx, doc); err != nil {
				return err
			}
		} else {
			res, err := s.c.healthCodes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.ResidentID}, {Key: "version", Value: old.Version}}, doc)
			if err != nil {
				return err
			}
			if res.MatchedCount != 1 {
				return fmt.Errorf("health code of %q changed under its transaction", c.ResidentID)
			}
			oldGroup := groupID(old.DistrictID, cellOf(old.Cell), hub.Colour(old.Colour), "")
			if _, err := s.c.colourCounts.UpdateOne(ctx, byID(oldGroup), bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(-1)}}}}); err != nil {
				return err
			}
		}
		_, err = s.c.colourCounts.UpdateOne(ctx, byID(group),
			countUpdate(doc.DistrictID, c.Cell, c.Colour, "", 1), options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return nil, err
	}
	return doc.domain(), nil
}

// HealthCode returns a resident's health code or an ENOTFOUND error.
func (s *Store) HealthCode(ctx context.Context, residentID string) (*hub.HealthCode, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	d, err := findOne[healthCodeDoc](ctx, s.c.healthCodes, byID(residentID))
	if err != nil {
		return nil, s.fail("read health code", err)
	}
	if d == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "resident %q has no health code", residentID)
	}
	return d.domain(), nil
}

// HealthCodesIn lists the health codes of residents living in cells,
// ordered by cell then resident ID, through {cell, _id}.
func (s *Store) HealthCodesIn(ctx context.Context, cells []hub.Cell) ([]*hub.HealthCode, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	if len(cells) == 0 {
		return nil, nil
	}
	cs := slices.Clone(cells)
	slices.Sort(cs)
	cs = slices.Compact(cs)
	out, err := findAll(ctx, s.c.healthCodes, bson.D{{Key: "cell", Value: bson.D{{Key: "$in", Value: cellInts(cs)}}}},
		options.Find().SetSort(bson.D{{Key: "cell", Value: 1}, {Key: "_id", Value: 1}}), (*healthCodeDoc).domain)
	if err != nil {
		return nil, s.fail("read health codes", err)
	}
	slices.SortStableFunc(out, func(a, b *hub.HealthCode) int {
		return cmp.Or(cmp.Compare(a.Cell, b.Cell), strings.Compare(a.ResidentID, b.ResidentID))
	})
	return out, nil
}

// ColourCounts reads the colour aggregate.
func (s *Store) ColourCounts(ctx context.Context, districtID string) ([]hub.ColourCount, error) {
	groups, err := s.counts(ctx, s.c.colourCounts, districtID)
	if err != nil {
		return nil, err
	}
	var out []hub.ColourCount
	for _, g := range groups {
		out = append(out, hub.ColourCount{DistrictID: g.D, Cell: cellOf(g.C), Colour: colourOfRank(g.R), Count: int(g.N)})
	}
	return out, nil
}

// --- Cases ---

// MarkCase marks a resident a confirmed case, keeping an earlier mark
// ($min).
func (s *Store) MarkCase(ctx context.Context, residentID string, at time.Time) error {
	if err := storecheck.ID("resident", residentID); err != nil {
		return err
	}
	if err := storecheck.Time("case "+residentID, at); err != nil {
		return err
	}
	return s.again(ctx, "mark case", func() error {
		if ok, err := exists(ctx, s.c.residents, byID(residentID)); err != nil {
			return err
		} else if !ok {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", residentID)
		}
		_, err := s.c.cases.UpdateOne(ctx, byID(residentID),
			bson.D{{Key: "$min", Value: bson.D{{Key: "caseAt", Value: msTime(at)}}}},
			options.UpdateOne().SetUpsert(true))
		return err
	})
}

// MarkContacts marks residents as traced contacts of a case, in one
// transaction; each contact keeps its latest mark (contactUpdate).
func (s *Store) MarkContacts(ctx context.Context, caseID string, cs ...hub.Contact) error {
	if err := storecheck.ID("case", caseID); err != nil {
		return err
	}
	type contactMark struct {
		id string
		at time.Time
	}
	var marks []contactMark
	for i, c := range cs {
		if c.ResidentID == "" {
			continue
		}
		if err := storecheck.ID("contact", c.ResidentID); err != nil {
			return err
		}
		if err := storecheck.Time(fmt.Sprintf("contact %d of the batch", i), c.LastAt); err != nil {
			return err
		}
		marks = append(marks, contactMark{c.ResidentID, c.LastAt})
	}
	if len(marks) == 0 {
		return s.checkOpen(ctx)
	}
	return s.tx(ctx, "mark contacts", func(ctx context.Context) error {
		for _, m := range marks {
			if _, err := s.c.cases.UpdateOne(ctx, byID(m.id), contactUpdate(caseID, m.at), options.UpdateOne().SetUpsert(true)); err != nil {
				return err
			}
		}
		return nil
	})
}

// CaseStatus returns a resident's case and contact marks.
func (s *Store) CaseStatus(ctx context.Context, residentID string) (hub.CaseStatus, error) {
	if err := s.checkOpen(ctx); err != nil {
		return hub.CaseStatus{}, err
	}
	d, err := findOne[caseDoc](ctx, s.c.cases, byID(residentID))
	if err != nil {
		return hub.CaseStatus{}, s.fail("read case", err)
	}
	if d == nil {
		return hub.CaseStatus{}, nil
	}
	return d.domain(), nil
}

// --- Scans ---

// sameScan reports whether two scan documents say the same.
func sameScan(a, b *scanDoc) bool {
	return a.ID == b.ID && a.CheckpointID == b.CheckpointID && a.Cell == b.Cell &&
		a.ResidentID == b.ResidentID && a.SubjectID == b.SubjectID && a.At.Equal(b.At) &&
		a.Temperature == b.Temperature && a.Colour == b.Colour && a.Result == b.Result
}

// RecordScans records scans in one transaction. A scan whose ID is
// already stored with the same content (at millisecond precision) is
// skipped; with other content it is ECONFLICT.
func (s *Store) RecordScans(ctx context.Context, ss ...*hub.Scan) error {
	if len(ss) == 0 {
		return s.checkOpen(ctx)
	}
	if len(ss) > hub.MaxScanBatch {
		return hub.Errorf(hub.EINVALID, "%d scans in one batch, at most %d", len(ss), hub.MaxScanBatch)
	}
	var docs []*scanDoc
	seen := make(map[string]*scanDoc, len(ss))
	var ids, checkpoints []string
	for i, sc := range ss {
		if err := storecheck.Scan(i, sc); err != nil {
			return err
		}
		d := scanToDoc(sc)
		if prev, ok := seen[d.ID]; ok {
			if !sameScan(prev, &d) {
				return hub.Errorf(hub.ECONFLICT, "scan %q is repeated in the batch with other content", d.ID)
			}
			continue
		}
		seen[d.ID] = &d
		docs = append(docs, &d)
		ids = append(ids, d.ID)
		checkpoints = append(checkpoints, d.CheckpointID)
	}
	slices.Sort(checkpoints)
	checkpoints = slices.Compact(checkpoints)

	return s.tx(ctx, "record scans", func(ctx context.Context) error {
		found, err := findAll(ctx, s.c.checkpoints, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: checkpoints}}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}), func(d *checkpointDoc) string { return d.ID })
		if err != nil {
			return err
		}
		for _, id := range checkpoints {
			if !slices.Contains(found, id) {
				return hub.Errorf(hub.ENOTFOUND, "checkpoint %q not found", id)
			}
		}
		stored, err := findAll(ctx, s.c.scans, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
			options.Find(), func(d *scanDoc) *scanDoc { return d })
		if err != nil {
			return err
		}
		skip := make(map[string]bool, len(stored))
		for _, old := range stored {
			if !sameScan(old, seen[old.ID]) {
				return hub.Errorf(hub.ECONFLICT, "scan %q is already recorded with other content", old.ID)
			}
			skip[old.ID] = true
		}
		var insert []any
		for _, d := range docs {
			if !skip[d.ID] {
				insert = append(insert, d)
			}
		}
		if len(insert) == 0 {
			return nil
		}
		_, err = s.c.scans.InsertMany(ctx, insert)
		return err
	})
}

// Trajectory lists a resident's scans from since on, in time order,
// through {r, at, _id}.
func (s *Store) Trajectory(ctx context.Context, residentID string, since time.Time, limit int) ([]*hub.Scan, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	out, err := findAll(ctx, s.c.scans, trajectoryFilter(residentID, since), byTimeOrder(limit), (*scanDoc).domain)
	if err != nil {
		return nil, s.fail("read trajectory", err)
	}
	return out, nil
}

// ContactsIn lists the scans in cells within [from, to], in time order,
// through {c, at, _id}.
func (s *Store) ContactsIn(ctx context.Context, cells []hub.Cell, from, to time.Time) ([]*hub.Scan, error) {
	if len(cells) > hub.MaxContactCells {
		return nil, hub.Errorf(hub.EINVALID, "%d cells, at most %d", len(cells), hub.MaxContactCells)
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	if len(cells) == 0 || to.Before(from) {
		return nil, nil
	}
	cs := slices.Clone(cells)
	slices.Sort(cs)
	cs = slices.Compact(cs)
	out, err := findAll(ctx, s.c.scans, contactsFilter(cs, from, to), byTimeOrder(0), (*scanDoc).domain)
	if err != nil {
		return nil, s.fail("read scans", err)
	}
	return out, nil
}
