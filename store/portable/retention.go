package portable

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/storecheck"
)

// Retention: expired personal records and legal holds.
//
// Layout. holds holds legal holds by ID; holdsByResident files residentID
// 0x00 holdID for every resident a hold names, so whether a person is held
// is one short key range. holdsByDistrict files districtID 0x00 holdID.
//
// A sweep needs no index of its own: each kind's records are already
// filed where the expired ones are the first keys of a few short ranges.
// Scans: scansByCell sorts by cell then time, so a cell's expired scans
// are the keys from the cell's first to the cutoff, and the sweep seeks
// from one cell to the next (the cells of checkpoints: a few thousand).
// Declarations: declarationsByResident sorts by resident then time, the
// same walk over residents. The audit trail is in Seq order, which is the
// order of At (entries are stamped when they are appended), so its expired
// entries are its first keys. Dispatch: rounds over (CLOSED or DRAWN)
// whose Closes is before the cutoff, through reservationsByRound and
// allocationsByRound, and the round's counters in guards once its
// reservations and allocations are swept. Shortages: the shortages
// bucket in ID order (registrations are few). Case marks: the cases
// bucket in resident order. Health codes: the healthCodes bucket in
// resident order. Every batch is one
// driver.Update that collects the keys it will delete with a cursor first
// and deletes them after, so a batch is all or nothing, and it re-reads every record it deletes: a
// record another hub deleted first is simply not there.

// Bucket names of legal holds.
const (
	bktHolds           = "holds"           // holdID -> record
	bktHoldsByResident = "holdsByResident" // residentID 0x00 holdID
	bktHoldsByDistrict = "holdsByDistrict" // districtID 0x00 holdID
)

func retentionBucketNames() []string {
	return []string{bktHolds, bktHoldsByResident, bktHoldsByDistrict}
}

// holdRec is a legal hold as stored.
type holdRec struct {
	ID          string    `json:"id"`
	DistrictID  string    `json:"districtId"`
	CaseID      string    `json:"caseId"`
	ResidentIDs []string  `json:"residentIds"`
	Reason      string    `json:"reason"`
	PlacedBy    string    `json:"placedBy,omitempty"`
	PlacedAt    time.Time `json:"placedAt"`
	Until       time.Time `json:"until"`
	Extensions  int       `json:"extensions,omitempty"`
	LiftedAt    time.Time `json:"liftedAt,omitzero"`
}

func holdToRec(h *hub.Hold) holdRec {
	r := holdRec(*h)
	r.ResidentIDs = slices.Clone(h.ResidentIDs)
	slices.Sort(r.ResidentIDs)
	r.ResidentIDs = slices.Compact(r.ResidentIDs)
	r.PlacedAt, r.Until = h.PlacedAt.UTC(), h.Until.UTC()
	if !h.LiftedAt.IsZero() {
		r.LiftedAt = h.LiftedAt.UTC()
	}
	return r
}

func (r *holdRec) domain() *hub.Hold {
	h := hub.Hold(*r)
	h.ResidentIDs = slices.Clone(r.ResidentIDs)
	return &h
}

