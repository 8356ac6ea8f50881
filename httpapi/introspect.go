package httpapi

import (
	"bytes"
	"strconv"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
)

// Introspection answers operations whose root fields are only
// introspection meta-fields (__schema, __type, __typename) from a
// description of the schema built once, writing the JSON itself instead
// of resolving each field through the executor. Its answers are the
// executor's byte for byte (the description is built with gqlgen's own
// introspection package, fields are collected with graphql.CollectFields
// and strings written as graphql.MarshalString writes them; the test
// TestIntrospectionMatchesExecutor compares them). Anything it does not
// handle (a deferred fragment, an argument it cannot read) makes it decline,
// and the executor answers at the full cost.
type Introspection struct {
	types      []*itype // sorted by name, as __Schema.types
	named      map[string]*itype
	wrapped    map[string]*itype // NON_NULL and LIST types, by their text
	directives []*idirective
	query      *itype
	mutation   *itype
	subscribe  *itype
	desc       jstr
	size       atomic.Int64 // of the last answer, to size the next one's buffer
}

// itype is one __Type. Lists that gqlgen answers null are nil, those it
// answers empty are empty and not nil.
type itype struct {
	kind           jstr
	name           jstr
	desc           jstr
	specifiedByURL jstr
	isOneOf        bool
	fields         [2][]*ifield // [includeDeprecated]
	interfaces     []*itype
	possibleTypes  []*itype
	enumValues     [2][]*ienum
	inputFields    [2][]*ivalue
	ofType         *itype
}

type ifield struct {
	name, desc        jstr
	args              [2][]*ivalue
	typ               *itype
	isDeprecated      bool
	deprecationReason jstr
}

type ivalue struct {
	name, desc        jstr
	typ               *itype
	defaultValue      jstr
	isDeprecated      bool
	deprecationReason jstr
}

type ienum struct {
	name, desc        jstr
	isDeprecated      bool
	deprecationReason jstr
}

type idirective struct {
	name, desc   jstr
	locations    []jstr
	args         [2][]*ivalue
	isRepeatable bool
}

// jstr is a string as the answer holds it: quoted as graphql.MarshalString
// quotes it, or null.
type jstr []byte

func quoted(s string) jstr {
	var b bytes.Buffer
	writeQuoted(&b, s)
	return b.Bytes()
}

func quotedp(s *string) jstr {
	if s == nil {
		return jstr("null")
	}
	return quoted(*s)
}

// NewIntrospection describes a schema for Answer.
func NewIntrospection(s *ast.Schema) *Introspection {
	in := &Introspection{named: map[string]*itype{}, wrapped: map[string]*itype{}}
	is := introspection.WrapSchema(s)
	in.desc = quotedp(is.Description())
	for _, t := range is.Types() {
		in.types = append(in.types, in.typ(&t))
	}
	in.query = in.typ(is.QueryType())
	in.mutation = in.typ(is.MutationType())
	in.subscribe = in.typ(is.SubscriptionType())
	for _, d := range is.Directives() {
		var locations []jstr
		for _, l := range d.Locations {
			locations = append(locations, quoted(l))
		}
		in.directives = append(in.directives, &idirective{
			name: quoted(d.Name), desc: quotedp(d.Description()), locations: locations, isRepeatable: d.IsRepeatable,
			args: [2][]*ivalue{in.values(d.VisibleArgs(false)), in.values(d.VisibleArgs(true))},
		})
	}
	return in
}

