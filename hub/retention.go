package hub

import (
	"context"
	"time"
)

// RecordKind names a kind of personal record that the hub keeps for a
// retention period and then deletes (Store.Sweep).
type RecordKind string

// The kinds of personal record with a retention period.
const (
	// RecordScans are checkpoint scans: the trajectories and contacts
	// built from them are read from these and nothing else.
	RecordScans RecordKind = "SCANS"
	// RecordDeclarations are health declarations.
	RecordDeclarations RecordKind = "DECLARATIONS"
	// RecordAudit are entries of the audit trail of reads of personal
	// data.
	RecordAudit RecordKind = "AUDIT"
	// RecordDispatch are the reservations and allocations of rounds that
	// are over (CLOSED or DRAWN), by the time their round closed.
	RecordDispatch RecordKind = "DISPATCH"
	// RecordShortages are shortage registrations (the waiting list): a
	// SERVED one by the time it was served, once its allocation is final
	// (with that allocation when it is of no round), a WAITING one by the
	// time it was registered. They keep the dispatch period.
	RecordShortages RecordKind = "SHORTAGES"
	// RecordCases are the case and contact marks of a resident (markCase
	// and the contacts traced from it), by the latest of the two. They
	// keep the scans period: the marks are what tracing found in scans.
	RecordCases RecordKind = "CASES"
	// RecordCodes are the stored health codes of residents, with their
	// health-code subject (the pseudonym their tokens carry): a code goes
	// once it was last changed before the cutoff and the resident has no
	// declaration and no case mark left, so it no longer rests on any
	// fact. They keep the declarations period.
	RecordCodes RecordKind = "CODES"
)

// RecordKinds returns every kind of record with a retention period.
func RecordKinds() []RecordKind {
	return []RecordKind{RecordScans, RecordDeclarations, RecordDispatch, RecordShortages, RecordCases, RecordCodes, RecordAudit}
}

// Valid reports whether k is one of the kinds above.
func (k RecordKind) Valid() bool {
	switch k {
	case RecordScans, RecordDeclarations, RecordAudit, RecordDispatch, RecordShortages, RecordCases, RecordCodes:
		return true
	}
	return false
}

// Limits of sweeps and legal holds, the same for every backend.
const (
	// MaxSweepBatch bounds the records one Sweep call examines.
	MaxSweepBatch = 10000
	// DefaultSweepBatch is the batch of a SweepRequest whose Limit is
	// zero or negative.
	DefaultSweepBatch = 1000
	// MaxHoldResidents bounds the residents one hold names.
	MaxHoldResidents = 1000
	// MaxHoldReason is the most characters (runes) a hold's reason may
	// have: with the hold's ID and end it is the purpose of the audit
	// entries of the act, which MaxAuditPurpose bounds.
	MaxHoldReason = 400
	// MaxHoldSpan is the longest a hold may run from the act that places
	// or extends it: a longer hold takes another explicit extension.
	MaxHoldSpan = 180 * 24 * time.Hour
)

// Hold is a legal hold: the records of the residents it names are kept
// beyond their retention period while it is in force (not lifted, and
// Until later than now). It is placed by a district for a confirmed case
// of its own (the case and the case's traced contacts); it ends at Until
// unless it is extended, which is an explicit act (ExtendHold), or lifted.
type Hold struct {
	ID          string
	DistrictID  string
	CaseID      string   // the resident marked a case
	ResidentIDs []string // the people concerned, sorted, the case among them
	Reason      string
	PlacedBy    string // the token subject of who placed it
	PlacedAt    time.Time
	Until       time.Time
	Extensions  int       // times it was extended
	LiftedAt    time.Time // zero unless lifted
}

// InForce reports whether the hold keeps records at t.
func (h *Hold) InForce(t time.Time) bool { return h.LiftedAt.IsZero() && t.Before(h.Until) }

