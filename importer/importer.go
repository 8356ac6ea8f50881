// Package importer loads districts, committees, residents, pharmacies and
// checkpoints from CSV and GeoJSON files into a city.Service.
//
// An import keeps going past bad rows: each is reported with its line (and,
// for GeoJSON, its feature index) and the reason, which is the message of
// the *hub.Error that refused it, while the good rows land. Rows are
// written in batches (2,000 per service call by default, since the store
// commits each call durably); a batch the service refuses is split until
// the rows at fault are found, so one bad row costs a few extra calls, not
// one call per row.
//
// # CSV
//
// The first line is a header naming the columns, in any order; names are
// matched without regard to case or surrounding spaces. A column the kind
// does not know is an error of the header, as is a missing required column.
// A UTF-8 byte order mark and CRLF line ends are accepted. Rows whose
// fields are all empty are skipped. Values are trimmed of surrounding
// spaces.
//
//	kind         columns (* required in the header)
//	pharmacies   id, name*, phone, address, lat*, lng*, hours,
//	             stock_MASK_ADULT, stock_MASK_CHILD, stock_MASK_N95,
//	             stock_HAND_SANITIZER, stock_TEST_KIT
//	committees   id, code*, name*, district_id, cells | polygon (one at least)
//	districts    id, code, name*, cells | polygon (one at least)
//	residents    id, name*, id_number*, phone, address, lat, lng, cell,
//	             committee_code (lat and lng, or cell, at least)
//	checkpoints  id, name*, kind*, lat*, lng*
//
// Aliases: lon, long and longitude for lng; latitude for lat; mask_adult
// and mask_child for stock_MASK_ADULT and stock_MASK_CHILD; service_periods
// for hours. hours is 21 characters Y (closed) or N (open), Monday to
// Sunday mornings, then afternoons, then evenings (Taiwan's NHIA
// convention). Stock values are whole numbers. cells is a list of
// resolution-9 H3 cells separated by ';'. polygon is "lat lng;lat lng;..."
// (the ring need not be closed); further rings after a '|' are holes. A row
// with an empty id gets a new ID from the service, so importing such a file
// twice registers its rows twice. An id repeated within a file is a bad
// row (the first one counts). id_number is taken in its canonical form
// (privacy.CanonicalID, under the hub's -id-forms): a number with none is a
// bad row, and a spelling of a number already held is a duplicate. Stock
// is a new pharmacy's starting stock:
// importing a pharmacy that exists updates its other fields and leaves its
// stock alone, since stock moves only through restocks and the ledger.
//
// # GeoJSON
//
// A FeatureCollection whose features carry the columns above as
// properties (unknown properties are ignored, so Taiwan's NHIA pharmacy
// file imports as it is: its id stays a string, mask_adult and mask_child
// become stock, service_periods the hours). Pharmacies, residents and
// checkpoints take their location from a Point geometry ([lon, lat]);
// districts and committees take their area from a Polygon (outer ring then
// holes) or a MultiPolygon, filled at resolution 9. A feature without an id
// property uses the feature's own id member.
package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// Kind is the kind of record a file holds.
type Kind string

// The kinds of record the importer reads.
const (
	Pharmacies  Kind = "pharmacies"
	Committees  Kind = "committees"
	Districts   Kind = "districts"
	Residents   Kind = "residents"
	Checkpoints Kind = "checkpoints"
)

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind { return []Kind{Districts, Committees, Pharmacies, Checkpoints, Residents} }

// ParseKind returns the kind named s (case-insensitive) or an EINVALID
// error.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	return "", hub.Errorf(hub.EINVALID, "unknown kind %q: want one of districts, committees, pharmacies, checkpoints, residents", s)
}

// Format is the encoding of a file.
type Format string

// The formats the importer reads.
const (
	CSV     Format = "csv"
	GeoJSON Format = "geojson"
)

