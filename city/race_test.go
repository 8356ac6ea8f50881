package city_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// hookStore wraps a store so that a test can hold one call of a method
// after it has done its work and before it returns, to interleave two
// operations of the service exactly.
type hookStore struct {
	hub.Store

	mu     sync.Mutex
	pauses map[string]*pause
}

// pause holds the next call of one method: reached is closed when the call
// has done its work; the call returns when release is closed or after
// hookWait, whichever is first (a correct service may never let the other
// operation run, and must not deadlock the test).
type pause struct {
	reached, release chan struct{}
}

const hookWait = 300 * time.Millisecond

func (h *hookStore) pauseNext(method string) *pause {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := &pause{reached: make(chan struct{}), release: make(chan struct{})}
	if h.pauses == nil {
		h.pauses = map[string]*pause{}
	}
	h.pauses[method] = p
	return p
}

func (h *hookStore) hold(method string) {
	h.mu.Lock()
	p := h.pauses[method]
	delete(h.pauses, method)
	h.mu.Unlock()
	if p == nil {
		return
	}
	close(p.reached)
	select {
	case <-p.release:
	case <-time.After(hookWait):
	}
}

func (h *hookStore) District(ctx context.Context, id string) (*hub.District, error) {
	d, err := h.Store.District(ctx, id)
	h.hold("District")
	return d, err
}

func (h *hookStore) UpsertDistrict(ctx context.Context, d *hub.District) error {
	err := h.Store.UpsertDistrict(ctx, d)
	h.hold("UpsertDistrict")
	return err
}

func (h *hookStore) UpsertCommittees(ctx context.Context, cs ...*hub.Committee) error {
	err := h.Store.UpsertCommittees(ctx, cs...)
	h.hold("UpsertCommittees")
	return err
}

func (h *hookStore) Committee(ctx context.Context, id string) (*hub.Committee, error) {
	c, err := h.Store.Committee(ctx, id)
	h.hold("Committee")
	return c, err
}

func (h *hookStore) AdjustStock(ctx context.Context, c hub.StockChange) (*hub.Pharmacy, error) {
	p, err := h.Store.AdjustStock(ctx, c)
	h.hold("AdjustStock")
	return p, err
}

// interleave runs a in a goroutine until it reaches the pause, then runs b
// to its end, then lets a finish.
func interleave(t *testing.T, p *pause, a, b func() error) {
	t.Helper()
	errA := make(chan error, 1)
	go func() { errA <- a() }()
	select {
	case <-p.reached:
	case <-time.After(5 * time.Second):
		t.Fatal("the first operation never reached the store")
	}
	errB := b()
	close(p.release)
	if err := <-errA; err != nil {
		t.Fatalf("first operation: %v", err)
	}
	if errB != nil {
		t.Fatalf("second operation: %v", errB)
	}
}

func newHookedEnv(t *testing.T) (*env, *hookStore) {
	e := newEnv(t)
	hs := &hookStore{Store: e.store}
	e.svc = e.newService(hs)
	return e, hs
}

// TestUpsertDistrictRace replaces one district twice at once, the first
// held between its write and its event. The index follows the events, so
// they must come in the order of the writes: else it would keep the
// first replacement's cells, which the store no longer has.
func TestUpsertDistrictRace(t *testing.T) {
	e, hs := newHookedEnv(t)
	ctx := t.Context()
	c := cellAt(t, taipei101)
	x, y, z := disk(t, c, 1), disk(t, ring(t, c, 5)[0], 1), disk(t, ring(t, c, 5)[15], 1)
	must[*hub.District](t)(e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d", Name: "d", Area: city.Area{Cells: x}}))

	p := hs.pauseNext("UpsertDistrict")
	interleave(t, p, func() error {
		_, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d", Name: "d", Area: city.Area{Cells: y}})
		return err
	}, func() error {
		_, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d", Name: "d", Area: city.Area{Cells: z}})
		return err
	})

	stored := must[*hub.District](t)(e.store.District(ctx, "d"))
	for _, cell := range slices.Concat(x, y, z) {
		want := ""
		if slices.Contains(stored.Cells, cell) {
			want = "d"
		}
		if got := e.svc.DistrictAt(cell); got != want {
			t.Errorf("DistrictAt(%s) = %q, want %q: the index disagrees with the store", cell, got, want)
		}
	}
}

// TestUpsertCommitteesRace is TestUpsertDistrictRace for committees.
func TestUpsertCommitteesRace(t *testing.T) {
	e, hs := newHookedEnv(t)
	ctx := t.Context()
	c := cellAt(t, taipei101)
	must[*hub.District](t)(e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "d", Name: "d", Area: city.Area{Cells: disk(t, c, 4)}}))
	x, y, z := ring(t, c, 1), ring(t, c, 2), ring(t, c, 3)
	upsert := func(cells []hub.Cell) func() error {
		return func() error {
			_, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "k", Code: "K", Name: "k", Area: city.Area{Cells: cells}})
			return err
		}
	}
	if err := upsert(x)(); err != nil {
		t.Fatal(err)
	}

	p := hs.pauseNext("UpsertCommittees")
	interleave(t, p, upsert(y), upsert(z))

	stored := must[*hub.Committee](t)(e.store.Committee(ctx, "k"))
	for _, cell := range slices.Concat(x, y, z) {
		want := ""
		if slices.Contains(stored.Cells, cell) {
			want = "k"
		}
		if got := e.svc.CommitteeAt(cell); got != want {
			t.Errorf("CommitteeAt(%s) = %q, want %q: the index disagrees with the store", cell, got, want)
		}
	}
}

