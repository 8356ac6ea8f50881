package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/portable"
)

// RunMigration checks that the portable store moves data of format 1 to
// its format at New, on drivers open makes (each new and empty): a store
// writes pharmacies, stock changes and allocations, its per-pharmacy data
// is rewritten by hand into format 1's layout, and a store made by New on
// it then reads what the first one read, takes more writes, and has
// finished the move. It also finishes a move cut short: data that says
// version 2 with the move noted as running, some pharmacies moved and
// some not.
//
// The layouts, spelled out here as the test's own record of them:
//
//	format 1: bucket ledger holds a nested bucket per pharmacy, keyed by
//	          big-endian sequence numbers; bucket allocationsByPharmacy
//	          holds pharmacyID 0x00 allocationID; meta version "1".
//	format 2: bucket ledger holds pharmacyID 0x00 'a' allocationID and
//	          pharmacyID 0x00 'l' ^seq (big-endian); meta version "2",
//	          meta migrating "ledger" while a move from format 1 runs.
func RunMigration(t *testing.T, open func(t *testing.T) driver.Driver) {
	for _, tt := range []struct {
		name string
		// old are the pharmacies rewritten to format 1; cut says the
		// data is as a move cut short leaves it.
		old []string
		cut bool
	}{
		{"Format1", []string{"p1", "p2", "p3"}, false},
		{"CutShort", []string{"p2"}, true},
		{"CutShortAllMoved", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			d := open(t)
			// Format 1's bucket that format 2 no longer makes.
			if err := d.Prepare(ctx, []string{"allocationsByPharmacy"}); err != nil {
				t.Fatal(err)
			}
			s, err := portable.New(ctx, d, portable.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := migrationData(t, s)
			for _, id := range tt.old {
				ToFormat1(t, d, id)
			}
			version := "1"
			if tt.cut {
				version = "2"
			}
			SetFormat(t, d, version, tt.cut)

			s2, err := portable.New(ctx, d, portable.Options{})
			if err != nil {
				t.Fatalf("New on format 1 data: %v", err)
			}
			if got := readMigrationData(t, s2); !reflect.DeepEqual(got, want) {
				t.Errorf("after the move:\n got %+v\nwant %+v", got, want)
			}
			err = d.View(ctx, func(tx driver.Tx) error {
				meta := tx.Bucket("meta")
				if v := meta.Get([]byte("version")); string(v) != "2" {
					t.Errorf("version after the move: %q, want \"2\"", v)
				}
				if v := meta.Get([]byte("migrating")); v != nil {
					t.Errorf("the move is still noted as running: %q", v)
				}
				for _, id := range []string{"p1", "p2", "p3"} {
					if tx.Bucket("ledger").Bucket([]byte(id)) != nil {
						t.Errorf("the format 1 ledger of %s is still there", id)
					}
					if b := tx.Bucket("allocationsByPharmacy"); b != nil {
						if k, _ := b.Cursor().Seek([]byte(id + "\x00")); bytes.HasPrefix(k, []byte(id+"\x00")) {
							t.Errorf("allocationsByPharmacy still holds %q", k)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// More writes: the ledgers go on from their last numbers.
			if _, err := s2.AdjustStock(ctx, hub.StockChange{PharmacyID: "p2", SKU: hub.MaskAdult, Delta: 4, Reason: "RESTOCK", At: migrationTime}); err != nil {
				t.Fatal(err)
			}
			es, err := s2.StockLedger(ctx, "p2", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(es); n != len(want.ledgers["p2"])+1 || es[n-1].Seq != want.ledgers["p2"][n-2].Seq+1 || es[n-1].After != want.ledgers["p2"][n-2].After+4 {
				t.Errorf("ledger of p2 after one more change: %+v", es)
			}
			// Opening again moves nothing more.
			if _, err := portable.New(ctx, d, portable.Options{}); err != nil {
				t.Fatal(err)
			}
			if es2, err := s2.StockLedger(ctx, "p2", 0, 0); err != nil || !reflect.DeepEqual(es2, es) {
				t.Errorf("ledger of p2 after opening again: %+v, %v; want %+v", es2, err, es)
			}
		})
	}
}

var migrationTime = time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)

type migrated struct {
	ledgers map[string][]hub.StockEntry
	allocs  map[string][]string
	paged   []string // p2's allocations after the first, two at a time
}

// migrationData writes three pharmacies, stock changes, and allocations
// at two of them, and returns what the store reads of them.
func migrationData(t *testing.T, s hub.Store) migrated {
	t.Helper()
	ctx := t.Context()
	at := migrationTime
	for _, id := range []string{"p1", "p2", "p3"} {
		if err := s.UpsertPharmacies(ctx, &hub.Pharmacy{ID: id, DistrictID: "d1",
			Stock: map[hub.SKU]int{hub.MaskAdult: 100, hub.MaskChild: 10}, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskChild, Delta: -3, Reason: "SALE", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRound(ctx, &hub.Round{ID: "round1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen}); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		id := fmt.Sprintf("%02d", i)
		p := "p2"
		if i%3 == 0 {
			p = "p1"
		}
		_, err := s.ReserveAllocated(ctx,
			&hub.Reservation{ID: "res" + id, RoundID: "round1", ResidentID: "r" + id, IDHash: "h" + id, Fulfilment: hub.Pickup,
				Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at},
			&hub.Allocation{ID: "a" + id, RoundID: "round1", ReservationID: "res" + id, ResidentID: "r" + id, PharmacyID: p,
				SKU: hub.MaskAdult, Quantity: 1 + i, CodeHash: "code" + id, Status: hub.AllocationReserved, CreatedAt: at, UpdatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
	}
	return readMigrationData(t, s)
}

func readMigrationData(t *testing.T, s hub.Store) migrated {
	t.Helper()
	ctx := t.Context()
	m := migrated{ledgers: map[string][]hub.StockEntry{}, allocs: map[string][]string{}}
	for _, id := range []string{"p1", "p2", "p3"} {
		es, err := s.StockLedger(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		m.ledgers[id] = normAll(es, normEntry)
		as, err := s.Allocations(ctx, hub.AllocationFilter{PharmacyID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			m.allocs[id] = append(m.allocs[id], a.ID)
		}
	}
	as, err := s.Allocations(ctx, hub.AllocationFilter{PharmacyID: "p2", Status: hub.AllocationReserved, After: "a01", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		m.paged = append(m.paged, a.ID)
	}
	return m
}

// ToFormat1 rewrites one pharmacy's keys of the ledger bucket into format
// 1's layout (see RunMigration), for tests of the move. The driver's
// Prepare must have been given format 1's allocationsByPharmacy.
func ToFormat1(t *testing.T, d driver.Driver, id string) {
	t.Helper()
	err := d.Update(t.Context(), func(tx driver.Tx) error {
		ledger := tx.Bucket("ledger")
		byPharmacy := tx.Bucket("allocationsByPharmacy")
		if byPharmacy == nil {
			return fmt.Errorf("no allocationsByPharmacy bucket: the driver's Prepare was not given format 1's buckets")
		}
		type kv struct{ k, v []byte }
		var keys []kv
		prefix := []byte(id + "\x00")
		c := ledger.Cursor()
		for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			keys = append(keys, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		nb, err := ledger.CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		for _, e := range keys {
			switch rest := e.k[len(prefix):]; {
			case len(rest) == 9 && rest[0] == 'l':
				seq := ^binary.BigEndian.Uint64(rest[1:])
				if err := nb.Put(binary.BigEndian.AppendUint64(nil, seq), e.v); err != nil {
					return err
				}
			case len(rest) > 1 && rest[0] == 'a':
				if err := byPharmacy.Put(append(bytes.Clone(prefix), rest[1:]...), []byte{}); err != nil {
					return err
				}
			default:
				return fmt.Errorf("ledger bucket holds %q", e.k)
			}
			if err := ledger.Delete(e.k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// SetFormat sets the data's layout version and, with running, notes the
// move from format 1 as running.
func SetFormat(t *testing.T, d driver.Driver, version string, running bool) {
	t.Helper()
	err := d.Update(context.WithoutCancel(t.Context()), func(tx driver.Tx) error {
		meta := tx.Bucket("meta")
		if err := meta.Put([]byte("version"), []byte(version)); err != nil {
			return err
		}
		if running {
			return meta.Put([]byte("migrating"), []byte("ledger"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
