package httpapi

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// frameWriter writes whole WebSocket frames to the socket under a
// connection without a timer: one non-blocking write(2) on the socket's
// descriptor, which on a socket with room for the frames (nearly always)
// is the whole cost of a message. Only when the socket is full does it
// arm the write deadline and wait for the poller, as net.Conn.Write does.
//
// A net.Conn write with a deadline costs a deadline set (the runtime's
// timer, modified on every write) besides its write(2); at one frame per
// subscriber per event that is a tenth of a delivery. Each write holds
// the socket's write lock (syscall.RawConn.Write) from its first byte to
// its last, as net.Conn.Write does, so that no frame of gorilla's (a
// close frame) cuts into one of its frames.
type frameWriter struct {
	conn net.Conn
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // writeSome, made once

	// The write under way, for writeSome.
	buf     []byte
	timeout time.Duration
	called  bool // writeSome ran
	armed   bool // the deadline is set for this write
	err     error
}

// newFrameWriter returns the frame writer of conn. When conn has no
// descriptor to write to (TLS, a pipe), it writes through conn, setting
// the deadline for each write.
func newFrameWriter(conn net.Conn) *frameWriter {
	w := &frameWriter{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
			w.fn = w.writeSome
		}
	}
	return w
}

// write writes b whole, waiting at most timeout (zero: without a bound)
// once the socket is full.
func (w *frameWriter) write(b []byte, timeout time.Duration) error {
	if w.rc == nil {
		return writeWithDeadline(w.conn, b, timeout)
	}
	for retried := false; ; retried = true {
		w.buf, w.timeout, w.called, w.armed, w.err = b, timeout, false, false, nil
		err := w.rc.Write(w.fn)
		called, werr := w.called, w.err
		w.buf, w.err = nil, nil
		if err == nil {
			return werr
		}
		// A deadline an earlier write set (gorilla sets one for each
		// frame it writes) may have passed since: the write did not
		// start. It is cleared, and the write tried once more.
		if called || retried || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := w.conn.SetWriteDeadline(time.Time{}); err != nil {
			return err
		}
	}
}

// writeSome is the syscall.RawConn write function: it writes what is
// left of w.buf, and reports false (wait until the socket has room) when
// the socket is full, having armed the deadline the first time.
func (w *frameWriter) writeSome(fd uintptr) bool {
	w.called = true
	for len(w.buf) > 0 {
		n, err := syscall.Write(int(fd), w.buf)
		if n > 0 {
			w.buf = w.buf[n:]
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if w.timeout > 0 && !w.armed {
				w.armed = true
				if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
					w.err = err
					return true
				}
			}
			return false
		case err != nil:
			w.err = err
			return true
		case n <= 0:
			w.err = io.ErrShortWrite
			return true
		}
	}
	return true
}
