package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
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
