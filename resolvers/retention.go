package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/retention"
)

// Retention periods and legal holds.

func (r *Resolver) retention() (*retention.Service, error) {
	if r.Retention == nil {
		return nil, hub.Errorf(hub.EINTERNAL, "retention is not configured")
	}
	return r.Retention, nil
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

func (r *Resolver) retentionPeriods() (*model.RetentionPeriods, error) {
	svc, err := r.retention()
	if err != nil {
		return nil, err
	}
	p := svc.Periods()
	return &model.RetentionPeriods{
		ScansDays: days(p.Scans), DeclarationsDays: days(p.Declarations),
		DispatchDays: days(p.Dispatch), AuditDays: days(p.Audit),
	}, nil
}

// actor is who acts on a hold: the caller's token.
func actor(ctx context.Context) retention.Actor {
	p, _ := auth.FromContext(ctx)
	return retention.Actor{Role: string(p.Role), ID: p.Scope, Subject: p.Subject}
}

func (r *Resolver) holds(ctx context.Context, districtID *string, all bool) ([]*hub.Hold, error) {
	svc, err := r.retention()
	if err != nil {
		return nil, err
	}
	d := deref(districtID)
	if p, _ := auth.FromContext(ctx); p.Role == auth.District {
		d = p.Scope // the policy refused any other district
	}
	return svc.Holds(ctx, d, !all)
}

func (r *Resolver) placeHold(ctx context.Context, caseID string, residentIDs []string, reason string, until time.Time) (*hub.Hold, error) {
	svc, err := r.retention()
	if err != nil {
		return nil, err
	}
	return svc.PlaceHold(ctx, actor(ctx), retention.HoldInput{CaseID: caseID, ResidentIDs: residentIDs, Reason: reason, Until: until})
}

func (r *Resolver) extendHold(ctx context.Context, id string, until time.Time, reason string) (*hub.Hold, error) {
	svc, err := r.retention()
	if err != nil {
		return nil, err
	}
	return svc.ExtendHold(ctx, actor(ctx), id, until, reason)
}

func (r *Resolver) liftHold(ctx context.Context, id, reason string) (*hub.Hold, error) {
	svc, err := r.retention()
	if err != nil {
		return nil, err
	}
	return svc.LiftHold(ctx, actor(ctx), id, reason)
}

func (r *Resolver) holdInForce(h *hub.Hold) bool {
	if r.Retention == nil {
		return h.InForce(time.Now())
	}
	return h.InForce(r.Retention.Now())
}

// caseArgInDistrict lets a district hold the records of its own cases.
func caseArgInDistrict(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["caseId"].(string)
	if res, err := r.City.Store().Resident(ctx, id); err == nil && p.Is(auth.District, res.DistrictID) {
		return nil
	}
	return forbidden(p)
}

// holdArgInDistrict lets a district extend and lift its own holds.
func holdArgInDistrict(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["id"].(string)
	if r.Retention == nil {
		return forbidden(p)
	}
	if h, err := r.Retention.Hold(ctx, id); err == nil && p.Is(auth.District, h.DistrictID) {
		return nil
	}
	return forbidden(p)
}
