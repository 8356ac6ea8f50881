package dispatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/gridhub/gridhub/hub"
)

// Pickup codes are what a resident shows at the pharmacy counter. A code
// is 65 random bits written as 13 symbols of Crockford's base 32
// (0-9 and A-Z without I, L, O and U), grouped by four for reading aloud:
// "7KQ2-M9XD-4TPA-H". Parsing forgives what people do when they copy a
// code: lower case, missing or extra dashes and spaces, O for 0, I or L for
// 1. The hub stores only a keyed hash of the code, so a leaked database
// does not hold codes anyone could redeem; single use and expiry are the
// store's business.

// PickupCodeLen is the number of symbols in a pickup code, and
// PickupCodeBits the random bits they carry.
const (
	PickupCodeLen  = 13
	PickupCodeBits = 5 * PickupCodeLen
)

// crockford is Crockford's base-32 alphabet, in symbol order.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// maxPickupInput bounds what ParsePickupCode reads: a code with a
// separator between every pair of symbols and some spaces around it.
const maxPickupInput = 64

// PickupQRPrefix starts the text of a pickup code's QR image (the
// transport draws it, httpapi.PickupQRPrefix): the prefix, then the code
// in its canonical form. ParsePickupCode reads a scanned text as it is.
const PickupQRPrefix = "GRIDHUB-PICKUP:"

// ErrInvalidPickupCode is the sentinel of every ParsePickupCode error.
var ErrInvalidPickupCode = errors.New("invalid pickup code")

// PickupCode is a pickup code in its canonical form: 13 upper-case
// Crockford symbols in groups of four joined by dashes.
type PickupCode string

// NewPickupCode returns a fresh code made of 65 bits read from rand
// (crypto/rand.Reader in production, a fixed stream in tests).
func NewPickupCode(rand io.Reader) (PickupCode, error) {
	var b [9]byte // 72 bits, of which the low 65 are used
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("pickup code: %w", err)
	}
	return pickupCodeOf(b), nil
}

// pickupCodeOf is the code of the low 65 bits of b.
func pickupCodeOf(b [9]byte) PickupCode {
	var sym [PickupCodeLen]byte
	// Bit 64 (the lowest of b[0]) and the top four bits of the rest
	// make the first symbol; the other 60 bits make twelve more.
	var lo uint64
	for _, x := range b[1:] {
		lo = lo<<8 | uint64(x)
	}
	sym[0] = (b[0]&1)<<4 | byte(lo>>60)
	for i := 1; i < PickupCodeLen; i++ {
		sym[i] = byte(lo>>(60-5*i)) & 31
	}
	return formatPickup(sym)
}

// ParsePickupCode reads a code as a person may have typed it, or as a
// scanner read it from its QR image (PickupQRPrefix first, in any case),
// and returns its canonical form. Anything that is not 13 symbols after
// forgiving the prefix, case, dashes, spaces and confusable letters is an
// EINVALID error matching ErrInvalidPickupCode.
func ParsePickupCode(s string) (PickupCode, error) {
	invalid := func(format string, args ...any) error {
		return hub.Wrapf(hub.EINVALID, ErrInvalidPickupCode, format, args...)
	}
	if len(s) > maxPickupInput {
		return "", invalid("pickup code of %d bytes: want %d symbols like 7KQ2-M9XD-4TPA-H", len(s), PickupCodeLen)
	}
	if len(s) >= len(PickupQRPrefix) && strings.EqualFold(s[:len(PickupQRPrefix)], PickupQRPrefix) {
		s = s[len(PickupQRPrefix):]
	}
	var sym [PickupCodeLen]byte
	n := 0
	for _, r := range s {
		var v int
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'O' || r == 'o':
			v = 0
		case r == 'I' || r == 'i' || r == 'L' || r == 'l':
			v = 1
		case r == 'U' || r == 'u':
			return "", invalid("pickup code %q: U is not used in codes", s)
		case r < 0x80 && strings.IndexByte(crockford, byte(r)) >= 0:
			v = strings.IndexByte(crockford, byte(r))
		case r >= 'a' && r <= 'z' && strings.IndexByte(crockford, byte(r-'a'+'A')) >= 0:
			v = strings.IndexByte(crockford, byte(r-'a'+'A'))
		default:
			return "", invalid("pickup code %q: %q is not a code symbol", s, r)
		}
		if n == PickupCodeLen {
			return "", invalid("pickup code %q: more than %d symbols", s, PickupCodeLen)
		}
		sym[n] = byte(v)
		n++
	}
	if n != PickupCodeLen {
		return "", invalid("pickup code %q: %d symbols, want %d", s, n, PickupCodeLen)
	}
	return formatPickup(sym), nil
}

// formatPickup writes symbol values in the canonical form.
func formatPickup(sym [PickupCodeLen]byte) PickupCode {
	var b strings.Builder
	b.Grow(PickupCodeLen + PickupCodeLen/4)
	for i, v := range sym {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[v])
	}
	return PickupCode(b.String())
}

// String returns the canonical form.
func (c PickupCode) String() string { return string(c) }

// Hash returns what the store keeps of a code:
// hex(HMAC-SHA256(key, "gridhub-pickup-v1\n" + the 13 symbols)). The key
// is a secret of the hub's, so the hashes cannot be searched offline. c
// must be canonical (from NewPickupCode or ParsePickupCode).
func (c PickupCode) Hash(key []byte) string {
	return c.hashWith(hmac.New(sha256.New, key))
}

// hashWith is Hash with mac, an HMAC-SHA256 under the key, fresh or
// reset (Engine.codeHash takes one from its pool).
func (c PickupCode) hashWith(mac hash.Hash) string {
	mac.Write([]byte(pickupHashPrefix))
	var sym [PickupCodeLen]byte
	mac.Write(appendSymbols(sym[:0], c))
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], mac.Sum(sum[:0]))
	return string(out[:])
}

// pickupHashPrefix is what Hash writes before a code's symbols.
const pickupHashPrefix = "gridhub-pickup-v1\n"

// appendSymbols appends c's symbols, its dashes left out, to b.
func appendSymbols(b []byte, c PickupCode) []byte {
	for i := 0; i < len(c); i++ {
		if c[i] != '-' {
			b = append(b, c[i])
		}
	}
	return b
}

// Matches reports, in constant time, whether c hashes to hash under key.
func (c PickupCode) Matches(key []byte, hash string) bool {
	return hmac.Equal([]byte(c.Hash(key)), []byte(hash))
}
