package auth_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// verifiedKeys are the key kinds the cache tests run over.
func verifiedKeys(t *testing.T, c *clock) []struct {
	name        string
	keys, other *auth.Keys
} {
	return []struct {
		name        string
		keys, other *auth.Keys
	}{
		{"HS256", hmacKeys(t, testSecret, c), hmacKeys(t, otherKey, c)},
		{"EdDSA", edKeys(t, edSeed, c), edKeys(t, edOther, c)},
		{"HS256 to EdDSA", hmacKeys(t, testSecret, c), edKeys(t, edSeed, c)},
		{"EdDSA to HS256", edKeys(t, edSeed, c), hmacKeys(t, testSecret, c)},
	}
}

// cacheCallers are principals of every role.
var cacheCallers = []auth.Principal{
	{Role: auth.Admin, Subject: "ops"},
	{Role: auth.District, Scope: "d1", Subject: "dash-1"},
	{Role: auth.Committee, Scope: "c7", Subject: "ward-7"},
	{Role: auth.Partner, Scope: "p2", Subject: "courier"},
	{Role: auth.Pharmacy, Scope: "ph9", Subject: "till-1"},
	{Role: auth.Checkpoint, Scope: "k3", Subject: "gate"},
	{Role: auth.Resident, Scope: "tpe-r0000001", Subject: "phone-1", TokenID: "t1"},
}

// TestVerifyCachedUntilExpiry: a token verified once is accepted again
// up to the last nanosecond before its exp and refused from its exp on,
// "token expired", as if never cached, for every role, key kind and
// lifetime; a token refused once is refused again.
func TestVerifyCachedUntilExpiry(t *testing.T) {
	c := &clock{t: t0}
	for _, k := range verifiedKeys(t, c) {
		for _, ttl := range []time.Duration{time.Second, 59 * time.Second, time.Hour, 30 * 24 * time.Hour} {
			for _, p := range cacheCallers {
				t.Run(fmt.Sprintf("%s/%s/%s", k.name, ttl, p.Role), func(t *testing.T) {
					c.t = t0
					tok, err := k.keys.Mint(p, ttl)
					if err != nil {
						t.Fatal(err)
					}
					exp := t0.Add(ttl)
					for _, at := range []time.Time{t0, t0, t0.Add(ttl / 2), exp.Add(-time.Second), exp.Add(-time.Nanosecond)} {
						c.t = at
						got, err := k.keys.Verify(tok)
						if err != nil {
							t.Fatalf("at %v: %v", at, err)
						}
						if got.Role != p.Role || got.Scope != p.Scope || got.Subject != p.Subject || got.TokenID != p.TokenID || !got.Expires.Equal(exp) {
							t.Fatalf("at %v: principal %+v, want %+v expiring %v", at, got, p, exp)
						}
					}
					for _, at := range []time.Time{exp, exp.Add(time.Nanosecond), exp.Add(time.Second), exp.Add(31 * time.Second), exp.Add(time.Hour)} {
						c.t = at
						_, err := k.keys.Verify(tok)
						checkRefused(t, tok, err, auth.ErrInvalidToken)
						if hub.ErrorMessage(err) != "token expired" {
							t.Errorf("at exp+%v: %q, want \"token expired\"", at.Sub(exp), hub.ErrorMessage(err))
						}
					}
				})
			}
		}
	}
}

