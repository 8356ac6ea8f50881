package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/99designs/gqlgen/graphql/playground"
)

var (
	// assetRefPattern matches the src or href of a script or link element
	// together with the integrity attribute that follows it in gqlgen's
	// template.
	assetRefPattern = regexp.MustCompile(`(?s)(?:src|href)="([^"]*)"\s*integrity="([^"]*)"`)
	// absoluteURLPattern matches an absolute http(s) or websocket URL
	// anywhere in a page, including inline scripts.
	absoluteURLPattern = regexp.MustCompile(`(?i)(?:https?|wss?)://`)
	// urlAttrPattern matches every attribute that makes a browser fetch
	// something.
	urlAttrPattern = regexp.MustCompile(`(?i)\s(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)
)

// foreignRefs returns what in page could make a browser contact a host
// other than the one serving it.
func foreignRefs(page string) []string {
	refs := absoluteURLPattern.FindAllString(page, -1)
	for _, m := range urlAttrPattern.FindAllStringSubmatch(page, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			refs = append(refs, m[1])
		}
	}
	return refs
}

// checkLocalOnly fails the test if page refers to any other host.
func checkLocalOnly(t *testing.T, page string) {
	t.Helper()
	if refs := foreignRefs(page); len(refs) > 0 {
		t.Errorf("page refers to %q; want only paths on the same host", refs)
	}
}

// assetRef is an asset the GraphiQL page loads.
type assetRef struct {
	url       string
	integrity string
}

func parseAssetRefs(t *testing.T, page string) []assetRef {
	t.Helper()
	var refs []assetRef
	for _, m := range assetRefPattern.FindAllStringSubmatch(page, -1) {
		refs = append(refs, assetRef{url: html.UnescapeString(m[1]), integrity: html.UnescapeString(m[2])})
	}
	return refs
}

// requireAssets skips the test unless `make assets` has copied every pinned
// file into the embedded directory.
func requireAssets(t *testing.T) {
	t.Helper()
	if _, problems := loadAssets(embeddedGraphiQLFS()); len(problems) > 0 {
		for _, p := range problems {
			t.Log(p)
		}
		t.Skip("GraphiQL assets not present in httpapi/assets/graphiql: run `make assets` to test serving them")
	}
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

// TestPinnedAssetsMatchGQLGen checks that the pinned hashes are the ones
// gqlgen's playground uses for its CDN URLs, that is that web/package.json
// pins the versions gqlgen v0.17.98 was built against.
func TestPinnedAssetsMatchGQLGen(t *testing.T) {
	rec := httptest.NewRecorder()
	playground.Handler("t", "/query", playground.WithGraphiqlEnablePluginExplorer(true)).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	gqlgenSRI := make(map[string]string) // file name -> integrity
	for _, ref := range parseAssetRefs(t, rec.Body.String()) {
		u, err := url.Parse(ref.url)
		if err != nil {
			t.Fatalf("parse gqlgen asset URL %q: %v", ref.url, err)
		}
		gqlgenSRI[u.Path[strings.LastIndex(u.Path, "/")+1:]] = ref.integrity
	}
	// The same page is what checkLocalOnly must catch.
	if refs := foreignRefs(rec.Body.String()); len(refs) < 12 {
		t.Errorf("foreignRefs found only %q in gqlgen's CDN page", refs)
	}
	if len(gqlgenSRI) != 6 {
		t.Fatalf("gqlgen playground references %d assets, want 6: %v", len(gqlgenSRI), gqlgenSRI)
	}

	// gqlgen's CDN file name for each pinned asset; the CDN minifies
	// plugin-explorer's style.css on the fly into a style.min.css that the
	// npm package does not ship, so that hash cannot match.
	cdnName := map[string]string{
		assetGraphiQLJS:       "graphiql.min.js",
		assetGraphiQLCSS:      "graphiql.min.css",
		assetReactJS:          "react.production.min.js",
		assetReactDOMJS:       "react-dom.production.min.js",
		assetPluginExplorerJS: "index.umd.js",
	}
	for _, a := range pinnedAssets() {
		name, ok := cdnName[a.name]
		if !ok {
			continue
		}
		if got := gqlgenSRI[name]; got != a.sri {
			t.Errorf("%s: pinned %s, gqlgen uses %s for %s", a.name, a.sri, got, name)
		}
	}
}

// TestGraphiQLServesOnlyLocalAssets builds the page as the server does and
// checks it loads nothing from another host and that every asset it
// references is served with the right type, caching and content.
func TestGraphiQLServesOnlyLocalAssets(t *testing.T) {
	requireAssets(t)
	for _, explorer := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "explorer"}[explorer], func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("GET /{$}", GraphiQL("/query", WithExplorer(explorer), WithTitle("gridhub")))
			mux.Handle("GET "+GraphiQLAssetsPath, AssetsHandler())
			srv := httptest.NewServer(mux)
			defer srv.Close()

			resp, body := get(t, srv.URL+"/", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /: status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("GET /: Content-Type %q", ct)
			}
			page := string(body)
			if !strings.Contains(page, "<title>gridhub</title>") {
				t.Errorf("page lacks its title")
			}
			checkLocalOnly(t, page)
			if explorer != strings.Contains(page, "GraphiQLPluginExplorer.explorerPlugin()") {
				t.Errorf("explorer plugin enabled = %v in page, want %v", !explorer, explorer)
			}

			refs := parseAssetRefs(t, page)
			want := 4
			if explorer {
				want = 6
			}
			if len(refs) != want {
				t.Fatalf("page references %d assets, want %d: %v", len(refs), want, refs)
			}
			for _, ref := range refs {
				if !strings.HasPrefix(ref.url, GraphiQLAssetsPath) {
					t.Errorf("asset %s is not under %s", ref.url, GraphiQLAssetsPath)
					continue
				}
				resp, body := get(t, srv.URL+ref.url, nil)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: status %d", ref.url, resp.StatusCode)
					continue
				}
				wantType := contentTypeJS
				if strings.Contains(ref.url, ".css") {
					wantType = contentTypeCSS
				}
				if got := resp.Header.Get("Content-Type"); got != wantType {
					t.Errorf("GET %s: Content-Type %q, want %q", ref.url, got, wantType)
				}
				if got := resp.Header.Get("Cache-Control"); got != immutableCache {
					t.Errorf("GET %s: Cache-Control %q, want %q", ref.url, got, immutableCache)
				}
				sum := sha256.Sum256(body)
				if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != ref.integrity {
					t.Errorf("GET %s: body hash %s, page integrity %s", ref.url, got, ref.integrity)
				}

				etag := resp.Header.Get("ETag")
				if etag == "" {
					t.Errorf("GET %s: no ETag", ref.url)
					continue
				}
				resp, _ = get(t, srv.URL+ref.url, http.Header{"If-None-Match": {etag}})
				if resp.StatusCode != http.StatusNotModified {
					t.Errorf("GET %s with If-None-Match: status %d, want 304", ref.url, resp.StatusCode)
				}
			}

			// Without the current version the asset must revalidate.
			resp, _ = get(t, srv.URL+GraphiQLAssetsPath+assetGraphiQLJS, nil)
			if got := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || got != "no-cache" {
				t.Errorf("unversioned asset: status %d, Cache-Control %q", resp.StatusCode, got)
			}
		})
	}
}

func TestAssetsHandlerRejects(t *testing.T) {
	h := newAssetsHandler(fstest.MapFS{})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, GraphiQLAssetsPath + "README.md", http.StatusNotFound},
		{http.MethodGet, GraphiQLAssetsPath + "../README.md", http.StatusNotFound},
		{http.MethodGet, GraphiQLAssetsPath + assetGraphiQLJS, http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, GraphiQLAssetsPath+assetReactJS, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST asset: status %d, want 405", rec.Code)
	}
}

func TestGraphiQLWithoutAssets(t *testing.T) {
	rec := httptest.NewRecorder()
	newGraphiQL(fstest.MapFS{}, "/query").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "GraphiQL assets missing: run make assets") {
		t.Errorf("page does not tell to run make assets:\n%s", body)
	}
	if !strings.Contains(body, assetGraphiQLJS) {
		t.Errorf("page does not name the missing files:\n%s", body)
	}
	checkLocalOnly(t, body)
}

func TestGraphiQLWithWrongAssets(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, a := range pinnedAssets() {
		fsys[a.name] = &fstest.MapFile{Data: []byte("not the pinned version")}
	}
	rec := httptest.NewRecorder()
	newGraphiQL(fsys, "/query").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if body := rec.Body.String(); !strings.Contains(body, "do not match the pinned versions: run make assets") {
		t.Errorf("page does not report the mismatch:\n%s", body)
	}

	rec = httptest.NewRecorder()
	newAssetsHandler(fsys).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, GraphiQLAssetsPath+assetGraphiQLJS, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unverified asset: status %d, want 404", rec.Code)
	}
}

func TestGraphiQLRejectsOtherMethods(t *testing.T) {
	rec := httptest.NewRecorder()
	newGraphiQL(fstest.MapFS{}, "/query").ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("status %d, want 405", rec.Code)
	}
}
