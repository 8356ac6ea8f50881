package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/opendata"
)

// getOpen fetches an open-data path anonymously with method and, when
// etag is set, If-None-Match.
func getOpen(t *testing.T, h *hubProc, method, path, etag string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.url+path, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestOpenDataAfterReplay replays the 2020-02-14 feed into a hub's store,
// serves it, and reads /open/maskdata.csv and /open/pharmacies.geojson
// back anonymously: every located pharmacy's row holds the last figures
// fed, in the feed's own layout; the GeoJSON has the community map's
// property names; ETag, 304, HEAD and a change behave.
func TestOpenDataAfterReplay(t *testing.T) {
	const data = "../../shared/data"
	if _, err := os.Stat(filepath.Join(data, "tw-maskdata")); err != nil {
		t.Skip("the shared data is missing: ", err)
	}
	dir := t.TempDir()
	start := time.Now().Add(-time.Second)
	var out, errOut bytes.Buffer
	if err := app.Run(context.Background(), []string{"replay", "-data", dir, "-data-dir", data, "-quiet", "-secret", "test-secret-0123456789"},
		&out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	// The last figures of each institution: of the last snapshot that
	// lists it.
	files, _ := filepath.Glob(filepath.Join(data, "tw-maskdata/2020-02-14/*.csv"))
	slices.Sort(files)
	last := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimPrefix(string(b), opendata.BOM), "\n")
		for _, l := range lines[1:] {
			if l = strings.TrimSuffix(l, "\r"); l != "" {
				fs := strings.Split(l, ",")
				last[fs[0]] = fs
			}
		}
	}
	var geo struct {
		Features []struct {
			Properties map[string]any
		}
	}
	gb, err := os.ReadFile(filepath.Join(data, "tw-pharmacies.geojson"))
	if err != nil || json.Unmarshal(gb, &geo) != nil {
		t.Fatalf("read the GeoJSON: %v", err)
	}
	located := map[string]map[string]any{}
	for _, f := range geo.Features {
		located[f.Properties["id"].(string)] = f.Properties
	}

	h := startHub(t, dir)
	resp, body := getOpen(t, h, http.MethodGet, "/open/maskdata.csv", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET maskdata.csv: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=30" {
		t.Errorf("Cache-Control %q", got)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q, want a strong one", etag)
	}
	// The layout: BOM, the header, CRLF lines, 7 unquoted fields.
	if !bytes.HasPrefix(body, []byte(opendata.BOM+opendata.Header+"\r\n")) || !bytes.HasSuffix(body, []byte("\r\n")) {
		t.Fatalf("layout: %q", body[:min(len(body), 200)])
	}
	rows := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(body), opendata.BOM), "\r\n"), "\r\n")[1:]
	var codes []string
	checked := 0
	for _, r := range rows {
		if strings.ContainsAny(r, "\n\"") {
			t.Fatalf("row %q holds a newline or a quote", r)
		}
		fs := strings.Split(r, ",")
		if len(fs) != 7 {
			t.Fatalf("row %q has %d fields", r, len(fs))
		}
		codes = append(codes, fs[0])
		at, err := time.ParseInLocation(opendata.TimeLayout, fs[6], opendata.Taipei())
		if err != nil || at.Before(start.Truncate(time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("row %s: time %q is not the replay's last change (%v)", fs[0], fs[6], err)
		}
		p, ok := located[fs[0]]
		if !ok {
			t.Errorf("row %s is no located pharmacy", fs[0])
			continue
		}
		if fs[1] != opendata.Safe(p["name"].(string)) || fs[2] != opendata.Safe(p["address"].(string)) || fs[3] != opendata.Safe(p["phone"].(string)) {
			t.Errorf("row %s: %q, want the pharmacy's name, address and phone %v %v %v", fs[0], r, p["name"], p["address"], p["phone"])
		}
		if fed, ok := last[fs[0]]; ok {
			checked++
			if fs[4] != fed[4] || fs[5] != fed[5] {
				t.Errorf("row %s: adult %s child %s, the feed's last figures %s %s", fs[0], fs[4], fs[5], fed[4], fed[5])
			}
		}
	}
	if !slices.IsSorted(codes) || len(codes) != len(located) {
		t.Errorf("%d rows (sorted: %v), want the %d located pharmacies in code order", len(codes), slices.IsSorted(codes), len(located))
	}
	if checked != 294 {
		t.Errorf("%d rows compared with the feed, want the 294 located pharmacies it lists", checked)
	}

	// Conditional GET, HEAD.
	if resp, b := getOpen(t, h, http.MethodGet, "/open/maskdata.csv", etag); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match: %d with %d bytes, want 304 and none", resp.StatusCode, len(b))
	}
	if resp, b := getOpen(t, h, http.MethodHead, "/open/maskdata.csv", ""); resp.StatusCode != http.StatusOK || len(b) != 0 ||
		resp.Header.Get("ETag") != etag || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("HEAD: %d, %d bytes, ETag %q, length %q", resp.StatusCode, len(b), resp.Header.Get("ETag"), resp.Header.Get("Content-Length"))
	}

	// The GeoJSON: the community file's property names, and every stock.
	resp, gj := getOpen(t, h, http.MethodGet, "/open/pharmacies.geojson", "")
	var fc struct {
		Type     string
		Features []struct {
			Type       string
			Properties map[string]any
			Geometry   struct {
				Type        string
				Coordinates []float64
			}
		}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(gj, &fc) != nil || fc.Type != "FeatureCollection" || len(fc.Features) != len(located) {
		t.Fatalf("GeoJSON: %d, %d features, type %q", resp.StatusCode, len(fc.Features), fc.Type)
	}
	names := []string{"id", "name", "phone", "address", "mask_adult", "mask_child", "updated", "available", "note", "custom_note", "website", "county", "town", "cunli", "service_periods", "stock"}
	for _, f := range fc.Features {
		for _, n := range names {
			if _, ok := f.Properties[n]; !ok {
				t.Fatalf("feature %v lacks %q", f.Properties["id"], n)
			}
		}
		stock := f.Properties["stock"].(map[string]any)
		if stock["MASK_ADULT"] != f.Properties["mask_adult"] || stock["MASK_CHILD"] != f.Properties["mask_child"] || len(stock) != 5 {
			t.Fatalf("feature %v: stock %v", f.Properties["id"], stock)
		}
		if f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 {
			t.Fatalf("feature %v: geometry %+v", f.Properties["id"], f.Geometry)
		}
	}

	// A restock changes the row and the ETag; the old ETag gets the body.
	admin := h.as(t, "ADMIN", "")
	code := codes[0]
	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 7) { id } }`, map[string]any{"p": code}, nil)
	want, _ := strconv.Atoi(strings.Split(rows[0], ",")[4])
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, b := getOpen(t, h, http.MethodGet, "/open/maskdata.csv", etag)
		if resp.StatusCode == http.StatusOK {
			row := strings.Split(strings.Split(string(b), "\r\n")[1], ",")
			if row[0] != code || row[4] != strconv.Itoa(want+7) || resp.Header.Get("ETag") == etag {
				t.Fatalf("after the restock: row %v, ETag %q (was %q), want %d adult masks", row, resp.Header.Get("ETag"), etag, want+7)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restock never reached the feed: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
