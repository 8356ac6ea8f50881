package dispatch_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// statusOf returns the status of each of a round's reservations, by
// resident.
func (c *city) statusOf(roundID string) map[string]hub.ReservationStatus {
	c.t.Helper()
	rs, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: roundID})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]hub.ReservationStatus{}
	for _, r := range rs {
		out[r.ResidentID] = r.Status
	}
	return out
}

// TestReturnedStockServesWaitingList: every way stock comes back to a
// pharmacy (a cancellation, an expiry by the sweep, an expiry found at
// the counter, a failed delivery, a freed pickup slot, a committee's
// quota given back) serves the waiting list first, earliest first, and
// only then is it open to new reservations: a newcomer right after the
// return waits behind those still waiting.
func TestReturnedStockServesWaitingList(t *testing.T) {
	type setup struct {
		c       *city
		holders []*dispatch.ReserveResult // allocated before the waiting list
		round   string
	}
	// give returns n holders' allocations to the pharmacy.
	tests := []struct {
		name string
		// round opens the round; the pharmacy P1 has stock for 3
		// people unless the round limits them otherwise.
		round   dispatch.RoundInput
		stock   int
		holders int
		// fulfilment of the holders.
		fulfilment hub.Fulfilment
		give       func(t *testing.T, s setup, n int)
	}{
		{"cancellation", dispatch.RoundInput{}, 6, 3, hub.Pickup, func(t *testing.T, s setup, n int) {
			for _, h := range s.holders[:n] {
				if _, err := s.c.eng.CancelReservation(s.c.ctx(), h.Reservation.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"expiry", dispatch.RoundInput{PickupWindow: time.Hour}, 6, 3, hub.Pickup, func(t *testing.T, s setup, n int) {
			// Holders after the first n reserve later, so only n expire.
			s.c.clock.Advance(59*time.Minute + 30*time.Second)
			if got, err := s.c.eng.ExpireDue(s.c.ctx()); err != nil || got != n {
				t.Fatalf("ExpireDue: %d, %v; want %d", got, err, n)
			}
		}},
		{"expiry at the counter", dispatch.RoundInput{PickupWindow: time.Hour}, 6, 3, hub.Pickup, func(t *testing.T, s setup, n int) {
			s.c.clock.Advance(59*time.Minute + 30*time.Second)
			for _, h := range s.holders[:n] {
				_, err := s.c.eng.Redeem(s.c.ctx(), "P1", s.c.eng.PickupCode(h.Allocation).String())
				wantCode(t, err, hub.ECONFLICT, "expired")
			}
		}},
		{"failed delivery", dispatch.RoundInput{Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}}, 6, 3, hub.Delivery, func(t *testing.T, s setup, n int) {
			for _, h := range s.holders[:n] {
				if _, err := s.c.eng.MarkDelivery(s.c.ctx(), "courier", h.Allocation.ID, false); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"freed slot", dispatch.RoundInput{PickupWindow: 30 * time.Minute, SlotMinutes: 60, SlotCapacity: 3}, 100, 3, hub.Pickup, func(t *testing.T, s setup, n int) {
			for _, h := range s.holders[:n] {
				if _, err := s.c.eng.CancelReservation(s.c.ctx(), h.Reservation.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"quota given back", dispatch.RoundInput{Mode: hub.ByCommittee, Quotas: map[string]int{"c1": 6}}, 100, 3, hub.Pickup, func(t *testing.T, s setup, n int) {
			for _, h := range s.holders[:n] {
				if _, err := s.c.eng.CancelReservation(s.c.ctx(), h.Reservation.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/%d back", tt.name, n), func(t *testing.T) {
				c := newCity(t, dispatch.EngineOptions{})
				c.areas()
				home := c.rs[0][0]
				c.pharmacy("P1", home, tt.stock)
				if _, err := c.eng.UpsertPartner(c.ctx(), "courier", "Courier", []hub.Cell{home}); err != nil {
					t.Fatal(err)
				}
				in := tt.round
				in.ID = "r"
				c.round(in)
				s := setup{c: c, round: "r"}
				for i := range tt.holders {
					res := c.resident(fmt.Sprintf("h%d", i), home, "c1", "d1")
					out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "r", Resident: res, Fulfilment: tt.fulfilment})
					if err != nil || out.Allocation == nil {
						t.Fatalf("holder %d: %+v, %v", i, out, err)
					}
					s.holders = append(s.holders, out)
					if i == n-1 {
						c.clock.Advance(time.Minute) // the rest expire later
					}
				}
				// Five wait, in this order.
				for i := range 5 {
					if out := c.reserve("r", c.resident(fmt.Sprintf("w%d", i), home, "c1", "d1")); out.Reservation.Status != hub.ReservationWaiting {
						t.Fatalf("w%d: %s, want WAITING", i, out.Reservation.Status)
					}
				}
				tt.give(t, s, n)
				st := c.statusOf("r")
				for i := range 5 {
					want := hub.ReservationWaiting
					if i < n {
						want = hub.ReservationAllocated
					}
					if got := st[fmt.Sprintf("w%d", i)]; got != want {
						t.Errorf("w%d is %s after %d came back, want %s (earliest first)", i, got, n, want)
					}
				}
				late := c.reserve("r", c.resident("late", home, "c1", "d1"))
				if late.Allocation != nil {
					t.Errorf("a newcomer took %+v ahead of %d still waiting", late.Allocation, 5-n)
				}
				if err := dispatch.CheckBooks(c.eng); err != nil {
					t.Error(err)
				}
				c.conserved()
			})
		}
	}
}

// TestReturnServesShortagesFirst: returned stock serves the waiting list
// in the order a restock does: shortage registrations in reach first,
// then the rounds' WAITING reservations.
func TestReturnServesShortagesFirst(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{})
	home := c.rs[0][0]
	c.pharmacy("P1", home, 2)
	c.round(dispatch.RoundInput{ID: "r"})
	h := c.reserve("r", c.resident("h", home, "", ""))
	w := c.reserve("r", c.resident("w", home, "", ""))
	sh, err := c.eng.RegisterShortage(c.ctx(), c.resident("s", home, "", ""), hub.MaskAdult, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), h.Reservation.ID); err != nil {
		t.Fatal(err)
	}
	shs, err := c.store.Shortages(c.ctx(), hub.ShortageFilter{SKU: hub.MaskAdult})
	if err != nil {
		t.Fatal(err)
	}
	if len(shs) != 1 || shs[0].ID != sh.ID || shs[0].Status != hub.ShortageServed {
		t.Errorf("shortages %+v, want %s SERVED", shs, sh.ID)
	}
	if st := c.statusOf("r")["w"]; st != hub.ReservationWaiting {
		t.Errorf("w is %s, want WAITING behind the shortage (%s)", st, w.Reservation.ID)
	}
	c.conserved()
}

// TestReturnRacesNewReservations: holders cancel while newcomers reserve,
// all at once. Whatever the interleaving, the stock that came back went
// to the waiting list first, earliest first: with fewer returns than
// people waiting, exactly the earliest waiting are served and no
// newcomer; with more, every one waiting is served and newcomers get at
// most what is left.
func TestReturnRacesNewReservations(t *testing.T) {
	tests := []struct {
		name                       string
		holders, waiting, newcomer int
		slots                      bool
	}{
		{"fewer back than waiting", 6, 10, 12, false},
		{"more back than waiting", 10, 4, 12, false},
		{"as many back as waiting", 8, 8, 8, false},
		{"slots, fewer back than waiting", 6, 10, 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{})
			home, near := c.rs[0][0], c.rs[1][0]
			c.pharmacy("P1", home, 2*tt.holders)
			in := dispatch.RoundInput{ID: "r"}
			if tt.slots {
				// Stock to spare: the slot places are what is short.
				c.restock("P1", 100)
				in.SlotMinutes, in.SlotCapacity, in.PickupWindow = 60, tt.holders, 30*time.Minute
			}
			c.round(in)
			var holders []*dispatch.ReserveResult
			for i := range tt.holders {
				out := c.reserve("r", c.resident(fmt.Sprintf("h%02d", i), home, "", ""))
				if out.Allocation == nil {
					t.Fatalf("holder %d waits", i)
				}
				holders = append(holders, out)
			}
			for i := range tt.waiting {
				cell := home
				if i%2 == 1 {
					cell = near
				}
				if out := c.reserve("r", c.resident(fmt.Sprintf("w%02d", i), cell, "", "")); out.Allocation != nil {
					t.Fatalf("w%02d allocated", i)
				}
			}
			newcomers := make([]*hub.Resident, tt.newcomer)
			for i := range newcomers {
				cell := home
				if i%3 == 1 {
					cell = near
				}
				newcomers[i] = c.resident(fmt.Sprintf("n%02d", i), cell, "", "")
			}
			var wg sync.WaitGroup
			errs := make(chan error, tt.holders+tt.newcomer)
			for _, h := range holders {
				wg.Go(func() {
					if _, err := c.eng.CancelReservation(c.ctx(), h.Reservation.ID); err != nil {
						errs <- err
					}
				})
			}
			for _, res := range newcomers {
				wg.Go(func() {
					if _, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "r", Resident: res}); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			st := c.statusOf("r")
			served := min(tt.holders, tt.waiting)
			for i := range tt.waiting {
				want := hub.ReservationWaiting
				if i < served {
					want = hub.ReservationAllocated
				}
				if got := st[fmt.Sprintf("w%02d", i)]; got != want {
					t.Errorf("w%02d is %s, want %s", i, got, want)
				}
			}
			n := 0
			for _, res := range newcomers {
				if st[res.ID] == hub.ReservationAllocated {
					n++
				}
			}
			if max := tt.holders - served; n > max {
				t.Errorf("%d newcomers allocated, at most %d were left after the waiting list", n, max)
			}
			if err := dispatch.CheckBooks(c.eng); err != nil {
				t.Error(err)
			}
			c.conserved()
		})
	}
}

// TestHealthGateColours: in a round with the health gate, each colour of
// health code may take the fulfilments the round's rule for it allows,
// and nothing else; a reservation naming none takes the first the round
// offers that the colour may take; no current declaration is refused.
// Every colour (and none) is tried with every fulfilment (and none named)
// in rounds with the default rules (offering both fulfilments or one),
// with rules of their own (the default reversed; one colour's rule given,
// the others kept; RED refused; every colour refused, with and without a
// reason) and without the gate. A refusal moves no stock.
func TestHealthGateColours(t *testing.T) {
	colours := map[string]hub.Colour{"green": hub.Green, "yellow": hub.Yellow, "red": hub.Red, "none": ""}
	c := newCity(t, dispatch.EngineOptions{HealthColour: func(ctx context.Context, id string) (hub.Colour, error) {
		return colours[id[:len(id)-3]], nil
	}})
	home, far := c.rs[0][0], c.rs[2][0]
	c.pharmacy("P1", home, 1000)
	if _, err := c.eng.UpsertPartner(c.ctx(), "courier", "Courier", []hub.Cell{home}); err != nil {
		t.Fatal(err)
	}
	const (
		P, D    = hub.Pickup, hub.Delivery
		G, Y, R = hub.Green, hub.Yellow, hub.Red
	)
	both := []hub.Fulfilment{P, D}
	none := []hub.Fulfilment{}
	rounds := []struct {
		in   dispatch.RoundInput
		want []hub.HealthRule // GateRules of the round
	}{
		{dispatch.RoundInput{ID: "both", HealthGate: true, Fulfilments: both}, []hub.HealthRule{
			{Colour: G, Fulfilments: both}, {Colour: Y, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason},
			{Colour: R, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason}}},
		{dispatch.RoundInput{ID: "pickup", HealthGate: true, Fulfilments: []hub.Fulfilment{P}}, []hub.HealthRule{
			{Colour: G, Fulfilments: []hub.Fulfilment{P}}, {Colour: Y, Fulfilments: none, Reason: dispatch.DefaultGateReason},
			{Colour: R, Fulfilments: none, Reason: dispatch.DefaultGateReason}}},
		{dispatch.RoundInput{ID: "delivery", HealthGate: true, Fulfilments: []hub.Fulfilment{D}}, []hub.HealthRule{
			{Colour: G, Fulfilments: []hub.Fulfilment{D}}, {Colour: Y, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason},
			{Colour: R, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason}}},
		{dispatch.RoundInput{ID: "reversed", HealthGate: true, Fulfilments: both, HealthRules: []hub.HealthRule{
			{Colour: R, Fulfilments: []hub.Fulfilment{P}, Reason: "a separate counter"},
			{Colour: G, Fulfilments: []hub.Fulfilment{D}},
			{Colour: Y, Fulfilments: []hub.Fulfilment{D, P}}}}, []hub.HealthRule{
			{Colour: G, Fulfilments: []hub.Fulfilment{D}}, {Colour: Y, Fulfilments: both},
			{Colour: R, Fulfilments: []hub.Fulfilment{P}, Reason: "a separate counter"}}},
		{dispatch.RoundInput{ID: "yellow-any", HealthGate: true, Fulfilments: both, HealthRules: []hub.HealthRule{
			{Colour: Y, Fulfilments: both}}}, []hub.HealthRule{
			{Colour: G, Fulfilments: both}, {Colour: Y, Fulfilments: both},
			{Colour: R, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason}}},
		{dispatch.RoundInput{ID: "red-refused", HealthGate: true, Fulfilments: both, HealthRules: []hub.HealthRule{
			{Colour: R, Reason: "the committee brings the supply"}}}, []hub.HealthRule{
			{Colour: G, Fulfilments: both}, {Colour: Y, Fulfilments: []hub.Fulfilment{D}, Reason: dispatch.DefaultGateReason},
			{Colour: R, Fulfilments: none, Reason: "the committee brings the supply"}}},
		{dispatch.RoundInput{ID: "closed", HealthGate: true, Fulfilments: both, HealthRules: []hub.HealthRule{
			{Colour: G, Fulfilments: none}, {Colour: Y, Reason: "closed to YELLOW"}, {Colour: R, Reason: "closed to RED"}}}, []hub.HealthRule{
			{Colour: G, Fulfilments: none}, {Colour: Y, Fulfilments: none, Reason: "closed to YELLOW"},
			{Colour: R, Fulfilments: none, Reason: "closed to RED"}}},
		{dispatch.RoundInput{ID: "open", Fulfilments: both}, nil},
	}
	for _, rd := range rounds {
		r := c.round(rd.in)
		if got := dispatch.GateRules(r); !reflect.DeepEqual(got, rd.want) {
			t.Errorf("GateRules(%s) =\n %+v, want\n %+v", rd.in.ID, got, rd.want)
		}
		stored, err := c.store.Round(c.ctx(), rd.in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored.HealthRules, rd.want) {
			t.Errorf("round %s stored rules %+v, want %+v", rd.in.ID, stored.HealthRules, rd.want)
		}
	}

	// What each colour gets for "", PICKUP and DELIVERY named: the
	// fulfilment it is given (P, D), or the error code and what the
	// message says.
	const (
		F       = "FORBIDDEN:"
		I       = "INVALID:offers"
		decl    = F + "current health declaration"
		unwell  = ": " + dispatch.DefaultGateReason
		offersP = I
	)
	notP := func(c string, only string, why string) string {
		return F + "a " + c + " health code takes " + only + " only, not PICKUP" + why
	}
	notD := func(c string, only string, why string) string {
		return F + "a " + c + " health code takes " + only + " only, not DELIVERY" + why
	}
	noneOf := func(c string, offered string, why string) string {
		return F + "a " + c + " health code may take none of the round's fulfilments " + offered + why
	}
	tests := map[string]map[string][3]string{
		"both": {
			"green":  {"P", "P", "D"},
			"yellow": {"D", notP("YELLOW", "[DELIVERY]", unwell), "D"},
			"red":    {"D", notP("RED", "[DELIVERY]", unwell), "D"},
			"none":   {decl, decl, decl},
		},
		"pickup": {
			"green":  {"P", "P", offersP},
			"yellow": {noneOf("YELLOW", "[PICKUP]", unwell), noneOf("YELLOW", "[PICKUP]", unwell), offersP},
			"red":    {noneOf("RED", "[PICKUP]", unwell), noneOf("RED", "[PICKUP]", unwell), offersP},
			"none":   {decl, decl, offersP},
		},
		"delivery": {
			"green":  {"D", I, "D"},
			"yellow": {"D", I, "D"},
			"red":    {"D", I, "D"},
			"none":   {decl, I, decl},
		},
		"reversed": {
			"green":  {"D", notP("GREEN", "[DELIVERY]", ""), "D"},
			"yellow": {"P", "P", "D"},
			"red":    {"P", "P", notD("RED", "[PICKUP]", ": a separate counter")},
			"none":   {decl, decl, decl},
		},
		"yellow-any": {
			"green":  {"P", "P", "D"},
			"yellow": {"P", "P", "D"},
			"red":    {"D", notP("RED", "[DELIVERY]", unwell), "D"},
			"none":   {decl, decl, decl},
		},
		"red-refused": {
			"green":  {"P", "P", "D"},
			"yellow": {"D", notP("YELLOW", "[DELIVERY]", unwell), "D"},
			"red": {noneOf("RED", "[PICKUP DELIVERY]", ": the committee brings the supply"),
				noneOf("RED", "[PICKUP DELIVERY]", ": the committee brings the supply"),
				noneOf("RED", "[PICKUP DELIVERY]", ": the committee brings the supply")},
			"none": {decl, decl, decl},
		},
		"closed": {
			"green":  {noneOf("GREEN", "[PICKUP DELIVERY]", ""), noneOf("GREEN", "[PICKUP DELIVERY]", ""), noneOf("GREEN", "[PICKUP DELIVERY]", "")},
			"yellow": {noneOf("YELLOW", "[PICKUP DELIVERY]", ": closed to YELLOW"), noneOf("YELLOW", "[PICKUP DELIVERY]", ": closed to YELLOW"), noneOf("YELLOW", "[PICKUP DELIVERY]", ": closed to YELLOW")},
			"red":    {noneOf("RED", "[PICKUP DELIVERY]", ": closed to RED"), noneOf("RED", "[PICKUP DELIVERY]", ": closed to RED"), noneOf("RED", "[PICKUP DELIVERY]", ": closed to RED")},
			"none":   {decl, decl, decl},
		},
		// Without the gate colour does not matter.
		"open": {
			"green":  {"P", "P", "D"},
			"yellow": {"P", "P", "D"},
			"red":    {"P", "P", "D"},
			"none":   {"P", "P", "D"},
		},
	}
	if len(tests) != len(rounds) {
		t.Fatalf("%d rounds, outcomes for %d", len(rounds), len(tests))
	}
	n := 0
	for _, round := range slices.Sorted(maps.Keys(tests)) {
		for _, who := range []string{"green", "yellow", "red", "none"} {
			for i, give := range []hub.Fulfilment{"", P, D} {
				want := tests[round][who][i]
				n++
				t.Run(fmt.Sprintf("%s/%s/%s", round, who, cmpOr(string(give), "default")), func(t *testing.T) {
					res := c.resident(fmt.Sprintf("%s%03d", who, n), home, "", "")
					before := c.stockOf("P1")
					out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: round, Resident: res, Fulfilment: give})
					if code, say, refused := strings.Cut(want, ":"); refused {
						wantCode(t, err, map[string]string{"FORBIDDEN": hub.EFORBIDDEN, "INVALID": hub.EINVALID}[code], say)
						if msg := hub.ErrorMessage(err); code == "FORBIDDEN" && strings.Contains(say, "health code") && !strings.HasSuffix(msg, say) {
							t.Errorf("message %q does not end with %q", err, say)
						}
						if after := c.stockOf("P1"); after != before {
							t.Errorf("a refused reservation moved stock: %d -> %d", before, after)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					f := map[string]hub.Fulfilment{"P": P, "D": D}[want]
					if out.Reservation.Fulfilment != f || out.Allocation == nil {
						t.Fatalf("reservation %+v allocation %+v, want %s", out.Reservation, out.Allocation, f)
					}
					if (out.Allocation.PartnerID != "") != (f == D) {
						t.Errorf("allocation %+v for %s", out.Allocation, f)
					}
				})
			}
		}
	}

	// Where no partner delivers, a colour whose rule has no PICKUP may
	// not pick up either: refused, saying so, whatever the colour.
	for i, tt := range []struct{ who, round string }{{"yellow", "both"}, {"red", "both"}, {"green", "reversed"}, {"red", "red-refused"}} {
		res := c.resident(fmt.Sprintf("%sf%02d", tt.who, i), far, "", "")
		_, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: tt.round, Resident: res})
		want := "no delivery partner serves"
		if tt.round == "red-refused" {
			want = "may take none"
		}
		wantCode(t, err, hub.EFORBIDDEN, want)
	}
	// One whose rule has PICKUP is told to pick up, as without the gate.
	for i, tt := range []struct{ who, round string }{{"green", "both"}, {"yellow", "yellow-any"}, {"green", "open"}} {
		res := c.resident(fmt.Sprintf("%sg%02d", tt.who, i), far, "", "")
		_, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: tt.round, Resident: res, Fulfilment: hub.Delivery})
		wantCode(t, err, hub.EINVALID, "choose PICKUP")
	}

	for colour, want := range map[hub.Colour][]hub.Fulfilment{hub.Green: both, hub.Yellow: {D}, hub.Red: {D}} {
		if got := dispatch.GateFulfilments(colour); !slices.Equal(got, want) {
			t.Errorf("GateFulfilments(%s) = %v, want %v", colour, got, want)
		}
	}
	c.conserved()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// pausingStore pauses the first read of the shortages after arm, the
