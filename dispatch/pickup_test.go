package dispatch_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

func TestNewPickupCode(t *testing.T) {
	tests := []struct {
		name string
		give []byte // the 9 bytes read; only the low 65 bits count
		want dispatch.PickupCode
	}{
		{"zeros", make([]byte, 9), "0000-0000-0000-0"},
		{"ones", bytes.Repeat([]byte{0xff}, 9), "ZZZZ-ZZZZ-ZZZZ-Z"},
		{"the seven top bits are dropped", append([]byte{0xfe}, make([]byte, 8)...), "0000-0000-0000-0"},
		{"bit 64", append([]byte{0x01}, make([]byte, 8)...), "G000-0000-0000-0"},
		{"bit 0", append(make([]byte, 8), 0x01), "0000-0000-0000-1"},
		{"counting", []byte{0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, "028T-5CY4-TQKF-F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dispatch.NewPickupCode(bytes.NewReader(tt.give))
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
			if again, err := dispatch.ParsePickupCode(string(got)); err != nil || again != got {
				t.Errorf("ParsePickupCode(%q) = %q, %v", got, again, err)
			}
		})
	}
	if _, err := dispatch.NewPickupCode(bytes.NewReader(make([]byte, 8))); err == nil {
		t.Error("a short read gave a code")
	}
}

// TestPickupCodeBits checks that a code carries 65 bits: over many codes
// every bit position is set about half the time, and none repeats.
func TestPickupCodeBits(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'g', 'r', 'i', 'd'})
	const n = 20000
	seen := map[dispatch.PickupCode]bool{}
	var ones [dispatch.PickupCodeBits]int
	for range n {
		c, err := dispatch.NewPickupCode(r)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c] {
			t.Fatalf("code %s drawn twice", c)
		}
		seen[c] = true
		syms := strings.ReplaceAll(string(c), "-", "")
		for i := range syms {
			v := strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", syms[i])
			for b := range 5 {
				if v>>(4-b)&1 == 1 {
					ones[5*i+b]++
				}
			}
		}
	}
	for i, k := range ones {
		// n/2 = 10000, σ ≈ 71: six σ either way.
		if k < 9575 || k > 10425 {
			t.Errorf("bit %d set in %d of %d codes", i, k, n)
		}
	}
	if dispatch.PickupCodeBits < 64 {
		t.Errorf("%d bits, want at least 64", dispatch.PickupCodeBits)
	}
}

