package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
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
	ln, ctx, cancel, err := listenChild(ctx, "rawhttp", args, stdout, stderr)
	if err != nil {
		return err
	}
	defer cancel()
	srv := &http.Server{Handler: rawHandler(), ReadHeaderTimeout: 10 * time.Second}
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
	*child
	URL string
}

// startRawServer starts this program's rawhttp command as a child.
func startRawServer() (*rawServer, error) {
	c, err := startChild("rawhttp")
	if err != nil {
		return nil, fmt.Errorf("raw net/http baseline: %w", err)
	}
	return &rawServer{child: c, URL: "http://" + c.Addr}, nil
}

// Stop ends the child and waits for it.
func (s *rawServer) Stop() { s.child.Stop(3 * time.Second) }
