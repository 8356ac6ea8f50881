package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Dispatch, beyond what hub.DispatchStore documents: a batch of
// allocations is checked against the stock it has already taken, so two
// allocations that each fit but together do not are EOUTOFSTOCK; filters
// page with After and Limit like ResidentFilter; Allocate's ledger entries
// are dated the allocation's CreatedAt and TransitionAllocation's RETURN
// entries its at.

// Dispatch fixtures. Each returns a new record.

func round(id string, status hub.RoundStatus) *hub.Round {
	return &hub.Round{
		ID: id, Name: "Round " + id, SKU: hub.MaskAdult, PerPerson: 5, Mode: hub.FirstCome,
		Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery},
		Eligibility: hub.Eligibility{IDHashes: []string{"h1", "h2"}, DistrictIDs: []string{"d1"}},
		HealthGate:  true, HealthRules: []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{hub.Delivery}, Reason: "no queues"},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{}, Reason: "the committee brings it"},
		},
		Opens: at(0), Closes: at(600), MaxK: 3, PickupWindow: 48 * time.Hour,
		SlotMinutes: 30, SlotCapacity: 12,
		Quotas: map[string]int{"c1": 100, "c2": 50}, Commitment: "9f86d081884c7d65", Winners: 10,
		Status: status, CreatedAt: at(1), UpdatedAt: at(2),
	}
}

// roomy gives round r slots and quotas that never bind in a test of
// stock, so only stock limits its allocations.
func roomy(r *hub.Round) *hub.Round {
	r.SlotCapacity, r.Quotas = 100_000, map[string]int{"c1": 1_000_000, "c2": 1_000_000}
	return r
}

func reservation(id, roundID, idHash string) *hub.Reservation {
	return &hub.Reservation{
		ID: id, RoundID: roundID, ResidentID: "r-" + id, IDHash: idHash, Cell: 0x8928308280fffff,
		CommitteeID: "c1", DistrictID: "d1", Fulfilment: hub.Pickup, EntryHash: "e-" + id,
		Status: hub.ReservationPending, CreatedAt: at(3), UpdatedAt: at(3),
	}
}

// allocation returns a RESERVED pickup allocation of qty units serving r
// at a pharmacy, expiring at(120).
func allocation(id string, r *hub.Reservation, pharmacyID string, qty int) *hub.Allocation {
	return &hub.Allocation{
		ID: id, RoundID: r.RoundID, ReservationID: r.ID, ResidentID: r.ResidentID,
		PharmacyID: pharmacyID, SKU: hub.MaskAdult, Quantity: qty, Cell: r.Cell,
		Slot: at(60), CodeHash: "code-" + id, Status: hub.AllocationReserved,
		ExpiresAt: at(120), CreatedAt: at(10), UpdatedAt: at(10),
	}
}

// delivery returns a DELIVERING allocation of qty units serving r from a
// pharmacy by partner pt1.
func delivery(id string, r *hub.Reservation, pharmacyID string, qty int) *hub.Allocation {
	a := allocation(id, r, pharmacyID, qty)
	a.PartnerID, a.Status, a.Slot, a.CodeHash, a.ExpiresAt = "pt1", hub.AllocationDelivering, time.Time{}, "", time.Time{}
	return a
}

func shortage(id, residentID string, sku hub.SKU) *hub.Shortage {
	return &hub.Shortage{
		ID: id, ResidentID: residentID, Cell: 0x8928308280fffff, SKU: sku, Quantity: 2,
		Status: hub.ShortageWaiting, CreatedAt: at(5), UpdatedAt: at(5),
	}
}

// serving returns a RESERVED allocation serving a shortage.
func serving(id string, sh *hub.Shortage, pharmacyID string) *hub.Allocation {
	return &hub.Allocation{
		ID: id, ShortageID: sh.ID, ResidentID: sh.ResidentID, PharmacyID: pharmacyID,
		SKU: sh.SKU, Quantity: sh.Quantity, Cell: sh.Cell, Slot: at(60), CodeHash: "code-" + id,
		Status: hub.AllocationReserved, ExpiresAt: at(120), CreatedAt: at(11), UpdatedAt: at(11),
	}
}

func partner(id string) *hub.Partner {
	return &hub.Partner{ID: id, Name: "Partner " + id, Cells: cells(3), UpdatedAt: at(6)}
}

func normRound(r *hub.Round) hub.Round {
	c := *r
	c.Opens, c.Closes, c.CreatedAt, c.UpdatedAt = ms(c.Opens), ms(c.Closes), ms(c.CreatedAt), ms(c.UpdatedAt)
	if len(c.Fulfilments) == 0 {
		c.Fulfilments = nil
	}
	if len(c.Eligibility.IDHashes) == 0 {
		c.Eligibility.IDHashes = nil
	}
	if len(c.Eligibility.DistrictIDs) == 0 {
		c.Eligibility.DistrictIDs = nil
	}
	if len(c.Quotas) == 0 {
		c.Quotas = nil
	}
	return c
}

func normReservation(r *hub.Reservation) hub.Reservation {
	c := *r
	c.CreatedAt, c.UpdatedAt = ms(c.CreatedAt), ms(c.UpdatedAt)
	return c
}

func normAllocation(a *hub.Allocation) hub.Allocation {
	c := *a
	c.Slot, c.ExpiresAt, c.CreatedAt, c.UpdatedAt = ms(c.Slot), ms(c.ExpiresAt), ms(c.CreatedAt), ms(c.UpdatedAt)
	c.Step = nil // the result of a write, never stored
	return c
}

func normPartner(p *hub.Partner) hub.Partner {
	c := *p
	c.UpdatedAt = ms(c.UpdatedAt)
	if len(c.Cells) == 0 {
		c.Cells = nil
	}
	return c
}

func normShortage(s *hub.Shortage) hub.Shortage {
	c := *s
	c.CreatedAt, c.UpdatedAt = ms(c.CreatedAt), ms(c.UpdatedAt)
	return c
}

func roundID(r *hub.Round) string             { return r.ID }
func reservationID(r *hub.Reservation) string { return r.ID }
func allocationID(a *hub.Allocation) string   { return a.ID }
func partnerID(p *hub.Partner) string         { return p.ID }
func shortageID(s *hub.Shortage) string       { return s.ID }

// pageIDs pages through a listing limit at a time, each page after the last
// ID of the one before, and returns every ID seen.
func pageIDs[T any](t *testing.T, what string, limit int, page func(after string) ([]*T, error), id func(*T) string) []string {
	t.Helper()
	var out []string
	after := ""
	for range 10000 {
		got, err := page(after)
		must(t, err, what)
		if limit > 0 && len(got) > limit {
			t.Fatalf("%s: %d records, over the limit %d", what, len(got), limit)
		}
		if len(got) == 0 {
			return out
		}
		out = append(out, ids(got, id)...)
		after = id(got[len(got)-1])
	}
	t.Fatalf("%s: paging does not end", what)
	return nil
}

func reservationIDs(t *testing.T, s hub.Store, f hub.ReservationFilter) []string {
	t.Helper()
	return pageIDs(t, fmt.Sprintf("Reservations(%+v)", f), f.Limit, func(after string) ([]*hub.Reservation, error) {
		f.After = after
		return s.Reservations(t.Context(), f)
	}, reservationID)
}

func allocationIDs(t *testing.T, s hub.Store, f hub.AllocationFilter) []string {
	t.Helper()
	return pageIDs(t, fmt.Sprintf("Allocations(%+v)", f), f.Limit, func(after string) ([]*hub.Allocation, error) {
		f.After = after
		return s.Allocations(t.Context(), f)
	}, allocationID)
}

func shortageIDs(t *testing.T, s hub.Store, f hub.ShortageFilter) []string {
	t.Helper()
	return pageIDs(t, fmt.Sprintf("Shortages(%+v)", f), f.Limit, func(after string) ([]*hub.Shortage, error) {
		f.After = after
		return s.Shortages(t.Context(), f)
	}, shortageID)
}

// allAllocations returns every allocation, normalised, in ID order.
func allAllocations(t *testing.T, s hub.Store) []hub.Allocation {
	t.Helper()
	as, err := s.Allocations(t.Context(), hub.AllocationFilter{})
	must(t, err, "Allocations")
	return normAll(as, normAllocation)
}

// getReservation returns a stored reservation.
func getReservation(t *testing.T, s hub.Store, id string) *hub.Reservation {
	t.Helper()
	r, err := s.Reservation(t.Context(), id)
	must(t, err, "Reservation "+id)
	return r
}

// getAllocation returns a stored allocation.
func getAllocation(t *testing.T, s hub.Store, id string) *hub.Allocation {
	t.Helper()
	a, err := s.Allocation(t.Context(), id)
	must(t, err, "Allocation "+id)
	return a
}

// dispatchState is what a refused dispatch write must leave alone.
type dispatchState struct {
	Pharmacies   []hub.Pharmacy
	Ledgers      map[string][]hub.StockEntry
	Reservations map[string][]hub.Reservation
	Allocations  []hub.Allocation
	Shortages    []hub.Shortage
}

func dispatchSnapshot(t *testing.T, s hub.Store, roundIDs ...string) dispatchState {
	t.Helper()
	ctx := t.Context()
	ps, err := s.Pharmacies(ctx)
	must(t, err, "Pharmacies")
	st := dispatchState{
		Pharmacies:   normAll(ps, normPharmacy),
		Ledgers:      make(map[string][]hub.StockEntry),
		Reservations: make(map[string][]hub.Reservation),
		Allocations:  allAllocations(t, s),
	}
	for _, p := range ps {
		st.Ledgers[p.ID] = normAll(ledger(t, s, p.ID), normEntry)
	}
	for _, id := range roundIDs {
		rs, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: id})
		must(t, err, "Reservations")
		st.Reservations[id] = normAll(rs, normReservation)
	}
	shs, err := s.Shortages(ctx, hub.ShortageFilter{})
	must(t, err, "Shortages")
	st.Shortages = normAll(shs, normShortage)
	return st
}