// typ describes a __Type once; a named type is entered before its fields
// are described, so that the recursion ends.
func (in *Introspection) typ(t *introspection.Type) *itype {
	if t == nil {
		return nil
	}
	var key string
	memo := in.named
	if n := t.Name(); n != nil {
		key = *n
	} else {
		memo = in.wrapped
		key = typeText(t)
	}
	if it, ok := memo[key]; ok {
		return it
	}
	it := &itype{kind: quoted(t.Kind()), name: quotedp(t.Name()), desc: quotedp(t.Description()), specifiedByURL: quotedp(t.SpecifiedByURL()), isOneOf: t.IsOneOf()}
	memo[key] = it
	for i, dep := range []bool{false, true} {
		fields := t.Fields(dep)
		if fields != nil {
			it.fields[i] = make([]*ifield, 0, len(fields))
		}
		for _, f := range fields {
			it.fields[i] = append(it.fields[i], &ifield{
				name: quoted(f.Name), desc: quotedp(f.Description()), typ: in.typ(f.Type),
				args:         [2][]*ivalue{in.values(f.VisibleArgs(false)), in.values(f.VisibleArgs(true))},
				isDeprecated: f.IsDeprecated(), deprecationReason: quotedp(f.DeprecationReason()),
			})
		}
		enums := t.EnumValues(dep)
		if enums != nil {
			it.enumValues[i] = make([]*ienum, 0, len(enums))
		}
		for _, e := range enums {
			it.enumValues[i] = append(it.enumValues[i], &ienum{name: quoted(e.Name), desc: quotedp(e.Description()), isDeprecated: e.IsDeprecated(), deprecationReason: quotedp(e.DeprecationReason())})
		}
		it.inputFields[i] = in.values(t.VisibleInputFields(dep))
	}
	it.interfaces = in.typeList(t.Interfaces())
	it.possibleTypes = in.typeList(t.PossibleTypes())
	it.ofType = in.typ(t.OfType())
	return it
}

// typeText is a wrapping type's text, as [String!]!.
func typeText(t *introspection.Type) string {
	switch t.Kind() {
	case "NON_NULL":
		return typeText(t.OfType()) + "!"
	case "LIST":
		return "[" + typeText(t.OfType()) + "]"
	}
	return *t.Name()
}

func (in *Introspection) typeList(ts []introspection.Type) []*itype {
	if ts == nil {
		return nil
	}
	out := make([]*itype, 0, len(ts))
	for _, t := range ts {
		out = append(out, in.typ(&t))
	}
	return out
}

func (in *Introspection) values(vs []introspection.InputValue) []*ivalue {
	if vs == nil {
		return nil
	}
	out := make([]*ivalue, 0, len(vs))
	for _, v := range vs {
		out = append(out, &ivalue{
			name: quoted(v.Name), desc: quotedp(v.Description()), typ: in.typ(v.Type), defaultValue: quotedp(v.DefaultValue),
			isDeprecated: v.IsDeprecated(), deprecationReason: quotedp(v.DeprecationReason()),
		})
	}
	return out
}

// IntrospectionOnly reports whether an operation is a query whose root
// fields are only introspection meta-fields (fragments expanded).
func IntrospectionOnly(doc *ast.QueryDocument, op *ast.OperationDefinition) bool {
	if op == nil || op.Operation != ast.Query {
		return false
	}
	return metaOnly(doc, op.SelectionSet, map[string]bool{})
}

func metaOnly(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name != "__schema" && s.Name != "__type" && s.Name != "__typename" {
				return false
			}
		case *ast.InlineFragment:
			if !metaOnly(doc, s.SelectionSet, seen) {
				return false
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			f := doc.Fragments.ForName(s.Name)
			if f == nil || !metaOnly(doc, f.SelectionSet, seen) {
				return false
			}
		}
	}
	return true
}

// Answer writes the data of an introspection-only operation (see
// IntrospectionOnly) and counts its fields as CostLimit counts them (one
// per field, one per list item). It stops once the count passes max or
// the answer maxBytes, and returns no data then (fields tells which). ok
// is false if it met something it does not handle.
func (in *Introspection) Answer(oc *graphql.OperationContext, max, maxBytes int) (data []byte, fields int, ok bool) {
	w := iwriter{oc: oc, in: in, max: max, maxBytes: maxBytes}
	w.buf.Grow(min(int(in.size.Load()), maxBytes))
	defer func() {
		if ok && data != nil {
			in.size.Store(int64(len(data)))
		}
	}()
	ok = w.object(oc.Operation.SelectionSet, "Query", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "__typename":
			w.str("Query")
		case "__schema":
			w.schema(f.Selections)
		case "__type":
			name, isString := f.ArgumentMap(oc.Variables)["name"].(string)
			if !isString {
				return false
			}
			w.typ(f.Selections, in.named[name])
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil, w.count, false
	}
	if w.failed {
		return nil, w.count, true
	}
	return w.buf.Bytes(), w.count, true
}

// iwriter writes one answer.
type iwriter struct {
	oc        *graphql.OperationContext
	in        *Introspection
	buf       bytes.Buffer
	count     int
	max       int
	maxBytes  int
	failed    bool
	memo      map[typeKey]span
	collected map[collectKey][]graphql.CollectedField // graphql.CollectFields' answers, by selection
}

