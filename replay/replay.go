// Package replay feeds a day of Taiwan's 2020 national mask-stock feed
// (the NHIA's maskdata.csv, twelve snapshots of 2020-02-14) into the hub as
// stock writes, so that the restocks and sales of real pharmacies flow
// through the city service, the store and the broker to the committees
// they concern.
//
// # Pharmacies
//
// Run first imports the located pharmacies of tw-pharmacies.geojson
// through the city service (importer.ImportFile), so that they are placed
// on the grid and indexed; an institution of the feed is placed when the
// store holds a pharmacy of its code. The feed lists some 6,300
// institutions and the GeoJSON locates 319 pharmacies, 294 of them in the
// feed: the others are unplaced. An unplaced institution is kept only in
// the replay's own tallies, not in the store: a hub.Pharmacy has a cell
// (city.Service places every pharmacy it writes), and everything that
// reads the store's pharmacies (the locator, dispatch, the GraphQL
// pharmacy list) relies on it. Its stock changes are diffed and counted
// like any other, but they are not written and publish no event, so they
// alert no neighborhood.
//
// # Stock writes
//
// The snapshots are fed in time order. For each institution and SKU
// (adult masks MASK_ADULT, child masks MASK_CHILD) the first snapshot that
// lists the institution sets its stock: for a placed pharmacy a ledger
// entry with reason CORRECTION brings the store to the feed's figure, and
// no event is published. Each later figure is compared with the
// institution's last one (an institution may be missing from some
// snapshots; it is then compared with the last snapshot that listed it):
// an increase is a restock (city.Service.Restock: RESTOCK to the
// pharmacy's service disk and STOCK_CHANGED to its district), a decrease
// a sale (city.Service.Sell: STOCK_CHANGED only).
//
// # Committees
//
// With Options.SubscribeCommittees, every committee in the store is
// subscribed, in process, to the restocks touching its cells, as the
// restockAlerts subscription does for a committee without a SKU, and Run
// counts what they receive. It knows how many alerts to wait for from the
// events its writes published (Tap), so the figures it reports are
// complete: every alert published was received, or counted as dropped.
package replay

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/importer"
)

// The files of the data directory.
const (
	PharmaciesFile = "tw-pharmacies.geojson"
	SnapshotsDir   = "tw-maskdata/2020-02-14"
)

// ReasonCorrection is the ledger reason of the entry that brings a placed
// pharmacy's stock to the feed's first figure.
const ReasonCorrection = "CORRECTION"

// skus are the supplies the feed counts, in the order of Row.Stock.
var skus = [2]hub.SKU{hub.MaskAdult, hub.MaskChild}

// SKUs returns the supplies the feed counts, in the order of Row.Stock.
func SKUs() []hub.SKU { return slices.Clone(skus[:]) }

// DefaultAlertTimeout bounds the wait for committee alerts after the last
// write.
const DefaultAlertTimeout = 30 * time.Second

