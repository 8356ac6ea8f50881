package portable

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// Health codes and checkpoints.
//
// Layout. subjects maps a resident ID to their subject and
// subjectResidents back. declarations holds declarations by ID;
// declarationsByResident files residentID 0x00 time(8) declarationID, so a
// resident's latest declaration is the last key under their prefix.
// declarationCounts and colourCounts are maintained aggregates: big-endian
// counters under districtID 0x00 cell(8) colourRank(1) [filerKind], so a
// district's groups are one key range, already in order. riskAreas holds
// areas by ID and riskCells files, for areas in force only, cell(8)
// areaID with the level as value. healthCodes holds codes by resident ID
// and healthCodesByCell files cell(8) residentID. cases holds case and
// contact marks by resident ID.
//
// Scans are clustered by person: the scans bucket's key is the person
// ('r' and the resident ID, or 's' and the subject ID for a visitor),
// 0x00, the time(8) and the scan ID, so a trajectory is one key range.
// scanIDs maps a scan ID to that key (for retries), and scansByCell files
// cell(8) time(8) scanID with that key as value, so the scans of a cell
// over a time window are one key range too.
//
// time(8) is the big-endian unix nanoseconds; cell(8) the big-endian
// index. IDs hold no NUL bytes, and the fixed-width parts need no
// separator.

// Bucket names of health codes and checkpoints.
const (
	bktSubjects         = "subjects"               // residentID -> subjectID
	bktSubjectResidents = "subjectResidents"       // subjectID -> residentID
	bktDeclarations     = "declarations"           // declarationID -> record
	bktDeclByResident   = "declarationsByResident" // residentID 0x00 time(8) declarationID
	bktDeclCounts       = "declarationCounts"      // districtID 0x00 cell(8) rank(1) kind -> count
	bktRiskAreas        = "riskAreas"              // areaID -> record
	bktRiskCells        = "riskCells"              // cell(8) areaID -> level, areas in force only
	bktHealthCodes      = "healthCodes"            // residentID -> record
	bktHealthByCell     = "healthCodesByCell"      // cell(8) residentID
	bktColourCounts     = "colourCounts"           // districtID 0x00 cell(8) rank(1) -> count
	bktCases            = "cases"                  // residentID -> marks
	bktScans            = "scans"                  // person 0x00 time(8) scanID -> record
	bktScanIDs          = "scanIDs"                // scanID -> scans key
	bktScansByCell      = "scansByCell"            // cell(8) time(8) scanID -> scans key
)

func codesBucketNames() []string {
	return []string{
		bktSubjects, bktSubjectResidents, bktDeclarations, bktDeclByResident, bktDeclCounts,
		bktRiskAreas, bktRiskCells, bktHealthCodes, bktHealthByCell, bktColourCounts,
		bktCases, bktScans, bktScanIDs, bktScansByCell,
	}
}

// appendTime appends the key form of t, clamped to the range the indexes
// hold, so a query bound outside it still sorts right.
func appendTime(k []byte, t time.Time) []byte {
	var n uint64
	switch {
	case t.Before(storecheck.MinKeyTime):
		n = 0
	case t.After(storecheck.MaxKeyTime):
		n = math.MaxUint64
	default:
		n = uint64(t.UnixNano())
	}
	return binary.BigEndian.AppendUint64(k, n)
}

func appendCell(k []byte, c hub.Cell) []byte { return binary.BigEndian.AppendUint64(k, uint64(c)) }

// groupKey is the key of an aggregate group: districtID 0x00 cell(8)
// rank(1), then kind when it is not empty.
func groupKey(districtID string, cell hub.Cell, colour hub.Colour, kind hub.FiledByKind) []byte {
	k := make([]byte, 0, len(districtID)+1+8+1+len(kind))
	k = append(k, districtID...)
	k = append(k, 0)
	k = appendCell(k, cell)
	k = append(k, byte(colour.Rank()))
	return append(k, kind...)
}

// parseGroupKey splits a groupKey.
func parseGroupKey(k []byte) (districtID string, cell hub.Cell, colour hub.Colour, kind hub.FiledByKind, err error) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+1+8+1 {
		return "", 0, "", "", fmt.Errorf("store: malformed aggregate key %q", k)
	}
	districtID = string(k[:i])
	cell = hub.Cell(binary.BigEndian.Uint64(k[i+1:]))
	rank := int(k[i+9])
	if rank < 1 || rank > 3 {
		return "", 0, "", "", fmt.Errorf("store: aggregate key %q has colour rank %d", k, rank)
	}
	colour = hub.Colours()[rank-1]
	kind = hub.FiledByKind(k[i+10:])
	return districtID, cell, colour, kind, nil
}

