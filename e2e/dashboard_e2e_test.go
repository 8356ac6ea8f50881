package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/auth"
)

// The dashboard's end-to-end test: the real hub, the page it serves, and a
// real headless Chromium (Debian's) driven by web/clients/dashboard.mjs
// through playwright-core.

// chromiumPath is Debian's Chromium, the only browser the test uses.
const chromiumPath = "/usr/bin/chromium"

var installChromium sync.Once

// browserPackages are the Debian packages the browser tests need:
// Chromium, and a CJK font for the dashboard's Chinese pages (without one
// they render as boxes). web/install-browser.sh, which make test runs
// first, installs the same.
var browserPackages = []string{"chromium", "fonts-noto-cjk"}

// requireBrowser skips the test unless Node.js, playwright-core and
// Chromium are there. Chromium (with the CJK fonts) is installed with
// apt-get when it is missing and the test runs as root (as CI does), after
// a line on stderr saying so.
func requireBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the dashboard's browser test needs Node.js (make test installs the npm packages)")
	}
	if _, err := os.Stat("../web/node_modules/playwright-core"); err != nil {
		t.Skip("web/node_modules/playwright-core is missing: run make assets (make test does)")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = chromiumPath
	}
	if _, err := os.Stat(chromium); err != nil && chromium == chromiumPath {
		installChromium.Do(func() {
			if os.Geteuid() != 0 {
				return
			}
			if _, err := exec.LookPath("apt-get"); err != nil {
				return
			}
			line := fmt.Sprintf("installing Debian's chromium for the browser tests (apt-get install %s)...", strings.Join(browserPackages, " "))
			fmt.Fprintln(os.Stderr, line)
			t.Log(line)
			install := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, browserPackages...)
			for _, args := range [][]string{{"update", "-qq"}, install} {
				cmd := exec.Command("apt-get", args...)
				cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 20))
					return
				}
			}
		})
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("chromium is missing at %s and apt-get could not install it", chromium)
		}
		t.Skipf("chromium is not installed at %s and only root may apt-get install it: skipping the dashboard's browser test", chromium)
	}
	return node, chromium
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// browser is a running dashboard.mjs in drive mode.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	return startBrowserIn(t, "")
}

// startBrowserIn starts a browser whose language (navigator.languages,
// Accept-Language) is locale; "" is dashboard.mjs's default, en-GB.
func startBrowserIn(t *testing.T, locale string) *browser {
	t.Helper()
	node, chromium := requireBrowser(t)
	cmd := exec.Command(node, "../web/clients/dashboard.mjs", "drive")
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if locale != "" {
		cmd.Env = append(cmd.Env, "DASHBOARD_LOCALE="+locale)
	}
	b := &browser{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &lockedBuffer{}}
	cmd.Stderr = b.stderr
	var err error
	if b.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.lines)
		s := bufio.NewScanner(out)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			b.lines <- s.Text()
		}
	}()
	t.Cleanup(b.quit)
	if _, err := b.answer(60 * time.Second); err != nil {
		t.Fatalf("the browser did not start: %v\n%s", err, b.stderr.String())
	}
	return b
}