func testRounds(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	rs, err := s.Rounds(ctx, "")
	must(t, err, "Rounds of an empty store")
	same(t, "Rounds of an empty store", len(rs), 0)

	r3, r1, r2 := round("round3", hub.RoundOpen), round("round1", hub.RoundClosed), round("round2", hub.RoundOpen)
	r2.Mode, r2.Seed, r2.Quotas, r2.Fulfilments = hub.Lottery, "5eed", nil, nil
	for _, r := range []*hub.Round{r3, r1, r2} {
		must(t, s.UpsertRound(ctx, r), "UpsertRound "+r.ID)
	}
	got, err := s.Round(ctx, "round1")
	must(t, err, "Round round1")
	same(t, "Round round1", normRound(got), normRound(r1))
	got, err = s.Round(ctx, "round2")
	must(t, err, "Round round2")
	same(t, "Round round2", normRound(got), normRound(r2))
	if got.PickupWindow != 48*time.Hour {
		t.Fatalf("PickupWindow %v, want 48h", got.PickupWindow)
	}

	tests := []struct {
		give hub.RoundStatus
		want []string
	}{
		{"", []string{"round1", "round2", "round3"}},
		{hub.RoundOpen, []string{"round2", "round3"}},
		{hub.RoundClosed, []string{"round1"}},
		{hub.RoundDrawn, nil},
	}
	check := func(what string) {
		t.Helper()
		for _, tt := range tests {
			rs, err := s.Rounds(ctx, tt.give)
			must(t, err, "Rounds")
			if got := ids(rs, roundID); !slices.Equal(got, tt.want) {
				t.Fatalf("Rounds(%q) %s = %v, want %v", tt.give, what, got, tt.want)
			}
		}
	}
	check("")

	// A replaced round moves between statuses.
	r3.Status, r3.Name, r3.UpdatedAt = hub.RoundDrawn, "Drawn", at(700)
	must(t, s.UpsertRound(ctx, r3), "UpsertRound round3 again")
	got, err = s.Round(ctx, "round3")
	must(t, err, "Round round3")
	same(t, "Round round3 after replace", normRound(got), normRound(r3))
	tests[1].want, tests[3].want = []string{"round2"}, []string{"round3"}
	check("after a status change")
	rs, err = s.Rounds(ctx, "")
	must(t, err, "Rounds")
	same(t, "Rounds", normAll(rs, normRound), []hub.Round{normRound(r1), normRound(r2), normRound(r3)})

	_, err = s.Round(ctx, "round-none")
	wantCode(t, err, hub.ENOTFOUND, "Round of a missing ID")
	_, err = s.Rounds(ctx, "SOMETIMES")
	wantCode(t, err, hub.EINVALID, "Rounds of an unknown status")

	invalid := []struct {
		name string
		give func(r *hub.Round) *hub.Round
	}{
		{"nil", func(*hub.Round) *hub.Round { return nil }},
		{"no ID", func(r *hub.Round) *hub.Round { r.ID = ""; return r }},
		{"unknown SKU", func(r *hub.Round) *hub.Round { r.SKU = "GOLD_BAR"; return r }},
		{"no units per person", func(r *hub.Round) *hub.Round { r.PerPerson = 0; return r }},
		{"unknown mode", func(r *hub.Round) *hub.Round { r.Mode = "RAFFLE"; return r }},
		{"no status", func(r *hub.Round) *hub.Round { r.Status = ""; return r }},
		{"unknown fulfilment", func(r *hub.Round) *hub.Round { r.Fulfilments = []hub.Fulfilment{"DRONE"}; return r }},
		{"negative slot capacity", func(r *hub.Round) *hub.Round { r.SlotCapacity = -1; return r }},
		{"health rule of an unknown colour", func(r *hub.Round) *hub.Round { r.HealthRules[1].Colour = "BLUE"; return r }},
		{"two health rules of a colour", func(r *hub.Round) *hub.Round { r.HealthRules[2].Colour = hub.Green; return r }},
		{"health rule with an unknown fulfilment", func(r *hub.Round) *hub.Round {
			r.HealthRules[0].Fulfilments[1] = "DRONE"
			return r
		}},
	}
	for _, tt := range invalid {
		wantCode(t, s.UpsertRound(ctx, tt.give(round("round9", hub.RoundOpen))), hub.EINVALID, "UpsertRound with "+tt.name)
	}
	_, err = s.Round(ctx, "round9")
	wantCode(t, err, hub.ENOTFOUND, "Round written by an invalid upsert")
}

// testRoundHealthRules: a round's health rules come back as written, in
// order, with their reasons, a colour with no fulfilments as an empty list
// (it may not reserve), before and after a reopen and in Rounds; a round
// written without rules (one without the gate, or stored before rounds
// held rules) comes back without them, nil, so that it follows the
// default rules; replacing a round replaces its rules.
func testRoundHealthRules(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	P, D := hub.Pickup, hub.Delivery
	tests := []struct {
		give string
		want []hub.HealthRule
	}{
		{"fixture", round("x", hub.RoundOpen).HealthRules},
		{"none", nil},
		{"each colour refused", []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{}, Reason: "closed to YELLOW"},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{}, Reason: "closed to RED: call 1999"},
		}},
		{"pickup for the sick", []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{D}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{P, D}},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{P}, Reason: "a separate counter"},
		}},
		{"one rule", []hub.HealthRule{{Colour: hub.Red, Fulfilments: []hub.Fulfilment{D}, Reason: "小区配送"}}},
	}
	var want []hub.Round
	for _, tt := range tests {
		r := round("rules-"+strings.ReplaceAll(tt.give, " ", "-"), hub.RoundOpen)
		r.HealthRules = tt.want
		if tt.want == nil {
			r.HealthGate = false
		}
		must(t, s.UpsertRound(ctx, r), "UpsertRound with rules "+tt.give)
		got, err := s.Round(ctx, r.ID)
		must(t, err, "Round")
		same(t, "health rules "+tt.give, got.HealthRules, tt.want)
		want = append(want, normRound(r))
	}
	slices.SortFunc(want, func(a, b hub.Round) int { return strings.Compare(a.ID, b.ID) })
	check := func(what string) {
		t.Helper()
		rs, err := s.Rounds(ctx, "")
		must(t, err, "Rounds")
		same(t, "rounds with health rules "+what, normAll(rs, normRound), want)
		for _, r := range rs {
			if r.HealthRules == nil {
				continue
			}
			for _, rule := range r.HealthRules {
				if rule.Fulfilments == nil {
					t.Fatalf("round %s %s: the rule of %s has nil fulfilments, want a list", r.ID, what, rule.Colour)
				}
			}
		}
	}
	check("")
	s = h.Reopen(t, s)
	check("after reopen")

	// Replacing a round replaces its rules, down to none.
	r := round("rules-fixture", hub.RoundOpen)
	r.HealthRules = r.HealthRules[:1]
	must(t, s.UpsertRound(ctx, r), "UpsertRound with one rule")
	got, err := s.Round(ctx, r.ID)
	must(t, err, "Round")
	same(t, "health rules replaced", got.HealthRules, r.HealthRules)
	r.HealthRules = nil
	must(t, s.UpsertRound(ctx, r), "UpsertRound without rules")
	got, err = s.Round(ctx, r.ID)
	must(t, err, "Round")
	same(t, "health rules removed", got.HealthRules, []hub.HealthRule(nil))
}

func testReservations(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	must(t, s.UpsertRound(ctx, round("round2", hub.RoundOpen)), "UpsertRound")

	r1 := reservation("res1", "round1", "h1")
	got, err := s.CreateReservation(ctx, r1)
	must(t, err, "CreateReservation res1")
	same(t, "CreateReservation res1 returned", normReservation(got), normReservation(r1))
	got, err = s.Reservation(ctx, "res1")
	must(t, err, "Reservation res1")
	same(t, "Reservation res1", normReservation(got), normReservation(r1))

	// A second reservation of one ID number in a round names the first.
	_, err = s.CreateReservation(ctx, reservation("res2", "round1", "h1"))
	wantCode(t, err, hub.ECONFLICT, "CreateReservation of a reserved ID hash")
	if msg := hub.ErrorMessage(err); !strings.Contains(msg, `"res1"`) {
		t.Fatalf("conflict message %q does not name the first reservation res1", msg)
	}
	_, err = s.Reservation(ctx, "res2")
	wantCode(t, err, hub.ENOTFOUND, "Reservation of a refused ID hash")
	// In another round the same person may reserve.
	_, err = s.CreateReservation(ctx, reservation("res2", "round2", "h1"))
	must(t, err, "CreateReservation of the ID hash in another round")
	// An ID is taken once.
	_, err = s.CreateReservation(ctx, reservation("res1", "round1", "h-other"))
	wantCode(t, err, hub.ECONFLICT, "CreateReservation of a taken ID")
	// An unknown round.
	_, err = s.CreateReservation(ctx, reservation("res3", "round-none", "h3"))
	wantCode(t, err, hub.ENOTFOUND, "CreateReservation in an unknown round")
	_, err = s.Reservation(ctx, "res-none")
	wantCode(t, err, hub.ENOTFOUND, "Reservation of a missing ID")

	// Idempotency: a retry with the key returns what the first stored and
	// writes nothing, whatever else it says.
	k1 := reservation("res-k1", "round1", "h-k1")
	k1.IdempotencyKey = "retry-1"
	got, err = s.CreateReservation(ctx, k1)
	must(t, err, "CreateReservation with a key")
	same(t, "CreateReservation with a key returned", normReservation(got), normReservation(k1))
	before := reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1"})
	retry := reservation("res-k2", "round1", "h-k2")
	retry.IdempotencyKey, retry.Fulfilment = "retry-1", hub.Delivery
	got, err = s.CreateReservation(ctx, retry)
	must(t, err, "CreateReservation retried with the key")
	same(t, "CreateReservation retried with the key returned", normReservation(got), normReservation(k1))
	same(t, "reservations after a retry", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1"}), before)
	_, err = s.Reservation(ctx, "res-k2")
	wantCode(t, err, hub.ENOTFOUND, "Reservation of a retry's own ID")
	// ... even a retry whose ID hash the first took.
	got, err = s.CreateReservation(ctx, k1)
	must(t, err, "CreateReservation repeated whole")
	same(t, "CreateReservation repeated whole returned", normReservation(got), normReservation(k1))
	// Keys are per round.
	k3 := reservation("res-k3", "round2", "h-k1")
	k3.IdempotencyKey = "retry-1"
	got, err = s.CreateReservation(ctx, k3)
	must(t, err, "CreateReservation with the key in another round")
	same(t, "CreateReservation with the key in another round returned", normReservation(got), normReservation(k3))

	// Listing by round and status, paged.
	for i := range 12 {
		r := reservation(fmt.Sprintf("res-l%02d", i), "round1", fmt.Sprintf("h-l%02d", i))
		if i%3 == 0 {
			r.Status = hub.ReservationWaiting
		}
		_, err := s.CreateReservation(ctx, r)
		must(t, err, "CreateReservation "+r.ID)
	}
	var all, waiting, pending []string
	all = append(all, "res-k1")
	for i := range 12 {
		id := fmt.Sprintf("res-l%02d", i)
		all = append(all, id)
		if i%3 == 0 {
			waiting = append(waiting, id)
		} else {
			pending = append(pending, id)
		}
	}
	all = append(all, "res1")
	pending = append([]string{"res-k1"}, append(pending, "res1")...)
	for _, limit := range []int{0, 1, 5, 100} {
		same(t, fmt.Sprintf("round1, limit %d", limit), reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Limit: limit}), all)
		same(t, fmt.Sprintf("round1 WAITING, limit %d", limit),
			reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationWaiting, Limit: limit}), waiting)
		same(t, fmt.Sprintf("round1 PENDING, limit %d", limit),
			reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationPending, Limit: limit}), pending)
	}
	same(t, "round2", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round2"}), []string{"res-k3", "res2"})
	same(t, "round2 LOST", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round2", Status: hub.ReservationLost})), 0)
	same(t, "unknown round", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round-none"})), 0)
	page, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1", After: "res-l05", Limit: 3})
	must(t, err, "Reservations after res-l05")
	same(t, "Reservations after res-l05", ids(page, reservationID), []string{"res-l06", "res-l07", "res-l08"})
	page, err = s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationWaiting, After: "res-l04"})
	must(t, err, "WAITING reservations after res-l04")
	same(t, "WAITING reservations after res-l04", ids(page, reservationID), []string{"res-l06", "res-l09"})
	page, err = s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1"})
	must(t, err, "Reservations")
	same(t, "Reservations[0]", normReservation(page[0]), normReservation(k1))

	_, err = s.Reservations(ctx, hub.ReservationFilter{})
	wantCode(t, err, hub.EINVALID, "Reservations without a round")
	_, err = s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1", Status: "MAYBE"})
	wantCode(t, err, hub.EINVALID, "Reservations of an unknown status")

	invalid := []struct {
		name string
		give func(r *hub.Reservation) *hub.Reservation
	}{
		{"nil", func(*hub.Reservation) *hub.Reservation { return nil }},
		{"no ID", func(r *hub.Reservation) *hub.Reservation { r.ID = ""; return r }},
		{"no round", func(r *hub.Reservation) *hub.Reservation { r.RoundID = ""; return r }},
		{"no ID hash", func(r *hub.Reservation) *hub.Reservation { r.IDHash = ""; return r }},
		{"no status", func(r *hub.Reservation) *hub.Reservation { r.Status = ""; return r }},
		{"ALLOCATED", func(r *hub.Reservation) *hub.Reservation { r.Status = hub.ReservationAllocated; return r }},
		{"an allocation", func(r *hub.Reservation) *hub.Reservation { r.AllocationID = "a1"; return r }},
		{"unknown fulfilment", func(r *hub.Reservation) *hub.Reservation { r.Fulfilment = "DRONE"; return r }},
	}
	for _, tt := range invalid {
		_, err := s.CreateReservation(ctx, tt.give(reservation("res9", "round1", "h9")))
		wantCode(t, err, hub.EINVALID, "CreateReservation with "+tt.name)
	}
	_, err = s.Reservation(ctx, "res9")
	wantCode(t, err, hub.ENOTFOUND, "Reservation written by an invalid call")
}

