package city_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

func TestUpsertDistrict(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := cellAt(t, taipei101)

	t.Run("from a polygon", func(t *testing.T) {
		d, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{Name: "大安區", Area: city.Area{Polygon: daanSq}})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := grid.Fill(daanSq, nil, grid.BaseResolution)
		if !slices.Equal(d.Cells, want) {
			t.Errorf("cells %v, want the fill %v", d.Cells, want)
		}
		if d.ID != "dst_0001" || !d.UpdatedAt.Equal(epoch) {
			t.Errorf("ID %q, UpdatedAt %v: want a made ID and the injected clock", d.ID, d.UpdatedAt)
		}
		stored, err := e.store.District(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored.Cells, want) || stored.Name != "大安區" || !stored.UpdatedAt.Equal(epoch) {
			t.Errorf("stored %+v", stored)
		}
		for _, cell := range want {
			if got := e.svc.DistrictAt(cell); got != d.ID {
				t.Fatalf("DistrictAt(%s) = %q, want %q", cell, got, d.ID)
			}
		}
	})

	t.Run("from cells, unsorted with repeats and zeros", func(t *testing.T) {
		cells := disk(t, c, 2)
		messy := append(slices.Clone(cells), cells[3], 0, cells[0])
		slices.Reverse(messy)
		d, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "xinyi", Code: "TPE-XY", Name: "信義區", Area: city.Area{Cells: messy}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Cells, cells) {
			t.Errorf("cells %v, want sorted and unique %v", d.Cells, cells)
		}
	})

	t.Run("polygon and cells together", func(t *testing.T) {
		far := cellAt(t, kaohsiung)
		sq := square(kaohsiung, 0.003)
		d, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "kh", Name: "Kaohsiung", Area: city.Area{
			Polygon: sq, Holes: [][]hub.Point{square(kaohsiung, 0.001)}, Cells: []hub.Cell{far},
		}})
		if err != nil {
			t.Fatal(err)
		}
		filled, _ := grid.Fill(sq, [][]hub.Point{square(kaohsiung, 0.001)}, grid.BaseResolution)
		if slices.Contains(filled, far) {
			t.Fatal("the hole should exclude the centre cell; the test proves nothing")
		}
		want, _ := grid.Normalize(append(filled, far), grid.BaseResolution)
		if !slices.Equal(d.Cells, want) {
			t.Errorf("cells %v, want %v", d.Cells, want)
		}
	})

	t.Run("overlap is a conflict and writes nothing", func(t *testing.T) {
		_, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "overlap", Name: "Overlap", Area: city.Area{Cells: disk(t, ring(t, c, 3)[0], 1)}})
		wantCode(t, err, hub.ECONFLICT)
		_, err = e.store.District(ctx, "overlap")
		notFound(t, err)
		if e.svc.DistrictAt(ring(t, c, 3)[0]) != "" {
			t.Error("a refused district was indexed")
		}
	})

	t.Run("replacing frees the old cells", func(t *testing.T) {
		_, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "xinyi", Name: "信義區", Area: city.Area{Cells: disk(t, c, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		freed := ring(t, c, 2)
		for _, cell := range freed {
			if got := e.svc.DistrictAt(cell); got != "" {
				t.Fatalf("freed cell %s still in %q", cell, got)
			}
		}
		// Another district may take them now.
		if _, err := e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "ring2", Name: "Ring", Area: city.Area{Cells: freed}}); err != nil {
			t.Fatal(err)
		}
		// And xinyi cannot grow back over them.
		_, err = e.svc.UpsertDistrict(ctx, city.DistrictInput{ID: "xinyi", Name: "信義區", Area: city.Area{Cells: disk(t, c, 2)}})
		wantCode(t, err, hub.ECONFLICT)
		d, _ := e.store.District(ctx, "xinyi")
		if !slices.Equal(d.Cells, disk(t, c, 1)) {
			t.Errorf("a refused replacement changed the store: %d cells", len(d.Cells))
		}
	})
}

