package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

func TestTrustListJSON(t *testing.T) {
	sh := newIssuer(t, "Shanghai", "sh-2020-02", 1)
	old := newIssuer(t, "Shanghai", "sh-2020-01", 2)
	hz := newIssuer(t, "Hangzhou", "hz-1", 3)
	tl := trustOf(t,
		sh.TrustedKey(t0, time.Time{}),
		old.TrustedKey(t0.Add(-30*24*time.Hour), t0),
		hz.TrustedKey(t0, t0.Add(365*24*time.Hour)),
	)
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"keys":[`+
		`{"issuer":"Hangzhou","keyId":"hz-1","publicKey":%q,"notBefore":"2020-02-10T08:00:00Z","notAfter":"2021-02-09T08:00:00Z"},`+
		`{"issuer":"Shanghai","keyId":"sh-2020-01","publicKey":%q,"notBefore":"2020-01-11T08:00:00Z","notAfter":"2020-02-10T08:00:00Z"},`+
		`{"issuer":"Shanghai","keyId":"sh-2020-02","publicKey":%q,"notBefore":"2020-02-10T08:00:00Z"}]}`,
		b64std(hz), b64std(old), b64std(sh))
	if string(b) != want {
		t.Fatalf("JSON:\n got %s\nwant %s", b, want)
	}

	back, err := ParseTrustList(b)
	if err != nil {
		t.Fatal(err)
	}
	code := issue(t, old, subject, hub.Yellow, t0.Add(-time.Hour))
	if _, err := Verify(code, back, t0); err != nil {
		t.Fatalf("a code against the parsed list: %v", err)
	}
	var viaJSON TrustList
	if err := json.Unmarshal(b, &viaJSON); err != nil {
		t.Fatal(err)
	}
	if viaJSON.Len() != 3 {
		t.Fatalf("unmarshalled %d keys", viaJSON.Len())
	}
	k, ok := back.Key("hz-1")
	if !ok || k.Issuer != "Hangzhou" || !k.PublicKey.Equal(hz.TrustedKey(t0, t0).PublicKey) {
		t.Fatalf("Key(hz-1) = %+v, %v", k, ok)
	}
	// Keys returns copies.
	back.Keys()[0].PublicKey[0] ^= 0xff
	if _, err := Verify(issue(t, hz, subject, hub.Green, t0), back, t0); err != nil {
		t.Fatalf("after changing a copy of a key: %v", err)
	}
	var nilList *TrustList
	if _, ok := nilList.Key("hz-1"); ok || nilList.Len() != 0 || nilList.Keys() != nil {
		t.Fatal("a nil list holds keys")
	}
}

func b64std(is *Issuer) string {
	return base64.StdEncoding.EncodeToString(is.TrustedKey(t0, t0).PublicKey)
}

func TestParseTrustListBad(t *testing.T) {
	good := b64std(newIssuer(t, "X", "k", 1))
	key := func(fields string) string { return `{"keys":[` + fields + `]}` }
	entry := func(pub, nb, na string) string {
		s := fmt.Sprintf(`{"issuer":"Shanghai","keyId":"sh-1","publicKey":%q,"notBefore":%q`, pub, nb)
		if na != "" {
			s += fmt.Sprintf(`,"notAfter":%q`, na)
		}
		return s + "}"
	}
	const nb = "2020-01-01T00:00:00Z"
	tests := []struct {
		name, give, wantMsg string
	}{
		{"empty", ``, "not valid JSON"},
		{"not JSON", `keys`, "not valid JSON"},
		{"truncated", key(entry(good, nb, ""))[:40], "not valid JSON"},
		{"an array", `[]`, "not valid JSON"},
		{"no keys", `{}`, `no "keys"`},
		{"keys null", `{"keys":null}`, `no "keys"`},
		{"data after", key(entry(good, nb, "")) + ` {}`, "data after"},
		{"key of 31 bytes", key(entry(base64.StdEncoding.EncodeToString(make([]byte, 31)), nb, "")), "31 bytes, want 32"},
		{"key of 33 bytes", key(entry(base64.StdEncoding.EncodeToString(make([]byte, 33)), nb, "")), "33 bytes, want 32"},
		{"key of 64 bytes (a private key)", key(entry(base64.StdEncoding.EncodeToString(make([]byte, 64)), nb, "")), "64 bytes, want 32"},
		{"empty key", key(entry("", nb, "")), "0 bytes, want 32"},
		{"key not base64", key(entry("not*base64!", nb, "")), "not base64"},
		{"no notBefore", key(entry(good, "", "")), "notBefore is missing"},
		{"bad notBefore", key(entry(good, "yesterday", "")), "notBefore is not"},
		{"bad notAfter", key(entry(good, nb, "2020-13-01T00:00:00Z")), "notAfter is not"},
		// Times Go's time.Parse reads but RFC 3339 does not, or that the
		// hub could not write back: refused as the Time scalar refuses them.
		{"notBefore year 0001", key(entry(good, "0001-01-01T00:00:00Z", "")), "notBefore is not"},
		{"notBefore year 0000", key(entry(good, "0000-01-01T00:00:00+01:00", "")), "notBefore is not"},
		{"notBefore before 1970", key(entry(good, "1969-12-31T23:59:59Z", "")), "notBefore is not"},
		{"notBefore one-digit hour", key(entry(good, "2020-01-01T0:00:00Z", "")), "notBefore is not"},
		{"notBefore comma fraction", key(entry(good, "2020-01-01T00:00:00,5Z", "")), "notBefore is not"},
		{"notBefore 24-hour offset", key(entry(good, "2020-01-01T00:00:00+24:00", "")), "notBefore is not"},
		{"notBefore leap second", key(entry(good, "2016-12-31T23:59:60Z", "")), "notBefore is not"},
		{"notAfter after 2262", key(entry(good, nb, "9999-12-31T23:59:59Z")), "notAfter is not"},
		{"notAfter one-digit day", key(entry(good, nb, "2030-01-1T00:00:00Z")), "notAfter is not"},
		{"notAfter before notBefore", key(entry(good, nb, "2019-01-01T00:00:00Z")), "not after notBefore"},
		{"no issuer", key(`{"keyId":"k","publicKey":"` + good + `","notBefore":"` + nb + `"}`), "issuer name"},
		{"no key ID", key(`{"issuer":"X","publicKey":"` + good + `","notBefore":"` + nb + `"}`), "key ID"},
		{"key ID with a space", key(`{"issuer":"X","keyId":"a b","publicKey":"` + good + `","notBefore":"` + nb + `"}`), "key ID"},
		{"repeated key ID", key(entry(good, nb, "") + "," + entry(good, nb, "")), "appears twice"},
		{"wrong type", `{"keys":[{"issuer":1}]}`, "not valid JSON"},
		{"too large", `{"keys":[],"pad":"` + strings.Repeat("x", MaxTrustList) + `"}`, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrustList([]byte(tt.give))
			if hub.ErrorCode(err) != hub.EINVALID || !strings.Contains(hub.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("ParseTrustList: %v, want EINVALID saying %q", err, tt.wantMsg)
			}
		})
	}
	// The URL alphabet without padding is accepted too, and unknown
	// fields are ignored.
	raw := base64.RawURLEncoding.EncodeToString(newIssuer(t, "X", "k", 1).TrustedKey(t0, t0).PublicKey)
	tl, err := ParseTrustList([]byte(`{"version":2,"keys":[` + entry(raw, nb, "") + `]}`))
	if err != nil || tl.Len() != 1 {
		t.Fatalf("URL alphabet: %v", err)
	}
	if _, err := NewTrustList(make([]TrustedKey, MaxKeys+1)...); hub.ErrorCode(err) != hub.EINVALID {
		t.Fatalf("too many keys: %v", err)
	}
}
