package main

import (
	"testing"
	"time"
)

func TestAnalyze(t *testing.T) {
	m := &cityMap{
		Committees: []string{"c0", "c1"},
		Pharmacies: []string{"p0", "p1"},
		Reach:      [][]int{{0, 1}, {1}},
	}
	t0 := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	restocks := []restock{
		{Pharmacy: 0, Phase: 0, Sent: t0, Acked: t0.Add(2 * time.Millisecond)},
		{Pharmacy: 1, Phase: 0, Sent: t0.Add(10 * time.Millisecond), Acked: t0.Add(12 * time.Millisecond)},
		{Pharmacy: 0, Phase: 1, Sent: t0.Add(20 * time.Millisecond)}, // failed
		{Pharmacy: 1, Phase: 1}, // never sent
	}
	subs := []*subscriber{
		{committee: 0, samples: []sample{
			{restock: 0, at: at(time.Millisecond), recv: at(4 * time.Millisecond)},
			{restock: 1, at: at(11 * time.Millisecond), recv: at(13 * time.Millisecond)}, // outside p1's disk
		}},
		{committee: 1, samples: []sample{
			{restock: 0, at: at(time.Millisecond), recv: at(6 * time.Millisecond)},
			{restock: 0, at: at(time.Millisecond), recv: at(7 * time.Millisecond)}, // duplicate
		}},
		{committee: 1, samples: []sample{
			{restock: 1, gap: 2, at: at(11 * time.Millisecond), recv: at(15 * time.Millisecond)},
			{restock: 99}, // not a restock of this run
		}},
	}
	got := analyze([]string{"paced", "burst"}, restocks, subs, m, []int{1, 2})
	paced := got[0]
	// Restock 0 is due to 3 subscribers (c0 and c1's two) and reached two
	// of them; restock 1 is due to c1's two and reached one.
	if paced.Restocks != 2 || paced.Expected != 5 || paced.Delivered != 3 || paced.Missing != 2 ||
		paced.Duplicates != 1 || paced.Unexpected != 1 || paced.Gaps != 2 || paced.Due != 2 || paced.Complete != 0 {
		t.Errorf("paced = %+v", paced)
	}
	if paced.LatencyAt.N != 3 || paced.LatencyAt.Max != 5*time.Millisecond || paced.LatencyAt.Min != 3*time.Millisecond {
		t.Errorf("paced latency = %+v", paced.LatencyAt)
	}
	if paced.Window != 15*time.Millisecond || paced.DeliveredPerSec != 200 {
		t.Errorf("paced window %v, %v/s; want 15ms, 200/s", paced.Window, paced.DeliveredPerSec)
	}
	burst := got[1]
	if burst.Restocks != 1 || burst.RestocksFailed != 1 || burst.Expected != 0 {
		t.Errorf("burst = %+v", burst)
	}

	// Every alert due, once each: complete, and the last receipt timed.
	complete := []*subscriber{
		{committee: 0, samples: []sample{{restock: 0, at: at(time.Millisecond), recv: at(4 * time.Millisecond)}}},
		{committee: 1, samples: []sample{{restock: 0, at: at(time.Millisecond), recv: at(9 * time.Millisecond)}}},
	}
	got = analyze([]string{"paced", "burst"}, restocks[:1], complete, m, []int{1, 1})
	if got[0].Complete != 1 || got[0].Missing != 0 || got[0].AllReached.Max != 8*time.Millisecond || got[0].WriteWait.Max != time.Millisecond ||
		got[0].Spread.Max != 5*time.Millisecond {
		t.Errorf("complete = %+v", got[0])
	}
}
