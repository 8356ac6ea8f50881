package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/cli"
)

// TestExitCodes runs every command as main does, from its arguments to
// its exit code: help on every command prints its usage on standard
// output and exits 0, a usage error exits 2 with the usage on standard
// error, a failure exits 1.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // part of standard output
		wantStderr string // part of standard error
	}{
		{"no command", nil, cli.ExitUsage, "", "usage: gridhub COMMAND"},
		{"unknown command", []string{"launch"}, cli.ExitUsage, "", `gridhub: unknown command "launch"`},
		{"help", []string{"help"}, cli.ExitOK, "usage: gridhub COMMAND", ""},
		{"-h", []string{"-h"}, cli.ExitOK, "usage: gridhub COMMAND", ""},
		{"--help", []string{"--help"}, cli.ExitOK, "Exit codes: 0 done, 1 failure, 2 usage error", ""},

		{"serve --help", []string{"serve", "--help"}, cli.ExitOK, "usage: gridhub serve", ""},
		{"serve -h", []string{"serve", "-h"}, cli.ExitOK, "-rate-per-token", ""},
		{"serve unknown flag", []string{"serve", "--port", "80"}, cli.ExitUsage, "", "flag provided but not defined: -port"},
		{"serve argument", []string{"serve", "now"}, cli.ExitUsage, "", `serve takes no arguments`},
		{"serve bad value", []string{"serve", "-rate-per-token", "lots"}, cli.ExitUsage, "", "invalid value"},

		{"import --help", []string{"import", "--help"}, cli.ExitOK, "usage: gridhub import -kind KIND", ""},
		{"import no file", []string{"import", "-kind", "residents"}, cli.ExitUsage, "", "import takes one file, got 0"},
		{"import bad kind", []string{"import", "-kind", "cats", "x.csv"}, cli.ExitUsage, "", `unknown kind "cats"`},
		{"import bad format", []string{"import", "-kind", "residents", "x.xlsx"}, cli.ExitUsage, "", "cannot tell the format"},
		{"import missing file", []string{"import", "-kind", "residents", "-data", data, filepath.Join(dir, "none.csv")}, cli.ExitFailure, "", "no such file"},

		{"demo --help", []string{"demo", "--help"}, cli.ExitOK, "usage: gridhub demo", ""},
		{"demo unknown city", []string{"demo", "-city", "paris"}, cli.ExitUsage, "", `paris`},
		{"demo argument", []string{"demo", "taipei"}, cli.ExitUsage, "", "demo takes no arguments"},
		{"demo bad log level", []string{"demo", "-data", data, "-log-level", "loud"}, cli.ExitUsage, "", "log level"},
		{"demo store cannot open", []string{"demo", "-data", notADir}, cli.ExitFailure, "", "gridhub: "},

		{"token --help", []string{"token", "--help"}, cli.ExitOK, "usage: gridhub token -role ROLE", ""},
		{"token bad role", []string{"token", "-role", "KING", "-subject", "me", "-data", data}, cli.ExitUsage, "", "KING"},
		{"token of a directory with no hub", []string{"token", "-role", "ADMIN", "-subject", "me", "-data", data}, cli.ExitFailure, "", "holds no hub's token key"},
		{"token of a directory that is no directory", []string{"token", "-role", "ADMIN", "-subject", "me", "-data", notADir}, cli.ExitFailure, "", "holds no hub's token key"},
		{"token with the hub's key", []string{"token", "-role", "ADMIN", "-subject", "me", "-data", data, "-jwt-secret", strings.Repeat("k", 32)}, cli.ExitOK, "eyJ", ""},

		{"replay --help", []string{"replay", "--help"}, cli.ExitOK, "usage: gridhub replay", ""},
		{"replay negative speed", []string{"replay", "-speed", "-2"}, cli.ExitUsage, "", "-speed"},
		{"replay without the data", []string{"replay", "-data", data, "-data-dir", filepath.Join(dir, "none")}, cli.ExitFailure, "", "needs Taiwan's 2020 data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" })
			code := cli.Exit("gridhub", err, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)\nstderr: %s", code, tt.wantCode, err, stderr.String())
			}
			if tt.wantStdout == "" && stdout.Len() != 0 || !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q, want %q in it", stdout.String(), tt.wantStdout)
			}
			if tt.wantStderr == "" && stderr.Len() != 0 || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want %q in it", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestREADMEConfiguration keeps the README's configuration table
// complete: every flag of every command, and every environment variable
// the commands read, has its row.
func TestREADMEConfiguration(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	if i := strings.Index(table, "\n## "); i >= 0 {
		table = table[:i]
	}
	rows := map[string]string{} // flag -> its row
	for _, line := range strings.Split(table, "\n") {
		if f, ok := strings.CutPrefix(line, "| `-"); ok {
			name, _, _ := strings.Cut(f, "`")
			rows[name] = line
		}
	}
	for _, cmd := range []string{"serve", "import", "demo", "token", "replay", "ids", "compact"} {
		var stdout bytes.Buffer
		if err := Run(context.Background(), []string{cmd, "--help"}, &stdout, io.Discard, func(string) string { return "" }); cli.Code(err) != cli.ExitOK {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		flags := 0
		for _, line := range strings.Split(stdout.String(), "\n") {
			f, ok := strings.CutPrefix(line, "  -")
			if !ok {
				continue
			}
			flags++
			name, _, _ := strings.Cut(f, " ")
			row, ok := rows[name]
			switch {
			case !ok:
				t.Errorf("README's configuration table lacks -%s (%s)", name, cmd)
			case !strings.Contains(row, "| all |") && !strings.Contains(row, "| "+cmd+" |"):
				t.Errorf("README's row of -%s does not name %s or all: %s", name, cmd, row)
			}
		}
		if flags == 0 {
			t.Errorf("%s --help lists no flags: the test reads nothing of it", cmd)
		}
	}
	env := regexp.MustCompile(`GRIDHUB_[A-Z0-9_]+`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range env.FindAllString(string(src), -1) {
			if !strings.Contains(table, "`"+name+"`") {
				t.Errorf("README's configuration table lacks %s (read in %s)", name, file)
			}
		}
	}
}
