package httpapi

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/internal/ctxval"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
)

// Defaults of the document and cost limits (see Options).
const (
	DefaultMaxTokens     = 4000
	DefaultMaxFields     = 1000
	DefaultMaxFragments  = 100
	DefaultMaxDirectives = 100
	DefaultMaxVariables  = 100
	// DefaultMaxComplexityAnonymous keeps the worst operation a caller
	// without a token may send to a few milliseconds of CPU
	// (BenchmarkWorstAnonymous: about 3 µs a unit through the executor; a
	// disk of k=14, 40 cells with their boundaries), above the standard
	// introspection queries, which the fast path answers for 1,030–1,100
	// units (see IntrospectionFieldsPerUnit).
	DefaultMaxComplexityAnonymous = 1_400
	DefaultMaxResponseBytes       = 4 << 20 // 4 MiB
)

// Reasons of the refusals, in extensions.reason beside code BAD_USER_INPUT.
const (
	reasonDocument     = "QUERY_TOO_LARGE"
	reasonComplexity   = "QUERY_COMPLEXITY_LIMIT"
	reasonResponseSize = "RESPONSE_TOO_LARGE"
)

func limitError(reason, format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Extensions = map[string]any{"code": hub.EINVALID, "reason": reason}
	return e
}

// responseTooLarge refuses an answer over maxBytes, written whole or not.
func responseTooLarge(maxBytes int) *gqlerror.Error {
	return limitError(reasonResponseSize, "the answer is larger than %d bytes: ask for fewer items or fields", maxBytes)
}

// DocumentLimit refuses a document too large to parse and validate
// cheaply, before the executor parses or validates it (and before
// automatic persisted queries keep it): its lexical tokens are counted
// first, stopping at MaxTokens; then it is parsed once and its fields
// (fragments expanded, each fragment counted once however often it is
// spread), fragments, directives and variables are counted. Validation
// costs up to the square of the fields that share a response name, so the
// fields cap is what keeps it cheap. Every check runs in time linear in
// the document. Documents the query cache holds were checked already.
type DocumentLimit struct {
	MaxTokens     int
	MaxFields     int
	MaxFragments  int
	MaxDirectives int
	MaxVariables  int
	// Cache is the executor's query cache, if any: a hit is a document
	// that passed these checks and validation before.
	Cache graphql.Cache[*ast.QueryDocument]
	// Checked, if set, is called for each document these checks parse
	// (tests count them).
	Checked func(query string)
}

var (
	_ graphql.HandlerExtension          = DocumentLimit{}
	_ graphql.OperationParameterMutator = DocumentLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (DocumentLimit) ExtensionName() string { return "DocumentLimit" }

// Validate implements graphql.HandlerExtension.
func (l DocumentLimit) Validate(graphql.ExecutableSchema) error {
	if l.MaxTokens <= 0 || l.MaxFields <= 0 || l.MaxFragments < 0 || l.MaxDirectives < 0 || l.MaxVariables < 0 {
		return fmt.Errorf("document limit: tokens %d and fields %d must be positive", l.MaxTokens, l.MaxFields)
	}
	return nil
}

// MutateOperationParameters implements graphql.OperationParameterMutator.
func (l DocumentLimit) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	if l.Cache != nil {
		if _, ok := l.Cache.Get(ctx, params.Query); ok {
			return nil
		}
	}
	return l.Check(params.Query)
}

// Check runs the document checks on one query text.
func (l DocumentLimit) Check(query string) *gqlerror.Error {
	if n, over := CountTokens(query, l.MaxTokens); over {
		return limitError(reasonDocument, "the operation has more than %d tokens", l.MaxTokens)
	} else if n == 0 {
		return nil
	}
	if l.Checked != nil {
		l.Checked(query)
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.MaxTokens)
	if err != nil || doc == nil {
		return nil // the executor reports the syntax error
	}
	if n := len(doc.Fragments); n > l.MaxFragments {
		return limitError(reasonDocument, "the document has %d fragments, more than %d", n, l.MaxFragments)
	}
	if n := len(doc.Operations); n > l.MaxFragments {
		return limitError(reasonDocument, "the document has %d operations, more than %d", n, l.MaxFragments)
	}
	c := docCounter{doc: doc, memo: make(map[string]int, len(doc.Fragments)), cap: l.MaxFields + 1}
	variables, fields := 0, 0
	for _, op := range doc.Operations {
		variables += len(op.VariableDefinitions)
		c.directives += len(op.Directives)
		for _, v := range op.VariableDefinitions {
			c.directives += len(v.Directives)
		}
		fields = satAdd(fields, c.set(op.SelectionSet), c.cap)
	}
	for _, f := range doc.Fragments {
		c.directives += len(f.Directives)
		fields = satAdd(fields, c.fragment(f.Name), c.cap)
	}
	switch {
	case variables > l.MaxVariables:
		return limitError(reasonDocument, "the document declares %d variables, more than %d", variables, l.MaxVariables)
	case c.directives > l.MaxDirectives:
		return limitError(reasonDocument, "the document has %d directives, more than %d", c.directives, l.MaxDirectives)
	case fields > l.MaxFields:
		return limitError(reasonDocument, "the document selects more than %d fields, fragments expanded", l.MaxFields)
	}
	return nil
}

