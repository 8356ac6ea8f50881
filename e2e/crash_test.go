package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store"
)

// TestCrash is the crash test: a burst of reservations, redemptions,
// cancellations and restocks against a hub in a child process, SIGKILL at
// a random moment, and then, in the data the hub left, the invariants
// checked against what the client saw acknowledged:
//
//   - every acknowledged reservation, allocation, redemption,
//     cancellation and restock is there;
//   - stock is conserved at every pharmacy for every supply: initial
//     stock and restocks (every ledger entry but allocations and returns)
//     equal the stock on hand plus the units of allocations held or
//     handed out, and the ledger ends at the stock on hand;
//   - no person holds two allocations, or two live reservations, in a
//     round;
//   - no pickup code is valid twice: no two allocations share a code
//     hash, and a redeemed code is refused when shown again.
//
// The hub is restarted after each kill (it finishes the reservations the
// kill left pending) and the requests whose answer the kill cut off are
// sent again with their idempotency keys. In CI it kills 3 times; set
// GRIDHUB_CRASH_KILLS for more (make crash kills 50 times) and
// GRIDHUB_CRASH_SEED to repeat a run.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	kills := 3
	if v := os.Getenv("GRIDHUB_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("GRIDHUB_CRASH_KILLS=%q: want a positive number", v)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("GRIDHUB_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("GRIDHUB_CRASH_SEED=%q: want a number", v)
		}
		seed = n
	}
	t.Logf("crash test: %d kills, GRIDHUB_CRASH_SEED=%d", kills, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))

	dir := t.TempDir()
	const residents = 3000
	var out, errOut bytes.Buffer
	if err := app.Run(t.Context(), []string{"demo", "-data", dir, "-secret", "test-secret-0123456789", "-residents", strconv.Itoa(residents)},
		&out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("seed the demo city: %v\n%s", err, errOut.String())
	}
	admin := mintToken(t, dir, "ADMIN", "")
	c := &crashClient{
		http:  &http.Client{Timeout: 10 * time.Second},
		token: admin,
		acks:  newCrashAcks(),
	}
	// Each resident reserves with their own token: a pickup code is shown
	// to its owner only, not to ADMIN.
	c.tokens = make(map[string]string, residents)
	for i := range residents {
		id := fmt.Sprintf("tpe-r%07d", i+1)
		c.residents = append(c.residents, id)
		c.tokens[id] = mintToken(t, dir, "RESIDENT", id)
	}
	// Stock enough at every pharmacy that most reservations are
	// allocated, whatever the demo's own day left.
	st, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := st.Pharmacies(t.Context())
	for _, p := range ps {
		if err == nil {
			_, err = st.AdjustStock(t.Context(), hub.StockChange{PharmacyID: p.ID, SKU: hub.MaskAdult, Delta: 300, Reason: "RESTOCK", At: time.Now()})
		}
		c.pharmacies = append(c.pharmacies, p.ID)
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	var sum crashSummary
	for k := range kills {
		child := startChild(t, dir)
		c.url = child.url
		// What the last kill cut off goes again, with the same keys.
		c.retry(t)
		round := fmt.Sprintf("crash-%02d", k)
		now := time.Now().UTC()
		if r := c.do(`mutation($id: ID!, $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "Crash", sku: MASK_ADULT, perPerson: 2, mode: FIRST_COME, opens: $o, closes: $c, maxK: 3}) { id } }`,
			map[string]any{"id": round, "o": now.Add(-time.Minute).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}); r == nil || len(r.Errors) > 0 {
			t.Fatalf("open round %s: %+v", round, r)
		}
		c.round = round
		c.order = rng.Perm(len(c.residents))
		c.next.Store(0)

		// The burst, and the kill at a random moment in it.
		c.killed.Store(false)
		var wg sync.WaitGroup
		for w := range 8 {
			wrng := rand.New(rand.NewPCG(seed+uint64(k), uint64(w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.burst(wrng)
			}()
		}
		at := time.Duration(50+rng.IntN(1150)) * time.Millisecond
		time.Sleep(at)
		if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.killed.Store(true)
		child.cmd.Wait()
		wg.Wait()
		sum.kills++

		// The data as the kill left it.
		v := checkCrashInvariants(t, dir, c.acks)
		sum.violations += v
		t.Logf("kill %d at %s: %d acknowledged so far (%d allocations, %d redeemed, %d cancelled, %d restocks), %d cut off; %d violations",
			k+1, at, c.acks.reservations(), c.acks.allocations(), len(c.acks.redeemed), len(c.acks.cancelled), len(c.acks.restocks), c.pendingRetries(), v)
	}

	// A last start: it finishes what the last kill left pending; shown
	// again, redeemed codes are refused; a clean stop, and a last check.
	child := startChild(t, dir)
	c.url = child.url
	c.retry(t)
	reused := 0
	for _, r := range c.acks.redeemedList() {
		resp := c.do(`mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { status } }`, map[string]any{"p": r.pharmacy, "c": r.code})
		if resp == nil || resp.code() != "CONFLICT" {
			reused++
			t.Errorf("redeemed code of allocation %s shown again after the kills: %+v", r.allocation, resp)
		}
	}
	if err := child.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.cmd.Wait(); err != nil {
		t.Errorf("hub stopped with %v after SIGTERM", err)
	}
	sum.violations += checkCrashInvariants(t, dir, c.acks) + reused
	t.Logf("crash test: %d kills; %d reservations acknowledged (%d with an allocation), %d redemptions, %d cancellations, %d restocks; %d redeemed codes shown again, all refused: %v; %d acknowledged writes lost or invariant violations",
		sum.kills, c.acks.reservations(), c.acks.allocations(), len(c.acks.redeemed), len(c.acks.cancelled), len(c.acks.restocks), len(c.acks.redeemed), reused == 0, sum.violations)
}

type crashSummary struct {
	kills, violations int
}

// crashClient sends the burst and keeps what the hub acknowledged.
type crashClient struct {
	http       *http.Client
	url, token string
	residents  []string
	tokens     map[string]string // resident ID -> RESIDENT token
	pharmacies []string

	round  string
	order  []int
	next   atomic.Int64
	killed atomic.Bool

	acks *crashAcks
	// cutOff are reservations sent whose answer never came: sent again
	// after the restart with the same idempotency key.
	mu     sync.Mutex
	cutOff []crashReserve
}

type crashReserve struct {
	round, resident, key string
}

// crashAcks is what the client saw acknowledged.
type crashAcks struct {
	mu       sync.Mutex
	resv     map[string]ackedReservation // by reservation ID
	redeemed map[string]ackedRedeem      // by allocation ID
	// cancelled holds the reservations whose cancellation was
	// acknowledged.
	cancelled map[string]bool
	// restocks are acknowledged restocks: pharmacy and a quantity no
	// other restock of the run has.
	restocks []ackedRestock
	restockN atomic.Int64
	// withAlloc lists the acknowledged reservations with an allocation.
	withAlloc []string
}

type ackedReservation struct {
	id, round, resident, status string
	allocation, code, pharmacy  string
}

type ackedRedeem struct {
	allocation, pharmacy, code string
}

type ackedRestock struct {
	pharmacy string
	quantity int
}

func newCrashAcks() *crashAcks {
	return &crashAcks{resv: map[string]ackedReservation{}, redeemed: map[string]ackedRedeem{}, cancelled: map[string]bool{}}
}

func (a *crashAcks) reservations() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.resv)
}

