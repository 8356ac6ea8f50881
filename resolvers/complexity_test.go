package resolvers_test

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/vektah/gqlparser/v2/ast"
)

// argValue is a value of a required argument's type for the test.
func argValue(t *ast.Type) any {
	if t.Elem != nil {
		return []any{}
	}
	switch t.NamedType {
	case "Int":
		return 10
	case "Float":
		return 1.5
	case "Boolean":
		return false
	case "Time":
		return "2026-01-01T00:00:00Z"
	case "H3Cell":
		return "8928308280fffff"
	default:
		return "x"
	}
}

// TestEveryListFieldHasACost walks the schema: every field that returns a
// list (or a connection of one) has a complexity function that multiplies
// its selection by more than one item.
func TestEveryListFieldHasACost(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
	schema := es.Schema()
	n := 0
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			list := f.Type.Elem != nil
			connection := strings.HasSuffix(f.Type.Name(), "Connection") || f.Type.Name() == "AuditPage" || f.Type.Name() == "AccessLogPage"
			args := map[string]any{}
			for _, a := range f.Arguments {
				switch {
				case a.DefaultValue != nil:
					v, err := a.DefaultValue.Value(nil)
					if err != nil {
						t.Fatal(err)
					}
					args[a.Name] = v
				case a.Type.NonNull:
					args[a.Name] = argValue(a.Type)
				}
			}
			const child = 5
			got, ok := es.Complexity(context.Background(), def.Name, f.Name, child, args)
			edges := f.Type.Name() == "ResidentEdge" || f.Type.Name() == "AllocationEdge" || f.Name == "entries" && (def.Name == "AuditPage" || def.Name == "AccessLogPage")
			switch {
			case edges:
				// counted by the connection's first
			case list || connection:
				n++
				if !ok || got <= 2*(child+1) {
					t.Errorf("%s.%s: cost %d (%v) for a list of items costing %d", def.Name, f.Name, got, ok, child)
				}
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d list fields found", n)
	}
}

func TestListSizesFollowArguments(t *testing.T) {
	c := resolvers.Complexity()
	for _, tt := range []struct {
		k, want int
	}{{0, 1}, {1, 7}, {2, 19}, {10, 331}, {40, 4921}, {100, 30301}} {
		if got := resolvers.DiskSize(tt.k); got != tt.want {
			t.Errorf("DiskSize(%d) = %d, want %d", tt.k, got, tt.want)
		}
		if got, want := c.Cell.Neighbors(3, tt.k), 1+tt.want*4; got != want {
			t.Errorf("neighbors(k: %d) of items costing 3 = %d, want %d", tt.k, got, want)
		}
	}
	for _, k := range []int{-1, 101, 1 << 40} {
		if got := c.Cell.Neighbors(3, k); got != 5 {
			t.Errorf("neighbors(k: %d) = %d: a k the resolver refuses costs one item", k, got)
		}
	}
	for _, first := range []int{1, 20, 50, 500} {
		if got, want := c.Committee.Residents(9, first, nil, nil), 1+first*10; got != want {
			t.Errorf("residents(first: %d) = %d, want %d", first, got, want)
		}
		if got, want := c.Query.Allocations(9, "p", nil, nil, first, nil), 1+first*10; got != want {
			t.Errorf("allocations(first: %d) = %d, want %d", first, got, want)
		}
	}
	if got, want := c.Committee.Residents(9, 1<<30, nil, nil), 1+500*10; got != want {
		t.Errorf("residents(first: 2^30) = %d, want the page cap %d", got, want)
	}
	for _, tt := range []struct{ res, want int }{{9, 2000}, {8, 286}, {7, 41}, {6, 6}, {5, 1}} {
		if got, want := c.District.Cells(0, tt.res), 1+tt.want; got != want {
			t.Errorf("cells(resolution: %d) = %d, want %d", tt.res, got, want)
		}
	}
	if got := resolvers.ListCost(1<<40, 1<<40); got <= 0 || got > 1<<41 {
		t.Errorf("ListCost overflow: %d", got)
	}
}

// TestCostedFieldsAreTheComplexityFunctions: the fields Batched says have
// a complexity function are exactly those Complexity sets (found by
// reflection on graph.ComplexityRoot, names compared as gqlgen maps
// them), and many of them.
func TestCostedFieldsAreTheComplexityFunctions(t *testing.T) {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	want := map[string]bool{}
	root := reflect.ValueOf(resolvers.Complexity())
	for i := range root.NumField() {
		obj := root.Field(i)
		for j := range obj.NumField() {
			if !obj.Field(j).IsNil() {
				want[norm(root.Type().Field(i).Name)+"."+norm(obj.Type().Field(j).Name)] = true
			}
		}
	}
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
	costed := (&resolvers.Resolver{}).Batched(es).(httpapi.CostedFields)
	got := map[string]bool{}
	for _, def := range es.Schema().Types {
		for _, f := range def.Fields {
			if costed.Costed(def.Name, f.Name) {
				got[norm(def.Name)+"."+norm(f.Name)] = true
			}
		}
	}
	if len(want) < 30 || !maps.Equal(got, want) {
		t.Errorf("costed fields:\n got %v\nwant %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// TestCostSameWithCostedFields: every field of the schema, with its
// arguments given and without, costs the same whether Cost asks the
// schema about every field or only those with a complexity function.
func TestCostSameWithCostedFields(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()})
	costed := (&resolvers.Resolver{}).Batched(es)
	ctx := context.Background()
	n, listed := 0, 0
	for _, def := range es.Schema().Types {
		if def.Kind != ast.Object && def.Kind != ast.Interface {
			continue
		}
		for _, fd := range def.Fields {
			if strings.HasPrefix(fd.Name, "__") {
				continue
			}
			vars := map[string]any{}
			var args ast.ArgumentList
			for _, a := range fd.Arguments {
				vars[a.Name] = argValue(a.Type)
				args = append(args, &ast.Argument{Name: a.Name, Value: &ast.Value{Kind: ast.Variable, Raw: a.Name}})
			}
			for _, given := range []ast.ArgumentList{args, nil} {
				child := ast.SelectionSet{&ast.Field{Name: "__typename", Alias: "__typename"}}
				op := &ast.OperationDefinition{Operation: ast.Query, SelectionSet: ast.SelectionSet{&ast.Field{
					Name: fd.Name, Alias: fd.Name, Arguments: given, Definition: fd, ObjectDefinition: def, SelectionSet: child,
				}}}
				want := httpapi.Cost(ctx, es, op, vars, 1<<30)
				if got := httpapi.Cost(ctx, costed, op, vars, 1<<30); got != want {
					t.Errorf("%s.%s (arguments %d): cost %d, want %d", def.Name, fd.Name, len(given), got, want)
				}
				if want > 2 {
					listed++
				}
				n++
			}
		}
	}
	if n < 200 || listed < 30 {
		t.Errorf("%d fields costed, %d over 2: the walk missed the schema", n, listed)
	}
}
