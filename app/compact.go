package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/store/boltstore"
)

// compactCommand rewrites the embedded store's file without its free
// pages (boltstore.Compact): the bytes of records the retention sweep
// deleted leave the data directory. The hub must be stopped.
func compactCommand(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	fs.Usage = usageFunc(fs, "gridhub compact [-data DIR]",
		"Rewrites the embedded store's file with only its live records, so that the bytes of deleted\n"+
			"(expired) records leave the disk. Stop the hub first: compact refuses a file in use.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return cli.Usagef("compact takes no arguments, got %q", fs.Args())
	}
	if s := strings.TrimSpace(c.StoreURI); s != "" && s != "embedded" {
		return cli.Usagef("compact works on the embedded store only; MongoDB reclaims space itself (compact command)")
	}
	before, after, err := boltstore.Compact(c.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %d -> %d bytes\n", c.DataDir, before, after)
	return nil
}
