package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
)

// GraphiQLAssetsPath is the URL path prefix under which the GraphiQL page
// expects AssetsHandler to be mounted unless WithAssetsURL says otherwise.
const GraphiQLAssetsPath = "/assets/graphiql/"

// embeddedAssets holds assets/README.md (the committed placeholder that keeps
// the pattern valid) and whatever `make assets` copied into assets/graphiql.
//
//go:embed assets
var embeddedAssets embed.FS

const (
	embeddedAssetsDir = "assets/graphiql"

	contentTypeJS   = "text/javascript; charset=utf-8"
	contentTypeCSS  = "text/css; charset=utf-8"
	contentTypeHTML = "text/html; charset=utf-8"

	// immutableCache is sent for asset URLs carrying the current content
	// version, so browsers never revalidate them; any change of content
	// changes the URL.
	immutableCache = "public, max-age=31536000, immutable"
)

// pinnedAsset describes one file copied by `make assets`.
type pinnedAsset struct {
	// name is the file name in assets/graphiql and in the asset URL.
	name        string
	contentType string
	// sri is the Subresource Integrity hash the file must have. All but
	// plugin-explorer.css equal the hashes gqlgen v0.17.98's playground uses
	// for the same package versions on its CDN (the CDN serves a minified
	// style.min.css that the npm package does not contain).
	sri string
}

// Names of the pinned files, as copied by the Makefile's assets target.
const (
	assetGraphiQLJS        = "graphiql.min.js"
	assetGraphiQLCSS       = "graphiql.min.css"
	assetReactJS           = "react.production.min.js"
	assetReactDOMJS        = "react-dom.production.min.js"
	assetPluginExplorerJS  = "plugin-explorer.umd.js"
	assetPluginExplorerCSS = "plugin-explorer.css"
)

// pinnedAssets returns the files the GraphiQL page can load, with the hashes
// of graphiql 4.1.2, react 18.2.0, react-dom 18.2.0 and
// @graphiql/plugin-explorer 4.0.6 as published on npm.
func pinnedAssets() []pinnedAsset {
	return []pinnedAsset{
		{assetGraphiQLJS, contentTypeJS, "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs="},
		{assetGraphiQLCSS, contentTypeCSS, "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU="},
		{assetReactJS, contentTypeJS, "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY="},
		{assetReactDOMJS, contentTypeJS, "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc="},
		{assetPluginExplorerJS, contentTypeJS, "sha256-UM8sWOS0Xa9yLY85q6Clh0pF4qpxX+TOcJ41flECqBs="},
		{assetPluginExplorerCSS, contentTypeCSS, "sha256-aJCaSuI7+t/EWRrLTis8jU9EFTua5/o7fnwxnroxDvE="},
	}
}

// errAssetMissing marks an asset that `make assets` has not copied.
var errAssetMissing = errors.New("asset missing")

// assetFile is a pinned asset whose content has been read and verified.
type assetFile struct {
	pinnedAsset
	data []byte
	// version is a short content hash used in URLs to bust caches.
	version string
	etag    string
}

// loadAssets reads and verifies every pinned asset in fsys. It returns the
// verified files by name and, by name, the problem with each file that is
// missing or differs from its pinned hash; such files are not in the first
// map.
func loadAssets(fsys fs.FS) (map[string]*assetFile, map[string]error) {
	return readAssets(fsys, "GraphiQL asset", pinnedAssets())
}

// readAssets reads the files as loadAssets does; a file whose sri is empty
// is not pinned (it is taken as it is, its hash computed), what names the
// kind of file in errors.
func readAssets(fsys fs.FS, what string, list []pinnedAsset) (map[string]*assetFile, map[string]error) {
	files := make(map[string]*assetFile)
	problems := make(map[string]error)
	for _, a := range list {
		data, err := fs.ReadFile(fsys, a.name)
		if errors.Is(err, fs.ErrNotExist) {
			problems[a.name] = fmt.Errorf("%s: %w", a.name, errAssetMissing)
			continue
		}
		if err != nil {
			problems[a.name] = fmt.Errorf("read %s %s: %w", what, a.name, err)
			continue
		}
		sum := sha256.Sum256(data)
		got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
		if a.sri != "" && got != a.sri {
			problems[a.name] = fmt.Errorf("%s: content hash %s, want %s", a.name, got, a.sri)
			continue
		}
		a.sri = got
		version := hex.EncodeToString(sum[:6])
		files[a.name] = &assetFile{
			pinnedAsset: a,
			data:        data,
			version:     version,
			etag:        `"` + version + `"`,
		}
	}
	return files, problems
}

