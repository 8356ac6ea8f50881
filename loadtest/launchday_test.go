package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crowdReport is a reserve report of one closed phase: acked
// reservations a second for 10 s with the hub at hubCores, p99, refused;
// the trivial query at trivial a second with the hub at trivialCores.
func crowdReport(acked, hubCores float64, p99 time.Duration, refused int, trivial, trivialCores float64) *ReserveReport {
	wall := 10 * time.Second
	n := int(acked * wall.Seconds())
	return &ReserveReport{
		Date:         "2026-12-08T01:00:00Z",
		Config:       ReserveConfig{Concurrency: 512},
		LoadAvgStart: [3]float64{1.5, 2, 2.5},
		Trivial:      BaselineResult{Name: "trivial", PerSec: trivial, ServerCores: trivialCores},
		Phases: []ReservePhaseResult{{
			Phase: Phase{Closed: true, Duration: wall}, Sent: n + refused, Acked: n, AckedPerSec: acked,
			Refused: refused, Latency: Summary{N: n, P99: p99}, HubCores: hubCores, Wall: wall,
		}},
	}
}

// broadcastReport is a subscribers report whose paced phase delivered
// delivered alerts with p99, the hub at hubCores over 10 s; floor is the
// floor's µs per write (0: not measured).
func broadcastReport(delivered int, p99 time.Duration, hubCores, floor float64) *SubscribersReport {
	r := &SubscribersReport{
		Date:         "2026-12-08T01:10:00Z",
		LoadAvgStart: [3]float64{3, 3, 3},
		Connect:      ConnectResult{Subscribed: delivered / 10, Subscriptions: delivered / 10, PerConnection: 1},
		Phases:       []PhaseResult{{Name: "paced", Restocks: 10, Expected: delivered, Delivered: delivered, LatencyAt: Summary{N: delivered, P99: p99}}},
		PhaseCPU:     []PhaseCPU{{Hub: hubCores, Wall: 10 * time.Second}},
	}
	if floor > 0 {
		r.Floor = &FloorResult{Sockets: delivered / 10, Writes: delivered, PerWrite: floor, FrameBytes: 250}
	}
	return r
}

// idleSubsReport is a subscribers report of n idle subscribers, each adding
// kib KiB of RssAnon to a hub of 100 MiB.
func idleSubsReport(n int, kib float64) *SubscribersReport {
	before := int64(100 << 20)
	return &SubscribersReport{
		Date:      "2026-12-08T01:20:00Z",
		Connect:   ConnectResult{Subscribed: n, Subscriptions: n, PerConnection: 1},
		HubBefore: HubFigures{RSSAnon: before},
		HubIdle:   HubFigures{RSSAnon: before + int64(kib*1024*float64(n))},
	}
}

