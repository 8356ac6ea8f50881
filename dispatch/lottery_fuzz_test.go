package dispatch_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
)

// FuzzPublishedDraw reads a published draw as a verifier does (JSON from
// anyone) and verifies it: no input may panic, and a draw that verifies
// names as winners only entries of its list, each once, as many as it
// says.
func FuzzPublishedDraw(f *testing.F) {
	var entries []string
	for i := range 5 {
		e, err := dispatch.EntryHash("round-1", fmt.Sprintf("rsv_%d", i))
		if err != nil {
			f.Fatal(err)
		}
		entries = append(entries, e)
	}
	d, err := dispatch.Publish([]byte("0123456789abcdef0123456789abcdef"), "round-1", entries, 2)
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(d)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"seed":"zz","commitment":"00"}`))
	f.Add([]byte(`{"algorithm":"x","winnerCount":-1}`))
	f.Add([]byte(`{"seed":"","entries":null,"winners":[""],"winnerCount":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d dispatch.PublishedDraw
		if json.Unmarshal(b, &d) != nil {
			return
		}
		if d.Verify() != nil {
			return
		}
		listed := map[string]bool{}
		for _, e := range d.Entries {
			listed[strings.ToLower(e)] = true
		}
		seen := map[string]bool{}
		for _, w := range d.Winners {
			w = strings.ToLower(w)
			if !listed[w] || seen[w] {
				t.Fatalf("a draw that verifies names winner %q twice or off its list: %s", w, b)
			}
			seen[w] = true
		}
		if len(d.Winners) > len(d.Entries) || len(d.Winners) > d.WinnerCount {
			t.Fatalf("a draw that verifies has %d winners of %d entries, winnerCount %d", len(d.Winners), len(d.Entries), d.WinnerCount)
		}
	})
}
