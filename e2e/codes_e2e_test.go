package e2e

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes/token"
)

// TestTrustListAndVerify: the trust list is public, as GraphQL and as the
// static document checkpoints load; a checkpoint's verification says why a
// code is refused.
func TestTrustListAndVerify(t *testing.T) {
	h := startHub(t, t.TempDir())
	var q struct {
		TrustList []struct{ Issuer, KeyID, PublicKey string }
	}
	must(t, client{url: h.url}, `{ trustList { issuer keyId publicKey } }`, nil, &q)
	if len(q.TrustList) != 1 || q.TrustList[0].Issuer != "gridhub" || len(q.TrustList[0].PublicKey) != 44 {
		t.Fatalf("trustList = %+v", q)
	}
	resp, err := http.Get(h.url + "/trust.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tl, err := token.ParseTrustList(b)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/trust.json (status %d) does not parse: %v\n%s", resp.StatusCode, err, b)
	}
	if k, ok := tl.Key(q.TrustList[0].KeyID); !ok || k.Issuer != "gridhub" {
		t.Errorf("/trust.json lacks the key GraphQL lists: %s", b)
	}
	var v struct {
		VerifyCode struct {
			Valid  bool
			Reason *string
		}
	}
	must(t, h.as(t, "CHECKPOINT", "k1"), `{ verifyCode(token: "GH1:AAAA.BBBB") { valid reason } }`, nil, &v)
	if v.VerifyCode.Valid || v.VerifyCode.Reason == nil || *v.VerifyCode.Reason != "MALFORMED" {
		out, _ := json.Marshal(v)
		t.Errorf("a malformed code: %s, want valid false, reason MALFORMED", out)
	}
}

// healthCodeOf is a resident's code as GraphQL gives it.
type healthCodeOf struct {
	Colour  string
	Reasons []string
	Subject string
	Token   string
	QRURL   string `json:"qrUrl"`
}

func healthCode(t *testing.T, c client, residentID string) healthCodeOf {
	t.Helper()
	var q struct{ HealthCode healthCodeOf }
	must(t, c, `query($r: ID!) { healthCode(residentId: $r) { colour reasons subject token qrUrl } }`, map[string]any{"r": residentID}, &q)
	return q.HealthCode
}

type scanOutcome struct {
	Result, Reason string
	Scan           *struct {
		ID, Cell, Colour, Result string
		ResidentID               *string
	}
}

