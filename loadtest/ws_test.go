package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeWSHub speaks graphql-transport-ws as the hub does: it acks
// connection_init (or, with refuse, closes with 4403 instead), and after
// subscribe it pings, waits for the pong, sends frames and reads until
// the client closes.
func fakeWSHub(t *testing.T, refuse bool, frames ...string) *httptest.Server {
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
		if !expect("subscribe") {
			return
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if !expect("pong") {
			return
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
	srv := fakeWSHub(t, false,
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

// TestFleetRefused names a refused connection_init by its stage and the
// hub's close code, for both fleets' error counts.
func TestFleetRefused(t *testing.T) {
	srv := fakeWSHub(t, true)
	var errs ErrorCounts
	fl := newFleet(wsURL(srv), nil, 2*time.Second, "", &errs)
	_, err := fl.connect(context.Background(), initMessage("tok"), subscribeMessage(restockAlertQuery, map[string]string{"c": "c1"}), nil)
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
	var s subscriber
	ok := s.record([]byte(`{"data":{"restockAlerts":{"seq":7,"at":"2026-11-23T08:00:00Z","sku":"MASK_ADULT","quantity":12,"gap":1}}}`), time.Unix(1_800_000_000, 0))
	if !ok || len(s.samples) != 1 {
		t.Fatalf("record = %v, samples %v", ok, s.samples)
	}
	want := sample{restock: 11, gap: 1, seq: 7, at: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).UnixNano(), recv: 1_800_000_000 * int64(time.Second)}
	if s.samples[0] != want {
		t.Errorf("sample %+v, want %+v", s.samples[0], want)
	}
	for _, bad := range []string{`{"data":null,"errors":[{"message":"x"}]}`, `{"data":{"restockAlerts":null}}`, `not json`} {
		if s.record([]byte(bad), time.Now()) {
			t.Errorf("record(%s) took a payload without an alert", bad)
		}
	}
	if got := payloadErrorKind([]byte(`{"errors":[{"message":"x","extensions":{"code":"FORBIDDEN"}}]}`)); got != "FORBIDDEN" {
		t.Errorf("payloadErrorKind = %q", got)
	}
}
