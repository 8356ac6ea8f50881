package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// readAll reads every record of a source and builds the service input of
// each readable one, as Import does, without a service. It fails the test
// on a line number that goes backwards.
func readAll(t *testing.T, kind Kind, src source) (n int, err error) {
	t.Helper()
	last := 0
	for {
		rec, err := src.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("a file error is not EINVALID: %v", err)
			}
			return n, err
		}
		n++
		if rec.line != 0 && rec.line < last {
			t.Fatalf("record %d: line %d after line %d", n, rec.line, last)
		}
		last = max(last, rec.line)
		if rec.err != nil {
			checkRowErr(t, rec.err)
			continue
		}
		var berr error
		switch kind {
		case Pharmacies:
			_, berr = pharmacyInput(rec)
		case Committees:
			_, berr = committeeInput(rec)
		case Districts:
			_, berr = districtInput(rec)
		case Residents:
			_, berr = residentInput(rec)
		case Checkpoints:
			_, berr = checkpointInput(rec)
		}
		if berr != nil {
			checkRowErr(t, berr)
		}
	}
}

func checkRowErr(t *testing.T, err error) {
	t.Helper()
	var he *hub.Error
	if !errors.As(err, &he) || he.Code != hub.EINVALID || he.Message == "" {
		t.Fatalf("a bad row's error is not an EINVALID *hub.Error: %#v", err)
	}
}

// seeds adds every testdata file with the given extension to the corpus,
// once per kind.
func seeds(f *testing.F, ext string) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"+ext))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds *%s in testdata: %v", ext, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for k := range Kinds() {
			f.Add(uint8(k), b)
		}
	}
}

func FuzzCSV(f *testing.F) {
	seeds(f, ".csv")
	f.Add(uint8(0), []byte("\xef\xbb\xbfname,polygon\r\nx,\"1 2;3 4;5 6|7\"\r\n"))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := Kinds()[int(k)%len(Kinds())]
		sc, err := schemaOf(kind)
		if err != nil {
			t.Fatal(err)
		}
		src, err := newCSVSource(bytes.NewReader(data), sc)
		if err != nil {
			checkRowErr(t, err)
			return
		}
		_, _ = readAll(t, kind, src)
	})
}

func FuzzGeoJSON(f *testing.F) {
	seeds(f, ".geojson")
	f.Add(uint8(1), []byte(`{"features":[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[1,2],[3,4]]]]}}]}`))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := Kinds()[int(k)%len(Kinds())]
		sc, err := schemaOf(kind)
		if err != nil {
			t.Fatal(err)
		}
		src, err := newGeoSource(bytes.NewReader(data), sc)
		if err != nil {
			checkRowErr(t, err)
			return
		}
		_, _ = readAll(t, kind, src)
	})
}

func TestGeoJSONLines(t *testing.T) {
	give := "\ufeff{\n  \"features\": [\n" +
		"    {\"type\": \"Feature\", \"properties\": {\"name\": \"a\"}, \"geometry\": null},\n" + // 3
		"\n" +
		"    {\"type\": \"Feature\",\n" + // 5
		"     \"properties\": {\"name\": \"b\"}, \"geometry\": null}, {\"type\": \"Feature\", \"geometry\": null}\n" + // 6
		"  ],\n  \"type\": \"FeatureCollection\"\n}\n"
	sc, _ := schemaOf(Checkpoints)
	src, err := newGeoSource(strings.NewReader(give), sc)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for {
		rec, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, rec.line)
	}
	if want := []int{3, 5, 6}; !equal(lines, want) {
		t.Errorf("feature lines = %v, want %v", lines, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWriterBisects checks that a refused batch is split until its bad
// rows stand alone, that every good row lands in order, and that this
// costs far fewer calls than a retry row by row.
func TestWriterBisects(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		bad       []int
		wantCalls int // at most
	}{
		{"none", 2000, nil, 1},
		{"one", 2000, []int{1234}, 30},
		{"three", 2000, []int{0, 999, 1999}, 90},
		{"all", 20, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 2 * 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isBad := map[int]bool{}
			for _, i := range tt.bad {
				isBad[i] = true
			}
			var landed []int
			calls := 0
			rep := &Report{}
			w := &writer[int]{rep: rep, max: 100, call: func(_ context.Context, ins []int) error {
				calls++
				for _, in := range ins {
					if isBad[in] {
						return hub.Errorf(hub.EINVALID, "row %d is bad", in)
					}
				}
				landed = append(landed, ins...)
				return nil
			}}
			items := make([]item[int], tt.n)
			for i := range items {
				items[i] = item[int]{line: i + 2, index: -1, in: i}
			}
			if err := w.write(context.Background(), items); err != nil {
				t.Fatal(err)
			}
			if rep.Imported != tt.n-len(tt.bad) || len(landed) != rep.Imported || rep.Rejected != len(tt.bad) {
				t.Fatalf("imported %d (landed %d), rejected %d", rep.Imported, len(landed), rep.Rejected)
			}
			for i := 1; i < len(landed); i++ {
				if landed[i] <= landed[i-1] {
					t.Fatalf("rows landed out of order: %d after %d", landed[i], landed[i-1])
				}
			}
			for i, b := range rep.Bad {
				if b.Line != tt.bad[i]+2 {
					t.Errorf("bad row %d on line %d, want %d", i, b.Line, tt.bad[i]+2)
				}
			}
			if calls > tt.wantCalls {
				t.Errorf("%d calls, want at most %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestWriterStopsOnInternalError(t *testing.T) {
	rep := &Report{}
	boom := errors.New("disk on fire")
	w := &writer[int]{rep: rep, max: 10, call: func(context.Context, []int) error { return boom }}
	err := w.write(context.Background(), []item[int]{{in: 1}, {in: 2}})
	if !errors.Is(err, boom) || rep.Rejected != 0 {
		t.Errorf("err = %v, rejected %d; want the store's error and no bad rows", err, rep.Rejected)
	}
}

func TestMaxBadRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,kind,lat,lng\n")
	for range 50 {
		b.WriteString("x,STATION,north,east\n")
	}
	rep, err := Import(context.Background(), nil, Checkpoints, CSV, strings.NewReader(b.String()), Options{MaxBadRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 50 || len(rep.Bad) != 7 || rep.Bad[0].Line != 2 || rep.Bad[6].Line != 8 {
		t.Errorf("rejected %d, listed %d: %v", rep.Rejected, len(rep.Bad), rep.Bad)
	}
}
