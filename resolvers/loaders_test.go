package resolvers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// countingStore counts the calls made to the store's reads (and the audit
// write a page of residents makes). With latency set, each call also
// holds one of a few connections for that long, as a networked store
// (MongoDB) would.
type countingStore struct {
	hub.Store
	calls   atomic.Int64
	latency time.Duration
	conns   chan struct{}

	mu       sync.Mutex
	byMethod map[string]int
}

func newCountingStore(st hub.Store, latency time.Duration, conns int) *countingStore {
	return &countingStore{Store: st, latency: latency, conns: make(chan struct{}, conns), byMethod: map[string]int{}}
}

func (s *countingStore) count(method string) {
	s.calls.Add(1)
	s.mu.Lock()
	s.byMethod[method]++
	s.mu.Unlock()
	if s.latency > 0 {
		s.conns <- struct{}{}
		time.Sleep(s.latency)
		<-s.conns
	}
}

// reset zeroes the counts and returns what they were.
func (s *countingStore) reset() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byMethod
	s.byMethod = map[string]int{}
	return int(s.calls.Swap(0)), m
}

func (s *countingStore) Pharmacy(ctx context.Context, id string) (*hub.Pharmacy, error) {
	s.count("Pharmacy")
	return s.Store.Pharmacy(ctx, id)
}

func (s *countingStore) PharmaciesByID(ctx context.Context, ids []string) ([]*hub.Pharmacy, error) {
	s.count("PharmaciesByID")
	return s.Store.PharmaciesByID(ctx, ids)
}

func (s *countingStore) Pharmacies(ctx context.Context) ([]*hub.Pharmacy, error) {
	s.count("Pharmacies")
	return s.Store.Pharmacies(ctx)
}

func (s *countingStore) District(ctx context.Context, id string) (*hub.District, error) {
	s.count("District")
	return s.Store.District(ctx, id)
}

func (s *countingStore) DistrictsByID(ctx context.Context, ids []string) ([]*hub.District, error) {
	s.count("DistrictsByID")
	return s.Store.DistrictsByID(ctx, ids)
}

func (s *countingStore) Districts(ctx context.Context) ([]*hub.District, error) {
	s.count("Districts")
	return s.Store.Districts(ctx)
}

func (s *countingStore) Committee(ctx context.Context, id string) (*hub.Committee, error) {
	s.count("Committee")
	return s.Store.Committee(ctx, id)
}

func (s *countingStore) CommitteesByID(ctx context.Context, ids []string) ([]*hub.Committee, error) {
	s.count("CommitteesByID")
	return s.Store.CommitteesByID(ctx, ids)
}

func (s *countingStore) Committees(ctx context.Context, districtID string) ([]*hub.Committee, error) {
	s.count("Committees")
	return s.Store.Committees(ctx, districtID)
}

func (s *countingStore) Round(ctx context.Context, id string) (*hub.Round, error) {
	s.count("Round")
	return s.Store.Round(ctx, id)
}

func (s *countingStore) RoundsByID(ctx context.Context, ids []string) ([]*hub.Round, error) {
	s.count("RoundsByID")
	return s.Store.RoundsByID(ctx, ids)
}

func (s *countingStore) Allocation(ctx context.Context, id string) (*hub.Allocation, error) {
	s.count("Allocation")
	return s.Store.Allocation(ctx, id)
}

func (s *countingStore) AllocationsByID(ctx context.Context, ids []string) ([]*hub.Allocation, error) {
	s.count("AllocationsByID")
	return s.Store.AllocationsByID(ctx, ids)
}

func (s *countingStore) Allocations(ctx context.Context, f hub.AllocationFilter) ([]*hub.Allocation, error) {
	s.count("Allocations")
	return s.Store.Allocations(ctx, f)
}

func (s *countingStore) Reservation(ctx context.Context, id string) (*hub.Reservation, error) {
	s.count("Reservation")
	return s.Store.Reservation(ctx, id)
}