func recordScan(t *testing.T, c client, code string, temp float64) (scanOutcome, gqlResponse) {
	t.Helper()
	var out struct{ RecordScan scanOutcome }
	vars := map[string]any{"c": code}
	if temp != 0 {
		vars["t"] = temp
	}
	r := gql(t, c, `mutation($c: String!, $t: Float) { recordScan(input: {code: $c, temperature: $t}) {
		result reason scan { id cell colour result residentId } } }`, vars)
	if len(r.Errors) == 0 {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out.RecordScan, r
}

// TestHealthCodesEndToEnd runs the health code's day through GraphQL: a
// declaration sets a colour by the rules, the code is signed and shown as
// a QR image, a checkpoint scans it (a fever alerts the committee), a
// risk area recolours the people living in it and lifting it restores
// them, tracing reads are audited, and a case turns its contacts yellow.
func TestHealthCodesEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	resident := h.as(t, "RESIDENT", ac.residents[0])
	committee := h.as(t, "COMMITTEE", ac.committees[0])
	checkpoint := h.as(t, "CHECKPOINT", ac.checkpoints[0])
	district := h.as(t, "DISTRICT", ac.districts[0])
	alerts := subscribeSSE(t, committee, `subscription($c: ID!) { riskAlerts(committeeId: $c) { kind cell checkpointId temperature rings reason } }`,
		map[string]any{"c": ac.committees[0]})

	// A neighbour in the same committee, declared by the committee.
	var reg struct{ RegisterResident struct{ ID string } }
	must(t, admin, `mutation($c: String!) { registerResident(input: {name: "Chen Yu", idNumber: "Q123456782", location: {lat: 25.0451, lng: 121.5151}, committeeCode: $c}) { id } }`,
		map[string]any{"c": ac.codes[0]}, &reg)
	neighbour := reg.RegisterResident.ID

	// Declarations: the resident for themselves, the committee for its member.
	var d struct {
		DeclareHealth struct {
			Declaration struct {
				Colour, FiledBy, Filer string
				Reasons                []string
			}
			Code healthCodeOf
		}
	}
	must(t, resident, `mutation($r: ID!) { declareHealth(input: {residentId: $r, temperature: 36.6}) {
		declaration { colour filedBy filer reasons } code { colour token subject qrUrl } } }`, map[string]any{"r": ac.residents[0]}, &d)
	if got := d.DeclareHealth; got.Declaration.Colour != "GREEN" || got.Code.Colour != "GREEN" || got.Declaration.FiledBy != "SELF" ||
		!strings.HasPrefix(got.Code.Token, "GH1:") || strings.Contains(got.Code.Subject, "Z0000") {
		t.Fatalf("a healthy declaration: %+v", got)
	}
	green := d.DeclareHealth.Code
	must(t, committee, `mutation($r: ID!) { declareHealth(input: {residentId: $r, filedBy: COMMITTEE, symptoms: ["Sore throat"]}) {
		declaration { colour filedBy filer reasons } code { colour } } }`, map[string]any{"r": neighbour}, &d)
	if got := d.DeclareHealth.Declaration; got.Colour != "YELLOW" || got.FiledBy != "COMMITTEE" || got.Filer != ac.committees[0] || !slices.Contains(got.Reasons, "SYMPTOMS") {
		t.Fatalf("a committee's declaration with a symptom: %+v", got)
	}
	for _, tc := range []struct{ input, code string }{
		{`{residentId: "` + ac.residents[0] + `", temperature: 52}`, "BAD_USER_INPUT"},
		{`{residentId: "` + ac.residents[0] + `", symptoms: ["hiccups"]}`, "BAD_USER_INPUT"},
		{`{residentId: "` + ac.residents[0] + `", filedBy: SCHOOL, organisation: "No. 1 Primary"}`, "FORBIDDEN"},
	} {
		if got := gql(t, resident, `mutation { declareHealth(input: `+tc.input+`) { declaration { id } } }`, nil).code(); got != tc.code {
			t.Errorf("declareHealth(%s): code %q, want %q", tc.input, got, tc.code)
		}
	}
	var school struct {
		DeclareHealth struct {
			Declaration struct{ FiledBy, Filer string }
		}
	}
	must(t, admin, `mutation($r: ID!) { declareHealth(input: {residentId: $r, filedBy: SCHOOL, organisation: "No. 1 Primary"}) { declaration { filedBy filer } } }`,
		map[string]any{"r": neighbour}, &school)
	if got := school.DeclareHealth.Declaration; got.FiledBy != "SCHOOL" || got.Filer != "No. 1 Primary" {
		t.Errorf("a school's declaration: %+v", got)
	}

	// The QR image: the holder's, not another resident's.
	for _, tc := range []struct {
		c      client
		status int
	}{{resident, 200}, {committee, 200}, {h.as(t, "RESIDENT", ac.residents[1]), 403}, {client{url: h.url}, 401}} {
		req, _ := http.NewRequest(http.MethodGet, h.url+green.QRURL, nil)
		if tc.c.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: status %d, want %d", green.QRURL, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == 200 {
			if cfg, err := png.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 256 {
				t.Errorf("QR image: %v, %+v", err, cfg)
			}
		}
	}

	// Scans at the checkpoint: pass, fever (an alert for the committee),
	// a forged code denied with its reason, impossible readings refused.
	out, r := recordScan(t, checkpoint, green.Token, 36.5)
	if r.code() != "" || out.Result != "PASS" || out.Scan == nil || out.Scan.ResidentID == nil || *out.Scan.ResidentID != ac.residents[0] {
		t.Fatalf("a green scan: %+v %+v", out, r.Errors)
	}
	if out, r = recordScan(t, checkpoint, green.Token, 38.9); r.code() != "" || out.Result != "FEVER" {
		t.Fatalf("a fever scan: %+v %+v", out, r.Errors)
	}
	a, ok := alerts.first(5 * time.Second)
	if !ok || !strings.Contains(string(a.Data), `"FEVER_SCAN"`) || !strings.Contains(string(a.Data), ac.checkpoints[0]) {
		t.Fatalf("the committee got no fever alert: %s %v", a.Data, ok)
	}
	if strings.Contains(string(a.Data), ac.residents[0]) {
		t.Errorf("a fever alert names the person: %s", a.Data)
	}
	forged := green.Token[:len(green.Token)-4] + "AAAA"
	if out, r = recordScan(t, checkpoint, forged, 36.5); r.code() != "" || out.Result != "DENY" || out.Reason != "BAD_SIGNATURE" || out.Scan != nil {
		t.Errorf("a forged code: %+v %+v", out, r.Errors)
	}
	if _, r = recordScan(t, checkpoint, green.Token, 47); r.code() != "BAD_USER_INPUT" {
		t.Errorf("a 47 °C scan: %q, want BAD_USER_INPUT", r.code())
	}
	if r := gql(t, admin, `mutation($c: String!) { recordScan(input: {checkpointId: "nowhere", code: $c}) { result } }`, map[string]any{"c": green.Token}); r.code() != "NOT_FOUND" {
		t.Errorf("an unknown checkpoint: %q, want NOT_FOUND", r.code())
	}
	// The school's later declaration (no symptoms) is the neighbour's
	// latest: GREEN again.
	nc := healthCode(t, committee, neighbour)
	if out, r = recordScan(t, checkpoint, nc.Token, 0); r.code() != "" || out.Result != "PASS" || out.Scan == nil {
		t.Errorf("the neighbour's code: %+v %+v", out, r.Errors)
	}

	// A risk area on the resident's home cell: RED while it is in force,
	// the old code superseded; lifting it restores GREEN.
	var home struct {
		Resident struct{ Cell struct{ ID string } }
	}
	must(t, admin, `query($r: ID!) { resident(id: $r, purpose: "test") { cell { id } } }`, map[string]any{"r": ac.residents[0]}, &home)
	var mark struct{ MarkRiskArea struct{ ID string } }
	must(t, district, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "cluster at the market") { id } }`,
		map[string]any{"c": home.Resident.Cell.ID}, &mark)
	if c := healthCode(t, resident, ac.residents[0]); c.Colour != "RED" || !slices.Contains(c.Reasons, "HIGH_RISK_CELL") {
		t.Errorf("in a high-risk cell: %+v", c)
	}
	var v struct {
		VerifyCode struct {
			Valid  bool
			Reason *string
		}
	}
	must(t, checkpoint, `query($c: String!) { verifyCode(token: $c) { valid reason } }`, map[string]any{"c": green.Token}, &v)
	if v.VerifyCode.Valid || v.VerifyCode.Reason == nil || *v.VerifyCode.Reason != "SUPERSEDED" {
		t.Errorf("the green code after the colour changed: %+v", v)
	}
	if a, ok := alerts.first(5 * time.Second); !ok || !strings.Contains(string(a.Data), `"RISK_AREA_MARKED"`) || !strings.Contains(string(a.Data), "cluster at the market") {
		t.Errorf("the committee got no risk-area alert: %s", a.Data)
	}
	var areas struct {
		RiskAreas []struct {
			ID    string
			Cells []struct{ Level string }
		}
	}
	must(t, resident, `{ riskAreas { id cells { level } } }`, nil, &areas)
	if len(areas.RiskAreas) != 1 || len(areas.RiskAreas[0].Cells) != 7 {
		t.Errorf("riskAreas = %+v", areas)
	}
	must(t, district, `mutation($id: ID!) { liftRiskArea(id: $id) { active } }`, map[string]any{"id": mark.MarkRiskArea.ID}, nil)
	if c := healthCode(t, resident, ac.residents[0]); c.Colour != "GREEN" {
		t.Errorf("after the risk area was lifted: %+v", c)
	}

	// Tracing: the neighbour was scanned at the same checkpoint; reads
	// need a purpose and are audited.
	since := time.Now().Add(-time.Hour).Format(time.RFC3339)
	var tr struct{ Trajectory []struct{ Result string } }
	must(t, district, `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "fever at station K1") { result } }`,
		map[string]any{"r": ac.residents[0], "s": since}, &tr)
	if len(tr.Trajectory) != 2 || tr.Trajectory[0].Result != "PASS" || tr.Trajectory[1].Result != "FEVER" {
		t.Errorf("trajectory = %+v", tr)
	}
	if r := gql(t, district, `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: " ") { result } }`,
		map[string]any{"r": ac.residents[0], "s": since}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("a trajectory without a purpose: %q", r.code())
	}
	var cs struct {
		Contacts []struct{ ResidentID *string }
	}
	must(t, district, `query($r: ID!, $s: Time!) { contacts(residentId: $r, since: $s, window: 30, purpose: "fever at station K1") { residentId } }`,
		map[string]any{"r": ac.residents[0], "s": since}, &cs)
	if len(cs.Contacts) != 1 || cs.Contacts[0].ResidentID == nil || *cs.Contacts[0].ResidentID != neighbour {
		t.Errorf("contacts = %+v, want the neighbour", cs)
	}
	var audit struct {
		AuditLog struct {
			Entries []struct{ Action, Purpose, ActorRole string }
		}
	}
	must(t, admin, `query($r: ID!) { auditLog(targetId: $r) { entries { action purpose actorRole } } }`, map[string]any{"r": ac.residents[0]}, &audit)
	var traced []string
	for _, e := range audit.AuditLog.Entries {
		if e.Purpose == "fever at station K1" && e.ActorRole == "DISTRICT" {
			traced = append(traced, e.Action)
		}
	}
	if !slices.Equal(traced, []string{"trajectory", "contacts"}) {
		t.Errorf("audit of the tracing reads = %v (%+v)", traced, audit)
	}

	// A confirmed case: RED, and the traced contact YELLOW.
	must(t, district, `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive PCR") { residentId } }`, map[string]any{"r": ac.residents[0]}, nil)
	if c := healthCode(t, resident, ac.residents[0]); c.Colour != "RED" || !slices.Contains(c.Reasons, "CONFIRMED_CASE") {
		t.Errorf("a confirmed case: %+v", c)
	}
	if c := healthCode(t, committee, neighbour); c.Colour == "GREEN" || !slices.Contains(c.Reasons, "TRACED_CONTACT") {
		t.Errorf("the case's contact: %+v", c)
	}

	// The district sees declarations and colours aggregated by cell.
	var agg struct {
		District struct {
			DeclarationCounts []struct {
				Colour, FiledBy string
				Count           int
			}
			ColourCounts []struct {
				Colour string
				Count  int
			}
		}
	}
	must(t, district, `query($d: ID!) { district(id: $d) { declarationCounts { colour filedBy count } colourCounts { colour count } } }`,
		map[string]any{"d": ac.districts[0]}, &agg)
	total := map[string]int{}
	for _, c := range agg.District.ColourCounts {
		total[c.Colour] += c.Count
	}
	if total["RED"] != 1 || total["YELLOW"] != 1 || total["GREEN"] != 0 {
		t.Errorf("colour counts = %v", total)
	}
	filed := map[string]int{}
	for _, c := range agg.District.DeclarationCounts {
		filed[c.FiledBy] += c.Count
	}
	if filed["SELF"] != 1 || filed["SCHOOL"] != 1 {
		t.Errorf("declaration counts by filer = %v", filed)
	}
}

