package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/hub"
)

// geometry is a feature's geometry, as far as the importer uses it.
type geometry struct {
	typ      string
	point    *hub.Point
	polygons [][][]hub.Point // polygon -> rings (outer first) -> points
}

// geoSource streams the features of a GeoJSON FeatureCollection, one at a
// time, so a large file is never held whole in memory.
type geoSource struct {
	lr          *lineReader
	dec         *json.Decoder
	sc          schema
	index       int  // index of the next feature
	inFeatures  bool // inside the features array
	sawFeatures bool
	done        bool
}

func newGeoSource(r io.Reader, sc schema) (*geoSource, error) {
	lr := &lineReader{r: skipBOM(r), line: 1}
	s := &geoSource{lr: lr, dec: json.NewDecoder(lr), sc: sc}
	s.dec.UseNumber() // a number token never fails to convert
	tok, err := s.dec.Token()
	if err == io.EOF {
		return nil, invalid("the file is empty: want a GeoJSON FeatureCollection")
	}
	if err != nil {
		return nil, s.fail(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("not GeoJSON: want a FeatureCollection object")
	}
	if err := s.advance(); err != nil {
		return nil, err
	}
	return s, nil
}

// advance reads the members of the FeatureCollection until the features
// array opens or the object ends.
func (s *geoSource) advance() error {
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return s.fail(err)
		}
		switch key, _ := tok.(string); key {
		case "features":
			if s.sawFeatures {
				return invalid("not a valid FeatureCollection: features appears twice")
			}
			tok, err := s.dec.Token()
			if err != nil {
				return s.fail(err)
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return invalid("not a valid FeatureCollection: features is not an array")
			}
			s.sawFeatures, s.inFeatures = true, true
			return nil
		case "type":
			var t any
			if err := s.dec.Decode(&t); err != nil {
				return s.fail(err)
			}
			if t != "FeatureCollection" {
				return invalid("not a FeatureCollection: type is %s", hub.Clip(fmt.Sprint(t)))
			}
		default:
			var skip json.RawMessage
			if err := s.dec.Decode(&skip); err != nil {
				return s.fail(err)
			}
		}
	}
	if _, err := s.dec.Token(); err != nil { // the closing brace
		return s.fail(err)
	}
	if !s.sawFeatures {
		return invalid("not a FeatureCollection: it has no features")
	}
	if _, err := s.dec.Token(); err != io.EOF {
		return invalid("unexpected data after the FeatureCollection")
	}
	s.done = true
	return nil
}

func (s *geoSource) next() (*record, error) {
	for !s.done {
		if s.inFeatures {
			if s.dec.More() {
				var raw json.RawMessage
				if err := s.dec.Decode(&raw); err != nil {
					return nil, s.fail(err)
				}
				line := s.lr.lineAt(s.dec.InputOffset() - int64(len(raw)))
				s.index++
				return s.feature(raw, line, s.index-1), nil
			}
			if _, err := s.dec.Token(); err != nil { // the closing bracket
				return nil, s.fail(err)
			}
			s.inFeatures = false
		}
		if err := s.advance(); err != nil {
			return nil, err
		}
	}
	return nil, io.EOF
}

// fail turns an error of the decoder into the error of the import.
func (s *geoSource) fail(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line := s.lr.lineOfNext(s.dec.InputOffset())
		return invalid("not valid JSON, in or after line %d (feature %d): %s", line, s.index, strings.TrimPrefix(se.Error(), "json: "))
	case s.lr.err != nil:
		return fmt.Errorf("read GeoJSON: %w", s.lr.err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("the file ends inside the FeatureCollection (after feature %d)", s.index)
	}
	// The input read fine, so the decoder found fault with its content.
	return invalid("not valid GeoJSON, in or after line %d (feature %d): %s", s.lr.lineOfNext(s.dec.InputOffset()), s.index, describe(err))
}

type rawFeature struct {
	Type       string                     `json:"type"`
	ID         json.RawMessage            `json:"id"`
	Properties map[string]json.RawMessage `json:"properties"`
	Geometry   *rawGeometry               `json:"geometry"`
}

type rawGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// feature turns one feature into a record; a feature that cannot be read
// is a record carrying its error.
func (s *geoSource) feature(raw []byte, line, index int) *record {
	rec := &record{line: line, index: index, fields: map[string]string{}}
	var f rawFeature
	if err := json.Unmarshal(raw, &f); err != nil {
		rec.err = invalid("invalid feature: %s", describe(err))
		return rec
	}
	// Properties whose names are already canonical win over aliases;
	// within each pass keys go in sorted order, so the outcome does not
	// depend on map order.
	keys := make([]string, 0, len(f.Properties))
	for k := range f.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, exact := range []bool{true, false} {
		for _, k := range keys {
			c := canonical(k)
			if (c == k) != exact || !s.sc.known(c) {
				continue
			}
			if _, ok := rec.fields[c]; !ok {
				rec.fields[c] = value(f.Properties[k])
			}
		}
	}
	if rec.fields["id"] == "" && len(f.ID) > 0 {
		rec.fields["id"] = value(f.ID)
	}
	if f.Type != "Feature" {
		rec.err = invalid("invalid feature: type is %q, want \"Feature\"", hub.Clip(f.Type))
		return rec
	}
	if f.Geometry != nil {
		g, err := parseGeometry(f.Geometry)
		if err != nil {
			rec.err = err
			return rec
		}
		rec.geom = g
	}
	return rec
}

// value returns a property as text: a string as it is, a number as
// written (so an id such as 0145080011 given as a string stays one), null
// as "".
func value(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
	}
	return string(raw)
}

func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s cannot be a JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("want an object, got a JSON %s", te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func parseGeometry(rg *rawGeometry) (*geometry, error) {
	g := &geometry{typ: rg.Type}
	switch rg.Type {
	case "Point":
		var c []float64
		if err := json.Unmarshal(rg.Coordinates, &c); err != nil {
			return nil, invalid("geometry: Point coordinates: %s", describe(err))
		}
		p, err := position(c)
		if err != nil {
			return nil, err
		}
		g.point = &p
	case "Polygon":
		var c [][][]float64
		if err := json.Unmarshal(rg.Coordinates, &c); err != nil {
			return nil, invalid("geometry: Polygon coordinates: %s", describe(err))
		}
		rings, err := polygon(c)
		if err != nil {
			return nil, err
		}
		g.polygons = [][][]hub.Point{rings}
	case "MultiPolygon":
		var c [][][][]float64
		if err := json.Unmarshal(rg.Coordinates, &c); err != nil {
			return nil, invalid("geometry: MultiPolygon coordinates: %s", describe(err))
		}
		if len(c) == 0 {
			return nil, invalid("geometry: MultiPolygon has no polygons")
		}
		for _, pc := range c {
			rings, err := polygon(pc)
			if err != nil {
				return nil, err
			}
			g.polygons = append(g.polygons, rings)
		}
	case "":
		return nil, invalid("geometry: type is missing")
	default:
		g.typ = hub.Clip(rg.Type)
	}
	return g, nil
}

// position reads a GeoJSON position, [lon, lat] with an optional altitude.
func position(c []float64) (hub.Point, error) {
	if len(c) < 2 {
		return hub.Point{}, invalid("geometry: a position needs [longitude, latitude], got %d numbers", len(c))
	}
	return hub.Point{Lat: c[1], Lng: c[0]}, nil
}

func polygon(c [][][]float64) ([][]hub.Point, error) {
	if len(c) == 0 {
		return nil, invalid("geometry: a polygon has no rings")
	}
	rings := make([][]hub.Point, len(c))
	for i, rc := range c {
		for _, pc := range rc {
			p, err := position(pc)
			if err != nil {
				return nil, err
			}
			rings[i] = append(rings[i], p)
		}
	}
	return rings, nil
}

// lineReader passes reads through and tells the line of a byte offset in
// what it has passed. It keeps only the bytes not yet counted, so offsets
// asked for must not go backwards.
type lineReader struct {
	r    io.Reader
	buf  []byte // bytes from base on
	base int64  // offset of buf[0]
	line int    // line at base, 1-based
	err  error  // the first error of r other than io.EOF
}

func (l *lineReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.buf = append(l.buf, p[:n]...)
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}

// lineAt returns the 1-based line holding the byte at offset off, or 0
// when off lies before bytes already counted.
func (l *lineReader) lineAt(off int64) int {
	if off < l.base {
		return 0
	}
	k := min(off-l.base, int64(len(l.buf)))
	l.line += bytes.Count(l.buf[:k], []byte{'\n'})
	l.buf = append(l.buf[:0], l.buf[k:]...)
	l.base += k
	return l.line
}

// lineOfNext returns the line of the first byte at or after offset off
// that is not white space or a comma: where the next JSON value starts.
func (l *lineReader) lineOfNext(off int64) int {
	line := l.lineAt(off)
	if line == 0 {
		return 0
	}
	for _, c := range l.buf {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' {
			break
		}
		if c == '\n' {
			line++
		}
	}
	return line
}

var _ source = (*geoSource)(nil)
