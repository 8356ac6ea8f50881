package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
)

// goldenDraw is the draw dispatch pins in its golden file.
const goldenDraw = "../../dispatch/testdata/lottery_draw.golden"

func readGolden(t *testing.T) *dispatch.PublishedDraw {
	t.Helper()
	b, err := os.ReadFile(goldenDraw)
	if err != nil {
		t.Fatal(err)
	}
	var d dispatch.PublishedDraw
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestRun(t *testing.T) {
	good, err := os.ReadFile(goldenDraw)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(tamper func(d *dispatch.PublishedDraw)) string {
		d := readGolden(t)
		tamper(d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "draw.json")
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  string // prefix of stdout
		wantErr  string // part of stderr
	}{
		{"golden draw from a file", []string{file}, "", 0, "MATCH: round round-2020-02-14, 5 winners of 20 entries", ""},
		{"golden draw from stdin", nil, string(good), 0, "MATCH", ""},
		{"stdin named -", []string{"-"}, string(good), 0, "MATCH", ""},
		{"entries reordered", nil, encode(func(d *dispatch.PublishedDraw) {
			for i, j := 0, len(d.Entries)-1; i < j; i, j = i+1, j-1 {
				d.Entries[i], d.Entries[j] = d.Entries[j], d.Entries[i]
			}
		}), 0, "MATCH", ""},
		{"tampered seed", nil, encode(func(d *dispatch.PublishedDraw) {
			d.Seed = strings.Repeat("ab", 32)
		}), 1, "MISMATCH: the seed does not match the commitment", ""},
		{"winners swapped", nil, encode(func(d *dispatch.PublishedDraw) {
			d.Winners[3], d.Winners[4] = d.Winners[4], d.Winners[3]
		}), 1, "MISMATCH: the winners are out of order", ""},
		{"a winner dropped from the entries", nil, encode(func(d *dispatch.PublishedDraw) {
			for i, e := range d.Entries {
				if e == d.Winners[0] {
					d.Entries = append(d.Entries[:i], d.Entries[i+1:]...)
					break
				}
			}
		}), 1, "MISMATCH: winner 0", ""},
		{"not JSON", nil, "hello", 1, "MISMATCH: standard input is not a published draw", ""},
		{"empty input", nil, "", 1, "MISMATCH: standard input is not a published draw", ""},
		{"unknown field", nil, strings.Replace(string(good), `"roundId"`, `"round":"x","roundId"`, 1), 1, "MISMATCH", ""},
		{"missing field", nil, `{"roundId":"r","commitment":"","seed":"","entries":[],"winners":[]}`, 1, `MISMATCH: standard input is not a published draw: the field "winnerCount" is missing`, ""},
		{"trailing data", nil, string(good) + "{}", 1, "MISMATCH", ""},
		{"no such file", []string{filepath.Join(dir, "nope.json")}, "", 2, "", "no such file"},
		{"two files", []string{file, file}, "", 2, "", "usage"},
		{"unknown flag", []string{"-x"}, "", 2, "", "flag provided but not defined"},
		{"help", []string{"-h"}, "", 0, "usage: verify-lottery", ""},
		{"--help", []string{"--help"}, "", 0, "usage: verify-lottery", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, &stdout, &stderr)
			}
			if !strings.HasPrefix(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q, want it to start with %q", &stdout, tt.wantOut)
			}
			if tt.wantOut == "" && stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", &stdout)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q, want %q", &stderr, tt.wantErr)
			}
		})
	}
}
