package main

import (
	"io"
	"strings"
	"time"
)

// SubscribersReport is what a subscribers run measured.
type SubscribersReport struct {
	Date   string            `json:"date"`
	Hub    string            `json:"hub"`
	HubPID int               `json:"hub_pid"`
	Cores  int               `json:"cores"`
	Config SubscribersConfig `json:"config"`
	Notes  []string          `json:"notes,omitempty"`

	ClientNoFile [2]uint64 `json:"client_nofile"` // soft, hard
	HubNoFile    int       `json:"hub_nofile"`
	Sources      []string  `json:"sources"`

	Committees int     `json:"committees"`
	Pharmacies int     `json:"pharmacies"`
	ReachMin   int     `json:"reach_min"` // committees a restock alerts
	ReachMax   int     `json:"reach_max"`
	ReachMean  float64 `json:"reach_mean"`

	BaselineQuery QueryResult `json:"baseline_query"` // the empty hub
	LoadedQuery   QueryResult `json:"loaded_query"`   // with the subscribers idle
	TCPConnect    RateResult  `json:"tcp_connect"`
	// Floor is the kernel's loopback write of one frame (-floor), nil
	// when not measured.
	Floor *FloorResult `json:"floor,omitempty"`

	Connect              ConnectResult `json:"connect"`
	SubscriptionsSettled float64       `json:"subscriptions_settled"`

	HubBefore        HubFigures `json:"hub_before"`
	HubIdle          HubFigures `json:"hub_idle"`
	HubAfterLoad     HubFigures `json:"hub_after_load"`
	HubAfterClose    HubFigures `json:"hub_after_close"`
	HubCPUIdleEmpty  CPUWindow  `json:"hub_cpu_idle_empty"`
	HubCPUIdleLoaded CPUWindow  `json:"hub_cpu_idle_loaded"`

	Phases                  []PhaseResult `json:"phases"`
	PhaseCPU                []PhaseCPU    `json:"phase_cpu"`
	Lost                    int64         `json:"lost"`
	ForcedCloses            int           `json:"forced_closes"`
	SubscriptionsAfterClose float64       `json:"subscriptions_after_close"`
	Errors                  []ErrorKind   `json:"errors"`

	ClientCPU time.Duration `json:"client_cpu_ns"`
	HubCPU    time.Duration `json:"hub_cpu_ns"`
	// OthersCPU is the CPU time of every other process on the machine
	// during the run: a busy neighbour skews every figure.
	OthersCPU   time.Duration `json:"others_cpu_ns"`
	OthersCores float64       `json:"others_cores"`
	ClientRSS   int64         `json:"client_rss_bytes"`
	Elapsed     time.Duration `json:"elapsed_ns"`

	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
}

// PerDelivery returns the hub's CPU per alert delivered in phase i, in
// microseconds: its CPU over the phase (restocks and their drain) over
// the alerts delivered; 0 without the figures.
func (r *SubscribersReport) PerDelivery(i int) float64 {
	if i >= len(r.Phases) || i >= len(r.PhaseCPU) {
		return 0
	}
	pc := r.PhaseCPU[i]
	return ratio(pc.Hub*pc.Wall.Seconds()*1e6, float64(r.Phases[i].Delivered))
}

// PerSubscriber returns the hub's memory per idle subscriber, that is
// per connection, in bytes: the growth of its anonymous resident memory
// (RssAnon: the memory-mapped store left out), of its Go heap in use and
// of its goroutine stacks, from before the subscribers opened to idle
// with them, over the connections. The heap and RssAnon include the
// garbage of opening the connections that no collection has freed yet:
// they are upper bounds. With -per-connection M above 1 a connection
// holds M subscriptions, so the figure is not a one-subscription
// subscriber's cost; PerSubscription divides the same growth by the
// subscriptions instead.
func (r *SubscribersReport) PerSubscriber() (rssAnon, heap, stacks float64) {
	return r.idleGrowth(r.Connect.Subscribed)
}

// PerSubscription returns the hub's memory per idle subscription in
// bytes, as PerSubscriber does per connection: each subscription's share
// of its connection's cost included, so that it too is not a
// one-subscription subscriber's cost when M is above 1. With M = 1 the
// two are the same.
func (r *SubscribersReport) PerSubscription() (rssAnon, heap, stacks float64) {
	return r.idleGrowth(r.Connect.Subscriptions)
}

