package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
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
