// Package progress shows how far a long run has got (seeding the demo
// city, an import, a replay, a load): items done, of how many when known,
// percent, rate and time left.
//
// On a terminal it draws a live bar (github.com/vbauerster/mpb) redrawn in
// place. Anywhere else (a log file, a CI console, a pipe) it writes plain
// lines: one each time another tenth of the work is done, but no two
// within a second (a run of a second or less writes only its last line),
// one at least every ten seconds while work goes on (so a slow run still
// shows it is alive, and a run whose total is unknown is reported at all),
// and a last one when the run ends. Both modes read the same clock and
// print the same figures.
//
// The packages that do the work know nothing of this one: they take a
// callback of the shape of (*Bar).Update, func(done, total int64), and the
// command that runs them passes bar.Update.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/cwriter"
	"github.com/vbauerster/mpb/v8/decor"
)

// Mode chooses how progress is shown.
type Mode int

// The modes.
const (
	// Auto draws a live bar when the writer is a terminal and writes
	// plain lines otherwise.
	Auto Mode = iota
	// Live always draws the live bar.
	Live
	// Lines always writes plain lines.
	Lines
)

// Defaults of Options.
const (
	DefaultStep     = 0.1
	DefaultMinGap   = time.Second
	DefaultInterval = 10 * time.Second
	// redraw is the live bar's refresh interval and the least time
	// between two updates handed to it.
	redraw = 100 * time.Millisecond
)

// Options configure a Bar.
type Options struct {
	// Label names the work, e.g. "import residents".
	Label string
	// Total is the number of items expected, 0 when not known yet.
	Total int64
	// Mode is Auto unless set.
	Mode Mode
	// Step is the part of the total after which another plain line is
	// written: DefaultStep (a tenth) when zero.
	Step float64
	// MinGap is the least time between two plain lines written for
	// steps: DefaultMinGap when zero, none when negative.
	MinGap time.Duration
	// Interval is the longest time between two plain lines while work
	// goes on: DefaultInterval when zero.
	Interval time.Duration
	// Now is the clock of the rate and the plain lines; time.Now when nil.
	Now func() time.Time
}

// Bar reports the progress of one run. Its methods are safe for
// concurrent use. A nil *Bar does nothing, so that callers need not
// check.
//
// The run's clock starts at New, but nothing is shown before the first
// Update or Add: a run that turns out to have nothing to do (a demo city
// already seeded) shows nothing. Every Bar
// that was updated must be ended with Finish or Abort, which stop the live
// bar's goroutines; later calls of either do nothing, so `defer
// bar.Abort()` after New and `bar.Finish()` on success is the usual shape.
type Bar struct {
	w    io.Writer
	opts Options
	live bool

	mu       sync.Mutex
	start    time.Time
	started  bool
	ended    bool
	done     int64
	total    int64
	lastLine time.Time // plain mode: when the last line was written
	lastStep int       // plain mode: steps of the total reported so far
	lastPush time.Time // live mode: when the bar was last updated

	p     *mpb.Progress // live mode, once started
	bar   *mpb.Bar
	short atomic.Bool // live mode: finished short of the total
}

// New returns a bar writing to w; with a nil w it returns nil, a bar that
// shows nothing.
func New(w io.Writer, opts Options) *Bar {
	if w == nil {
		return nil
	}
	if opts.Step <= 0 || opts.Step > 1 {
		opts.Step = DefaultStep
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MinGap == 0 {
		opts.MinGap = DefaultMinGap
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	live := opts.Mode == Live || (opts.Mode == Auto && IsTerminal(w))
	now := opts.Now()
	return &Bar{w: w, opts: opts, live: live, total: max(opts.Total, 0), start: now, lastLine: now}
}

// IsTerminal reports whether w is a terminal, where a live bar makes
// sense.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && cwriter.IsTerminal(int(f.Fd()))
}

// Update records done items of total; a total of 0 or less leaves the
// total as it was. Its signature is the progress callback the working
// packages take.
func (b *Bar) Update(done, total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if total > 0 {
		b.total = total
	}
	b.done = done
	b.advance()
}

// Add records n more items done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.advance()
}

// Finish ends the run, which did all it was going to: a last line, or
// the live bar's last state, with the time the run took. A total that
// was an estimate and fell short is raised to the items done; a run that
// ended short of its total shows how far it got.
func (b *Bar) Finish() { b.end(false) }

// Abort ends the run where it stands, saying so.
func (b *Bar) Abort() { b.end(true) }

// Writer returns a writer for lines meant for whoever watches the run
// (a line per step of the work, say): on a terminal they are printed above
// the live bar, which stays at the bottom; otherwise they go to the Bar's
// writer as they are. Each Write should be whole lines.
func (b *Bar) Writer() io.Writer {
	if b == nil {
		return io.Discard
	}
	return lineWriter{b}
}

type lineWriter struct{ b *Bar }

func (lw lineWriter) Write(p []byte) (int, error) {
	b := lw.b
	b.mu.Lock()
	c := b.p
	if c == nil {
		defer b.mu.Unlock()
		return b.w.Write(p)
	}
	b.mu.Unlock()
	// Outside the lock: the live bar prints it at its next refresh.
	n, err := c.Write(p)
	if err == mpb.ErrDone {
		return b.w.Write(p)
	}
	return n, err
}

