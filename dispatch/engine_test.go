package dispatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// The engine tests run over the embedded store in a temporary directory:
// what the engine writes is what a restart reads.

// t0 is the start of every test's clock.
var t0 = time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)

// testKey is the pickup-code key of the tests.
var testKey = []byte("gridhub-test-code-key-0123456789")

// clock is an injected clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// seqIDs makes IDs prefix + a six-digit sequence number: deterministic,
// increasing, shared across restarts of one test.
type seqIDs struct{ n atomic.Int64 }

func (s *seqIDs) next(prefix string) string { return fmt.Sprintf("%s%06d", prefix, s.n.Add(1)) }

// city is an engine over a store in a temporary directory, with its clock,
// the rings around Taipei 101 and the stock it was given.
type city struct {
	t     testing.TB
	dir   string
	store *boltstore.Store
	eng   *dispatch.Engine
	clock *clock
	ids   *seqIDs
	opts  dispatch.EngineOptions
	rs    [][]hub.Cell
	// supplied is the units of MASK_ADULT given to pharmacies: initial
	// stock and restocks.
	supplied int
	// wrap, when set, wraps the store the engine gets.
	wrap func(hub.Store) hub.Store
}

// newCity returns an engine over an empty store. opts may set fields
// other than Now, NewID, CodeKey and ExpiryEvery, which the city sets
// unless given.
func newCity(t testing.TB, opts dispatch.EngineOptions) *city {
	t.Helper()
	c := &city{t: t, dir: t.TempDir(), clock: &clock{now: t0}, ids: &seqIDs{}, rs: rings(t, 8)}
	if opts.Now == nil {
		opts.Now = c.clock.Now
	}
	if opts.NewID == nil {
		opts.NewID = c.ids.next
	}
	if opts.CodeKey == nil {
		opts.CodeKey = testKey
	}
	if opts.ExpiryEvery == 0 {
		opts.ExpiryEvery = -1
	}
	c.opts = opts
	c.open()
	return c
}

// open opens the store and the engine.
func (c *city) open() {
	c.t.Helper()
	st, err := boltstore.Open(c.dir)
	if err != nil {
		c.t.Fatalf("boltstore.Open: %v", err)
	}
	c.store = st
	var es hub.Store = st
	if c.wrap != nil {
		es = c.wrap(st)
	}
	eng, err := dispatch.NewEngine(context.Background(), es, c.opts)
	if err != nil {
		_ = st.Close()
		c.t.Fatalf("NewEngine: %v", err)
	}
	c.eng = eng
	c.t.Cleanup(func() {
		_ = eng.Close()
		_ = st.Close()
	})
}

// restart closes the engine and the store and opens both again.
func (c *city) restart() {
	c.t.Helper()
	if err := c.eng.Close(); err != nil {
		c.t.Fatalf("Engine.Close: %v", err)
	}
	if err := c.store.Close(); err != nil {
		c.t.Fatalf("Store.Close: %v", err)
	}
	c.open()
}

func (c *city) ctx() context.Context { return context.Background() }

// pharmacy adds a pharmacy with stock of MASK_ADULT and tells the engine.
func (c *city) pharmacy(id string, cell hub.Cell, stock int) {
	c.t.Helper()
	p := &hub.Pharmacy{ID: id, Name: "Pharmacy " + id, Cell: cell, Stock: map[hub.SKU]int{hub.MaskAdult: stock}, UpdatedAt: t0}
	if err := c.store.UpsertPharmacies(c.ctx(), p); err != nil {
		c.t.Fatalf("UpsertPharmacies: %v", err)
	}
	c.supplied += stock
	if err := c.eng.RefreshPharmacies(c.ctx()); err != nil {
		c.t.Fatalf("RefreshPharmacies: %v", err)
	}
}

// restock adds MASK_ADULT at a pharmacy, as the registry does.
func (c *city) restock(id string, n int) {
	c.t.Helper()
	if _, err := c.store.AdjustStock(c.ctx(), hub.StockChange{PharmacyID: id, SKU: hub.MaskAdult, Delta: n, Reason: "RESTOCK", At: c.clock.Now()}); err != nil {
		c.t.Fatalf("AdjustStock: %v", err)
	}
	c.supplied += n
}

