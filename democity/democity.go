// Package democity seeds a store with a demo city, so the hub can be tried,
// shown and benchmarked without real personal data.
//
// Two demos exist. Taipei, the default, is a city of seven districts
// around Taipei Main Station (each a resolution-6 cell, 343 base cells),
// a neighbourhood committee per resolution-8 cell (343 committees of 7
// cells, coded like Shanghai's: district code and three digits), the real
// pharmacies of Taiwan's 2020 NHIA file that lie inside plus synthetic ones
// to about one per 3.5 committees (a real pharmacy that the file shows
// without adult or child masks starts with a synthetic quantity, so every
// pharmacy has masks to hand out), four checkpoints per district, and
// 50,000 synthetic residents spread unevenly over the cells (some cells
// empty, some dense). Taiwan holds all 319 real pharmacies, a district per
// resolution-5 cell holding one, a committee per resolution-7 cell holding
// one, a checkpoint per district and a few residents: real data, stock
// figures as the file has them, for benchmarks.
//
// Everything is drawn from a seeded PCG generator with integer arithmetic
// wherever a draw decides a record, so a seed gives the same records (IDs,
// names, ID numbers, phones, locations) run after run. Residents are made
// up: their ID numbers pass Taiwan's check digit and belong to nobody
// known. The real pharmacies are embedded in the binary (data/README.md
// names their source and licence).
package democity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// Demo names a demo city.
type Demo int

// The demos.
const (
	Taipei Demo = iota // seven districts around Taipei Main Station, 50,000 residents
	Taiwan             // all 319 real pharmacies of Taiwan, few residents
)

// String returns "taipei" or "taiwan".
func (d Demo) String() string {
	switch d {
	case Taipei:
		return "taipei"
	case Taiwan:
		return "taiwan"
	}
	return fmt.Sprintf("Demo(%d)", int(d))
}

// prefixes returns the prefix of the demo's IDs and of its district
// codes.
func (d Demo) prefixes() (id, code string) {
	switch d {
	case Taipei:
		return "tpe", "TP"
	case Taiwan:
		return "tw", "TW"
	}
	return "", ""
}

// ParseDemo returns the demo named s (case-insensitive) or an EINVALID
// error.
func ParseDemo(s string) (Demo, error) {
	for _, d := range []Demo{Taipei, Taiwan} {
		if strings.EqualFold(s, d.String()) {
			return d, nil
		}
	}
	return 0, hub.Errorf(hub.EINVALID, "unknown demo %q: want taipei or taiwan", s)
}

// The grid of the demos.
const (
	CenterLat = 25.0478 // Taipei Main Station
	CenterLng = 121.5170

	TaipeiDistrictResolution  = 6
	TaipeiCommitteeResolution = 8
	TaiwanDistrictResolution  = 5
	TaiwanCommitteeResolution = 7
)

// Defaults.
const (
	DefaultResidents       = 50_000 // Taipei
	DefaultTaiwanResidents = 2_000
	DefaultBatchSize       = 5_000
	maxBatchSize           = 10_000 // the service's own limit per call
)

// Options choose and size a demo. Zero values take defaults.
type Options struct {
	Demo Demo
	// Seed drives every random draw; the same seed gives the same city.
	Seed uint64
	// Residents is the number of residents: 0 means the demo's default
	// (50,000 for Taipei, 2,000 for Taiwan), a negative number none.
	Residents int
	// BatchSize is the number of records per service call; default 5,000,
	// at most 10,000.
	BatchSize int
	// Progress, when not nil, is told after each write how many records
	// this call has written of how many it will write. A command passes a
	// progress bar's Update.
	Progress func(done, total int64)
}

