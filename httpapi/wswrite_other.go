//go:build !linux

package httpapi

import (
	"net"
	"time"
)

// frameWriter writes frames through the net.Conn elsewhere than on
// Linux (see wswrite_linux.go), with the write deadline set for each.
type frameWriter struct{ conn net.Conn }

func newFrameWriter(conn net.Conn) *frameWriter { return &frameWriter{conn: conn} }

func (w *frameWriter) write(b []byte, timeout time.Duration) error {
	return writeWithDeadline(w.conn, b, timeout)
}
