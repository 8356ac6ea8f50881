package retention_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/internal/testclock"
	"github.com/gridhub/gridhub/retention"
	"github.com/gridhub/gridhub/store/boltstore"
)

var (
	t0       = time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)
	day      = 24 * time.Hour
	district = retention.Actor{Role: "DISTRICT", ID: "huangpu", Subject: "officer-1"}
	tracer   = codes.Reader{Role: "DISTRICT", ID: "huangpu", Subject: "officer-1", Purpose: "tracing case 17"}
)

// env: alice (the case), bob, carol and erin, scanned together at one
// checkpoint once a day for days 0..39 of t0; dave lives in another
// district.
type env struct {
	st    *boltstore.Store
	clock *testclock.Clock
	codes *codes.Service
	ret   *retention.Service
	home  hub.Cell
}

const scanDays = 40

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{st: st, clock: testclock.New(t0)}
	if e.home, err = grid.CellAt(hub.Point{Lat: 31.2304, Lng: 121.4737}, grid.BaseResolution); err != nil {
		t.Fatal(err)
	}
	issuer, err := token.GenerateIssuer("Shanghai", "sh-2020-02", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.codes, err = codes.New(codes.Options{Store: st, Issuer: issuer, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if e.ret, err = retention.New(retention.Options{Store: st, Periods: retention.DefaultPeriods(), Batch: 7, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var rs []*hub.Resident
	for _, id := range []string{"alice", "bob", "carol", "erin", "dave"} {
		r := &hub.Resident{ID: id, Name: id, IDHash: "hash-" + id, Cell: e.home, CommitteeID: "c1", DistrictID: "huangpu", RegisteredAt: t0}
		if id == "dave" {
			r.DistrictID, r.CommitteeID = "xuhui", "c9"
		}
		rs = append(rs, r)
	}
	must(t, st.CreateResidents(ctx, rs...))
	must(t, st.UpsertCheckpoints(ctx, &hub.Checkpoint{ID: "k1", Name: "Market", Kind: "HOUSING", Cell: e.home, DistrictID: "huangpu"}))
	var scans []*hub.Scan
	for d := range scanDays {
		for i, id := range []string{"alice", "bob", "carol", "erin", "dave"} {
			scans = append(scans, &hub.Scan{
				ID: fmt.Sprintf("scan-%s-%02d", id, d), CheckpointID: "k1", Cell: e.home, ResidentID: id, SubjectID: "sub-" + id,
				At: t0.Add(time.Duration(d)*day + 10*time.Hour + time.Duration(i)*time.Minute), Temperature: 36.5,
				Colour: hub.Green, Result: hub.ScanPass,
			})
		}
	}
	must(t, st.RecordScans(ctx, scans...))
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

// days returns the days of t0 of a resident's trajectory.
func (e *env) days(t *testing.T, id string) []int {
	t.Helper()
	ss, err := e.codes.Trajectory(t.Context(), tracer, id, time.Time{}, 0)
	must(t, err)
	out := []int{}
	for _, s := range ss {
		out = append(out, int(s.At.Sub(t0)/day))
	}
	return out
}

func span(from, to int) []int {
	out := []int{}
	for d := from; d < to; d++ {
		out = append(out, d)
	}
	return out
}

func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func (e *env) sweep(t *testing.T) map[hub.RecordKind]retention.Swept {
	t.Helper()
	sw, err := e.ret.Sweep(t.Context())
	must(t, err)
	out := map[hub.RecordKind]retention.Swept{}
	for _, s := range sw {
		out[s.Kind] = s
	}
	return out
}

// TestScansExpireUnlessHeld follows a case through its investigation: the
// hold keeps the case's and one contact's scans past 28 days, everyone
// else's go from trajectories, contacts and the store's cell index; the
// hold ends at its date unless explicitly extended, and then theirs go
// too.
func TestScansExpireUnlessHeld(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(30 * day))
	// carol declares on days 30 and 31.
	_, _, err := e.codes.Declare(ctx, codes.DeclareInput{ResidentID: "carol"})
	must(t, err)
	_, err = e.codes.MarkCase(ctx, tracer, "alice", time.Time{})
	must(t, err)
	h, err := e.ret.PlaceHold(ctx, district, retention.HoldInput{
		CaseID: "alice", ResidentIDs: []string{"bob"}, Reason: "investigation of cluster 17", Until: t0.Add(80 * day),
	})
	must(t, err)
	same(t, "held", h.ResidentIDs, []string{"alice", "bob"})

	// Day 45: scans before day 17 expire, but alice's and bob's are held.
	e.clock.Set(t0.Add(45 * day))
	got := e.sweep(t)
	same(t, "scans deleted", got[hub.RecordScans].Deleted, 3*17) // carol, erin, dave: days 0..16
	same(t, "scans held", got[hub.RecordScans].Held, 2*17)
	for _, tt := range []struct {
		give string
		want []int
	}{
		{"alice", span(0, scanDays)},
		{"bob", span(0, scanDays)},
		{"carol", span(17, scanDays)},
		{"erin", span(17, scanDays)},
	} {
		same(t, "trajectory of "+tt.give, e.days(t, tt.give), tt.want)
	}
	// Contacts: alice still meets bob from day 0, carol and erin only
	// from day 17.
	cs, err := e.codes.Contacts(ctx, tracer, "alice", time.Time{}, 0)
	must(t, err)
	first := map[string]int{}
	for _, c := range cs {
		first[c.ResidentID] = int(c.FirstAt.Sub(t0) / day)
	}
	same(t, "first contact day", first, map[string]int{"bob": 0, "carol": 17, "dave": 17, "erin": 17})
	// The cell index holds nothing expired of anyone not held.
	ss, err := e.st.ContactsIn(ctx, []hub.Cell{e.home}, time.Time{}, t0.Add(100*day))
	must(t, err)
	for _, s := range ss {
		if s.At.Before(t0.Add(17*day)) && s.ResidentID != "alice" && s.ResidentID != "bob" {
			t.Fatalf("cell index still holds %s of %s", s.ID, s.ResidentID)
		}
	}
	same(t, "scans in the cell", len(ss), 5*scanDays-3*17)

	// Idempotent: a second pass deletes nothing.
	again := e.sweep(t)
	same(t, "second pass deleted", again[hub.RecordScans].Deleted, 0)

	// The hold ends at day 80 unless extended: extended to day 95.
	e.clock.Set(t0.Add(70 * day))
	_, err = e.ret.ExtendHold(ctx, district, h.ID, t0.Add(79*day), "still open")
	wantCode(t, err, hub.ECONFLICT, "an extension that ends earlier")
	ext, err := e.ret.ExtendHold(ctx, district, h.ID, t0.Add(95*day), "court asked for more time")
	must(t, err)
	same(t, "extensions", ext.Extensions, 1)
	e.clock.Set(t0.Add(90 * day))
	e.sweep(t)
	same(t, "alice at day 90, held", len(e.days(t, "alice")), scanDays)
	// Day 95: the hold has ended, nothing extended it: alice's go.
	e.clock.Set(t0.Add(95 * day))
	got = e.sweep(t)
	same(t, "scans deleted once the hold ended", got[hub.RecordScans].Deleted, 2*scanDays)
	same(t, "alice at day 95", e.days(t, "alice"), []int{})
	same(t, "bob at day 95", e.days(t, "bob"), []int{})

	// Every act on the hold is in the held residents' audit trail.
	for _, id := range []string{"alice", "bob"} {
		es, err := e.st.AuditLog(ctx, hub.AuditFilter{TargetID: id})
		must(t, err)
		var acts []string
		for _, a := range es {
			if strings.HasPrefix(a.Action, "hold.") {
				acts = append(acts, a.Action)
				if a.ActorID != "huangpu" || !strings.Contains(a.Purpose, h.ID) {
					t.Fatalf("audit entry %+v", a)
				}
			}
		}
		same(t, "acts on "+id, acts, []string{"hold.place", "hold.extend"})
	}
	// carol's declarations (day 30) expired at day 58.
	_, err = e.st.LatestDeclaration(ctx, "carol")
	wantCode(t, err, hub.ENOTFOUND, "carol's expired declaration")
}

func TestLiftHold(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(30 * day))
	_, err := e.codes.MarkCase(ctx, tracer, "alice", time.Time{})
	must(t, err)
	h, err := e.ret.PlaceHold(ctx, district, retention.HoldInput{CaseID: "alice", Reason: "case 17", Until: t0.Add(100 * day)})
	must(t, err)
	e.clock.Set(t0.Add(50 * day))
	same(t, "swept held", e.sweep(t)[hub.RecordScans].Held, 22)
	_, err = e.ret.LiftHold(ctx, district, h.ID, " ")
	wantCode(t, err, hub.EINVALID, "lift without a reason")
	_, err = e.ret.LiftHold(ctx, retention.Actor{Role: "DISTRICT", ID: "xuhui"}, h.ID, "closed")
	wantCode(t, err, hub.EFORBIDDEN, "lift by another district")
	_, err = e.ret.LiftHold(ctx, district, h.ID, "investigation closed")
	must(t, err)
	_, err = e.ret.LiftHold(ctx, district, h.ID, "again")
	wantCode(t, err, hub.ECONFLICT, "lift twice")
	_, err = e.ret.ExtendHold(ctx, district, h.ID, t0.Add(120*day), "reopen")
	wantCode(t, err, hub.ECONFLICT, "extend a lifted hold")
	same(t, "swept after the lift", e.sweep(t)[hub.RecordScans].Deleted, 22)
	same(t, "alice after the lift", e.days(t, "alice"), span(22, scanDays))
	active, err := e.ret.Holds(ctx, "huangpu", true)
	must(t, err)
	same(t, "active holds", len(active), 0)
	all, err := e.ret.Holds(ctx, "huangpu", false)
	must(t, err)
	same(t, "all holds", len(all), 1)
}

func TestPlaceHoldRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(30 * day))
	_, err := e.codes.MarkCase(ctx, tracer, "alice", time.Time{})
	must(t, err)
	now := e.clock.Now()
	tests := []struct {
		name string
		by   retention.Actor
		give retention.HoldInput
		want string
	}{
		{"not a case", district, retention.HoldInput{CaseID: "bob", Reason: "r", Until: now.Add(day)}, hub.EINVALID},
		{"not a contact", district, retention.HoldInput{CaseID: "alice", ResidentIDs: []string{"nobody"}, Reason: "r", Until: now.Add(day)}, hub.EINVALID},
		{"blank reason", district, retention.HoldInput{CaseID: "alice", Reason: " \t", Until: now.Add(day)}, hub.EINVALID},
		{"long reason", district, retention.HoldInput{CaseID: "alice", Reason: strings.Repeat("x", hub.MaxHoldReason+1), Until: now.Add(day)}, hub.EINVALID},
		{"ends in the past", district, retention.HoldInput{CaseID: "alice", Reason: "r", Until: now.Add(-time.Second)}, hub.EINVALID},
		{"ends now", district, retention.HoldInput{CaseID: "alice", Reason: "r", Until: now}, hub.EINVALID},
		{"too long", district, retention.HoldInput{CaseID: "alice", Reason: "r", Until: now.Add(hub.MaxHoldSpan + time.Second)}, hub.EINVALID},
		{"other district", retention.Actor{Role: "DISTRICT", ID: "xuhui"}, retention.HoldInput{CaseID: "alice", Reason: "r", Until: now.Add(day)}, hub.EFORBIDDEN},
		{"unknown case", district, retention.HoldInput{CaseID: "zed", Reason: "r", Until: now.Add(day)}, hub.ENOTFOUND},
	}
	for _, tt := range tests {
		_, err := e.ret.PlaceHold(ctx, tt.by, tt.give)
		wantCode(t, err, tt.want, tt.name)
	}
	hs, err := e.ret.Holds(ctx, "", false)
	must(t, err)
	same(t, "holds after refusals", len(hs), 0)
	es, err := e.st.AuditLog(ctx, hub.AuditFilter{TargetID: "alice"})
	must(t, err)
	for _, a := range es {
		if strings.HasPrefix(a.Action, "hold.") {
			t.Fatalf("a refused hold is audited: %+v", a)
		}
	}
	// The longest hold is accepted, and ADMIN may place one anywhere.
	_, err = e.ret.PlaceHold(ctx, retention.Actor{Role: "ADMIN", Subject: "root"}, retention.HoldInput{CaseID: "alice", Reason: "r", Until: now.Add(hub.MaxHoldSpan)})
	must(t, err)
}

func TestPeriods(t *testing.T) {
	tests := []struct {
		give retention.Periods
		want string
	}{
		{retention.DefaultPeriods(), ""},
		{retention.Periods{}, ""},
		{retention.Periods{Scans: -time.Second}, hub.EINVALID},
		{retention.Periods{Audit: -day}, hub.EINVALID},
	}
	for _, tt := range tests {
		_, err := retention.New(retention.Options{Store: &boltstore.Store{}, Periods: tt.give})
		if got := hub.ErrorCode(err); got != tt.want && !(tt.want == "" && err == nil) {
			t.Fatalf("New(%+v): %v, want %q", tt.give, err, tt.want)
		}
	}
	// A zero period keeps that kind for ever.
	e := newEnv(t)
	ret, err := retention.New(retention.Options{Store: e.st, Periods: retention.Periods{Declarations: day}, Now: e.clock.Now})
	must(t, err)
	e.clock.Set(t0.Add(1000 * day))
	sw, err := ret.Sweep(t.Context())
	must(t, err)
	kinds := []hub.RecordKind{}
	for _, x := range sw {
		kinds = append(kinds, x.Kind)
	}
	same(t, "kinds swept", kinds, []hub.RecordKind{hub.RecordDeclarations, hub.RecordCodes}) // codes keep the declarations period
	same(t, "scans kept for ever", len(e.days(t, "carol")), scanDays)
}

// TestRunSweepsSoonAfterStart: Run sweeps the first time after First (or
// its period, if shorter), not one period after it starts, and not before.
func TestRunSweepsSoonAfterStart(t *testing.T) {
	tests := []struct {
		name         string
		first, every time.Duration
		want         bool // swept within the wait
	}{
		{"first soon, period long", 20 * time.Millisecond, time.Hour, true},
		{"first long, period short", time.Hour, 20 * time.Millisecond, true},
		{"both short", 10 * time.Millisecond, 30 * time.Millisecond, true},
		{"both long", time.Hour, time.Hour, false},
		{"default first, period long", 0, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ret, err := retention.New(retention.Options{Store: e.st, Periods: retention.DefaultPeriods(), First: tt.first, Now: e.clock.Now})
			must(t, err)
			e.clock.Set(t0.Add(100 * day))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); ret.Run(ctx, tt.every) }()
			defer func() { cancel(); <-done }()
			swept := false
			for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline) && !swept; time.Sleep(10 * time.Millisecond) {
				swept = len(e.days(t, "erin")) == 0
			}
			same(t, "swept", swept, tt.want)
		})
	}
	_, err := retention.New(retention.Options{Store: &boltstore.Store{}, First: -time.Second})
	wantCode(t, err, hub.EINVALID, "negative first sweep delay")
}