// checkHold checks a new hold.
func checkHold(h *hub.Hold) error {
	if h == nil {
		return hub.Errorf(hub.EINVALID, "no hold")
	}
	if err := storecheck.ID("hold", h.ID); err != nil {
		return err
	}
	if err := storecheck.ID("district", h.DistrictID); err != nil {
		return err
	}
	if err := storecheck.ID("case", h.CaseID); err != nil {
		return err
	}
	if len(h.ResidentIDs) == 0 || len(h.ResidentIDs) > hub.MaxHoldResidents {
		return hub.Errorf(hub.EINVALID, "hold %q names %d residents, want 1 to %d", h.ID, len(h.ResidentIDs), hub.MaxHoldResidents)
	}
	for _, id := range h.ResidentIDs {
		if err := storecheck.ID("resident", id); err != nil {
			return err
		}
	}
	if !slices.Contains(h.ResidentIDs, h.CaseID) {
		return hub.Errorf(hub.EINVALID, "hold %q does not name its case %q", h.ID, h.CaseID)
	}
	if strings.TrimSpace(h.Reason) == "" {
		return hub.Errorf(hub.EINVALID, "hold %q has no reason", h.ID)
	}
	if err := hub.CheckText("reason", h.Reason, hub.MaxHoldReason, true); err != nil {
		return err
	}
	if err := storecheck.Time("placing of hold "+h.ID, h.PlacedAt); err != nil {
		return err
	}
	if err := storecheck.Time("end of hold "+h.ID, h.Until); err != nil {
		return err
	}
	if !h.Until.After(h.PlacedAt) {
		return hub.Errorf(hub.EINVALID, "hold %q ends before it is placed", h.ID)
	}
	if !h.LiftedAt.IsZero() || h.Extensions != 0 {
		return hub.Errorf(hub.EINVALID, "a new hold %q is neither lifted nor extended", h.ID)
	}
	return nil
}

// PutHold stores a new hold and files it under each resident it names.
func (s *Store) PutHold(ctx context.Context, h *hub.Hold) error {
	if err := checkHold(h); err != nil {
		return err
	}
	rec := holdToRec(h)
	v, err := encode("hold", rec)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		holds := bucket(tx, bktHolds)
		if holds.Get([]byte(rec.ID)) != nil {
			return hub.Errorf(hub.ECONFLICT, "hold %q already exists", rec.ID)
		}
		if err := put(holds, []byte(rec.ID), v); err != nil {
			return err
		}
		byRes := bucket(tx, bktHoldsByResident)
		for _, id := range rec.ResidentIDs {
			if err := mark(byRes, ikey(id, rec.ID)); err != nil {
				return err
			}
		}
		return mark(bucket(tx, bktHoldsByDistrict), ikey(rec.DistrictID, rec.ID))
	})
}

