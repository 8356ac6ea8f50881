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

// TestAnalyzeSubscriptions counts per subscription on connections with
// several: an alert of one restock to each of a connection's
// subscriptions is due and none is a duplicate; a second one to the same
// subscription is; a subscription left without its alert is missing even
// when its connection's others got theirs.
func TestAnalyzeSubscriptions(t *testing.T) {
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
	}
	alert := func(sub, restock int32, recv time.Duration) sample {
		a := 1 * time.Millisecond
		if restock == 1 {
			a = 11 * time.Millisecond
		}
		return sample{sub: sub, restock: restock, at: at(a), recv: at(recv)}
	}
	subs := []*subscriber{
		// c0: restock 0 to each of its three subscriptions, a second one
		// to subscription 2 (received between the others, to be sorted
		// out), and restock 1, outside p1's disk, to subscription 1.
		{committee: 0, subs: 3, samples: []sample{
			alert(2, 0, 4*time.Millisecond),
			alert(1, 0, 3*time.Millisecond),
			alert(2, 0, 5*time.Millisecond), // duplicate
			alert(3, 0, 6*time.Millisecond),
			alert(1, 1, 13*time.Millisecond), // outside the disk
		}},
		// c1: restock 0 to subscriptions 1 and 3 only, restock 1 to all
		// three.
		{committee: 1, subs: 3, samples: []sample{
			alert(3, 0, 7*time.Millisecond),
			alert(1, 0, 8*time.Millisecond),
			alert(1, 1, 14*time.Millisecond),
			alert(2, 1, 15*time.Millisecond),
			alert(3, 1, 16*time.Millisecond),
		}},
	}
	// Three subscriptions per committee: restock 0 is due to six (c0's
	// and c1's), restock 1 to c1's three.
	got := analyze([]string{"paced", "burst"}, restocks, subs, m, []int{3, 3})
	paced := got[0]
	if paced.Expected != 9 || paced.Delivered != 8 || paced.Missing != 1 || paced.Duplicates != 1 ||
		paced.Unexpected != 1 || paced.Due != 2 || paced.Complete != 1 {
		t.Errorf("paced = %+v", paced)
	}
	// Restock 1 is the complete one: from its event at 11 ms to the last
	// of its three subscriptions at 16 ms, spread 14 to 16 ms.
	if paced.AllReached.N != 1 || paced.AllReached.Max != 5*time.Millisecond || paced.Spread.Max != 2*time.Millisecond {
		t.Errorf("paced all reached %v, spread %v; want one of 5 ms, 2 ms", paced.AllReached, paced.Spread)
	}
	if paced.LatencyAt.N != 8 {
		t.Errorf("paced latency over %d alerts, want 8", paced.LatencyAt.N)
	}
}
