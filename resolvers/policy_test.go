package resolvers

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/graph/model"
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
			if def == "Mutation" && len(ru.roles) > 0 && ru.before == nil && ru.beforeCtx == nil {
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

// TestReserveReadsResidentOnce checks that the policy's check of a
// reservation hands the resident it read to the resolver, so that a
// COMMITTEE token's reservation reads it once, and that the check still
// refuses what it refused: another committee's resident, an unknown one,
// another resident.
func TestReserveReadsResidentOnce(t *testing.T) {
	fx := newLoaderFixture(t, 4, 0, testLoaderWait)
	mw := fx.res.Authorize()
	tests := []struct {
		name      string
		p         auth.Principal
		resident  string
		wantErr   bool
		wantReads int  // store reads of the resident by the check
		handed    bool // the resolver finds the resident in its context
	}{
		{"its committee", auth.Principal{Role: auth.Committee, Scope: "c000"}, "r001", false, 1, true},
		{"another committee", auth.Principal{Role: auth.Committee, Scope: "c999"}, "r001", true, 1, false},
		{"an unknown resident", auth.Principal{Role: auth.Committee, Scope: "c000"}, "r-none", true, 1, false},
		{"the resident", auth.Principal{Role: auth.Resident, Scope: "r001"}, "r001", false, 0, false},
		{"another resident", auth.Principal{Role: auth.Resident, Scope: "r002"}, "r001", true, 0, false},
		{"admin", auth.Principal{Role: auth.Admin}, "r001", false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := auth.WithPrincipal(context.Background(), tt.p)
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{
				Object: "Mutation",
				Field:  graphql.CollectedField{Field: &ast.Field{Name: "reserve"}},
				Args:   map[string]any{"input": model.ReserveInput{RoundID: "round1", ResidentID: tt.resident}},
			})
			fx.st.reset()
			ran, handed := false, false
			_, err := mw(ctx, func(ctx context.Context) (any, error) {
				ran = true
				var res *hub.Resident
				res, handed = scopedResident(ctx, tt.resident)
				if handed && res.ID != tt.resident {
					t.Errorf("handed resident %s, want %s", res.ID, tt.resident)
				}
				return nil, nil
			})
			if (err != nil) != tt.wantErr || ran == tt.wantErr {
				t.Fatalf("error %v, resolver ran %v; want error %v", err, ran, tt.wantErr)
			}
			if _, calls := fx.st.reset(); calls["Resident"] != tt.wantReads {
				t.Errorf("the check read the resident %d times, want %d", calls["Resident"], tt.wantReads)
			}
			if handed != tt.handed {
				t.Errorf("resident handed to the resolver: %v, want %v", handed, tt.handed)
			}
			if _, ok := scopedResident(ctx, tt.resident); tt.handed && ok {
				t.Error("the field's own context carries the resident: it must go to the resolver only")
			}
		})
	}
}
