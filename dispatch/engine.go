package dispatch

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// This file is the dispatch engine: the domain service that runs rounds,
// takes reservations, allocates stock through the store and hands it out.
// It knows nothing of GraphQL or HTTP; it speaks hub types and writes
// through a hub.Store, which is authoritative: the store takes and returns
// stock in the same transaction as the allocation that moves it, and never
// lets stock go below zero.
//
// The engine keeps in memory what makes a request fast, all rebuilt from
// the store by NewEngine:
//
//   - the pharmacies (ID and cell) and, per SKU, a book of the units the
//     engine may still hand out at each: the store's stock less what is
//     assigned but not yet durable;
//   - per SKU and reach, a Matcher over that book, shared by every round
//     of the SKU with that reach (stock is per pharmacy per SKU, so rounds
//     of one SKU share it);
//   - per round with pickup slots, a Matcher of its own over the book
//     (the slots are the round's), and the places taken at each pharmacy
//     in each slot (engine_slots.go);
//   - the partners' areas (cell -> partners), and per COMMITTEE round the
//     units each committee holds.
//
// Rounds themselves are read from the store on every use, so a round
// written by another part of the hub is seen as it is.
//
// Concurrency. One short mutex (mu) guards that state. A FIRST_COME or
// COMMITTEE reservation takes it only to pick a pharmacy (Matcher.Assign)
// and note the units in flight; the durable write runs outside it, so
// concurrent requests share the store's group commit. A new reservation
// and its allocation are one write (Store.ReserveAllocated), so a
// reservation waits for one commit, not two. When
// the write fails the units go back to the book; when it fails for want of
// stock (EOUTOFSTOCK: stock moved outside the engine) the pharmacy's stock
// is read again and the request tries again, a bounded number of times.
// Rereading stock while other writes are in flight can only count low,
// never high (see refreshStock), so the engine itself never makes the
// matcher plan on stock that is not there; only stock taken outside the
// engine can, until the store's guard refuses the write.

// ErrEngineClosed is matched, with errors.Is, by the error of every call
// made on an Engine after Close.
var ErrEngineClosed = errors.New("dispatch: engine is closed")

// Limits of the engine's input.
const (
	// MaxPerPerson bounds a round's units per person and a shortage's
	// quantity.
	MaxPerPerson = 100
	// MaxRoundK bounds the rings a round searches.
	MaxRoundK = 10
	// DefaultPickupWindow is how long a pickup waits when a round does not
	// say, and how long the pickup of a served shortage waits.
	DefaultPickupWindow = 24 * time.Hour
	// MaxPickupWindow bounds a round's pickup window.
	MaxPickupWindow = 30 * 24 * time.Hour
	// allocateTries bounds the attempts of one allocation whose store
	// write finds less stock than the matcher planned on.
	allocateTries = 4
	// storeBatch bounds the allocations and status moves of one store
	// write in a draw or a restock.
	storeBatch = 256
	// expiryBatch bounds the allocations one expiry read returns.
	expiryBatch = 512
)

// The reasons a reservation waits, as ReserveResult.Reason gives them.
const (
	ReasonNothingInReach = "NOTHING_IN_REACH"      // no pharmacy within the round's rings
	ReasonOutOfStock     = "OUT_OF_STOCK_IN_REACH" // pharmacies in reach, none with enough stock
	ReasonQuotaExhausted = "QUOTA_EXHAUSTED"       // the committee's quota is all held or handed out
	ReasonNoPartner      = "NO_PARTNER"            // no delivery partner serves the cell
)