func TestUpsertDistrictInvalid(t *testing.T) {
	e := newEnv(t)
	c := cellAt(t, taipei101)
	parent, _ := grid.Parent(c, 8)
	good := city.Area{Cells: []hub.Cell{c}}
	tests := []struct {
		name string
		give city.DistrictInput
		is   error // a grid sentinel the error matches, if any
	}{
		{"no area", city.DistrictInput{Name: "x"}, nil},
		{"only zero cells", city.DistrictInput{Name: "x", Area: city.Area{Cells: []hub.Cell{0}}}, nil},
		{"cell of resolution 8", city.DistrictInput{Name: "x", Area: city.Area{Cells: []hub.Cell{parent}}}, grid.ErrInvalidResolution},
		{"not a cell", city.DistrictInput{Name: "x", Area: city.Area{Cells: []hub.Cell{0x8928308280ffff0}}}, grid.ErrInvalidCell},
		{"degenerate polygon", city.DistrictInput{Name: "x", Area: city.Area{Polygon: daanSq[:2]}}, grid.ErrInvalidPolygon},
		{"polygon off the Earth", city.DistrictInput{Name: "x", Area: city.Area{Polygon: []hub.Point{{Lat: 0, Lng: 0}, {Lat: 1, Lng: 0}, {Lat: math.NaN(), Lng: 1}}}}, grid.ErrInvalidLatLng},
		{"polygon too small for a cell", city.DistrictInput{Name: "x", Area: city.Area{Polygon: square(taipei101, 0.0001)}}, nil},
		{"polygon of a continent", city.DistrictInput{Name: "x", Area: city.Area{Polygon: square(taipei101, 20)}}, grid.ErrInvalidPolygon},
		{"no name", city.DistrictInput{Area: good}, nil},
		{"blank name", city.DistrictInput{Name: " \t", Area: good}, nil},
		{"name of 201 characters", city.DistrictInput{Name: strings.Repeat("區", 201), Area: good}, nil},
		{"name not UTF-8", city.DistrictInput{Name: "信義\xff", Area: good}, nil},
		{"code of 65 characters", city.DistrictInput{Name: "x", Code: strings.Repeat("C", 65), Area: good}, nil},
		{"ID with a space", city.DistrictInput{ID: "xin yi", Name: "x", Area: good}, nil},
		{"ID with a slash", city.DistrictInput{ID: "../x", Name: "x", Area: good}, nil},
		{"ID of 65 characters", city.DistrictInput{ID: strings.Repeat("d", 65), Name: "x", Area: good}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.svc.UpsertDistrict(t.Context(), tt.give)
			wantCode(t, err, hub.EINVALID)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			if d != nil {
				t.Errorf("got a district with an error: %+v", d)
			}
		})
	}
	if ds, _ := e.store.Districts(t.Context()); len(ds) != 0 {
		t.Errorf("invalid districts were written: %d", len(ds))
	}
	// The limits themselves are allowed.
	if _, err := e.svc.UpsertDistrict(t.Context(), city.DistrictInput{ID: strings.Repeat("d", 64), Name: strings.Repeat("區", 200), Code: strings.Repeat("C", 64), Area: good}); err != nil {
		t.Errorf("text at the limits: %v", err)
	}
}