// CountTokens counts the lexical tokens of a GraphQL document, stopping
// past max; over reports that it did. A document that does not lex
// counts the tokens before the error (the parser reports it).
func CountTokens(query string, max int) (n int, over bool) {
	lx := lexer.New(&ast.Source{Input: query})
	for {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return n, false
		}
		n++
		if n > max {
			return n, true
		}
	}
}

// docCounter counts the fields of selection sets with fragments expanded,
// each fragment's count computed once; a fragment met again while it is
// being counted (a cycle, refused by validation) counts nothing.
type docCounter struct {
	doc        *ast.QueryDocument
	memo       map[string]int
	cap        int
	directives int
}

func (c *docCounter) set(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			c.directives += len(s.Directives)
			n = satAdd(n, satAdd(1, c.set(s.SelectionSet), c.cap), c.cap)
		case *ast.InlineFragment:
			c.directives += len(s.Directives)
			n = satAdd(n, c.set(s.SelectionSet), c.cap)
		case *ast.FragmentSpread:
			c.directives += len(s.Directives)
			n = satAdd(n, c.fragment(s.Name), c.cap)
		}
	}
	return n
}

func (c *docCounter) fragment(name string) int {
	if n, ok := c.memo[name]; ok {
		return n
	}
	c.memo[name] = 0 // in progress
	f := c.doc.Fragments.ForName(name)
	if f == nil {
		return 0
	}
	saved := c.directives
	n := c.set(f.SelectionSet)
	c.directives = saved // a fragment's own directives count once, below
	c.memo[name] = n
	return n
}

// satAdd adds without going past limit.
func satAdd(a, b, limit int) int {
	if a >= limit || b >= limit || a+b >= limit {
		return limit
	}
	return a + b
}

// CostLimit refuses an operation whose cost, computed before it runs,
// is over the caller's budget: Signed for a caller with a token,
// Anonymous without. The cost is one per field of the answer, list
// fields multiplied by the items their arguments or the schema's
// complexity functions say they hold (see resolvers.Complexity); fragments
// are costed once each however often they are spread. Introspection
// (__schema, __type) is costed exactly, by walking the schema it
// describes. An operation over the budget without a token but within the
// one with a token is refused with UNAUTHENTICATED (reason
// QUERY_COMPLEXITY_LIMIT still), one over both with BAD_USER_INPUT.
//
// With Fast set, an operation whose root fields are only introspection
// meta-fields is answered by Fast (see Introspection) as its cost is
// counted, and costs its answer's fields divided by
// IntrospectionFieldsPerUnit (the same unit of CPU as the executor's
// field); its answer is served as the operation's (CostLimit is then the
// last response interceptor, so the others see that answer). An answer
// past MaxBytes (if set) is refused as ResponseLimit refuses it.
type CostLimit struct {
	Signed    int
	Anonymous int
	Fast      *Introspection
	MaxBytes  int

	es graphql.ExecutableSchema
}

// IntrospectionFieldsPerUnit is how many fields of an introspection answer
// Introspection writes in the CPU time the executor takes for one unit of
// cost (one field of the answer): measured with
// BenchmarkIntrospectionFastPath, which answers the three standard queries
// both ways in one run (2 cores, load 2-4): the executor 2.6-3.2 µs of CPU
// a field, the fast path 0.28-0.36 µs for the whole request (about half
// of it encoding/json checking the answer as the transport writes it),
// 7.7-9.3 times less. At 8, a unit of introspection costs 2.3-2.9 µs,
// within the executor's 3.0-4.1 µs a unit on the worst data operations
// of BenchmarkWorstAnonymous.
const IntrospectionFieldsPerUnit = 8

