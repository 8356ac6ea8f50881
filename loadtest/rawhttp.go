package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gridhub/gridhub/cli"
)

// rawAnswer is what the raw net/http baseline answers: the bytes the hub
// answers to the trivial query { supplies { sku } }, give or take.
const rawAnswer = `{"data":{"supplies":[{"sku":"MASK_ADULT"},{"sku":"MASK_CHILD"},{"sku":"MASK_N95"},{"sku":"HAND_SANITIZER"},{"sku":"TEST_KIT"}]}}` + "\n"

// rawHandler is the raw net/http baseline: it reads the request body and
// answers rawAnswer, with none of the hub's routing, GraphQL or storage.
func rawHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, rawAnswer)
	})
}

// rawHTTPCommand serves the raw net/http baseline on a loopback address
// until it is told to stop (SIGTERM, or its standard input closing). It
// writes "listening on ADDR" once it listens.
func rawHTTPCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rawhttp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return cli.Usage(err)
	}
	if err := checkLoopback(host); err != nil {
		return cli.Usage(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rawHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The parent holds our standard input: when it goes, so do we.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// rawServer is the raw net/http baseline running in a child process, so
// that, like the hub, it is a separate process from the load client.
type rawServer struct {
	URL   string
	PID   int
	cmd   *exec.Cmd
	stdin io.Closer
}

// startRawServer starts this program's rawhttp command as a child.
func startRawServer() (*rawServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "rawhttp", "-addr", "127.0.0.1:0")
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
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("raw net/http baseline did not start: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	return &rawServer{URL: "http://" + addr, PID: cmd.Process.Pid, cmd: cmd, stdin: stdin}, nil
}

// Stop ends the child and waits for it.
func (s *rawServer) Stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
