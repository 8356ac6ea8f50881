package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

// The keys a hub keeps. Each comes from exactly one source, in this order:
//
//  1. its value, -X (or GRIDHUB_X);
//  2. a file holding it, -X-file (or GRIDHUB_X_FILE), as container
//     platforms hand out secrets (/run/secrets/...): one trailing newline
//     (\n or \r\n) is trimmed;
//  3. the data directory, DATA/X, made (32 random bytes, hex) at first use,
//     for one hub on its own disk. The Ed25519 seed of access tokens has no
//     such default: without it the hub signs tokens with HS256.
//
// Giving both the value and the file of one key is a usage error, as is a
// key too short (or, for a seed, not of its form). A missing or empty file
// is a failure.
//
// The store keeps a fingerprint of each key (checkKeys), so that hubs
// sharing one store cannot run with different keys.

// Names of the keys: each is the stem of its flags and, for those kept in
// the data directory, the name of its file there.
const (
	keySecret     = "secret"             // ID-number hashes
	keyJWT        = "jwt-secret"         // HS256 access tokens
	keyJWTSeed    = "jwt-ed25519-seed"   // EdDSA access tokens
	keyPickup     = "pickup-secret"      // pickup codes
	keyCodesSeed  = "codes-ed25519-seed" // health codes' Ed25519 signing seed
	keyPrevious   = "secret-previous"    // ID-hash keys the secret replaced
	fpTokens      = "jwt"                // the fingerprint of the token key, HS256 or EdDSA
	metaKeyPrefix = "key-fingerprint/"   // the store's settings holding fingerprints
)

// keyFrom is a key as given: its value and the file that holds it.
type keyFrom struct {
	name  string // the key's name (flag stem)
	value string
	file  string
}

// key is a key resolved from its source.
type key struct {
	b      []byte
	source string // "-secret or GRIDHUB_SECRET", "-secret-file /run/secrets/x", "DATA/secret": for messages
}

// resolve returns the key from its value, its file, or (when inData)
// DATA/name, made at first use; a nil key when none is given and inData
// is false.
func (c *Config) resolve(k keyFrom, inData bool) (key, error) {
	switch {
	case k.value != "" && k.file != "":
		return key{}, cli.Usagef("-%s and -%s-file (or %s and %s) are both given: give the key one way",
			k.name, k.name, envName(k.name), envName(k.name+"-file"))
	case k.value != "":
		return key{b: []byte(k.value), source: "-" + k.name + " or " + envName(k.name)}, nil
	case k.file != "":
		b, err := readKeyFile(k.file)
		if err != nil {
			return key{}, fmt.Errorf("-%s-file: %w", k.name, err)
		}
		return key{b: b, source: "-" + k.name + "-file " + k.file}, nil
	case !inData:
		return key{}, nil
	}
	b, err := c.secret(k.name)
	if err != nil {
		return key{}, err
	}
	return key{b: b, source: filepath.Join(c.DataDir, k.name)}, nil
}

// envName is the environment variable of a flag: GRIDHUB_ and the flag in
// upper case, dashes as underscores.
func envName(flag string) string {
	return "GRIDHUB_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// readKeyFile reads a key from a file, without one trailing newline.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return []byte(s), nil
}

// minLen returns a usage error unless k (a key given by its value or file)
// has at least n bytes; a key from the data directory that is too short is
// a failure.
func minLen(k key, n int, what string) error {
	if len(k.b) >= n {
		return nil
	}
	return k.fault(fmt.Errorf("%s from %s has %d bytes, want at least %d", what, k.source, len(k.b), n))
}

// fault returns err about k as a usage error when k was given by its value
// or file, and as a failure when it came from the data directory.
func (k key) fault(err error) error {
	if strings.HasPrefix(k.source, "-") {
		return cli.Usage(err)
	}
	return err
}

// secretKey returns the key of ID-number hashes.
func (c *Config) secretKey() (key, error) {
	k, err := c.resolve(keyFrom{name: keySecret, value: c.Secret, file: c.SecretFile}, true)
	if err != nil {
		return key{}, err
	}
	return k, minLen(k, privacy.MinKeyLen, "the ID-hash secret")
}

