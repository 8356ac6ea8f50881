package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeWSHub speaks graphql-transport-ws as the hub does: it acks
// connection_init (or, with refuse, closes with 4403 instead), and after
// the first subscribe it pings, takes any further subscribes until the
// pong (the client sends them all before it reads), hands each
// subscribe's id to ids (when not nil), sends frames and reads until the
// client closes.
func fakeWSHub(t *testing.T, refuse bool, ids chan<- string, frames ...string) *httptest.Server {
	up := websocket.Upgrader{Subprotocols: []string{subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		expect := func(typ string) bool {
			_, b, err := conn.ReadMessage()
			if err != nil || !strings.Contains(string(b), `"type":"`+typ+`"`) {
				t.Errorf("hub read %q, %v; want %s", b, err, typ)
				return false
			}
			return true
		}
		if !expect("connection_init") {
			return
		}
		if refuse {
			msg := websocket.FormatCloseMessage(4403, "Forbidden")
			_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_ack"}`))
		for first := true; ; first = false {
			_, b, err := conn.ReadMessage()
			var m wsMessage
			if err == nil {
				err = json.Unmarshal(b, &m)
			}
			if err != nil || m.Type != "subscribe" && (first || m.Type != "pong") {
				t.Errorf("hub read %q, %v; want subscribe or, after one, pong", b, err)
				return
			}
			if m.Type == "pong" {
				break
			}
			if ids != nil {
				ids <- m.ID
			}
			if first {
				_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
			}
		}
		for _, f := range frames {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(f))
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return // the client's close frame, answered by the default handler
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// TestStockSubsRead follows a stockChanged subscription: the event is
// kept, every other message counted under the fleet's prefix, and the
// teardown ends the connection without counting it lost.
func TestStockSubsRead(t *testing.T) {
	at := time.Now().Add(-5 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	srv := fakeWSHub(t, false, nil,
		`{"id":"1","type":"next","payload":{"data":{"stockChanged":{"seq":1,"at":"`+at+`","delta":5,"stockAfter":9,"reason":"RESTOCK","gap":2}}}}`,
		`{"id":"1","type":"next","payload":{"errors":[{"message":"no","extensions":{"code":"FORBIDDEN"}}]}}`,
		`{"id":"1","type":"error","payload":[{"message":"bad","extensions":{"code":"BAD_USER_INPUT"}}]}`,
		`{"id":"1","type":"complete"}`,
		`{"type":"hello"}`,
	)
	var errs ErrorCounts
	s, err := openStockSubs(context.Background(), wsURL(srv), []string{"tpe-TP01"}, []string{"tok"}, 1, 2*time.Second, &errs)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []string{"stock_next/FORBIDDEN", "stock_read/unexpected_hello", "stock_subscribe/BAD_USER_INPUT", "stock_subscribe/completed_by_hub"}
	for deadline := time.Now().Add(5 * time.Second); len(errs.Kinds()) < len(wantKinds) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	s.close()
	var got []string
	for _, k := range errs.Kinds() {
		got = append(got, k.Kind)
	}
	if strings.Join(got, " ") != strings.Join(wantKinds, " ") {
		t.Errorf("error kinds %v, want %v", got, wantKinds)
	}
	n, gaps, lat := s.window(time.Now().Add(-time.Minute), time.Now())
	if n != 1 || gaps != 2 || lat.Min < 5*time.Millisecond {
		t.Errorf("window: %d events, %d gaps, latency %v; want 1, 2, at least 5 ms", n, gaps, lat)
	}
	if lost := s.fl.lost.Load(); lost != 0 {
		t.Errorf("%d connections lost, want 0", lost)
	}
}

// TestFleetSubscriptions opens one connection with three subscriptions:
// it sends their subscribes, ids "1".."3", after the one connection_ack,
// and the reader hands each alert to its subscription.
func TestFleetSubscriptions(t *testing.T) {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	alert := func(id string) string {
		return `{"id":"` + id + `","type":"next","payload":{"data":{"restockAlerts":{"seq":1,"at":"` + at + `","quantity":1}}}}`
	}
	ids := make(chan string, 10)
	srv := fakeWSHub(t, false, ids, alert("2"), alert("1"), alert("3"), alert("9"))
	var errs ErrorCounts
	fl := newFleet(wsURL(srv), nil, 2*time.Second, "", &errs)
	s := &subscriber{subs: 3}
	conn, err := fl.connect(context.Background(), initMessage("tok"), subscribes(restockAlertQuery, "c", "c1", 3), s.record)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(errs.Kinds()) == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the unknown id comes last
	}
	fl.closeAll([]*websocket.Conn{conn}, 2*time.Second, 1)
	close(ids)
	var sent []string
	for id := range ids {
		sent = append(sent, id)
	}
	if strings.Join(sent, " ") != "1 2 3" {
		t.Errorf("subscribes sent with ids %v, want 1 2 3", sent)
	}
	var got []int32
	for _, a := range s.samples {
		got = append(got, a.sub)
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 1 || got[2] != 3 || fl.delivered.Load() != 3 {
		t.Errorf("alerts to subscriptions %v (%d delivered), want [2 1 3]", got, fl.delivered.Load())
	}
	if k := errs.Kinds(); len(k) != 1 || k[0].Kind != "next/bad_payload" {
		t.Errorf("error kinds %v, want next/bad_payload for operation 9", k)
	}
}

// TestFleetRefused names a refused connection_init by its stage and the
// hub's close code, for both fleets' error counts.
func TestFleetRefused(t *testing.T) {
	srv := fakeWSHub(t, true, nil)
	var errs ErrorCounts
	fl := newFleet(wsURL(srv), nil, 2*time.Second, "", &errs)
	_, err := fl.connect(context.Background(), initMessage("tok"), subscribes(restockAlertQuery, "c", "c1", 1), nil)
	if got := failureKind(err); got != "init/ws_close_4403" {
		t.Errorf("failureKind = %q (err %v), want init/ws_close_4403", got, err)
	}
	if got := netErrorKind(err); got != "ws_close_4403" {
		t.Errorf("netErrorKind = %q, want ws_close_4403", got)
	}
	if _, err := openStockSubs(context.Background(), wsURL(srv), []string{"d"}, []string{"tok"}, 1, 2*time.Second, &errs); err == nil {
		t.Error("openStockSubs opened a refused subscription")
	}
	if k := errs.Kinds(); len(k) != 1 || k[0].Kind != "stock_subscribe/ws_close_4403" {
		t.Errorf("error kinds %v, want stock_subscribe/ws_close_4403", k)
	}
}

func TestSubscriberRecord(t *testing.T) {
	s := subscriber{subs: 2}
	alert := []byte(`{"data":{"restockAlerts":{"seq":7,"at":"2026-11-23T08:00:00Z","sku":"MASK_ADULT","quantity":12,"gap":1}}}`)
	ok := s.record("2", alert, time.Unix(1_800_000_000, 0))
	if !ok || len(s.samples) != 1 {
		t.Fatalf("record = %v, samples %v", ok, s.samples)
	}
	want := sample{restock: 11, gap: 1, sub: 2, seq: 7, at: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).UnixNano(), recv: 1_800_000_000 * int64(time.Second)}
	if s.samples[0] != want {
		t.Errorf("sample %+v, want %+v", s.samples[0], want)
	}
	for _, bad := range []string{`{"data":null,"errors":[{"message":"x"}]}`, `{"data":{"restockAlerts":null}}`, `not json`} {
		if s.record("1", []byte(bad), time.Now()) {
			t.Errorf("record(%s) took a payload without an alert", bad)
		}
	}
	// An operation the connection never subscribed is not one of its
	// subscriptions: counting it would hide a missing alert.
	for _, id := range []string{"0", "3", "", "x"} {
		if s.record(id, alert, time.Now()) {
			t.Errorf("record took an alert for operation %q of a connection with operations 1..2", id)
		}
	}
	if got := payloadErrorKind([]byte(`{"errors":[{"message":"x","extensions":{"code":"FORBIDDEN"}}]}`)); got != "FORBIDDEN" {
		t.Errorf("payloadErrorKind = %q", got)
	}
}