// embeddedGraphiQLFS returns the embedded directory `make assets` copies into.
func embeddedGraphiQLFS() fs.FS {
	sub, err := fs.Sub(embeddedAssets, embeddedAssetsDir)
	if err != nil {
		// fs.Sub only fails for an invalid path, and embeddedAssetsDir is a
		// valid constant.
		panic(fmt.Sprintf("httpapi: embedded GraphiQL assets: %v", err))
	}
	return sub
}

// GraphiQLOption customises the page served by GraphiQL.
type GraphiQLOption func(*graphiqlConfig)

type graphiqlConfig struct {
	title          string
	assetsURL      string
	explorer       bool
	playgroundOpts []playground.GraphiqlConfigOption
}

// WithTitle sets the page title; the default is "GraphiQL".
func WithTitle(title string) GraphiQLOption {
	return func(c *graphiqlConfig) { c.title = title }
}

// WithAssetsURL sets the URL prefix (a path such as "/hub/assets/graphiql/")
// under which AssetsHandler is mounted; the default is GraphiQLAssetsPath.
func WithAssetsURL(prefix string) GraphiQLOption {
	return func(c *graphiqlConfig) { c.assetsURL = prefix }
}

// WithExplorer enables the @graphiql/plugin-explorer query builder panel,
// loaded from the embedded assets like the rest of the page.
func WithExplorer(enabled bool) GraphiQLOption {
	return func(c *graphiqlConfig) { c.explorer = enabled }
}

// WithPlaygroundOptions passes options such as
// playground.WithGraphiqlUiHeaders through to gqlgen's playground. The asset
// URLs, their integrity hashes and whether the explorer plugin is enabled are
// always set by this package and override options given here.
func WithPlaygroundOptions(opts ...playground.GraphiqlConfigOption) GraphiQLOption {
	return func(c *graphiqlConfig) { c.playgroundOpts = append(c.playgroundOpts, opts...) }
}

// GraphiQL returns a handler serving gqlgen's GraphiQL page for the GraphQL
// endpoint (a path such as "/query", or an absolute URL), with every script
// and style sheet loaded from AssetsHandler instead of a CDN, so the page
// works without network access. Subscriptions use the same endpoint over
// ws:// or wss://.
//
// The handler answers GET and HEAD for whatever path it is mounted on. If
// `make assets` has not been run, or the copied files differ from the pinned
// versions, it answers 503 with a page saying "GraphiQL assets missing: run
// make assets" instead of a page that cannot load.
func GraphiQL(endpoint string, opts ...GraphiQLOption) http.Handler {
	return newGraphiQL(embeddedGraphiQLFS(), endpoint, opts...)
}

func newGraphiQL(fsys fs.FS, endpoint string, opts ...GraphiQLOption) http.Handler {
	cfg := graphiqlConfig{title: "GraphiQL", assetsURL: GraphiQLAssetsPath}
	for _, opt := range opts {
		opt(&cfg)
	}
	if !strings.HasSuffix(cfg.assetsURL, "/") {
		cfg.assetsURL += "/"
	}

	files, problems := loadAssets(fsys)
	needed := []string{assetReactJS, assetReactDOMJS, assetGraphiQLCSS, assetGraphiQLJS}
	if cfg.explorer {
		needed = append(needed, assetPluginExplorerCSS, assetPluginExplorerJS)
	}
	var neededProblems []error
	for _, name := range needed {
		if problems[name] != nil {
			neededProblems = append(neededProblems, problems[name])
		}
	}
	if len(neededProblems) > 0 {
		return assetsProblemPage(errors.Join(neededProblems...))
	}

	url := func(name string) string {
		return cfg.assetsURL + name + "?v=" + files[name].version
	}
	sri := func(name string) string { return files[name].sri }
	playgroundOpts := append(cfg.playgroundOpts[:len(cfg.playgroundOpts):len(cfg.playgroundOpts)],
		playground.WithGraphiqlVersion(
			url(assetGraphiQLJS), url(assetGraphiQLCSS), sri(assetGraphiQLJS), sri(assetGraphiQLCSS),
		),
		playground.WithGraphiqlReactVersion(
			url(assetReactJS), url(assetReactDOMJS), sri(assetReactJS), sri(assetReactDOMJS),
		),
		playground.WithGraphiqlEnablePluginExplorer(cfg.explorer),
	)
	if cfg.explorer {
		playgroundOpts = append(playgroundOpts, playground.WithGraphiqlPluginExplorerVersion(
			url(assetPluginExplorerJS), url(assetPluginExplorerCSS),
			sri(assetPluginExplorerJS), sri(assetPluginExplorerCSS),
		))
	}

	page, err := renderPlayground(playground.Handler(cfg.title, endpoint, playgroundOpts...))
	if err != nil {
		return errorPage(http.StatusInternalServerError, "GraphiQL page unavailable", err)
	}
	sum := sha256.Sum256(page)
	return &staticPage{
		body:   page,
		status: http.StatusOK,
		etag:   `"` + hex.EncodeToString(sum[:8]) + `"`,
		cache:  "no-cache",
	}
}

