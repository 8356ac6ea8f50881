//go:build !linux

package httpapi

import (
	"bufio"
	"net"
)

// wsReadiness waits on Linux only (see wsready_linux.go); elsewhere a
// connection waits for its messages in ReadMessage.
type wsReadiness struct{}

func newWSReadiness(net.Conn, *bufio.Reader) *wsReadiness { return nil }

func (*wsReadiness) wait() {}