func testReservationStatus(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundClosed)), "UpsertRound")
	for i := range 4 {
		_, err := s.CreateReservation(ctx, reservation(fmt.Sprintf("res%d", i), "round1", fmt.Sprintf("h%d", i)))
		must(t, err, "CreateReservation")
	}
	pending := []hub.ReservationStatus{hub.ReservationPending}
	before := dispatchSnapshot(t, s, "round1")

	// One reservation out of place refuses the whole batch.
	must(t, s.SetReservationStatus(ctx, hub.ReservationLost, pending, "res0"), "SetReservationStatus res0")
	wantCode(t, s.SetReservationStatus(ctx, hub.ReservationLost, pending, "res1", "res0", "res2"), hub.ECONFLICT,
		"SetReservationStatus over a reservation in another status")
	wantCode(t, s.SetReservationStatus(ctx, hub.ReservationLost, pending, "res1", "res-none"), hub.ENOTFOUND,
		"SetReservationStatus of a missing reservation")
	wantCode(t, s.SetReservationStatus(ctx, hub.ReservationAllocated, pending, "res1"), hub.EINVALID,
		"SetReservationStatus to ALLOCATED")
	wantCode(t, s.SetReservationStatus(ctx, hub.ReservationLost, nil, "res1"), hub.EINVALID,
		"SetReservationStatus from nothing")
	wantCode(t, s.SetReservationStatus(ctx, "GONE", pending, "res1"), hub.EINVALID,
		"SetReservationStatus to an unknown status")
	after := dispatchSnapshot(t, s, "round1")
	before.Reservations["round1"][0] = after.Reservations["round1"][0] // res0 moved
	same(t, "state after refused status changes", after, before)
	same(t, "res0 after the move", getReservation(t, s, "res0").Status, hub.ReservationLost)
	same(t, "res1 after refused moves", getReservation(t, s, "res1").Status, hub.ReservationPending)

	must(t, s.SetReservationStatus(ctx, hub.ReservationLost, pending, "res1", "res2"), "SetReservationStatus res1 res2")
	must(t, s.SetReservationStatus(ctx, hub.ReservationCancelled, []hub.ReservationStatus{hub.ReservationPending, hub.ReservationLost}, "res2", "res3"),
		"SetReservationStatus res2 res3")
	lost := reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationLost})
	same(t, "LOST reservations", lost, []string{"res0", "res1"})
	same(t, "CANCELLED reservations", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationCancelled}),
		[]string{"res2", "res3"})
	same(t, "PENDING reservations", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationPending})), 0)
	got := getReservation(t, s, "res3")
	want := reservation("res3", "round1", "h3")
	want.Status, want.UpdatedAt = hub.ReservationCancelled, got.UpdatedAt
	same(t, "res3 after its move", normReservation(got), normReservation(want))
}

func testAllocate(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx,
		pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10, hub.MaskN95: 3}),
		pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: 4})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	must(t, s.UpsertRound(ctx, round("round2", hub.RoundOpen)), "UpsertRound")
	res := make(map[string]*hub.Reservation)
	for i := range 8 {
		r := reservation(fmt.Sprintf("res%d", i), "round1", fmt.Sprintf("h%d", i))
		if i == 7 {
			r.Status = hub.ReservationWaiting
		}
		_, err := s.CreateReservation(ctx, r)
		must(t, err, "CreateReservation")
		res[r.ID] = r
	}
	other := reservation("res-other", "round2", "h0")
	_, err := s.CreateReservation(ctx, other)
	must(t, err, "CreateReservation")

	// A batch: stock drops, ledger entries, reservations ALLOCATED.
	a0, a1 := allocation("a0", res["res0"], "p1", 3), allocation("a1", res["res1"], "p2", 4)
	a7 := allocation("a7", res["res7"], "p1", 2) // from WAITING
	a7.CreatedAt = at(12)
	must(t, s.Allocate(ctx, a0, a1, a7), "Allocate a0 a1 a7")
	same(t, "stock of p1", stockOf(t, s, "p1", hub.MaskAdult), 5)
	same(t, "stock of p2", stockOf(t, s, "p2", hub.MaskAdult), 0)
	same(t, "stock of p1 N95", stockOf(t, s, "p1", hub.MaskN95), 3)
	for _, tt := range []struct {
		pharmacy string
		want     []hub.StockEntry // without Seq
	}{
		{"p1", []hub.StockEntry{
			{After: 5 + 2, StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -3, Reason: "ALLOCATE", At: at(10)}},
			{After: 5, StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -2, Reason: "ALLOCATE", At: at(12)}},
		}},
		{"p2", []hub.StockEntry{
			{After: 0, StockChange: hub.StockChange{PharmacyID: "p2", SKU: hub.MaskAdult, Delta: -4, Reason: "ALLOCATE", At: at(10)}},
		}},
	} {
		es := ledger(t, s, tt.pharmacy)
		es = es[len(es)-len(tt.want):]
		for i := range es {
			tt.want[i].Seq = es[i].Seq
		}
		same(t, "ALLOCATE entries of "+tt.pharmacy, normAll(es, normEntry), normAll(tt.want, normEntry))
	}
	for _, a := range []*hub.Allocation{a0, a1, a7} {
		same(t, "allocation "+a.ID, normAllocation(getAllocation(t, s, a.ID)), normAllocation(a))
		got := getReservation(t, s, a.ReservationID)
		want := *res[a.ReservationID]
		want.Status, want.AllocationID, want.UpdatedAt = hub.ReservationAllocated, a.ID, a.CreatedAt
		same(t, "reservation "+want.ID+" after Allocate", normReservation(got), normReservation(&want))
	}
	same(t, "ALLOCATED reservations", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationAllocated}),
		[]string{"res0", "res1", "res7"})
	same(t, "WAITING reservations", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationWaiting})), 0)

	// All or nothing: one bad member and nothing of the batch is written.
	good := func() *hub.Allocation { return allocation("a2", res["res2"], "p1", 1) }
	tests := []struct {
		name string
		give func() []*hub.Allocation
		code string
	}{
		{"an unknown pharmacy", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", res["res3"], "p-none", 1)}
		}, hub.ENOTFOUND},
		{"an unknown reservation", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", reservation("res-none", "round1", "hx"), "p1", 1)}
		}, hub.ENOTFOUND},
		{"an allocated reservation", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", res["res0"], "p1", 1)}
		}, hub.ECONFLICT},
		{"a reservation served twice", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", res["res2"], "p1", 1)}
		}, hub.ECONFLICT},
		{"a taken allocation ID", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a0", res["res3"], "p1", 1)}
		}, hub.ECONFLICT},
		{"an allocation ID twice", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a2", res["res3"], "p1", 1)}
		}, hub.ECONFLICT},
		{"a taken code", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.CodeHash = a0.CodeHash
			return []*hub.Allocation{good(), a}
		}, hub.ECONFLICT},
		{"a code twice", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.CodeHash = good().CodeHash
			return []*hub.Allocation{good(), a}
		}, hub.ECONFLICT},
		{"more than the stock", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", res["res3"], "p1", 5)}
		}, hub.EOUTOFSTOCK},
		{"more than the stock together", func() []*hub.Allocation {
			return []*hub.Allocation{allocation("a2", res["res2"], "p1", 3), allocation("a3", res["res3"], "p1", 3)}
		}, hub.EOUTOFSTOCK},
		{"a SKU never stocked", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.SKU = hub.TestKit
			return []*hub.Allocation{good(), a}
		}, hub.EOUTOFSTOCK},
		{"a nil allocation", func() []*hub.Allocation { return []*hub.Allocation{good(), nil} }, hub.EINVALID},
		{"no ID", func() []*hub.Allocation {
			a := allocation("", res["res3"], "p1", 1)
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
		{"a quantity of zero", func() []*hub.Allocation {
			return []*hub.Allocation{good(), allocation("a3", res["res3"], "p1", 0)}
		}, hub.EINVALID},
		{"an unknown SKU", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.SKU = "GOLD_BAR"
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
		{"a final status", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.Status = hub.AllocationRedeemed
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
		{"neither reservation nor shortage", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.ReservationID = ""
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
		{"another round's reservation", func() []*hub.Allocation {
			a := allocation("a3", other, "p1", 1)
			a.RoundID = "round1"
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
		{"no creation time", func() []*hub.Allocation {
			a := allocation("a3", res["res3"], "p1", 1)
			a.CreatedAt = time.Time{}
			return []*hub.Allocation{good(), a}
		}, hub.EINVALID},
	}
	before := dispatchSnapshot(t, s, "round1", "round2")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.Allocate(ctx, tt.give()...), tt.code, "Allocate with "+tt.name)
			same(t, "state after Allocate with "+tt.name, dispatchSnapshot(t, s, "round1", "round2"), before)
		})
	}

	// The batch without its bad members goes through; the stock is exact.
	must(t, s.Allocate(ctx, allocation("a2", res["res2"], "p1", 2), allocation("a3", res["res3"], "p1", 3)), "Allocate a2 a3")
	same(t, "stock of p1 after taking all", stockOf(t, s, "p1", hub.MaskAdult), 0)
	wantCode(t, s.Allocate(ctx, allocation("a4", res["res4"], "p1", 1)), hub.EOUTOFSTOCK, "Allocate from none")
	same(t, "res4 after a refused allocation", getReservation(t, s, "res4").Status, hub.ReservationPending)
	must(t, s.Allocate(ctx), "Allocate of nothing")

	// A delivery.
	d := delivery("a5", res["res5"], "p1", 3)
	d.SKU = hub.MaskN95
	must(t, s.Allocate(ctx, d), "Allocate a delivery")
	same(t, "delivery", normAllocation(getAllocation(t, s, "a5")), normAllocation(d))
	same(t, "N95 after the delivery", stockOf(t, s, "p1", hub.MaskN95), 0)

	// A shortage served.
	sh := shortage("sh1", "r-sh", hub.MaskAdult)
	must(t, s.CreateShortage(ctx, sh), "CreateShortage")
	_, err = s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p2", SKU: hub.MaskAdult, Delta: 5, Reason: "RESTOCK", At: at(20)})
	must(t, err, "AdjustStock")
	must(t, s.Allocate(ctx, serving("a-sh1", sh, "p2")), "Allocate to a shortage")
	same(t, "stock of p2 after serving the shortage", stockOf(t, s, "p2", hub.MaskAdult), 3)
	shs, err := s.Shortages(ctx, hub.ShortageFilter{})
	must(t, err, "Shortages")
	want := *sh
	want.Status, want.AllocationID, want.UpdatedAt = hub.ShortageServed, "a-sh1", at(11)
	same(t, "shortage after Allocate", normAll(shs, normShortage), []hub.Shortage{normShortage(&want)})
	wantCode(t, s.Allocate(ctx, serving("a-sh1b", sh, "p2")), hub.ECONFLICT, "Allocate to a served shortage")
	wantCode(t, s.Allocate(ctx, serving("a-sh1c", shortage("sh-none", "r-x", hub.MaskAdult), "p2")), hub.ENOTFOUND,
		"Allocate to an unknown shortage")
	wrongSKU := serving("a-sh2", shortage("sh2", "r-sh2", hub.MaskAdult), "p1")
	must(t, s.CreateShortage(ctx, shortage("sh2", "r-sh2", hub.MaskAdult)), "CreateShortage sh2")
	wrongSKU.SKU = hub.MaskN95
	wantCode(t, s.Allocate(ctx, wrongSKU), hub.EINVALID, "Allocate of another SKU to a shortage")
	// A served registration no longer blocks a new one.
	must(t, s.CreateShortage(ctx, shortage("sh3", "r-sh", hub.MaskAdult)), "CreateShortage after being served")
}

func testAllocationQueries(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx,
		pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 1000}), pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: 1000})), "UpsertPharmacies")
	must(t, s.UpsertPartners(ctx, partner("pt1"), partner("pt2")), "UpsertPartners")
	var all []*hub.Allocation
	for _, rid := range []string{"round1", "round2"} {
		must(t, s.UpsertRound(ctx, round(rid, hub.RoundOpen)), "UpsertRound")
		for i := range 15 {
			r := reservation(fmt.Sprintf("%s-res%02d", rid, i), rid, fmt.Sprintf("h%02d", i))
			_, err := s.CreateReservation(ctx, r)
			must(t, err, "CreateReservation")
			id := fmt.Sprintf("a-%s-%02d", rid, i)
			a := allocation(id, r, []string{"p1", "p2"}[i%2], 1+i%3)
			if i%3 == 0 {
				a = delivery(id, r, a.PharmacyID, 2)
				a.PartnerID = []string{"pt1", "pt2"}[i/3%2]
			}
			all = append(all, a)
		}
	}
	// Allocate in an order other than the IDs'.
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(all)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	must(t, s.Allocate(ctx, shuffled[:10]...), "Allocate")
	for _, a := range shuffled[10:] {
		must(t, s.Allocate(ctx, a), "Allocate "+a.ID)
	}
	// Some move on.
	for i, a := range all {
		to, from := hub.AllocationRedeemed, hub.AllocationReserved
		if a.Status == hub.AllocationDelivering {
			to, from = hub.AllocationDelivered, hub.AllocationDelivering
		}
		if i%4 == 1 {
			_, err := s.TransitionAllocation(ctx, a.ID, []hub.AllocationStatus{from}, to, at(30))
			must(t, err, "TransitionAllocation "+a.ID)
			a.Status, a.UpdatedAt = to, at(30)
		}
	}

	// By code.
	got, err := s.AllocationByCode(ctx, "code-a-round2-04")
	must(t, err, "AllocationByCode")
	same(t, "AllocationByCode", normAllocation(got), normAllocation(all[15+4]))
	_, err = s.AllocationByCode(ctx, "code-none")
	wantCode(t, err, hub.ENOTFOUND, "AllocationByCode of an unknown code")
	_, err = s.AllocationByCode(ctx, "")
	wantCode(t, err, hub.ENOTFOUND, "AllocationByCode of no code")
	_, err = s.Allocation(ctx, "a-none")
	wantCode(t, err, hub.ENOTFOUND, "Allocation of a missing ID")

	// By every combination of filters, paged.
	var filters []hub.AllocationFilter
	for _, pt := range []string{"", "pt1", "pt2", "pt-none"} {
		for _, ph := range []string{"", "p1", "p2"} {
			for _, rd := range []string{"", "round1", "round2"} {
				for _, st := range []hub.AllocationStatus{"", hub.AllocationReserved, hub.AllocationRedeemed, hub.AllocationDelivering, hub.AllocationExpired} {
					filters = append(filters, hub.AllocationFilter{PartnerID: pt, PharmacyID: ph, RoundID: rd, Status: st})
				}
			}
		}
	}
	for _, f := range filters {
		var want []string
		for _, a := range all {
			if (f.PartnerID == "" || a.PartnerID == f.PartnerID) && (f.PharmacyID == "" || a.PharmacyID == f.PharmacyID) &&
				(f.RoundID == "" || a.RoundID == f.RoundID) && (f.Status == "" || a.Status == f.Status) {
				want = append(want, a.ID)
			}
		}
		slices.Sort(want)
		for _, limit := range []int{0, 1, 4} {
			f.Limit = limit
			same(t, fmt.Sprintf("Allocations(%+v)", f), allocationIDs(t, s, f), want)
		}
	}
	as, err := s.Allocations(ctx, hub.AllocationFilter{RoundID: "round1", After: "a-round1-05", Limit: 2})
	must(t, err, "Allocations after a-round1-05")
	same(t, "Allocations after a-round1-05", normAll(as, normAllocation), []hub.Allocation{normAllocation(all[6]), normAllocation(all[7])})
	_, err = s.Allocations(ctx, hub.AllocationFilter{Status: "LOST_IN_MAIL"})
	wantCode(t, err, hub.EINVALID, "Allocations of an unknown status")
}

