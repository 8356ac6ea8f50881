package city_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

func ptr[T any](v T) *T { return &v }

func TestRegisterResidents(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	center, _ := grid.Center(m.xinyi2[0])
	kaohsiungCell := cellAt(t, kaohsiung)

	tests := []struct {
		name          string
		give          city.ResidentInput
		wantCell      hub.Cell
		wantLoc       hub.Point
		wantCommittee string
		wantDistrict  string
	}{
		{"location in a committee", city.ResidentInput{Name: "王小明", IDNumber: twID('A', 1), Location: &taipei101},
			m.xinyiCenter, taipei101, "xinyi-1", "xinyi"},
		{"cell alone stands at its centre", city.ResidentInput{Name: "李", IDNumber: twID('A', 2), Cell: &m.xinyi2[0]},
			m.xinyi2[0], center, "xinyi-2", "xinyi"},
		{"location and its cell", city.ResidentInput{Name: "陳", IDNumber: twID('A', 3), Location: &taipei101, Cell: &m.xinyiCenter},
			m.xinyiCenter, taipei101, "xinyi-1", "xinyi"},
		{"committee code decides", city.ResidentInput{Name: "林", IDNumber: twID('A', 4), Cell: &m.xinyi2[1], CommitteeCode: "XY-002"},
			m.xinyi2[1], mustCenter(t, m.xinyi2[1]), "xinyi-2", "xinyi"},
		{"in a district, in no committee", city.ResidentInput{Name: "張", IDNumber: twID('A', 5), Cell: &m.ring3[0]},
			m.ring3[0], mustCenter(t, m.ring3[0]), "", "xinyi"},
		{"in no district", city.ResidentInput{Name: "黃", IDNumber: twID('A', 6), Location: &kaohsiung},
			kaohsiungCell, kaohsiung, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := e.svc.RegisterResidents(ctx, tt.give)
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if r.Cell != tt.wantCell || r.Location != tt.wantLoc || r.CommitteeID != tt.wantCommittee || r.DistrictID != tt.wantDistrict {
				t.Errorf("got cell %s at %v in %q/%q, want %s at %v in %q/%q",
					r.Cell, r.Location, r.CommitteeID, r.DistrictID, tt.wantCell, tt.wantLoc, tt.wantCommittee, tt.wantDistrict)
			}
			if !strings.HasPrefix(r.ID, "res_") || !r.RegisteredAt.Equal(epoch) {
				t.Errorf("ID %q, RegisteredAt %v", r.ID, r.RegisteredAt)
			}
			stored, err := e.store.Resident(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Cell != r.Cell || stored.CommitteeID != r.CommitteeID || stored.Location != r.Location || !stored.RegisteredAt.Equal(epoch) {
				t.Errorf("stored %+v, returned %+v", stored, r)
			}
		})
	}
	if n, _ := e.store.CountResidents(ctx, "xinyi-1"); n != 2 {
		t.Errorf("xinyi-1 has %d residents, want 2", n)
	}
}

func mustCenter(t *testing.T, c hub.Cell) hub.Point {
	t.Helper()
	return must[hub.Point](t)(grid.Center(c))
}