func (b *browser) answer(timeout time.Duration) (json.RawMessage, error) {
	select {
	case line, ok := <-b.lines:
		if !ok {
			return nil, fmt.Errorf("the driver exited: %v", b.cmd.Wait())
		}
		var a struct {
			OK    bool            `json:"ok"`
			Value json.RawMessage `json:"value"`
			Error string          `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return nil, fmt.Errorf("driver said %q", line)
		}
		if !a.OK {
			return nil, fmt.Errorf("%s", a.Error)
		}
		return a.Value, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no answer within %s", timeout)
	}
}

// do sends a command and returns its answer's value.
func (b *browser) do(cmd map[string]any) (json.RawMessage, error) {
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("send %s: %w", line, err)
	}
	timeout := 30 * time.Second
	if ms, ok := cmd["timeout"].(int); ok {
		timeout = time.Duration(ms)*time.Millisecond + 15*time.Second
	}
	return b.answer(timeout)
}

func (b *browser) must(cmd map[string]any) json.RawMessage {
	b.t.Helper()
	v, err := b.do(cmd)
	if err != nil {
		b.t.Fatalf("browser %v: %v\npage: %s\n%s", cmd["do"], err, b.pageState(), lastLines(b.stderr.String(), 20))
	}
	return v
}

func (b *browser) open(url string) { b.t.Helper(); b.must(map[string]any{"do": "open", "url": url}) }

// waitFor waits until a JavaScript expression is truthy in the page.
func (b *browser) waitFor(expr string, timeout time.Duration) json.RawMessage {
	b.t.Helper()
	return b.must(map[string]any{"do": "waitFor", "expr": expr, "timeout": int(timeout / time.Millisecond)})
}

// eval returns the value of a JavaScript expression, decoded into v.
func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	raw := b.must(map[string]any{"do": "eval", "expr": expr})
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("eval %s: %v (%s)", expr, err, raw)
	}
}

func (b *browser) text(selector string) string {
	b.t.Helper()
	var s string
	b.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, selector), &s)
	return s
}

// pageState says what the page shows, for failure messages.
func (b *browser) pageState() string {
	v, err := b.do(map[string]any{"do": "eval", "expr": `JSON.stringify({state: document.body.dataset.state, live: document.body.dataset.live,
		cells: document.body.dataset.cells, notice: document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent,
		login: document.getElementById('login-error').textContent, map: document.getElementById('map-message').textContent})`})
	if err != nil {
		return err.Error()
	}
	return string(v)
}

func (b *browser) quit() {
	if b.cmd.Process == nil || b.cmd.ProcessState != nil {
		return
	}
	done := make(chan error, 1)
	go func() {
		_, _ = b.in.Write([]byte(`{"do":"quit"}` + "\n"))
		b.in.Close()
		done <- b.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}

// hubProcess is the hub run as a process of its own: the test binary
// re-run as TestHubProcessForDashboard.
type hubProcess struct {
	url  string
	cmd  *exec.Cmd
	done chan error
}

// hubArgsEnv carries the helper process's arguments, one a line.
const hubArgsEnv = "GRIDHUB_TEST_HUB_ARGS"

func startHubProcess(t *testing.T, dataDir, addr string) *hubProcess {
	t.Helper()
	args := []string{"serve", "--addr", addr, "--data", dataDir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHubProcessForDashboard$")
	cmd.Env = append(os.Environ(), hubArgsEnv+"="+strings.Join(args, "\n"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hubProcess{cmd: cmd, done: make(chan error, 1)}
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "gridhub listening on ") {
		_ = cmd.Process.Kill()
		t.Fatalf("the hub process did not start: %q %v\n%s", line, err, stderr.String())
	}
	go func() {
		_, _ = io.Copy(io.Discard, lines)
		p.done <- cmd.Wait()
	}()
	p.url = "http://" + strings.TrimSpace(strings.TrimPrefix(line, "gridhub listening on "))
	return p
}

// stop ends the hub as an operator would, with SIGTERM.
func (p *hubProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil || p.done == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the hub process ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Error("the hub process did not stop within 20 s of SIGTERM")
	}
	p.done = nil
}

// TestHubProcessForDashboard is not a test: it is the hub process
// TestDashboard starts, and skips unless started so.
func TestHubProcessForDashboard(t *testing.T) {
	args := os.Getenv(hubArgsEnv)
	if args == "" {
		t.Skip("the hub process of TestDashboard's restart checks")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, strings.Split(args, "\n"), os.Stdout, os.Stderr, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
}

// cellBin is the legend class the page gave a cell on the current layer.
func cellBinExpr(cell string) string {
	return fmt.Sprintf(`(document.querySelector('#map [data-cell=%q]') || {dataset: {}}).dataset.bin`, cell)
}

// expiredToken is a well-signed DISTRICT token that expired an hour ago.
func expiredToken(t *testing.T, dataDir, district string) string {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(dataDir, "jwt-secret"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.HMACKeys([]byte(strings.TrimSpace(string(secret))), func() time.Time { return time.Now().Add(-2 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Mint(auth.Principal{Role: auth.District, Scope: district, Subject: "expired-dashboard"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// aggregatesReady reports whether the hub answers the district aggregates
// the live map needs, and why not.
func aggregatesReady(t *testing.T, c client, district string) error {
	t.Helper()
	r := gql(t, c, `query($d: ID!) { district(id: $d) { cellStats(resolution: 9, sku: MASK_ADULT) { cell { id } } outline { lat } } }`, map[string]any{"d": district})
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%s)", r.Errors[0].Message, r.code())
	}
	return nil
}

// TestDashboard loads /dashboard in headless Chromium against a hub with a
// small city and checks what an operator sees: refused tokens explained
// with no map behind them; a district's hexagons and outline drawn from the
// hub's geometry; layers and resolutions switched; a restock recolouring
// its cell live; a committee's alert feed; an ADMIN's district picker; a
// COMMITTEE token's own area; and the page catching up after the hub
// restarts.
func TestDashboard(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	// The restart checks run the hub as a process of its own, as in
	// production, so that stopping it closes its WebSockets.
	var proc *hubProcess
	moveToProcess := func(t *testing.T, b *browser) {
		if proc != nil {
			return
		}
		b.open("about:blank")
		addr := strings.TrimPrefix(h.url, "http://")
		h.stop(t)
		proc = startHubProcess(t, dir, addr)
	}
	// restart stops the hub's process, waits until the page has noticed,
	// and starts it again on the same address and data.
	restart := func(t *testing.T, b *browser) client {
		addr := strings.TrimPrefix(proc.url, "http://")
		proc.stop(t)
		b.waitFor(`document.body.dataset.live !== 'connected'`, 20*time.Second)
		proc = startHubProcess(t, dir, addr)
		return client{url: proc.url, token: mintToken(t, dir, "ADMIN", "")}
	}
	t.Cleanup(func() {
		if proc != nil {
			proc.stop(t)
		}
	})
	admin := h.as(t, "ADMIN", "")
	_, pharmacyID := seedSmallCity(t, admin)

	resp, err := http.Get(h.url + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`/dashboard/dashboard.js?v=`)) {
		t.Fatalf("GET /dashboard: %d\n%s", resp.StatusCode, page)
	}
	if !bytes.Contains(page, []byte(`/dashboard/vendor/graphql-ws.min.js?v=`)) {
		t.Fatalf("the dashboard has no graphql-ws client: run make assets\n%s", page)
	}

	var geo struct {
		District struct {
			Res9 []string `json:"res9"`
			Res7 []string `json:"res7"`
		}
		Committee struct{ Cells []string }
		Pharmacy  struct{ Cell struct{ ID string } }
	}
	must(t, admin, `query($p: ID!) { district(id: "zhongzheng") { res9: cells(resolution: 9) res7: cells(resolution: 7) }
		committee(id: "c1") { cells } pharmacy(id: $p) { cell { id } } }`, map[string]any{"p": pharmacyID}, &geo)
	pharmacyCell := geo.Pharmacy.Cell.ID

	b := startBrowser(t)
	district := mintToken(t, dir, "DISTRICT", "zhongzheng")
	restock := func(c client, sku string, qty int) {
		t.Helper()
		must(t, c, `mutation($p: ID!, $s: SKU!, $q: Int!) { restock(pharmacyId: $p, sku: $s, quantity: $q) { id } }`,
			map[string]any{"p": pharmacyID, "s": sku, "q": qty}, nil)
	}

	t.Run("bad tokens", func(t *testing.T) {
		b.t = t
		tests := []struct {
			name  string
			token string
			want  string
		}{
			{"garbage", "not-a-token", "This is not a Gridhub token"},
			{"another hub's key", foreignToken(t, "DISTRICT", "zhongzheng"), "The hub refused the token: token signature invalid"},
			{"expired", expiredToken(t, dir, "zhongzheng"), "This token expired"},
			{"partner", mintToken(t, dir, "PARTNER", "courier-1"), "A PARTNER token has no dashboard"},
		}
		for _, tt := range tests {
			b.open(h.url + "/dashboard?token=" + tt.token)
			b.waitFor(`document.body.dataset.state === 'refused'`, 20*time.Second)
			if got := b.text("#login-error"); !strings.Contains(got, tt.want) {
				t.Errorf("%s: the page says %q, want %q", tt.name, got, tt.want)
			}
			var shown struct {
				Login, App bool
				Cells      int
				Stored     *string
				Search     string
			}
			b.eval(`({login: !document.getElementById('login').hidden, app: !document.getElementById('app').hidden,
				cells: document.querySelectorAll('#map .cell').length, stored: sessionStorage.getItem('gridhub.dashboard.token'),
				search: location.search})`, &shown)
			if !shown.Login || shown.App || shown.Cells != 0 {
				t.Errorf("%s: login shown %v, map shown %v with %d cells; want the login form and no map", tt.name, shown.Login, shown.App, shown.Cells)
			}
			if shown.Stored != nil || strings.Contains(shown.Search, "token") {
				t.Errorf("%s: a refused token is kept (session %v, address %q)", tt.name, shown.Stored, shown.Search)
			}
		}
		// The form takes a token too.
		b.must(map[string]any{"do": "fill", "selector": "#token", "value": "still.not.atoken"})
		b.must(map[string]any{"do": "click", "selector": "#login-form button"})
		b.waitFor(`document.getElementById('login-error').textContent.includes('not a Gridhub token')`, 10*time.Second)
	})

	t.Run("district map", func(t *testing.T) {
		b.t = t
		b.open(h.url + "/dashboard?layer=stock&sku=MASK_ADULT&token=" + district)
		b.waitFor(`document.body.dataset.state === 'ready'`, 30*time.Second)
		var drawn struct {
			Cells, Sane int
			Outline     int
			Search      string
			Stored      bool
			Place       string
		}
		b.eval(`(() => { const cells = [...document.querySelectorAll('#map .cell')];
			return {cells: cells.length,
				sane: cells.filter(p => p.points.numberOfItems >= 5 && p.getBBox().width > 0 && p.getBBox().height > 0).length,
				outline: (document.querySelector('#map .outline') || {getAttribute: () => ''}).getAttribute('d').length,
				search: location.search, stored: sessionStorage.getItem('gridhub.dashboard.token') !== null,
				place: document.getElementById('place').textContent}; })()`, &drawn)
		if drawn.Cells != len(geo.District.Res9) || drawn.Sane != drawn.Cells {
			t.Errorf("drew %d hexagons (%d with a shape), want the district's %d cells", drawn.Cells, drawn.Sane, len(geo.District.Res9))
		}
		if drawn.Outline == 0 {
			t.Errorf("no district outline drawn: %s", b.pageState())
		}
		if strings.Contains(drawn.Search, "token") || !drawn.Stored {
			t.Errorf("the token should leave the address (%q) for session storage (kept: %v)", drawn.Search, drawn.Stored)
		}
		if !strings.Contains(drawn.Place, "Zhongzheng") {
			t.Errorf("the page names %q, want the district", drawn.Place)
		}

		// Per-cell details on hover.
		b.must(map[string]any{"do": "hover", "selector": fmt.Sprintf(`#map [data-cell=%q]`, pharmacyCell)})
		if got := b.text("#details"); !strings.Contains(got, pharmacyCell) {
			t.Errorf("hovering the pharmacy's cell shows %q", got)
		}

		// Layers change the colours and the legend.
		for _, layer := range []string{"demand", "fulfilment", "codes", "risk", "stock"} {
			b.must(map[string]any{"do": "click", "selector": fmt.Sprintf(`#layers input[value=%q]`, layer)})
			b.waitFor(fmt.Sprintf(`document.getElementById('map').dataset.layer === %q`, layer), 5*time.Second)
			var legend int
			b.eval(`document.querySelectorAll('#legend li').length`, &legend)
			if legend < 3 {
				t.Errorf("layer %s: %d legend lines", layer, legend)
			}
		}

		// Coarser resolutions draw the parents.
		b.must(map[string]any{"do": "select", "selector": "#resolution", "value": "7"})
		b.waitFor(fmt.Sprintf(`document.body.dataset.state === 'ready' && document.querySelectorAll('#map .cell').length === %d &&
			document.querySelector('#map .cell').dataset.cell[1] === '7'`, len(geo.District.Res7)), 20*time.Second)
		b.must(map[string]any{"do": "select", "selector": "#resolution", "value": "9"})
		b.waitFor(fmt.Sprintf(`document.body.dataset.state === 'ready' && document.querySelectorAll('#map .cell').length === %d`, len(geo.District.Res9)), 20*time.Second)
	})

	t.Run("admin picker", func(t *testing.T) {
		b.t = t
		var d struct{ UpsertDistrict struct{ CellCount int } }
		must(t, admin, `mutation($a: AreaInput!) { upsertDistrict(input: {id: "datong", code: "DT", name: "Datong", area: $a}) { cellCount } }`,
			map[string]any{"a": map[string]any{"polygon": []map[string]float64{
				{"lat": 25.055, "lng": 121.510}, {"lat": 25.055, "lng": 121.516},
				{"lat": 25.060, "lng": 121.516}, {"lat": 25.060, "lng": 121.510},
			}}}, &d)
		b.open(h.url + "/dashboard?token=" + admin.token)
		b.waitFor(`document.body.dataset.state === 'ready'`, 30*time.Second)
		var picker struct {
			Shown   bool
			Options []string
		}
		b.eval(`({shown: !document.getElementById('district-picker').hidden,
			options: [...document.querySelectorAll('#district option')].map(o => o.value).sort()})`, &picker)
		if !picker.Shown || strings.Join(picker.Options, ",") != "datong,zhongzheng" {
			t.Errorf("ADMIN district picker = %+v, want both districts", picker)
		}
		b.must(map[string]any{"do": "select", "selector": "#district", "value": "datong"})
		b.waitFor(fmt.Sprintf(`document.body.dataset.state === 'ready' && document.getElementById('place').textContent.includes('Datong') &&
			document.querySelectorAll('#map .cell').length === %d && location.search.includes('district=datong')`, d.UpsertDistrict.CellCount), 20*time.Second)
	})

	t.Run("committee token", func(t *testing.T) {
		b.t = t
		token := mintToken(t, dir, "COMMITTEE", "c1")
		b.open(h.url + "/dashboard?token=" + token)
		b.waitFor(`document.body.dataset.state === 'ready' && !document.getElementById('feed').hidden`, 30*time.Second)
		var v struct {
			Cells     int
			Disabled  []string
			ResLocked bool
		}
		b.eval(`({cells: document.querySelectorAll('#map .cell').length,
			disabled: [...document.querySelectorAll('#layers input:disabled')].map(i => i.value),
			resLocked: document.getElementById('resolution').disabled})`, &v)
		if v.Cells != len(geo.Committee.Cells) {
			t.Errorf("a COMMITTEE token sees %d cells, want its committee's %d", v.Cells, len(geo.Committee.Cells))
		}
		if strings.Join(v.Disabled, ",") != "demand,fulfilment,codes" || !v.ResLocked {
			t.Errorf("a COMMITTEE token may use layers but %v and resolution locked %v; district aggregates are not its to read", v.Disabled, v.ResLocked)
		}
		b.waitFor(`document.body.dataset.live === 'connected'`, 20*time.Second)
		before := string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(pharmacyCell)}))
		time.Sleep(300 * time.Millisecond) // the subscribe messages follow the ack
		restock(admin, "MASK_ADULT", 100)
		b.waitFor(`[...document.querySelectorAll('#feed-list li.restock')].some(li => li.textContent.includes('Beimen Pharmacy'))`, 20*time.Second)
		after := string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(pharmacyCell), before, cellBinExpr(pharmacyCell)), 10*time.Second))
		if before != `"s2"` || after != `"s3"` {
			t.Errorf("a restock from 200 to 300 took the pharmacy's cell from %s to %s, want s2 to s3", before, after)
		}
	})

	t.Run("committee feed", func(t *testing.T) {
		b.t = t
		b.open(h.url + "/dashboard?committee=c1&token=" + district)
		b.waitFor(`document.body.dataset.state === 'ready' && document.body.dataset.live === 'connected' && !document.getElementById('feed').hidden`, 30*time.Second)
		if got := b.text("#place"); !strings.Contains(got, "Zhongzheng") || !strings.Contains(got, "Beimen") {
			t.Errorf("the committee view is titled %q, want the district and the committee", got)
		}
		var area int
		b.eval(`((document.querySelector('#map path.committee') || {getAttribute: () => ''}).getAttribute('d') || '').length`, &area)
		if area == 0 {
			t.Errorf("the committee's area is not drawn on the district map")
		}
		time.Sleep(300 * time.Millisecond)
		restock(admin, "HAND_SANITIZER", 40)
		item := b.waitFor(`[...document.querySelectorAll('#feed-list li.restock')].map(li => li.textContent).find(t => t.includes('Beimen Pharmacy') && t.includes('+40'))`, 20*time.Second)
		t.Logf("feed: %s", item)
		// Another district's committee is not this token's to follow.
		b.open(h.url + "/dashboard?committee=elsewhere")
		b.waitFor(`document.body.dataset.state === 'ready' && !document.getElementById('notice').hidden`, 30*time.Second)
		if got := b.text("#notice"); !strings.Contains(strings.ToLower(got), "committee elsewhere") {
			t.Errorf("following an unknown committee says %q", got)
		}
	})

	t.Run("hub restart, committee", func(t *testing.T) {
		b.t = t
		token := mintToken(t, dir, "COMMITTEE", "c1")
		moveToProcess(t, b)
		b.open(proc.url + "/dashboard?layer=stock&sku=MASK_CHILD&token=" + token)
		b.waitFor(`document.body.dataset.state === 'ready' && document.body.dataset.live === 'connected'`, 30*time.Second)
		before := string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(pharmacyCell)}))
		// The new hub takes a restock at once, before the page's client
		// has reconnected: the page learns of it by refetching.
		admin = restart(t, b)
		restock(admin, "MASK_CHILD", 1500)
		b.waitFor(`document.body.dataset.live === 'connected' && Number(document.body.dataset.catchups || 0) >= 1`, 30*time.Second)
		after := string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(pharmacyCell), before, cellBinExpr(pharmacyCell)), 10*time.Second))
		if before != `"none"` || after != `"s5"` {
			t.Errorf("child masks at the pharmacy went from 0 to 1,500 while the hub restarted; its cell went from %s to %s, want none to s5", before, after)
		}
	})

	hubURL := h.url
	if proc != nil {
		hubURL = proc.url
	}
	aggregates := aggregatesReady(t, admin, "zhongzheng")
	needAggregates := func(t *testing.T) {
		if aggregates != nil {
			t.Skipf("the district aggregates are not served yet (%v): the live map needs them", aggregates)
		}
	}

	t.Run("live recolour and feed", func(t *testing.T) {
		needAggregates(t)
		b.t = t
		b.open(hubURL + "/dashboard?layer=stock&sku=MASK_ADULT&committee=c1&token=" + district)
		b.waitFor(`document.body.dataset.state === 'ready' && document.body.dataset.live === 'connected' && !document.getElementById('feed').hidden`, 30*time.Second)
		before := string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(pharmacyCell)}))
		time.Sleep(300 * time.Millisecond)
		restock(admin, "MASK_ADULT", 400)
		after := string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(pharmacyCell), before, cellBinExpr(pharmacyCell)), 20*time.Second))
		if before != `"s3"` || after != `"s4"` {
			t.Errorf("a restock from 300 to 700 took the pharmacy's cell from %s to %s on the stock layer, want s3 to s4", before, after)
		}
		b.waitFor(`[...document.querySelectorAll('#feed-list li.restock')].length >= 1`, 10*time.Second)
		shot := filepath.Join(t.TempDir(), "dashboard.png")
		if p := os.Getenv("GRIDHUB_DASHBOARD_SCREENSHOT"); p != "" {
			shot = p
		}
		time.Sleep(time.Second) // let the recolour transition finish
		b.must(map[string]any{"do": "screenshot", "path": shot})
		png, err := os.ReadFile(shot)
		if err != nil || len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
		}
		t.Logf("screenshot: %s", shot)

		// Demand: a shortage registration recolours its cell on the demand
		// layer.
		b.must(map[string]any{"do": "click", "selector": `#layers input[value="demand"]`})
		var reg struct {
			RegisterResident struct {
				ID   string
				Cell struct{ ID string }
			}
		}
		must(t, admin, `mutation { registerResident(input: {name: "Chen Yu", idNumber: "B223456782", committeeCode: "ZZ001",
			location: {lat: 25.0445, lng: 121.5135}}) { id cell { id } } }`, nil, &reg)
		cell := reg.RegisterResident.Cell.ID
		before = string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(cell)}))
		must(t, admin, `mutation($r: ID!) { registerShortage(residentId: $r, sku: MASK_ADULT, quantity: 2) { id } }`,
			map[string]any{"r": reg.RegisterResident.ID}, nil)
		after = string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(cell), before, cellBinExpr(cell)), 20*time.Second))
		if before != `"none"` || after != `"d1"` {
			t.Errorf("a shortage registration took its cell from %s to %s on the demand layer, want none to d1", before, after)
		}

		// Risk: a risk area marked on that cell turns it HIGH on the risk
		// layer, and the committee's feed tells of it.
		b.must(map[string]any{"do": "click", "selector": `#layers input[value="risk"]`})
		before = string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(cell)}))
		must(t, admin, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "cluster") { id } }`, map[string]any{"c": cell}, nil)
		after = string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(cell), before, cellBinExpr(cell)), 20*time.Second))
		if before != `"none"` || after != `"HIGH"` {
			t.Errorf("a risk area took its centre from %s to %s on the risk layer, want none to HIGH", before, after)
		}
		b.waitFor(`[...document.querySelectorAll('#feed-list li.risk')].length >= 1`, 10*time.Second)
	})

	t.Run("hub restart, district", func(t *testing.T) {
		needAggregates(t)
		b.t = t
		moveToProcess(t, b)
		b.open(proc.url + "/dashboard?layer=stock&sku=TEST_KIT&token=" + district)
		b.waitFor(`document.body.dataset.state === 'ready' && document.body.dataset.live === 'connected'`, 30*time.Second)
		before := string(b.must(map[string]any{"do": "eval", "expr": cellBinExpr(pharmacyCell)}))
		admin = restart(t, b)
		restock(admin, "TEST_KIT", 600)
		b.waitFor(`document.body.dataset.live === 'connected' && Number(document.body.dataset.catchups || 0) >= 1`, 30*time.Second)
		after := string(b.waitFor(fmt.Sprintf(`%s !== %s && %s`, cellBinExpr(pharmacyCell), before, cellBinExpr(pharmacyCell)), 10*time.Second))
		if before != `"none"` || after != `"s4"` {
			t.Errorf("test kits at the pharmacy went from 0 to 600 while the hub restarted; its cell went from %s to %s, want none to s4", before, after)
		}
		var cells int
		b.eval(`document.querySelectorAll('#map .cell').length`, &cells)
		if cells != len(geo.District.Res9) {
			t.Errorf("after the restart the map has %d cells, want %d", cells, len(geo.District.Res9))
		}
	})

	var errs []string
	if raw, err := b.do(map[string]any{"do": "errors"}); err == nil {
		_ = json.Unmarshal(raw, &errs)
	}
	if len(errs) > 0 {
		t.Errorf("the page raised script errors: %q", errs)
	}
}

// missingLabelsExpr lists what the page shows without words: an element
// named in data-i18n (or one of its attributes) left empty, a visible
// label, button, heading, option or term with no text, and any catalogue
// key shown as itself (t() shows a key no catalogue has).
const missingLabelsExpr = `(() => {
	const problems = [];
	const visible = (e) => e.getClientRects().length > 0;
	for (const e of document.querySelectorAll('[data-i18n]')) {
		if (!e.textContent.trim() && (visible(e) || e.tagName === 'OPTION' || e.tagName === 'TITLE')) problems.push('empty ' + e.dataset.i18n);
	}
	for (const [attr, data] of [['title', 'i18nTitle'], ['placeholder', 'i18nPlaceholder'], ['aria-label', 'i18nAriaLabel']]) {
		for (const e of document.querySelectorAll('[data-i18n-' + attr + ']')) {
			if (!(e.getAttribute(attr) || '').trim()) problems.push('empty ' + attr + ' ' + e.dataset[data]);
		}
	}
	for (const e of document.querySelectorAll('label, button, h1, h2, legend, option, dt, dd, #legend li, #live')) {
		if ((visible(e) || e.tagName === 'OPTION') && !e.textContent.trim()) problems.push('no text in ' + e.outerHTML.slice(0, 80));
	}
	const shown = document.body.innerText + ' ' + document.title + ' ' +
		[...document.querySelectorAll('[title], [placeholder], [aria-label]')].map((e) => [e.title, e.placeholder, e.getAttribute('aria-label')].join(' ')).join(' ');
	for (const key of Object.keys(window.gridhubI18n.catalogues.en)) {
		if (key.includes('.') && new RegExp('(^|[^\\w.])' + key.replace(/\./g, '\\.') + '($|[^\\w.])').test(shown)) problems.push('raw key ' + key);
	}
	// A key no catalogue has: words.words in lower camel case.
	for (const m of shown.matchAll(/(?:^|[\s(（])([a-z][a-zA-Z]*(?:\.[a-zA-Z][\w-]*)+)/g)) problems.push('raw key? ' + m[1]);
	return problems;
})()`

// TestDashboardLanguages opens the dashboard in a browser speaking each of
// its languages (zh-TW, zh-CN, English) and checks that the page speaks it
// too: <html lang>, known words of the sign-in form, the map's controls,
// legend, details, totals and alert feed, supplies by their local names,
// a refused token explained in the language around the hub's own (English)
// message, numbers and times formatted for the language, and no label
// missing or shown as its key. Then the language switch: its choice
// outlives a reload and beats the browser's language. A zh-TW screenshot is
// kept in GRIDHUB_DASHBOARD_SCREENSHOT_DIR when set.
func TestDashboardLanguages(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	h := startHub(t, dir)
	admin := h.as(t, "ADMIN", "")
	_, pharmacyID := seedSmallCity(t, admin)
	district := mintToken(t, dir, "DISTRICT", "zhongzheng")
	foreign := foreignToken(t, "DISTRICT", "zhongzheng")
	var geo struct {
		Pharmacy struct{ Cell struct{ ID string } }
	}
	must(t, admin, `query($p: ID!) { pharmacy(id: $p) { cell { id } } }`, map[string]any{"p": pharmacyID}, &geo)
	pharmacyCell := geo.Pharmacy.Cell.ID

	// What a few elements must say in each language, by selector.
	type words struct {
		login, token, open, signout, layerStock, layerCodes, supply, residents, feedEmpty string
		adultMask, childMask, refused, restock, resolution9                               string
	}
	tests := []struct {
		locale string // the browser's
		want   string // the page's language
		words  words
	}{
		{"zh-TW", "zh-TW", words{
			login: "開啟儀表板", token: "操作員權杖", open: "開啟", signout: "登出", layerStock: "庫存", layerCodes: "健康碼",
			supply: "物資", residents: "居民", feedEmpty: "尚無警示", adultMask: "成人口罩", childMask: "兒童口罩",
			refused: "伺服器拒絕此權杖：", restock: "補貨：Beimen Pharmacy", resolution9: "9（0.1 平方公里）",
		}},
		{"zh-CN", "zh-CN", words{
			login: "打开仪表盘", token: "操作员令牌", open: "打开", signout: "退出登录", layerStock: "库存", layerCodes: "健康码",
			supply: "物资", residents: "居民", feedEmpty: "暂无警报", adultMask: "成人口罩", childMask: "儿童口罩",
			refused: "服务器拒绝了此令牌：", restock: "补货：Beimen Pharmacy", resolution9: "9（0.1 平方公里）",
		}},
		{"en-US", "en", words{
			login: "Open the dashboard", token: "Operator token", open: "Open", signout: "Sign out", layerStock: "Stock", layerCodes: "Codes",
			supply: "Supply", residents: "Residents", feedEmpty: "No alerts yet", adultMask: "Adult surgical mask", childMask: "Child surgical mask",
			refused: "The hub refused the token: ", restock: "Restock: Beimen Pharmacy", resolution9: "9 (0.1 km²)",
		}},
	}
	stock := 200
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			b := startBrowserIn(t, tt.locale)
			checkLabels := func(where string) {
				t.Helper()
				var problems []string
				b.eval(missingLabelsExpr, &problems)
				if len(problems) > 0 {
					t.Errorf("%s, %s: labels missing: %q", tt.locale, where, problems)
				}
			}
			var page struct {
				Lang, Data, Title, Languages string
			}
			readPage := func() {
				b.eval(`({lang: document.documentElement.lang, data: document.body.dataset.lang, title: document.title,
					languages: navigator.languages.join(',')})`, &page)
			}

			// The sign-in form, and a token the hub refuses: the page's
			// words around the hub's English message.
			b.open(h.url + "/dashboard?token=" + foreign)
			b.waitFor(`document.body.dataset.state === 'refused'`, 20*time.Second)
			readPage()
			if page.Lang != tt.want || page.Data != tt.want {
				t.Errorf("browser %s (navigator.languages %s): <html lang=%q>, page language %q; want %s", tt.locale, page.Languages, page.Lang, page.Data, tt.want)
			}
			for sel, want := range map[string]string{"#login h2": tt.words.login, "label[for=token]": tt.words.token, "#login-form button": tt.words.open} {
				if got := strings.TrimSpace(b.text(sel)); got != want {
					t.Errorf("%s: %s says %q, want %q", tt.locale, sel, got, want)
				}
			}
			if got := b.text("#login-error"); !strings.HasPrefix(got, tt.words.refused) || !strings.Contains(got, "token signature invalid") {
				t.Errorf("%s: a refused token: %q, want %q and the hub's message", tt.locale, got, tt.words.refused)
			}
			checkLabels("sign-in form")

			// A district with a committee's feed.
			b.open(h.url + "/dashboard?layer=stock&sku=MASK_ADULT&committee=c1&token=" + district)
			b.waitFor(`document.body.dataset.state === 'ready' && document.body.dataset.live === 'connected' && !document.getElementById('feed').hidden`, 30*time.Second)
			b.must(map[string]any{"do": "hover", "selector": fmt.Sprintf(`#map [data-cell=%q]`, pharmacyCell)})
			var shown struct {
				Signout, LayerStock, LayerCodes, Supply, Adult, Child, Residents, Feed, Res9, Legend, Details string
			}
			b.eval(`(() => { const txt = (sel) => (document.querySelector(sel) || {}).textContent || '';
				return {signout: txt('#signout'), layerStock: txt('#layers input[value=stock] + span'), layerCodes: txt('#layers input[value=codes] + span'),
					supply: txt('.controls label span'), adult: txt('#sku option[value=MASK_ADULT]'), child: txt('#sku option[value=MASK_CHILD]'),
					residents: txt('#totals dt'), feed: txt('#feed-list'), res9: txt('#resolution option[value="9"]'),
					legend: txt('#legend-title'), details: txt('#details')}; })()`, &shown)
			for _, c := range []struct{ what, got, want string }{
				{"sign-out button", shown.Signout, tt.words.signout},
				{"stock layer", shown.LayerStock, tt.words.layerStock},
				{"codes layer", shown.LayerCodes, tt.words.layerCodes},
				{"supply label", shown.Supply, tt.words.supply},
				{"MASK_ADULT", shown.Adult, tt.words.adultMask},
				{"MASK_CHILD", shown.Child, tt.words.childMask},
				{"totals' first row", shown.Residents, tt.words.residents},
				{"resolution 9", shown.Res9, tt.words.resolution9},
			} {
				if strings.TrimSpace(c.got) != c.want {
					t.Errorf("%s: the %s says %q, want %q", tt.locale, c.what, c.got, c.want)
				}
			}
			if !strings.HasPrefix(shown.Feed, tt.words.feedEmpty) {
				t.Errorf("%s: the empty feed says %q, want %q…", tt.locale, shown.Feed, tt.words.feedEmpty)
			}
			if !strings.Contains(shown.Legend, tt.words.adultMask) || !strings.Contains(shown.Details, pharmacyCell) || !strings.Contains(shown.Details, tt.words.adultMask) {
				t.Errorf("%s: legend %q and details %q should name %s (and the cell)", tt.locale, shown.Legend, shown.Details, tt.words.adultMask)
			}
			readPage()
			if !strings.Contains(page.Title, "Zhongzheng") || !strings.Contains(page.Title, "Gridhub") {
				t.Errorf("%s: title %q", tt.locale, page.Title)
			}
			checkLabels("district map")

			// A restock reaches the feed in the language, with its time and
			// numbers formatted by Intl for it.
			time.Sleep(300 * time.Millisecond)
			stock += 1234
			must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 1234) { id } }`, map[string]any{"p": pharmacyID}, nil)
			item := b.waitFor(`[...document.querySelectorAll('#feed-list li.restock')].map(li => li.textContent).join('\n')`, 20*time.Second)
			var feed string
			_ = json.Unmarshal(item, &feed)
			var want struct{ Qty, After, Clock string }
			b.eval(fmt.Sprintf(`({qty: new Intl.NumberFormat(%[1]q).format(1234), after: new Intl.NumberFormat(%[1]q).format(%[2]d),
				clock: document.querySelector('#feed-list li.restock time').textContent})`, tt.want, stock), &want)
			if !strings.Contains(feed, tt.words.restock) || !strings.Contains(feed, "+"+want.Qty+" "+tt.words.adultMask) || !strings.Contains(feed, want.After) {
				t.Errorf("%s: the feed says %q, want %q, +%s %s and %s on hand", tt.locale, feed, tt.words.restock, want.Qty, tt.words.adultMask, want.After)
			}
			if len(want.Clock) != len("15:04:05") || want.Clock[2] != ':' {
				t.Errorf("%s: the alert's time reads %q, want hh:mm:ss", tt.locale, want.Clock)
			}
			// The other layers' legends and a coarser resolution.
			for _, layer := range []string{"demand", "fulfilment", "codes", "risk"} {
				b.must(map[string]any{"do": "click", "selector": fmt.Sprintf(`#layers input[value=%q]`, layer)})
				b.waitFor(fmt.Sprintf(`document.getElementById('map').dataset.layer === %q`, layer), 5*time.Second)
				checkLabels("layer " + layer)
			}
			b.must(map[string]any{"do": "click", "selector": `#layers input[value="stock"]`})
			if tt.want == "zh-TW" {
				shot := filepath.Join(t.TempDir(), "dashboard-zh-TW.png")
				if d := os.Getenv("GRIDHUB_DASHBOARD_SCREENSHOT_DIR"); d != "" {
					shot = filepath.Join(d, "dashboard-zh-TW.png")
				}
				time.Sleep(time.Second) // the recolour transition
				b.must(map[string]any{"do": "screenshot", "path": shot})
				t.Logf("screenshot: %s", shot)
			}

			// The switch: another language at once, kept over a reload and
			// over the browser's own.
			other := map[string]string{"zh-TW": "zh-CN", "zh-CN": "en", "en": "zh-TW"}[tt.want]
			b.must(map[string]any{"do": "select", "selector": "#lang", "value": other})
			b.waitFor(fmt.Sprintf(`document.documentElement.lang === %q`, other), 5*time.Second)
			var switched struct{ Stored, Layer, Resolution string }
			readSwitched := func() {
				b.eval(`({stored: localStorage.getItem('gridhub.dashboard.lang'), layer: document.querySelector('#layers input[value=stock] + span').textContent,
					resolution: document.querySelector('#resolution option[value="9"]').textContent})`, &switched)
			}
			readSwitched()
			wantLayer := map[string]string{"zh-TW": "庫存", "zh-CN": "库存", "en": "Stock"}[other]
			if switched.Stored != other || switched.Layer != wantLayer {
				t.Errorf("%s: switched to %s: stored %q, stock layer %q (want %q)", tt.locale, other, switched.Stored, switched.Layer, wantLayer)
			}
			if strings.Contains(b.text("#feed-list"), tt.words.restock) {
				t.Errorf("%s: after switching to %s the feed still says %q", tt.locale, other, b.text("#feed-list"))
			}
			checkLabels("switched to " + other)
			b.open(h.url + "/dashboard")
			b.waitFor(`document.body.dataset.state === 'ready'`, 30*time.Second)
			readPage()
			readSwitched()
			if page.Lang != other || switched.Layer != wantLayer {
				t.Errorf("%s: after a reload <html lang=%q>, stock layer %q; want the chosen %s", tt.locale, page.Lang, switched.Layer, other)
			}

			var errs []string
			if raw, err := b.do(map[string]any{"do": "errors"}); err == nil {
				_ = json.Unmarshal(raw, &errs)
			}
			if len(errs) > 0 {
				t.Errorf("%s: the page raised script errors: %q", tt.locale, errs)
			}
		})
	}

	// How the browser's languages choose the page's, tag by tag.
	t.Run("choice", func(t *testing.T) {
		b := startBrowserIn(t, "")
		b.open(h.url + "/dashboard")
		b.waitFor(`document.body.dataset.state === 'login'`, 20*time.Second)
		choices := []struct {
			give []string
			want string
		}{
			{[]string{"zh-TW"}, "zh-TW"}, {[]string{"zh-Hant"}, "zh-TW"}, {[]string{"zh-HK"}, "zh-TW"}, {[]string{"zh-MO"}, "zh-TW"},
			{[]string{"zh-Hant-HK"}, "zh-TW"}, {[]string{"zh-hant-tw"}, "zh-TW"}, {[]string{"zh_TW"}, "zh-TW"},
			{[]string{"zh-CN"}, "zh-CN"}, {[]string{"zh-Hans"}, "zh-CN"}, {[]string{"zh-SG"}, "zh-CN"}, {[]string{"zh"}, "zh-CN"},
			{[]string{"zh-Hans-HK"}, "zh-CN"}, {[]string{"zh-MY"}, "zh-CN"},
			{[]string{"en"}, "en"}, {[]string{"en-GB"}, "en"}, {[]string{"fr-FR"}, "en"}, {[]string{"ja"}, "en"}, {[]string{""}, "en"}, {nil, "en"},
			{[]string{"fr", "zh-TW"}, "zh-TW"}, {[]string{"de", "zh-SG", "zh-TW"}, "zh-CN"}, {[]string{"en-US", "zh-TW"}, "en"},
		}
		for _, c := range choices {
			give, _ := json.Marshal(c.give)
			var got string
			b.eval(fmt.Sprintf(`window.gridhubI18n.pick(%s)`, give), &got)
			if got != c.want {
				t.Errorf("navigator.languages %s: the page speaks %s, want %s", give, got, c.want)
			}
		}
	})
}
