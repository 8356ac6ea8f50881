package main

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP gridhub_subscriptions Live subscriptions.
# TYPE gridhub_subscriptions gauge
gridhub_subscriptions 19500
go_goroutines 78123
go_memstats_heap_inuse_bytes 1.2345e+08
gridhub_events_delivered_total{kind="RESTOCK"} 42
`
	got, err := parseMetrics(strings.NewReader(text), []string{"gridhub_subscriptions", "go_goroutines", "go_memstats_heap_inuse_bytes", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if got["gridhub_subscriptions"] != 19500 || got["go_goroutines"] != 78123 || got["go_memstats_heap_inuse_bytes"] != 1.2345e8 || len(got) != 3 {
		t.Errorf("parseMetrics = %v", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "127.0.0.5", "::1", "localhost"} {
		if err := checkLoopback(host); err != nil {
			t.Errorf("checkLoopback(%q) = %v", host, err)
		}
	}
	for _, host := range []string{"10.0.0.1", "192.168.1.1", "8.8.8.8", "example.com", ""} {
		if err := checkLoopback(host); err == nil {
			t.Errorf("checkLoopback(%q) accepted a non-loopback address", host)
		}
	}
}
