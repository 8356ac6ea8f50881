package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/progress"
	"github.com/gridhub/gridhub/replay"
)

// taiwanDistrictPrefix starts the IDs of the Taiwan demo's districts.
const taiwanDistrictPrefix = "tw-"

// replayCommand replays a day of Taiwan's 2020 mask-stock feed into the
// store of the Taiwan demo (seeded when absent), as restocks and sales
// published to the hub's broker, and prints the day's counts.
func replayCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	dataDir := fs.String("data-dir", "../shared/data", "directory holding "+replay.PharmaciesFile+" and "+replay.SnapshotsDir+"/")
	speed := fs.Float64("speed", 0, "0: feed the snapshots as fast as the store takes them; N: at N times real time")
	subscribe := fs.Bool("subscribe-committees", false, "subscribe every committee of the Taiwan demo to its restock alerts, in process, and count the alerts delivered")
	snapshots := fs.Int("snapshots", 0, "replay only the first N snapshots (0: all)")
	quiet := fs.Bool("quiet", false, "no progress: neither the bar nor a line per snapshot")
	fs.Usage = usageFunc(fs, "gridhub replay [-data DIR] [-data-dir ../shared/data] [-speed N] [-subscribe-committees]",
		"Replays the twelve 2020-02-14 snapshots of Taiwan's mask-stock feed through the hub, each increase a\n"+
			"restock and each decrease a sale, and prints the day's counts. The store (-data) gets the Taiwan\n"+
			"demo when it does not hold it yet: use one without the Taipei demo.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return cli.Usagef("replay takes no arguments, got %q", fs.Args())
	}
	if *speed < 0 || *snapshots < 0 {
		fs.Usage()
		return cli.Usagef("-speed and -snapshots must be 0 or more")
	}

	for _, name := range []string{replay.PharmaciesFile, replay.SnapshotsDir} {
		if _, err := os.Stat(filepath.Join(*dataDir, name)); err != nil {
			return fmt.Errorf("replay needs Taiwan's 2020 data (-data-dir): %w", err)
		}
	}

	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	// One store holds one demo: refuse, before writing anything, a store
	// with districts other than the Taiwan demo's.
	ds, err := p.Store.Districts(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if !strings.HasPrefix(d.ID, taiwanDistrictPrefix) {
			return fmt.Errorf("the store in %s holds district %s, not of the Taiwan demo; replay needs a store with the Taiwan demo or nothing: give another -data directory", c.DataDir, d.ID)
		}
	}
	// The replay's own city service over the program's store and broker:
	// it publishes through a tap, so that the replay can count what its
	// writes published and the alerts they should give.
	h, err := c.hasher()
	if err != nil {
		return err
	}
	tap := replay.NewTap(p.Bus)
	svc, err := city.New(ctx, p.Store, h, city.Options{Events: tap})
	if err != nil {
		return fmt.Errorf("load city: %w", err)
	}
	var watch io.Writer = stderr
	if *quiet {
		watch = nil
	}
	if err := seedDemo(ctx, svc, "taiwan", -1, watch); err != nil {
		return err
	}
	bar := progress.New(watch, progress.Options{Label: "replay"})
	opts := replay.Options{DataDir: *dataDir, Events: tap, SubscribeCommittees: *subscribe, Speed: *speed, Snapshots: *snapshots}
	if !*quiet {
		opts.Log, opts.Progress = bar.Writer(), bar.Update
	}
	rep, err := replay.Run(ctx, svc, opts)
	if err == nil {
		bar.Finish()
	}
	bar.Abort() // the bar ends before the report is printed; nothing after Finish
	if rep != nil {
		rep.Print(stdout)
	}
	return err
}
