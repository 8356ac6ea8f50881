package main

// launchday: the table of issue 17 ("Launch day at default settings")
// from the reports of one loadtest/launchday.sh run. The script runs each
// row's load against a hub of its own and writes each report as JSON in
// one directory; this command reads them, sets each row beside its
// same-run baseline and its goal, and prints one table.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/cli"
)

// The goals of issue 17, each row's.
const (
	goalOfBest        = 0.9  // b, c: acknowledged/s over best's
	goalP99At64       = 50.0 // c: ms
	goalCPUPerReserve = 160  // d: hub µs per reservation
	goalOfTrivial     = 0.7  // d: reserve throughput over the trivial query's
	goalOfBase        = 2.0  // d: reserve throughput over the base build's
	goalBroadcastP99  = 100  // e: ms, stock write to receipt, shared
	goalPerDelivery   = 10   // e: hub µs per delivery, shared
	goalIdleKiB       = 16   // f: RssAnon per idle subscriber
)

// The statuses of a goal and of a row.
const (
	statusMet       = "MET"
	statusNotMet    = "NOT MET"
	statusNoData    = "NO DATA"
	statusReference = "REFERENCE"
)

// launchRows are the rows in order; LaunchDayInput.Rows picks some.
var launchRows = []string{"a", "b", "c", "d", "e", "f"}

// ReservePair is one pair of row d: the closed crowd on the base build,
// then on the current one.
type ReservePair struct {
	Base    *ReserveReport `json:"base"`
	Current *ReserveReport `json:"current"`
}

// LaunchDayInput is what one launch-day run produced: a report per load,
// nil where the load failed (Failures says why, by run name) or was not
// run.
type LaunchDayInput struct {
	Rows    []string // the rows asked for, a..f
	Rev     string   // the current build's git revision
	BaseRev string   // row d's base build's

	A, B, C   *ReserveReport
	Pairs     []ReservePair
	EShared   *SubscribersReport
	EUnshared *SubscribersReport
	F         *SubscribersReport
	// Failures says, by run name (a, d-base-1, e-shared, ...), why a
	// run has no report.
	Failures map[string]string
}

// Goal is one goal of a row and how the run measured against it.
type Goal struct {
	Name   string  `json:"name"`
	Op     string  `json:"op"` // ">=" or "<="
	Want   float64 `json:"want"`
	Got    float64 `json:"got"`
	Unit   string  `json:"unit,omitempty"`
	Status string  `json:"status"` // MET, NOT MET, NO DATA
}

// String writes the goal as "name >= want unit: got".
func (g Goal) String() string {
	s := fmt.Sprintf("%s %s %s%s", g.Name, g.Op, num(g.Want), g.Unit)
	if g.Status == statusNoData {
		return s + ": no data"
	}
	return fmt.Sprintf("%s: %s", s, num(g.Got))
}

// LaunchRow is one row of the table.
type LaunchRow struct {
	Row      string     `json:"row"`
	What     string     `json:"what"`
	Measured string     `json:"measured"`
	Baseline string     `json:"baseline"`
	Ratio    string     `json:"ratio"`
	Goals    []Goal     `json:"goals"`
	Status   string     `json:"status"`
	LoadAvg  [3]float64 `json:"loadavg"` // at the start of its run(s)
	Date     string     `json:"date"`
	Rev      string     `json:"rev"`
	Notes    []string   `json:"notes,omitempty"`
	// Figures are the row's numbers by name, for scripts.
	Figures map[string]float64 `json:"figures,omitempty"`
}

// LaunchDayTable is the whole table.
type LaunchDayTable struct {
	Date    string      `json:"date"`
	Rev     string      `json:"rev"`
	BaseRev string      `json:"base_rev"`
	Rows    []LaunchRow `json:"rows"`
}

// goalAtLeast and goalAtMost make a goal; ok false means no data.
func goalAtLeast(name string, got, want float64, unit string, ok bool) Goal {
	return makeGoal(name, ">=", got, want, unit, ok, got >= want)
}

func goalAtMost(name string, got, want float64, unit string, ok bool) Goal {
	return makeGoal(name, "<=", got, want, unit, ok, got <= want)
}

func makeGoal(name, op string, got, want float64, unit string, ok, met bool) Goal {
	g := Goal{Name: name, Op: op, Want: want, Got: got, Unit: unit, Status: statusNotMet}
	switch {
	case !ok:
		g.Got, g.Status = 0, statusNoData
	case met:
		g.Status = statusMet
	}
	return g
}

