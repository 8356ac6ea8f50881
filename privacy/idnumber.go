package privacy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/gridhub/gridhub/hub"
)

// ID numbers have one canonical form, so that one person is one record
// however their number was typed. CanonicalID computes it:
//
//  1. The input is put in Unicode normalisation form NFKC. This folds
//     compatibility spellings to ASCII: full-width "Ａ１２３" and
//     mathematical bold digits become "A123", the no-break space (U+00A0)
//     and the ideographic space (U+3000) become a space, the full-width
//     and small hyphen-minus become '-'.
//  2. ASCII letters are upper-cased.
//  3. The separators people type are dropped: space, tab, '-', '/' and
//     '.' (a trailing dot, "A123456789.", is the same number).
//  4. Anything else is refused, not dropped: invisible format characters
//     (zero-width space and joiner, soft hyphen, byte-order mark, bidi
//     controls), control characters (NUL, line breaks), dashes other than
//     '-' (en dash, non-breaking hyphen, minus sign), letters of other
//     scripts (Cyrillic 'А', Greek 'Α', accented letters), digits of other
//     scripts (Arabic-Indic, Devanagari), symbols and other punctuation.
//     What remains is only A-Z and 0-9.
//  5. The result must be one of the accepted forms, with its check digit:
//
//     TW     Taiwan national ID: a letter and 9 digits, the first digit 1
//     or 2 (or 8 or 9, the resident certificate numbers of 2021), the
//     last a check digit: "A123456789".
//     CN     PRC resident ID: 17 digits, the 7th to 14th a real birth
//     date (YYYYMMDD), and an ISO 7064 MOD 11-2 check character, a
//     digit or X: "11010519491231002X".
//     OTHER  a passport or other document, for people with neither: the
//     ISO 3166-1 alpha-3 code of the issuing country and the number,
//     5 to 20 letters and digits: "USA 123456789" is "USA123456789".
//     TWN is refused when TW is accepted, CHN when CN is: a citizen
//     registers with the national ID.
//
// The forms cannot collide: a canonical TW number starts with a letter
// and a digit, a CN number with a digit, an OTHER number with three
// letters, so the first two characters name the form and one string is
// never two forms' numbers. The canonical form is what the Hasher hashes
// and MaskID masks; refusals are hub.EINVALID errors that name the field
// and the offending character by its code point, never echoing the input.

// Forms is a set of accepted ID-number forms.
type Forms uint8

// The forms of ID number.
const (
	TW    Forms = 1 << iota // Taiwan national ID (and resident certificate)
	CN                      // PRC resident ID
	OTHER                   // passport or other document: country code and number
)

// DefaultForms are the forms a hub accepts unless configured otherwise.
const DefaultForms = TW | CN | OTHER

// ErrInvalidIDNumber is the sentinel of every refused ID number.
var ErrInvalidIDNumber = errors.New("invalid ID number")

type formName struct {
	f    Forms
	name string
	what string
}

// formNames names each form, for flags and messages.
func formNames() [3]formName {
	return [3]formName{
		{TW, "TW", "a Taiwan national ID (a letter and 9 digits)"},
		{CN, "CN", "a PRC resident ID (17 digits and a check digit or X)"},
		{OTHER, "OTHER", "a passport or other document as country code and number (USA C12345)"},
	}
}

// ParseForms parses a comma-separated list of forms ("TW,CN,OTHER"),
// case-insensitive.
func ParseForms(s string) (Forms, error) {
	var f Forms
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, n := range formNames() {
			if strings.EqualFold(part, n.name) {
				f |= n.f
				found = true
			}
		}
		if !found {
			return 0, hub.Errorf(hub.EINVALID, "unknown ID-number form %q: want TW, CN or OTHER", part)
		}
	}
	if f == 0 {
		return 0, hub.Errorf(hub.EINVALID, "no ID-number form given: want some of TW, CN, OTHER")
	}
	return f, nil
}

