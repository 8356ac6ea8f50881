package hub

import (
	"context"
	"time"
)

// Mode is how a round hands out its supply.
type Mode string

// The modes of a round.
const (
	FirstCome   Mode = "FIRST_COME" // allocate at once while stock lasts (Hangzhou, Guangzhou)
	Lottery     Mode = "LOTTERY"    // collect entries until the window closes, then draw (Xiamen)
	ByCommittee Mode = "COMMITTEE"  // committees hold quotas; residents register through them (Shanghai)
)

// Fulfilment is how a person receives an allocation.
type Fulfilment string

// The fulfilments.
const (
	Pickup   Fulfilment = "PICKUP"   // at a pharmacy, in a time slot
	Delivery Fulfilment = "DELIVERY" // by a logistics partner serving the person's cell
)

// RoundStatus is where a round stands.
type RoundStatus string

// The statuses of a round.
const (
	RoundOpen   RoundStatus = "OPEN"   // taking reservations
	RoundClosed RoundStatus = "CLOSED" // window over; a lottery awaits its draw
	RoundDrawn  RoundStatus = "DRAWN"  // a lottery's winners are drawn
)

// Eligibility says who may reserve in a round. Empty lists mean everyone.
type Eligibility struct {
	IDHashes    []string // keyed ID hashes allowed (sorted), if any
	DistrictIDs []string // residents of these districts (sorted), if any
}

