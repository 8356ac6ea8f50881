package codes_test

import (
	"context"
	"errors"
	"github.com/gridhub/gridhub/internal/testclock"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// events records what is published.
type events struct {
	mu  sync.Mutex
	evs []hub.Event
}

func (e *events) Publish(_ context.Context, ev hub.Event) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
	return uint64(len(e.evs)), nil
}

// take returns and forgets the events of a kind.
func (e *events) take(kind hub.EventKind) []hub.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out, rest []hub.Event
	for _, ev := range e.evs {
		if ev.Kind == kind {
			out = append(out, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	e.evs = rest
	return out
}

// env is a service over a real embedded store with a small city: residents
// at home (the risk centre), near (ring 1), far (ring 2) and away (ring 5).
type env struct {
	st     *boltstore.Store
	svc    *codes.Service
	clock  *testclock.Clock
	events *events
	issuer *token.Issuer
	home   hub.Cell
	near   hub.Cell
	far    hub.Cell
	away   hub.Cell
}

var admin = codes.Reader{Role: "ADMIN", Subject: "admin-1", Purpose: "tracing a confirmed case"}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{st: st, clock: testclock.New(now), events: &events{}}
	e.home = shanghai(t)
	e.near, e.far, e.away = ring(t, e.home, 1)[0], ring(t, e.home, 2)[0], ring(t, e.home, 5)[0]
	if e.issuer, err = token.GenerateIssuer("Shanghai", "sh-2020-02", nil, 0); err != nil {
		t.Fatal(err)
	}
	e.svc, err = codes.New(codes.Options{
		Store: st, Issuer: e.issuer, Publisher: e.events, Now: e.clock.Now, Workers: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	res := func(id string, cell hub.Cell, committee string) *hub.Resident {
		return &hub.Resident{ID: id, Name: id, IDHash: "hash-" + id, Cell: cell, CommitteeID: committee, DistrictID: "huangpu", RegisteredAt: now}
	}
	must(t, st.CreateResidents(ctx,
		res("alice", e.home, "c1"), res("bob", e.near, "c1"), res("carol", e.far, "c2"),
		res("dave", e.away, "c2"), res("erin", e.home, "c1"),
	))
	must(t, st.UpsertCheckpoints(ctx,
		&hub.Checkpoint{ID: "k-home", Name: "Market", Kind: "HOUSING", Cell: e.home, DistrictID: "huangpu"},
		&hub.Checkpoint{ID: "k-near", Name: "Metro", Kind: "STATION", Cell: e.near, DistrictID: "huangpu"},
		&hub.Checkpoint{ID: "k-away", Name: "Office", Kind: "OFFICE", Cell: e.away, DistrictID: "huangpu"},
	))
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := hub.ErrorCode(err); got != code {
		t.Fatalf("%s: %q (%v), want %q", what, got, err, code)
	}
}

func (e *env) declare(t *testing.T, in codes.DeclareInput) (*hub.Declaration, *hub.HealthCode) {
	t.Helper()
	d, hc, err := e.svc.Declare(t.Context(), in)
	if err != nil {
		t.Fatalf("Declare(%+v): %v", in, err)
	}
	return d, hc
}

func (e *env) colour(t *testing.T, residentID string) hub.Colour {
	t.Helper()
	hc, err := e.st.HealthCode(t.Context(), residentID)
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return ""
	}
	must(t, err)
	return hc.Colour
}

func TestDeclare(t *testing.T) {
	e := newEnv(t)
	d, hc := e.declare(t, codes.DeclareInput{ResidentID: "alice", Temperature: 37.6, Symptoms: []string{"cough"}})
	if d.Colour != hub.Red || !slices.Equal(d.Reasons, []string{codes.RuleFeverWithSymptoms, codes.RuleFever, codes.RuleSymptoms}) {
		t.Fatalf("declaration colour %s %v", d.Colour, d.Reasons)
	}
	if d.FiledByKind != hub.FiledBySelf || d.FiledBy != "alice" || d.Cell != e.home || d.DistrictID != "huangpu" || d.SubjectID == "" {
		t.Fatalf("declaration %+v", d)
	}
	if hc.Colour != hub.Red || hc.SubjectID != d.SubjectID || hc.CommitteeID != "c1" {
		t.Fatalf("health code %+v", hc)
	}
	evs := e.events.take(hub.EventColourChanged)
	if len(evs) != 1 {
		t.Fatalf("%d COLOUR_CHANGED events, want 1", len(evs))
	}
	p := evs[0].Payload.(hub.ColourChangedPayload)
	if p.From != "" || p.To != "RED" || p.Subject != d.SubjectID || !slices.Equal(evs[0].CommitteeIDs, []string{"c1"}) {
		t.Fatalf("event %+v", evs[0])
	}

	// A new declaration without a fever turns it green; the same colour
	// again publishes nothing.
	_, hc = e.declare(t, codes.DeclareInput{ResidentID: "alice", Temperature: 36.5})
	if hc.Colour != hub.Green || len(e.events.take(hub.EventColourChanged)) != 1 {
		t.Fatalf("after a healthy declaration: %s", hc.Colour)
	}
	e.declare(t, codes.DeclareInput{ResidentID: "alice"})
	if n := len(e.events.take(hub.EventColourChanged)); n != 0 {
		t.Fatalf("%d events for an unchanged colour", n)
	}

	// Filed for someone by their committee, a school, an enterprise.
	d, _ = e.declare(t, codes.DeclareInput{ResidentID: "bob", FiledByKind: hub.FiledByCommittee, FiledBy: "c1", TravelFromRisk: true})
	if d.FiledBy != "c1" || d.Colour != hub.Yellow {
		t.Fatalf("committee declaration %+v", d)
	}
	e.declare(t, codes.DeclareInput{ResidentID: "carol", FiledByKind: hub.FiledBySchool, FiledBy: "school-7"})
	e.declare(t, codes.DeclareInput{ResidentID: "dave", FiledByKind: hub.FiledByEnterprise, FiledBy: "acme", ContactWithCase: true})

	counts, err := e.st.DeclarationCounts(t.Context(), "huangpu")
	must(t, err)
	total := 0
	for _, c := range counts {
		total += c.Count
	}
	if total != 4 {
		t.Fatalf("declaration counts %+v: %d residents, want 4", counts, total)
	}

	tests := []struct {
		name string
		give codes.DeclareInput
		want string
	}{
		{"unknown resident", codes.DeclareInput{ResidentID: "nobody"}, hub.ENOTFOUND},
		{"no resident", codes.DeclareInput{}, hub.EINVALID},
		{"another committee", codes.DeclareInput{ResidentID: "carol", FiledByKind: hub.FiledByCommittee, FiledBy: "c1"}, hub.EFORBIDDEN},
		{"a committee without its ID", codes.DeclareInput{ResidentID: "carol", FiledByKind: hub.FiledByCommittee}, hub.EFORBIDDEN},
		{"a school without its ID", codes.DeclareInput{ResidentID: "carol", FiledByKind: hub.FiledBySchool}, hub.EINVALID},
		{"self for someone else", codes.DeclareInput{ResidentID: "carol", FiledBy: "alice"}, hub.EINVALID},
		{"unknown kind", codes.DeclareInput{ResidentID: "carol", FiledByKind: "NEIGHBOUR", FiledBy: "x"}, hub.EINVALID},
		{"unknown symptom", codes.DeclareInput{ResidentID: "carol", Symptoms: []string{"homesick"}}, hub.EINVALID},
		{"impossible temperature", codes.DeclareInput{ResidentID: "carol", Temperature: 98.6}, hub.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.Declare(t.Context(), tt.give)
			wantCode(t, err, tt.want, tt.name)
		})
	}
}

func TestCodeAndVerify(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	_, err := e.svc.Code(ctx, "alice")
	wantCode(t, err, hub.ENOTFOUND, "Code before a declaration")

	e.declare(t, codes.DeclareInput{ResidentID: "alice"})
	code, err := e.svc.Code(ctx, "alice")
	must(t, err)
	if code.Colour != hub.Green || code.Issuer != "Shanghai" || !code.Expires.Equal(now.Add(token.DefaultLifetime)) {
		t.Fatalf("code %+v", code)
	}
	// A checkpoint verifies it offline from the published trust list.
	offline, err := token.Verify(code.Token, e.svc.TrustList(), now.Add(time.Hour))
	if err != nil || offline.SubjectID != code.SubjectID {
		t.Fatalf("offline verification: %+v, %v", offline, err)
	}
	v, err := e.svc.VerifyCode(ctx, code.Token)
	must(t, err)
	if !v.Valid || v.Current != hub.Green {
		t.Fatalf("VerifyCode = %+v", v)
	}

	// The colour changes: the old code is superseded, a new one issued.
	e.clock.Advance(time.Minute)
	e.declare(t, codes.DeclareInput{ResidentID: "alice", Temperature: 38.9})
	v, err = e.svc.VerifyCode(ctx, code.Token)
	must(t, err)
	if v.Valid || v.Reason != codes.Superseded || v.Current != hub.Red {
		t.Fatalf("VerifyCode of a superseded code = %+v", v)
	}
	fresh, err := e.svc.Code(ctx, "alice")
	must(t, err)
	if fresh.Colour != hub.Red || fresh.Token == code.Token {
		t.Fatalf("re-issued code %+v", fresh)
	}

	v, err = e.svc.VerifyCode(ctx, "GH1:garbage")
	must(t, err)
	if v.Valid || v.Reason != token.Malformed {
		t.Fatalf("VerifyCode of garbage = %+v", v)
	}
	e.clock.Advance(token.DefaultLifetime)
	v, err = e.svc.VerifyCode(ctx, fresh.Token)
	must(t, err)
	if v.Valid || v.Reason != token.Expired {
		t.Fatalf("VerifyCode of an expired code = %+v", v)
	}
}

func TestRotationAndRecognition(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.declare(t, codes.DeclareInput{ResidentID: "alice"})
	old, err := e.svc.Code(ctx, "alice")
	must(t, err)

	// Rotate: the old key retires now but stays trusted; Hangzhou's key is
	// recognised.
	next, err := token.GenerateIssuer("Shanghai", "sh-2020-03", nil, 0)
	must(t, err)
	hz, err := token.GenerateIssuer("Hangzhou", "hz-2020-01", nil, 0)
	must(t, err)
	tl, err := token.NewTrustList(
		e.issuer.TrustedKey(now.Add(-time.Hour), now),
		next.TrustedKey(now, time.Time{}),
		hz.TrustedKey(now.Add(-time.Hour), time.Time{}),
	)
	must(t, err)
	e.svc.SetTrustList(tl)
	e.svc.SetIssuer(next)
	e.clock.Advance(time.Hour)

	v, err := e.svc.VerifyCode(ctx, old.Token)
	must(t, err)
	if !v.Valid {
		t.Fatalf("a code of the retired key before it expires: %+v", v)
	}
	cur, err := e.svc.Code(ctx, "alice")
	must(t, err)
	if cur.KeyID != "sh-2020-03" {
		t.Fatalf("new code signed with %s", cur.KeyID)
	}
	if got := e.svc.TrustList().Len(); got != 3 {
		t.Fatalf("published trust list has %d keys, want 3", got)
	}
	e.clock.Advance(token.MaxLifetime)
	if got := e.svc.TrustList().Len(); got != 2 {
		t.Fatalf("published trust list after the old codes expired has %d keys, want 2", got)
	}

	// A visitor from Hangzhou is scanned: recognised, recorded by subject.
	visitor, err := hz.Issue("HZVISITOR0001", hub.Green, e.clock.Now())
	must(t, err)
	sc, err := e.svc.RecordScan(ctx, codes.ScanInput{CheckpointID: "k-home", Token: visitor.Token, Temperature: 36.4})
	must(t, err)
	if sc.Result != hub.ScanPass || sc.ResidentID != "" || sc.SubjectID != "HZVISITOR0001" {
		t.Fatalf("visitor scan %+v", sc)
	}
	v, err = e.svc.VerifyCode(ctx, visitor.Token)
	must(t, err)
	if !v.Valid || v.Code.Issuer != "Hangzhou" || v.Current != "" {
		t.Fatalf("VerifyCode of a visitor = %+v", v)
	}
}

func TestRiskAreas(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"alice", "bob", "carol", "dave"} {
		e.declare(t, codes.DeclareInput{ResidentID: id})
	}
	e.declare(t, codes.DeclareInput{ResidentID: "erin", TravelFromRisk: true})
	e.events.take(hub.EventColourChanged)

	a, err := e.svc.MarkRiskArea(ctx, e.home, 2, "cluster at the market")
	must(t, err)
	if len(a.Cells) != 19 || a.Rings != 2 {
		t.Fatalf("area %+v", a)
	}
	want := map[string]hub.Colour{"alice": hub.Red, "bob": hub.Yellow, "carol": hub.Green, "dave": hub.Green, "erin": hub.Red}
	for id, c := range want {
		if got := e.colour(t, id); got != c {
			t.Errorf("after marking: %s is %s, want %s", id, got, c)
		}
	}
	hc, err := e.st.HealthCode(ctx, "carol")
	must(t, err)
	if !slices.Equal(hc.Reasons, []string{codes.RuleLowRiskCell}) {
		t.Errorf("carol's reasons %v", hc.Reasons)
	}
	marked := e.events.take(hub.EventRiskAreaMarked)
	if len(marked) != 1 || len(marked[0].Cells) != 19 || marked[0].Payload.(hub.RiskAreaPayload).K != 2 {
		t.Fatalf("RISK_AREA_MARKED events %+v", marked)
	}
	if n := len(e.events.take(hub.EventColourChanged)); n != 3 {
		t.Fatalf("%d COLOUR_CHANGED events, want 3 (alice, bob, erin)", n)
	}

	// A new declaration in a risk cell takes at least the cell's colour.
	d, _ := e.declare(t, codes.DeclareInput{ResidentID: "alice", Temperature: 36.5})
	if d.Colour != hub.Red {
		t.Fatalf("a healthy declaration in a HIGH cell is %s", d.Colour)
	}

	// Marking again with fewer rings restores the ring it drops.
	_, err = e.svc.MarkRiskArea(ctx, e.home, 0, "narrowed")
	must(t, err)
	if got := e.colour(t, "bob"); got != hub.Green {
		t.Fatalf("bob after the area narrowed: %s", got)
	}

	// Lifting restores: alice green, erin back to her own yellow.
	lifted, err := e.svc.LiftRiskArea(ctx, e.home.String())
	must(t, err)
	if lifted.Active() {
		t.Fatal("lifted area is active")
	}
	for id, c := range map[string]hub.Colour{"alice": hub.Green, "bob": hub.Green, "erin": hub.Yellow} {
		if got := e.colour(t, id); got != c {
			t.Errorf("after lifting: %s is %s, want %s", id, got, c)
		}
	}
	if n := len(e.events.take(hub.EventRiskAreaLifted)); n != 1 {
		t.Fatalf("%d RISK_AREA_LIFTED events", n)
	}
	_, err = e.svc.LiftRiskArea(ctx, e.home.String())
	wantCode(t, err, hub.ECONFLICT, "lifting twice")
	_, err = e.svc.MarkRiskArea(ctx, e.home, hub.MaxRiskRings+1, "")
	wantCode(t, err, hub.EINVALID, "too many rings")
}

