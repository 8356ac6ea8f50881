package hub

import (
	"context"
	"errors"
)

// Store is what the hub needs from durable storage. One implementation,
// store/portable, keeps it on either driver (the embedded default and
// MongoDB) and passes the conformance suite in store/storetest over each.
//
// Rules every backend keeps:
//   - a method returns only after its writes are durable;
//   - a missing record is an ENOTFOUND error, a unique-key clash an
//     ECONFLICT error, a stock change that would go below zero an
//     EOUTOFSTOCK error, all as *Error;
//   - returned records are copies the caller may change;
//   - lists are ordered by ID unless a method says otherwise.
type Store interface {
	// DispatchStore keeps rounds, reservations, allocations, partners and
	// shortages, and moves stock with allocations.
	DispatchStore

	// CodesStore keeps health declarations, risk areas, health codes,
	// case marks and checkpoint scans.
	CodesStore

	// RetentionStore deletes expired personal records and keeps legal
	// holds.
	RetentionStore

	// UpsertDistrict creates or replaces a district.
	UpsertDistrict(ctx context.Context, d *District) error
	District(ctx context.Context, id string) (*District, error)
	Districts(ctx context.Context) ([]*District, error)

	// UpsertCommittee creates or replaces committees. A code already held
	// by another committee is an ECONFLICT error and nothing is written.
	UpsertCommittees(ctx context.Context, cs ...*Committee) error
	Committee(ctx context.Context, id string) (*Committee, error)
	CommitteeByCode(ctx context.Context, code string) (*Committee, error)
	// Committees lists committees, those of one district when districtID
	// is not empty.
	Committees(ctx context.Context, districtID string) ([]*Committee, error)

	// CreateResidents adds new residents in one durable write. A resident
	// whose ID or IDHash is already registered (or repeated in the batch)
	// makes the whole call an ECONFLICT error naming it, and nothing is
	// written.
	CreateResidents(ctx context.Context, rs ...*Resident) error
	Resident(ctx context.Context, id string) (*Resident, error)
	ResidentByIDHash(ctx context.Context, idHash string) (*Resident, error)
	// Residents pages through residents in ID order: those with ID greater
	// than after, at most limit of them, of one committee when committeeID
	// is not empty.
	Residents(ctx context.Context, f ResidentFilter) ([]*Resident, error)
	CountResidents(ctx context.Context, committeeID string) (int, error)

	// UpsertPharmacies creates or updates pharmacies. Stock is not changed
	// by an upsert of an existing pharmacy (it moves only through
	// AdjustStock); a new pharmacy starts with the stock it is given, which
	// is recorded in the ledger as an INITIAL entry.
	UpsertPharmacies(ctx context.Context, ps ...*Pharmacy) error
	Pharmacy(ctx context.Context, id string) (*Pharmacy, error)
	Pharmacies(ctx context.Context) ([]*Pharmacy, error)
	// AdjustStock applies a stock change atomically, records it in the
	// ledger and returns the pharmacy as it is after the change. A change
	// that would take stock below zero is an EOUTOFSTOCK error and changes
	// nothing.
	AdjustStock(ctx context.Context, c StockChange) (*Pharmacy, error)
	// StockLedger lists the ledger entries of a pharmacy in order, those
	// with Seq greater than after, at most limit. A pharmacy's entries are
	// numbered 1, 2, 3 and so on, with no gap, in the order they were
	// written.
	StockLedger(ctx context.Context, pharmacyID string, after uint64, limit int) ([]StockEntry, error)

	UpsertCheckpoints(ctx context.Context, cs ...*Checkpoint) error
	Checkpoint(ctx context.Context, id string) (*Checkpoint, error)
	Checkpoints(ctx context.Context) ([]*Checkpoint, error)

	// Batch reads, for the loaders behind nested GraphQL fields: each
	// reads the records ids name in one round trip and returns them in
	// the order of ids, nil where there is none (not an error). An id may
	// repeat; no ids is an empty answer.
	PharmaciesByID(ctx context.Context, ids []string) ([]*Pharmacy, error)
	DistrictsByID(ctx context.Context, ids []string) ([]*District, error)
	CommitteesByID(ctx context.Context, ids []string) ([]*Committee, error)
	RoundsByID(ctx context.Context, ids []string) ([]*Round, error)
	AllocationsByID(ctx context.Context, ids []string) ([]*Allocation, error)

	// AppendAudit appends entries to the audit trail of reads of personal
	// data in one durable write and returns them with their Seq set, in
	// order; Seq is strictly increasing across calls and never reused. An
	// entry with an empty Action or TargetID, a blank Purpose or one longer
	// than MaxAuditPurpose characters, a zero At or a negative Count makes
	// the whole call an EINVALID error, and nothing is written. The trail
	// is append-only: no method changes an entry, and only the retention
	// sweep (Sweep of RecordAudit) removes one, once it has expired.
	AppendAudit(ctx context.Context, es ...AuditEntry) ([]AuditEntry, error)
	// AuditLog lists audit entries in Seq order: those of one target and/or
	// one actor when f says so, with Seq greater than f.After, at most
	// f.Limit of them (DefaultAuditLimit when f.Limit <= 0, never more than
	// MaxAuditLimit).
	AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Meta returns the value of a small setting the hub keeps in the
	// store (the fingerprints of its keys), or an ENOTFOUND error when key
	// holds none.
	Meta(ctx context.Context, key string) (string, error)
	// SwapMeta sets key to value if it holds old ("" for no value yet),
	// atomically however many hubs share the store, and returns what key
	// holds after the call: value when it was set, otherwise the value
	// that stopped it (not an error; ENOTFOUND when old is not empty and
	// key holds nothing). An empty key or value, a key longer than
	// MaxMetaKey bytes or holding a NUL byte, a value that is not UTF-8,
	// or a value (or old) longer than MaxMetaValue bytes is an EINVALID
	// error. A setting is never removed.
	SwapMeta(ctx context.Context, key, old, value string) (string, error)

	// Ping reports whether the store can serve: nil when it answers.
	Ping(ctx context.Context) error

	// Close releases the store. Calls after Close fail.
	Close() error
}

// Bounds of a setting kept with Store.SwapMeta.
const (
	MaxMetaKey   = 128
	MaxMetaValue = 1024
)

// ResidentFilter selects a page of residents.
type ResidentFilter struct {
	CommitteeID string
	After       string // exclusive ID cursor
	Limit       int    // <= 0 means no limit
}

// Errors of the store's guards on a round's limits. The store counts, in
// the transaction of each write, the places taken in every pickup slot of
// a round at every pharmacy (Round.SlotCapacity) and the units a
// committee holds or was handed in a COMMITTEE round (Round.Quotas), so
// the limits hold however many hubs share the store. An allocation holds
// its place and its units while its status does not Return stock.
// Allocate or ReserveAllocated that would take a slot beyond its capacity
// is an EOUTOFSTOCK error that matches ErrSlotFull with errors.Is; one
// that would take a committee beyond its quota (a committee without one
// in a COMMITTEE round has a quota of 0) is an EOUTOFSTOCK error that
// matches ErrQuotaExhausted. Nothing is written then. A TransitionAllocation
// to a status that Returns stock frees the place and the units.
var (
	ErrSlotFull       = errors.New("pickup slot full")
	ErrQuotaExhausted = errors.New("committee quota exhausted")
)