// rowStatus is NOT MET when any goal is not met, else NO DATA when any
// has no data, else MET; a row without goals is the reference (or has no
// data).
func rowStatus(goals []Goal, haveData bool) string {
	if len(goals) == 0 {
		if haveData {
			return statusReference
		}
		return statusNoData
	}
	st := statusMet
	for _, g := range goals {
		switch g.Status {
		case statusNotMet:
			return statusNotMet
		case statusNoData:
			st = statusNoData
		}
	}
	return st
}

// crowdFigures are the figures of a reserve run's closed crowd.
type crowdFigures struct {
	ok          bool
	ackedPerSec float64
	refused     int
	failed      int // neither acknowledged nor refused
	p99         time.Duration
	cpuPerAck   float64 // hub µs per acknowledged reservation
	trivial     float64 // trivial queries/s, same run
	cpuPerTriv  float64 // hub µs per trivial query
	workers     int
	loadAvg     [3]float64
	date        string
}

// crowd returns the figures of r's first closed phase (its first phase
// if none is closed).
func crowd(r *ReserveReport) crowdFigures {
	if r == nil || len(r.Phases) == 0 {
		return crowdFigures{}
	}
	ph := r.Phases[0]
	for _, p := range r.Phases {
		if p.Phase.Closed {
			ph = p
			break
		}
	}
	return crowdFigures{
		ok:          ph.Acked > 0,
		ackedPerSec: ph.AckedPerSec,
		refused:     ph.Refused,
		failed:      max(0, ph.Sent-ph.Acked-ph.Refused),
		p99:         ph.Latency.P99,
		cpuPerAck:   ratio(ph.HubCores*1e6, ph.AckedPerSec),
		trivial:     r.Trivial.PerSec,
		cpuPerTriv:  ratio(r.Trivial.ServerCores*1e6, r.Trivial.PerSec),
		workers:     r.Config.Concurrency,
		loadAvg:     r.LoadAvgStart,
		date:        r.Date,
	}
}

// describe writes a crowd's figures for the Measured column.
func (f crowdFigures) describe() string {
	s := fmt.Sprintf("%s acknowledged/s, %d refused, p99 %s; hub %s µs a reservation",
		num(f.ackedPerSec), f.refused, ms(f.p99), num(f.cpuPerAck))
	if f.failed > 0 {
		s += fmt.Sprintf("; %d other failures", f.failed)
	}
	return s
}

