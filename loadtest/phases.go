package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Phase is one stretch of a reserve run: an open model at a rate (each
// request sent at its time whatever the hub's answers, as a crowd sends
// them), or a closed loop of workers each sending its next request when
// the last is answered (max: the most the hub serves).
type Phase struct {
	// Rate is requests per second of an open phase; 0 for a closed one.
	Rate float64 `json:"rate"`
	// Times, when not 0, makes the rate this many times the throughput
	// of the last closed phase before it ("3x").
	Times float64 `json:"times,omitempty"`
	// Closed is a closed loop of -concurrency workers.
	Closed   bool          `json:"closed"`
	Duration time.Duration `json:"duration_ns"`
}

// String writes p as it is given on the command line.
func (p Phase) String() string {
	d := p.Duration.String()
	switch {
	case p.Closed:
		return "max:" + d
	case p.Times != 0:
		return strconv.FormatFloat(p.Times, 'g', -1, 64) + "x:" + d
	}
	return strconv.FormatFloat(p.Rate, 'f', -1, 64) + ":" + d
}

// ParsePhases reads a comma-separated list of phases: RATE:DURATION
// (requests per second, an open model), max:DURATION (a closed loop) or
// Nx:DURATION (N times the throughput of the last max phase before it).
func ParsePhases(s string) ([]Phase, error) {
	var out []Phase
	sawMax := false
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		what, dur, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("phase %q: want RATE:DURATION, max:DURATION or Nx:DURATION", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("phase %q: bad duration %q", part, dur)
		}
		p := Phase{Duration: d}
		switch {
		case what == "max":
			p.Closed, sawMax = true, true
		case strings.HasSuffix(what, "x"):
			if p.Times, err = strconv.ParseFloat(strings.TrimSuffix(what, "x"), 64); err != nil || p.Times <= 0 {
				return nil, fmt.Errorf("phase %q: bad multiple %q", part, what)
			}
			if !sawMax {
				return nil, fmt.Errorf("phase %q: a multiple needs a max phase before it", part)
			}
		default:
			if p.Rate, err = strconv.ParseFloat(what, 64); err != nil || p.Rate <= 0 {
				return nil, fmt.Errorf("phase %q: bad rate %q", part, what)
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no phases given")
	}
	return out, nil
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages
// from /proc/loadavg, zeros when it cannot be read.
func loadAverage() [3]float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}
	}
	la, _ := parseLoadAverage(b)
	return la
}

func parseLoadAverage(b []byte) ([3]float64, error) {
	var la [3]float64
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return la, errors.New("/proc/loadavg: too few fields")
	}
	for i := range la {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return la, fmt.Errorf("/proc/loadavg: %w", err)
		}
		la[i] = v
	}
	return la, nil
}