// changeHold reads a hold in force at at, lets change alter it and stores
// it.
func (s *Store) changeHold(ctx context.Context, id string, at time.Time, change func(*holdRec) error) (*hub.Hold, error) {
	if err := storecheck.ID("hold", id); err != nil {
		return nil, err
	}
	if err := storecheck.Time("change of hold "+id, at); err != nil {
		return nil, err
	}
	var out *hub.Hold
	err := s.write(ctx, func(tx driver.Tx) error {
		r, err := readRec[holdRec](tx, bktHolds, "hold", id)
		if err != nil {
			return err
		}
		switch {
		case !r.LiftedAt.IsZero():
			return hub.Errorf(hub.ECONFLICT, "hold %q was lifted", id)
		case !at.Before(r.Until):
			return hub.Errorf(hub.ECONFLICT, "hold %q ended at %s", id, r.Until.Format(time.RFC3339))
		}
		if err := change(r); err != nil {
			return err
		}
		if err := putRec(tx, bktHolds, "hold", id, r); err != nil {
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

// ExtendHold moves a hold in force to a later end.
func (s *Store) ExtendHold(ctx context.Context, id string, until, at time.Time) (*hub.Hold, error) {
	if err := storecheck.Time("end of hold "+id, until); err != nil {
		return nil, err
	}
	return s.changeHold(ctx, id, at, func(r *holdRec) error {
		if !until.After(r.Until) {
			return hub.Errorf(hub.ECONFLICT, "hold %q already runs until %s: an extension must end later", id, r.Until.Format(time.RFC3339))
		}
		r.Until = until.UTC()
		r.Extensions++
		return nil
	})
}

// LiftHold lifts a hold in force.
func (s *Store) LiftHold(ctx context.Context, id string, at time.Time) (*hub.Hold, error) {
	return s.changeHold(ctx, id, at, func(r *holdRec) error {
		r.LiftedAt = at.UTC()
		return nil
	})
}

// Hold returns a hold or an ENOTFOUND error.
func (s *Store) Hold(ctx context.Context, id string) (*hub.Hold, error) {
	if err := storecheck.ID("hold", id); err != nil {
		return nil, err
	}
	var out *hub.Hold
	err := s.view(ctx, func(tx driver.Tx) error {
		r, err := readRec[holdRec](tx, bktHolds, "hold", id)
		if err != nil {
			return err
		}
		out = r.domain()
		return nil
	})
	return out, err
}

// Holds lists holds in ID order, those of one district when districtID is
// not empty.
func (s *Store) Holds(ctx context.Context, districtID string) ([]*hub.Hold, error) {
	if err := storecheck.Ref("district", districtID); err != nil {
		return nil, err
	}
	var out []*hub.Hold
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		var idx []*idIndex
		if districtID != "" {
			idx = append(idx, newIDIndex(tx, bktHoldsByDistrict, ikey(districtID, "")))
		}
		out, err = listByID(tx, bktHolds, "hold", idx, "", 0, (*holdRec).domain)
		return err
	})
	return out, err
}

// heldSet answers, within one transaction, whether a hold in force names
// a resident, reading each resident's holds once.
type heldSet struct {
	tx    driver.Tx
	now   time.Time
	known map[string]bool
}

func newHeldSet(tx driver.Tx, now time.Time) *heldSet {
	return &heldSet{tx: tx, now: now, known: make(map[string]bool)}
}

func (h *heldSet) held(residentID string) (bool, error) {
	if residentID == "" {
		return false, nil
	}
	if v, ok := h.known[residentID]; ok {
		return v, nil
	}
	prefix := ikey(residentID, "")
	holds := bucket(h.tx, bktHolds)
	c := bucket(h.tx, bktHoldsByResident).Cursor()
	held := false
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && !held; k, _ = c.Next() {
		var r holdRec
		if ok, err := getRec(holds, "hold", k[len(prefix):], &r); err != nil {
			return false, err
		} else if !ok {
			return false, fmt.Errorf("store: hold index names missing hold %q", k[len(prefix):])
		}
		held = r.domain().InForce(h.now)
	}
	h.known[residentID] = held
	return held, nil
}

// Sweep deletes one batch of expired records of one kind.
func (s *Store) Sweep(ctx context.Context, r hub.SweepRequest) (hub.SweepResult, error) {
	if !r.Kind.Valid() {
		return hub.SweepResult{}, hub.Errorf(hub.EINVALID, "unknown kind of record %q", r.Kind)
	}
	if r.Before.IsZero() || r.Now.IsZero() {
		return hub.SweepResult{}, hub.Errorf(hub.EINVALID, "a sweep needs a cutoff and a time for holds")
	}
	limit := r.Limit
	if limit <= 0 {
		limit = hub.DefaultSweepBatch
	}
	limit = min(limit, hub.MaxSweepBatch)
	var out hub.SweepResult
	err := s.write(ctx, func(tx driver.Tx) error {
		out = hub.SweepResult{} // again if the write runs again
		sw := &sweep{tx: tx, held: newHeldSet(tx, r.Now), before: r.Before, cutoff: appendTime(nil, r.Before), limit: limit, res: &out}
		var err error
		switch r.Kind {
		case hub.RecordScans:
			err = sw.scans(r.From)
		case hub.RecordDeclarations:
			err = sw.declarations(r.From)
		case hub.RecordAudit:
			err = sw.audit(r.From)
		case hub.RecordDispatch:
			err = sw.dispatch(r.From)
		case hub.RecordShortages:
			err = sw.shortages(r.From)
		case hub.RecordCases:
			err = sw.cases(r.From)
		case hub.RecordCodes:
			err = sw.codes(r.From)
		}
		out.Expired = sw.counts()
		return internal(err)
	})
	if err != nil {
		return hub.SweepResult{}, err
	}
	return out, nil
}

// sweep is one batch of a sweep, inside one write.
type sweep struct {
	tx      driver.Tx
	held    *heldSet
	before  time.Time
	cutoff  []byte // the key form of before
	limit   int
	seen    int // records examined
	res     *hub.SweepResult
	deletes []pendingDelete
	gone    map[hub.ExpiredCount]int // counted records deleted, by all but Count
}

// expire counts a deleted record that the dashboards count.
func (sw *sweep) expire(rec hub.ExpiredRecord, cell hub.Cell, sku hub.SKU, status string) {
	if sw.gone == nil {
		sw.gone = make(map[hub.ExpiredCount]int)
	}
	sw.gone[hub.ExpiredCount{Record: rec, Cell: cell, SKU: sku, Status: status}]++
}

// counts returns the counted records deleted, sorted.
func (sw *sweep) counts() []hub.ExpiredCount {
	if len(sw.gone) == 0 {
		return nil
	}
	out := make([]hub.ExpiredCount, 0, len(sw.gone))
	for c, n := range sw.gone {
		c.Count = n
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b hub.ExpiredCount) int {
		return cmp.Or(cmp.Compare(a.Record, b.Record), cmp.Compare(a.Cell, b.Cell), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Status, b.Status))
	})
	return out
}