type collectKey struct {
	typename string
	sel      *ast.Selection
	n        int
}

// full reports that the answer is past its caps, counting one more item.
func (w *iwriter) full() bool {
	w.count++
	if w.count > w.max || w.buf.Len() > w.maxBytes {
		w.failed = true
	}
	return w.failed
}

// object writes one object: its collected fields in order, each by value.
func (w *iwriter) object(set ast.SelectionSet, typename string, value func(f *graphql.CollectedField) bool) bool {
	if len(set) == 0 {
		return false
	}
	key := collectKey{typename, &set[0], len(set)}
	fields, ok := w.collected[key]
	if !ok {
		fields = graphql.CollectFields(w.oc, set, []string{typename})
		if w.collected == nil {
			w.collected = map[collectKey][]graphql.CollectedField{}
		}
		w.collected[key] = fields
	}
	w.buf.WriteByte('{')
	for i := range fields {
		f := &fields[i]
		if len(f.Deferrables) > 0 {
			return false
		}
		if w.full() {
			return true
		}
		if i > 0 {
			w.buf.WriteByte(',')
		}
		writeQuoted(&w.buf, f.Alias)
		w.buf.WriteByte(':')
		if f.Name == "__typename" && typename != "Query" {
			w.str(typename)
			continue
		}
		if !value(f) {
			return false
		}
	}
	w.buf.WriteByte('}')
	return true
}

func (w *iwriter) str(s string) { writeQuoted(&w.buf, s) }

func (w *iwriter) strp(s *string) {
	if s == nil {
		w.buf.WriteString("null")
		return
	}
	writeQuoted(&w.buf, *s)
}

func (w *iwriter) boolean(b bool) { w.buf.WriteString(strconv.FormatBool(b)) }

// list writes n items (null if null), each counted as CostLimit counts a
// list's items.
func (w *iwriter) list(null bool, n int, item func(i int) bool) bool {
	if null {
		w.buf.WriteString("null")
		return true
	}
	w.buf.WriteByte('[')
	for i := range n {
		if w.full() {
			return true
		}
		if i > 0 {
			w.buf.WriteByte(',')
		}
		if !item(i) {
			return false
		}
	}
	w.buf.WriteByte(']')
	return true
}

// deprecated reads includeDeprecated; ok is false if it is not a boolean.
func (w *iwriter) deprecated(f *graphql.CollectedField) (int, bool) {
	switch v := f.ArgumentMap(w.oc.Variables)["includeDeprecated"].(type) {
	case nil:
		return 0, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func (w *iwriter) schema(set ast.SelectionSet) bool {
	in := w.in
	return w.object(set, "__Schema", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "description":
			w.buf.Write(in.desc)
		case "types":
			return w.list(false, len(in.types), func(i int) bool { return w.typ(f.Selections, in.types[i]) })
		case "queryType":
			return w.typ(f.Selections, in.query)
		case "mutationType":
			return w.typ(f.Selections, in.mutation)
		case "subscriptionType":
			return w.typ(f.Selections, in.subscribe)
		case "directives":
			return w.list(false, len(in.directives), func(i int) bool { return w.directive(f.Selections, in.directives[i]) })
		default:
			return false
		}
		return true
	})
}

// typ writes a __Type. The answer of a type under a selection is the same
// wherever it is asked for (the TypeRef of each field and argument, mostly),
// so it is written once and copied after, its fields counted each time.
func (w *iwriter) typ(set ast.SelectionSet, t *itype) bool {
	if t == nil {
		w.buf.WriteString("null")
		return true
	}
	if len(set) == 0 {
		return false
	}
	key := typeKey{t, &set[0], len(set)}
	if s, ok := w.memo[key]; ok {
		w.count += s.count
		if w.count > w.max || w.buf.Len() > w.maxBytes {
			w.failed = true
			return true
		}
		w.buf.Write(w.buf.Bytes()[s.from:s.to])
		return true
	}
	from, count := w.buf.Len(), w.count
	ok := w.typeObject(set, t)
	if ok && !w.failed {
		if w.memo == nil {
			w.memo = map[typeKey]span{}
		}
		w.memo[key] = span{from: from, to: w.buf.Len(), count: w.count - count}
	}
	return ok
}

type typeKey struct {
	t   *itype
	sel *ast.Selection
	n   int
}

type span struct{ from, to, count int }