// EngineOptions configure an Engine. Zero values take defaults; CodeKey is
// required.
type EngineOptions struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is where lottery seeds come from; default crypto/rand.Reader.
	Rand io.Reader
	// CodeKey is the secret pickup codes are derived from and hashed
	// with, at least 16 bytes. It also seals lottery seeds at rest.
	CodeKey []byte
	// NewID makes record IDs. The default makes time-sortable unique
	// IDs: the prefix, then 26 lower-case Crockford base-32 symbols of a
	// 48-bit millisecond wall-clock time and 80 random bits, increasing
	// within a process, so allocations and shortages sort by creation.
	NewID func(prefix string) string
	// ExpiryEvery is the period of the sweeper, which expires overdue
	// pickups (ExpireDue), serves the waiting lists from pickup slots
	// that came into the offer (ServeNewSlots) and closes rounds whose
	// window is over (CloseDue); 0 means 30s, a negative value no sweeper.
	ExpiryEvery time.Duration
	// DefaultMaxK is the rings searched when a round gives none (MaxK
	// -1) and around a pharmacy for shortages; 0 means 3.
	DefaultMaxK int
	// Events, when set, receives the engine's domain events: allocations
	// made and moved, and the stock they take or give back.
	Events hub.Publisher
	// HealthColour, when set, returns the colour of a resident's health
	// code now if they have a current health declaration, and "" if they
	// have none: what the health gate of a round reads (GateRules).
	// A round with HealthGate cannot be opened while it is nil.
	HealthColour func(ctx context.Context, residentID string) (hub.Colour, error)
	// Log receives the sweeper's errors; default: discarded.
	Log *slog.Logger
	// FedByBus says that the caller feeds Apply every event of the bus
	// Events publishes to: the partner index then follows the
	// PARTNER_UPSERTED events of every engine, its own included, instead
	// of this engine's writes.
	FedByBus bool
}

// The engine follows the writes of others (other hubs' engines, restocks)
// when it is fed the bus's events: Engine.Apply (engine_views.go).

// Engine is the dispatch engine. It is safe for concurrent use. Create it
// with NewEngine and release it with Close before closing its store.
type Engine struct {
	id           string // the Source of its events
	events       hub.Publisher
	fedByBus     bool
	store        hub.Store
	now          func() time.Time
	rand         io.Reader
	codeKey      []byte
	codeMACs     sync.Pool // of hash.Hash: HMAC-SHA256 under codeKey (see codeMAC)
	sealKey      []byte
	newID        func(prefix string) string
	defaultMaxK  int
	healthColour func(ctx context.Context, residentID string) (hub.Colour, error)
	log          *slog.Logger

	// Lifecycle: calls register in ops while the engine is open, so that
	// Close can wait for them; the sweeper ends when stop is called.
	life    sync.Mutex
	closed  bool
	ops     sync.WaitGroup
	stop    context.CancelFunc
	stopped chan struct{}

	// roundMu serialises the writes of rounds (open, close, commit,
	// draw), so that the cache follows the store.
	roundMu sync.Mutex
	// entryMu orders lottery entries and their cancellations (readers)
	// with the closing and the draw of a lottery (writers): no entry
	// slips in or out after the list is taken.
	entryMu sync.RWMutex
	// partnerMu orders partner writes with their index updates.
	partnerMu sync.Mutex
	// serial, when serialWrites is set, is held across a whole Reserve:
	// the baseline of the reservation benchmark (durable writes one at a
	// time).
	serial       sync.Mutex
	serialWrites bool

	mu        sync.Mutex // guards the fields below; never held across a store call
	draws     map[string]*PublishedDraw
	pharm     []pharmacy // by ID
	pharmIdx  map[string]int
	pharmCell map[hub.Cell][]int
	books     map[hub.SKU]*book
	partners  map[string][]hub.Cell // partner -> cells
	cellPart  map[hub.Cell][]string // cell -> partners, sorted
	quotaUsed map[string]map[string]int
	// slotUsed holds, per round with pickup slots, the places taken per
	// pharmacy and slot: durable and in flight.
	slotUsed map[string]map[slotKey]int
	// offerSeen holds, per slotted round, the slots on offer at the last
	// sweep (ServeNewSlots).
	offerSeen map[string]offerMark
	// settled, when not nil, is closed (and cleared) by the next settle:
	// what a reservation that found no stock waits on (claimSettled).
	settled chan struct{}

	// stale guards what others' events made stale (engine_views.go).
	stale      sync.Mutex
	pharmStale bool
	stockStale map[stockKey]struct{}
}

