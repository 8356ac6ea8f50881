package store_test

import (
	"strings"
	"testing"
	"time"

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

// TestOpenErrors opens stores that cannot be: every error says why, and
// none reveals the password. MongoDB URIs here name no server that
// answers (port 1 refuses at once), so the run needs no MongoDB; the
// MongoDB backend's own tests run against a server when
// GRIDHUB_TEST_MONGODB_URI names one.
func TestOpenErrors(t *testing.T) {
	tests := []struct {
		give     string
		wantText []string // all in the error message
		notText  string   // never in the error message
	}{
		{
			give:     "mongodb://user:s3cret-pw@127.0.0.1:1/gridhub?serverSelectionTimeoutMS=300",
			wantText: []string{"MongoDB at 127.0.0.1:1", "did not answer within 300ms"},
			notText:  "s3cret-pw",
		},
		{
			give:     "mongodb://user:s3cret-pw@127.0.0.1:1,127.0.0.1:2/gridhub?replicaSet=rs0&serverSelectionTimeoutMS=300",
			wantText: []string{"127.0.0.1:1,127.0.0.1:2"},
			notText:  "s3cret-pw",
		},
		{
			give:     "mongodb+srv://user:s3cret-pw@cluster0.example.net:27017/gridhub",
			wantText: []string{"exactly one host, without a port"},
			notText:  "s3cret-pw",
		},
		{give: "mongodb://user:s3cret-pw@/gridhub", wantText: []string{"names no host"}, notText: "s3cret-pw"},
		{give: "mongodb://user:s3cret-pw@db:99999/gridhub", wantText: []string{"bad port"}, notText: "s3cret-pw"},
		{give: "MONGODB://user:s3cret-pw@db/gridhub", wantText: []string{"lower case"}, notText: "s3cret-pw"},
		{give: "mongodb://db/bad.name", wantText: []string{"does not allow"}},
		{give: "postgres://user:s3cret-pw@localhost/gridhub", wantText: []string{`"postgres"`}, notText: "s3cret-pw"},
		{give: "user:s3cret-pw@localhost", wantText: []string{"no scheme"}, notText: "s3cret-pw"},
		{give: "sqlite", wantText: []string{"no scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			start := time.Now()
			s, err := store.Open(t.Context(), tt.give, t.TempDir())
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.notText != "" && strings.Contains(err.Error(), tt.notText) {
				t.Errorf("error %q reveals %q", err, tt.notText)
			}
		})
	}
}

func TestIsMongoURI(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"mongodb://localhost", true},
		{"mongodb+srv://cluster0.example.net", true},
		{"MongoDB://localhost", true},
		{"", false},
		{"embedded", false},
		{"postgres://localhost", false},
	}
	for _, tt := range tests {
		if got := store.IsMongoURI(tt.give); got != tt.want {
			t.Errorf("IsMongoURI(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
