package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"
)

// dashboardFS is the embedded dashboard directory with the vendored
// client replaced (or removed, when vendor is nil).
func dashboardFS(t *testing.T, vendor []byte) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	for _, name := range []string{dashboardPage, dashboardI18N, dashboardJS, dashboardCSS} {
		b, err := fs.ReadFile(embeddedDashboardFS(), name)
		if err != nil {
			t.Fatalf("embedded dashboard: %v", err)
		}
		m[name] = &fstest.MapFile{Data: b}
	}
	if vendor != nil {
		m[dashboardGraphQL] = &fstest.MapFile{Data: vendor}
	}
	return m
}

// vendoredClient returns graphql-ws's browser build as `make assets` copies
// it, or skips the test.
func vendoredClient(t *testing.T) []byte {
	t.Helper()
	b, err := fs.ReadFile(embeddedDashboardFS(), dashboardGraphQL)
	if err != nil {
		b, err = os.ReadFile("../web/node_modules/graphql-ws/umd/graphql-ws.min.js")
	}
	if err != nil {
		t.Skip("graphql-ws's browser build is missing: run make assets")
	}
	return b
}

func serveDashboard(t *testing.T, fsys fs.FS) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h := newDashboard(fsys, "/graphql")
	mux.Handle("GET "+DashboardPath, h)
	mux.Handle(DashboardPath+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestDashboardServesOnlyLocalFiles checks that the page loads only files
// of its own origin, each with an integrity hash that matches what is
// served, with a Content-Security-Policy that keeps it so.
func TestDashboardServesOnlyLocalFiles(t *testing.T) {
	srv := serveDashboard(t, dashboardFS(t, vendoredClient(t)))
	for _, path := range []string{DashboardPath, DashboardPath + "/"} {
		resp, body := get(t, srv.URL+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		page := string(body)
		for _, h := range []string{"Content-Security-Policy", "Referrer-Policy", "X-Frame-Options"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", path, h)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		// data: is the page's empty icon, which fetches nothing.
		checkLocalOnly(t, strings.ReplaceAll(page, `href="data:,"`, ""))
		if strings.Contains(page, "gridhub-live-problem") {
			t.Errorf("the page reports a live-update problem with the client present")
		}
		refs := parseAssetRefs(t, page)
		if len(refs) != 4 {
			t.Fatalf("the page loads %d files with integrity hashes, want 4 (style, graphql-ws, i18n, dashboard): %v", len(refs), refs)
		}
		for _, ref := range refs {
			resp, body := get(t, srv.URL+ref.url, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %d", ref.url, resp.StatusCode)
				continue
			}
			sum := sha256.Sum256(body)
			if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != ref.integrity {
				t.Errorf("%s: served content hashes to %s, the page expects %s", ref.url, got, ref.integrity)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != immutableCache {
				t.Errorf("%s: Cache-Control %q, want %q", ref.url, cc, immutableCache)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
				t.Errorf("%s: Content-Type %q", ref.url, ct)
			}
		}
	}
}

// TestDashboardWithoutLiveClient checks that the page still serves, and
// says why it will not be live, when `make assets` has not copied
// graphql-ws, or copied another version.
func TestDashboardWithoutLiveClient(t *testing.T) {
	tests := []struct {
		name   string
		vendor []byte
		want   string
	}{
		{"missing", nil, "asset missing"},
		{"another version", []byte("window.graphqlWs = {};"), "content hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveDashboard(t, dashboardFS(t, tt.vendor))
			resp, body := get(t, srv.URL+DashboardPath, nil)
			page := string(body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if strings.Contains(page, `src="/dashboard/vendor/`) {
				t.Errorf("the page loads a graphql-ws client it could not verify")
			}
			if !strings.Contains(page, `name="gridhub-live-problem"`) || !strings.Contains(page, tt.want) || !strings.Contains(page, "make assets") {
				t.Errorf("the page does not say why it is not live (want %q):\n%s", tt.want, page)
			}
			if resp, _ := get(t, srv.URL+DashboardPath+"/"+dashboardGraphQL, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET the unverified client: %d, want 404", resp.StatusCode)
			}
		})
	}
}

func TestDashboardMissingOwnFile(t *testing.T) {
	fsys := dashboardFS(t, nil).(fstest.MapFS)
	delete(fsys, dashboardJS)
	srv := serveDashboard(t, fsys)
	resp, body := get(t, srv.URL+DashboardPath, nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "dashboard.js") {
		t.Errorf("without dashboard.js: %d %s", resp.StatusCode, body)
	}
}

func TestDashboardRejects(t *testing.T) {
	srv := serveDashboard(t, dashboardFS(t, nil))
	for _, path := range []string{"/dashboard/nope.js", "/dashboard/../handler.go", "/dashboard/index.htm", "/dashboardx"} {
		if resp, _ := get(t, srv.URL+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	for _, path := range []string{DashboardPath, DashboardPath + "/" + dashboardJS} {
		resp, err := http.Post(srv.URL+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, resp.StatusCode)
		}
	}
}

// TestDashboardRoute checks that the hub's handler serves the dashboard.
func TestDashboardRoute(t *testing.T) {
	mux := http.NewServeMux()
	mountDashboard(mux, NewMetrics(prometheus.NewRegistry()), "/graphql")
	for _, path := range []string{"/dashboard", "/dashboard/", "/dashboard/dashboard.css"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}
}