// pharmacy is what the engine keeps of a pharmacy.
type pharmacy struct {
	id   string
	cell hub.Cell
}

// book is the engine's account of one SKU, per pharmacy (by index in
// Engine.pharm).
type book struct {
	// stock is the units the engine may still assign: the store's stock
	// less units in flight (and, just after a reread, possibly less).
	stock []int
	// inflight is units assigned whose store write has not answered.
	inflight []int
	// returning is units of allocations being moved to a status that
	// returns stock, whose store write has not answered.
	returning []int
	// settled is the units of allocations made durable, ever.
	settled []uint64
	// matchers are the matchers over this book, by reach.
	matchers map[int]*Matcher
	// slotted are the matchers of rounds with pickup slots, by round ID.
	slotted map[string]*slotMatcher
	// held counts, per pharmacy, the passes serving its waiting list in
	// progress (a restock, stock that came back): while one runs, a new
	// reservation in reach of the pharmacy waits for it (claimSettled),
	// so that it never takes stock ahead of the waiting list.
	held []int
	// holding is the sum of held.
	holding int
	// waitingWrites counts new reservations found nothing and being
	// written WAITING: a pass serving the waiting list reads the list
	// again once they are written (servePasses).
	waitingWrites int
}

// inFlight reports whether any units of the book are assigned and their
// store write has not answered.
func (b *book) inFlight() bool {
	for _, n := range b.inflight {
		if n > 0 {
			return true
		}
	}
	return false
}

func newBook(n int) *book {
	return &book{
		stock: make([]int, n), inflight: make([]int, n), returning: make([]int, n), held: make([]int, n),
		settled: make([]uint64, n), matchers: map[int]*Matcher{}, slotted: map[string]*slotMatcher{},
	}
}

