package portable

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// byCommitteeKey is the key of a resident in the residentsByCommittee
// index. IDs hold no NUL bytes, so the keys of one committee are exactly
// those with its prefix and sort by resident ID.
func byCommitteeKey(committeeID, residentID string) []byte {
	k := make([]byte, 0, len(committeeID)+1+len(residentID))
	k = append(k, committeeID...)
	k = append(k, 0)
	return append(k, residentID...)
}

// CreateResidents adds new residents in one write. A resident whose ID or
// ID hash is already registered, or repeated in the batch, makes the whole
// call an ECONFLICT error naming it, and nothing is written.
func (s *Store) CreateResidents(ctx context.Context, rs ...*hub.Resident) error {
	if len(rs) == 0 {
		return s.checkOpen(ctx)
	}
	apply, err := createResidents(rs)
	if err != nil {
		return err
	}
	return s.write(ctx, apply)
}

// createResidents checks a batch of new residents on its own and returns
// the write that checks it against the store and adds it.
func createResidents(rs []*hub.Resident) (func(tx driver.Tx) error, error) {
	type item struct {
		id, hash, committee string
		v                   []byte
	}
	items := make([]item, len(rs))
	ids := make(map[string]bool, len(rs))
	hashes := make(map[string]bool, len(rs))
	for i, r := range rs {
		if r == nil {
			return nil, hub.Errorf(hub.EINVALID, "resident %d of the batch is missing", i)
		}
		if err := storecheck.ID("resident", r.ID); err != nil {
			return nil, err
		}
		if r.IDHash == "" {
			return nil, hub.Errorf(hub.EINVALID, "resident %q has no ID hash", r.ID)
		}
		if err := storecheck.Key("ID hash", r.IDHash); err != nil {
			return nil, err
		}
		if err := storecheck.Ref("committee", r.CommitteeID); err != nil {
			return nil, err
		}
		if err := storecheck.Ref("district", r.DistrictID); err != nil {
			return nil, err
		}
		if ids[r.ID] {
			return nil, hub.Errorf(hub.ECONFLICT, "resident %q is repeated in the batch", r.ID)
		}
		if hashes[r.IDHash] {
			return nil, hub.Errorf(hub.ECONFLICT, "resident %q: the ID number is repeated in the batch", r.ID)
		}
		ids[r.ID], hashes[r.IDHash] = true, true
		v, err := encode("resident", residentToRec(r))
		if err != nil {
			return nil, err
		}
		items[i] = item{r.ID, r.IDHash, r.CommitteeID, v}
	}

	return func(tx driver.Tx) error {
		recs, byHash := bucket(tx, bktResidents), bucket(tx, bktResidentHashes)
		for _, it := range items {
			if recs.Get([]byte(it.id)) != nil {
				return hub.Errorf(hub.ECONFLICT, "resident %q already exists", it.id)
			}
			if first := byHash.Get([]byte(it.hash)); first != nil {
				return hub.Errorf(hub.ECONFLICT, "the ID number is already registered, as resident %q", first)
			}
		}

		byCommittee := bucket(tx, bktResidentsByCommittee)
		added := make(map[string]uint64) // committee ID -> residents added
		for _, it := range items {
			if err := put(recs, []byte(it.id), it.v); err != nil {
				return err
			}
			if err := put(byHash, []byte(it.hash), []byte(it.id)); err != nil {
				return err
			}
			if it.committee != "" {
				if err := put(byCommittee, byCommitteeKey(it.committee, it.id), []byte{}); err != nil {
					return err
				}
				added[it.committee]++
			}
		}
		counts := bucket(tx, bktResidentCounts)
		for committee, n := range added {
			if err := addCount(counts, []byte(committee), n); err != nil {
				return err
			}
		}
		return addCount(bucket(tx, bktMeta), []byte(metaResidents), uint64(len(items)))
	}, nil
}

// addCount adds n to the big-endian counter under key.
func addCount(b driver.Bucket, key []byte, n uint64) error {
	c, err := readCount(b, key)
	if err != nil {
		return err
	}
	return put(b, key, u64(c+n))
}

// readCount returns the counter under key, zero when there is none.
func readCount(b driver.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("store: counter %q has %d bytes", key, len(v))
}

// Resident returns a resident or an ENOTFOUND error.
func (s *Store) Resident(ctx context.Context, id string) (*hub.Resident, error) {
	var r residentRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktResidents), "resident", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "resident %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// ResidentByIDHash returns the resident registered with an ID hash or an
// ENOTFOUND error.
func (s *Store) ResidentByIDHash(ctx context.Context, idHash string) (*hub.Resident, error) {
	var r residentRec
	err := s.view(ctx, func(tx driver.Tx) error {
		var id []byte
		if idHash != "" {
			id = bucket(tx, bktResidentHashes).Get([]byte(idHash))
		}
		if id == nil {
			return hub.Errorf(hub.ENOTFOUND, "no resident has that ID number")
		}
		ok, err := getRec(bucket(tx, bktResidents), "resident", id, &r)
		if err == nil && !ok {
			err = fmt.Errorf("store: ID hash index names missing resident %q", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Residents pages through residents in ID order: those with ID greater than
// f.After, at most f.Limit of them (all when f.Limit <= 0), of one committee
// when f.CommitteeID is not empty.
func (s *Store) Residents(ctx context.Context, f hub.ResidentFilter) ([]*hub.Resident, error) {
	var out []*hub.Resident
	full := func() bool { return f.Limit > 0 && len(out) >= f.Limit }
	add := func(k, raw []byte) error {
		var r residentRec
		if err := decode("resident", k, raw, &r); err != nil {
			return err
		}
		out = append(out, r.domain())
		return nil
	}
	err := s.view(ctx, func(tx driver.Tx) error {
		recs := bucket(tx, bktResidents)
		if f.CommitteeID == "" {
			c := recs.Cursor()
			for k, v := seekAfter(c, []byte(f.After)); k != nil && !full(); k, v = c.Next() {
				if err := add(k, v); err != nil {
					return err
				}
			}
			return nil
		}

		prefix := byCommitteeKey(f.CommitteeID, "")
		c := bucket(tx, bktResidentsByCommittee).Cursor()
		k, _ := c.Seek(byCommitteeKey(f.CommitteeID, f.After))
		if f.After != "" && bytes.Equal(k, byCommitteeKey(f.CommitteeID, f.After)) {
			k, _ = c.Next()
		}
		for ; bytes.HasPrefix(k, prefix) && !full(); k, _ = c.Next() {
			id := k[len(prefix):]
			raw := recs.Get(id)
			if raw == nil {
				return fmt.Errorf("store: committee index names missing resident %q", id)
			}
			if err := add(id, raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seekAfter positions c on the first key greater than after.
func seekAfter(c driver.Cursor, after []byte) (k, v []byte) {
	if len(after) == 0 {
		return c.First()
	}
	k, v = c.Seek(after)
	if bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}

// CountResidents counts the residents of a committee, or all residents when
// committeeID is empty.
func (s *Store) CountResidents(ctx context.Context, committeeID string) (int, error) {
	var n uint64
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		if committeeID == "" {
			n, err = readCount(bucket(tx, bktMeta), []byte(metaResidents))
		} else {
			n, err = readCount(bucket(tx, bktResidentCounts), []byte(committeeID))
		}
		return err
	})
	return int(n), err
}