// renderPlayground runs gqlgen's playground handler once into memory. Its
// output depends only on its configuration, and rendering it up front keeps
// the template's panic on a failed write away from live connections.
func renderPlayground(h http.Handler) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	if err != nil {
		return nil, fmt.Errorf("build playground request: %w", err)
	}
	rec := &pageRecorder{header: make(http.Header), status: http.StatusOK}
	h.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		return nil, fmt.Errorf("render gqlgen playground: status %d", rec.status)
	}
	return rec.body.Bytes(), nil
}

// pageRecorder is the in-memory http.ResponseWriter renderPlayground uses.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (p *pageRecorder) Header() http.Header         { return p.header }
func (p *pageRecorder) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *pageRecorder) WriteHeader(status int)      { p.status = status }

// assetsProblemPage returns the page served instead of GraphiQL when assets
// are missing or do not match their pinned hashes.
func assetsProblemPage(problem error) http.Handler {
	headline := "GraphiQL assets missing: run make assets"
	if !errors.Is(problem, errAssetMissing) {
		headline = "GraphiQL assets do not match the pinned versions: run make assets"
	}
	return errorPage(http.StatusServiceUnavailable, headline, problem)
}

// errorPageHTML is the html/template source of the page errorPage serves.
const errorPageHTML = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Headline}}</title></head>
<body>
<h1>{{.Headline}}</h1>
<p>The GraphQL endpoint itself works; only the GraphiQL user interface is unavailable.</p>
{{- if .Details}}
<ul>
{{- range .Details}}
<li><code>{{.}}</code></li>
{{- end}}
</ul>
{{- end}}
</body>
</html>
`

// errorPage returns a handler answering status with an HTML page showing
// headline and the lines of detail.
func errorPage(status int, headline string, detail error) http.Handler {
	var details []string
	if detail != nil {
		details = strings.Split(detail.Error(), "\n")
	}
	var body bytes.Buffer
	data := struct {
		Headline string
		Details  []string
	}{headline, details}
	tmpl := template.Must(template.New("error").Parse(errorPageHTML))
	if err := tmpl.Execute(&body, data); err != nil {
		body.Reset()
		body.WriteString(template.HTMLEscapeString(headline))
	}
	return &staticPage{body: body.Bytes(), status: status, cache: "no-store"}
}

// staticPage serves a fixed HTML document.
type staticPage struct {
	body   []byte
	status int
	etag   string
	cache  string
}

func (p *staticPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGetHead(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeHTML)
	h.Set("Cache-Control", p.cache)
	h.Set("X-Content-Type-Options", "nosniff")
	if p.status != http.StatusOK {
		w.WriteHeader(p.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(p.body)
		}
		return
	}
	h.Set("ETag", p.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
}

// AssetsHandler returns a handler serving the embedded GraphiQL assets the
// page built by GraphiQL refers to. It looks only at the last element of the
// request path, so it can be mounted under any prefix, normally
// GraphiQLAssetsPath (see WithAssetsURL). Requests carrying the current
// content version (the ?v= query the page adds) are cacheable for a year;
// others must revalidate using the ETag. Unknown, missing or unverified
// files answer 404.
func AssetsHandler() http.Handler {
	return newAssetsHandler(embeddedGraphiQLFS())
}

func newAssetsHandler(fsys fs.FS) http.Handler {
	// Problems are reported by the GraphiQL page; here a file with a problem
	// is simply absent.
	files, _ := loadAssets(fsys)
	return assetsHandler{files: files}
}

type assetsHandler struct {
	files map[string]*assetFile
}

func (h assetsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGetHead(w, r) {
		return
	}
	f, ok := h.files[path.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
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

// allowGetHead answers 405 and reports false unless r is a GET or HEAD.
func allowGetHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}
