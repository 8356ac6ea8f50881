package resolvers

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// maxCursorBytes is the longest decoded cursor decodeCursor accepts.
const maxCursorBytes = 256

func TestCursorRoundTrip(t *testing.T) {
	tests := []string{
		"res_1",
		"res_01HZX3K8Q9",
		"",
		"a",
		"res:res:nested",
		"居民-1",
		"with spaces and / + = ?",
		strings.Repeat("r", maxCursorBytes-len(cursorResPref)),
	}
	for _, give := range tests {
		c := encodeCursor(cursorResPref, give)
		if strings.ContainsAny(c, "+/=") {
			t.Errorf("cursor %q of %q is not URL-safe", c, give)
		}
		got, err := decodeCursor(cursorResPref, c)
		if err != nil || got != give {
			t.Errorf("decodeCursor(encodeCursor(%q)) = %q, %v", give, got, err)
		}
	}
}

func TestDecodeCursorRefuses(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name string
		give string
	}{
		{"empty", ""},
		{"not base64", "!!notbase64"},
		{"an id in clear", "res_1"},
		{"another prefix", encodeCursor("alloc:", "res_1")},
		{"another prefix that ends like ours", encodeCursor("xres:", "res_1")},
		{"prefix in another case", b64([]byte("RES:res_1"))},
		{"prefix without its colon", b64([]byte("resres_1"))},
		{"prefix not at the start", b64([]byte(" res:res_1"))},
		{"no prefix", b64([]byte("res_1"))},
		{"padded standard base64", base64.StdEncoding.EncodeToString([]byte("res:res_1x"))},
		{"standard alphabet", strings.ReplaceAll(strings.ReplaceAll(encodeCursor(cursorResPref, "\xfb\xff\xfe"), "-", "+"), "_", "/")},
		{"trailing garbage", encodeCursor(cursorResPref, "res_1") + "!"},
		{"whitespace around", " " + encodeCursor(cursorResPref, "res_1") + "\n"},
		{"too long", encodeCursor(cursorResPref, strings.Repeat("r", maxCursorBytes))},
		{"one byte too long", encodeCursor(cursorResPref, strings.Repeat("r", maxCursorBytes-len(cursorResPref)+1))},
		{"huge", strings.Repeat("A", 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCursor(cursorResPref, tt.give)
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("decodeCursor(%.40q) = %q, %v; want a %s error", tt.give, got, err, hub.EINVALID)
			}
			if got != "" {
				t.Errorf("a refused cursor yields %q", got)
			}
			if msg := hub.ErrorMessage(err); tt.give != "" && strings.Contains(msg, tt.give) {
				t.Errorf("message echoes the cursor: %q", msg)
			}
		})
	}
}

// FuzzDecodeCursor checks that decodeCursor never panics, accepts only
// cursors of its own prefix (refusing the rest with EINVALID), and that
// every id of a cursor's length round-trips.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range [][2]string{
		{encodeCursor(cursorResPref, "res_1"), "res_1"},
		{encodeCursor("alloc:", "a_1"), "a_1"},
		{"!!notbase64", ""},
		{"", "居民"},
		{"cmVzOg", "res:"},
		{"cmVzOmE=", "\x00\xff"},
		{strings.Repeat("A", 400), strings.Repeat("r", 300)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cursor, id string) {
		got, err := decodeCursor(cursorResPref, cursor)
		raw, rawErr := base64.RawURLEncoding.DecodeString(cursor)
		switch {
		case err != nil:
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("decodeCursor(%q): code %q, want %q", cursor, hub.ErrorCode(err), hub.EINVALID)
			}
			if got != "" {
				t.Fatalf("decodeCursor(%q) refused yet yields %q", cursor, got)
			}
			if rawErr == nil && strings.HasPrefix(string(raw), cursorResPref) && len(raw) <= maxCursorBytes {
				t.Fatalf("decodeCursor refused a well-formed cursor %q", cursor)
			}
		default:
			if rawErr != nil || !strings.HasPrefix(string(raw), cursorResPref) || len(raw) > maxCursorBytes {
				t.Fatalf("decodeCursor accepted %q (decoded %q, %v)", cursor, raw, rawErr)
			}
			if string(raw) != cursorResPref+got {
				t.Fatalf("decodeCursor(%q) = %q, want %q", cursor, got, strings.TrimPrefix(string(raw), cursorResPref))
			}
			if again, err := decodeCursor(cursorResPref, encodeCursor(cursorResPref, got)); err != nil || again != got {
				t.Fatalf("%q does not round-trip: %q, %v", got, again, err)
			}
		}

		c := encodeCursor(cursorResPref, id)
		back, err := decodeCursor(cursorResPref, c)
		if len(cursorResPref)+len(id) <= maxCursorBytes {
			if err != nil || back != id {
				t.Fatalf("decodeCursor(encodeCursor(%q)) = %q, %v", id, back, err)
			}
		} else if hub.ErrorCode(err) != hub.EINVALID {
			t.Fatalf("an overlong cursor for %d bytes of id: %q, %v", len(id), back, err)
		}
		// A cursor of any other kind is refused, whatever it holds.
		for _, other := range []string{"alloc:", "", "re", "RES:", "xres:"} {
			if strings.HasPrefix(other+id, cursorResPref) {
				continue
			}
			if got, err := decodeCursor(cursorResPref, encodeCursor(other, id)); hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("forged cursor %q+%q accepted as %q (%v)", other, id, got, err)
			}
		}
	})
}
