package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"

	"github.com/gridhub/gridhub/opendata"
)

// The open-data routes: public, anonymous and cacheable, in the formats
// of Taiwan's 2020 mask feed and the community mask map (see package
// opendata).
const (
	MaskDataRoute   = "GET /open/maskdata.csv"
	PharmaciesRoute = "GET /open/pharmacies.geojson"
)

// OpenDataMaxAge is how long a client or a proxy may reuse an open-data
// answer without asking again.
const OpenDataMaxAge = "public, max-age=30"

// mountOpenData mounts the open-data routes of feed (none when nil) with
// mount, as New mounts the QR images (behind admission and the
// per-address rate limit). GET serves HEAD too.
func mountOpenData(feed *opendata.Feed, log *slog.Logger, mount func(pattern, route string, h http.Handler)) {
	if feed == nil {
		return
	}
	mount(MaskDataRoute, "/open/maskdata.csv", OpenData(feed.CSV, "text/csv; charset=utf-8", log))
	mount(PharmaciesRoute, "/open/pharmacies.geojson", OpenData(feed.GeoJSON, "application/geo+json", log))
}

// OpenData serves one open-data body: rendered once per change by the
// feed, sent with a strong ETag and Cache-Control, answered 304 Not
// Modified when If-None-Match names the current ETag, and to HEAD without
// the body. Any origin may read it (it is public and needs no
// credentials).
func OpenData(body func(ctx context.Context) (opendata.Body, error), contentType string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := body(r.Context())
		if err != nil {
			log.Error("open data", "path", r.URL.Path, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("ETag", b.ETag)
		h.Set("Cache-Control", OpenDataMaxAge)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		// ServeContent answers If-None-Match (304), HEAD and ranges.
		http.ServeContent(w, r, "", b.Built, bytes.NewReader(b.Bytes))
	})
}