// BuildLaunchDay sets each row of in beside its baseline and goals.
// It is pure: every figure comes from in.
func BuildLaunchDay(in LaunchDayInput) LaunchDayTable {
	t := LaunchDayTable{Rev: in.Rev, BaseRev: in.BaseRev}
	asked := in.Rows
	if len(asked) == 0 {
		asked = launchRows
	}
	best := crowd(in.A)
	for _, id := range launchRows {
		if !slices.Contains(asked, id) {
			continue
		}
		var row LaunchRow
		switch id {
		case "a":
			row = rowBest(in, best)
		case "b":
			row = rowDefaults(in, "b", in.B, best, false)
		case "c":
			row = rowDefaults(in, "c", in.C, best, true)
		case "d":
			row = rowCost(in)
		case "e":
			row = rowBroadcast(in)
		case "f":
			row = rowIdle(in)
		}
		if row.Rev == "" {
			row.Rev = in.Rev
		}
		row.Notes = append(row.Notes, failedWithReport(in, id, row.Notes)...)
		if t.Date == "" || (row.Date != "" && row.Date < t.Date) {
			t.Date = row.Date
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// missing returns the note for a run without a report.
func missing(in LaunchDayInput, run string) string {
	if why := in.Failures[run]; why != "" {
		return fmt.Sprintf("run %s failed: %s", run, why)
	}
	return fmt.Sprintf("run %s has no report", run)
}

// crowdMissing returns the note for a reserve run r without figures:
// no report, or one that acknowledged nothing (then its outcomes).
func crowdMissing(in LaunchDayInput, run string, r *ReserveReport) string {
	if r == nil {
		return missing(in, run)
	}
	if len(r.Phases) == 0 {
		return fmt.Sprintf("run %s has a report without a phase", run)
	}
	return fmt.Sprintf("run %s acknowledged no reservation: %s", run, formatKinds(r.Phases[0].Outcomes))
}

// failedWithReport returns a note for each run of row id that failed
// and has none yet in notes: a run that wrote a report before it failed.
func failedWithReport(in LaunchDayInput, id string, notes []string) []string {
	var runs []string
	for run := range in.Failures {
		if run == id || strings.HasPrefix(run, id+"-") {
			runs = append(runs, run)
		}
	}
	slices.Sort(runs)
	var out []string
	for _, run := range runs {
		if !slices.Contains(notes, missing(in, run)) {
			out = append(out, fmt.Sprintf("run %s ended with an error after its report: %s", run, in.Failures[run]))
		}
	}
	return out
}

func rowBest(in LaunchDayInput, best crowdFigures) LaunchRow {
	row := LaunchRow{Row: "a", What: "reserve, 512 clients, hub with --max-in-flight 512: best (the reference)"}
	if !best.ok {
		row.Notes = append(row.Notes, crowdMissing(in, "a", in.A))
		row.Status = statusNoData
		return row
	}
	row.What = fmt.Sprintf("reserve, %d clients, hub with --max-in-flight 512: best (the reference)", best.workers)
	row.Measured = best.describe()
	row.Baseline = fmt.Sprintf("trivial query %s/s, hub %s µs each", num(best.trivial), num(best.cpuPerTriv))
	row.Ratio = fmt.Sprintf("%s of the trivial query's throughput", num(ratio(best.ackedPerSec, best.trivial)))
	row.Status = rowStatus(nil, true)
	row.LoadAvg, row.Date = best.loadAvg, best.date
	row.Figures = map[string]float64{"acked_per_sec": best.ackedPerSec, "p99_ms": msf(best.p99), "trivial_per_sec": best.trivial}
	return row
}

// rowDefaults is row b (512 clients) or c (64 clients, with a p99 goal):
// the hub at its defaults against best.
func rowDefaults(in LaunchDayInput, id string, r *ReserveReport, best crowdFigures, p99Goal bool) LaunchRow {
	f := crowd(r)
	clients := 512
	if p99Goal {
		clients = 64
	}
	if f.ok {
		clients = f.workers
	}
	row := LaunchRow{Row: id, What: fmt.Sprintf("reserve, %d clients, hub at defaults", clients)}
	got := ratio(f.ackedPerSec, best.ackedPerSec)
	row.Goals = append(row.Goals, goalAtLeast("acknowledged/s / best (a)", got, goalOfBest, "", f.ok && best.ok))
	if p99Goal {
		row.Goals = append(row.Goals, goalAtMost("p99", msf(f.p99), goalP99At64, " ms", f.ok))
	}
	row.Status = rowStatus(row.Goals, f.ok)
	if !f.ok {
		row.Notes = append(row.Notes, crowdMissing(in, id, r))
		return row
	}
	row.Measured = f.describe()
	if best.ok {
		row.Baseline = fmt.Sprintf("best (a): %s acknowledged/s, p99 %s", num(best.ackedPerSec), ms(best.p99))
		row.Ratio = fmt.Sprintf("%s of best", num(got))
	} else {
		row.Baseline = "best (a): none"
		row.Notes = append(row.Notes, crowdMissing(in, "a", in.A))
	}
	row.LoadAvg, row.Date = f.loadAvg, f.date
	row.Figures = map[string]float64{"acked_per_sec": f.ackedPerSec, "refused": float64(f.refused), "p99_ms": msf(f.p99), "of_best": got}
	return row
}

// rowCost is row d: the hub's CPU per reservation and per trivial query
// on the current build, and the closed crowd's throughput on the base
// build and the current one, alternating.
func rowCost(in LaunchDayInput) LaunchRow {
	row := LaunchRow{Row: "d", What: fmt.Sprintf("hub CPU per reservation; reserve vs the trivial query; closed crowd vs %s, alternating", orNone(in.BaseRev))}
	row.Rev = in.Rev + " vs " + orNone(in.BaseRev)
	var cur, base []crowdFigures
	var pairRatios []string
	var sumRatio float64
	nRatio := 0
	for i, p := range in.Pairs {
		c, b := crowd(p.Current), crowd(p.Base)
		if c.ok {
			cur = append(cur, c)
		} else {
			row.Notes = append(row.Notes, crowdMissing(in, fmt.Sprintf("d-cur-%d", i+1), p.Current))
		}
		if b.ok {
			base = append(base, b)
		} else {
			row.Notes = append(row.Notes, crowdMissing(in, fmt.Sprintf("d-base-%d", i+1), p.Base))
		}
		if c.ok && b.ok {
			r := ratio(c.ackedPerSec, b.ackedPerSec)
			pairRatios = append(pairRatios, num(r))
			sumRatio += r
			nRatio++
		}
	}
	if len(in.Pairs) == 0 {
		row.Notes = append(row.Notes, "no pairs were run")
	}
	mean := func(fs []crowdFigures, get func(crowdFigures) float64) float64 {
		var s float64
		for _, f := range fs {
			s += get(f)
		}
		return ratio(s, float64(len(fs)))
	}
	cpu := mean(cur, func(f crowdFigures) float64 { return f.cpuPerAck })
	triv := mean(cur, func(f crowdFigures) float64 { return f.cpuPerTriv })
	ofTrivial := mean(cur, func(f crowdFigures) float64 { return ratio(f.ackedPerSec, f.trivial) })
	ofBase := ratio(sumRatio, float64(nRatio))
	row.Goals = []Goal{
		goalAtMost("hub CPU per reservation", cpu, goalCPUPerReserve, " µs", len(cur) > 0),
		goalAtLeast("reserve/s / trivial query/s", ofTrivial, goalOfTrivial, "", len(cur) > 0),
		goalAtLeast("reserve/s / "+orNone(in.BaseRev)+"'s", ofBase, goalOfBase, "", nRatio > 0),
	}
	row.Status = rowStatus(row.Goals, len(cur) > 0)
	if len(cur) == 0 {
		return row
	}
	row.Measured = fmt.Sprintf("this build, %s: %s acknowledged/s, hub %s µs a reservation, %s µs a trivial query (%s/s)",
		runs(len(cur)), num(mean(cur, func(f crowdFigures) float64 { return f.ackedPerSec })), num(cpu), num(triv),
		num(mean(cur, func(f crowdFigures) float64 { return f.trivial })))
	if len(base) > 0 {
		row.Baseline = fmt.Sprintf("%s, %s: %s acknowledged/s, hub %s µs a reservation",
			orNone(in.BaseRev), runs(len(base)), num(mean(base, func(f crowdFigures) float64 { return f.ackedPerSec })),
			num(mean(base, func(f crowdFigures) float64 { return f.cpuPerAck })))
	} else {
		row.Baseline = orNone(in.BaseRev) + ": none"
	}
	row.Ratio = fmt.Sprintf("%s of the trivial query; %s of %s (pairs %s); CPU a reservation %s of %s",
		num(ofTrivial), num(ofBase), orNone(in.BaseRev), strings.Join(pairRatios, ", "),
		num(ratio(cpu, mean(base, func(f crowdFigures) float64 { return f.cpuPerAck }))), orNone(in.BaseRev))
	row.LoadAvg, row.Date = cur[0].loadAvg, cur[0].date
	for _, f := range append(base, cur...) {
		if f.date != "" && f.date < row.Date {
			row.LoadAvg, row.Date = f.loadAvg, f.date
		}
	}
	row.Figures = map[string]float64{"cpu_us_per_reservation": cpu, "cpu_us_per_trivial": triv, "of_trivial": ofTrivial, "of_base": ofBase}
	return row
}

// rowBroadcast is row e: one restock to N subscribers of one district's
// stockChanged, shared against unshared, and the floor.
func rowBroadcast(in LaunchDayInput) LaunchRow {
	s, u := in.EShared, in.EUnshared
	okS := s != nil && len(s.Phases) > 0 && s.Phases[0].Delivered > 0
	okU := u != nil && len(u.Phases) > 0 && u.Phases[0].Delivered > 0
	n := 0
	if okS {
		n = s.Connect.Subscribed
	}
	row := LaunchRow{Row: "e", What: fmt.Sprintf("a restock to %s subscribers of one district's stockChanged, shared", num(float64(n)))}
	var p99 time.Duration
	var cpu float64
	if okS {
		p99, cpu = s.Phases[0].LatencyAt.P99, s.PerDelivery(0)
	}
	row.Goals = []Goal{
		goalAtMost("p99 stock write to receipt", msf(p99), goalBroadcastP99, " ms", okS),
		goalAtMost("hub CPU per delivery", cpu, goalPerDelivery, " µs", okS),
	}
	row.Status = rowStatus(row.Goals, okS)
	if !okS {
		row.Notes = append(row.Notes, missing(in, "e-shared"))
		if !okU {
			row.Notes = append(row.Notes, missing(in, "e-unshared"))
		}
		return row
	}
	ph := s.Phases[0]
	row.Measured = fmt.Sprintf("%d restocks, %d of %d alerts delivered: p50 %s, p99 %s; hub %s µs a delivery",
		ph.Restocks, ph.Delivered, ph.Expected, ms(ph.LatencyAt.P50), ms(p99), num(cpu))
	if ph.Missing+ph.Duplicates+ph.Gaps > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("shared: %d missing, %d duplicate, %d gaps", ph.Missing, ph.Duplicates, ph.Gaps))
	}
	var base, ratios []string
	row.Figures = map[string]float64{"p99_ms": msf(p99), "cpu_us_per_delivery": cpu}
	if okU {
		uph := u.Phases[0]
		ucpu := u.PerDelivery(0)
		base = append(base, fmt.Sprintf("unshared (--share-subscriptions=false): p99 %s, hub %s µs a delivery", ms(uph.LatencyAt.P99), num(ucpu)))
		ratios = append(ratios, fmt.Sprintf("shared / unshared: p99 %s, CPU %s",
			num(ratio(float64(p99), float64(uph.LatencyAt.P99))), num(ratio(cpu, ucpu))))
		row.Figures["unshared_p99_ms"], row.Figures["unshared_cpu_us_per_delivery"] = msf(uph.LatencyAt.P99), ucpu
		if uph.Missing+uph.Duplicates+uph.Gaps > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("unshared: %d missing, %d duplicate, %d gaps", uph.Missing, uph.Duplicates, uph.Gaps))
		}
	} else {
		base = append(base, "unshared: none")
		row.Notes = append(row.Notes, missing(in, "e-unshared"))
	}
	if f := s.Floor; f != nil && f.PerWrite > 0 {
		base = append(base, fmt.Sprintf("floor: one process writing %d bytes to each of %d loopback sockets, %s µs a write", f.FrameBytes, f.Sockets, num(f.PerWrite)))
		ratios = append(ratios, fmt.Sprintf("hub per delivery / floor %s", num(ratio(cpu, f.PerWrite))))
		row.Figures["floor_us_per_write"] = f.PerWrite
	} else {
		base = append(base, "floor: not measured")
		row.Notes = append(row.Notes, "the floor was not measured (-floor)")
	}
	row.Baseline, row.Ratio = strings.Join(base, "; "), strings.Join(ratios, "; ")
	row.LoadAvg, row.Date = s.LoadAvgStart, s.Date
	return row
}