func testTransitions(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 20})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	res := make([]*hub.Reservation, 6)
	for i := range res {
		res[i] = reservation(fmt.Sprintf("res%d", i), "round1", fmt.Sprintf("h%d", i))
		_, err := s.CreateReservation(ctx, res[i])
		must(t, err, "CreateReservation")
	}
	must(t, s.Allocate(ctx,
		allocation("a0", res[0], "p1", 2), allocation("a1", res[1], "p1", 3), allocation("a2", res[2], "p1", 4),
		delivery("a3", res[3], "p1", 5), delivery("a4", res[4], "p1", 1), allocation("a5", res[5], "p1", 1)), "Allocate")
	same(t, "stock after Allocate", stockOf(t, s, "p1", hub.MaskAdult), 4)
	reserved := []hub.AllocationStatus{hub.AllocationReserved}
	delivering := []hub.AllocationStatus{hub.AllocationDelivering}

	type move struct {
		id    string
		from  []hub.AllocationStatus
		to    hub.AllocationStatus
		code  string // "" for success
		stock int    // afterwards
	}
	tests := []move{
		{"a0", reserved, hub.AllocationRedeemed, "", 4},
		{"a0", reserved, hub.AllocationRedeemed, hub.ECONFLICT, 4}, // single use
		{"a0", []hub.AllocationStatus{hub.AllocationRedeemed}, hub.AllocationExpired, hub.ECONFLICT, 4},
		{"a1", reserved, hub.AllocationExpired, "", 7},
		{"a1", []hub.AllocationStatus{hub.AllocationExpired}, hub.AllocationReserved, hub.ECONFLICT, 7},
		{"a1", []hub.AllocationStatus{hub.AllocationExpired}, hub.AllocationCancelled, hub.ECONFLICT, 7},
		{"a2", delivering, hub.AllocationFailed, hub.ECONFLICT, 7}, // a2 is RESERVED
		{"a2", reserved, hub.AllocationCancelled, "", 11},
		{"a3", reserved, hub.AllocationRedeemed, hub.ECONFLICT, 11},
		{"a3", delivering, hub.AllocationFailed, "", 16},
		{"a3", []hub.AllocationStatus{hub.AllocationFailed}, hub.AllocationDelivered, hub.ECONFLICT, 16},
		{"a4", delivering, hub.AllocationDelivered, "", 16},
		{"a4", []hub.AllocationStatus{hub.AllocationDelivered}, hub.AllocationFailed, hub.ECONFLICT, 16},
		{"a5", reserved, hub.AllocationDelivering, "", 16}, // handed to a partner
		{"a5", delivering, hub.AllocationRedeemed, "", 16},
		{"a-none", reserved, hub.AllocationRedeemed, hub.ENOTFOUND, 16},
		{"a5", nil, hub.AllocationRedeemed, hub.EINVALID, 16},
		{"a5", reserved, "MISLAID", hub.EINVALID, 16},
	}
	for i, tt := range tests {
		what := fmt.Sprintf("move %d: %s %v -> %s", i, tt.id, tt.from, tt.to)
		before := dispatchSnapshot(t, s, "round1")
		ledgerBefore := len(ledger(t, s, "p1"))
		got, err := s.TransitionAllocation(ctx, tt.id, tt.from, tt.to, at(40+i))
		if tt.code != "" {
			wantCode(t, err, tt.code, what)
			same(t, what+": state", dispatchSnapshot(t, s, "round1"), before)
			continue
		}
		must(t, err, what)
		want := getAllocation(t, s, tt.id)
		same(t, what+": returned", normAllocation(got), normAllocation(want))
		if want.Status != tt.to || !ms(want.UpdatedAt).Equal(ms(at(40+i))) {
			t.Fatalf("%s: stored %+v", what, want)
		}
		same(t, what+": stock", stockOf(t, s, "p1", hub.MaskAdult), tt.stock)
		es := ledger(t, s, "p1")
		if !tt.to.Returns() {
			same(t, what+": ledger entries", len(es), ledgerBefore)
			continue
		}
		same(t, what+": ledger entries", len(es), ledgerBefore+1)
		last := es[len(es)-1]
		same(t, what+": RETURN entry", normEntry(last), normEntry(hub.StockEntry{Seq: last.Seq, After: tt.stock, StockChange: hub.StockChange{
			PharmacyID: "p1", SKU: hub.MaskAdult, Delta: got.Quantity, Reason: "RETURN", At: at(40 + i),
		}}))
	}
	_, err := s.TransitionAllocation(ctx, "a5", delivering, hub.AllocationDelivered, time.Time{})
	wantCode(t, err, hub.EINVALID, "TransitionAllocation without a time")

	for _, tt := range []struct {
		give hub.AllocationStatus
		want []string
	}{
		{hub.AllocationReserved, nil}, {hub.AllocationRedeemed, []string{"a0", "a5"}},
		{hub.AllocationExpired, []string{"a1"}}, {hub.AllocationCancelled, []string{"a2"}},
		{hub.AllocationFailed, []string{"a3"}}, {hub.AllocationDelivered, []string{"a4"}},
		{hub.AllocationDelivering, nil},
	} {
		same(t, "allocations "+string(tt.give), allocationIDs(t, s, hub.AllocationFilter{Status: tt.give}), tt.want)
	}
	// The reservations stay ALLOCATED whatever became of their allocations.
	same(t, "ALLOCATED reservations", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationAllocated})), 6)
}

