package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

// TestFrameWriterStaleDeadline: a write deadline that an earlier write
// set and that has passed since does not fail the next write, which
// goes out whole; nor does it fail the one after.
func TestFrameWriterStaleDeadline(t *testing.T) {
	server, client := tcpPair(t)
	w := newFrameWriter(server)
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"first", "second"} {
		if err := w.write([]byte(msg), time.Second); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		got := make([]byte, len(msg))
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(client, got); err != nil || string(got) != msg {
			t.Fatalf("read %q (%v), want %q", got, err, msg)
		}
	}
}

// TestFrameWriterFullSocket: a write larger than the sockets hold waits
// for the reader and arrives whole and in order; when the reader stops,
// the write fails once its timeout passes, instead of waiting for ever.
func TestFrameWriterFullSocket(t *testing.T) {
	server, client := tcpPair(t)
	// Buffers of a fixed size, which the kernel does not grow while the
	// first write goes through: grown, they could hold the second whole.
	if err := server.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := client.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	w := newFrameWriter(server)
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(big))))
		read <- b
	}()
	if err := w.write(big, 10*time.Second); err != nil {
		t.Fatalf("write while the peer reads: %v", err)
	}
	if got := <-read; !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(big))
	}

	// Nobody reads now.
	err := w.write(big, 50*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want the deadline exceeded", err)
	}
}

// TestKeepAliveWithData: a keep-alive due within half an interval goes
// out after the data a shared writer sends ("ping" on
// graphql-transport-ws, "ka" on graphql-ws), each its own message, and
// is reckoned sent: the next is due an interval later, so the data sent
// right after carries none; one due later than half an interval does
// not go early. Both on a served socket (frames written directly) and on
// a stand-in (messages through the socket's WriteMessage).
func TestKeepAliveWithData(t *testing.T) {
	tail := []byte(`,"payload":{"data":{"changes":{"seq":1,"gap":0}}}}`)
	for _, proto := range []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS} {
		for _, served := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s served=%v", proto, served), func(t *testing.T) {
				const d = 10 * time.Second
				tr := WebsocketTransport(WSOptions{PingPongInterval: d, KeepAlivePingInterval: d})
				var sock wsSocket
				var read func() string
				if served {
					server, client := wsPair(t, proto)
					sock = server
					read = func() string {
						t.Helper()
						_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
						_, b, err := client.ReadMessage()
						if err != nil {
							t.Fatal(err)
						}
						return string(b)
					}
				} else {
					fake := &wsFakeSocket{proto: proto}
					sock = fake
					n := 0
					read = func() string {
						t.Helper()
						w := fake.written()
						if n >= len(w) {
							t.Fatalf("%d messages written, want more", len(w))
						}
						n++
						return string(w[n-1])
					}
				}
				c := newWSConn(tr, sock, nil, context.Background(), "test")
				c.state = wsAcknowledged
				c.startTimer()
				t.Cleanup(func() { c.timer.Stop() })
				op := &wsOp{c: c, id: "x", cancel: func() {}}
				data, ka := `{"type":"next","id":"x"`+string(tail), pingMessage
				if proto == SubprotocolGraphQLWS {
					data, ka = `{"type":"data","id":"x"`+string(tail), keepAliveMessage
				}
				expect := func(want ...string) {
					t.Helper()
					for _, w := range want {
						if got := read(); got != w {
							t.Fatalf("read %s, want %s", got, w)
						}
					}
				}

				// The next keep-alive is an interval away: none goes early.
				op.sendTails([][]byte{tail})
				expect(data)

				c.mu.Lock()
				c.nextKA = time.Now().Add(d/2 - time.Second)
				c.mu.Unlock()
				op.sendTails([][]byte{tail, tail})
				expect(data, data, ka)
				c.mu.Lock()
				next := time.Until(c.nextKA)
				c.mu.Unlock()
				if next < d-time.Second {
					t.Errorf("the next keep-alive is due in %v, want about %v", next, d)
				}

				// The keep-alive was reckoned sent: the data right after
				// goes alone, and then a message of the test's own shows
				// that nothing else was written between.
				op.sendTails([][]byte{tail})
				_ = c.write([]byte(`{"type":"end"}`))
				expect(data, `{"type":"end"}`)
			})
		}
	}
}

// wsPair returns the server's and the client's ends of a WebSocket
// connection over loopback, in protocol.
func wsPair(t *testing.T, proto string) (server, client *websocket.Conn) {
	t.Helper()
	accepted := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{Subprotocols: []string{proto}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	d := websocket.Dialer{Subprotocols: []string{proto}}
	client, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return server, client
}