func TestScans(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.declare(t, codes.DeclareInput{ResidentID: "alice"})
	e.declare(t, codes.DeclareInput{ResidentID: "bob", ContactWithCase: true})
	alice, err := e.svc.Code(ctx, "alice")
	must(t, err)
	bob, err := e.svc.Code(ctx, "bob")
	must(t, err)

	tests := []struct {
		name string
		give codes.ScanInput
		want hub.ScanResult
	}{
		{"green", codes.ScanInput{CheckpointID: "k-home", Token: alice.Token, Temperature: 36.6}, hub.ScanPass},
		{"green, not measured", codes.ScanInput{CheckpointID: "k-home", Token: alice.Token}, hub.ScanPass},
		{"red", codes.ScanInput{CheckpointID: "k-home", Token: bob.Token, Temperature: 36.6}, hub.ScanDeny},
		{"fever", codes.ScanInput{CheckpointID: "k-near", Token: alice.Token, Temperature: 38.1}, hub.ScanFever},
		{"verified offline", codes.ScanInput{CheckpointID: "k-near", SubjectID: alice.SubjectID, Colour: hub.Green, Temperature: 36.1}, hub.ScanPass},
		{"offline, colour unsaid", codes.ScanInput{CheckpointID: "k-near", SubjectID: bob.SubjectID}, hub.ScanDeny},
	}
	for i, tt := range tests {
		e.clock.Advance(time.Minute)
		sc, err := e.svc.RecordScan(ctx, tt.give)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if sc.Result != tt.want || sc.ID == "" || !sc.At.Equal(e.clock.Now()) {
			t.Fatalf("%s (%d): scan %+v, want %s", tt.name, i, sc, tt.want)
		}
	}
	fevers := e.events.take(hub.EventFeverScan)
	if len(fevers) != 1 || fevers[0].Payload.(hub.FeverScanPayload).CheckpointID != "k-near" || fevers[0].DistrictID != "huangpu" {
		t.Fatalf("FEVER_SCAN events %+v", fevers)
	}

	// Alice turns red: her green code no longer passes anywhere online.
	e.declare(t, codes.DeclareInput{ResidentID: "alice", ContactWithCase: true})
	sc, err := e.svc.RecordScan(ctx, codes.ScanInput{CheckpointID: "k-home", Token: alice.Token})
	must(t, err)
	if sc.Result != hub.ScanDeny || sc.Colour != hub.Red {
		t.Fatalf("a superseded green code: %+v", sc)
	}

	// A device retrying an upload with its own ID and time is recorded once.
	in := codes.ScanInput{ID: "dev7-0001", CheckpointID: "k-away", Token: bob.Token, At: e.clock.Now().Add(-time.Minute)}
	_, err = e.svc.RecordScan(ctx, in)
	must(t, err)
	_, err = e.svc.RecordScan(ctx, in)
	must(t, err)

	traj, err := e.svc.Trajectory(ctx, admin, "bob", time.Time{}, 0)
	must(t, err)
	if len(traj) != 3 {
		t.Fatalf("bob's trajectory has %d scans, want 3", len(traj))
	}

	tampered := []byte(alice.Token)
	tampered[10] ^= 1
	bad := []struct {
		name string
		give codes.ScanInput
		want string
	}{
		{"unknown checkpoint", codes.ScanInput{CheckpointID: "k-nowhere", Token: alice.Token}, hub.ENOTFOUND},
		{"impossible temperature", codes.ScanInput{CheckpointID: "k-home", Token: alice.Token, Temperature: 3.7}, hub.EINVALID},
		{"tampered code", codes.ScanInput{CheckpointID: "k-home", Token: string(tampered)}, hub.EINVALID},
		{"no code", codes.ScanInput{CheckpointID: "k-home"}, hub.EINVALID},
		{"unknown subject, no colour", codes.ScanInput{CheckpointID: "k-home", SubjectID: "STRANGER"}, hub.EINVALID},
		{"bad colour", codes.ScanInput{CheckpointID: "k-home", SubjectID: alice.SubjectID, Colour: "PINK"}, hub.EINVALID},
		{"in the future", codes.ScanInput{CheckpointID: "k-home", Token: alice.Token, At: e.clock.Now().Add(time.Hour)}, hub.EINVALID},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.RecordScan(ctx, tt.give)
			wantCode(t, err, tt.want, tt.name)
		})
	}
	_, err = e.svc.RecordScan(ctx, codes.ScanInput{CheckpointID: "k-home", Token: string(tampered)})
	var te *token.Error
	if !errors.As(err, &te) || token.ReasonOf(err) == "" {
		t.Fatalf("a rejected code's error %v carries no reason", err)
	}
	e.clock.Advance(2 * token.DefaultLifetime)
	_, err = e.svc.RecordScan(ctx, codes.ScanInput{CheckpointID: "k-home", Token: bob.Token})
	if token.ReasonOf(err) != token.Expired {
		t.Fatalf("an expired code: %v", err)
	}
}

