package resolvers

import (
	"context"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
)

// actionAccessLog is the audit action of a read of someone's access log
// by anyone but themselves.
const actionAccessLog = "accessLog"

// accessLog answers a page of the reads of one resident's personal data,
// oldest first (Seq order), those with Seq greater than after, leaving out
// the entries skip names. The reader's name (the token subject) is shown
// only when ShowOfficialNames is set. A read by anyone but the resident is
// itself recorded, as actionAccessLog.
func (r *Resolver) accessLog(ctx context.Context, residentID string, skip func(*hub.AuditEntry) bool, first int, after *int, purpose string) (*model.AccessLogPage, error) {
	if first < 1 || first > hub.MaxAuditLimit {
		return nil, hub.Errorf(hub.EINVALID, "first %d is outside [1, %d]", first, hub.MaxAuditLimit)
	}
	f := hub.AuditFilter{TargetID: residentID, Limit: hub.MaxAuditLimit}
	if after != nil {
		if *after < 0 {
			return nil, hub.Errorf(hub.EINVALID, "after %d is negative", *after)
		}
		f.After = uint64(*after)
	}
	var kept []hub.AuditEntry
	for len(kept) <= first {
		es, err := r.City.Store().AuditLog(ctx, f)
		if err != nil {
			return nil, err
		}
		for i := range es {
			if skip == nil || !skip(&es[i]) {
				kept = append(kept, es[i])
			}
		}
		if len(es) < f.Limit {
			break
		}
		f.After = es[len(es)-1].Seq
	}
	page := &model.AccessLogPage{Entries: make([]*model.AccessLogEntry, 0, min(len(kept), first))}
	if len(kept) > first {
		kept = kept[:first]
		next := int(kept[len(kept)-1].Seq)
		page.NextAfter = &next
	}
	for i := range kept {
		page.Entries = append(page.Entries, r.accessLogEntry(&kept[i]))
	}
	if err := r.audit(ctx, actionAccessLog, residentID, purpose, len(page.Entries)); err != nil {
		return nil, err
	}
	return page, nil
}

// accessLogEntry is what a resident may see of an audit entry.
func (r *Resolver) accessLogEntry(e *hub.AuditEntry) *model.AccessLogEntry {
	out := &model.AccessLogEntry{
		Seq: int(e.Seq), At: e.At, ActorRole: e.ActorRole, ActorScope: e.ActorID,
		Action: e.Action, Purpose: e.Purpose, Count: e.Count,
	}
	if r.ShowOfficialNames && e.Subject != "" {
		s := e.Subject
		out.Official = &s
	}
	return out
}

// myAccessLog is Query.myAccessLog: the caller's own entries.
func (r *Resolver) myAccessLog(ctx context.Context, first int, after *int) (*model.AccessLogPage, error) {
	p, _ := auth.FromContext(ctx)
	if p.Role != auth.Resident || p.Scope == "" {
		return nil, forbidden(p)
	}
	return r.accessLog(ctx, p.Scope, nil, first, after, "")
}

// residentAccessLog is Query.residentAccessLog: the reads of a resident of
// the caller's district by anyone but that district (the policy checks
// the resident is the district's). Another role (ADMIN) sees every entry.
func (r *Resolver) residentAccessLog(ctx context.Context, residentID string, first int, after *int) (*model.AccessLogPage, error) {
	p, _ := auth.FromContext(ctx)
	var skip func(*hub.AuditEntry) bool
	if p.Role == auth.District {
		skip = func(e *hub.AuditEntry) bool { return e.ActorRole == string(auth.District) && e.ActorID == p.Scope }
	}
	return r.accessLog(ctx, residentID, skip, first, after, "access log")
}
