package httpapi

import (
	"bufio"
	"net"
	"syscall"
)

// wsReadiness waits until a connection has a message to read, on a
// shallow stack.
//
// An idle connection's goroutine spends its life waiting for the next
// message. Waiting inside gorilla's ReadMessage takes about 1.3 KiB of
// stack (its frame reader, the buffered reader, the poller), which does
// not fit the 2 KiB a goroutine starts with, and the runtime then gives
// every goroutine 4 KiB from the start (it sizes new stacks by the
// average in use) and never shrinks a 4 KiB stack to 2 KiB. Waiting for
// the socket to be readable through its syscall.RawConn takes a few
// hundred bytes: the connection waits so, and reads only once there is
// something to read.
type wsReadiness struct {
	br  *bufio.Reader // what gorilla reads through: bytes it holds are there to read
	raw syscall.RawConn
}

// newWSReadiness returns the readiness of conn, read through br; nil when
// br is nil or conn is not a socket (TLS, a pipe), whose reads are then
// waited for in ReadMessage.
func newWSReadiness(conn net.Conn, br *bufio.Reader) *wsReadiness {
	sc, ok := conn.(syscall.Conn)
	if br == nil || !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &wsReadiness{br: br, raw: raw}
}

// wait returns once there is something to read: bytes in the buffered
// reader or in the socket, its end, or an error (a deadline passed, the
// socket closed), which the read that follows reports.
func (r *wsReadiness) wait() {
	if r.br.Buffered() > 0 {
		return
	}
	_ = r.raw.Read(readable)
}

// readable is the syscall.RawConn read function of wsReadiness.wait: it
// peeks at the socket without taking anything and without blocking, and
// reports false (wait for the poller) only when there is nothing yet.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}
