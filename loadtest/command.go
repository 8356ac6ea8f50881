package main

// What the two load commands, subscribers and reserve, share on their
// command line: the flags that name the hub and shape this client, how a
// command reads its flags, and how it prints and writes its report.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/gridhub/gridhub/cli"
)

// hubTarget is the hub a load runs against. Both commands' configs embed
// it, first, so that their JSON begins with its fields.
type hubTarget struct {
	URL       string `json:"url"`
	DataDir   string `json:"data_dir"`
	JWTSecret string `json:"-"`
	HubPID    int    `json:"hub_pid"`
}

func (t *hubTarget) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.URL, "url", "http://127.0.0.1:18090", "the hub, on a loopback address")
	fs.StringVar(&t.DataDir, "data", "/tmp/loaddata", "the hub's data directory, to read its jwt-secret")
	fs.StringVar(&t.JWTSecret, "jwt-secret", "", "the hub's HS256 secret, if given to it by flag (wins over -data)")
	fs.IntVar(&t.HubPID, "hub-pid", 0, "the hub's process id for memory and CPU (0: the process listening on -url's port)")
}

// clientOptions shape this load client and say where its report goes.
// Both commands' configs embed it, last.
type clientOptions struct {
	ClientGOGC int    `json:"client_gogc"`
	JSON       string `json:"-"`
	CPUProfile string `json:"-"`
}

// flags binds o to fs; gogcUsage explains -client-gogc for the command.
func (o *clientOptions) flags(fs *flag.FlagSet, gogcUsage string) {
	fs.IntVar(&o.ClientGOGC, "client-gogc", 400, gogcUsage)
	fs.StringVar(&o.JSON, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write this client's CPU profile to this file")
}

// start sets this process's GOGC (-client-gogc) and starts its CPU
// profile (-cpuprofile); stop ends the profile.
func (o clientOptions) start() (stop func(), err error) {
	if o.ClientGOGC != 0 {
		debug.SetGCPercent(o.ClientGOGC)
	}
	if o.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// parseFlags reads the args of the load command name into the flags that
// bind registers. Help goes to stdout; a bad flag or an argument left
// over is a usage error, shown on stderr with the usage.
func parseFlags(name string, args []string, stdout, stderr io.Writer, bind func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bind(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./loadtest %s [flags]\n", name)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

// runLoad runs a load whose flags have been read and checked: it sets
// this client up (-client-gogc, -cpuprofile), calls run, then prints the
// report run returns and, with -json, writes it as JSON. A run that
// fails before it measured anything returns no report, only its error.
// Rep is the report's type (*SubscribersReport, *ReserveReport).
func runLoad[R any, Rep interface {
	*R
	Print(w io.Writer)
}](ctx context.Context, o clientOptions, stdout io.Writer, run func(context.Context) (Rep, error)) error {
	stop, err := o.start()
	if err != nil {
		return err
	}
	defer stop()
	rep, err := run(ctx)
	if rep == nil {
		return err
	}
	rep.Print(stdout)
	if o.JSON == "" {
		return err
	}
	b, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr == nil {
		jerr = os.WriteFile(o.JSON, append(b, '\n'), 0o644)
	}
	if jerr != nil {
		return errors.Join(err, fmt.Errorf("write json: %w", jerr))
	}
	return err
}

// printer writes one line of a report.
type printer func(format string, args ...any)

// linePrinter returns a printer that writes to w.
func linePrinter(w io.Writer) printer {
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}

// header writes the first line of a report, the command's name and the
// date, after a blank line.
func (p printer) header(command, date string) {
	p("")
	p("gridhub loadtest %s  %s", command, date)
}

// notes writes each note on a line of its own.
func (p printer) notes(notes []string) {
	for _, n := range notes {
		p("NOTE: %s", n)
	}
}

// errorKinds writes "label: kind=n ..." and then, a line each, the
// example of every kind that has one.
func (p printer) errorKinds(label string, kinds []ErrorKind) {
	p("%s: %s", label, formatKinds(kinds))
	for _, k := range kinds {
		if k.Example != "" {
			p("  %s e.g. %s", k.Kind, truncate(k.Example, 160))
		}
	}
}

// mib formats n bytes in MiB.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
