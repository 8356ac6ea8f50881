package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/store"
)

func TestOpen(t *testing.T) {
	for _, uri := range []string{"", "bolt", "embedded"} {
		s, err := store.Open(t.Context(), uri, t.TempDir())
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		if _, err := s.Districts(t.Context()); err != nil {
			t.Errorf("Open(%q): Districts: %v", uri, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Open(%q): Close: %v", uri, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		give      string
		wantMongo bool
		wantText  string // in the error message
		notText   string // never in the error message
	}{
		{give: "mongodb://user:secret@localhost:27017/gridhub", wantMongo: true, wantText: "MongoDB", notText: "secret"},
		{give: "mongodb+srv://user:secret@cluster0.example.net/gridhub", wantMongo: true, wantText: "MongoDB", notText: "secret"},
		{give: "postgres://user:secret@localhost/gridhub", wantText: `"postgres"`, notText: "secret"},
		{give: "user:secret@localhost", wantText: "no scheme", notText: "secret"},
		{give: "sqlite", wantText: "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			s, err := store.Open(t.Context(), tt.give, t.TempDir())
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if got := errors.Is(err, store.ErrMongoUnavailable); got != tt.wantMongo {
				t.Errorf("errors.Is(%v, ErrMongoUnavailable) = %v, want %v", err, got, tt.wantMongo)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if tt.notText != "" && strings.Contains(err.Error(), tt.notText) {
				t.Errorf("error %q reveals %q", err, tt.notText)
			}
		})
	}
}