func TestBuildLaunchDay(t *testing.T) {
	ms := time.Millisecond
	// allMet meets every goal: b 0.95 of a, c 0.925 and p99 40 ms; d 150
	// µs a reservation (0.3 cores / 2,000/s), 0.8 of the trivial
	// query, 2.5x the base; e p99 90 ms, 8 µs a delivery (0.8 cores
	// over 10 s for 1,000,000 alerts); f 12 KiB.
	allMet := LaunchDayInput{
		Rev: "abc1234", BaseRev: "2ae442f",
		A: crowdReport(2000, 1.0, 300*ms, 0, 5000, 1.0),
		B: crowdReport(1900, 1.0, 320*ms, 0, 5000, 1.0),
		C: crowdReport(1850, 0.9, 40*ms, 0, 5000, 1.0),
		Pairs: []ReservePair{
			{Base: crowdReport(800, 0.8, 900*ms, 0, 4000, 1), Current: crowdReport(2000, 0.3, 300*ms, 0, 2500, 0.5)},
			{Base: crowdReport(800, 0.8, 900*ms, 0, 4000, 1), Current: crowdReport(2000, 0.3, 300*ms, 0, 2500, 0.5)},
		},
		EShared:   broadcastReport(1_000_000, 90*ms, 0.8, 4),
		EUnshared: broadcastReport(1_000_000, 900*ms, 4, 0),
		F:         idleSubsReport(19500, 12),
	}
	notMet := LaunchDayInput{
		Rev: "abc1234", BaseRev: "2ae442f",
		A: crowdReport(2000, 1.0, 300*ms, 0, 5000, 1.0),
		B: crowdReport(1000, 1.0, 900*ms, 4000, 5000, 1.0),
		C: crowdReport(1900, 0.9, 80*ms, 0, 5000, 1.0),
		Pairs: []ReservePair{
			{Base: crowdReport(1000, 0.4, 900*ms, 0, 4000, 1), Current: crowdReport(1200, 0.48, 300*ms, 0, 5000, 1)},
		},
		EShared:   broadcastReport(190_000, 600*ms, 0.46, 8),
		EUnshared: broadcastReport(190_000, 2000*ms, 2.3, 0),
		F:         idleSubsReport(19500, 21),
	}
	// Only best is missing: every ratio to it has no data.
	noBest := allMet
	noBest.A = nil
	noBest.Failures = map[string]string{"a": "exit 1: hub did not start"}
	// The base build could not be driven: d's base goal has no data,
	// its other goals are still judged.
	noBase := allMet
	noBase.Pairs = []ReservePair{{Current: crowdReport(2000, 0.3, 300*ms, 0, 2500, 0.5)}}
	noBase.Failures = map[string]string{"d-base-1": "the base build of 2ae442f failed: no Go files"}
	// Nothing ran.
	nothing := LaunchDayInput{Rev: "abc1234", BaseRev: "2ae442f", Pairs: []ReservePair{{}},
		Failures: map[string]string{"e-shared": "exit 1: too many open files", "e-unshared": "exit 1: hub did not start"}}
	// A run that failed after it wrote its report keeps its figures
	// and gets a note.
	lateFail := allMet
	lateFail.Failures = map[string]string{"f": "exit 1: teardown timed out"}
	// The base build answered, but refused every reservation.
	refusedAll := allMet
	refusedAll.Pairs = []ReservePair{{Base: crowdReport(0, 0.5, 0, 5000, 4000, 1), Current: crowdReport(2000, 0.3, 300*ms, 0, 2500, 0.5)}}
	refusedAll.Pairs[0].Base.Phases[0].Outcomes = []ErrorKind{{Kind: "RATE_LIMITED", Count: 5000}}
	subset := allMet
	subset.Rows = []string{"b", "a"}

	tests := []struct {
		name       string
		give       LaunchDayInput
		wantStatus map[string]string
		// wantGot are goals' measured values by row and goal index.
		wantGot   map[string][]float64
		wantNotes map[string]string // a note that must be among a row's
		noNotes   map[string]string // a note that must not be
		wantRows  string
	}{
		{
			name:       "every goal met",
			give:       allMet,
			wantStatus: map[string]string{"a": statusReference, "b": statusMet, "c": statusMet, "d": statusMet, "e": statusMet, "f": statusMet},
			wantGot:    map[string][]float64{"b": {0.95}, "c": {0.925, 40}, "d": {150, 0.8, 2.5}, "e": {90, 8}, "f": {12}},
			wantRows:   "abcdef",
		},
		{
			name:       "every goal not met",
			give:       notMet,
			wantStatus: map[string]string{"a": statusReference, "b": statusNotMet, "c": statusNotMet, "d": statusNotMet, "e": statusNotMet, "f": statusNotMet},
			wantGot:    map[string][]float64{"b": {0.5}, "c": {0.95, 80}, "d": {400, 0.24, 1.2}, "e": {600, 24.2}, "f": {21}},
			wantRows:   "abcdef",
		},
		{
			name:       "best missing",
			give:       noBest,
			wantStatus: map[string]string{"a": statusNoData, "b": statusNoData, "c": statusNoData, "d": statusMet, "e": statusMet, "f": statusMet},
			wantGot:    map[string][]float64{"b": {0}, "c": {0, 40}},
			wantNotes:  map[string]string{"a": "run a failed: exit 1: hub did not start", "b": "run a failed"},
			wantRows:   "abcdef",
		},
		{
			name:       "base build missing",
			give:       noBase,
			wantStatus: map[string]string{"d": statusNoData},
			wantGot:    map[string][]float64{"d": {150, 0.8, 0}},
			wantNotes:  map[string]string{"d": "run d-base-1 failed: the base build of 2ae442f failed: no Go files"},
			wantRows:   "abcdef",
		},
		{
			name:       "nothing ran",
			give:       nothing,
			wantStatus: map[string]string{"a": statusNoData, "b": statusNoData, "c": statusNoData, "d": statusNoData, "e": statusNoData, "f": statusNoData},
			wantNotes:  map[string]string{"e": "run e-shared failed: exit 1: too many open files\nrun e-unshared failed: exit 1: hub did not start", "f": "run f has no report", "d": "run d-cur-1 has no report"},
			noNotes:    map[string]string{"e": "after its report"},
			wantRows:   "abcdef",
		},
		{
			name:       "failed after its report",
			give:       lateFail,
			wantStatus: map[string]string{"f": statusMet},
			wantNotes:  map[string]string{"f": "run f ended with an error after its report: exit 1: teardown timed out"},
			wantRows:   "abcdef",
		},
		{
			name:       "base build acknowledged nothing",
			give:       refusedAll,
			wantStatus: map[string]string{"d": statusNoData},
			wantGot:    map[string][]float64{"d": {150, 0.8, 0}},
			wantNotes:  map[string]string{"d": "run d-base-1 acknowledged no reservation: RATE_LIMITED=5000"},
			wantRows:   "abcdef",
		},
		{
			name:       "rows asked for, in the table's order",
			give:       subset,
			wantStatus: map[string]string{"a": statusReference, "b": statusMet},
			wantRows:   "ab",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildLaunchDay(tt.give)
			rows := map[string]LaunchRow{}
			var ids string
			for _, r := range got.Rows {
				rows[r.Row] = r
				ids += r.Row
			}
			if ids != tt.wantRows {
				t.Fatalf("rows %q, want %q", ids, tt.wantRows)
			}
			for id, want := range tt.wantStatus {
				if rows[id].Status != want {
					t.Errorf("row %s: status %q, want %q (goals %v, notes %q)", id, rows[id].Status, want, rows[id].Goals, rows[id].Notes)
				}
			}
			for id, want := range tt.wantGot {
				goals := rows[id].Goals
				if len(goals) != len(want) {
					t.Errorf("row %s: %d goals, want %d", id, len(goals), len(want))
					continue
				}
				for i, w := range want {
					if math.Abs(goals[i].Got-w) > 0.01*math.Max(1, math.Abs(w)) {
						t.Errorf("row %s goal %q: got %v, want %v", id, goals[i].Name, goals[i].Got, w)
					}
				}
			}
			for id, want := range tt.wantNotes {
				if !strings.Contains(strings.Join(rows[id].Notes, "\n"), want) {
					t.Errorf("row %s: notes %q, want one with %q", id, rows[id].Notes, want)
				}
			}
			for id, not := range tt.noNotes {
				if strings.Contains(strings.Join(rows[id].Notes, "\n"), not) {
					t.Errorf("row %s: notes %q, want none with %q", id, rows[id].Notes, not)
				}
			}
			// Every row prints, with its status and goals.
			var b bytes.Buffer
			got.Print(&b)
			for _, r := range got.Rows {
				if !strings.Contains(b.String(), "| "+r.Row+" | ") || !strings.Contains(b.String(), "**"+r.Status+"**") {
					t.Errorf("printed table lacks row %s with its status %s:\n%s", r.Row, r.Status, b.String())
				}
			}
		})
	}
}

