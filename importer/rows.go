package importer

import (
	"math"
	"strconv"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// schema lists the columns of a kind.
type schema struct {
	kind     Kind
	columns  []string   // every known column, canonical names, in documentation order
	required []string   // columns the header must have
	anyOf    [][]string // the header must hold every column of at least one group
	point    bool       // GeoJSON geometry is a Point (else a Polygon/MultiPolygon)
}

func (s schema) known(col string) bool {
	for _, c := range s.columns {
		if c == col {
			return true
		}
	}
	return false
}

func schemaOf(kind Kind) (schema, error) {
	switch kind {
	case Pharmacies:
		cols := []string{"id", "name", "phone", "address", "lat", "lng", "hours"}
		for _, sp := range hub.Supplies() {
			cols = append(cols, stockColumn(sp.SKU))
		}
		return schema{kind: kind, columns: cols, required: []string{"name", "lat", "lng"}, point: true}, nil
	case Committees:
		return schema{kind: kind, columns: []string{"id", "code", "name", "district_id", "cells", "polygon"},
			required: []string{"code", "name"}, anyOf: [][]string{{"cells"}, {"polygon"}}}, nil
	case Districts:
		return schema{kind: kind, columns: []string{"id", "code", "name", "cells", "polygon"},
			required: []string{"name"}, anyOf: [][]string{{"cells"}, {"polygon"}}}, nil
	case Residents:
		return schema{kind: kind, columns: []string{"id", "name", "id_number", "phone", "address", "lat", "lng", "cell", "committee_code"},
			required: []string{"name", "id_number"}, anyOf: [][]string{{"lat", "lng"}, {"cell"}}, point: true}, nil
	case Checkpoints:
		return schema{kind: kind, columns: []string{"id", "name", "kind", "lat", "lng"},
			required: []string{"name", "kind", "lat", "lng"}, point: true}, nil
	}
	return schema{}, hub.Errorf(hub.EINVALID, "unknown kind %q: want one of districts, committees, pharmacies, checkpoints, residents", kind)
}

// stockColumn is the canonical (lower-case) column of a SKU's stock.
func stockColumn(sku hub.SKU) string { return "stock_" + strings.ToLower(string(sku)) }

// aliases maps other names in use to canonical columns.
var aliases = map[string]string{
	"lon":             "lng",
	"long":            "lng",
	"longitude":       "lng",
	"latitude":        "lat",
	"mask_adult":      stockColumn(hub.MaskAdult),
	"mask_child":      stockColumn(hub.MaskChild),
	"service_periods": "hours",
}

// canonical returns the canonical form of a column or property name:
// trimmed, lower case, spaces and dashes as underscores, aliases resolved.
func canonical(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.NewReplacer(" ", "_", "-", "_").Replace(n)
	if a, ok := aliases[n]; ok {
		return a
	}
	return n
}

func invalid(format string, args ...any) error { return hub.Errorf(hub.EINVALID, format, args...) }

// location returns the row's position: a Point geometry, or the lat and
// lng columns. With required false a row without any gives nil.
func location(r *record, required bool) (*hub.Point, error) {
	if r.geom != nil {
		if r.geom.point == nil {
			return nil, invalid("geometry: want a Point, got a %s", r.geom.typ)
		}
		p := *r.geom.point
		if err := grid.CheckPoint(p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	lat, lng := r.get("lat"), r.get("lng")
	switch {
	case lat == "" && lng == "":
		if required {
			return nil, invalid("lat and lng are required")
		}
		return nil, nil
	case lat == "":
		return nil, invalid("lat is missing (lng is given)")
	case lng == "":
		return nil, invalid("lng is missing (lat is given)")
	}
	var p hub.Point
	var err error
	if p.Lat, err = parseCoord("lat", lat); err != nil {
		return nil, err
	}
	if p.Lng, err = parseCoord("lng", lng); err != nil {
		return nil, err
	}
	if err := grid.CheckPoint(p); err != nil {
		return nil, err
	}
	return &p, nil
}

func parseCoord(col, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, invalid("%s %q is not a number", col, hub.Clip(v))
	}
	return f, nil
}

// area returns the row's area: a Polygon or MultiPolygon geometry, a cells
// column, a polygon column, or several of them together.
func area(r *record) (city.Area, error) {
	var a city.Area
	if g := r.geom; g != nil {
		if len(g.polygons) == 0 {
			return a, invalid("geometry: want a Polygon or a MultiPolygon, got a %s", g.typ)
		}
		if len(g.polygons) == 1 {
			a.Polygon, a.Holes = g.polygons[0][0], g.polygons[0][1:]
		} else {
			for _, rings := range g.polygons {
				cs, err := grid.Fill(rings[0], rings[1:], grid.BaseResolution)
				if err != nil {
					return a, err
				}
				a.Cells = append(a.Cells, cs...)
			}
		}
	}
	if v := r.get("cells"); v != "" {
		for s := range strings.SplitSeq(v, ";") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			c, err := grid.ParseCell(s)
			if err != nil {
				return a, err
			}
			a.Cells = append(a.Cells, c)
		}
	}
	if v := r.get("polygon"); v != "" {
		if len(a.Polygon) > 0 {
			return a, invalid("give the area as a geometry or a polygon column, not both")
		}
		rings, err := parsePolygon(v)
		if err != nil {
			return a, err
		}
		a.Polygon, a.Holes = rings[0], rings[1:]
	}
	if len(a.Cells) == 0 && len(a.Polygon) == 0 {
		return a, invalid("an area needs cells or a polygon")
	}
	return a, nil
}

// parsePolygon reads "lat lng;lat lng;...|lat lng;..." (outer ring, then
// holes). A point's two numbers may be separated by spaces or a comma.
func parsePolygon(v string) ([][]hub.Point, error) {
	var rings [][]hub.Point
	for i, rs := range strings.Split(v, "|") {
		var ring []hub.Point
		for ps := range strings.SplitSeq(rs, ";") {
			ps = strings.TrimSpace(ps)
			if ps == "" {
				continue
			}
			f := strings.FieldsFunc(ps, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
			if len(f) != 2 {
				return nil, invalid("polygon: point %q: want \"lat lng\"", hub.Clip(ps))
			}
			var p hub.Point
			var err error
			if p.Lat, err = parseCoord("polygon: lat", f[0]); err != nil {
				return nil, err
			}
			if p.Lng, err = parseCoord("polygon: lng", f[1]); err != nil {
				return nil, err
			}
			if err := grid.CheckPoint(p); err != nil {
				return nil, err
			}
			ring = append(ring, p)
		}
		if len(ring) < 3 {
			return nil, invalid("polygon: ring %d has %d points, want at least 3", i+1, len(ring))
		}
		rings = append(rings, ring)
	}
	return rings, nil
}

func pharmacyInput(r *record) (city.PharmacyInput, error) {
	in := city.PharmacyInput{
		ID: r.get("id"), Name: r.get("name"), Phone: r.get("phone"), Address: r.get("address"),
		Hours: r.get("hours"),
	}
	p, err := location(r, true)
	if err != nil {
		return in, err
	}
	in.Location = *p
	for _, sp := range hub.Supplies() {
		v := r.get(stockColumn(sp.SKU))
		if v == "" {
			continue
		}
		q, err := strconv.Atoi(v)
		if err != nil {
			return in, invalid("stock_%s %q is not a whole number", sp.SKU, hub.Clip(v))
		}
		if in.Stock == nil {
			in.Stock = map[hub.SKU]int{}
		}
		in.Stock[sp.SKU] = q
	}
	return in, nil
}

func committeeInput(r *record) (city.CommitteeInput, error) {
	in := city.CommitteeInput{ID: r.get("id"), Code: r.get("code"), Name: r.get("name"), DistrictID: r.get("district_id")}
	a, err := area(r)
	in.Area = a
	return in, err
}

func districtInput(r *record) (city.DistrictInput, error) {
	in := city.DistrictInput{ID: r.get("id"), Code: r.get("code"), Name: r.get("name")}
	a, err := area(r)
	in.Area = a
	return in, err
}

func residentInput(r *record) (city.ResidentInput, error) {
	in := city.ResidentInput{
		ID: r.get("id"), Name: r.get("name"), IDNumber: r.get("id_number"), Phone: r.get("phone"),
		Address: r.get("address"), CommitteeCode: r.get("committee_code"),
	}
	p, err := location(r, false)
	if err != nil {
		return in, err
	}
	in.Location = p
	if v := r.get("cell"); v != "" {
		c, err := grid.ParseCell(v)
		if err != nil {
			return in, err
		}
		in.Cell = &c
	}
	if in.Location == nil && in.Cell == nil {
		// Caught here rather than by the service, to spare a batch split.
		return in, invalid("an address must place on the grid: give lat and lng or a cell (a free-text address alone is not accepted)")
	}
	return in, nil
}

func checkpointInput(r *record) (city.CheckpointInput, error) {
	in := city.CheckpointInput{ID: r.get("id"), Name: r.get("name"), Kind: strings.ToUpper(r.get("kind"))}
	p, err := location(r, true)
	if err != nil {
		return in, err
	}
	in.Location = *p
	return in, nil
}
