package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	bolt "go.etcd.io/bbolt"
)

// testdata/v1/gridhub.db is a data directory written by the store as it
// was before the portable store (commit 9e159c4), by writeV1 below, which
// was copied unchanged into a program built from that commit. The files of
// cities' data directories hold that format.

// v1Time is the time of every record of the fixture.
var v1Time = time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)

// writeV1 writes one or more records of every kind.
func writeV1(ctx context.Context, s hub.Store) error {
	at := v1Time
	cell := hub.Cell(0x8928308280fffff)
	pt := hub.Point{Lat: 25.0478, Lng: 121.517}
	steps := []func() error{
		func() error {
			return s.UpsertDistrict(ctx, &hub.District{ID: "d1", Code: "D1", Name: "Zhongzheng", Cells: []hub.Cell{cell}, UpdatedAt: at})
		},
		func() error {
			return s.UpsertCommittees(ctx,
				&hub.Committee{ID: "c1", Code: "C1", Name: "Ward 1", DistrictID: "d1", Cells: []hub.Cell{cell}, UpdatedAt: at},
				&hub.Committee{ID: "c2", Code: "C2", Name: "Ward 2", DistrictID: "d1", UpdatedAt: at})
		},
		func() error {
			var rs []*hub.Resident
			for i := range 5 {
				rs = append(rs, &hub.Resident{ID: fmt.Sprintf("r%d", i), Name: "Lin", IDHash: fmt.Sprintf("h%d", i),
					IDMasked: "A1******89", Phone: "0912345678", Address: "1 Zhongshan Rd", Location: pt, Cell: cell,
					CommitteeID: []string{"c1", "c2"}[i%2], DistrictID: "d1", RegisteredAt: at})
			}
			return s.CreateResidents(ctx, rs...)
		},
		func() error {
			return s.UpsertPharmacies(ctx, &hub.Pharmacy{ID: "p1", Name: "Good Health", Location: pt, Cell: cell, DistrictID: "d1",
				Hours: "08-22", Stock: map[hub.SKU]int{hub.MaskAdult: 100, hub.MaskChild: 20}, UpdatedAt: at})
		},
		func() error {
			_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: 50, Reason: "RESTOCK", At: at.Add(time.Hour)})
			return err
		},
		func() error {
			return s.UpsertCheckpoints(ctx, &hub.Checkpoint{ID: "k1", Name: "Station", Kind: "STATION", Location: pt, Cell: cell, DistrictID: "d1", UpdatedAt: at})
		},
		func() error {
			_, err := s.AppendAudit(ctx,
				hub.AuditEntry{At: at, ActorID: "admin", Action: "resident", TargetID: "r1", Purpose: "check", Count: 1},
				hub.AuditEntry{At: at, ActorID: "c1", Action: "residents", TargetID: "c1", Purpose: "list", Count: 3})
			return err
		},
		func() error { _, err := s.SwapMeta(ctx, "keys.token", "", "fp1"); return err },
		func() error {
			return s.UpsertRound(ctx, &hub.Round{ID: "round1", Name: "Masks", SKU: hub.MaskAdult, PerPerson: 5, Mode: hub.FirstCome,
				Fulfilments: []hub.Fulfilment{hub.Pickup}, Eligibility: hub.Eligibility{DistrictIDs: []string{"d1"}},
				Opens: at, Closes: at.Add(24 * time.Hour), MaxK: 3, PickupWindow: 24 * time.Hour, SlotMinutes: 15, SlotCapacity: 3,
				Status: hub.RoundOpen, CreatedAt: at, UpdatedAt: at})
		},
		func() error {
			_, err := s.CreateReservation(ctx, &hub.Reservation{ID: "res1", RoundID: "round1", ResidentID: "r1", IDHash: "h1", Cell: cell,
				CommitteeID: "c1", DistrictID: "d1", Fulfilment: hub.Pickup, IdempotencyKey: "key1", Status: hub.ReservationPending,
				CreatedAt: at, UpdatedAt: at})
			return err
		},
		func() error {
			return s.Allocate(ctx, &hub.Allocation{ID: "a1", RoundID: "round1", ReservationID: "res1", ResidentID: "r1", PharmacyID: "p1",
				SKU: hub.MaskAdult, Quantity: 5, Cell: cell, Slot: at.Add(time.Hour), CodeHash: "code1", Status: hub.AllocationReserved,
				ExpiresAt: at.Add(48 * time.Hour), CreatedAt: at, UpdatedAt: at})
		},
		func() error {
			_, err := s.ReserveAllocated(ctx,
				&hub.Reservation{ID: "res2", RoundID: "round1", ResidentID: "r2", IDHash: "h2", Cell: cell, DistrictID: "d1",
					Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at},
				&hub.Allocation{ID: "a2", RoundID: "round1", ReservationID: "res2", ResidentID: "r2", PharmacyID: "p1",
					SKU: hub.MaskAdult, Quantity: 5, Cell: cell, CodeHash: "code2", Status: hub.AllocationReserved,
					ExpiresAt: at.Add(48 * time.Hour), CreatedAt: at, UpdatedAt: at})
			return err
		},
		func() error {
			_, err := s.TransitionAllocation(ctx, "a2", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at.Add(2*time.Hour))
			return err
		},
		func() error {
			return s.UpsertPartners(ctx, &hub.Partner{ID: "pt1", Name: "Express", Cells: []hub.Cell{cell}, UpdatedAt: at})
		},
		func() error {
			return s.CreateShortage(ctx, &hub.Shortage{ID: "sh1", ResidentID: "r3", Cell: cell, SKU: hub.MaskChild, Quantity: 2,
				Status: hub.ShortageWaiting, CreatedAt: at, UpdatedAt: at})
		},
		func() error {
			return s.PutDeclaration(ctx, &hub.Declaration{ID: "dc1", ResidentID: "r1", Symptoms: []string{"cough"}, Temperature: 37.9,
				FiledBy: "r1", FiledByKind: hub.FiledBySelf, Cell: cell, DistrictID: "d1", Colour: hub.Yellow, Reasons: []string{"cough"}, At: at})
		},
		func() error {
			return s.UpsertRiskArea(ctx, &hub.RiskArea{ID: "ra1", Cell: cell, Rings: 0, Reason: "cluster",
				Cells: []hub.RiskCell{{Cell: cell, Level: hub.RiskHigh}}, MarkedAt: at})
		},
		func() error {
			_, err := s.PutHealthCode(ctx, &hub.HealthCode{ResidentID: "r1", SubjectID: "s1", Cell: cell, DistrictID: "d1", CommitteeID: "c1",
				Colour: hub.Yellow, Reasons: []string{"cough"}, UpdatedAt: at})
			return err
		},
		func() error { return s.MarkCase(ctx, "r4", at) },
		func() error {
			return s.MarkContacts(ctx, "r4", hub.Contact{ResidentID: "r3", LastAt: at.Add(time.Minute)})
		},
		func() error {
			return s.RecordScans(ctx,
				&hub.Scan{ID: "sc1", CheckpointID: "k1", Cell: cell, ResidentID: "r1", SubjectID: "s1", At: at, Temperature: 36.6, Colour: hub.Yellow, Result: hub.ScanPass},
				&hub.Scan{ID: "sc2", CheckpointID: "k1", Cell: cell, SubjectID: "visitor", At: at.Add(time.Minute), Colour: hub.Green, Result: hub.ScanPass})
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}

