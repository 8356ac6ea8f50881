package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/privacy"
)

type accessRow struct {
	Seq        int
	ActorRole  string
	ActorScope string
	Official   *string
	Action     string
	Purpose    string
	Count      int
}

// key is what identifies a read across the resident's view and the
// audit trail.
func (a accessRow) key() string {
	return fmt.Sprintf("%d|%s|%s|%s|%s|%d", a.Seq, a.ActorRole, a.ActorScope, a.Action, a.Purpose, a.Count)
}

const accessFields = `entries { seq actorRole actorScope official action purpose count at } nextAfter`

// trail is the audit trail of one target as ADMIN reads it (auditOf).
func trail(t *testing.T, admin client, target string) []accessRow {
	t.Helper()
	var rows []accessRow
	for _, e := range auditOf(t, admin, target) {
		rows = append(rows, accessRow{Seq: e.Seq, ActorRole: e.ActorRole, ActorScope: e.ActorID, Action: e.Action, Purpose: e.Purpose, Count: e.Count})
	}
	return rows
}

func keys(rows []accessRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out
}

// TestAccessLogShowsOnlyOwnEntries has two residents read by their
// district, their committee and ADMIN, and checks that each resident,
// committee and district sees exactly the reads it may.
func TestAccessLogShowsOnlyOwnEntries(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	var residents, committees, districts [2]client
	for i := range 2 {
		residents[i] = h.as(t, "RESIDENT", ac.residents[i])
		committees[i] = h.as(t, "COMMITTEE", ac.committees[i])
		districts[i] = h.as(t, "DISTRICT", ac.districts[i])
	}
	for i := range 2 {
		for n := range i + 2 { // a different number of reads each
			must(t, districts[i], `query($r: ID!, $s: Time!, $p: String!) { trajectory(residentId: $r, since: $s, purpose: $p) { id } }`,
				map[string]any{"r": ac.residents[i], "s": since, "p": fmt.Sprintf("tracing %d.%d", i, n)}, nil)
			must(t, committees[i], `query($r: ID!, $p: String) { resident(id: $r, purpose: $p) { name } }`,
				map[string]any{"r": ac.residents[i], "p": fmt.Sprintf("visit %d.%d", i, n)}, nil)
		}
		must(t, admin, `query($r: ID!) { resident(id: $r, purpose: "city check") { name } }`, map[string]any{"r": ac.residents[i]}, nil)
		// A resident reading themselves is not recorded.
		must(t, residents[i], `query($r: ID!) { resident(id: $r) { name } }`, map[string]any{"r": ac.residents[i]}, nil)
	}

	for i := range 2 {
		other := 1 - i
		want := trail(t, admin, ac.residents[i])
		// The trail holds the reads of this resident only, by its own
		// district and committee and ADMIN.
		roles := map[string]int{}
		for _, e := range want {
			roles[e.ActorRole+"/"+e.ActorScope]++
			if e.ActorScope == ac.districts[other] || e.ActorScope == ac.committees[other] || e.ActorRole == "RESIDENT" {
				t.Errorf("resident %d: trail holds %+v", i, e)
			}
		}
		if roles["DISTRICT/"+ac.districts[i]] != i+2 || roles["COMMITTEE/"+ac.committees[i]] != i+2 || roles["ADMIN/"] != 1 {
			t.Fatalf("resident %d: trail %v", i, roles)
		}

		var mine struct {
			MyAccessLog struct{ Entries []accessRow }
		}
		must(t, residents[i], `{ myAccessLog { `+accessFields+` } }`, nil, &mine)
		if got := keys(mine.MyAccessLog.Entries); !slices.Equal(got, keys(want)) {
			t.Errorf("resident %d: myAccessLog\n%v\nwant\n%v", i, got, keys(want))
		}
		for _, e := range mine.MyAccessLog.Entries {
			if e.Official != nil {
				t.Errorf("resident %d: official name %q shown by default", i, *e.Official)
			}
		}

		// The committee shows its member the same log (its own read of
		// the resident in the same query comes first).
		var com struct {
			Resident struct{ AccessLog struct{ Entries []accessRow } }
		}
		must(t, committees[i], `query($r: ID!) { resident(id: $r, purpose: "show member") { accessLog { `+accessFields+` } } }`, map[string]any{"r": ac.residents[i]}, &com)
		after := trail(t, admin, ac.residents[i])
		if got := keys(com.Resident.AccessLog.Entries); !slices.Equal(got, keys(after[:len(after)-1])) {
			t.Errorf("committee %d: accessLog\n%v\nwant\n%v", i, got, keys(after[:len(after)-1]))
		}
		if r := gql(t, committees[i], `query($r: ID!) { resident(id: $r) { accessLog { `+accessFields+` } } }`, map[string]any{"r": ac.residents[other]}); r.code() != "FORBIDDEN" {
			t.Errorf("committee %d reads resident %d's log: %q %s", i, other, r.code(), r.Data)
		}

		// The district sees the reads by others only.
		var dis struct {
			ResidentAccessLog struct{ Entries []accessRow }
		}
		must(t, districts[i], `query($r: ID!) { residentAccessLog(residentId: $r) { `+accessFields+` } }`, map[string]any{"r": ac.residents[i]}, &dis)
		full := trail(t, admin, ac.residents[i])
		var others []accessRow
		for _, e := range full[:len(full)-1] { // the last is this very read
			if e.ActorRole != "DISTRICT" || e.ActorScope != ac.districts[i] {
				others = append(others, e)
			}
		}
		if got := keys(dis.ResidentAccessLog.Entries); !slices.Equal(got, keys(others)) || len(others) < i+3 {
			t.Errorf("district %d: residentAccessLog\n%v\nwant\n%v", i, got, keys(others))
		}
		if r := gql(t, districts[i], `query($r: ID!) { residentAccessLog(residentId: $r) { `+accessFields+` } }`, map[string]any{"r": ac.residents[other]}); r.code() != "FORBIDDEN" {
			t.Errorf("district %d reads resident %d's log: %q %s", i, other, r.code(), r.Data)
		}
	}

	// Paging one entry at a time walks the same log.
	for i := range 2 {
		var all struct {
			MyAccessLog struct{ Entries []accessRow }
		}
		must(t, residents[i], `{ myAccessLog(first: 1000) { `+accessFields+` } }`, nil, &all)
		var walked []accessRow
		var after *int
		for range 100 {
			var page struct {
				MyAccessLog struct {
					Entries   []accessRow
					NextAfter *int
				}
			}
			must(t, residents[i], `query($a: Int) { myAccessLog(first: 2, after: $a) { `+accessFields+` } }`, map[string]any{"a": after}, &page)
			walked = append(walked, page.MyAccessLog.Entries...)
			if after = page.MyAccessLog.NextAfter; after == nil {
				break
			}
		}
		if !slices.Equal(keys(walked), keys(all.MyAccessLog.Entries)) || len(walked) < 4 {
			t.Errorf("resident %d: paged %v, whole %v", i, keys(walked), keys(all.MyAccessLog.Entries))
		}
	}

	tests := []struct {
		give string
		want string
	}{
		{`{ myAccessLog(first: 0) { nextAfter } }`, "BAD_USER_INPUT"},
		{`{ myAccessLog(first: 1001) { nextAfter } }`, "BAD_USER_INPUT"},
		{`{ myAccessLog(after: -1) { nextAfter } }`, "BAD_USER_INPUT"},
		{`{ myAccessLog(first: 1000, after: 0) { nextAfter } }`, ""},
	}
	for _, tt := range tests {
		if got := gql(t, residents[0], tt.give, nil).code(); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.give, got, tt.want)
		}
	}
}

