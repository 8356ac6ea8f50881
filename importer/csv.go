package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/hub"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// skipBOM returns a reader of r without a leading UTF-8 byte order mark.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(len(bom))
	}
	return br
}

// csvSource reads the records of a CSV file with a header.
type csvSource struct {
	cr   *csv.Reader
	cols []string // canonical column of each field
}

func newCSVSource(r io.Reader, sc schema) (*csvSource, error) {
	cr := csv.NewReader(skipBOM(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, invalid("the file is empty: want a header line naming the columns")
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, invalid("line %d: header: %v", pe.StartLine, pe.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	cols, err := parseHeader(header, sc)
	if err != nil {
		return nil, err
	}
	return &csvSource{cr: cr, cols: cols}, nil
}

// parseHeader maps the header's names to canonical columns and checks them
// against the kind's schema.
func parseHeader(header []string, sc schema) ([]string, error) {
	cols := make([]string, len(header))
	at := map[string]int{}
	for i, h := range header {
		c := canonical(h)
		switch {
		case c == "":
			return nil, invalid("line 1: header: column %d has no name", i+1)
		case !sc.known(c):
			return nil, invalid("line 1: header: unknown column %q for %s (known: %s)", hub.Clip(h), sc.kind, knownList(sc))
		}
		if j, dup := at[c]; dup {
			return nil, invalid("line 1: header: columns %d (%q) and %d (%q) are both %s", j+1, header[j], i+1, h, c)
		}
		at[c] = i
		cols[i] = c
	}
	for _, c := range sc.required {
		if _, ok := at[c]; !ok {
			return nil, invalid("line 1: header: required column %q is missing for %s", c, sc.kind)
		}
	}
	if len(sc.anyOf) > 0 {
		ok := slices.ContainsFunc(sc.anyOf, func(group []string) bool {
			return !slices.ContainsFunc(group, func(c string) bool { _, ok := at[c]; return !ok })
		})
		if !ok {
			var alts []string
			for _, g := range sc.anyOf {
				alts = append(alts, strings.Join(g, " and "))
			}
			return nil, invalid("line 1: header: %s need the column(s) %s", sc.kind, strings.Join(alts, ", or "))
		}
	}
	return cols, nil
}

// knownList names the known columns as the documentation spells them.
func knownList(sc schema) string {
	names := make([]string, len(sc.columns))
	for i, c := range sc.columns {
		if sku, ok := strings.CutPrefix(c, "stock_"); ok {
			c = "stock_" + strings.ToUpper(sku)
		}
		names[i] = c
	}
	return strings.Join(names, ", ")
}

func (s *csvSource) next() (*record, error) {
	for {
		fields, err := s.cr.Read()
		if err == io.EOF {
			return nil, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// The reader resumes on the next line, so the row alone is bad.
			msg := pe.Err.Error()
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				msg = fmt.Sprintf("want %d fields as in the header, got %d", len(s.cols), len(fields))
			}
			return &record{line: pe.StartLine, index: -1, err: invalid("malformed CSV: %s", msg)}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := s.cr.FieldPos(0)
		rec := &record{line: line, index: -1, fields: make(map[string]string, len(fields))}
		empty := true
		for i, f := range fields {
			f = strings.TrimSpace(f)
			if f != "" {
				empty = false
			}
			rec.fields[s.cols[i]] = f
		}
		if empty {
			continue // a row of bare separators, as spreadsheets leave behind
		}
		return rec, nil
	}
}

var _ source = (*csvSource)(nil)