// readAll reads everything back through the store's methods.
func readAll(t *testing.T, s hub.Store) map[string]any {
	t.Helper()
	ctx := t.Context()
	cell := hub.Cell(0x8928308280fffff)
	out := map[string]any{}
	add := func(name string, v any, err error) {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		out[name] = v
	}
	v1, err := s.Districts(ctx)
	add("Districts", v1, err)
	v2, err := s.CommitteeByCode(ctx, "C2")
	add("CommitteeByCode", v2, err)
	v3, err := s.Committees(ctx, "d1")
	add("Committees", v3, err)
	v4, err := s.Residents(ctx, hub.ResidentFilter{CommitteeID: "c1", After: "r0", Limit: 5})
	add("Residents", v4, err)
	v5, err := s.ResidentByIDHash(ctx, "h3")
	add("ResidentByIDHash", v5, err)
	n, err := s.CountResidents(ctx, "c2")
	add("CountResidents", n, err)
	v6, err := s.Pharmacies(ctx)
	add("Pharmacies", v6, err)
	v7, err := s.StockLedger(ctx, "p1", 0, 0)
	add("StockLedger", v7, err)
	v8, err := s.Checkpoints(ctx)
	add("Checkpoints", v8, err)
	v9, err := s.AuditLog(ctx, hub.AuditFilter{ActorID: "c1"})
	add("AuditLog", v9, err)
	v10, err := s.Meta(ctx, "keys.token")
	add("Meta", v10, err)
	v11, err := s.Rounds(ctx, hub.RoundOpen)
	add("Rounds", v11, err)
	v12, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1"})
	add("Reservations", v12, err)
	v13, err := s.AllocationByCode(ctx, "code1")
	add("AllocationByCode", v13, err)
	v14, err := s.Allocations(ctx, hub.AllocationFilter{Status: hub.AllocationRedeemed})
	add("Allocations", v14, err)
	v15, err := s.ExpiringAllocations(ctx, v1Time.Add(72*time.Hour), 0)
	add("ExpiringAllocations", v15, err)
	v16, err := s.Partners(ctx)
	add("Partners", v16, err)
	v17, err := s.Shortages(ctx, hub.ShortageFilter{Status: hub.ShortageWaiting})
	add("Shortages", v17, err)
	v18, err := s.LatestDeclaration(ctx, "r1")
	add("LatestDeclaration", v18, err)
	v19, err := s.DeclarationCounts(ctx, "d1")
	add("DeclarationCounts", v19, err)
	v20, err := s.RiskLevels(ctx, []hub.Cell{cell})
	add("RiskLevels", v20, err)
	v21, err := s.HealthCodesIn(ctx, []hub.Cell{cell})
	add("HealthCodesIn", v21, err)
	v22, err := s.ColourCounts(ctx, "d1")
	add("ColourCounts", v22, err)
	v23, err := s.CaseStatus(ctx, "r3")
	add("CaseStatus", v23, err)
	v24, err := s.Trajectory(ctx, "r1", v1Time.Add(-time.Hour), 0)
	add("Trajectory", v24, err)
	v25, err := s.ContactsIn(ctx, []hub.Cell{cell}, v1Time.Add(-time.Hour), v1Time.Add(time.Hour))
	add("ContactsIn", v25, err)
	v26, err := s.HealthCode(ctx, "r1")
	add("HealthCode", v26, err)
	return out
}

