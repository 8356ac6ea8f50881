// Command verify-code checks a Gridhub health code the way a checkpoint
// device does: offline, against a trust list file, with no server and no
// network.
//
// Usage:
//
//	verify-code -trust trust.json [TOKEN | -]
//
// With no TOKEN, or "-", it reads the code from standard input (surrounding
// white space is ignored, so a scanner's line works). It prints
//
//	VALID subject=... colour=GREEN issuer=Shanghai key=sh-2020-02 issued=... expires=...
//
// and exits 0 when the code verifies, or
//
//	INVALID: EXPIRED: expired 2020-02-11T08:00:00Z
//
// and exits 1 when it does not (the reasons are those of package
// codes/token: MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, KEY_NOT_VALID,
// NOT_YET_VALID, EXPIRED). It exits 2 when it cannot be run as asked: no
// trust list, a trust list it cannot read or parse, an unknown flag, more
// than one token. The -now flag (RFC 3339) checks the code as of another
// time, for replaying a device's log.
//
// It imports no cgo, so it cross-compiles for devices:
// CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build ./cmd/verify-code.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/hub"
)

// Exit codes, those of every Gridhub program (package cli), where a
// failure is the code's refusal.
const (
	exitValid   = cli.ExitOK
	exitInvalid = cli.ExitFailure
	exitUsage   = cli.ExitUsage
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now))
}

// run is the program: it verifies the code named by args (or read from
// stdin) at now(), reports on stdout and stderr, and returns the exit
// code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("verify-code", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trustPath := fs.String("trust", "", "the trust list `file` (JSON), as the hub publishes it")
	at := fs.String("now", "", "check as of this RFC 3339 `time` instead of the clock")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: verify-code -trust trust.json [TOKEN | -]")
		fmt.Fprintln(fs.Output(), "Verifies a Gridhub health code offline: VALID (exit 0) or INVALID and why (exit 1); exit 2 when it cannot be run as asked.")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return cli.Code(err)
	}
	if *trustPath == "" || fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	when := now()
	if *at != "" {
		t, err := hub.ParseTime(*at)
		if err != nil {
			fmt.Fprintf(stderr, "verify-code: -now %q is not an RFC 3339 time: %s\n", *at, hub.ErrorMessage(err))
			return exitUsage
		}
		when = t
	}
	b, err := os.ReadFile(*trustPath)
	if err != nil {
		fmt.Fprintf(stderr, "verify-code: %v\n", err)
		return exitUsage
	}
	tl, err := token.ParseTrustList(b)
	if err != nil {
		fmt.Fprintf(stderr, "verify-code: %s: %s\n", *trustPath, hub.ErrorMessage(err))
		return exitUsage
	}

	text := fs.Arg(0)
	if text == "" || text == "-" {
		in, err := io.ReadAll(io.LimitReader(stdin, token.MaxLen+2))
		if err != nil {
			fmt.Fprintf(stderr, "verify-code: reading standard input: %v\n", err)
			return exitUsage
		}
		text = string(in)
	}
	text = strings.TrimSpace(text)

	code, err := token.Verify(text, tl, when)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			fmt.Fprintf(stdout, "INVALID: %s: %s\n", te.Reason, te.Detail)
		} else {
			fmt.Fprintf(stdout, "INVALID: %v\n", err)
		}
		return exitInvalid
	}
	fmt.Fprintf(stdout, "VALID subject=%s colour=%s issuer=%q key=%s issued=%s expires=%s\n",
		code.SubjectID, code.Colour, code.Issuer, code.KeyID,
		code.Issued.Format(time.RFC3339), code.Expires.Format(time.RFC3339))
	return exitValid
}