func (s *countingStore) Partner(ctx context.Context, id string) (*hub.Partner, error) {
	s.count("Partner")
	return s.Store.Partner(ctx, id)
}

func (s *countingStore) Resident(ctx context.Context, id string) (*hub.Resident, error) {
	s.count("Resident")
	return s.Store.Resident(ctx, id)
}

func (s *countingStore) Residents(ctx context.Context, f hub.ResidentFilter) ([]*hub.Resident, error) {
	s.count("Residents")
	return s.Store.Residents(ctx, f)
}

func (s *countingStore) CountResidents(ctx context.Context, committeeID string) (int, error) {
	s.count("CountResidents")
	return s.Store.CountResidents(ctx, committeeID)
}

func (s *countingStore) Checkpoint(ctx context.Context, id string) (*hub.Checkpoint, error) {
	s.count("Checkpoint")
	return s.Store.Checkpoint(ctx, id)
}

func (s *countingStore) Checkpoints(ctx context.Context) ([]*hub.Checkpoint, error) {
	s.count("Checkpoints")
	return s.Store.Checkpoints(ctx)
}

func (s *countingStore) AppendAudit(ctx context.Context, es ...hub.AuditEntry) ([]hub.AuditEntry, error) {
	s.count("AppendAudit")
	return s.Store.AppendAudit(ctx, es...)
}

// loaderFixture is a hub over a store seeded with n of everything a page
// holds: n allocations of partner pt1 (from n/2 pharmacies in three
// districts, in three rounds), n residents of committee c000, n committees
// and n checkpoints in district d1.
type loaderFixture struct {
	raw      hub.Store
	st       *countingStore
	res      *Resolver
	direct   *executor.Executor // as before the loaders
	batched  *executor.Executor // through Resolver.Batched
	pharmacy map[string]*hub.Pharmacy
	district map[string]*hub.District
	n        int
}

