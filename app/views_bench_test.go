package app

import (
	"fmt"
	"io"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// BenchmarkRebuildViews times what a hub does when its bus reports a gap
// (or at start): every view read afresh from the store (the dashboard
// counters with their hourly series, the city's area indexes and pharmacy
// locator, the dispatch engine's pharmacies and book), over the demo city
// (taipei, its default 50,000 residents, with its demo day) and over ten
// times its residents. The demo day's records (reservations, allocations,
// codes) are seeded with it.
func BenchmarkRebuildViews(b *testing.B) {
	for _, residents := range []int{50_000, 500_000} {
		b.Run(fmt.Sprintf("residents=%d", residents), func(b *testing.B) {
			if residents > 50_000 && testing.Short() {
				b.Skip("10x the demo city: not with -short")
			}
			c, err := ServeConfig([]string{"--data", b.TempDir(), "--secret", "bench-secret-0123456789"}, io.Discard, io.Discard, func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			p := &Program{Config: c}
			if err := p.Open(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if err := seedDemoWithDay(b.Context(), p, "taipei", residents, io.Discard); err != nil {
				b.Fatal(err)
			}
			n, err := p.Store.Residents(b.Context(), hub.ResidentFilter{Limit: 1})
			if err != nil || len(n) == 0 {
				b.Fatalf("no residents seeded: %v", err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := p.RebuildViews(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(residents), "residents")
		})
	}
}