// NewEngine returns an engine over store. It reads pharmacies, partners
// and rounds, rebuilds its matchers and committee counts, and finishes
// the reservations of open FIRST_COME and COMMITTEE rounds that a crash
// left PENDING (accepted, never answered), before it returns. ctx bounds
// that work only. Bad options are an EINVALID error.
func NewEngine(ctx context.Context, store hub.Store, opts EngineOptions) (*Engine, error) {
	if store == nil {
		return nil, hub.Errorf(hub.EINVALID, "dispatch engine: no store")
	}
	if len(opts.CodeKey) < 16 {
		return nil, hub.Errorf(hub.EINVALID, "dispatch engine: the code key has %d bytes, want at least 16", len(opts.CodeKey))
	}
	if opts.DefaultMaxK < 0 || opts.DefaultMaxK > MaxRoundK {
		return nil, hub.Errorf(hub.EINVALID, "dispatch engine: DefaultMaxK %d is outside [0, %d]", opts.DefaultMaxK, MaxRoundK)
	}
	e := &Engine{
		id:           newEngineID(),
		store:        store,
		now:          opts.Now,
		rand:         opts.Rand,
		codeKey:      slices.Clone(opts.CodeKey),
		newID:        opts.NewID,
		defaultMaxK:  opts.DefaultMaxK,
		healthColour: opts.HealthColour,
		log:          opts.Log,
		draws:        map[string]*PublishedDraw{},
		partners:     map[string][]hub.Cell{},
		cellPart:     map[hub.Cell][]string{},
		quotaUsed:    map[string]map[string]int{},
		slotUsed:     map[string]map[slotKey]int{},
		offerSeen:    map[string]offerMark{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if opts.Events != nil {
		e.events = sourced{id: e.id, next: opts.Events}
		e.store = newEventStore(store, e.events)
		e.fedByBus = opts.FedByBus
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	if e.newID == nil {
		e.newID = (&idGen{}).next
	}
	if e.defaultMaxK == 0 {
		e.defaultMaxK = 3
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	mac := hmac.New(sha256.New, e.codeKey)
	mac.Write([]byte("gridhub-seed-seal-v1"))
	e.sealKey = mac.Sum(nil)

	if err := e.load(ctx); err != nil {
		return nil, fmt.Errorf("dispatch engine: %w", err)
	}
	if err := e.recover(ctx); err != nil {
		return nil, fmt.Errorf("dispatch engine: finish pending reservations: %w", err)
	}

	every := opts.ExpiryEvery
	if every == 0 {
		every = 30 * time.Second
	}
	e.stopped = make(chan struct{})
	if every > 0 {
		sctx, cancel := context.WithCancel(context.Background())
		e.stop = cancel
		go e.sweep(sctx, every)
	} else {
		e.stop = func() {}
		close(e.stopped)
	}
	return e, nil
}

// load reads what the engine keeps in memory from the store.
func (e *Engine) load(ctx context.Context) error {
	ps, err := e.store.Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("load pharmacies: %w", err)
	}
	e.setPharmacies(ps, nil)

	parts, err := e.store.Partners(ctx)
	if err != nil {
		return fmt.Errorf("load partners: %w", err)
	}
	for _, p := range parts {
		e.indexPartner(p.ID, p.Cells)
	}

	rs, err := e.store.Rounds(ctx, "")
	if err != nil {
		return fmt.Errorf("load rounds: %w", err)
	}
	for _, r := range rs {
		if err := e.noteRound(ctx, r); err != nil {
			return err
		}
		if r.Status == hub.RoundOpen {
			if err := e.roundMatcher(r); err != nil {
				return fmt.Errorf("round %q: %w", r.ID, err)
			}
		}
	}
	return nil
}

// committeeUsage sums, per committee, the units of a round's allocations
// that are held or handed out.
func (e *Engine) committeeUsage(ctx context.Context, roundID string) (map[string]int, error) {
	resvs, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: roundID})
	if err != nil {
		return nil, fmt.Errorf("load reservations of round %q: %w", roundID, err)
	}
	committee := make(map[string]string, len(resvs))
	for _, r := range resvs {
		committee[r.ID] = r.CommitteeID
	}
	as, err := e.store.Allocations(ctx, hub.AllocationFilter{RoundID: roundID})
	if err != nil {
		return nil, fmt.Errorf("load allocations of round %q: %w", roundID, err)
	}
	used := map[string]int{}
	for _, a := range as {
		if !a.Status.Returns() {
			used[committee[a.ReservationID]] += a.Quantity
		}
	}
	return used, nil
}

// recover finishes the reservations of open FIRST_COME and COMMITTEE
// rounds left PENDING: accepted by the store, never matched because the
// process stopped in between. They are served in ID (arrival) order.
func (e *Engine) recover(ctx context.Context) error {
	rs, err := e.store.Rounds(ctx, hub.RoundOpen)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Mode == hub.Lottery {
			continue
		}
		pending, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, Status: hub.ReservationPending})
		if err != nil {
			return err
		}
		for _, resv := range pending {
			if _, _, _, err := e.serve(ctx, r, resv, time.Time{}); err != nil {
				return fmt.Errorf("reservation %q: %w", resv.ID, err)
			}
		}
	}
	return nil
}

