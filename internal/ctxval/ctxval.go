// Package ctxval puts a value in a context in one allocation, where
// context.WithValue takes two (its node and the value boxed in an
// interface), for the values the hub adds to every request.
package ctxval

import "context"

// With returns a context derived from ctx that carries a zero V under
// the key K{}, and a pointer to that V, which the caller sets and which
// Value returns as it is (a *V). K is the key's type, an unexported empty
// struct of the package that owns the value, as for context.WithValue.
func With[K comparable, V any](ctx context.Context) (context.Context, *V) {
	c := &valueCtx[K, V]{Context: ctx}
	return c, &c.v
}

type valueCtx[K comparable, V any] struct {
	context.Context
	v V
}

// Value implements context.Context: a *V for the key K{}, otherwise the
// parent's value.
func (c *valueCtx[K, V]) Value(key any) any {
	var k K
	if key == any(k) {
		return &c.v
	}
	return c.Context.Value(key)
}
