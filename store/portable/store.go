// Package portable is the one implementation of hub.Store: the portable
// layer in front of a narrow driver (store/driver), after google/go-cloud's
// docstore. It owns everything a record means: the records and their
// encoding (records.go: JSON whose names are the format, independent of
// Go's field names), the buckets and index keys that make every query one
// key range or a few walked together, validation (store/storecheck), the
// stock ledger and its reasons, state transitions and their guards, stock
// conservation and the error codes. A driver owns persistence only: bbolt
// (store/boltstore, the embedded default) or MongoDB (store/mongostore).
// Both run the conformance suite (store/storetest) through this package.
//
// Every write is one driver.Update whose function checks everything before
// it changes anything: an application error (*hub.Error) leaves the
// transaction as it found it, so a driver may commit it with other writes
// (bbolt's group commit does). A rule that spans records — stock never
// below zero, one reservation per person per round, a code held by one
// committee — is a read, a check and a write in one Update; the driver's
// transactions are serializable, which makes that atomic however many hubs
// share the data.
//
// Layout: one bucket per record kind keyed by ID, with records as JSON;
// index buckets map a committee code and a resident's ID hash to an ID;
// residentsByCommittee holds committeeID+0x00+residentID keys for paging;
// the ledger bucket holds, per pharmacy, one key range: the pharmacy's
// allocations (its index by pharmacy), then its stock ledger keyed by
// inverted big-endian sequence numbers, newest first, so that what a
// reservation adds to both is on one page (pharmacies.go; format 1 had a
// nested ledger bucket per pharmacy and an allocationsByPharmacy bucket,
// which New moves: migrate.go). AdjustStock leaves a pharmacy's UpdatedAt
// as its last upsert set it; the ledger entries carry the times of stock
// changes. The audit trail
// is a bucket keyed by big-endian sequence numbers, indexed by
// auditByTarget and auditByActor, whose keys are an ID, 0x00 and the
// big-endian sequence number. The hub's settings (Meta, SwapMeta) are the
// settings bucket, name to value; the meta bucket is the store's own.
//
// Dispatch records (rounds, reservations, allocations, partners,
// shortages) are JSON in a bucket per kind keyed by ID, with index buckets
// so that every query walks one key range, or several together (a
// leapfrog, as for the audit trail), and never scans: composite keys join
// their parts with 0x00 (IDs hold no NUL bytes) and end in the record's ID
// so a range sorts by ID. Unique indexes map a key to an ID:
// reservationsByHash (roundID 0x00 idHash), reservationsByKey (roundID
// 0x00 idempotencyKey), allocationsByCode (codeHash) and shortagesWaiting
// (residentID 0x00 sku, WAITING registrations only). Listing indexes have
// empty values: roundsByStatus (status 0x00 id), reservationsByRound
// (roundID 0x00 id), reservationsByRoundStatus (roundID 0x00 status 0x00
// id), allocationsByPartner, allocationsByRound and allocationsByStatus
// (the field 0x00 id), a pharmacy's allocations in the ledger bucket
// (pharmacyID 0x00 'a' id), shortagesBySKU and
// shortagesByStatus (the field 0x00 id). allocationsByExpiry holds the
// RESERVED allocations that have an expiry, keyed by the big-endian unix
// nanoseconds of ExpiresAt followed by the ID; any move out of RESERVED
// removes the entry. Allocate and TransitionAllocation change stock
// through the same helpers as AdjustStock, with ALLOCATE and RETURN ledger
// entries, in the transaction that changes the allocation. The guards
// bucket counts, in the same transactions, the places taken in each
// pickup slot and the units each committee holds per round, and Allocate
// and ReserveAllocated refuse a slot or quota beyond its limit (guards.go).
//
// The records a reservation writes (reservation, allocation, pharmacy,
// ledger entry) and the resident it reads have their JSON written and read
// by hand (recjson.go), byte for byte what encoding/json writes, with
// encoding/json reading any other form. Buckets whose keys grow at their
// end on a reservation pack their pages fuller when they split (growing),
// so that a group commit writes fewer of them.
//
// Pharmacies and rounds, read on every reservation, are kept decoded beside
// the bytes they were decoded from (decoded.go): a read reuses the decoded
// record only when the bytes it reads in its own transaction are the same,
// so what any hub sharing the store wrote is never served stale.
//
// Health codes and checkpoint scans (codes.go) follow the same habits;
// scans are clustered by person and time so that a trajectory is one key
// range, and indexed by cell and time so that the scans near a case are a
// few more.
package portable

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

const (
	// schemaVersion is stored in the meta bucket; New refuses data written
	// with another layout, but for version 1, which it moves to this one
	// (migrate.go).
	schemaVersion = "2"
	// schemaV1 had a nested bucket per pharmacy for the stock ledger.
	schemaV1 = "1"
)