func testExpiring(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 100})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	expiries := map[string]int{ // allocation -> minutes; -1 for none
		"a0": 50, "a1": 10, "a2": 30, "a3": 10, "a4": 70, "a5": -1, "a6": 20, "a7": 40,
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range expiries {
			if !yield(id) {
				return
			}
		}
	}) {
		r := reservation("res-"+id, "round1", "h-"+id)
		_, err := s.CreateReservation(ctx, r)
		must(t, err, "CreateReservation")
		a := allocation(id, r, "p1", 1)
		a.ExpiresAt = time.Time{}
		if m := expiries[id]; m >= 0 {
			a.ExpiresAt = at(m)
		}
		if id == "a4" {
			a = delivery(id, r, "p1", 1)
			a.ExpiresAt = at(5) // a delivery never expires in the index
		}
		must(t, s.Allocate(ctx, a), "Allocate "+id)
	}
	expiring := func(t0 time.Time, limit int) []string {
		t.Helper()
		as, err := s.ExpiringAllocations(ctx, t0, limit)
		must(t, err, "ExpiringAllocations")
		for _, a := range as {
			if a.Status != hub.AllocationReserved || !a.ExpiresAt.Before(t0) {
				t.Fatalf("ExpiringAllocations(%v) listed %+v", t0, a)
			}
		}
		return ids(as, allocationID)
	}
	same(t, "expiring before at(0)", len(expiring(at(0), 0)), 0)
	same(t, "expiring before at(10)", len(expiring(at(10), 0)), 0) // strictly before
	same(t, "expiring before at(30)", expiring(at(30), 0), []string{"a1", "a3", "a6"})
	same(t, "expiring before at(1000)", expiring(at(1000), 0), []string{"a1", "a3", "a6", "a2", "a7", "a0"})
	same(t, "expiring before at(1000), limit 4", expiring(at(1000), 4), []string{"a1", "a3", "a6", "a2"})
	same(t, "expiring before the far future", expiring(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0),
		[]string{"a1", "a3", "a6", "a2", "a7", "a0"})
	same(t, "expiring before the distant past", len(expiring(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 0)), 0)

	// Any move out of RESERVED takes an allocation off the list.
	_, err := s.TransitionAllocation(ctx, "a3", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(15))
	must(t, err, "redeem a3")
	_, err = s.TransitionAllocation(ctx, "a1", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationExpired, at(15))
	must(t, err, "expire a1")
	_, err = s.TransitionAllocation(ctx, "a2", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationDelivering, at(15))
	must(t, err, "hand a2 to a partner")
	same(t, "expiring after moves", expiring(at(1000), 0), []string{"a6", "a7", "a0"})
	// ... and a move back to RESERVED puts it on again.
	_, err = s.TransitionAllocation(ctx, "a2", []hub.AllocationStatus{hub.AllocationDelivering}, hub.AllocationReserved, at(16))
	must(t, err, "take a2 back from a partner")
	same(t, "expiring after a2 came back", expiring(at(1000), 0), []string{"a6", "a2", "a7", "a0"})

	s = h.Reopen(t, s)
	as, err := s.ExpiringAllocations(ctx, at(45), 0)
	must(t, err, "ExpiringAllocations after reopen")
	same(t, "expiring after reopen", ids(as, allocationID), []string{"a6", "a2", "a7"})
}

func testPartners(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	ps, err := s.Partners(ctx)
	must(t, err, "Partners of an empty store")
	same(t, "Partners of an empty store", len(ps), 0)

	p2, p1 := partner("pt2"), partner("pt1")
	p1.Cells = nil
	must(t, s.UpsertPartners(ctx, p2, p1), "UpsertPartners")
	got, err := s.Partner(ctx, "pt2")
	must(t, err, "Partner pt2")
	same(t, "Partner pt2", normPartner(got), normPartner(p2))
	p2.Name, p2.Cells, p2.UpdatedAt = "Renamed", cells(9), at(90)
	must(t, s.UpsertPartners(ctx, p2), "UpsertPartners again")
	ps, err = s.Partners(ctx)
	must(t, err, "Partners")
	same(t, "Partners", normAll(ps, normPartner), []hub.Partner{normPartner(p1), normPartner(p2)})
	_, err = s.Partner(ctx, "pt-none")
	wantCode(t, err, hub.ENOTFOUND, "Partner of a missing ID")
	wantCode(t, s.UpsertPartners(ctx, partner("pt3"), nil), hub.EINVALID, "UpsertPartners with nil")
	wantCode(t, s.UpsertPartners(ctx, partner("pt3"), partner("")), hub.EINVALID, "UpsertPartners without an ID")
	_, err = s.Partner(ctx, "pt3")
	wantCode(t, err, hub.ENOTFOUND, "Partner of a refused batch")
}

func testShortages(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	sh := shortage("sh01", "r1", hub.MaskAdult)
	must(t, s.CreateShortage(ctx, sh), "CreateShortage")
	err := s.CreateShortage(ctx, shortage("sh02", "r1", hub.MaskAdult))
	wantCode(t, err, hub.ECONFLICT, "a second WAITING shortage of a resident for a SKU")
	if msg := hub.ErrorMessage(err); !strings.Contains(msg, `"sh01"`) {
		t.Fatalf("conflict message %q does not name the first registration sh01", msg)
	}
	wantCode(t, s.CreateShortage(ctx, shortage("sh01", "r2", hub.MaskAdult)), hub.ECONFLICT, "CreateShortage of a taken ID")
	must(t, s.CreateShortage(ctx, shortage("sh03", "r1", hub.MaskN95)), "CreateShortage of another SKU")

	for i := range 10 {
		must(t, s.CreateShortage(ctx, shortage(fmt.Sprintf("sh1%d", i), fmt.Sprintf("r1%d", i), []hub.SKU{hub.MaskAdult, hub.MaskChild}[i%2])),
			"CreateShortage")
	}
	shs, err := s.Shortages(ctx, hub.ShortageFilter{})
	must(t, err, "Shortages")
	same(t, "Shortages[0]", normShortage(shs[0]), normShortage(sh))
	all := []string{"sh01", "sh03", "sh10", "sh11", "sh12", "sh13", "sh14", "sh15", "sh16", "sh17", "sh18", "sh19"}
	adult := []string{"sh01", "sh10", "sh12", "sh14", "sh16", "sh18"}
	for _, limit := range []int{0, 1, 5} {
		same(t, "all shortages", shortageIDs(t, s, hub.ShortageFilter{Limit: limit}), all)
		same(t, "adult shortages", shortageIDs(t, s, hub.ShortageFilter{SKU: hub.MaskAdult, Limit: limit}), adult)
		same(t, "WAITING adult shortages", shortageIDs(t, s, hub.ShortageFilter{SKU: hub.MaskAdult, Status: hub.ShortageWaiting, Limit: limit}), adult)
		same(t, "SERVED shortages", len(shortageIDs(t, s, hub.ShortageFilter{Status: hub.ShortageServed, Limit: limit})), 0)
	}

	// Serving one moves it from the waiting list.
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})), "UpsertPharmacies")
	must(t, s.Allocate(ctx, serving("a-sh12", shortage("sh12", "r12", hub.MaskAdult), "p1")), "Allocate")
	same(t, "WAITING adult shortages after serving one", shortageIDs(t, s, hub.ShortageFilter{SKU: hub.MaskAdult, Status: hub.ShortageWaiting}),
		[]string{"sh01", "sh10", "sh14", "sh16", "sh18"})
	same(t, "SERVED shortages after serving one", shortageIDs(t, s, hub.ShortageFilter{Status: hub.ShortageServed}), []string{"sh12"})
	page, err := s.Shortages(ctx, hub.ShortageFilter{SKU: hub.MaskAdult, After: "sh10", Limit: 2})
	must(t, err, "Shortages after sh10")
	same(t, "Shortages after sh10", ids(page, shortageID), []string{"sh12", "sh14"})

	_, err = s.Shortages(ctx, hub.ShortageFilter{SKU: "GOLD_BAR"})
	wantCode(t, err, hub.EINVALID, "Shortages of an unknown SKU")
	_, err = s.Shortages(ctx, hub.ShortageFilter{Status: "FORGOTTEN"})
	wantCode(t, err, hub.EINVALID, "Shortages of an unknown status")
	invalid := []struct {
		name string
		give func(sh *hub.Shortage) *hub.Shortage
	}{
		{"nil", func(*hub.Shortage) *hub.Shortage { return nil }},
		{"no ID", func(sh *hub.Shortage) *hub.Shortage { sh.ID = ""; return sh }},
		{"no resident", func(sh *hub.Shortage) *hub.Shortage { sh.ResidentID = ""; return sh }},
		{"an unknown SKU", func(sh *hub.Shortage) *hub.Shortage { sh.SKU = "GOLD_BAR"; return sh }},
		{"a quantity of zero", func(sh *hub.Shortage) *hub.Shortage { sh.Quantity = 0; return sh }},
		{"SERVED", func(sh *hub.Shortage) *hub.Shortage { sh.Status = hub.ShortageServed; return sh }},
	}
	for _, tt := range invalid {
		wantCode(t, s.CreateShortage(ctx, tt.give(shortage("sh99", "r99", hub.TestKit))), hub.EINVALID, "CreateShortage with "+tt.name)
	}
	same(t, "shortages after invalid calls", len(shortageIDs(t, s, hub.ShortageFilter{SKU: hub.TestKit})), 0)
}

