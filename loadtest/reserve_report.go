package main

import (
	"fmt"
	"io"
	"time"
)

// ReserveReport is what a reserve run measured.
type ReserveReport struct {
	Date   string        `json:"date"`
	Hub    string        `json:"hub"`
	HubPID int           `json:"hub_pid"`
	Cores  int           `json:"cores"`
	Config ReserveConfig `json:"config"`
	Notes  []string      `json:"notes,omitempty"`

	Residents  int `json:"residents"`
	Districts  int `json:"districts"`
	Pharmacies int `json:"pharmacies"`
	Rounds     int `json:"rounds"`
	Subscribed int `json:"subscribed"`
	Sources    int `json:"sources"` // client addresses the crowd sends from

	RawHTTP BaselineResult `json:"raw_http"`
	Healthz BaselineResult `json:"healthz"`
	Trivial BaselineResult `json:"trivial_query"`

	Phases []ReservePhaseResult `json:"phases"`

	HubBefore        HubFigures    `json:"hub_before"`
	HubAfter         HubFigures    `json:"hub_after"`
	SubscriberErrors int64         `json:"subscriber_errors"`
	Errors           []ErrorKind   `json:"errors"`
	ClientCPU        time.Duration `json:"client_cpu_ns"`
	HubCPU           time.Duration `json:"hub_cpu_ns"`
	OthersCPU        time.Duration `json:"others_cpu_ns"`
	ClientRSS        int64         `json:"client_rss_bytes"`
	Elapsed          time.Duration `json:"elapsed_ns"`
	LoadAvgStart     [3]float64    `json:"loadavg_start"`
	LoadAvgEnd       [3]float64    `json:"loadavg_end"`
}

// ReservePhaseResult is what one phase measured.
type ReservePhaseResult struct {
	Phase Phase   `json:"phase"`
	Rate  float64 `json:"rate"` // requests per second sent (open phases)

	Sent          int     `json:"sent"`
	ClientOverrun int     `json:"client_overrun"`
	Acked         int     `json:"acked"`
	AckedPerSec   float64 `json:"acked_per_sec"`
	// Latency is of acknowledged reservations, from their scheduled
	// time (open phases) or their send (max phases) to the answer.
	Latency        Summary       `json:"latency"`
	Refused        int           `json:"refused"`
	RefusedLatency Summary       `json:"refused_latency"`
	Outcomes       []ErrorKind   `json:"outcomes"`
	Wall           time.Duration `json:"wall_ns"`
	// Drain is how long after the phase's end its last answer came.
	Drain time.Duration `json:"drain_ns"`

	Dashboard    DashboardResult `json:"dashboard"`
	Report       DashboardResult `json:"fairness_report"`
	Events       int             `json:"events"`
	EventGaps    int             `json:"event_gaps"`
	EventLatency Summary         `json:"event_latency"`

	HubCores     float64    `json:"hub_cores"`
	ClientCores  float64    `json:"client_cores"`
	OthersCores  float64    `json:"others_cores"`
	Hub          HubWindow  `json:"hub"`
	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
}

