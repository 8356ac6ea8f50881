package scalars

import (
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// TestParseTimeRefusesWhatGoReadsLoosely: texts that are not RFC 3339,
// or name an instant the hub cannot store, which Go's time.Parse with
// time.RFC3339Nano reads all the same, are refused with BAD_USER_INPUT.
// The test checks that each is still read by time.Parse (a member of the
// class), and fails if none is.
func TestParseTimeRefusesWhatGoReadsLoosely(t *testing.T) {
	var tests []struct{ give, want string }
	add := func(want string, gives ...string) {
		for _, g := range gives {
			tests = append(tests, struct{ give, want string }{g, want})
		}
	}
	// A one-digit hour, for every such hour, with Z, an offset and a
	// fraction.
	for h := range 10 {
		d := string(rune('0' + h))
		add("hour must be 2 digits",
			"2026-11-23T"+d+":00:00Z", "2026-11-23T"+d+":59:59+08:00", "2026-11-23T"+d+":30:00.5-05:00",
			"2026-11-23T"+d+":00:00.123456789Z")
	}
	// A comma before the fraction.
	add("the time must end in Z",
		"2026-11-23T08:00:00,5Z", "2026-11-23T08:00:00,123456789Z", "2026-11-23T08:00:00,0+08:00",
		"2026-11-23T08:00:00,999999999-00:30", "2020-02-29T23:59:59,1Z")
	// An offset of 24 hours, or of 60 minutes.
	add("the offset must be",
		"2026-11-23T08:00:00+24:00", "2026-11-23T08:00:00-24:00", "2026-11-23T08:00:00+23:60",
		"2026-11-23T08:00:00.5+24:00", "2026-11-23T08:00:00-00:60")
	// Finer than a nanosecond.
	add("at most 9 digits",
		"2026-11-23T08:00:00.1234567891Z", "2026-11-23T08:00:00.0000000000Z",
		"2026-11-23T08:00:00."+strings.Repeat("9", 40)+"+08:00")
	// Outside the hub's range, written correctly.
	add("outside 1970-01-01 to 2262-04-11",
		"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
		"1970-01-01T07:59:59+08:00", "2262-04-11T23:47:16.854775808Z", "2262-04-12T00:00:00Z",
		"9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999-23:59")
	// The fuzzer's find: year 0, a one-digit hour, a comma.
	add("hour must be 2 digits", "0000-01-01T0:00:00,00000+01:00")

	members := 0
	for _, tt := range tests {
		if _, err := time.Parse(time.RFC3339Nano, tt.give); err == nil {
			members++
		} else {
			t.Logf("%q: time.Parse refuses it now (%v)", tt.give, err)
		}
		got, err := UnmarshalTime(tt.give)
		if err == nil {
			t.Errorf("UnmarshalTime(%q) = %v, want a refusal", tt.give, got)
			continue
		}
		if code := hub.ErrorCode(err); code != hub.EINVALID {
			t.Errorf("UnmarshalTime(%q): code %q, want %q (%v)", tt.give, code, hub.EINVALID, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("UnmarshalTime(%q) = %q, want it to say %q", tt.give, err, tt.want)
		}
	}
	if members < len(tests)/2 {
		t.Errorf("time.Parse reads only %d of %d: the table no longer tests its class", members, len(tests))
	}
}

// TestParseTimeReadsRFC3339: the forms RFC 3339 allows, within the hub's
// range, read as the instant they name.
func TestParseTimeReadsRFC3339(t *testing.T) {
	tests := []struct {
		give string
		want time.Time
	}{
		{"2026-11-23T08:00:00Z", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"2026-11-23t08:00:00z", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"2026-11-23T08:00:00.5Z", time.Date(2026, 11, 23, 8, 0, 0, 5e8, time.UTC)},
		{"2026-11-23T08:00:00.000000001Z", time.Date(2026, 11, 23, 8, 0, 0, 1, time.UTC)},
		{"2026-11-23T08:00:00.123456789+08:00", time.Date(2026, 11, 23, 0, 0, 0, 123456789, time.UTC)},
		{"2026-11-23T08:00:00-00:00", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"2026-11-23T08:00:00+23:59", time.Date(2026, 11, 22, 8, 1, 0, 0, time.UTC)},
		{"2026-11-23T08:00:00-23:59", time.Date(2026, 11, 24, 7, 59, 0, 0, time.UTC)},
		{"2020-02-29T23:59:59-00:30", time.Date(2020, 3, 1, 0, 29, 59, 0, time.UTC)},
		{"1970-01-01T00:00:00Z", time.Unix(0, 0)},
		{"1970-01-01T08:00:00+08:00", time.Unix(0, 0)},
		{"2262-04-11T23:47:16.854775807Z", time.Unix(0, 1<<63-1)},
	}
	for _, tt := range tests {
		got, err := UnmarshalTime(tt.give)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("UnmarshalTime(%q) = %v, %v; want %v", tt.give, got, err, tt.want)
		}
	}
}

// TestParseTimeRefusesMalformed: texts no reading of RFC 3339 allows are
// refused with BAD_USER_INPUT and a message that says what is wrong.
func TestParseTimeRefusesMalformed(t *testing.T) {
	tests := []struct{ give, want string }{
		{"", "ends before the year"},
		{"2026-11-23", `"T" must follow the day`},
		{"2026-11-23T", "ends before the hour"},
		{"2026-11-23T08:00:0", "second must be 2 digits"},
		{"2026-11-23T08:00:00", "end in Z or an offset"},
		{"2026-11-23 08:00:00Z", `"T" must follow the day`},
		{"2026/11/23T08:00:00Z", `"-" must follow the year`},
		{"2026-1-23T08:00:00Z", "month must be 2 digits"},
		{"2026-13-23T08:00:00Z", "month must be 01 to 12"},
		{"2026-00-23T08:00:00Z", "month must be 01 to 12"},
		{"2026-11-00T08:00:00Z", "day must be 01 to 31"},
		{"2026-11-31T08:00:00Z", "2026-11 has 30 days"},
		{"2026-02-29T08:00:00Z", "2026-02 has 28 days"},
		{"2100-02-29T08:00:00Z", "2100-02 has 28 days"},
		{"2026-11-23T24:00:00Z", "hour must be 00 to 23"},
		{"2026-11-23T08:60:00Z", "minute must be 00 to 59"},
		{"2026-11-23T23:59:60Z", "leap second"},
		{"2026-11-23T08:00:00.Z", "needs a digit"},
		{"2026-11-23T08:00:00.+08:00", "needs a digit"},
		{"2026-11-23T08:00:00+0800", "end in Z or an offset"},
		{"2026-11-23T08:00:00+08", "end in Z or an offset"},
		{"2026-11-23T08:00:00+08:00:00", "end in Z or an offset"},
		{"2026-11-23T08:00:00UTC", "end in Z or an offset"},
		{"2026-11-23T08:00:00Z ", "end in Z or an offset"},
		{" 2026-11-23T08:00:00Z", "year must be 4 digits"},
		{"+2026-11-23T08:00:00Z", "year must be 4 digits"},
		{"２026-11-23T08:00:00Z", "year must be 4 digits"},
		{"2026-11-23T08:00:00.١Z", "needs a digit"},
		{"2026-11-23T08:00:00+8:00", "end in Z or an offset"},
		{"2026-11-23T08:00:00+0a:00", "the offset must be"},
	}
	for _, tt := range tests {
		got, err := UnmarshalTime(tt.give)
		if err == nil {
			t.Errorf("UnmarshalTime(%q) = %v, want a refusal", tt.give, got)
			continue
		}
		if code := hub.ErrorCode(err); code != hub.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("UnmarshalTime(%q) = %s %q, want %s saying %q", tt.give, code, err, hub.EINVALID, tt.want)
		}
	}
}
