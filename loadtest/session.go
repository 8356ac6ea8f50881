package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// hubSession is what a load run, subscribers or reserve, holds of the hub
// it drives: a client, the hub's process, a token minter and an ADMIN
// token; and what the run keeps along the way: its progress log and its
// error counts. Both loads embed it.
type hubSession struct {
	log io.Writer

	hub    *hubClient
	proc   *proc // nil when the hub's process is unknown
	minter *Minter
	admin  string

	errs ErrorCounts
}

// noHubProcessNote is a report's note when the hub's process is unknown.
const noHubProcessNote = "the hub's process was not found (give -hub-pid): no memory or CPU figures"

// progress writes a line to the log, for whoever watches the run.
func (s *hubSession) progress(format string, args ...any) {
	fmt.Fprintf(s.log, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// attach makes hub the session's client and finds the hub's process:
// pid, or, when pid is 0, the process listening on the hub's port. It
// returns the process's id, 0 when none was found.
func (s *hubSession) attach(hub *hubClient, pid int) int {
	s.hub = hub
	if pid == 0 {
		pid = listenerPID(hub.port())
	}
	if pid <= 0 {
		return 0
	}
	s.proc = &proc{pid: pid}
	return pid
}

// mintAdmin reads the hub's HS256 secret, from -jwt-secret or else from
// its data directory, and mints an ADMIN token valid for ttl.
func (s *hubSession) mintAdmin(t hubTarget, ttl time.Duration) error {
	var err error
	secret := t.JWTSecret
	if secret == "" {
		if secret, err = ReadSecret(t.DataDir); err != nil {
			return fmt.Errorf("%w (give the hub's -data directory, or -jwt-secret)", err)
		}
	}
	if s.minter, err = NewMinter(secret, nil); err != nil {
		return err
	}
	s.admin, err = s.minter.Mint("ADMIN", "", "loadtest", ttl)
	return err
}

// close releases the client's idle connections.
func (s *hubSession) close() {
	if s.hub != nil {
		s.hub.close()
	}
}

// HubFigures are the hub's memory and counts at one moment.
type HubFigures struct {
	RSS           int64   `json:"rss_bytes"`
	RSSAnon       int64   `json:"rss_anon_bytes"`
	HeapInuse     float64 `json:"heap_inuse_bytes"`
	StackInuse    float64 `json:"stack_inuse_bytes"`
	Goroutines    float64 `json:"goroutines"`
	Subscriptions float64 `json:"subscriptions"`
	OpenFDs       int     `json:"open_fds"`
	GCCycles      float64 `json:"gc_cycles"`
}

// hubFigures reads the hub's memory from /proc and its Go runtime's
// figures and live subscriptions from /metrics.
func (s *hubSession) hubFigures(ctx context.Context) HubFigures {
	var f HubFigures
	if s.proc != nil {
		f.RSS, f.RSSAnon, _ = s.proc.RSS()
		f.OpenFDs, _ = s.proc.OpenFDs()
	}
	if m, err := s.hub.Metrics(ctx, append([]string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines", "go_gc_duration_seconds_count"}, subscriptionSeries...)...); err == nil {
		f.GCCycles = m["go_gc_duration_seconds_count"]
		f.HeapInuse = m["go_memstats_heap_inuse_bytes"]
		f.StackInuse = m["go_memstats_stack_inuse_bytes"]
		f.Goroutines = m["go_goroutines"]
		f.Subscriptions, _ = clientSubscriptions(m)
	}
	return f
}

// subscriptionSeries are the hub's series that count its subscriptions.
var subscriptionSeries = []string{"gridhub_subscriptions", "gridhub_shared_executions", "gridhub_shared_subscribers"}

// clientSubscriptions returns the subscriptions clients hold, from the
// series of subscriptionSeries: the broker's subscriptions, less the one
// each shared execution holds, plus the subscribers it serves. It reports
// false when the hub exports no gridhub_subscriptions.
func clientSubscriptions(m map[string]float64) (float64, bool) {
	v, ok := m["gridhub_subscriptions"]
	if !ok {
		return 0, false
	}
	return v - m["gridhub_shared_executions"] + m["gridhub_shared_subscribers"], true
}
