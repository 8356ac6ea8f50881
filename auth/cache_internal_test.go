package auth

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestVerifiedBounded: however many tokens are verified, the cache holds
// at most VerifiedCacheSize, and the one just put is there.
func TestVerifiedBounded(t *testing.T) {
	now := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	for _, n := range []int{1, perShard, VerifiedCacheSize, VerifiedCacheSize + 1, 3 * VerifiedCacheSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var c verified
			for i := range n {
				key := sha256.Sum256(fmt.Appendf(nil, "token-%d", i))
				p := Principal{Role: Resident, Scope: fmt.Sprint("r", i), Subject: "s", Expires: now.Add(time.Hour)}
				c.put(&key, p, now)
				if got, ok := c.get(&key, now); !ok || got != p {
					t.Fatalf("token %d: got %+v %v right after put", i, got, ok)
				}
			}
			if got := c.len(); got > VerifiedCacheSize || got > n {
				t.Fatalf("%d tokens put: the cache holds %d, want at most %d", n, got, min(n, VerifiedCacheSize))
			}
			if n >= VerifiedCacheSize && c.len() < VerifiedCacheSize*9/10 {
				t.Errorf("%d tokens put: the cache holds only %d", n, c.len())
			}
		})
	}
}
