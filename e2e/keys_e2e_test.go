package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/store/boltstore"
)

// What a store keeps of the hub's keys, as hubs sharing a store read it
// (app/keys.go): the names of the keys (each the stem of its flags and,
// for those kept in the data directory, its file there), the settings
// holding their fingerprints, and the fingerprint itself. Spelled out
// here, apart from the program, so that a change to the stored form fails
// these tests.
const (
	keySecret     = "secret"             // ID-number hashes
	keyJWT        = "jwt-secret"         // HS256 access tokens
	keyPickup     = "pickup-secret"      // pickup codes
	keyCodesSeed  = "codes-ed25519-seed" // health codes' Ed25519 signing seed
	fpTokens      = "jwt"                // the fingerprint of the token key, HS256 or EdDSA
	metaKeyPrefix = "key-fingerprint/"   // the store's settings holding fingerprints
)

// fingerprint returns hex(HMAC-SHA256(key, label)), as the hub stores it.
func fingerprint(name string, k []byte) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("gridhub key fingerprint v1\x00" + name))
	return hex.EncodeToString(m.Sum(nil))
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveRefused runs serve on dir with startHub's secret and extra flags
// (which win), expecting it to stop at start with a failure; it returns
// the error's text.
func serveRefused(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	// A hub that starts instead serves until the timeout, then fails t.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--log-level", "error", "--secret", "test-secret-0123456789"}, extra...)
	var stdout bytes.Buffer
	err := app.Run(ctx, args, &stdout, io.Discard, func(string) string { return "" })
	if code := cli.Code(err); code != cli.ExitFailure {
		t.Fatalf("serve %q: exit code %d (%v), want %d; printed %q", extra, code, err, cli.ExitFailure, stdout.String())
	}
	return err.Error()
}

// storedFingerprints reads the fingerprints a stopped hub's store keeps.
func storedFingerprints(t *testing.T, dir string) map[string]string {
	t.Helper()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	for _, name := range []string{keySecret, fpTokens, keyPickup, keyCodesSeed} {
		v, err := s.Meta(t.Context(), metaKeyPrefix+name)
		if err != nil {
			t.Fatalf("fingerprint of %s: %v", name, err)
		}
		out[name] = v
	}
	return out
}

