package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/hub"
)

var t0 = time.Date(2020, 2, 10, 8, 0, 0, 0, time.UTC)

func issuer(t *testing.T, name, keyID string, seed byte) *token.Issuer {
	t.Helper()
	var s [32]byte
	s[0] = seed
	_, priv, err := ed25519.GenerateKey(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	is, err := token.NewIssuer(name, keyID, priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestRun(t *testing.T) {
	sh := issuer(t, "Shanghai", "sh-2020-02", 1)
	hz := issuer(t, "Hangzhou", "hz-2020-01", 2)
	tl, err := token.NewTrustList(sh.TrustedKey(t0.Add(-time.Hour), time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust.json")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("trust.json", string(doc))
	badTrust := write("bad.json", `{"keys":[{"issuer":"X","keyId":"k","publicKey":"AAAA","notBefore":"2020-01-01T00:00:00Z"}]}`)

	code := func(is *token.Issuer, c hub.Colour) string {
		t.Helper()
		ic, err := is.Issue("JBSWY3DPEHPK3PXPJBSWY3DPEH", c, t0)
		if err != nil {
			t.Fatal(err)
		}
		return ic.Token
	}
	green, red := code(sh, hub.Green), code(sh, hub.Red)
	tampered := green[:len(green)-3] + "AAA" // another signature

	tests := []struct {
		name     string
		args     []string
		stdin    string
		now      time.Time
		wantCode int
		wantOut  string // prefix of stdout
		wantErr  string // part of stderr
	}{
		{"valid green", []string{"-trust", trust, green}, "", t0.Add(time.Hour), 0,
			`VALID subject=JBSWY3DPEHPK3PXPJBSWY3DPEH colour=GREEN issuer="Shanghai" key=sh-2020-02 issued=2020-02-10T08:00:00Z expires=2020-02-11T08:00:00Z`, ""},
		{"valid red from stdin", []string{"-trust", trust}, red + "\n", t0.Add(time.Hour), 0, "VALID subject=JBSWY3DPEHPK3PXPJBSWY3DPEH colour=RED", ""},
		{"stdin named -", []string{"-trust", trust, "-"}, "  " + green + "\r\n", t0.Add(time.Hour), 0, "VALID", ""},
		{"expired", []string{"-trust", trust, green}, "", t0.Add(25 * time.Hour), 1, "INVALID: EXPIRED: expired 2020-02-11T08:00:00Z", ""},
		{"as of a time", []string{"-trust", trust, "-now", "2020-02-10T09:00:00Z", green}, "", t0.Add(48 * time.Hour), 0, "VALID", ""},
		{"not yet valid", []string{"-trust", trust, green}, "", t0.Add(-time.Hour), 1, "INVALID: NOT_YET_VALID", ""},
		{"tampered", []string{"-trust", trust, tampered}, "", t0.Add(time.Hour), 1, "INVALID: BAD_SIGNATURE", ""},
		{"another city", []string{"-trust", trust, code(hz, hub.Green)}, "", t0.Add(time.Hour), 1, "INVALID: UNKNOWN_KEY", ""},
		{"truncated", []string{"-trust", trust, green[:60]}, "", t0.Add(time.Hour), 1, "INVALID: MALFORMED", ""},
		{"not a code", []string{"-trust", trust, "hello"}, "", t0, 1, "INVALID: MALFORMED", ""},
		{"empty stdin", []string{"-trust", trust}, "", t0, 1, "INVALID: MALFORMED", ""},
		{"huge stdin", []string{"-trust", trust}, strings.Repeat("A", 1<<20), t0, 1, "INVALID: MALFORMED", ""},
		{"no trust list", []string{green}, "", t0, 2, "", "usage"},
		{"missing trust file", []string{"-trust", filepath.Join(dir, "none.json"), green}, "", t0, 2, "", "no such file"},
		{"bad trust list", []string{"-trust", badTrust, green}, "", t0, 2, "", "3 bytes, want 32"},
		{"two tokens", []string{"-trust", trust, green, red}, "", t0, 2, "", "usage"},
		{"bad -now", []string{"-trust", trust, "-now", "tomorrow", green}, "", t0, 2, "", "not an RFC 3339"},
		{"loose -now", []string{"-trust", trust, "-now", "2020-02-01T0:00:00Z", green}, "", t0, 2, "", "not an RFC 3339"},
		{"-now before 1970", []string{"-trust", trust, "-now", "0000-01-01T00:00:00Z", green}, "", t0, 2, "", "not an RFC 3339"},
		{"unknown flag", []string{"-x"}, "", t0, 2, "", "not defined"},
		{"help", []string{"-h"}, "", t0, 0, "usage: verify-code", ""},
		{"--help", []string{"--help"}, "", t0, 0, "usage: verify-code", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr, func() time.Time { return tt.now })
			if got != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.wantOut) {
				t.Fatalf("stdout %q, want prefix %q", stdout.String(), tt.wantOut)
			}
			if tt.wantOut == "" && stdout.Len() != 0 {
				t.Fatalf("stdout %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("stderr %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestNoCgo(t *testing.T) {
	// The verifier must build without cgo for checkpoint devices: it may
	// not import the grid (h3-go is cgo).
	if testing.Short() {
		t.Skip("builds the command")
	}
	out := filepath.Join(t.TempDir(), "verify-code")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, b)
	}
}
