package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/store/boltstore"
)

// keyKind is one key the hub keeps, as the key-source tests see it.
type keyKind struct {
	name   string                       // flag stem
	good   string                       // a valid value
	short  string                       // a value refused for its length or form ("" when any value is taken)
	data   bool                         // made in the data directory when not given
	get    func(c *Config) (key, error) // resolves it
	decode func(v string) []byte        // what the hub uses of a good value
}

func keyKinds() []keyKind {
	raw := func(v string) []byte { return []byte(v) }
	seed32 := bytes.Repeat([]byte{7}, 32)
	return []keyKind{
		{name: "secret", good: "id-hash-secret-0123456789", short: "fifteen-bytes-x", data: true,
			get: (*Config).secretKey, decode: raw},
		{name: "jwt-secret", good: strings.Repeat("j", 32), short: strings.Repeat("j", 31), data: true,
			get: func(c *Config) (key, error) { k, _, err := c.jwtKey(); return k, err }, decode: raw},
		{name: "jwt-ed25519-seed", good: base64.StdEncoding.EncodeToString(seed32), short: base64.StdEncoding.EncodeToString(seed32[:31]),
			get: func(c *Config) (key, error) {
				k, ed, err := c.jwtKey()
				if err == nil && !ed {
					k = key{} // not given: HS256 from the data directory
				}
				return k, err
			},
			decode: func(string) []byte { return seed32 }},
		{name: "pickup-secret", good: "pickup-key-0123456789", short: "pickup-key-0123", data: true,
			get: (*Config).pickupKey, decode: raw},
		{name: "codes-ed25519-seed", good: hex.EncodeToString(seed32), short: hex.EncodeToString(seed32[:31]), data: true,
			get: (*Config).codesSeed, decode: func(string) []byte { return seed32 }},
		{name: "secret-previous", good: "previous-secret-0123456789", short: "too-short",
			get: func(c *Config) (key, error) {
				ks, err := c.previousKeys()
				if err != nil || len(ks) == 0 {
					return key{}, err
				}
				return ks[0], nil
			}, decode: raw},
	}
}