// advance shows the new state; b.mu is held.
func (b *Bar) advance() {
	if b.ended {
		return
	}
	now := b.opts.Now()
	if !b.started {
		b.started = true
		if b.live {
			b.startLive(now)
		}
	}
	if b.live {
		if now.Sub(b.lastPush) >= redraw || (b.total > 0 && b.done >= b.total) {
			b.push(now)
		}
		return
	}
	step := -1
	if b.total > 0 {
		steps := int64(math.Round(1 / b.opts.Step))
		step = int(min(b.done, b.total) * steps / b.total)
	}
	switch {
	case step > b.lastStep && b.done < b.total && now.Sub(b.lastLine) >= b.opts.MinGap:
		b.lastStep = step
	case now.Sub(b.lastLine) >= b.opts.Interval && (b.total == 0 || b.done < b.total):
		if step > b.lastStep {
			b.lastStep = step
		}
	default:
		return
	}
	b.lastLine = now
	fmt.Fprintln(b.w, b.line(now))
}

// end finishes or aborts the run.
func (b *Bar) end(abort bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.ended || !b.started {
		b.ended = true
		b.mu.Unlock()
		return
	}
	b.ended = true
	now := b.opts.Now()
	if !abort && b.total > 0 && b.done > b.total {
		b.total = b.done // an estimate fell short
	}
	// A run that ends short of its total (cut short by a deadline, say)
	// says so with its figures: done is not drawn as all.
	full := b.total == 0 || b.done >= b.total
	if !b.live {
		suffix := ", done in " + Duration(now.Sub(b.start))
		if abort {
			suffix = ", stopped after " + Duration(now.Sub(b.start))
		}
		fmt.Fprintln(b.w, b.line(now)+suffix)
		b.mu.Unlock()
		return
	}
	p, bar := b.p, b.bar
	b.push(now)
	b.mu.Unlock()
	switch {
	case !abort && full:
		bar.SetTotal(-1, true)
	case !abort:
		b.short.Store(true)
		bar.Abort(false)
	default:
		bar.Abort(false)
	}
	p.Wait()
	b.mu.Lock()
	b.p = nil
	b.mu.Unlock()
}

// startLive starts the live bar; b.mu is held.
func (b *Bar) startLive(now time.Time) {
	b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithAutoRefresh(), mpb.WithRefreshRate(redraw))
	var name []decor.Decorator
	if b.opts.Label != "" {
		name = append(name, decor.Name(b.opts.Label))
	}
	// The bar's own total stays open (0 at the start, then whatever is
	// known), so that it completes only when Finish says so.
	b.bar = b.p.New(0, mpb.BarStyle(), mpb.BarWidth(30),
		mpb.PrependDecorators(name...),
		mpb.AppendDecorators(decor.Any(b.figures)),
	)
	b.lastPush = now
}

// push hands the current state to the live bar; b.mu is held.
func (b *Bar) push(now time.Time) {
	b.lastPush = now
	if b.total > 0 {
		b.bar.SetTotal(b.total, false)
	}
	b.bar.SetCurrent(b.done)
}

// figures is the live bar's text after the bar itself. It runs on the
// live bar's goroutine, so it reads the bar's own figures and never b.mu
// (which is held while the bar is updated).
func (b *Bar) figures(s decor.Statistics) string {
	elapsed := b.opts.Now().Sub(b.start)
	text := counts(s.Current, s.Total, elapsed, s.Completed || s.Aborted)
	switch {
	case s.Completed, s.Aborted && b.short.Load():
		text += ", done in " + Duration(elapsed)
	case s.Aborted:
		text += ", stopped after " + Duration(elapsed)
	}
	return text
}

// line is a plain line: the label, then the figures; b.mu is held.
func (b *Bar) line(now time.Time) string {
	text := counts(b.done, b.total, now.Sub(b.start), b.ended)
	if b.opts.Label == "" {
		return text
	}
	return b.opts.Label + ": " + text
}

// counts returns "25,172/50,343 (50%) 36,700/s, eta 1s": done, of total
// when known, the rate over elapsed, and the time left unless ended.
func counts(done, total int64, elapsed time.Duration, ended bool) string {
	var sb strings.Builder
	sb.WriteString(Group(done))
	if total > 0 {
		sb.WriteString("/")
		sb.WriteString(Group(total))
		fmt.Fprintf(&sb, " (%d%%)", min(100, 100*done/total))
	}
	if elapsed <= 0 {
		return sb.String()
	}
	rate := float64(done) / elapsed.Seconds()
	sb.WriteString(" ")
	sb.WriteString(Group(int64(rate + 0.5)))
	sb.WriteString("/s")
	if total > done && rate > 0 && !ended {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		sb.WriteString(", eta ")
		sb.WriteString(Duration(eta))
	}
	return sb.String()
}

// Duration formats d for a person: 850ms, 4.2s, 1m5s, 2h3m.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
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
