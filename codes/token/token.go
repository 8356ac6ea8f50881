// Package token is the signed health code: its compact text form, the
// issuer that signs it, the trust list of issuers' public keys, and
// offline verification. It is pure Go and imports nothing of the grid, so
// a checkpoint device's verifier (cmd/verify-code) cross-compiles without
// a C toolchain.
//
// # Format
//
// A code is the text
//
//	GH1:<payload>.<signature>
//
// where both parts are unpadded base64url (RFC 4648 §5, canonical: no
// stray bits), the signature is the 64-byte Ed25519 signature of the bytes
// "GH1:" followed by the raw payload, and the payload is, in order:
//
//	version   1 byte   1
//	colour    1 byte   1 GREEN, 2 YELLOW, 3 RED
//	issued    4 bytes  big-endian unix seconds
//	expires   4 bytes  big-endian unix seconds, after issued
//	keyId     1 byte length (1..64) + that many bytes of printable ASCII
//	subject   1 byte length (1..64) + that many bytes of printable ASCII
//
// and nothing more. A code with a 10-character key ID and a 26-character
// subject is 155 characters, which a version-9 QR code holds at error
// correction level M. The subject
// is the hub's opaque subject ID, never an ID number. The key ID names the
// issuer's key in the trust list; key IDs are unique across the list, so
// the issuer follows from it.
//
// # Verification
//
// Verify checks, in order, and answers with the first failure's Reason:
// the form (MALFORMED), the key ID in the trust list (UNKNOWN_KEY), the
// signature (BAD_SIGNATURE), that the key was valid when the code was
// issued (KEY_NOT_VALID: notBefore <= issued <= notAfter), that the code
// was not issued in the future (NOT_YET_VALID, allowing ClockSkew for a
// device whose clock is behind), and that it has not expired (EXPIRED:
// now >= expires). A key retired from signing (its notAfter passed) stays
// in the trust list until the codes it signed have expired, so rotating
// keys never invalidates a code early.
package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Prefix starts every code and, with the payload, is what is signed.
const Prefix = "GH1:"

// Limits of the format.
const (
	version = 1
	// MaxIDLen bounds key IDs and subjects, in bytes.
	MaxIDLen = 64
	// MaxLen bounds the length of a code's text; anything longer is
	// MALFORMED without further work.
	MaxLen = 512
	// ClockSkew is how far in the future a code's issue time may be
	// before it is NOT_YET_VALID: a checkpoint's clock may be behind.
	ClockSkew = 5 * time.Minute
	// DefaultLifetime is how long a code is valid when the issuer is not
	// told otherwise: short, so a colour change takes hold within a day
	// even at a checkpoint that is never online.
	DefaultLifetime = 24 * time.Hour
	// MaxLifetime bounds an issuer's lifetime.
	MaxLifetime = 7 * 24 * time.Hour

	fixedLen = 1 + 1 + 4 + 4
	sigLen   = ed25519.SignatureSize
)

var b64 = base64.RawURLEncoding.Strict()

// Reason says why a code is not valid.
type Reason string

// The reasons.
const (
	Malformed    Reason = "MALFORMED"     // not a code of this format
	UnknownKey   Reason = "UNKNOWN_KEY"   // no key of the trust list has its key ID
	BadSignature Reason = "BAD_SIGNATURE" // tampered with, or signed by another key
	KeyNotValid  Reason = "KEY_NOT_VALID" // issued outside its key's validity
	NotYetValid  Reason = "NOT_YET_VALID" // issued in the future
	Expired      Reason = "EXPIRED"       // past its expiry
)

// Reasons returns every reason, in the order Verify checks them.
func Reasons() []Reason {
	return []Reason{Malformed, UnknownKey, BadSignature, KeyNotValid, NotYetValid, Expired}
}

// Error is why a code is not valid: a Reason and a detail for people.
// errors.Is matches it against another *Error of the same Reason, so
// errors.Is(err, token.ErrExpired) works.
type Error struct {
	Reason Reason
	Detail string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Detail == "" {
		return "health code " + string(e.Reason)
	}
	return "health code " + string(e.Reason) + ": " + e.Detail
}

