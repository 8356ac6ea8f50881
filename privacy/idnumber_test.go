package privacy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

const victim = "A157639505"

// wantID is the outcome a spelling must have: folded to the canonical
// number, or refused as invalid (with a message that holds want).
type wantID struct {
	fold   string // canonical number, or "" for a refusal
	reason string // part of the refusal's message
}

func refused(reason string) wantID { return wantID{reason: reason} }
func folds(c string) wantID        { return wantID{fold: c} }

func checkCanonical(t *testing.T, forms Forms, give string, want wantID) {
	t.Helper()
	got, err := CanonicalID(give, forms)
	if want.fold != "" {
		if err != nil || got != want.fold {
			t.Errorf("CanonicalID(%q) = %q, %v; want %q", give, got, err, want.fold)
		}
		return
	}
	switch {
	case err == nil:
		t.Errorf("CanonicalID(%q) = %q, want a refusal (%s)", give, got, want.reason)
	case got != "":
		t.Errorf("CanonicalID(%q) refused but returned %q", give, got)
	case hub.ErrorCode(err) != hub.EINVALID || !errors.Is(err, ErrInvalidIDNumber):
		t.Errorf("CanonicalID(%q): %v, want EINVALID", give, err)
	case !strings.HasPrefix(hub.ErrorMessage(err), "idNumber"):
		t.Errorf("CanonicalID(%q): %q does not name idNumber", give, hub.ErrorMessage(err))
	case !strings.Contains(hub.ErrorMessage(err), want.reason):
		t.Errorf("CanonicalID(%q): %q, want it to say %q", give, hub.ErrorMessage(err), want.reason)
	}
}

func TestCanonicalIDAttackSpellings(t *testing.T) {
	want := []wantID{
		folds(victim), folds(victim),
		refused("U+200B"), refused("U+200D"), refused("U+00AD"), refused("U+FEFF"),
		refused("U+2013"), refused("U+2011"),
		folds(victim), // a trailing dot is a separator
		refused("U+0000"),
		refused("U+0410"),
		refused("U+0661"),
		folds(victim),
	}
	if len(want) != len(attackSpellings) {
		t.Fatalf("%d outcomes for %d spellings", len(want), len(attackSpellings))
	}
	for i, s := range attackSpellings {
		checkCanonical(t, DefaultForms, s, want[i])
	}
}

// at returns victim with s inserted before its i-th byte.
func at(i int, s string) string { return victim[:i] + s + victim[i:] }

func TestCanonicalIDInvisibleAndControl(t *testing.T) {
	var chars []rune
	chars = append(chars, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x202E, 0x202D, 0x202A, 0x202B, 0x202C,
		0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C, 0x180E, 0x034F, 0xFFFD, 0xE000, 0x2028, 0x2029, 0x0085)
	for r := rune(0); r <= 0x1F; r++ {
		chars = append(chars, r)
	}
	chars = append(chars, 0x7F)
	for _, r := range chars {
		for _, i := range []int{0, 1, 4, 10} {
			give := at(i, string(r))
			if r == '\t' {
				checkCanonical(t, DefaultForms, give, folds(victim))
				continue
			}
			checkCanonical(t, DefaultForms, give, refused(fmt.Sprintf("U+%04X", r)))
		}
	}
}

func TestCanonicalIDConfusableLetters(t *testing.T) {
	cyrillic := []rune("АВЕКМНОРСТХаеорсух")
	greek := []rune("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαο")
	other := []rune("ÀÁÂÄÅĀİıßǅÞŁ") // (ſ, the long s, is a compatibility s: it folds)
	for _, set := range [][]rune{cyrillic, greek, other} {
		for _, r := range set {
			checkCanonical(t, DefaultForms, string(r)+victim[1:], refused("letter outside A-Z"))
			checkCanonical(t, DefaultForms, "US"+string(r)+" 123456789", refused(fmt.Sprintf("U+%04X", r)))
		}
	}
	// A combining mark on a Latin letter composes to a letter outside A-Z.
	checkCanonical(t, DefaultForms, "A\u0301"+victim[1:], refused("U+0301"))
}

