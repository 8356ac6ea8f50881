package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gridhub/gridhub/cli"
)

// child is this program run again as a separate process, for a baseline
// server that must not share the load client's CPU accounting (the raw
// net/http baseline, the floor's sink). Its command listens on a loopback
// address, writes "listening on ADDR" first, and ends when its standard
// input closes.
type child struct {
	Addr  string
	PID   int
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Reader
}

// startChild starts this program's command name on a loopback port of
// its choosing and waits until it listens.
func startChild(name string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, name, "-addr", "127.0.0.1:0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{PID: cmd.Process.Pid, cmd: cmd, stdin: stdin, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.Stop(0)
		return nil, fmt.Errorf("%s did not start: %w", name, err)
	}
	c.Addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	return c, nil
}

// CloseInput tells the child to finish; what it writes then is still
// read from c.out.
func (c *child) CloseInput() { c.stdin.Close() }

// Stop closes the child's standard input and waits for it to end, killing
// it after grace.
func (c *child) Stop(grace time.Duration) {
	c.stdin.Close()
	go func() { _, _ = io.Copy(io.Discard, c.out) }()
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// listenChild is the start of a child's command: it parses its one flag,
// -addr, which must name a loopback address, listens there and writes
// "listening on ADDR". The context it returns ends with ctx or when the
// parent closes the child's standard input.
func listenChild(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (net.Listener, context.Context, context.CancelFunc, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return nil, nil, nil, err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return nil, nil, nil, cli.Usage(err)
	}
	if err := checkLoopback(host); err != nil {
		return nil, nil, nil, cli.Usage(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return nil, nil, nil, err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		// The parent holds our standard input: when it goes, so do we.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ln, ctx, cancel, nil
}
