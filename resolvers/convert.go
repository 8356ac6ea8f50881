package resolvers

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Bounds on what one field may ask for.
const (
	maxNearK      = 10  // pharmaciesNear rings
	maxPageSize   = 500 // connection page size
	minRollUpRes  = 5   // coarsest resolution of district cells
	cursorResPref = "res:"
)

func cellOf(c hub.Cell) *model.Cell { return &model.Cell{ID: c} }

func cellsOf(cs []hub.Cell) []*model.Cell {
	out := make([]*model.Cell, len(cs))
	for i, c := range cs {
		out[i] = cellOf(c)
	}
	return out
}

func points(ps []hub.Point) []*hub.Point {
	out := make([]*hub.Point, len(ps))
	for i := range ps {
		out[i] = &ps[i]
	}
	return out
}

func pointIn(p *model.LatLngInput) *hub.Point {
	if p == nil {
		return nil
	}
	return &hub.Point{Lat: p.Lat, Lng: p.Lng}
}

func ring(ps []*model.LatLngInput) []hub.Point {
	out := make([]hub.Point, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, *pointIn(p))
		}
	}
	return out
}

func areaIn(a *model.AreaInput) (city.Area, error) {
	if a == nil || len(a.Cells) == 0 && len(a.Polygon) == 0 {
		return city.Area{}, hub.Errorf(hub.EINVALID, "an area needs cells or a polygon")
	}
	area := city.Area{Cells: a.Cells, Polygon: ring(a.Polygon)}
	for _, h := range a.Holes {
		area.Holes = append(area.Holes, ring(h))
	}
	return area, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func stockLevels(stock map[hub.SKU]int) []*model.StockLevel {
	sp := hub.Supplies()
	out := make([]*model.StockLevel, len(sp))
	for i, s := range sp {
		out[i] = &model.StockLevel{Sku: s.SKU, Quantity: stock[s.SKU]}
	}
	return out
}

// rollUp returns the distinct parents of base cells at a resolution from
// the base resolution down to minRollUpRes, sorted.
func rollUp(cells []hub.Cell, res int) ([]hub.Cell, error) {
	if res < minRollUpRes || res > grid.BaseResolution {
		return nil, hub.Errorf(hub.EINVALID, "resolution %d is outside [%d, %d]", res, minRollUpRes, grid.BaseResolution)
	}
	if res == grid.BaseResolution {
		return cells, nil
	}
	out := make([]hub.Cell, 0, len(cells)/7+1)
	for _, c := range cells {
		p, err := grid.Parent(c, res)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (r *Resolver) optionalDistrict(ctx context.Context, id string) (*hub.District, error) {
	if id == "" {
		return nil, nil
	}
	return r.districtByID(ctx, id)
}

func (r *Resolver) optionalCommittee(ctx context.Context, id string) (*hub.Committee, error) {
	if id == "" {
		return nil, nil
	}
	return r.committeeByID(ctx, id)
}

// encodeCursor and decodeCursor keep connection cursors opaque.
func encodeCursor(prefix, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + id))
}

func decodeCursor(prefix, cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) || len(b) > 256 {
		return "", hub.Errorf(hub.EINVALID, "invalid cursor")
	}
	return strings.TrimPrefix(string(b), prefix), nil
}

func (r *Resolver) residentPage(ctx context.Context, committeeID string, first int, after *string) (*model.ResidentConnection, error) {
	if first < 1 || first > maxPageSize {
		return nil, hub.Errorf(hub.EINVALID, "first %d is outside [1, %d]", first, maxPageSize)
	}
	var from string
	if after != nil {
		id, err := decodeCursor(cursorResPref, *after)
		if err != nil {
			return nil, err
		}
		from = id
	}
	st := r.City.Store()
	rs, err := st.Residents(ctx, hub.ResidentFilter{CommitteeID: committeeID, After: from, Limit: first + 1})
	if err != nil {
		return nil, err
	}
	total, err := st.CountResidents(ctx, committeeID)
	if err != nil {
		return nil, err
	}
	conn := &model.ResidentConnection{Edges: []*model.ResidentEdge{}, PageInfo: &model.PageInfo{HasNextPage: len(rs) > first}, TotalCount: total}
	if len(rs) > first {
		rs = rs[:first]
	}
	for _, res := range rs {
		conn.Edges = append(conn.Edges, &model.ResidentEdge{Cursor: encodeCursor(cursorResPref, res.ID), Node: res})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}
