package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// Limits of a trust list.
const (
	// MaxTrustList bounds the size of a trust-list document.
	MaxTrustList = 1 << 20
	// MaxKeys bounds the keys of a trust list.
	MaxKeys = 1000
	// maxIssuerLen bounds an issuer's name, in bytes.
	maxIssuerLen = 200
)

// TrustedKey is one issuer's public key in a trust list, valid for
// signing codes issued from NotBefore to NotAfter (zero: no end).
type TrustedKey struct {
	Issuer    string
	KeyID     string
	PublicKey ed25519.PublicKey
	NotBefore time.Time
	NotAfter  time.Time
}

// keyJSON is the JSON form of a TrustedKey: the trust-list format.
type keyJSON struct {
	Issuer    string `json:"issuer"`
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"` // standard base64 of the 32-byte key
	NotBefore string `json:"notBefore"` // RFC 3339
	NotAfter  string `json:"notAfter,omitempty"`
}

type listJSON struct {
	Keys []keyJSON `json:"keys"`
}

// TrustList is the set of keys whose codes a verifier accepts: this hub's
// own and those of every authority it recognises (mutual recognition).
// Key IDs are unique in a list. A TrustList does not change once made, so
// it is safe for concurrent use; a nil *TrustList holds no keys.
//
// Its JSON form, which the hub publishes and a checkpoint device loads, is
//
//	{"keys": [{"issuer": "Shanghai", "keyId": "sh-2020-01",
//	           "publicKey": "<standard base64 of 32 bytes>",
//	           "notBefore": "2020-01-01T00:00:00Z",
//	           "notAfter": "2020-07-01T00:00:00Z"}, ...]}
//
// with notAfter optional (no end). Unknown fields are ignored, so the
// format can grow.
type TrustList struct {
	keys []TrustedKey // by KeyID
	byID map[string]*TrustedKey
}

