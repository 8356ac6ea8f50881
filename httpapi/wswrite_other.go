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
	if timeout > 0 {
		if err := w.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
	}
	_, err := w.conn.Write(b)
	return err
}
