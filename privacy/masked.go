package privacy

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Records made before ID numbers had one canonical form keep the mask of
// the spelling they were registered with, and the ID number itself is not
// stored. The functions here read those masks: which could be a canonical
// number of an accepted form, and what a mask's visible characters stand
// for once folded, so that two records of one person can be found.

// MaskedFits reports whether a mask made by MaskID (two characters shown
// at each end, stars between) could be the mask of a canonical number of
// one of the forms: only A-Z, 0-9 and stars, a length the form has, and
// visible characters where the form puts them.
func MaskedFits(masked string, forms Forms) bool {
	forms = forms.orDefault()
	for i := range len(masked) {
		if c := masked[i]; !isUpper(c) && !isDigit(c) && c != '*' {
			return false
		}
	}
	m, n := masked, len(masked)
	if n <= 4 {
		return false // all stars: too short for any form
	}
	tailDigits := isDigit(m[n-2]) && isDigit(m[n-1])
	switch {
	case forms.Has(TW) && n == 10 && isUpper(m[0]) && strings.IndexByte("1289", m[1]) >= 0 && tailDigits:
		return true
	case forms.Has(CN) && n == 18 && isDigit(m[0]) && isDigit(m[1]) && isDigit(m[16]) && (isDigit(m[17]) || m[17] == 'X'):
		return true
	case forms.Has(OTHER) && n >= 8 && n <= 23 && isUpper(m[0]) && isUpper(m[1]):
		return true
	}
	return false
}

// MaskSkeleton returns what the visible head and tail of a mask stand for,
// folded as far as a mask allows: NFKC, ASCII upper case, separators and
// invisible characters dropped, letters of other scripts that look like
// A-Z read as those letters (Cyrillic 'А' as 'A'), digits of any script
// read as their value. Two masks of one person's number, however it was
// spelled, have heads one of which begins the other, and tails one of
// which ends the other.
func MaskSkeleton(masked string) (head, tail string) {
	first, last := strings.IndexByte(masked, '*'), strings.LastIndexByte(masked, '*')
	if first < 0 {
		return skeleton(masked), ""
	}
	return skeleton(masked[:first]), skeleton(masked[last+1:])
}

// confusables pairs letters of other scripts with the A-Z letters they
// look like: Cyrillic, then Greek capitals, then small letters read as
// capitals.
const confusables = "АAВBЕEКKМMНHОOРPСCТTХXУYІIЈJЅSΑAΒBΕEΖZΗHΙIΚKΜMΝNΟOΡPΤTΥYΧXаAеEоOрPсCуYхXіIјJѕSοO"

func skeleton(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(s) {
		if c, ok := idByte(r); ok { // as CanonicalID reads it
			if c != 0 {
				b.WriteByte(c)
			}
			continue
		}
		switch {
		case unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || unicode.IsSpace(r) ||
			unicode.IsMark(r) || unicode.Is(unicode.Pd, r) || r == '\u2212':
		case unicode.IsDigit(r):
			v := 0
			for v < 9 && unicode.IsDigit(r-rune(v)-1) {
				v++
			}
			b.WriteByte(byte('0' + v))
		default:
			b.WriteRune(confusable(r))
		}
	}
	return b.String()
}

func confusable(r rune) rune {
	even, match := true, false
	for _, c := range confusables {
		if match {
			return c
		}
		match = even && c == r
		even = !even
	}
	return r
}