// pendingDelete is a key to delete, or to put v under when v is not nil.
type pendingDelete struct {
	b      driver.Bucket
	key, v []byte
}

// drop queues a key for deletion once the cursors are done.
func (sw *sweep) drop(b driver.Bucket, key []byte) {
	sw.deletes = append(sw.deletes, pendingDelete{b, bytes.Clone(key), nil})
}

// rewrite queues a record's new value once the cursors are done.
func (sw *sweep) rewrite(b driver.Bucket, key, v []byte) {
	sw.deletes = append(sw.deletes, pendingDelete{b, bytes.Clone(key), v})
}

func (sw *sweep) flush() error {
	for _, d := range sw.deletes {
		if d.v != nil {
			if err := put(d.b, d.key, d.v); err != nil {
				return err
			}
			continue
		}
		if err := del(d.b, d.key); err != nil {
			return err
		}
	}
	sw.deletes = nil
	return nil
}

// full reports whether the batch examined all it may; then Next is set to
// resume at next.
func (sw *sweep) full(next []byte) bool {
	if sw.seen < sw.limit {
		return false
	}
	sw.res.Next = bytes.Clone(next)
	return true
}

// take reports whether the batch may examine the record at k, and counts
// it; when it may not, Next is set to resume at k.
func (sw *sweep) take(k []byte) bool {
	if sw.full(k) {
		return false
	}
	sw.seen++
	return true
}

// kept reports whether a hold in force keeps the records of resident,
// and counts them as held.
func (sw *sweep) kept(resident string) (bool, error) {
	held, err := sw.held.held(resident)
	if held {
		sw.res.Held++
	}
	return held, err
}

// seek returns a cursor on b at from, or at b's first key when from is
// empty, with the record it lands on.
func seek(b driver.Bucket, from []byte) (driver.Cursor, []byte, []byte) {
	c := b.Cursor()
	if len(from) == 0 {
		k, v := c.First()
		return c, k, v
	}
	k, v := c.Seek(from)
	return c, k, v
}

// expired reports whether the big-endian time at k[i:i+8] is before the
// cutoff.
func (sw *sweep) expired(k []byte, i int) bool {
	return bytes.Compare(k[i:i+8], sw.cutoff) < 0
}

