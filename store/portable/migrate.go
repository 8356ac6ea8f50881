package portable

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/gridhub/gridhub/store/driver"
)

// migrateKeys bounds the keys one write of the move moves (but a
// pharmacy's keys all move in one write): a bounded transaction, however
// large the data.
const migrateKeys = 5_000

// migrateLedgers moves format 1's per-pharmacy data to format 2's layout
// of the ledger bucket (pharmacies.go): each pharmacy's nested ledger
// bucket, its entries keyed by their sequence numbers, becomes the
// entries' keys in the pharmacy's range of the ledger bucket, with the
// same numbers and values, and its keys of allocationsByPharmacy
// (pharmacyID 0x00 allocationID) move there too. Then it removes the note
// that the move runs.
//
// It is safe to cut short at any point: each write moves whole
// pharmacies (copies their keys and deletes the old ones in one
// transaction), the data says version 2 from before the first one, so no
// build that reads only format 1 opens it, and the note in the meta
// bucket makes the next New finish the move. A pharmacy with old keys left
// is moved; one without has been. Pharmacies are never removed, so their
// records name every pharmacy there is data of.
func (s *Store) migrateLedgers(ctx context.Context) error {
	var ids [][]byte
	err := s.d.View(ctx, func(tx driver.Tx) error {
		ids = ids[:0]
		return bucket(tx, bktPharmacies).ForEach(func(k, _ []byte) error {
			ids = append(ids, bytes.Clone(k))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		var done int
		err := s.d.Update(ctx, func(tx driver.Tx) error {
			done = 0
			moved := 0
			for _, id := range ids {
				if moved >= migrateKeys {
					break
				}
				n, err := movePharmacy(tx, string(id))
				if err != nil {
					return err
				}
				moved += n
				done++
			}
			return nil
		})
		if err != nil {
			return err
		}
		ids = ids[done:]
	}
	return s.d.Update(ctx, func(tx driver.Tx) error {
		return bucket(tx, bktMeta).Delete([]byte(metaMigrating))
	})
}

// movePharmacy moves one pharmacy's keys of format 1, if it has any left,
// and returns how many it moved.
func movePharmacy(tx driver.Tx, id string) (int, error) {
	ledger := bucket(tx, bktLedger)
	type entry struct{ k, v []byte }
	var entries []entry
	var allocs [][]byte // keys of allocationsByPharmacy
	nb := ledger.Bucket([]byte(id))
	if nb != nil {
		if err := nb.ForEach(func(k, v []byte) error {
			entries = append(entries, entry{bytes.Clone(k), bytes.Clone(v)})
			return nil
		}); err != nil {
			return 0, err
		}
	}
	old := tx.Bucket(bktAllocByPharmacy)
	prefix := ikey(id, "")
	if old != nil {
		c := old.Cursor()
		for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			allocs = append(allocs, bytes.Clone(k))
		}
	}
	for _, e := range entries {
		if len(e.k) != 8 {
			return 0, fmt.Errorf("store: ledger of pharmacy %q has key %q", id, e.k)
		}
		if err := put(ledger, ledgerKey(id, binary.BigEndian.Uint64(e.k)), e.v); err != nil {
			return 0, err
		}
	}
	if nb != nil {
		if err := ledger.DeleteBucket([]byte(id)); err != nil {
			return 0, fmt.Errorf("store: delete the format 1 ledger of pharmacy %q: %w", id, err)
		}
	}
	for _, a := range allocs {
		if err := mark(ledger, pharmacyAllocKey(id, string(a[len(prefix):]))); err != nil {
			return 0, err
		}
		if err := del(old, a); err != nil {
			return 0, err
		}
	}
	return len(entries) + len(allocs), nil
}
