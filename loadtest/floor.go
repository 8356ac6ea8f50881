package main

// The floor of a broadcast: what the kernel's loopback write costs. One
// process (this client) writes the bytes of one stockChanged frame once
// to each of N TCP sockets, from 4 goroutines taking the sockets in turn
// as the hub's writers do, while a separate process (the sink command, a
// child) reads the other ends. Its CPU per write is the least a hub that
// writes each subscriber's frame with a write(2) of its own can spend on
// a delivery; the hub's CPU per delivery over it is what the hub adds.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FloorResult is what the floor measured.
type FloorResult struct {
	Sockets    int `json:"sockets"`
	Rounds     int `json:"rounds"`
	Writers    int `json:"writers"`
	FrameBytes int `json:"frame_bytes"`
	// Writes counts the writes that succeeded; Errors the others.
	Writes int `json:"writes"`
	Errors int `json:"errors"`
	// WriterCPU is this process's CPU over the rounds, Wall their time.
	WriterCPU time.Duration `json:"writer_cpu_ns"`
	Wall      time.Duration `json:"wall_ns"`
	// PerWrite is WriterCPU over Writes, in microseconds.
	PerWrite float64 `json:"us_per_write"`
	// SinkCPU is the reading process's CPU over the rounds (0 when it
	// could not be read); SinkBytes what it read in all.
	SinkCPU   time.Duration `json:"sink_cpu_ns"`
	SinkBytes int64         `json:"sink_bytes"`
	LoadAvg   [3]float64    `json:"loadavg"`
}

// stockChangedFrame returns the bytes the hub writes for one
// stockChanged event to one graphql-transport-ws subscription: a
// server-to-client text frame header (unmasked) and the "next" message
// with the fields districtStockQuery asks for, at a realistic size.
func stockChangedFrame() []byte {
	msg := `{"id":"1","type":"next","payload":{"data":{"stockChanged":{"seq":1234567,"at":"2026-12-08T01:02:03.123456789Z",` +
		`"sku":"MASK_ADULT","delta":10,"stockAfter":5010,"reason":"RESTOCK","gap":0,` +
		`"pharmacy":{"id":"tpe-ph-5901012345","name":"大安健保藥局中正店"}}}}}`
	return wsTextFrame([]byte(msg))
}

// wsTextFrame frames payload as one unmasked WebSocket text frame.
func wsTextFrame(payload []byte) []byte {
	n := len(payload)
	var h []byte
	switch {
	case n < 126:
		h = []byte{0x81, byte(n)}
	case n <= 0xffff:
		h = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x81, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(h, payload...)
}

// writeFloor dials n connections to the sink at addr, 128 at a time,
// waits until the sink has accepted each (so that no accept runs during
// the rounds and none is lost when the sink stops listening), then writes frame once to each of them, rounds times, from writers
// goroutines (goroutine g takes sockets g, g+writers, ...), and returns
// the CPU this process spent on the rounds. sinkCPU, when not nil, reads
// the sink's CPU so far. It closes every connection before it returns.
func writeFloor(ctx context.Context, addr string, n, rounds, writers int, frame []byte, sinkCPU func() (time.Duration, error)) (FloorResult, error) {
	res := FloorResult{Sockets: n, Rounds: rounds, Writers: writers, FrameBytes: len(frame)}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var dialErr error
	var mu sync.Mutex
	d := net.Dialer{Timeout: 10 * time.Second}
	each(n, 128, func(i int) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conns[i] = c
			err = awaitAccepted(c)
		}
		if err != nil {
			mu.Lock()
			dialErr = errors.Join(dialErr, err)
			mu.Unlock()
		}
	})
	if dialErr != nil {
		return res, fmt.Errorf("floor: dial the sink: %w", dialErr)
	}
	var s0 time.Duration
	if sinkCPU != nil {
		s0, _ = sinkCPU()
	}
	var writes, errs atomic.Int64
	c0, t0 := selfCPU(), time.Now()
	for range rounds {
		if ctx.Err() != nil {
			break
		}
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += writers {
					if _, err := conns[i].Write(frame); err != nil {
						errs.Add(1)
						continue
					}
					writes.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	res.WriterCPU, res.Wall = selfCPU()-c0, time.Since(t0)
	if sinkCPU != nil {
		if s1, err := sinkCPU(); err == nil {
			res.SinkCPU = s1 - s0
		}
	}
	res.Writes, res.Errors = int(writes.Load()), int(errs.Load())
	res.PerWrite = ratio(float64(res.WriterCPU)/1e3, float64(res.Writes))
	res.LoadAvg = loadAverage()
	return res, nil
}

// accepted is what the sink writes on a connection it has accepted.
var accepted = []byte{'k'}

// awaitAccepted reads the sink's accepted byte from c.
func awaitAccepted(c net.Conn) error {
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	b := make([]byte, len(accepted))
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("the sink did not accept: %w", err)
	}
	return c.SetReadDeadline(time.Time{})
}

// serveSink accepts connections on ln until it is closed, tells each it
// is accepted (one byte) and reads each until its end, on a goroutine of
// its own; it returns, once ln is closed and every reader has ended (or
// drain has passed), the bytes read.
func serveSink(ln net.Listener, drain time.Duration) int64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if _, err := c.Write(accepted); err != nil {
				return
			}
			buf := make([]byte, 2048)
			for {
				k, err := c.Read(buf)
				total.Add(int64(k))
				if err != nil {
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drain):
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		<-done
	}
	return total.Load()
}

// sinkCommand reads every connection on a loopback address until its
// standard input closes (its parent's end), then writes "read N bytes".
// It writes "listening on ADDR" once it listens.
func sinkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, _, err := raiseNoFile(1 << 20); err != nil {
		return err
	}
	ln, ctx, cancel, err := listenChild(ctx, "sink", args, stdout, stderr)
	if err != nil {
		return err
	}
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	n := serveSink(ln, 5*time.Second)
	fmt.Fprintf(stdout, "read %d bytes\n", n)
	return nil
}

// measureFloor starts the sink command as a child of this program and
// measures the floor against it: n sockets, rounds writes to each.
func measureFloor(ctx context.Context, n, rounds, writers int, frame []byte) (FloorResult, error) {
	c, err := startChild("sink")
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	sink := proc{pid: c.PID}
	res, werr := writeFloor(ctx, c.Addr, n, rounds, writers, frame, sink.CPU)
	// The connections are closed: the sink reads to their ends, then
	// stops when its standard input closes and says what it read.
	c.CloseInput()
	if line, err := c.out.ReadString('\n'); err == nil {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "read "); ok {
			res.SinkBytes, _ = strconv.ParseInt(strings.TrimSuffix(v, " bytes"), 10, 64)
		}
	}
	c.Stop(10 * time.Second)
	return res, werr
}
