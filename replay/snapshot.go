package replay

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// taiwan is the zone of the feed's source data time (UTC+8, no daylight
// saving since 1979), fixed so that no time zone database is needed.
var taiwan = time.FixedZone("CST", 8*60*60)

// The columns of the NHIA feed that a replay reads.
const (
	colID    = "醫事機構代碼"  // institution code
	colAdult = "成人口罩剩餘數" // adult masks left
	colChild = "兒童口罩剩餘數" // child masks left
	colTime  = "來源資料時間"  // source data time, YYYY/MM/DD HH:MM:SS, Taiwan time
)

// Snapshot is one version of Taiwan's national mask-stock feed: the stock
// of every institution listed, at one moment.
type Snapshot struct {
	Name string    // the file's base name
	At   time.Time // the source data time of its rows
	Rows []Row     // in file order
}

// Row is one institution's stock in a snapshot. Stock is indexed like
// SKUs: adult masks, then child masks.
type Row struct {
	ID    string // institution code: a string, leading zeros and letters kept
	Stock [2]int
}

// LoadSnapshots reads every maskdata_*.csv file in dir and returns the
// snapshots in time order. Two snapshots of the same time, or a file whose
// rows disagree on the time, are errors.
func LoadSnapshots(dir string) ([]Snapshot, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "maskdata_*.csv"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no maskdata_*.csv snapshots in %s", dir)
	}
	out := make([]Snapshot, 0, len(paths))
	for _, p := range paths {
		s, err := ReadSnapshotFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return a.At.Compare(b.At) })
	for i := 1; i < len(out); i++ {
		if out[i].At.Equal(out[i-1].At) {
			return nil, fmt.Errorf("snapshots %s and %s hold the same time %s", out[i-1].Name, out[i].Name, out[i].At.Format(time.DateTime))
		}
	}
	return out, nil
}

// ReadSnapshotFile reads one snapshot file.
func ReadSnapshotFile(path string) (Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return Snapshot{}, err
	}
	defer f.Close()
	s, err := ReadSnapshot(f)
	s.Name = filepath.Base(path)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Name, err)
	}
	return s, nil
}

// ReadSnapshot reads a snapshot in the feed's CSV form: UTF-8 with or
// without a byte order mark, LF or CRLF line ends, a header naming the
// columns. An institution listed twice, a stock that is not a whole
// number of zero or more, a time that is not the feed's form, or rows of
// different times are errors naming the line.
func ReadSnapshot(r io.Reader) (Snapshot, error) {
	var s Snapshot
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return s, errors.New("empty file: no header")
	}
	if err != nil {
		return s, err
	}
	col := map[string]int{}
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF")
		}
		col[strings.TrimSpace(name)] = i
	}
	var idx [4]int
	for i, name := range []string{colID, colAdult, colChild, colTime} {
		j, ok := col[name]
		if !ok {
			return s, fmt.Errorf("header: no column %s", name)
		}
		idx[i] = j
	}
	seen := map[string]int{} // institution -> line
	var stamp string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, err
		}
		line, _ := cr.FieldPos(0)
		id := strings.TrimSpace(rec[idx[0]])
		if id == "" {
			return s, fmt.Errorf("line %d: no institution code", line)
		}
		if first, ok := seen[id]; ok {
			return s, fmt.Errorf("line %d: institution %s listed again (first on line %d)", line, id, first)
		}
		seen[id] = line
		row := Row{ID: id}
		for k, c := range idx[1:3] {
			n, err := strconv.Atoi(strings.TrimSpace(rec[c]))
			if err != nil || n < 0 {
				return s, fmt.Errorf("line %d: institution %s: stock %q is not a whole number of zero or more", line, id, rec[c])
			}
			row.Stock[k] = n
		}
		switch ts := strings.TrimSpace(rec[idx[3]]); {
		case stamp == "":
			at, err := time.ParseInLocation("2006/01/02 15:04:05", ts, taiwan)
			if err != nil {
				return s, fmt.Errorf("line %d: source data time %q: want YYYY/MM/DD HH:MM:SS", line, ts)
			}
			stamp, s.At = ts, at
		case ts != stamp:
			return s, fmt.Errorf("line %d: source data time %s differs from the first row's %s", line, ts, stamp)
		}
		s.Rows = append(s.Rows, row)
	}
	if len(s.Rows) == 0 {
		return s, errors.New("no rows")
	}
	return s, nil
}
