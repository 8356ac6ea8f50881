package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
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
		{name: "duplicate key", give: dup, wantCode: hub.EINTERNAL},
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
		{"Sweep", func(ctx context.Context, s *Store) error {
			_, err := s.Sweep(ctx, hub.SweepRequest{Kind: hub.RecordScans, Before: at, Now: at})
			return err
		}},
		{"PutHold", func(ctx context.Context, s *Store) error {
			return s.PutHold(ctx, &hub.Hold{ID: "h", DistrictID: "d", CaseID: "r", ResidentIDs: []string{"r"}, Reason: "case", PlacedAt: at, Until: at.Add(time.Hour)})
		}},
		{"ExtendHold", func(ctx context.Context, s *Store) error {
			_, err := s.ExtendHold(ctx, "h", at.Add(2*time.Hour), at)
			return err
		}},
		{"LiftHold", func(ctx context.Context, s *Store) error { _, err := s.LiftHold(ctx, "h", at); return err }},
		{"Hold", func(ctx context.Context, s *Store) error { _, err := s.Hold(ctx, "h"); return err }},
		{"Holds", func(ctx context.Context, s *Store) error { _, err := s.Holds(ctx, "d"); return err }},
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