// previousKeys returns the ID-hash keys the secret replaced: the value of
// -secret-previous is comma-separated, its file holds them one a line (or
// comma-separated).
func (c *Config) previousKeys() ([]key, error) {
	k, err := c.resolve(keyFrom{name: keyPrevious, value: c.SecretsBefore, file: c.SecretsBeforeFile}, false)
	if err != nil || k.b == nil {
		return nil, err
	}
	var out []key
	for _, f := range strings.FieldsFunc(string(k.b), func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			p := key{b: []byte(f), source: k.source}
			if err := minLen(p, privacy.MinKeyLen, "a previous ID-hash secret"); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// jwtKey returns the access-token key: the Ed25519 seed (decoded from
// base64) when one is given, else the HS256 secret.
func (c *Config) jwtKey() (k key, ed bool, err error) {
	seed, err := c.resolve(keyFrom{name: keyJWTSeed, value: c.JWTEd25519, file: c.JWTEd25519File}, false)
	if err != nil {
		return key{}, false, err
	}
	if seed.b != nil {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(seed.b)))
		if err != nil || len(b) != ed25519.SeedSize {
			return key{}, false, cli.Usagef("jwt-ed25519-seed from %s: want 32 bytes in base64", seed.source)
		}
		return key{b: b, source: seed.source}, true, nil
	}
	k, err = c.resolve(keyFrom{name: keyJWT, value: c.JWTSecret, file: c.JWTSecretFile}, true)
	if err != nil {
		return key{}, false, err
	}
	return k, false, minLen(k, 32, "the HS256 access-token secret")
}

// pickupKey returns the key of pickup codes.
func (c *Config) pickupKey() (key, error) {
	k, err := c.resolve(keyFrom{name: keyPickup, value: c.PickupSecret, file: c.PickupSecretFile}, true)
	if err != nil {
		return key{}, err
	}
	return k, minLen(k, 16, "the pickup-code key")
}

// codesSeed returns the Ed25519 seed that signs health codes, decoded from
// hex.
func (c *Config) codesSeed() (key, error) {
	k, err := c.resolve(keyFrom{name: keyCodesSeed, value: c.CodesSeed, file: c.CodesSeedFile}, true)
	if err != nil {
		return key{}, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(k.b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return key{}, k.fault(fmt.Errorf("codes-ed25519-seed from %s: want 32 bytes in hex", k.source))
	}
	return key{b: seed, source: k.source}, nil
}

// keyFiles lists the key files given, for keyFileWarnings.
func (c *Config) keyFiles() []string {
	return []string{c.SecretFile, c.SecretsBeforeFile, c.JWTSecretFile, c.JWTEd25519File, c.PickupSecretFile, c.CodesSeedFile}
}

// keyFileWarnings returns a warning for each key file that every user may
// read, or users other than its owner may write.
func (c *Config) keyFileWarnings() []string {
	var out []string
	for _, f := range c.keyFiles() {
		if f == "" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			continue // resolve reports it
		}
		m := st.Mode().Perm()
		var who []string
		if m&0o004 != 0 {
			who = append(who, "every user may read it")
		}
		if m&0o022 != 0 {
			who = append(who, "users other than its owner may change it")
		}
		if who != nil {
			out = append(out, fmt.Sprintf("key file %s has mode %04o: %s (want 0400 or 0440)", f, m, strings.Join(who, ", ")))
		}
	}
	return out
}

// fingerprinted is a key whose fingerprint the store keeps.
type fingerprinted struct {
	name     string // the setting is metaKeyPrefix+name
	what     string // "the pickup-code key", for messages
	source   string
	fp       string
	previous []string // fingerprints of keys it replaced (the ID-hash secret's)
}

// fingerprint returns hex(HMAC-SHA256(key, label)): it names a key
// without revealing it, and differs between keys of different names.
func fingerprint(name string, k []byte) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("gridhub key fingerprint v1\x00" + name))
	return hex.EncodeToString(m.Sum(nil))
}