// idleGrowth returns the growth of the hub's RssAnon, Go heap and stacks
// from before the subscribers to idle with them, over n.
func (r *SubscribersReport) idleGrowth(n int) (rssAnon, heap, stacks float64) {
	if n == 0 || r.HubIdle.RSSAnon == 0 {
		return 0, 0, 0
	}
	rssAnon = float64(r.HubIdle.RSSAnon-r.HubBefore.RSSAnon) / float64(n)
	heap = (r.HubIdle.HeapInuse - r.HubBefore.HeapInuse) / float64(n)
	stacks = (r.HubIdle.StackInuse - r.HubBefore.StackInuse) / float64(n)
	return rssAnon, heap, stacks
}

// Print writes the report for people. With one subscription per
// connection a subscriber is both; with more, each figure says whether it
// is per connection or per subscription.
func (r *SubscribersReport) Print(w io.Writer) {
	p := linePrinter(w)
	c := r.Config
	p.header("subscribers", r.Date)
	p("hub %s (pid %d), %d cores; n=%d, duration cap %s; load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end",
		r.Hub, r.HubPID, r.Cores, c.N, c.Duration, r.LoadAvgStart[0], r.LoadAvgStart[1], r.LoadAvgStart[2], r.LoadAvgEnd[0], r.LoadAvgEnd[1], r.LoadAvgEnd[2])
	p("limits: client RLIMIT_NOFILE %d (hard %d); hub RLIMIT_NOFILE %d; sources %s",
		r.ClientNoFile[0], r.ClientNoFile[1], r.HubNoFile, strings.Join(r.Sources, ","))
	p("city: %d committees, %d pharmacies; a restock alerts %d-%d committees (mean %.1f) within %d rings",
		r.Committees, r.Pharmacies, r.ReachMin, r.ReachMax, r.ReachMean, c.ServiceK)
	p.notes(r.Notes)

	p("")
	p("baseline (same hub, same run)")
	p("  trivial query { supplies { sku } }, hub empty:       %s; %.0f req/s (%d in flight)",
		r.BaselineQuery.Latency, r.BaselineQuery.PerSec, c.BaselineConcurrency)
	p("  trivial query, with the subscribers idle:          %s; %.0f req/s",
		r.LoadedQuery.Latency, r.LoadedQuery.PerSec)
	p("  raw TCP connect+reset to the hub's port:           %d in %s: %.0f conn/s (%d at a time)",
		r.TCPConnect.N, r.TCPConnect.Wall.Round(time.Millisecond), r.TCPConnect.PerSec, c.DialConcurrency)
	if f := r.Floor; f != nil {
		p("  floor, one process writing %d bytes once to each of %d loopback sockets (%d rounds, %d writers; a child reads): %.2f us of CPU per write (%d writes, %d errors, %s; the reader %.2f us per write; load average %.2f)",
			f.FrameBytes, f.Sockets, f.Rounds, f.Writers, f.PerWrite, f.Writes, f.Errors, f.Wall.Round(time.Millisecond),
			ratio(float64(f.SinkCPU)/1e3, float64(f.Writes)), f.LoadAvg[0])
	}

	p("")
	m := c.PerConnection
	multi := m > 1
	if !multi {
		p("subscribers (graphql-transport-ws, connection_init with a COMMITTEE token, restockAlerts of its committee)")
		p("  opened %d of %d in %s: %.0f subscriptions/s = %.3f x raw TCP connect rate",
			r.Connect.Subscribed, r.Connect.Attempted, r.Connect.Wall.Round(time.Millisecond), r.Connect.PerSec,
			ratio(r.Connect.PerSec, r.TCPConnect.PerSec))
	} else {
		p("subscribers (graphql-transport-ws, connection_init with a COMMITTEE token, %d subscriptions to restockAlerts of its committee)", m)
		p("  opened %d of %d connections in %s: %.0f connections/s (%.0f subscriptions/s) = %.3f x raw TCP connect rate",
			r.Connect.Subscribed, r.Connect.Attempted, r.Connect.Wall.Round(time.Millisecond), r.Connect.PerSec,
			r.Connect.PerSec*float64(m), ratio(r.Connect.PerSec, r.TCPConnect.PerSec))
	}
	p("  connections %d x subscriptions per connection %d = %d subscriptions", r.Connect.Subscribed, m, r.Connect.Subscriptions)
	dial := "per connection, dial to subscribe sent:"
	if multi {
		dial = "per connection, dial to its last subscribe sent:"
	}
	p("  %-51s%s", dial, r.Connect.Latency)
	if !multi {
		p("  hub's gridhub_subscriptions gauge after settling:  %.0f", r.SubscriptionsSettled)
	} else {
		p("  hub's gridhub_subscriptions gauge after settling:  %.0f of %d", r.SubscriptionsSettled, r.Connect.Subscriptions)
	}

	p("")
	p("hub memory and CPU (pid %d)", r.HubPID)
	p("  VmRSS (RssAnon): before %s (%s), idle with subscribers %s (%s), after restocks %s (%s), after close %s (%s)",
		mib(r.HubBefore.RSS), mib(r.HubBefore.RSSAnon), mib(r.HubIdle.RSS), mib(r.HubIdle.RSSAnon),
		mib(r.HubAfterLoad.RSS), mib(r.HubAfterLoad.RSSAnon), mib(r.HubAfterClose.RSS), mib(r.HubAfterClose.RSSAnon))
	p("  Go heap+stacks in use: before %s, idle %s, after close %s; goroutines: before %.0f, idle %.0f, after close %.0f",
		mib(int64(r.HubBefore.HeapInuse+r.HubBefore.StackInuse)), mib(int64(r.HubIdle.HeapInuse+r.HubIdle.StackInuse)),
		mib(int64(r.HubAfterClose.HeapInuse+r.HubAfterClose.StackInuse)),
		r.HubBefore.Goroutines, r.HubIdle.Goroutines, r.HubAfterClose.Goroutines)
	p("  GC cycles so far: before %.0f, idle %.0f, after restocks %.0f",
		r.HubBefore.GCCycles, r.HubIdle.GCCycles, r.HubAfterLoad.GCCycles)
	goroutines := r.HubIdle.Goroutines - r.HubBefore.Goroutines
	cpuIdle := (r.HubCPUIdleLoaded.Hub - r.HubCPUIdleEmpty.Hub) * 1e6
	anon, heap, stacks := r.PerSubscriber()
	if !multi {
		p("  memory per idle subscriber: RssAnon %.1f KiB; Go heap %.1f KiB + stacks %.1f KiB; %.1f goroutines (goal <= 20 KiB; heap and RSS are upper bounds: setup garbage not yet collected)",
			anon/1024, heap/1024, stacks/1024, ratio(goroutines, float64(r.Connect.Subscribed)))
		p("  CPU at idle over %s (after %s): empty %.1f%% of a core, with %d subscribers %.1f%% of a core (%.2f us of CPU per subscriber per second)",
			c.Idle, c.Settle, 100*r.HubCPUIdleEmpty.Hub, r.Connect.Subscribed, 100*r.HubCPUIdleLoaded.Hub,
			ratio(cpuIdle, float64(r.Connect.Subscribed)))
	} else {
		// Neither figure is a one-subscription subscriber's: a connection
		// here holds m subscriptions, and a subscription shares its
		// connection's cost with m-1 others.
		p("  memory per idle subscriber, PER CONNECTION of %d subscriptions: RssAnon %.1f KiB; Go heap %.1f KiB + stacks %.1f KiB; %.1f goroutines (heap and RSS are upper bounds: setup garbage not yet collected)",
			m, anon/1024, heap/1024, stacks/1024, ratio(goroutines, float64(r.Connect.Subscribed)))
		anon, heap, stacks = r.PerSubscription()
		p("  memory per idle subscriber, PER SUBSCRIPTION (its connection shared by %d): RssAnon %.1f KiB; Go heap %.1f KiB + stacks %.1f KiB; %.2f goroutines (neither figure compares with the goal of 20 KiB for a subscriber with a connection of its own)",
			m, anon/1024, heap/1024, stacks/1024, ratio(goroutines, float64(r.Connect.Subscriptions)))
		p("  CPU at idle over %s (after %s): empty %.1f%% of a core, with %d connections (%d subscriptions) %.1f%% of a core (%.2f us of CPU per connection per second, %.2f per subscription)",
			c.Idle, c.Settle, 100*r.HubCPUIdleEmpty.Hub, r.Connect.Subscribed, r.Connect.Subscriptions, 100*r.HubCPUIdleLoaded.Hub,
			ratio(cpuIdle, float64(r.Connect.Subscribed)), ratio(cpuIdle, float64(r.Connect.Subscriptions)))
	}
	p("  other processes on the machine meanwhile: %.2f cores, then %.2f cores", r.HubCPUIdleEmpty.Others, r.HubCPUIdleLoaded.Others)

	// Alerts are due and matched per subscription: with more than one per
	// connection, the phases say so.
	unit := "subscriber"
	if multi {
		unit = "subscription"
	}
	if len(r.Phases) > 0 && r.Phases[0].Restocks+r.Phases[len(r.Phases)-1].Restocks > 0 {
		p("")
		p("(an event's at is stamped when the hub takes the stock change, before its durable write: at-to-receipt includes that write's fsync)")
	}
	for i, ph := range r.Phases {
		if ph.Restocks == 0 {
			continue
		}
		p("")
		switch ph.Name {
		case "paced":
			p("restocks, paced: %d at %g/s over HTTP with an ADMIN token, %d failed", ph.Restocks, c.RestockRate, ph.RestocksFailed)
		case "burst":
			p("restocks, burst: %d back to back, %d in flight, %d failed", ph.Restocks, c.BurstConcurrency, ph.RestocksFailed)
		}
		p("  alerts: %d due, %d delivered, %d missing, %d duplicate, %d outside the disk, %d dropped by the hub (gap); %d of %d restocks due reached every %s due",
			ph.Expected, ph.Delivered, ph.Missing, ph.Duplicates, ph.Unexpected, ph.Gaps, ph.Complete, ph.Due, unit)
		lines := [][2]string{
			{"latency, stock write (event at) to receipt, every alert:", ph.LatencyAt.String()},
			{"latency, stock write to receipt by the last " + unit + ":", ph.AllReached.String()},
			{"fan-out spread, first " + unit + "'s receipt to the last's:", ph.Spread.String()},
			{"latency, mutation sent to receipt, every alert:", ph.LatencySent.String()},
			{"restock mutation round trip:", ph.Mutation.String()},
			{"restock mutation sent to its stock write (event at):", ph.WriteWait.String()},
		}
		width := 0
		for _, l := range lines {
			width = max(width, len(l[0])+1)
		}
		for _, l := range lines {
			p("  %-*s%s", width, l[0], l[1])
		}
		p("  delivered %.0f alerts/s over %s (first send to last receipt)", ph.DeliveredPerSec, ph.Window.Round(time.Millisecond))
		if i < len(r.PhaseCPU) {
			pc := r.PhaseCPU[i]
			p("  CPU meanwhile (cores, over %s): hub %.2f, this client %.2f, other processes %.2f; hub CPU per alert delivered %.1f us",
				pc.Wall.Round(time.Millisecond), pc.Hub, pc.Client, pc.Others, r.PerDelivery(i))
			if r.Floor != nil && r.Floor.PerWrite > 0 {
				p("  hub CPU per alert / the floor's CPU per loopback write = %.1f / %.2f us = %.2f",
					r.PerDelivery(i), r.Floor.PerWrite, ratio(r.PerDelivery(i), r.Floor.PerWrite))
			}
		}
		p("  ratios: alert p50 / trivial query p50 = %.2f; alert p99 / trivial query p99 = %.2f; alerts/s / trivial queries/s = %.2f",
			ratio(float64(ph.LatencyAt.P50), float64(r.BaselineQuery.Latency.P50)),
			ratio(float64(ph.LatencyAt.P99), float64(r.BaselineQuery.Latency.P99)),
			ratio(ph.DeliveredPerSec, r.BaselineQuery.PerSec))
	}

	p("")
	p("teardown: %d connections lost before it, %d needed an abortive close; gridhub_subscriptions after close %.0f",
		r.Lost, r.ForcedCloses, r.SubscriptionsAfterClose)
	p.errorKinds("errors by kind", r.Errors)
	p("CPU over the run: hub %s, this client %s, other processes %s (%.2f cores on average); client RSS %s; elapsed %s",
		r.HubCPU.Round(time.Millisecond), r.ClientCPU.Round(time.Millisecond), r.OthersCPU.Round(time.Millisecond), r.OthersCores,
		mib(r.ClientRSS), r.Elapsed.Round(time.Millisecond))
}
