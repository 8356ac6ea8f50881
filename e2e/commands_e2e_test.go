package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/cli"
)

// TestTokenNeedsAHub checks that the token command refuses a data
// directory no hub has served from, without making a key there, and mints
// tokens the hub accepts once it has.
func TestTokenNeedsAHub(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"token", "-role", "ADMIN", "-subject", "me", "-data", dir}, &stdout, &stderr, func(string) string { return "" })
	if err == nil || stdout.Len() != 0 {
		t.Fatalf("token of an empty directory: err %v, printed %q", err, stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "jwt-secret")); !os.IsNotExist(err) {
		t.Fatalf("a key was made in a directory with no hub: %v", err)
	}
	h := startHub(t, dir)
	admin := h.as(t, "ADMIN", "")
	if r := gql(t, admin, `{ districts { id } }`, nil); len(r.Errors) != 0 {
		t.Fatalf("a token minted from the hub's directory is refused: %+v", r.Errors)
	}
}

// TestPprofSwitch: -pprof serves the runtime profiles on a loopback
// address beside the hub, and refuses any other address.
func TestPprofSwitch(t *testing.T) {
	var stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"serve", "-data", t.TempDir(), "-pprof", "0.0.0.0:6060"}, io.Discard, &stderr, func(string) string { return "" })
	if code := cli.Code(err); code != cli.ExitUsage || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("-pprof 0.0.0.0:6060: exit %d (%v), want a usage error", code, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startHub(t, t.TempDir(), "-pprof", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("profiles not served on %s: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("goroutine profile: %d %.200s", resp.StatusCode, body)
	}
}