// Print writes the report for people.
func (r *ReserveReport) Print(w io.Writer) {
	p := linePrinter(w)
	c := r.Config
	p.header("reserve", r.Date)
	p("hub %s (pid %d), %d cores; load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end",
		r.Hub, r.HubPID, r.Cores, r.LoadAvgStart[0], r.LoadAvgStart[1], r.LoadAvgStart[2], r.LoadAvgEnd[0], r.LoadAvgEnd[1], r.LoadAvgEnd[2])
	p("city: %d residents, %d districts, %d pharmacies (+%d %s each); %d FIRST_COME rounds, %d per person, %d rings",
		r.Residents, r.Districts, r.Pharmacies, c.Restock, c.SKU, r.Rounds, c.PerPerson, c.MaxK)
	p("client: %d connections from %d addresses, %d workers in max phases, %d outstanding at most; %d stockChanged subscribers; district dashboards %g queries/s, fairness reports %g/s",
		c.Conns, r.Sources, c.Concurrency, c.MaxOutstanding, r.Subscribed, c.DashboardRate, c.ReportRate)
	p.notes(r.Notes)

	p("")
	p("baselines (closed loops of %d workers, %s each, the hub idle)", c.Concurrency, c.BaselineDuration)
	for _, b := range []BaselineResult{r.RawHTTP, r.Healthz, r.Trivial} {
		if b.Name == "" {
			continue
		}
		p("  %-8s %8.0f/s  %s; server %.2f cores, client %.2f; errors %s", b.Name, b.PerSec, b.Latency, b.ServerCores, b.ClientCores, formatKinds(b.Errors))
	}
	if r.RawHTTP.PerSec > 0 {
		p("  ratios: trivial query / raw net/http throughput %.2f, p99 %.2f; /healthz / raw net/http throughput %.2f",
			ratio(r.Trivial.PerSec, r.RawHTTP.PerSec), ratio(float64(r.Trivial.Latency.P99), float64(r.RawHTTP.Latency.P99)),
			ratio(r.Healthz.PerSec, r.RawHTTP.PerSec))
	}

	var ref Summary
	if c.Reference < len(r.Phases) {
		ref = r.Phases[c.Reference].Latency
	}
	for i, ph := range r.Phases {
		p("")
		what := fmt.Sprintf("open, %.0f reservations/s", ph.Rate)
		if ph.Phase.Closed {
			what = fmt.Sprintf("max, %d workers back to back", c.Concurrency)
		} else if ph.Phase.Times != 0 {
			what = fmt.Sprintf("open, %gx the last max phase = %.0f reservations/s", ph.Phase.Times, ph.Rate)
		}
		p("phase %d: %s, %s (load average %.2f -> %.2f)", i, what, ph.Phase.Duration, ph.LoadAvgStart[0], ph.LoadAvgEnd[0])
		p("  sent %d, acknowledged durable %d = %.0f/s; refused RATE_LIMITED %d; client overrun %d; last answer %s after the end",
			ph.Sent, ph.Acked, ph.AckedPerSec, ph.Refused, ph.ClientOverrun, ph.Drain.Round(time.Millisecond))
		p("  outcomes: %s", formatKinds(ph.Outcomes))
		p("  acknowledged latency: %s", ph.Latency)
		if ph.Refused > 0 {
			p("  refusal latency:      %s", ph.RefusedLatency)
		}
		p("  ratios: throughput / trivial query %.2f; p99 / trivial query p99 %.1f; p99 / phase %d p99 %.2f",
			ratio(ph.AckedPerSec, r.Trivial.PerSec), ratio(float64(ph.Latency.P99), float64(r.Trivial.Latency.P99)),
			c.Reference, ratio(float64(ph.Latency.P99), float64(ref.P99)))
		if ph.Dashboard.N > 0 {
			p("  district dashboard queries: %s; errors %s", ph.Dashboard.Latency, formatKinds(ph.Dashboard.Errors))
		}
		if ph.Report.N > 0 {
			p("  fairness reports:           %s; errors %s", ph.Report.Latency, formatKinds(ph.Report.Errors))
		}
		if r.Subscribed > 0 {
			p("  stockChanged events received %d (%.0f/s), gaps %d; at to receipt %s", ph.Events, perSecond(ph.Events, ph.Wall), ph.EventGaps, ph.EventLatency)
		}
		p("  CPU (cores): hub %.2f, client %.2f, others %.2f; hub at most: RSS %s (anon %s), heap %s, %.0f goroutines, %.0f in flight, %.0f queued",
			ph.HubCores, ph.ClientCores, ph.OthersCores, mib(ph.Hub.RSSMax), mib(ph.Hub.RSSAnonMax), mib(int64(ph.Hub.HeapMax)),
			ph.Hub.GoroutinesMax, ph.Hub.InFlightMax, ph.Hub.QueuedMax)
	}

	p("")
	p("hub before the phases: RSS %s (anon %s), %.0f goroutines; 2 s after: RSS %s (anon %s), %.0f goroutines, heap %s",
		mib(r.HubBefore.RSS), mib(r.HubBefore.RSSAnon), r.HubBefore.Goroutines,
		mib(r.HubAfter.RSS), mib(r.HubAfter.RSSAnon), r.HubAfter.Goroutines, mib(int64(r.HubAfter.HeapInuse)))
	p.errorKinds("errors by kind (setup, subscribers)", r.Errors)
	p("CPU over the run: hub %s, this client %s, other processes %s; client RSS %s; elapsed %s",
		r.HubCPU.Round(time.Millisecond), r.ClientCPU.Round(time.Millisecond), r.OthersCPU.Round(time.Millisecond),
		mib(r.ClientRSS), r.Elapsed.Round(time.Millisecond))
}