// rowIdle is row f: memory per idle subscriber.
func rowIdle(in LaunchDayInput) LaunchRow {
	r := in.F
	ok := r != nil && r.Connect.Subscribed > 0 && r.HubIdle.RSSAnon > 0
	row := LaunchRow{Row: "f", What: "memory per idle WebSocket subscriber (restockAlerts)"}
	var anon, heap, stacks float64
	if ok {
		anon, heap, stacks = r.PerSubscriber()
		row.What = fmt.Sprintf("memory per idle WebSocket subscriber at %s (restockAlerts)", num(float64(r.Connect.Subscribed)))
	}
	row.Goals = []Goal{goalAtMost("RssAnon per idle subscriber", anon/1024, goalIdleKiB, " KiB", ok)}
	row.Status = rowStatus(row.Goals, ok)
	if !ok {
		row.Notes = append(row.Notes, missing(in, "f"))
		return row
	}
	row.Measured = fmt.Sprintf("%d subscribed: RssAnon %s KiB each (Go heap %s + stacks %s KiB)",
		r.Connect.Subscribed, num(anon/1024), num(heap/1024), num(stacks/1024))
	row.Baseline = fmt.Sprintf("the hub with no subscriber: RssAnon %s", mib(r.HubBefore.RSSAnon))
	row.Ratio = fmt.Sprintf("idle with them / without: %s", num(ratio(float64(r.HubIdle.RSSAnon), float64(r.HubBefore.RSSAnon))))
	row.LoadAvg, row.Date = r.LoadAvgStart, r.Date
	row.Figures = map[string]float64{"rss_anon_kib": anon / 1024, "heap_kib": heap / 1024, "stacks_kib": stacks / 1024}
	return row
}