func (a *crashAcks) allocations() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.resv {
		if r.allocation != "" {
			n++
		}
	}
	return n
}

func (a *crashAcks) redeemedList() []ackedRedeem {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ackedRedeem, 0, len(a.redeemed))
	for _, r := range a.redeemed {
		out = append(out, r)
	}
	return out
}

// pick returns an acknowledged allocation not yet redeemed or cancelled.
func (a *crashAcks) pick(rng *rand.Rand) (ackedReservation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range 8 {
		if len(a.withAlloc) == 0 {
			break
		}
		r := a.resv[a.withAlloc[rng.IntN(len(a.withAlloc))]]
		if a.redeemed[r.allocation].code == "" && !a.cancelled[r.id] {
			return r, true
		}
	}
	return ackedReservation{}, false
}

func (c *crashClient) pendingRetries() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cutOff)
}

// do sends one operation with the ADMIN token; nil when no answer came.
func (c *crashClient) do(query string, vars map[string]any) *gqlResponse {
	return c.doAs(c.token, query, vars)
}

// doAs sends one operation with token; nil when no answer came.
func (c *crashClient) doAs(token, query string, vars map[string]any) *gqlResponse {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	var out gqlResponse
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return &out
}

const crashReserveQuery = `mutation($r: ID!, $p: ID!, $k: String) { reserve(input: {roundId: $r, residentId: $p, idempotencyKey: $k}) {
	reservation { id status } allocation { id pickupCode pharmacy { id } } } }`

