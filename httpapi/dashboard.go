package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// DashboardPath is where the web dashboard is served; its scripts and
// style sheet are under DashboardPath + "/".
const DashboardPath = "/dashboard"

// embeddedDashboardDir holds the dashboard's hand-written files (committed)
// and, in vendor/, the browser bundles `make assets` copies from npm.
const embeddedDashboardDir = "assets/dashboard"

// dashboardCSP keeps the page to its own origin: scripts and styles from
// the files below, GraphQL over fetch and WebSocket to the same host.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardFile is one file the dashboard page loads.
type dashboardFile struct {
	// name is the path below the dashboard directory and DashboardPath.
	name        string
	contentType string
	// pinned is the Subresource Integrity hash a vendored npm file must
	// have; empty for the dashboard's own files.
	pinned string
	// optional files may be missing: the page works without them, with
	// less (vendor/graphql-ws.min.js: no live updates, a refresh instead).
	optional bool
}

// Names of the dashboard's files.
const (
	dashboardPage    = "index.html"
	dashboardJS      = "dashboard.js"
	dashboardI18N    = "i18n.js"
	dashboardCSS     = "dashboard.css"
	dashboardGraphQL = "vendor/graphql-ws.min.js"
)

// dashboardFiles lists the files served under DashboardPath + "/". The
// graphql-ws browser build is pinned to graphql-ws 6.4.2 as published on
// npm (umd/graphql-ws.min.js).
func dashboardFiles() []dashboardFile {
	return []dashboardFile{
		{name: dashboardI18N, contentType: contentTypeJS},
		{name: dashboardJS, contentType: contentTypeJS},
		{name: dashboardCSS, contentType: contentTypeCSS},
		{name: dashboardGraphQL, contentType: contentTypeJS, pinned: "sha256-Xx4lC96gpVHVgnIEgoHb9bL7afqhIBYLq0lIXHK28k0=", optional: true},
	}
}

// loadDashboardFiles reads and verifies the dashboard's files. It returns
// the usable files by name and the problem with each other one.
func loadDashboardFiles(fsys fs.FS) (map[string]*assetFile, map[string]error) {
	var list []pinnedAsset
	for _, f := range dashboardFiles() {
		list = append(list, pinnedAsset{name: f.name, contentType: f.contentType, sri: f.pinned})
	}
	return readAssets(fsys, "dashboard file", list)
}

// embeddedDashboardFS returns the embedded dashboard directory.
func embeddedDashboardFS() fs.FS {
	sub, err := fs.Sub(embeddedAssets, embeddedDashboardDir)
	if err != nil {
		// fs.Sub only fails for an invalid path, and embeddedDashboardDir
		// is a valid constant.
		panic(fmt.Sprintf("httpapi: embedded dashboard: %v", err))
	}
	return sub
}

// Dashboard returns a handler serving the web dashboard for the GraphQL
// endpoint (a path such as "/graphql"): the page at DashboardPath (and
// DashboardPath + "/") and its files below DashboardPath + "/". Everything
// comes from the binary; the page talks only to its own origin (a
// Content-Security-Policy says so), and every script and style sheet
// carries its Subresource Integrity hash. Without the vendored graphql-ws
// bundle (`make assets` copies it) the page still works, refreshing its
// map every half minute instead of live, and says so. The page speaks
// zh-TW, zh-CN and English (its words are in i18n.js), as the browser
// asks or the operator picks.
func Dashboard(endpoint string) http.Handler {
	return newDashboard(embeddedDashboardFS(), endpoint)
}

// dashboardPageData fills the page template.
type dashboardPageData struct {
	Endpoint string
	// I18N is the page's words in each of its languages (i18n.js).
	CSS, I18N, JS dashboardRef
	// GraphQLWS is empty when the vendored client is missing or differs
	// from its pinned version; Problem then says why.
	GraphQLWS dashboardRef
	Problem   string
}

type dashboardRef struct {
	URL, Integrity string
}

func newDashboard(fsys fs.FS, endpoint string) http.Handler {
	files, problems := loadDashboardFiles(fsys)
	for _, f := range dashboardFiles() {
		if !f.optional && problems[f.name] != nil {
			return errorPage(http.StatusInternalServerError, "Dashboard unavailable", problems[f.name])
		}
	}
	ref := func(name string) dashboardRef {
		f := files[name]
		if f == nil {
			return dashboardRef{}
		}
		return dashboardRef{URL: DashboardPath + "/" + name + "?v=" + f.version, Integrity: f.sri}
	}
	data := dashboardPageData{
		Endpoint:  endpoint,
		CSS:       ref(dashboardCSS),
		I18N:      ref(dashboardI18N),
		JS:        ref(dashboardJS),
		GraphQLWS: ref(dashboardGraphQL),
	}
	if p := problems[dashboardGraphQL]; p != nil {
		data.Problem = "the graphql-ws client is unavailable (" + p.Error() + "); run make assets"
	}
	src, err := fs.ReadFile(fsys, dashboardPage)
	if err != nil {
		return errorPage(http.StatusInternalServerError, "Dashboard unavailable", fmt.Errorf("read %s: %w", dashboardPage, err))
	}
	tmpl, err := template.New(dashboardPage).Parse(string(src))
	if err != nil {
		return errorPage(http.StatusInternalServerError, "Dashboard unavailable", fmt.Errorf("parse %s: %w", dashboardPage, err))
	}
	var body bytes.Buffer
	if err := tmpl.Execute(&body, data); err != nil {
		return errorPage(http.StatusInternalServerError, "Dashboard unavailable", fmt.Errorf("render %s: %w", dashboardPage, err))
	}
	sum := sha256.Sum256(body.Bytes())
	return &dashboard{
		page:  &staticPage{body: body.Bytes(), status: http.StatusOK, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, cache: "no-cache"},
		files: files,
	}
}

// dashboard serves the page and its files.
type dashboard struct {
	page  http.Handler
	files map[string]*assetFile
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, DashboardPath)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		http.NotFound(w, r)
		return
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" || rest == dashboardPage {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		// The page may be opened with ?token= (tests, links from an
		// operator console): never send that address on.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		d.page.ServeHTTP(w, r)
		return
	}
	f, ok := d.files[rest]
	if !ok {
		if allowGetHead(w, r) {
			http.NotFound(w, r)
		}
		return
	}
	if !allowGetHead(w, r) {
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == f.version {
		hdr.Set("Cache-Control", immutableCache)
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
}

// mountDashboard routes DashboardPath and the files below it to the
// dashboard.
func mountDashboard(mux *http.ServeMux, m *Metrics, endpoint string) {
	h := m.Route(DashboardPath, Dashboard(endpoint))
	mux.Handle("GET "+DashboardPath, h)
	mux.Handle("GET "+DashboardPath+"/", h)
}