// resident returns a registered resident living in cell.
func (c *city) resident(id string, cell hub.Cell, committee, district string) *hub.Resident {
	c.t.Helper()
	r := &hub.Resident{
		ID: id, Name: "Resident " + id, IDHash: "hash-" + id, IDMasked: "A1******89",
		Cell: cell, CommitteeID: committee, DistrictID: district, RegisteredAt: t0,
	}
	if err := c.store.CreateResidents(c.ctx(), r); err != nil {
		c.t.Fatalf("CreateResidents: %v", err)
	}
	return r
}

// areas adds districts d1 and d2 and committees c1 (in d1, quota rounds
// give it one) and c2 (in d2).
func (c *city) areas() {
	c.t.Helper()
	for _, d := range []string{"d1", "d2"} {
		if err := c.store.UpsertDistrict(c.ctx(), &hub.District{ID: d, Code: d, Name: "District " + d, UpdatedAt: t0}); err != nil {
			c.t.Fatal(err)
		}
	}
	err := c.store.UpsertCommittees(c.ctx(),
		&hub.Committee{ID: "c1", Code: "C1", Name: "Committee 1", DistrictID: "d1", UpdatedAt: t0},
		&hub.Committee{ID: "c2", Code: "C2", Name: "Committee 2", DistrictID: "d2", UpdatedAt: t0},
		&hub.Committee{ID: "c3", Code: "C3", Name: "Committee 3", DistrictID: "d2", UpdatedAt: t0},
	)
	if err != nil {
		c.t.Fatal(err)
	}
}

// round opens a round with sensible defaults for the fields in left zero:
// MASK_ADULT, 2 per person, FIRST_COME, open now for a day, maxK 3.
func (c *city) round(in dispatch.RoundInput) *hub.Round {
	c.t.Helper()
	r, err := c.eng.OpenRound(c.ctx(), defaults(in))
	if err != nil {
		c.t.Fatalf("OpenRound: %v", err)
	}
	return r
}

func defaults(in dispatch.RoundInput) dispatch.RoundInput {
	if in.Name == "" {
		in.Name = "Round"
	}
	if in.SKU == "" {
		in.SKU = hub.MaskAdult
	}
	if in.PerPerson == 0 {
		in.PerPerson = 2
	}
	if in.Mode == "" {
		in.Mode = hub.FirstCome
	}
	if in.Closes.IsZero() {
		in.Closes = t0.Add(24 * time.Hour)
	}
	if in.MaxK == 0 {
		in.MaxK = 3
	}
	return in
}

// reserve reserves and fails the test on an error.
func (c *city) reserve(roundID string, res *hub.Resident) *dispatch.ReserveResult {
	c.t.Helper()
	out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: roundID, Resident: res})
	if err != nil {
		c.t.Fatalf("Reserve %s in %s: %v", res.ID, roundID, err)
	}
	return out
}