func (o Options) withDefaults() Options {
	switch {
	case o.Residents == 0 && o.Demo == Taiwan:
		o.Residents = DefaultTaiwanResidents
	case o.Residents == 0:
		o.Residents = DefaultResidents
	case o.Residents < 0:
		o.Residents = 0
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	o.BatchSize = min(o.BatchSize, maxBatchSize)
	return o
}

// Summary tells what a Seed call wrote.
type Summary struct {
	Demo Demo
	// Seeded is false when the demo was already complete in the store and
	// nothing was written.
	Seeded bool
	// Records written by this call (a call that completes an interrupted
	// one writes only what was missing).
	Districts      int
	Committees     int
	Pharmacies     int
	RealPharmacies int // of Pharmacies, those of the NHIA file
	Checkpoints    int
	Residents      int
	Cells          int // base cells of the demo's districts
	Elapsed        time.Duration
}

// Seed writes the demo city through svc, in batches. It is safe to call at
// every start: when the demo's first district and its last record are in
// the store it returns at once without writing (Summary.Seeded false), and
// when an earlier call was interrupted it writes only what is missing.
// Residents land in batches in order, each batch in one durable write, so
// the residents present are always a prefix of the planned ones.
//
// Call it with the same Seed every time on one store: completing an
// interrupted run with another seed would mix two cities. One store holds
// one demo: the districts of Taipei and Taiwan overlap, and seeding the
// second is an ECONFLICT error.
func Seed(ctx context.Context, svc *city.Service, opts Options) (*Summary, error) {
	start := time.Now()
	opts = opts.withDefaults()
	sum := &Summary{Demo: opts.Demo}
	prefix, code := opts.Demo.prefixes()
	if prefix == "" {
		return nil, hub.Errorf(hub.EINVALID, "unknown demo %d", int(opts.Demo))
	}
	st := svc.Store()

	// How far an earlier call got.
	firstDistrict := prefix + "-" + code + "01"
	present := -1 // residents already written; -1: the places are not all written
	if _, err := st.District(ctx, firstDistrict); err == nil {
		n, done, err := residentsPresent(ctx, st, prefix, opts.Residents)
		if err != nil {
			return nil, err
		}
		if done {
			sum.Elapsed = time.Since(start)
			return sum, nil
		}
		if n > 0 {
			present = n
		}
	} else if hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, fmt.Errorf("democity: look for the demo: %w", err)
	}

	var p *plan
	var err error
	if opts.Demo == Taipei {
		p, err = taipeiPlan(opts.Seed)
	} else {
		p, err = taiwanPlan(opts.Seed)
	}
	if err != nil {
		return nil, fmt.Errorf("democity: plan the %s demo: %w", opts.Demo, err)
	}
	if opts.Residents == 0 && present < 0 {
		// Without residents the last checkpoint tells whether a run ended.
		last := p.checkpoints[len(p.checkpoints)-1].ID
		if _, err := st.Checkpoint(ctx, last); err == nil {
			sum.Elapsed = time.Since(start)
			return sum, nil
		}
	}
	sum.Seeded, sum.Cells = true, p.cells

	total := opts.Residents - max(present, 0)
	if present < 0 {
		total += len(p.districts) + len(p.committees) + len(p.pharmacies) + len(p.checkpoints)
	}
	bar := &counter{report: opts.Progress, total: int64(total)}

	if present < 0 {
		if err := p.writePlaces(ctx, svc, opts.BatchSize, bar, sum); err != nil {
			return sum, err
		}
	}
	if err := p.writeResidents(ctx, svc, opts, max(present, 0), bar, sum); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// counter counts the records written for Options.Progress.
type counter struct {
	report      func(done, total int64)
	done, total int64
}

// Add counts n more records written.
func (c *counter) Add(n int64) {
	c.done += n
	if c.report != nil {
		c.report(c.done, c.total)
	}
}

// residentID is the ID of resident i (0-based) of a demo.
func residentID(prefix string, i int) string { return fmt.Sprintf("%s-r%07d", prefix, i+1) }

// residentsPresent returns how many of the want planned residents are in
// the store (they are a prefix: batches land in order) and whether all
// are.
func residentsPresent(ctx context.Context, st hub.Store, prefix string, want int) (n int, done bool, err error) {
	exists := func(i int) (bool, error) {
		_, err := st.Resident(ctx, residentID(prefix, i))
		if err == nil {
			return true, nil
		}
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			return false, nil
		}
		return false, fmt.Errorf("democity: look for residents: %w", err)
	}
	if want == 0 {
		return 0, false, nil
	}
	if ok, err := exists(want - 1); err != nil || ok {
		return want, ok, err
	}
	lo, hi := 0, want-1 // residents [0, lo) are present, [hi, want) are not
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, false, err
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, false, nil
}

