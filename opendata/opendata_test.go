package opendata_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/opendata"
)

// source is an in-memory Source: pharmacies, each with a ledger of n
// entries, the last at last[id].
type source struct {
	mu    sync.Mutex
	ps    []*hub.Pharmacy
	n     map[string]int
	last  map[string]time.Time
	reads int
}

func (s *source) Pharmacies(context.Context) ([]*hub.Pharmacy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	out := make([]*hub.Pharmacy, len(s.ps))
	for i, p := range s.ps {
		c := *p
		out[i] = &c
	}
	return out, nil
}

func (s *source) StockLedger(_ context.Context, id string, after uint64, limit int) ([]hub.StockEntry, error) {
	n := uint64(s.n[id])
	var out []hub.StockEntry
	for seq := after + 1; seq <= n && (limit <= 0 || len(out) < limit); seq++ {
		at := s.last[id].Add(-time.Duration(n-seq) * time.Minute)
		out = append(out, hub.StockEntry{Seq: seq, StockChange: hub.StockChange{At: at}})
	}
	return out, nil
}

func newSource(n int) *source {
	s := &source{n: map[string]int{}, last: map[string]time.Time{}}
	t0 := time.Date(2020, 2, 14, 0, 55, 35, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("59%08d", n-i) // out of order
		s.ps = append(s.ps, &hub.Pharmacy{ID: id, Name: "藥局, 甲", Address: "台北市\"中正\"路1號", Phone: "(02)1234",
			Location: hub.Point{Lat: 25, Lng: 121.5}, Hours: strings.Repeat("N", 20) + "Y",
			Stock: map[hub.SKU]int{hub.MaskAdult: i, hub.MaskChild: 2 * i}})
		s.n[id] = i * 37 % 500
		s.last[id] = t0.Add(time.Duration(i) * time.Second)
	}
	return s
}

// TestFeedCSV checks the layout, the free-text rules, the time column (the
// ledger's last entry, any ledger length) and the cache.
func TestFeedCSV(t *testing.T) {
	src := newSource(40)
	f := opendata.New(src, nil)
	b, err := f.CSV(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	text := string(b.Bytes)
	if !strings.HasPrefix(text, opendata.BOM+opendata.Header+"\r\n") {
		t.Fatalf("layout %q", text[:80])
	}
	rows := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")[1:]
	if len(rows) != 40 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		fs := strings.Split(r, ",")
		if len(fs) != 7 || fs[1] != "藥局， 甲" || fs[2] != "台北市＂中正＂路1號" {
			t.Fatalf("row %q", r)
		}
		if i > 0 && strings.Split(rows[i-1], ",")[0] >= fs[0] {
			t.Fatalf("rows out of order at %q", r)
		}
		var want string
		for _, p := range src.ps {
			if p.ID == fs[0] {
				at := src.last[p.ID]
				if src.n[p.ID] == 0 {
					at = p.UpdatedAt
				}
				if !at.IsZero() {
					want = at.In(opendata.Taipei()).Format(opendata.TimeLayout)
				}
			}
		}
		if fs[6] != want {
			t.Fatalf("row %s: time %q, want %q", fs[0], fs[6], want)
		}
	}
}

// TestFeedCache: a watched feed renders once for any number of reads, and
// again after an event says something changed; the ETag follows the body.
func TestFeedCache(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newSource(10)
	bus := broker.New(broker.Options{})
	defer bus.Close()
	f := opendata.New(src, nil)
	if err := f.Watch(ctx, bus); err != nil {
		t.Fatal(err)
	}
	first, err := f.CSV(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b, _ := f.CSV(ctx)
		g, _ := f.GeoJSON(ctx)
		if b.ETag != first.ETag || len(g.Bytes) == 0 {
			t.Fatal("the ETag moved without a change")
		}
	}
	if f.Builds() != 1 {
		t.Fatalf("%d renders for reads without a change, want 1", f.Builds())
	}
	id := src.ps[0].ID
	src.mu.Lock()
	src.ps[0].Stock[hub.MaskAdult] += 5
	src.mu.Unlock()
	at := time.Date(2020, 2, 14, 8, 0, 0, 0, time.UTC)
	if _, err := bus.Publish(ctx, hub.Event{Kind: hub.EventStockChanged, PharmacyID: id,
		Payload: hub.StockChangedPayload{StockEntry: hub.StockEntry{StockChange: hub.StockChange{PharmacyID: id, At: at}}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Builds() < 2 {
		b, _ := f.CSV(ctx)
		if b.ETag != first.ETag {
			if !strings.Contains(string(b.Bytes), id+",藥局， 甲,") || !strings.Contains(string(b.Bytes), "2020/02/14 16:00:00") {
				t.Fatalf("the change is not in the body")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event never made the feed render again")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkFeed compares a cached read (what a map client polling with no
// change costs) with a render of the same 6,000 pharmacies (what every
// read would cost without the cache).
func BenchmarkFeed(b *testing.B) {
	ctx := context.Background()
	src := newSource(6000)
	b.Run("render", func(b *testing.B) {
		f := opendata.New(src, nil)
		if _, err := f.CSV(ctx); err != nil { // the ledgers' times, once
			b.Fatal(err)
		}
		for b.Loop() {
			f.Changed(src.ps[0].ID, time.Time{})
			if _, err := f.CSV(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		bus := broker.New(broker.Options{})
		defer bus.Close()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f := opendata.New(src, nil)
		if err := f.Watch(cctx, bus); err != nil {
			b.Fatal(err)
		}
		if _, err := f.CSV(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := f.CSV(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