func TestRowStatus(t *testing.T) {
	met := Goal{Status: statusMet}
	no := Goal{Status: statusNotMet}
	none := Goal{Status: statusNoData}
	tests := []struct {
		name     string
		give     []Goal
		haveData bool
		want     string
	}{
		{"all met", []Goal{met, met}, true, statusMet},
		{"one not met", []Goal{met, no}, true, statusNotMet},
		{"not met wins over no data", []Goal{none, no}, true, statusNotMet},
		{"no data", []Goal{met, none}, true, statusNoData},
		{"reference", nil, true, statusReference},
		{"reference without data", nil, false, statusNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rowStatus(tt.give, tt.haveData); got != tt.want {
				t.Errorf("rowStatus = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGoal(t *testing.T) {
	tests := []struct {
		name string
		give Goal
		want string
	}{
		{"at least, met", goalAtLeast("x", 0.9, 0.9, "", true), statusMet},
		{"at least, below", goalAtLeast("x", 0.89, 0.9, "", true), statusNotMet},
		{"at most, met", goalAtMost("x", 160, 160, " µs", true), statusMet},
		{"at most, above", goalAtMost("x", 161, 160, " µs", true), statusNotMet},
		{"no data", goalAtMost("x", 0, 160, " µs", false), statusNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.give.Status != tt.want {
				t.Errorf("status %q, want %q (%s)", tt.give.Status, tt.want, tt.give)
			}
		})
	}
}

// TestReadLaunchDay writes reports as launchday.sh names them and reads
// them back into the table.
func TestReadLaunchDay(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", crowdReport(2000, 1, 300*time.Millisecond, 0, 5000, 1))
	write("b.json", crowdReport(1900, 1, 300*time.Millisecond, 0, 5000, 1))
	write("d-cur-1.json", crowdReport(2000, 0.3, 300*time.Millisecond, 0, 2500, 0.5))
	write("f.json", idleSubsReport(100, 10))
	if err := os.WriteFile(filepath.Join(dir, "d-base-1.err"), []byte("exit 1: unknown flag\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := readLaunchDay(dir, []string{"a", "b", "d", "f"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if in.A == nil || in.B == nil || in.C != nil || len(in.Pairs) != 1 || in.Pairs[0].Current == nil || in.Pairs[0].Base != nil || in.F == nil {
		t.Fatalf("read %+v", in)
	}
	if got := in.Failures["d-base-1"]; got != "exit 1: unknown flag" {
		t.Errorf("failure of d-base-1 %q", got)
	}
	tab := BuildLaunchDay(in)
	if len(tab.Rows) != 4 || tab.Rows[1].Status != statusMet || tab.Rows[3].Status != statusMet {
		t.Errorf("table %+v", tab.Rows)
	}

	write("c.json", "not a report")
	if _, err := readLaunchDay(dir, nil, 0); err == nil || !strings.Contains(err.Error(), "c.json") {
		t.Errorf("a bad report: error %v, want one naming c.json", err)
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{0, "0"}, {0.946, "0.95"}, {9.87, "9.87"}, {12.34, "12.3"}, {416.4, "416"}, {2428.4, "2,428"}, {19500, "19,500"}, {1234567, "1,234,567"}, {-2500, "-2,500"},
	}
	for _, tt := range tests {
		if got := num(tt.give); got != tt.want {
			t.Errorf("num(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
