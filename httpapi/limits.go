package httpapi

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// ShapeLimit refuses operations that are too deep or carry too many
// aliased fields (alias bombs) before any resolver runs. Fragments are
// followed, so depth hidden in fragments counts; the walk is bounded by
// DocumentLimit's cap on fields with fragments expanded. Only the
// introspection field __Type.ofType adds no depth.
type ShapeLimit struct {
	MaxDepth   int
	MaxAliases int
}

var (
	_ graphql.HandlerExtension        = ShapeLimit{}
	_ graphql.OperationContextMutator = ShapeLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (ShapeLimit) ExtensionName() string { return "ShapeLimit" }

// Validate implements graphql.HandlerExtension.
func (l ShapeLimit) Validate(graphql.ExecutableSchema) error {
	if l.MaxDepth <= 0 || l.MaxAliases < 0 {
		return fmt.Errorf("shape limit: depth %d and aliases %d must be positive", l.MaxDepth, l.MaxAliases)
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (l ShapeLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := shapeWalker{limit: l}
	depth := w.depth(oc.Operation.SelectionSet, 0)
	switch {
	case w.exceeded:
		return shapeError("the operation is deeper than %d levels", l.MaxDepth)
	case w.aliases > l.MaxAliases:
		return shapeError("the operation has %d aliased fields, more than %d", w.aliases, l.MaxAliases)
	case depth > l.MaxDepth:
		return shapeError("the operation is %d levels deep, more than %d", depth, l.MaxDepth)
	}
	return nil
}

func shapeError(format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Extensions = map[string]any{"code": hub.EINVALID, "reason": "QUERY_SHAPE_LIMIT"}
	return e
}

type shapeWalker struct {
	limit    ShapeLimit
	aliases  int
	exceeded bool
}

// depth returns the depth of a selection set below level, counting aliases
// on the way. It stops descending past the limit, so cyclic or huge
// fragment graphs cost no more than the limit allows.
func (w *shapeWalker) depth(set ast.SelectionSet, level int) int {
	if level > w.limit.MaxDepth {
		w.exceeded = true
		return level
	}
	max := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			if typeRef(s) {
				// The introspection query's TypeRef nests ofType eight
				// levels: a type reference's wrappers do not count as
				// depth (their cost does, exactly, in CostLimit).
				d = w.depth(s.SelectionSet, level)
			} else if len(s.SelectionSet) == 0 {
				d = level + 1
			} else {
				d = w.depth(s.SelectionSet, level+1)
			}
		case *ast.InlineFragment:
			d = w.depth(s.SelectionSet, level)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = w.depth(s.Definition.SelectionSet, level)
			}
		}
		if d > max {
			max = d
		}
		if w.exceeded || w.aliases > w.limit.MaxAliases {
			return max
		}
	}
	return max
}

// typeRef reports whether f is __Type.ofType, the introspection field
// that unwraps a list or non-null type.
func typeRef(f *ast.Field) bool {
	return f.Name == "ofType" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "__Type"
}
