package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/democity"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/replay"
	"github.com/gridhub/gridhub/store/boltstore"
)

// dataDir is ../shared/data from the repository's root.
const dataDir = "../../shared/data"

// subset is the number of snapshots the test replays.
const subset = 3

// sentinel names the pharmacy of the events the test publishes after the
// replay: each subscription receives its events in order, so a collector
// that sees the sentinel has seen everything published before it.
const sentinel = "sentinel"

func needData(t *testing.T) {
	t.Helper()
	for _, p := range []string{replay.PharmaciesFile, replay.SnapshotsDir} {
		if _, err := os.Stat(filepath.Join(dataDir, p)); err != nil {
			t.Skipf("the replay test needs Taiwan's 2020 data in ../shared/data from the repository root: %v", err)
		}
	}
}

// feed is the test's own reading of the first n snapshot files, in time
// order (their names hold the time), apart from package replay's parser:
// institution code -> adult and child masks.
func feed(t *testing.T, n int) (names []string, snaps []map[string][2]int) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dataDir, replay.SnapshotsDir, "maskdata_*.csv"))
	if err != nil || len(paths) < n {
		t.Fatalf("want %d snapshots, found %d (%v)", n, len(paths), err)
	}
	slices.Sort(paths)
	for _, p := range paths[:n] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimPrefix(string(b), "\uFEFF"), "\n")
		snap := map[string][2]int{}
		for _, line := range lines[1:] {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue
			}
			f := strings.Split(line, ",")
			if len(f) != 7 {
				t.Fatalf("%s: bad line %q", p, line)
			}
			adult, err1 := strconv.Atoi(f[4])
			child, err2 := strconv.Atoi(f[5])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad line %q", p, line)
			}
			snap[f[0]] = [2]int{adult, child}
		}
		names = append(names, filepath.Base(p))
		snaps = append(snaps, snap)
	}
	return names, snaps
}

