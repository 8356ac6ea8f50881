package e2e

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/cli"
)

// TestCompactCommand compacts a data directory a hub served from, refuses
// one in use and a MongoDB store.
func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	env := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"in use", []string{"compact", "-data", dir}, cli.ExitFailure},
		{"mongodb", []string{"compact", "-data", dir, "-store", "mongodb://localhost:1"}, cli.ExitUsage},
		{"an argument", []string{"compact", "-data", dir, "extra"}, cli.ExitUsage},
	}
	for _, tt := range tests {
		if got := cli.Code(app.Run(context.Background(), tt.args, io.Discard, io.Discard, env)); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
	h.stop(t)
	var out bytes.Buffer
	if err := app.Run(context.Background(), []string{"compact", "-data", dir}, &out, io.Discard, env); err != nil {
		t.Fatalf("compact of a stopped hub's directory: %v", err)
	}
	if !strings.HasPrefix(out.String(), "compacted ") {
		t.Fatalf("compact printed %q", out.String())
	}
	h = startHub(t, dir)
	if r := gql(t, h.as(t, "ADMIN", ""), `{ districts { id } }`, nil); len(r.Errors) != 0 {
		t.Fatalf("the hub after a compaction: %+v", r.Errors)
	}
}
