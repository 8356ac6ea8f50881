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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/privacy"
)

// The end-to-end tests start the real program (app.Run, as main does) on
// 127.0.0.1:0 with a temporary data directory.

type hubProc struct {
	url    string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func startHub(t *testing.T, dataDir string, extra ...string) *hubProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0"}, extra...)
	h := &hubProc{dir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() {
		h.done <- app.Run(ctx, args, pw, io.Discard, func(string) string { return "" })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("hub did not start: %v (%v)", err, <-h.done)
	}
	go io.Copy(io.Discard, pr)
	h.url = "http://" + strings.TrimSpace(strings.TrimPrefix(line, "gridhub listening on "))
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *hubProc) stop(t *testing.T) {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("hub stopped with error: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("hub did not stop within 20s")
	}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// client calls a hub with a token (none when token is empty).
type client struct {
	url   string
	token string
}

// mintToken mints a token with the token command, offline, from the same
// data directory as the hub.
func mintToken(t *testing.T, dataDir, role, scope string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args := []string{"token", "-data", dataDir, "-role", role, "-subject", "test-" + strings.ToLower(role), "-ttl", "1h"}
	if scope != "" {
		args = append(args, "-scope", scope)
	}
	if err := app.Run(context.Background(), args, &out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("token %s %s: %v (%s)", role, scope, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// foreignToken mints a token with a key no test hub holds: another hub's.
func foreignToken(t *testing.T, role, scope string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args := []string{"token", "-data", t.TempDir(), "-jwt-secret", "another-hub-s-secret-0123456789abcdef", "-role", role, "-subject", "intruder", "-ttl", "1h"}
	if scope != "" {
		args = append(args, "-scope", scope)
	}
	if err := app.Run(context.Background(), args, &out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("token %s %s: %v (%s)", role, scope, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func (h *hubProc) as(t *testing.T, role, scope string) client {
	return client{url: h.url, token: mintToken(t, h.dir, role, scope)}
}

func gql(t *testing.T, c client, query string, vars map[string]any) gqlResponse {
	t.Helper()
	_, out := post(t, c, query, vars)
	return out
}

// must runs a query that must succeed and decodes its data into v.
func must(t *testing.T, url client, query string, vars map[string]any, v any) {
	t.Helper()
	r := gql(t, url, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("query failed: %+v", r.Errors)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("decode data: %v", err)
		}
	}
}

// A square of about 1.1 km around Taipei Main Station.
var taipeiSquare = []map[string]float64{
	{"lat": 25.040, "lng": 121.510}, {"lat": 25.040, "lng": 121.521},
	{"lat": 25.050, "lng": 121.521}, {"lat": 25.050, "lng": 121.510},
}

func seedSmallCity(t *testing.T, url client) (committeeCode, pharmacyID string) {
	t.Helper()
	must(t, url, `mutation($a: AreaInput!) { upsertDistrict(input: {id: "zhongzheng", code: "ZZ", name: "Zhongzheng", area: $a}) { id cellCount } }`,
		map[string]any{"a": map[string]any{"polygon": taipeiSquare}}, nil)
	var c struct {
		UpsertCommittee struct {
			ID       string
			Cells    []string
			District struct{ ID string }
		}
	}
	must(t, url, `mutation($a: AreaInput!) { upsertCommittee(input: {id: "c1", code: "ZZ001", name: "Beimen", area: $a}) { id cells district { id } } }`,
		map[string]any{"a": map[string]any{"polygon": []map[string]float64{
			{"lat": 25.044, "lng": 121.513}, {"lat": 25.044, "lng": 121.518},
			{"lat": 25.048, "lng": 121.518}, {"lat": 25.048, "lng": 121.513},
		}}}, &c)
	if c.UpsertCommittee.District.ID != "zhongzheng" || len(c.UpsertCommittee.Cells) == 0 {
		t.Fatalf("committee not placed in its district: %+v", c)
	}
	var p struct{ UpsertPharmacy struct{ ID string } }
	must(t, url, `mutation { upsertPharmacy(input: {id: "5901012345", name: "Beimen Pharmacy", location: {lat: 25.0465, lng: 121.5155},
		hours: "NNNNNNNNNNNNNNNNNNNNN", stock: [{sku: MASK_ADULT, quantity: 200}]}) { id } }`, nil, &p)
	return "ZZ001", p.UpsertPharmacy.ID
}

func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	url := h.as(t, "ADMIN", "")

	for _, path := range []string{"/healthz", "/metrics", "/"} {
		resp, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !bytes.Contains(b, []byte("gridhub_http_requests_total")) {
			t.Errorf("/metrics lacks gridhub_http_requests_total")
		}
	}

	code, pharmacyID := seedSmallCity(t, url)

	var reg struct {
		RegisterResident struct {
			ID             string
			IDNumberMasked string
			PhoneMasked    string
			Cell           struct{ ID string }
			Committee      struct{ Code string }
		}
	}
	must(t, url, `mutation($c: String) { registerResident(input: {name: "Lin Mei", idNumber: "A123456789", phone: "0912345678",
		address: "No. 1, Zhongxiao W. Rd.", location: {lat: 25.0460, lng: 121.5150}, committeeCode: $c}) {
		id idNumberMasked phoneMasked cell { id } committee { code } } }`, map[string]any{"c": code}, &reg)
	if got := reg.RegisterResident; got.IDNumberMasked != "A1******89" || got.PhoneMasked != "*******678" || got.Committee.Code != code {
		t.Errorf("registered resident = %+v", got)
	}

	var restock struct {
		Restock struct {
			Stock []struct {
				SKU      string
				Quantity int
			}
		}
	}
	must(t, url, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 50) { stock { sku quantity } } }`,
		map[string]any{"p": pharmacyID}, &restock)
	if q := restock.Restock.Stock[0]; q.SKU != "MASK_ADULT" || q.Quantity != 250 {
		t.Errorf("after restock, stock[0] = %+v, want MASK_ADULT 250", q)
	}

	var near struct {
		PharmaciesNear []struct {
			Pharmacy       struct{ ID string }
			Ring           int
			DistanceMeters float64
		}
	}
	must(t, url, `{ pharmaciesNear(lat: 25.0460, lng: 121.5150, k: 2, sku: MASK_ADULT) { pharmacy { id } ring distanceMeters } }`, nil, &near)
	if len(near.PharmaciesNear) != 1 || near.PharmaciesNear[0].Pharmacy.ID != pharmacyID || near.PharmaciesNear[0].DistanceMeters > 200 {
		t.Errorf("pharmaciesNear = %+v", near)
	}
	must(t, url, `{ pharmaciesNear(lat: 25.0460, lng: 121.5150, k: 2, sku: MASK_N95) { pharmacy { id } } }`, nil, &near)
	if len(near.PharmaciesNear) != 0 {
		t.Errorf("pharmaciesNear for a SKU nobody stocks = %+v", near)
	}

	var d struct {
		District struct {
			CellCount     int
			Cells         []string
			Committees    []struct{ Code string }
			Pharmacies    []struct{ ID string }
			ResidentCount int
		}
	}
	must(t, url, `{ district(id: "zhongzheng") { cellCount cells(resolution: 7) committees { code } pharmacies { id } residentCount } }`, nil, &d)
	if d.District.CellCount < 10 || len(d.District.Cells) == 0 || len(d.District.Committees) != 1 || len(d.District.Pharmacies) != 1 || d.District.ResidentCount != 1 {
		t.Errorf("district = %+v", d)
	}

	var cell struct {
		CellAt struct {
			ID        string
			Center    struct{ Lat, Lng float64 }
			Boundary  []struct{ Lat, Lng float64 }
			Neighbors []struct{ ID string }
			Parent    struct {
				ID         string
				Resolution int
			}
		}
	}
	must(t, url, `{ cellAt(lat: 37.775938728915946, lng: -122.41795063018799) { id center { lat lng } boundary { lat lng } neighbors(k: 1) { id } parent(resolution: 5) { id resolution } } }`, nil, &cell)
	if c := cell.CellAt; c.ID != "8928308280fffff" || len(c.Boundary) != 6 || len(c.Neighbors) != 7 || c.Parent.Resolution != 5 {
		t.Errorf("cellAt = %+v", c)
	}
}

func TestServeBadInput(t *testing.T) {
	h := startHub(t, t.TempDir())
	url := h.as(t, "ADMIN", "")
	code, pharmacyID := seedSmallCity(t, url)
	must(t, url, `mutation($c: String) { registerResident(input: {name: "Lin", idNumber: "B223456782", cell: "894ba0a408fffff", committeeCode: $c}) { id } }`,
		map[string]any{"c": code}, nil)

	deep := "{ cell(id: \"8928308280fffff\") { " + strings.Repeat("neighbors(k: 0) { ", 14) + "id" + strings.Repeat(" }", 14) + " } }"
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 80 {
		fmt.Fprintf(&aliases, " a%d: supplies { sku }", i)
	}
	aliases.WriteString(" }")

	tests := []struct {
		name  string
		query string
		vars  map[string]any
		want  string
	}{
		{"latitude above 90", `{ cellAt(lat: 91, lng: 0) { id } }`, nil, "BAD_USER_INPUT"},
		{"longitude below -180", `{ cellAt(lat: 0, lng: -180.5) { id } }`, nil, "BAD_USER_INPUT"},
		{"resolution 16", `{ cellAt(lat: 0, lng: 0, resolution: 16) { id } }`, nil, "BAD_USER_INPUT"},
		{"malformed cell", `{ cell(id: "8928308280FFFFF") { id } }`, nil, "BAD_USER_INPUT"},
		{"hex that is no cell", `{ cell(id: "000000000000000") { id } }`, nil, "BAD_USER_INPUT"},
		{"malformed cell in a variable", `query($c: H3Cell!) { cell(id: $c) { id } }`, map[string]any{"c": "xyz"}, "BAD_USER_INPUT"},
		{"unknown district", `{ district(id: "nowhere") { id } }`, nil, "NOT_FOUND"},
		{"unknown resident", `{ resident(id: "res_none") { id } }`, nil, "NOT_FOUND"},
		{"negative restock", `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: -5) { id } }`, map[string]any{"p": pharmacyID}, "BAD_USER_INPUT"},
		{"restock of unknown pharmacy", `mutation { restock(pharmacyId: "none", sku: MASK_ADULT, quantity: 5) { id } }`, nil, "NOT_FOUND"},
		{"unknown SKU", `mutation($p: ID!) { restock(pharmacyId: $p, sku: GOLD, quantity: 5) { id } }`, map[string]any{"p": pharmacyID}, "BAD_USER_INPUT"},
		{"address off the grid", `mutation { registerResident(input: {name: "X", idNumber: "C123456781", address: "somewhere"}) { id } }`, nil, "BAD_USER_INPUT"},
		{"same ID number twice", `mutation($c: String) { registerResident(input: {name: "Lin", idNumber: "b223-456782", cell: "894ba0a408fffff", committeeCode: $c}) { id } }`, map[string]any{"c": code}, "CONFLICT"},
		{"unknown committee code", `mutation { registerResident(input: {name: "Lin", idNumber: "D123456782", cell: "894ba0a408fffff", committeeCode: "NOPE"}) { id } }`, nil, "NOT_FOUND"},
		{"pharmaciesNear k too large", `{ pharmaciesNear(lat: 25, lng: 121, k: 11) { ring } }`, nil, "BAD_USER_INPUT"},
		{"page too large", `{ committeeByCode(code: "ZZ001") { residents(first: 100000) { totalCount } } }`, nil, "BAD_USER_INPUT"},
		{"forged cursor", `{ committeeByCode(code: "ZZ001") { residents(after: "!!notbase64") { totalCount } } }`, nil, "BAD_USER_INPUT"},
		{"too deep", deep, nil, "BAD_USER_INPUT"},
		{"alias bomb", aliases.String(), nil, "BAD_USER_INPUT"},
		{"syntax error", `{ cellAt(lat: `, nil, "BAD_USER_INPUT"},
		{"unknown field", `{ nothing }`, nil, "BAD_USER_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gql(t, url, tt.query, tt.vars)
			if got := r.code(); got != tt.want {
				t.Errorf("code = %q, want %q (errors %+v)", got, tt.want, r.Errors)
			}
		})
	}

	t.Run("oversized body", func(t *testing.T) {
		big := `{"query":"{ supplies { sku } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
		resp, err := http.Post(h.url+"/graphql", "application/json", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r gqlResponse
		json.NewDecoder(resp.Body).Decode(&r)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || r.code() != "BAD_USER_INPUT" {
			t.Errorf("status %d code %q", resp.StatusCode, r.code())
		}
	})
}

// TestKillNine kills a hub with SIGKILL in the middle of a stream of
// registrations and checks that every acknowledged one is there after a
// restart.
func TestKillNine(t *testing.T) {
	if os.Getenv("GRIDHUB_TEST_CHILD") == "1" {
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	child := startChild(t, dir)

	admin := client{url: child.url, token: mintToken(t, dir, "ADMIN", "")}
	code, _ := seedSmallCity(t, admin)
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stopAt := time.Now().Add(1500 * time.Millisecond)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stopAt); i++ {
				id := privacy.ExampleTaiwanID('K', w*1_000_000+i)
				body, _ := json.Marshal(map[string]any{
					"query":     `mutation($id: String!, $c: String) { registerResident(input: {name: "K", idNumber: $id, cell: "894ba0a408fffff", committeeCode: $c}) { id } }`,
					"variables": map[string]any{"id": id, "c": code},
				})
				req, _ := http.NewRequest(http.MethodPost, child.url+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+admin.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // killed
				}
				var r struct {
					Data struct{ RegisterResident struct{ ID string } }
				}
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if err == nil && r.Data.RegisterResident.ID != "" {
					mu.Lock()
					acked = append(acked, r.Data.RegisterResident.ID)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.cmd.Wait()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged before the kill")
	}

	h := startHub(t, dir)
	after := h.as(t, "ADMIN", "")
	for _, id := range acked {
		r := gql(t, after, `query($id: ID!) { resident(id: $id) { id } }`, map[string]any{"id": id})
		if len(r.Errors) > 0 {
			t.Errorf("acknowledged resident %s lost after kill -9: %+v", id, r.Errors)
		}
	}
	t.Logf("%d acknowledged registrations, all present after kill -9", len(acked))
}

type childHub struct {
	url string
	cmd *exec.Cmd
}

// startChild runs the hub in a child process (this test binary, with
// GRIDHUB_TEST_CHILD=1, see TestMain) so it can be killed for real.
func startChild(t *testing.T, dir string) *childHub {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GRIDHUB_TEST_CHILD=1", "GRIDHUB_DATA="+dir, "GRIDHUB_ADDR=127.0.0.1:0", "GRIDHUB_SECRET=test-secret-0123456789",
		"GRIDHUB_RATE_PER_TOKEN=0", "GRIDHUB_RATE_PER_ADDRESS=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child hub did not start: %v", err)
	}
	go io.Copy(io.Discard, out)
	return &childHub{url: "http://" + strings.TrimSpace(strings.TrimPrefix(line, "gridhub listening on ")), cmd: cmd}
}

func TestMain(m *testing.M) {
	if os.Getenv("GRIDHUB_TEST_CHILD") == "1" {
		ctx, stop := app.SignalContext()
		err := app.Run(ctx, []string{"serve"}, os.Stdout, os.Stderr, os.Getenv)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSigtermDrains stops a hub with SIGTERM: it exits cleanly and what it
// acknowledged is there at the next start.
func TestSigtermDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	child := startChild(t, dir)
	admin := client{url: child.url, token: mintToken(t, dir, "ADMIN", "")}
	_, pharmacyID := seedSmallCity(t, admin)
	must(t, admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_CHILD, quantity: 7) { id } }`, map[string]any{"p": pharmacyID}, nil)
	if err := child.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hub exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not exit within 15s of SIGTERM")
	}
	h := startHub(t, dir)
	var p struct {
		Pharmacy struct {
			Stock []struct {
				SKU      string
				Quantity int
			}
		}
	}
	must(t, h.as(t, "ADMIN", ""), `query($p: ID!) { pharmacy(id: $p) { stock { sku quantity } } }`, map[string]any{"p": pharmacyID}, &p)
	if q := p.Pharmacy.Stock[1]; q.SKU != "MASK_CHILD" || q.Quantity != 7 {
		t.Errorf("after restart, stock[1] = %+v, want MASK_CHILD 7", q)
	}
}
