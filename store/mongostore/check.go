package mongostore

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// The checks below refuse exactly what the embedded store refuses, so
// that callers see one behaviour whichever backend runs: they are the
// same rules, written again because each backend keeps its own.

// maxKeyLen bounds IDs, codes and hashes.
const maxKeyLen = 512

// checkID returns an EINVALID error unless id can be a record's ID: not
// empty, not too long, and free of NUL bytes.
func checkID(kind, id string) error {
	switch {
	case id == "":
		return hub.Errorf(hub.EINVALID, "%s ID is empty", kind)
	case len(id) > maxKeyLen:
		return hub.Errorf(hub.EINVALID, "%s ID is longer than %d bytes", kind, maxKeyLen)
	case strings.IndexByte(id, 0) >= 0:
		return hub.Errorf(hub.EINVALID, "%s ID %q contains a NUL byte", kind, id)
	}
	return nil
}

// checkRef is checkID for an optional reference to another record.
func checkRef(kind, id string) error {
	if id == "" {
		return nil
	}
	return checkID(kind, id)
}

// checkKey returns an EINVALID error unless v fits in an index key.
func checkKey(what, v string) error {
	if len(v) > maxKeyLen {
		return hub.Errorf(hub.EINVALID, "%s is longer than %d bytes", what, maxKeyLen)
	}
	return nil
}

// The known values of the dispatch enums.
var (
	roundStatuses       = []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed, hub.RoundDrawn}
	modes               = []hub.Mode{hub.FirstCome, hub.Lottery, hub.ByCommittee}
	fulfilments         = []hub.Fulfilment{hub.Pickup, hub.Delivery}
	reservationStatuses = []hub.ReservationStatus{
		hub.ReservationPending, hub.ReservationAllocated, hub.ReservationWaiting,
		hub.ReservationLost, hub.ReservationCancelled,
	}
	allocationStatuses = []hub.AllocationStatus{
		hub.AllocationReserved, hub.AllocationRedeemed, hub.AllocationExpired, hub.AllocationCancelled,
		hub.AllocationDelivering, hub.AllocationDelivered, hub.AllocationFailed,
	}
	shortageStatuses = []hub.ShortageStatus{hub.ShortageWaiting, hub.ShortageServed}
)

// checkEnum returns an EINVALID error unless v is one of known.
func checkEnum[T ~string](what string, v T, known []T) error {
	if !slices.Contains(known, v) {
		return hub.Errorf(hub.EINVALID, "unknown %s %q", what, v)
	}
	return nil
}

// checkFilterEnum is checkEnum for an optional filter value.
func checkFilterEnum[T ~string](what string, v T, known []T) error {
	if v == "" {
		return nil
	}
	return checkEnum(what, v, known)
}

// checkSKU returns an EINVALID error naming the record unless sku is a
// known supply.
func checkSKU(kind, id string, sku hub.SKU) error {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return hub.Errorf(hub.EINVALID, "%s %q: unknown supply %q", kind, id, sku)
	}
	return nil
}

// The range of times the time-ordered indexes hold, as the embedded
// store's: 1970 to 2262.
var (
	minKeyTime = time.Unix(0, 0)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// checkTime returns an EINVALID error unless t is a non-zero time in the
// indexes' range.
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return hub.Errorf(hub.EINVALID, "%s has no time", what)
	}
	if t.Before(minKeyTime) || t.After(maxKeyTime) {
		return hub.Errorf(hub.EINVALID, "%s: time %v is outside 1970 to 2262", what, t)
	}
	return nil
}

// checkExpiry returns an EINVALID error unless an ExpiresAt is zero (never
// expires) or within the indexes' range.
func checkExpiry(id string, t time.Time) error {
	if !t.IsZero() && (t.Before(minKeyTime) || t.After(maxKeyTime)) {
		return hub.Errorf(hub.EINVALID, "allocation %q: expiry %v is outside 1970 to 2262", id, t)
	}
	return nil
}

func checkAudit(i int, e *hub.AuditEntry) error {
	var err error
	switch {
	case e.Action == "":
		err = hub.Errorf(hub.EINVALID, "no action")
	case strings.TrimSpace(e.Purpose) == "":
		err = hub.Errorf(hub.EINVALID, "no purpose")
	case utf8.RuneCountInString(e.Purpose) > hub.MaxAuditPurpose:
		err = hub.Errorf(hub.EINVALID, "purpose longer than %d characters", hub.MaxAuditPurpose)
	case e.At.IsZero():
		err = hub.Errorf(hub.EINVALID, "no time")
	case e.Count < 0:
		err = hub.Errorf(hub.EINVALID, "negative count %d", e.Count)
	default:
		err = checkID("target", e.TargetID)
		if err == nil {
			err = checkRef("actor", e.ActorID)
		}
	}
	if err != nil {
		return hub.Errorf(hub.EINVALID, "audit entry %d of the batch: %s", i, hub.ErrorMessage(err))
	}
	return nil
}

