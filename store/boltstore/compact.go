package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Compact rewrites the database file of the store in dir without its free
// pages, and returns the file's size before and after. bbolt reuses the
// pages a deletion frees but does not clear them, so the bytes of deleted
// records (the retention sweep's) stay in the file until a later write
// happens to reuse their page; Compact copies only the live records into a
// new file, syncs it and renames it over the old one, after which the
// deleted bytes are gone from the data directory. The store must not be
// open: Compact waits for the file's lock like Open and fails if another
// process holds it.
func Compact(dir string) (before, after int64, err error) {
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("boltstore: compact %s: in use by another process: %w", path, err)
	} else if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("boltstore: compact: sync: %w", err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	// Still holding the old file's lock: no store opens it meanwhile.
	if err := os.Rename(tmp, path); err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return 0, 0, err
	}
	nfi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	return fi.Size(), nfi.Size(), nil
}