// String returns the forms as ParseForms reads them: "TW,CN,OTHER".
func (f Forms) String() string {
	var names []string
	for _, n := range formNames() {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Has reports whether f accepts every form of g.
func (f Forms) Has(g Forms) bool { return g != 0 && f&g == g }

func (f Forms) orDefault() Forms {
	if f == 0 {
		return DefaultForms
	}
	return f
}

func (f Forms) describe() string {
	var parts []string
	for _, n := range formNames() {
		if f&n.f != 0 {
			parts = append(parts, n.what)
		}
	}
	return strings.Join(parts, ", or ")
}

// maxRawID bounds the bytes of an ID number as typed, before any work.
const maxRawID = 256

// CanonicalID returns the canonical form of the ID number raw under the
// accepted forms (zero: DefaultForms), or a hub.EINVALID error naming the
// field idNumber. See the rule above.
func CanonicalID(raw string, forms Forms) (string, error) {
	return forms.Canonical("idNumber", raw)
}

// Canonical is CanonicalID with the field named in errors given, for ID
// numbers that arrive in other fields ("eligibleIdNumbers[3]").
func (f Forms) Canonical(field, raw string) (string, error) {
	f = f.orDefault()
	switch {
	case !utf8.ValidString(raw):
		return "", invalid("%s is not valid UTF-8", field)
	case len(raw) > maxRawID:
		return "", invalid("%s is longer than %d bytes", field, maxRawID)
	}
	s := norm.NFKC.String(raw)
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c, ok := idByte(r)
		if !ok {
			return "", refuseChar(field, raw, r)
		}
		if c != 0 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "", invalid("%s is required", field)
	}
	c := string(b)
	if err := f.check(field, c); err != nil {
		return "", err
	}
	return c, nil
}

// isIDSeparator reports whether r is a separator dropped from ID numbers.
// After NFKC the no-break and ideographic spaces are plain spaces; they
// are listed for the reader.
func isIDSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '-', '/', '.', '\u00a0', '\u3000':
		return true
	}
	return false
}

// idByte returns what r (after NFKC) stands for in a canonical ID number:
// A-Z and 0-9 themselves, a-z upper-cased, 0 for a separator that is
// dropped; ok is false for a character with no place in an ID number.
func idByte(r rune) (c byte, ok bool) {
	switch {
	case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
		return byte(r), true
	case r >= 'a' && r <= 'z':
		return byte(r - 'a' + 'A'), true
	case isIDSeparator(r):
		return 0, true
	}
	return 0, false
}

func idRuneOK(r rune) bool {
	_, ok := idByte(r)
	return ok
}

// refuseChar explains the first character of raw that has no place in an
// ID number, by class and code point, with its position.
func refuseChar(field, raw string, folded rune) error {
	bad, pos := folded, 0
	i := 0
	for _, r := range raw {
		i++
		if !strings.ContainsFunc(norm.NFKC.String(string(r)), func(x rune) bool { return !idRuneOK(x) }) {
			continue
		}
		bad, pos = r, i
		break
	}
	at := ""
	if pos > 0 {
		at = fmt.Sprintf(" at character %d", pos)
	}
	return invalid("%s holds %s (U+%04X)%s; an ID number holds only the letters A-Z and digits 0-9 "+
		"(spaces, '-', '/' and '.' are ignored)", field, charClass(bad), bad, at)
}

func charClass(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "a replacement character"
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	case unicode.Is(unicode.Pd, r) || r == '\u2212':
		return "a dash other than '-'"
	case unicode.IsDigit(r):
		return "a digit of another script"
	case unicode.IsLetter(r):
		return "a letter outside A-Z"
	case unicode.IsMark(r):
		return "a combining mark"
	case unicode.IsSpace(r):
		return "a space other than ' ', tab, no-break and ideographic space"
	case unicode.Is(unicode.Co, r) || !unicode.IsPrint(r) && !unicode.IsGraphic(r):
		return "an unassigned or private-use character"
	}
	return "a symbol or punctuation mark"
}

// invalid returns the EINVALID error of a refused ID number. Its
// arguments are the field's name, counts, code points and at most the
// three letters of a country code: never the number.
func invalid(format string, args ...any) error {
	return &hub.Error{Code: hub.EINVALID, Message: fmt.Sprintf(format, args...), Err: ErrInvalidIDNumber}
}

