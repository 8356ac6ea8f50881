package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// These tests need no server: they cover what can go wrong before a
// request leaves the process (URI checks, documents, filters, updates,
// error translation, the guards on every method).

func TestParseURI(t *testing.T) {
	tests := []struct {
		give    string
		want    Target // secrets ignored
		wantErr string
	}{
		{give: "mongodb://localhost", want: Target{Scheme: "mongodb", Hosts: []string{"localhost"}, Database: DefaultDatabase}},
		{give: "mongodb://u:p%40ss@db1:27017,db2:27018/city?replicaSet=rs0&serverSelectionTimeoutMS=2500",
			want: Target{Scheme: "mongodb", Hosts: []string{"db1:27017", "db2:27018"}, Database: "city", ServerSelectionTimeout: 2500 * time.Millisecond}},
		{give: "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true",
			want: Target{Scheme: "mongodb+srv", Hosts: []string{"cluster0.example.net"}, Database: DefaultDatabase}},
		{give: "mongodb://[::1]:27017/gridhub", want: Target{Scheme: "mongodb", Hosts: []string{"[::1]:27017"}, Database: "gridhub"}},
		{give: "localhost:27017", wantErr: "no scheme"},
		{give: "http://localhost", wantErr: `scheme "http"`},
		{give: "MongoDB://localhost", wantErr: "lower case"},
		{give: "mongodb://", wantErr: "names no host"},
		{give: "mongodb://u:p@/db", wantErr: "names no host"},
		{give: "mongodb://a,,b/db", wantErr: "empty host"},
		{give: "mongodb://db:/x", wantErr: "empty port"},
		{give: "mongodb://db:0", wantErr: "bad port"},
		{give: "mongodb://db:http", wantErr: "bad port"},
		{give: "mongodb://[::1/db", wantErr: "unclosed"},
		{give: "mongodb://db /x", wantErr: "space"},
		{give: "mongodb+srv://a,b", wantErr: "exactly one host"},
		{give: "mongodb+srv://a:27017", wantErr: "exactly one host"},
		{give: "mongodb://db/a.b", wantErr: "does not allow"},
		{give: "mongodb://db/" + strings.Repeat("x", 64), wantErr: "does not allow"},
		{give: "mongodb://db/?serverSelectionTimeoutMS=soon", wantErr: "serverSelectionTimeoutMS"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseURI(tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURI error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			got.secrets = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseURI = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestURINeverShowsThePassword(t *testing.T) {
	for _, uri := range []string{
		"mongodb://admin:hunter2hunter2@db1,db2/gridhub",
		"mongodb://admin:hunter2hunter2@db1:99999/gridhub",
		"mongodb://admin:hunter2hunter2@/gridhub",
		"mongodb://admin:hunter2hunter2@db1/bad.name",
		"mongodb+srv://admin:hunter2hunter2@a:1/gridhub",
		"mongodb://admin:hunter2%3Ahunter2@db1/gridhub?serverSelectionTimeoutMS=-1",
	} {
		tgt, err := ParseURI(uri)
		for _, s := range []string{fmt.Sprint(err), tgt.String(), tgt.Address()} {
			if strings.Contains(s, "hunter2") {
				t.Errorf("ParseURI(%q) shows the password in %q", uri, s)
			}
		}
	}
	tgt, err := ParseURI("mongodb://admin:hunter2%3Ahunter2@db1/gridhub")
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"auth failed for hunter2%3Ahunter2", "auth failed for hunter2:hunter2"} {
		if got := tgt.Scrub(msg); strings.Contains(got, "hunter2") {
			t.Errorf("Scrub(%q) = %q", msg, got)
		}
	}
	if got, want := tgt.String(), "mongodb://db1/gridhub"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestExplainDialError(t *testing.T) {
	tgt, _ := ParseURI("mongodb://u:hunter2hunter2@db1:27017,db2:27017/gridhub?replicaSet=rs0")
	refused := errors.New("dial tcp 10.0.0.1:27017: connect: connection refused")
	tests := []struct {
		name string
		give error
		want []string
	}{
		{
			name: "unreachable",
			give: topology.ServerSelectionError{Wrapped: context.DeadlineExceeded, Desc: description.Topology{
				Kind:    description.TopologyKindReplicaSetNoPrimary,
				Servers: []description.Server{{Addr: "db1:27017", LastError: refused}, {Addr: "db2:27017", LastError: refused}},
			}},
			want: []string{"MongoDB at db1:27017,db2:27017 did not answer within 2s", "db1:27017: dial tcp", "connection refused"},
		},
		{
			name: "no primary",
			give: topology.ServerSelectionError{Wrapped: context.DeadlineExceeded, Desc: description.Topology{
				Kind: description.TopologyKindReplicaSetNoPrimary, SetName: "rs0",
				Servers: []description.Server{{Addr: "db1:27017", Kind: description.ServerKindRSSecondary}, {Addr: "db2:27017", LastError: refused}},
			}},
			want: []string{`replica set "rs0" has no primary`, "db1:27017 (RSSecondary)", "context deadline exceeded"},
		},
		{
			name: "authentication",
			give: mongo.CommandError{Code: 18, Name: "AuthenticationFailed", Message: "Authentication failed. (user hunter2hunter2)"},
			want: []string{"refused the credentials", "db1:27017,db2:27017"},
		},
		{
			name: "timeout",
			give: fmt.Errorf("waiting: %w", context.DeadlineExceeded),
			want: []string{"did not answer within 2s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := explainDialError(tgt, 2*time.Second, tt.give).Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("message %q shows the password", msg)
			}
		})
	}

	if err := checkTopology(tgt, "rs0", ""); err != nil {
		t.Errorf("replica set member: %v", err)
	}
	if err := checkTopology(tgt, "", "isdbgrid"); err != nil {
		t.Errorf("mongos: %v", err)
	}
	if err := checkTopology(tgt, "", ""); err == nil || !strings.Contains(err.Error(), "standalone") {
		t.Errorf("standalone: %v, want an error naming it", err)
	}
}

func TestTranslate(t *testing.T) {
	tgt, _ := ParseURI("mongodb://u:hunter2hunter2@db1/gridhub")
	dup := mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key error"}}}
	tests := []struct {
		name     string
		give     error
		wantCode string
		wantIs   error
	}{
		{name: "nil", give: nil},
		{name: "app error", give: hub.Errorf(hub.EOUTOFSTOCK, "none left"), wantCode: hub.EOUTOFSTOCK},
		{name: "no documents", give: mongo.ErrNoDocuments, wantCode: hub.ENOTFOUND},
		{name: "duplicate key", give: dup, wantCode: hub.ECONFLICT},
		{name: "wrapped duplicate key", give: fmt.Errorf("insert: %w", dup), wantCode: hub.ECONFLICT},
		{name: "duplicate key as command error", give: mongo.CommandError{Code: 11000}, wantCode: hub.ECONFLICT},
		{name: "canceled", give: fmt.Errorf("x: %w", context.Canceled), wantCode: hub.EINTERNAL, wantIs: context.Canceled},
		{name: "deadline", give: context.DeadlineExceeded, wantCode: hub.EINTERNAL, wantIs: context.DeadlineExceeded},
		{name: "disconnected", give: mongo.ErrClientDisconnected, wantCode: hub.EINTERNAL, wantIs: ErrClosed},
		{name: "other", give: errors.New("socket closed talking to u:hunter2hunter2@db1"), wantCode: hub.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translate(tgt, "op", tt.give)
			if got := hub.ErrorCode(err); got != tt.wantCode {
				t.Errorf("code %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("%v does not match %v", err, tt.wantIs)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%v shows the password", err)
			}
		})
	}
}

func TestParentCell(t *testing.T) {
	// Pairs from H3's cellToParent (through package grid) at resolution 5.
	tests := []struct{ give, want hub.Cell }{
		{0x894ba0a4e37ffff, 0x854ba0a7fffffff},
		{0x874ba0a4effffff, 0x854ba0a7fffffff},
		{0x854ba0a7fffffff, 0x854ba0a7fffffff},
		{0x89309959d73ffff, 0x8530995bfffffff},
		{0x87309959dffffff, 0x8530995bfffffff},
		{0x89be0e35cbbffff, 0x85be0e37fffffff},
		{0x89075dd4b8bffff, 0x85075dd7fffffff},
		{0x89754e64993ffff, 0x85754e67fffffff},
		{0x833099fffffffff, 0x833099fffffffff}, // coarser than 5: itself
		{0, 0},
	}
	for _, tt := range tests {
		if got := parentCell(tt.give, ShardResolution); got != tt.want {
			t.Errorf("parentCell(%v, 5) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// roundTrip marshals a document as the driver would and reads it back.
func roundTrip[D any](t *testing.T, d D) D {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("marshal %T: %v", d, err)
	}
	var out D
	if err := bson.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal %T: %v", d, err)
	}
	return out
}

// base is a time with a sub-millisecond part, which the store drops.
var base = time.Date(2020, 2, 6, 8, 30, 15, 123456789, time.FixedZone("CST", 8*3600))

func ms(t time.Time) time.Time { return msTime(t) }

func TestDocumentsRoundTrip(t *testing.T) {
	cells := []hub.Cell{0x8928308280fffff, 0x8928308283bffff}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s after a round trip:\n got %+v\nwant %+v", what, got, want)
		}
	}

	d := &hub.District{ID: "d1", Code: "D1", Name: "Da'an", Cells: cells, UpdatedAt: base}
	dd := roundTrip(t, districtToDoc(d))
	check("district", dd.domain(), &hub.District{ID: "d1", Code: "D1", Name: "Da'an", Cells: cells, UpdatedAt: ms(base)})

	c := &hub.Committee{ID: "c1", Code: "", Name: "C", DistrictID: "d1", Cells: cells, UpdatedAt: base}
	cd := roundTrip(t, committeeToDoc(c))
	raw, _ := bson.Marshal(committeeToDoc(c))
	if _, err := bson.Raw(raw).LookupErr("code"); err == nil {
		t.Error("a committee without a code stores a code field: the unique index would hold it")
	}
	want := *c
	want.UpdatedAt = ms(base)
	check("committee", cd.domain(), &want)

	r := &hub.Resident{ID: "r1", Name: "N", IDHash: "h", IDMasked: "A1**", Phone: "09", Address: "1 Rd",
		Location: hub.Point{Lat: 25.04, Lng: 121.51}, Cell: cells[0], CommitteeID: "c1", DistrictID: "d1", RegisteredAt: base}
	rd := roundTrip(t, residentToDoc(r))
	wantR := *r
	wantR.RegisteredAt = ms(base)
	check("resident", rd.domain(), &wantR)
	if rd.P5 != 0x85283083fffffff {
		t.Errorf("resident p5 = %x", rd.P5)
	}

	p := &hub.Pharmacy{ID: "p1", Name: "P", Location: hub.Point{Lat: 1, Lng: 2}, Cell: cells[1], DistrictID: "d1",
		Hours: "NNNNNNNNNNNNNNNNNNNNN", Stock: map[hub.SKU]int{hub.MaskAdult: 10, hub.TestKit: 0}, UpdatedAt: base}
	pd := roundTrip(t, pharmacyToDoc(p))
	wantP := *p
	wantP.UpdatedAt = ms(base)
	check("pharmacy", pd.domain(), &wantP)
	empty := roundTrip(t, pharmacyToDoc(&hub.Pharmacy{ID: "p2"}))
	if got := empty.domain().Stock; got == nil || len(got) != 0 {
		t.Errorf("stock of a pharmacy without any: %v, want an empty map", got)
	}

	k := &hub.Checkpoint{ID: "k1", Name: "K", Kind: "STATION", Location: hub.Point{Lat: 1, Lng: 2}, Cell: cells[0], DistrictID: "d1", UpdatedAt: base}
	kd := roundTrip(t, checkpointToDoc(k))
	wantK := *k
	wantK.UpdatedAt = ms(base)
	check("checkpoint", kd.domain(), &wantK)

	sc := hub.StockChange{PharmacyID: "p1", SKU: hub.MaskN95, Delta: -3, Reason: "ALLOCATE", At: base}
	ld := roundTrip(t, ledgerToDoc(7, 12, sc))
	sc.At = ms(base)
	check("ledger entry", ld.domain(), hub.StockEntry{Seq: 7, After: 12, StockChange: sc})

	e := hub.AuditEntry{At: base, ActorRole: "COMMITTEE", ActorID: "c1", Subject: "u", Action: "resident", TargetID: "r1", Purpose: "check", Count: 2}
	ad := roundTrip(t, auditToDoc(41, &e))
	e.Seq, e.At = 41, ms(base)
	check("audit entry", ad.domain(), e)

	rnd := &hub.Round{ID: "round1", Name: "R", SKU: hub.MaskAdult, PerPerson: 5, Mode: hub.Lottery,
		Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery},
		Eligibility: hub.Eligibility{IDHashes: []string{"h1"}, DistrictIDs: []string{"d1"}},
		HealthGate:  true, Opens: base, Closes: base.Add(time.Hour), MaxK: 3, PickupWindow: 48*time.Hour + 1,
		SlotMinutes: 30, SlotCapacity: 12, Quotas: map[string]int{"c.1": 100, "$c2": 50},
		Commitment: "abc", Seed: "5eed", Winners: 10, Status: hub.RoundOpen, CreatedAt: base, UpdatedAt: base}
	rdoc := roundTrip(t, roundToDoc(rnd))
	wantRnd := *rnd
	wantRnd.Opens, wantRnd.Closes, wantRnd.CreatedAt, wantRnd.UpdatedAt = ms(base), ms(base.Add(time.Hour)), ms(base), ms(base)
	check("round", rdoc.domain(), &wantRnd)

	res := &hub.Reservation{ID: "res1", RoundID: "round1", ResidentID: "r1", IDHash: "h1", Cell: cells[0], CommitteeID: "c1",
		DistrictID: "d1", Fulfilment: hub.Pickup, IdempotencyKey: "k", EntryHash: "e", Status: hub.ReservationPending,
		CreatedAt: base, UpdatedAt: base}
	resd := roundTrip(t, reservationToDoc(res))
	wantRes := *res
	wantRes.CreatedAt, wantRes.UpdatedAt = ms(base), ms(base)
	check("reservation", resd.domain(), &wantRes)

	a := &hub.Allocation{ID: "a1", RoundID: "round1", ReservationID: "res1", ResidentID: "r1", PharmacyID: "p1", PartnerID: "pt1",
		SKU: hub.MaskAdult, Quantity: 5, Cell: cells[0], Slot: base, CodeHash: "code", Status: hub.AllocationReserved,
		ExpiresAt: base.Add(time.Hour), CreatedAt: base, UpdatedAt: base}
	alld := roundTrip(t, allocationToDoc(a))
	wantA := *a
	wantA.Slot, wantA.ExpiresAt, wantA.CreatedAt, wantA.UpdatedAt = ms(base), ms(base.Add(time.Hour)), ms(base), ms(base)
	check("allocation", alld.domain(), &wantA)
	never := roundTrip(t, allocationToDoc(&hub.Allocation{ID: "a2", Status: hub.AllocationDelivering}))
	if !never.domain().ExpiresAt.IsZero() || !never.domain().Slot.IsZero() {
		t.Error("zero times of an allocation do not come back zero")
	}
	raw, _ = bson.Marshal(allocationToDoc(&hub.Allocation{ID: "a2"}))
	for _, f := range []string{"expiresAt", "codeHash", "partnerId"} {
		if _, err := bson.Raw(raw).LookupErr(f); err == nil {
			t.Errorf("an allocation without %s stores the field: its partial index would hold it", f)
		}
	}

	pt := &hub.Partner{ID: "pt1", Name: "P", Cells: cells, UpdatedAt: base}
	ptd := roundTrip(t, partnerToDoc(pt))
	check("partner", ptd.domain(), &hub.Partner{ID: "pt1", Name: "P", Cells: cells, UpdatedAt: ms(base)})

	sh := &hub.Shortage{ID: "sh1", ResidentID: "r1", Cell: cells[0], SKU: hub.MaskAdult, Quantity: 2, Status: hub.ShortageWaiting, CreatedAt: base, UpdatedAt: base}
	shd := roundTrip(t, shortageToDoc(sh))
	wantSh := *sh
	wantSh.CreatedAt, wantSh.UpdatedAt = ms(base), ms(base)
	check("shortage", shd.domain(), &wantSh)

	decl := &hub.Declaration{ID: "dc1", ResidentID: "r1", SubjectID: "s", Symptoms: []string{"COUGH"}, Temperature: 37.5,
		TravelFromRisk: true, ContactWithCase: true, FiledBy: "c1", FiledByKind: hub.FiledByCommittee, Cell: cells[0],
		DistrictID: "d1", Colour: hub.Yellow, Reasons: []string{"FEVER"}, At: base}
	decld := roundTrip(t, declarationToDoc(decl))
	wantDecl := *decl
	wantDecl.At = ms(base)
	check("declaration", decld.domain(), &wantDecl)

	area := &hub.RiskArea{ID: "ra1", Cell: cells[0], Rings: 1, Reason: "cluster",
		Cells: []hub.RiskCell{{Cell: cells[0], Level: hub.RiskHigh}, {Cell: cells[1], Level: hub.RiskMedium}}, MarkedAt: base}
	aread := roundTrip(t, riskAreaToDoc(area))
	if !aread.Active {
		t.Error("an area without a lifting time is not active")
	}
	wantArea := *area
	wantArea.MarkedAt = ms(base)
	check("risk area", aread.domain(), &wantArea)
	area.LiftedAt = base.Add(time.Hour)
	if roundTrip(t, riskAreaToDoc(area)).Active {
		t.Error("a lifted area is active")
	}

	hc := &hub.HealthCode{ResidentID: "r1", SubjectID: "s", Cell: cells[0], DistrictID: "d1", CommitteeID: "c1",
		Colour: hub.Red, Reasons: []string{"CASE"}, Version: 3, UpdatedAt: base}
	hcd := roundTrip(t, healthCodeToDoc(hc))
	wantHC := *hc
	wantHC.UpdatedAt = ms(base)
	check("health code", hcd.domain(), &wantHC)

	scan := &hub.Scan{ID: "s1", CheckpointID: "k1", Cell: cells[0], ResidentID: "r1", SubjectID: "s", At: base,
		Temperature: 38.2, Colour: hub.Green, Result: hub.ScanFever}
	scd := roundTrip(t, scanToDoc(scan))
	wantScan := *scan
	wantScan.At = ms(base)
	check("scan", scd.domain(), &wantScan)
	fresh := scanToDoc(scan)
	if !sameScan(&scd, &fresh) {
		t.Error("a scan read back is not the same as the scan written again")
	}
	other := scanToDoc(scan)
	other.At = other.At.Add(time.Millisecond)
	if sameScan(&scd, &other) {
		t.Error("scans a millisecond apart are the same")
	}
	cs := roundTrip(t, caseDoc{ResidentID: "r1", ContactAt: ms(base), ContactOf: "r2"})
	check("case", cs.domain(), hub.CaseStatus{ContactAt: ms(base), ContactOf: "r2"})
}

// TestDocumentsAreCopies changes what was given and what came back: the
// other side never sees it.
func TestDocumentsAreCopies(t *testing.T) {
	rnd := &hub.Round{ID: "r", Fulfilments: []hub.Fulfilment{hub.Pickup},
		Eligibility: hub.Eligibility{IDHashes: []string{"h"}}, Quotas: map[string]int{"c": 1}}
	d := roundToDoc(rnd)
	rnd.Fulfilments[0], rnd.Eligibility.IDHashes[0], rnd.Quotas["c"] = hub.Delivery, "x", 9
	if d.Fulfilments[0] != "PICKUP" || d.Eligibility.IDHashes[0] != "h" || d.Quotas[0].Units != 1 {
		t.Errorf("round document changed with its input: %+v", d)
	}
	p := &hub.Pharmacy{ID: "p", Stock: map[hub.SKU]int{hub.MaskAdult: 1}}
	pd := pharmacyToDoc(p)
	p.Stock[hub.MaskAdult] = 9
	if pd.Stock["MASK_ADULT"] != 1 {
		t.Error("pharmacy document changed with its input")
	}
	got := pd.domain()
	got.Stock[hub.MaskAdult] = 7
	if pd.Stock["MASK_ADULT"] != 1 {
		t.Error("pharmacy document changed with its output")
	}
	cells := []hub.Cell{1, 2}
	dd := districtToDoc(&hub.District{ID: "d", Cells: cells})
	cells[0] = 9
	if dd.Cells[0] != 1 {
		t.Error("district document changed with its input")
	}
}

// bsonEqual compares two filters or updates by their BSON.
func bsonEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: got}}, false, false)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	w, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: want}}, false, false)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestStockGuards(t *testing.T) {
	bsonEqual(t, "take", stockFilter("p1", hub.MaskAdult, -3),
		bson.D{{Key: "_id", Value: "p1"}, {Key: "stock.MASK_ADULT", Value: bson.D{{Key: "$gte", Value: int64(3)}}}})
	bsonEqual(t, "restock", stockFilter("p1", hub.MaskAdult, 5),
		bson.D{{Key: "_id", Value: "p1"}, {Key: "stock.MASK_ADULT", Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: int64(math.MaxInt64 - 5)}}}}}})
	bsonEqual(t, "update", stockUpdate(hub.MaskN95, -2),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "stock.MASK_N95", Value: int64(-2)}, {Key: "ledgerSeq", Value: int64(1)}}}})

	// The guard admits a take exactly when the stock covers it: as a
	// server would evaluate {$gte: n} on the stored count, or on a missing
	// one (which never matches a comparison).
	admits := func(stock map[string]int64, sku hub.SKU, delta int) bool {
		f := stockFilter("p1", sku, delta)
		cond := f[1].Value.(bson.D)[0]
		have, ok := stock[string(sku)]
		switch cond.Key {
		case "$gte":
			return ok && have >= cond.Value.(int64)
		case "$not":
			return !ok || !(have > cond.Value.(bson.D)[0].Value.(int64))
		}
		t.Fatalf("unexpected guard %v", f)
		return false
	}
	stock := map[string]int64{"MASK_ADULT": 3}
	for _, tt := range []struct {
		sku   hub.SKU
		delta int
		want  bool
	}{
		{hub.MaskAdult, -3, true}, {hub.MaskAdult, -4, false}, {hub.MaskAdult, -1, true},
		{hub.TestKit, -1, false}, {hub.TestKit, 1, true}, {hub.MaskAdult, math.MaxInt64 - 3, true},
		{hub.MaskAdult, math.MaxInt64 - 2, false},
	} {
		if got := admits(stock, tt.sku, tt.delta); got != tt.want {
			t.Errorf("guard of %d %s over %v admits %v, want %v", tt.delta, tt.sku, stock, got, tt.want)
		}
	}
}