// TestCaseMarksAndShortagesExpire: case and contact marks keep the scans
// period from the later mark unless held; a waiting shortage registration
// keeps the dispatch period from its registration.
func TestCaseMarksAndShortagesExpire(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(30 * day))
	_, err := e.codes.MarkCase(ctx, tracer, "alice", time.Time{})
	must(t, err)
	_, err = e.ret.PlaceHold(ctx, district, retention.HoldInput{
		CaseID: "alice", ResidentIDs: []string{"bob"}, Reason: "investigation of cluster 17", Until: t0.Add(120 * day),
	})
	must(t, err)
	must(t, e.st.CreateShortage(ctx, &hub.Shortage{ID: "sh1", ResidentID: "erin", Cell: e.home, SKU: hub.MaskAdult, Quantity: 2,
		Status: hub.ShortageWaiting, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}))
	ids := []string{"alice", "bob", "carol", "erin", "dave"}
	marks := map[string]hub.CaseStatus{}
	for _, id := range ids {
		st, err := e.st.CaseStatus(ctx, id)
		must(t, err)
		if !reflect.DeepEqual(st, hub.CaseStatus{}) {
			marks[id] = st
		}
	}
	// alice a case on day 30; the others her contacts, last met on day 39.
	for _, id := range ids[1:] {
		same(t, "contact of "+id, marks[id].ContactOf, "alice")
	}
	shortages := func() int {
		shs, err := e.st.Shortages(ctx, hub.ShortageFilter{})
		must(t, err)
		return len(shs)
	}

	tests := []struct {
		day         int
		wantMarked  []string
		wantCases   retention.Swept
		wantShorts  int
		wantDeleted int
	}{
		{45, ids, retention.Swept{}, 1, 0},
		{60, ids, retention.Swept{Held: 1}, 1, 0}, // alice's mark is due, held
		{70, []string{"alice", "bob"}, retention.Swept{Deleted: 3, Held: 2}, 1, 0},
		{100, []string{"alice", "bob"}, retention.Swept{Held: 2}, 1, 0},
		{121, []string{}, retention.Swept{Deleted: 2}, 0, 1},
	}
	for _, tt := range tests {
		e.clock.Set(t0.Add(time.Duration(tt.day) * day))
		got := e.sweep(t)
		same(t, fmt.Sprintf("day %d: case marks swept", tt.day), [2]int{got[hub.RecordCases].Deleted, got[hub.RecordCases].Held}, [2]int{tt.wantCases.Deleted, tt.wantCases.Held})
		same(t, fmt.Sprintf("day %d: shortages swept", tt.day), got[hub.RecordShortages].Deleted, tt.wantDeleted)
		same(t, fmt.Sprintf("day %d: shortages left", tt.day), shortages(), tt.wantShorts)
		marked := []string{}
		for _, id := range ids {
			st, err := e.st.CaseStatus(ctx, id)
			must(t, err)
			if !reflect.DeepEqual(st, hub.CaseStatus{}) {
				same(t, "marks of "+id, st, marks[id])
				marked = append(marked, id)
			}
		}
		same(t, fmt.Sprintf("day %d: marked", tt.day), marked, tt.wantMarked)
	}
}