func TestParsePickupCode(t *testing.T) {
	const canon = "7KQ2-M9XD-4TPA-H"
	tests := []struct {
		give string
		want dispatch.PickupCode // "" for an error
	}{
		{canon, canon},
		{"7kq2-m9xd-4tpa-h", canon},
		{"7KQ2M9XD4TPAH", canon},
		{" 7KQ2 M9XD 4TPA H ", canon},
		{"7-K-Q-2-M-9-X-D-4-T-P-A-H", canon},
		{"7KQ2--M9XD--4TPA--H", canon},
		{"\t7KQ2-M9XD-4TPA-H\t", canon},
		{"OOOO-IIII-LLLL-o", "0000-1111-1111-0"},
		{"oiLl-0000-0000-0", "0111-0000-0000-0"},
		{"GRIDHUB-PICKUP:7KQ2-M9XD-4TPA-H", canon}, // scanned from its QR image
		{"gridhub-pickup:7kq2m9xd4tpah", canon},
		{"GRIDHUB-PICKUP:", ""},
		{"GRIDHUB-PICKUP7KQ2-M9XD-4TPA-H", ""},
		{"7KQ2-M9XD-4TPA-H GRIDHUB-PICKUP:", ""},
		{"", ""},
		{"7KQ2-M9XD-4TPA", ""},         // 12 symbols
		{"7KQ2-M9XD-4TPA-HH", ""},      // 14
		{"7KQ2-M9XD-4TPA-U", ""},       // U is not used
		{"7KQ2-M9XD-4TPA-!", ""},       // not a symbol
		{"7KQ2_M9XD_4TPA_H", ""},       // underscores are not forgiven
		{"7KQ2-M9XD-4TPA-Ｈ", ""},       // full-width
		{"7KQ2-M9XD-4TPA-H\x00", ""},   // NUL
		{"7KQ2-M9XD-4TPA-\xff", ""},    // not UTF-8
		{strings.Repeat("-", 65), ""},  // too long to read
		{strings.Repeat("0", 100), ""}, // far too long
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := dispatch.ParsePickupCode(tt.give)
			if tt.want == "" {
				if !errors.Is(err, dispatch.ErrInvalidPickupCode) || hub.ErrorCode(err) != hub.EINVALID || got != "" {
					t.Fatalf("got %q, %v, want an EINVALID ErrInvalidPickupCode", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestPickupCodeHash(t *testing.T) {
	key := []byte("a hub secret of 32 bytes, really")
	c, err := dispatch.ParsePickupCode("7kq2 m9xd 4tpa h")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hash(key)
	if len(h) != 64 || h != c.Hash(key) {
		t.Fatalf("hash %q", h)
	}
	if !c.Matches(key, h) || c.Matches(key, strings.ToUpper(h)) || c.Matches([]byte("another key"), h) {
		t.Error("Matches")
	}
	other, _ := dispatch.ParsePickupCode("7KQ2-M9XD-4TPA-J")
	if other.Hash(key) == h {
		t.Error("two codes, one hash")
	}
	// The hash is not a plain SHA-256 of the code, which anyone could
	// compute.
	plain := sha256.Sum256([]byte("7KQ2M9XD4TPAH"))
	if fmt.Sprintf("%x", plain) == h {
		t.Error("the hash is unkeyed")
	}
}

// TestPickupGolden pins the code form and its hash: codes printed and
// stored today must redeem tomorrow.
func TestPickupGolden(t *testing.T) {
	key := []byte("gridhub golden pickup key")
	// A fixed stream: SHA-256 of a counter.
	var stream bytes.Buffer
	for i := range 8 {
		s := sha256.Sum256(fmt.Appendf(nil, "pickup %d", i))
		stream.Write(s[:])
	}
	var b strings.Builder
	for range 8 {
		c, err := dispatch.NewPickupCode(&stream)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", c, c.Hash(key))
	}
	golden(t, "pickup_codes.golden", []byte(b.String()))
}

// FuzzParsePickupCode checks that ParsePickupCode never panics, that
// every error is an EINVALID ErrInvalidPickupCode, and that whatever it
// accepts is canonical, parses to itself, and is the input once case,
// separators and confusable letters are forgiven.
func FuzzParsePickupCode(f *testing.F) {
	for _, s := range []string{
		"7KQ2-M9XD-4TPA-H", "7kq2m9xd4tpah", "OOOO-IIII-LLLL-o", " 7KQ2 M9XD 4TPA H ",
		"0000-0000-0000-0", "ZZZZ-ZZZZ-ZZZZ-Z", "7KQ2-M9XD-4TPA-U", "7KQ2-M9XD-4TPA",
		"", "-", "\xff\xfe", "7KQ2-M9XD-4TPA-Ｈ", strings.Repeat("0", 64), strings.Repeat("0", 65),
		"GRIDHUB-PICKUP:7KQ2-M9XD-4TPA-H", "gridhub-pickup:0000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := dispatch.ParsePickupCode(s)
		if err != nil {
			if !errors.Is(err, dispatch.ErrInvalidPickupCode) || hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("ParsePickupCode(%q): %v, want an EINVALID ErrInvalidPickupCode", s, err)
			}
			if c != "" {
				t.Fatalf("ParsePickupCode(%q) = %q with an error", s, c)
			}
			if !utf8.ValidString(hub.ErrorMessage(err)) && utf8.ValidString(s) {
				t.Fatalf("message not UTF-8: %q", hub.ErrorMessage(err))
			}
			return
		}
		cs := string(c)
		if len(cs) != 16 || cs[4] != '-' || cs[9] != '-' || cs[14] != '-' {
			t.Fatalf("ParsePickupCode(%q) = %q: not canonical", s, c)
		}
		for i, r := range cs {
			if i%5 != 4 && !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", r) {
				t.Fatalf("ParsePickupCode(%q) = %q: symbol %q", s, c, r)
			}
		}
		if again, err := dispatch.ParsePickupCode(cs); err != nil || again != c {
			t.Fatalf("ParsePickupCode(%q) = %q, %v: not idempotent", cs, again, err)
		}
		// Forgive what the parser forgives, by hand, and compare.
		var want strings.Builder
		up := strings.ToUpper(s)
		if len(s) >= len(dispatch.PickupQRPrefix) && strings.EqualFold(s[:len(dispatch.PickupQRPrefix)], dispatch.PickupQRPrefix) {
			up = strings.ToUpper(s[len(dispatch.PickupQRPrefix):])
		}
		for _, r := range up {
			switch r {
			case '-', ' ', '\t':
			case 'O':
				want.WriteByte('0')
			case 'I', 'L':
				want.WriteByte('1')
			default:
				want.WriteRune(r)
			}
		}
		if got := strings.ReplaceAll(cs, "-", ""); got != want.String() {
			t.Fatalf("ParsePickupCode(%q) = %q, want the symbols %q", s, c, want.String())
		}
	})
}
