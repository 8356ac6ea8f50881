package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// VerifiedCacheSize bounds the tokens a Keys remembers as verified: a
// launch-day crowd of that many callers, each sending again, is verified
// once each. Past it, a token already held is dropped to make room.
const VerifiedCacheSize = 1 << 16

// verifiedShards spreads the cache over locks so that concurrent requests
// rarely wait on each other.
const verifiedShards = 64

// verified remembers the tokens one Keys accepted, by their SHA-256, with
// the principal each carried and when it was verified. It belongs to the
// Keys that verified them: keys of another secret or key pair (a rotation)
// are another Keys with an empty cache, so a token accepted only under a
// retired key is verified afresh, and refused.
//
// A hit holds only while the clock stays between the verification and the
// token's expiry (exclusive): everything else Verify checks (signature,
// issuer, audience, nbf, iat, lifetime, principal) depends on the token
// alone, or holds from the verification on as the clock moves forward.
// Refused tokens are never remembered.
type verified struct {
	shards [verifiedShards]verifiedShard
}

type verifiedShard struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	p  Principal
	at time.Time // when it was verified
}

// perShard is the entries one shard holds at most.
const perShard = VerifiedCacheSize / verifiedShards

func (c *verified) shard(key *[sha256.Size]byte) *verifiedShard {
	return &c.shards[binary.LittleEndian.Uint64(key[:8])%verifiedShards]
}

// get returns the principal of a token verified before now that has not
// expired at now.
func (c *verified) get(key *[sha256.Size]byte, now time.Time) (Principal, bool) {
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.m[*key]
	if ok && !now.Before(e.p.Expires) {
		delete(s.m, *key)
		ok = false
	}
	s.mu.Unlock()
	if !ok || now.Before(e.at) {
		return Principal{}, false
	}
	return e.p, true
}

// put remembers a token verified at now, dropping another one of its
// shard when the shard is full.
func (c *verified) put(key *[sha256.Size]byte, p Principal, now time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[sha256.Size]byte]verifiedEntry)
	}
	if _, ok := s.m[*key]; !ok && len(s.m) >= perShard {
		for k := range s.m { // a random one: Go's map order
			delete(s.m, k)
			break
		}
	}
	s.m[*key] = verifiedEntry{p: p, at: now}
}

// len is how many tokens the cache holds.
func (c *verified) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
