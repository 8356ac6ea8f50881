package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/gorilla/websocket"
)

// netErrorKind names a network or WebSocket failure for the error counts,
// by the cause that tells a limit apart: file descriptors (emfile), local
// ports (eaddrnotavail), a refused or reset connection, a timeout, a close
// code sent by the hub.
func netErrorKind(err error) string {
	var ce *websocket.CloseError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return "ws_close_" + strconv.Itoa(ce.Code)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "emfile"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "eaddrnotavail"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "econnrefused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "econnreset"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad_handshake"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}