// Is reports whether target is an *Error of the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinels for errors.Is, one per Reason.
var (
	ErrMalformed    = &Error{Reason: Malformed}
	ErrUnknownKey   = &Error{Reason: UnknownKey}
	ErrBadSignature = &Error{Reason: BadSignature}
	ErrKeyNotValid  = &Error{Reason: KeyNotValid}
	ErrNotYetValid  = &Error{Reason: NotYetValid}
	ErrExpired      = &Error{Reason: Expired}
)

// ReasonOf returns the Reason of the first *Error in err's chain, or ""
// when there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Claims are what a code says.
type Claims struct {
	KeyID   string
	Subject string
	Colour  hub.Colour
	Issued  time.Time // whole seconds, UTC
	Expires time.Time // whole seconds, UTC
}

// checkID reports whether s can be a key ID or subject in a code.
func checkID(what, s string) error { return checkIDBytes(what, []byte(s)) }

func checkIDBytes(what string, s []byte) error {
	if len(s) == 0 || len(s) > MaxIDLen {
		return fmt.Errorf("%s has %d bytes, want 1 to %d", what, len(s), MaxIDLen)
	}
	for _, b := range s {
		if b < 0x21 || b > 0x7e {
			return fmt.Errorf("%s holds a byte that is not printable ASCII", what)
		}
	}
	return nil
}

// colourByte and byteColour map colours to the payload.
func colourByte(c hub.Colour) byte { return byte(c.Rank()) }

func byteColour(b byte) hub.Colour {
	switch b {
	case 1:
		return hub.Green
	case 2:
		return hub.Yellow
	case 3:
		return hub.Red
	}
	return ""
}

// appendPayload appends the payload of c to dst.
func appendPayload(dst []byte, c *Claims) []byte {
	dst = append(dst, version, colourByte(c.Colour))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Issued.Unix()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Expires.Unix()))
	dst = append(dst, byte(len(c.KeyID)))
	dst = append(dst, c.KeyID...)
	dst = append(dst, byte(len(c.Subject)))
	return append(dst, c.Subject...)
}

// raw is a decoded payload whose IDs still point into it.
type raw struct {
	colour          hub.Colour
	issued, expires time.Time
	keyID, subject  []byte
}

// parsePayload reads a payload, which must hold exactly one code's claims.
func parsePayload(p []byte) (raw, error) {
	if len(p) < fixedLen+2 {
		return raw{}, fail(Malformed, "payload of %d bytes is too short", len(p))
	}
	if p[0] != version {
		return raw{}, fail(Malformed, "payload version %d, want %d", p[0], version)
	}
	r := raw{colour: byteColour(p[1])}
	if r.colour == "" {
		return raw{}, fail(Malformed, "unknown colour byte %d", p[1])
	}
	issued, expires := binary.BigEndian.Uint32(p[2:]), binary.BigEndian.Uint32(p[6:])
	if expires <= issued {
		return raw{}, fail(Malformed, "expires no later than issued")
	}
	r.issued = time.Unix(int64(issued), 0).UTC()
	r.expires = time.Unix(int64(expires), 0).UTC()
	rest := p[fixedLen:]
	var err error
	if r.keyID, rest, err = lenPrefixed(rest, "key ID"); err != nil {
		return raw{}, err
	}
	if r.subject, rest, err = lenPrefixed(rest, "subject"); err != nil {
		return raw{}, err
	}
	if len(rest) != 0 {
		return raw{}, fail(Malformed, "%d bytes after the subject", len(rest))
	}
	return r, nil
}

func lenPrefixed(p []byte, what string) ([]byte, []byte, error) {
	if len(p) == 0 {
		return nil, nil, fail(Malformed, "%s is missing", what)
	}
	n := int(p[0])
	if len(p) < 1+n {
		return nil, nil, fail(Malformed, "%s is cut short", what)
	}
	s := p[1 : 1+n]
	if err := checkIDBytes(what, s); err != nil {
		return nil, nil, fail(Malformed, "%v", err)
	}
	return s, p[1+n:], nil
}

