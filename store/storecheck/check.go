// Package storecheck holds the input checks every store backend makes
// before it writes, so that callers see one behaviour whichever backend
// runs: each refusal is an EINVALID *hub.Error saying what is wrong.
package storecheck

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// MaxKeyLen bounds IDs, codes and hashes.
const MaxKeyLen = 512

// ID returns an EINVALID error unless id can be a record's ID: not
// empty, not too long, and free of NUL bytes.
func ID(kind, id string) error {
	switch {
	case id == "":
		return hub.Errorf(hub.EINVALID, "%s ID is empty", kind)
	case len(id) > MaxKeyLen:
		return hub.Errorf(hub.EINVALID, "%s ID is longer than %d bytes", kind, MaxKeyLen)
	case strings.IndexByte(id, 0) >= 0:
		return hub.Errorf(hub.EINVALID, "%s ID %q contains a NUL byte", kind, id)
	}
	return nil
}

// Ref is ID for an optional reference to another record.
func Ref(kind, id string) error {
	if id == "" {
		return nil
	}
	return ID(kind, id)
}

// Key returns an EINVALID error unless v fits in an index key.
func Key(what, v string) error {
	if len(v) > MaxKeyLen {
		return hub.Errorf(hub.EINVALID, "%s is longer than %d bytes", what, MaxKeyLen)
	}
	return nil
}

// The known values of the dispatch enums.
var (
	RoundStatuses       = []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed, hub.RoundDrawn}
	Modes               = []hub.Mode{hub.FirstCome, hub.Lottery, hub.ByCommittee}
	Fulfilments         = []hub.Fulfilment{hub.Pickup, hub.Delivery}
	ReservationStatuses = []hub.ReservationStatus{
		hub.ReservationPending, hub.ReservationAllocated, hub.ReservationWaiting,
		hub.ReservationLost, hub.ReservationCancelled,
	}
	AllocationStatuses = []hub.AllocationStatus{
		hub.AllocationReserved, hub.AllocationRedeemed, hub.AllocationExpired, hub.AllocationCancelled,
		hub.AllocationDelivering, hub.AllocationDelivered, hub.AllocationFailed,
	}
	ShortageStatuses = []hub.ShortageStatus{hub.ShortageWaiting, hub.ShortageServed}
)

// Enum returns an EINVALID error unless v is one of known.
func Enum[T ~string](what string, v T, known []T) error {
	if !slices.Contains(known, v) {
		return hub.Errorf(hub.EINVALID, "unknown %s %q", what, v)
	}
	return nil
}

// FilterEnum is Enum for an optional filter value.
func FilterEnum[T ~string](what string, v T, known []T) error {
	if v == "" {
		return nil
	}
	return Enum(what, v, known)
}

// SKU returns an EINVALID error naming the record unless sku is a
// known supply.
func SKU(kind, id string, sku hub.SKU) error {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return hub.Errorf(hub.EINVALID, "%s %q: unknown supply %q", kind, id, sku)
	}
	return nil
}

// The range of times the time-ordered indexes hold, as the embedded
// store's: 1970 to 2262.
var (
	MinKeyTime = time.Unix(0, 0)
	MaxKeyTime = time.Unix(0, math.MaxInt64)
)

// Time returns an EINVALID error unless t is a non-zero time in the
// indexes' range.
func Time(what string, t time.Time) error {
	if t.IsZero() {
		return hub.Errorf(hub.EINVALID, "%s has no time", what)
	}
	if t.Before(MinKeyTime) || t.After(MaxKeyTime) {
		return hub.Errorf(hub.EINVALID, "%s: time %v is outside 1970 to 2262", what, t)
	}
	return nil
}

// Expiry returns an EINVALID error unless an ExpiresAt is zero (never
// expires) or within the indexes' range.
func Expiry(id string, t time.Time) error {
	if !t.IsZero() && (t.Before(MinKeyTime) || t.After(MaxKeyTime)) {
		return hub.Errorf(hub.EINVALID, "allocation %q: expiry %v is outside 1970 to 2262", id, t)
	}
	return nil
}

func Audit(i int, e *hub.AuditEntry) error {
	var err error
	switch {
	case e.Action == "":
		err = hub.Errorf(hub.EINVALID, "no action")
	case strings.TrimSpace(e.Purpose) == "":
		err = hub.Errorf(hub.EINVALID, "no purpose")
	case e.At.IsZero():
		err = hub.Errorf(hub.EINVALID, "no time")
	case e.Count < 0:
		err = hub.Errorf(hub.EINVALID, "negative count %d", e.Count)
	default:
		err = hub.CheckText("purpose", e.Purpose, hub.MaxAuditPurpose, true)
		if err == nil {
			err = ID("target", e.TargetID)
		}
		if err == nil {
			err = Ref("actor", e.ActorID)
		}
	}
	if err != nil {
		return hub.Errorf(hub.EINVALID, "audit entry %d of the batch: %s", i, hub.MessageOf(err))
	}
	return nil
}