func TestTracing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"alice", "bob", "carol", "dave", "erin"} {
		e.declare(t, codes.DeclareInput{ResidentID: id})
	}
	tokens := map[string]string{}
	for _, id := range []string{"alice", "bob", "carol", "dave", "erin"} {
		code, err := e.svc.Code(ctx, id)
		must(t, err)
		tokens[id] = code.Token
	}
	// Devices upload later what they scanned.
	e.clock.Advance(3 * time.Hour)
	scan := func(who, checkpoint string, minute int) {
		t.Helper()
		_, err := e.svc.RecordScan(ctx, codes.ScanInput{CheckpointID: checkpoint, Token: tokens[who], At: now.Add(time.Duration(60+minute) * time.Minute)})
		must(t, err)
	}
	scan("alice", "k-home", 0)
	scan("bob", "k-near", 10)   // ring 1, within 30 minutes
	scan("carol", "k-home", 45) // same cell, too late
	scan("dave", "k-away", 5)   // far away
	scan("erin", "k-home", -20) // same cell, before

	_, err := e.svc.Trajectory(ctx, codes.Reader{Role: "ADMIN"}, "alice", time.Time{}, 0)
	wantCode(t, err, hub.EINVALID, "a trajectory read without a purpose")
	_, err = e.svc.Trajectory(ctx, admin, "nobody", time.Time{}, 0)
	wantCode(t, err, hub.ENOTFOUND, "a trajectory of nobody")
	log, err := e.st.AuditLog(ctx, hub.AuditFilter{})
	must(t, err)
	if len(log) != 0 {
		t.Fatalf("failed reads were audited: %+v", log)
	}

	cs, err := e.svc.Contacts(ctx, admin, "alice", now, 0)
	must(t, err)
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ResidentID)
	}
	if !slices.Equal(ids, []string{"erin", "bob"}) {
		t.Fatalf("alice's contacts %v, want erin and bob", ids)
	}
	_, err = e.svc.Contacts(ctx, admin, "alice", now, 25*time.Hour)
	wantCode(t, err, hub.EINVALID, "a window of more than a day")

	// Marking alice a case turns her red and her contacts yellow.
	cs, err = e.svc.MarkCase(ctx, admin, "alice", time.Time{})
	must(t, err)
	if len(cs) != 2 {
		t.Fatalf("MarkCase found %d contacts", len(cs))
	}
	for id, c := range map[string]hub.Colour{"alice": hub.Red, "bob": hub.Yellow, "erin": hub.Yellow, "carol": hub.Green, "dave": hub.Green} {
		if got := e.colour(t, id); got != c {
			t.Errorf("after marking alice: %s is %s, want %s", id, got, c)
		}
	}
	st, err := e.st.CaseStatus(ctx, "bob")
	must(t, err)
	if st.ContactOf != "alice" {
		t.Fatalf("bob's case status %+v", st)
	}
	// Fourteen days later, the traced contacts are green again.
	e.clock.Advance(14*day + time.Hour)
	code, err := e.svc.Code(ctx, "bob")
	must(t, err)
	if code.Colour != hub.Green {
		t.Fatalf("bob after 14 days: %s", code.Colour)
	}

	log, err = e.st.AuditLog(ctx, hub.AuditFilter{TargetID: "alice"})
	must(t, err)
	var actions []string
	for _, en := range log {
		actions = append(actions, en.Action)
		if en.ActorRole != "ADMIN" || en.Purpose != admin.Purpose || en.Subject != "admin-1" {
			t.Fatalf("audit entry %+v", en)
		}
	}
	if !slices.Equal(actions, []string{"contacts", "contacts"}) {
		t.Fatalf("audited actions %v", actions)
	}
	_, err = e.svc.Trajectory(ctx, admin, "alice", time.Time{}, 1)
	must(t, err)
	log, err = e.st.AuditLog(ctx, hub.AuditFilter{TargetID: "alice"})
	must(t, err)
	if last := log[len(log)-1]; last.Action != "trajectory" || last.Count != 1 {
		t.Fatalf("trajectory audit %+v", last)
	}
}

