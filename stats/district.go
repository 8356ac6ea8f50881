package stats

import (
	"slices"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Resolutions a district's cells roll up to.
const (
	MinResolution = grid.ShardResolution // 5
	MaxResolution = grid.BaseResolution  // 9
)

// district is a district the tally knows: its cells as a view, and its
// hourly points.
type district struct {
	id   string
	view *view // guarded by dmu
	// alt is the last view built for a caller that holds other cells than
	// view's, older ones (a subscription started before the district
	// changed), so that its queries do not build it again each time.
	alt  *view // guarded by dmu
	hist series
}

// view is a district's cells ready for queries: their counters in cell
// order and, for each coarser resolution, how they group under parents.
// A view never changes; a district whose cells change gets a new one.
type view struct {
	id      string
	updated time.Time
	src     []hub.Cell // the cells as given, to recognise the district
	cells   []hub.Cell // sorted, valid, base resolution
	ctr     []*counters
	ups     [MaxResolution - MinResolution]rollup // resolutions 5 to 8
	centre  hub.Cell                              // at MinResolution
}

// rollup groups a view's cells by their parent at one resolution: the
// cells of parents[i] are cells[order[start[i]]], ..., cells[order[start[i+1]-1]],
// and of[j] is the parent index of cells[j].
type rollup struct {
	parents []hub.Cell
	start   []int32
	order   []int32
	of      []int32
}

// newView builds the view of a district's cells, which need not be
// sorted; cells that are not valid base-resolution cells are left out.
// Counters are made for every cell, so the view holds them all.
func (t *Tally) newView(id string, cells []hub.Cell, updated time.Time) *view {
	v := &view{id: id, updated: updated, src: slices.Clone(cells)}
	v.cells = make([]hub.Cell, 0, len(cells))
	for _, c := range cells {
		if grid.Validate(c) == nil && grid.Resolution(c) == MaxResolution {
			v.cells = append(v.cells, c)
		}
	}
	slices.Sort(v.cells)
	v.cells = slices.Compact(v.cells)
	v.ctr = make([]*counters, len(v.cells))
	for j, c := range v.cells {
		v.ctr[j] = t.cell(c)
	}
	// Parents, finest first: each from the one a resolution finer.
	up := slices.Clone(v.cells)
	for r := MaxResolution - 1; r >= MinResolution; r-- {
		for j, c := range up {
			up[j], _ = grid.Parent(c, r) // valid cells, coarser resolution: no error
		}
		v.ups[r-MinResolution] = group(up)
	}
	v.centre = centre(v.cells)
	return v
}

// group builds the rollup of cells whose parents are ps (ps[j] the parent
// of the view's cells[j]).
func group(ps []hub.Cell) rollup {
	var g rollup
	g.parents = slices.Compact(slices.Sorted(slices.Values(ps)))
	g.of = make([]int32, len(ps))
	g.start = make([]int32, len(g.parents)+1)
	for j, p := range ps {
		i, _ := slices.BinarySearch(g.parents, p)
		g.of[j] = int32(i)
		g.start[i+1]++
	}
	for i := range g.parents {
		g.start[i+1] += g.start[i]
	}
	g.order = make([]int32, len(ps))
	next := slices.Clone(g.start[:len(g.parents)])
	for j := range ps {
		i := g.of[j]
		g.order[next[i]] = int32(j)
		next[i]++
	}
	return g
}

// centre returns the cell at MinResolution that holds the mean of the
// cells' centres, or 0 for no cells.
func centre(cells []hub.Cell) hub.Cell {
	var lat, lng float64
	n := 0
	for _, c := range cells {
		p, err := grid.Center(c)
		if err != nil {
			continue
		}
		lat += p.Lat
		lng += p.Lng
		n++
	}
	if n == 0 {
		return 0
	}
	c, err := grid.CellAt(hub.Point{Lat: lat / float64(n), Lng: lng / float64(n)}, MinResolution)
	if err != nil {
		return 0
	}
	return c
}

// index returns the position of c among the view's cells, or -1.
func (v *view) index(c hub.Cell) int {
	if j, ok := slices.BinarySearch(v.cells, c); ok {
		return j
	}
	return -1
}

// setDistrict makes cells the district's area, as DISTRICT_UPSERTED says.
// Callers hold rollMu for reading or own t exclusively.
func (t *Tally) setDistrict(id string, cells []hub.Cell, at time.Time) {
	if id == "" {
		return
	}
	t.install(t.newView(id, cells, at), true)
}

// install makes v its district's view: always when force is set (the
// district's own event), else only when the tally has none for it or one
// that is no newer; a view refused is kept as the district's alt.
func (t *Tally) install(v *view, force bool) {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	d := t.districts[v.id]
	if d == nil {
		d = &district{id: v.id, hist: series{last: hourOf(t.now())}}
		t.districts[v.id] = d
	}
	if force || d.view == nil || !v.updated.Before(d.view.updated) {
		d.view = v
	} else {
		d.alt = v
	}
}

// viewOf returns the view of d: the tally's own when its cells are d's,
// else one built from d (kept as the district's view when it is no older
// than the tally's, else as its alt).
func (t *Tally) viewOf(d *hub.District) (*view, error) {
	if d == nil || d.ID == "" {
		return nil, hub.Errorf(hub.EINVALID, "no district")
	}
	t.dmu.RLock()
	var v, alt *view
	if known := t.districts[d.ID]; known != nil {
		v, alt = known.view, known.alt
	}
	t.dmu.RUnlock()
	switch {
	case v != nil && slices.Equal(v.src, d.Cells):
		return v, nil
	case alt != nil && slices.Equal(alt.src, d.Cells):
		return alt, nil
	}
	nv := t.newView(d.ID, d.Cells, d.UpdatedAt)
	t.install(nv, false)
	return nv, nil
}

// Districts returns the IDs of the districts the tally knows, sorted.
func (t *Tally) Districts() []string {
	t.dmu.RLock()
	defer t.dmu.RUnlock()
	out := make([]string, 0, len(t.districts))
	for id := range t.districts {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
