package portable

import (
	"bytes"
	"maps"
	"slices"
	"sync"

	"github.com/gridhub/gridhub/store/driver"
)

// decodedMax bounds the records one decoded cache holds.
const decodedMax = 4096

// decoded keeps the records of one kind that are read far more often
// than written (pharmacies, rounds) decoded in memory, each beside the
// stored bytes it was decoded from. A read still reads the bytes in its
// own transaction and reuses the decoded record only when they are equal
// to those kept (bytes.Equal is far cheaper than decoding JSON): a record
// that any writer changed, this hub or another sharing the store, is
// decoded afresh, so the cache never serves what the transaction would
// not read. Each read gets its own copy (clone), which it may change; the
// kept one is never handed out. At most decodedMax records are kept; past
// that a random one makes room.
type decoded[R any] struct {
	kind  string
	clone func(*R) R
	mu    sync.RWMutex
	m     map[string]decodedRec[R]
}

type decodedRec[R any] struct {
	raw []byte // the stored bytes, copied
	rec *R     // decoded from raw; never handed out
}

func newDecoded[R any](kind string, clone func(*R) R) *decoded[R] {
	return &decoded[R]{kind: kind, clone: clone, m: map[string]decodedRec[R]{}}
}

// get reads the record under key in b, as getRec does: false when there
// is none.
func (d *decoded[R]) get(b driver.Bucket, key []byte) (*R, bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, false, nil
	}
	d.mu.RLock()
	e, ok := d.m[string(key)]
	d.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		r := d.clone(e.rec)
		return &r, true, nil
	}
	var r R
	if err := decode(d.kind, key, raw, &r); err != nil {
		return nil, false, err
	}
	d.keep(key, bytes.Clone(raw), &r)
	return &r, true, nil
}

// keep remembers that raw decodes to r: a copy of r is kept, raw itself
// (which neither the caller nor the driver may change afterwards). The
// store calls it with the bytes it writes, so that the next read of a
// record it changed (a pharmacy's stock, at every allocation) need not
// decode them; what is kept is true of the bytes whether or not the
// transaction commits.
func (d *decoded[R]) keep(key, raw []byte, r *R) {
	kept := d.clone(r)
	d.mu.Lock()
	if _, ok := d.m[string(key)]; !ok && len(d.m) >= decodedMax {
		for k := range d.m {
			delete(d.m, k)
			break
		}
	}
	d.m[string(key)] = decodedRec[R]{raw: raw, rec: &kept}
	d.mu.Unlock()
}

// len is how many records d keeps.
func (d *decoded[R]) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.m)
}

// clonePharmacy copies a pharmacy record, its stock map included.
func clonePharmacy(r *pharmacyRec) pharmacyRec {
	c := *r
	c.Stock = maps.Clone(r.Stock)
	return c
}

// cloneRound copies a round record, its slices and maps included (nil
// stays nil, empty stays empty).
func cloneRound(r *roundRec) roundRec {
	c := *r
	c.Fulfilments = slices.Clone(r.Fulfilments)
	c.Eligibility.IDHashes = slices.Clone(r.Eligibility.IDHashes)
	c.Eligibility.DistrictIDs = slices.Clone(r.Eligibility.DistrictIDs)
	if r.HealthRules != nil {
		c.HealthRules = make([]healthRuleRec, len(r.HealthRules))
		for i, h := range r.HealthRules {
			h.Fulfilments = slices.Clone(h.Fulfilments)
			c.HealthRules[i] = h
		}
	}
	c.Quotas = maps.Clone(r.Quotas)
	return c
}