// stockOf returns a pharmacy's MASK_ADULT stock in the store.
func (c *city) stockOf(id string) int {
	c.t.Helper()
	p, err := c.store.Pharmacy(c.ctx(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return p.Stock[hub.MaskAdult]
}

// conserved checks that every unit given is on a shelf, held or handed
// out: supplied = on hand + RESERVED and DELIVERING + REDEEMED and
// DELIVERED, all read from the store.
func (c *city) conserved() {
	c.t.Helper()
	ps, err := c.store.Pharmacies(c.ctx())
	if err != nil {
		c.t.Fatal(err)
	}
	onHand := 0
	for _, p := range ps {
		onHand += p.Stock[hub.MaskAdult]
	}
	as, err := c.store.Allocations(c.ctx(), hub.AllocationFilter{})
	if err != nil {
		c.t.Fatal(err)
	}
	held, out := 0, 0
	for _, a := range as {
		switch a.Status {
		case hub.AllocationReserved, hub.AllocationDelivering:
			held += a.Quantity
		case hub.AllocationRedeemed, hub.AllocationDelivered:
			out += a.Quantity
		}
	}
	if onHand+held+out != c.supplied {
		c.t.Errorf("stock not conserved: %d supplied, %d on hand + %d held + %d handed out = %d", c.supplied, onHand, held, out, onHand+held+out)
	}
}

// wantCode fails the test unless err carries the code (and, when given, a
// message holding want).
func wantCode(t testing.TB, err error, code, want string) {
	t.Helper()
	if got := hub.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if want != "" && !strings.Contains(hub.ErrorMessage(err), want) {
		t.Fatalf("error message %q does not say %q", hub.ErrorMessage(err), want)
	}
}

func TestNewEngineOptions(t *testing.T) {
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name string
		give dispatch.EngineOptions
		want string
	}{
		{"no key", dispatch.EngineOptions{}, hub.EINVALID},
		{"short key", dispatch.EngineOptions{CodeKey: []byte("short")}, hub.EINVALID},
		{"negative k", dispatch.EngineOptions{CodeKey: testKey, DefaultMaxK: -1}, hub.EINVALID},
		{"k too far", dispatch.EngineOptions{CodeKey: testKey, DefaultMaxK: 11}, hub.EINVALID},
		{"ok", dispatch.EngineOptions{CodeKey: testKey, ExpiryEvery: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := dispatch.NewEngine(context.Background(), st, tt.give)
			if got := hub.ErrorCode(err); got != tt.want {
				t.Fatalf("NewEngine: %v, want code %q", err, tt.want)
			}
			if e != nil {
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); err != dispatch.ErrEngineClosed {
					t.Fatalf("second Close: %v, want ErrEngineClosed", err)
				}
				if _, err := e.ExpireDue(context.Background()); err != dispatch.ErrEngineClosed {
					t.Fatalf("ExpireDue after Close: %v", err)
				}
			}
		})
	}
}

func TestOpenRoundRules(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	c.areas()
	c.round(dispatch.RoundInput{ID: "taken"})
	tests := []struct {
		name string
		give dispatch.RoundInput
		want string // code
		say  string // in the message
	}{
		{"bad id", dispatch.RoundInput{ID: "a b"}, hub.EINVALID, "may hold only"},
		{"taken id", dispatch.RoundInput{ID: "taken"}, hub.ECONFLICT, "already exists"},
		{"no name", dispatch.RoundInput{Name: " "}, hub.EINVALID, "name is required"},
		{"unknown sku", dispatch.RoundInput{SKU: "MASK_GOLD"}, hub.EINVALID, "unknown supply"},
		{"per person 0", dispatch.RoundInput{PerPerson: -1}, hub.EINVALID, "perPerson"},
		{"per person 101", dispatch.RoundInput{PerPerson: 101}, hub.EINVALID, "perPerson"},
		{"unknown mode", dispatch.RoundInput{Mode: "AUCTION"}, hub.EINVALID, "unknown mode"},
		{"unknown fulfilment", dispatch.RoundInput{Fulfilments: []hub.Fulfilment{"DRONE"}}, hub.EINVALID, "unknown fulfilment"},
		{"fulfilment twice", dispatch.RoundInput{Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Pickup}}, hub.EINVALID, "twice"},
		{"closes before opens", dispatch.RoundInput{Opens: t0.Add(2 * time.Hour), Closes: t0.Add(time.Hour)}, hub.EINVALID, "must be after opens"},
		{"closes in the past", dispatch.RoundInput{Opens: t0.Add(-3 * time.Hour), Closes: t0.Add(-time.Hour)}, hub.EINVALID, "already past"},
		{"k 11", dispatch.RoundInput{MaxK: 11}, hub.EINVALID, "maxK"},
		{"k -2", dispatch.RoundInput{MaxK: -2}, hub.EINVALID, "maxK"},
		{"window too long", dispatch.RoundInput{PickupWindow: 31 * 24 * time.Hour}, hub.EINVALID, "pickup window"},
		{"negative window", dispatch.RoundInput{PickupWindow: -time.Hour}, hub.EINVALID, "pickup window"},
		{"health gate without health", dispatch.RoundInput{HealthGate: true}, hub.EINVALID, "health"},
		{"unknown district", dispatch.RoundInput{Eligibility: hub.Eligibility{DistrictIDs: []string{"d9"}}}, hub.EINVALID, "unknown district"},
		{"committee without quotas", dispatch.RoundInput{Mode: hub.ByCommittee}, hub.EINVALID, "quotas"},
		{"quotas outside committee mode", dispatch.RoundInput{Quotas: map[string]int{"c1": 4}}, hub.EINVALID, "COMMITTEE rounds only"},
		{"unknown committee", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c9": 4}}, hub.EINVALID, "unknown committee"},
		{"zero quota", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 0}}, hub.EINVALID, "quota"},
		{"negative winners", dispatch.RoundInput{Mode: hub.Lottery, Winners: -1}, hub.EINVALID, "winners"},
		{"winners outside lottery", dispatch.RoundInput{Winners: 3}, hub.EINVALID, "LOTTERY rounds only"},
		{"ok", dispatch.RoundInput{ID: "fine", Eligibility: hub.Eligibility{DistrictIDs: []string{"d2", "d1", "d2"}}}, "", ""},
		{"ok default k", dispatch.RoundInput{ID: "fine-k", MaxK: -1}, "", ""},
		{"ok committee", dispatch.RoundInput{ID: "fine-c", Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 4}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.eng.OpenRound(c.ctx(), defaults(tt.give))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("OpenRound: %v", err)
				}
				if r.Status != hub.RoundOpen {
					t.Errorf("status %s, want OPEN", r.Status)
				}
				return
			}
			wantCode(t, err, tt.want, tt.say)
		})
	}
	r, err := c.eng.Round(c.ctx(), "fine")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Eligibility.DistrictIDs; len(got) != 2 || got[0] != "d1" || got[1] != "d2" {
		t.Errorf("districts %v, want [d1 d2]", got)
	}
	if r.PickupWindow != dispatch.DefaultPickupWindow || len(r.Fulfilments) != 1 || r.Fulfilments[0] != hub.Pickup {
		t.Errorf("defaults: window %s, fulfilments %v", r.PickupWindow, r.Fulfilments)
	}
	if r, _ := c.eng.Round(c.ctx(), "fine-k"); r.MaxK != 3 {
		t.Errorf("maxK -1 gave %d, want the default 3", r.MaxK)
	}
}