// subCount takes n from the counter under key, deleting it at zero.
func subCount(b driver.Bucket, key []byte, n uint64) error {
	c, err := readCount(b, key)
	if err != nil {
		return err
	}
	if c < n {
		return fmt.Errorf("store: counter %q would go below zero", key)
	}
	if c == n {
		return del(b, key)
	}
	return put(b, key, u64(c-n))
}

// lastUnder returns the last key with the prefix, or nil. The prefix must
// end in 0x00 (the separator).
func lastUnder(c driver.Cursor, prefix []byte) []byte {
	end := slices.Clone(prefix)
	end[len(end)-1] = 1
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return k
}

// --- Subjects ---

// SubjectOf returns the resident's subject, making a random one on first
// use.
func (s *Store) SubjectOf(ctx context.Context, residentID string) (string, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return "", err
	}
	var sub string
	err := s.view(ctx, func(tx driver.Tx) error {
		sub = string(bucket(tx, bktSubjects).Get([]byte(residentID)))
		return nil
	})
	if err != nil || sub != "" {
		return sub, err
	}
	err = s.write(ctx, func(tx driver.Tx) error {
		subs := bucket(tx, bktSubjects)
		if v := subs.Get([]byte(residentID)); v != nil {
			sub = string(v) // another call made it first
			return nil
		}
		if bucket(tx, bktResidents).Get([]byte(residentID)) == nil {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", residentID)
		}
		// 128 random bits in base32: opaque, and no guess finds anyone.
		made := rand.Text()
		back := bucket(tx, bktSubjectResidents)
		if back.Get([]byte(made)) != nil {
			return fmt.Errorf("store: subject %q made twice", made)
		}
		if err := put(subs, []byte(residentID), []byte(made)); err != nil {
			return err
		}
		if err := put(back, []byte(made), []byte(residentID)); err != nil {
			return err
		}
		sub = made // set again if the write runs again
		return nil
	})
	if err != nil {
		return "", err
	}
	return sub, nil
}

// ResidentOfSubject returns the resident whose subject it is.
func (s *Store) ResidentOfSubject(ctx context.Context, subjectID string) (string, error) {
	var id string
	err := s.view(ctx, func(tx driver.Tx) error {
		if subjectID != "" && len(subjectID) <= storecheck.MaxKeyLen {
			id = string(bucket(tx, bktSubjectResidents).Get([]byte(subjectID)))
		}
		if id == "" {
			return hub.Errorf(hub.ENOTFOUND, "no resident has that subject")
		}
		return nil
	})
	return id, err
}

// --- Declarations ---

// declKey is the key of a declaration in declarationsByResident.
func declKey(residentID string, at time.Time, id string) []byte {
	k := make([]byte, 0, len(residentID)+1+8+len(id))
	k = append(k, residentID...)
	k = append(k, 0)
	k = appendTime(k, at)
	return append(k, id...)
}

// PutDeclaration records a declaration and, when it is the resident's
// latest, moves the resident's count in the aggregate to it.
func (s *Store) PutDeclaration(ctx context.Context, d *hub.Declaration) error {
	if err := storecheck.Declaration(d); err != nil {
		return err
	}
	rec := declarationToRec(d)
	v, err := encode("declaration", rec)
	if err != nil {
		return err
	}
	key := declKey(d.ResidentID, d.At, d.ID)
	return s.write(ctx, func(tx driver.Tx) error {
		decls, byRes := bucket(tx, bktDeclarations), bucket(tx, bktDeclByResident)
		if bucket(tx, bktResidents).Get([]byte(d.ResidentID)) == nil {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", d.ResidentID)
		}
		if decls.Get([]byte(d.ID)) != nil {
			return hub.Errorf(hub.ECONFLICT, "declaration %q already exists", d.ID)
		}
		prefix := key[:len(d.ResidentID)+1]
		last := lastUnder(byRes.Cursor(), prefix)
		var old *declarationRec
		if last != nil {
			if bytes.Compare(key, last) < 0 {
				// An older declaration: kept, counted nowhere.
				return errOr(put(decls, []byte(d.ID), v), mark(byRes, key))
			}
			old = new(declarationRec)
			oldID := last[len(prefix)+8:]
			if ok, err := getRec(decls, "declaration", oldID, old); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("store: declaration index names missing %q", oldID)
			}
		}
		if err := put(decls, []byte(d.ID), v); err != nil {
			return err
		}
		if err := mark(byRes, key); err != nil {
			return err
		}
		counts := bucket(tx, bktDeclCounts)
		if old != nil {
			if err := subCount(counts, groupKey(old.DistrictID, old.Cell, old.Colour, old.FiledByKind), 1); err != nil {
				return err
			}
		}
		return addCount(counts, groupKey(rec.DistrictID, rec.Cell, rec.Colour, rec.FiledByKind), 1)
	})
}

