package main

import (
	"cmp"
	"slices"
	"time"
)

// restock is one restock mutation sent to the hub. Its quantity is its
// index plus one, so that each alert names the restock it announces.
type restock struct {
	Pharmacy int // index into cityMap.Pharmacies
	Phase    int
	Sent     time.Time
	Acked    time.Time // zero when the mutation failed
	Err      string
}

// PhaseResult is what one phase of restocks measured. Alerts are due,
// matched and counted per subscription: a connection with several
// subscriptions (-per-connection) is due an alert on each.
type PhaseResult struct {
	Name           string `json:"name"`
	Restocks       int    `json:"restocks"`
	RestocksFailed int    `json:"restocks_failed"`
	// Expected counts the alerts due: for each acknowledged restock, the
	// subscriptions of every committee in its pharmacy's service disk.
	Expected   int `json:"expected"`
	Delivered  int `json:"delivered"`
	Missing    int `json:"missing"`    // alerts due that no subscription received
	Duplicates int `json:"duplicates"` // further alerts of one restock to one subscription
	Unexpected int `json:"unexpected"` // alerts to a subscriber outside the disk
	Gaps       int `json:"gaps"`       // events the hub reported dropped
	// Due counts the acknowledged restocks due to reach any subscription;
	// Complete those of them that reached every subscription due.
	Due      int `json:"due"`
	Complete int `json:"complete"`

	// LatencyAt is, for every alert, the event's time (the stock write,
	// the hub's clock) to its receipt (the client's clock, same machine).
	LatencyAt Summary `json:"latency_at"`
	// LatencySent is, for every alert, the mutation's send to receipt.
	LatencySent Summary `json:"latency_sent"`
	// AllReached is, for each complete restock, the event's time to its
	// receipt by the last of its subscriptions.
	AllReached Summary `json:"all_reached"`
	// Spread is, for each complete restock, its first subscription's
	// receipt to its last's: the fan-out alone, without the stock write.
	Spread Summary `json:"spread"`
	// Mutation is the restock mutation's round trip.
	Mutation Summary `json:"mutation"`
	// WriteWait is, for each restock that alerted anyone, its mutation's
	// send to the event's time: the time the mutation waited in the hub
	// before its stock write.
	WriteWait Summary `json:"write_wait"`

	Window          time.Duration `json:"window_ns"` // first send to last receipt
	DeliveredPerSec float64       `json:"delivered_per_sec"`
}

// analyze matches the alerts the subscribers received to the restocks
// sent and returns a result per phase. subscribed[c] is the number of
// subscriptions of committee c, over all its connections.
func analyze(names []string, restocks []restock, subs []*subscriber, m *cityMap, subscribed []int) []PhaseResult {
	out := make([]PhaseResult, len(names))
	for i, n := range names {
		out[i].Name = n
	}
	inDisk := make([][]bool, len(m.Pharmacies))
	for p, reach := range m.Reach {
		inDisk[p] = make([]bool, len(m.Committees))
		for _, c := range reach {
			inDisk[p][c] = true
		}
	}
	due := dueCounts(m, subscribed)

	got := make([]int, len(restocks))
	last := make([]time.Duration, len(restocks))
	eventAt := make([]int64, len(restocks))
	firstRecv := make([]int64, len(restocks))
	lastRecv := make([]int64, len(restocks))
	firstSent := make([]time.Time, len(names))
	lastSeen := make([]time.Time, len(names))
	atLat := make([][]time.Duration, len(names))
	sentLat := make([][]time.Duration, len(names))
	for _, s := range subs {
		// In subscription and restock order, so that a second alert of
		// one restock to one subscription is seen as a duplicate and kept
		// out of the figures, while one to each of a connection's
		// subscriptions is not.
		slices.SortFunc(s.samples, func(a, b sample) int {
			if c := cmp.Compare(a.sub, b.sub); c != 0 {
				return c
			}
			if c := cmp.Compare(a.restock, b.restock); c != 0 {
				return c
			}
			return cmp.Compare(a.recv, b.recv)
		})
		for i, a := range s.samples {
			if a.restock < 0 || int(a.restock) >= len(restocks) {
				continue // not a restock of this run
			}
			r := &restocks[a.restock]
			res := &out[r.Phase]
			res.Gaps += int(a.gap)
			if !inDisk[r.Pharmacy][s.committee] {
				res.Unexpected++
				continue
			}
			if i > 0 && s.samples[i-1].sub == a.sub && s.samples[i-1].restock == a.restock {
				res.Duplicates++
				continue
			}
			recv := time.Unix(0, a.recv)
			lat := recv.Sub(time.Unix(0, a.at))
			atLat[r.Phase] = append(atLat[r.Phase], lat)
			sentLat[r.Phase] = append(sentLat[r.Phase], recv.Sub(r.Sent))
			got[a.restock]++
			last[a.restock] = max(last[a.restock], lat)
			eventAt[a.restock] = a.at
			if firstRecv[a.restock] == 0 || a.recv < firstRecv[a.restock] {
				firstRecv[a.restock] = a.recv
			}
			lastRecv[a.restock] = max(lastRecv[a.restock], a.recv)
			if recv.After(lastSeen[r.Phase]) {
				lastSeen[r.Phase] = recv
			}
		}
	}

	allReached := make([][]time.Duration, len(names))
	spread := make([][]time.Duration, len(names))
	mutation := make([][]time.Duration, len(names))
	writeWait := make([][]time.Duration, len(names))
	for i, r := range restocks {
		res := &out[r.Phase]
		if r.Sent.IsZero() {
			continue // never sent: the run was cut short
		}
		res.Restocks++
		if firstSent[r.Phase].IsZero() || r.Sent.Before(firstSent[r.Phase]) {
			firstSent[r.Phase] = r.Sent
		}
		if r.Acked.IsZero() {
			res.RestocksFailed++
			continue
		}
		mutation[r.Phase] = append(mutation[r.Phase], r.Acked.Sub(r.Sent))
		if eventAt[i] != 0 {
			writeWait[r.Phase] = append(writeWait[r.Phase], time.Unix(0, eventAt[i]).Sub(r.Sent))
		}
		if r.Acked.After(lastSeen[r.Phase]) {
			lastSeen[r.Phase] = r.Acked
		}
		res.Expected += due[r.Pharmacy]
		if due[r.Pharmacy] > 0 {
			res.Due++
		}
		res.Delivered += got[i]
		if got[i] < due[r.Pharmacy] {
			res.Missing += due[r.Pharmacy] - got[i]
		} else if due[r.Pharmacy] > 0 {
			res.Complete++
			allReached[r.Phase] = append(allReached[r.Phase], last[i])
			spread[r.Phase] = append(spread[r.Phase], time.Duration(lastRecv[i]-firstRecv[i]))
		}
	}
	for p := range out {
		res := &out[p]
		res.LatencyAt = Summarize(atLat[p])
		res.LatencySent = Summarize(sentLat[p])
		res.AllReached = Summarize(allReached[p])
		res.Spread = Summarize(spread[p])
		res.Mutation = Summarize(mutation[p])
		res.WriteWait = Summarize(writeWait[p])
		if !firstSent[p].IsZero() && lastSeen[p].After(firstSent[p]) {
			res.Window = lastSeen[p].Sub(firstSent[p])
			res.DeliveredPerSec = perSecond(res.Delivered, res.Window)
		}
	}
	return out
}