func testDispatchCopies(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})), "UpsertPharmacies")
	rd, pt, sh := round("round1", hub.RoundOpen), partner("pt1"), shortage("sh1", "r1", hub.MaskAdult)
	must(t, s.UpsertRound(ctx, rd), "UpsertRound")
	must(t, s.UpsertPartners(ctx, pt), "UpsertPartners")
	must(t, s.CreateShortage(ctx, sh), "CreateShortage")
	r := reservation("res1", "round1", "h1")
	_, err := s.CreateReservation(ctx, r)
	must(t, err, "CreateReservation")
	a := allocation("a1", r, "p1", 2)
	must(t, s.Allocate(ctx, a), "Allocate")

	// Records given to the store are not kept by it.
	rd.Name, rd.Fulfilments[0], rd.Quotas["c1"], rd.Eligibility.IDHashes[0] = "changed", hub.Delivery, 1, "x"
	rd.HealthRules[0].Fulfilments[0], rd.HealthRules[1].Reason = hub.Delivery, "changed"
	pt.Name, pt.Cells[0] = "changed", 1
	sh.Quantity, r.Status, a.Quantity = 99, hub.ReservationLost, 99

	wantA := allocation("a1", reservation("res1", "round1", "h1"), "p1", 2)
	check := func(what string) {
		t.Helper()
		gr, err := s.Round(ctx, "round1")
		must(t, err, "Round")
		same(t, "round "+what, normRound(gr), normRound(round("round1", hub.RoundOpen)))
		gp, err := s.Partner(ctx, "pt1")
		must(t, err, "Partner")
		same(t, "partner "+what, normPartner(gp), normPartner(partner("pt1")))
		shs, err := s.Shortages(ctx, hub.ShortageFilter{})
		must(t, err, "Shortages")
		same(t, "shortage "+what, normAll(shs, normShortage), []hub.Shortage{normShortage(shortage("sh1", "r1", hub.MaskAdult))})
		same(t, "allocation "+what, normAllocation(getAllocation(t, s, "a1")), normAllocation(wantA))
		same(t, "reservation status "+what, getReservation(t, s, "res1").Status, hub.ReservationAllocated)
	}
	check("after its input changed")

	// Records the store returns are the caller's to change.
	gr, err := s.Round(ctx, "round1")
	must(t, err, "Round")
	gr.Name, gr.Fulfilments[0], gr.Quotas["c1"], gr.Eligibility.DistrictIDs[0] = "changed", hub.Delivery, 1, "x"
	gr.HealthRules[0].Fulfilments[0], gr.HealthRules[2].Colour = hub.Delivery, hub.Yellow
	rs, err := s.Rounds(ctx, "")
	must(t, err, "Rounds")
	rs[0].Quotas["c1"], rs[0].Fulfilments[0], rs[0].HealthRules[1].Fulfilments[0] = 2, hub.Delivery, hub.Pickup
	gp, err := s.Partner(ctx, "pt1")
	must(t, err, "Partner")
	gp.Cells[0] = 1
	ps, err := s.Partners(ctx)
	must(t, err, "Partners")
	ps[0].Cells[0] = 1
	shs, err := s.Shortages(ctx, hub.ShortageFilter{})
	must(t, err, "Shortages")
	shs[0].Quantity = 99
	ga := getAllocation(t, s, "a1")
	ga.Quantity = 99
	ga, err = s.AllocationByCode(ctx, "code-a1")
	must(t, err, "AllocationByCode")
	ga.Quantity = 99
	as, err := s.Allocations(ctx, hub.AllocationFilter{})
	must(t, err, "Allocations")
	as[0].Quantity = 99
	as, err = s.ExpiringAllocations(ctx, at(1000), 0)
	must(t, err, "ExpiringAllocations")
	as[0].Quantity = 99
	getReservation(t, s, "res1").Status = hub.ReservationLost
	check("after returned copies changed")
}

// testDispatchConservation runs a seeded random sequence of allocations,
// redemptions, deliveries, expiries, cancellations and restocks, then
// checks for each pharmacy and SKU that initial + restocks = on hand +
// held + handed out, and that the ledger says the same.
func testDispatchConservation(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	initial := map[string]map[hub.SKU]int{
		"p1": {hub.MaskAdult: 30, hub.MaskN95: 10},
		"p2": {hub.MaskAdult: 5},
	}
	pharmacyIDs := []string{"p1", "p2"}
	skus := []hub.SKU{hub.MaskAdult, hub.MaskN95}
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", initial["p1"]), pharmacy("p2", initial["p2"])), "UpsertPharmacies")
	for _, sku := range skus {
		r := round("round-"+string(sku), hub.RoundOpen)
		r.SKU = sku
		must(t, s.UpsertRound(ctx, r), "UpsertRound")
	}

	restocks := map[string]map[hub.SKU]int{"p1": {}, "p2": {}}
	stock := map[string]map[hub.SKU]int{"p1": maps.Clone(initial["p1"]), "p2": maps.Clone(initial["p2"])}
	// stepped checks the Step a write set: the stock right after
	// its step, as the model counts it.
	stepped := func(what string, a *hub.Allocation, delta int) {
		t.Helper()
		stock[a.PharmacyID][a.SKU] += delta
		same(t, what+" "+a.ID+": stock after", stepAfter(a), stock[a.PharmacyID][a.SKU])
	}
	model := make(map[string]*hub.Allocation) // what the test expects, by ID
	var live []string                         // IDs of allocations not yet final
	counts := make(map[string]int)            // outcomes, to prove the test exercised each
	rng := rand.New(rand.NewPCG(5, 6))
	n := 0
	next := func(prefix string) string { n++; return fmt.Sprintf("%s%04d", prefix, n) }
	newAllocation := func(i int) *hub.Allocation {
		sku := skus[rng.IntN(len(skus))]
		id := next("a")
		var a *hub.Allocation
		if rng.IntN(5) == 0 {
			sh := shortage(next("sh"), next("r"), sku)
			must(t, s.CreateShortage(ctx, sh), "CreateShortage")
			a = serving(id, sh, "")
			a.Quantity = 1 + rng.IntN(4)
		} else {
			r := reservation(next("res"), "round-"+string(sku), next("h"))
			_, err := s.CreateReservation(ctx, r)
			must(t, err, "CreateReservation")
			a = allocation(id, r, "", 1+rng.IntN(4))
			a.SKU = sku
			if rng.IntN(3) == 0 {
				a = delivery(id, r, "", a.Quantity)
				a.SKU = sku
			}
		}
		a.PharmacyID = pharmacyIDs[rng.IntN(len(pharmacyIDs))]
		a.CreatedAt, a.UpdatedAt = at(i), at(i)
		return a
	}

	for i := range 400 {
		switch op := rng.IntN(10); {
		case op < 4: // allocate a batch of one to three
			batch := make([]*hub.Allocation, 1+rng.IntN(3))
			for j := range batch {
				batch[j] = newAllocation(i)
			}
			err := s.Allocate(ctx, batch...)
			if hub.ErrorCode(err) == hub.EOUTOFSTOCK {
				counts["refused"]++
				continue
			}
			must(t, err, "Allocate")
			counts["allocated"] += len(batch)
			for _, a := range batch {
				stepped("Allocate", a, -a.Quantity)
				model[a.ID] = a
				live = append(live, a.ID)
			}
		case op < 8: // move a live allocation on
			if len(live) == 0 {
				continue
			}
			k := rng.IntN(len(live))
			a := model[live[k]]
			var to hub.AllocationStatus
			switch c := rng.IntN(3); {
			case a.Status == hub.AllocationReserved && c == 0:
				to = hub.AllocationRedeemed
			case a.Status == hub.AllocationReserved && c == 1:
				to = hub.AllocationExpired
			case a.Status == hub.AllocationReserved:
				to = []hub.AllocationStatus{hub.AllocationCancelled, hub.AllocationDelivering}[rng.IntN(2)]
			case c == 0:
				to = hub.AllocationFailed
			default:
				to = hub.AllocationDelivered
			}
			got, err := s.TransitionAllocation(ctx, a.ID, []hub.AllocationStatus{a.Status}, to, at(i))
			must(t, err, fmt.Sprintf("TransitionAllocation %s %s -> %s", a.ID, a.Status, to))
			a.Status, a.UpdatedAt = to, at(i)
			same(t, "TransitionAllocation returned", normAllocation(got), normAllocation(a))
			if to.Returns() {
				stepped("TransitionAllocation", got, got.Quantity)
			}
			counts[string(to)]++
			if to.Final() {
				live = slices.Delete(live, k, k+1)
			}
		case op < 9: // restock
			id, sku, delta := pharmacyIDs[rng.IntN(2)], skus[rng.IntN(2)], 1+rng.IntN(6)
			_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: id, SKU: sku, Delta: delta, Reason: "RESTOCK", At: at(i)})
			must(t, err, "AdjustStock")
			restocks[id][sku] += delta
			stock[id][sku] += delta
			counts["restocked"]++
		default: // a move of a final allocation is refused
			for _, a := range model {
				if a.Status.Final() {
					_, err := s.TransitionAllocation(ctx, a.ID, []hub.AllocationStatus{a.Status}, hub.AllocationCancelled, at(i))
					wantCode(t, err, hub.ECONFLICT, "TransitionAllocation of a final allocation")
					counts["refused moves"]++
					break
				}
			}
		}
	}
	for _, k := range []string{"refused", "allocated", "restocked", "refused moves",
		string(hub.AllocationRedeemed), string(hub.AllocationExpired), string(hub.AllocationCancelled),
		string(hub.AllocationDelivering), string(hub.AllocationDelivered), string(hub.AllocationFailed)} {
		if counts[k] == 0 {
			t.Fatalf("the sequence never did %q (%v); the test exercises too little", k, counts)
		}
	}
	t.Logf("outcomes: %v", counts)

	check := func(s hub.Store, what string) {
		t.Helper()
		for _, id := range pharmacyIDs {
			p, err := s.Pharmacy(ctx, id)
			must(t, err, "Pharmacy")
			held, out, given, returned := map[hub.SKU]int{}, map[hub.SKU]int{}, map[hub.SKU]int{}, map[hub.SKU]int{}
			stored, err := s.Allocations(ctx, hub.AllocationFilter{PharmacyID: id})
			must(t, err, "Allocations")
			var want []hub.Allocation
			for _, a := range stored {
				switch a.Status {
				case hub.AllocationReserved, hub.AllocationDelivering:
					held[a.SKU] += a.Quantity
				case hub.AllocationRedeemed, hub.AllocationDelivered:
					out[a.SKU] += a.Quantity
				default:
					returned[a.SKU] += a.Quantity
				}
				given[a.SKU] += a.Quantity
				m, ok := model[a.ID]
				if !ok {
					t.Errorf("%s: the store holds allocation %s (%s, %d %s) that was never made", what, a.ID, a.Status, a.Quantity, a.SKU)
					continue
				}
				want = append(want, normAllocation(m))
			}
			same(t, what+": allocations of "+id, normAll(stored, normAllocation), want)
			for _, sku := range skus {
				if l, r := initial[id][sku]+restocks[id][sku], p.Stock[sku]+held[sku]+out[sku]; l != r {
					t.Fatalf("%s: %s %s: initial %d + restocks %d = %d, but on hand %d + held %d + handed out %d = %d",
						what, id, sku, initial[id][sku], restocks[id][sku], l, p.Stock[sku], held[sku], out[sku], r)
				}
			}
			sum, byReason := map[hub.SKU]int{}, map[string]map[hub.SKU]int{}
			for i, e := range ledger(t, s, id) {
				sum[e.SKU] += e.Delta
				if e.After != sum[e.SKU] || e.After < 0 {
					t.Fatalf("%s: %s entry %d %+v: After is not the running sum %d", what, id, i, e, sum[e.SKU])
				}
				if byReason[e.Reason] == nil {
					byReason[e.Reason] = map[hub.SKU]int{}
				}
				byReason[e.Reason][e.SKU] += e.Delta
			}
			same(t, what+": "+id+": ledger sum", normStock(sum), normStock(p.Stock))
			same(t, what+": "+id+": INITIAL", normStock(byReason[reasonInitial]), normStock(initial[id]))
			same(t, what+": "+id+": RESTOCK", normStock(byReason["RESTOCK"]), normStock(restocks[id]))
			for sku, n := range given {
				given[sku] = -n
			}
			same(t, what+": "+id+": ALLOCATE", normStock(byReason["ALLOCATE"]), normStock(given))
			same(t, what+": "+id+": RETURN", normStock(byReason["RETURN"]), normStock(returned))
		}
		var wantExpiring []string
		for _, a := range model {
			if a.Status == hub.AllocationReserved && a.ExpiresAt.Before(at(1000)) {
				wantExpiring = append(wantExpiring, a.ID) // every expiry is at(120)
			}
		}
		slices.Sort(wantExpiring)
		as, err := s.ExpiringAllocations(ctx, at(1000), 0)
		must(t, err, "ExpiringAllocations")
		same(t, what+": expiring allocations", ids(as, allocationID), wantExpiring)
	}
	check(s, "after the sequence")
	check(h.Reopen(t, s), "after reopen")
}

