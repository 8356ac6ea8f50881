package boltstore

import (
	"context"
	"errors"
	"testing"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// TestRunGroup checks the outcomes within one group commit: an application
// error sinks only its own write, an internal error is retried without the
// write that caused it, and a canceled write is skipped.
func TestRunGroup(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	errBroken := errors.New("broken")
	putKey := func(key string) func(tx driver.Tx) error {
		return func(tx driver.Tx) error {
			return tx.Bucket("checkpoints").Put([]byte(key), []byte(`{"id":"`+key+`"}`))
		}
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name  string
		ctx   context.Context
		apply func(tx driver.Tx) error
		want  error  // matched with errors.Is, or nil
		code  string // application error code expected instead
		key   string // written when the write succeeds
	}{
		{name: "ok before", ctx: t.Context(), apply: putKey("a"), key: "a"},
		{name: "internal error after a write", ctx: t.Context(), want: errBroken, apply: func(tx driver.Tx) error {
			if err := putKey("x")(tx); err != nil {
				return err
			}
			return errBroken
		}},
		{name: "application error", ctx: t.Context(), code: hub.ECONFLICT, apply: func(driver.Tx) error {
			return hub.Errorf(hub.ECONFLICT, "clash")
		}},
		{name: "canceled", ctx: canceled, want: context.Canceled, apply: putKey("y")},
		{name: "ok after", ctx: t.Context(), apply: putKey("b"), key: "b"},
	}
	group := make([]*op, len(tests))
	for i, tt := range tests {
		group[i] = &op{ctx: tt.ctx, apply: tt.apply, done: make(chan error, 1)}
	}
	s.db.runGroup(group)

	for i, tt := range tests {
		err := <-group[i].done
		switch {
		case tt.code != "":
			if hub.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want code %s", tt.name, err, tt.code)
			}
		case tt.want != nil:
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	for _, key := range []string{"a", "b"} {
		if _, err := s.Checkpoint(t.Context(), key); err != nil {
			t.Errorf("checkpoint %s: %v", key, err)
		}
	}
	for _, key := range []string{"x", "y"} {
		if _, err := s.Checkpoint(t.Context(), key); hub.ErrorCode(err) != hub.ENOTFOUND {
			t.Errorf("checkpoint %s of a failed write: %v, want not found", key, err)
		}
	}
}