var (
	_ graphql.HandlerExtension        = &CostLimit{}
	_ graphql.OperationContextMutator = &CostLimit{}
	_ graphql.ResponseInterceptor     = &CostLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (*CostLimit) ExtensionName() string { return "CostLimit" }

// Validate implements graphql.HandlerExtension.
func (c *CostLimit) Validate(es graphql.ExecutableSchema) error {
	if c.Signed <= 0 || c.Anonymous <= 0 {
		return fmt.Errorf("cost limit: budgets %d and %d must be positive", c.Signed, c.Anonymous)
	}
	c.es = es
	return nil
}

// CostStats is what CostLimit records in the operation's stats, under
// the extension name "CostLimit".
type CostStats struct {
	Cost  int
	Limit int
	// Fast is true when the operation was answered by CostLimit.Fast.
	Fast bool

	answer []byte
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (c *CostLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	limit, who := c.Anonymous, "a caller without a token"
	_, signed := auth.FromContext(ctx)
	if signed {
		limit, who = c.Signed, "a signed-in caller"
	}
	tooCostly := func() *gqlerror.Error {
		return limitError(reasonComplexity, "the operation costs more than %d, the budget of %s (each list counts its items: lower first, k or the fields asked for)", limit, who)
	}
	if c.Fast != nil && !oc.DisableIntrospection && IntrospectionOnly(oc.Doc, oc.Operation) {
		maxBytes := c.MaxBytes
		if maxBytes <= 0 {
			maxBytes = costCap
		}
		data, fields, ok := c.Fast.Answer(oc, min(limit, costCap/IntrospectionFieldsPerUnit)*IntrospectionFieldsPerUnit, maxBytes)
		if ok {
			cost := (fields + IntrospectionFieldsPerUnit - 1) / IntrospectionFieldsPerUnit
			oc.Stats.SetExtension("CostLimit", &CostStats{Cost: cost, Limit: limit, Fast: true, answer: data})
			switch {
			case cost > limit:
				return tooCostly()
			case data == nil:
				return responseTooLarge(c.MaxBytes)
			}
			return nil
		}
	}
	cost := Cost(ctx, c.es, oc.Operation, oc.Variables, limit)
	oc.Stats.SetExtension("CostLimit", &CostStats{Cost: cost, Limit: limit})
	switch {
	case cost <= limit:
		return nil
	case !signed && cost <= c.Signed:
		// A token would let it run (and most fields that cost this much
		// need one): say so, as the policy would have.
		e := limitError(reasonComplexity, "the operation costs more than %d, the budget of a caller without a token: send a token (the budget with one is %d)", limit, c.Signed)
		e.Extensions["code"] = hub.EUNAUTHORIZED
		return e
	}
	return tooCostly()
}

// InterceptResponse implements graphql.ResponseInterceptor: it serves the
// answer Fast wrote, if any.
func (c *CostLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	stats, _ := graphql.GetOperationContext(ctx).Stats.GetExtension("CostLimit").(*CostStats)
	if stats == nil || stats.answer == nil {
		return next(ctx)
	}
	return &graphql.Response{Data: stats.answer, Errors: graphql.GetErrors(ctx), Extensions: graphql.GetExtensions(ctx)}
}

// costCap bounds the costs computed, far above any budget.
const costCap = 1 << 40

// Cost returns the cost of an operation (see CostLimit), or a number
// past stop as soon as the cost is known to be past it.
func Cost(ctx context.Context, es graphql.ExecutableSchema, op *ast.OperationDefinition, vars map[string]any, stop int) int {
	w := costWalker{
		ctx: ctx, es: es, vars: vars,
		intro: introspectionCost{schema: es.Schema(), stop: stop},
	}
	w.costed, _ = es.(CostedFields)
	return w.set(op.SelectionSet)
}

// CostedFields is what an ExecutableSchema may add to say which fields
// have a complexity function of their own: Cost evaluates the arguments
// of those only, and costs any other field one plus its selection without
// asking, as the schema's Complexity would have answered.
type CostedFields interface {
	Costed(object, field string) bool
}

type costWalker struct {
	ctx    context.Context
	es     graphql.ExecutableSchema
	costed CostedFields // nil: every field is asked about
	vars   map[string]any
	frags  map[string]int // made at the first fragment spread
	intro  introspectionCost
}

func (w *costWalker) set(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n = satAdd(n, w.field(s), costCap)
		case *ast.InlineFragment:
			n = satAdd(n, w.set(s.SelectionSet), costCap)
		case *ast.FragmentSpread:
			c, ok := w.frags[s.Name]
			if !ok && s.Definition != nil {
				if w.frags == nil {
					w.frags = map[string]int{}
				}
				w.frags[s.Name] = 0 // cycles are refused by validation
				c = w.set(s.Definition.SelectionSet)
				w.frags[s.Name] = c
			}
			n = satAdd(n, c, costCap)
		}
	}
	return n
}