// TestAccessLogOfficialNames shows the official's name only when the hub
// is told to.
func TestAccessLogOfficialNames(t *testing.T) {
	tests := []struct {
		give []string
		want bool
	}{
		{nil, false},
		{[]string{"--show-official-names=false"}, false},
		{[]string{"--show-official-names"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			h := startHub(t, t.TempDir(), tt.give...)
			admin := h.as(t, "ADMIN", "")
			ac := seedAccessCity(t, admin)
			must(t, h.as(t, "COMMITTEE", ac.committees[0]), `query($r: ID!) { resident(id: $r, purpose: "visit") { name } }`, map[string]any{"r": ac.residents[0]}, nil)
			must(t, h.as(t, "DISTRICT", ac.districts[0]), `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "tracing") { id } }`,
				map[string]any{"r": ac.residents[0], "s": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, nil)
			var mine struct {
				MyAccessLog struct{ Entries []accessRow }
			}
			must(t, h.as(t, "RESIDENT", ac.residents[0]), `{ myAccessLog { `+accessFields+` } }`, nil, &mine)
			if len(mine.MyAccessLog.Entries) < 2 {
				t.Fatalf("entries %+v", mine.MyAccessLog.Entries)
			}
			for _, e := range mine.MyAccessLog.Entries {
				wantName := "test-" + strings.ToLower(e.ActorRole)
				switch {
				case tt.want && (e.Official == nil || *e.Official != wantName):
					t.Errorf("%+v: official %v, want %q", e, e.Official, wantName)
				case !tt.want && e.Official != nil:
					t.Errorf("%+v: official %q shown", e, *e.Official)
				}
			}
		})
	}
}

// exportGet fetches /me/export.json with token (none when empty).
func exportGet(t *testing.T, h *hubProc, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(h.url, "/graphql")+"/me/export.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestExportHoldsEverythingOfTheResidentOnly fills in each kind of record
// for two residents and checks that each export holds its resident's, and
// that every other caller is refused.
func TestExportHoldsEverythingOfTheResidentOnly(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	now := time.Now().UTC()
	must(t, admin, `mutation($o: Time!, $c: Time!) { openRound(input: {id: "rx", name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, fulfilments: [PICKUP], opens: $o, closes: $c, maxK: 2}) { id } }`,
		map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}, nil)
	type fixture struct {
		reservation, allocation, pickupCode, shortage, scan string
	}
	var fx [2]fixture
	for i := range 2 {
		res := h.as(t, "RESIDENT", ac.residents[i])
		must(t, res, `mutation($r: ID!) { declareHealth(input: {residentId: $r, symptoms: ["cough"]}) { code { colour } } }`, map[string]any{"r": ac.residents[i]}, nil)
		var r struct {
			Reserve struct {
				Reservation struct{ ID string }
				Allocation  struct{ ID, PickupCode string }
			}
		}
		must(t, res, `mutation($p: ID!) { reserve(input: {roundId: "rx", residentId: $p}) { reservation { id } allocation { id pickupCode } } }`, map[string]any{"p": ac.residents[i]}, &r)
		var s struct{ RegisterShortage struct{ ID string } }
		must(t, res, `mutation($p: ID!) { registerShortage(residentId: $p, sku: TEST_KIT) { id } }`, map[string]any{"p": ac.residents[i]}, &s)
		var c struct{ HealthCode struct{ Token string } }
		must(t, res, `query($r: ID!) { healthCode(residentId: $r) { token } }`, map[string]any{"r": ac.residents[i]}, &c)
		var sc struct {
			RecordScan struct{ Scan struct{ ID string } }
		}
		must(t, h.as(t, "CHECKPOINT", ac.checkpoints[i]), `mutation($k: ID!, $code: String!) { recordScan(input: {checkpointId: $k, code: $code, temperature: 36.6}) { scan { id } } }`,
			map[string]any{"k": ac.checkpoints[i], "code": c.HealthCode.Token}, &sc)
		must(t, h.as(t, "DISTRICT", ac.districts[i]), `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "export test") { id } }`,
			map[string]any{"r": ac.residents[i], "s": now.Add(-time.Hour).Format(time.RFC3339)}, nil)
		fx[i] = fixture{r.Reserve.Reservation.ID, r.Reserve.Allocation.ID, r.Reserve.Allocation.PickupCode, s.RegisterShortage.ID, sc.RecordScan.Scan.ID}
		if fx[i].allocation == "" || fx[i].pickupCode == "" || fx[i].scan == "" {
			t.Fatalf("fixture %d: %+v", i, fx[i])
		}
	}

	for i := range 2 {
		other := 1 - i
		resp, body := exportGet(t, h, mintToken(t, h.dir, "RESIDENT", ac.residents[i]))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resident %d: status %d: %s", i, resp.StatusCode, body)
		}
		for k, want := range map[string]string{"Cache-Control": "no-store", "Content-Type": "application/json", "Content-Disposition": "attachment"} {
			if got := resp.Header.Get(k); !strings.HasPrefix(got, want) {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		var doc struct {
			Notes             []string
			Registration      struct{ ID, Name, IDNumberMasked, CommitteeID string }
			LatestDeclaration *struct{ Symptoms []string }
			HealthCode        *struct{ Colour string }
			Reservations      []struct{ ID, AllocationID string }
			Allocations       []struct{ ID, PickupCode string }
			Shortages         []struct{ ID string }
			Scans             []struct{ ID, CheckpointID string }
			AccessLog         []struct{ ActorRole, ActorScope, Action, Purpose, Official string }
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		reg := doc.Registration
		if reg.ID != ac.residents[i] || reg.Name == "" || reg.IDNumberMasked == "" || reg.CommitteeID != ac.committees[i] {
			t.Errorf("resident %d: registration %+v", i, reg)
		}
		if number := privacy.ExampleTaiwanID('Z', i+1); strings.Contains(string(body), number) {
			t.Errorf("resident %d: the export holds the ID number", i)
		}
		if !strings.Contains(strings.Join(doc.Notes, " "), "never stores your ID number") {
			t.Errorf("notes %q", doc.Notes)
		}
		if doc.LatestDeclaration == nil || !slices.Contains(doc.LatestDeclaration.Symptoms, "COUGH") || doc.HealthCode == nil || doc.HealthCode.Colour == "" {
			t.Errorf("resident %d: declaration %+v code %+v", i, doc.LatestDeclaration, doc.HealthCode)
		}
		if len(doc.Reservations) != 1 || doc.Reservations[0].ID != fx[i].reservation || doc.Reservations[0].AllocationID != fx[i].allocation {
			t.Errorf("resident %d: reservations %+v, want %+v", i, doc.Reservations, fx[i])
		}
		if len(doc.Allocations) != 1 || doc.Allocations[0].ID != fx[i].allocation || doc.Allocations[0].PickupCode != fx[i].pickupCode {
			t.Errorf("resident %d: allocations %+v, want %+v", i, doc.Allocations, fx[i])
		}
		if len(doc.Shortages) != 1 || doc.Shortages[0].ID != fx[i].shortage {
			t.Errorf("resident %d: shortages %+v, want %+v", i, doc.Shortages, fx[i])
		}
		if len(doc.Scans) != 1 || doc.Scans[0].ID != fx[i].scan || doc.Scans[0].CheckpointID != ac.checkpoints[i] {
			t.Errorf("resident %d: scans %+v, want %+v", i, doc.Scans, fx[i])
		}
		var traced bool
		for _, e := range doc.AccessLog {
			traced = traced || e.ActorRole == "DISTRICT" && e.ActorScope == ac.districts[i] && e.Action == "trajectory" && e.Purpose == "export test"
			if e.ActorScope == ac.districts[other] || e.ActorScope == ac.committees[other] || e.Official != "" {
				t.Errorf("resident %d: access log entry %+v", i, e)
			}
		}
		if !traced {
			t.Errorf("resident %d: access log %+v lacks the district's trace", i, doc.AccessLog)
		}
		for _, id := range []string{ac.residents[other], fx[other].reservation, fx[other].allocation, fx[other].pickupCode, fx[other].shortage, fx[other].scan} {
			if strings.Contains(string(body), id) {
				t.Errorf("resident %d: the export holds %q of resident %d", i, id, other)
			}
		}
	}

	tests := []struct {
		give       string // role; "" for no token, "bad" for a token of another hub
		wantStatus int
		wantCode   string
	}{
		{"", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"bad", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"ADMIN", http.StatusForbidden, "FORBIDDEN"},
		{"DISTRICT", http.StatusForbidden, "FORBIDDEN"},
		{"COMMITTEE", http.StatusForbidden, "FORBIDDEN"},
		{"PARTNER", http.StatusForbidden, "FORBIDDEN"},
		{"PHARMACY", http.StatusForbidden, "FORBIDDEN"},
		{"CHECKPOINT", http.StatusForbidden, "FORBIDDEN"},
	}
	scopes := map[string]string{"DISTRICT": ac.districts[0], "COMMITTEE": ac.committees[0], "PARTNER": "partner-1", "PHARMACY": ac.pharmacies[0], "CHECKPOINT": ac.checkpoints[0]}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			var token string
			switch tt.give {
			case "":
			case "bad":
				token = foreignToken(t, "RESIDENT", ac.residents[0])
			default:
				token = mintToken(t, h.dir, tt.give, scopes[tt.give])
			}
			resp, body := exportGet(t, h, token)
			var r gqlResponse
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if resp.StatusCode != tt.wantStatus || r.code() != tt.wantCode || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("status %d code %q cache %q, want %d %q: %s", resp.StatusCode, r.code(), resp.Header.Get("Cache-Control"), tt.wantStatus, tt.wantCode, body)
			}
			if strings.Contains(string(body), ac.residents[0]) {
				t.Errorf("refused, yet data leaked: %s", body)
			}
		})
	}
}
