// Command verify-lottery checks a published Gridhub lottery draw without a
// server or a network: it recomputes the draw from the published seed and
// entry hashes and says whether the published winners are the ones the
// draw gives (dispatch/LOTTERY.md describes the algorithm).
//
// Usage:
//
//	verify-lottery [draw.json]
//
// With no file, or "-", it reads the draw from standard input. It prints
// MATCH and exits 0 when the draw verifies; it prints MISMATCH and the
// reason and exits 1 when it does not, including when the draw is not
// valid JSON of the published form; it exits 2 when it cannot be run as
// asked (an unknown flag, more than one file, a file it cannot read).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// Exit codes, those of every Gridhub program (package cli), where a
// failure is the draw's mismatch.
const (
	exitMatch    = cli.ExitOK
	exitMismatch = cli.ExitFailure
	exitUsage    = cli.ExitUsage
)

// maxDraw bounds the size of a published draw read: 64 MiB is about
// 900,000 entries.
const maxDraw = 64 << 20

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the program: it verifies the draw named by args (or read from
// stdin), reports on stdout and stderr, and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify-lottery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: verify-lottery [draw.json | -]")
		fmt.Fprintln(fs.Output(), "Recomputes a published Gridhub lottery draw and prints MATCH (exit 0) or MISMATCH and why (exit 1); exit 2 when it cannot be run as asked.")
	}
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return cli.Code(err)
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	in, name := stdin, "standard input"
	if path := fs.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "verify-lottery: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		in, name = f, path
	}
	b, err := io.ReadAll(io.LimitReader(in, maxDraw+1))
	if err != nil {
		fmt.Fprintf(stderr, "verify-lottery: reading %s: %v\n", name, err)
		return exitUsage
	}
	if len(b) > maxDraw {
		fmt.Fprintf(stdout, "MISMATCH: %s is larger than %d bytes\n", name, maxDraw)
		return exitMismatch
	}
	d, err := decode(b)
	if err != nil {
		fmt.Fprintf(stdout, "MISMATCH: %s is not a published draw: %v\n", name, err)
		return exitMismatch
	}
	if err := d.Verify(); err != nil {
		fmt.Fprintf(stdout, "MISMATCH: %s\n", hub.ErrorMessage(err))
		return exitMismatch
	}
	fmt.Fprintf(stdout, "MATCH: round %s, %d winners of %d entries, seed matches commitment %s\n",
		d.RoundID, len(d.Winners), len(d.Entries), d.Commitment)
	return exitMatch
}

// decode reads a published draw strictly: unknown fields, a missing
// field or trailing data mean the file is not what the hub publishes.
func decode(b []byte) (*dispatch.PublishedDraw, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d dispatch.PublishedDraw
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the draw")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for _, f := range []string{"roundId", "commitment", "seed", "entries", "winnerCount", "winners"} {
		if _, ok := fields[f]; !ok {
			return nil, fmt.Errorf("the field %q is missing", f)
		}
	}
	return &d, nil
}