func TestFilters(t *testing.T) {
	bsonEqual(t, "residents of a committee after an ID", residentsFilter(hub.ResidentFilter{CommitteeID: "c1", After: "r10", Limit: 3}),
		bson.D{{Key: "committeeId", Value: "c1"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: "r10"}}}})
	bsonEqual(t, "all residents", residentsFilter(hub.ResidentFilter{}), bson.D{})
	bsonEqual(t, "reservations", reservationsFilter(hub.ReservationFilter{RoundID: "r", Status: hub.ReservationWaiting, After: "x"}),
		bson.D{{Key: "roundId", Value: "r"}, {Key: "status", Value: "WAITING"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: "x"}}}})
	bsonEqual(t, "a partner's allocations", allocationsFilter(hub.AllocationFilter{PartnerID: "pt1", Status: hub.AllocationDelivering, After: "a9"}),
		bson.D{{Key: "partnerId", Value: "pt1"}, {Key: "status", Value: "DELIVERING"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: "a9"}}}})
	bsonEqual(t, "every filter", allocationsFilter(hub.AllocationFilter{PartnerID: "a", PharmacyID: "b", RoundID: "c", Status: hub.AllocationRedeemed}),
		bson.D{{Key: "partnerId", Value: "a"}, {Key: "pharmacyId", Value: "b"}, {Key: "roundId", Value: "c"}, {Key: "status", Value: "REDEEMED"}})
	bsonEqual(t, "shortages", shortagesFilter(hub.ShortageFilter{SKU: hub.MaskAdult, Status: hub.ShortageWaiting}),
		bson.D{{Key: "sku", Value: "MASK_ADULT"}, {Key: "status", Value: "WAITING"}})

	for _, tt := range []struct {
		give      hub.AuditFilter
		want      bson.D
		wantLimit int
		wantOK    bool
	}{
		{hub.AuditFilter{}, bson.D{}, hub.DefaultAuditLimit, true},
		{hub.AuditFilter{TargetID: "r1", ActorID: "c1", After: 7, Limit: 5000},
			bson.D{{Key: "targetId", Value: "r1"}, {Key: "actorId", Value: "c1"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: int64(7)}}}},
			hub.MaxAuditLimit, true},
		{hub.AuditFilter{After: math.MaxUint64}, nil, hub.DefaultAuditLimit, false},
		{hub.AuditFilter{After: math.MaxInt64}, nil, hub.DefaultAuditLimit, false},
	} {
		got, limit, ok := auditFilter(tt.give)
		if ok != tt.wantOK || limit != tt.wantLimit {
			t.Errorf("auditFilter(%+v): limit %d, ok %v; want %d, %v", tt.give, limit, ok, tt.wantLimit, tt.wantOK)
		}
		if ok {
			bsonEqual(t, fmt.Sprintf("auditFilter(%+v)", tt.give), got, tt.want)
		}
	}

	// Bounds are taken at millisecond precision, like the stored times:
	// a scan written at t is found from t on.
	t0 := time.Date(2020, 2, 6, 8, 30, 15, 123456789, time.UTC)
	t0ms := time.Date(2020, 2, 6, 8, 30, 15, 123000000, time.UTC)
	bsonEqual(t, "trajectory", trajectoryFilter("r1", t0),
		bson.D{{Key: "r", Value: "r1"}, {Key: "at", Value: bson.D{{Key: "$gte", Value: t0ms}}}})
	bsonEqual(t, "contacts", contactsFilter([]hub.Cell{2, 1}, t0, t0),
		bson.D{{Key: "c", Value: bson.D{{Key: "$in", Value: []int64{2, 1}}}},
			{Key: "at", Value: bson.D{{Key: "$gte", Value: t0ms}, {Key: "$lte", Value: t0ms}}}})
	bsonEqual(t, "expiring", expiringFilter(t0),
		bson.D{{Key: "status", Value: "RESERVED"}, {Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: t0ms}}}})
	if !scanAtBound(t0, t0) {
		t.Error("a scan at the bound is not found")
	}

	bsonEqual(t, "counts of a district", countsFilter("d1"),
		bson.D{{Key: "d", Value: "d1"}, {Key: "n", Value: bson.D{{Key: "$gt", Value: int64(0)}}}})
	bsonEqual(t, "group update", countUpdate("d1", 5, hub.Yellow, hub.FiledBySelf, -1),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(-1)}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "d", Value: "d1"}, {Key: "c", Value: int64(5)}, {Key: "r", Value: int64(2)}, {Key: "k", Value: "SELF"}}}})

	// Group IDs never collide, however the parts are cut.
	seen := map[string]string{}
	for _, d := range []string{"", "d", "d1", "d1\x001"} {
		for _, c := range []hub.Cell{1, 0x10} {
			for _, col := range hub.Colours() {
				for _, k := range []hub.FiledByKind{"", hub.FiledBySelf} {
					id := groupID(d, c, col, k)
					key := fmt.Sprint(d, c, col, k)
					if prev, ok := seen[id]; ok && prev != key {
						t.Errorf("groups %s and %s share the ID %q", prev, key, id)
					}
					seen[id] = key
				}
			}
		}
	}
}

// scanAtBound evaluates {at: {$gte: bound}} for a scan written at t.
func scanAtBound(t, bound time.Time) bool {
	return !msTime(t).Before(queryTime(bound))
}

func TestContactUpdate(t *testing.T) {
	at := time.Date(2020, 2, 6, 8, 0, 0, 7e6+5, time.UTC)
	got := contactUpdate("$case", at)
	later := bson.D{{Key: "$lt", Value: bson.A{bson.D{{Key: "$ifNull", Value: bson.A{"$contactAt", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}}}, msTime(at)}}}
	want := bson.A{bson.D{{Key: "$set", Value: bson.D{
		{Key: "contactOf", Value: bson.D{{Key: "$cond", Value: bson.A{later, bson.D{{Key: "$literal", Value: "$case"}}, "$contactOf"}}}},
		{Key: "contactAt", Value: bson.D{{Key: "$cond", Value: bson.A{later, msTime(at), "$contactAt"}}}},
	}}}}
	bsonEqual(t, "contact update", got, want)
}

func TestIndexSpecs(t *testing.T) {
	known := map[string]bool{}
	for _, name := range collectionNames() {
		known[name] = true
	}
	for _, spec := range indexSpecs() {
		if !known[spec.coll] {
			t.Errorf("indexes of unknown collection %q", spec.coll)
		}
		names := map[string]bool{}
		for _, m := range spec.models {
			keys := m.Keys.(bson.D)
			if len(keys) == 0 {
				t.Errorf("%s: an index without keys", spec.coll)
			}
			var o options.IndexOptions
			for _, f := range m.Options.List() {
				if err := f(&o); err != nil {
					t.Fatal(err)
				}
			}
			if o.Name == nil || names[*o.Name] {
				t.Errorf("%s: index %v has no name or a repeated one", spec.coll, keys)
				continue
			}
			names[*o.Name] = true
		}
	}
}

