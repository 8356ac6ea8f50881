package token

import (
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// fuzzSeeds are codes and near-codes for the fuzzers to start from.
func fuzzSeeds(f *testing.F) (*Issuer, *TrustList) {
	is := newIssuer(f, "Shanghai", "sh-1", 1)
	tl := trustOf(f, is.TrustedKey(t0, time.Time{}))
	good := issue(f, is, subject, hub.Green, t0)
	for _, s := range []string{
		good,
		issue(f, is, "a", hub.Red, t0),
		issue(f, is, strings.Repeat("Z", MaxIDLen), hub.Yellow, t0.Add(time.Hour)),
		good[:len(good)/2],
		strings.Replace(good, ".", "", 1),
		good + "=",
		Prefix,
		Prefix + ".",
		"",
		"GH1:AQE.",
		"GH1:" + strings.Repeat("A", 100) + "." + strings.Repeat("A", 86),
	} {
		f.Add(s)
	}
	return is, tl
}

// FuzzDecode checks that the decoder never panics, rejects everything
// with a MALFORMED *Error, and accepts only canonical text: what it
// accepts re-encodes to the same text.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, text string) {
		c, signed, sig, err := Decode(text)
		if err != nil {
			if ReasonOf(err) != Malformed {
				t.Fatalf("Decode(%q): error %v is not MALFORMED", text, err)
			}
			return
		}
		if got := reencode(&c, sig); got != text {
			t.Fatalf("Decode(%q) accepted non-canonical text (re-encodes as %q)", text, got)
		}
		if !c.Colour.Valid() || !c.Expires.After(c.Issued) || len(signed) <= len(Prefix) {
			t.Fatalf("Decode(%q) = %+v: bad claims", text, c)
		}
	})
}

// FuzzVerify checks that verification never panics, answers either valid
// claims or an *Error with a known reason, and never accepts a code the
// issuer did not sign.
func FuzzVerify(f *testing.F) {
	is, tl := fuzzSeeds(f)
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, text string) {
		code, err := Verify(text, tl, t0.Add(time.Hour))
		if err != nil {
			if !known[ReasonOf(err)] {
				t.Fatalf("Verify(%q): error %v has no known reason", text, err)
			}
			return
		}
		again, err := is.Issue(code.SubjectID, code.Colour, code.Issued)
		if err != nil || again.Token != text {
			t.Fatalf("Verify accepted %q, which the issuer would not make (%v)", text, err)
		}
	})
}

// FuzzParseTrustList checks that a trust list file never panics the
// parser, that what it refuses is an EINVALID error, and that what it
// accepts survives a round trip through its JSON form unchanged.
func FuzzParseTrustList(f *testing.F) {
	is := newIssuer(f, "Shanghai", "sh-1", 1)
	tl := trustOf(f, is.TrustedKey(t0, t0.Add(48*time.Hour)))
	good, err := tl.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(good), `{"keys":[]}`, `{}`, `[]`, `{"keys":[{}]}`, string(good) + "x",
		strings.Replace(string(good), "Shanghai", "", 1),
		`{"keys":[{"issuer":"a","keyId":"k","publicKey":"AAAA","notBefore":"2020-02-01T00:00:00Z"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parsed, err := ParseTrustList(b)
		if err != nil {
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("ParseTrustList(%q): %v is not EINVALID", b, err)
			}
			return
		}
		out, err := parsed.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseTrustList(out)
		if err != nil {
			t.Fatalf("the JSON form of an accepted list does not parse: %v\n%s", err, out)
		}
		a, b2 := parsed.Keys(), again.Keys()
		if len(a) != len(b2) {
			t.Fatalf("round trip: %d keys, then %d", len(a), len(b2))
		}
		for i := range a {
			if !sameKey(a[i], b2[i]) {
				t.Fatalf("round trip changed key %d: %+v, then %+v", i, a[i], b2[i])
			}
		}
	})
}