// SweepRequest asks for one batch of a sweep of expired records.
type SweepRequest struct {
	Kind RecordKind
	// Before: records older than this are expired (a scan's At, a
	// declaration's At, an audit entry's At, a round's Closes, a shortage
	// registration's UpdatedAt when served, CreatedAt when waiting, the
	// latest of a resident's case and contact marks, a health code's
	// UpdatedAt).
	Before time.Time
	// Now decides which holds are in force.
	Now time.Time
	// From resumes a pass where the previous batch stopped (its Next);
	// nil starts at the beginning.
	From []byte
	// Limit bounds the records examined (DefaultSweepBatch when <= 0,
	// never more than MaxSweepBatch).
	Limit int
}

// SweepResult says what one batch did.
type SweepResult struct {
	Deleted int // records deleted
	// Held counts expired records kept because a hold in force names
	// their person (for declarations: such persons, once each).
	Held int
	// Next resumes the pass; nil when the pass is over.
	Next []byte
	// Expired counts, by sort, cell, supply and status, the deleted
	// records that the dashboards count (health codes, reservations,
	// allocations, shortage registrations), sorted, for the
	// RECORDS_EXPIRED event; empty when there are none.
	Expired []ExpiredCount
}

// ExpiredRecord names a sort of record the dashboards count, as a sweep
// reports its deletion (ExpiredCount).
type ExpiredRecord string

// The sorts of counted record a sweep deletes.
const (
	ExpiredHealthCode  ExpiredRecord = "HEALTH_CODE" // counted by colour
	ExpiredReservation ExpiredRecord = "RESERVATION" // counted while open (PENDING, WAITING)
	ExpiredAllocation  ExpiredRecord = "ALLOCATION"  // counted by status
	ExpiredShortage    ExpiredRecord = "SHORTAGE"    // counted while WAITING
)

// ExpiredCount counts the records of one sort, cell, supply and status
// that one sweep batch deleted.
type ExpiredCount struct {
	Record ExpiredRecord
	Cell   Cell   // zero when the record had none
	SKU    SKU    // of a reservation (its round's), allocation or shortage registration
	Status string // a health code's colour; the status of the others
	Count  int
}

// RetentionStore is the part of Store that deletes expired personal
// records and keeps legal holds.
type RetentionStore interface {
	// Sweep deletes, in one short durable write, up to r.Limit expired
	// records of r.Kind with every index entry that names them, keeping
	// those of residents a hold in force at r.Now names. It is guarded:
	// a record already deleted (by another hub, or an earlier call) is
	// not there to delete again, so a second pass is a no-op. Counters
	// that hold no person (the dashboards' aggregates) are adjusted, not
	// deleted: a resident's latest declaration that expires leaves the
	// declaration aggregate. An unknown kind or a zero Before is EINVALID.
	Sweep(ctx context.Context, r SweepRequest) (SweepResult, error)

	// PutHold stores a new hold; an ID already used is ECONFLICT. It needs
	// an ID, a DistrictID, a CaseID among ResidentIDs (at most
	// MaxHoldResidents), a Reason, a non-zero PlacedAt and an Until after
	// it.
	PutHold(ctx context.Context, h *Hold) error
	// ExtendHold moves a hold's Until to a later time, counting the
	// extension, and returns it. An unknown hold is ENOTFOUND; a lifted
	// one, one no longer in force at at, or an until not later than the
	// stored one is ECONFLICT.
	ExtendHold(ctx context.Context, id string, until, at time.Time) (*Hold, error)
	// LiftHold lifts a hold in force at at and returns it: ENOTFOUND,
	// or ECONFLICT when it is lifted already or has ended.
	LiftHold(ctx context.Context, id string, at time.Time) (*Hold, error)
	// Hold returns a hold, or ENOTFOUND.
	Hold(ctx context.Context, id string) (*Hold, error)
	// Holds lists holds in ID order, those of one district when
	// districtID is not empty.
	Holds(ctx context.Context, districtID string) ([]*Hold, error)
}
