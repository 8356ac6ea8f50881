package portable

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"math"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// auditRec is one entry of the audit trail; its sequence number is its key.
type auditRec struct {
	At        time.Time `json:"at"`
	ActorRole string    `json:"actorRole,omitempty"`
	ActorID   string    `json:"actorId,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Action    string    `json:"action"`
	TargetID  string    `json:"targetId"`
	Purpose   string    `json:"purpose"`
	Count     int       `json:"count"`
}

func auditToRec(e *hub.AuditEntry) auditRec {
	return auditRec{
		At: e.At, ActorRole: e.ActorRole, ActorID: e.ActorID, Subject: e.Subject,
		Action: e.Action, TargetID: e.TargetID, Purpose: e.Purpose, Count: e.Count,
	}
}

func (r *auditRec) domain(seq uint64) hub.AuditEntry {
	return hub.AuditEntry{
		Seq: seq, At: r.At, ActorRole: r.ActorRole, ActorID: r.ActorID, Subject: r.Subject,
		Action: r.Action, TargetID: r.TargetID, Purpose: r.Purpose, Count: r.Count,
	}
}

// auditIndexKey is the key of an audit entry in the auditByTarget or
// auditByActor index. IDs hold no NUL bytes, so the keys of one ID are
// exactly those with the prefix auditIndexKey(id, 0)[:len(id)+1], and they
// sort by sequence number.
func auditIndexKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(id)+1+8)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// AppendAudit appends entries to the audit trail in one write and returns
// copies of them with their Seq set. An invalid entry makes the whole call
// an EINVALID error, and nothing is written.
func (s *Store) AppendAudit(ctx context.Context, es ...hub.AuditEntry) ([]hub.AuditEntry, error) {
	if len(es) == 0 {
		return nil, s.checkOpen(ctx)
	}
	vals := make([][]byte, len(es))
	for i := range es {
		if err := storecheck.Audit(i, &es[i]); err != nil {
			return nil, err
		}
		v, err := encode("audit entry", auditToRec(&es[i]))
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}

	out := slices.Clone(es)
	err := s.write(ctx, func(tx driver.Tx) error {
		b := bucket(tx, bktAudit)
		byTarget, byActor := bucket(tx, bktAuditByTarget), bucket(tx, bktAuditByActor)
		for i := range out {
			seq, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("store: audit trail: %w", err)
			}
			out[i].Seq = seq // set again if the write runs again
			if err := put(b, u64(seq), vals[i]); err != nil {
				return err
			}
			if err := put(byTarget, auditIndexKey(out[i].TargetID, seq), []byte{}); err != nil {
				return err
			}
			if out[i].ActorID != "" {
				if err := put(byActor, auditIndexKey(out[i].ActorID, seq), []byte{}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditLog lists audit entries in Seq order: those of f.TargetID and of
// f.ActorID when they are not empty, with Seq greater than f.After, at most
// f.Limit of them (hub.DefaultAuditLimit when f.Limit <= 0, at most
// hub.MaxAuditLimit). A filter by both walks the two indexes together, so it
// reads only entries that match both.
func (s *Store) AuditLog(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEntry, error) {
	if err := storecheck.Ref("audit target", f.TargetID); err != nil {
		return nil, err
	}
	if err := storecheck.Ref("audit actor", f.ActorID); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = hub.DefaultAuditLimit
	}
	limit = min(limit, hub.MaxAuditLimit)

	var out []hub.AuditEntry
	err := s.view(ctx, func(tx driver.Tx) error {
		if f.After == math.MaxUint64 {
			return nil
		}
		b := bucket(tx, bktAudit)
		if f.TargetID == "" && f.ActorID == "" {
			c := b.Cursor()
			for k, v := c.Seek(u64(f.After + 1)); k != nil && len(out) < limit; k, v = c.Next() {
				if len(k) != 8 {
					return fmt.Errorf("store: audit trail has key %q", k)
				}
				var r auditRec
				if err := decode("audit entry", k, v, &r); err != nil {
					return err
				}
				out = append(out, r.domain(binary.BigEndian.Uint64(k)))
			}
			return nil
		}

		var idx []*seqIndex
		if f.TargetID != "" {
			idx = append(idx, newSeqIndex(tx, bktAuditByTarget, f.TargetID))
		}
		if f.ActorID != "" {
			idx = append(idx, newSeqIndex(tx, bktAuditByActor, f.ActorID))
		}
		for from := f.After + 1; len(out) < limit; {
			seq, ok, err := commonSeq(idx, from)
			if err != nil || !ok {
				return err
			}
			key := u64(seq)
			var r auditRec
			if ok, err := getRec(b, "audit entry", key, &r); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("store: audit index names missing entry %d", seq)
			}
			out = append(out, r.domain(seq))
			if seq == math.MaxUint64 {
				return nil
			}
			from = seq + 1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seqIndex walks the sequence numbers filed under one ID in an audit index.
type seqIndex struct {
	name   string
	c      driver.Cursor
	prefix []byte // the ID and 0x00
}

func newSeqIndex(tx driver.Tx, name, id string) *seqIndex {
	k := auditIndexKey(id, 0)
	return &seqIndex{name: name, c: bucket(tx, name).Cursor(), prefix: k[:len(k)-8]}
}

// seek returns the first sequence number of the ID that is at least seq,
// or false when there is none.
func (x *seqIndex) seek(seq uint64) (uint64, bool, error) {
	k, _ := x.c.Seek(append(slices.Clip(x.prefix), u64(seq)...))
	if !bytes.HasPrefix(k, x.prefix) {
		return 0, false, nil
	}
	if len(k) != len(x.prefix)+8 {
		return 0, false, fmt.Errorf("store: index %s has key %q", x.name, k)
	}
	return binary.BigEndian.Uint64(k[len(x.prefix):]), true, nil
}

// commonSeq returns the first sequence number, at least from, that every
// index holds, or false when there is none. It leapfrogs: the indexes take
// turns seeking to the greatest number seen so far until all of them in a
// row land on it.
func commonSeq(idx []*seqIndex, from uint64) (uint64, bool, error) {
	agree := 0
	for i := 0; ; i = (i + 1) % len(idx) {
		seq, ok, err := idx[i].seek(from)
		if err != nil || !ok {
			return 0, false, err
		}
		if seq == from {
			agree++
		} else {
			from, agree = seq, 1
		}
		if agree == len(idx) {
			return from, true, nil
		}
	}
}
