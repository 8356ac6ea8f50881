package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// The hub's settings (Meta, SwapMeta), beyond what hub.Store documents:
// settings are independent of each other, a swap that does not match
// changes nothing, and a value is kept byte for byte.

func testMeta(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	_, err := s.Meta(ctx, "key/pickup")
	wantCode(t, err, hub.ENOTFOUND, "Meta of a setting never written")
	_, err = s.SwapMeta(ctx, "key/pickup", "v0", "v1")
	wantCode(t, err, hub.ENOTFOUND, "SwapMeta from a value of a setting never written")
	_, err = s.Meta(ctx, "key/pickup")
	wantCode(t, err, hub.ENOTFOUND, "Meta after a refused SwapMeta")

	tests := []struct {
		name       string
		key        string
		old, value string
		want       string // what the setting holds after the call
	}{
		{"first write", "key/pickup", "", "fp-a", "fp-a"},
		{"first write again, another value", "key/pickup", "", "fp-b", "fp-a"},
		{"first write again, same value", "key/pickup", "", "fp-a", "fp-a"},
		{"swap from a stale value", "key/pickup", "fp-b", "fp-c", "fp-a"},
		{"swap from the value", "key/pickup", "fp-a", "fp-b", "fp-b"},
		{"swap back", "key/pickup", "fp-b", "fp-a", "fp-a"},
		{"swap to the same value", "key/pickup", "fp-a", "fp-a", "fp-a"},
		{"another setting is apart", "key/secret", "", "fp-s", "fp-s"},
		{"a prefix is another setting", "key/pick", "", "fp-p", "fp-p"},
		{"values kept byte for byte", "odd", "", " \t\u00e9\u4e2d\n ", " \t\u00e9\u4e2d\n "},
		{"the longest name and value", strings.Repeat("k", hub.MaxMetaKey), "", strings.Repeat("v", hub.MaxMetaValue), strings.Repeat("v", hub.MaxMetaValue)},
	}
	for _, tt := range tests {
		got, err := s.SwapMeta(ctx, tt.key, tt.old, tt.value)
		must(t, err, tt.name)
		same(t, tt.name+": SwapMeta's answer", got, tt.want)
		stored, err := s.Meta(ctx, tt.key)
		must(t, err, tt.name+": Meta")
		same(t, tt.name+": Meta", stored, tt.want)
	}
	got, err := s.Meta(ctx, "key/pickup")
	must(t, err, "Meta")
	same(t, "key/pickup after the others were written", got, "fp-a")
}

func testMetaInvalid(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	_, err := s.SwapMeta(ctx, "k", "", "v")
	must(t, err, "SwapMeta")
	long := strings.Repeat("v", hub.MaxMetaValue+1)
	tests := []struct {
		name            string
		key, old, value string
	}{
		{"empty name", "", "", "v"},
		{"name too long", strings.Repeat("k", hub.MaxMetaKey+1), "", "v"},
		{"name with a NUL byte", "k\x00", "", "v"},
		{"empty value", "k", "v", ""},
		{"empty value of a new setting", "k2", "", ""},
		{"value too long", "k", "v", long},
		{"old value too long", "k", long, "w"},
		{"value not UTF-8", "k", "v", "w\xff"},
	}
	for _, tt := range tests {
		_, err := s.SwapMeta(ctx, tt.key, tt.old, tt.value)
		wantCode(t, err, hub.EINVALID, "SwapMeta: "+tt.name)
	}
	for _, key := range []string{"", strings.Repeat("k", hub.MaxMetaKey+1), "k\x00"} {
		_, err := s.Meta(ctx, key)
		wantCode(t, err, hub.EINVALID, fmt.Sprintf("Meta(%q)", key))
	}
	got, err := s.Meta(ctx, "k")
	must(t, err, "Meta")
	same(t, "setting after refused swaps", got, "v")
	_, err = s.Meta(ctx, "k2")
	wantCode(t, err, hub.ENOTFOUND, "setting refused at its first write")
}

// testMetaConcurrent races writers as hubs starting together do: of the
// first writes one wins and every writer is told the winner's value; of
// the swaps from one value exactly one succeeds.
func testMetaConcurrent(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	const n = 16
	race := func(old string, value func(i int) string) []string {
		got := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = s.SwapMeta(ctx, "race", old, value(i)) })
		}
		wg.Wait()
		for i, err := range errs {
			must(t, err, fmt.Sprintf("writer %d", i))
		}
		return got
	}
	first := race("", func(i int) string { return fmt.Sprintf("first-%d", i) })
	stored, err := s.Meta(ctx, "race")
	must(t, err, "Meta")
	if !strings.HasPrefix(stored, "first-") {
		t.Fatalf("stored %q, want one of the writers' values", stored)
	}
	for i, g := range first {
		same(t, fmt.Sprintf("first write %d's answer", i), g, stored)
	}

	next := race(stored, func(i int) string { return fmt.Sprintf("next-%d", i) })
	now, err := s.Meta(ctx, "race")
	must(t, err, "Meta")
	won := 0
	for i, g := range next {
		same(t, fmt.Sprintf("swap %d's answer", i), g, now)
		if now == fmt.Sprintf("next-%d", i) {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d swaps from one value took effect (%q), want 1", won, now)
	}
}

func testMetaReopen(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	for i := range 5 {
		_, err := s.SwapMeta(ctx, fmt.Sprintf("k%d", i), "", fmt.Sprintf("v%d", i))
		must(t, err, "SwapMeta")
	}
	_, err := s.SwapMeta(ctx, "k0", "v0", "v0-rotated")
	must(t, err, "SwapMeta")
	s = h.Reopen(t, s)
	want := []string{"v0-rotated", "v1", "v2", "v3", "v4"}
	for i, w := range want {
		got, err := s.Meta(ctx, fmt.Sprintf("k%d", i))
		must(t, err, "Meta after reopening")
		same(t, fmt.Sprintf("k%d after reopening", i), got, w)
	}
}