func TestUpsertCommittees(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	m := e.seedCity()

	t.Run("district inferred", func(t *testing.T) {
		c, err := e.store.Committee(ctx, "xinyi-1")
		if err != nil {
			t.Fatal(err)
		}
		if c.DistrictID != "xinyi" || c.Code != "XY-001" || !slices.Equal(c.Cells, m.xinyi1) || !c.UpdatedAt.Equal(epoch) {
			t.Errorf("stored %+v", c)
		}
		for _, cell := range m.xinyi1 {
			if got := e.svc.CommitteeAt(cell); got != "xinyi-1" {
				t.Fatalf("CommitteeAt(%s) = %q", cell, got)
			}
		}
		if got := e.svc.CommitteeAt(m.ring3[0]); got != "" {
			t.Errorf("CommitteeAt(a cell of no committee) = %q", got)
		}
	})

	t.Run("district given", func(t *testing.T) {
		cs, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{Code: "DA-001", Name: "大安一里", DistrictID: "daan", Area: city.Area{Cells: m.daan[:3]}})
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].DistrictID != "daan" || !strings.HasPrefix(cs[0].ID, "com_") {
			t.Errorf("got %+v", cs[0])
		}
	})

	tests := []struct {
		name string
		give []city.CommitteeInput
		want string
	}{
		{"outside every district", []city.CommitteeInput{{Code: "KH-1", Name: "k", Area: city.Area{Cells: []hub.Cell{cellAt(t, kaohsiung)}}}}, hub.EINVALID},
		{"partly outside", []city.CommitteeInput{{Code: "XY-9", Name: "k", Area: city.Area{Cells: []hub.Cell{m.ring3[0], cellAt(t, kaohsiung)}}}}, hub.EINVALID},
		{"across two districts", []city.CommitteeInput{{Code: "XY-9", Name: "k", Area: city.Area{Cells: []hub.Cell{m.ring3[0], m.daan[5]}}}}, hub.EINVALID},
		{"in another district than given", []city.CommitteeInput{{Code: "XY-9", Name: "k", DistrictID: "daan", Area: city.Area{Cells: []hub.Cell{m.ring3[0]}}}}, hub.EINVALID},
		{"in an unknown district", []city.CommitteeInput{{Code: "XY-9", Name: "k", DistrictID: "nowhere", Area: city.Area{Cells: []hub.Cell{m.ring3[0]}}}}, hub.ENOTFOUND},
		{"overlapping a committee", []city.CommitteeInput{{Code: "XY-9", Name: "k", Area: city.Area{Cells: []hub.Cell{m.ring3[0], m.xinyi2[0]}}}}, hub.ECONFLICT},
		{"overlapping within the batch", []city.CommitteeInput{
			{Code: "XY-8", Name: "k", Area: city.Area{Cells: m.ring3[:3]}},
			{Code: "XY-9", Name: "k", Area: city.Area{Cells: m.ring3[2:5]}},
		}, hub.ECONFLICT},
		{"code held by another committee", []city.CommitteeInput{{ID: "other", Code: "XY-001", Name: "k", Area: city.Area{Cells: m.ring3[:1]}}}, hub.ECONFLICT},
		{"code twice in the batch", []city.CommitteeInput{
			{Code: "XY-8", Name: "k", Area: city.Area{Cells: m.ring3[:1]}},
			{Code: "XY-8", Name: "k", Area: city.Area{Cells: m.ring3[1:2]}},
		}, hub.ECONFLICT},
		{"ID twice in the batch", []city.CommitteeInput{
			{ID: "twice", Code: "XY-8", Name: "k", Area: city.Area{Cells: m.ring3[:1]}},
			{ID: "twice", Code: "XY-9", Name: "k", Area: city.Area{Cells: m.ring3[1:2]}},
		}, hub.EINVALID},
		{"second of the batch invalid", []city.CommitteeInput{
			{Code: "XY-8", Name: "k", Area: city.Area{Cells: m.ring3[:1]}},
			{Code: "XY-9", Name: "k", Area: city.Area{Cells: []hub.Cell{cellAt(t, kaohsiung)}}},
		}, hub.EINVALID},
		{"no code", []city.CommitteeInput{{Name: "k", Area: city.Area{Cells: m.ring3[:1]}}}, hub.EINVALID},
		{"no name", []city.CommitteeInput{{Code: "XY-9", Area: city.Area{Cells: m.ring3[:1]}}}, hub.EINVALID},
		{"no area", []city.CommitteeInput{{Code: "XY-9", Name: "k"}}, hub.EINVALID},
		{"name not UTF-8", []city.CommitteeInput{{Code: "XY-9", Name: "\xc3\x28", Area: city.Area{Cells: m.ring3[:1]}}}, hub.EINVALID},
		{"code of 65 characters", []city.CommitteeInput{{Code: strings.Repeat("X", 65), Name: "k", Area: city.Area{Cells: m.ring3[:1]}}}, hub.EINVALID},
		{"bad district ID", []city.CommitteeInput{{Code: "XY-9", Name: "k", DistrictID: "x y", Area: city.Area{Cells: m.ring3[:1]}}}, hub.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.store.Committees(ctx, "")
			cs, err := e.svc.UpsertCommittees(ctx, tt.give...)
			wantCode(t, err, tt.want)
			if cs != nil {
				t.Errorf("got committees with an error: %v", cs)
			}
			after, _ := e.store.Committees(ctx, "")
			if len(after) != len(before) {
				t.Errorf("a refused batch wrote %d committees", len(after)-len(before))
			}
			for _, cell := range m.ring3 {
				if got := e.svc.CommitteeAt(cell); got != "" {
					t.Fatalf("a refused batch indexed %s for %q", cell, got)
				}
			}
		})
	}

	t.Run("replacing frees the old cells", func(t *testing.T) {
		_, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "xinyi-2", Code: "XY-002", Name: "信義二里", Area: city.Area{Cells: m.ring3}})
		if err != nil {
			t.Fatal(err)
		}
		for _, cell := range m.xinyi2 {
			if got := e.svc.CommitteeAt(cell); got != "" {
				t.Fatalf("freed cell %s still in %q", cell, got)
			}
		}
		for _, cell := range m.ring3 {
			if got := e.svc.CommitteeAt(cell); got != "xinyi-2" {
				t.Fatalf("new cell %s in %q", cell, got)
			}
		}
		// A code can be changed, and the old one taken by another.
		if _, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "xinyi-2", Code: "XY-002b", Name: "信義二里", Area: city.Area{Cells: m.ring3}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.UpsertCommittees(ctx, city.CommitteeInput{ID: "xinyi-2a", Code: "XY-002", Name: "新里", Area: city.Area{Cells: m.xinyi2}}); err != nil {
			t.Fatal(err)
		}
		c, err := e.store.CommitteeByCode(ctx, "XY-002")
		if err != nil || c.ID != "xinyi-2a" {
			t.Errorf("CommitteeByCode(XY-002) = %v, %v", c, err)
		}
	})

	t.Run("too many at once", func(t *testing.T) {
		ins := make([]city.CommitteeInput, 10_001)
		_, err := e.svc.UpsertCommittees(ctx, ins...)
		wantCode(t, err, hub.EINVALID)
	})
}
