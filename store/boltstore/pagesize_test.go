package boltstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gridhub/gridhub/store/driver"
	bolt "go.etcd.io/bbolt"
)

// createFile makes an empty database file in dir with the given page
// size. bbolt fixes a file's page size when it creates it and reads it
// from the file's meta page at each open, so openDB, which asks for none,
// opens the file with that size.
func createFile(tb testing.TB, dir string, pageSize int) {
	tb.Helper()
	bdb, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{PageSize: pageSize})
	if err != nil {
		tb.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestPageSizeOfExistingFile checks that a file keeps the page size it was
// created with, not the operating system's that openDB would give a new
// one: opened, and opened again, it reports its own and takes writes that
// split pages.
func TestPageSizeOfExistingFile(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	createFile(t, dir, 1024)
	d, err := openDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.bolt.Info().PageSize; got != 1024 {
		t.Fatalf("existing file: page size %d, want 1024 (its own)", got)
	}
	if err := d.Prepare(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	put := func(d *db, from, to int) {
		t.Helper()
		err := d.Update(ctx, func(tx driver.Tx) error {
			for i := from; i < to; i++ {
				if err := tx.Bucket("b").Put(fmt.Appendf(nil, "k%06d", i), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(d, 0, 500)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = openDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.bolt.Info().PageSize; got != 1024 {
		t.Fatalf("opened again: page size %d, want 1024 (its own)", got)
	}
	put(d, 500, 1000)
	var n int
	err = d.View(ctx, func(tx driver.Tx) error {
		return tx.Bucket("b").ForEach(func(k, v []byte) error {
			if want := fmt.Sprintf("k%06d", n); string(k) != want || len(v) != 100 {
				return fmt.Errorf("key %d: %q (%d bytes), want %q (100)", n, k, len(v), want)
			}
			n++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Fatalf("%d keys, want 1000", n)
	}
}