func (w *costWalker) field(f *ast.Field) int {
	switch f.Name {
	case "__typename":
		return 1
	case "__schema":
		return satAdd(1, w.intro.set(f.SelectionSet, introObject{schema: true}), costCap)
	case "__type":
		name, _ := f.ArgumentMap(w.vars)["name"].(string)
		def := w.intro.schema.Types[name]
		if def == nil {
			return 1
		}
		return satAdd(1, w.intro.set(f.SelectionSet, introObject{def: def}), costCap)
	}
	child := 0
	if len(f.SelectionSet) > 0 {
		child = w.set(f.SelectionSet)
	}
	if f.ObjectDefinition != nil && (w.costed == nil || w.costed.Costed(f.ObjectDefinition.Name, f.Name)) {
		if c, ok := w.es.Complexity(w.ctx, f.ObjectDefinition.Name, f.Name, child, f.ArgumentMap(w.vars)); ok && c >= 1 {
			return min(c, costCap)
		}
	}
	return satAdd(1, child, costCap)
}

// introspectionCost costs a selection on the introspection types exactly:
// the number of fields the answer will hold, by walking the schema. A
// named type's cost under one field is computed once; the walk stops
// once the cost is past stop.
type introspectionCost struct {
	schema *ast.Schema
	memo   map[introKey]int // made at the first entry
	stop   int
	work   int
}

type introKey struct {
	field *ast.Field
	typ   string
}

// introObject is one object of the introspection answer.
type introObject struct {
	schema bool                     // __Schema
	def    *ast.Definition          // a named __Type
	ref    *ast.Type                // a wrapping __Type (list or non-null)
	field  *ast.FieldDefinition     // __Field, or an input field's __InputValue
	arg    *ast.ArgumentDefinition  // an argument's __InputValue
	enum   *ast.EnumValueDefinition // __EnumValue
	dir    *ast.DirectiveDefinition // __Directive
	input  bool                     // field is an input value
}

func (c *introspectionCost) set(set ast.SelectionSet, obj introObject) int {
	n := 0
	for _, sel := range set {
		if c.work > c.stop {
			return costCap
		}
		switch s := sel.(type) {
		case *ast.Field:
			n = satAdd(n, c.field(s, obj), costCap)
		case *ast.InlineFragment:
			n = satAdd(n, c.set(s.SelectionSet, obj), costCap)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n = satAdd(n, c.set(s.Definition.SelectionSet, obj), costCap)
			}
		}
	}
	return n
}

func (c *introspectionCost) field(f *ast.Field, obj introObject) int {
	c.work++
	if len(f.SelectionSet) == 0 {
		if obj.dir != nil && f.Name == "locations" {
			return 1 + len(obj.dir.Locations)
		}
		return 1
	}
	if obj.def != nil {
		key := introKey{f, obj.def.Name}
		if n, ok := c.memo[key]; ok {
			return n
		}
		n := c.objectField(f, obj)
		if c.memo == nil {
			c.memo = map[introKey]int{}
		}
		c.memo[key] = n
		return n
	}
	return c.objectField(f, obj)
}