func newLoaderFixture(t testing.TB, n int, latency, wait time.Duration) *loaderFixture {
	t.Helper()
	ctx := context.Background()
	raw, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	fx := &loaderFixture{raw: raw, pharmacy: map[string]*hub.Pharmacy{}, district: map[string]*hub.District{}, n: n}
	at := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cell := func(i int) hub.Cell {
		c, err := grid.CellAt(hub.Point{Lat: 25.03 + float64(i%50)*0.001, Lng: 121.50 + float64(i/50)*0.001}, grid.BaseResolution)
		must(err)
		return c
	}
	for i := range 3 {
		d := &hub.District{ID: fmt.Sprintf("d%d", i+1), Code: fmt.Sprintf("D%d", i+1), Name: fmt.Sprintf("District %d", i+1), Cells: []hub.Cell{cell(100 + i)}, UpdatedAt: at}
		must(raw.UpsertDistrict(ctx, d))
		fx.district[d.ID] = d
	}
	districtOf := func(i int) string { return fmt.Sprintf("d%d", i%3+1) }
	var cs []*hub.Committee
	for i := range n {
		cs = append(cs, &hub.Committee{ID: fmt.Sprintf("c%03d", i), Code: fmt.Sprintf("C%03d", i), Name: fmt.Sprintf("Committee %d", i), DistrictID: "d1", Cells: []hub.Cell{cell(i)}, UpdatedAt: at})
	}
	must(raw.UpsertCommittees(ctx, cs...))
	var rs []*hub.Resident
	for i := range n {
		rs = append(rs, &hub.Resident{
			ID: fmt.Sprintf("r%03d", i), Name: fmt.Sprintf("Resident %d", i), IDHash: fmt.Sprintf("h%03d", i), IDMasked: "A1******89",
			Phone: fmt.Sprintf("0912%06d", i), Address: fmt.Sprintf("%d Zhongshan Rd", i), Cell: cell(i),
			CommitteeID: "c000", DistrictID: districtOf(i), RegisteredAt: at,
		})
	}
	must(raw.CreateResidents(ctx, rs...))
	var ks []*hub.Checkpoint
	for i := range n {
		ks = append(ks, &hub.Checkpoint{ID: fmt.Sprintf("k%03d", i), Name: fmt.Sprintf("Checkpoint %d", i), Kind: "STATION", Cell: cell(i), DistrictID: "d1", UpdatedAt: at})
	}
	must(raw.UpsertCheckpoints(ctx, ks...))
	np := max(n/2, 1)
	var ps []*hub.Pharmacy
	for i := range np {
		p := &hub.Pharmacy{
			ID: fmt.Sprintf("p%03d", i), Name: fmt.Sprintf("Pharmacy %d", i), Phone: "02-2345-6789", Address: fmt.Sprintf("%d Renai Rd", i),
			Cell: cell(i), DistrictID: districtOf(i), Stock: map[hub.SKU]int{hub.MaskAdult: 1000}, UpdatedAt: at,
		}
		ps = append(ps, p)
		fx.pharmacy[p.ID] = p
	}
	must(raw.UpsertPharmacies(ctx, ps...))
	must(raw.UpsertPartners(ctx, &hub.Partner{ID: "pt1", Name: "Partner 1", Cells: []hub.Cell{cell(0)}, UpdatedAt: at}))
	for i := range 3 {
		must(raw.UpsertRound(ctx, &hub.Round{
			ID: fmt.Sprintf("round%d", i+1), Name: fmt.Sprintf("Round %d", i+1), SKU: hub.MaskAdult, PerPerson: 2, Mode: hub.FirstCome,
			Fulfilments: []hub.Fulfilment{hub.Delivery}, Opens: at, Closes: at.Add(10 * time.Hour), Status: hub.RoundOpen,
			CreatedAt: at, UpdatedAt: at,
		}))
	}
	for i := range n {
		res := &hub.Reservation{
			ID: fmt.Sprintf("res%03d", i), RoundID: fmt.Sprintf("round%d", i%3+1), ResidentID: fmt.Sprintf("r%03d", i),
			IDHash: fmt.Sprintf("h%03d", i), Cell: cell(i), CommitteeID: "c000", DistrictID: districtOf(i),
			Fulfilment: hub.Delivery, EntryHash: fmt.Sprintf("e%03d", i), Status: hub.ReservationPending, CreatedAt: at, UpdatedAt: at,
		}
		_, err := raw.CreateReservation(ctx, res)
		must(err)
		must(raw.Allocate(ctx, &hub.Allocation{
			ID: fmt.Sprintf("a%03d", i), RoundID: res.RoundID, ReservationID: res.ID, ResidentID: res.ResidentID,
			PharmacyID: fmt.Sprintf("p%03d", i%np), PartnerID: "pt1", SKU: hub.MaskAdult, Quantity: 1 + i%2, Cell: res.Cell,
			Status: hub.AllocationDelivering, CreatedAt: at, UpdatedAt: at,
		}))
	}

	fx.st = newCountingStore(raw, latency, 16)
	c, err := city.New(ctx, fx.st, nil, city.Options{})
	must(err)
	fx.res = &Resolver{City: c, LoaderWait: wait}
	es := graph.NewExecutableSchema(graph.Config{Resolvers: fx.res, Complexity: Complexity()})
	fx.direct = executor.New(es)
	fx.batched = executor.New(fx.res.Batched(es))
	for _, e := range []*executor.Executor{fx.direct, fx.batched} {
		e.AroundFields(fx.res.Authorize())
		e.SetErrorPresenter(ErrorPresenter(slog.New(slog.DiscardHandler)))
	}
	fx.st.reset()
	return fx
}

// run answers a query as p and returns the answer as JSON, its errors
// sorted by path (fields resolve concurrently, so errors come in any
// order), and the store calls it made.
func (fx *loaderFixture) run(t testing.TB, e *executor.Executor, p auth.Principal, query string) (string, int, map[string]int) {
	t.Helper()
	ctx := graphql.StartOperationTrace(auth.WithPrincipal(context.Background(), p))
	fx.st.reset()
	rc, errs := e.CreateOperationContext(ctx, &graphql.RawParams{Query: query})
	if errs != nil {
		t.Fatalf("query refused: %v", errs)
	}
	responses, ctx := e.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	slices.SortFunc(resp.Errors, func(a, b *gqlerror.Error) int { return strings.Compare(a.Path.String(), b.Path.String()) })
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	calls, byMethod := fx.st.reset()
	return string(b), calls, byMethod
}

