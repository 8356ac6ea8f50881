package e2e

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
)

// TestRetentionE2E runs the hub with a 2-second retention period of scans
// and a sweep every 100 ms: a case's scans, held by its district, stay;
// a contact's go from trajectory and contacts; once the hold is lifted,
// the case's go too. Holds answer bad input with BAD_USER_INPUT, and each
// act is in the resident's own access log.
func TestRetentionE2E(t *testing.T) {
	h := startHub(t, t.TempDir(), "--retain-scans", "2s", "--sweep-every", "100ms")
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	district := h.as(t, "DISTRICT", ac.districts[0])
	checkpoint := h.as(t, "CHECKPOINT", ac.checkpoints[0])
	caseID, contactID := ac.residents[0], ac.residents[1]

	// Both residents scanned at one checkpoint, a minute apart.
	for _, r := range []string{caseID, contactID} {
		must(t, admin, `mutation($r: ID!) { declareHealth(input: {residentId: $r}) { code { colour } } }`, map[string]any{"r": r}, nil)
		var c struct{ HealthCode struct{ Token string } }
		must(t, admin, `query($r: ID!) { healthCode(residentId: $r) { token } }`, map[string]any{"r": r}, &c)
		must(t, checkpoint, `mutation($k: ID!, $code: String!) { recordScan(input: {checkpointId: $k, code: $code, temperature: 36.6}) { result } }`,
			map[string]any{"k": ac.checkpoints[0], "code": c.HealthCode.Token}, nil)
	}
	scans := func(r string) int {
		var got struct{ Trajectory []struct{ ID string } }
		must(t, admin, `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "retention test") { id } }`,
			map[string]any{"r": r, "s": "2020-01-01T00:00:00Z"}, &got)
		return len(got.Trajectory)
	}
	if scans(caseID) != 1 || scans(contactID) != 1 {
		t.Fatalf("before the sweep: %d and %d scans", scans(caseID), scans(contactID))
	}
	var marked struct{ MarkCase []struct{ Subject string } }
	must(t, district, `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive test") { subject } }`, map[string]any{"r": caseID}, &marked)
	if len(marked.MarkCase) != 1 {
		t.Fatalf("markCase traced %d contacts, want the one scanned a minute apart", len(marked.MarkCase))
	}

	until := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"blank reason", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "  ", until: $u) { id } }`, map[string]any{"r": caseID, "u": until}, "BAD_USER_INPUT"},
		{"past end", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "case", until: $u) { id } }`, map[string]any{"r": caseID, "u": "2020-01-01T00:00:00Z"}, "BAD_USER_INPUT"},
		{"a year ahead", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "case", until: $u) { id } }`,
			map[string]any{"r": caseID, "u": time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)}, "BAD_USER_INPUT"},
		{"not a contact", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, residentIds: ["nobody"], reason: "case", until: $u) { id } }`, map[string]any{"r": caseID, "u": until}, "BAD_USER_INPUT"},
		{"bad time", `mutation($r: ID!) { placeHold(caseId: $r, reason: "case", until: "tomorrow") { id } }`, map[string]any{"r": caseID}, "BAD_USER_INPUT"},
		{"unknown hold", `mutation { liftHold(id: "hold-none", reason: "closed") { id } }`, nil, "FORBIDDEN"},
	} {
		if got := gql(t, district, tt.query, tt.vars).code(); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
	var placed struct{ PlaceHold struct{ ID string } }
	must(t, district, `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "cluster investigation", until: $u) { id } }`,
		map[string]any{"r": caseID, "u": until}, &placed)
	if got := gql(t, district, `mutation($id: ID!, $u: Time!) { extendHold(id: $id, until: $u, reason: "more") { id } }`,
		map[string]any{"id": placed.PlaceHold.ID, "u": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}).code(); got != "CONFLICT" {
		t.Errorf("an extension that ends earlier: %q, want CONFLICT", got)
	}

	// The contact's scan expires; the case's is held.
	waitFor(t, "the contact's scan to expire", func() bool { return scans(contactID) == 0 })
	if n := scans(caseID); n != 1 {
		t.Fatalf("the held case has %d scans, want 1", n)
	}
	var cs struct {
		Contacts []struct{ ResidentID *string }
	}
	must(t, admin, `query($r: ID!) { contacts(residentId: $r, since: "2020-01-01T00:00:00Z", purpose: "retention test") { residentId } }`,
		map[string]any{"r": caseID}, &cs)
	if len(cs.Contacts) != 0 {
		t.Fatalf("contacts of the case after the contact's scan expired: %+v", cs.Contacts)
	}
	var hs struct {
		Holds []struct {
			ID          string
			ResidentIDs []string
			InForce     bool
		}
	}
	must(t, district, `{ holds { id residentIds inForce } }`, nil, &hs)
	if len(hs.Holds) != 1 || hs.Holds[0].ID != placed.PlaceHold.ID || !hs.Holds[0].InForce || !slices.Equal(hs.Holds[0].ResidentIDs, []string{caseID}) {
		t.Fatalf("holds: %+v", hs.Holds)
	}

	must(t, district, `mutation($id: ID!) { liftHold(id: $id, reason: "investigation closed") { id } }`, map[string]any{"id": placed.PlaceHold.ID}, nil)
	waitFor(t, "the case's scan to expire once the hold is lifted", func() bool { return scans(caseID) == 0 })

	// The resident sees the acts on the hold in their own access log.
	var log struct {
		MyAccessLog struct {
			Entries []struct{ Action, Purpose string }
		}
	}
	r := gql(t, h.as(t, "RESIDENT", caseID), `{ myAccessLog(first: 100) { entries { action purpose } } }`, nil)
	if len(r.Errors) != 0 {
		t.Fatalf("myAccessLog: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, &log); err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range log.MyAccessLog.Entries {
		if e.Action == "hold.place" || e.Action == "hold.lift" {
			acts = append(acts, e.Action)
		}
	}
	if !slices.Equal(acts, []string{"hold.place", "hold.lift"}) {
		t.Fatalf("acts on the hold in the case's access log: %v (%+v)", acts, log.MyAccessLog.Entries)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSweepCountsOnTwoHubs runs two hubs over one store and one bus with
// declarations kept 4 seconds: once the sweep deletes the residents'
// declarations and then their health codes (on whichever hub's pass gets
// there first), both hubs' dashboards stop counting the codes, as counters
// rebuilt from the store do.
func TestSweepCountsOnTwoHubs(t *testing.T) {
	dir, st, bus := sharedEmbedded(t)
	hubs := []*twoHubsHub{
		startRetainingProgram(t, "hub-a", dir, st, bus, 4*time.Second),
		startRetainingProgram(t, "hub-b", dir, st, bus, 4*time.Second),
	}
	admin := hubs[0].h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	codes := func(x *twoHubsHub, district string) int {
		var d struct {
			District struct {
				Totals struct{ Green, Yellow, Red int }
			}
		}
		must(t, x.h.as(t, "ADMIN", ""), `query($d: ID!) { district(id: $d) { totals { green yellow red } } }`, map[string]any{"d": district}, &d)
		return d.District.Totals.Green + d.District.Totals.Yellow + d.District.Totals.Red
	}
	for i, r := range ac.residents {
		must(t, admin, `mutation($r: ID!, $t: Float) { declareHealth(input: {residentId: $r, temperature: $t}) { code { colour } } }`,
			map[string]any{"r": r, "t": []float64{36.6, 38.6}[i]}, nil)
	}
	for _, x := range hubs {
		for _, d := range ac.districts {
			if n := codes(x, d); n != 1 {
				t.Fatalf("%s counts %d codes in %s before the sweep, want 1", x.name, n, d)
			}
		}
	}
	for _, x := range hubs {
		for _, d := range ac.districts {
			waitFor(t, x.name+"'s count of codes in "+d+" to drop", func() bool { return codes(x, d) == 0 })
		}
	}
	for _, x := range hubs {
		if err := x.p.RebuildViews(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, d := range ac.districts {
			if n := codes(x, d); n != 0 {
				t.Fatalf("%s counts %d codes in %s once rebuilt from the store, want 0 as it did live", x.name, n, d)
			}
		}
	}
}

// startRetainingProgram starts a hub as startProgram does, keeping
// declarations for period, and its retention sweep every 100 ms.
func startRetainingProgram(t *testing.T, name, dir string, st hub.Store, bus broker.Bus, period time.Duration) *twoHubsHub {
	t.Helper()
	c, err := app.ServeConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0", "--hub-id", name, "--retain-declarations", period.String(), "--sweep-every", "100ms"},
		io.Discard, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c.ShutdownGrace = shutdownGrace
	p := &app.Program{Config: c, Log: slog.New(slog.DiscardHandler), Store: st, Bus: bus}
	if err := p.Open(t.Context()); err != nil {
		t.Fatalf("open hub %s: %v", name, err)
	}
	if err := p.Serve(t.Context()); err != nil {
		_ = p.Close()
		t.Fatalf("serve hub %s: %v", name, err)
	}
	p.StartSweep(t.Context())
	x := &twoHubsHub{name: name, p: p, h: &hubProc{url: "http://" + p.Addr(), dir: dir}}
	t.Cleanup(func() { x.close(t) })
	return x
}