// writePlaces writes districts, committees, pharmacies and checkpoints.
// All are upserts, so writing them again after an interruption is safe.
func (p *plan) writePlaces(ctx context.Context, svc *city.Service, batch int, bar *counter, sum *Summary) error {
	for _, d := range p.districts {
		if _, err := svc.UpsertDistrict(ctx, d.in); err != nil {
			return fmt.Errorf("democity: district %s: %w", d.in.ID, err)
		}
		sum.Districts++
		bar.Add(1)
	}
	for cs := range slices.Chunk(p.committees, batch) {
		if _, err := svc.UpsertCommittees(ctx, cs...); err != nil {
			return fmt.Errorf("democity: committees: %w", err)
		}
		sum.Committees += len(cs)
		bar.Add(int64(len(cs)))
	}
	for ps := range slices.Chunk(p.pharmacies, batch) {
		if _, err := svc.UpsertPharmacies(ctx, ps...); err != nil {
			return fmt.Errorf("democity: pharmacies: %w", err)
		}
		sum.Pharmacies += len(ps)
		bar.Add(int64(len(ps)))
	}
	sum.RealPharmacies = p.real
	for cs := range slices.Chunk(p.checkpoints, batch) {
		if _, err := svc.UpsertCheckpoints(ctx, cs...); err != nil {
			return fmt.Errorf("democity: checkpoints: %w", err)
		}
		sum.Checkpoints += len(cs)
		bar.Add(int64(len(cs)))
	}
	return nil
}

// writeResidents draws every planned resident, in order, and writes those
// from index from on.
func (p *plan) writeResidents(ctx context.Context, svc *city.Service, opts Options, from int, bar *counter, sum *Summary) error {
	if opts.Residents == 0 {
		return nil
	}
	if p.weight == 0 {
		return errors.New("democity: no cell to place residents in")
	}
	g := &residents{plan: p, rng: rand.New(rand.NewPCG(opts.Seed, streamResidents)), seen: map[string]bool{}}
	batch := make([]city.ResidentInput, 0, opts.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := svc.RegisterResidents(ctx, batch...); err != nil {
			return fmt.Errorf("democity: residents %s to %s: %w", batch[0].ID, batch[len(batch)-1].ID, err)
		}
		sum.Residents += len(batch)
		bar.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	for i := range opts.Residents {
		r := g.next(i)
		if i < from {
			continue
		}
		batch = append(batch, r)
		if len(batch) == opts.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// residents draws the residents of a plan, one after another.
type residents struct {
	plan *plan
	rng  *rand.Rand
	seen map[string]bool // ID numbers drawn, so none repeats
}

func (g *residents) next(i int) city.ResidentInput {
	rng, p := g.rng, g.plan
	h := p.drawHome(rng)
	d := p.districts[h.district]
	sex := 1 + rng.IntN(2)
	letter := d.letter
	if rng.IntN(10) < 3 { // registered first elsewhere in Taiwan
		letter = byte('A' + rng.IntN(26))
	}
	var id string
	for {
		id = idNumber(rng, letter, sex)
		if !g.seen[id] {
			g.seen[id] = true
			break
		}
	}
	var phone string
	if rng.IntN(10) != 0 {
		phone = mobile(rng)
	}
	at := pointIn(rng, h.cell)
	return city.ResidentInput{
		ID:       residentID(p.prefix, i),
		Name:     personName(rng, sex),
		IDNumber: id,
		Phone:    phone,
		Address:  address(rng, d.place, true),
		Location: &at,
	}
}