// Bucket names.
const (
	bktMeta                 = "meta"
	bktSettings             = "settings" // hub.Store.Meta: name -> value
	bktDistricts            = "districts"
	bktCommittees           = "committees"
	bktCommitteeCodes       = "committeeCodes"
	bktResidents            = "residents"
	bktResidentHashes       = "residentHashes"
	bktResidentsByCommittee = "residentsByCommittee"
	bktResidentCounts       = "residentCounts"
	bktPharmacies           = "pharmacies"
	bktLedger               = "ledger"
	bktCheckpoints          = "checkpoints"
	bktAudit                = "audit"
	bktAuditByTarget        = "auditByTarget"
	bktAuditByActor         = "auditByActor"

	bktRounds            = "rounds"
	bktRoundsByStatus    = "roundsByStatus" // status 0x00 roundID
	bktReservations      = "reservations"
	bktResvByHash        = "reservationsByHash"        // roundID 0x00 idHash -> reservationID
	bktResvByKey         = "reservationsByKey"         // roundID 0x00 idempotencyKey -> reservationID
	bktResvByRound       = "reservationsByRound"       // roundID 0x00 reservationID
	bktResvByRoundStatus = "reservationsByRoundStatus" // roundID 0x00 status 0x00 reservationID
	bktAllocations       = "allocations"
	bktAllocByCode       = "allocationsByCode"    // codeHash -> allocationID
	bktAllocByPartner    = "allocationsByPartner" // partnerID 0x00 allocationID
	// bktAllocByPharmacy held pharmacyID 0x00 allocationID in format 1;
	// format 2 keeps those in the ledger bucket (pharmacies.go).
	bktAllocByPharmacy   = "allocationsByPharmacy"
	bktAllocByRound      = "allocationsByRound"  // roundID 0x00 allocationID
	bktAllocByStatus     = "allocationsByStatus" // status 0x00 allocationID
	bktAllocExpiry       = "allocationsByExpiry" // big-endian unix nanos of ExpiresAt, allocationID
	bktPartners          = "partners"
	bktShortages         = "shortages"
	bktShortagesBySKU    = "shortagesBySKU"    // sku 0x00 shortageID
	bktShortagesByStatus = "shortagesByStatus" // status 0x00 shortageID
	bktShortagesWaiting  = "shortagesWaiting"  // residentID 0x00 sku -> shortageID, WAITING only
)

// Keys of the meta bucket.
const (
	metaVersion   = "version"
	metaResidents = "residents" // count of all residents
	// metaMigrating is there while the move from version 1 runs: it names
	// what is left to move ("ledger").
	metaMigrating = "migrating"
)

// BucketNames returns the names of the top-level buckets the store uses.
func BucketNames() []string {
	return append([]string{
		bktMeta, bktSettings, bktDistricts, bktCommittees, bktCommitteeCodes,
		bktResidents, bktResidentHashes, bktResidentsByCommittee,
		bktResidentCounts, bktPharmacies, bktLedger, bktCheckpoints,
		bktAudit, bktAuditByTarget, bktAuditByActor,
		bktRounds, bktRoundsByStatus,
		bktReservations, bktResvByHash, bktResvByKey, bktResvByRound, bktResvByRoundStatus,
		bktAllocations, bktAllocByCode, bktAllocByPartner,
		bktAllocByRound, bktAllocByStatus, bktAllocExpiry, bktGuards,
		bktPartners, bktShortages, bktShortagesBySKU, bktShortagesByStatus, bktShortagesWaiting,
	}, append(codesBucketNames(), retentionBucketNames()...)...)
}

// Options configures New. The zero value is usable.
type Options struct {
	// Now is the clock of the times the store sets itself (a new
	// pharmacy's INITIAL entries without a date, SetReservationStatus);
	// time.Now when nil.
	Now func() time.Time
}

// Store is the portable store: a hub.Store on a driver. It is safe for
// concurrent use when the driver is.
type Store struct {
	d      driver.Driver
	now    func() time.Time
	closed atomic.Bool
	// pharmacies and rounds keep those records decoded (decoded.go).
	pharmacies *decoded[pharmacyRec]
	rounds     *decoded[roundRec]
}

var _ hub.Store = (*Store)(nil)

// New prepares d's buckets, checks the layout version of the data it
// holds (writing it into new data) and returns the store on d. The store
// owns d: Close closes it.
func New(ctx context.Context, d driver.Driver, opts Options) (*Store, error) {
	s := Attach(d, opts)
	if err := d.Prepare(ctx, BucketNames()); err != nil {
		return nil, err
	}
	var migrate bool
	err := d.Update(ctx, func(tx driver.Tx) error {
		meta := bucket(tx, bktMeta)
		switch v := meta.Get([]byte(metaVersion)); {
		case v == nil:
			return put(meta, []byte(metaVersion), []byte(schemaVersion))
		case string(v) == schemaV1:
			// Version 2 from now on, so that no build that reads only
			// version 1 opens the data half moved; what is left to
			// move is noted until it is moved.
			migrate = true
			if err := put(meta, []byte(metaVersion), []byte(schemaVersion)); err != nil {
				return err
			}
			return put(meta, []byte(metaMigrating), []byte(bktLedger))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this build reads %q", v, schemaVersion)
		}
		migrate = meta.Get([]byte(metaMigrating)) != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := s.migrateLedgers(ctx); err != nil {
			return nil, fmt.Errorf("store: move the stock ledgers to format %s: %w", schemaVersion, err)
		}
	}
	return s, nil
}

// Attach returns the store on d without a call to d: for data that New
// prepared before, or a test's driver that never reaches its backend.
func Attach(d driver.Driver, opts Options) *Store {
	s := &Store{d: d, now: opts.Now,
		pharmacies: newDecoded("pharmacy", clonePharmacy), rounds: newDecoded("round", cloneRound)}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Close closes the driver. Calls after Close fail with an error matching
// driver.ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.d.Close()
}

// Ping reports whether the driver answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.d.Ping(ctx)
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(tx driver.Tx) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.d.View(ctx, fn)
}

// write runs apply in a read-write transaction; apply checks everything
// before it changes anything (see the package documentation).
func (s *Store) write(ctx context.Context, apply func(tx driver.Tx) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.d.Update(ctx, apply)
}

// checkOpen returns the error a call would get for an ended ctx or a
// closed store, or nil.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return driver.ErrClosed
	}
	return nil
}

// isAppError reports whether err carries a *hub.Error: an outcome for the
// caller rather than a failure of the store.
func isAppError(err error) bool {
	var e *hub.Error
	return errors.As(err, &e)
}