// check tells which form the ASCII string c has, by its first
// characters, and checks it against that form.
func (f Forms) check(field, c string) error {
	var form Forms
	switch {
	case len(c) >= 2 && isUpper(c[0]) && isDigit(c[1]):
		form = TW
	case isDigit(c[0]):
		form = CN
	case len(c) >= 3 && isUpper(c[0]) && isUpper(c[1]) && isUpper(c[2]):
		form = OTHER
	default:
		return invalid("%s has no accepted form: want %s", field, f.describe())
	}
	if !f.Has(form) {
		return invalid("%s looks like %s, which this hub does not accept: want %s", field, form.describe(), f.describe())
	}
	switch form {
	case TW:
		if len(c) != 10 || !allDigits(c[1:]) {
			return invalid("%s: a Taiwan national ID is a letter and 9 digits, this has %d characters", field, len(c))
		}
		if !strings.ContainsRune("1289", rune(c[1])) {
			return invalid("%s: a Taiwan national ID has 1, 2, 8 or 9 after its letter", field)
		}
		if TaiwanCheckDigit(c[:9]) != c[9] {
			return invalid("%s fails its check digit (a typing error?)", field)
		}
	case CN:
		if len(c) != 18 || !allDigits(c[:17]) || !(isDigit(c[17]) || c[17] == 'X') {
			return invalid("%s: a PRC resident ID is 17 digits and a check digit or X, this has %d characters", field, len(c))
		}
		if !realDate(c[6:14]) {
			return invalid("%s: a PRC resident ID holds a birth date (YYYYMMDD) from its 7th digit, and this is no date", field)
		}
		if ChinaCheckChar(c[:17]) != c[17] {
			return invalid("%s fails its check digit (a typing error?)", field)
		}
	case OTHER:
		country, number := c[:3], c[3:]
		switch {
		case !IsCountryCode(country):
			return invalid("%s: a document number starts with the ISO 3166-1 alpha-3 code of its country, and %q is none", field, country)
		case country == "TWN" && f.Has(TW):
			return invalid("%s: a citizen of Taiwan registers with the national ID, not a passport", field)
		case country == "CHN" && f.Has(CN):
			return invalid("%s: a citizen of the PRC registers with the resident ID, not a passport", field)
		case len(number) < 5 || len(number) > 20:
			return invalid("%s: a document number has 5 to 20 letters and digits after the country code, this has %d", field, len(number))
		}
	}
	return nil
}

// FormOf returns the form of a canonical ID number (one of TW, CN,
// OTHER), judged by its shape alone, or 0 for none. It does not check
// digits: CanonicalID does.
func FormOf(canonical string) Forms {
	c := canonical
	switch {
	case len(c) == 10 && isUpper(c[0]) && allDigits(c[1:]):
		return TW
	case len(c) == 18 && allDigits(c[:17]) && (isDigit(c[17]) || c[17] == 'X'):
		return CN
	case len(c) >= 8 && len(c) <= 23 && isUpper(c[0]) && isUpper(c[1]) && isUpper(c[2]) && allAlnum(c[3:]):
		return OTHER
	}
	return 0
}

// taiwanLetters are the letters of a Taiwan ID number in the order of
// their codes, 10 to 35, in the check-digit formula.
const taiwanLetters = "ABCDEFGHJKLMNPQRSTUVXYWZIO"

// TaiwanCheckDigit returns the check digit of the first nine characters
// of a Taiwan ID number (a letter A-Z and eight digits), or 0 if they are
// not that.
func TaiwanCheckDigit(first9 string) byte {
	if len(first9) != 9 || !allDigits(first9[1:]) {
		return 0
	}
	i := strings.IndexByte(taiwanLetters, first9[0])
	if i < 0 {
		return 0
	}
	code := 10 + i
	sum := code/10 + code%10*9
	for k := 1; k < 9; k++ {
		sum += int(first9[k]-'0') * (9 - k)
	}
	return byte('0' + (10-sum%10)%10)
}

// ChinaCheckChar returns the ISO 7064 MOD 11-2 check character of the
// first 17 digits of a PRC resident ID, or 0 if they are not 17 digits.
func ChinaCheckChar(first17 string) byte {
	if len(first17) != 17 || !allDigits(first17) {
		return 0
	}
	const weights = "\x07\x09\x0a\x05\x08\x04\x02\x01\x06\x03\x07\x09\x0a\x05\x08\x04\x02"
	sum := 0
	for k := range 17 {
		sum += int(first17[k]-'0') * int(weights[k])
	}
	return "10X98765432"[sum%11]
}

