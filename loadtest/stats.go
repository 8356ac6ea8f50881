package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Summary describes a set of durations: count, mean and nearest-rank
// percentiles.
type Summary struct {
	N    int           `json:"n"`
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Summarize returns the summary of ds. It sorts ds in place; an empty ds
// gives the zero Summary.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	var sum float64
	for _, d := range ds {
		sum += float64(d)
	}
	return Summary{
		N:    len(ds),
		Min:  ds[0],
		Mean: time.Duration(sum / float64(len(ds))),
		P50:  Percentile(ds, 50),
		P90:  Percentile(ds, 90),
		P99:  Percentile(ds, 99),
		Max:  ds[len(ds)-1],
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of the sorted ds
// by the nearest-rank method: the smallest value that at least p percent
// of the values are less than or equal to. It returns 0 for an empty ds.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// String formats s as "n=… p50 … p90 … p99 … max …" in milliseconds.
func (s Summary) String() string {
	if s.N == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d p50 %s p90 %s p99 %s max %s (mean %s)",
		s.N, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(s.Mean))
}

// ms formats d in milliseconds with a precision that suits its size.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case math.Abs(v) < 1:
		return fmt.Sprintf("%.3f ms", v)
	case math.Abs(v) < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// perSecond returns n per second over d, or 0 for a zero d.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ErrorCounts counts errors by kind; it is safe for concurrent use.
type ErrorCounts struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]string
}

// Add counts one error of kind; detail, the first time a kind is seen,
// is kept as its example.
func (e *ErrorCounts) Add(kind, detail string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[string]int{}
		e.first = map[string]string{}
	}
	if e.counts[kind] == 0 {
		e.first[kind] = detail
	}
	e.counts[kind]++
}

// ErrorKind is one kind of error with how often it happened.
type ErrorKind struct {
	Kind    string `json:"kind"`
	Count   int    `json:"count"`
	Example string `json:"example,omitempty"`
}

// Kinds returns the counted kinds, most frequent first.
func (e *ErrorCounts) Kinds() []ErrorKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ErrorKind, 0, len(e.counts))
	for k, n := range e.counts {
		out = append(out, ErrorKind{Kind: k, Count: n, Example: e.first[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// formatKinds formats kinds on one line, "none" when empty.
func formatKinds(kinds []ErrorKind) string {
	if len(kinds) == 0 {
		return "none"
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s=%d", k.Kind, k.Count)
	}
	return strings.Join(parts, " ")
}
