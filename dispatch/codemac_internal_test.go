package dispatch

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// TestPooledCodeMACs checks the pickup codes and code hashes made with
// the engine's pooled MACs against the same made with a MAC keyed afresh
// each time, from several goroutines at once, so that a MAC put back in
// any state must be reset before it is used again.
func TestPooledCodeMACs(t *testing.T) {
	key := []byte("a code key of the hub's")
	e := &Engine{codeKey: key}
	fresh := func(id string) PickupCode {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("gridhub-code-v1\n" + id))
		s := mac.Sum(nil)
		var b [9]byte
		b[0] = s[0] >> 7
		for i := 1; i < len(b); i++ {
			b[i] = s[i-1]<<1 | s[i]>>7
		}
		c, err := NewPickupCode(bytes.NewReader(b[:]))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("alc_%d_%d", g, i)
				c := e.PickupCode(&hub.Allocation{ID: id})
				if want := fresh(id); c != want {
					t.Errorf("PickupCode(%s) = %s, want %s", id, c, want)
					return
				}
				if got, want := e.codeHash(c), c.Hash(key); got != want {
					t.Errorf("codeHash(%s) = %s, want %s", c, got, want)
					return
				}
				// A code as typed (lower case, no dashes) hashes as its
				// canonical form once parsed.
				typed, err := ParsePickupCode(string(bytes.ToLower(bytes.ReplaceAll([]byte(c), []byte("-"), nil))))
				if err != nil || e.codeHash(typed) != c.Hash(key) {
					t.Errorf("ParsePickupCode of %s typed: %s, %v", c, typed, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
