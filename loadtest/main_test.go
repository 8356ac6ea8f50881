package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/cli"
)

// TestExitCodes runs the command as main does, from its arguments to its
// exit code (package cli's: 0 done or help, 1 failure, 2 usage error),
// for the cases that end before any load is sent.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, cli.ExitUsage, "", "usage: go run ./loadtest COMMAND"},
		{"unknown command", []string{"stampede"}, cli.ExitUsage, "", `unknown command "stampede"`},
		{"--help", []string{"--help"}, cli.ExitOK, "Exit codes: 0 done, 1 failure, 2 usage error", ""},
		{"subscribers --help", []string{"subscribers", "--help"}, cli.ExitOK, "usage: go run ./loadtest subscribers", ""},
		{"subscribers unknown flag", []string{"subscribers", "-clients", "5"}, cli.ExitUsage, "", "flag provided but not defined"},
		{"subscribers argument", []string{"subscribers", "now"}, cli.ExitUsage, "", "unexpected arguments"},
		{"subscribers bad value", []string{"subscribers", "-n", "0"}, cli.ExitUsage, "", "-n must be at least 1"},
		{"subscribers no subscription", []string{"subscribers", "-per-connection", "0"}, cli.ExitUsage, "", "-per-connection must be within [1, 100]"},
		{"subscribers too many subscriptions", []string{"subscribers", "-per-connection", "101"}, cli.ExitUsage, "", "-per-connection must be within [1, 100]"},
		{"reserve --help", []string{"reserve", "--help"}, cli.ExitOK, "usage: go run ./loadtest reserve", ""},
		{"reserve unknown flag", []string{"reserve", "-n", "5"}, cli.ExitUsage, "", "flag provided but not defined"},
		{"reserve argument", []string{"reserve", "now"}, cli.ExitUsage, "", "unexpected arguments"},
		{"reserve bad phases", []string{"reserve", "-phases", "2x:5s"}, cli.ExitUsage, "", "a multiple needs a max phase before it"},
		{"reserve bad value", []string{"reserve", "-concurrency", "0"}, cli.ExitUsage, "", "-concurrency, -max-outstanding and -conns must be at least 1"},
		{"launchday --help", []string{"launchday", "--help"}, cli.ExitOK, "usage: go run ./loadtest launchday", ""},
		{"launchday no directory", []string{"launchday"}, cli.ExitUsage, "", "-dir is required"},
		{"launchday unknown row", []string{"launchday", "-dir", ".", "-rows", "a,g"}, cli.ExitUsage, "", `unknown row "g"`},
		{"launchday negative pairs", []string{"launchday", "-dir", ".", "-pairs", "-1"}, cli.ExitUsage, "", "-pairs must not be negative"},
		{"sink argument", []string{"sink", "-addr", "10.0.0.1:0"}, cli.ExitUsage, "", "loopback"},
		{"subscribers bad floor", []string{"subscribers", "-floor-writers", "0"}, cli.ExitUsage, "", "-floor-rounds and -floor-writers must be at least 1"},
		{"reserve bad reference", []string{"reserve", "-phases", "max:5s", "-reference", "1"}, cli.ExitUsage, "", "-reference 1: there are 1 phases"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if code := cli.Exit("loadtest", err, &stderr); code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if tt.wantStdout == "" && stdout.Len() != 0 || !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q, want %q in it", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want %q in it", stderr.String(), tt.wantStderr)
			}
		})
	}
}
