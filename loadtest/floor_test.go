package main

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestFloor writes a frame to a few sockets of a sink in this process
// and checks that every write is counted and every byte read.
func TestFloor(t *testing.T) {
	tests := []struct {
		name    string
		sockets int
		rounds  int
		writers int
		frame   []byte
	}{
		{"one socket", 1, 1, 4, stockChangedFrame()},
		{"fewer sockets than writers", 3, 2, 4, stockChangedFrame()},
		{"many rounds", 17, 5, 4, stockChangedFrame()},
		{"one writer", 9, 3, 1, []byte("x")},
		{"a long frame", 5, 2, 2, make([]byte, 70_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			read := make(chan int64, 1)
			go func() { read <- serveSink(ln, 5*time.Second) }()
			res, err := writeFloor(context.Background(), ln.Addr().String(), tt.sockets, tt.rounds, tt.writers, tt.frame, nil)
			ln.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := tt.sockets * tt.rounds
			if res.Writes != want || res.Errors != 0 {
				t.Errorf("writes %d, errors %d; want %d, 0", res.Writes, res.Errors, want)
			}
			if got := <-read; got != int64(want*len(tt.frame)) {
				t.Errorf("the sink read %d bytes, want %d", got, want*len(tt.frame))
			}
			if res.FrameBytes != len(tt.frame) || res.Sockets != tt.sockets || res.WriterCPU < 0 || res.PerWrite < 0 {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestFloorNoSink fails when nothing listens.
func TestFloorNoSink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := writeFloor(context.Background(), addr, 2, 1, 4, []byte("x"), nil); err == nil {
		t.Error("no error with no sink")
	}
}

func TestWSTextFrame(t *testing.T) {
	tests := []struct {
		give     int
		wantHead []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		f := wsTextFrame(make([]byte, tt.give))
		if len(f) != len(tt.wantHead)+tt.give || string(f[:len(tt.wantHead)]) != string(tt.wantHead) {
			t.Errorf("frame of %d bytes: head % x, length %d; want head % x", tt.give, f[:min(len(f), 10)], len(f), tt.wantHead)
		}
	}
	if n := len(stockChangedFrame()); n < 200 || n > 400 {
		t.Errorf("a stockChanged frame of %d bytes", n)
	}
}