func TestCanonicalIDDigitsOfOtherScripts(t *testing.T) {
	tests := []struct {
		name string
		zero rune
		want func(string) wantID
	}{
		{"arabic-indic", 0x0660, func(string) wantID { return refused("digit of another script") }},
		{"extended arabic-indic", 0x06F0, func(string) wantID { return refused("digit of another script") }},
		{"devanagari", 0x0966, func(string) wantID { return refused("digit of another script") }},
		{"bengali", 0x09E6, func(string) wantID { return refused("digit of another script") }},
		{"thai", 0x0E50, func(string) wantID { return refused("digit of another script") }},
		{"fullwidth", 0xFF10, folds},
		{"math bold", 0x1D7CE, folds},
		{"math double-struck", 0x1D7D8, folds},
		{"math monospace", 0x1D7F6, folds},
		{"superscript", -1, folds},
	}
	super := []rune("⁰¹²³⁴⁵⁶⁷⁸⁹")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for pos := 1; pos < len(victim); pos++ {
				d := rune(victim[pos] - '0')
				r := tt.zero + d
				if tt.zero < 0 {
					r = super[d]
				}
				give := victim[:pos] + string(r) + victim[pos+1:]
				checkCanonical(t, DefaultForms, give, tt.want(victim))
			}
			// Every digit of the script, in a PRC number too.
			for d := range rune(10) {
				r := tt.zero + d
				if tt.zero < 0 {
					r = super[d]
				}
				cn := "11010519491231002X"
				give := cn[:15] + string(r) + cn[16:]
				want := tt.want(cn[:15] + string(rune('0'+d)) + cn[16:])
				if want.fold != "" && ChinaCheckChar(want.fold[:17]) != 'X' {
					want = refused("check digit")
				}
				checkCanonical(t, DefaultForms, give, want)
			}
		})
	}
}

func TestCanonicalIDDashes(t *testing.T) {
	for _, r := range []rune{0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x2E3A, 0x301C, 0xFE58} {
		for _, i := range []int{1, 4, 7} {
			checkCanonical(t, DefaultForms, at(i, string(r)), refused("U+"))
		}
		checkCanonical(t, DefaultForms, at(4, string(r)), refused(fmt.Sprintf("U+%04X", r)))
	}
	// Hyphen-minus in its compatibility spellings folds to '-', a separator.
	for _, r := range []rune{'-', 0xFE63, 0xFF0D} {
		for _, i := range []int{0, 1, 4, 10} {
			checkCanonical(t, DefaultForms, at(i, string(r)), folds(victim))
		}
	}
}

func TestCanonicalIDSeparators(t *testing.T) {
	tests := []struct {
		give string
		want wantID
	}{
		{"a157639505", folds(victim)},
		{" A157639505 ", folds(victim)},
		{"A 157 639 505", folds(victim)},
		{"A\t157639505", folds(victim)},
		{"A-157-639-505", folds(victim)},
		{"A/157/639/505", folds(victim)},
		{"A.157.639.505.", folds(victim)},
		{"A\u00a0157639505", folds(victim)},
		{"A\u3000157639505", folds(victim)},
		{"A\u2003157639505", folds(victim)}, // em space is a space under NFKC
		{"ａ１５７６３９５０５", folds(victim)},
		{"A157639505,", refused("U+002C")},
		{"A157639505_", refused("U+005F")},
		{"A157639505:", refused("U+003A")},
		{"A157639505\n", refused("control character")},
		{"", refused("required")},
		{" -./ ", refused("required")},
		{"\xffA157639505", refused("UTF-8")},
		{strings.Repeat(" ", 300) + victim, refused("longer than")},
	}
	for _, tt := range tests {
		checkCanonical(t, DefaultForms, tt.give, tt.want)
	}
}

