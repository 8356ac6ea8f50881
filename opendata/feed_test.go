package opendata_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/opendata"
)

// TestCSVReproducesTheFeed renders every 2020-02-14 snapshot of the NHIA
// feed from its own rows and compares the bytes: BOM, header, field order,
// numbers, time format and row order are the feed's own. The feed's later
// versions end lines with CRLF, as the hub does; the first five with LF,
// so they are compared with their line ends made CRLF.
func TestCSVReproducesTheFeed(t *testing.T) {
	files, _ := filepath.Glob("../../shared/data/tw-maskdata/2020-02-14/*.csv")
	if len(files) == 0 {
		t.Skip("the shared data is missing (../shared/data)")
	}
	crlf := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(want, []byte("\r\n")) {
				crlf++
			} else {
				want = bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
			}
			lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(want), opendata.BOM), "\r\n"), "\r\n")
			if lines[0] != opendata.Header {
				t.Fatalf("header %q", lines[0])
			}
			var ps []*hub.Pharmacy
			changed := map[string]time.Time{}
			for _, l := range lines[1:] {
				fs := strings.Split(l, ",")
				if len(fs) != 7 {
					t.Fatalf("row %q", l)
				}
				adult, err1 := strconv.Atoi(fs[4])
				child, err2 := strconv.Atoi(fs[5])
				at, err3 := time.ParseInLocation(opendata.TimeLayout, fs[6], opendata.Taipei())
				if err1 != nil || err2 != nil || err3 != nil {
					t.Fatalf("row %q", l)
				}
				ps = append(ps, &hub.Pharmacy{ID: fs[0], Name: fs[1], Address: fs[2], Phone: fs[3],
					Stock: map[hub.SKU]int{hub.MaskAdult: adult, hub.MaskChild: child}})
				changed[fs[0]] = at.UTC() // the hub keeps UTC; the feed shows Taiwan time
			}
			got := opendata.RenderCSV(ps, changed)
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("differs at byte %d: got %q, want %q", i, got[i:min(len(got), i+80)], want[i:min(len(want), i+80)])
			}
		})
	}
	if crlf != 7 {
		t.Errorf("%d snapshots with CRLF, want 7 (the data's README)", crlf)
	}
}

// TestSafe: free text never breaks an unquoted row, and what the feed
// itself writes passes unchanged.
func TestSafe(t *testing.T) {
	tests := []struct{ give, want string }{
		{"台北市大同區民生西路１２８，１３０號", "台北市大同區民生西路１２８，１３０號"},
		{"No. 7, Lane 3", "No. 7， Lane 3"},
		{`"Best" Pharmacy`, "＂Best＂ Pharmacy"},
		{"a\r\nb\tc\x00d\u2028e\u0085f", "a  b c d e f"},
		{"(02)25558886", "(02)25558886"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := opendata.Safe(tt.give); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