// scans walks scansByCell cell by cell, from each cell's first key up to
// the cutoff.
func (sw *sweep) scans(from []byte) error {
	scans, ids, byCell := bucket(sw.tx, bktScans), bucket(sw.tx, bktScanIDs), bucket(sw.tx, bktScansByCell)
	c := byCell.Cursor()
	var k, key []byte
	if len(from) == 0 {
		k, key = c.First()
	} else {
		k, key = c.Seek(from)
	}
	for k != nil {
		if len(k) < 16 {
			return fmt.Errorf("store: scan cell index has key %q", k)
		}
		if !sw.expired(k, 8) {
			// The rest of this cell is in force: on to the next cell.
			cell := binary.BigEndian.Uint64(k)
			if cell == ^uint64(0) {
				break
			}
			k, key = c.Seek(u64(cell + 1))
			continue
		}
		if !sw.take(k) {
			break
		}
		resident := ""
		if len(key) > 0 && key[0] == 'r' {
			if i := bytes.IndexByte(key, 0); i > 0 {
				resident = string(key[1:i])
			}
		}
		held, err := sw.kept(resident)
		if err != nil {
			return err
		}
		if !held {
			sw.drop(byCell, k)
			sw.drop(scans, key)
			sw.drop(ids, k[16:])
			sw.res.Deleted++
		}
		k, key = c.Next()
	}
	return sw.flush()
}

// declarations walks declarationsByResident resident by resident.
func (sw *sweep) declarations(from []byte) error {
	decls, byRes, counts := bucket(sw.tx, bktDeclarations), bucket(sw.tx, bktDeclByResident), bucket(sw.tx, bktDeclCounts)
	c := byRes.Cursor()
	var k []byte
	if len(from) == 0 {
		k, _ = c.First()
	} else {
		k, _ = c.Seek(from)
	}
	type latest struct{ prefix, key []byte }
	var lasts []latest // residents whose latest declaration this batch deletes
	for k != nil {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) < i+1+8 {
			return fmt.Errorf("store: declaration index has key %q", k)
		}
		prefix := k[:i+1]
		held := false
		if sw.expired(k, i+1) {
			var err error
			if held, err = sw.kept(string(k[:i])); err != nil {
				return err
			}
		}
		if !sw.expired(k, i+1) || held {
			// On to the next resident: the least key past this prefix.
			end := slices.Clone(prefix)
			end[len(end)-1] = 1
			k, _ = c.Seek(end)
			continue
		}
		if !sw.take(k) {
			break
		}
		sw.drop(byRes, k)
		sw.drop(decls, k[i+1+8:])
		sw.res.Deleted++
		next, _ := c.Next()
		if next == nil || !bytes.HasPrefix(next, prefix) {
			// The resident's latest declaration goes: it leaves the
			// aggregate, which counts latest declarations only.
			lasts = append(lasts, latest{bytes.Clone(prefix), bytes.Clone(k)})
		}
		k = next
	}
	for _, l := range lasts {
		id := l.key[len(l.prefix)+8:]
		var r declarationRec
		if ok, err := getRec(decls, "declaration", id, &r); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("store: declaration index names missing %q", id)
		}
		if err := subCount(counts, groupKey(r.DistrictID, r.Cell, r.Colour, r.FiledByKind), 1); err != nil {
			return err
		}
	}
	return sw.flush()
}

// audit walks the audit trail from its first entry to the first one in
// force.
func (sw *sweep) audit(from []byte) error {
	b := bucket(sw.tx, bktAudit)
	byTarget, byActor := bucket(sw.tx, bktAuditByTarget), bucket(sw.tx, bktAuditByActor)
	c, k, v := seek(b, from)
	for ; k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("store: audit trail has key %q", k)
		}
		var r auditRec
		if err := decode("audit entry", k, v, &r); err != nil {
			return err
		}
		if !r.At.Before(sw.before) {
			break // appended in time order: the rest is in force
		}
		if !sw.take(k) {
			break
		}
		if kept, err := sw.kept(r.TargetID); err != nil || kept {
			if err != nil {
				return err
			}
			continue
		}
		seq := binary.BigEndian.Uint64(k)
		sw.drop(b, k)
		sw.drop(byTarget, auditIndexKey(r.TargetID, seq))
		if r.ActorID != "" {
			sw.drop(byActor, auditIndexKey(r.ActorID, seq))
		}
		sw.res.Deleted++
	}
	return sw.flush()
}

