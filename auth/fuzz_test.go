package auth_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// checkVerified checks what Verify returned for token: an accepted token
// is a well-formed principal that round-trips through Mint and Verify; a
// refused one is an UNAUTHENTICATED error that does not echo the token.
func checkVerified(t *testing.T, k *auth.Keys, now time.Time, token string, p auth.Principal, err error) {
	t.Helper()
	if err != nil {
		if p != (auth.Principal{}) {
			t.Fatalf("refused token yields principal %+v", p)
		}
		if hub.ErrorCode(err) != hub.EUNAUTHORIZED {
			t.Fatalf("code %q, want %q: %v", hub.ErrorCode(err), hub.EUNAUTHORIZED, err)
		}
		want := auth.ErrInvalidToken
		if token == "" {
			want = auth.ErrNoToken
		}
		if !errors.Is(err, want) {
			t.Fatalf("error %v is not %v", err, want)
		}
		if len(token) >= 16 && strings.Contains(err.Error(), token) {
			t.Fatalf("message echoes the token: %v", err)
		}
		return
	}
	if len(token) > auth.MaxTokenLen {
		t.Fatalf("accepted a token of %d bytes", len(token))
	}
	if err := auth.CheckPrincipal(p); err != nil {
		t.Fatalf("accepted a malformed principal %+v: %v", p, err)
	}
	if !slices.Contains(auth.Roles(), p.Role) {
		t.Fatalf("accepted an unknown role %q", p.Role)
	}
	if p.Expires.IsZero() || p.Expires.Before(now.Add(-time.Minute)) {
		t.Fatalf("accepted a token that expires at %v (now %v)", p.Expires, now)
	}
	ttl := p.Expires.Sub(now)
	if ttl <= 0 || ttl > auth.MaxTTL {
		ttl = time.Hour
	}
	again, err := k.Mint(p, ttl)
	if err != nil {
		t.Fatalf("cannot mint the accepted principal %+v again: %v", p, err)
	}
	if len(again) > auth.MaxTokenLen {
		return // the original had fewer claims than Mint writes
	}
	q, err := k.Verify(again)
	if err != nil {
		t.Fatalf("the accepted principal %+v does not round-trip: %v", p, err)
	}
	q.Expires, p.Expires = time.Time{}, time.Time{}
	if q != p {
		t.Fatalf("round trip: %+v, want %+v", q, p)
	}
}

// FuzzVerify feeds arbitrary strings to Verify: it never panics, and what
// it accepts is a well-formed principal that round-trips.
func FuzzVerify(f *testing.F) {
	c := &clock{t: t0}
	k := hmacKeys(f, testSecret, c)
	for _, role := range auth.Roles() {
		p := auth.Principal{Role: role, Scope: "s1", Subject: "fuzz", TokenID: "t"}
		if role == auth.Admin {
			p.Scope = ""
		}
		tok, err := k.Mint(p, time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(tamperPayload(f, tok, func(m map[string]any) { m["role"] = "ADMIN" }))
		f.Add(flipSignature(tok))
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(none)
	f.Add(signHS(f, otherKey, goodClaims()))
	f.Add(signEd(f, edSeed, goodClaims()))
	f.Add(signRaw(testSecret, []byte(`{"role":"admin","scope":"x","iss":"gridhub","aud":"gridhub","sub":"s","exp":1580983200,"iat":1580979600}`)))
	f.Add(signRaw(testSecret, []byte(`{"role":"ADMIN","iss":"gridhub","aud":["gridhub"],"sub":"s","exp":1e300}`)))
	for _, s := range []string{"", ".", "..", "a.b.c", "Bearer x", "eyJhbGciOiJub25lIn0.e30.", "\x00", strings.Repeat("A", auth.MaxTokenLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := k.Verify(token)
		checkVerified(t, k, c.t, token, p, err)
	})
}

// FuzzVerifyClaims signs arbitrary payloads with the verifier's own key,
// as a holder of the key could: Verify never panics on them, and what it
// accepts is a well-formed principal that round-trips.
func FuzzVerifyClaims(f *testing.F) {
	c := &clock{t: t0}
	k := hmacKeys(f, testSecret, c)
	good, _ := json.Marshal(goodClaims())
	f.Add(good)
	for _, s := range []string{
		`{"role":"ADMIN","iss":"gridhub","aud":"gridhub","sub":"s","exp":1580983200}`,
		`{"role":"admin","scope":"x","iss":"gridhub","aud":"gridhub","sub":"s","exp":1580983200}`,
		`{"role":"RESIDENT","scope":" ","iss":"gridhub","aud":["gridhub","x"],"sub":"\u0000","exp":1580983200,"jti":"\ud800"}`,
		`{"role":"DISTRICT","scope":"d1","iss":"gridhub","aud":"gridhub","sub":"s","exp":1e300,"nbf":-1e300,"iat":0}`,
		`{"role":"DISTRICT","role":"ADMIN","iss":"gridhub","aud":"gridhub","sub":"s","exp":1580983200}`,
		`{"role":null,"scope":7,"exp":"soon"}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		token := signRaw(testSecret, payload)
		p, err := k.Verify(token)
		checkVerified(t, k, c.t, token, p, err)
	})
}

// FuzzBearerToken checks that BearerToken never panics, returns a trimmed
// token only from a header whose scheme is Bearer, and is idempotent.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearer", "Bearer ", "", " ", "Bearer\tabc",
		"Bearer a b", "BEARER x.y.z", "Bearer \u00a0abc\u2003", "\u00a0Bearer abc", "Bearer\x00 abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok := auth.BearerToken(header)
		if tok == "" {
			return
		}
		if tok != strings.TrimSpace(tok) {
			t.Fatalf("BearerToken(%q) = %q, not trimmed", header, tok)
		}
		h := strings.TrimSpace(header)
		if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
			t.Fatalf("BearerToken(%q) = %q from a header whose scheme is not Bearer", header, tok)
		}
		if !strings.HasSuffix(h, tok) {
			t.Fatalf("BearerToken(%q) = %q, not the header's tail", header, tok)
		}
		if again := auth.BearerToken("Bearer " + tok); again != tok {
			t.Fatalf("BearerToken(\"Bearer \"+%q) = %q", tok, again)
		}
	})
}