func testConcurrentAllocate(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 60})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, roomy(round("round1", hub.RoundOpen))), "UpsertRound")
	const takers = 100
	res := make([]*hub.Reservation, takers)
	for i := range res {
		res[i] = reservation(fmt.Sprintf("res%03d", i), "round1", fmt.Sprintf("h%03d", i))
		_, err := s.CreateReservation(ctx, res[i])
		must(t, err, "CreateReservation")
	}

	errs := make([]error, takers)
	var wg sync.WaitGroup
	for i := range takers {
		wg.Go(func() {
			errs[i] = s.Allocate(ctx, allocation(fmt.Sprintf("a%03d", i), res[i], "p1", 1))
		})
	}
	wg.Wait()
	codes := make(map[string]int)
	var won []string
	for i, err := range errs {
		codes[hub.ErrorCode(err)]++
		if err == nil {
			won = append(won, res[i].ID)
		}
	}
	same(t, "outcomes of 100 allocations from 60", codes, map[string]int{"": 60, hub.EOUTOFSTOCK: 40})

	check := func(s hub.Store, what string) {
		t.Helper()
		same(t, what+": stock", stockOf(t, s, "p1", hub.MaskAdult), 0)
		es := ledger(t, s, "p1")
		if len(es) != 61 {
			t.Fatalf("%s: ledger has %d entries, want 61", what, len(es))
		}
		for i, e := range es[1:] {
			if e.Delta != -1 || e.After != 59-i || e.Reason != "ALLOCATE" {
				t.Fatalf("%s: entry %d: %+v, want ALLOCATE -1 leaving %d", what, i+1, e, 59-i)
			}
		}
		same(t, what+": ALLOCATED reservations", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationAllocated, Limit: 7}), won)
		same(t, what+": PENDING reservations", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationPending})), 40)
		same(t, what+": allocations", len(allocationIDs(t, s, hub.AllocationFilter{PharmacyID: "p1", Status: hub.AllocationReserved})), 60)
	}
	check(s, "after the race")
	s = h.Reopen(t, s)
	check(s, "after reopen")
	_, err := s.AdjustStock(ctx, hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: 1, Reason: "RESTOCK", At: at(50)})
	must(t, err, "AdjustStock after reopen")
	for i, err := range errs {
		if err != nil {
			must(t, s.Allocate(ctx, allocation(fmt.Sprintf("a%03d", i), res[i], "p1", 1)), "Allocate after a restock")
			break
		}
	}
	same(t, "stock after a restock and an allocation", stockOf(t, s, "p1", hub.MaskAdult), 0)
}

func testConcurrentReservations(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")

	// Fifty reservations of one ID number: exactly one wins, and every
	// loser is told which.
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.CreateReservation(ctx, reservation(fmt.Sprintf("res%02d", i), "round1", "h-same"))
		})
	}
	wg.Wait()
	var winner string
	codes := make(map[string]int)
	for i, err := range errs {
		codes[hub.ErrorCode(err)]++
		if err == nil {
			winner = fmt.Sprintf("res%02d", i)
		}
	}
	same(t, "outcomes of 50 reservations of one ID number", codes, map[string]int{"": 1, hub.ECONFLICT: n - 1})
	for _, err := range errs {
		if err != nil && !strings.Contains(hub.ErrorMessage(err), `"`+winner+`"`) {
			t.Fatalf("conflict %q does not name the winner %s", hub.ErrorMessage(err), winner)
		}
	}

	// Twenty retries of one request: one reservation, the same for all.
	got := make([]*hub.Reservation, 20)
	for i := range got {
		wg.Go(func() {
			r := reservation(fmt.Sprintf("res-k%02d", i), "round1", fmt.Sprintf("h-k%02d", i))
			r.IdempotencyKey = "one-request"
			var err error
			got[i], err = s.CreateReservation(ctx, r)
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range got {
		must(t, errs[i], "CreateReservation with the shared key")
		same(t, "reservation returned to a retry", normReservation(got[i]), normReservation(got[0]))
	}

	check := func(s hub.Store, what string) {
		t.Helper()
		same(t, what+": reservations", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1"}), []string{got[0].ID, winner})
		_, err := s.CreateReservation(ctx, reservation("res-late", "round1", "h-same"))
		wantCode(t, err, hub.ECONFLICT, what+": CreateReservation of the taken ID number")
		r := reservation("res-late", "round1", "h-late")
		r.IdempotencyKey = "one-request"
		again, err := s.CreateReservation(ctx, r)
		must(t, err, what+": CreateReservation retried")
		same(t, what+": reservation returned to a late retry", normReservation(again), normReservation(got[0]))
	}
	check(s, "after the race")
	check(h.Reopen(t, s), "after reopen")
}

func testConcurrentRedeem(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	r := reservation("res1", "round1", "h1")
	_, err := s.CreateReservation(ctx, r)
	must(t, err, "CreateReservation")
	must(t, s.Allocate(ctx, allocation("a1", r, "p1", 5)), "Allocate")

	// Twenty scans of one pickup code, some trying to expire it: exactly one
	// move happens.
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := s.AllocationByCode(ctx, "code-a1")
			if err != nil {
				errs[i] = err
				return
			}
			to := hub.AllocationRedeemed
			if i%5 == 4 {
				to = hub.AllocationExpired
			}
			_, errs[i] = s.TransitionAllocation(ctx, a.ID, []hub.AllocationStatus{hub.AllocationReserved}, to, at(30+i))
		})
	}
	wg.Wait()
	codes := make(map[string]int)
	winner := -1
	for i, err := range errs {
		codes[hub.ErrorCode(err)]++
		if err == nil {
			winner = i
		}
	}
	same(t, "outcomes of 20 redemptions of one code", codes, map[string]int{"": 1, hub.ECONFLICT: n - 1})
	want, stock := hub.AllocationRedeemed, 5
	if winner%5 == 4 {
		want, stock = hub.AllocationExpired, 10
	}

	check := func(s hub.Store, what string) {
		t.Helper()
		a, err := s.AllocationByCode(ctx, "code-a1")
		must(t, err, what+": AllocationByCode")
		if a.Status != want || !ms(a.UpdatedAt).Equal(ms(at(30+winner))) {
			t.Fatalf("%s: allocation %+v, want %s at %v", what, a, want, at(30+winner))
		}
		same(t, what+": stock", stockOf(t, s, "p1", hub.MaskAdult), stock)
		_, err = s.TransitionAllocation(ctx, "a1", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(99))
		wantCode(t, err, hub.ECONFLICT, what+": another redemption")
	}
	check(s, "after the race")
	check(h.Reopen(t, s), "after reopen")
}

// testDispatchReopen writes every kind of dispatch record, reopens the
// store and reads them all back, through every index.
func testDispatchReopen(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 50})), "UpsertPharmacies")
	rounds := []*hub.Round{round("round1", hub.RoundOpen), round("round2", hub.RoundDrawn)}
	for _, r := range rounds {
		must(t, s.UpsertRound(ctx, r), "UpsertRound")
	}
	partners := []*hub.Partner{partner("pt1"), partner("pt2")}
	must(t, s.UpsertPartners(ctx, partners...), "UpsertPartners")
	var res []*hub.Reservation
	for i := range 6 {
		r := reservation(fmt.Sprintf("res%d", i), "round1", fmt.Sprintf("h%d", i))
		r.IdempotencyKey = fmt.Sprintf("key%d", i)
		_, err := s.CreateReservation(ctx, r)
		must(t, err, "CreateReservation")
		res = append(res, r)
	}
	shs := []*hub.Shortage{shortage("sh1", "r1", hub.MaskAdult), shortage("sh2", "r2", hub.MaskAdult)}
	for _, sh := range shs {
		must(t, s.CreateShortage(ctx, sh), "CreateShortage")
	}
	must(t, s.Allocate(ctx, allocation("a0", res[0], "p1", 2), delivery("a1", res[1], "p1", 3), serving("a-sh1", shs[0], "p1")),
		"Allocate")
	must(t, s.SetReservationStatus(ctx, hub.ReservationLost, []hub.ReservationStatus{hub.ReservationPending}, "res2", "res3"),
		"SetReservationStatus")
	_, err := s.TransitionAllocation(ctx, "a0", []hub.AllocationStatus{hub.AllocationReserved}, hub.AllocationRedeemed, at(30))
	must(t, err, "TransitionAllocation")
	must(t, s.Allocate(ctx, allocation("a4", res[4], "p1", 1)), "Allocate a4")

	before := dispatchSnapshot(t, s, "round1", "round2")
	rBefore, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1"})
	must(t, err, "Reservations")

	s = h.Reopen(t, s)

	same(t, "dispatch state after reopen", dispatchSnapshot(t, s, "round1", "round2"), before)
	rAfter, err := s.Reservations(ctx, hub.ReservationFilter{RoundID: "round1"})
	must(t, err, "Reservations after reopen")
	same(t, "reservations after reopen", normAll(rAfter, normReservation), normAll(rBefore, normReservation))
	gr, err := s.Rounds(ctx, hub.RoundDrawn)
	must(t, err, "Rounds after reopen")
	same(t, "DRAWN rounds after reopen", normAll(gr, normRound), []hub.Round{normRound(rounds[1])})
	gp, err := s.Partners(ctx)
	must(t, err, "Partners after reopen")
	same(t, "partners after reopen", normAll(gp, normPartner), normAll(partners, normPartner))
	same(t, "LOST reservations after reopen", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationLost}),
		[]string{"res2", "res3"})
	same(t, "allocations by partner after reopen", allocationIDs(t, s, hub.AllocationFilter{PartnerID: "pt1"}), []string{"a1"})
	same(t, "allocations by round after reopen", allocationIDs(t, s, hub.AllocationFilter{RoundID: "round1", Status: hub.AllocationRedeemed}),
		[]string{"a0"})
	a, err := s.AllocationByCode(ctx, "code-a4")
	must(t, err, "AllocationByCode after reopen")
	same(t, "AllocationByCode after reopen", a.ID, "a4")
	as, err := s.ExpiringAllocations(ctx, at(1000), 0)
	must(t, err, "ExpiringAllocations after reopen")
	same(t, "expiring after reopen", ids(as, allocationID), []string{"a-sh1", "a4"})
	same(t, "WAITING shortages after reopen", shortageIDs(t, s, hub.ShortageFilter{Status: hub.ShortageWaiting}), []string{"sh2"})

	// The reopened store goes on enforcing its unique keys.
	_, err = s.CreateReservation(ctx, reservation("res9", "round1", "h5"))
	wantCode(t, err, hub.ECONFLICT, "CreateReservation of a reserved ID hash after reopen")
	r := reservation("res9", "round1", "h9")
	r.IdempotencyKey = "key5"
	got, err := s.CreateReservation(ctx, r)
	must(t, err, "CreateReservation retried after reopen")
	same(t, "retry after reopen", got.ID, "res5")
	wantCode(t, s.CreateShortage(ctx, shortage("sh9", "r2", hub.MaskAdult)), hub.ECONFLICT, "CreateShortage of a waiting resident after reopen")
	must(t, s.CreateShortage(ctx, shortage("sh9", "r1", hub.MaskAdult)), "CreateShortage of a served resident after reopen")
	a5 := allocation("a5", res[5], "p1", 1)
	a5.CodeHash = "code-a4"
	wantCode(t, s.Allocate(ctx, a5), hub.ECONFLICT, "Allocate with a used code after reopen")
	_, err = s.TransitionAllocation(ctx, "a1", []hub.AllocationStatus{hub.AllocationDelivering}, hub.AllocationFailed, at(40))
	must(t, err, "TransitionAllocation after reopen")
	same(t, "stock after reopen and a failed delivery", stockOf(t, s, "p1", hub.MaskAdult), 50-2-3-2-1+3)
}

