package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name string
		give []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p90 of ten is the ninth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"a tiny p is the min", hundred, 0.001, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.give, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.give, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	got := Summarize(ds)
	want := Summary{
		N: 1000, Min: time.Microsecond, Mean: 500500 * time.Nanosecond,
		P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond, Max: time.Millisecond,
	}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("Summarize(nil) is not the zero Summary")
	}
	if s := got.String(); !strings.Contains(s, "p99 0.990 ms") {
		t.Errorf("String() = %q, want p99 in ms", s)
	}
}

func TestErrorCounts(t *testing.T) {
	var e ErrorCounts
	e.Add("dial/emfile", "too many open files")
	e.Add("read/eof", "EOF")
	e.Add("dial/emfile", "again")
	got := e.Kinds()
	if len(got) != 2 || got[0] != (ErrorKind{"dial/emfile", 2, "too many open files"}) || got[1].Kind != "read/eof" {
		t.Errorf("Kinds() = %+v", got)
	}
	if s := formatKinds(got); s != "dial/emfile=2 read/eof=1" {
		t.Errorf("formatKinds = %q", s)
	}
	if s := formatKinds(nil); s != "none" {
		t.Errorf("formatKinds(nil) = %q", s)
	}
}