// setPharmacies replaces the pharmacy index with ps and rebuilds the books
// from their stock. Counters of units in flight carry over by pharmacy ID;
// settled0, when not nil, holds each book's settled counts by pharmacy ID
// as they were before ps was read (see refreshStock). Callers hold mu or
// own e exclusively.
func (e *Engine) setPharmacies(ps []*hub.Pharmacy, settled0 map[hub.SKU]map[string]uint64) {
	var keep []*hub.Pharmacy
	for _, p := range ps {
		if checkBaseCell(p.Cell) == nil {
			keep = append(keep, p)
		}
	}
	slices.SortFunc(keep, func(a, b *hub.Pharmacy) int { return cmp.Compare(a.ID, b.ID) })
	old, oldIdx := e.books, e.pharmIdx
	e.pharm = make([]pharmacy, len(keep))
	e.pharmIdx = make(map[string]int, len(keep))
	e.pharmCell = map[hub.Cell][]int{}
	for i, p := range keep {
		e.pharm[i] = pharmacy{id: p.ID, cell: p.Cell}
		e.pharmIdx[p.ID] = i
		e.pharmCell[p.Cell] = append(e.pharmCell[p.Cell], i)
	}
	e.books = make(map[hub.SKU]*book, len(hub.Supplies()))
	for _, sp := range hub.Supplies() {
		b := newBook(len(keep))
		ob := old[sp.SKU]
		if ob != nil {
			b.waitingWrites = ob.waitingWrites
		}
		for i, p := range keep {
			if j, ok := oldIdx[p.ID]; ok && ob != nil {
				b.inflight[i], b.returning[i], b.settled[i] = ob.inflight[j], ob.returning[j], ob.settled[j]
				b.held[i] = ob.held[j]
				b.holding += b.held[i]
			}
			since := uint64(0)
			if s0, ok := settled0[sp.SKU][p.ID]; ok {
				since = b.settled[i] - s0
			}
			b.stock[i] = max(0, p.Stock[sp.SKU]-b.inflight[i]-b.returning[i]-int(since))
		}
		e.books[sp.SKU] = b
	}
}

// RefreshPharmacies rereads the pharmacies from the store: call it after
// pharmacies are added or moved, so that the engine matches people to
// them. ServeWaiting does it by itself for a pharmacy it does not know.
func (e *Engine) RefreshPharmacies(ctx context.Context) error {
	if err := e.begin(); err != nil {
		return err
	}
	defer e.end()
	return e.refreshPharmacies(ctx)
}

