// Package storetest is the conformance suite of hub.Store, after
// go-cloud's docstore/drivertest: it runs through the portable store
// (store/portable) over each driver, whose test supplies a Harness and
// calls Run.
//
// Beyond what hub.Store documents, the suite holds every backend to these
// details, so that callers see one behaviour:
//   - a nil record, an empty ID or a negative initial stock is an EINVALID
//     error, and a batch holding one writes nothing;
//   - AdjustStock of an unknown SKU is EINVALID, of an unknown pharmacy
//     ENOTFOUND; StockLedger of an unknown pharmacy is ENOTFOUND;
//   - a new pharmacy's ledger starts with one INITIAL entry (Delta and
//     After the quantity) per SKU it is given a non-zero stock of;
//   - Residents, Committees and CountResidents of an unknown committee or
//     district return nothing, not an error;
//   - a call with a canceled context fails with an error matching
//     context.Canceled and writes nothing; every call after Close fails.
//
// Times are compared at millisecond precision (MongoDB's) in UTC, empty and
// nil slices and maps are the same, and a stock of zero is the same as no
// entry for the SKU.
package storetest

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Harness makes stores for the suite.
type Harness interface {
	// Open returns a new, empty store of the backend under test. The
	// harness releases it when t ends; a test may close it first.
	Open(t *testing.T) hub.Store
	// Reopen closes s, which Open returned, and opens the backend again on
	// the same data: everything s acknowledged must be there.
	Reopen(t *testing.T, s hub.Store) hub.Store
}

// Run runs the conformance suite against the backend h makes.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Districts", testDistricts},
		{"Committees", testCommittees},
		{"CommitteeCodeConflicts", testCommitteeConflicts},
		{"Checkpoints", testCheckpoints},
		{"Residents", testResidents},
		{"ResidentConflicts", testResidentConflicts},
		{"ResidentPaging", testResidentPaging},
		{"Pharmacies", testPharmacies},
		{"AdjustStock", testAdjustStock},
		{"StockLedger", testStockLedger},
		{"StockConservation", testStockConservation},
		{"Invalid", testInvalid},
		{"Copies", testCopies},
		{"ConcurrentStock", testConcurrentStock},
		{"ConcurrentResidents", testConcurrentResidents},
		{"Audit", testAudit},
		{"SweepScans", testSweepScans},
		{"SweepDeclarations", testSweepDeclarations},
		{"SweepAudit", testSweepAudit},
		{"SweepDispatch", testSweepDispatch},
		{"SweepGuards", testSweepGuards},
		{"SweepShortages", testSweepShortages},
		{"SweepCases", testSweepCases},
		{"SweepCodes", testSweepCodes},
		{"SweepInvalid", testSweepInvalid},
		{"ConcurrentSweeps", testConcurrentSweeps},
		{"Holds", testHolds},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"AuditInvalid", testAuditInvalid},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditReopen", testAuditReopen},
		{"AuditCanceled", testAuditCanceled},
		{"Meta", testMeta},
		{"MetaInvalid", testMetaInvalid},
		{"MetaConcurrent", testMetaConcurrent},
		{"MetaReopen", testMetaReopen},
		{"Rounds", testRounds},
		{"RoundHealthRules", testRoundHealthRules},
		{"UpdateRound", testUpdateRound},
		{"ConcurrentUpdateRound", testConcurrentUpdateRound},
		{"Reservations", testReservations},
		{"ReservationStatus", testReservationStatus},
		{"Allocate", testAllocate},
		{"ReserveAllocated", testReserveAllocated},
		{"AllocationQueries", testAllocationQueries},
		{"Transitions", testTransitions},
		{"Expiring", testExpiring},
		{"Partners", testPartners},
		{"BatchReads", testBatchReads},
		{"Shortages", testShortages},
		{"DispatchCopies", testDispatchCopies},
		{"DispatchConservation", testDispatchConservation},
		{"ConcurrentAllocate", testConcurrentAllocate},
		{"ConcurrentReservations", testConcurrentReservations},
		{"ConcurrentReserveAllocated", testConcurrentReserveAllocated},
		{"ConcurrentRedeem", testConcurrentRedeem},
		{"SlotGuard", testSlotGuard},
		{"QuotaGuard", testQuotaGuard},
		{"ConcurrentGuards", testConcurrentGuards},
		{"DispatchReopen", testDispatchReopen},
		{"Subjects", testSubjects},
		{"Declarations", testDeclarations},
		{"RiskAreas", testRiskAreas},
		{"HealthCodes", testHealthCodes},
		{"Cases", testCases},
		{"Scans", testScans},
		{"ConcurrentScans", testConcurrentScans},
		{"LoadScans", testLoadScans},
		{"CodesCopies", testCodesCopies},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

// at returns the time n minutes after the fixtures' base time. Its
// nanoseconds are not a whole millisecond, so a backend with millisecond
// precision is exercised.
func at(n int) time.Time {
	return time.Date(2020, 2, 6, 8, 30, 15, 123456789, time.UTC).Add(time.Duration(n) * time.Minute)
}

// wantCode fails t unless err carries the application error code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := hub.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