func TestReserveRules(t *testing.T) {
	health := map[string]hub.Colour{"healthy": hub.Green}
	c := newCity(t, dispatch.EngineOptions{HealthColour: func(ctx context.Context, id string) (hub.Colour, error) {
		if id == "broken" {
			return "", fmt.Errorf("health service down")
		}
		return health[id], nil
	}})
	c.areas()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	if _, err := c.eng.UpsertPartner(c.ctx(), "courier", "Courier", []hub.Cell{c.rs[1][0]}); err != nil {
		t.Fatal(err)
	}
	c.round(dispatch.RoundInput{ID: "open", Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}})
	c.round(dispatch.RoundInput{ID: "later", Opens: t0.Add(time.Hour)})
	c.round(dispatch.RoundInput{ID: "shut"})
	if _, err := c.eng.CloseRound(c.ctx(), "shut"); err != nil {
		t.Fatal(err)
	}
	c.round(dispatch.RoundInput{ID: "listed", Eligibility: hub.Eligibility{IDHashes: []string{"hash-ann"}}})
	c.round(dispatch.RoundInput{ID: "district", Eligibility: hub.Eligibility{DistrictIDs: []string{"d1"}}})
	c.round(dispatch.RoundInput{ID: "gated", HealthGate: true})
	c.round(dispatch.RoundInput{ID: "quota", Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 10}})

	ann := c.resident("ann", home, "c1", "d1")
	bo := c.resident("bo", home, "c2", "d2")
	healthy := c.resident("healthy", home, "c1", "d1")
	broken := c.resident("broken", home, "c1", "d1")
	near := c.resident("near", c.rs[1][0], "c1", "d1")
	offGrid := &hub.Resident{ID: "lost", IDHash: "hash-lost", Cell: 12345}

	tests := []struct {
		name string
		give dispatch.ReserveInput
		want string
		say  string
	}{
		{"unknown round", dispatch.ReserveInput{RoundID: "nope", Resident: ann}, hub.ENOTFOUND, ""},
		{"not open yet", dispatch.ReserveInput{RoundID: "later", Resident: ann}, hub.ECONFLICT, "opens at"},
		{"closed", dispatch.ReserveInput{RoundID: "shut", Resident: ann}, hub.ECONFLICT, "closed"},
		{"no resident", dispatch.ReserveInput{RoundID: "open"}, hub.EINVALID, "no resident"},
		{"off the grid", dispatch.ReserveInput{RoundID: "open", Resident: offGrid}, hub.EINVALID, "does not place"},
		{"fulfilment not offered", dispatch.ReserveInput{RoundID: "listed", Resident: ann, Fulfilment: hub.Delivery}, hub.EINVALID, "offers"},
		{"unknown fulfilment", dispatch.ReserveInput{RoundID: "open", Resident: ann, Fulfilment: "DRONE"}, hub.EINVALID, "offers"},
		{"no partner here", dispatch.ReserveInput{RoundID: "open", Resident: ann, Fulfilment: hub.Delivery}, hub.EINVALID, "no delivery partner"},
		{"slot with delivery", dispatch.ReserveInput{RoundID: "open", Resident: near, Fulfilment: hub.Delivery, Slot: t0.Add(time.Hour)}, hub.EINVALID, "slot"},
		{"slot past", dispatch.ReserveInput{RoundID: "open", Resident: ann, Slot: t0.Add(-2 * time.Hour)}, hub.EINVALID, "outside the pickup window"},
		{"slot after window", dispatch.ReserveInput{RoundID: "open", Resident: ann, Slot: t0.Add(48 * time.Hour)}, hub.EINVALID, "outside the pickup window"},
		{"key too long", dispatch.ReserveInput{RoundID: "open", Resident: ann, IdempotencyKey: strings.Repeat("k", 129)}, hub.EINVALID, "idempotency key"},
		{"not on the list", dispatch.ReserveInput{RoundID: "listed", Resident: bo}, hub.EFORBIDDEN, "not on it"},
		{"not in the districts", dispatch.ReserveInput{RoundID: "district", Resident: bo}, hub.EFORBIDDEN, "districts"},
		{"no declaration", dispatch.ReserveInput{RoundID: "gated", Resident: ann}, hub.EFORBIDDEN, "health declaration"},
		{"health service down", dispatch.ReserveInput{RoundID: "gated", Resident: broken}, hub.EINTERNAL, ""},
		{"committee without quota", dispatch.ReserveInput{RoundID: "quota", Resident: bo}, hub.EFORBIDDEN, "holds none"},
		{"on the list", dispatch.ReserveInput{RoundID: "listed", Resident: ann}, "", ""},
		{"in the district", dispatch.ReserveInput{RoundID: "district", Resident: ann}, "", ""},
		{"declared", dispatch.ReserveInput{RoundID: "gated", Resident: healthy}, "", ""},
		{"committee with quota", dispatch.ReserveInput{RoundID: "quota", Resident: ann}, "", ""},
		{"delivery", dispatch.ReserveInput{RoundID: "open", Resident: near, Fulfilment: hub.Delivery}, "", ""},
		{"pickup slot", dispatch.ReserveInput{RoundID: "open", Resident: ann, Slot: t0.Add(2 * time.Hour)}, "", ""},
		{"second reservation", dispatch.ReserveInput{RoundID: "open", Resident: ann}, hub.ECONFLICT, "already has reservation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.stockOf("P1")
			out, err := c.eng.Reserve(c.ctx(), tt.give)
			if tt.want != "" {
				wantCode(t, err, tt.want, tt.say)
				if after := c.stockOf("P1"); after != before {
					t.Errorf("a refused reservation moved stock: %d -> %d", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if out.Reservation.Status != hub.ReservationAllocated || out.Allocation == nil {
				t.Fatalf("reservation %+v, allocation %+v: want ALLOCATED", out.Reservation, out.Allocation)
			}
			a := out.Allocation
			if a.Quantity != 2 || a.PharmacyID != "P1" || a.ResidentID != tt.give.Resident.ID {
				t.Errorf("allocation %+v", a)
			}
			if a.CodeHash != c.eng.PickupCode(a).Hash(testKey) {
				t.Errorf("code hash is not the hash of the allocation's code")
			}
			switch tt.give.Fulfilment {
			case hub.Delivery:
				if a.Status != hub.AllocationDelivering || a.PartnerID != "courier" || !a.ExpiresAt.IsZero() {
					t.Errorf("delivery allocation %+v", a)
				}
			default:
				if a.Status != hub.AllocationReserved || !a.ExpiresAt.Equal(t0.Add(24*time.Hour)) || !a.Slot.Equal(tt.give.Slot) {
					t.Errorf("pickup allocation %+v", a)
				}
			}
		})
	}
	// Six allocations of 2 were made; nothing else moved.
	if got := c.stockOf("P1"); got != 100-12 {
		t.Errorf("stock %d, want %d", got, 100-12)
	}
	c.conserved()
}

func TestReserveWaits(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	c.areas()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 5)
	c.round(dispatch.RoundInput{ID: "fc"})
	c.round(dispatch.RoundInput{ID: "q", Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 2, "c2": 10}, PerPerson: 1})
	far := c.resident("far", c.rs[8][0], "c1", "d1")
	tests := []struct {
		name   string
		round  string
		res    *hub.Resident
		status hub.ReservationStatus
		reason string
	}{
		{"nothing in reach", "fc", far, hub.ReservationWaiting, dispatch.ReasonNothingInReach},
		{"served", "fc", c.resident("a", home, "c1", "d1"), hub.ReservationAllocated, ""},
		{"served again", "fc", c.resident("b", home, "c1", "d1"), hub.ReservationAllocated, ""},
		{"out of stock", "fc", c.resident("c", home, "c1", "d1"), hub.ReservationWaiting, dispatch.ReasonOutOfStock},
		// The unit left serves a round of the SKU that asks one.
		{"shared stock", "q", c.resident("d", home, "c1", "d1"), hub.ReservationAllocated, ""},
		{"nothing left", "q", c.resident("e", home, "c1", "d1"), hub.ReservationWaiting, dispatch.ReasonOutOfStock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.reserve(tt.round, tt.res)
			if out.Reservation.Status != tt.status || out.Reason != tt.reason {
				t.Fatalf("status %s reason %q, want %s %q", out.Reservation.Status, out.Reason, tt.status, tt.reason)
			}
			if (out.Allocation != nil) != (tt.status == hub.ReservationAllocated) {
				t.Fatalf("allocation %+v with status %s", out.Allocation, tt.status)
			}
		})
	}
	c.conserved()
}