func checkRound(r *hub.Round) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "round is missing")
	}
	if err := checkID("round", r.ID); err != nil {
		return err
	}
	if err := checkSKU("round", r.ID, r.SKU); err != nil {
		return err
	}
	if r.PerPerson <= 0 {
		return hub.Errorf(hub.EINVALID, "round %q: %d units per person, want at least 1", r.ID, r.PerPerson)
	}
	if err := checkEnum("mode", r.Mode, modes); err != nil {
		return err
	}
	if err := checkEnum("round status", r.Status, roundStatuses); err != nil {
		return err
	}
	for _, f := range r.Fulfilments {
		if err := checkEnum("fulfilment", f, fulfilments); err != nil {
			return err
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

func checkReservation(r *hub.Reservation) error {
	if r == nil {
		return hub.Errorf(hub.EINVALID, "reservation is missing")
	}
	if err := checkID("reservation", r.ID); err != nil {
		return err
	}
	if err := checkID("round", r.RoundID); err != nil {
		return err
	}
	if r.IDHash == "" {
		return hub.Errorf(hub.EINVALID, "reservation %q has no ID hash", r.ID)
	}
	if err := checkKey("ID hash", r.IDHash); err != nil {
		return err
	}
	if err := checkKey("idempotency key", r.IdempotencyKey); err != nil {
		return err
	}
	for _, ref := range []struct{ kind, id string }{
		{"resident", r.ResidentID}, {"committee", r.CommitteeID}, {"district", r.DistrictID},
	} {
		if err := checkRef(ref.kind, ref.id); err != nil {
			return err
		}
	}
	if r.Fulfilment != "" {
		if err := checkEnum("fulfilment", r.Fulfilment, fulfilments); err != nil {
			return err
		}
	}
	if err := checkEnum("reservation status", r.Status, reservationStatuses); err != nil {
		return err
	}
	if r.Status == hub.ReservationAllocated || r.AllocationID != "" {
		return hub.Errorf(hub.EINVALID, "reservation %q: only Allocate makes a reservation ALLOCATED", r.ID)
	}
	return nil
}

func checkAllocation(i int, a *hub.Allocation) error {
	if a == nil {
		return hub.Errorf(hub.EINVALID, "allocation %d of the batch is missing", i)
	}
	if err := checkID("allocation", a.ID); err != nil {
		return err
	}
	if err := checkID("pharmacy", a.PharmacyID); err != nil {
		return err
	}
	for _, ref := range []struct{ kind, id string }{
		{"round", a.RoundID}, {"reservation", a.ReservationID}, {"shortage", a.ShortageID},
		{"resident", a.ResidentID}, {"partner", a.PartnerID},
	} {
		if err := checkRef(ref.kind, ref.id); err != nil {
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
	if err := checkSKU("allocation", a.ID, a.SKU); err != nil {
		return err
	}
	if err := checkKey("code hash", a.CodeHash); err != nil {
		return err
	}
	return checkExpiry(a.ID, a.ExpiresAt)
}

func checkShortage(s *hub.Shortage) error {
	if s == nil {
		return hub.Errorf(hub.EINVALID, "shortage is missing")
	}
	if err := checkID("shortage", s.ID); err != nil {
		return err
	}
	if err := checkID("resident", s.ResidentID); err != nil {
		return err
	}
	if err := checkSKU("shortage", s.ID, s.SKU); err != nil {
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

func checkDeclaration(d *hub.Declaration) error {
	if d == nil {
		return hub.Errorf(hub.EINVALID, "declaration is missing")
	}
	for _, ref := range []struct{ kind, id string }{
		{"declaration", d.ID}, {"resident", d.ResidentID}, {"filer", d.FiledBy},
	} {
		if err := checkID(ref.kind, ref.id); err != nil {
			return err
		}
	}
	if err := checkRef("district", d.DistrictID); err != nil {
		return err
	}
	if err := checkKey("subject", d.SubjectID); err != nil {
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
		if err := checkKey("reason", r); err != nil {
			return err
		}
	}
	if err := hub.CheckTemperature(d.Temperature); err != nil {
		return err
	}
	return checkTime("declaration "+d.ID, d.At)
}

func checkRiskArea(a *hub.RiskArea) error {
	if a == nil {
		return hub.Errorf(hub.EINVALID, "risk area is missing")
	}
	if err := checkID("risk area", a.ID); err != nil {
		return err
	}
	if err := checkKey("risk area reason", a.Reason); err != nil {
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
	if err := checkTime("risk area "+a.ID, a.MarkedAt); err != nil {
		return err
	}
	if !a.LiftedAt.IsZero() {
		if err := checkTime("risk area "+a.ID+" lifting", a.LiftedAt); err != nil {
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

func checkHealthCode(c *hub.HealthCode) error {
	if c == nil {
		return hub.Errorf(hub.EINVALID, "health code is missing")
	}
	if err := checkID("resident", c.ResidentID); err != nil {
		return err
	}
	if c.SubjectID == "" {
		return hub.Errorf(hub.EINVALID, "health code of %q has no subject", c.ResidentID)
	}
	if err := checkKey("subject", c.SubjectID); err != nil {
		return err
	}
	if err := checkRef("district", c.DistrictID); err != nil {
		return err
	}
	if err := checkRef("committee", c.CommitteeID); err != nil {
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
		if err := checkKey("reason", r); err != nil {
			return err
		}
	}
	return checkTime("health code of "+c.ResidentID, c.UpdatedAt)
}

func checkScan(i int, sc *hub.Scan) error {
	if sc == nil {
		return hub.Errorf(hub.EINVALID, "scan %d of the batch is missing", i)
	}
	if err := checkID("scan", sc.ID); err != nil {
		return err
	}
	if err := checkID("checkpoint", sc.CheckpointID); err != nil {
		return err
	}
	if err := checkRef("resident", sc.ResidentID); err != nil {
		return err
	}
	if err := checkRef("subject", sc.SubjectID); err != nil {
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
		return hub.Errorf(hub.EINVALID, "scan %q: %s", sc.ID, hub.ErrorMessage(err))
	}
	return checkTime("scan "+sc.ID, sc.At)
}