// must fails t on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same fails t unless got and want are deeply equal.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// ms is a time as the suite compares it.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// The norm functions return comparable copies of records: times at
// millisecond precision in UTC, empty slices and maps nil, zero stock
// dropped.

func normDistrict(d *hub.District) hub.District {
	c := *d
	c.UpdatedAt = ms(c.UpdatedAt)
	if len(c.Cells) == 0 {
		c.Cells = nil
	}
	return c
}

func normCommittee(x *hub.Committee) hub.Committee {
	c := *x
	c.UpdatedAt = ms(c.UpdatedAt)
	if len(c.Cells) == 0 {
		c.Cells = nil
	}
	return c
}

func normResident(r *hub.Resident) hub.Resident {
	c := *r
	c.RegisteredAt = ms(c.RegisteredAt)
	return c
}

func normPharmacy(p *hub.Pharmacy) hub.Pharmacy {
	c := *p
	c.UpdatedAt = ms(c.UpdatedAt)
	c.Stock = normStock(c.Stock)
	return c
}

func normStock(stock map[hub.SKU]int) map[hub.SKU]int {
	out := maps.Clone(stock)
	maps.DeleteFunc(out, func(_ hub.SKU, n int) bool { return n == 0 })
	if len(out) == 0 {
		return nil
	}
	return out
}

func normCheckpoint(x *hub.Checkpoint) hub.Checkpoint {
	c := *x
	c.UpdatedAt = ms(c.UpdatedAt)
	return c
}

func normEntry(e hub.StockEntry) hub.StockEntry {
	e.At = ms(e.At)
	return e
}

// normAll applies norm to each element of a list.
func normAll[T, N any](xs []T, norm func(T) N) []N {
	out := make([]N, 0, len(xs))
	for _, x := range xs {
		out = append(out, norm(x))
	}
	return out
}

// ids returns the IDs of records in order.
func ids[T any](xs []*T, id func(*T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func residentID(r *hub.Resident) string { return r.ID }

// Fixtures. Each returns a new record, so tests may change it freely.

func cells(n uint64) []hub.Cell {
	return []hub.Cell{0x8928308280fffff + hub.Cell(n<<4), 0x8928308283bffff + hub.Cell(n<<4)}
}

func district(id string) *hub.District {
	return &hub.District{ID: id, Code: "D-" + id, Name: "District " + id, Cells: cells(1), UpdatedAt: at(1)}
}

func committee(id, code, districtID string) *hub.Committee {
	return &hub.Committee{
		ID: id, Code: code, Name: "Committee " + id, DistrictID: districtID,
		Cells: cells(2), UpdatedAt: at(2),
	}
}

func resident(id, idHash, committeeID string) *hub.Resident {
	return &hub.Resident{
		ID: id, Name: "Resident " + id, IDHash: idHash, IDMasked: "A1******89",
		Phone: "0912345678", Address: "1 Zhongshan Rd", Location: hub.Point{Lat: 25.0478, Lng: 121.5170},
		Cell: 0x8928308280fffff, CommitteeID: committeeID, DistrictID: "d1", RegisteredAt: at(3),
	}
}

func pharmacy(id string, stock map[hub.SKU]int) *hub.Pharmacy {
	return &hub.Pharmacy{
		ID: id, Name: "Pharmacy " + id, Phone: "02-2345-6789", Address: "2 Renai Rd",
		Location: hub.Point{Lat: 25.04, Lng: 121.53}, Cell: 0x8928308283bffff, DistrictID: "d1",
		Hours: "NNNNNNNNNNNNNNYYYYYYY", Stock: stock, UpdatedAt: at(4),
	}
}

func checkpoint(id string) *hub.Checkpoint {
	return &hub.Checkpoint{
		ID: id, Name: "Checkpoint " + id, Kind: "STATION", Location: hub.Point{Lat: 25.05, Lng: 121.52},
		Cell: 0x8928308280fffff, DistrictID: "d1", UpdatedAt: at(5),
	}
}

// stockOf returns a pharmacy's stock of a SKU.
func stockOf(t *testing.T, s hub.Store, id string, sku hub.SKU) int {
	t.Helper()
	p, err := s.Pharmacy(t.Context(), id)
	must(t, err, "Pharmacy "+id)
	return p.Stock[sku]
}

// ledger returns a pharmacy's whole ledger.
func ledger(t *testing.T, s hub.Store, id string) []hub.StockEntry {
	t.Helper()
	es, err := s.StockLedger(t.Context(), id, 0, 0)
	must(t, err, "StockLedger "+id)
	return es
}

// residentIDs pages through residents with the filter's committee and limit
// and returns every ID seen.
func residentIDs(t *testing.T, s hub.Store, committeeID string, limit int) []string {
	t.Helper()
	var out []string
	f := hub.ResidentFilter{CommitteeID: committeeID, Limit: limit}
	for range 1000 {
		page, err := s.Residents(t.Context(), f)
		must(t, err, "Residents")
		if limit > 0 && len(page) > limit {
			t.Fatalf("Residents(%+v): %d residents, over the limit", f, len(page))
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, ids(page, residentID)...)
		f.After = page[len(page)-1].ID
	}
	t.Fatalf("Residents(%q, %d): paging does not end", committeeID, limit)
	return nil
}

// isCanceled reports whether err says the context was canceled.
func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }
