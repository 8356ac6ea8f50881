package hub_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// forbiddenInText is every kind of character free text may not hold, one
// or more members of each: C0 controls (NUL, CR, LF, tab, ESC of an ANSI
// escape), DEL, C1 controls, the bidirectional controls, the line and
// paragraph separators, the byte-order mark and noncharacters.
func forbiddenInText() map[string]rune {
	out := map[string]rune{"DEL": 0x7f, "NEL": 0x85, "C1 0x9b (CSI)": 0x9b, "C1 0x80": 0x80}
	for r := rune(0); r < 0x20; r++ {
		out["C0 "+string(rune('@'+r))] = r
	}
	for _, r := range []rune{0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069} {
		out["bidi "+string(rune(0x41+len(out)%26))+" "+hexRune(r)] = r
	}
	for _, r := range []rune{0x2028, 0x2029, 0xfeff, 0xfdd0, 0xfdef, 0xfffe, 0xffff, 0x1fffe, 0x10ffff} {
		out["special "+hexRune(r)] = r
	}
	return out
}

func hexRune(r rune) string {
	const digits = "0123456789ABCDEF"
	var b []byte
	for i := 20; i >= 0; i -= 4 {
		b = append(b, digits[(r>>i)&0xf])
	}
	return "U+" + strings.TrimLeft(string(b), "0")
}

func TestCheckTextRefusesControlAndBidiCharacters(t *testing.T) {
	for name, r := range forbiddenInText() {
		for _, place := range []string{"start", "middle", "end"} {
			v := "Lin Mei"
			switch place {
			case "start":
				v = string(r) + v
			case "middle":
				v = "Lin" + string(r) + "Mei"
			case "end":
				v += string(r)
			}
			err := hub.CheckText("name", v, 200, true)
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Errorf("%s at the %s: got %v, want EINVALID", name, place, err)
				continue
			}
			if !strings.Contains(hub.ErrorMessage(err), "name") {
				t.Errorf("%s: message %q does not name the field", name, hub.ErrorMessage(err))
			}
		}
	}
	// An ANSI colour escape, as a whole.
	if err := hub.CheckText("address", "\x1b[31mred\x1b[0m", 500, false); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("ANSI escape: got %v", err)
	}
}

func TestCheckTextAcceptsWhatPeopleWrite(t *testing.T) {
	tests := []string{
		"王小明", "Lin Mei", "O'Brien-Smith", "台北市中正區忠孝西路一段49號3樓之2", "José Núñez", "Ñandú",
		"Müller", "Владимир", "محمد", "אברהם", "नमस्ते", "👩‍⚕️ clinic", "𠮷野家", "No. 3, Zhongxiao W. Rd.",
		"(02) 2345-6789", "+886 912 345 678", "藥局\u3000本店", "non\u00a0breaking", "\ue000 private use",
		"soft\u00adhyphen", "zero\u200bwidth",
	}
	for _, v := range tests {
		if err := hub.CheckText("name", v, 200, true); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
}

func TestCheckTextBounds(t *testing.T) {
	tests := []struct {
		name     string
		give     string
		max      int
		required bool
		want     string
	}{
		{"blank required", "  ", 10, true, hub.EINVALID},
		{"empty optional", "", 10, false, ""},
		{"invalid UTF-8", "a\xffb", 10, false, hub.EINVALID},
		{"at the limit", strings.Repeat("字", 10), 10, true, ""},
		{"one over", strings.Repeat("字", 11), 10, true, hub.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hub.ErrorCode(hub.CheckText("f", tt.give, tt.max, tt.required)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorfClipsEchoedInput(t *testing.T) {
	for _, n := range []int{hub.MaxEcho + 1, 1000, 1 << 20} {
		for _, unit := range []string{"A", "字", "\xff"} {
			huge := strings.Repeat(unit, n)
			err := hub.Errorf(hub.ENOTFOUND, "committee %q not found", huge)
			if len(err.Message) > hub.MaxMessage+len("…") {
				t.Errorf("%d×%q: message of %d bytes", n, unit, len(err.Message))
			}
			if len(err.Message) > 4*hub.MaxEcho+64 {
				t.Errorf("%d×%q: echo not clipped to %d characters: %d bytes", n, unit, hub.MaxEcho, len(err.Message))
			}
			if !strings.Contains(err.Message, "…") {
				t.Errorf("%d×%q: clipped echo not marked: %q", n, unit, err.Message)
			}
			we := hub.Wrapf(hub.EINVALID, errors.ErrUnsupported, "bad %s", huge)
			if len(we.Message) > 4*hub.MaxEcho+64 || !errors.Is(we, errors.ErrUnsupported) {
				t.Errorf("Wrapf: %d bytes, sentinel kept %v", len(we.Message), errors.Is(we, errors.ErrUnsupported))
			}
		}
	}
	// Short input is repeated as it is.
	if got := hub.Errorf(hub.ENOTFOUND, "committee %q not found", "TP01001").Message; got != `committee "TP01001" not found` {
		t.Errorf("short echo changed: %q", got)
	}
	// A long message of the hub's own is cut at a character boundary.
	long := hub.Errorf(hub.EINVALID, strings.Repeat("字", 400)).Message
	if len(long) > hub.MaxMessage+len("…") || !utf8.ValidString(long) {
		t.Errorf("long message: %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}

func TestClipTo(t *testing.T) {
	tests := []struct {
		give string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"字字字字", 2, "字字…"},
		{"a\xff\xffb", 2, "a\xff…"},
	}
	for _, tt := range tests {
		if got := hub.ClipTo(tt.give, tt.n); got != tt.want {
			t.Errorf("ClipTo(%q, %d) = %q, want %q", tt.give, tt.n, got, tt.want)
		}
	}
}

func TestCheckTime(t *testing.T) {
	tests := []struct {
		give time.Time
		want string
	}{
		{time.Time{}, hub.EINVALID},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), hub.EINVALID},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), hub.EINVALID},
		{time.Unix(0, 0), ""},
		{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), ""},
		{time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC), ""},
		{time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), hub.EINVALID},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), hub.EINVALID},
	}
	for _, tt := range tests {
		if got := hub.ErrorCode(hub.CheckTime("at", tt.give)); got != tt.want {
			t.Errorf("CheckTime(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
