package progress_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/progress"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestLinesEveryTenth(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "seed taipei", Total: 1000, Now: c.now})
	for range 1000 {
		c.advance(10 * time.Millisecond)
		b.Add(1)
	}
	b.Finish()
	b.Finish() // a second end does nothing
	b.Abort()
	ls := lines(out.String())
	want := []string{
		"seed taipei: 100/1,000 (10%) 100/s, eta 9s",
		"seed taipei: 200/1,000 (20%) 100/s, eta 8s",
	}
	if len(ls) != 10 || strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "\x1b") {
		t.Fatalf("want 9 plain lines for 10%%..90%% and a last one, got %d:\n%s", len(ls), out.String())
	}
	for i, w := range want {
		if ls[i] != w {
			t.Errorf("line %d = %q, want %q", i, ls[i], w)
		}
	}
	if got, want := ls[9], "seed taipei: 1,000/1,000 (100%) 100/s, done in 10s"; got != want {
		t.Errorf("last line = %q, want %q", got, want)
	}
}

func TestShortRunWritesItsLastLineOnly(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "import pharmacies", Total: 300, Now: c.now})
	for range 300 {
		c.advance(time.Millisecond / 2)
		b.Add(1)
	}
	b.Finish()
	if got, want := out.String(), "import pharmacies: 300/300 (100%) 2,000/s, done in 150ms\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLinesAtLeastEveryInterval(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	// 100 items in 100 s: a tenth every 10 s, and a line every 4 s.
	b := progress.New(&out, progress.Options{Label: "replay", Total: 100, Interval: 4 * time.Second, Now: c.now})
	for range 100 {
		c.advance(time.Second)
		b.Add(1)
	}
	b.Finish()
	ls := lines(out.String())
	// Lines at 4, 8, 10, 14, 18, 20, ... s: 9 tenths, 2 timed lines in
	// each of the 10 tenths but the last (which ends with the Finish
	// line), so 9 + 2*9 + 2 + 1 = 30, give or take a boundary.
	if len(ls) < 25 || len(ls) > 31 {
		t.Errorf("%d lines:\n%s", len(ls), out.String())
	}
	if !strings.HasPrefix(ls[0], "replay: 4/100 (4%) 1/s, eta 1m36s") {
		t.Errorf("first line %q", ls[0])
	}
}

func TestLinesUnknownTotal(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "import", Now: c.now})
	for range 25 {
		c.advance(time.Second)
		b.Add(10)
	}
	b.Finish()
	ls := lines(out.String())
	want := []string{"import: 100 10/s", "import: 200 10/s", "import: 250 10/s, done in 25s"}
	if fmt.Sprint(ls) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", ls, want)
	}
}

func TestLinesTotalLearnedLater(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "import", Now: c.now})
	for i := range 100 {
		c.advance(time.Second)
		b.Update(int64(i+1), 100) // the caller estimates the total as it goes
	}
	b.Finish()
	ls := lines(out.String())
	if len(ls) != 10 || ls[4] != "import: 50/100 (50%) 1/s, eta 50s" {
		t.Errorf("got %d lines:\n%s", len(ls), out.String())
	}
}

func TestAbort(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "seed", Total: 1000, Now: c.now})
	c.advance(2 * time.Second)
	b.Update(50, 0)
	b.Abort()
	b.Finish()
	if got, want := out.String(), "seed: 50/1,000 (5%) 25/s, stopped after 2s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFinishShortOfTheTotal(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "subscribe", Total: 20_000, Now: c.now})
	c.advance(500 * time.Millisecond)
	b.Add(5000) // then a deadline cut the run short
	b.Finish()
	if got, want := out.String(), "subscribe: 5,000/20,000 (25%) 10,000/s, done in 500ms\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNothingShownWithoutWork(t *testing.T) {
	var out bytes.Buffer
	b := progress.New(&out, progress.Options{Label: "seed", Total: 10})
	b.Finish()
	if out.Len() != 0 {
		t.Errorf("a bar never updated wrote %q", out.String())
	}
}

func TestWriterPassesLinesThrough(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := progress.New(&out, progress.Options{Label: "replay", Total: 1, Now: c.now})
	fmt.Fprintln(b.Writer(), "snapshot 1/2")
	c.advance(time.Second)
	b.Add(1)
	b.Finish()
	if got := lines(out.String()); got[0] != "snapshot 1/2" || !strings.HasPrefix(got[1], "replay: 1/1 (100%)") {
		t.Errorf("got %q", got)
	}
}

func TestNilBar(t *testing.T) {
	b := progress.New(nil, progress.Options{})
	b.Add(1)
	b.Update(2, 3)
	fmt.Fprintln(b.Writer(), "nowhere")
	b.Finish()
	b.Abort()
	update := b.Update // what a command hands a working package
	update(1, 1)
}

func TestConcurrentUpdates(t *testing.T) {
	var out bytes.Buffer
	b := progress.New(&out, progress.Options{Label: "load", Total: 8000})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Finish()
	ls := lines(out.String())
	if last := ls[len(ls)-1]; !strings.HasPrefix(last, "load: 8,000/8,000 (100%)") {
		t.Errorf("last line %q", last)
	}
}

// TestLive draws the live bar into a buffer (forced: a buffer is not a
// terminal) and checks that it ends, with its figures.
func TestLive(t *testing.T) {
	tests := []struct {
		name  string
		end   func(b *progress.Bar)
		wants []string
	}{
		{"finished", func(b *progress.Bar) { b.Add(100); b.Finish() }, []string{"500/500 (100%)", "done in"}},
		{"finished short", func(b *progress.Bar) { b.Finish() }, []string{"400/500 (80%)", "done in"}},
		{"aborted", func(b *progress.Bar) { b.Abort() }, []string{"400/500 (80%)", "stopped after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			b := progress.New(&out, progress.Options{Label: "seed taipei", Total: 500, Mode: progress.Live})
			for range 400 {
				b.Add(1)
			}
			fmt.Fprintln(b.Writer(), "a line above the bar")
			tt.end(b)
			s := out.String()
			for _, w := range append(tt.wants, "seed taipei [", "a line above the bar") {
				if !strings.Contains(s, w) {
					t.Errorf("live output lacks %q:\n%q", w, s)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the live bar's goroutine and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{850 * time.Millisecond, "850ms"},
		{4240 * time.Millisecond, "4.2s"},
		{65 * time.Second, "1m5s"},
		{2*time.Hour + 3*time.Minute + 10*time.Second, "2h3m"},
	}
	for _, tt := range tests {
		if got := progress.Duration(tt.give); got != tt.want {
			t.Errorf("Duration(%s) = %q, want %q", tt.give, got, tt.want)
		}
	}
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