func Round(r *hub.Round) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "round is missing")
	}
	if err := ID("round", r.ID); err != nil {
		return err
	}
	if err := SKU("round", r.ID, r.SKU); err != nil {
		return err
	}
	if r.PerPerson <= 0 {
		return hub.Errorf(hub.EINVALID, "round %q: %d units per person, want at least 1", r.ID, r.PerPerson)
	}
	if err := Enum("mode", r.Mode, Modes); err != nil {
		return err
	}
	if err := Enum("round status", r.Status, RoundStatuses); err != nil {
		return err
	}
	for _, f := range r.Fulfilments {
		if err := Enum("fulfilment", f, Fulfilments); err != nil {
			return err
		}
	}
	for i, rule := range r.HealthRules {
		if !rule.Colour.Valid() {
			return hub.Errorf(hub.EINVALID, "round %q: health rule %d has unknown colour %q", r.ID, i, rule.Colour)
		}
		for _, prev := range r.HealthRules[:i] {
			if prev.Colour == rule.Colour {
				return hub.Errorf(hub.EINVALID, "round %q: two health rules of %s", r.ID, rule.Colour)
			}
		}
		for _, f := range rule.Fulfilments {
			if err := Enum("fulfilment", f, Fulfilments); err != nil {
				return err
			}
		}
	}
	if r.MaxK < 0 || r.Winners < 0 || r.PickupWindow < 0 || r.SlotMinutes < 0 || r.SlotCapacity < 0 {
		return hub.Errorf(hub.EINVALID, "round %q: negative MaxK, Winners, PickupWindow, SlotMinutes or SlotCapacity", r.ID)
	}
	for c, q := range r.Quotas {
		if q < 0 {
			return hub.Errorf(hub.EINVALID, "round %q: negative quota of committee %q", r.ID, c)
		}
	}
	return nil
}

func Reservation(r *hub.Reservation) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "reservation is missing")
	}
	if err := ID("reservation", r.ID); err != nil {
		return err
	}
	if err := ID("round", r.RoundID); err != nil {
		return err
	}
	if r.IDHash == "" {
		return hub.Errorf(hub.EINVALID, "reservation %q has no ID hash", r.ID)
	}
	if err := Key("ID hash", r.IDHash); err != nil {
		return err
	}
	if err := Key("idempotency key", r.IdempotencyKey); err != nil {
		return err
	}
	for _, ref := range []struct{ kind, id string }{
		{"resident", r.ResidentID}, {"committee", r.CommitteeID}, {"district", r.DistrictID},
	} {
		if err := Ref(ref.kind, ref.id); err != nil {
			return err
		}
	}
	if r.Fulfilment != "" {
		if err := Enum("fulfilment", r.Fulfilment, Fulfilments); err != nil {
			return err
		}
	}
	if err := Enum("reservation status", r.Status, ReservationStatuses); err != nil {
		return err
	}
	if r.Status == hub.ReservationAllocated || r.AllocationID != "" {
		return hub.Errorf(hub.EINVALID, "reservation %q: only Allocate makes a reservation ALLOCATED", r.ID)
	}
	return nil
}

func Allocation(i int, a *hub.Allocation) error {
	if a == nil {
		return hub.Errorf(hub.EINVALID, "allocation %d of the batch is missing", i)
	}
	if err := ID("allocation", a.ID); err != nil {
		return err
	}
	if err := ID("pharmacy", a.PharmacyID); err != nil {
		return err
	}
	for _, ref := range []struct{ kind, id string }{
		{"round", a.RoundID}, {"reservation", a.ReservationID}, {"shortage", a.ShortageID},
		{"resident", a.ResidentID}, {"partner", a.PartnerID},
	} {
		if err := Ref(ref.kind, ref.id); err != nil {
			return err
		}
	}
	switch {
	case (a.ReservationID == "") == (a.ShortageID == ""):
		return hub.Errorf(hub.EINVALID, "allocation %q must serve one reservation or one shortage", a.ID)
	case a.ReservationID != "" && a.RoundID == "":
		return hub.Errorf(hub.EINVALID, "allocation %q serves a reservation but names no round", a.ID)
	case a.Quantity <= 0:
		return hub.Errorf(hub.EINVALID, "allocation %q: quantity %d, want at least 1", a.ID, a.Quantity)
	case a.Status != hub.AllocationReserved && a.Status != hub.AllocationDelivering:
		return hub.Errorf(hub.EINVALID, "allocation %q: a new allocation is RESERVED or DELIVERING, not %q", a.ID, a.Status)
	case a.CreatedAt.IsZero():
		return hub.Errorf(hub.EINVALID, "allocation %q has no creation time", a.ID)
	}
	if err := SKU("allocation", a.ID, a.SKU); err != nil {
		return err
	}
	if err := Key("code hash", a.CodeHash); err != nil {
		return err
	}
	return Expiry(a.ID, a.ExpiresAt)
}