// errOr returns the first non-nil error.
func errOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// LatestDeclaration returns the resident's latest declaration.
func (s *Store) LatestDeclaration(ctx context.Context, residentID string) (*hub.Declaration, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return nil, err
	}
	var r declarationRec
	err := s.view(ctx, func(tx driver.Tx) error {
		prefix := append([]byte(residentID), 0)
		last := lastUnder(bucket(tx, bktDeclByResident).Cursor(), prefix)
		if last == nil {
			return hub.Errorf(hub.ENOTFOUND, "resident %q has no health declaration", residentID)
		}
		id := last[len(prefix)+8:]
		ok, err := getRec(bucket(tx, bktDeclarations), "declaration", id, &r)
		if err == nil && !ok {
			err = fmt.Errorf("store: declaration index names missing %q", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// DeclarationCounts reads the declaration aggregate.
func (s *Store) DeclarationCounts(ctx context.Context, districtID string) ([]hub.DeclarationCount, error) {
	var out []hub.DeclarationCount
	err := s.view(ctx, func(tx driver.Tx) error {
		return walkCounts(tx, bktDeclCounts, districtID, func(d string, c hub.Cell, col hub.Colour, k hub.FiledByKind, n int) {
			out = append(out, hub.DeclarationCount{DistrictID: d, Cell: c, Colour: col, FiledByKind: k, Count: n})
		})
	})
	return out, err
}

// walkCounts calls fn for every group of an aggregate bucket, those of one
// district when districtID is not empty.
func walkCounts(tx driver.Tx, name, districtID string, fn func(string, hub.Cell, hub.Colour, hub.FiledByKind, int)) error {
	if err := storecheck.Ref("district", districtID); err != nil {
		return err
	}
	var prefix []byte
	if districtID != "" {
		prefix = append([]byte(districtID), 0)
	}
	c := bucket(tx, name).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		d, cell, col, kind, err := parseGroupKey(k)
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("store: counter %q has %d bytes", k, len(v))
		}
		fn(d, cell, col, kind, int(binary.BigEndian.Uint64(v)))
	}
	return nil
}

// --- Risk areas ---

func riskCellKey(c hub.Cell, areaID string) []byte {
	return append(appendCell(make([]byte, 0, 8+len(areaID)), c), areaID...)
}

// fileRiskCells files (or, with remove, unfiles) an area's cells.
func fileRiskCells(b driver.Bucket, r *riskAreaRec, remove bool) error {
	for _, c := range r.Cells {
		k := riskCellKey(c.Cell, r.ID)
		var err error
		if remove {
			err = del(b, k)
		} else {
			err = put(b, k, []byte(c.Level))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UpsertRiskArea creates or replaces a risk area.
func (s *Store) UpsertRiskArea(ctx context.Context, a *hub.RiskArea) error {
	if err := storecheck.RiskArea(a); err != nil {
		return err
	}
	rec := riskAreaToRec(a)
	v, err := encode("risk area", rec)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		areas, cells := bucket(tx, bktRiskAreas), bucket(tx, bktRiskCells)
		var old riskAreaRec
		if ok, err := getRec(areas, "risk area", []byte(a.ID), &old); err != nil {
			return err
		} else if ok && old.LiftedAt.IsZero() {
			if err := fileRiskCells(cells, &old, true); err != nil {
				return err
			}
		}
		if err := put(areas, []byte(a.ID), v); err != nil {
			return err
		}
		if rec.LiftedAt.IsZero() {
			return fileRiskCells(cells, &rec, false)
		}
		return nil
	})
}

// LiftRiskArea lifts an area in force.
func (s *Store) LiftRiskArea(ctx context.Context, id string, at time.Time) (*hub.RiskArea, error) {
	if err := storecheck.ID("risk area", id); err != nil {
		return nil, err
	}
	if err := storecheck.Time("lifting of risk area "+id, at); err != nil {
		return nil, err
	}
	var out *hub.RiskArea
	err := s.write(ctx, func(tx driver.Tx) error {
		areas := bucket(tx, bktRiskAreas)
		var r riskAreaRec
		if ok, err := getRec(areas, "risk area", []byte(id), &r); err != nil {
			return err
		} else if !ok {
			return hub.Errorf(hub.ENOTFOUND, "risk area %q not found", id)
		}
		if !r.LiftedAt.IsZero() {
			return hub.Errorf(hub.ECONFLICT, "risk area %q was already lifted", id)
		}
		r.LiftedAt = at.UTC()
		v, err := encode("risk area", r)
		if err != nil {
			return err
		}
		if err := fileRiskCells(bucket(tx, bktRiskCells), &r, true); err != nil {
			return err
		}
		if err := put(areas, []byte(id), v); err != nil {
			return err
		}
		out = r.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RiskArea returns a risk area or an ENOTFOUND error.
func (s *Store) RiskArea(ctx context.Context, id string) (*hub.RiskArea, error) {
	var r riskAreaRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktRiskAreas), "risk area", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "risk area %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// RiskAreas lists risk areas in ID order.
func (s *Store) RiskAreas(ctx context.Context, activeOnly bool) ([]*hub.RiskArea, error) {
	var keep func(*hub.RiskArea) bool
	if activeOnly {
		keep = (*hub.RiskArea).Active
	}
	var out []*hub.RiskArea
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktRiskAreas), "risk area", (*riskAreaRec).domain, keep)
		return err
	})
	return out, err
}

// RiskLevels returns the highest level areas in force give each cell.
func (s *Store) RiskLevels(ctx context.Context, cells []hub.Cell) (map[hub.Cell]hub.RiskLevel, error) {
	out := make(map[hub.Cell]hub.RiskLevel)
	err := s.view(ctx, func(tx driver.Tx) error {
		c := bucket(tx, bktRiskCells).Cursor()
		for _, cell := range cells {
			prefix := appendCell(nil, cell)
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if l := hub.RiskLevel(v); l.Rank() > out[cell].Rank() {
					out[cell] = l
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// --- Health codes ---

func healthByCellKey(c hub.Cell, residentID string) []byte {
	return append(appendCell(make([]byte, 0, 8+len(residentID)), c), residentID...)
}

// PutHealthCode stores a health code if its Version is the stored one.
func (s *Store) PutHealthCode(ctx context.Context, c *hub.HealthCode) (*hub.HealthCode, error) {
	if err := storecheck.HealthCode(c); err != nil {
		return nil, err
	}
	rec := healthCodeToRec(c)
	rec.Version++
	v, err := encode("health code", rec)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx driver.Tx) error {
		codes := bucket(tx, bktHealthCodes)
		var old healthCodeRec
		found, err := getRec(codes, "health code", []byte(c.ResidentID), &old)
		if err != nil {
			return err
		}
		if old.Version != c.Version {
			return hub.Errorf(hub.ECONFLICT, "health code of %q is at version %d, not %d", c.ResidentID, old.Version, c.Version)
		}
		byCell, counts := bucket(tx, bktHealthByCell), bucket(tx, bktColourCounts)
		if found {
			if err := del(byCell, healthByCellKey(old.Cell, old.ResidentID)); err != nil {
				return err
			}
			if err := subCount(counts, groupKey(old.DistrictID, old.Cell, old.Colour, ""), 1); err != nil {
				return err
			}
		}
		if err := put(codes, []byte(c.ResidentID), v); err != nil {
			return err
		}
		if err := mark(byCell, healthByCellKey(rec.Cell, rec.ResidentID)); err != nil {
			return err
		}
		return addCount(counts, groupKey(rec.DistrictID, rec.Cell, rec.Colour, ""), 1)
	})
	if err != nil {
		return nil, err
	}
	return rec.domain(), nil
}

// HealthCode returns a resident's health code or an ENOTFOUND error.
func (s *Store) HealthCode(ctx context.Context, residentID string) (*hub.HealthCode, error) {
	var r healthCodeRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktHealthCodes), "health code", []byte(residentID), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "resident %q has no health code", residentID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// HealthCodesIn lists the health codes of residents living in cells.
func (s *Store) HealthCodesIn(ctx context.Context, cells []hub.Cell) ([]*hub.HealthCode, error) {
	cs := slices.Clone(cells)
	slices.Sort(cs)
	cs = slices.Compact(cs)
	var out []*hub.HealthCode
	err := s.view(ctx, func(tx driver.Tx) error {
		codes := bucket(tx, bktHealthCodes)
		c := bucket(tx, bktHealthByCell).Cursor()
		for _, cell := range cs {
			prefix := appendCell(nil, cell)
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				id := k[8:]
				var r healthCodeRec
				if ok, err := getRec(codes, "health code", id, &r); err != nil {
					return err
				} else if !ok {
					return fmt.Errorf("store: health code index names missing %q", id)
				}
				out = append(out, r.domain())
			}
		}
		return nil
	})
	return out, err
}

// ColourCounts reads the colour aggregate.
func (s *Store) ColourCounts(ctx context.Context, districtID string) ([]hub.ColourCount, error) {
	var out []hub.ColourCount
	err := s.view(ctx, func(tx driver.Tx) error {
		return walkCounts(tx, bktColourCounts, districtID, func(d string, c hub.Cell, col hub.Colour, _ hub.FiledByKind, n int) {
			out = append(out, hub.ColourCount{DistrictID: d, Cell: c, Colour: col, Count: n})
		})
	})
	return out, err
}

// --- Cases ---

// MarkCase marks a resident a confirmed case, keeping an earlier mark.
func (s *Store) MarkCase(ctx context.Context, residentID string, at time.Time) error {
	if err := storecheck.ID("resident", residentID); err != nil {
		return err
	}
	if err := storecheck.Time("case "+residentID, at); err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		if bucket(tx, bktResidents).Get([]byte(residentID)) == nil {
			return hub.Errorf(hub.ENOTFOUND, "resident %q not found", residentID)
		}
		b := bucket(tx, bktCases)
		var r caseRec
		if _, err := getRec(b, "case", []byte(residentID), &r); err != nil {
			return err
		}
		if !r.CaseAt.IsZero() && !at.Before(r.CaseAt) {
			return nil
		}
		r.CaseAt = at.UTC()
		v, err := encode("case", r)
		if err != nil {
			return err
		}
		return put(b, []byte(residentID), v)
	})
}

// MarkContacts marks residents as traced contacts of a case.
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
		marks = append(marks, contactMark{c.ResidentID, c.LastAt.UTC()})
	}
	if len(marks) == 0 {
		return s.checkOpen(ctx)
	}
	return s.write(ctx, func(tx driver.Tx) error {
		b := bucket(tx, bktCases)
		for _, m := range marks {
			var r caseRec
			if _, err := getRec(b, "case", []byte(m.id), &r); err != nil {
				return err
			}
			if !r.addContact(caseID, m.at) {
				continue
			}
			v, err := encode("case", r)
			if err != nil {
				return err
			}
			if err := put(b, []byte(m.id), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// CaseStatus returns a resident's case and contact marks.
func (s *Store) CaseStatus(ctx context.Context, residentID string) (hub.CaseStatus, error) {
	var r caseRec
	err := s.view(ctx, func(tx driver.Tx) error {
		_, err := getRec(bucket(tx, bktCases), "case", []byte(residentID), &r)
		return err
	})
	if err != nil {
		return hub.CaseStatus{}, err
	}
	return r.domain(), nil
}

// --- Scans ---

// scanKey is the key of a scan in the scans bucket.
func scanKey(r *scanRec) []byte {
	person, tag := r.ResidentID, byte('r')
	if person == "" {
		person, tag = r.SubjectID, 's'
	}
	k := make([]byte, 0, 1+len(person)+1+8+len(r.ID))
	k = append(k, tag)
	k = append(k, person...)
	k = append(k, 0)
	k = appendTime(k, r.At)
	return append(k, r.ID...)
}

// scanCellKey is the key of a scan in scansByCell.
func scanCellKey(cell hub.Cell, at time.Time, id string) []byte {
	k := make([]byte, 0, 16+len(id))
	k = appendCell(k, cell)
	k = appendTime(k, at)
	return append(k, id...)
}

// RecordScans records scans in one durable write.
func (s *Store) RecordScans(ctx context.Context, ss ...*hub.Scan) error {
	if len(ss) == 0 {
		return s.checkOpen(ctx)
	}
	if len(ss) > hub.MaxScanBatch {
		return hub.Errorf(hub.EINVALID, "%d scans in one batch, at most %d", len(ss), hub.MaxScanBatch)
	}
	type item struct {
		id, key, cellKey, v []byte
	}
	items := make([]item, 0, len(ss))
	seen := make(map[string][]byte, len(ss))
	var checkpoints []string
	for i, sc := range ss {
		if err := storecheck.Scan(i, sc); err != nil {
			return err
		}
		rec := scanToRec(sc)
		v, err := encode("scan", rec)
		if err != nil {
			return err
		}
		if prev, ok := seen[sc.ID]; ok {
			if !bytes.Equal(prev, v) {
				return hub.Errorf(hub.ECONFLICT, "scan %q is repeated in the batch with other content", sc.ID)
			}
			continue
		}
		seen[sc.ID] = v
		checkpoints = append(checkpoints, sc.CheckpointID)
		items = append(items, item{[]byte(sc.ID), scanKey(&rec), scanCellKey(rec.Cell, rec.At, rec.ID), v})
	}
	slices.Sort(checkpoints)
	checkpoints = slices.Compact(checkpoints)

	return s.write(ctx, func(tx driver.Tx) error {
		cps := bucket(tx, bktCheckpoints)
		for _, id := range checkpoints {
			if cps.Get([]byte(id)) == nil {
				return hub.Errorf(hub.ENOTFOUND, "checkpoint %q not found", id)
			}
		}
		// Devices' scan IDs are mostly time-sortable, so scanIDs grows at
		// its end: fill its pages instead of splitting them in half.
		scans, ids, byCell := bucket(tx, bktScans), growing(bucket(tx, bktScanIDs)), bucket(tx, bktScansByCell)
		skip := make([]bool, len(items))
		for i, it := range items {
			key := ids.Get(it.id)
			if key == nil {
				continue
			}
			if !bytes.Equal(scans.Get(key), it.v) {
				return hub.Errorf(hub.ECONFLICT, "scan %q is already recorded with other content", it.id)
			}
			skip[i] = true
		}
		for i, it := range items {
			if skip[i] {
				continue
			}
			if err := errOr(put(scans, it.key, it.v), put(ids, it.id, it.key), put(byCell, it.cellKey, it.key)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Trajectory lists a resident's scans from since on, in time order.
func (s *Store) Trajectory(ctx context.Context, residentID string, since time.Time, limit int) ([]*hub.Scan, error) {
	if err := storecheck.ID("resident", residentID); err != nil {
		return nil, err
	}
	prefix := make([]byte, 0, 1+len(residentID)+1)
	prefix = append(prefix, 'r')
	prefix = append(prefix, residentID...)
	prefix = append(prefix, 0)
	var out []*hub.Scan
	err := s.view(ctx, func(tx driver.Tx) error {
		c := bucket(tx, bktScans).Cursor()
		for k, v := c.Seek(appendTime(slices.Clip(prefix), since)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			var r scanRec
			if err := decode("scan", k, v, &r); err != nil {
				return err
			}
			out = append(out, r.domain())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ContactsIn lists the scans in cells within [from, to], in time order.
func (s *Store) ContactsIn(ctx context.Context, cells []hub.Cell, from, to time.Time) ([]*hub.Scan, error) {
	if len(cells) > hub.MaxContactCells {
		return nil, hub.Errorf(hub.EINVALID, "%d cells, at most %d", len(cells), hub.MaxContactCells)
	}
	cs := slices.Clone(cells)
	slices.Sort(cs)
	cs = slices.Compact(cs)
	var out []*hub.Scan
	err := s.view(ctx, func(tx driver.Tx) error {
		if to.Before(from) {
			return nil
		}
		scans := bucket(tx, bktScans)
		c := bucket(tx, bktScansByCell).Cursor()
		for _, cell := range cs {
			prefix := appendCell(make([]byte, 0, 16), cell)
			end := appendTime(slices.Clip(prefix), to)
			for k, key := c.Seek(appendTime(slices.Clip(prefix), from)); k != nil && bytes.HasPrefix(k, prefix); k, key = c.Next() {
				if len(k) < 16 {
					return fmt.Errorf("store: scan cell index has key %q", k)
				}
				if bytes.Compare(k[:16], end) > 0 {
					break
				}
				v := scans.Get(key)
				if v == nil {
					return fmt.Errorf("store: scan cell index names missing scan %q", k[16:])
				}
				var r scanRec
				if err := decode("scan", key, v, &r); err != nil {
					return err
				}
				out = append(out, r.domain())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *hub.Scan) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
