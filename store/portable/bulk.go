package portable

import (
	"bytes"
	"context"
	"maps"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/storecheck"
)

// loadChunk is the records one write of LoadScans puts into one bucket.
const loadChunk = 50000

// LoadScans writes n scans, scan(i) the i-th, that the store does not hold
// yet: a generated city for the benchmarks, or millions of old scans
// imported into a new store. It fills the three buckets of scans one after
// the other, each in its own key order, in writes of loadChunk records, so
// each write appends to the end of one tree. Millions of scans load in
// minutes where RecordScans, whose writes insert at random places in three
// trees, takes half an hour for ten million.
//
// Each scan is checked as RecordScans checks it (its checkpoint must be
// stored), and a scan ID already stored or repeated is ECONFLICT, before
// anything is written. It is not one write: a failure halfway (a closed
// store, a full disk) leaves some of the scans stored, in some of their
// indexes. Not for a hub that serves: use it on a store nobody writes to.
// scan must return the same scan for the same i every time (it is called
// once per bucket).
func (s *Store) LoadScans(ctx context.Context, n int, scan func(i int) *hub.Scan) error {
	if n <= 0 {
		return s.checkOpen(ctx)
	}
	// One arena of keys per bucket, filled, sorted by an index and
	// written; each is dropped before the next is built.
	type arena struct {
		data []byte
		off  []int // key i is data[off[i]:off[i+1]]
	}
	key := func(a *arena, i int32) []byte { return a.data[a.off[i]:a.off[i+1]] }
	build := func(f func(sc *hub.Scan, k []byte) []byte) (*arena, error) {
		a := &arena{off: make([]int, 1, n+1)}
		for i := range n {
			sc := scan(i)
			if err := storecheck.Scan(i, sc); err != nil {
				return nil, err
			}
			a.data = f(sc, a.data)
			a.off = append(a.off, len(a.data))
		}
		return a, nil
	}
	order := func(a *arena) []int32 {
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
		cmp := func(x, y int32) int { return bytes.Compare(key(a, x), key(a, y)) }
		if !slices.IsSortedFunc(idx, cmp) {
			slices.SortFunc(idx, cmp)
		}
		return idx
	}
	// write puts the records in order, loadChunk a write; put returns the
	// value of record i, whose key is k.
	write := func(name string, a *arena, idx []int32, fill float64, put func(b driver.Bucket, i int32, k []byte) error) error {
		for len(idx) > 0 {
			part := idx[:min(len(idx), loadChunk)]
			idx = idx[len(part):]
			err := s.write(ctx, func(tx driver.Tx) error {
				b := bucket(tx, name)
				if h, ok := b.(driver.FillHinter); ok {
					h.SetFillPercent(fill)
				}
				for _, i := range part {
					if err := put(b, i, key(a, i)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}

	// The scan IDs first: they must be new, and the scans' checkpoints
	// stored.
	ids, err := build(func(sc *hub.Scan, k []byte) []byte { return append(k, sc.ID...) })
	if err != nil {
		return err
	}
	idx := order(ids)
	for j := 1; j < n; j++ {
		if bytes.Equal(key(ids, idx[j-1]), key(ids, idx[j])) {
			return hub.Errorf(hub.ECONFLICT, "scan %q is repeated", key(ids, idx[j]))
		}
	}
	checkpoints := make(map[string]bool)
	for i := range n {
		checkpoints[scan(i).CheckpointID] = true
	}
	err = s.view(ctx, func(tx driver.Tx) error {
		cps, scanIDs := bucket(tx, bktCheckpoints), bucket(tx, bktScanIDs)
		for _, id := range slices.Sorted(maps.Keys(checkpoints)) {
			if cps.Get([]byte(id)) == nil {
				return hub.Errorf(hub.ENOTFOUND, "checkpoint %q not found", id)
			}
		}
		for _, i := range idx {
			if scanIDs.Get(key(ids, i)) != nil {
				return hub.Errorf(hub.ECONFLICT, "scan %q is already recorded", key(ids, i))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Devices' scan IDs are mostly time-sortable: pack scanIDs as
	// RecordScans does; the other two trees as random inserts leave them,
	// about two thirds full.
	err = write(bktScanIDs, ids, idx, 0.9, func(b driver.Bucket, i int32, k []byte) error {
		rec := scanToRec(scan(int(i)))
		return put(b, k, scanKey(&rec))
	})
	if err != nil {
		return err
	}
	ids, idx = nil, nil

	byCell, err := build(func(sc *hub.Scan, k []byte) []byte {
		k = appendCell(k, sc.Cell)
		k = appendTime(k, sc.At)
		return append(k, sc.ID...)
	})
	if err != nil {
		return err
	}
	err = write(bktScansByCell, byCell, order(byCell), 0.7, func(b driver.Bucket, i int32, k []byte) error {
		rec := scanToRec(scan(int(i)))
		return put(b, k, scanKey(&rec))
	})
	if err != nil {
		return err
	}
	byCell = nil

	scans, err := build(func(sc *hub.Scan, k []byte) []byte {
		rec := scanToRec(sc)
		return append(k, scanKey(&rec)...)
	})
	if err != nil {
		return err
	}
	return write(bktScans, scans, order(scans), 0.7, func(b driver.Bucket, i int32, k []byte) error {
		rec := scanToRec(scan(int(i)))
		v, err := encode("scan", rec)
		if err != nil {
			return err
		}
		return put(b, k, v)
	})
}