// reserve sends one reservation and records its acknowledgement; it
// returns false when no answer came.
func (c *crashClient) reserve(r crashReserve) bool {
	resp := c.doAs(c.tokens[r.resident], crashReserveQuery, map[string]any{"r": r.round, "p": r.resident, "k": r.key})
	if resp == nil {
		return false
	}
	var d struct {
		Reserve *struct {
			Reservation struct{ ID, Status string }
			Allocation  *struct {
				ID         string
				PickupCode string
				Pharmacy   struct{ ID string }
			}
		}
	}
	if len(resp.Errors) > 0 || json.Unmarshal(resp.Data, &d) != nil || d.Reserve == nil {
		return true // refused (CONFLICT, RATE_LIMITED, ...): nothing acknowledged
	}
	a := ackedReservation{id: d.Reserve.Reservation.ID, round: r.round, resident: r.resident, status: d.Reserve.Reservation.Status}
	if al := d.Reserve.Allocation; al != nil {
		a.allocation, a.code, a.pharmacy = al.ID, al.PickupCode, al.Pharmacy.ID
	}
	c.acks.mu.Lock()
	if _, seen := c.acks.resv[a.id]; !seen && a.allocation != "" {
		c.acks.withAlloc = append(c.acks.withAlloc, a.id)
	}
	c.acks.resv[a.id] = a
	c.acks.mu.Unlock()
	return true
}

// retry sends again the reservations whose answer a kill cut off.
func (c *crashClient) retry(t *testing.T) {
	c.mu.Lock()
	todo := c.cutOff
	c.cutOff = nil
	c.mu.Unlock()
	for _, r := range todo {
		if !c.reserve(r) {
			t.Errorf("retry of %+v after the restart: no answer", r)
		}
	}
}

// burst sends operations until the hub stops answering: mostly
// reservations, some redemptions of acknowledged pickup codes, some
// cancellations, some restocks.
func (c *crashClient) burst(rng *rand.Rand) {
	for !c.killed.Load() {
		switch p := rng.IntN(100); {
		case p < 80:
			i := c.next.Add(1) - 1
			if i >= int64(len(c.order)) {
				return
			}
			r := crashReserve{round: c.round, resident: c.residents[c.order[i]], key: fmt.Sprintf("%s-%d", c.round, i)}
			if !c.reserve(r) {
				c.mu.Lock()
				c.cutOff = append(c.cutOff, r)
				c.mu.Unlock()
				return
			}
		case p < 92:
			a, ok := c.acks.pick(rng)
			if !ok {
				continue
			}
			resp := c.do(`mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { id status } }`, map[string]any{"p": a.pharmacy, "c": a.code})
			if resp == nil {
				return
			}
			var d struct{ Redeem *struct{ ID, Status string } }
			if len(resp.Errors) == 0 && json.Unmarshal(resp.Data, &d) == nil && d.Redeem != nil && d.Redeem.Status == "REDEEMED" {
				c.acks.mu.Lock()
				c.acks.redeemed[a.allocation] = ackedRedeem{allocation: a.allocation, pharmacy: a.pharmacy, code: a.code}
				c.acks.mu.Unlock()
			}
		case p < 96:
			a, ok := c.acks.pick(rng)
			if !ok {
				continue
			}
			resp := c.do(`mutation($id: ID!) { cancelReservation(id: $id) { id status } }`, map[string]any{"id": a.id})
			if resp == nil {
				return
			}
			var d struct{ CancelReservation *struct{ ID, Status string } }
			if len(resp.Errors) == 0 && json.Unmarshal(resp.Data, &d) == nil && d.CancelReservation != nil && d.CancelReservation.Status == "CANCELLED" {
				c.acks.mu.Lock()
				c.acks.cancelled[a.id] = true
				c.acks.mu.Unlock()
			}
		default:
			// A quantity no other restock has, so that the ledger entry
			// of each acknowledged restock can be found.
			q := 1000 + int(c.acks.restockN.Add(1))
			ph := c.pharmacies[rng.IntN(len(c.pharmacies))]
			resp := c.do(`mutation($p: ID!, $q: Int!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: $q) { id } }`, map[string]any{"p": ph, "q": q})
			if resp == nil {
				return
			}
			if len(resp.Errors) == 0 {
				c.acks.mu.Lock()
				c.acks.restocks = append(c.acks.restocks, ackedRestock{pharmacy: ph, quantity: q})
				c.acks.mu.Unlock()
			}
		}
	}
}