func Shortage(s *hub.Shortage) error {
	if s == nil {
		return hub.Errorf(hub.EINVALID, "shortage is missing")
	}
	if err := ID("shortage", s.ID); err != nil {
		return err
	}
	if err := ID("resident", s.ResidentID); err != nil {
		return err
	}
	if err := SKU("shortage", s.ID, s.SKU); err != nil {
		return err
	}
	switch {
	case s.Quantity <= 0:
		return hub.Errorf(hub.EINVALID, "shortage %q: quantity %d, want at least 1", s.ID, s.Quantity)
	case s.Status != hub.ShortageWaiting || s.AllocationID != "":
		return hub.Errorf(hub.EINVALID, "shortage %q: a new registration is WAITING, without an allocation", s.ID)
	}
	return nil
}

func Declaration(d *hub.Declaration) error {
	if d == nil {
		return hub.Errorf(hub.EINVALID, "declaration is missing")
	}
	for _, ref := range []struct{ kind, id string }{
		{"declaration", d.ID}, {"resident", d.ResidentID}, {"filer", d.FiledBy},
	} {
		if err := ID(ref.kind, ref.id); err != nil {
			return err
		}
	}
	if err := Ref("district", d.DistrictID); err != nil {
		return err
	}
	if err := Key("subject", d.SubjectID); err != nil {
		return err
	}
	switch {
	case !d.Colour.Valid():
		return hub.Errorf(hub.EINVALID, "declaration %q: unknown colour %q", d.ID, d.Colour)
	case !d.FiledByKind.Valid():
		return hub.Errorf(hub.EINVALID, "declaration %q: unknown filer kind %q", d.ID, d.FiledByKind)
	case len(d.Symptoms) > hub.MaxSymptoms:
		return hub.Errorf(hub.EINVALID, "declaration %q: %d symptoms, at most %d", d.ID, len(d.Symptoms), hub.MaxSymptoms)
	}
	for _, sym := range d.Symptoms {
		if sym == "" || len(sym) > hub.MaxSymptomLen || !utf8.ValidString(sym) {
			return hub.Errorf(hub.EINVALID, "declaration %q: a symptom is empty, not UTF-8 or longer than %d bytes", d.ID, hub.MaxSymptomLen)
		}
	}
	for _, r := range d.Reasons {
		if err := Key("reason", r); err != nil {
			return err
		}
	}
	if err := hub.CheckTemperature(d.Temperature); err != nil {
		return err
	}
	return Time("declaration "+d.ID, d.At)
}

func RiskArea(a *hub.RiskArea) error {
	if a == nil {
		return hub.Errorf(hub.EINVALID, "risk area is missing")
	}
	if err := ID("risk area", a.ID); err != nil {
		return err
	}
	if err := Key("risk area reason", a.Reason); err != nil {
		return err
	}
	switch {
	case a.Cell == 0:
		return hub.Errorf(hub.EINVALID, "risk area %q has no centre cell", a.ID)
	case a.Rings < 0 || a.Rings > hub.MaxRiskRings:
		return hub.Errorf(hub.EINVALID, "risk area %q: %d rings, want 0 to %d", a.ID, a.Rings, hub.MaxRiskRings)
	case len(a.Cells) == 0 || len(a.Cells) > 3*a.Rings*(a.Rings+1)+1:
		return hub.Errorf(hub.EINVALID, "risk area %q: %d cells for %d rings", a.ID, len(a.Cells), a.Rings)
	}
	if err := Time("risk area "+a.ID, a.MarkedAt); err != nil {
		return err
	}
	if !a.LiftedAt.IsZero() {
		if err := Time("risk area "+a.ID+" lifting", a.LiftedAt); err != nil {
			return err
		}
	}
	centre := false
	for i, c := range a.Cells {
		if c.Cell == 0 || !c.Level.Valid() {
			return hub.Errorf(hub.EINVALID, "risk area %q: cell %d is zero or has an unknown level %q", a.ID, i, c.Level)
		}
		if i > 0 && c.Cell <= a.Cells[i-1].Cell {
			return hub.Errorf(hub.EINVALID, "risk area %q: cells are not sorted and distinct", a.ID)
		}
		if c.Cell == a.Cell {
			centre = c.Level == hub.RiskHigh
		}
	}
	if !centre {
		return hub.Errorf(hub.EINVALID, "risk area %q: the centre is not among its cells as HIGH", a.ID)
	}
	return nil
}

