package privacy

import (
	"strings"
	"testing"
)

func TestMaskedFits(t *testing.T) {
	tests := []struct {
		give  string
		forms Forms
		want  bool
	}{
		{"A1******05", DefaultForms, true},
		{"A9******05", DefaultForms, true},
		{"A3******05", DefaultForms, false},
		{"a1******05", DefaultForms, false},
		{"Ａ１******０５", DefaultForms, false},
		{"A1*******05", DefaultForms, false},
		{"A1*******5\u200b", DefaultForms, false},
		{"\u04101******05", DefaultForms, false},
		{"11**************2X", DefaultForms, true},
		{"11**************2X", TW | OTHER, false},
		{"US********89", DefaultForms, true},
		{"US********89", TW | CN, false},
		{"****", DefaultForms, false},
		{"", DefaultForms, false},
	}
	for _, tt := range tests {
		if got := MaskedFits(tt.give, tt.forms); got != tt.want {
			t.Errorf("MaskedFits(%q, %v) = %v, want %v", tt.give, tt.forms, got, tt.want)
		}
	}
	// The mask of every canonical number fits its form.
	for _, n := range []string{victim, ExampleTaiwanID('Z', 5), "A800000014", ExampleChinaID(3), "USA123456789", "GBR12345"} {
		if !MaskedFits(MaskID(n), FormOf(n)) {
			t.Errorf("MaskedFits(MaskID(%s)) is false", n)
		}
	}
}

func TestMaskSkeleton(t *testing.T) {
	// The mask of each spelling, as the hub made it before canonical
	// forms: the spelling upper-cased, spaces and dashes dropped.
	oldMask := func(s string) string {
		s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
		return maskMiddle(s, 2, 2)
	}
	head, tail := MaskSkeleton(MaskID(victim))
	if head != "A1" || tail != "05" {
		t.Fatalf("MaskSkeleton(%s) = %q, %q", MaskID(victim), head, tail)
	}
	for _, s := range attackSpellings {
		h, tl := MaskSkeleton(oldMask(s))
		if !strings.HasPrefix(head, h) && !strings.HasPrefix(h, head) || !strings.HasSuffix(tail, tl) && !strings.HasSuffix(tl, tail) {
			t.Errorf("MaskSkeleton(%q) = %q, %q; does not meet %q, %q", oldMask(s), h, tl, head, tail)
		}
	}
	for _, other := range []string{"B1******05", "A2******05", "A1******06"} {
		h, tl := MaskSkeleton(other)
		if h == head && tl == tail {
			t.Errorf("MaskSkeleton(%s) = MaskSkeleton(%s)", other, MaskID(victim))
		}
	}
}

func TestConfusable(t *testing.T) {
	rs := []rune(confusables)
	if len(rs)%2 != 0 {
		t.Fatalf("confusables has %d runes, not pairs", len(rs))
	}
	for i := 0; i < len(rs); i += 2 {
		if got := confusable(rs[i]); got != rs[i+1] {
			t.Errorf("confusable(%q) = %q, want %q", rs[i], got, rs[i+1])
		}
	}
	for _, r := range "ABHOXZ09中*ж" {
		if got := confusable(r); got != r {
			t.Errorf("confusable(%q) = %q, want it unchanged", r, got)
		}
	}
}
