package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/auth"
)

// The load client mints its own tokens; the hub must accept them, so they
// are checked here by the hub's own verifier.
func TestMinterTokensPassTheHubsVerifier(t *testing.T) {
	secret := strings.Repeat("5e", 32) // a data directory's jwt-secret is 64 hex characters
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m, err := NewMinter(secret+"\n", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.HMACKeys([]byte(secret), func() time.Time { return now.Add(time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		role, scope string
		want        auth.Role
	}{
		{"ADMIN", "", auth.Admin},
		{"COMMITTEE", "tpe-TP01001", auth.Committee},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			tok, err := m.Mint(tt.role, tt.scope, "loadtest", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := keys.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Role != tt.want || p.Scope != tt.scope || p.Subject != "loadtest" || !p.Expires.Equal(now.Add(time.Hour)) {
				t.Errorf("principal = %+v", p)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		tok, err := m.Mint("ADMIN", "", "loadtest", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Verify(tok); err == nil {
			t.Error("a token expired a minute ago verified")
		}
	})
	t.Run("other secret", func(t *testing.T) {
		other, _ := NewMinter(strings.Repeat("a", 64), func() time.Time { return now })
		tok, _ := other.Mint("ADMIN", "", "loadtest", time.Hour)
		if _, err := keys.Verify(tok); err == nil {
			t.Error("a token signed with another secret verified")
		}
	})
}

func TestNewMinterRefusesAShortSecret(t *testing.T) {
	if _, err := NewMinter("short", nil); err == nil {
		t.Error("NewMinter accepted a 5-byte secret")
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadSecret(dir); err == nil {
		t.Error("ReadSecret of a directory without jwt-secret succeeded")
	}
	want := strings.Repeat("0f", 32)
	if err := os.WriteFile(filepath.Join(dir, "jwt-secret"), []byte(want+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSecret(dir)
	if err != nil || got != want {
		t.Errorf("ReadSecret = %q, %v; want %q", got, err, want)
	}
}