// dispatch walks the rounds that are over and deletes their reservations
// and final allocations. Its Next is the round's ID, 0x00, the phase ('r'
// for reservations, 'a' for allocations), 0x00 and the index key to resume
// at.
func (sw *sweep) dispatch(from []byte) error {
	rounds := bucket(sw.tx, bktRounds)
	c := rounds.Cursor()
	var k, v []byte
	var phase byte = 'r'
	var resume []byte
	var resumeRound string
	if len(from) == 0 {
		k, v = c.First()
	} else {
		parts := bytes.SplitN(from, []byte{0}, 3)
		if len(parts) != 3 || len(parts[1]) != 1 {
			return hub.Errorf(hub.EINVALID, "malformed sweep cursor")
		}
		phase, resume, resumeRound = parts[1][0], parts[2], string(parts[0])
		k, v = c.Seek(parts[0])
	}
	for ; k != nil; k, v = c.Next() {
		var r roundRec
		if err := decode("round", k, v, &r); err != nil {
			return err
		}
		if r.ID != resumeRound {
			phase, resume = 'r', nil
		}
		if r.Status == hub.RoundClosed || r.Status == hub.RoundDrawn {
			if r.Closes.Before(sw.before) {
				next, err := sw.round(r.ID, r.SKU, phase, resume)
				if err != nil {
					return err
				}
				if next != nil {
					sw.res.Next = next
					break
				}
				sw.guards(r.ID)
			}
		}
		phase, resume = 'r', nil
	}
	return sw.flush()
}

// guards deletes the slot and quota counters of a round that is over, and
// its mark that they are kept (bktGuards), once its pass is done. A round
// that is over takes no new allocation; an allocation it still has (held,
// or not yet final) releases nothing in a round without the mark, and a
// write that took one would count the round afresh from its allocations.
func (sw *sweep) guards(roundID string) {
	b := bucket(sw.tx, bktGuards)
	if k := countedKey(roundID); b.Get(k) != nil {
		sw.drop(b, k)
	}
	for _, kind := range []byte{'s', 'q'} {
		prefix := append([]byte{kind}, ikey(roundID, "")...)
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			sw.drop(b, k)
		}
	}
}

// round deletes the reservations and final allocations of a round that is
// over, from the phase and key given, as many as the batch allows; it
// returns where to resume, nil when it is done. A reservation whose
// allocation is still open stays with it; an open allocation (RESERVED or
// DELIVERING) stays until its expiry or delivery moves it.
func (sw *sweep) round(roundID string, sku hub.SKU, phase byte, resume []byte) ([]byte, error) {
	prefix := ikey(roundID, "")
	start := func(c driver.Cursor, p byte) (k, v []byte) {
		if phase == p && len(resume) > 0 {
			return c.Seek(resume)
		}
		return c.Seek(prefix)
	}
	stop := func(p byte, k []byte) []byte {
		out := append(ikey(roundID, string(p)), 0)
		return append(out, k...)
	}
	allocs := bucket(sw.tx, bktAllocations)
	if phase == 'r' {
		resvs := bucket(sw.tx, bktReservations)
		c := bucket(sw.tx, bktResvByRound).Cursor()
		for k, _ := start(c, 'r'); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if sw.seen >= sw.limit {
				return stop('r', k), nil
			}
			sw.seen++
			id := k[len(prefix):]
			var r reservationRec
			if ok, err := getRec(resvs, "reservation", id, &r); err != nil {
				return nil, err
			} else if !ok {
				return nil, fmt.Errorf("store: reservation index names missing %q", id)
			}
			held, err := sw.kept(r.ResidentID)
			if err != nil {
				return nil, err
			}
			if held {
				continue
			}
			if r.AllocationID != "" {
				// A reservation goes with its allocation, not before it.
				var a allocationRec
				if ok, err := getRec(allocs, "allocation", []byte(r.AllocationID), &a); err != nil {
					return nil, err
				} else if ok && !a.Status.Final() {
					continue
				}
			}
			sw.drop(resvs, id)
			sw.drop(bucket(sw.tx, bktResvByHash), ikey(r.RoundID, r.IDHash))
			if r.IdempotencyKey != "" {
				sw.drop(bucket(sw.tx, bktResvByKey), ikey(r.RoundID, r.IdempotencyKey))
			}
			sw.drop(bucket(sw.tx, bktResvByRound), k)
			sw.drop(bucket(sw.tx, bktResvByRoundStatus), resvStatusKey(&r))
			sw.expire(hub.ExpiredReservation, r.Cell, sku, string(r.Status))
			sw.res.Deleted++
		}
	}
	c := bucket(sw.tx, bktAllocByRound).Cursor()
	for k, _ := start(c, 'a'); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if sw.seen >= sw.limit {
			return stop('a', k), nil
		}
		sw.seen++
		id := k[len(prefix):]
		var a allocationRec
		if ok, err := getRec(allocs, "allocation", id, &a); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("store: allocation index names missing %q", id)
		}
		held, err := sw.kept(a.ResidentID)
		if err != nil {
			return nil, err
		}
		if held {
			continue
		}
		if !a.Status.Final() {
			continue
		}
		sw.dropAllocation(&a)
		sw.res.Deleted++
	}
	return nil, nil
}