// objectField costs a field whose value is an object or a list of them.
func (c *introspectionCost) objectField(f *ast.Field, obj introObject) int {
	var items []introObject
	one := func(o introObject) int { return satAdd(1, c.set(f.SelectionSet, o), costCap) }
	named := func(t *ast.Type) introObject {
		if t.NonNull || t.Elem != nil {
			return introObject{ref: t}
		}
		return introObject{def: c.schema.Types[t.NamedType]}
	}
	switch {
	case obj.schema:
		switch f.Name {
		case "types":
			for _, d := range c.schema.Types {
				items = append(items, introObject{def: d})
			}
		case "queryType":
			return c.rootType(f, c.schema.Query)
		case "mutationType":
			return c.rootType(f, c.schema.Mutation)
		case "subscriptionType":
			return c.rootType(f, c.schema.Subscription)
		case "directives":
			for _, d := range c.schema.Directives {
				items = append(items, introObject{dir: d})
			}
		default:
			return 1
		}
	case obj.ref != nil:
		if f.Name != "ofType" {
			return 1
		}
		if obj.ref.NonNull {
			inner := *obj.ref
			inner.NonNull = false
			return one(named(&inner))
		}
		return one(named(obj.ref.Elem))
	case obj.def != nil:
		d := obj.def
		switch f.Name {
		case "fields":
			if d.Kind != ast.Object && d.Kind != ast.Interface {
				return 1
			}
			for _, fd := range d.Fields {
				if !strings.HasPrefix(fd.Name, "__") {
					items = append(items, introObject{field: fd})
				}
			}
		case "inputFields":
			if d.Kind != ast.InputObject {
				return 1
			}
			for _, fd := range d.Fields {
				items = append(items, introObject{field: fd, input: true})
			}
		case "interfaces":
			for _, name := range d.Interfaces {
				items = append(items, introObject{def: c.schema.Types[name]})
			}
		case "possibleTypes":
			if d.Kind != ast.Interface && d.Kind != ast.Union {
				return 1
			}
			for _, p := range c.schema.GetPossibleTypes(d) {
				items = append(items, introObject{def: p})
			}
		case "enumValues":
			for _, e := range d.EnumValues {
				items = append(items, introObject{enum: e})
			}
		default:
			return 1 // ofType of a named type is null
		}
	case obj.field != nil:
		switch f.Name {
		case "type":
			return one(named(obj.field.Type))
		case "args":
			for _, a := range obj.field.Arguments {
				items = append(items, introObject{arg: a})
			}
		default:
			return 1
		}
	case obj.arg != nil:
		if f.Name != "type" {
			return 1
		}
		return one(named(obj.arg.Type))
	case obj.dir != nil:
		if f.Name != "args" {
			return 1
		}
		for _, a := range obj.dir.Arguments {
			items = append(items, introObject{arg: a})
		}
	default:
		return 1
	}
	n := 1
	for _, it := range items {
		if it == (introObject{}) {
			continue // a type the schema does not hold
		}
		n = satAdd(n, 1+c.set(f.SelectionSet, it), costCap) // as resolvers.ListCost
		if c.work > c.stop {
			return costCap
		}
	}
	return n
}

func (c *introspectionCost) rootType(f *ast.Field, d *ast.Definition) int {
	if d == nil {
		return 1
	}
	return satAdd(1, c.set(f.SelectionSet, introObject{def: d}), costCap)
}

// ResponseLimit caps the bytes of each answer: one over MaxBytes is
// replaced by a BAD_USER_INPUT error (reason RESPONSE_TOO_LARGE). Fields
// are counted while they resolve, each at the least it adds to the
// answer, and once that count is past MaxBytes the remaining fields fail
// at once, so execution stops early instead of building the whole answer.
//
// Fields, when set, is a field middleware (the policy) that runs inside
// the limit on every field: one field interceptor instead of two, as if
// it had been added after ResponseLimit with AroundFields.
type ResponseLimit struct {
	MaxBytes int
	Fields   graphql.FieldMiddleware
}

var (
	_ graphql.HandlerExtension    = ResponseLimit{}
	_ graphql.ResponseInterceptor = ResponseLimit{}
	_ graphql.FieldInterceptor    = ResponseLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (ResponseLimit) ExtensionName() string { return "ResponseLimit" }

// Validate implements graphql.HandlerExtension.
func (l ResponseLimit) Validate(graphql.ExecutableSchema) error {
	if l.MaxBytes <= 0 {
		return fmt.Errorf("response limit: %d bytes must be positive", l.MaxBytes)
	}
	return nil
}

type responseSizeKey struct{}

// InterceptResponse implements graphql.ResponseInterceptor.
func (l ResponseLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	sc, size := ctxval.With[responseSizeKey, atomic.Int64](ctx)
	resp := next(sc)
	if resp == nil {
		return nil
	}
	if len(resp.Data) > l.MaxBytes || size.Load() > int64(l.MaxBytes) {
		return &graphql.Response{
			Errors:     gqlerror.List{responseTooLarge(l.MaxBytes)},
			Extensions: resp.Extensions,
		}
	}
	return resp
}

// InterceptField implements graphql.FieldInterceptor.
func (l ResponseLimit) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	size, _ := ctx.Value(responseSizeKey{}).(*atomic.Int64)
	if size == nil {
		return l.resolve(ctx, next)
	}
	least := 4 // "":0 and a comma
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		least += len(fc.Field.Alias)
	}
	if size.Add(int64(least)) > int64(l.MaxBytes) {
		return nil, limitError(reasonResponseSize, "the answer is larger than %d bytes", l.MaxBytes)
	}
	res, err := l.resolve(ctx, next)
	if s, ok := res.(string); ok {
		size.Add(int64(len(s)))
	}
	return res, err
}

// resolve resolves the field through Fields, if set.
func (l ResponseLimit) resolve(ctx context.Context, next graphql.Resolver) (any, error) {
	if l.Fields != nil {
		return l.Fields(ctx, next)
	}
	return next(ctx)
}
