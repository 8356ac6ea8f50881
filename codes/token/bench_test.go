package token

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The speed goals: at least 20,000 codes issued and 15,000 verified per
// second on one core. The baselines are the bare Ed25519 operations on
// the same message, so the ratio is what the format costs on top of the
// cryptography. Run with -cpu 1 for per-core figures.

func benchFixture(b *testing.B) (*Issuer, *TrustList, string, []byte, []byte) {
	is := newIssuer(b, "Shanghai", "sh-2020-01", 1)
	tl := trustOf(b, is.TrustedKey(t0, time.Time{}))
	text := issue(b, is, subject, hub.Green, t0)
	_, signed, sig, err := Decode(text)
	if err != nil {
		b.Fatal(err)
	}
	return is, tl, text, signed, sig
}

func BenchmarkIssue(b *testing.B) {
	is, _, _, signed, _ := benchFixture(b)
	b.Run("code", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := is.Issue(subject, hub.Green, t0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	})
	b.Run("baseline_ed25519_sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ed25519.Sign(is.priv, signed)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
}

func BenchmarkVerify(b *testing.B) {
	is, tl, text, signed, sig := benchFixture(b)
	now := t0.Add(time.Hour)
	b.Run("code", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Verify(text, tl, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	})
	b.Run("baseline_ed25519_verify", func(b *testing.B) {
		pub := is.priv.Public().(ed25519.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, signed, sig) {
				b.Fatal("bad signature")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
}

// BenchmarkCodesVsBaseline issues and verifies 1,000 codes and does the
// bare Ed25519 work for them in each iteration, and reports the rates and
// the format's overhead (code time / bare time; 1.00 is none).
func BenchmarkCodesVsBaseline(b *testing.B) {
	const n = 1000
	is, tl, _, signed, sig := benchFixture(b)
	pub := is.priv.Public().(ed25519.PublicKey)
	now := t0.Add(time.Hour)
	tokens := make([]string, n)
	var tIssue, tVerify, tSign, tCheck time.Duration
	for b.Loop() {
		start := time.Now()
		for i := range n {
			c, err := is.Issue(subject, hub.Green, t0)
			if err != nil {
				b.Fatal(err)
			}
			tokens[i] = c.Token
		}
		tIssue += time.Since(start)

		start = time.Now()
		for i := range n {
			if _, err := Verify(tokens[i], tl, now); err != nil {
				b.Fatal(err)
			}
		}
		tVerify += time.Since(start)

		start = time.Now()
		for range n {
			_ = ed25519.Sign(is.priv, signed)
		}
		tSign += time.Since(start)

		start = time.Now()
		for range n {
			if !ed25519.Verify(pub, signed, sig) {
				b.Fatal("bad signature")
			}
		}
		tCheck += time.Since(start)
	}
	total := float64(b.N * n)
	b.ReportMetric(total/tIssue.Seconds(), "issued/s")
	b.ReportMetric(total/tVerify.Seconds(), "verified/s")
	b.ReportMetric(tIssue.Seconds()/tSign.Seconds(), "issue_x_baseline")
	b.ReportMetric(tVerify.Seconds()/tCheck.Seconds(), "verify_x_baseline")
}