// closedStore is a store whose client never reaches a server.
func closedStore(t *testing.T) *Store {
	t.Helper()
	tgt, err := ParseURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200")
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"))
	if err != nil {
		t.Fatal(err)
	}
	return newStore(client, "gridhub_unit", tgt, Options{})
}

// TestGuards calls every method on a closed store and with a canceled
// context: each fails at once, without a request, with ErrClosed or the
// context's error.
func TestGuards(t *testing.T) {
	at := time.Date(2020, 2, 6, 8, 0, 0, 0, time.UTC)
	calls := everyCall(at)

	s := closedStore(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	for _, c := range calls {
		start := time.Now()
		if err := c.do(t.Context(), s); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", c.name, err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%s after Close took %v: it went to the network", c.name, d)
		}
	}

	s = closedStore(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls {
		if err := c.do(ctx, s); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", c.name, err)
		}
	}
}

type call struct {
	name string
	do   func(ctx context.Context, s *Store) error
}

// everyCall calls every method of hub.Store with valid arguments.
func everyCall(at time.Time) []call {
	res := &hub.Reservation{ID: "res1", RoundID: "round1", IDHash: "h", Status: hub.ReservationPending}
	return []call{
		{"Ping", func(ctx context.Context, s *Store) error { return s.Ping(ctx) }},
		{"Meta", func(ctx context.Context, s *Store) error { _, err := s.Meta(ctx, "k"); return err }},
		{"SwapMeta", func(ctx context.Context, s *Store) error { _, err := s.SwapMeta(ctx, "k", "", "v"); return err }},
		{"UpsertDistrict", func(ctx context.Context, s *Store) error { return s.UpsertDistrict(ctx, &hub.District{ID: "d"}) }},
		{"District", func(ctx context.Context, s *Store) error { _, err := s.District(ctx, "d"); return err }},
		{"Districts", func(ctx context.Context, s *Store) error { _, err := s.Districts(ctx); return err }},
		{"UpsertCommittees", func(ctx context.Context, s *Store) error {
			return s.UpsertCommittees(ctx, &hub.Committee{ID: "c", Code: "C"})
		}},
		{"Committee", func(ctx context.Context, s *Store) error { _, err := s.Committee(ctx, "c"); return err }},
		{"CommitteeByCode", func(ctx context.Context, s *Store) error { _, err := s.CommitteeByCode(ctx, "C"); return err }},
		{"Committees", func(ctx context.Context, s *Store) error { _, err := s.Committees(ctx, ""); return err }},
		{"CreateResidents", func(ctx context.Context, s *Store) error {
			return s.CreateResidents(ctx, &hub.Resident{ID: "r", IDHash: "h"})
		}},
		{"Resident", func(ctx context.Context, s *Store) error { _, err := s.Resident(ctx, "r"); return err }},
		{"ResidentByIDHash", func(ctx context.Context, s *Store) error { _, err := s.ResidentByIDHash(ctx, "h"); return err }},
		{"Residents", func(ctx context.Context, s *Store) error {
			_, err := s.Residents(ctx, hub.ResidentFilter{})
			return err
		}},
		{"CountResidents", func(ctx context.Context, s *Store) error { _, err := s.CountResidents(ctx, ""); return err }},
		{"UpsertPharmacies", func(ctx context.Context, s *Store) error { return s.UpsertPharmacies(ctx, &hub.Pharmacy{ID: "p"}) }},
		{"Pharmacy", func(ctx context.Context, s *Store) error { _, err := s.Pharmacy(ctx, "p"); return err }},
		{"Pharmacies", func(ctx context.Context, s *Store) error { _, err := s.Pharmacies(ctx); return err }},
		{"AdjustStock", func(ctx context.Context, s *Store) error {
			_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p", SKU: hub.MaskAdult, Delta: -1, At: at})
			return err
		}},
		{"StockLedger", func(ctx context.Context, s *Store) error { _, err := s.StockLedger(ctx, "p", 0, 0); return err }},
		{"UpsertCheckpoints", func(ctx context.Context, s *Store) error { return s.UpsertCheckpoints(ctx, &hub.Checkpoint{ID: "k"}) }},
		{"Checkpoint", func(ctx context.Context, s *Store) error { _, err := s.Checkpoint(ctx, "k"); return err }},
		{"Checkpoints", func(ctx context.Context, s *Store) error { _, err := s.Checkpoints(ctx); return err }},
		{"AppendAudit", func(ctx context.Context, s *Store) error {
			_, err := s.AppendAudit(ctx, hub.AuditEntry{At: at, Action: "a", TargetID: "r", Purpose: "p"})
			return err
		}},
		{"AuditLog", func(ctx context.Context, s *Store) error { _, err := s.AuditLog(ctx, hub.AuditFilter{}); return err }},
		{"UpsertRound", func(ctx context.Context, s *Store) error {
			return s.UpsertRound(ctx, &hub.Round{ID: "round1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundOpen})
		}},
		{"UpdateRound", func(ctx context.Context, s *Store) error {
			return s.UpdateRound(ctx, &hub.Round{ID: "round1", SKU: hub.MaskAdult, PerPerson: 1, Mode: hub.FirstCome, Status: hub.RoundClosed}, hub.RoundOpen)
		}},
		{"Round", func(ctx context.Context, s *Store) error { _, err := s.Round(ctx, "round1"); return err }},
		{"Rounds", func(ctx context.Context, s *Store) error { _, err := s.Rounds(ctx, ""); return err }},
		{"CreateReservation", func(ctx context.Context, s *Store) error { _, err := s.CreateReservation(ctx, res); return err }},
		{"Reservation", func(ctx context.Context, s *Store) error { _, err := s.Reservation(ctx, "res1"); return err }},
		{"Reservations", func(ctx context.Context, s *Store) error {
			_, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1"})
			return err
		}},
		{"SetReservationStatus", func(ctx context.Context, s *Store) error {
			return s.SetReservationStatus(ctx, hub.ReservationLost, []hub.ReservationStatus{hub.ReservationPending}, "res1")
		}},
		{"ReserveAllocated", func(ctx context.Context, s *Store) error {
			_, err := s.ReserveAllocated(ctx, res, &hub.Allocation{ID: "a", RoundID: res.RoundID, ReservationID: res.ID, PharmacyID: "p",
				SKU: hub.MaskAdult, Quantity: 1, Status: hub.AllocationReserved, CreatedAt: at})
			return err
		}},
		{"Allocate", func(ctx context.Context, s *Store) error {
			return s.Allocate(ctx, &hub.Allocation{ID: "a", RoundID: "round1", ReservationID: "res1", PharmacyID: "p",
				SKU: hub.MaskAdult, Quantity: 1, Status: hub.AllocationReserved, CreatedAt: at})
		}},
		{"Allocation", func(ctx context.Context, s *Store) error { _, err := s.Allocation(ctx, "a"); return err }},
		{"AllocationByCode", func(ctx context.Context, s *Store) error { _, err := s.AllocationByCode(ctx, "c"); return err }},
		{"Allocations", func(ctx context.Context, s *Store) error {
			_, err := s.Allocations(ctx, hub.AllocationFilter{})
			return err
		}},
		{"TransitionAllocation", func(ctx context.Context, s *Store) error {
			_, err := s.TransitionAllocation(ctx, "a", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at)
			return err
		}},
		{"ExpiringAllocations", func(ctx context.Context, s *Store) error { _, err := s.ExpiringAllocations(ctx, at, 0); return err }},
		{"UpsertPartners", func(ctx context.Context, s *Store) error { return s.UpsertPartners(ctx, &hub.Partner{ID: "pt"}) }},
		{"Partner", func(ctx context.Context, s *Store) error { _, err := s.Partner(ctx, "pt"); return err }},
		{"Partners", func(ctx context.Context, s *Store) error { _, err := s.Partners(ctx); return err }},
		{"CreateShortage", func(ctx context.Context, s *Store) error {
			return s.CreateShortage(ctx, &hub.Shortage{ID: "sh", ResidentID: "r", SKU: hub.MaskAdult, Quantity: 1, Status: hub.ShortageWaiting})
		}},
		{"Shortages", func(ctx context.Context, s *Store) error {
			_, err := s.Shortages(ctx, hub.ShortageFilter{})
			return err
		}},
		{"SubjectOf", func(ctx context.Context, s *Store) error { _, err := s.SubjectOf(ctx, "r"); return err }},
		{"ResidentOfSubject", func(ctx context.Context, s *Store) error { _, err := s.ResidentOfSubject(ctx, "x"); return err }},
		{"PutDeclaration", func(ctx context.Context, s *Store) error {
			return s.PutDeclaration(ctx, &hub.Declaration{ID: "dc", ResidentID: "r", FiledBy: "r", FiledByKind: hub.FiledBySelf, Colour: hub.Green, At: at})
		}},
		{"LatestDeclaration", func(ctx context.Context, s *Store) error { _, err := s.LatestDeclaration(ctx, "r"); return err }},
		{"DeclarationCounts", func(ctx context.Context, s *Store) error { _, err := s.DeclarationCounts(ctx, ""); return err }},
		{"UpsertRiskArea", func(ctx context.Context, s *Store) error {
			return s.UpsertRiskArea(ctx, &hub.RiskArea{ID: "ra", Cell: 5, Cells: []hub.RiskCell{{Cell: 5, Level: hub.RiskHigh}}, MarkedAt: at})
		}},
		{"LiftRiskArea", func(ctx context.Context, s *Store) error { _, err := s.LiftRiskArea(ctx, "ra", at); return err }},
		{"RiskArea", func(ctx context.Context, s *Store) error { _, err := s.RiskArea(ctx, "ra"); return err }},
		{"RiskAreas", func(ctx context.Context, s *Store) error { _, err := s.RiskAreas(ctx, true); return err }},
		{"RiskLevels", func(ctx context.Context, s *Store) error { _, err := s.RiskLevels(ctx, []hub.Cell{5}); return err }},
		{"PutHealthCode", func(ctx context.Context, s *Store) error {
			_, err := s.PutHealthCode(ctx, &hub.HealthCode{ResidentID: "r", SubjectID: "s", Colour: hub.Green, UpdatedAt: at})
			return err
		}},
		{"HealthCode", func(ctx context.Context, s *Store) error { _, err := s.HealthCode(ctx, "r"); return err }},
		{"HealthCodesIn", func(ctx context.Context, s *Store) error { _, err := s.HealthCodesIn(ctx, []hub.Cell{5}); return err }},
		{"ColourCounts", func(ctx context.Context, s *Store) error { _, err := s.ColourCounts(ctx, ""); return err }},
		{"MarkCase", func(ctx context.Context, s *Store) error { return s.MarkCase(ctx, "r", at) }},
		{"MarkContacts", func(ctx context.Context, s *Store) error {
			return s.MarkContacts(ctx, "r", hub.Contact{ResidentID: "r2", LastAt: at})
		}},
		{"CaseStatus", func(ctx context.Context, s *Store) error { _, err := s.CaseStatus(ctx, "r"); return err }},
		{"RecordScans", func(ctx context.Context, s *Store) error {
			return s.RecordScans(ctx, &hub.Scan{ID: "s", CheckpointID: "k", Cell: 5, ResidentID: "r", At: at, Colour: hub.Green, Result: hub.ScanPass})
		}},
		{"Trajectory", func(ctx context.Context, s *Store) error { _, err := s.Trajectory(ctx, "r", at, 0); return err }},
		{"ContactsIn", func(ctx context.Context, s *Store) error {
			_, err := s.ContactsIn(ctx, []hub.Cell{5}, at, at)
			return err
		}},
		{"PharmaciesByID", func(ctx context.Context, s *Store) error { _, err := s.PharmaciesByID(ctx, []string{"p"}); return err }},
		{"DistrictsByID", func(ctx context.Context, s *Store) error { _, err := s.DistrictsByID(ctx, []string{"d"}); return err }},
		{"CommitteesByID", func(ctx context.Context, s *Store) error { _, err := s.CommitteesByID(ctx, []string{"c"}); return err }},
		{"RoundsByID", func(ctx context.Context, s *Store) error { _, err := s.RoundsByID(ctx, []string{"round1"}); return err }},
		{"AllocationsByID", func(ctx context.Context, s *Store) error { _, err := s.AllocationsByID(ctx, []string{"a"}); return err }},
	}
}

// TestEveryMethodGuarded makes sure everyCall covers hub.Store: a method
// added to the interface must be added there too.
func TestEveryMethodGuarded(t *testing.T) {
	covered := map[string]bool{"Close": true}
	for _, c := range everyCall(time.Now()) {
		covered[c.name] = true
	}
	st := reflect.TypeFor[hub.Store]()
	for i := range st.NumMethod() {
		if m := st.Method(i).Name; !covered[m] {
			t.Errorf("hub.Store method %s is not in everyCall", m)
		}
	}
}