func (w *iwriter) typeObject(set ast.SelectionSet, t *itype) bool {
	return w.object(set, "__Type", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "kind":
			w.buf.Write(t.kind)
		case "name":
			w.buf.Write(t.name)
		case "description":
			w.buf.Write(t.desc)
		case "specifiedByURL":
			w.buf.Write(t.specifiedByURL)
		case "isOneOf":
			w.boolean(t.isOneOf)
		case "fields":
			d, ok := w.deprecated(f)
			list := t.fields[d]
			return ok && w.list(list == nil, len(list), func(i int) bool { return w.field(f.Selections, list[i]) })
		case "interfaces":
			return w.list(t.interfaces == nil, len(t.interfaces), func(i int) bool { return w.typ(f.Selections, t.interfaces[i]) })
		case "possibleTypes":
			return w.list(t.possibleTypes == nil, len(t.possibleTypes), func(i int) bool { return w.typ(f.Selections, t.possibleTypes[i]) })
		case "enumValues":
			d, ok := w.deprecated(f)
			list := t.enumValues[d]
			return ok && w.list(list == nil, len(list), func(i int) bool { return w.enum(f.Selections, list[i]) })
		case "inputFields":
			d, ok := w.deprecated(f)
			list := t.inputFields[d]
			return ok && w.list(list == nil, len(list), func(i int) bool { return w.value(f.Selections, list[i]) })
		case "ofType":
			return w.typ(f.Selections, t.ofType)
		default:
			return false
		}
		return true
	})
}

func (w *iwriter) field(set ast.SelectionSet, fd *ifield) bool {
	return w.object(set, "__Field", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "name":
			w.buf.Write(fd.name)
		case "description":
			w.buf.Write(fd.desc)
		case "args":
			d, ok := w.deprecated(f)
			list := fd.args[d]
			return ok && w.list(list == nil, len(list), func(i int) bool { return w.value(f.Selections, list[i]) })
		case "type":
			return fd.typ != nil && w.typ(f.Selections, fd.typ)
		case "isDeprecated":
			w.boolean(fd.isDeprecated)
		case "deprecationReason":
			w.buf.Write(fd.deprecationReason)
		default:
			return false
		}
		return true
	})
}

func (w *iwriter) value(set ast.SelectionSet, v *ivalue) bool {
	return w.object(set, "__InputValue", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "name":
			w.buf.Write(v.name)
		case "description":
			w.buf.Write(v.desc)
		case "type":
			return v.typ != nil && w.typ(f.Selections, v.typ)
		case "defaultValue":
			w.buf.Write(v.defaultValue)
		case "isDeprecated":
			w.boolean(v.isDeprecated)
		case "deprecationReason":
			w.buf.Write(v.deprecationReason)
		default:
			return false
		}
		return true
	})
}

func (w *iwriter) enum(set ast.SelectionSet, e *ienum) bool {
	return w.object(set, "__EnumValue", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "name":
			w.buf.Write(e.name)
		case "description":
			w.buf.Write(e.desc)
		case "isDeprecated":
			w.boolean(e.isDeprecated)
		case "deprecationReason":
			w.buf.Write(e.deprecationReason)
		default:
			return false
		}
		return true
	})
}

func (w *iwriter) directive(set ast.SelectionSet, d *idirective) bool {
	return w.object(set, "__Directive", func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "name":
			w.buf.Write(d.name)
		case "description":
			w.buf.Write(d.desc)
		case "isRepeatable":
			w.boolean(d.isRepeatable)
		case "locations":
			return w.list(d.locations == nil, len(d.locations), func(i int) bool { w.buf.Write(d.locations[i]); return true })
		case "args":
			dep, ok := w.deprecated(f)
			list := d.args[dep]
			return ok && w.list(list == nil, len(list), func(i int) bool { return w.value(f.Selections, list[i]) })
		default:
			return false
		}
		return true
	})
}

// writeQuoted writes a JSON string as graphql.MarshalString does.
func writeQuoted(b *bytes.Buffer, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	b.WriteByte('"')
	for i, c := range s {
		if c < 0x20 || c == '\\' || c == '"' {
			b.WriteString(s[start:i])
			switch c {
			case '\t':
				b.WriteString(`\t`)
			case '\r':
				b.WriteString(`\r`)
			case '\n':
				b.WriteString(`\n`)
			case '\\':
				b.WriteString(`\\`)
			case '"':
				b.WriteString(`\"`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
			start = i + 1
		}
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