// ParseFormat returns the format named s (case-insensitive; "json" means
// GeoJSON) or an EINVALID error.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "geojson", "json":
		return GeoJSON, nil
	}
	return "", hub.Errorf(hub.EINVALID, "unknown format %q: want csv or geojson", s)
}

// FormatOf guesses the format of a file from its name's extension (any
// case): .csv for CSV, .geojson or .json for GeoJSON.
func FormatOf(name string) (Format, error) {
	ext := strings.ToLower(filepath.Ext(name))
	switch ext {
	case ".csv":
		return CSV, nil
	case ".geojson", ".json":
		return GeoJSON, nil
	}
	return "", hub.Errorf(hub.EINVALID, "cannot tell the format of %q from its extension %q: want .csv, .geojson or .json", filepath.Base(name), ext)
}

// Limits and defaults.
const (
	DefaultBatchSize  = 2_000
	MaxBatchSize      = 10_000 // the service's own limit per call
	DefaultMaxBadRows = 1_000
)

// Options tune an import. Zero values take defaults.
type Options struct {
	// BatchSize is the number of rows per service call; default 2,000, at
	// most 10,000. Districts are always written one by one.
	BatchSize int
	// MaxBadRows bounds the bad rows listed in the report (default
	// 1,000); every bad row is counted in Report.Rejected.
	MaxBadRows int
	// Progress, when not nil, is told how far the import has got after
	// each row read: the rows read so far, and the rows expected (Total
	// when given, else an estimate from the share of Size read; 0 while
	// unknown). A command passes a progress bar's Update.
	Progress func(done, total int64)
	// Total is the number of rows expected, when known.
	Total int
	// Size is the input's size in bytes, for the estimate of the rows
	// when Total is not known. By default it is taken from r when r is a
	// regular file or has a Len method (bytes.Reader, strings.Reader).
	Size int64
}

// Report tells what an import did.
type Report struct {
	Kind     Kind
	Format   Format
	Read     int      // data rows read (CSV records after the header, GeoJSON features)
	Imported int      // rows written
	Rejected int      // bad rows, all of them
	Bad      []BadRow // the first Options.MaxBadRows bad rows, in input order
}

// BadRow is a row the import refused.
type BadRow struct {
	// Line is the physical line where the row starts (1-based; a CSV
	// header is line 1), or 0 when unknown.
	Line int
	// Feature is the 0-based index of a GeoJSON feature; -1 for CSV.
	Feature int
	// ID is the row's id, when it has one.
	ID string
	// Code is the application error code (hub.EINVALID, hub.ECONFLICT,
	// hub.ENOTFOUND, ...).
	Code string
	// Reason is the message of the error that refused the row.
	Reason string
}

// String returns "line 7: name is required" for CSV and "feature 3 (line
// 40): ..." for GeoJSON.
func (b BadRow) String() string {
	var where string
	switch {
	case b.Feature >= 0 && b.Line > 0:
		where = fmt.Sprintf("feature %d (line %d)", b.Feature, b.Line)
	case b.Feature >= 0:
		where = fmt.Sprintf("feature %d", b.Feature)
	default:
		where = fmt.Sprintf("line %d", b.Line)
	}
	if b.ID != "" {
		where += fmt.Sprintf(" (id %q)", b.ID)
	}
	return where + ": " + b.Reason
}

