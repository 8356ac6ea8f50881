// Package progress draws a one-line progress report for long runs (imports,
// demo seeding): items done, of how many when known, percent, and rate.
//
// On a terminal the line is redrawn in place with a carriage return, at most
// ten times a second. Elsewhere (a log file, a CI console) it writes a plain
// line each time another tenth of the work is done, or every ten seconds
// when the total is unknown, so logs stay short.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Redraw is the shortest interval between two redraws on a terminal.
const Redraw = 100 * time.Millisecond

// quietInterval is how often a line is written when neither the total nor
// a fraction is known and the writer is not a terminal.
const quietInterval = 10 * time.Second

// Options configure a Bar.
type Options struct {
	// Label names the work, e.g. "residents".
	Label string
	// Total is the number of items expected, 0 when unknown.
	Total int64
	// Terminal redraws one line with \r; otherwise a line per 10 %.
	Terminal bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Bar reports the progress of one run. A nil *Bar, or one made with a nil
// writer, does nothing, so callers need not check. A Bar is not safe for
// concurrent use.
type Bar struct {
	w        io.Writer
	opts     Options
	start    time.Time
	last     time.Time // last draw
	done     int64
	frac     float64 // fraction done from another measure (bytes), or -1
	decile   int     // last tenth written in line mode
	drawn    bool    // something is on the terminal line
	finished bool
}

// New returns a bar writing to w; with a nil w it returns nil.
func New(w io.Writer, opts Options) *Bar {
	if w == nil {
		return nil
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	now := opts.Now()
	return &Bar{w: w, opts: opts, start: now, last: now, frac: -1}
}

// IsTerminal reports whether w is a character device (a terminal), the
// case where a redrawn line makes sense.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Add records n more items done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.done += n
	b.tick()
}

// Set records the number of items done so far.
func (b *Bar) Set(done int64) {
	if b == nil {
		return
	}
	b.done = done
	b.tick()
}

// SetFraction records the fraction of the work done as measured otherwise
// than by items (bytes of input read, say), for runs whose item total is
// unknown. It is clamped to [0, 1] and drives the percent and the tenths.
func (b *Bar) SetFraction(f float64) {
	if b == nil {
		return
	}
	b.frac = min(max(f, 0), 1)
}

// Finish draws the final line, ending it with a newline. Later calls do
// nothing.
func (b *Bar) Finish() {
	if b == nil || b.finished {
		return
	}
	b.finished = true
	b.frac = -1
	if b.opts.Total == 0 || b.done >= b.opts.Total {
		b.frac = 1
	}
	now := b.opts.Now()
	line := b.line(now) + " done in " + now.Sub(b.start).Round(100*time.Millisecond).String()
	if b.opts.Terminal {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

func (b *Bar) tick() {
	if b.finished {
		return
	}
	now := b.opts.Now()
	if b.opts.Terminal {
		if b.drawn && now.Sub(b.last) < Redraw {
			return
		}
		b.last, b.drawn = now, true
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(now))
		return
	}
	f := b.fraction()
	if f < 0 {
		if now.Sub(b.last) >= quietInterval {
			b.last = now
			fmt.Fprintln(b.w, b.line(now))
		}
		return
	}
	// Tenths reached; 100 % is left to Finish.
	if d := int(f * 10); d > b.decile && d < 10 {
		b.decile = d
		b.last = now
		fmt.Fprintln(b.w, b.line(now))
	}
}

// fraction returns the part of the work done, or -1 when unknown.
func (b *Bar) fraction() float64 {
	switch {
	case b.opts.Total > 0:
		return min(float64(b.done)/float64(b.opts.Total), 1)
	case b.frac >= 0:
		return b.frac
	}
	return -1
}

func (b *Bar) line(now time.Time) string {
	var sb strings.Builder
	if b.opts.Label != "" {
		sb.WriteString(b.opts.Label)
		sb.WriteString(": ")
	}
	sb.WriteString(Group(b.done))
	if b.opts.Total > 0 {
		sb.WriteString("/")
		sb.WriteString(Group(b.opts.Total))
	}
	if f := b.fraction(); f >= 0 {
		fmt.Fprintf(&sb, " (%.0f%%)", f*100)
	}
	if secs := now.Sub(b.start).Seconds(); secs > 0 {
		fmt.Fprintf(&sb, " %s/s", Group(int64(float64(b.done)/secs)))
	}
	return sb.String()
}

// Group formats n with thousands separators: 12345 -> "12,345".
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var sb strings.Builder
	if neg {
		sb.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(c)
	}
	return sb.String()
}