func TestRegisterResidentsInvalid(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	parent, _ := grid.Parent(m.xinyiCenter, 8)
	notACell := hub.Cell(0x8928308280ffff0)
	in := func(mod func(*city.ResidentInput)) city.ResidentInput {
		r := city.ResidentInput{Name: "王小明", IDNumber: "A123456789", Phone: "0912345678", Address: "台北市信義區", Location: &taipei101}
		mod(&r)
		return r
	}
	tests := []struct {
		name string
		give city.ResidentInput
		want string
		is   error
	}{
		{"no location and no cell", in(func(r *city.ResidentInput) { r.Location = nil }), hub.EINVALID, nil},
		{"address text alone", in(func(r *city.ResidentInput) { r.Location, r.Address = nil, "台北市信義區信義路五段7號" }), hub.EINVALID, nil},
		{"location NaN", in(func(r *city.ResidentInput) { r.Location = &hub.Point{Lat: math.NaN(), Lng: 121.5} }), hub.EINVALID, grid.ErrInvalidLatLng},
		{"location off the Earth", in(func(r *city.ResidentInput) { r.Location = &hub.Point{Lat: 121.5, Lng: 25} }), hub.EINVALID, grid.ErrInvalidLatLng},
		{"location and another cell", in(func(r *city.ResidentInput) { r.Cell = &m.xinyi2[0] }), hub.EINVALID, nil},
		{"location and its parent cell", in(func(r *city.ResidentInput) { r.Cell = &parent }), hub.EINVALID, nil},
		{"cell of resolution 8", in(func(r *city.ResidentInput) { r.Location, r.Cell = nil, &parent }), hub.EINVALID, nil},
		{"not a cell", in(func(r *city.ResidentInput) { r.Location, r.Cell = nil, &notACell }), hub.EINVALID, grid.ErrInvalidCell},
		{"unknown committee code", in(func(r *city.ResidentInput) { r.CommitteeCode = "XY-999" }), hub.ENOTFOUND, nil},
		{"outside the committee of the code", in(func(r *city.ResidentInput) { r.CommitteeCode = "XY-002" }), hub.EINVALID, nil},
		{"no name", in(func(r *city.ResidentInput) { r.Name = "" }), hub.EINVALID, nil},
		{"name of 201 characters", in(func(r *city.ResidentInput) { r.Name = strings.Repeat("王", 201) }), hub.EINVALID, nil},
		{"name not UTF-8", in(func(r *city.ResidentInput) { r.Name = "王\xe7\x8e" }), hub.EINVALID, nil},
		{"no ID number", in(func(r *city.ResidentInput) { r.IDNumber = "" }), hub.EINVALID, nil},
		{"ID number of spaces", in(func(r *city.ResidentInput) { r.IDNumber = "   " }), hub.EINVALID, nil},
		{"ID number of dashes", in(func(r *city.ResidentInput) { r.IDNumber = "------" }), hub.EINVALID, nil},
		{"ID number too short", in(func(r *city.ResidentInput) { r.IDNumber = "A12" }), hub.EINVALID, privacy.ErrInvalidIDNumber},
		{"ID number with a wrong check digit", in(func(r *city.ResidentInput) { r.IDNumber = "A123456780" }), hub.EINVALID, privacy.ErrInvalidIDNumber},
		{"ID number with a zero-width space", in(func(r *city.ResidentInput) { r.IDNumber = "A123​456789" }), hub.EINVALID, privacy.ErrInvalidIDNumber},
		{"ID number with a Cyrillic letter", in(func(r *city.ResidentInput) { r.IDNumber = "А123456789" }), hub.EINVALID, privacy.ErrInvalidIDNumber},
		{"ID number of 65 characters", in(func(r *city.ResidentInput) { r.IDNumber = strings.Repeat("9", 65) }), hub.EINVALID, nil},
		{"ID number not UTF-8", in(func(r *city.ResidentInput) { r.IDNumber = "A12345\xff" }), hub.EINVALID, nil},
		{"phone of 41 characters", in(func(r *city.ResidentInput) { r.Phone = strings.Repeat("0", 41) }), hub.EINVALID, nil},
		{"address of 501 characters", in(func(r *city.ResidentInput) { r.Address = strings.Repeat("路", 501) }), hub.EINVALID, nil},
		{"address not UTF-8", in(func(r *city.ResidentInput) { r.Address = "\xff" }), hub.EINVALID, nil},
		{"committee code of 65 characters", in(func(r *city.ResidentInput) { r.CommitteeCode = strings.Repeat("X", 65) }), hub.EINVALID, nil},
		{"ID with a space", in(func(r *city.ResidentInput) { r.ID = "res 1" }), hub.EINVALID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := e.svc.RegisterResidents(t.Context(), tt.give)
			wantCode(t, err, tt.want)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			if rs != nil {
				t.Errorf("got residents with an error: %v", rs)
			}
			// The caller may see the message; the ID number is not in it.
			if n, _ := privacy.CanonicalID(tt.give.IDNumber, 0); n != "" && strings.Contains(hub.ErrorMessage(err), n) {
				t.Errorf("message %q shows the ID number", hub.ErrorMessage(err))
			}
		})
	}
	if n, _ := e.store.CountResidents(t.Context(), ""); n != 0 {
		t.Errorf("%d invalid residents were written", n)
	}
	if _, err := e.svc.RegisterResidents(t.Context(), make([]city.ResidentInput, 10_001)...); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("10,001 residents at once: %v", err)
	}
}