// TestVerifyCacheAfterRotation: a token that the retired keys verified
// (and so remember) is refused by the keys that replace them, for every
// role and both key kinds, while the retired keys still accept it.
func TestVerifyCacheAfterRotation(t *testing.T) {
	c := &clock{t: t0}
	for _, k := range verifiedKeys(t, c) {
		for _, p := range cacheCallers {
			t.Run(k.name+"/"+string(p.Role), func(t *testing.T) {
				tok, err := k.keys.Mint(p, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				for range 3 {
					if _, err := k.keys.Verify(tok); err != nil {
						t.Fatalf("the keys that minted it: %v", err)
					}
					_, err := k.other.Verify(tok)
					checkRefused(t, tok, err, auth.ErrInvalidToken)
				}
			})
		}
	}
}

// TestVerifyCacheClockBack: a cached token is checked afresh when the
// clock reads earlier than its verification, so that nbf and iat still
// hold: before its nbf it is refused.
func TestVerifyCacheClockBack(t *testing.T) {
	c := &clock{t: t0}
	for _, k := range verifiedKeys(t, c) {
		t.Run(k.name, func(t *testing.T) {
			c.t = t0
			tok, err := k.keys.Mint(auth.Principal{Role: auth.Admin, Subject: "ops"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c.t = t0.Add(10 * time.Minute)
			if _, err := k.keys.Verify(tok); err != nil {
				t.Fatal(err)
			}
			for _, back := range []time.Duration{31 * time.Second, 2 * time.Minute, 24 * time.Hour} {
				c.t = t0.Add(-back)
				_, err := k.keys.Verify(tok)
				checkRefused(t, tok, err, auth.ErrInvalidToken)
			}
			c.t = t0.Add(-29 * time.Second) // within the clock skew of iat
			if _, err := k.keys.Verify(tok); err != nil {
				t.Errorf("29 s before minting: %v", err)
			}
		})
	}
}

// TestVerifyCacheTampered: once a token is cached, every copy of it with
// one character changed (header, claims or signature) is still refused.
func TestVerifyCacheTampered(t *testing.T) {
	c := &clock{t: t0}
	for _, k := range verifiedKeys(t, c) {
		t.Run(k.name, func(t *testing.T) {
			tok, err := k.keys.Mint(auth.Principal{Role: auth.Resident, Scope: "tpe-r0000001", Subject: "phone"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.keys.Verify(tok); err != nil {
				t.Fatal(err)
			}
			for i := range len(tok) {
				if tok[i] == '.' {
					continue
				}
				b := []byte(tok)
				b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
				// base64url's last character of a segment may carry unused
				// bits: a change there may decode to the same bytes.
				if p, err := k.keys.Verify(string(b)); err == nil && (i+1 == len(tok) || tok[i+1] == '.') {
					continue
				} else if err == nil {
					t.Fatalf("character %d changed: accepted as %+v", i, p)
				}
			}
			if _, err := k.keys.Verify(tok); err != nil {
				t.Fatalf("the original after the tampered ones: %v", err)
			}
		})
	}
}

// BenchmarkVerify: a token verified again (from the cache) against the
// first verification of a token (parsing and the signature), in the same
// run.
func BenchmarkVerify(b *testing.B) {
	c := &clock{t: t0}
	for _, k := range []struct {
		name string
		keys *auth.Keys
	}{{"HS256", hmacKeys(b, testSecret, c)}, {"EdDSA", edKeys(b, edSeed, c)}} {
		b.Run(k.name, func(b *testing.B) {
			const n = 1000
			toks := make([]string, n)
			for i := range toks {
				var err error
				if toks[i], err = k.keys.Mint(auth.Principal{Role: auth.Resident, Scope: fmt.Sprintf("tpe-r%07d", i), Subject: "bench"}, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			verify := func(tok string) {
				if _, err := k.keys.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
			var first, again time.Duration
			i := 0
			for b.Loop() {
				// A fresh token each n rounds: mint outside the timing.
				if i%n == 0 && i > 0 {
					b.StopTimer()
					for j := range toks {
						toks[j], _ = k.keys.Mint(auth.Principal{Role: auth.Resident, Scope: fmt.Sprintf("tpe-r%07d", j), Subject: fmt.Sprint("bench-", i)}, time.Hour)
					}
					b.StartTimer()
				}
				tok := toks[i%n]
				t := time.Now()
				verify(tok)
				first += time.Since(t)
				t = time.Now()
				verify(tok)
				again += time.Since(t)
				i++
			}
			b.ReportMetric(float64(first.Nanoseconds())/float64(i), "ns/first")
			b.ReportMetric(float64(again.Nanoseconds())/float64(i), "ns/again")
			b.ReportMetric(float64(first)/float64(again), "x-faster")
		})
	}
}