// dump returns every key and value of a bbolt file, nested buckets
// included, as bucket path -> key -> value.
func dump(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]string{}
	var walk func(name string, b *bolt.Bucket) error
	walk = func(name string, b *bolt.Bucket) error {
		kv := map[string]string{}
		out[name] = kv
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(name+"/"+string(k), b.Bucket(k))
			}
			kv[string(k)] = string(v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadsFormatV1 opens a data directory written before the portable
// store: every read gives what the same writes give on a new store, the
// two files hold the same keys and values, and both take more writes
// alike.
func TestReadsFormatV1(t *testing.T) {
	ctx := t.Context()
	oldDir, newDir := t.TempDir(), t.TempDir()
	copyFile(t, filepath.Join("testdata", "v1", boltstore.FileName), filepath.Join(oldDir, boltstore.FileName))

	old, err := boltstore.Open(oldDir)
	if err != nil {
		t.Fatalf("open the v1 data: %v", err)
	}
	fresh, err := boltstore.Open(newDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeV1(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	got, want := readAll(t, old), readAll(t, fresh)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !reflect.DeepEqual(got[name], want[name]) {
			t.Errorf("%s on v1 data:\n got %s\nwant %s", name, show(got[name]), show(want[name]))
		}
	}
	// More writes on both: a stock change, a new resident, pickups into a
	// slot until it is full, a return that frees a place, which is taken.
	for _, s := range []hub.Store{old, fresh} {
		if _, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskChild, Delta: -3, Reason: "SALE", At: v1Time}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateResidents(ctx, &hub.Resident{ID: "r9", IDHash: "h9", CommitteeID: "c1", RegisteredAt: v1Time}); err != nil {
			t.Fatal(err)
		}
		// The slot of a1 (3 places) fills: the v1 data, written before
		// the store counted slot places, has them counted from its
		// allocations (a1) at the first write that takes one.
		cell := hub.Cell(0x8928308280fffff)
		slotted := func(n int) error {
			id := fmt.Sprintf("%d", n)
			_, err := s.ReserveAllocated(ctx,
				&hub.Reservation{ID: "res" + id, RoundID: "round1", ResidentID: "r" + id, IDHash: "h" + id, Cell: cell, CommitteeID: "c1", DistrictID: "d1",
					Fulfilment: hub.Pickup, Status: hub.ReservationPending, CreatedAt: v1Time, UpdatedAt: v1Time},
				&hub.Allocation{ID: "a" + id, RoundID: "round1", ReservationID: "res" + id, ResidentID: "r" + id, PharmacyID: "p1",
					SKU: hub.MaskAdult, Quantity: 1, Cell: cell, Slot: v1Time.Add(time.Hour), CodeHash: "code" + id, Status: hub.AllocationReserved,
					ExpiresAt: v1Time.Add(48 * time.Hour), CreatedAt: v1Time, UpdatedAt: v1Time})
			return err
		}
		for n := 3; n <= 4; n++ {
			if err := slotted(n); err != nil {
				t.Fatalf("slot place %d: %v", n, err)
			}
		}
		if err := slotted(5); !errors.Is(err, hub.ErrSlotFull) || hub.ErrorCode(err) != hub.EOUTOFSTOCK {
			t.Fatalf("a fourth place in a slot of 3: got %v, want an EOUTOFSTOCK matching ErrSlotFull", err)
		}
		if _, err := s.TransitionAllocation(ctx, "a1", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, v1Time); err != nil {
			t.Fatal(err)
		}
		if err := slotted(5); err != nil {
			t.Fatalf("the place a1 freed: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dOld, dNew := dump(t, filepath.Join(oldDir, boltstore.FileName)), dump(t, filepath.Join(newDir, boltstore.FileName))
	for _, b := range slices.Sorted(maps.Keys(dNew)) {
		for _, k := range slices.Sorted(maps.Keys(dNew[b])) {
			if v, ok := dOld[b][k]; !ok || v != dNew[b][k] {
				t.Errorf("bucket %s key %q: v1 file holds %q, a new one %q", b, k, v, dNew[b][k])
			}
		}
	}
	for _, b := range slices.Sorted(maps.Keys(dOld)) {
		for _, k := range slices.Sorted(maps.Keys(dOld[b])) {
			if _, ok := dNew[b][k]; !ok {
				t.Errorf("bucket %s key %q: only in the v1 file", b, k)
			}
		}
	}
	if len(dNew) < 40 {
		t.Errorf("the new file has %d buckets; the dump missed some", len(dNew))
	}
}

func show(v any) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%+v", v)
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		b.Reset()
		for i := range rv.Len() {
			fmt.Fprintf(&b, "%+v ", reflect.Indirect(rv.Index(i)).Interface())
		}
	}
	return b.String()
}