func HealthCode(c *hub.HealthCode) error {
	if c == nil {
		return hub.Errorf(hub.EINVALID, "health code is missing")
	}
	if err := ID("resident", c.ResidentID); err != nil {
		return err
	}
	if c.SubjectID == "" {
		return hub.Errorf(hub.EINVALID, "health code of %q has no subject", c.ResidentID)
	}
	if err := Key("subject", c.SubjectID); err != nil {
		return err
	}
	if err := Ref("district", c.DistrictID); err != nil {
		return err
	}
	if err := Ref("committee", c.CommitteeID); err != nil {
		return err
	}
	if !c.Colour.Valid() {
		return hub.Errorf(hub.EINVALID, "health code of %q: unknown colour %q", c.ResidentID, c.Colour)
	}
	// The version is stored as an int64, and one more than it must fit.
	if c.Version >= math.MaxInt64 {
		return hub.Errorf(hub.EINVALID, "health code of %q: version out of range", c.ResidentID)
	}
	for _, r := range c.Reasons {
		if err := Key("reason", r); err != nil {
			return err
		}
	}
	return Time("health code of "+c.ResidentID, c.UpdatedAt)
}

func Scan(i int, sc *hub.Scan) error {
	if sc == nil {
		return hub.Errorf(hub.EINVALID, "scan %d of the batch is missing", i)
	}
	if err := ID("scan", sc.ID); err != nil {
		return err
	}
	if err := ID("checkpoint", sc.CheckpointID); err != nil {
		return err
	}
	if err := Ref("resident", sc.ResidentID); err != nil {
		return err
	}
	if err := Ref("subject", sc.SubjectID); err != nil {
		return err
	}
	switch {
	case sc.ResidentID == "" && sc.SubjectID == "":
		return hub.Errorf(hub.EINVALID, "scan %q names no resident and no subject", sc.ID)
	case sc.Cell == 0:
		return hub.Errorf(hub.EINVALID, "scan %q has no cell", sc.ID)
	case !sc.Result.Valid():
		return hub.Errorf(hub.EINVALID, "scan %q: unknown result %q", sc.ID, sc.Result)
	case !sc.Colour.Valid():
		return hub.Errorf(hub.EINVALID, "scan %q: unknown colour %q", sc.ID, sc.Colour)
	}
	if err := hub.CheckTemperature(sc.Temperature); err != nil {
		return hub.Errorf(hub.EINVALID, "scan %q: %s", sc.ID, hub.MessageOf(err))
	}
	return Time("scan "+sc.ID, sc.At)
}

// RoundFrom checks the statuses a guarded round update may move from: at
// least one, each known; otherwise an EINVALID error naming the round.
func RoundFrom(id string, from []hub.RoundStatus) error {
	if len(from) == 0 {
		return hub.Errorf(hub.EINVALID, "round %q: an update needs the statuses it may move from", id)
	}
	for _, st := range from {
		if err := Enum("round status", st, RoundStatuses); err != nil {
			return err
		}
	}
	return nil
}

// RoundMove returns the ECONFLICT error of an UpdateRound that may not
// replace round id, stored with status and commitment, by a round
// committed to next, moving from the statuses from: the stored status is
// not one of from, or the update would change a commitment written
// before. It returns nil when the update may be written.
func RoundMove(id string, status hub.RoundStatus, commitment, next string, from []hub.RoundStatus) error {
	switch {
	case !slices.Contains(from, status):
		return hub.Errorf(hub.ECONFLICT, "round %q is %s, not %s", id, status, joinStatuses(from))
	case commitment != "" && commitment != next:
		return hub.Errorf(hub.ECONFLICT, "round %q is already committed to %s", id, commitment)
	}
	return nil
}

// joinStatuses writes statuses as "A or B or C" for an error message.
func joinStatuses[T ~string](ss []T) string {
	out := ""
	for i, st := range ss {
		if i > 0 {
			out += " or "
		}
		out += string(st)
	}
	return out
}