// Import reads records of one kind from r and writes them through svc. It
// returns the report of what it did; the error is non-nil only when the
// import could not go on: a bad CSV header, a file that is not GeoJSON, an
// I/O error, or a failure of the store. Rows written before such an error
// stay written, and the report counts them.
func Import(ctx context.Context, svc *city.Service, kind Kind, format Format, r io.Reader, opts Options) (*Report, error) {
	rep := &Report{Kind: kind, Format: format}
	sc, err := schemaOf(kind)
	if err != nil {
		return rep, err
	}
	opts = withDefaults(opts, r)
	cr := &countingReader{r: r}
	var src source
	switch format {
	case CSV:
		src, err = newCSVSource(cr, sc)
	case GeoJSON:
		src, err = newGeoSource(cr, sc)
	default:
		err = hub.Errorf(hub.EINVALID, "unknown format %q: want csv or geojson", format)
	}
	if err != nil {
		return rep, err
	}
	tick := func() {}
	if opts.Progress != nil {
		tick = func() {
			total := int64(opts.Total)
			if total <= 0 && opts.Size > 0 && cr.n > 0 {
				// The rows read so far, scaled to the whole input; the
				// reader runs a buffer ahead, so this errs low, then
				// meets the count at the end.
				total = max(int64(rep.Read), int64(float64(rep.Read)*float64(opts.Size)/float64(cr.n)))
			}
			opts.Progress(int64(rep.Read), total)
		}
	}

	switch kind {
	case Pharmacies:
		return rep, run(ctx, src, rep, opts, tick, pharmacyInput, func(ctx context.Context, ins []city.PharmacyInput) error {
			_, err := svc.UpsertPharmacies(ctx, ins...)
			return err
		})
	case Committees:
		return rep, run(ctx, src, rep, opts, tick, committeeInput, func(ctx context.Context, ins []city.CommitteeInput) error {
			_, err := svc.UpsertCommittees(ctx, ins...)
			return err
		})
	case Districts:
		opts.BatchSize = 1
		return rep, run(ctx, src, rep, opts, tick, districtInput, func(ctx context.Context, ins []city.DistrictInput) error {
			for _, in := range ins {
				if _, err := svc.UpsertDistrict(ctx, in); err != nil {
					return err
				}
			}
			return nil
		})
	case Residents:
		return rep, run(ctx, src, rep, opts, tick, residentInput, func(ctx context.Context, ins []city.ResidentInput) error {
			_, err := svc.RegisterResidents(ctx, ins...)
			return err
		})
	case Checkpoints:
		return rep, run(ctx, src, rep, opts, tick, checkpointInput, func(ctx context.Context, ins []city.CheckpointInput) error {
			_, err := svc.UpsertCheckpoints(ctx, ins...)
			return err
		})
	}
	return rep, hub.Errorf(hub.EINVALID, "unknown kind %q", kind)
}

// ImportFile imports the file at path, its format guessed from its
// extension with FormatOf.
func ImportFile(ctx context.Context, svc *city.Service, kind Kind, path string, opts Options) (*Report, error) {
	format, err := FormatOf(path)
	if err != nil {
		return &Report{Kind: kind}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return &Report{Kind: kind, Format: format}, fmt.Errorf("import %s: %w", kind, err)
	}
	defer f.Close()
	return Import(ctx, svc, kind, format, f, opts)
}

func withDefaults(opts Options, r io.Reader) Options {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, MaxBatchSize)
	if opts.MaxBadRows <= 0 {
		opts.MaxBadRows = DefaultMaxBadRows
	}
	if opts.Size <= 0 {
		opts.Size = sizeOf(r)
	}
	return opts
}

// sizeOf returns the bytes left in r when r can tell, or 0.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// source yields the records of a file; next returns io.EOF at the end and
// any other error when the file cannot be read further.
type source interface {
	next() (*record, error)
}

// record is one row of input, CSV record or GeoJSON feature, with its
// values under their canonical column names.
type record struct {
	line   int               // physical line where the row starts, 0 when unknown
	index  int               // GeoJSON feature index; -1 for CSV
	fields map[string]string // canonical column -> trimmed value
	geom   *geometry         // GeoJSON geometry; nil for CSV or a null geometry
	err    error             // the row could not be read and is bad for this reason
}

func (r *record) get(col string) string { return r.fields[col] }

// item is a row ready for the service.
type item[T any] struct {
	line, index int
	id          string
	in          T
}