// TestRestockRace runs two restocks of one pharmacy so that the first
// one's store write is held back. PharmaciesNear must end with the
// store's stock, not the first restock's.
func TestRestockRace(t *testing.T) {
	e, hs := newHookedEnv(t)
	ctx := t.Context()
	must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: "p", Name: "p", Location: taipei101}))
	restock := func() error {
		_, err := e.svc.Restock(ctx, "p", hub.MaskN95, 10)
		return err
	}

	p := hs.pauseNext("AdjustStock")
	interleave(t, p, restock, restock)

	stored := must[*hub.Pharmacy](t)(e.store.Pharmacy(ctx, "p"))
	if stored.Stock[hub.MaskN95] != 20 {
		t.Fatalf("stored stock %d, want 20", stored.Stock[hub.MaskN95])
	}
	ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 0, hub.MaskN95)
	if err != nil || len(ms) != 1 {
		t.Fatalf("PharmaciesNear: %v, %v", ms, err)
	}
	if got := ms[0].Pharmacy.Stock[hub.MaskN95]; got != 20 {
		t.Errorf("PharmaciesNear says %d N95, the store 20", got)
	}
}

// TestConcurrentUse drives the service from many goroutines at once; run
// it with -race. Afterwards PharmaciesNear agrees with the store.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	m := e.seedCity()
	ctx := t.Context()
	for i := range 3 {
		must[[]*hub.Pharmacy](t)(e.svc.UpsertPharmacies(ctx, city.PharmacyInput{ID: fmt.Sprintf("p%d", i), Name: "p", Location: taipei101}))
	}
	const workers, rounds = 6, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("p%d", (w+i)%3)
				if _, err := e.svc.Restock(ctx, id, hub.MaskAdult, 1+i); err != nil {
					t.Error(err)
				}
				if _, err := e.svc.PharmaciesNear(t.Context(), taipei101, 1, hub.MaskAdult); err != nil {
					t.Error(err)
				}
				number := twID('W', w*rounds+i)
				if _, err := e.svc.RegisterResidents(ctx, city.ResidentInput{Name: "r", IDNumber: number, Cell: &m.xinyi2[i%len(m.xinyi2)]}); err != nil {
					t.Error(err)
				}
				_ = e.svc.CommitteeAt(m.xinyi1[i%len(m.xinyi1)])
				if i%5 == 0 {
					if _, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "xinyi-1", Code: "XY-001", Name: "信義一里", Area: city.Area{Cells: m.xinyi1}}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	ms, err := e.svc.PharmaciesNear(t.Context(), taipei101, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range ms {
		stored := must[*hub.Pharmacy](t)(e.store.Pharmacy(ctx, mt.Pharmacy.ID))
		if mt.Pharmacy.Stock[hub.MaskAdult] != stored.Stock[hub.MaskAdult] {
			t.Errorf("%s: PharmaciesNear says %d, the store %d", mt.Pharmacy.ID, mt.Pharmacy.Stock[hub.MaskAdult], stored.Stock[hub.MaskAdult])
		}
	}
	if n, _ := e.store.CountResidents(ctx, "xinyi-2"); n != workers*rounds {
		t.Errorf("%d residents in xinyi-2, want %d", n, workers*rounds)
	}
}