func testReserveAllocated(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	must(t, s.UpsertPharmacies(ctx,
		pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: 10}),
		pharmacy("p2", map[hub.SKU]int{hub.MaskAdult: 2})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, round("round1", hub.RoundOpen)), "UpsertRound")
	must(t, s.UpsertRound(ctx, round("round2", hub.RoundOpen)), "UpsertRound")

	// One write: the reservation ALLOCATED, its allocation, the stock
	// and its ledger entry, as CreateReservation then Allocate leave them.
	r0 := reservation("res0", "round1", "h0")
	r0.IdempotencyKey = "key0"
	a0 := allocation("a0", r0, "p1", 3)
	got, err := s.ReserveAllocated(ctx, r0, a0)
	must(t, err, "ReserveAllocated")
	want := *r0
	want.Status, want.AllocationID, want.UpdatedAt = hub.ReservationAllocated, a0.ID, a0.CreatedAt
	same(t, "reservation returned", normReservation(got), normReservation(&want))
	same(t, "reservation stored", normReservation(getReservation(t, s, r0.ID)), normReservation(&want))
	same(t, "allocation stored", normAllocation(getAllocation(t, s, a0.ID)), normAllocation(a0))
	same(t, "stock of p1", stockOf(t, s, "p1", hub.MaskAdult), 7)
	same(t, "stock after a0", stepAfter(a0), 7)
	es := ledger(t, s, "p1")
	last := es[len(es)-1]
	last.Seq = 0
	same(t, "ledger entry", normEntry(last), normEntry(hub.StockEntry{After: 7, StockChange: hub.StockChange{
		PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -3, Reason: "ALLOCATE", At: at(10)}}))
	same(t, "ALLOCATED reservations", reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationAllocated}), []string{"res0"})
	same(t, "PENDING reservations", len(reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1", Status: hub.ReservationPending})), 0)
	same(t, "allocations of round1", allocationIDs(t, s, hub.AllocationFilter{RoundID: "round1"}), []string{"a0"})
	same(t, "allocations of p1, RESERVED", allocationIDs(t, s, hub.AllocationFilter{PharmacyID: "p1", Status: hub.AllocationReserved}), []string{"a0"})
	byCode, err := s.AllocationByCode(ctx, a0.CodeHash)
	must(t, err, "AllocationByCode")
	same(t, "allocation by code", byCode.ID, a0.ID)
	exp, err := s.ExpiringAllocations(ctx, at(121), 0)
	must(t, err, "ExpiringAllocations")
	same(t, "expiring allocations", len(exp), 1)

	// A delivery, from a WAITING reservation.
	rd := reservation("res-d", "round1", "h-d")
	rd.Status = hub.ReservationWaiting
	ad := delivery("a-d", rd, "p1", 1)
	got, err = s.ReserveAllocated(ctx, rd, ad)
	must(t, err, "ReserveAllocated of a delivery")
	same(t, "delivery's reservation status", got.Status, hub.ReservationAllocated)
	same(t, "allocations of pt1", allocationIDs(t, s, hub.AllocationFilter{PartnerID: "pt1"}), []string{"a-d"})
	same(t, "stock of p1 after the delivery", stockOf(t, s, "p1", hub.MaskAdult), 6)
	same(t, "stock after the delivery", stepAfter(ad), 6)

	// The replay of an idempotency key writes nothing, the allocation
	// included, and returns the stored reservation.
	before := dispatchSnapshot(t, s, "round1", "round2")
	retry := reservation("res-retry", "round1", "h-retry")
	retry.IdempotencyKey = "key0"
	got, err = s.ReserveAllocated(ctx, retry, allocation("a-retry", retry, "p1", 1))
	must(t, err, "ReserveAllocated replayed")
	same(t, "replayed reservation", normReservation(got), normReservation(&want))
	same(t, "store after the replay", dispatchSnapshot(t, s, "round1", "round2"), before)

	// Every refusal writes nothing: neither the reservation nor the
	// allocation nor the stock.
	tests := []struct {
		name string
		give func() (*hub.Reservation, *hub.Allocation)
		code string
	}{
		{"out of stock", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			return r, allocation("a-x", r, "p2", 3)
		}, hub.EOUTOFSTOCK},
		{"a second reservation of the ID number", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h0")
			return r, allocation("a-x", r, "p1", 1)
		}, hub.ECONFLICT},
		{"a reservation ID taken", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res0", "round1", "h-x")
			return r, allocation("a-x", r, "p1", 1)
		}, hub.ECONFLICT},
		{"an allocation ID taken", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			a := allocation("a-x", r, "p1", 1)
			a.ID = "a0"
			return r, a
		}, hub.ECONFLICT},
		{"a pickup code taken", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			a := allocation("a-x", r, "p1", 1)
			a.CodeHash = a0.CodeHash
			return r, a
		}, hub.ECONFLICT},
		{"an unknown round", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round-none", "h-x")
			return r, allocation("a-x", r, "p1", 1)
		}, hub.ENOTFOUND},
		{"an unknown pharmacy", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			return r, allocation("a-x", r, "p-none", 1)
		}, hub.ENOTFOUND},
		{"an allocation serving another reservation", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			return r, allocation("a-x", reservation("res-y", "round1", "h-y"), "p1", 1)
		}, hub.EINVALID},
		{"an allocation of another round", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			a := allocation("a-x", r, "p1", 1)
			a.RoundID = "round2"
			return r, a
		}, hub.EINVALID},
		{"an allocation serving a shortage", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			a := allocation("a-x", r, "p1", 1)
			a.ShortageID = "sh1"
			return r, a
		}, hub.EINVALID},
		{"a reservation already ALLOCATED", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			a := allocation("a-x", r, "p1", 1)
			r.Status, r.AllocationID = hub.ReservationAllocated, a.ID
			return r, a
		}, hub.EINVALID},
		{"a CANCELLED reservation", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			r.Status = hub.ReservationCancelled
			return r, allocation("a-x", r, "p1", 1)
		}, hub.EINVALID},
		{"a quantity of zero", func() (*hub.Reservation, *hub.Allocation) {
			r := reservation("res-x", "round1", "h-x")
			return r, allocation("a-x", r, "p1", 0)
		}, hub.EINVALID},
		{"no allocation", func() (*hub.Reservation, *hub.Allocation) {
			return reservation("res-x", "round1", "h-x"), nil
		}, hub.EINVALID},
		{"no reservation", func() (*hub.Reservation, *hub.Allocation) {
			return nil, allocation("a-x", reservation("res-x", "round1", "h-x"), "p1", 1)
		}, hub.EINVALID},
	}
	for _, tt := range tests {
		r, a := tt.give()
		_, err := s.ReserveAllocated(ctx, r, a)
		wantCode(t, err, tt.code, "ReserveAllocated with "+tt.name)
		same(t, "store after ReserveAllocated with "+tt.name, dispatchSnapshot(t, s, "round1", "round2"), before)
	}

	// The ID number may reserve in another round.
	r2 := reservation("res-r2", "round2", "h0")
	_, err = s.ReserveAllocated(ctx, r2, allocation("a-r2", r2, "p2", 2))
	must(t, err, "ReserveAllocated in round2")
	same(t, "stock of p2", stockOf(t, s, "p2", hub.MaskAdult), 0)

	// Durable.
	s = h.Reopen(t, s)
	same(t, "reservation after reopen", normReservation(getReservation(t, s, r0.ID)), normReservation(&want))
	same(t, "allocation after reopen", normAllocation(getAllocation(t, s, a0.ID)), normAllocation(a0))
	same(t, "stock of p1 after reopen", stockOf(t, s, "p1", hub.MaskAdult), 6)
}

func testConcurrentReserveAllocated(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	const stock, n = 30, 60
	must(t, s.UpsertPharmacies(ctx, pharmacy("p1", map[hub.SKU]int{hub.MaskAdult: stock})), "UpsertPharmacies")
	must(t, s.UpsertRound(ctx, roomy(round("round1", hub.RoundOpen))), "UpsertRound")

	// Sixty people, stock for thirty, and every fourth person sends the
	// request twice (the same key): no stock goes below zero, no person
	// holds two reservations, and every refused write left nothing.
	type outcome struct {
		r   *hub.Reservation
		err error
	}
	outs := make([]outcome, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		person := i % n
		if i >= n && person%4 != 0 {
			continue
		}
		wg.Go(func() {
			r := reservation(fmt.Sprintf("res%03d", i), "round1", fmt.Sprintf("h%02d", person))
			r.IdempotencyKey = fmt.Sprintf("key%02d", person)
			got, err := s.ReserveAllocated(ctx, r, allocation(fmt.Sprintf("a%03d", i), r, "p1", 1))
			outs[i] = outcome{got, err}
		})
	}
	wg.Wait()
	made := map[string]bool{}
	for i, o := range outs {
		switch {
		case i >= n && (i%n)%4 != 0:
		case o.err == nil:
			made[o.r.ID] = true
		case hub.ErrorCode(o.err) != hub.EOUTOFSTOCK:
			t.Fatalf("request %d: %v, want success, a replay or EOUTOFSTOCK", i, o.err)
		}
	}
	same(t, "reservations made", len(made), stock)
	same(t, "stock left", stockOf(t, s, "p1", hub.MaskAdult), 0)
	ids := reservationIDs(t, s, hub.ReservationFilter{RoundID: "round1"})
	same(t, "reservations stored", len(ids), stock)
	for _, id := range ids {
		if !made[id] {
			t.Fatalf("reservation %s is stored, and no caller was told so", id)
		}
		r := getReservation(t, s, id)
		if r.Status != hub.ReservationAllocated {
			t.Fatalf("reservation %s is %s, want ALLOCATED", id, r.Status)
		}
		a := getAllocation(t, s, r.AllocationID)
		if a.ReservationID != id {
			t.Fatalf("allocation %s serves %s, want %s", a.ID, a.ReservationID, id)
		}
	}
	same(t, "allocations stored", len(allAllocations(t, s)), stock)
}

// stepAfter is the stock right after the step a's write reported, or -1
// when it reported none.
func stepAfter(a *hub.Allocation) int {
	if a.Step == nil {
		return -1
	}
	return a.Step.After
}