// TestMutualRecognition: a hub configured with another city's trust list
// verifies that city's codes, and its checkpoints let their holders pass.
func TestMutualRecognition(t *testing.T) {
	other := startHub(t, t.TempDir())
	admin := other.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	must(t, admin, `mutation($r: ID!) { declareHealth(input: {residentId: $r}) { code { colour } } }`, map[string]any{"r": ac.residents[0]}, nil)
	visitor := healthCode(t, admin, ac.residents[0])

	resp, err := http.Get(other.url + "/trust.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "other-city.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	lone := startHub(t, t.TempDir())
	var v struct {
		VerifyCode struct {
			Valid  bool
			Reason *string
		}
	}
	must(t, lone.as(t, "CHECKPOINT", "k1"), `query($c: String!) { verifyCode(token: $c) { valid reason } }`, map[string]any{"c": visitor.Token}, &v)
	if v.VerifyCode.Valid || v.VerifyCode.Reason == nil || *v.VerifyCode.Reason != "UNKNOWN_KEY" {
		t.Errorf("another city's code without its trust list: %+v", v)
	}

	here := startHub(t, t.TempDir(), "--trust-lists", file)
	hadmin := here.as(t, "ADMIN", "")
	hc := seedAccessCity(t, hadmin)
	var tl struct{ TrustList []struct{ KeyID string } }
	must(t, hadmin, `{ trustList { keyId } }`, nil, &tl)
	if len(tl.TrustList) != 2 {
		t.Errorf("merged trust list has %d keys, want 2", len(tl.TrustList))
	}
	must(t, here.as(t, "CHECKPOINT", hc.checkpoints[0]), `query($c: String!) { verifyCode(token: $c) { valid reason } }`, map[string]any{"c": visitor.Token}, &v)
	if !v.VerifyCode.Valid {
		t.Errorf("another city's code with its trust list: %+v", v)
	}
	out, r := recordScan(t, here.as(t, "CHECKPOINT", hc.checkpoints[0]), visitor.Token, 36.4)
	if r.code() != "" || out.Result != "PASS" || out.Scan == nil || out.Scan.ResidentID != nil {
		t.Errorf("a visitor's scan: %+v %+v", out, r.Errors)
	}
}