// dropAllocation queues an allocation and its index entries for deletion.
func (sw *sweep) dropAllocation(a *allocationRec) {
	sw.expire(hub.ExpiredAllocation, a.Cell, a.SKU, string(a.Status))
	sw.drop(bucket(sw.tx, bktAllocations), []byte(a.ID))
	if a.CodeHash != "" {
		sw.drop(bucket(sw.tx, bktAllocByCode), []byte(a.CodeHash))
	}
	if a.PharmacyID != "" {
		sw.drop(bucket(sw.tx, bktLedger), pharmacyAllocKey(a.PharmacyID, a.ID))
	}
	for _, ix := range []struct{ name, by string }{
		{bktAllocByPartner, a.PartnerID},
		{bktAllocByRound, a.RoundID}, {bktAllocByStatus, string(a.Status)},
	} {
		if ix.by != "" {
			sw.drop(bucket(sw.tx, ix.name), ikey(ix.by, a.ID))
		}
	}
	if expiryKeyed(a) {
		sw.drop(bucket(sw.tx, bktAllocExpiry), expiryKey(a.ExpiresAt, a.ID))
	}
}

// shortages walks the shortage registrations in ID order. A SERVED one
// goes once it was served before the cutoff and its allocation is final
// (or gone), with that allocation when it is of no round (an allocation of
// a round goes with the round's records); a WAITING one goes once it was
// registered before the cutoff: the waiting list forgets it.
func (sw *sweep) shortages(from []byte) error {
	recs := bucket(sw.tx, bktShortages)
	allocs := bucket(sw.tx, bktAllocations)
	c, k, v := seek(recs, from)
	for ; k != nil; k, v = c.Next() {
		if !sw.take(k) {
			break
		}
		var r shortageRec
		if err := decode("shortage", k, v, &r); err != nil {
			return err
		}
		var alloc *allocationRec
		switch r.Status {
		case hub.ShortageWaiting:
			if !r.CreatedAt.Before(sw.before) {
				continue
			}
		case hub.ShortageServed:
			if !r.UpdatedAt.Before(sw.before) {
				continue
			}
			if r.AllocationID != "" {
				var a allocationRec
				ok, err := getRec(allocs, "allocation", []byte(r.AllocationID), &a)
				if err != nil {
					return err
				}
				if ok && !a.Status.Final() {
					continue // it goes with its allocation, not before
				}
				if ok && a.RoundID == "" {
					alloc = &a
				}
			}
		default:
			continue
		}
		if kept, err := sw.kept(r.ResidentID); err != nil || kept {
			if err != nil {
				return err
			}
			continue
		}
		sw.drop(recs, k)
		sw.drop(bucket(sw.tx, bktShortagesBySKU), ikey(string(r.SKU), r.ID))
		sw.drop(bucket(sw.tx, bktShortagesByStatus), ikey(string(r.Status), r.ID))
		if r.Status == hub.ShortageWaiting {
			waiting := bucket(sw.tx, bktShortagesWaiting)
			if wk := waitingKey(r.ResidentID, r.SKU); string(waiting.Get(wk)) == r.ID {
				sw.drop(waiting, wk)
			}
		}
		sw.expire(hub.ExpiredShortage, r.Cell, r.SKU, string(r.Status))
		sw.res.Deleted++
		if alloc != nil {
			sw.dropAllocation(alloc)
			sw.res.Deleted++
		}
	}
	return sw.flush()
}

