package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	"github.com/gridhub/gridhub/store/storetest"
)

// harness opens each store in a test's temporary directory.
type harness struct {
	mu   sync.Mutex
	dirs map[hub.Store]string
}

func (h *harness) Open(t *testing.T) hub.Store {
	t.Helper()
	return h.open(t, t.TempDir())
}

func (h *harness) Reopen(t *testing.T, s hub.Store) hub.Store {
	t.Helper()
	h.mu.Lock()
	dir, ok := h.dirs[s]
	h.mu.Unlock()
	if !ok {
		t.Fatal("Reopen of a store the harness did not open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.open(t, dir)
}

func (h *harness) open(t *testing.T, dir string) hub.Store {
	t.Helper()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h.mu.Lock()
	h.dirs[s] = dir
	h.mu.Unlock()
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, &harness{dirs: make(map[hub.Store]string)})
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("data directory: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %v, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, boltstore.FileName)); err != nil {
		t.Errorf("database file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := s.Districts(t.Context()); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Districts after Close: %v, want ErrClosed", err)
	}
	if err := s.UpsertDistrict(t.Context(), &hub.District{ID: "d1"}); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("UpsertDistrict after Close: %v, want ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		give func(t *testing.T) string
	}{
		{name: "no directory", give: func(*testing.T) string { return "" }},
		{name: "directory is a file", give: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "not a bbolt file", give: func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, boltstore.FileName), make([]byte, 8192), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := boltstore.Open(tt.give(t))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

// TestCommitteeCodeMoves checks the embedded store's reading of a batch as
// a sequence: a code freed by an earlier committee of the batch may be
// taken by a later one, but not the other way round.
func TestCommitteeCodeMoves(t *testing.T) {
	s, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	c := func(id, code string) *hub.Committee { return &hub.Committee{ID: id, Code: code, DistrictID: "d1"} }
	if err := s.UpsertCommittees(ctx, c("c1", "A"), c("c2", "B")); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertCommittees(ctx, c("c2", "C"), c("c1", "B"), c("c3", "A")); err != nil {
		t.Fatalf("moving codes along: %v", err)
	}
	if err := s.UpsertCommittees(ctx, c("c3", "B"), c("c1", "A")); hub.ErrorCode(err) != hub.ECONFLICT {
		t.Fatalf("taking a code before it is freed: %v, want a conflict", err)
	}
	for code, want := range map[string]string{"A": "c3", "B": "c1", "C": "c2"} {
		got, err := s.CommitteeByCode(ctx, code)
		if err != nil {
			t.Fatalf("CommitteeByCode %s: %v", code, err)
		}
		if got.ID != want || got.Code != code {
			t.Errorf("CommitteeByCode %s = %s (code %s), want %s", code, got.ID, got.Code, want)
		}
	}
}
