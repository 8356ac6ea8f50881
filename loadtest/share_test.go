package main

import (
	"testing"
	"time"
)

// TestClientSubscriptions checks the subscriptions clients hold as the
// hub's series count them, with and without shared executions.
func TestClientSubscriptions(t *testing.T) {
	tests := []struct {
		give   map[string]float64
		want   float64
		wantOK bool
	}{
		{map[string]float64{"gridhub_subscriptions": 19500}, 19500, true},
		{map[string]float64{"gridhub_subscriptions": 3, "gridhub_shared_executions": 1, "gridhub_shared_subscribers": 19000}, 19002, true},
		{map[string]float64{"gridhub_subscriptions": 1, "gridhub_shared_executions": 0, "gridhub_shared_subscribers": 0}, 1, true},
		{map[string]float64{"gridhub_shared_subscribers": 5}, 0, false},
	}
	for _, tt := range tests {
		got, ok := clientSubscriptions(tt.give)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("clientSubscriptions(%v) = %v, %v; want %v, %v", tt.give, got, ok, tt.want, tt.wantOK)
		}
	}
}

// TestRecordStockChanged checks that a stockChanged subscriber records a
// restock's own step as its alert, skips the waiting list's steps and
// refuses what is not an alert of its operations.
func TestRecordStockChanged(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		id, give string
		want     bool
		samples  int
	}{
		{"1", `{"data":{"stockChanged":{"seq":7,"at":"2026-12-07T22:00:00Z","delta":12,"reason":"RESTOCK","gap":2}}}`, true, 1},
		{"2", `{"data":{"stockChanged":{"seq":8,"at":"2026-12-07T22:00:00Z","delta":-1,"reason":"ALLOCATE","gap":0}}}`, true, 0},
		{"3", `{"data":{"stockChanged":{"seq":8,"delta":1,"reason":"RESTOCK"}}}`, false, 0},
		{"1", `{"data":null}`, false, 0},
		{"1", `not json`, false, 0},
	}
	for _, tt := range tests {
		s := &subscriber{subs: 2}
		if got := s.record(tt.id, []byte(tt.give), at); got != tt.want || len(s.samples) != tt.samples {
			t.Errorf("record(%s, %s) = %v with %d samples, want %v with %d", tt.id, tt.give, got, len(s.samples), tt.want, tt.samples)
			continue
		}
		if tt.samples == 1 {
			if sm := s.samples[0]; sm.restock != 11 || sm.gap != 2 || sm.seq != 7 || sm.at != at.UnixNano() || sm.sub != 1 {
				t.Errorf("record(%s) kept %+v", tt.give, sm)
			}
		}
	}
}