// configFrom parses args and env as every command does.
func configFrom(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.flags(fs, func(name string) string { return env[name] })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKeySources: every key comes from its value, its file or the data
// directory, in that order, through flags and environment variables alike;
// both a value and a file is a usage error, as is a key too short; a
// missing or empty file is a failure.
func TestKeySources(t *testing.T) {
	const (
		ok      = 0
		usage   = cli.ExitUsage
		failure = cli.ExitFailure
	)
	for _, k := range keyKinds() {
		env, envFile := envName(k.name), envName(k.name+"-file")
		dir := t.TempDir()
		file := writeFile(t, filepath.Join(dir, "key"), k.good+"\n", 0o400)
		crlf := writeFile(t, filepath.Join(dir, "key-crlf"), k.good+"\r\n", 0o400)
		bare := writeFile(t, filepath.Join(dir, "key-bare"), k.good, 0o400)
		empty := writeFile(t, filepath.Join(dir, "key-empty"), "\n", 0o400)
		shortFile := writeFile(t, filepath.Join(dir, "key-short"), k.short+"\n", 0o400)
		tests := []struct {
			name       string
			args       []string
			env        map[string]string
			wantCode   int
			wantSource string // part of the key's source
			wantErr    string // part of the error
		}{
			{"value", []string{"-" + k.name, k.good}, nil, ok, "-" + k.name, ""},
			{"value from the environment", nil, map[string]string{env: k.good}, ok, "-" + k.name, ""},
			{"file", []string{"-" + k.name + "-file", file}, nil, ok, file, ""},
			{"file with CRLF", []string{"-" + k.name + "-file", crlf}, nil, ok, crlf, ""},
			{"file without a newline", []string{"-" + k.name + "-file", bare}, nil, ok, bare, ""},
			{"file from the environment", nil, map[string]string{envFile: file}, ok, file, ""},
			{"flag file over environment file", []string{"-" + k.name + "-file", crlf}, map[string]string{envFile: file}, ok, crlf, ""},
			{"value and file", []string{"-" + k.name, k.good, "-" + k.name + "-file", file}, nil, usage, "", "both given"},
			{"value in the environment and file as a flag", []string{"-" + k.name + "-file", file}, map[string]string{env: k.good}, usage, "", "both given"},
			{"value as a flag and file in the environment", []string{"-" + k.name, k.good}, map[string]string{envFile: file}, usage, "", "both given"},
			{"missing file", []string{"-" + k.name + "-file", filepath.Join(dir, "none")}, nil, failure, "", "no such file"},
			{"empty file", []string{"-" + k.name + "-file", empty}, nil, failure, "", "is empty"},
			{"value too short", []string{"-" + k.name, k.short}, nil, usage, "", "-" + k.name},
			{"file too short", []string{"-" + k.name + "-file", shortFile}, nil, usage, "", shortFile},
		}
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				c := configFrom(t, append([]string{"-data", filepath.Join(t.TempDir(), "data")}, tt.args...), tt.env)
				got, err := k.get(&c)
				if code := cli.Code(err); code != tt.wantCode {
					t.Fatalf("exit code %d (%v), want %d", code, err, tt.wantCode)
				}
				if err != nil {
					if !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("error %q, want %q in it", err, tt.wantErr)
					}
					return
				}
				if !bytes.Equal(got.b, k.decode(k.good)) {
					t.Fatalf("key %q, want %q", got.b, k.decode(k.good))
				}
				if !strings.Contains(got.source, tt.wantSource) {
					t.Fatalf("source %q, want %q in it", got.source, tt.wantSource)
				}
			})
		}
		t.Run(k.name+"/data directory", func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			c := configFrom(t, []string{"-data", data}, nil)
			first, err := k.get(&c)
			if err != nil {
				t.Fatal(err)
			}
			kept, statErr := os.ReadFile(filepath.Join(data, k.name))
			if !k.data {
				if first.b != nil || statErr == nil {
					t.Fatalf("a key was made for %s, which has no data-directory default: %q", k.name, first.b)
				}
				return
			}
			if statErr != nil {
				t.Fatalf("no DATA/%s made: %v", k.name, statErr)
			}
			again, err := k.get(&c)
			if err != nil || !bytes.Equal(first.b, again.b) || len(first.b) < 16 {
				t.Fatalf("DATA/%s read again: %q then %q (%v)", k.name, first.b, again.b, err)
			}
			if k.name != "codes-ed25519-seed" && string(first.b) != string(kept) {
				t.Fatalf("key %q, DATA/%s holds %q", first.b, k.name, kept)
			}
			// A value given wins over the data directory, as does a file.
			c = configFrom(t, []string{"-data", data, "-" + k.name, k.good}, nil)
			if got, err := k.get(&c); err != nil || !bytes.Equal(got.b, k.decode(k.good)) {
				t.Fatalf("value beside DATA/%s: %q (%v)", k.name, got.b, err)
			}
			c = configFrom(t, []string{"-data", data, "-" + k.name + "-file", file}, nil)
			if got, err := k.get(&c); err != nil || !bytes.Equal(got.b, k.decode(k.good)) {
				t.Fatalf("file beside DATA/%s: %q (%v)", k.name, got.b, err)
			}
		})
	}
}

// TestKeyFileWarnings: a key file others may read or write is warned of;
// one its owner (and group) alone read is not.
func TestKeyFileWarnings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		give os.FileMode
		want bool
	}{
		{0o400, false}, {0o600, false}, {0o440, false}, {0o640, false},
		{0o444, true}, {0o644, true}, {0o604, true}, {0o460, true}, {0o620, true}, {0o666, true}, {0o602, true},
	}
	for _, tt := range tests {
		path := writeFile(t, filepath.Join(dir, tt.give.String()), "k", 0o600)
		if err := os.Chmod(path, tt.give); err != nil {
			t.Fatal(err)
		}
		c := Config{PickupSecretFile: path}
		if got := len(c.keyFileWarnings()) == 1; got != tt.want {
			t.Errorf("mode %04o: warned %v, want %v (%q)", tt.give, got, tt.want, c.keyFileWarnings())
		}
	}
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
	err := run(ctx, args, &stdout, io.Discard, func(string) string { return "" })
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
			err := run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" })
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
