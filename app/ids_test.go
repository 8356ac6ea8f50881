package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

// preCanonical is how the hub kept an ID number before numbers had one
// canonical form: upper case, spaces and dashes dropped, nothing else.
func preCanonical(id string) string {
	var b strings.Builder
	for _, r := range id {
		if !unicode.IsSpace(r) && r != '-' {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// TestIDsCommand seeds a store as the hub wrote it before canonical ID
// numbers (one person under three spellings) and runs `gridhub ids` on
// it: the report finds them, the JSON says the same, and the store is
// unchanged.
func TestIDsCommand(t *testing.T) {
	const secret = "ids-test-secret-0123456789"
	dir := t.TempDir()
	ctx := context.Background()
	cfg := Config{DataDir: dir, Secret: secret, LogLevel: "error"}
	p, err := openForTool(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	taipei := hub.Point{Lat: 25.0465, Lng: 121.5155}
	const victim = "A157639505"
	if _, err := p.City.RegisterResidents(ctx,
		city.ResidentInput{ID: "r-canonical", Name: "王小明", IDNumber: victim, Location: &taipei},
		city.ResidentInput{ID: "r-other", Name: "李大同", IDNumber: privacy.ExampleTaiwanID('B', 4), Location: &taipei},
	); err != nil {
		t.Fatal(err)
	}
	h, err := cfg.hasher()
	if err != nil {
		t.Fatal(err)
	}
	cell := must1[*hub.Resident](t)(p.City.Store().Resident(ctx, "r-canonical")).Cell
	var old []*hub.Resident
	for id, spelling := range map[string]string{"r-zwsp": "A157\u200b639505", "r-fullwidth": "Ａ１５７６３９５０５"} {
		n := preCanonical(spelling)
		rs := []rune(n)
		for i := 2; i < len(rs)-2; i++ {
			rs[i] = '*'
		}
		old = append(old, &hub.Resident{ID: id, Name: "王小明", IDHash: h.HashID(n), IDMasked: string(rs), Location: taipei, Cell: cell, RegisteredAt: time.Now()})
	}
	if err := p.Store.CreateResidents(ctx, old...); err != nil {
		t.Fatal(err)
	}
	before := must1[[]*hub.Resident](t)(p.Store.Residents(ctx, hub.ResidentFilter{}))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	numbers := filepath.Join(dir, "numbers.csv")
	csv := "resident_id,id_number,note\n" +
		"r-canonical,A157639505,x\n" +
		"r-zwsp,a157-639 505,\n" +
		"r-fullwidth,Ａ１５７６３９５０５,\n" +
		"r-other,A157\u200d639505,\n" +
		"r-gone," + privacy.ExampleTaiwanID('C', 1) + ",\n"
	if err := os.WriteFile(numbers, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	runIDs := func(t *testing.T, extra ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append([]string{"ids", "-data", dir, "-secret", secret, "-log-level", "error", "-numbers", numbers}, extra...)
		err := Run(ctx, args, &stdout, &stderr, func(string) string { return "" })
		if code := cli.Exit("gridhub", err, &stderr); code != cli.ExitOK {
			t.Fatalf("gridhub ids: exit %d: %v\n%s", code, err, stderr.String())
		}
		return stdout.String()
	}

	text := runIDs(t)
	for _, want := range []string{
		"4 residents read; accepted forms TW,CN,OTHER",
		"2 stored under a spelling that is not canonical",
		`r-fullwidth "\uff21\uff11******\uff10\uff15": the character U+FF21, not A-Z or 0-9`,
		`r-zwsp "A1*******05": a shape no accepted form (TW,CN,OTHER) has`,
		`1 groups of probable duplicates`,
		`r-canonical "A1******05" r-fullwidth`,
		"numbers file: 5 rows",
		"A1******05: r-canonical r-fullwidth r-zwsp",
		"line 5, resident r-other: idNumber holds an invisible format character (U+200D)",
		"2 residents stored under another spelling",
		"line 6, resident r-gone",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	for _, secretText := range []string{"157639", "a157-639"} {
		if strings.Contains(text, secretText) {
			t.Errorf("report shows the number %q:\n%s", secretText, text)
		}
	}

	var a city.IDAudit
	if err := json.Unmarshal([]byte(runIDs(t, "-json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.Residents != 4 || len(a.Suspects) != 2 || len(a.Groups) != 1 || a.Numbers == nil ||
		len(a.Numbers.Collisions) != 1 || !slices.Equal(a.Numbers.Collisions[0].ResidentIDs, []string{"r-canonical", "r-fullwidth", "r-zwsp"}) ||
		len(a.Numbers.Refused) != 1 || len(a.Numbers.Unknown) != 1 || len(a.Numbers.Stale) != 2 {
		t.Errorf("JSON report %+v, numbers %+v", a, a.Numbers)
	}

	// The command changed nothing.
	p, err = openForTool(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	after := must1[[]*hub.Resident](t)(p.Store.Residents(ctx, hub.ResidentFilter{}))
	if len(after) != len(before) {
		t.Fatalf("%d residents after, %d before", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].IDHash != before[i].IDHash || after[i].IDMasked != before[i].IDMasked {
			t.Errorf("resident %s changed", before[i].ID)
		}
	}
}

func TestIDsCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	noHeader := filepath.Join(dir, "noheader.csv")
	if err := os.WriteFile(noHeader, []byte("r1,A157639505\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"ids", "--help"}, cli.ExitOK, "usage: gridhub ids", ""},
		{"help names the flags", []string{"ids", "-h"}, cli.ExitOK, "-numbers", ""},
		{"argument", []string{"ids", "now"}, cli.ExitUsage, "", "ids takes no arguments"},
		{"bad forms", []string{"ids", "-data", data, "-id-forms", "TW,SSN"}, cli.ExitUsage, "", `unknown ID-number form "SSN"`},
		{"empty forms", []string{"ids", "-data", data, "-id-forms", " , "}, cli.ExitUsage, "", "no ID-number form"},
		{"missing numbers file", []string{"ids", "-data", data, "-numbers", filepath.Join(dir, "none.csv")}, cli.ExitFailure, "", "no such file"},
		{"numbers without header", []string{"ids", "-data", data, "-numbers", noHeader}, cli.ExitFailure, "", "resident_id and id_number"},
		{"empty store", []string{"ids", "-data", data}, cli.ExitOK, "0 residents read", ""},
		{"forms from the flag", []string{"ids", "-data", data, "-id-forms", "cn"}, cli.ExitOK, "accepted forms CN", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" })
			code := cli.Exit("gridhub", err, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)\nstderr: %s", code, tt.wantCode, err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout %q, stderr %q; want %q and %q in them", stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
	// The environment sets the forms too.
	var stdout bytes.Buffer
	getenv := func(k string) string {
		if k == "GRIDHUB_ID_FORMS" {
			return "OTHER"
		}
		return ""
	}
	if err := Run(context.Background(), []string{"ids", "-data", data}, &stdout, io.Discard, getenv); err != nil || !strings.Contains(stdout.String(), "accepted forms OTHER") {
		t.Errorf("GRIDHUB_ID_FORMS=OTHER: %v, %q", err, stdout.String())
	}
}

func must1[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
