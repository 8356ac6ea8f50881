package resolvers

import (
	"context"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// checkpoints lists the checkpoints by id, those of one district when
// districtID is not empty (an unknown district is NOT_FOUND).
func (r *Resolver) checkpoints(ctx context.Context, districtID string) ([]*hub.Checkpoint, error) {
	st := r.City.Store()
	if districtID != "" {
		if _, err := st.District(ctx, districtID); err != nil {
			return nil, err
		}
	}
	cs, err := st.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	if districtID != "" {
		cs = slices.DeleteFunc(cs, func(c *hub.Checkpoint) bool { return c.DistrictID != districtID })
	}
	slices.SortFunc(cs, func(a, b *hub.Checkpoint) int { return strings.Compare(a.ID, b.ID) })
	return cs, nil
}

// districtArgOwn refuses a DISTRICT token a districtId other than its
// own; other roles and a missing districtId pass (the rule's after filter
// keeps what the caller may see).
func districtArgOwn(name string) func(context.Context, *Resolver, auth.Principal, *graphql.FieldContext) error {
	return func(_ context.Context, _ *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		if p.Role != auth.District {
			return nil
		}
		if id, _ := fc.Args[name].(*string); id != nil && *id != p.Scope {
			return forbidden(p)
		}
		return nil
	}
}
