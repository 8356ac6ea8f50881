package portable

import (
	"context"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// UpsertDistrict creates or replaces a district.
func (s *Store) UpsertDistrict(ctx context.Context, d *hub.District) error {
	if d == nil {
		return hub.Errorf(hub.EINVALID, "district is missing")
	}
	if err := storecheck.ID("district", d.ID); err != nil {
		return err
	}
	id := d.ID
	v, err := encode("district", districtToRec(d))
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		return put(bucket(tx, bktDistricts), []byte(id), v)
	})
}

// District returns a district or an ENOTFOUND error.
func (s *Store) District(ctx context.Context, id string) (*hub.District, error) {
	var r districtRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktDistricts), "district", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "district %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Districts lists every district in ID order.
func (s *Store) Districts(ctx context.Context) ([]*hub.District, error) {
	var out []*hub.District
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktDistricts), "district", (*districtRec).domain, nil)
		return err
	})
	return out, err
}

// UpsertCommittees creates or replaces committees, in order, in one write.
// A code held by another committee (before the call or after an earlier
// committee of the call) is an ECONFLICT error and nothing is written. An
// empty code is allowed and not indexed.
func (s *Store) UpsertCommittees(ctx context.Context, cs ...*hub.Committee) error {
	if len(cs) == 0 {
		return s.checkOpen(ctx)
	}
	type item struct {
		id, code string
		v        []byte
	}
	items := make([]item, len(cs))
	for i, c := range cs {
		if c == nil {
			return hub.Errorf(hub.EINVALID, "committee %d of the batch is missing", i)
		}
		if err := storecheck.ID("committee", c.ID); err != nil {
			return err
		}
		if err := storecheck.Ref("district", c.DistrictID); err != nil {
			return err
		}
		if err := storecheck.Key("committee code", c.Code); err != nil {
			return err
		}
		v, err := encode("committee", committeeToRec(c))
		if err != nil {
			return err
		}
		items[i] = item{c.ID, c.Code, v}
	}

	return s.write(ctx, func(tx driver.Tx) error {
		recs, codes := bucket(tx, bktCommittees), bucket(tx, bktCommitteeCodes)

		// Check: replay the batch over an overlay of the code index.
		owner := make(map[string]string) // code -> committee ID; "" frees it
		codeOf := make(map[string]string)
		for _, it := range items {
			old, seen := codeOf[it.id]
			if !seen {
				var r committeeRec
				if _, err := getRec(recs, "committee", []byte(it.id), &r); err != nil {
					return err
				}
				old = r.Code
			}
			if it.code != "" {
				holder, ok := owner[it.code]
				if !ok {
					holder = string(codes.Get([]byte(it.code)))
				}
				if holder != "" && holder != it.id {
					return hub.Errorf(hub.ECONFLICT, "committee code %q is already held by committee %q", it.code, holder)
				}
			}
			if old != "" && old != it.code {
				owner[old] = ""
			}
			if it.code != "" {
				owner[it.code] = it.id
			}
			codeOf[it.id] = it.code
		}

		// Write.
		for code, id := range owner {
			if id == "" {
				if err := codes.Delete([]byte(code)); err != nil {
					return fmt.Errorf("store: delete committee code %q: %w", code, err)
				}
			} else if err := put(codes, []byte(code), []byte(id)); err != nil {
				return err
			}
		}
		for _, it := range items {
			if err := put(recs, []byte(it.id), it.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Committee returns a committee or an ENOTFOUND error.
func (s *Store) Committee(ctx context.Context, id string) (*hub.Committee, error) {
	var r committeeRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktCommittees), "committee", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "committee %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// CommitteeByCode returns the committee holding a code or an ENOTFOUND
// error.
func (s *Store) CommitteeByCode(ctx context.Context, code string) (*hub.Committee, error) {
	var r committeeRec
	err := s.view(ctx, func(tx driver.Tx) error {
		var id []byte
		if code != "" {
			id = bucket(tx, bktCommitteeCodes).Get([]byte(code))
		}
		if id == nil {
			return hub.Errorf(hub.ENOTFOUND, "no committee has code %q", code)
		}
		ok, err := getRec(bucket(tx, bktCommittees), "committee", id, &r)
		if err == nil && !ok {
			err = fmt.Errorf("store: code %q names missing committee %q", code, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Committees lists committees in ID order, those of one district when
// districtID is not empty.
func (s *Store) Committees(ctx context.Context, districtID string) ([]*hub.Committee, error) {
	var keep func(*hub.Committee) bool
	if districtID != "" {
		keep = func(c *hub.Committee) bool { return c.DistrictID == districtID }
	}
	var out []*hub.Committee
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktCommittees), "committee", (*committeeRec).domain, keep)
		return err
	})
	return out, err
}

// UpsertCheckpoints creates or replaces checkpoints in one write.
func (s *Store) UpsertCheckpoints(ctx context.Context, cs ...*hub.Checkpoint) error {
	if len(cs) == 0 {
		return s.checkOpen(ctx)
	}
	ids, vs := make([]string, len(cs)), make([][]byte, len(cs))
	for i, c := range cs {
		if c == nil {
			return hub.Errorf(hub.EINVALID, "checkpoint %d of the batch is missing", i)
		}
		if err := storecheck.ID("checkpoint", c.ID); err != nil {
			return err
		}
		v, err := encode("checkpoint", checkpointToRec(c))
		if err != nil {
			return err
		}
		ids[i], vs[i] = c.ID, v
	}
	return s.write(ctx, func(tx driver.Tx) error {
		b := bucket(tx, bktCheckpoints)
		for i, id := range ids {
			if err := put(b, []byte(id), vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Checkpoint returns a checkpoint or an ENOTFOUND error.
func (s *Store) Checkpoint(ctx context.Context, id string) (*hub.Checkpoint, error) {
	var r checkpointRec
	err := s.view(ctx, func(tx driver.Tx) error {
		ok, err := getRec(bucket(tx, bktCheckpoints), "checkpoint", []byte(id), &r)
		if err == nil && !ok {
			err = hub.Errorf(hub.ENOTFOUND, "checkpoint %q not found", id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Checkpoints lists every checkpoint in ID order.
func (s *Store) Checkpoints(ctx context.Context) ([]*hub.Checkpoint, error) {
	var out []*hub.Checkpoint
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktCheckpoints), "checkpoint", (*checkpointRec).domain, nil)
		return err
	})
	return out, err
}