// Round is one distribution of one supply.
type Round struct {
	ID          string
	Name        string
	SKU         SKU
	PerPerson   int // units per allocation
	Mode        Mode
	Fulfilments []Fulfilment
	Eligibility Eligibility
	HealthGate  bool // a current health declaration is required
	// HealthRules is what each colour of health code may do in a round
	// with the health gate: one rule per colour, GREEN, YELLOW and RED in
	// that order. Nil in a round without the gate, and in rounds stored
	// before rules were set per round, which follow the default rules
	// (dispatch.DefaultHealthRules).
	HealthRules []HealthRule
	Opens       time.Time
	Closes      time.Time
	MaxK        int // rings searched around a person's cell
	// PickupWindow is how long an allocation waits for pickup before it
	// expires and its stock returns.
	PickupWindow time.Duration
	// SlotMinutes is the length of a pickup time slot (Guangzhou's 到店时段)
	// and SlotCapacity how many pickups one pharmacy takes in each slot.
	// Both are 0 when the round has no slots: pickups are walk-ins until
	// the allocation expires. With slots, a pickup allocation names its
	// slot (Allocation.Slot) and expires a grace period after the slot
	// ends.
	SlotMinutes  int
	SlotCapacity int
	// Quotas are committees' quotas in units, COMMITTEE mode only.
	Quotas map[string]int
	// Commitment is the hex SHA-256 of the lottery seed, published before
	// entries close; Seed is the hex seed, revealed at the draw.
	Commitment string
	Seed       string
	Winners    int // lottery: how many entries win
	Status     RoundStatus
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// HealthRule is what one colour of health code may do in a round with the
// health gate: the fulfilments it may take there, in the round's order;
// none means it may not reserve. Reason, when set, says why, and is shown
// to those the rule refuses.
type HealthRule struct {
	Colour      Colour
	Fulfilments []Fulfilment
	Reason      string
}

// ReservationStatus is where a reservation stands.
type ReservationStatus string

// The statuses of a reservation.
const (
	ReservationPending   ReservationStatus = "PENDING"   // entered, not yet matched (lottery, fair-share batch)
	ReservationAllocated ReservationStatus = "ALLOCATED" // has an allocation
	ReservationWaiting   ReservationStatus = "WAITING"   // nothing in reach: on the waiting list
	ReservationLost      ReservationStatus = "LOST"      // not drawn in a lottery
	ReservationCancelled ReservationStatus = "CANCELLED"
)

// Reservation is one person's request in one round.
type Reservation struct {
	ID             string
	RoundID        string
	ResidentID     string
	IDHash         string // one reservation per IDHash per round
	Cell           Cell
	CommitteeID    string
	DistrictID     string
	Fulfilment     Fulfilment
	IdempotencyKey string // a client's retry key; unique per round when set
	// EntryHash is the published, anonymous form of the entry: the
	// lottery draws over sorted entry hashes.
	EntryHash    string
	Status       ReservationStatus
	AllocationID string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AllocationStatus is where an allocation stands.
type AllocationStatus string

// The statuses of an allocation.
const (
	AllocationReserved   AllocationStatus = "RESERVED"   // stock held, awaiting pickup or delivery
	AllocationRedeemed   AllocationStatus = "REDEEMED"   // picked up with its code
	AllocationExpired    AllocationStatus = "EXPIRED"    // not picked up in time: stock returned
	AllocationCancelled  AllocationStatus = "CANCELLED"  // cancelled: stock returned
	AllocationDelivering AllocationStatus = "DELIVERING" // with the partner
	AllocationDelivered  AllocationStatus = "DELIVERED"
	AllocationFailed     AllocationStatus = "FAILED" // delivery failed: stock returned
)

// Returns reports whether moving to status s gives the stock back.
func (s AllocationStatus) Returns() bool {
	return s == AllocationExpired || s == AllocationCancelled || s == AllocationFailed
}

// Final reports whether no further change is allowed.
func (s AllocationStatus) Final() bool {
	return s == AllocationRedeemed || s == AllocationDelivered || s.Returns()
}

// Allocation is stock set aside for one reservation at one pharmacy.
type Allocation struct {
	ID            string
	RoundID       string
	ReservationID string // the reservation served, or
	ShortageID    string // the shortage registration served
	ResidentID    string
	PharmacyID    string
	PartnerID     string // delivery only
	SKU           SKU
	Quantity      int
	Cell          Cell      // the person's cell
	Slot          time.Time // pickup slot start; zero for delivery and walk-ins
	CodeHash      string    // hash of the pickup code; the code itself is shown once
	Status        AllocationStatus
	ExpiresAt     time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Step is not stored nor sent on the bus: a write that takes or
	// gives back the allocation's stock (Allocate, ReserveAllocated, a
	// TransitionAllocation to a status that Returns stock) sets it, when
	// it succeeds, to what it did to the pharmacy's stock; nil otherwise.
	Step *StockStep `json:"-"`
}

// StockStep is what a write that moved an allocation's stock reports of
// that step, so that the stock change's event is built without reading
// the pharmacy again.
type StockStep struct {
	// After is the quantity of the SKU at the pharmacy right after the
	// step: the After of the step's ledger entry.
	After int
	// Cell and DistrictID are the pharmacy's, as the write read them.
	Cell       Cell
	DistrictID string
}

// Partner is a logistics partner delivering to the cells of its area.
type Partner struct {
	ID        string
	Name      string
	Cells     []Cell // sorted, base resolution
	UpdatedAt time.Time
}

// ShortageStatus is where a shortage registration stands.
type ShortageStatus string

// The statuses of a shortage registration.
const (
	ShortageWaiting ShortageStatus = "WAITING"
	ShortageServed  ShortageStatus = "SERVED"
)

// Shortage is a person's registration that nothing was in reach: a
// restock nearby serves the waiting list in order.
type Shortage struct {
	ID           string
	ResidentID   string
	Cell         Cell
	SKU          SKU
	Quantity     int
	Status       ShortageStatus
	AllocationID string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ReservationFilter selects reservations of a round, in ID order. RoundID
// is required: an empty one is an EINVALID error.
type ReservationFilter struct {
	RoundID string
	Status  ReservationStatus // "" for all
	After   string            // exclusive ID cursor
	Limit   int               // <= 0: no limit
}

// AllocationFilter selects allocations in ID order (IDs sort by creation):
// those matching every field that is not empty.
type AllocationFilter struct {
	PartnerID  string
	PharmacyID string
	RoundID    string
	Status     AllocationStatus // "" for all
	After      string           // exclusive ID cursor
	Limit      int              // <= 0: no limit
}

// ShortageFilter selects shortage registrations in ID order (IDs sort by
// creation, so the order is the waiting list's): those matching every
// field that is not empty.
type ShortageFilter struct {
	SKU    SKU
	Status ShortageStatus // "" for all
	After  string
	Limit  int
}

// DispatchStore is the part of Store that keeps rounds, reservations,
// allocations, partners and shortages. Allocation and stock move together:
// an allocation takes its stock in the same transaction, and a move to a
// status that returns stock gives it back in the same transaction, so
// stock is always conserved: initial + restocks = on hand + held + handed
// out, where held is the quantity of RESERVED and DELIVERING allocations
// and handed out that of REDEEMED and DELIVERED ones.
//
// A malformed record (an empty ID, an unknown SKU or status, a quantity
// below one, ...) or filter value is an EINVALID error, and nothing is
// written. An unknown status or SKU in a filter is malformed; an unknown
// ID in one selects nothing.
type DispatchStore interface {
	// UpsertRound creates or replaces a round. A round needs an ID, a known
	// SKU, mode and status, and PerPerson of at least one.
	UpsertRound(ctx context.Context, r *Round) error
	// UpdateRound replaces a stored round only while its stored status is
	// one of from: a compare-and-set, atomic however many hubs share the
	// store, so that of two hubs moving one round (closing it, drawing
	// it) one wins and the other's stale copy never overwrites the
	// winner's. A lottery's commitment is written once: a stored
	// Commitment that r would change is ECONFLICT too, so of two hubs
	// committing one round one wins. A stored status not in from is an
	// ECONFLICT error naming it, an unknown round ENOTFOUND, a round
	// UpsertRound refuses or an empty from EINVALID; any error means
	// nothing was written.
	UpdateRound(ctx context.Context, r *Round, from ...RoundStatus) error
	Round(ctx context.Context, id string) (*Round, error)
	// Rounds lists rounds in ID order, those of one status when status is
	// not empty.
	Rounds(ctx context.Context, status RoundStatus) ([]*Round, error)

	// CreateReservation records a reservation and returns the stored one.
	// With an IdempotencyKey already used in the round it writes nothing
	// and returns the reservation stored under that key, as it is now. A
	// second reservation of one IDHash in a round is an ECONFLICT error
	// whose message names the first reservation's ID; so is an ID already
	// taken. An unknown round is ENOTFOUND. A new reservation needs an ID,
	// a RoundID and an IDHash, and a status other than ALLOCATED with no
	// AllocationID: only Allocate allocates.
	CreateReservation(ctx context.Context, r *Reservation) (*Reservation, error)
	Reservation(ctx context.Context, id string) (*Reservation, error)
	Reservations(ctx context.Context, f ReservationFilter) ([]*Reservation, error)
	// SetReservationStatus moves reservations to status (LOST, WAITING,
	// CANCELLED, or back to PENDING; never ALLOCATED, which is EINVALID)
	// when each is in one of from; otherwise ECONFLICT (ENOTFOUND for an
	// unknown ID) and nothing is written. Their UpdatedAt becomes the time
	// of the write.
	SetReservationStatus(ctx context.Context, to ReservationStatus, from []ReservationStatus, ids ...string) error

	// Allocate records allocations in one transaction, all or nothing: for
	// each, stock of its SKU at its pharmacy drops by its quantity (an
	// ALLOCATE ledger entry dated its CreatedAt; EOUTOFSTOCK if short,
	// counting what earlier allocations of the batch take), and the
	// reservation (PENDING or WAITING, else ECONFLICT) becomes ALLOCATED
	// with the allocation's ID, or the shortage (WAITING, else ECONFLICT)
	// becomes SERVED with it; either's UpdatedAt becomes the allocation's
	// CreatedAt.
	//
	// Each allocation serves exactly one reservation (its RoundID then
	// required and the reservation's) or one shortage (of its SKU), starts
	// RESERVED or DELIVERING, and has a positive Quantity and a CreatedAt.
	// An allocation ID or non-empty CodeHash already used, or repeated in
	// the batch, is ECONFLICT, as is a reservation or shortage served twice
	// in the batch; an unknown pharmacy, reservation or shortage is
	// ENOTFOUND. A pickup slot taken beyond the round's SlotCapacity, or a
	// committee beyond its quota in a COMMITTEE round, counting every
	// allocation stored and those earlier in the batch, is EOUTOFSTOCK
	// matching ErrSlotFull or ErrQuotaExhausted (see ErrSlotFull). Any
	// error means nothing was written.
	Allocate(ctx context.Context, as ...*Allocation) error
	// ReserveAllocated records a new reservation and the allocation that
	// serves it in one transaction, all or nothing: the outcome of
	// CreateReservation(r) followed by Allocate(a) in one durable write.
	// It returns the stored reservation: ALLOCATED with a's ID, its
	// UpdatedAt a's CreatedAt.
	//
	// r is checked as CreateReservation checks it and must be PENDING or
	// WAITING; a as Allocate checks it, and must serve r (ReservationID
	// r's ID, RoundID r's round, no ShortageID), else EINVALID. With an
	// IdempotencyKey already used in the round it writes nothing, a
	// included, and returns the reservation stored under that key, as it
	// is now. Otherwise every error of CreateReservation (checked first)
	// and of Allocate can occur, EOUTOFSTOCK and ECONFLICT included, and
	// any error means nothing was written.
	ReserveAllocated(ctx context.Context, r *Reservation, a *Allocation) (*Reservation, error)
	Allocation(ctx context.Context, id string) (*Allocation, error)
	// AllocationByCode finds an allocation by its pickup code's hash.
	AllocationByCode(ctx context.Context, codeHash string) (*Allocation, error)
	Allocations(ctx context.Context, f AllocationFilter) ([]*Allocation, error)
	// TransitionAllocation moves an allocation from one of from to to
	// (ECONFLICT otherwise, nothing written); an allocation in a Final
	// status never moves, even when from names its status, so a pickup
	// code redeems once. A status that Returns stock gives the quantity
	// back to the pharmacy (a RETURN ledger entry dated at), and frees
	// the allocation's slot place and committee units, in the same
	// transaction. UpdatedAt becomes at, which must not be zero. It
	// returns the allocation after the move.
	TransitionAllocation(ctx context.Context, id string, from []AllocationStatus, to AllocationStatus, at time.Time) (*Allocation, error)
	// ExpiringAllocations lists RESERVED allocations whose ExpiresAt is
	// before t, earliest first (then by ID), at most limit (all when limit
	// <= 0). An allocation with a zero ExpiresAt never expires.
	ExpiringAllocations(ctx context.Context, t time.Time, limit int) ([]*Allocation, error)

	UpsertPartners(ctx context.Context, ps ...*Partner) error
	Partner(ctx context.Context, id string) (*Partner, error)
	Partners(ctx context.Context) ([]*Partner, error)

	// CreateShortage records a shortage registration, which starts WAITING
	// with no AllocationID and needs a ResidentID; a second WAITING one of
	// a resident for a SKU is ECONFLICT whose message names the first, as
	// is an ID already taken.
	CreateShortage(ctx context.Context, s *Shortage) error
	Shortages(ctx context.Context, f ShortageFilter) ([]*Shortage, error)
}