// located returns the ids of the GeoJSON's pharmacies.
func located(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, replay.PharmaciesFile))
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties struct {
				ID string `json:"id"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fc.Features {
		out[f.Properties.ID] = true
	}
	return out
}

type key struct {
	id  string
	sku hub.SKU
}

// diff returns the changes of each institution and SKU in order: the
// first snapshot listing an institution sets its stock, each later one is
// compared with the last that listed it.
func diff(snaps []map[string][2]int) map[key][]int {
	last := map[string][2]int{}
	out := map[key][]int{}
	for _, s := range snaps {
		ids := make([]string, 0, len(s))
		for id := range s {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			now := s[id]
			if before, ok := last[id]; ok {
				for k, sku := range replay.SKUs() {
					if d := now[k] - before[k]; d != 0 {
						out[key{id, sku}] = append(out[key{id, sku}], d)
					}
				}
			}
			last[id] = now
		}
	}
	return out
}

// collector keeps what one subscription receives until the sentinel.
type collector struct {
	got  []*hub.Event
	gaps int
	done chan struct{}
}

func collect(t *testing.T, b *broker.Broker, f broker.Filter) *collector {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer sub.Close()
		for d := range sub.C() {
			c.gaps += d.Gap
			if d.Event.PharmacyID == sentinel {
				return
			}
			c.got = append(c.got, d.Event)
		}
	}()
	return c
}

func (c *collector) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a subscription did not receive the sentinel")
	}
	if c.gaps != 0 {
		t.Fatalf("a subscription lost %d events", c.gaps)
	}
}

// fakeClock paces the replay without waiting: Sleep moves it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// TestReplay replays the first snapshots of the day into the Taiwan demo
// over a real store, with every committee subscribed, and checks the
// events and alerts against the test's own diff of the CSV files.
func TestReplay(t *testing.T) {
	needData(t)
	ctx := t.Context()

	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := privacy.NewHasher([]byte("replay-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	// A queue no burst of the subset fills: the test wants every event.
	b := broker.New(broker.Options{QueueSize: 1 << 16})
	t.Cleanup(func() { _ = b.Close() })
	tap := replay.NewTap(b)
	svc, err := city.New(ctx, st, h, city.Options{Events: tap, Now: func() time.Time { return time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := democity.Seed(ctx, svc, democity.Options{Demo: democity.Taiwan, Seed: 2020, Residents: -1}); err != nil {
		t.Fatal(err)
	}
	committees, err := st.Committees(ctx, "")
	if err != nil || len(committees) == 0 {
		t.Fatalf("the Taiwan demo has %d committees (%v)", len(committees), err)
	}

	// The test's own subscriptions, besides the replay's.
	restocks := collect(t, b, broker.Filter{Kinds: []hub.EventKind{hub.EventRestock}})
	changes := collect(t, b, broker.Filter{Kinds: []hub.EventKind{hub.EventStockChanged}})
	alerts := make([]*collector, len(committees))
	var everyCell []hub.Cell
	for i, c := range committees {
		alerts[i] = collect(t, b, broker.Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: c.Cells})
		everyCell = append(everyCell, c.Cells...)
	}

	const speed = 120
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var log strings.Builder
	var fed, rows int64
	rep, err := replay.Run(ctx, svc, replay.Options{
		DataDir: dataDir, Events: tap, SubscribeCommittees: true, Speed: speed, Snapshots: subset,
		Now: clock.Now, Sleep: clock.Sleep, Log: &log,
		Progress: func(done, total int64) {
			if done < fed || total != max(rows, total) {
				t.Errorf("progress %d of %d after %d of %d", done, total, fed, rows)
			}
			fed, rows = done, total
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fed != rows || fed != int64(rep.Rows) {
		t.Errorf("progress ended at %d of %d rows; the replay fed %d", fed, rows, rep.Rows)
	}
	if n := strings.Count(log.String(), "\n"); n != subset {
		t.Errorf("%d log lines for %d snapshots:\n%s", n, subset, log.String())
	}
	for _, ev := range []hub.Event{
		{Kind: hub.EventRestock, Cells: everyCell, PharmacyID: sentinel},
		{Kind: hub.EventStockChanged, PharmacyID: sentinel},
	} {
		if _, err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	restocks.wait(t)
	changes.wait(t)
	for _, c := range alerts {
		c.wait(t)
	}

	names, snaps := feed(t, subset)
	loc := located(t)
	want := diff(snaps)

	// What the test expects, from its own diff.
	wantRestocks, wantChanges := map[key][]int{}, map[key][]int{}
	var unplacedIncreases, institutions, placed int
	increases, decreases := map[hub.SKU]int{}, map[hub.SKU]int{}
	restocksOf, salesOf := map[hub.SKU]int{}, map[hub.SKU]int{}
	for k, ds := range want {
		for _, d := range ds {
			if d > 0 {
				increases[k.sku]++
			} else {
				decreases[k.sku]++
			}
			if !loc[k.id] {
				if d > 0 {
					unplacedIncreases++
				}
				continue
			}
			wantChanges[k] = append(wantChanges[k], d)
			if d > 0 {
				wantRestocks[k] = append(wantRestocks[k], d)
				restocksOf[k.sku]++
			} else {
				salesOf[k.sku]++
			}
		}
	}
	lastSeen := map[string][2]int{}
	for _, s := range snaps {
		for id, q := range s {
			lastSeen[id] = q
		}
	}
	institutions = len(lastSeen)
	for id := range lastSeen {
		if loc[id] {
			placed++
		}
	}
	if len(wantRestocks) == 0 || unplacedIncreases == 0 {
		t.Fatalf("the subset of %v has %d placed and %d unplaced restocks: too small to prove anything", names, len(wantRestocks), unplacedIncreases)
	}

	// Every increase of a placed pharmacy is exactly one RESTOCK event of
	// its quantity, and nothing else is; unplaced institutions publish
	// nothing.
	gotRestocks, gotChanges := map[key][]int{}, map[key][]int{}
	pharmacies := map[string]*hub.Pharmacy{}
	for _, ev := range restocks.got {
		p, ok := ev.Payload.(hub.RestockPayload)
		if !ok || p.PharmacyID != ev.PharmacyID || p.SKU != ev.SKU || p.Reason != "RESTOCK" {
			t.Fatalf("a RESTOCK event of %s does not hold its restock: %+v", ev.PharmacyID, ev.Payload)
		}
		if !loc[ev.PharmacyID] {
			t.Errorf("unplaced institution %s published a RESTOCK", ev.PharmacyID)
		}
		k := key{ev.PharmacyID, ev.SKU}
		gotRestocks[k] = append(gotRestocks[k], p.Delta)
	}
	corrections := 0
	for _, ev := range changes.got {
		p, ok := ev.Payload.(hub.StockChangedPayload)
		if ok && p.Reason == replay.ReasonCorrection {
			corrections++ // a placed pharmacy brought to the feed's first figures
			continue
		}
		wantReason := "RESTOCK"
		if p.Delta < 0 {
			wantReason = city.ReasonSale
		}
		if !ok || p.PharmacyID != ev.PharmacyID || p.Reason != wantReason {
			t.Fatalf("a STOCK_CHANGED event of %s: %+v", ev.PharmacyID, ev.Payload)
		}
		k := key{ev.PharmacyID, ev.SKU}
		gotChanges[k] = append(gotChanges[k], p.Delta)
	}
	compare(t, "RESTOCK events", gotRestocks, wantRestocks)
	compare(t, "STOCK_CHANGED events", gotChanges, wantChanges)

	// Every committee whose cells meet a restock's service disk received
	// it exactly once, in order; the others received nothing.
	wantAlerts := make([][]uint64, len(committees))
	var inRange int
	for _, ev := range restocks.got {
		ph, ok := pharmacies[ev.PharmacyID]
		if !ok {
			if ph, err = st.Pharmacy(ctx, ev.PharmacyID); err != nil {
				t.Fatal(err)
			}
			pharmacies[ev.PharmacyID] = ph
		}
		disk, err := grid.Disk(ph.Cell, city.DefaultServiceK)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(disk)
		if cells := slices.Sorted(slices.Values(ev.Cells)); !slices.Equal(cells, disk) {
			t.Fatalf("the restock of %s touches %d cells, not its service disk of %d", ev.PharmacyID, len(cells), len(disk))
		}
		for i, c := range committees {
			if slices.ContainsFunc(c.Cells, func(cell hub.Cell) bool { _, ok := slices.BinarySearch(disk, cell); return ok }) {
				wantAlerts[i] = append(wantAlerts[i], ev.Seq)
				inRange++
			}
		}
	}
	var alerted, quiet int
	for i, c := range alerts {
		got := make([]uint64, len(c.got))
		for j, ev := range c.got {
			got[j] = ev.Seq
		}
		if !slices.Equal(got, wantAlerts[i]) {
			t.Errorf("committee %s received restocks %v, want %v", committees[i].ID, got, wantAlerts[i])
		}
		if len(got) > 0 {
			alerted++
		} else {
			quiet++
		}
	}
	if alerted == 0 || quiet == 0 {
		t.Fatalf("%d committees alerted, %d not: the subset does not tell in range from out of range", alerted, quiet)
	}

	// The report agrees.
	for _, sku := range replay.SKUs() {
		tl := rep.Tally(sku)
		if tl.Increases != increases[sku] || tl.Decreases != decreases[sku] || tl.Restocks != restocksOf[sku] || tl.Sales != salesOf[sku] {
			t.Errorf("%s: report %+v, want %d increases (%d restocks), %d decreases (%d sales)",
				sku, tl, increases[sku], restocksOf[sku], decreases[sku], salesOf[sku])
		}
	}
	unplacedCounted := 0
	for _, tl := range rep.Tallies {
		unplacedCounted += tl.Increases - tl.Restocks
	}
	if unplacedCounted != unplacedIncreases {
		t.Errorf("report counts %d unplaced increases, want %d", unplacedCounted, unplacedIncreases)
	}
	if corrections != rep.Corrections {
		t.Errorf("%d CORRECTION events, the report counts %d corrections", corrections, rep.Corrections)
	}
	if rep.Institutions != institutions || rep.Placed != placed || rep.Unplaced != institutions-placed {
		t.Errorf("report: %d institutions, %d placed, %d unplaced; want %d, %d, %d", rep.Institutions, rep.Placed, rep.Unplaced, institutions, placed, institutions-placed)
	}
	if rep.Events[hub.EventRestock] != len(restocks.got) || rep.Events[hub.EventStockChanged] != len(changes.got) || rep.EventsPublished() != len(restocks.got)+len(changes.got) {
		t.Errorf("report: events %v, the bus carried %d RESTOCK and %d STOCK_CHANGED", rep.Events, len(restocks.got), len(changes.got))
	}
	if rep.Committees != len(committees) || rep.Alerts != int64(inRange) || rep.Alerted != alerted || rep.Dropped != 0 {
		t.Errorf("report: %d committees, %d alerts to %d, %d dropped; want %d, %d to %d, 0", rep.Committees, rep.Alerts, rep.Alerted, rep.Dropped, len(committees), inRange, alerted)
	}

	// Paced at speed times real time, on the injected clock.
	var wantSleeps []time.Duration
	for i := 1; i < subset; i++ {
		wantSleeps = append(wantSleeps, time.Duration(float64(feedTime(t, names[i]).Sub(feedTime(t, names[i-1])))/speed))
	}
	if !slices.Equal(clock.sleeps, wantSleeps) {
		t.Errorf("slept %v, want %v", clock.sleeps, wantSleeps)
	}
	if wantElapsed := time.Duration(float64(feedTime(t, names[subset-1]).Sub(feedTime(t, names[0]))) / speed); rep.Elapsed != wantElapsed {
		t.Errorf("elapsed %s, want %s", rep.Elapsed, wantElapsed)
	}

	// The store holds the feed's last figures for the placed pharmacies,
	// and nothing of the unplaced ones.
	for id, q := range lastSeen {
		p, err := st.Pharmacy(ctx, id)
		if !loc[id] {
			if hub.ErrorCode(err) != hub.ENOTFOUND {
				t.Fatalf("unplaced institution %s: %v, %v; want not found", id, p, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Stock[hub.MaskAdult] != q[0] || p.Stock[hub.MaskChild] != q[1] {
			t.Errorf("pharmacy %s holds %v, the feed says %v", id, p.Stock, q)
		}
	}
	t.Logf("%d snapshots: %d institutions (%d placed), %d placed restocks, %d unplaced increases, %d alerts to %d of %d committees",
		subset, institutions, placed, len(restocks.got), unplacedIncreases, inRange, alerted, len(committees))
}

// compare fails on the first keys whose changes differ.
func compare(t *testing.T, what string, got, want map[key][]int) {
	t.Helper()
	bad := 0
	for _, k := range sortedKeys(got, want) {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s of %s %s: got %v, want %v", what, k.id, k.sku, got[k], want[k])
			if bad++; bad == 10 {
				t.Fatalf("%s: more differ", what)
			}
		}
	}
}

func sortedKeys(ms ...map[key][]int) []key {
	var out []key
	for _, m := range ms {
		for k := range m {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b key) int { return strings.Compare(a.id+"/"+string(a.sku), b.id+"/"+string(b.sku)) })
	return slices.Compact(out)
}

// feedTime reads the time in a snapshot's name, maskdata_2020-02-14-085535.csv.
func feedTime(t *testing.T, name string) time.Time {
	t.Helper()
	at, err := time.Parse("maskdata_2006-01-02-150405.csv", name)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestReadSnapshot(t *testing.T) {
	const header = "\uFEFF醫事機構代碼,醫事機構名稱,醫事機構地址,醫事機構電話,成人口罩剩餘數,兒童口罩剩餘數,來源資料時間\r\n"
	row := func(id string, adult, child, at string) string {
		return fmt.Sprintf("%s,名,址,(02)1,%s,%s,%s\r\n", id, adult, child, at)
	}
	const at = "2020/02/14 08:55:35"
	tests := []struct {
		name string
		give string
		want []replay.Row
		err  string
	}{
		{"BOM and CRLF", header + row("0145080011", "654", "319", at) + row("592202A296", "0", "64", at),
			[]replay.Row{{ID: "0145080011", Stock: [2]int{654, 319}}, {ID: "592202A296", Stock: [2]int{0, 64}}}, ""},
		{"LF without BOM", strings.ReplaceAll(strings.TrimPrefix(header, "\uFEFF")+row("1", "1", "2", at), "\r\n", "\n"),
			[]replay.Row{{ID: "1", Stock: [2]int{1, 2}}}, ""},
		{"institution twice", header + row("1", "1", "2", at) + row("1", "1", "2", at), nil, "listed again"},
		{"negative stock", header + row("1", "-1", "2", at), nil, "whole number"},
		{"stock not a number", header + row("1", "many", "2", at), nil, "whole number"},
		{"two times", header + row("1", "1", "2", at) + row("2", "1", "2", "2020/02/14 09:25:35"), nil, "differs"},
		{"bad time", header + row("1", "1", "2", "14.2.2020"), nil, "source data time"},
		{"no stock column", "醫事機構代碼,來源資料時間\n1,2020/02/14 08:55:35\n", nil, "no column"},
		{"no rows", header, nil, "no rows"},
		{"empty", "", nil, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := replay.ReadSnapshot(strings.NewReader(tt.give))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Rows, tt.want) {
				t.Errorf("rows %+v, want %+v", s.Rows, tt.want)
			}
			if want := time.Date(2020, 2, 14, 0, 55, 35, 0, time.UTC); !s.At.Equal(want) {
				t.Errorf("time %s, want %s", s.At, want)
			}
		})
	}
}