func TestCommitteeQuota(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	c.areas()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 100)
	c.round(dispatch.RoundInput{ID: "q", Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 5, "c2": 4}})
	var got []string
	for i := range 4 {
		out := c.reserve("q", c.resident(fmt.Sprintf("c1-%d", i), home, "c1", "d1"))
		got = append(got, out.Reason)
		if i < 2 && out.Reservation.Status != hub.ReservationAllocated {
			t.Errorf("c1-%d: %s, want ALLOCATED", i, out.Reservation.Status)
		}
	}
	// 5 units, 2 per person: two allocations, then the quota is full.
	want := []string{"", "", dispatch.ReasonQuotaExhausted, dispatch.ReasonQuotaExhausted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reasons %q, want %q", got, want)
	}
	if out := c.reserve("q", c.resident("c2-0", home, "c2", "d2")); out.Reservation.Status != hub.ReservationAllocated {
		t.Errorf("another committee's quota is its own: %s %s", out.Reservation.Status, out.Reason)
	}

	// The quota survives a restart, and a cancellation gives it back.
	c.restart()
	out := c.reserve("q", c.resident("c1-late", home, "c1", "d1"))
	if out.Reason != dispatch.ReasonQuotaExhausted {
		t.Fatalf("after restart: %s %q, want QUOTA_EXHAUSTED", out.Reservation.Status, out.Reason)
	}
	resvs, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "q", Status: hub.ReservationAllocated})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), resvs[0].ID); err != nil {
		t.Fatal(err)
	}
	// The quota given back serves c1's waiting list first: c1-2, the
	// earliest waiting, not a newcomer.
	all, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "q"})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]hub.ReservationStatus{}
	for _, rv := range all {
		status[rv.ResidentID] = rv.Status
	}
	if status["c1-2"] != hub.ReservationAllocated || status["c1-3"] != hub.ReservationWaiting || status["c1-late"] != hub.ReservationWaiting {
		t.Errorf("after a cancellation c1-2 %s, c1-3 %s, c1-late %s; want ALLOCATED, WAITING, WAITING", status["c1-2"], status["c1-3"], status["c1-late"])
	}
	if out := c.reserve("q", c.resident("c1-after-cancel", home, "c1", "d1")); out.Reason != dispatch.ReasonQuotaExhausted {
		t.Errorf("a newcomer after a cancellation: %s %q, want QUOTA_EXHAUSTED behind the waiting list", out.Reservation.Status, out.Reason)
	}
	c.conserved()
}

