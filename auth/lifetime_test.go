package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// TestVerifyLifetime: a token lives at most auth.MaxTTL (366 days) from
// its iat, or from now when it has none, and a token without exp is
// refused, whoever signed it.
func TestVerifyLifetime(t *testing.T) {
	const day = 24 * time.Hour
	year := 365 * day
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(t0.Add(d)) }
	tests := []struct {
		name     string
		iat, exp *jwt.NumericDate
		want     string // "" accepted, else a part of the message
	}{
		{"an hour", at(0), at(time.Hour), ""},
		{"the maximum from iat", at(0), at(auth.MaxTTL), ""},
		{"a second over the maximum", at(0), at(auth.MaxTTL + time.Second), "more than 366 days from its issue"},
		{"a day over the maximum", at(0), at(auth.MaxTTL + day), "more than 366 days from its issue"},
		{"two years", at(0), at(2 * year), "more than 366 days"},
		{"ten years", at(0), at(10 * year), "more than 366 days"},
		{"until the year 9999", at(0), jwt.NewNumericDate(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), "more than 366 days"},
		// The lifetime counts from iat, not from now: an old long-lived
		// token near its end is still too long-lived.
		{"issued 300 days ago for the maximum", at(-300 * day), at(auth.MaxTTL - 300*day), ""},
		{"issued 365 days ago for 367", at(-year), at(2 * day), "more than 366 days from its issue"},
		{"issued in 1970, ending in an hour", jwt.NewNumericDate(time.Unix(0, 0)), at(time.Hour), "more than 366 days from its issue"},
		{"iat 20 s ahead (clock skew) for the maximum", at(20 * time.Second), at(20*time.Second + auth.MaxTTL), ""},
		// Without iat the lifetime counts from now.
		{"no iat, an hour", nil, at(time.Hour), ""},
		{"no iat, the maximum", nil, at(auth.MaxTTL), ""},
		{"no iat, a second over the maximum", nil, at(auth.MaxTTL + time.Second), "more than 366 days from now"},
		{"no iat, ten years", nil, at(10 * year), "more than 366 days from now"},
		// A token without exp would never expire.
		{"no exp", at(0), nil, "no expiry"},
		{"neither iat nor exp", nil, nil, "no expiry"},
		// Expiry comes first: an expired token says so.
		{"expired ten-year token", at(-10 * year), at(-time.Second), "token expired"},
	}
	c := &clock{t: t0}
	keys := []struct {
		name string
		keys *auth.Keys
		sign func(testing.TB, jwt.Claims) string
	}{
		{"HS256", hmacKeys(t, testSecret, c), func(t testing.TB, cl jwt.Claims) string { return signHS(t, testSecret, cl) }},
		{"EdDSA", edKeys(t, edSeed, c), func(t testing.TB, cl jwt.Claims) string { return signEd(t, edSeed, cl) }},
	}
	for _, k := range keys {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				cl := goodClaims()
				cl.NotBefore = nil
				cl.IssuedAt, cl.ExpiresAt = tt.iat, tt.exp
				tok := k.sign(t, cl)
				p, err := k.keys.Verify(tok)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if !p.Expires.Equal(tt.exp.Time) {
						t.Errorf("expires %v, want %v", p.Expires, tt.exp.Time)
					}
					return
				}
				checkRefused(t, tok, err, auth.ErrInvalidToken)
				if msg := hub.ErrorMessage(err); !strings.Contains(msg, tt.want) {
					t.Errorf("message %q, want it to contain %q", msg, tt.want)
				}
			})
		}
	}
}

// TestMintedTokensKeepTheBound: every lifetime Mint accepts verifies, and
// a token minted for the longest lifetime verifies until its last second.
func TestMintedTokensKeepTheBound(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, time.Hour, 24 * time.Hour, auth.MaxTTL - time.Second, auth.MaxTTL} {
		for _, start := range []time.Time{t0, t0.Add(123456789 * time.Nanosecond), t0.Add(999999999 * time.Nanosecond)} {
			c := &clock{t: start}
			for name, k := range map[string]*auth.Keys{"HS256": hmacKeys(t, testSecret, c), "EdDSA": edKeys(t, edSeed, c)} {
				c.t = start
				tok, err := k.Mint(auth.Principal{Role: auth.Admin, Subject: "ops"}, ttl)
				if err != nil {
					t.Fatalf("%s Mint(%v): %v", name, ttl, err)
				}
				if _, err := k.Verify(tok); err != nil {
					t.Errorf("%s ttl %v from %v: Verify at minting: %v", name, ttl, start, err)
				}
				c.t = start.Add(ttl).Truncate(time.Second).Add(-time.Nanosecond)
				if _, err := k.Verify(tok); err != nil {
					t.Errorf("%s ttl %v: Verify just before expiry: %v", name, ttl, err)
				}
				c.t = start.Add(ttl).Truncate(time.Second)
				if _, err := k.Verify(tok); hub.ErrorMessage(err) != "token expired" {
					t.Errorf("%s ttl %v: Verify at expiry: %v, want token expired", name, ttl, err)
				}
			}
		}
	}
}