// fingerprints resolves every key the hub uses and returns their
// fingerprints.
func (c *Config) fingerprints() ([]fingerprinted, error) {
	secret, err := c.secretKey()
	if err != nil {
		return nil, err
	}
	prev, err := c.previousKeys()
	if err != nil {
		return nil, err
	}
	tokens, ed, err := c.jwtKey()
	if err != nil {
		return nil, err
	}
	pickup, err := c.pickupKey()
	if err != nil {
		return nil, err
	}
	seed, err := c.codesSeed()
	if err != nil {
		return nil, err
	}
	tokenAlg := fpTokens + "/HS256"
	if ed {
		tokenAlg = fpTokens + "/EdDSA"
	}
	out := []fingerprinted{
		{name: keySecret, what: "the ID-hash secret", source: secret.source, fp: fingerprint(keySecret, secret.b)},
		{name: fpTokens, what: "the access-token key", source: tokens.source, fp: fingerprint(tokenAlg, tokens.b)},
		{name: keyPickup, what: "the pickup-code key", source: pickup.source, fp: fingerprint(keyPickup, pickup.b)},
		{name: keyCodesSeed, what: "the health-code signing seed", source: seed.source, fp: fingerprint(keyCodesSeed, seed.b)},
	}
	for _, p := range prev {
		out[0].previous = append(out[0].previous, fingerprint(keySecret, p.b))
	}
	return out, nil
}

// rekeyNames returns the keys -rekey names; an unknown name is a usage
// error.
func rekeyNames(list string) ([]string, error) {
	known := []string{keySecret, fpTokens, keyPickup, keyCodesSeed}
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !slices.Contains(known, n) {
			return nil, cli.Usagef("-rekey: unknown key %q, want some of %s", n, strings.Join(known, ","))
		}
		out = append(out, n)
	}
	return out, nil
}

// checkKeys compares the fingerprint of each key with the one the store
// keeps, written by the first hub that opened it, so that hubs sharing a
// store run with the same keys. A key that differs stops the start, naming
// it, unless:
//   - it is the ID-hash secret and the stored fingerprint is of one of
//     -secret-previous: a rotation, and the stored fingerprint moves to the
//     new secret;
//   - rekey names it: the operator replaces the key on purpose, and the
//     stored fingerprint moves to this hub's.
func checkKeys(ctx context.Context, s hub.Store, keys []fingerprinted, rekey []string, log *slog.Logger) error {
	// Every key is checked before any stored fingerprint moves, so that a
	// start refused for one key changes nothing.
	type move struct {
		k         fingerprinted
		from, why string
	}
	var moves []move
	var refused []error
	for _, k := range keys {
		stored, err := s.SwapMeta(ctx, metaKeyPrefix+k.name, "", k.fp)
		if err != nil {
			return fmt.Errorf("key fingerprint of %s: %w", k.what, err)
		}
		switch {
		case stored == k.fp:
		case slices.Contains(k.previous, stored):
			moves = append(moves, move{k, stored, "rotated: the stored one was of a previous key"})
		case slices.Contains(rekey, k.name):
			moves = append(moves, move{k, stored, "replaced by -rekey"})
		default:
			refused = append(refused, fmt.Errorf("%s (from %s, fingerprint %s…) differs from the one this store was first served with (fingerprint %s…): give every hub the same keys",
				k.what, k.source, k.fp[:12], short(stored)))
		}
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	for _, m := range moves {
		now, err := s.SwapMeta(ctx, metaKeyPrefix+m.k.name, m.from, m.k.fp)
		if err != nil {
			return fmt.Errorf("key fingerprint of %s: %w", m.k.what, err)
		}
		if now != m.k.fp {
			return fmt.Errorf("%s: another hub changed the store's fingerprint meanwhile (to %s…): start again", m.k.what, short(now))
		}
		log.Warn("key fingerprint moved", "key", m.k.name, "from", short(m.from), "to", m.k.fp[:12], "why", m.why)
	}
	return nil
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
