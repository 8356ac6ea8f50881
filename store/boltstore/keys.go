package boltstore

import (
	"fmt"
	"strings"

	"github.com/gridhub/gridhub/hub"
	bolt "go.etcd.io/bbolt"
)

// maxKeyLen bounds IDs, codes and hashes. bbolt allows longer keys; no
// honest key comes near this.
const maxKeyLen = 512

// checkID returns an EINVALID error unless id can be a record's ID: not
// empty, not too long, and free of NUL bytes (the separator of composite
// index keys).
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

// bucket returns a top-level bucket, which Open created.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket {
	return tx.Bucket([]byte(name))
}

// put stores a key and wraps bbolt's error with context.
func put(b *bolt.Bucket, key, v []byte) error {
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("boltstore: put %q: %w", key, err)
	}
	return nil
}

// getRec reads the record under key into v. It reports false, and leaves v
// alone, when there is none.
func getRec(b *bolt.Bucket, kind string, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, decode(kind, key, raw, v)
}

// listRecs decodes every record of a bucket, in key order, keeping those
// keep accepts (all when keep is nil).
func listRecs[R any, T any](b *bolt.Bucket, kind string, domain func(*R) *T, keep func(*T) bool) ([]*T, error) {
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