// TestGateColour: the health gate of a round reads the colour of the
// resident's health code now, by the rules, while their latest
// declaration is current (7 days), and nothing without one.
func TestGateColour(t *testing.T) {
	tests := []struct {
		name string
		give codes.DeclareInput
		age  time.Duration // of the declaration when the gate reads it
		risk bool          // a risk area in force at the resident's home
		want hub.Colour
	}{
		{"healthy", codes.DeclareInput{Temperature: 36.6}, 0, false, hub.Green},
		{"healthy, six days on", codes.DeclareInput{Temperature: 36.6}, 6 * day, false, hub.Green},
		{"a fever", codes.DeclareInput{Temperature: 37.6}, 0, false, hub.Yellow},
		{"a cough", codes.DeclareInput{Symptoms: []string{"cough"}}, time.Hour, false, hub.Yellow},
		{"travel from a risk area", codes.DeclareInput{TravelFromRisk: true}, 0, false, hub.Yellow},
		{"39 degrees and a cough", codes.DeclareInput{Temperature: 39, Symptoms: []string{"cough"}}, 0, false, hub.Red},
		{"a close contact", codes.DeclareInput{ContactWithCase: true}, 0, false, hub.Red},
		{"healthy, at the centre of a risk area", codes.DeclareInput{Temperature: 36.6}, 0, true, hub.Red},
		{"a fever, stale", codes.DeclareInput{Temperature: 37.6}, 7 * day, false, ""},
		{"healthy, stale", codes.DeclareInput{}, 8 * day, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if c, err := e.svc.GateColour(t.Context(), "alice"); err != nil || c != "" {
				t.Fatalf("before declaring: %q, %v", c, err)
			}
			tt.give.ResidentID = "alice"
			e.declare(t, tt.give)
			if tt.risk {
				if _, err := e.svc.MarkRiskArea(t.Context(), e.home, 1, "cluster"); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(tt.age)
			if c, err := e.svc.GateColour(t.Context(), "alice"); err != nil || c != tt.want {
				t.Errorf("GateColour: %q, %v; want %q", c, err, tt.want)
			}
		})
	}
}

func TestConcurrentRefresh(t *testing.T) {
	// Declarations, a risk area and a case racing over one resident: the
	// stored colour ends as the final facts say.
	e := newEnv(t)
	ctx := t.Context()
	e.declare(t, codes.DeclareInput{ResidentID: "alice"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, _, err := e.svc.Declare(ctx, codes.DeclareInput{ResidentID: "alice", Temperature: 36 + float64(i)/10})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		if _, err := e.svc.MarkRiskArea(ctx, e.near, 1, "nearby"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if got := e.colour(t, "alice"); got != hub.Yellow {
		t.Fatalf("alice ends %s, want YELLOW (MEDIUM ring)", got)
	}
}

func TestNew(t *testing.T) {
	st, err := boltstore.Open(t.TempDir())
	must(t, err)
	defer st.Close()
	is, err := token.GenerateIssuer("X", "k", nil, 0)
	must(t, err)
	for name, o := range map[string]codes.Options{
		"no store":        {Issuer: is},
		"no issuer":       {Store: st},
		"negative window": {Store: st, Issuer: is, TraceWindow: -1},
		"huge window":     {Store: st, Issuer: is, TraceWindow: codes.MaxWindow + 1},
	} {
		if _, err := codes.New(o); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}