// TestKeyFingerprints starts the real program on one data directory
// again and again: the store keeps each key's fingerprint from the first
// start, never the key; a start with another key is refused naming it;
// the same keys, from any source, start; a rotated ID-hash secret whose
// previous is the stored one starts and moves the fingerprint; -rekey
// replaces a key on purpose.
func TestKeyFingerprints(t *testing.T) {
	dir := t.TempDir()
	startHub(t, dir).stop(t) // keys made in DATA, fingerprints written
	fp := storedFingerprints(t, dir)
	kept := map[string]string{}
	for _, name := range []string{keySecret, keyJWT, keyPickup, keyCodesSeed} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			kept[name] = strings.TrimSpace(string(b))
		}
	}
	for name, v := range fp {
		if len(v) != 64 {
			t.Errorf("fingerprint of %s: %q, want 64 hex digits", name, v)
		}
		for _, k := range append(slices.Collect(maps.Values(kept)), "test-secret-0123456789") {
			if strings.Contains(v, k) || strings.Contains(k, v) {
				t.Errorf("the store keeps key %s itself", name)
			}
		}
	}
	if fp[keyPickup] != fingerprint(keyPickup, []byte(kept[keyPickup])) {
		t.Errorf("pickup fingerprint %s, want HMAC-SHA256 of the label under DATA/pickup-secret", fp[keyPickup])
	}

	tests := []struct {
		what  string // the key the message names
		fp    string // its fingerprint's name
		flags []string
	}{
		{"the pickup-code key", keyPickup, []string{"--pickup-secret", "another-pickup-key-0123"}},
		{"the health-code signing seed", keyCodesSeed, []string{"--codes-ed25519-seed", strings.Repeat("ab", 32)}},
		{"the access-token key", fpTokens, []string{"--jwt-secret", strings.Repeat("t", 32)}},
		{"the access-token key", fpTokens, []string{"--jwt-ed25519-seed", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}},
		{"the ID-hash secret", keySecret, []string{"--secret", "another-id-secret-0123"}},
		{"the ID-hash secret", keySecret, []string{"--secret", "another-id-secret-0123", "--secret-previous", "yet-another-secret-0123"}},
	}
	for _, tt := range tests {
		t.Run("refused "+strings.Join(tt.flags, " "), func(t *testing.T) {
			msg := serveRefused(t, dir, tt.flags...)
			for _, want := range []string{
				tt.what + " (from " + tt.flags[0][1:],
				"differs from the one this store was first served with (fingerprint " + fp[tt.fp][:12],
				"give every hub the same keys",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	if got := storedFingerprints(t, dir); !maps.Equal(got, fp) {
		t.Fatalf("refused starts changed the fingerprints: %v, want %v", got, fp)
	}

	// The same keys given as values and as files start.
	files := t.TempDir()
	var same []string
	for _, name := range []string{keyPickup, keyCodesSeed, keyJWT} {
		same = append(same, "--"+name+"-file", writeFile(t, filepath.Join(files, name), kept[name]+"\n", 0o400))
	}
	startHub(t, dir, same...).stop(t)
	startHub(t, dir, "--pickup-secret", kept[keyPickup], "--codes-ed25519-seed", kept[keyCodesSeed]).stop(t)

	// A rotation: the stored secret is the new one's previous. Refused for
	// another key, it moves nothing, and every key that differs is named.
	const rotated = "rotated-id-secret-0123456789"
	msg := serveRefused(t, dir, "--secret", rotated, "--secret-previous", "test-secret-0123456789",
		"--pickup-secret", "another-pickup-key-0123", "--codes-ed25519-seed", strings.Repeat("cd", 32))
	if !strings.Contains(msg, "the pickup-code key") || !strings.Contains(msg, "the health-code signing seed") || strings.Contains(msg, "the ID-hash secret") {
		t.Fatalf("rotation with two other keys changed: %s", msg)
	}
	if got := storedFingerprints(t, dir); !maps.Equal(got, fp) {
		t.Fatalf("a refused start moved fingerprints: %v, want %v", got, fp)
	}
	startHub(t, dir, "--secret", rotated, "--secret-previous", "older-secret-0123456789,test-secret-0123456789").stop(t)
	moved := storedFingerprints(t, dir)
	if moved[keySecret] != fingerprint(keySecret, []byte(rotated)) || moved[keySecret] == fp[keySecret] {
		t.Fatalf("after the rotation the stored fingerprint is %s, want the new secret's", short(moved[keySecret]))
	}
	moved[keySecret] = fp[keySecret]
	if !maps.Equal(moved, fp) {
		t.Fatalf("the rotation moved other fingerprints: %v", moved)
	}
	// Now the old secret alone is refused, the new one starts.
	if msg := serveRefused(t, dir, "--secret", "test-secret-0123456789"); !strings.Contains(msg, "the ID-hash secret") {
		t.Fatalf("the replaced secret: %s", msg)
	}
	startHub(t, dir, "--secret", rotated).stop(t)

	// -rekey replaces the pickup key on purpose, and then the old is refused.
	const newPickup = "a-new-pickup-key-0123456789"
	if msg := serveRefused(t, dir, "--secret", rotated, "--rekey", "codes-ed25519-seed", "--pickup-secret", newPickup); !strings.Contains(msg, "the pickup-code key") {
		t.Fatalf("-rekey of another key let a new pickup key in: %s", msg)
	}
	startHub(t, dir, "--secret", rotated, "--rekey", "pickup-secret", "--pickup-secret", newPickup).stop(t)
	if got := storedFingerprints(t, dir)[keyPickup]; got != fingerprint(keyPickup, []byte(newPickup)) {
		t.Fatalf("after -rekey the pickup fingerprint is %s", short(got))
	}
	if msg := serveRefused(t, dir, "--secret", rotated); !strings.Contains(msg, "the pickup-code key (from "+filepath.Join(dir, keyPickup)) {
		t.Fatalf("DATA/pickup-secret after -rekey: %s", msg)
	}
	startHub(t, dir, "--secret", rotated, "--pickup-secret", newPickup).stop(t)
}

// TestKeyUsageErrors: bad key configuration ends serve, import, demo and
// token with a usage error (exit 2) before anything is opened.
func TestKeyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "k"), strings.Repeat("k", 40)+"\n", 0o400)
	csv := writeFile(t, filepath.Join(dir, "residents.csv"), "", 0o600)
	data := filepath.Join(dir, "data")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"serve value and file", []string{"serve", "-data", data, "-pickup-secret", strings.Repeat("p", 20), "-pickup-secret-file", file}, cli.ExitUsage, "both given"},
		{"demo value and file", []string{"demo", "-data", data, "-secret", strings.Repeat("s", 20), "-secret-file", file}, cli.ExitUsage, "both given"},
		{"token value and file", []string{"token", "-role", "ADMIN", "-subject", "me", "-data", data, "-jwt-secret", strings.Repeat("k", 32), "-jwt-secret-file", file}, cli.ExitUsage, "both given"},
		{"serve short seed", []string{"serve", "-data", data, "-codes-ed25519-seed", "abcd"}, cli.ExitUsage, "want 32 bytes in hex"},
		{"serve unknown -rekey", []string{"serve", "-data", data, "-rekey", "everything"}, cli.ExitUsage, `unknown key "everything"`},
		{"import missing key file", []string{"import", "-kind", "residents", "-data", data, "-pickup-secret-file", filepath.Join(dir, "none"), csv}, cli.ExitFailure, "-pickup-secret-file"},
		{"token from a key file on an empty directory", []string{"token", "-role", "ADMIN", "-subject", "me", "-data", data, "-jwt-secret-file", file}, cli.ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := app.Run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" })
			code := cli.Exit("gridhub", err, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit code %d, want %d; stderr %q, want %q in it", code, tt.wantCode, stderr.String(), tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, boltstore.FileName)); err == nil {
		t.Errorf("a store was made in spite of the usage errors")
	}
}