// TestResidentIDNumberPrivacy checks that an ID number is kept only as a
// keyed hash and a mask: not in the record, and not anywhere in the
// database file.
func TestResidentIDNumberPrivacy(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	const raw = "a123-456 789"
	secrets := []string{"A123456789", "123456789", "a123-456 789", "A123-456"}

	rs, err := e.svc.RegisterResidents(ctx, city.ResidentInput{ID: "r1", Name: "王小明", IDNumber: raw, Location: &taipei101})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.Resident(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if want := e.hasher.HashID("A123456789"); stored.IDHash != want {
		t.Errorf("IDHash %s, want the keyed hash of the normalised number %s", stored.IDHash, want)
	}
	if stored.IDMasked != "A1******89" {
		t.Errorf("IDMasked %q, want A1******89", stored.IDMasked)
	}
	canonical, err := privacy.CanonicalID(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	byHash, err := e.store.ResidentByIDHash(ctx, e.hasher.HashID(canonical))
	if err != nil || byHash.ID != "r1" {
		t.Errorf("ResidentByIDHash: %v, %v", byHash, err)
	}
	for name, r := range map[string]*hub.Resident{"returned": rs[0], "stored": stored} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToUpper(string(b)), strings.ToUpper(s)) {
				t.Errorf("the %s record holds %q: %s", name, s, b)
			}
		}
	}

	// Nothing in the file on disk either.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(e.dir, boltstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(db, []byte("王小明")) {
		t.Fatal("the resident's name is not in the database file: the scan proves nothing")
	}
	for _, s := range secrets {
		if bytes.Contains(bytes.ToUpper(db), bytes.ToUpper([]byte(s))) {
			t.Errorf("the database file holds %q", s)
		}
	}
}

func TestResidentDuplicateIDNumber(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	reg := func(id, number string) error {
		_, err := e.svc.RegisterResidents(ctx, city.ResidentInput{ID: id, Name: "x", IDNumber: number, Location: &taipei101})
		return err
	}
	if err := reg("first", "A123456789"); err != nil {
		t.Fatal(err)
	}
	for _, again := range []string{"A123456789", "a123-456789", " a123 456 789 ", "A123\t456789"} {
		t.Run(again, func(t *testing.T) {
			wantCode(t, reg("second", again), hub.ECONFLICT)
		})
	}
	t.Run("twice in one batch", func(t *testing.T) {
		_, err := e.svc.RegisterResidents(ctx,
			city.ResidentInput{ID: "b1", Name: "x", IDNumber: twID('B', 987654), Location: &taipei101},
			city.ResidentInput{ID: "b2", Name: "y", IDNumber: strings.ToLower(twID('B', 987654)[:4]) + "-" + twID('B', 987654)[4:], Location: &taipei101},
		)
		wantCode(t, err, hub.ECONFLICT)
		_, err = e.store.Resident(ctx, "b1")
		notFound(t, err)
	})
	t.Run("a batch with one known number writes nothing", func(t *testing.T) {
		_, err := e.svc.RegisterResidents(ctx,
			city.ResidentInput{ID: "c1", Name: "x", IDNumber: twID('C', 111111), Location: &taipei101},
			city.ResidentInput{ID: "c2", Name: "y", IDNumber: "a123456789", Location: &taipei101},
		)
		wantCode(t, err, hub.ECONFLICT)
		_, err = e.store.Resident(ctx, "c1")
		notFound(t, err)
	})
	t.Run("same resident ID", func(t *testing.T) {
		wantCode(t, reg("first", twID('D', 222222)), hub.ECONFLICT)
	})
	if n, _ := e.store.CountResidents(ctx, ""); n != 1 {
		t.Errorf("%d residents, want 1", n)
	}
	// A different number is a different person.
	if err := reg("other", twID('A', 5)); err != nil {
		t.Errorf("a different number: %v", err)
	}
}

// TestNewReloadsIndexes restarts the service over the reopened store: the
// areas it learns from the store place new residents as before.
func TestNewReloadsIndexes(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p1", Name: "信義藥局", Location: taipei101, Stock: map[hub.SKU]int{hub.MaskAdult: 10}}))
	must[*hub.Pharmacy](t)(e.svc.Restock(ctx, "p1", hub.MaskN95, 5))

	e.reopen()
	for _, cell := range m.xinyi {
		if got := e.svc.DistrictAt(cell); got != "xinyi" {
			t.Fatalf("after reopening, DistrictAt(%s) = %q", cell, got)
		}
	}
	for _, cell := range m.daan {
		if got := e.svc.DistrictAt(cell); got != "daan" {
			t.Fatalf("after reopening, DistrictAt(%s) = %q", cell, got)
		}
	}
	for _, cell := range m.xinyi2 {
		if got := e.svc.CommitteeAt(cell); got != "xinyi-2" {
			t.Fatalf("after reopening, CommitteeAt(%s) = %q", cell, got)
		}
	}
	rs, err := e.svc.RegisterResidents(ctx, city.ResidentInput{Name: "王小明", IDNumber: "A123456789", Location: &taipei101})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].CommitteeID != "xinyi-1" || rs[0].DistrictID != "xinyi" {
		t.Errorf("after reopening, the committee is not inferred: %q/%q", rs[0].CommitteeID, rs[0].DistrictID)
	}
	ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 1, hub.MaskN95)
	if err != nil || len(ms) != 1 || ms[0].Pharmacy.Stock[hub.MaskN95] != 5 || ms[0].Pharmacy.Stock[hub.MaskAdult] != 10 {
		t.Errorf("after reopening, the pharmacy is not found with its stock: %+v, %v", ms, err)
	}
	// New areas still may not overlap the reloaded ones.
	_, err = e.svc.UpsertDistrict(ctx, city.DistrictInput{Name: "x", Area: city.Area{Cells: m.xinyi[:1]}})
	wantCode(t, err, hub.ECONFLICT)
	_, err = e.svc.UpsertCommittees(ctx, city.CommitteeInput{Code: "X", Name: "x", Area: city.Area{Cells: m.xinyi1[:1]}})
	wantCode(t, err, hub.ECONFLICT)
}

