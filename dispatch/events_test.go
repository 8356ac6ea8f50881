package dispatch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// eventLog is a hub.Publisher that keeps what it is given.
type eventLog struct {
	mu  sync.Mutex
	evs []hub.Event
}

func (l *eventLog) Publish(_ context.Context, ev hub.Event) (uint64, error) {
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
	return uint64(len(l.evs)), nil
}

// take returns the events of the given kinds published since the last
// take, and forgets them all.
func (l *eventLog) take(kinds ...hub.EventKind) []hub.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hub.Event
	for _, ev := range l.evs {
		for _, k := range kinds {
			if ev.Kind == k {
				out = append(out, ev)
			}
		}
	}
	l.evs = nil
	return out
}

// refs counts the reservations events name, by district and by move.
func refs(evs []hub.Event) (byDistrict map[string]int, byMove map[string]int) {
	byDistrict, byMove = map[string]int{}, map[string]int{}
	for _, ev := range evs {
		p := ev.Payload.(hub.ReservationPayload)
		byDistrict[ev.DistrictID] += len(p.Reservations)
		byMove[string(p.From)+">"+string(p.To)] += len(p.Reservations)
	}
	return byDistrict, byMove
}

// TestReservationEvents follows reservations through a lottery and a
// first-come round: each made, moved or cancelled is published once, by
// round and district, with the round's supply; an allocation is
// ALLOCATION_CREATED, not a reservation event.
func TestReservationEvents(t *testing.T) {
	log := &eventLog{}
	c := newCity(t, dispatch.EngineOptions{Events: log})
	c.areas()
	home := c.rs[0][0]
	c.pharmacy("P1", home, 6)
	closes := t0.Add(time.Hour)
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, Winners: 3, Closes: closes, SKU: hub.MaskAdult, PerPerson: 1})
	if _, err := c.eng.CommitLottery(c.ctx(), "lot"); err != nil {
		t.Fatal(err)
	}
	const entries = 60 // more losers than one read at a time
	for i := range entries {
		district := []string{"d1", "d2"}[i%2]
		r := c.resident(fmt.Sprintf("r%02d", i), c.rs[1+i%3][i%6], "", district)
		c.reserve("lot", r)
	}
	created := log.take(hub.EventReservationCreated)
	if len(created) != entries {
		t.Fatalf("%d RESERVATION_CREATED for %d entries", len(created), entries)
	}
	for _, ev := range created {
		p := ev.Payload.(hub.ReservationPayload)
		if ev.SKU != hub.MaskAdult || p.SKU != hub.MaskAdult || p.RoundID != "lot" || p.From != "" || p.To != hub.ReservationPending ||
			len(p.Reservations) != 1 || len(ev.Cells) != 1 || ev.Cells[0] != p.Reservations[0].Cell || ev.DistrictID == "" {
			t.Fatalf("RESERVATION_CREATED %+v", ev)
		}
	}
	c.clock.Advance(time.Hour)
	_, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	evs := log.take(hub.EventReservationUpdated, hub.EventAllocationCreated)
	var moved []hub.Event
	allocated := 0
	for _, ev := range evs {
		if ev.Kind == hub.EventAllocationCreated {
			allocated++
			continue
		}
		moved = append(moved, ev)
	}
	byDistrict, byMove := refs(moved)
	if allocated != rep.Allocated || byMove["PENDING>LOST"] != rep.Lost || rep.Lost != entries-3 || len(byMove) != 1 {
		t.Errorf("draw %+v: %d allocations and moves %v published", rep, allocated, byMove)
	}
	if byDistrict["d1"]+byDistrict["d2"] != rep.Lost || len(moved) != 2 {
		t.Errorf("%d events by district %v, want one for each district", len(moved), byDistrict)
	}

	// First come: a second reservation waits, then is cancelled; a
	// replayed request publishes nothing.
	c.round(dispatch.RoundInput{ID: "fc", SKU: hub.MaskAdult, PerPerson: 2})
	a := c.resident("fa", home, "", "d1")
	b := c.resident("fb", home, "", "d1")
	c.reserve("fc", a) // 3 left, 2 each: b waits
	out, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: b, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: b, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eng.CancelReservation(c.ctx(), out.Reservation.ID); err != nil {
		t.Fatal(err)
	}
	_, byMove = refs(log.take(hub.EventReservationCreated, hub.EventReservationUpdated))
	want := map[string]int{">PENDING": 2, "PENDING>WAITING": 1, "WAITING>CANCELLED": 1}
	if fmt.Sprint(byMove) != fmt.Sprint(want) {
		t.Errorf("moves %v, want %v", byMove, want)
	}
}

func TestShortageEvent(t *testing.T) {
	log := &eventLog{}
	c := newCity(t, dispatch.EngineOptions{Events: log})
	r := c.resident("r", c.rs[0][0], "c1", "d1")
	sh, err := c.eng.RegisterShortage(c.ctx(), r, hub.MaskN95, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.eng.RegisterShortage(c.ctx(), r, hub.MaskN95, 1)
	wantCode(t, err, hub.ECONFLICT, sh.ID)
	evs := log.take(hub.EventShortageRegistered)
	if len(evs) != 1 {
		t.Fatalf("%d SHORTAGE_REGISTERED, want 1", len(evs))
	}
	ev := evs[0]
	p := ev.Payload.(hub.ShortagePayload)
	if p.Shortage.ID != sh.ID || p.Shortage.Status != hub.ShortageWaiting || ev.SKU != hub.MaskN95 || ev.DistrictID != "d1" ||
		len(ev.CommitteeIDs) != 1 || ev.CommitteeIDs[0] != "c1" || len(ev.Cells) != 1 || ev.Cells[0] != r.Cell {
		t.Errorf("SHORTAGE_REGISTERED %+v", ev)
	}
}
