package ctxval

import (
	"context"
	"errors"
	"testing"
	"time"
)

type keyA struct{}
type keyB struct{}

func TestWith(t *testing.T) {
	parent, cancel := context.WithTimeout(context.WithValue(context.Background(), keyB{}, "parent"), time.Hour)
	ctx, v := With[keyA, int](parent)
	*v = 7
	if got, ok := ctx.Value(keyA{}).(*int); !ok || got != v || *got != 7 {
		t.Fatalf("Value(keyA{}) = %v, want the pointer With returned, to 7", ctx.Value(keyA{}))
	}
	if got := ctx.Value(keyB{}); got != "parent" {
		t.Fatalf("Value(keyB{}) = %v, want the parent's value", got)
	}
	if parent.Value(keyA{}) != nil {
		t.Fatal("the parent carries the value")
	}
	// A nested value of the same key hides the outer one.
	inner, w := With[keyA, int](ctx)
	*w = 8
	if got := *inner.Value(keyA{}).(*int); got != 8 {
		t.Fatalf("inner value %d, want 8", got)
	}
	if d, ok := ctx.Deadline(); !ok || d.IsZero() {
		t.Fatal("the deadline of the parent is lost")
	}
	cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err %v after the parent's cancel", ctx.Err())
	}
	var keep context.Context
	if n := testing.AllocsPerRun(100, func() { keep, _ = With[keyA, int](parent) }); n != 1 {
		t.Fatalf("With takes %v allocations, want 1", n)
	}
	_ = keep
}