func TestCanonicalIDTaiwan(t *testing.T) {
	tests := []struct {
		give string
		want wantID
	}{
		{"A123456789", folds("A123456789")},
		{"F131104093", folds("F131104093")},
		{"A800000014", folds("A800000014")},
		{"A900000016", folds("A900000016")},
		{"A323456789", refused("1, 2, 8 or 9")},
		{"A023456789", refused("1, 2, 8 or 9")},
		{"A12345678", refused("letter and 9 digits")},
		{"A1234567890", refused("letter and 9 digits")},
		{"A12345678X", refused("letter and 9 digits")},
	}
	for _, tt := range tests {
		checkCanonical(t, DefaultForms, tt.give, tt.want)
	}
	// Every wrong check digit is caught, and every single-digit typing
	// error that the mod-10 sum can see: a change of d at weight w is
	// invisible only when d*w is a multiple of 10.
	weights := []int{0, 0, 7, 6, 5, 4, 3, 2, 1, 1}
	for _, id := range []string{victim, "A123456789", ExampleTaiwanID('Z', 12345), ExampleTaiwanID('I', 7)} {
		for pos := 2; pos < 10; pos++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == id[pos] {
					continue
				}
				typo := id[:pos] + string(d) + id[pos+1:]
				if (int(d)-int(id[pos])+10)*weights[pos]%10 == 0 {
					checkCanonical(t, DefaultForms, typo, folds(typo))
				} else {
					checkCanonical(t, DefaultForms, typo, refused("check digit"))
				}
			}
		}
	}
	for letter := byte('A'); letter <= 'Z'; letter++ {
		for _, n := range []int{0, 1, 9_999_999, 10_000_000, 19_999_999} {
			id := ExampleTaiwanID(letter, n)
			checkCanonical(t, DefaultForms, id, folds(id))
			checkCanonical(t, DefaultForms, strings.ToLower(id), folds(id))
			if FormOf(id) != TW {
				t.Errorf("FormOf(%s) = %v", id, FormOf(id))
			}
		}
	}
}

func TestCanonicalIDChina(t *testing.T) {
	tests := []struct {
		give string
		want wantID
	}{
		{"11010519491231002X", folds("11010519491231002X")},
		{"11010519491231002x", folds("11010519491231002X")},
		{"110105 19491231 002x", folds("11010519491231002X")},
		{"440308199901011112", refused("check digit")},
		{"110105194912310021", refused("check digit")},
		{"110105194902300020", refused("no date")},
		{"110105194913010020", refused("no date")},
		{"110105180001010020", refused("no date")},
		{"11010519491231002", refused("17 digits")},
		{"11010519491231002XX", refused("17 digits")},
		{"1101051949123100XX", refused("17 digits")},
	}
	for _, tt := range tests {
		checkCanonical(t, DefaultForms, tt.give, tt.want)
	}
	seen := map[string]bool{}
	for _, n := range []int{0, 1, 999, 1000, 123_456, 9_999_999} {
		id := ExampleChinaID(n)
		if seen[id] {
			t.Errorf("ExampleChinaID(%d) = %s repeats", n, id)
		}
		seen[id] = true
		checkCanonical(t, DefaultForms, id, folds(id))
		if FormOf(id) != CN {
			t.Errorf("FormOf(%s) = %v", id, FormOf(id))
		}
		for pos := range 17 {
			d := '0' + (id[pos]-'0'+1)%10
			bad := id[:pos] + string(d) + id[pos+1:]
			if _, err := CanonicalID(bad, DefaultForms); err == nil {
				t.Errorf("%s with digit %d changed passes", id, pos)
			}
		}
	}
}

func TestCanonicalIDOther(t *testing.T) {
	tests := []struct {
		forms Forms
		give  string
		want  wantID
	}{
		{DefaultForms, "USA 123456789", folds("USA123456789")},
		{DefaultForms, "usa-c1234567", folds("USAC1234567")},
		{DefaultForms, "GBR 12345", folds("GBR12345")},
		{DefaultForms, "JPN TK" + strings.Repeat("1", 18), folds("JPNTK" + strings.Repeat("1", 18))},
		{DefaultForms, "USA 1234", refused("5 to 20")},
		{DefaultForms, "USA " + strings.Repeat("1", 21), refused("5 to 20")},
		{DefaultForms, "XXA 123456789", refused("alpha-3")},
		{DefaultForms, "UTO 123456789", refused("alpha-3")},
		{DefaultForms, "TWN 123456789", refused("national ID")},
		{DefaultForms, "CHN E12345678", refused("resident ID")},
		{OTHER, "TWN 123456789", folds("TWN123456789")},
		{OTHER | CN, "TWN 123456789", folds("TWN123456789")},
		{OTHER | TW, "CHN E12345678", folds("CHNE12345678")},
		{OTHER, victim, refused("does not accept")},
		{OTHER, "11010519491231002X", refused("does not accept")},
		{TW, "USA 123456789", refused("does not accept")},
		{TW | CN, "USA 123456789", refused("does not accept")},
		{CN, victim, refused("does not accept")},
		{DefaultForms, "AB1234567", refused("no accepted form")},
		{DefaultForms, "A", refused("no accepted form")},
		{DefaultForms, "P:USA123456", refused("U+003A")},
	}
	for _, tt := range tests {
		checkCanonical(t, tt.forms, tt.give, tt.want)
	}
}