// loaderPages are the pages partners, committees and districts read, each
// with the nested records of every row.
func loaderPages(n int) []struct {
	name  string
	as    auth.Principal
	query string
	roots int // store reads of the root fields and the page itself
	// nested bounds the batch reads of the nested records: one per kind
	// of record and level of the answer it appears at.
	nested int
} {
	var aliases strings.Builder
	for i := range n {
		fmt.Fprintf(&aliases, " r%d: reservation(id: \"res%03d\") { id round { id name } allocation { id pharmacy { address district { name } } round { name } } }", i, i)
	}
	return []struct {
		name   string
		as     auth.Principal
		query  string
		roots  int
		nested int
	}{
		{
			name:  "partner allocations",
			as:    auth.Principal{Role: auth.Partner, Scope: "pt1"},
			query: fmt.Sprintf(`{ allocations(partnerId: "pt1", first: %d) { edges { cursor node { id status quantity round { id name sku } pharmacy { id name address stock { sku quantity } district { id name } } } } pageInfo { hasNextPage endCursor } } }`, n),
			roots: 2, // Partner, Allocations
			// rounds and pharmacies, then the pharmacies' districts
			nested: 3,
		},
		{
			name:  "committee residents",
			as:    auth.Principal{Role: auth.Committee, Scope: "c000"},
			query: fmt.Sprintf(`{ committee(id: "c000") { id district { name } residents(first: %d, purpose: "loader test") { totalCount edges { node { id name phoneMasked committee { id name district { id name } } district { id code name } } } } } }`, n),
			roots: 4, // Committee, Residents, CountResidents, AppendAudit
			// the committee's district; the residents' committees and
			// districts; their committees' districts
			nested: 4,
		},
		{
			name:  "district committees and checkpoints",
			as:    auth.Principal{Role: auth.District, Scope: "d1"},
			query: `{ district(id: "d1") { id committees { id name district { id name } } } checkpoints(districtId: "d1") { id name district { id code } } }`,
			roots: 4, // District twice, Committees, Checkpoints
			// the checkpoints' districts, the committees' districts
			nested: 2,
		},
		{
			name:  "reservations",
			as:    auth.Principal{Role: auth.Admin},
			query: "{" + aliases.String() + " }",
			roots: n, // one Reservation per root field
			// rounds and allocations; the allocations' pharmacies and
			// rounds; the pharmacies' districts
			nested: 5,
		},
	}
}

// testLoaderWait is the loaders' wait in tests: long enough that every
// row of a page reaches its batch on a loaded machine under the race
// detector, so that the counts below are exact bounds: 50 ms was seen to
// split the page of 100 aliased reservation fields (100 concurrent root
// reads) in two batches at a load average of 10 on 2 cores. (How many
// rows reach one batch at DefaultLoaderWait is BenchmarkPartnerPage's
// store-calls/op.)
const testLoaderWait = 250 * time.Millisecond

// TestLoadersConstantStoreCalls reads pages of 10 and 100 rows as their
// readers do: the answers are those the hub gave before the loaders, and
// the nested records cost a few store calls whatever the page size.
func TestLoadersConstantStoreCalls(t *testing.T) {
	for _, n := range []int{10, 100} {
		fx := newLoaderFixture(t, n, 0, testLoaderWait)
		for _, pg := range loaderPages(n) {
			want, before, _ := fx.run(t, fx.direct, pg.as, pg.query)
			got, after, byMethod := fx.run(t, fx.batched, pg.as, pg.query)
			if got != want {
				t.Errorf("%s, %d rows: the answer changed with the loaders:\n got %s\nwant %s", pg.name, n, got, want)
			}
			if strings.Contains(want, `"errors"`) {
				t.Errorf("%s, %d rows: %s", pg.name, n, want)
			}
			if before < pg.roots+n {
				t.Errorf("%s, %d rows: %d store calls before the loaders; the test does not see the nested reads", pg.name, n, before)
			}
			if after-pg.roots > pg.nested {
				t.Errorf("%s, %d rows: %d store calls (%v), want at most %d beyond the %d of the page", pg.name, n, after, byMethod, pg.nested, pg.roots)
			}
			t.Logf("%s, %d rows: %d store calls before, %d after (%v)", pg.name, n, before, after, byMethod)
		}
		fx.checkAllocations(t)
	}
}