// TestClock checks that every timestamp comes from Options.Now.
func TestClock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := cellAt(t, taipei101)

	t1 := e.clock.Advance(time.Hour)
	d := must[*hub.District](t)(e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d", Name: "d", Area: city.Area{Cells: disk(t, c, 2)}}))
	t2 := e.clock.Advance(time.Minute)
	cs := must[[]*hub.Committee](t)(e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "c", Code: "C", Name: "c", Area: city.Area{Cells: []hub.Cell{c}}}))
	t3 := e.clock.Advance(time.Second)
	rs := must[[]*hub.Resident](t)(e.svc.RegisterResidents(ctx, city.ResidentInput{ID: "r", Name: "r", IDNumber: "A123456789", Location: &taipei101}))
	t4 := e.clock.Advance(time.Millisecond)
	ps := must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p", Name: "p", Location: taipei101}))
	t5 := e.clock.Advance(time.Microsecond)
	must[*hub.Pharmacy](t)(e.svc.Restock(ctx, "p", hub.MaskAdult, 1))
	t6 := e.clock.Advance(time.Hour)
	ks := must[[]*hub.Checkpoint](t)(e.svc.UpsertCheckpoints(ctx, city.CheckpointInput{ID: "k", Name: "k", Kind: "STATION", Location: taipei101}))

	if !e.svc.Now().Equal(t6) {
		t.Errorf("Now() = %v, want %v", e.svc.Now(), t6)
	}
	ledger, err := e.store.StockLedger(ctx, "p", 0, 0)
	if err != nil || len(ledger) == 0 {
		t.Fatalf("ledger: %v, %v", ledger, err)
	}
	restock := ledger[len(ledger)-1]
	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"district", d.UpdatedAt, t1},
		{"committee", cs[0].UpdatedAt, t2},
		{"resident", rs[0].RegisteredAt, t3},
		{"pharmacy", ps[0].UpdatedAt, t4},
		{"restock", restock.At, t5},
		{"checkpoint", ks[0].UpdatedAt, t6},
		{"stored district", must[*hub.District](t)(e.store.District(ctx, "d")).UpdatedAt, t1},
		{"stored committee", must[*hub.Committee](t)(e.store.Committee(ctx, "c")).UpdatedAt, t2},
		{"stored resident", must[*hub.Resident](t)(e.store.Resident(ctx, "r")).RegisteredAt, t3},
		{"stored checkpoint", must[*hub.Checkpoint](t)(e.store.Checkpoint(ctx, "k")).UpdatedAt, t6},
	}
	for _, tt := range tests {
		if !tt.got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if restock.Reason != "RESTOCK" || restock.Delta != 1 || restock.After != 1 {
		t.Errorf("ledger entry %+v", restock)
	}
}

// TestDefaultOptions checks the defaults: the wall clock and random IDs.
func TestDefaultOptions(t *testing.T) {
	h, _ := privacy.NewHasher([]byte(hashKey))
	st := openStore(t, t.TempDir())
	svc, err := city.New(t.Context(), st, h, city.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	rs, err := svc.RegisterResidents(t.Context(),
		city.ResidentInput{Name: "a", IDNumber: "A123456789", Location: &taipei101},
		city.ResidentInput{Name: "b", IDNumber: twID('B', 1), Location: &taipei101},
	)
	if err != nil {
		t.Fatal(err)
	}
	if at := rs[0].RegisteredAt; at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("RegisteredAt %v is not the wall clock", at)
	}
	if rs[0].ID == rs[1].ID || !strings.HasPrefix(rs[0].ID, "res_") || len(rs[0].ID) != len("res_")+16 {
		t.Errorf("IDs %q and %q", rs[0].ID, rs[1].ID)
	}
}

// twID is the n-th synthetic Taiwan ID number with the letter, valid
// under privacy.CanonicalID.
func twID(letter byte, n int) string { return privacy.ExampleTaiwanID(letter, n) }
