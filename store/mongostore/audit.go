package mongostore

import (
	"context"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"slices"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// counterAudit is the _id of the audit Seq's counter document.
const counterAudit = "audit"

// counterDoc is a counter: the last number it gave.
type counterDoc struct {
	ID  string `bson:"_id"`
	Seq int64  `bson:"seq"`
}

// takeSeqs takes n numbers from a counter inside a transaction and
// returns the last; the numbers are last-n+1 to last. The counter is one
// document, so concurrent transactions that take from it conflict and
// the driver runs the loser again: numbers are never given twice, and
// they are given in commit order.
func (s *Store) takeSeqs(ctx context.Context, counter string, n int) (int64, error) {
	var c counterDoc
	err := s.c.counters.FindOneAndUpdate(ctx, byID(counter),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(n)}}}},
		after().SetUpsert(true)).Decode(&c)
	if err != nil {
		return 0, fmt.Errorf("take %d from counter %s: %w", n, counter, err)
	}
	return c.Seq, nil
}

// AppendAudit appends entries to the audit trail in one transaction and
// returns copies of them with their Seq set. An invalid entry makes the
// whole call an EINVALID error, and nothing is written.
func (s *Store) AppendAudit(ctx context.Context, es ...hub.AuditEntry) ([]hub.AuditEntry, error) {
	if len(es) == 0 {
		return nil, s.checkOpen(ctx)
	}
	for i := range es {
		if err := storecheck.Audit(i, &es[i]); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(es)
	err := s.tx(ctx, "append audit", func(ctx context.Context) error {
		last, err := s.takeSeqs(ctx, counterAudit, len(out))
		if err != nil {
			return err
		}
		docs := make([]any, len(out))
		for i := range out {
			seq := last - int64(len(out)-1-i)
			out[i].Seq = uint64(seq) // set again if the transaction runs again
			docs[i] = auditToDoc(seq, &out[i])
		}
		_, err = s.c.audit.InsertMany(ctx, docs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditLog lists audit entries in Seq order: those of f.TargetID and of
// f.ActorID when they are not empty, with Seq greater than f.After, at
// most f.Limit of them (hub.DefaultAuditLimit when f.Limit <= 0, at most
// hub.MaxAuditLimit). It walks {targetId, _id} or {actorId, _id}.
func (s *Store) AuditLog(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEntry, error) {
	if err := storecheck.Ref("audit target", f.TargetID); err != nil {
		return nil, err
	}
	if err := storecheck.Ref("audit actor", f.ActorID); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	filter, limit, ok := auditFilter(f)
	if !ok {
		return nil, nil
	}
	o := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit))
	out, err := findAll(ctx, s.c.audit, filter, o, (*auditDoc).domain)
	if err != nil {
		return nil, s.fail("read audit trail", err)
	}
	return out, nil
}
