package hub

import (
	"fmt"
	"strings"
	"time"
)

// timeForm is the grammar ParseTime reads, as its errors state it.
const timeForm = "YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)"

// maxFractionDigits is the finest fraction of a second the hub keeps: a
// nanosecond.
const maxFractionDigits = 9

// ParseTime reads an instant written exactly as RFC 3339's date-time
// (section 5.6): a four-digit year, two-digit month, day, hour, minute and
// second, a fraction of one to nine digits after a point, and Z or a
// numeric offset of two-digit hours (00-23) and minutes (00-59). T and Z
// may be lower case, as RFC 3339 allows; -00:00 reads as UTC. Nothing
// looser is read: no one-digit field, no comma before the fraction, no
// offset of 24 hours. The instant must lie where the hub's records and
// indexes reach (hub.CheckTime: 1970-01-01 to 2262-04-11), so a leap
// second (60), a fraction finer than a nanosecond and year 0000 are
// refused too. Every instant it returns, written in UTC with
// time.RFC3339Nano (as the GraphQL Time scalar and the trust list write
// it), is a text it reads back as the same instant. Errors are EINVALID.
//
// Every time the hub reads from a person, a device or another hub's file
// goes through it: the Time scalar, trust lists, verify-code's -now.
func ParseTime(s string) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, Errorf(EINVALID, "Time %q is not RFC 3339 (%s): %s", Clip(s), timeForm, why)
	}
	// The fixed part: each field and the separator after it.
	fields := [...]struct {
		name     string
		at, n    int
		min, max int
		sep      string
	}{
		{"year", 0, 4, 0, 9999, "-"},
		{"month", 5, 2, 1, 12, "-"},
		{"day", 8, 2, 1, 31, "Tt"},
		{"hour", 11, 2, 0, 23, ":"},
		{"minute", 14, 2, 0, 59, ":"},
		{"second", 17, 2, 0, 59, ""},
	}
	var v [len(fields)]int
	for i, f := range fields {
		if len(s) <= f.at {
			return bad("it ends before the " + f.name)
		}
		n, ok := digits(s[f.at:min(f.at+f.n, len(s))])
		if !ok || len(s) < f.at+f.n {
			return bad(fmt.Sprintf("the %s must be %d digits", f.name, f.n))
		}
		if f.name == "second" && n == 60 {
			return bad("a leap second (60) cannot be stored")
		}
		if n < f.min || n > f.max {
			return bad(fmt.Sprintf("the %s must be %0*d to %d", f.name, f.n, f.min, f.max))
		}
		v[i] = n
		if f.sep != "" && (len(s) == f.at+f.n || !strings.ContainsRune(f.sep, rune(s[f.at+f.n]))) {
			return bad(fmt.Sprintf("%q must follow the %s", f.sep[:1], f.name))
		}
	}
	year, month, day := v[0], time.Month(v[1]), v[2]
	if last := time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day(); day > last {
		return bad(fmt.Sprintf("%04d-%02d has %d days", year, month, last))
	}
	rest := s[19:]
	nsec := 0
	if rest != "" && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		switch {
		case n == 1:
			return bad("the fraction of a second needs a digit after the point")
		case n-1 > maxFractionDigits:
			return bad(fmt.Sprintf("the hub keeps at most %d digits of a second's fraction (nanoseconds)", maxFractionDigits))
		}
		nsec, _ = digits(rest[1:n])
		for i := n - 1; i < maxFractionDigits; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	var loc *time.Location
	switch {
	case rest == "Z" || rest == "z":
		loc = time.UTC
	case len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, okh := digits(rest[1:3])
		mm, okm := digits(rest[4:6])
		if !okh || !okm || hh > 23 || mm > 59 {
			return bad("the offset must be +hh:mm or -hh:mm, hours 00 to 23, minutes 00 to 59")
		}
		offset := hh*3600 + mm*60
		if rest[0] == '-' {
			offset = -offset
		}
		loc = time.UTC
		if offset != 0 {
			loc = time.FixedZone("", offset)
		}
	default:
		return bad("the time must end in Z or an offset +hh:mm or -hh:mm")
	}
	t := time.Date(year, month, day, v[3], v[4], v[5], nsec, loc)
	if err := CheckTime("Time", t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// digits reads s, ASCII digits only, as a decimal number.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}
