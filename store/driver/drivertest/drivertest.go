// Package drivertest is the suite every driver of the portable store
// passes: the primitives of store/driver (get, put, delete, ordered
// cursors, nested buckets, sequences) and the promises of Update (all or
// nothing, serializable, durable). A driver's test supplies a Harness and
// calls Run; the conformance suite (store/storetest) then holds the
// portable store on that driver to hub.Store's rules.
package drivertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// Buckets are the top-level buckets the suite uses; the harness's driver
// must have them prepared (Harness.Open calls Prepare with them, or Run
// does when the harness leaves it).
var buckets = []string{"a", "b", "ab"}

// Harness makes drivers for the suite.
type Harness interface {
	// Open returns a new driver on empty data. The harness releases it
	// when t ends; a test may close it first.
	Open(t *testing.T) driver.Driver
	// Reopen closes d, which Open returned, and opens the driver again on
	// the same data.
	Reopen(t *testing.T, d driver.Driver) driver.Driver
}

// Run runs the suite against the driver h makes.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"CursorOrder", testCursorOrder},
		{"NestedBuckets", testNestedBuckets},
		{"Sequences", testSequences},
		{"AllOrNothing", testAllOrNothing},
		{"Serializable", testSerializable},
		{"GuardedDecrement", testGuardedDecrement},
		{"Durable", testDurable},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func open(t *testing.T, h Harness) driver.Driver {
	t.Helper()
	d := h.Open(t)
	if err := d.Prepare(t.Context(), buckets); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// Preparing again changes nothing.
	if err := d.Prepare(t.Context(), buckets); err != nil {
		t.Fatalf("Prepare again: %v", err)
	}
	return d
}

