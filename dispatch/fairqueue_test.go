package dispatch_test

import (
	"context"
	"fmt"
	"slices"
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
// health code may take its fulfilments only (GREEN either, YELLOW and RED
// DELIVERY only); a reservation naming none takes the first the round
// offers that the colour may take; no current declaration is refused.
// Every colour is tried with every fulfilment, in a round offering both
// and in rounds offering one.
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
	both := []hub.Fulfilment{hub.Pickup, hub.Delivery}
	c.round(dispatch.RoundInput{ID: "both", HealthGate: true, Fulfilments: both})
	c.round(dispatch.RoundInput{ID: "pickup", HealthGate: true, Fulfilments: []hub.Fulfilment{hub.Pickup}})
	c.round(dispatch.RoundInput{ID: "delivery", HealthGate: true, Fulfilments: []hub.Fulfilment{hub.Delivery}})
	c.round(dispatch.RoundInput{ID: "open", Fulfilments: both})

	const (
		P, D = hub.Pickup, hub.Delivery
		F    = hub.EFORBIDDEN
		I    = hub.EINVALID
	)
	tests := []struct {
		who   string
		round string
		give  hub.Fulfilment
		want  hub.Fulfilment
		code  string
		say   string
	}{
		{"green", "both", "", P, "", ""},
		{"green", "both", P, P, "", ""},
		{"green", "both", D, D, "", ""},
		{"yellow", "both", "", D, "", ""},
		{"yellow", "both", P, "", F, "a YELLOW health code takes [DELIVERY] only, not PICKUP"},
		{"yellow", "both", D, D, "", ""},
		{"red", "both", "", D, "", ""},
		{"red", "both", P, "", F, "a RED health code takes [DELIVERY] only, not PICKUP"},
		{"red", "both", D, D, "", ""},
		{"none", "both", "", "", F, "current health declaration"},
		{"none", "both", P, "", F, "current health declaration"},
		{"none", "both", D, "", F, "current health declaration"},

		{"green", "pickup", "", P, "", ""},
		{"green", "pickup", P, P, "", ""},
		{"green", "pickup", D, "", I, "offers"},
		{"yellow", "pickup", "", "", F, "the round offers [PICKUP]"},
		{"yellow", "pickup", P, "", F, "not PICKUP"},
		{"yellow", "pickup", D, "", I, "offers"},
		{"red", "pickup", "", "", F, "the round offers [PICKUP]"},
		{"red", "pickup", P, "", F, "not PICKUP"},
		{"none", "pickup", "", "", F, "current health declaration"},

		{"green", "delivery", "", D, "", ""},
		{"yellow", "delivery", "", D, "", ""},
		{"red", "delivery", D, D, "", ""},
		{"none", "delivery", D, "", F, "current health declaration"},

		// Without the gate colour does not matter.
		{"red", "open", "", P, "", ""},
		{"none", "open", P, P, "", ""},
		{"yellow", "open", D, D, "", ""},
	}
	for i, tt := range tests {
		name := fmt.Sprintf("%s/%s/%s", tt.who, tt.round, cmpOr(string(tt.give), "default"))
		t.Run(name, func(t *testing.T) {
			res := c.resident(fmt.Sprintf("%s%03d", tt.who, i), home, "", "")
			before := c.stockOf("P1")
			out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: tt.round, Resident: res, Fulfilment: tt.give})
			if tt.code != "" {
				wantCode(t, err, tt.code, tt.say)
				if after := c.stockOf("P1"); after != before {
					t.Errorf("a refused reservation moved stock: %d -> %d", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Reservation.Fulfilment != tt.want || out.Allocation == nil {
				t.Fatalf("reservation %+v allocation %+v, want %s", out.Reservation, out.Allocation, tt.want)
			}
			if (out.Allocation.PartnerID != "") != (tt.want == D) {
				t.Errorf("allocation %+v for %s", out.Allocation, tt.want)
			}
		})
	}

	// A YELLOW or RED resident where no partner delivers may not pick up
	// either: refused, saying so.
	for _, who := range []string{"yellow", "red"} {
		res := c.resident(who+"far", far, "", "")
		_, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "both", Resident: res})
		wantCode(t, err, hub.EFORBIDDEN, "no delivery partner serves")
	}
	// A GREEN resident there is told to pick up, as without the gate.
	_, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "both", Resident: c.resident("greenfar", far, "", ""), Fulfilment: hub.Delivery})
	wantCode(t, err, hub.EINVALID, "choose PICKUP")

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
