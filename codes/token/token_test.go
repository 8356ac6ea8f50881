package token

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// t0 is the fixtures' base time, 2020-02-10 08:00 UTC.
var t0 = time.Date(2020, 2, 10, 8, 0, 0, 0, time.UTC)

// seeded returns a reader of deterministic bytes, so keys are the same
// every run.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func newIssuer(t testing.TB, name, keyID string, seed uint64) *Issuer {
	t.Helper()
	is, err := GenerateIssuer(name, keyID, seeded(seed), 0)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func trustOf(t testing.TB, keys ...TrustedKey) *TrustList {
	t.Helper()
	tl, err := NewTrustList(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func issue(t testing.TB, is *Issuer, subject string, c hub.Colour, at time.Time) string {
	t.Helper()
	code, err := is.Issue(subject, c, at)
	if err != nil {
		t.Fatal(err)
	}
	return code.Token
}

// wantReason fails t unless err is an *Error of the reason.
func wantReason(t *testing.T, err error, want Reason, what string) {
	t.Helper()
	if got := ReasonOf(err); got != want {
		t.Fatalf("%s: reason %q (%v), want %q", what, got, err, want)
	}
}

const subject = "JBSWY3DPEHPK3PXPJBSWY3DPEH"

func TestRoundTrip(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-2020-01", 1)
	tl := trustOf(t, is.TrustedKey(t0.Add(-time.Hour), time.Time{}))
	for _, c := range hub.Colours() {
		t.Run(string(c), func(t *testing.T) {
			code, err := is.Issue(subject, c, t0.Add(1500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(code.Token, Prefix) || len(code.Token) != 155 {
				t.Fatalf("token %q: want %q and 155 characters", code.Token, Prefix)
			}
			got, err := Verify(code.Token, tl, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			want := hub.IssuedCode{
				Token: code.Token, Issuer: "Shanghai", KeyID: "sh-2020-01", SubjectID: subject,
				Colour: c, Issued: t0.Add(time.Second), Expires: t0.Add(time.Second + DefaultLifetime),
			}
			if got != want || code != want {
				t.Fatalf("verified %+v\nissued %+v\nwant %+v", got, code, want)
			}
		})
	}
}

func TestIssueDeterministic(t *testing.T) {
	// Ed25519 signatures are deterministic: one key, one claim, one code.
	a := issue(t, newIssuer(t, "X", "k1", 7), subject, hub.Red, t0)
	b := issue(t, newIssuer(t, "X", "k1", 7), subject, hub.Red, t0)
	if a != b {
		t.Fatalf("two codes of the same claims and key differ:\n%s\n%s", a, b)
	}
}

func TestVerifyReasons(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	other := newIssuer(t, "Hangzhou", "hz-1", 2)
	impostor := newIssuer(t, "Impostor", "sh-1", 3) // claims Shanghai's key ID
	tl := trustOf(t, is.TrustedKey(t0, t0.Add(30*24*time.Hour)))
	good := issue(t, is, subject, hub.Green, t0.Add(time.Hour))
	payload, sig, _ := strings.Cut(strings.TrimPrefix(good, Prefix), ".")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// recolour re-encodes the payload with another colour byte but the
	// old signature.
	recolour := func() string {
		p, err := b64.DecodeString(payload)
		if err != nil {
			t.Fatal(err)
		}
		p[1] = 1 + p[1]%3
		return Prefix + b64.EncodeToString(p) + "." + sig
	}

	tests := []struct {
		name string
		give string
		now  time.Time
		want Reason // "" for valid
	}{
		{"valid", good, t0.Add(2 * time.Hour), ""},
		{"valid a second before expiry", good, t0.Add(time.Hour + DefaultLifetime - time.Second), ""},
		{"expired at expiry", good, t0.Add(time.Hour + DefaultLifetime), Expired},
		{"expired long ago", good, t0.Add(40 * 24 * time.Hour), Expired},
		{"within clock skew", good, t0.Add(time.Hour - ClockSkew), ""},
		{"not yet valid", good, t0.Add(time.Hour - ClockSkew - time.Second), NotYetValid},
		{"colour changed", recolour(), t0.Add(2 * time.Hour), BadSignature},
		{"payload character changed", Prefix + flip(payload, 7) + "." + sig, t0.Add(2 * time.Hour), BadSignature},
		{"signature changed", Prefix + payload + "." + flip(sig, 10), t0.Add(2 * time.Hour), BadSignature},
		{"signatures swapped", Prefix + payload + "." + strings.SplitN(issue(t, is, subject, hub.Red, t0.Add(time.Hour)), ".", 2)[1], t0.Add(2 * time.Hour), BadSignature},
		{"impostor with a trusted key ID", issue(t, impostor, subject, hub.Green, t0.Add(time.Hour)), t0.Add(2 * time.Hour), BadSignature},
		{"other issuer not recognised", issue(t, other, subject, hub.Green, t0.Add(time.Hour)), t0.Add(2 * time.Hour), UnknownKey},
		{"issued before the key", issue(t, is, subject, hub.Green, t0.Add(-time.Hour)), t0, KeyNotValid},
		{"issued after the key retired", issue(t, is, subject, hub.Green, t0.Add(31*24*time.Hour)), t0.Add(31 * 24 * time.Hour), KeyNotValid},
		{"no prefix", strings.TrimPrefix(good, Prefix), t0.Add(2 * time.Hour), Malformed},
		{"lower-case prefix", "gh1:" + strings.TrimPrefix(good, Prefix), t0.Add(2 * time.Hour), Malformed},
		{"no signature", Prefix + payload, t0.Add(2 * time.Hour), Malformed},
		{"padded", Prefix + payload + "=." + sig, t0.Add(2 * time.Hour), Malformed},
		{"standard alphabet", Prefix + "+" + payload[1:] + "." + sig, t0.Add(2 * time.Hour), Malformed},
		{"empty", "", t0, Malformed},
		{"too long", good + strings.Repeat("A", MaxLen), t0, Malformed},
		{"white space", good + "\n", t0.Add(2 * time.Hour), Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.give, tl, tt.now)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.SubjectID != subject {
					t.Fatalf("subject %q", got.SubjectID)
				}
				return
			}
			wantReason(t, err, tt.want, tt.name)
			if got != (hub.IssuedCode{}) {
				t.Fatalf("an invalid code returned claims %+v", got)
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	tl := trustOf(t, is.TrustedKey(t0, time.Time{}))
	good := issue(t, is, subject, hub.Yellow, t0)
	for n := range len(good) {
		_, err := Verify(good[:n], tl, t0)
		wantReason(t, err, Malformed, "truncated to "+good[:n])
	}
	// Trailing bytes inside the payload are as bad as missing ones.
	p := appendPayload(nil, &Claims{KeyID: "sh-1", Subject: subject, Colour: hub.Green, Issued: t0, Expires: t0.Add(time.Hour)})
	_, err := Verify(sign(is, append(p, 0)), tl, t0)
	wantReason(t, err, Malformed, "payload with a trailing byte")
	_, err = Verify(sign(is, p[:len(p)-1]), tl, t0)
	wantReason(t, err, Malformed, "payload one byte short")
}

// sign makes a code of any payload, signed properly, for testing the
// decoder behind the signature.
func sign(is *Issuer, p []byte) string {
	msg := append([]byte(Prefix), p...)
	return Prefix + b64.EncodeToString(p) + "." + b64.EncodeToString(ed25519.Sign(is.priv, msg))
}

func TestMalformedPayloads(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	tl := trustOf(t, is.TrustedKey(t0, time.Time{}))
	base := func() []byte {
		return appendPayload(nil, &Claims{KeyID: "sh-1", Subject: subject, Colour: hub.Green, Issued: t0, Expires: t0.Add(time.Hour)})
	}
	tests := []struct {
		name string
		give func(p []byte) []byte
	}{
		{"version 0", func(p []byte) []byte { p[0] = 0; return p }},
		{"version 2", func(p []byte) []byte { p[0] = 2; return p }},
		{"colour 0", func(p []byte) []byte { p[1] = 0; return p }},
		{"colour 4", func(p []byte) []byte { p[1] = 4; return p }},
		{"expires at issue", func(p []byte) []byte { copy(p[6:10], p[2:6]); return p }},
		{"key ID of length 0", func(p []byte) []byte { return append(p[:10], 0) }},
		{"key ID longer than the rest", func(p []byte) []byte { p[10] = 200; return p }},
		{"subject missing", func(p []byte) []byte { return p[:11+4] }},
		{"subject with a space", func(p []byte) []byte { p[len(p)-1] = ' '; return p }},
		{"subject with a control byte", func(p []byte) []byte { p[len(p)-1] = 0; return p }},
		{"subject not ASCII", func(p []byte) []byte { p[len(p)-1] = 0xc3; return p }},
		{"empty", func(p []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(sign(is, tt.give(base())), tl, t0)
			wantReason(t, err, Malformed, tt.name)
		})
	}
	// The base itself verifies, so each case fails for its own change.
	if _, err := Verify(sign(is, base()), tl, t0); err != nil {
		t.Fatalf("base payload: %v", err)
	}
}

func TestRotation(t *testing.T) {
	// Key 1 signs in January, key 2 from February on. Codes live 24 h.
	feb := time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)
	old := newIssuer(t, "Shanghai", "sh-2020-01", 1)
	cur := newIssuer(t, "Shanghai", "sh-2020-02", 2)
	tl := trustOf(t,
		old.TrustedKey(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), feb),
		cur.TrustedKey(feb, time.Time{}),
	)
	lastOld := issue(t, old, subject, hub.Green, feb.Add(-time.Minute))
	firstNew := issue(t, cur, subject, hub.Green, feb)

	if _, err := Verify(lastOld, tl, feb.Add(12*time.Hour)); err != nil {
		t.Fatalf("a code of the retired key, before its expiry: %v", err)
	}
	if _, err := Verify(firstNew, tl, feb.Add(12*time.Hour)); err != nil {
		t.Fatalf("a code of the new key: %v", err)
	}
	_, err := Verify(lastOld, tl, feb.Add(24*time.Hour))
	wantReason(t, err, Expired, "the retired key's last code a day later")
	_, err = Verify(issue(t, old, subject, hub.Green, feb.Add(time.Hour)), tl, feb.Add(2*time.Hour))
	wantReason(t, err, KeyNotValid, "a code the retired key signed after retiring")

	// The published list keeps the old key while its codes may live.
	if n := tl.Prune(feb.Add(24*time.Hour), DefaultLifetime).Len(); n != 1 {
		t.Fatalf("keys after pruning at expiry of the last old code: %d, want 1", n)
	}
	if n := tl.Prune(feb.Add(12*time.Hour), DefaultLifetime).Len(); n != 2 {
		t.Fatalf("keys after pruning while old codes live: %d, want 2", n)
	}
	if n := tl.Prune(feb.Add(6*24*time.Hour), 0).Len(); n != 2 {
		t.Fatalf("keys after pruning within MaxLifetime: %d, want 2", n)
	}
}

func TestMutualRecognition(t *testing.T) {
	sh := newIssuer(t, "Shanghai", "sh-1", 1)
	hz := newIssuer(t, "Hangzhou", "hz-1", 2)
	shList := trustOf(t, sh.TrustedKey(t0, time.Time{}))
	hzList := trustOf(t, hz.TrustedKey(t0, time.Time{}))
	both, err := Merge(shList, hzList, shList)
	if err != nil {
		t.Fatal(err)
	}
	if both.Len() != 2 {
		t.Fatalf("merged list has %d keys, want 2", both.Len())
	}
	for _, is := range []*Issuer{sh, hz} {
		code, err := Verify(issue(t, is, subject, hub.Green, t0), both, t0)
		if err != nil {
			t.Fatalf("%s code against both lists: %v", is.Name(), err)
		}
		if code.Issuer != is.Name() {
			t.Fatalf("issuer %q, want %q", code.Issuer, is.Name())
		}
	}
	_, err = Verify(issue(t, hz, subject, hub.Green, t0), shList, t0)
	wantReason(t, err, UnknownKey, "Hangzhou code in Shanghai alone")

	// Lists that disagree on a key ID do not merge.
	clash := trustOf(t, newIssuer(t, "Elsewhere", "sh-1", 9).TrustedKey(t0, time.Time{}))
	if _, err := Merge(shList, clash); hub.ErrorCode(err) != hub.EINVALID {
		t.Fatalf("merging lists that disagree: %v, want EINVALID", err)
	}
}

func TestIssueInvalid(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	tests := []struct {
		name    string
		subject string
		colour  hub.Colour
		at      time.Time
	}{
		{"empty subject", "", hub.Green, t0},
		{"long subject", strings.Repeat("A", MaxIDLen+1), hub.Green, t0},
		{"subject with a space", "A B", hub.Green, t0},
		{"subject not ASCII", "王五", hub.Green, t0},
		{"no colour", subject, "", t0},
		{"unknown colour", subject, "BLUE", t0},
		{"before 1970", subject, hub.Green, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"after 2106", subject, hub.Green, time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := is.Issue(tt.subject, tt.colour, tt.at); hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("Issue: %v, want EINVALID", err)
			}
		})
	}

	_, priv, _ := ed25519.GenerateKey(seeded(1))
	for _, tt := range []struct {
		name, issuer, keyID string
		priv                ed25519.PrivateKey
		lifetime            time.Duration
	}{
		{"no name", " ", "k", priv, 0},
		{"no key ID", "X", "", priv, 0},
		{"key ID with a space", "X", "k 1", priv, 0},
		{"short key", "X", "k", priv[:31], 0},
		{"public key as private", "X", "k", ed25519.PrivateKey(priv.Public().(ed25519.PublicKey)), 0},
		{"negative lifetime", "X", "k", priv, -time.Hour},
		{"lifetime too long", "X", "k", priv, MaxLifetime + time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewIssuer(tt.issuer, tt.keyID, tt.priv, tt.lifetime); hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("NewIssuer: %v, want EINVALID", err)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(seeded(1))
	is, err := NewIssuer("Shanghai", "sh-1", priv, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, err := is.Issue(subject, hub.Green, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !code.Expires.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("expires %v, want two hours after %v", code.Expires, t0)
	}
}

func TestErrors(t *testing.T) {
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	tl := trustOf(t, is.TrustedKey(t0, time.Time{}))
	_, err := Verify(issue(t, is, subject, hub.Green, t0), tl, t0.Add(48*time.Hour))
	if !errors.Is(err, ErrExpired) || errors.Is(err, ErrBadSignature) {
		t.Fatalf("errors.Is of %v: want ErrExpired only", err)
	}
	if !strings.Contains(err.Error(), "EXPIRED") {
		t.Fatalf("message %q does not name the reason", err)
	}
	if ReasonOf(errors.New("other")) != "" || ReasonOf(nil) != "" {
		t.Fatal("ReasonOf of other errors is not empty")
	}
	if got := len(Reasons()); got != 6 {
		t.Fatalf("%d reasons", got)
	}
}

func TestDecodeCanonical(t *testing.T) {
	// Decode accepts exactly the text Issue makes: re-encoding what it
	// read gives the text back.
	is := newIssuer(t, "Shanghai", "sh-1", 1)
	text := issue(t, is, subject, hub.Red, t0)
	c, signed, sig, err := Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := reencode(&c, sig); got != text {
		t.Fatalf("re-encoded %q, want %q", got, text)
	}
	if !bytes.HasPrefix(signed, []byte(Prefix)) {
		t.Fatalf("signed message %q lacks the prefix", signed)
	}
}

func reencode(c *Claims, sig []byte) string {
	return Prefix + b64.EncodeToString(appendPayload(nil, c)) + "." + b64.EncodeToString(sig)
}
