package scalars

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// FuzzUnmarshalTime: any string either is refused with a BAD_USER_INPUT
// (EINVALID) error, or is RFC 3339 and reads as an instant in the hub's
// range that MarshalTime writes as RFC 3339 and reads back as the same
// instant. testdata/fuzz/FuzzUnmarshalTime keeps what the fuzzer found.
func FuzzUnmarshalTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T08:00:00Z", "2026-11-23T08:00:00.123456789+08:00", "2020-02-29T23:59:59-00:30",
		"", "2026-11-23", "2026-11-23T25:00:00Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z",
		"2026-11-23T08:00:00+24:00", "2026-11-23t08:00:00z", "2026-11-23T8:00:00Z", "2026-11-23T08:00:00,5Z",
		"1970-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
		"1970-01-01T07:59:59.999999999+08:00", "2026-11-23T08:00:60Z", "2026-11-23T08:00:00.1234567891Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := UnmarshalTime(s)
		if err != nil {
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("%q refused with code %q, not %q: %v", s, hub.ErrorCode(err), hub.EINVALID, err)
			}
			return
		}
		if !rfc3339.MatchString(s) {
			t.Fatalf("%q is not RFC 3339 but was read as %v", s, got)
		}
		if hub.CheckTime("Time", got) != nil {
			t.Fatalf("%q read as %v, outside the hub's range", s, got)
		}
		text := writeTime(t, got)
		back, err := UnmarshalTime(text)
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q read as %v, written as %q, read back as %v (%v)", s, got, text, back, err)
		}
	})
}

// FuzzMarshalTime: every instant of the hub's range is written as RFC 3339
// and read back as the same instant, whatever its zone.
func FuzzMarshalTime(f *testing.F) {
	f.Add(int64(0), int32(0))
	f.Add(int64(1<<63-1), int32(8*3600))
	f.Add(int64(1764000000)*1e9+999999999, int32(-(12*3600 + 30*60)))
	f.Fuzz(func(t *testing.T, ns int64, offset int32) {
		if ns < 0 {
			ns = -(ns + 1)
		}
		in := time.Unix(0, ns).In(time.FixedZone("", int(offset%(24*3600))))
		text := writeTime(t, in)
		if !rfc3339.MatchString(text) {
			t.Fatalf("%v written as %q, not RFC 3339", in, text)
		}
		back, err := UnmarshalTime(text)
		if err != nil || !back.Equal(in) {
			t.Fatalf("%v written as %q, read back as %v (%v)", in, text, back, err)
		}
	})
}

// rfc3339 is RFC 3339's date-time (section 5.6) as a regular expression,
// the grammar without the calendar's and the hub's ranges.
var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// writeTime returns the text MarshalTime writes for tm, unquoted.
func writeTime(t *testing.T, tm time.Time) string {
	t.Helper()
	var buf bytes.Buffer
	MarshalTime(tm).MarshalGQL(&buf)
	text, err := strconv.Unquote(buf.String())
	if err != nil {
		t.Fatalf("MarshalTime(%v) wrote %q, not a quoted string", tm, buf.String())
	}
	return text
}

// FuzzUnmarshalH3Cell: any string either is refused or reads as a cell
// that MarshalH3Cell writes back as the same cell.
func FuzzUnmarshalH3Cell(f *testing.F) {
	for _, s := range []string{
		"8928308280fffff", "8928308280FFFFF", "894ba0a408fffff", "000000000000000", "", "xyz",
		"8f2830828052d25", "802bfffffffffff", "8928308280fffff0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := UnmarshalH3Cell(s)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		MarshalH3Cell(c).MarshalGQL(&buf)
		text, err := strconv.Unquote(buf.String())
		if err != nil {
			t.Fatalf("MarshalH3Cell(%v) wrote %q, not a quoted string", c, buf.String())
		}
		back, err := UnmarshalH3Cell(text)
		if err != nil || back != c {
			t.Fatalf("%q read as %v, written as %q, read back as %v (%v)", s, c, text, back, err)
		}
	})
}

func TestUnmarshalRejectsNonStrings(t *testing.T) {
	if _, err := UnmarshalTime(12); err == nil {
		t.Error("a number was read as a Time")
	}
	if _, err := UnmarshalH3Cell(int64(0x8928308280fffff)); err == nil {
		t.Error("a number was read as an H3Cell")
	}
	if _, err := UnmarshalTime(time.Now().Format(time.RFC3339)); err != nil {
		t.Errorf("RFC 3339 refused: %v", err)
	}
}