// realDate reports whether s (YYYYMMDD) is a date from 1850 to 2099.
func realDate(s string) bool {
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[4]-'0')*10 + int(s[5]-'0')
	d := int(s[6]-'0')*10 + int(s[7]-'0')
	if y < 1850 || y > 2099 || m < 1 || m > 12 || d < 1 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d && int(t.Month()) == m
}

// countryCodes is ISO 3166-1 alpha-3 (the 249 officially assigned codes),
// sorted, three letters each.
const countryCodes = "" +
	"ABWAFGAGOAIAALAALBANDAREARGARMASMATAATFATGAUSAUTAZEBDIBELBENBESBFABGDBGRBHR" +
	"BHSBIHBLMBLRBLZBMUBOLBRABRBBRNBTNBVTBWACAFCANCCKCHECHLCHNCIVCMRCODCOGCOKCOL" +
	"COMCPVCRICUBCUWCXRCYMCYPCZEDEUDJIDMADNKDOMDZAECUEGYERIESHESPESTETHFINFJIFLK" +
	"FRAFROFSMGABGBRGEOGGYGHAGIBGINGLPGMBGNBGNQGRCGRDGRLGTMGUFGUMGUYHKGHMDHNDHRV" +
	"HTIHUNIDNIMNINDIOTIRLIRNIRQISLISRITAJAMJEYJORJPNKAZKENKGZKHMKIRKNAKORKWTLAO" +
	"LBNLBRLBYLCALIELKALSOLTULUXLVAMACMAFMARMCOMDAMDGMDVMEXMHLMKDMLIMLTMMRMNEMNG" +
	"MNPMOZMRTMSRMTQMUSMWIMYSMYTNAMNCLNERNFKNGANICNIUNLDNORNPLNRUNZLOMNPAKPANPCN" +
	"PERPHLPLWPNGPOLPRIPRKPRTPRYPSEPYFQATREUROURUSRWASAUSDNSENSGPSGSSHNSJMSLBSLE" +
	"SLVSMRSOMSPMSRBSSDSTPSURSVKSVNSWESWZSXMSYCSYRTCATCDTGOTHATJKTKLTKMTLSTONTTO" +
	"TUNTURTUVTWNTZAUGAUKRUMIURYUSAUZBVATVCTVENVGBVIRVNMVUTWLFWSMYEMZAFZMBZWE"

// IsCountryCode reports whether s is an ISO 3166-1 alpha-3 country code
// (upper case).
func IsCountryCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	n := len(countryCodes) / 3
	i := sort.Search(n, func(i int) bool { return countryCodes[3*i:3*i+3] >= s })
	return i < n && countryCodes[3*i:3*i+3] == s
}

// ExampleTaiwanID returns the n-th (n >= 0) of a sequence of distinct
// Taiwan ID numbers with the given letter (A-Z) that pass the check
// digit, for tests and demos: synthetic numbers that belong to nobody
// known. It panics on a letter outside A-Z or a negative n.
func ExampleTaiwanID(letter byte, n int) string {
	if letter < 'A' || letter > 'Z' || n < 0 {
		panic(fmt.Sprintf("privacy.ExampleTaiwanID(%q, %d): want a letter A-Z and n >= 0", letter, n))
	}
	first9 := fmt.Sprintf("%c%d%07d", letter, 1+n/10_000_000%2, n%10_000_000)
	return first9 + string(TaiwanCheckDigit(first9))
}

// ExampleChinaID returns the n-th (n >= 0) of a sequence of distinct PRC
// resident IDs that pass the check character, for tests and demos: area
// 110101, birth dates from 1 January 1960, a thousand numbers a day.
func ExampleChinaID(n int) string {
	if n < 0 {
		panic(fmt.Sprintf("privacy.ExampleChinaID(%d): want n >= 0", n))
	}
	born := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n/1000%40_000)
	first17 := fmt.Sprintf("110101%s%03d", born.Format("20060102"), n%1000)
	return first17 + string(ChinaCheckChar(first17))
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func allAlnum(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) && !isUpper(s[i]) {
			return false
		}
	}
	return true
}
