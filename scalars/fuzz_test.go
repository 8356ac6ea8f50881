package scalars

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// FuzzUnmarshalTime: any string either is refused or reads as an instant
// that MarshalTime writes back as the same instant.
func FuzzUnmarshalTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T08:00:00Z", "2026-11-23T08:00:00.123456789+08:00", "2020-02-29T23:59:59-00:30",
		"", "2026-11-23", "2026-11-23T25:00:00Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z",
		"2026-11-23T08:00:00+24:00", "2026-11-23t08:00:00z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := UnmarshalTime(s)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		MarshalTime(got).MarshalGQL(&buf)
		text, err := strconv.Unquote(buf.String())
		if err != nil {
			t.Fatalf("MarshalTime(%v) wrote %q, not a quoted string", got, buf.String())
		}
		back, err := UnmarshalTime(text)
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q read as %v, written as %q, read back as %v (%v)", s, got, text, back, err)
		}
	})
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
