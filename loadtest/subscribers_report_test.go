package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// idleReport is a report of n connections with m subscriptions each whose
// hub grew by 60 MiB of RssAnon and 3 goroutines a connection at idle.
func idleReport(n, m int) *SubscribersReport {
	r := &SubscribersReport{}
	r.Config.N, r.Config.PerConnection = n, m
	r.Config.Idle, r.Config.Settle = 10*time.Second, 5*time.Second
	r.Connect = ConnectResult{Attempted: n, Subscribed: n, PerConnection: m, Subscriptions: n * m, Wall: time.Second, PerSec: float64(n)}
	r.HubBefore = HubFigures{RSSAnon: 40 << 20, Goroutines: 20}
	r.HubIdle = HubFigures{RSSAnon: 100 << 20, Goroutines: 20 + 3*float64(n)}
	r.Phases = []PhaseResult{{Name: "paced", Restocks: 1, Expected: 3, Delivered: 3, Due: 1, Complete: 1}}
	return r
}

// TestSubscribersReportPerConnection checks what the report says of
// connections and subscriptions: with one subscription per connection
// the lines of a subscriber, with several the memory both per connection
// and per subscription, each labelled, and alerts per subscription.
func TestSubscribersReportPerConnection(t *testing.T) {
	var one bytes.Buffer
	idleReport(1024, 1).Print(&one)
	for _, want := range []string{
		"connections 1024 x subscriptions per connection 1 = 1024 subscriptions",
		"memory per idle subscriber: RssAnon 60.0 KiB;",
		"reached every subscriber due",
		"by the last subscriber:   ",
	} {
		if !strings.Contains(one.String(), want) {
			t.Errorf("report with one subscription per connection lacks %q:\n%s", want, one.String())
		}
	}
	if s := one.String(); strings.Contains(s, "PER CONNECTION") || strings.Contains(s, "PER SUBSCRIPTION") {
		t.Errorf("report with one subscription per connection splits its memory:\n%s", s)
	}

	var three bytes.Buffer
	r := idleReport(1024, 3)
	r.Print(&three)
	for _, want := range []string{
		"connections 1024 x subscriptions per connection 3 = 3072 subscriptions",
		"opened 1024 of 1024 connections in 1s: 1024 connections/s (3072 subscriptions/s)",
		"memory per idle subscriber, PER CONNECTION of 3 subscriptions: RssAnon 60.0 KiB;",
		"memory per idle subscriber, PER SUBSCRIPTION (its connection shared by 3): RssAnon 20.0 KiB;",
		"3.0 goroutines", "1.00 goroutines",
		"gauge after settling:  0 of 3072",
		"reached every subscription due",
		"by the last subscription:   ",
	} {
		if !strings.Contains(three.String(), want) {
			t.Errorf("report with three subscriptions per connection lacks %q:\n%s", want, three.String())
		}
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Config struct {
			N             int `json:"n"`
			PerConnection int `json:"per_connection"`
		} `json:"config"`
		Connect struct {
			Subscribed    int `json:"subscribed"`
			PerConnection int `json:"subscriptions_per_connection"`
			Subscriptions int `json:"subscriptions"`
		} `json:"connect"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.Config.N != 1024 || j.Config.PerConnection != 3 || j.Connect.Subscribed != 1024 || j.Connect.PerConnection != 3 || j.Connect.Subscriptions != 3072 {
		t.Errorf("JSON config %+v, connect %+v", j.Config, j.Connect)
	}
}
