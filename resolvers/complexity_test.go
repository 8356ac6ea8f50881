package resolvers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/graph"
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