// first read of a pass serving a waiting list, until resume is closed.
type pausingStore struct {
	hub.Store
	mu     sync.Mutex
	armed  bool
	paused chan struct{} // closed when the read is paused
	resume chan struct{}
}

func (s *pausingStore) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.paused, s.resume = true, make(chan struct{}), make(chan struct{})
}

func (s *pausingStore) Shortages(ctx context.Context, f hub.ShortageFilter) ([]*hub.Shortage, error) {
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(s.paused)
		<-s.resume
	}
	return s.Store.Shortages(ctx, f)
}

// TestNewcomerWaitsForTheLine: while returned stock is serving the
// waiting list (the pass is paused on its first read), a new reservation
// in reach of the pharmacy does not answer: it waits for the line, then
// finds the stock gone to the one waiting and waits behind them. One out
// of reach is not held up.
func TestNewcomerWaitsForTheLine(t *testing.T) {
	for _, how := range []string{"cancellation", "restock"} {
		t.Run(how, func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{})
			ps := &pausingStore{}
			c.wrap = func(s hub.Store) hub.Store { ps.Store = s; return ps }
			c.restart()
			home, away := c.rs[0][0], c.rs[8][0]
			c.pharmacy("P1", home, 2)
			c.pharmacy("P9", away, 2)
			c.round(dispatch.RoundInput{ID: "r", MaxK: 2})
			h := c.reserve("r", c.resident("h", home, "", ""))
			if h.Allocation == nil || h.Allocation.PharmacyID != "P1" {
				t.Fatalf("holder: %+v", h.Allocation)
			}
			c.reserve("r", c.resident("w", home, "", ""))
			newcomer, outsider := c.resident("n", home, "", ""), c.resident("o", away, "", "")

			ps.arm()
			served := make(chan error, 1)
			go func() {
				if how == "restock" {
					c.restock("P1", 2)
					_, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult)
					served <- err
					return
				}
				_, err := c.eng.CancelReservation(c.ctx(), h.Reservation.ID)
				served <- err
			}()
			<-ps.paused
			var once sync.Once
			resume := func() { once.Do(func() { close(ps.resume) }) }
			defer resume() // a failure below must not leave the pass paused
			answered := make(chan *dispatch.ReserveResult, 1)
			go func() {
				out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "r", Resident: newcomer})
				if err != nil {
					t.Error(err)
				}
				answered <- out
			}()
			if out := c.reserve("r", outsider); out.Allocation == nil || out.Allocation.PharmacyID != "P9" {
				t.Errorf("a newcomer out of reach was held up or not served: %+v", out.Allocation)
			}
			select {
			case out := <-answered:
				t.Fatalf("the newcomer answered while the line was being served: %+v", out.Allocation)
			case <-time.After(100 * time.Millisecond):
			}
			resume()
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			out := <-answered
			if out == nil || out.Allocation != nil || out.Reservation.Status != hub.ReservationWaiting {
				t.Fatalf("the newcomer: %+v, want WAITING behind w", out)
			}
			if st := c.statusOf("r"); st["w"] != hub.ReservationAllocated {
				t.Errorf("w is %s, want ALLOCATED", st["w"])
			}
			if err := dispatch.CheckBooks(c.eng); err != nil {
				t.Error(err)
			}
			c.conserved()
		})
	}
}

