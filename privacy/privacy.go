// Package privacy keeps personal data out of the hub's records: ID numbers
// become keyed hashes, and ID numbers, phone numbers and names are masked
// for display.
package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// Hasher turns ID numbers into keyed hashes, so a leaked database does not
// leak ID numbers and nobody without the key can test a guess against it.
// The key can be rotated: new records take the current key, and the
// previous keys still recognise people registered under them.
type Hasher struct {
	key      []byte
	previous [][]byte
}

// MinKeyLen is the shortest secret a Hasher accepts.
const MinKeyLen = 16

// NewHasher returns a hasher with the given secret key and any keys it
// replaced.
func NewHasher(key []byte, previous ...[]byte) (*Hasher, error) {
	h := &Hasher{key: append([]byte(nil), key...)}
	for _, k := range append([][]byte{key}, previous...) {
		if len(k) < MinKeyLen {
			return nil, errors.New("privacy: hash key shorter than 16 bytes")
		}
	}
	for _, k := range previous {
		h.previous = append(h.previous, append([]byte(nil), k...))
	}
	return h, nil
}

// HashID returns the hex HMAC-SHA256 of a canonical ID number (from
// CanonicalID) under the current key. It hashes what it is given: callers
// canonicalise first, so that every spelling of one number hashes alike.
func (h *Hasher) HashID(canonical string) string { return hashWith(h.key, canonical) }

// PreviousHashes returns the hashes of a canonical ID number under the
// previous keys, newest first, for finding people registered before a
// rotation.
func (h *Hasher) PreviousHashes(canonical string) []string {
	out := make([]string, len(h.previous))
	for i, k := range h.previous {
		out[i] = hashWith(k, canonical)
	}
	return out
}

// AllHashes returns the hash of a canonical ID number under the current
// key, then under each previous key (PreviousHashes): every hash a record
// of that number may hold.
func (h *Hasher) AllHashes(canonical string) []string {
	return append([]string{h.HashID(canonical)}, h.PreviousHashes(canonical)...)
}

func hashWith(key []byte, canonical string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(canonical))
	return hex.EncodeToString(m.Sum(nil))
}

// MaskID shows the first two and last two characters of a canonical ID
// number and stars in between ("A1******89"). Short IDs are all stars.
func MaskID(canonical string) string {
	return maskMiddle(canonical, 2, 2)
}

// MaskPhone shows only the last three digits of a phone number.
func MaskPhone(phone string) string {
	return maskMiddle(strings.TrimSpace(phone), 0, 3)
}

// MaskName keeps the first character of a name and stars the rest
// ("王**", "J***").
func MaskName(name string) string {
	return maskMiddle(strings.TrimSpace(name), 1, 0)
}

func maskMiddle(s string, head, tail int) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	if n <= head+tail {
		return strings.Repeat("*", n)
	}
	rs := []rune(s)
	for i := head; i < n-tail; i++ {
		rs[i] = '*'
	}
	return string(rs)
}
