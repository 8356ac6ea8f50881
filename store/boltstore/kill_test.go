package boltstore_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// killDirEnv, when set, makes TestKill9 the child: it writes residents into
// the store in that directory until it is killed.
const killDirEnv = "GRIDHUB_BOLTSTORE_KILL_DIR"

const (
	killWriters   = 8      // concurrent writers in the child, to exercise group commit
	killPerWriter = 100000 // more than the child gets to write before the kill
	killAfterAcks = 400    // acknowledgements the parent waits for before the kill
)

// TestKill9 proves that every acknowledged write survives kill -9: a child
// process (this test binary again) registers residents from several
// goroutines and prints each one CreateResidents acknowledged; the parent
// kills it with SIGKILL midway, reopens the store and looks for each.
func TestKill9(t *testing.T) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		killChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}

	dir := t.TempDir()
	acked := make(map[string]bool)
	waitErr := runKilled(t, "TestKill9", killDirEnv, dir, func(line string) bool {
		if id, ok := strings.CutPrefix(line, "ack "); ok {
			acked[id] = true
		}
		return len(acked) >= killAfterAcks
	})
	t.Logf("child killed after %d acknowledged registrations (%v)", len(acked), waitErr)

	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	var missing []string
	for id := range acked {
		r, err := s.Resident(ctx, id)
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			missing = append(missing, id)
			continue
		} else if err != nil {
			t.Fatalf("Resident %s: %v", id, err)
		}
		if r.IDHash != "h-"+id {
			t.Fatalf("resident %s has ID hash %q", id, r.IDHash)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged residents lost, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	n, err := s.CountResidents(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n < len(acked) {
		t.Fatalf("CountResidents = %d, fewer than the %d acknowledged", n, len(acked))
	}
	t.Logf("all %d acknowledged residents present; %d in the store", len(acked), n)
	rs, err := s.Residents(ctx, hub.ResidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("Residents lists %d, CountResidents says %d", len(rs), n)
	}
	if err := s.CreateResidents(ctx, &hub.Resident{ID: "after-kill", IDHash: "h-after-kill"}); err != nil {
		t.Fatalf("write after reopen: %v", err)
	}
}

// killChild writes residents from several goroutines, printing "ack ID" as
// each write is acknowledged, until the parent kills the process (or, if
// it never does, until a deadline).
func killChild(t *testing.T, dir string) {
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("child: open: %v", err)
	}
	defer s.Close()
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Go(func() {
			for i := 0; i < killPerWriter && time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("w%d-%06d", w, i)
				r := &hub.Resident{ID: id, IDHash: "h-" + id, CommitteeID: fmt.Sprintf("c%d", w), RegisteredAt: time.Now()}
				if err := s.CreateResidents(t.Context(), r); err != nil {
					t.Errorf("child: CreateResidents %s: %v", id, err)
					return
				}
				// One write(2) per line: a line is in the pipe whole or not at all.
				fmt.Fprintf(os.Stdout, "ack %s\n", id)
			}
		})
	}
	wg.Wait()
}

// runKilled runs the test named test of this binary in a child process,
// with the environment variable env set to dir, reads the lines it
// prints, and kills it (SIGKILL) as soon as kill, called on each line,
// says so. It returns what waiting for the killed child returned, and
// fails t if the child ended before it was killed.
func runKilled(t *testing.T, test, env, dir string, kill func(line string) bool) error {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if !killed && kill(sc.Text()) {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatalf("kill child: %v", err)
			}
			killed = true
		}
	}
	// Reading to EOF collected the lines printed before the kill.
	waitErr := cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill (%v); stderr:\n%s", waitErr, stderr.String())
	}
	return waitErr
}