// TestHealthCodeExpiresWithItsFacts: a stored health code goes in the pass
// that sweeps the last declaration it rests on, not while one is left.
func TestHealthCodeExpiresWithItsFacts(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	declare := func(n int, ids ...string) {
		e.clock.Set(t0.Add(time.Duration(n) * day))
		for _, id := range ids {
			_, _, err := e.codes.Declare(ctx, codes.DeclareInput{ResidentID: id})
			must(t, err)
		}
	}
	declare(30, "carol", "erin")
	declare(45, "erin")
	subCarol, err := e.st.SubjectOf(ctx, "carol")
	must(t, err)
	tests := []struct {
		day   int
		coded []string // residents with a stored code after the pass
		swept int
	}{
		{50, []string{"carol", "erin"}, 0},
		{59, []string{"erin"}, 1}, // carol's declaration of day 30 goes, and her code
		{70, []string{"erin"}, 0}, // erin declared on day 45
		{74, []string{}, 1},
	}
	for _, tt := range tests {
		e.clock.Set(t0.Add(time.Duration(tt.day) * day))
		got := e.sweep(t)
		same(t, fmt.Sprintf("day %d: codes swept", tt.day), got[hub.RecordCodes].Deleted, tt.swept)
		coded := []string{}
		for _, id := range []string{"alice", "bob", "carol", "erin", "dave"} {
			if _, err := e.st.HealthCode(ctx, id); err == nil {
				coded = append(coded, id)
			} else {
				wantCode(t, err, hub.ENOTFOUND, "HealthCode of "+id)
			}
		}
		same(t, fmt.Sprintf("day %d: coded", tt.day), coded, tt.coded)
	}
	_, err = e.st.ResidentOfSubject(ctx, subCarol)
	wantCode(t, err, hub.ENOTFOUND, "carol's swept subject")
}
