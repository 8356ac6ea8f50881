package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	event string
	data  string
}

// readSSEEvent reads lines up to the blank line ending the next event,
// skipping comment-only blocks such as gqlgen's initial ":" and keep-alives.
func readSSEEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	sawField := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, fmt.Errorf("read event stream: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if sawField {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			ev.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			sawField = true
		case strings.HasPrefix(line, "data:"):
			ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			sawField = true
		}
	}
}

func TestSSESubscription(t *testing.T) {
	ts := newSubscriptionServer(t, transport.SSE{})
	srv := ts.http

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(subscriptionQuery))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST subscription: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}

	r := bufio.NewReader(resp.Body)
	for i := range 3 {
		ts.sendNext(t)
		ev, err := readSSEEvent(r)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.event != "next" {
			t.Fatalf("event %d: type %q, want next", i, ev.event)
		}
		checkNameData(t, []byte(ev.data))
	}

	ts.sendComplete(t)
	ev, err := readSSEEvent(r)
	if err != nil {
		t.Fatalf("complete event: %v", err)
	}
	if ev.event != "complete" {
		t.Fatalf("got event %q, want complete", ev.event)
	}
}