// TestFormsDisjoint: the first characters of a canonical number name its
// form, so no number of one form is a number of another.
func TestFormsDisjoint(t *testing.T) {
	numbers := map[Forms][]string{
		TW:    {victim, ExampleTaiwanID('A', 0), ExampleTaiwanID('Z', 19_999_999), "A800000014"},
		CN:    {"11010519491231002X", ExampleChinaID(0), ExampleChinaID(777_777)},
		OTHER: {"USA123456789", "ABW12345", "ZWE" + strings.Repeat("9", 20), "USAA23456789"},
	}
	for form, ns := range numbers {
		for _, n := range ns {
			if got := FormOf(n); got != form {
				t.Errorf("FormOf(%s) = %v, want %v", n, got, form)
			}
			for _, only := range []Forms{TW, CN, OTHER} {
				_, err := CanonicalID(n, only)
				if (err == nil) != (only == form) {
					t.Errorf("CanonicalID(%s, %v): %v", n, only, err)
				}
			}
		}
	}
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		give    string
		want    Forms
		wantErr bool
	}{
		{"TW,CN,OTHER", DefaultForms, false},
		{"tw, cn ,other", DefaultForms, false},
		{"TW", TW, false},
		{"OTHER,TW", TW | OTHER, false},
		{"", 0, true},
		{" , ", 0, true},
		{"TW,US", 0, true},
		{"PASSPORT", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseForms(tt.give)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseForms(%q) = %v, %v; want %v, error %v", tt.give, got, err, tt.want, tt.wantErr)
		}
		if err != nil && hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("ParseForms(%q): %v, want EINVALID", tt.give, err)
		}
		if err == nil {
			if again, _ := ParseForms(got.String()); again != got {
				t.Errorf("ParseForms(%q).String() = %q does not parse back", tt.give, got.String())
			}
		}
	}
}

func TestCountryCodes(t *testing.T) {
	if len(countryCodes)%3 != 0 || len(countryCodes)/3 != 249 {
		t.Fatalf("%d characters of country codes, want 249 codes", len(countryCodes))
	}
	for i := 3; i < len(countryCodes); i += 3 {
		if countryCodes[i-3:i] >= countryCodes[i:i+3] {
			t.Fatalf("country codes out of order at %s %s", countryCodes[i-3:i], countryCodes[i:i+3])
		}
	}
	for i := 0; i < len(countryCodes); i += 3 {
		if c := countryCodes[i : i+3]; !IsCountryCode(c) || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Errorf("IsCountryCode(%s) is false", c)
		}
	}
	for _, c := range []string{"", "US", "USAA", "usa", "AAA", "ZZZ", "XXA", "UTO", "EUE", "ABV", "ZWF"} {
		if IsCountryCode(c) {
			t.Errorf("IsCountryCode(%q) is true", c)
		}
	}
}

func TestExampleTaiwanIDDistinct(t *testing.T) {
	seen := map[string]int{}
	for n := range 5000 {
		id := ExampleTaiwanID('Q', n*4001)
		if m, dup := seen[id]; dup {
			t.Fatalf("ExampleTaiwanID('Q', %d) = ExampleTaiwanID('Q', %d) = %s", n*4001, m, id)
		}
		seen[id] = n * 4001
		if c, err := CanonicalID(id, TW); err != nil || c != id {
			t.Fatalf("ExampleTaiwanID('Q', %d) = %s: %q, %v", n*4001, id, c, err)
		}
	}
}
