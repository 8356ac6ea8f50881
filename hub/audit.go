package hub

import "time"

// Limits of the audit trail, the same for every backend.
const (
	// MaxAuditPurpose is the most characters (runes) a stated purpose may
	// have.
	MaxAuditPurpose = 500
	// DefaultAuditLimit is the page size of an AuditFilter whose Limit is
	// zero or negative.
	DefaultAuditLimit = 100
	// MaxAuditLimit caps the page size of an AuditFilter.
	MaxAuditLimit = 1000
)

// AuditEntry records one read of personal data: who read whose data, when,
// what, and the purpose they stated.
type AuditEntry struct {
	Seq       uint64 // assigned by the store, strictly increasing
	At        time.Time
	ActorRole string // e.g. "COMMITTEE"
	ActorID   string // the scope id of the token (committee id, ...), "" for ADMIN
	Subject   string // the token subject
	Action    string // e.g. "resident", "committee.residents", "trajectory", "contacts"
	TargetID  string // whose data: a resident id, or a committee id for a listing
	Purpose   string // stated purpose, required non-empty, at most 500 characters
	Count     int    // records read
}

// AuditFilter selects audit entries: all of one target and/or one actor,
// entries with Seq greater than After, at most Limit (<= 0: default 100,
// max 1000).
type AuditFilter struct {
	TargetID, ActorID string
	After             uint64
	Limit             int
}