func update(t *testing.T, d driver.Driver, fn func(tx driver.Tx) error) {
	t.Helper()
	if err := d.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// get reads one key in its own transaction; nil when there is none.
func get(t *testing.T, d driver.Driver, bucket string, key []byte) []byte {
	t.Helper()
	var v []byte
	err := d.View(t.Context(), func(tx driver.Tx) error {
		if raw := tx.Bucket(bucket).Get(key); raw != nil {
			v = bytes.Clone(raw)
			if v == nil {
				v = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v
}

func testGetPutDelete(t *testing.T, h Harness) {
	d := open(t, h)
	tests := []struct {
		give []byte // key
		val  []byte
	}{
		{[]byte("k"), []byte("v")},
		{[]byte{0}, []byte{0, 1, 2}},
		{[]byte{0xff, 0xfe}, []byte("x")},
		{[]byte("mark"), []byte{}},
		{bytes.Repeat([]byte{'z'}, driver.MaxKey), []byte("long key")},
	}
	update(t, d, func(tx driver.Tx) error {
		for _, tt := range tests {
			if err := tx.Bucket("a").Put(tt.give, tt.val); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tt := range tests {
		got := get(t, d, "a", tt.give)
		if got == nil || !bytes.Equal(got, tt.val) {
			t.Errorf("Get(%x) = %q, want %q", tt.give, got, tt.val)
		}
		if got := get(t, d, "b", tt.give); got != nil {
			t.Errorf("Get(%x) of another bucket = %q, want none", tt.give, got)
		}
	}
	update(t, d, func(tx driver.Tx) error {
		b := tx.Bucket("a")
		if err := b.Put([]byte("k"), []byte("v2")); err != nil {
			return err
		}
		if err := b.Delete([]byte{0}); err != nil {
			return err
		}
		return b.Delete([]byte("never there"))
	})
	if got := get(t, d, "a", []byte("k")); string(got) != "v2" {
		t.Errorf("after a second Put: %q, want v2", got)
	}
	if got := get(t, d, "a", []byte{0}); got != nil {
		t.Errorf("after Delete: %q, want none", got)
	}
	// A transaction sees its own writes.
	update(t, d, func(tx driver.Tx) error {
		b := tx.Bucket("b")
		if err := b.Put([]byte("own"), []byte("1")); err != nil {
			return err
		}
		if got := b.Get([]byte("own")); string(got) != "1" {
			t.Errorf("own write read back as %q", got)
		}
		return nil
	})
}

// keysModel returns n distinct random keys, some of them prefixes of
// others, some binary, sorted.
func keysModel(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	seen := map[string]bool{}
	var keys [][]byte
	add := func(k []byte) {
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	for i := range n {
		switch i % 4 {
		case 0:
			add(binary.BigEndian.AppendUint64(nil, rng.Uint64()))
		case 1:
			add(fmt.Appendf(nil, "id%d", rng.IntN(1000)))
		case 2:
			add(fmt.Appendf(nil, "id%d\x00%d", rng.IntN(100), rng.IntN(100)))
		default:
			k := make([]byte, 1+rng.IntN(6))
			for j := range k {
				k[j] = byte(rng.IntN(256))
			}
			add(k)
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}

func testCursorOrder(t *testing.T, h Harness) {
	d := open(t, h)
	keys := keysModel(200)
	update(t, d, func(tx driver.Tx) error {
		for i, k := range keys {
			if err := tx.Bucket("a").Put(k, fmt.Appendf(nil, "%d", i)); err != nil {
				return err
			}
		}
		// Keys of other buckets, before and after, are never seen.
		for _, name := range []string{"ab", "b"} {
			if err := tx.Bucket(name).Put([]byte{0}, []byte("other")); err != nil {
				return err
			}
			if err := tx.Bucket(name).Put([]byte{0xff, 0xff}, []byte("other")); err != nil {
				return err
			}
		}
		return nil
	})
	err := d.View(t.Context(), func(tx driver.Tx) error {
		b := tx.Bucket("a")
		// Forwards and backwards.
		var up, down [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if want := fmt.Sprint(slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })); string(v) != want {
				t.Errorf("value of %x = %q, want %q", k, v, want)
			}
			up = append(up, bytes.Clone(k))
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			down = append(down, bytes.Clone(k))
		}
		if !slices.EqualFunc(up, keys, bytes.Equal) {
			t.Errorf("First/Next walked %d keys, not the %d in order", len(up), len(keys))
		}
		slices.Reverse(down)
		if !slices.EqualFunc(down, keys, bytes.Equal) {
			t.Errorf("Last/Prev walked %d keys, not the %d in reverse order", len(down), len(keys))
		}
		// ForEach agrees, and stops at an error.
		var each [][]byte
		stop := errors.New("stop")
		err := b.ForEach(func(k, v []byte) error {
			each = append(each, bytes.Clone(k))
			if len(each) == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !slices.EqualFunc(each, keys[:10], bytes.Equal) {
			t.Errorf("ForEach: %v after %d keys, want stop after the first 10", err, len(each))
		}
		// Seek to every key, between keys and past the end; then step
		// either way.
		for i, k := range keys {
			seeks := []struct {
				give []byte
				want int // index in keys, len(keys) for none
			}{
				{k, i},
				{append(bytes.Clone(k), 0), i + 1},
			}
			for _, tt := range seeks {
				got, _ := c.Seek(tt.give)
				if tt.want == len(keys) {
					if got != nil {
						t.Errorf("Seek(%x) = %x, want none", tt.give, got)
					}
					continue
				}
				if !bytes.Equal(got, keys[tt.want]) {
					t.Errorf("Seek(%x) = %x, want %x", tt.give, got, keys[tt.want])
					continue
				}
				next, _ := c.Next()
				if tt.want+1 < len(keys) && !bytes.Equal(next, keys[tt.want+1]) || tt.want+1 == len(keys) && next != nil {
					t.Errorf("Next after Seek(%x) = %x", tt.give, next)
				}
			}
			if i > 0 {
				c.Seek(k)
				if prev, _ := c.Prev(); !bytes.Equal(prev, keys[i-1]) {
					t.Errorf("Prev after Seek(%x) = %x, want %x", k, prev, keys[i-1])
				}
				if back, _ := c.Next(); !bytes.Equal(back, k) {
					t.Errorf("Next after Prev after Seek(%x) = %x, want it back", k, back)
				}
			}
		}
		if got, _ := c.Seek(append(bytes.Clone(keys[len(keys)-1]), 0)); got != nil {
			t.Errorf("Seek past the end = %x, want none", got)
		}
		// An empty bucket has no keys.
		e := tx.Bucket("ab").Cursor()
		if k, _ := e.Seek([]byte{1}); k == nil || !bytes.Equal(k, []byte{0xff, 0xff}) {
			t.Errorf("Seek in bucket ab = %x, want ffff", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testNestedBuckets(t *testing.T, h Harness) {
	d := open(t, h)
	names := [][]byte{[]byte("p1"), []byte("p10"), []byte("p"), {0xff}}
	update(t, d, func(tx driver.Tx) error {
		top := tx.Bucket("a")
		if top.Bucket(names[0]) != nil {
			t.Errorf("nested bucket before it was created")
		}
		for i, name := range names {
			nb, err := top.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			for j := range 3 {
				if err := nb.Put([]byte{byte(j)}, fmt.Appendf(nil, "%d.%d", i, j)); err != nil {
					return err
				}
			}
		}
		again, err := top.CreateBucketIfNotExists(names[0])
		if err != nil {
			return err
		}
		if got := again.Get([]byte{0}); string(got) != "0.0" {
			t.Errorf("a bucket created again lost its keys: %q", got)
		}
		return nil
	})
	err := d.View(t.Context(), func(tx driver.Tx) error {
		top := tx.Bucket("a")
		for i, name := range names {
			nb := top.Bucket(name)
			if nb == nil {
				t.Errorf("nested bucket %q missing", name)
				continue
			}
			var got []string
			c := nb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				got = append(got, string(v))
			}
			want := []string{fmt.Sprintf("%d.0", i), fmt.Sprintf("%d.1", i), fmt.Sprintf("%d.2", i)}
			if !slices.Equal(got, want) {
				t.Errorf("nested bucket %q holds %q, want %q", name, got, want)
			}
			if k, _ := nb.Cursor().Last(); !bytes.Equal(k, []byte{2}) {
				t.Errorf("last key of nested bucket %q = %x", name, k)
			}
		}
		if top.Bucket([]byte("p2")) != nil {
			t.Error("a nested bucket never created is there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// DeleteBucket removes one bucket, its keys and its sequence, and
	// leaves its neighbours and the keys of the bucket around it alone.
	update(t, d, func(tx driver.Tx) error {
		top := tx.Bucket("a")
		if _, err := top.Bucket(names[0]).NextSequence(); err != nil {
			return err
		}
		if err := top.Put([]byte("p1\x00k"), []byte("flat")); err != nil {
			return err
		}
		if err := top.DeleteBucket(names[0]); err != nil {
			return err
		}
		return top.DeleteBucket([]byte("p2")) // not there: no error
	})
	err = d.View(t.Context(), func(tx driver.Tx) error {
		top := tx.Bucket("a")
		if top.Bucket(names[0]) != nil {
			t.Errorf("nested bucket %q is there after DeleteBucket", names[0])
		}
		if got := top.Get([]byte("p1\x00k")); string(got) != "flat" {
			t.Errorf("a key beside the deleted bucket holds %q", got)
		}
		for _, name := range names[1:] {
			if nb := top.Bucket(name); nb == nil || string(nb.Get([]byte{0})) == "" {
				t.Errorf("nested bucket %q lost by deleting %q", name, names[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Created again, it starts empty, its sequence at 1.
	update(t, d, func(tx driver.Tx) error {
		nb, err := tx.Bucket("a").CreateBucketIfNotExists(names[0])
		if err != nil {
			return err
		}
		if k, _ := nb.Cursor().First(); k != nil {
			t.Errorf("a bucket created again after DeleteBucket holds %x", k)
		}
		if n, err := nb.NextSequence(); err != nil || n != 1 {
			t.Errorf("sequence of a bucket created again after DeleteBucket: %d, %v; want 1", n, err)
		}
		return nil
	})
}

func testSequences(t *testing.T, h Harness) {
	d := open(t, h)
	var got []uint64
	for range 3 {
		var run []uint64 // afresh in each run of fn
		update(t, d, func(tx driver.Tx) error {
			run = nil
			for _, b := range []driver.Bucket{tx.Bucket("a"), tx.Bucket("a"), tx.Bucket("b")} {
				n, err := b.NextSequence()
				if err != nil {
					return err
				}
				run = append(run, n)
			}
			nb, err := tx.Bucket("a").CreateBucketIfNotExists([]byte("n"))
			if err != nil {
				return err
			}
			n, err := nb.NextSequence()
			if err != nil {
				return err
			}
			run = append(run, n)
			return nil
		})
		got = append(got, run...)
	}
	want := []uint64{1, 2, 1, 1, 3, 4, 2, 2, 5, 6, 3, 3}
	if !slices.Equal(got, want) {
		t.Errorf("sequences %v, want %v", got, want)
	}
}

func testAllOrNothing(t *testing.T, h Harness) {
	d := open(t, h)
	broken := errors.New("broken")
	err := d.Update(t.Context(), func(tx driver.Tx) error {
		if err := tx.Bucket("a").Put([]byte("half"), []byte("1")); err != nil {
			return err
		}
		if _, err := tx.Bucket("a").NextSequence(); err != nil {
			return err
		}
		return broken
	})
	if !errors.Is(err, broken) {
		t.Errorf("Update = %v, want the error fn returned", err)
	}
	if got := get(t, d, "a", []byte("half")); got != nil {
		t.Errorf("a write of a failed Update remains: %q", got)
	}
	// An application error from fn reaches the caller as it is.
	err = d.Update(t.Context(), func(tx driver.Tx) error {
		if tx.Bucket("a").Get([]byte("x")) == nil {
			return hub.Errorf(hub.ENOTFOUND, "no x")
		}
		return nil
	})
	if hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Errorf("Update with an application error = %v, want ENOTFOUND", err)
	}
	// A canceled context writes nothing.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = d.Update(ctx, func(tx driver.Tx) error { return tx.Bucket("a").Put([]byte("canceled"), []byte("1")) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a canceled context = %v, want context.Canceled", err)
	}
	if got := get(t, d, "a", []byte("canceled")); got != nil {
		t.Errorf("a write with a canceled context remains: %q", got)
	}
}

// testSerializable runs concurrent read-modify-write transactions on one
// counter and on two keys together: none is lost, and the two keys never
// differ.
func testSerializable(t *testing.T, h Harness) {
	d := open(t, h)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := d.Update(context.Background(), func(tx driver.Tx) error {
					b := tx.Bucket("a")
					n := readInt(b.Get([]byte("n")))
					m := readInt(tx.Bucket("b").Get([]byte("m")))
					if n != m {
						return fmt.Errorf("n %d and m %d differ inside a transaction", n, m)
					}
					if err := b.Put([]byte("n"), writeInt(n+1)); err != nil {
						return err
					}
					return tx.Bucket("b").Put([]byte("m"), writeInt(m+1))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := readInt(get(t, d, "a", []byte("n"))); n != writers*each {
		t.Errorf("counter after %d increments: %d", writers*each, n)
	}
}

// testGuardedDecrement takes one from a stock of 50, 80 times at once: a
// read, a check and a write in one Update is a guarded increment.
func testGuardedDecrement(t *testing.T, h Harness) {
	d := open(t, h)
	update(t, d, func(tx driver.Tx) error { return tx.Bucket("a").Put([]byte("stock"), writeInt(50)) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 80 {
		wg.Go(func() {
			err := d.Update(context.Background(), func(tx driver.Tx) error {
				b := tx.Bucket("a")
				n := readInt(b.Get([]byte("stock")))
				if n < 1 {
					return hub.Errorf(hub.EOUTOFSTOCK, "none left")
				}
				return b.Put([]byte("stock"), writeInt(n-1))
			})
			mu.Lock()
			codes[hub.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 50 || codes[hub.EOUTOFSTOCK] != 30 {
		t.Errorf("outcomes of 80 takes of one from 50: %v", codes)
	}
	if n := readInt(get(t, d, "a", []byte("stock"))); n != 0 {
		t.Errorf("stock after the race: %d", n)
	}
}

func testDurable(t *testing.T, h Harness) {
	d := open(t, h)
	var seq uint64
	update(t, d, func(tx driver.Tx) (err error) {
		if err := tx.Bucket("a").Put([]byte("k"), []byte("kept")); err != nil {
			return err
		}
		nb, err := tx.Bucket("b").CreateBucketIfNotExists([]byte("nested"))
		if err != nil {
			return err
		}
		if err := nb.Put([]byte("nk"), []byte("nv")); err != nil {
			return err
		}
		seq, err = tx.Bucket("a").NextSequence()
		return err
	})
	d = h.Reopen(t, d)
	if err := d.Prepare(t.Context(), buckets); err != nil {
		t.Fatalf("Prepare after reopening: %v", err)
	}
	if got := get(t, d, "a", []byte("k")); string(got) != "kept" {
		t.Errorf("after reopening: %q, want kept", got)
	}
	update(t, d, func(tx driver.Tx) error {
		nb := tx.Bucket("b").Bucket([]byte("nested"))
		if nb == nil || string(nb.Get([]byte("nk"))) != "nv" {
			t.Error("nested bucket lost on reopening")
		}
		n, err := tx.Bucket("a").NextSequence()
		if err == nil && n <= seq {
			t.Errorf("sequence after reopening %d, was %d", n, seq)
		}
		return err
	})
}

func testClosed(t *testing.T, h Harness) {
	d := open(t, h)
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	calls := map[string]error{
		"Close":  d.Close(),
		"Ping":   d.Ping(ctx),
		"View":   d.View(ctx, func(driver.Tx) error { return nil }),
		"Update": d.Update(ctx, func(driver.Tx) error { return nil }),
	}
	for name, err := range calls {
		if !errors.Is(err, driver.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func readInt(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func writeInt(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