// decodeInto splits a code into its payload, appended to signed after the
// prefix, and its signature, appended to sig.
func decodeInto(text string, signed, sig []byte) (raw, []byte, []byte, error) {
	if len(text) > MaxLen {
		return raw{}, nil, nil, fail(Malformed, "longer than %d characters", MaxLen)
	}
	rest, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return raw{}, nil, nil, fail(Malformed, "does not start with %q", Prefix)
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok {
		return raw{}, nil, nil, fail(Malformed, "no signature")
	}
	if len(s64) != b64.EncodedLen(sigLen) {
		return raw{}, nil, nil, fail(Malformed, "signature of %d characters, want %d", len(s64), b64.EncodedLen(sigLen))
	}
	// The decoder skips line breaks; a code has none, so that one code has
	// one text form only.
	if !base64URL(p64) || !base64URL(s64) {
		return raw{}, nil, nil, fail(Malformed, "a character outside base64url")
	}
	signed = append(signed, Prefix...)
	signed, err := b64.AppendDecode(signed, []byte(p64))
	if err != nil {
		return raw{}, nil, nil, fail(Malformed, "payload is not base64url: %v", err)
	}
	sig, err = b64.AppendDecode(sig, []byte(s64))
	if err != nil || len(sig) != sigLen {
		return raw{}, nil, nil, fail(Malformed, "signature is not base64url")
	}
	r, err := parsePayload(signed[len(Prefix):])
	if err != nil {
		return raw{}, nil, nil, err
	}
	return r, signed, sig, nil
}

// base64URL reports whether s holds only base64url characters.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Decode splits a code into its claims, the signed message and the
// signature, without checking the signature. Any text that is not a code
// of this format is a MALFORMED *Error; Decode never panics.
func Decode(text string) (c Claims, signed, sig []byte, err error) {
	r, signed, sig, err := decodeInto(text, nil, nil)
	if err != nil {
		return Claims{}, nil, nil, err
	}
	return Claims{
		KeyID: string(r.keyID), Subject: string(r.subject), Colour: r.colour,
		Issued: r.issued, Expires: r.expires,
	}, signed, sig, nil
}

// Verify checks a code offline against a trust list at the time now and
// returns what it says. A code that is not valid is an *Error with the
// Reason (see the package documentation for the order of the checks).
func Verify(text string, tl *TrustList, now time.Time) (hub.IssuedCode, error) {
	// The signed message escapes into the hash inside ed25519.Verify: one
	// allocation of its size; the signature stays on the stack.
	var sigBuf [sigLen]byte
	r, signed, sig, err := decodeInto(text, make([]byte, 0, len(Prefix)+b64.DecodedLen(min(len(text), MaxLen))), sigBuf[:0])
	if err != nil {
		return hub.IssuedCode{}, err
	}
	k := tl.key(r.keyID)
	if k == nil {
		return hub.IssuedCode{}, fail(UnknownKey, "key %q is not in the trust list", r.keyID)
	}
	if !ed25519.Verify(k.PublicKey, signed, sig) {
		return hub.IssuedCode{}, fail(BadSignature, "the signature does not match key %q", k.KeyID)
	}
	if r.issued.Before(k.NotBefore) || (!k.NotAfter.IsZero() && r.issued.After(k.NotAfter)) {
		return hub.IssuedCode{}, fail(KeyNotValid, "issued %s, outside the validity of key %q", r.issued.Format(time.RFC3339), k.KeyID)
	}
	if r.issued.After(now.Add(ClockSkew)) {
		return hub.IssuedCode{}, fail(NotYetValid, "issued %s, in the future", r.issued.Format(time.RFC3339))
	}
	if !now.Before(r.expires) {
		return hub.IssuedCode{}, fail(Expired, "expired %s", r.expires.Format(time.RFC3339))
	}
	return hub.IssuedCode{
		Token: text, Issuer: k.Issuer, KeyID: k.KeyID, SubjectID: string(r.subject),
		Colour: r.colour, Issued: r.issued, Expires: r.expires,
	}, nil
}

// Issuer signs codes with one key. It is safe for concurrent use.
type Issuer struct {
	name     string
	keyID    string
	priv     ed25519.PrivateKey
	lifetime time.Duration
}