// checkAllocations reads the partner's page through the loaders and checks
// each row against the records the fixture wrote.
func (fx *loaderFixture) checkAllocations(t *testing.T) {
	t.Helper()
	got, _, _ := fx.run(t, fx.batched, auth.Principal{Role: auth.Partner, Scope: "pt1"},
		fmt.Sprintf(`{ allocations(partnerId: "pt1", first: %d) { edges { node { id round { id } pharmacy { id address district { id name } } } } } }`, fx.n))
	var page struct {
		Data struct {
			Allocations struct {
				Edges []struct {
					Node struct {
						ID       string
						Round    struct{ ID string }
						Pharmacy struct {
							ID, Address string
							District    struct{ ID, Name string }
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(got), &page); err != nil {
		t.Fatal(err)
	}
	edges := page.Data.Allocations.Edges
	if len(edges) != fx.n {
		t.Fatalf("%d allocations, want %d: %s", len(edges), fx.n, got)
	}
	np := max(fx.n/2, 1)
	for i, e := range edges {
		a := e.Node
		p := fx.pharmacy[fmt.Sprintf("p%03d", i%np)]
		d := fx.district[p.DistrictID]
		if a.ID != fmt.Sprintf("a%03d", i) || a.Round.ID != fmt.Sprintf("round%d", i%3+1) ||
			a.Pharmacy.ID != p.ID || a.Pharmacy.Address != p.Address || a.Pharmacy.District.ID != d.ID || a.Pharmacy.District.Name != d.Name {
			t.Fatalf("allocation %d: %+v, want pharmacy %s at %q in %s (%s), round%d", i, a, p.ID, p.Address, d.ID, d.Name, i%3+1)
		}
	}
}

// TestLoadersMissingRecord: a record that names one that is gone answers
// with the error it did before the loaders (NOT_FOUND, at the field),
// and the rest of the page as before.
func TestLoadersMissingRecord(t *testing.T) {
	fx := newLoaderFixture(t, 10, 0, testLoaderWait)
	ctx := context.Background()
	// Pharmacy p001 moves to a district that does not exist, and
	// committee c000 likewise.
	p, err := fx.raw.Pharmacy(ctx, "p001")
	if err != nil {
		t.Fatal(err)
	}
	p.DistrictID = "d-gone"
	c, err := fx.raw.Committee(ctx, "c000")
	if err != nil {
		t.Fatal(err)
	}
	c.DistrictID = "d-gone"
	if err := fx.raw.UpsertPharmacies(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := fx.raw.UpsertCommittees(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, pg := range loaderPages(10) {
		want, _, _ := fx.run(t, fx.direct, pg.as, pg.query)
		got, _, _ := fx.run(t, fx.batched, pg.as, pg.query)
		if got != want {
			t.Errorf("%s: the answer changed with the loaders:\n got %s\nwant %s", pg.name, got, want)
		}
		if pg.name != "district committees and checkpoints" && !strings.Contains(got, `"code":"NOT_FOUND"`) {
			t.Errorf("%s: no NOT_FOUND for the missing district: %s", pg.name, got)
		}
	}
}

// TestLoadersFreshPerEvent: each event of a subscription reads its records
// anew, so a change between two events shows in the second.
func TestLoadersFreshPerEvent(t *testing.T) {
	fx := newLoaderFixture(t, 4, 0, testLoaderWait)
	bus := broker.New(broker.Options{})
	t.Cleanup(func() { bus.Close() })
	fx.res.Bus = bus

	ctx, cancel := context.WithCancel(graphql.StartOperationTrace(auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.Partner, Scope: "pt1"})))
	defer cancel()
	rc, errs := fx.batched.CreateOperationContext(ctx, &graphql.RawParams{
		Query: `subscription { allocationUpdates(partnerId: "pt1") { allocation { id pharmacy { address district { name } } round { name } } } }`,
	})
	if errs != nil {
		t.Fatal(errs)
	}
	responses, ctx := fx.batched.DispatchOperation(ctx, rc)
	a, err := fx.raw.Allocation(ctx, "a000")
	if err != nil {
		t.Fatal(err)
	}
	event := func() string {
		t.Helper()
		fx.st.reset()
		if _, err := bus.Publish(ctx, hub.Event{Kind: hub.EventAllocationUpdated, PartnerID: "pt1", Payload: hub.AllocationPayload{Allocation: *a}}); err != nil {
			t.Fatal(err)
		}
		resp := responses(ctx)
		if resp == nil || len(resp.Errors) > 0 {
			t.Fatalf("event: %+v", resp)
		}
		if calls, byMethod := fx.st.reset(); calls > 3 {
			t.Errorf("event: %d store calls (%v), want at most 3", calls, byMethod)
		}
		return string(resp.Data)
	}
	tests := []struct {
		change func() error
		want   string
	}{
		{nil, `{"allocationUpdates":{"allocation":{"id":"a000","pharmacy":{"address":"0 Renai Rd","district":{"name":"District 1"}},"round":{"name":"Round 1"}}}}`},
		{func() error {
			p := *fx.pharmacy["p000"]
			p.Address = "9 Xinyi Rd"
			return fx.raw.UpsertPharmacies(context.Background(), &p)
		}, `{"allocationUpdates":{"allocation":{"id":"a000","pharmacy":{"address":"9 Xinyi Rd","district":{"name":"District 1"}},"round":{"name":"Round 1"}}}}`},
		{func() error {
			d := *fx.district["d1"]
			d.Name = "District One"
			return fx.raw.UpsertDistrict(context.Background(), &d)
		}, `{"allocationUpdates":{"allocation":{"id":"a000","pharmacy":{"address":"9 Xinyi Rd","district":{"name":"District One"}},"round":{"name":"Round 1"}}}}`},
	}
	for i, tt := range tests {
		if tt.change != nil {
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
		}
		if got := event(); got != tt.want {
			t.Errorf("event %d: %s, want %s", i, got, tt.want)
		}
	}
}

// BenchmarkPartnerPage reads a partner's page of 100 allocations with
// each one's round and pharmacy (and its district), as before the loaders
// (direct) and through them (batched), on the embedded store and on the
// embedded store behind a simulated network (each call holds one of 16
// connections for 200µs, as a MongoDB round trip would).
func BenchmarkPartnerPage(b *testing.B) {
	const n = 100
	query := fmt.Sprintf(`{ allocations(partnerId: "pt1", first: %d) { edges { node { id status round { id name } pharmacy { id address district { name } } } } } }`, n)
	partner := auth.Principal{Role: auth.Partner, Scope: "pt1"}
	for _, latency := range []time.Duration{0, 200 * time.Microsecond} {
		fx := newLoaderFixture(b, n, latency, 0)
		for _, mode := range []struct {
			name string
			e    *executor.Executor
		}{{"direct", fx.direct}, {"batched", fx.batched}} {
			b.Run(fmt.Sprintf("latency=%v/%s", latency, mode.name), func(b *testing.B) {
				calls := 0
				for b.Loop() {
					got, c, _ := fx.run(b, mode.e, partner, query)
					if !bytes.Contains([]byte(got), []byte(`"a099"`)) {
						b.Fatalf("short page: %s", got)
					}
					calls += c
				}
				b.ReportMetric(float64(calls)/float64(b.N), "store-calls/op")
			})
		}
	}
}
