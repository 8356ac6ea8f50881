package privacy

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// attackSpellings are the spellings of A157639505 that were once taken
// for thirteen other people.
var attackSpellings = []string{
	"Ａ１５７６３９５０５",       // full-width letter and digits
	"A１５７６３９５０５",       // full-width digits
	"A157\u200b639505", // zero-width space
	"A157\u200d639505", // zero-width joiner
	"A157\u00ad639505", // soft hyphen
	"\ufeffA157639505", // byte-order mark
	"A157\u2013639505", // en dash
	"A157\u2011639505", // non-breaking hyphen
	"A157639505.",      // trailing dot
	"A157639505\x00",   // trailing NUL
	"\u0410157639505",  // Cyrillic А
	"A\u0661\u0665\u0667\u0666\u0663\u0669\u0665\u0660\u0665",                                     // Arabic-Indic digits
	"A\U0001D7CF\U0001D7D3\U0001D7D5\U0001D7D4\U0001D7D1\U0001D7D7\U0001D7D3\U0001D7CE\U0001D7D3", // mathematical bold digits
}

// FuzzCanonicalID: a canonical form is canonical (idempotent), holds
// only A-Z and 0-9, has one form and passes that form's check, computed
// here independently; a refusal is an EINVALID error with nothing else
// and does not repeat the input; two inputs hash alike exactly when they
// canonicalise alike; separators anywhere change nothing and an
// invisible character anywhere is refused.
func FuzzCanonicalID(f *testing.F) {
	for _, s := range attackSpellings {
		f.Add(s, "A157639505")
	}
	for _, s := range []string{
		"A157639505", "a157-639 505", "11010519491231002x", "110105 19491231 002X", "USA 123456789",
		"usa-c1234567", "TWN12345678", "", " ", "\xff\xfe", "A1\u00a0B2", "Q123456780", "P:USA123456", "ǅemal",
	} {
		f.Add(s, "A157639505")
		f.Add(s, s+" ")
	}
	h, err := NewHasher([]byte("fuzz-key-0123456789"))
	if err != nil {
		f.Fatal(err)
	}
	ascii := regexp.MustCompile(`^[A-Z0-9]+$`)
	longDigits := regexp.MustCompile(`[0-9]{6,}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, errA := CanonicalID(a, DefaultForms)
		cb, errB := CanonicalID(b, DefaultForms)
		for _, tt := range []struct {
			in, c string
			err   error
		}{{a, ca, errA}, {b, cb, errB}} {
			if tt.err != nil {
				if tt.c != "" {
					t.Fatalf("CanonicalID(%q) refused (%v) but returned %q", tt.in, tt.err, tt.c)
				}
				if hub.ErrorCode(tt.err) != hub.EINVALID || !errors.Is(tt.err, ErrInvalidIDNumber) {
					t.Fatalf("CanonicalID(%q): %v, want an EINVALID ErrInvalidIDNumber", tt.in, tt.err)
				}
				msg := hub.ErrorMessage(tt.err)
				if !strings.HasPrefix(msg, "idNumber") {
					t.Fatalf("CanonicalID(%q): message %q does not name the field", tt.in, msg)
				}
				for _, d := range longDigits.FindAllString(tt.in, -1) {
					if strings.Contains(msg, d) {
						t.Fatalf("CanonicalID(%q): message %q repeats the input", tt.in, msg)
					}
				}
				continue
			}
			if !ascii.MatchString(tt.c) {
				t.Fatalf("CanonicalID(%q) = %q: not only A-Z and 0-9", tt.in, tt.c)
			}
			if again, err := CanonicalID(tt.c, DefaultForms); err != nil || again != tt.c {
				t.Fatalf("CanonicalID(%q) = %q, and again %q, %v", tt.in, tt.c, again, err)
			}
			if !independentCheck(tt.c) {
				t.Fatalf("CanonicalID(%q) = %q: no form's check passes", tt.in, tt.c)
			}
			if FormOf(tt.c) == 0 {
				t.Fatalf("CanonicalID(%q) = %q has no form", tt.in, tt.c)
			}
			if len(tt.in) < 60 {
				rs := []rune(tt.in)
				for i := 0; i <= len(rs); i++ {
					with := func(r rune) string { return string(rs[:i]) + string(r) + string(rs[i:]) }
					if c, err := CanonicalID(with(' '), DefaultForms); err != nil || c != tt.c {
						t.Fatalf("%q with a space at %d: %q, %v; want %q", tt.in, i, c, err, tt.c)
					}
					if c, err := CanonicalID(with('\u200b'), DefaultForms); err == nil {
						t.Fatalf("%q with a zero-width space at %d canonicalises to %q", tt.in, i, c)
					}
				}
			}
		}
		if errA == nil && errB == nil {
			if (ca == cb) != (h.HashID(ca) == h.HashID(cb)) {
				t.Fatalf("%q -> %q and %q -> %q: canonical forms equal %v, hashes equal %v",
					a, ca, b, cb, ca == cb, h.HashID(ca) == h.HashID(cb))
			}
		}
		if errA == nil && utf8.RuneCountInString(MaskID(ca)) != len(ca) {
			t.Fatalf("MaskID(%q) = %q changes the length", ca, MaskID(ca))
		}
	})
}

// independentCheck checks a canonical number by each form's rule as
// published, written apart from the code under test.
func independentCheck(c string) bool {
	twCodes := map[byte]int{
		'A': 10, 'B': 11, 'C': 12, 'D': 13, 'E': 14, 'F': 15, 'G': 16, 'H': 17, 'I': 34, 'J': 18,
		'K': 19, 'L': 20, 'M': 21, 'N': 22, 'O': 35, 'P': 23, 'Q': 24, 'R': 25, 'S': 26, 'T': 27,
		'U': 28, 'V': 29, 'W': 32, 'X': 30, 'Y': 31, 'Z': 33,
	}
	if m := regexp.MustCompile(`^[A-Z][1289][0-9]{8}$`); m.MatchString(c) {
		code := twCodes[c[0]]
		sum := code/10 + code%10*9
		for i, w := range []int{8, 7, 6, 5, 4, 3, 2, 1, 1} {
			sum += int(c[i+1]-'0') * w
		}
		return sum%10 == 0
	}
	if m := regexp.MustCompile(`^[0-9]{17}[0-9X]$`); m.MatchString(c) {
		sum := 0
		for i, w := range []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2} {
			sum += int(c[i]-'0') * w
		}
		last := 10
		if c[17] != 'X' {
			last = int(c[17] - '0')
		}
		// ISO 7064 MOD 11-2: the weighted sum with the check character
		// (weight 1) is 1 mod 11.
		return (sum+last)%11 == 1
	}
	if m := regexp.MustCompile(`^[A-Z]{3}[A-Z0-9]{5,20}$`); m.MatchString(c) {
		return IsCountryCode(c[:3]) && c[:3] != "TWN" && c[:3] != "CHN"
	}
	return false
}

// FuzzMask: a mask keeps the length and shows no more than it promises,
// each character it shows where it stood.
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		"A123456789", "", "  ", "王小明", "J", "0912-345-678", "\xff\xfe", "ǅemal", "ß", "A1\u00a0B2\u2003C3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tests := []struct {
			name       string
			in, masked string
			show       int
		}{
			{"MaskPhone", strings.TrimSpace(s), MaskPhone(s), 3},
			{"MaskName", strings.TrimSpace(s), MaskName(s), 1},
		}
		if c, err := CanonicalID(s, DefaultForms); err == nil {
			tests = append(tests, struct {
				name       string
				in, masked string
				show       int
			}{"MaskID", c, MaskID(c), 4})
		}
		for _, tt := range tests {
			if got, want := utf8.RuneCountInString(tt.masked), utf8.RuneCountInString(tt.in); got != want {
				t.Fatalf("%s(%q) = %q: %d characters, want %d", tt.name, s, tt.masked, got, want)
			}
			in, out := []rune(tt.in), []rune(tt.masked)
			shown := 0
			for i := range out {
				if out[i] == '*' {
					continue
				}
				if out[i] != in[i] {
					t.Fatalf("%s(%q) = %q changes character %d", tt.name, s, tt.masked, i)
				}
				shown++
			}
			if shown > tt.show {
				t.Fatalf("%s(%q) = %q shows %d characters, at most %d", tt.name, s, tt.masked, shown, tt.show)
			}
		}
	})
}