func (e *Engine) refreshPharmacies(ctx context.Context) error {
	e.mu.Lock()
	settled0 := make(map[hub.SKU]map[string]uint64, len(e.books))
	for sku, b := range e.books {
		m := make(map[string]uint64, len(e.pharm))
		for i, p := range e.pharm {
			m[p.id] = b.settled[i]
		}
		settled0[sku] = m
	}
	e.mu.Unlock()
	ps, err := e.store.Pharmacies(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setPharmacies(ps, settled0)
	return nil
}

// refreshStock rereads one pharmacy's stock of sku from the store into
// the book. Allocations and returns in flight meanwhile may or may not be
// in what the store says, so the book takes the lowest count consistent
// with either: store stock less units in flight, less returns in flight,
// less units settled since the read began. It errs low, never high; the
// next reread corrects it.
func (e *Engine) refreshStock(ctx context.Context, pharmacyID string, sku hub.SKU) error {
	e.mu.Lock()
	i, ok := e.pharmIdx[pharmacyID]
	b := e.books[sku]
	if !ok || b == nil {
		e.mu.Unlock()
		return nil
	}
	s0 := b.settled[i]
	e.mu.Unlock()
	p, err := e.store.Pharmacy(ctx, pharmacyID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if i, ok = e.pharmIdx[pharmacyID]; !ok || e.pharm[i].cell != p.Cell {
		return nil // the index changed meanwhile; it was read afresh
	}
	b = e.books[sku]
	v := p.Stock[sku] - b.inflight[i] - b.returning[i] - int(b.settled[i]-s0)
	e.setStock(b, i, max(v, 0))
	return nil
}

// matcher returns the matcher of book b for reach k, building it from the
// book. Callers hold mu or own e exclusively.
func (e *Engine) matcher(b *book, k int) (*Matcher, error) {
	if m := b.matchers[k]; m != nil {
		return m, nil
	}
	supply := make([]SupplyPoint, len(e.pharm))
	for i, p := range e.pharm {
		supply[i] = SupplyPoint{ID: p.id, Cell: p.cell, Stock: b.stock[i]}
	}
	m, err := NewMatcher(supply, k)
	if err != nil {
		return nil, err
	}
	b.matchers[k] = m
	return m, nil
}

// roundMatcher builds the matcher an open round matches with: its own
// with pickup slots, else the book's for its reach. Callers hold mu or
// own e exclusively.
func (e *Engine) roundMatcher(r *hub.Round) error {
	if hasSlots(r) {
		_, err := e.slotMatcherOf(r, e.now())
		return err
	}
	_, err := e.matcher(e.books[r.SKU], r.MaxK)
	return err
}

// setStock sets the units left at pharmacy i in book b and in all its
// matchers. Callers hold mu.
func (e *Engine) setStock(b *book, i, v int) {
	b.stock[i] = v
	for _, m := range b.matchers {
		if m.Stock(i) != v {
			_ = m.SetStock(i, v) // i is in range and v >= 0
		}
	}
	for _, sm := range b.slotted {
		if sm.m.Stock(i) != v {
			_ = sm.m.SetStock(i, v)
		}
	}
}

// claim is stock taken from a book for one allocation whose store write
// has not answered yet.
type claim struct {
	sku        hub.SKU
	pharmacyID string
	quantity   int
	roundID    string // COMMITTEE rounds only: whose quota it counts in
	committee  string
	// slotRound is the round whose pickup slot place the claim holds,
	// from slot to slotEnd; empty for none.
	slotRound     string
	slot, slotEnd time.Time
}

// take takes q units of sku at pharmacy i for an allocation about to be
// written. Callers hold mu and have checked the book has them.
func (e *Engine) take(sku hub.SKU, i, q int) claim {
	b := e.books[sku]
	e.setStock(b, i, b.stock[i]-q)
	b.inflight[i] += q
	return claim{sku: sku, pharmacyID: e.pharm[i].id, quantity: q}
}

// settle ends claims after their store write: made durable (ok) or not,
// when the units go back to the book (and the committee's quota, and the
// slot place).
func (e *Engine) settle(ok bool, cs ...claim) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wake()
	for _, c := range cs {
		if !ok && c.committee != "" {
			e.quotaUsed[c.roundID][c.committee] -= c.quantity
		}
		if !ok && c.slotRound != "" {
			e.releasePlace(c.slotRound, c.sku, c.pharmacyID, c.slot)
		}
		i, found := e.pharmIdx[c.pharmacyID]
		if !found {
			continue
		}
		b := e.books[c.sku]
		b.inflight[i] -= c.quantity
		if ok {
			b.settled[i] += uint64(c.quantity)
		} else {
			e.setStock(b, i, b.stock[i]+c.quantity)
		}
	}
}

// transition moves an allocation in the store and, when the move returns
// stock, gives the units back to the book, the committee's quota and the
// pickup slot, and serves the pharmacy's waiting list from them before a
// new reservation can take them (serveHeld). It returns the allocation
// after the move.
func (e *Engine) transition(ctx context.Context, a *hub.Allocation, from []hub.AllocationStatus, to hub.AllocationStatus) (*hub.Allocation, error) {
	out, held, err := e.move(ctx, a, from, to)
	if held {
		e.serveHeld(ctx, a.PharmacyID, a.SKU, 1)
	}
	return out, err
}

// move is transition without serving the waiting list: when the move
// returns stock it leaves the pharmacy held (held true), and the caller
// must serve it (serveHeld).
func (e *Engine) move(ctx context.Context, a *hub.Allocation, from []hub.AllocationStatus, to hub.AllocationStatus) (*hub.Allocation, bool, error) {
	if !to.Returns() {
		out, err := e.store.TransitionAllocation(ctx, a.ID, from, to, e.now())
		return out, false, err
	}
	committee := ""
	if a.ReservationID != "" {
		if r, err := e.round(ctx, a.RoundID); err == nil && r.Mode == hub.ByCommittee {
			resv, err := e.store.Reservation(ctx, a.ReservationID)
			if err != nil {
				return nil, false, err
			}
			committee = resv.CommitteeID
		}
	}
	e.mu.Lock()
	if i, ok := e.pharmIdx[a.PharmacyID]; ok {
		e.books[a.SKU].returning[i] += a.Quantity
	}
	e.mu.Unlock()
	out, err := e.store.TransitionAllocation(ctx, a.ID, from, to, e.now())
	e.mu.Lock()
	defer e.mu.Unlock()
	held := false
	if i, ok := e.pharmIdx[a.PharmacyID]; ok {
		b := e.books[a.SKU]
		b.returning[i] -= a.Quantity
		if err == nil {
			// Held from the moment the units are back in the book: no
			// new reservation takes them before the waiting list.
			b.held[i]++
			b.holding++
			held = true
			e.setStock(b, i, b.stock[i]+a.Quantity)
		}
	}
	if err == nil && committee != "" {
		e.quotaUsed[a.RoundID][committee] -= a.Quantity
	}
	if err == nil && a.RoundID != "" && a.PartnerID == "" && !a.Slot.IsZero() {
		e.releasePlace(a.RoundID, a.SKU, a.PharmacyID, a.Slot)
	}
	return out, held, err
}

// partnerFor returns the partner whose area covers the cell (the lowest
// ID when several do), or "". Callers hold mu.
func (e *Engine) partnerFor(c hub.Cell) string {
	if ps := e.cellPart[c]; len(ps) > 0 {
		return ps[0]
	}
	return ""
}

// indexPartner replaces a partner's cells in the index. Callers hold mu
// or own e exclusively.
func (e *Engine) indexPartner(id string, cells []hub.Cell) {
	for _, c := range e.partners[id] {
		e.cellPart[c] = slices.DeleteFunc(e.cellPart[c], func(p string) bool { return p == id })
		if len(e.cellPart[c]) == 0 {
			delete(e.cellPart, c)
		}
	}
	e.partners[id] = slices.Clone(cells)
	for _, c := range cells {
		ps := e.cellPart[c]
		if i, found := slices.BinarySearch(ps, id); !found {
			e.cellPart[c] = slices.Insert(ps, i, id)
		}
	}
}

// round reads a round from the store (ENOTFOUND) and notes it.
func (e *Engine) round(ctx context.Context, id string) (*hub.Round, error) {
	r, err := e.store.Round(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.noteRound(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// noteRound counts, the first time the engine meets a round, the units
// each committee holds or was handed in it (COMMITTEE rounds) and the
// places taken in its pickup slots (rounds with slots).
func (e *Engine) noteRound(ctx context.Context, r *hub.Round) error {
	if err := e.noteQuotas(ctx, r); err != nil {
		return err
	}
	return e.noteSlots(ctx, r)
}

// noteQuotas counts, the first time the engine meets a COMMITTEE round,
// the units each committee holds or was handed in it.
func (e *Engine) noteQuotas(ctx context.Context, r *hub.Round) error {
	if r.Mode != hub.ByCommittee {
		return nil
	}
	e.mu.Lock()
	known := e.quotaUsed[r.ID] != nil
	e.mu.Unlock()
	if known {
		return nil
	}
	used, err := e.committeeUsage(ctx, r.ID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.quotaUsed[r.ID] == nil {
		e.quotaUsed[r.ID] = used
	}
	return nil
}

// begin registers a call, or fails once the engine is closed.
func (e *Engine) begin() error {
	e.life.Lock()
	defer e.life.Unlock()
	if e.closed {
		return ErrEngineClosed
	}
	e.ops.Add(1)
	return nil
}

func (e *Engine) end() { e.ops.Done() }

// Close stops the sweeper and waits for the calls in progress to end.
// Later calls fail with ErrEngineClosed, Close included. It does not
// close the store.
func (e *Engine) Close() error {
	e.life.Lock()
	if e.closed {
		e.life.Unlock()
		return ErrEngineClosed
	}
	e.closed = true
	e.life.Unlock()
	e.stop()
	<-e.stopped
	e.ops.Wait()
	return nil
}

// sweep runs ExpireDue, ServeNewSlots and CloseDue every period until
// ctx ends.
func (e *Engine) sweep(ctx context.Context, every time.Duration) {
	defer close(e.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.ExpireDue(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrEngineClosed) {
			e.log.Error("dispatch: expire overdue pickups", "err", err)
		}
		if _, err := e.ServeNewSlots(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrEngineClosed) {
			e.log.Error("dispatch: serve the waiting list from new pickup slots", "err", err)
		}
		if _, err := e.CloseDue(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrEngineClosed) {
			e.log.Error("dispatch: close rounds whose window is over", "err", err)
		}
	}
}

// PickupCode returns the code of an allocation: the first 65 bits of
// HMAC-SHA256(CodeKey, "gridhub-code-v1\n" + allocation ID), written as
// NewPickupCode writes 65 bits. It is unguessable without the key, can be
// shown again to its owner, and its Hash(CodeKey) is the allocation's
// CodeHash.
func (e *Engine) PickupCode(a *hub.Allocation) PickupCode {
	mac := e.codeMAC()
	mac.Write([]byte("gridhub-code-v1\n"))
	mac.Write([]byte(a.ID))
	var sum [sha256.Size]byte
	s := mac.Sum(sum[:0])
	e.codeMACs.Put(mac)
	// NewPickupCode takes the lowest bit of its first byte, then 64 bits.
	var b [9]byte
	b[0] = s[0] >> 7
	for i := 1; i < len(b); i++ {
		b[i] = s[i-1]<<1 | s[i]>>7
	}
	return pickupCodeOf(b)
}

// codeMAC returns an HMAC-SHA256 keyed with the code key, reset, from
// codeMACs (a caller puts it back): keying one costs more than the two
// messages it hashes.
func (e *Engine) codeMAC() hash.Hash {
	if mac, ok := e.codeMACs.Get().(hash.Hash); ok {
		mac.Reset()
		return mac
	}
	return hmac.New(sha256.New, e.codeKey)
}

// codeHash is c.Hash(e.codeKey), with a MAC from codeMACs.
func (e *Engine) codeHash(c PickupCode) string {
	mac := e.codeMAC()
	h := c.hashWith(mac)
	e.codeMACs.Put(mac)
	return h
}

// idGen makes time-sortable IDs: 48 bits of Unix milliseconds and 80
// random bits, the random part incremented within a millisecond (and
// when the clock steps back) so that IDs increase.
type idGen struct {
	mu     sync.Mutex
	lastMs int64
	last   [10]byte
}

func (g *idGen) next(prefix string) string {
	ms := time.Now().UnixMilli()
	g.mu.Lock()
	if ms <= g.lastMs {
		ms = g.lastMs
		i := len(g.last) - 1
		for ; i >= 0; i-- {
			g.last[i]++
			if g.last[i] != 0 {
				break
			}
		}
		if i < 0 { // the 80 bits wrapped: move to the next millisecond
			ms++
		}
	} else if _, err := rand.Read(g.last[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // cannot happen on supported platforms
	}
	g.lastMs = ms
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	copy(b[6:], g.last[:])
	g.mu.Unlock()
	return prefix + sortable(b)
}

// sortable writes 128 bits as 26 lower-case Crockford base-32 symbols,
// most significant first, so that the strings sort as the numbers do.
func sortable(b [16]byte) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// inReach reports whether cell c lies within k rings of cell p.
func inReach(c, p hub.Cell, k int) bool {
	d, err := grid.Distance(c, p)
	return err == nil && d <= k
}

// AllocationPrefix starts every allocation ID the engine makes.
const AllocationPrefix = "alc_"

// AllocationIDFloor returns an ID that sorts just before every allocation
// ID the engine's default ID maker made at or after t, so a listing in ID
// order can start at a time.
func AllocationIDFloor(t time.Time) string {
	var b [16]byte
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	return AllocationPrefix + sortable(b)
}
