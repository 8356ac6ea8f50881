package resolvers

import (
	"context"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
)

// unstated is the purpose recorded when a reader gives none.
const unstated = "not stated"

// audit records a read of personal data before it is answered: a read that
// cannot be recorded is not answered. A resident reading their own data is
// not recorded.
func (r *Resolver) audit(ctx context.Context, action, target, purpose string, count int) error {
	p, _ := auth.FromContext(ctx)
	if p.Role == auth.Resident && p.Scope == target {
		return nil
	}
	if purpose == "" {
		purpose = unstated
	}
	_, err := r.City.Store().AppendAudit(ctx, hub.AuditEntry{
		At: r.City.Now(), ActorRole: string(p.Role), ActorID: p.Scope, Subject: p.Subject,
		Action: action, TargetID: target, Purpose: purpose, Count: count,
	})
	return err
}

func (r *Resolver) auditLog(ctx context.Context, targetID, actorID string, after *int, first int) (*model.AuditPage, error) {
	if first < 1 || first > hub.MaxAuditLimit {
		return nil, hub.Errorf(hub.EINVALID, "first %d is outside [1, %d]", first, hub.MaxAuditLimit)
	}
	f := hub.AuditFilter{TargetID: targetID, ActorID: actorID, Limit: first + 1}
	if after != nil {
		if *after < 0 {
			return nil, hub.Errorf(hub.EINVALID, "after %d is negative", *after)
		}
		f.After = uint64(*after)
	}
	es, err := r.City.Store().AuditLog(ctx, f)
	if err != nil {
		return nil, err
	}
	page := &model.AuditPage{Entries: make([]*hub.AuditEntry, 0, len(es))}
	if len(es) > first {
		es = es[:first]
		next := int(es[len(es)-1].Seq)
		page.NextAfter = &next
	}
	for i := range es {
		page.Entries = append(page.Entries, &es[i])
	}
	return page, nil
}
