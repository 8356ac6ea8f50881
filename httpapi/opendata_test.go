package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/opendata"
)

// openSource is an opendata.Source of n pharmacies with empty ledgers.
type openSource struct{ ps []*hub.Pharmacy }

func (s openSource) Pharmacies(context.Context) ([]*hub.Pharmacy, error) { return s.ps, nil }
func (s openSource) StockLedger(context.Context, string, uint64, int) ([]hub.StockEntry, error) {
	return nil, nil
}

func newOpenSource(n int) openSource {
	var s openSource
	at := time.Date(2020, 2, 14, 8, 55, 35, 0, time.UTC)
	for i := range n {
		s.ps = append(s.ps, &hub.Pharmacy{ID: fmt.Sprintf("59%08d", i), Name: "藥局", Address: "台北市", Phone: "(02)1",
			Location: hub.Point{Lat: 25, Lng: 121.5}, Stock: map[hub.SKU]int{hub.MaskAdult: i}, UpdatedAt: at})
	}
	return s
}

// TestOpenDataHandler: 200 with the validators, 304 for the current ETag
// (any method), HEAD without a body, any origin allowed.
func TestOpenDataHandler(t *testing.T) {
	f := opendata.New(newOpenSource(3), nil)
	h := httpapi.OpenData(f.CSV, "text/csv; charset=utf-8", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/open/maskdata.csv", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" || rec.Header().Get("Cache-Control") != "public, max-age=30" ||
		rec.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.HasPrefix(rec.Body.String(), opendata.BOM+opendata.Header) {
		t.Fatalf("GET: %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
	tests := []struct {
		name, method, inm string
		want              int
		body              bool
	}{
		{"current ETag", http.MethodGet, etag, http.StatusNotModified, false},
		{"one of several", http.MethodGet, `"x", ` + etag, http.StatusNotModified, false},
		{"another ETag", http.MethodGet, `"other"`, http.StatusOK, true},
		{"weak form of the ETag", http.MethodGet, "W/" + etag, http.StatusNotModified, false},
		{"HEAD", http.MethodHead, "", http.StatusOK, false},
		{"HEAD, current ETag", http.MethodHead, etag, http.StatusNotModified, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/open/maskdata.csv", nil)
			if tt.inm != "" {
				req.Header.Set("If-None-Match", tt.inm)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want || (rec.Body.Len() > 0) != tt.body || rec.Header().Get("ETag") != etag {
				t.Errorf("%d with %d bytes, ETag %q; want %d, body %v", rec.Code, rec.Body.Len(), rec.Header().Get("ETag"), tt.want, tt.body)
			}
		})
	}
}

// BenchmarkOpenDataGET measures one map client's poll of maskdata.csv for
// 6,000 pharmacies: answered 304 from the cache, served whole from the
// cache, and rendered again for each request (what every poll would cost
// without the cache: the baseline).
func BenchmarkOpenDataGET(b *testing.B) {
	src := newOpenSource(6000)
	bus := broker.New(broker.Options{})
	defer bus.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := opendata.New(src, nil)
	if err := watched.Watch(ctx, bus); err != nil {
		b.Fatal(err)
	}
	cached := httpapi.OpenData(watched.CSV, "text/csv; charset=utf-8", nil)
	rendering := httpapi.OpenData(opendata.New(src, nil).CSV, "text/csv; charset=utf-8", nil) // not watched: renders each read
	rec := httptest.NewRecorder()
	cached.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/open/maskdata.csv", nil))
	etag := rec.Header().Get("ETag")
	get := httptest.NewRequest(http.MethodGet, "/open/maskdata.csv", nil)
	conditional := httptest.NewRequest(http.MethodGet, "/open/maskdata.csv", nil)
	conditional.Header.Set("If-None-Match", etag)
	run := func(h http.Handler, req *http.Request, want int) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != want {
					b.Fatalf("status %d, want %d", rec.Code, want)
				}
			}
		}
	}
	b.Run("cached-304", run(cached, conditional, http.StatusNotModified))
	b.Run("cached-200", run(cached, get, http.StatusOK))
	b.Run("render-200", run(rendering, get, http.StatusOK))
}