// Options configure a replay.
type Options struct {
	// DataDir holds tw-pharmacies.geojson and tw-maskdata/2020-02-14/.
	DataDir string
	// Events is the tap that the city service publishes through; nil
	// for none: no events are counted and no committee is subscribed.
	Events *Tap
	// SubscribeCommittees subscribes every committee on the tap's bus
	// and counts the alerts they receive. It needs Events.
	SubscribeCommittees bool
	// Speed paces the snapshots: 0 feeds them as fast as the store
	// takes them, N at N times real time (the wait before a snapshot is
	// its distance in feed time from the first one, divided by N, less
	// the time taken so far).
	Speed float64
	// Snapshots, when above zero, replays only the first Snapshots
	// snapshots.
	Snapshots int
	// Institutions, when not nil, replays only the institutions for
	// which it returns true.
	Institutions func(id string) bool
	// Log receives a line per snapshot; nil for none.
	Log io.Writer
	// Progress, when not nil, is told how far the replay has got as it
	// goes: rows of the feed fed so far, of all the snapshots' rows. A
	// command passes a progress bar's Update.
	Progress func(done, total int64)
	// AlertTimeout bounds the wait for committee alerts after the last
	// write; DefaultAlertTimeout when zero.
	AlertTimeout time.Duration
	// Now and Sleep are the clock that measures and paces the replay;
	// time.Now and a timer when nil.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// institution is the replay's state of one institution of the feed.
type institution struct {
	placed bool
	last   int // index of the last snapshot that listed it
	stock  [2]int
}

// Run replays the snapshots of opts.DataDir through svc. It returns the
// report of what it did, with the counts so far when it fails.
func Run(ctx context.Context, svc *city.Service, opts Options) (*Report, error) {
	if opts.Speed < 0 {
		return nil, hub.Errorf(hub.EINVALID, "speed %g: want 0 (as fast as possible) or more", opts.Speed)
	}
	if opts.SubscribeCommittees && opts.Events == nil {
		return nil, hub.Errorf(hub.EINVALID, "subscribing committees needs the tap the city publishes through")
	}
	now, sleep := opts.Now, opts.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	timeout := cmp.Or(opts.AlertTimeout, DefaultAlertTimeout)

	snaps, err := LoadSnapshots(filepath.Join(opts.DataDir, SnapshotsDir))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if opts.Snapshots > 0 && opts.Snapshots < len(snaps) {
		snaps = snaps[:opts.Snapshots]
	}
	rep := &Report{
		Snapshots: len(snaps), First: snaps[0].At, Last: snaps[len(snaps)-1].At, Speed: opts.Speed,
		SKUs: SKUs(), Tallies: make([]Tally, len(skus)), Events: map[hub.EventKind]int{},
	}

	// Place the located pharmacies.
	rep.Pharmacies, err = importer.ImportFile(ctx, svc, importer.Pharmacies, filepath.Join(opts.DataDir, PharmaciesFile), importer.Options{})
	if err != nil {
		return rep, fmt.Errorf("replay: place pharmacies: %w", err)
	}
	stored, err := svc.Store().Pharmacies(ctx)
	if err != nil {
		return rep, fmt.Errorf("replay: list pharmacies: %w", err)
	}
	placed := make(map[string]*hub.Pharmacy, len(stored))
	for _, p := range stored {
		placed[p.ID] = p
	}

	var fan *fanout
	if opts.SubscribeCommittees {
		cs, err := svc.Store().Committees(ctx, "")
		if err != nil {
			return rep, fmt.Errorf("replay: list committees: %w", err)
		}
		if fan, err = subscribeCommittees(ctx, opts.Events.Bus(), cs); err != nil {
			return rep, fmt.Errorf("replay: %w", err)
		}
		defer fan.close()
		rep.Committees = len(cs)
	}
	r := &run{svc: svc, opts: opts, rep: rep, placed: placed, fan: fan, insts: map[string]*institution{}}
	for _, s := range snaps {
		r.rows += int64(len(s.Rows))
	}
	if opts.Events != nil {
		opts.Events.take() // what was published before is not the replay's
	}

	start := now()
	for i, s := range snaps {
		if opts.Speed > 0 && i > 0 {
			due := time.Duration(float64(s.At.Sub(snaps[0].At)) / opts.Speed)
			if wait := due - now().Sub(start); wait > 0 {
				if err := sleep(ctx, wait); err != nil {
					return rep, err
				}
			}
		}
		if err := r.snapshot(ctx, i, s); err != nil {
			rep.Elapsed = now().Sub(start)
			return rep, fmt.Errorf("replay: %s: %w", s.Name, err)
		}
	}
	if fan != nil {
		if err := fan.wait(ctx, r.expected, timeout); err != nil {
			rep.Elapsed = now().Sub(start)
			return rep, fmt.Errorf("replay: %w", err)
		}
	}
	rep.Elapsed = now().Sub(start)

	for _, in := range r.insts {
		if in.placed {
			rep.Placed++
		} else {
			rep.Unplaced++
		}
	}
	rep.Institutions = len(r.insts)
	for id := range placed {
		if _, ok := r.insts[id]; !ok && (opts.Institutions == nil || opts.Institutions(id)) {
			rep.Absent++
		}
	}
	if fan != nil {
		rep.Alerts, rep.Alerted = fan.alerted()
		rep.Dropped = fan.dropped.Load()
	}
	return rep, nil
}

// run is the state of one replay.
type run struct {
	svc      *city.Service
	opts     Options
	rep      *Report
	placed   map[string]*hub.Pharmacy // as stored before the replay
	fan      *fanout
	insts    map[string]*institution
	expected int64 // alerts the committees should receive
	fed      int64 // rows of the snapshots fed so far, for Options.Progress
	rows     int64 // rows of all the snapshots
}

// progressEvery is how many rows go by between two calls of
// Options.Progress.
const progressEvery = 256

// snapshot feeds snapshot i.
func (r *run) snapshot(ctx context.Context, i int, s Snapshot) error {
	before := r.rep.EventsPublished()
	var up, down int
	defer func() {
		if r.opts.Progress != nil {
			r.opts.Progress(r.fed, r.rows)
		}
	}()
	for _, row := range s.Rows {
		r.fed++
		if r.opts.Progress != nil && r.fed%progressEvery == 0 {
			r.opts.Progress(r.fed, r.rows)
		}
		if r.opts.Institutions != nil && !r.opts.Institutions(row.ID) {
			continue
		}
		r.rep.Rows++
		in, ok := r.insts[row.ID]
		if !ok {
			in = &institution{last: i, stock: row.Stock}
			_, in.placed = r.placed[row.ID]
			r.insts[row.ID] = in
			if in.placed {
				if err := r.setStock(ctx, row); err != nil {
					return err
				}
			}
			continue
		}
		for k, q := range row.Stock {
			d := q - in.stock[k]
			if d == 0 {
				continue
			}
			t := &r.rep.Tallies[k]
			if in.last != i-1 {
				t.AfterAbsence++
			}
			if d > 0 {
				t.Increases++
				t.UnitsIn += d
				up++
			} else {
				t.Decreases++
				t.UnitsOut -= d
				down++
			}
			in.stock[k] = q
			if !in.placed {
				continue
			}
			var err error
			if d > 0 {
				_, err = r.svc.Restock(ctx, row.ID, skus[k], d)
				t.Restocks++
			} else {
				_, err = r.svc.Sell(ctx, row.ID, skus[k], -d)
				t.Sales++
			}
			if err != nil {
				return fmt.Errorf("institution %s: %s %+d: %w", row.ID, skus[k], d, err)
			}
			r.count()
		}
		in.last = i
	}
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, "snapshot %d/%d %s: %d rows, %d increases, %d decreases, %d events\n",
			i+1, r.rep.Snapshots, s.At.Format(time.TimeOnly), len(s.Rows), up, down, r.rep.EventsPublished()-before)
	}
	return nil
}

// setStock brings a placed pharmacy's stock to the feed's first figures:
// corrections, published as STOCK_CHANGED (never as restocks) so that the
// dashboards' counters follow.
func (r *run) setStock(ctx context.Context, row Row) error {
	p := r.placed[row.ID]
	for k, q := range row.Stock {
		d := q - p.Stock[skus[k]]
		if d == 0 {
			continue
		}
		if _, err := r.svc.Correct(ctx, row.ID, skus[k], d, ReasonCorrection); err != nil {
			return fmt.Errorf("institution %s: set %s to %d: %w", row.ID, skus[k], q, err)
		}
		r.rep.Corrections++
	}
	return nil
}

// count takes the tap's notes of the last write: the events published,
// and the alerts the committees should receive.
func (r *run) count() {
	if r.opts.Events == nil {
		return
	}
	for _, ev := range r.opts.Events.take() {
		r.rep.Events[ev.kind]++
		if r.fan != nil && ev.kind == hub.EventRestock {
			r.expected += int64(r.fan.expect(ev.seq, ev.cells))
		}
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
