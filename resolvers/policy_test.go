package resolvers

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestPolicyCoversSchema keeps the authorization table complete: every
// root field has a rule, every rule names a field of the schema, and
// every mutation open to a role other than ADMIN checks the caller's
// scope before it runs.
func TestPolicyCoversSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{}}).Schema()
	table := policy()
	for _, def := range []string{"Query", "Mutation", "Subscription"} {
		d := schema.Types[def]
		if d == nil {
			t.Fatalf("the schema has no %s type", def)
		}
		for _, f := range d.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			key := def + "." + f.Name
			ru, ok := table[key]
			if !ok {
				t.Errorf("%s has no rule in the policy", key)
				continue
			}
			if def == "Mutation" && len(ru.roles) > 0 && ru.before == nil {
				t.Errorf("%s is open to %v but checks no scope before it writes", key, ru.roles)
			}
		}
	}
	for key := range table {
		obj, field, _ := strings.Cut(key, ".")
		d := schema.Types[obj]
		if d == nil || d.Fields.ForName(field) == nil {
			t.Errorf("the policy names %s, which the schema does not have", key)
		}
	}
}

// TestAuthorizeStrict checks that a strict rule (a pickup code) holds for
// ADMIN tokens too: the owner sees the field, everyone else null.
func TestAuthorizeStrict(t *testing.T) {
	mw := (&Resolver{}).Authorize()
	alloc := &hub.Allocation{ID: "alc_1", ResidentID: "res_1"}
	tests := []struct {
		name string
		give *auth.Principal // nil: no token
		want any
	}{
		{"the owner", &auth.Principal{Role: auth.Resident, Scope: "res_1"}, "CODE"},
		{"another resident", &auth.Principal{Role: auth.Resident, Scope: "res_2"}, nil},
		{"admin", &auth.Principal{Role: auth.Admin}, nil},
		{"the committee", &auth.Principal{Role: auth.Committee, Scope: "com_1"}, nil},
		{"the pharmacy", &auth.Principal{Role: auth.Pharmacy, Scope: "pha_1"}, nil},
		{"no token", nil, nil},
	}
	for _, field := range []string{"pickupCode", "qrUrl"} {
		for _, tt := range tests {
			t.Run(field+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				if tt.give != nil {
					ctx = auth.WithPrincipal(ctx, *tt.give)
				}
				// WithFieldContext links each field to the one before it.
				ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Query", Result: alloc})
				ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{
					Object: "Allocation",
					Field:  graphql.CollectedField{Field: &ast.Field{Name: field}},
				})
				got, err := mw(ctx, func(context.Context) (any, error) { return "CODE", nil })
				if err != nil {
					t.Fatalf("error %v, want none (a refused reader gets null)", err)
				}
				if got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	}
}
