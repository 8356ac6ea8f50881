package portable

import (
	"fmt"

	"github.com/gridhub/gridhub/store/driver"
)

// bucket returns a top-level bucket, which Open created.
func bucket(tx driver.Tx, name string) driver.Bucket {
	return tx.Bucket(name)
}

// growFill is how full the pages of a bucket whose keys mostly grow at
// its end (time-sortable IDs, sequence numbers, a key that ends in one
// under a prefix written over and over) are packed when they split:
// bbolt's default, half, leaves every page behind the end half empty, so
// the bucket takes twice the pages and a commit writes more of them.
const growFill = 0.9

// growing returns b, told that its keys mostly grow at its end.
func growing(b driver.Bucket) driver.Bucket {
	if h, ok := b.(driver.FillHinter); ok {
		h.SetFillPercent(growFill)
	}
	return b
}

// put stores a key and wraps the driver's error with context.
func put(b driver.Bucket, key, v []byte) error {
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("store: put %q: %w", key, err)
	}
	return nil
}

// getRec reads the record under key into v. It reports false, and leaves v
// alone, when there is none.
func getRec(b driver.Bucket, kind string, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, decode(kind, key, raw, v)
}

// listRecs decodes every record of a bucket, in key order, keeping those
// keep accepts (all when keep is nil).
func listRecs[R any, T any](b driver.Bucket, kind string, domain func(*R) *T, keep func(*T) bool) ([]*T, error) {
	var out []*T
	err := b.ForEach(func(k, raw []byte) error {
		var r R
		if err := decode(kind, k, raw, &r); err != nil {
			return err
		}
		if t := domain(&r); keep == nil || keep(t) {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}
