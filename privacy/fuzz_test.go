package privacy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalizeAndMask: normalising twice changes nothing (so an ID
// number typed either way hashes alike), and a mask keeps the length and
// shows no more than it promises.
func FuzzNormalizeAndMask(f *testing.F) {
	for _, s := range []string{
		"A123456789", "a123-456 789", "", "  ", "王小明", "J", "0912-345-678", "\xff\xfe", "ǅemal", "ß", "A1\u00a0B2\u2003C3",
	} {
		f.Add(s)
	}
	h, err := NewHasher([]byte("fuzz-key-0123456789"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeID(s)
		if again := NormalizeID(n); again != n {
			t.Fatalf("NormalizeID(%q) = %q, and again %q", s, n, again)
		}
		if h.HashID(s) != h.HashID(n) {
			t.Fatalf("%q and its normal form %q hash apart", s, n)
		}
		for _, tt := range []struct {
			name       string
			in, masked string
			show       int
		}{
			{"MaskID", n, MaskID(s), 4},
			{"MaskPhone", strings.TrimSpace(s), MaskPhone(s), 3},
			{"MaskName", strings.TrimSpace(s), MaskName(s), 1},
		} {
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
