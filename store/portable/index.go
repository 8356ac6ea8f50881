package portable

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// ikey joins the parts of a composite index key with NUL bytes. IDs,
// statuses and SKUs hold no NUL bytes, so the keys filed under the parts
// a, b are exactly those with the prefix ikey(a, b, ""), and they sort by
// what follows it: for an index whose keys end in a record's ID, by ID.
func ikey(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, max(n, 0))
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// del removes a key and wraps the driver's error with context.
func del(b driver.Bucket, key []byte) error {
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("store: delete %q: %w", key, err)
	}
	return nil
}

// mark files an index key with an empty value.
func mark(b driver.Bucket, key []byte) error { return put(b, key, []byte{}) }

// idIndex walks the IDs filed under one prefix of an index bucket whose
// keys are the prefix followed by a record's ID.
type idIndex struct {
	name   string
	c      driver.Cursor
	prefix []byte
}

func newIDIndex(tx driver.Tx, name string, prefix []byte) *idIndex {
	return &idIndex{name: name, c: bucket(tx, name).Cursor(), prefix: prefix}
}

// seek returns the first ID under the prefix that is at least from, or nil
// when there is none. The ID is a copy, valid after the transaction.
func (x *idIndex) seek(from []byte) []byte {
	k, _ := x.c.Seek(append(slices.Clip(x.prefix), from...))
	if !bytes.HasPrefix(k, x.prefix) {
		return nil
	}
	return bytes.Clone(k[len(x.prefix):])
}

// commonID returns the first ID, at least from, that every index holds,
// or nil when there is none. Like commonSeq it leapfrogs: the indexes take
// turns seeking to the greatest ID seen so far until all of them in a row
// land on it.
func commonID(idx []*idIndex, from []byte) []byte {
	agree := 0
	for i := 0; ; i = (i + 1) % len(idx) {
		id := idx[i].seek(from)
		if id == nil {
			return nil
		}
		if bytes.Equal(id, from) {
			agree++
		} else {
			from, agree = id, 1
		}
		if agree == len(idx) {
			return from
		}
	}
}

// listByID lists records of the bucket primary in ID order: those filed
// under every one of idx (all of them when idx is empty), with ID greater
// than after, at most limit of them (all when limit <= 0). It reads only
// the records it returns: with no index it walks the bucket from after,
// with indexes it walks them together.
func listByID[R any, T any](tx driver.Tx, primary, kind string, idx []*idIndex, after string, limit int, domain func(*R) *T) ([]*T, error) {
	var out []*T
	full := func() bool { return limit > 0 && len(out) >= limit }
	add := func(k, raw []byte) error {
		var r R
		if err := decode(kind, k, raw, &r); err != nil {
			return err
		}
		out = append(out, domain(&r))
		return nil
	}
	b := bucket(tx, primary)
	if len(idx) == 0 {
		c := b.Cursor()
		for k, v := seekAfter(c, []byte(after)); k != nil && !full(); k, v = c.Next() {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
		return out, nil
	}

	from := []byte(after)
	if after != "" {
		from = append(from, 0) // the least key greater than after
	}
	for !full() {
		id := commonID(idx, from)
		if id == nil {
			break
		}
		raw := b.Get(id)
		if raw == nil {
			return nil, fmt.Errorf("store: index %s names missing %s %q", idx[0].name, kind, id)
		}
		if err := add(id, raw); err != nil {
			return nil, err
		}
		from = append(id, 0)
	}
	return out, nil
}

// internal turns an application error met after a write's checks passed
// into an internal one, so that the transaction rolls back rather than
// commit half a write.
func internal(err error) error {
	if err != nil && isAppError(err) {
		return fmt.Errorf("store: after checks passed: %s", hub.ErrorMessage(err))
	}
	return err
}