// TestWaitingListAcrossRounds: the WAITING reservations of several open
// rounds of one supply wait in one line, in arrival order whichever round
// they are in (not round by round), for a restock and for stock that
// comes back alike.
func TestWaitingListAcrossRounds(t *testing.T) {
	for _, how := range []string{"cancellation", "restock"} {
		t.Run(how, func(t *testing.T) {
			c := newCity(t, dispatch.EngineOptions{})
			home := c.rs[0][0]
			c.pharmacy("P1", home, 2)
			c.round(dispatch.RoundInput{ID: "b-round"})
			c.round(dispatch.RoundInput{ID: "a-round"})
			h := c.reserve("b-round", c.resident("h", home, "", ""))
			rounds := []string{"b-round", "a-round", "a-round", "b-round", "a-round", "b-round"}
			for i, r := range rounds {
				if out := c.reserve(r, c.resident(fmt.Sprintf("x%d", i), home, "", "")); out.Reservation.Status != hub.ReservationWaiting {
					t.Fatalf("x%d: %s", i, out.Reservation.Status)
				}
			}
			if how == "restock" {
				c.restock("P1", 4)
				if _, err := c.eng.ServeWaiting(c.ctx(), "P1", hub.MaskAdult); err != nil {
					t.Fatal(err)
				}
			} else {
				if _, err := c.eng.CancelReservation(c.ctx(), h.Reservation.ID); err != nil {
					t.Fatal(err)
				}
			}
			served := 1
			if how == "restock" {
				served = 2
			}
			st := map[string]hub.ReservationStatus{}
			for _, r := range []string{"a-round", "b-round"} {
				for id, s := range c.statusOf(r) {
					st[id] = s
				}
			}
			for i := range rounds {
				want := hub.ReservationWaiting
				if i < served {
					want = hub.ReservationAllocated
				}
				if got := st[fmt.Sprintf("x%d", i)]; got != want {
					t.Errorf("x%d (%s) is %s, want %s: earliest first across rounds", i, rounds[i], got, want)
				}
			}
			c.conserved()
		})
	}
}