// checkCrashInvariants opens the store the hub left and checks it
// against the acknowledgements; it returns the number of violations,
// each reported with t.Errorf.
func checkCrashInvariants(t *testing.T, dir string, acks *crashAcks) int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatalf("open the store after the kill: %v", err)
	}
	defer st.Close()
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()

	// Every acknowledged write is there.
	for _, a := range acks.resv {
		r, err := st.Reservation(ctx, a.id)
		if err != nil {
			fail("acknowledged reservation %s (%s in %s) lost: %v", a.id, a.resident, a.round, err)
			continue
		}
		if acks.cancelled[a.id] && r.Status != hub.ReservationCancelled {
			fail("reservation %s: cancellation acknowledged, status %s", a.id, r.Status)
		}
		if a.allocation == "" {
			continue
		}
		al, err := st.Allocation(ctx, a.allocation)
		if err != nil {
			fail("acknowledged allocation %s of reservation %s lost: %v", a.allocation, a.id, err)
			continue
		}
		if al.ReservationID != a.id || r.AllocationID != a.allocation {
			fail("allocation %s and reservation %s do not name each other (%q, %q)", al.ID, a.id, al.ReservationID, r.AllocationID)
		}
		if _, ok := acks.redeemed[a.allocation]; ok && al.Status != hub.AllocationRedeemed {
			fail("allocation %s: redemption acknowledged, status %s", al.ID, al.Status)
		}
	}

	// Stock is conserved at every pharmacy, for every supply.
	ps, err := st.Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	as, err := st.Allocations(ctx, hub.AllocationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		pharmacy string
		sku      hub.SKU
	}
	held := map[key]int{}
	perPerson := map[[2]string]int{}
	codes := map[string]string{}
	for _, a := range as {
		if !a.Status.Returns() {
			held[key{a.PharmacyID, a.SKU}] += a.Quantity
			if a.RoundID != "" {
				perPerson[[2]string{a.RoundID, a.ResidentID}]++
			}
		}
		if other, ok := codes[a.CodeHash]; ok {
			fail("allocations %s and %s share a pickup code", other, a.ID)
		}
		codes[a.CodeHash] = a.ID
	}
	for k, n := range perPerson {
		if n > 1 {
			fail("resident %s holds %d allocations in round %s", k[1], n, k[0])
		}
	}
	restocked := map[ackedRestock]bool{}
	for _, p := range ps {
		in := map[hub.SKU]int{}
		last := map[hub.SKU]int{}
		var after uint64
		for {
			es, err := st.StockLedger(ctx, p.ID, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Reason != "ALLOCATE" && e.Reason != "RETURN" {
					in[e.SKU] += e.Delta
				}
				if e.Reason == "RESTOCK" && e.SKU == hub.MaskAdult {
					restocked[ackedRestock{pharmacy: p.ID, quantity: e.Delta}] = true
				}
				last[e.SKU] = e.After
				after = e.Seq
			}
			if len(es) < 1000 {
				break
			}
		}
		for _, sp := range hub.Supplies() {
			sku := sp.SKU
			onHand, h := p.Stock[sku], held[key{p.ID, sku}]
			if in[sku] != onHand+h {
				fail("pharmacy %s %s: initial + restocks %d != on hand %d + allocated or handed out %d", p.ID, sku, in[sku], onHand, h)
			}
			if l, ok := last[sku]; ok && l != onHand {
				fail("pharmacy %s %s: the ledger ends at %d, the stock is %d", p.ID, sku, l, onHand)
			}
		}
	}
	for _, r := range acks.restocks {
		if !restocked[r] {
			fail("acknowledged restock of %d at %s lost", r.quantity, r.pharmacy)
		}
	}

	// One live reservation per person per round.
	rounds, err := st.Rounds(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rounds {
		rs, err := st.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		live := map[string]string{}
		for _, rv := range rs {
			if rv.Status == hub.ReservationCancelled {
				continue
			}
			if other, ok := live[rv.IDHash]; ok {
				fail("round %s: one person holds reservations %s and %s", r.ID, other, rv.ID)
			}
			live[rv.IDHash] = rv.ID
		}
	}
	return bad
}
