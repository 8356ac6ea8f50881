// Package cli holds what every Gridhub program does the same way on its
// command line (gridhub, loadtest, verify-lottery, verify-code):
//
//   - -h, -help or --help, on a program or any of its commands, prints the
//     usage on standard output and exits 0;
//   - a usage error (an unknown command or flag, a bad flag value, a
//     missing or extra argument) prints what is wrong, and the usage, on
//     standard error and exits 2;
//   - any other failure prints "program: error" on standard error and
//     exits 1.
//
// The verifiers refine 1: it is their "no" (MISMATCH, INVALID), given
// when the check ran and failed.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes.
const (
	ExitOK      = 0 // done, or help asked for
	ExitFailure = 1 // the program ran and failed
	ExitUsage   = 2 // the program was called wrongly
)

// UsageError is an error in how a program was called.
type UsageError struct {
	Err error
	// Shown is true once the error has been printed with the usage, so
	// that Exit does not print it again.
	Shown bool
}

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// Usage marks err as a usage error; nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	return &UsageError{Err: err}
}

// Usagef returns a usage error with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Parse parses args into fs. Asked for help, it prints fs's usage on
// stdout and returns flag.ErrHelp; given a bad flag, it prints the error
// and the usage on stderr and returns a *UsageError. A FlagSet's Usage
// function should write to fs.Output().
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		fs.SetOutput(stdout)
		return err
	case err != nil:
		_, _ = stderr.Write(buf.Bytes())
		fs.SetOutput(stderr)
		return &UsageError{Err: err, Shown: true}
	}
	fs.SetOutput(stderr)
	return nil
}

// Code returns the exit code for what a program's run returned: 0 for
// nil and for flag.ErrHelp, 2 for a usage error, 1 for anything else.
func Code(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// Exit reports err on stderr as "program: error" (unless it is help, or a
// usage error already shown) and returns the exit code for os.Exit.
func Exit(program string, err error, stderr io.Writer) int {
	code := Code(err)
	var ue *UsageError
	if code != ExitOK && !(errors.As(err, &ue) && ue.Shown) {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
	}
	return code
}