// NewTrustList returns a list of the keys, which must be well formed and
// have distinct key IDs (EINVALID otherwise).
func NewTrustList(keys ...TrustedKey) (*TrustList, error) {
	if len(keys) > MaxKeys {
		return nil, hub.Errorf(hub.EINVALID, "trust list: %d keys, at most %d", len(keys), MaxKeys)
	}
	tl := &TrustList{keys: make([]TrustedKey, len(keys)), byID: make(map[string]*TrustedKey, len(keys))}
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, hub.Errorf(hub.EINVALID, "trust list: key %d: %v", i, err)
		}
		k.PublicKey = slices.Clone(k.PublicKey)
		k.NotBefore, k.NotAfter = k.NotBefore.UTC(), k.NotAfter.UTC()
		tl.keys[i] = k
	}
	slices.SortFunc(tl.keys, func(a, b TrustedKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	for i := range tl.keys {
		k := &tl.keys[i]
		if _, dup := tl.byID[k.KeyID]; dup {
			return nil, hub.Errorf(hub.EINVALID, "trust list: key ID %q appears twice", k.KeyID)
		}
		tl.byID[k.KeyID] = k
	}
	return tl, nil
}

func checkKey(k TrustedKey) error {
	switch {
	case strings.TrimSpace(k.Issuer) == "" || len(k.Issuer) > maxIssuerLen || !utf8.ValidString(k.Issuer):
		return fmt.Errorf("issuer name is empty, not UTF-8 or longer than %d bytes", maxIssuerLen)
	case len(k.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("key %q: public key of %d bytes, want %d", k.KeyID, len(k.PublicKey), ed25519.PublicKeySize)
	case k.NotBefore.IsZero():
		return fmt.Errorf("key %q has no notBefore", k.KeyID)
	case !k.NotAfter.IsZero() && !k.NotAfter.After(k.NotBefore):
		return fmt.Errorf("key %q: notAfter is not after notBefore", k.KeyID)
	}
	return checkID("key ID", k.KeyID)
}

// ParseTrustList reads a trust list in its JSON form. Anything else (bad
// JSON, a key of the wrong size, a repeated key ID, a bad time, trailing
// data) is an EINVALID error saying what is wrong.
func ParseTrustList(b []byte) (*TrustList, error) {
	if len(b) > MaxTrustList {
		return nil, hub.Errorf(hub.EINVALID, "trust list of %d bytes, at most %d", len(b), MaxTrustList)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var doc listJSON
	if err := dec.Decode(&doc); err != nil {
		return nil, hub.Errorf(hub.EINVALID, "trust list is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, hub.Errorf(hub.EINVALID, "trust list: data after the document")
	}
	if doc.Keys == nil {
		return nil, hub.Errorf(hub.EINVALID, `trust list has no "keys" array`)
	}
	if len(doc.Keys) > MaxKeys {
		return nil, hub.Errorf(hub.EINVALID, "trust list: %d keys, at most %d", len(doc.Keys), MaxKeys)
	}
	keys := make([]TrustedKey, len(doc.Keys))
	for i, kj := range doc.Keys {
		k, err := kj.key()
		if err != nil {
			return nil, hub.Errorf(hub.EINVALID, "trust list: key %d (%q): %v", i, kj.KeyID, err)
		}
		keys[i] = k
	}
	return NewTrustList(keys...)
}

func (kj *keyJSON) key() (TrustedKey, error) {
	pub, err := base64.StdEncoding.DecodeString(kj.PublicKey)
	if err != nil {
		// Accept the URL alphabet without padding too.
		if pub, err = base64.RawURLEncoding.DecodeString(kj.PublicKey); err != nil {
			return TrustedKey{}, errors.New("publicKey is not base64")
		}
	}
	k := TrustedKey{Issuer: kj.Issuer, KeyID: kj.KeyID, PublicKey: pub}
	if kj.NotBefore == "" {
		return TrustedKey{}, errors.New("notBefore is missing")
	}
	if k.NotBefore, err = hub.ParseTime(kj.NotBefore); err != nil {
		return TrustedKey{}, fmt.Errorf("notBefore is not a time the hub reads: %s", hub.ErrorMessage(err))
	}
	if kj.NotAfter != "" {
		if k.NotAfter, err = hub.ParseTime(kj.NotAfter); err != nil {
			return TrustedKey{}, fmt.Errorf("notAfter is not a time the hub reads: %s", hub.ErrorMessage(err))
		}
	}
	if err := checkKey(k); err != nil {
		return TrustedKey{}, err
	}
	return k, nil
}

// MarshalJSON returns the list in its JSON form, keys by key ID.
func (tl *TrustList) MarshalJSON() ([]byte, error) {
	doc := listJSON{Keys: []keyJSON{}}
	for _, k := range tl.Keys() {
		kj := keyJSON{
			Issuer: k.Issuer, KeyID: k.KeyID,
			PublicKey: base64.StdEncoding.EncodeToString(k.PublicKey),
			NotBefore: k.NotBefore.Format(time.RFC3339Nano),
		}
		if !k.NotAfter.IsZero() {
			kj.NotAfter = k.NotAfter.Format(time.RFC3339Nano)
		}
		doc.Keys = append(doc.Keys, kj)
	}
	return json.Marshal(doc)
}

// UnmarshalJSON reads the JSON form, as ParseTrustList does.
func (tl *TrustList) UnmarshalJSON(b []byte) error {
	parsed, err := ParseTrustList(b)
	if err != nil {
		return err
	}
	*tl = *parsed
	return nil
}

// Key returns the key with the ID.
func (tl *TrustList) Key(keyID string) (TrustedKey, bool) {
	if tl == nil {
		return TrustedKey{}, false
	}
	k, ok := tl.byID[keyID]
	if !ok {
		return TrustedKey{}, false
	}
	return *k, true
}

// key returns the key with the ID, or nil; the lookup does not allocate.
func (tl *TrustList) key(keyID []byte) *TrustedKey {
	if tl == nil {
		return nil
	}
	return tl.byID[string(keyID)]
}

// Keys returns copies of the keys, by key ID.
func (tl *TrustList) Keys() []TrustedKey {
	if tl == nil {
		return nil
	}
	out := make([]TrustedKey, len(tl.keys))
	for i, k := range tl.keys {
		k.PublicKey = slices.Clone(k.PublicKey)
		out[i] = k
	}
	return out
}

// Len returns the number of keys.
func (tl *TrustList) Len() int {
	if tl == nil {
		return 0
	}
	return len(tl.keys)
}

// Merge returns the union of lists: how a hub recognises the codes of
// other authorities. A key ID in several lists must name the same key
// with the same issuer and validity there (it is then kept once);
// otherwise Merge is an EINVALID error.
func Merge(lists ...*TrustList) (*TrustList, error) {
	var all []TrustedKey
	seen := map[string]TrustedKey{}
	for _, tl := range lists {
		for _, k := range tl.Keys() {
			if prev, ok := seen[k.KeyID]; ok {
				if !sameKey(prev, k) {
					return nil, hub.Errorf(hub.EINVALID, "trust lists disagree on key %q", k.KeyID)
				}
				continue
			}
			seen[k.KeyID] = k
			all = append(all, k)
		}
	}
	return NewTrustList(all...)
}

func sameKey(a, b TrustedKey) bool {
	return a.Issuer == b.Issuer && a.PublicKey.Equal(b.PublicKey) &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter)
}

// Prune returns the list without the keys whose codes have all expired
// at now: those whose NotAfter is more than maxLifetime (the longest any
// issuer's codes live; MaxLifetime when 0) before now. A retired key
// stays until then, so rotation never cuts a code short.
func (tl *TrustList) Prune(now time.Time, maxLifetime time.Duration) *TrustList {
	if maxLifetime <= 0 {
		maxLifetime = MaxLifetime
	}
	var keep []TrustedKey
	for _, k := range tl.Keys() {
		if k.NotAfter.IsZero() || now.Before(k.NotAfter.Add(maxLifetime)) {
			keep = append(keep, k)
		}
	}
	out, err := NewTrustList(keep...)
	if err != nil { // cannot happen: the keys came from a valid list
		return tl
	}
	return out
}
