package app

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/cli"
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