// run reads every record of src, turns it into a service input with build
// and writes the inputs in batches with call.
func run[T any](ctx context.Context, src source, rep *Report, opts Options, tick func(), build func(*record) (T, error), call func(context.Context, []T) error) error {
	defer sortBad(rep, opts.MaxBadRows)
	w := &writer[T]{call: call, rep: rep, max: opts.MaxBadRows}
	seen := map[string]int{} // id -> line (or feature index) of its first row
	batch := make([]item[T], 0, opts.BatchSize)
	flush := func() error {
		err := w.write(ctx, batch)
		batch = batch[:0]
		return err
	}
	for {
		rec, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Keep what was good before the file broke off.
			return errors.Join(err, flush())
		}
		rep.Read++
		if rep.Read%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return errors.Join(err, flush())
			}
		}
		tick()
		id := rec.get("id")
		if rec.err != nil {
			w.bad(rec.line, rec.index, id, rec.err)
			continue
		}
		in, err := build(rec)
		if err != nil {
			w.bad(rec.line, rec.index, id, err)
			continue
		}
		if id != "" {
			if first, ok := seen[id]; ok {
				w.bad(rec.line, rec.index, id, hub.Errorf(hub.ECONFLICT, "id %q is repeated: first on %s", id, where(rec.index, first)))
				continue
			}
			seen[id] = rec.line
			if rec.index >= 0 {
				seen[id] = rec.index
			}
		}
		batch = append(batch, item[T]{line: rec.line, index: rec.index, id: id, in: in})
		if len(batch) >= opts.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// sortBad puts the bad rows in input order (rows refused by the service
// are found after rows refused while reading) and keeps the first max.
func sortBad(rep *Report, max int) {
	slices.SortStableFunc(rep.Bad, func(a, b BadRow) int {
		return cmp.Or(cmp.Compare(a.Feature, b.Feature), cmp.Compare(a.Line, b.Line))
	})
	if len(rep.Bad) > max {
		rep.Bad = slices.Clip(rep.Bad[:max])
	}
}

func where(index, first int) string {
	if index >= 0 {
		return fmt.Sprintf("feature %d", first)
	}
	return fmt.Sprintf("line %d", first)
}

// writer writes batches and sorts out the rows of a refused batch.
type writer[T any] struct {
	call func(context.Context, []T) error
	rep  *Report
	max  int
}

// bisectBelow is the batch size under which a refused batch is retried row
// by row rather than split in halves.
const bisectBelow = 8

// write writes items in one call. When the service refuses the batch with
// an application error, the batch is split in halves (small ones row by
// row), first half first, until the rows at fault stand alone: they are
// reported and every other row lands, in input order, as if each had been
// written alone. Any other error (the store failing, ctx ending) is
// returned.
func (w *writer[T]) write(ctx context.Context, items []item[T]) error {
	if len(items) == 0 {
		return nil
	}
	ins := make([]T, len(items))
	for i, it := range items {
		ins[i] = it.in
	}
	err := w.call(ctx, ins)
	switch {
	case err == nil:
		w.rep.Imported += len(items)
		return nil
	case hub.ErrorCode(err) == hub.EINTERNAL:
		return err
	case len(items) == 1:
		w.bad(items[0].line, items[0].index, items[0].id, err)
		return nil
	case len(items) < bisectBelow:
		for i := range items {
			if err := w.write(ctx, items[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	mid := len(items) / 2
	if err := w.write(ctx, items[:mid]); err != nil {
		return err
	}
	return w.write(ctx, items[mid:])
}

func (w *writer[T]) bad(line, index int, id string, err error) {
	w.rep.Rejected++
	w.rep.Bad = append(w.rep.Bad, BadRow{Line: line, Feature: index, ID: id, Code: hub.ErrorCode(err), Reason: hub.ErrorMessage(err)})
	if len(w.rep.Bad) >= 2*w.max {
		// Rows are found a little out of order; keep the earliest.
		sortBad(w.rep, w.max)
	}
}