// NewIssuer returns an issuer named name (the authority, e.g. a city)
// signing with priv under keyID. A lifetime of 0 means DefaultLifetime;
// one over MaxLifetime, a bad key ID or a private key of the wrong size is
// an EINVALID error.
func NewIssuer(name, keyID string, priv ed25519.PrivateKey, lifetime time.Duration) (*Issuer, error) {
	if strings.TrimSpace(name) == "" {
		return nil, hub.Errorf(hub.EINVALID, "issuer has no name")
	}
	if err := checkID("key ID", keyID); err != nil {
		return nil, hub.Errorf(hub.EINVALID, "issuer %s: %v", name, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, hub.Errorf(hub.EINVALID, "issuer %s: private key of %d bytes, want %d", name, len(priv), ed25519.PrivateKeySize)
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if lifetime < time.Second || lifetime > MaxLifetime {
		return nil, hub.Errorf(hub.EINVALID, "issuer %s: lifetime %v is outside 1s to %v", name, lifetime, MaxLifetime)
	}
	return &Issuer{name: name, keyID: keyID, priv: append(ed25519.PrivateKey(nil), priv...), lifetime: lifetime}, nil
}

// GenerateIssuer makes a new key from r (crypto/rand.Reader when nil) and
// returns an issuer signing with it.
func GenerateIssuer(name, keyID string, r io.Reader, lifetime time.Duration) (*Issuer, error) {
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("token: generate key: %w", err)
	}
	return NewIssuer(name, keyID, priv, lifetime)
}

// Name returns the issuing authority's name.
func (is *Issuer) Name() string { return is.name }

// KeyID returns the ID of the signing key.
func (is *Issuer) KeyID() string { return is.keyID }

// Lifetime returns how long the codes it issues are valid.
func (is *Issuer) Lifetime() time.Duration { return is.lifetime }

// TrustedKey returns the issuer's public key as a trust-list entry valid
// for signing from notBefore to notAfter (zero: no end).
func (is *Issuer) TrustedKey(notBefore, notAfter time.Time) TrustedKey {
	return TrustedKey{
		Issuer: is.name, KeyID: is.keyID,
		PublicKey: append(ed25519.PublicKey(nil), is.priv.Public().(ed25519.PublicKey)...),
		NotBefore: notBefore.UTC(), NotAfter: notAfter.UTC(),
	}
}

// Issue signs a code for subject of colour, issued at now (to the second)
// and expiring a lifetime later. A bad subject or colour, or a time
// outside 1970 to 2106, is an EINVALID error.
func (is *Issuer) Issue(subject string, colour hub.Colour, now time.Time) (hub.IssuedCode, error) {
	if err := checkID("subject", subject); err != nil {
		return hub.IssuedCode{}, hub.Errorf(hub.EINVALID, "cannot issue a code: %v", err)
	}
	if !colour.Valid() {
		return hub.IssuedCode{}, hub.Errorf(hub.EINVALID, "cannot issue a code of colour %q", colour)
	}
	issued := now.Truncate(time.Second).UTC()
	expires := issued.Add(is.lifetime)
	if issued.Unix() < 0 || expires.Unix() > 1<<32-1 {
		return hub.IssuedCode{}, hub.Errorf(hub.EINVALID, "cannot issue a code at %v", now)
	}
	c := Claims{KeyID: is.keyID, Subject: subject, Colour: colour, Issued: issued, Expires: expires}

	var buf [len(Prefix) + fixedLen + 2 + 2*MaxIDLen]byte
	msg := append(buf[:0], Prefix...)
	msg = appendPayload(msg, &c)
	sig := ed25519.Sign(is.priv, msg)

	p := msg[len(Prefix):]
	out := make([]byte, 0, len(Prefix)+b64.EncodedLen(len(p))+1+b64.EncodedLen(sigLen))
	out = append(out, Prefix...)
	out = b64.AppendEncode(out, p)
	out = append(out, '.')
	out = b64.AppendEncode(out, sig)
	return hub.IssuedCode{
		Token: string(out), Issuer: is.name, KeyID: is.keyID, SubjectID: subject,
		Colour: colour, Issued: issued, Expires: expires,
	}, nil
}
