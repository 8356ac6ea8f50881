package hub

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxEcho is the most characters of a caller's input that an error
// message repeats back; longer inputs are clipped with "…".
const MaxEcho = 64

// MaxMessage is the longest error message, in bytes, that reaches a client.
const MaxMessage = 512

// Clip returns s cut to MaxEcho characters, with "…" when it was longer,
// for repeating a caller's input in a message.
func Clip(s string) string { return ClipTo(s, MaxEcho) }

// ClipTo returns s cut to at most n characters (runes; invalid bytes count
// as one each), with "…" when it was longer.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

// ClipBytes returns s cut to at most n bytes on a character boundary, with
// "…" when it was longer.
func ClipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// CheckText returns an EINVALID error naming field unless v is free text
// a record may hold: valid UTF-8, at most max characters, not blank when
// required, and free of characters that change how other text is shown
// or read (see ForbiddenRune).
func CheckText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return Errorf(EINVALID, "%s is required", field)
	case !utf8.ValidString(v):
		return Errorf(EINVALID, "%s is not valid UTF-8", field)
	case utf8.RuneCountInString(v) > max:
		return Errorf(EINVALID, "%s is longer than %d characters", field, max)
	}
	for i, r := range v {
		if ForbiddenRune(r) {
			return Errorf(EINVALID, "%s holds the control or formatting character %U at byte %d; free text may not", field, r, i)
		}
	}
	return nil
}

// ForbiddenRune reports whether r may not stand in free text (names,
// addresses, phones, hours, reasons, purposes): control characters (C0,
// DEL and C1, so NUL, CR, LF, tab and the ESC of terminal escapes), the
// bidirectional controls that reorder what is shown (U+061C, U+200E,
// U+200F, U+202A to U+202E, U+2066 to U+2069), the line and paragraph
// separators, the byte-order mark and noncharacters. Letters of every
// script, punctuation, symbols, the joiners of emoji and Indic text, and
// private-use and not yet assigned code points (rare characters of
// people's names are written with them) stay allowed.
func ForbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return true
	}
	return false
}

// Said is a message the hub wrote itself (an inner error's), which Errorf
// repeats whole instead of clipping it as a caller's input.
type Said string

// MessageOf returns err's message (see ErrorMessage) as Said, for
// building one error's message from another's.
func MessageOf(err error) Said { return Said(ErrorMessage(err)) }

// clipArgs returns args with every string and []byte clipped to MaxEcho
// characters, so a message never repeats a caller's megabyte. Other
// values, Said and errors among them, are left whole; the message as a
// whole is still cut to MaxMessage bytes.
func clipArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		default:
			continue
		}
		if len(s) <= MaxEcho {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = Clip(s)
	}
	if out == nil {
		return args
	}
	return out
}

// sprintf formats like fmt.Sprintf with string arguments clipped, and the
// result cut to MaxMessage bytes.
func sprintf(format string, args ...any) string {
	return ClipBytes(fmt.Sprintf(format, clipArgs(args)...), MaxMessage)
}

// The range of instants the hub stores and indexes: from the Unix epoch
// to the last instant of int64 nanoseconds (2262-04-11).
const (
	minTimeUnix = 0
	maxTimeNano = 1<<63 - 1
)

// CheckTime returns an EINVALID error naming what unless t lies between
// 1970-01-01T00:00:00Z and 2262-04-11T23:47:16Z, the range the hub's
// records and indexes hold. The zero time ("0001-01-01T00:00:00Z") is
// outside it: it is refused, never read as "now".
func CheckTime(what string, t time.Time) error {
	if t.Before(time.Unix(minTimeUnix, 0)) || t.After(time.Unix(0, maxTimeNano)) {
		return Errorf(EINVALID, "%s %s is outside 1970-01-01 to 2262-04-11", what, t.UTC().Format(time.RFC3339))
	}
	return nil
}
