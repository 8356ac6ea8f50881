package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/portable"
	bolt "go.etcd.io/bbolt"
)

// The pages benchmark measures what a group commit of reservations
// writes: a city of pagesPharmacies pharmacies (GRIDHUB_BENCH_PHARMACIES
// sets another number; the demo city that loadtest/run.sh serves stocks
// 98), a round already pagesEarlier reservations in, then groups of
// reservations (ReserveAllocated at pharmacies picked at random, with
// random ID and code hashes, as the hub makes them), each group one bbolt
// transaction, and reports the pages each commit writes.
const (
	pagesPharmacies = 400
	pagesEarlier    = 20_000
	pagesCommittees = 50
	pagesGroups     = 40
)

// deferDriver is the bbolt driver with writes held back: Update keeps fn
// and returns nil, and flush applies every kept fn in one transaction,
// so a group is exactly the writes made since the last flush.
type deferDriver struct {
	*db
	mu   sync.Mutex
	fns  []func(driver.Tx) error
	hold bool
}

func (d *deferDriver) Update(ctx context.Context, fn func(tx driver.Tx) error) error {
	d.mu.Lock()
	hold := d.hold
	if hold {
		d.fns = append(d.fns, fn)
	}
	d.mu.Unlock()
	if hold {
		return nil
	}
	return d.db.Update(ctx, fn)
}

// flush commits the writes held and returns bbolt's statistics of the
// transaction.
func (d *deferDriver) flush(b *testing.B) {
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		for _, fn := range d.fns {
			if err := fn(boltTx{tx}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	d.fns = d.fns[:0]
}

func hexHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type pagesCity struct {
	d          *deferDriver
	s          *portable.Store
	pharmacies []string
	rnd        *rand.Rand
	next       int64
	start      time.Time
}

func newPagesCity(b *testing.B, pageSize int) *pagesCity {
	b.Helper()
	dir := b.TempDir()
	if pageSize != 0 {
		createFile(b, dir, pageSize)
	}
	dd, err := openDB(dir)
	if err != nil {
		b.Fatal(err)
	}
	d := &deferDriver{db: dd}
	s, err := portable.New(b.Context(), d, portable.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	c := &pagesCity{d: d, s: s, rnd: rand.New(rand.NewPCG(1, 2)), start: time.Date(2020, 3, 12, 8, 0, 0, 0, time.UTC)}
	ctx := b.Context()
	var ps []*hub.Pharmacy
	n := pagesPharmacies
	if v, err := strconv.Atoi(os.Getenv("GRIDHUB_BENCH_PHARMACIES")); err == nil && v > 0 {
		n = v
	}
	for i := range n {
		id := fmt.Sprintf("59%08d", c.rnd.IntN(100_000_000))
		c.pharmacies = append(c.pharmacies, id)
		ps = append(ps, &hub.Pharmacy{ID: id, Name: "Pharmacy " + id, DistrictID: fmt.Sprintf("d%02d", i%12),
			Cell: 0x8928308280fffff, Location: hub.Point{Lat: 25.04, Lng: 121.51},
			Stock: map[hub.SKU]int{hub.MaskAdult: 1 << 30, hub.MaskChild: 1 << 20}, UpdatedAt: c.start})
	}
	if err := s.UpsertPharmacies(ctx, ps...); err != nil {
		b.Fatal(err)
	}
	r := &hub.Round{ID: "rnd_0001", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen,
		Opens: c.start, Closes: c.start.Add(12 * time.Hour), PickupWindow: 48 * time.Hour, MaxK: 3}
	if err := s.UpsertRound(ctx, r); err != nil {
		b.Fatal(err)
	}
	// The round so far, in groups of 256.
	d.hold = true
	for c.next < pagesEarlier {
		c.reserve(b, 256)
		d.flush(b)
	}
	return c
}

// reserve makes n reservations (held until the next flush).
func (c *pagesCity) reserve(b *testing.B, n int) {
	for range n {
		c.next++
		i := c.next
		at := c.start.Add(time.Duration(i) * 10 * time.Millisecond)
		rid := fmt.Sprintf("rsv_%013x%06x", at.UnixMilli(), i)
		resident := fmt.Sprintf("tpe-r%07d", i)
		r := &hub.Reservation{ID: rid, RoundID: "rnd_0001", ResidentID: resident, IDHash: hexHash("id" + resident),
			Cell: 0x8928308280fffff, CommitteeID: fmt.Sprintf("tpe-c%03d", i%pagesCommittees), DistrictID: "d01",
			Fulfilment: hub.Pickup, IdempotencyKey: hexHash("k" + resident)[:32], Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at}
		a := &hub.Allocation{ID: fmt.Sprintf("alc_%013x%06x", at.UnixMilli(), i), RoundID: r.ID[:0] + "rnd_0001", ReservationID: rid,
			ResidentID: resident, PharmacyID: c.pharmacies[c.rnd.IntN(len(c.pharmacies))], SKU: hub.MaskAdult, Quantity: 1,
			Cell: r.Cell, CodeHash: hexHash("code" + rid), Status: hub.AllocationReserved,
			ExpiresAt: at.Add(48 * time.Hour), CreatedAt: at, UpdatedAt: at}
		if _, err := c.s.ReserveAllocated(b.Context(), r, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReservePages reports the pages a group commit of 24 or 64
// reservations writes (bbolt's TxStats.Write), per commit and per
// reservation.
func BenchmarkReservePages(b *testing.B) {
	for _, group := range []int{24, 64} {
		b.Run(fmt.Sprint(group), func(b *testing.B) {
			c := newPagesCity(b, 0)
			var pages, spills, splits, rebal int
			for range b.N {
				for range pagesGroups {
					before := c.d.bolt.Stats().TxStats
					c.reserve(b, group)
					c.d.flush(b)
					after := c.d.bolt.Stats().TxStats
					pages += int(after.GetWrite() - before.GetWrite())
					spills += int(after.GetSpill() - before.GetSpill())
					splits += int(after.GetSplit() - before.GetSplit())
					rebal += int(after.GetRebalance() - before.GetRebalance())
				}
			}
			commits := float64(b.N * pagesGroups)
			b.ReportMetric(float64(pages)/commits, "pages/commit")
			b.ReportMetric(float64(pages)/commits/float64(group), "pages/reserve")
			b.ReportMetric(float64(splits)/commits/float64(group), "splits/reserve")
			b.ReportMetric(0, "ns/op")
		})
	}
}
