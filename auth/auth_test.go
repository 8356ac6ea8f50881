package auth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// t0 is the fixed instant the tests mint and verify at.
var t0 = time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)

// clock is an injectable clock the tests move.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	otherKey   = []byte("fedcba9876543210fedcba9876543210")
	edSeed     = []byte("ed25519-seed-for-gridhub-tests!!")
	edOther    = []byte("another-ed25519-seed-for-tests!!")
)

func hmacKeys(t testing.TB, secret []byte, c *clock) *auth.Keys {
	t.Helper()
	k, err := auth.HMACKeys(secret, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKeys(t testing.TB, seed []byte, c *clock) *auth.Keys {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(seed)
	k, err := auth.Ed25519Keys(priv, priv.Public().(ed25519.PublicKey), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testClaims mirror the claims Gridhub tokens carry, so that tests can
// sign tokens Mint would never make.
type testClaims struct {
	Role  string `json:"role,omitempty"`
	Scope string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// goodClaims are the claims of a valid DISTRICT d1 token at t0.
func goodClaims() testClaims {
	return testClaims{Role: "DISTRICT", Scope: "d1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    "gridhub",
		Audience:  jwt.ClaimStrings{"gridhub"},
		Subject:   "operator-1",
		ID:        "tok-1",
		IssuedAt:  jwt.NewNumericDate(t0),
		NotBefore: jwt.NewNumericDate(t0.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
	}}
}

func signHS(t testing.TB, key []byte, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signEd(t testing.TB, seed []byte, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs an arbitrary JSON payload with HS256, bypassing the jwt
// library's encoding of claims.
func signRaw(key, payload []byte) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

// tamperPayload rewrites the middle segment of a token with edit and keeps
// the original signature.
func tamperPayload(t testing.TB, token string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// flipSignature changes a character in the middle of the signature (the
// last character of a base64 segment may carry only padding bits).
func flipSignature(token string) string {
	i := strings.LastIndexByte(token, '.') + 10
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// checkRefused checks that err is an UNAUTHENTICATED error matching
// sentinel whose text does not echo the token or any long part of it.
func checkRefused(t *testing.T, token string, err error, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatal("Verify accepted the token")
	}
	if got := hub.ErrorCode(err); got != hub.EUNAUTHORIZED {
		t.Errorf("code %q, want %q", got, hub.EUNAUTHORIZED)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v is not %v", err, sentinel)
	}
	for _, msg := range []string{err.Error(), hub.ErrorMessage(err)} {
		if token != "" && len(token) >= 8 && strings.Contains(msg, token) {
			t.Errorf("message echoes the token: %q", msg)
		}
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 8 && strings.Contains(msg, seg) {
				t.Errorf("message echoes a token segment %q: %q", seg, msg)
			}
		}
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	c := &clock{t: t0}
	tests := []struct {
		name string
		keys *auth.Keys
		give auth.Principal
	}{
		{"HS256 admin", hmacKeys(t, testSecret, c), auth.Principal{Role: auth.Admin, Subject: "ops", TokenID: "a1"}},
		{"HS256 district", hmacKeys(t, testSecret, c), auth.Principal{Role: auth.District, Scope: "d1", Subject: "ops"}},
		{"EdDSA committee", edKeys(t, edSeed, c), auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "chair", TokenID: "x"}},
		{"EdDSA resident", edKeys(t, edSeed, c), auth.Principal{Role: auth.Resident, Scope: "res_1", Subject: "phone-7"}},
	}
	for _, role := range auth.Roles() {
		p := auth.Principal{Role: role, Scope: "s-" + strings.ToLower(string(role)), Subject: "sub"}
		if role == auth.Admin {
			p.Scope = ""
		}
		tests = append(tests, struct {
			name string
			keys *auth.Keys
			give auth.Principal
		}{"every role " + string(role), hmacKeys(t, testSecret, c), p})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.keys.Mint(tt.give, time.Hour)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := tt.keys.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tt.give
			want.Expires = t0.Add(time.Hour)
			if !got.Expires.Equal(want.Expires) {
				t.Errorf("expires %v, want %v", got.Expires, want.Expires)
			}
			got.Expires = want.Expires
			if got != want {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyTimes(t *testing.T) {
	c := &clock{t: t0}
	k := hmacKeys(t, testSecret, c)
	tok, err := k.Mint(auth.Principal{Role: auth.Admin, Subject: "ops"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give time.Time
		ok   bool
	}{
		{"at minting", t0, true},
		{"just before expiry", t0.Add(time.Hour - time.Second), true},
		{"a nanosecond before expiry", t0.Add(time.Hour - time.Nanosecond), true},
		// Expiry allows no clock skew: an expired token that verified
		// would reach the resolvers with its deadline already passed.
		{"at expiry", t0.Add(time.Hour), false},
		{"expired by 1 s", t0.Add(time.Hour + time.Second), false},
		{"expired by 10 s", t0.Add(time.Hour + 10*time.Second), false},
		{"expired by 29 s", t0.Add(time.Hour + 29*time.Second), false},
		{"expired by 30 s", t0.Add(time.Hour + 30*time.Second), false},
		{"expired by 31 s", t0.Add(time.Hour + 31*time.Second), false},
		{"expired by an hour", t0.Add(2 * time.Hour), false},
		{"expired long ago", t0.Add(48 * time.Hour), false},
		// iat may run ahead of our clock by ClockSkew (nbf is a minute
		// before iat in minted tokens).
		{"29 s before minting: within the clock skew", t0.Add(-29 * time.Second), true},
		{"30 s before minting: within the clock skew", t0.Add(-30 * time.Second), true},
		{"31 s before minting: issued in the future", t0.Add(-31 * time.Second), false},
		{"50 s before minting: issued in the future", t0.Add(-50 * time.Second), false},
		{"not yet valid", t0.Add(-2 * time.Minute), false},
		{"a day before minting", t0.Add(-24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = tt.give
			_, err := k.Verify(tok)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify at %v: %v", tt.give, err)
				}
				return
			}
			checkRefused(t, tok, err, auth.ErrInvalidToken)
		})
	}
	for _, late := range []time.Duration{0, time.Second, 10 * time.Second, 29 * time.Second, 31 * time.Second, time.Hour} {
		c.t = t0.Add(time.Hour + late)
		if _, err := k.Verify(tok); hub.ErrorMessage(err) != "token expired" {
			t.Errorf("expired by %v: message %q, want \"token expired\"", late, hub.ErrorMessage(err))
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	c := &clock{t: t0}
	hs := hmacKeys(t, testSecret, c)
	ed := edKeys(t, edSeed, c)
	edPub := ed25519.NewKeyFromSeed(edSeed).Public().(ed25519.PublicKey)

	hsGood, err := hs.Mint(auth.Principal{Role: auth.District, Scope: "d1", Subject: "ops"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	edGood, err := ed.Mint(auth.Principal{Role: auth.District, Scope: "d1", Subject: "ops"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(*testClaims)) testClaims {
		cl := goodClaims()
		edit(&cl)
		return cl
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	adminNone, err := jwt.NewWithClaims(jwt.SigningMethodNone, with(func(c *testClaims) { c.Role, c.Scope = "ADMIN", "" })).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The classic algorithm confusion: an HS256 token whose HMAC key is
	// the verifier's public key.
	hsWithPublic := signHS(t, []byte(edPub), goodClaims())
	// A valid HS256 token's header relabelled EdDSA, and the reverse.
	relabel := func(tok, alg string) string {
		parts := strings.Split(tok, ".")
		parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name  string
		keys  *auth.Keys
		token string
		want  error
	}{
		{"empty", hs, "", auth.ErrNoToken},
		{"tampered payload: scope", hs, tamperPayload(t, hsGood, func(m map[string]any) { m["scope"] = "d2" }), auth.ErrInvalidToken},
		{"tampered payload: role to ADMIN", hs, tamperPayload(t, hsGood, func(m map[string]any) { m["role"] = "ADMIN"; delete(m, "scope") }), auth.ErrInvalidToken},
		{"tampered payload: expiry", hs, tamperPayload(t, hsGood, func(m map[string]any) { m["exp"] = t0.Add(1000 * time.Hour).Unix() }), auth.ErrInvalidToken},
		{"tampered EdDSA payload", ed, tamperPayload(t, edGood, func(m map[string]any) { m["scope"] = "d2" }), auth.ErrInvalidToken},
		{"tampered signature", hs, flipSignature(hsGood), auth.ErrInvalidToken},
		{"tampered EdDSA signature", ed, flipSignature(edGood), auth.ErrInvalidToken},
		{"signature removed", hs, hsGood[:strings.LastIndexByte(hsGood, '.')+1], auth.ErrInvalidToken},
		{"signed by another secret", hs, signHS(t, otherKey, goodClaims()), auth.ErrInvalidToken},
		{"signed by another Ed25519 key", ed, signEd(t, edOther, goodClaims()), auth.ErrInvalidToken},
		{"alg none", hs, none, auth.ErrInvalidToken},
		{"alg none to EdDSA keys", ed, none, auth.ErrInvalidToken},
		{"alg none as ADMIN", hs, adminNone, auth.ErrInvalidToken},
		{"HS256 token to EdDSA keys", ed, hsGood, auth.ErrInvalidToken},
		{"HS256 keyed with the public key to EdDSA keys", ed, hsWithPublic, auth.ErrInvalidToken},
		{"EdDSA token to HS256 keys", hs, edGood, auth.ErrInvalidToken},
		{"HS256 token relabelled EdDSA", ed, relabel(hsGood, "EdDSA"), auth.ErrInvalidToken},
		{"EdDSA token relabelled HS256", hs, relabel(edGood, "HS256"), auth.ErrInvalidToken},
		{"HS512 with the right secret", hs, func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, goodClaims()).SignedString(testSecret)
			return s
		}(), auth.ErrInvalidToken},
		{"missing role", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Role = "" })), auth.ErrInvalidToken},
		{"unknown role", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Role = "ROOT" })), auth.ErrInvalidToken},
		{"role in lower case", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Role = "district" })), auth.ErrInvalidToken},
		{"admin in lower case with a scope", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Role = "admin" })), auth.ErrInvalidToken},
		{"role of another type", hs, signRaw(testSecret, []byte(`{"role":7,"iss":"gridhub","aud":"gridhub","sub":"x","exp":1999999999,"iat":1580979600}`)), auth.ErrInvalidToken},
		{"non-ADMIN without scope", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Scope = "" })), auth.ErrInvalidToken},
		{"ADMIN with scope", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Role = "ADMIN" })), auth.ErrInvalidToken},
		{"missing subject", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Subject = "" })), auth.ErrInvalidToken},
		{"scope too long", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Scope = strings.Repeat("d", 129) })), auth.ErrInvalidToken},
		{"wrong issuer", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Issuer = "someone-else" })), auth.ErrInvalidToken},
		{"no issuer", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Issuer = "" })), auth.ErrInvalidToken},
		{"wrong audience", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Audience = jwt.ClaimStrings{"other-hub"} })), auth.ErrInvalidToken},
		{"no audience", hs, signHS(t, testSecret, with(func(c *testClaims) { c.Audience = nil })), auth.ErrInvalidToken},
		{"no expiry", hs, signHS(t, testSecret, with(func(c *testClaims) { c.ExpiresAt = nil })), auth.ErrInvalidToken},
		{"expired", hs, signHS(t, testSecret, with(func(c *testClaims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Minute)) })), auth.ErrInvalidToken},
		{"not yet valid", hs, signHS(t, testSecret, with(func(c *testClaims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) })), auth.ErrInvalidToken},
		{"issued in the future", hs, signHS(t, testSecret, with(func(c *testClaims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Hour)) })), auth.ErrInvalidToken},
		{"oversized", hs, hsGood + strings.Repeat("A", auth.MaxTokenLen), auth.ErrInvalidToken},
		{"oversized but otherwise valid", hs, signHS(t, testSecret, with(func(c *testClaims) { c.ID = strings.Repeat("i", auth.MaxTokenLen) })), auth.ErrInvalidToken},
		{"garbage", hs, "not-a-token-at-all", auth.ErrInvalidToken},
		{"garbage with dots", hs, "aaaaaaaa.bbbbbbbb.cccccccc", auth.ErrInvalidToken},
		{"only dots", hs, "....", auth.ErrInvalidToken},
		{"two segments", hs, hsGood[:strings.LastIndexByte(hsGood, '.')], auth.ErrInvalidToken},
		{"four segments", hs, hsGood + ".eyJ9", auth.ErrInvalidToken},
		{"the Bearer prefix left on", hs, "Bearer " + hsGood, auth.ErrInvalidToken},
		{"not base64", hs, "@@@@@@@@.%%%%%%%%.########", auth.ErrInvalidToken},
		{"payload not JSON", hs, signRaw(testSecret, []byte("role=ADMIN")), auth.ErrInvalidToken},
		{"payload a JSON array", hs, signRaw(testSecret, []byte(`["ADMIN"]`)), auth.ErrInvalidToken},
		{"binary", hs, "\x00\xff\xfe.\x01\x02.\x03", auth.ErrInvalidToken},
		{"unicode", hs, "令牌令牌令牌.令牌令牌令牌.令牌令牌令牌", auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.keys.Verify(tt.token)
			checkRefused(t, tt.token, err, tt.want)
			if p != (auth.Principal{}) {
				t.Errorf("a refused token yields principal %+v", p)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	c := &clock{t: t0}
	k := hmacKeys(t, testSecret, c)
	tests := []struct {
		name string
		give auth.Principal
		ttl  time.Duration
	}{
		{"no role", auth.Principal{Subject: "s", Scope: "x"}, time.Hour},
		{"unknown role", auth.Principal{Role: "ROOT", Subject: "s", Scope: "x"}, time.Hour},
		{"role in lower case", auth.Principal{Role: "district", Subject: "s", Scope: "d1"}, time.Hour},
		{"admin in lower case with a scope", auth.Principal{Role: "admin", Subject: "s", Scope: "x"}, time.Hour},
		{"ADMIN with scope", auth.Principal{Role: auth.Admin, Subject: "s", Scope: "x"}, time.Hour},
		{"DISTRICT without scope", auth.Principal{Role: auth.District, Subject: "s"}, time.Hour},
		{"RESIDENT without scope", auth.Principal{Role: auth.Resident, Subject: "s"}, time.Hour},
		{"no subject", auth.Principal{Role: auth.Admin}, time.Hour},
		{"scope too long", auth.Principal{Role: auth.Committee, Subject: "s", Scope: strings.Repeat("c", 129)}, time.Hour},
		{"subject too long", auth.Principal{Role: auth.Admin, Subject: strings.Repeat("s", 129)}, time.Hour},
		{"zero TTL", auth.Principal{Role: auth.Admin, Subject: "s"}, 0},
		{"negative TTL", auth.Principal{Role: auth.Admin, Subject: "s"}, -time.Hour},
		{"TTL beyond the maximum", auth.Principal{Role: auth.Admin, Subject: "s"}, auth.MaxTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := k.Mint(tt.give, tt.ttl)
			if got := hub.ErrorCode(err); got != hub.EINVALID {
				t.Errorf("Mint: code %q (err %v), want %q", got, err, hub.EINVALID)
			}
			if tok != "" {
				t.Errorf("Mint returned a token with its error: %q", tok)
			}
		})
	}
	t.Run("longest TTL", func(t *testing.T) {
		if _, err := k.Mint(auth.Principal{Role: auth.Admin, Subject: "s"}, auth.MaxTTL); err != nil {
			t.Errorf("Mint with MaxTTL: %v", err)
		}
	})
	t.Run("scope and subject of 128", func(t *testing.T) {
		p := auth.Principal{Role: auth.Partner, Scope: strings.Repeat("p", 128), Subject: strings.Repeat("s", 128)}
		tok, err := k.Mint(p, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.Verify(tok); err != nil || got.Scope != p.Scope || got.Subject != p.Subject {
			t.Errorf("Verify = %+v, %v", got, err)
		}
	})
}

func TestKeys(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(edSeed)
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := auth.HMACKeys([]byte("too short"), nil); err == nil {
		t.Error("HMACKeys accepted a 9-byte secret")
	}
	if _, err := auth.HMACKeys(testSecret[:31], nil); err == nil {
		t.Error("HMACKeys accepted a 31-byte secret")
	}
	if _, err := auth.Ed25519Keys(priv, pub[:31], nil); err == nil {
		t.Error("Ed25519Keys accepted a short public key")
	}
	if _, err := auth.Ed25519Keys(priv[:40], pub, nil); err == nil {
		t.Error("Ed25519Keys accepted a short private key")
	}

	// Keys holding only the public key verify but do not mint.
	c := &clock{t: t0}
	signer := edKeys(t, edSeed, c)
	verifier, err := auth.Ed25519Keys(nil, pub, c.now)
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Principal{Role: auth.Checkpoint, Scope: "k1", Subject: "scanner-3"}
	tok, err := signer.Mint(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := verifier.Verify(tok); err != nil || got.Scope != "k1" {
		t.Errorf("public-key verifier: %+v, %v", got, err)
	}
	if tok, err := verifier.Mint(p, time.Hour); err == nil || tok != "" {
		t.Errorf("a verify-only key minted %q", tok)
	}

	// The secret is copied: changing the caller's slice later changes
	// nothing.
	secret := append([]byte(nil), testSecret...)
	k := hmacKeys(t, secret, c)
	tok, err = k.Mint(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 0xff
	if _, err := k.Verify(tok); err != nil {
		t.Errorf("after the caller's secret slice changed: %v", err)
	}

	// A nil clock means the wall clock.
	wall := hmacKeys(t, testSecret, &clock{t: time.Now()})
	k2, err := auth.HMACKeys(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err = wall.Mint(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Verify(tok); err != nil {
		t.Errorf("wall clock keys: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		give    string
		want    auth.Role
		wantErr bool
	}{
		{give: "ADMIN", want: auth.Admin},
		{give: "district", want: auth.District},
		{give: "Committee", want: auth.Committee},
		{give: "RESIDENT", want: auth.Resident},
		{give: "", wantErr: true},
		{give: "ROOT", wantErr: true},
		{give: " ADMIN", wantErr: true},
	}
	for _, tt := range tests {
		got, err := auth.ParseRole(tt.give)
		if tt.wantErr {
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Errorf("ParseRole(%q) = %q, %v; want EINVALID", tt.give, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", tt.give, got, err, tt.want)
		}
	}
}

func TestPrincipalIs(t *testing.T) {
	p := auth.Principal{Role: auth.Committee, Scope: "c1", Subject: "s"}
	if !p.Is(auth.Committee, "c1") || p.Is(auth.Committee, "c2") || p.Is(auth.District, "c1") {
		t.Errorf("Is misjudges %+v", p)
	}
	admin := auth.Principal{Role: auth.Admin, Subject: "s"}
	if admin.Is(auth.Admin, "") {
		t.Error("Is matches an empty scope")
	}
	if _, ok := auth.FromContext(t.Context()); ok {
		t.Error("FromContext found a principal in an empty context")
	}
	got, ok := auth.FromContext(auth.WithPrincipal(t.Context(), p))
	if !ok || got != p {
		t.Errorf("FromContext = %+v, %v", got, ok)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer abc", "abc"},
		{"BEARER abc", "abc"},
		{"  Bearer   abc  ", "abc"},
		{"Bearer ", ""},
		{"Bearer", ""},
		{"Bearerabc", ""},
		{"BearerX abc", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Token abc", ""},
		{"abc.def.ghi", ""},
		{"", ""},
		{"   ", ""},
		{"Bearer\tabc", ""},
		{"Bearer a b", "a b"}, // Verify refuses it
	}
	for _, tt := range tests {
		if got := auth.BearerToken(tt.give); got != tt.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
