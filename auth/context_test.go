package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gridhub/gridhub/auth"
)

type ctxValueKey struct{}

// TestPrincipalContext checks the context WithPrincipal returns: the
// principal is found under any contexts made from it, a principal set
// again replaces it below, other values and the parent's cancellation
// and deadline pass through, and a context without one has none.
func TestPrincipalContext(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Fatal("a context without a principal has one")
	}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxValueKey{}, "v"))
	p := auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "s", Expires: time.Now().Add(time.Hour)}
	ctx := auth.WithPrincipal(parent, p)
	deadline := time.Now().Add(time.Minute)
	child, stop := context.WithDeadline(context.WithValue(ctx, ctxValueKey{}, "w"), deadline)
	defer stop()
	if got, ok := auth.FromContext(child); !ok || got != p {
		t.Errorf("FromContext = %+v, %v; want %+v", got, ok, p)
	}
	if v := ctx.Value(ctxValueKey{}); v != "v" {
		t.Errorf("the parent's value = %v, want v", v)
	}
	if d, ok := child.Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("Deadline = %v, %v; want %v", d, ok, deadline)
	}
	again := auth.WithPrincipal(child, auth.Principal{Role: auth.Admin})
	if got, _ := auth.FromContext(again); got.Role != auth.Admin {
		t.Errorf("a principal set again: %+v, want ADMIN", got)
	}
	if got, _ := auth.FromContext(ctx); got != p {
		t.Errorf("the first context's principal changed to %+v", got)
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancellation did not reach a context made from the principal's")
	}
	if !errors.Is(child.Err(), context.Canceled) || !errors.Is(context.Cause(child), context.Canceled) {
		t.Errorf("Err = %v, Cause = %v; want canceled", child.Err(), context.Cause(child))
	}
}