// num formats v with 3 significant digits, thousands grouped.
func num(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return group(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// group puts commas between the thousands of an integer's digits.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// msf returns d in milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runs writes "1 run", "2 runs".
func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}

func orNone(s string) string {
	if s == "" {
		return "(no base)"
	}
	return s
}

// Print writes the table as Markdown, then each row's notes.
func (t LaunchDayTable) Print(w io.Writer) {
	p := linePrinter(w)
	p("")
	p("gridhub launch day (issue 17)  %s  rev %s, base %s", t.Date, t.Rev, orNone(t.BaseRev))
	p("")
	p("| row | what | measured | same-run baseline | ratio | goal | status | load average at start | date | rev |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	cell := func(s string) string {
		if s == "" {
			return "-"
		}
		return strings.ReplaceAll(s, "|", "/")
	}
	for _, r := range t.Rows {
		var goals []string
		for _, g := range r.Goals {
			goals = append(goals, g.String()+" "+g.Status)
		}
		p("| %s | %s | %s | %s | %s | %s | **%s** | %.2f %.2f %.2f | %s | %s |",
			r.Row, cell(r.What), cell(r.Measured), cell(r.Baseline), cell(r.Ratio), cell(strings.Join(goals, "; ")),
			r.Status, r.LoadAvg[0], r.LoadAvg[1], r.LoadAvg[2], cell(r.Date), cell(r.Rev))
	}
	for _, r := range t.Rows {
		for _, n := range r.Notes {
			p("NOTE (%s): %s", r.Row, n)
		}
	}
}

// readLaunchDay reads the reports of dir, as launchday.sh names them:
// a.json, b.json, c.json, d-base-K.json and d-cur-K.json (K from 1),
// e-shared.json, e-unshared.json, f.json; NAME.err says why run NAME
// failed.
func readLaunchDay(dir string, rows []string, pairs int) (LaunchDayInput, error) {
	in := LaunchDayInput{Rows: rows, Failures: map[string]string{}}
	errs, _ := filepath.Glob(filepath.Join(dir, "*.err"))
	for _, f := range errs {
		b, err := os.ReadFile(f)
		if err == nil {
			in.Failures[strings.TrimSuffix(filepath.Base(f), ".err")] = strings.TrimSpace(string(b))
		}
	}
	var bad error
	reserve := func(name string) *ReserveReport { return readReport[ReserveReport](dir, name, &bad) }
	subs := func(name string) *SubscribersReport { return readReport[SubscribersReport](dir, name, &bad) }
	in.A, in.B, in.C = reserve("a"), reserve("b"), reserve("c")
	for k := 1; k <= pairs; k++ {
		in.Pairs = append(in.Pairs, ReservePair{Base: reserve(fmt.Sprintf("d-base-%d", k)), Current: reserve(fmt.Sprintf("d-cur-%d", k))})
	}
	in.EShared, in.EUnshared, in.F = subs("e-shared"), subs("e-unshared"), subs("f")
	return in, bad
}

// readReport reads dir/NAME.json as a T; nil when the file is missing
// (not an error) or bad (the error joined to *bad).
func readReport[T any](dir, name string, bad *error) *T {
	path := filepath.Join(dir, name+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var v T
	if err == nil {
		err = json.Unmarshal(b, &v)
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	if err != nil {
		*bad = errors.Join(*bad, err)
		return nil
	}
	return &v
}

// launchDayCommand reads a launch-day directory and prints its table.
func launchDayCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var dir, rev, baseRev, rows, jsonOut string
	var pairs int
	err := parseFlags("launchday", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "dir", "", "the directory of the run's reports (loadtest/launchday.sh's LOAD_OUT)")
		fs.StringVar(&rev, "rev", "", "the current build's git revision")
		fs.StringVar(&baseRev, "base-rev", "", "row d's base build's git revision")
		fs.StringVar(&rows, "rows", strings.Join(launchRows, ","), "the rows run, comma-separated")
		fs.IntVar(&pairs, "pairs", 2, "row d's pairs of runs")
		fs.StringVar(&jsonOut, "json", "", "also write the table as JSON to this file")
	})
	if err != nil {
		return err
	}
	if dir == "" {
		return cli.Usagef("-dir is required")
	}
	var picked []string
	for _, r := range strings.Split(rows, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(launchRows, r) {
			return cli.Usagef("-rows: unknown row %q (rows are %s)", r, strings.Join(launchRows, ","))
		}
		picked = append(picked, r)
	}
	if pairs < 0 {
		return cli.Usagef("-pairs must not be negative")
	}
	in, rerr := readLaunchDay(dir, picked, pairs)
	in.Rev, in.BaseRev = rev, baseRev
	t := BuildLaunchDay(in)
	t.Print(stdout)
	if jsonOut != "" {
		b, err := json.MarshalIndent(t, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			return errors.Join(rerr, fmt.Errorf("write json: %w", err))
		}
	}
	return rerr
}
