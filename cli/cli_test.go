package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/cli"
)

func newFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.Int("residents", 0, "residents in the demo city")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: gridhub demo [flags]")
		fs.PrintDefaults()
	}
	return fs
}

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		give       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"ok", []string{"-residents", "5"}, cli.ExitOK, "", ""},
		{"-h", []string{"-h"}, cli.ExitOK, "usage: gridhub demo", ""},
		{"-help", []string{"-help"}, cli.ExitOK, "-residents int", ""},
		{"--help", []string{"--help"}, cli.ExitOK, "usage: gridhub demo", ""},
		{"unknown flag", []string{"--nope"}, cli.ExitUsage, "", "flag provided but not defined: -nope\nusage: gridhub demo"},
		{"bad value", []string{"-residents", "many"}, cli.ExitUsage, "", `invalid value "many" for flag -residents`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := cli.Parse(newFlags(), tt.give, &stdout, &stderr)
			if got := cli.Code(err); got != tt.wantCode {
				t.Errorf("code %d, want %d (err %v)", got, tt.wantCode, err)
			}
			checkOutput(t, "stdout", stdout.String(), tt.wantStdout)
			checkOutput(t, "stderr", stderr.String(), tt.wantStderr)
			// What main prints after: nothing more for help or a shown
			// usage error.
			var exitErr bytes.Buffer
			cli.Exit("gridhub", err, &exitErr)
			if exitErr.Len() != 0 {
				t.Errorf("Exit printed %q again", exitErr.String())
			}
		})
	}
}

func checkOutput(t *testing.T, name, got, want string) {
	t.Helper()
	if want == "" && got != "" || !strings.Contains(got, want) {
		t.Errorf("%s = %q, want %q in it", name, got, want)
	}
}

func TestCodeAndExit(t *testing.T) {
	tests := []struct {
		name       string
		give       error
		wantCode   int
		wantStderr string
	}{
		{"nil", nil, cli.ExitOK, ""},
		{"help", flag.ErrHelp, cli.ExitOK, ""},
		{"usage", cli.Usagef("import takes one file, got %d", 2), cli.ExitUsage, "gridhub: import takes one file, got 2\n"},
		{"wrapped usage", fmt.Errorf("import: %w", cli.Usage(errors.New("unknown kind"))), cli.ExitUsage, "gridhub: import: unknown kind\n"},
		{"failure", errors.New("open store: locked"), cli.ExitFailure, "gridhub: open store: locked\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := cli.Exit("gridhub", tt.give, &stderr); got != tt.wantCode {
				t.Errorf("Exit = %d, want %d", got, tt.wantCode)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
	if cli.Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
}
