package city_test

import (
	"fmt"
	"github.com/gridhub/gridhub/internal/testclock"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

// The tests run the service over the embedded store, store/boltstore, in
// a temporary directory: what the service writes is what a restart reads.

var epoch = time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)

// env is one service over one store, with its clock and hasher.
type env struct {
	t      *testing.T
	dir    string
	store  hub.Store
	svc    *city.Service
	clock  *testclock.Clock
	hasher *privacy.Hasher
	ids    atomic.Int64
}

const hashKey = "gridhub-test-key-0123456789"

func newEnv(t *testing.T) *env {
	t.Helper()
	h, err := privacy.NewHasher([]byte(hashKey))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir(), clock: testclock.New(epoch), hasher: h}
	e.store = openStore(t, e.dir)
	e.svc = e.newService(e.store)
	return e
}

func openStore(t *testing.T, dir string) hub.Store {
	t.Helper()
	st, err := boltstore.Open(dir)
	if err != nil {
		t.Fatalf("boltstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func (e *env) newService(st hub.Store) *city.Service {
	e.t.Helper()
	svc, err := city.New(e.t.Context(), st, e.hasher, city.Options{
		Now:   e.clock.Now,
		NewID: func(prefix string) string { return fmt.Sprintf("%s%04d", prefix, e.ids.Add(1)) },
	})
	if err != nil {
		e.t.Fatalf("city.New: %v", err)
	}
	return svc
}

// reopen closes the store, opens it again from disk and builds a new
// service over it, as a restart does.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.store = openStore(e.t, e.dir)
	e.svc = e.newService(e.store)
}

// wantCode fails unless err carries the application error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := hub.ErrorCode(err); got != want {
		t.Fatalf("got %s (%v), want %s", got, err, want)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// The city the tests stand in: Xinyi around Taipei 101, from cells, and
// Da'an to the west, from a polygon; Kaohsiung is far outside both.
var (
	taipei101 = hub.Point{Lat: 25.0330, Lng: 121.5654}
	daanSq    = square(hub.Point{Lat: 25.026, Lng: 121.535}, 0.006)
	kaohsiung = hub.Point{Lat: 22.627, Lng: 120.301}
)

func square(p hub.Point, half float64) []hub.Point {
	return []hub.Point{
		{Lat: p.Lat - half, Lng: p.Lng - half},
		{Lat: p.Lat - half, Lng: p.Lng + half},
		{Lat: p.Lat + half, Lng: p.Lng + half},
		{Lat: p.Lat + half, Lng: p.Lng - half},
	}
}

func cellAt(t *testing.T, p hub.Point) hub.Cell {
	t.Helper()
	return must[hub.Cell](t)(grid.CellAt(p, grid.BaseResolution))
}

func disk(t *testing.T, c hub.Cell, k int) []hub.Cell {
	t.Helper()
	return must[[]hub.Cell](t)(grid.Disk(c, k))
}

func ring(t *testing.T, c hub.Cell, k int) []hub.Cell {
	t.Helper()
	return must[[]hub.Cell](t)(grid.Ring(c, k))
}

// cityMap is the layout built by seedCity.
type cityMap struct {
	xinyiCenter hub.Cell
	xinyi       []hub.Cell // district "xinyi": 4 rings around Taipei 101
	daan        []hub.Cell // district "daan": the filled square
	xinyi1      []hub.Cell // committee "xinyi-1", code XY-001: the centre and ring 1
	xinyi2      []hub.Cell // committee "xinyi-2", code XY-002: ring 2
	ring3       []hub.Cell // in Xinyi, in no committee
}

// seedCity creates two districts and two committees.
func (e *env) seedCity() cityMap {
	t := e.t
	t.Helper()
	c := cellAt(t, taipei101)
	m := cityMap{
		xinyiCenter: c,
		xinyi:       disk(t, c, 4),
		xinyi1:      disk(t, c, 1),
		xinyi2:      ring(t, c, 2),
		ring3:       ring(t, c, 3),
	}
	ctx := t.Context()
	must[*hub.District](t)(e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "xinyi", Code: "TPE-XY", Name: "信義區", Area: city.Area{Cells: m.xinyi}}))
	d := must[*hub.District](t)(e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "daan", Code: "TPE-DA", Name: "大安區", Area: city.Area{Polygon: daanSq}}))
	m.daan = d.Cells
	for _, cell := range m.daan {
		if slices.Contains(m.xinyi, cell) {
			t.Fatalf("the test districts overlap at %s", cell)
		}
	}
	must[[]*hub.Committee](t)(e.svc.UpsertCommittees(ctx,
		city.CommitteeInput{ID: "xinyi-1", Code: "XY-001", Name: "信義一里", Area: city.Area{Cells: m.xinyi1}},
		city.CommitteeInput{ID: "xinyi-2", Code: "XY-002", Name: "信義二里", Area: city.Area{Cells: m.xinyi2}},
	))
	return m
}

// notFound fails unless err is an ENOTFOUND error.
func notFound(t *testing.T, err error) {
	t.Helper()
	if hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Fatalf("got %v, want ENOTFOUND", err)
	}
}
