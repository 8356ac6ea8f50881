package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/democity"
	"github.com/gridhub/gridhub/hub"

	"github.com/gridhub/gridhub/importer"
	"github.com/gridhub/gridhub/importer/progress"
)

// openForTool opens the store and city for a command that runs without
// serving.
func openForTool(ctx context.Context, c Config, stderr io.Writer) (*Program, error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, err
	}
	p := &Program{Config: c, Log: log}
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func importCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	kind := fs.String("kind", "", "what the file holds: districts, committees, pharmacies, checkpoints or residents")
	format := fs.String("format", "", "csv or geojson (default: from the file name)")
	batch := fs.Int("batch", importer.DefaultBatchSize, "rows per write")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gridhub import -kind KIND [flags] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("import takes one file, got %d", fs.NArg())
	}
	k, err := importer.ParseKind(*kind)
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	var f importer.Format
	if *format != "" {
		f, err = importer.ParseFormat(*format)
	} else {
		f, err = importer.FormatOf(path)
	}
	if err != nil {
		return err
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()

	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	rep, err := importer.Import(ctx, p.City, k, f, file, importer.Options{
		BatchSize: *batch,
		Progress:  stderr,
		Terminal:  progress.IsTerminal(stderr),
	})
	if rep != nil {
		fmt.Fprintf(stdout, "%s: %d %s read, %d imported, %d rejected\n", filepath.Base(path), rep.Read, k, rep.Imported, rep.Rejected)
		for _, b := range rep.Bad {
			fmt.Fprintf(stdout, "  %s\n", b)
		}
		if rep.Rejected > len(rep.Bad) {
			fmt.Fprintf(stdout, "  ... and %d more\n", rep.Rejected-len(rep.Bad))
		}
	}
	return err
}

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	name := fs.String("city", "taipei", "demo city: taipei (7 districts, 50,000 residents) or taiwan (all 319 real pharmacies)")
	residents := fs.Int("residents", 0, "residents in the demo city (0: the demo's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	return seedDemo(ctx, p.City, *name, *residents, stderr)
}

// DemoSeed is the seed of the demo city: the same seed, the same city.
const DemoSeed = 2020

// seedDemo seeds a demo city (taipei or taiwan) unless the store already
// holds it.
func seedDemo(ctx context.Context, svc *city.Service, name string, residents int, w io.Writer) error {
	demo, err := democity.ParseDemo(name)
	if err != nil {
		return err
	}
	sum, err := democity.Seed(ctx, svc, democity.Options{
		Demo:      demo,
		Seed:      DemoSeed,
		Residents: residents,
		Progress:  w,
		Terminal:  progress.IsTerminal(w),
	})
	if err != nil {
		return err
	}
	if sum.Seeded {
		fmt.Fprintf(w, "demo city %s seeded in %s: %d districts, %d committees, %d pharmacies (%d real), %d checkpoints, %d residents\n",
			demo, sum.Elapsed.Round(time.Millisecond), sum.Districts, sum.Committees, sum.Pharmacies, sum.RealPharmacies, sum.Checkpoints, sum.Residents)
	}
	return nil
}

func tokenCommand(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	role := fs.String("role", "", "ADMIN, DISTRICT, COMMITTEE, PARTNER, PHARMACY, CHECKPOINT or RESIDENT")
	scope := fs.String("scope", "", "the id the role is bound to (district id, committee id, ...); none for ADMIN")
	subject := fs.String("subject", "", "who holds the token (an operator's name, a device id)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gridhub token -role ROLE [-scope ID] -subject WHO [-ttl 24h]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return errors.New(hub.ErrorMessage(err))
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	tok, err := keys.Mint(auth.Principal{Role: r, Scope: *scope, Subject: *subject, TokenID: newTokenID()}, *ttl)
	if err != nil {
		return errors.New(hub.ErrorMessage(err))
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func newTokenID() string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
