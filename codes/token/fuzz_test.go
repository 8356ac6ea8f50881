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
