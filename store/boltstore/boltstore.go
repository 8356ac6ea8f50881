// Package boltstore is Gridhub's embedded default store: a hub.Store on a
// single bbolt file, gridhub.db, in a data directory.
//
// Every write is durable when its method returns: bbolt fsyncs on commit.
// Writes go through a group commit. Each write is handed to one committer
// goroutine owned by the Store, which takes every write queued at that
// moment, applies them in order in one read-write transaction and commits
// once, so concurrent writers share one fsync. A write checks everything
// before it changes anything, so one that fails with an application error
// (*hub.Error) has written nothing and the others in its transaction still
// commit. Reads use their own read-only transactions and never wait for the
// committer.
//
// Layout: one bucket per record kind keyed by ID, with records as JSON;
// index buckets map a committee code and a resident's ID hash to an ID;
// residentsByCommittee holds committeeID+0x00+residentID keys for paging;
// the stock ledger is a bucket per pharmacy keyed by big-endian sequence
// numbers. AdjustStock leaves a pharmacy's UpdatedAt as its last upsert set
// it; the ledger entries carry the times of stock changes. The audit trail
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
// id), allocationsByPartner, allocationsByPharmacy, allocationsByRound and
// allocationsByStatus (the field 0x00 id), shortagesBySKU and
// shortagesByStatus (the field 0x00 id). allocationsByExpiry holds the
// RESERVED allocations that have an expiry, keyed by the big-endian unix
// nanoseconds of ExpiresAt followed by the ID; any move out of RESERVED
// removes the entry. Allocate and TransitionAllocation change stock
// through the same helpers as AdjustStock, with ALLOCATE and RETURN ledger
// entries, in the transaction that changes the allocation.
//
// Health codes and checkpoint scans (codes.go) follow the same habits;
// scans are clustered by person and time so that a trajectory is one key
// range, and indexed by cell and time so that the scans near a case are a
// few more.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gridhub/gridhub/hub"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the database file inside the data directory.
const FileName = "gridhub.db"

// ErrClosed is matched, with errors.Is, by the error of every call made on
// a Store after Close.
var ErrClosed = errors.New("boltstore: store is closed")

const (
	// schemaVersion is stored in the meta bucket; Open refuses a file
	// written with another layout.
	schemaVersion = "1"
	// maxGroup bounds the writes applied in one transaction, so that one
	// commit never holds a huge dirty set.
	maxGroup = 1024
	// lockTimeout is how long Open waits for another process to release
	// the file.
	lockTimeout = 2 * time.Second
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
	bktAllocByCode       = "allocationsByCode"     // codeHash -> allocationID
	bktAllocByPartner    = "allocationsByPartner"  // partnerID 0x00 allocationID
	bktAllocByPharmacy   = "allocationsByPharmacy" // pharmacyID 0x00 allocationID
	bktAllocByRound      = "allocationsByRound"    // roundID 0x00 allocationID
	bktAllocByStatus     = "allocationsByStatus"   // status 0x00 allocationID
	bktAllocExpiry       = "allocationsByExpiry"   // big-endian unix nanos of ExpiresAt, allocationID
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
)

func bucketNames() []string {
	return append([]string{
		bktMeta, bktSettings, bktDistricts, bktCommittees, bktCommitteeCodes,
		bktResidents, bktResidentHashes, bktResidentsByCommittee,
		bktResidentCounts, bktPharmacies, bktLedger, bktCheckpoints,
		bktAudit, bktAuditByTarget, bktAuditByActor,
		bktRounds, bktRoundsByStatus,
		bktReservations, bktResvByHash, bktResvByKey, bktResvByRound, bktResvByRoundStatus,
		bktAllocations, bktAllocByCode, bktAllocByPartner, bktAllocByPharmacy,
		bktAllocByRound, bktAllocByStatus, bktAllocExpiry,
		bktPartners, bktShortages, bktShortagesBySKU, bktShortagesByStatus, bktShortagesWaiting,
	}, codesBucketNames()...)
}

// Store is the embedded store. It is safe for concurrent use. Create one
// with Open and release it with Close.
type Store struct {
	db *bolt.DB

	ops       chan *op      // writes for the committer; unbuffered
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed by the committer when it ends
	closeOnce sync.Once
	closeErr  error
}

var _ hub.Store = (*Store)(nil)

// Open opens the store in dir, creating the directory (mode 0700) and the
// database file as needed. Only one process may have a directory open; Open
// gives up after a short wait for another holder.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("boltstore: no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: in use by another process: %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(prepare); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(dir); err != nil {
			_ = db.Close()
			return nil, err
		}
	}

	s := &Store{
		db:      db,
		ops:     make(chan *op),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// prepare creates the buckets and checks the schema version.
func prepare(tx *bolt.Tx) error {
	for _, name := range bucketNames() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket([]byte(bktMeta))
	switch v := meta.Get([]byte(metaVersion)); {
	case v == nil:
		if err := meta.Put([]byte(metaVersion), []byte(schemaVersion)); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	case string(v) != schemaVersion:
		return fmt.Errorf("schema version %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("boltstore: sync data directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("boltstore: sync data directory: %w", err)
	}
	return nil
}

// Close waits for the writes already taken by the committer, stops it and
// closes the database. Calls after Close, Close included, return an error
// matching ErrClosed.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.quit)
		<-s.stopped
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("boltstore: close: %w", err)
		}
	})
	if !first {
		return ErrClosed
	}
	return s.closeErr
}

// Ping reports whether the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error { return nil })
}

// view runs fn in a read-only transaction and translates bbolt's errors.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	switch {
	case err == nil:
		return nil
	case isAppError(err):
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return fmt.Errorf("boltstore: read: %w", err)
}

// isAppError reports whether err carries a *hub.Error: an outcome for the
// caller rather than a failure of the store.
func isAppError(err error) bool {
	var e *hub.Error
	return errors.As(err, &e)
}
