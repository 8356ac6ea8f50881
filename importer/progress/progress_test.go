package progress_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/importer/progress"
)

// clock is a fake clock that moves only when told.
type clock struct{ t time.Time }

func newClock() *clock                   { return &clock{t: time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func checkContains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("output %q does not contain %q", s, sub)
	}
}

func TestTerminalRedrawsAtMostTenTimesASecond(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "residents", Total: 50_000, Terminal: true, Now: c.now})
	for range 50_000 {
		b.Add(1)
		c.advance(time.Millisecond / 5) // 50,000 items in 10 s
	}
	b.Finish()
	s := out.String()
	if n := strings.Count(s, "\r"); n < 90 || n > 102 {
		t.Errorf("%d redraws in 10 s, want about 100", n)
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("want one newline, at the end: %q", s[max(0, len(s)-200):])
	}
	last := s[strings.LastIndex(s, "\r"):]
	checkContains(t, last, "residents: 50,000/50,000 (100%) 5,000/s done in 10s")
}

func TestLinePerTenth(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "import", Total: 1000, Now: c.now})
	for range 1000 {
		b.Add(1)
		c.advance(time.Millisecond)
	}
	b.Finish()
	ls := lines(out.String())
	if len(ls) != 10 || strings.Contains(out.String(), "\r") {
		t.Fatalf("want 9 lines for 10 %%..90 %% and a final one, got %d:\n%s", len(ls), out.String())
	}
	checkContains(t, ls[0], "import: 100/1,000 (10%)")
	checkContains(t, ls[9], "import: 1,000/1,000 (100%) 1,000/s done in 1s")
}

func TestFractionWithoutTotal(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Now: c.now})
	for i := range 100 {
		b.SetFraction(float64(i+1) / 100)
		b.Set(int64(i + 1))
		c.advance(10 * time.Millisecond)
	}
	b.Finish()
	ls := lines(out.String())
	if len(ls) != 10 {
		t.Fatalf("got %d lines:\n%s", len(ls), out.String())
	}
	checkContains(t, ls[4], "50 (50%)")
}

func TestUnknownTotal(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Now: c.now})
	for range 25 {
		b.Add(1)
		c.advance(time.Second)
	}
	b.Finish()
	// A line every 10 s and the final one.
	if ls := lines(out.String()); len(ls) != 3 {
		t.Errorf("got %d lines:\n%s", len(ls), out.String())
	}
}

func TestNilBar(t *testing.T) {
	b := progress.New(nil, progress.Options{})
	b.Add(1)
	b.Set(2)
	b.SetFraction(0.5)
	b.Finish()
}

func TestGroup(t *testing.T) {
	tests := []struct {
		give int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {-12345, "-12,345"},
	}
	for _, tt := range tests {
		if got := progress.Group(tt.give); got != tt.want {
			t.Errorf("Group(%d) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