// cases walks the case and contact marks in resident order: a resident's
// marks go once the later of them is before the cutoff, unless a hold in
// force names the resident; a resident whose marks stay loses the
// contacts of cases last met before the cutoff (a case's mark expires
// with its period), unless held.
func (sw *sweep) cases(from []byte) error {
	b := bucket(sw.tx, bktCases)
	c, k, v := seek(b, from)
	for ; k != nil; k, v = c.Next() {
		if !sw.take(k) {
			break
		}
		var r caseRec
		if err := decode("case", k, v, &r); err != nil {
			return err
		}
		whole := r.CaseAt.Before(sw.before) && r.ContactAt.Before(sw.before) // a zero mark is before any cutoff
		if !whole && !r.expireContacts(sw.before) {
			continue
		}
		if !whole {
			// Some contacts expire: the record stays, without them.
			if held, err := sw.held.held(string(k)); err != nil || held {
				if err != nil {
					return err
				}
				continue
			}
			nv, err := encode("case", r)
			if err != nil {
				return err
			}
			sw.rewrite(b, k, nv)
			continue
		}
		held, err := sw.kept(string(k))
		if err != nil {
			return err
		}
		if held {
			continue
		}
		sw.drop(b, k)
		sw.res.Deleted++
	}
	return sw.flush()
}

// codes walks the stored health codes in resident order: a code goes
// once it was last changed before the cutoff and its resident has no
// declaration and no case mark left, unless a hold in force names the
// resident; it leaves the cell index and the colour counts, and the
// resident's subject goes with it (the next code gets a new one).
func (sw *sweep) codes(from []byte) error {
	codes := bucket(sw.tx, bktHealthCodes)
	decls, cases := bucket(sw.tx, bktDeclByResident), bucket(sw.tx, bktCases)
	subs, back := bucket(sw.tx, bktSubjects), bucket(sw.tx, bktSubjectResidents)
	c, k, v := seek(codes, from)
	var gone []healthCodeRec
	for ; k != nil; k, v = c.Next() {
		if !sw.take(k) {
			break
		}
		var r healthCodeRec
		if err := decode("health code", k, v, &r); err != nil {
			return err
		}
		if !r.UpdatedAt.Before(sw.before) || cases.Get(k) != nil {
			continue
		}
		prefix := ikey(string(k), "")
		if dk, _ := decls.Cursor().Seek(prefix); dk != nil && bytes.HasPrefix(dk, prefix) {
			continue
		}
		held, err := sw.kept(string(k))
		if err != nil {
			return err
		}
		if held {
			continue
		}
		sw.drop(codes, k)
		sw.drop(bucket(sw.tx, bktHealthByCell), healthByCellKey(r.Cell, r.ResidentID))
		if sub := subs.Get(k); sub != nil {
			sw.drop(subs, k)
			if bytes.Equal(back.Get(sub), k) {
				sw.drop(back, sub)
			}
		}
		gone = append(gone, r)
		sw.expire(hub.ExpiredHealthCode, r.Cell, "", string(r.Colour))
		sw.res.Deleted++
	}
	counts := bucket(sw.tx, bktColourCounts)
	for _, r := range gone {
		if err := subCount(counts, groupKey(r.DistrictID, r.Cell, r.Colour, ""), 1); err != nil {
			return err
		}
	}
	return sw.flush()
}