// faultyStore fails Allocate and ReserveAllocated while fail is set.
type faultyStore struct {
	hub.Store
	fail atomic.Bool
}

func (s *faultyStore) Allocate(ctx context.Context, as ...*hub.Allocation) error {
	if s.fail.Load() {
		return fmt.Errorf("disk on fire")
	}
	return s.Store.Allocate(ctx, as...)
}

func (s *faultyStore) ReserveAllocated(ctx context.Context, r *hub.Reservation, a *hub.Allocation) (*hub.Reservation, error) {
	if s.fail.Load() {
		return nil, fmt.Errorf("disk on fire")
	}
	return s.Store.ReserveAllocated(ctx, r, a)
}

// newRand returns a seeded stream of bytes, for lottery seeds.
func newRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func TestDefaultIDsSortByCreation(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	// The city makes sequential IDs: open a second engine with the
	// default on the same store.
	if err := c.eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng, err := dispatch.NewEngine(c.ctx(), c.store, dispatch.EngineOptions{Now: c.clock.Now, CodeKey: testKey, ExpiryEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c.eng = eng
	c.pharmacy("P1", c.rs[0][0], 1000)
	r, err := eng.OpenRound(c.ctx(), defaults(dispatch.RoundInput{}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, "rnd_") || len(r.ID) != 4+26 {
		t.Fatalf("round ID %q: want rnd_ and 26 symbols", r.ID)
	}
	var last string
	for i := range 50 {
		out := c.reserve(r.ID, c.resident(fmt.Sprintf("r%03d", i), c.rs[0][0], "", ""))
		id := out.Allocation.ID
		if !strings.HasPrefix(id, "alc_") || id <= last {
			t.Fatalf("allocation %d has ID %q after %q: IDs must increase", i, id, last)
		}
		if strings.Trim(id[4:], "0123456789abcdefghjkmnpqrstvwxyz") != "" {
			t.Fatalf("ID %q holds symbols outside lower-case Crockford base 32", id)
		}
		last = id
	}
}

func TestCloseRound(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(3)})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 10)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 1})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	c.reserve("lot", c.resident("a", home, "", ""))
	r, err := c.eng.CloseRound(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != hub.RoundClosed || !r.Closes.Equal(t0) || r.Seed != "" {
		t.Fatalf("closed round: %s, closes %s, seed %q", r.Status, r.Closes, r.Seed)
	}
	_, err = c.eng.CloseRound(c.ctx(), "lot")
	wantCode(t, err, hub.ECONFLICT, "not OPEN")
	_, err = c.eng.CloseRound(c.ctx(), "nope")
	wantCode(t, err, hub.ENOTFOUND, "")
	_, err = c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "lot", Resident: c.resident("b", home, "", "")})
	wantCode(t, err, hub.ECONFLICT, "closed")
	// Closed early, the lottery draws at once.
	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if len(pd.Winners) != 1 || rep.Allocated != 1 {
		t.Fatalf("draw %+v, report %+v", pd, rep)
	}
	if r, _ := c.eng.Round(c.ctx(), "lot"); r.Seed != pd.Seed || r.Status != hub.RoundDrawn {
		t.Errorf("drawn round shows seed %q, status %s", r.Seed, r.Status)
	}
	// CloseDue closes what is due, once.
	c.round(dispatch.RoundInput{ID: "fc", Closes: t0.Add(time.Hour)})
	if n, err := c.eng.CloseDue(c.ctx()); err != nil || n != 0 {
		t.Fatalf("CloseDue before the end: %d, %v", n, err)
	}
	c.clock.Advance(time.Hour)
	if n, err := c.eng.CloseDue(c.ctx()); err != nil || n != 1 {
		t.Fatalf("CloseDue: %d, %v; want 1", n, err)
	}
	if r, _ := c.store.Round(c.ctx(), "fc"); r.Status != hub.RoundClosed {
		t.Errorf("fc is %s after CloseDue", r.Status)
	}
}
