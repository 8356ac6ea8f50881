package dispatch

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// eventStore is the engine's store when it has somewhere to publish: every
// allocation made or moved, and the stock it takes or gives back, becomes a
// domain event once the store has made it durable; so does every
// reservation made or moved other than by an allocation, and every
// waiting-list registration.
type eventStore struct {
	hub.Store
	events hub.Publisher
	// rounds remembers the supply and mode of each round an event named
	// (roundID -> roundKind): a round keeps both.
	rounds *sync.Map
}

func newEventStore(store hub.Store, events hub.Publisher) eventStore {
	return eventStore{Store: store, events: events, rounds: new(sync.Map)}
}

// Allocate implements hub.DispatchStore. Each allocation publishes
// ALLOCATION_CREATED and then the STOCK_CHANGED of its own step, in the
// order of the batch, each with the stock after that step (the
// Step.After the store's write set).
func (s eventStore) Allocate(ctx context.Context, as ...*hub.Allocation) error {
	if err := s.Store.Allocate(ctx, as...); err != nil {
		return err
	}
	for _, a := range as {
		s.publish(ctx, hub.EventAllocationCreated, *a, "", s.committeeOf(ctx, a, ""), -a.Quantity, "ALLOCATE", a.CreatedAt)
	}
	return nil
}

// ReserveAllocated implements hub.DispatchStore. A reservation stored
// anew with its allocation publishes what CreateReservation and then
// Allocate publish: RESERVATION_CREATED (PENDING), then the allocation's
// event and its stock change. The replay of an idempotency key writes
// nothing and publishes nothing.
func (s eventStore) ReserveAllocated(ctx context.Context, r *hub.Reservation, a *hub.Allocation) (*hub.Reservation, error) {
	stored, err := s.Store.ReserveAllocated(ctx, r, a)
	if err != nil || stored.ID != r.ID {
		return stored, err
	}
	s.publishReservations(ctx, hub.EventReservationCreated, "", r.Status, r.CreatedAt, []*hub.Reservation{r})
	s.publish(ctx, hub.EventAllocationCreated, *a, "", s.committeeOf(ctx, a, r.CommitteeID), -a.Quantity, "ALLOCATE", a.CreatedAt)
	return stored, nil
}

// createWaiting records r, a new reservation that waits from the start,
// in one write (CreateReservation of a WAITING reservation), and
// publishes what a reservation made PENDING and then moved to WAITING
// publishes: RESERVATION_CREATED (PENDING), then RESERVATION_UPDATED
// (PENDING to WAITING). Subscribers and counts see one shape of events
// however the engine wrote it. The replay of an idempotency key writes
// nothing and publishes nothing.
func (s eventStore) createWaiting(ctx context.Context, r *hub.Reservation) (*hub.Reservation, error) {
	stored, err := s.Store.CreateReservation(ctx, r)
	if err != nil || stored.ID != r.ID {
		return stored, err
	}
	rs := []*hub.Reservation{stored}
	s.publishReservations(ctx, hub.EventReservationCreated, "", hub.ReservationPending, stored.CreatedAt, rs)
	s.publishReservations(ctx, hub.EventReservationUpdated, hub.ReservationPending, hub.ReservationWaiting, time.Time{}, rs)
	return stored, nil
}

// TransitionAllocation implements hub.DispatchStore.
func (s eventStore) TransitionAllocation(ctx context.Context, id string, from []hub.AllocationStatus, to hub.AllocationStatus, at time.Time) (*hub.Allocation, error) {
	var was hub.AllocationStatus
	if len(from) == 1 {
		was = from[0]
	} else if a, err := s.Store.Allocation(ctx, id); err == nil {
		was = a.Status
	}
	a, err := s.Store.TransitionAllocation(ctx, id, from, to, at)
	if err != nil {
		return nil, err
	}
	kind, delta := hub.EventAllocationUpdated, 0
	if to == hub.AllocationExpired {
		kind = hub.EventAllocationExpired
	}
	if to.Returns() {
		delta = a.Quantity
	}
	s.publish(ctx, kind, *a, was, s.committeeOf(ctx, a, ""), delta, "RETURN", at)
	return a, nil
}

// publish sends the allocation's event, naming the committee whose quota
// its units count in, and, when stock moved, the stock change with the
// stock right after that step, a.Step.After (the store's write set it;
// the event's allocation carries none). Publishing never blocks; a closed
// bus drops events.
func (s eventStore) publish(ctx context.Context, kind hub.EventKind, a hub.Allocation, from hub.AllocationStatus, committee string, delta int, reason string, at time.Time) {
	// The write that moved stock reported the pharmacy's cell and
	// district as it read them; otherwise the pharmacy is read.
	var p *hub.Pharmacy
	after := 0
	if st := a.Step; st != nil {
		p, after = &hub.Pharmacy{ID: a.PharmacyID, Cell: st.Cell, DistrictID: st.DistrictID}, st.After
	} else {
		var err error
		if p, err = s.Store.Pharmacy(ctx, a.PharmacyID); err != nil {
			return
		}
	}
	a.Step = nil
	_, _ = s.events.Publish(ctx, hub.Event{
		Kind: kind, At: at, Cells: []hub.Cell{a.Cell}, DistrictID: p.DistrictID, PartnerID: a.PartnerID,
		PharmacyID: a.PharmacyID, SKU: a.SKU, Payload: hub.AllocationPayload{Allocation: a, From: from, CommitteeID: committee},
	})
	if delta != 0 {
		e := hub.StockEntry{After: after, StockChange: hub.StockChange{PharmacyID: p.ID, SKU: a.SKU, Delta: delta, Reason: reason, At: at}}
		_, _ = s.events.Publish(ctx, hub.StockChangedEvent(p, e))
	}
}

// CreateReservation implements hub.DispatchStore. A reservation stored
// anew is RESERVATION_CREATED; the replay of an idempotency key writes
// nothing and publishes nothing.
func (s eventStore) CreateReservation(ctx context.Context, r *hub.Reservation) (*hub.Reservation, error) {
	stored, err := s.Store.CreateReservation(ctx, r)
	if err != nil || stored.ID != r.ID {
		return stored, err
	}
	s.publishReservations(ctx, hub.EventReservationCreated, "", stored.Status, stored.CreatedAt, []*hub.Reservation{stored})
	return stored, nil
}

// SetReservationStatus implements hub.DispatchStore. The reservations
// moved are RESERVATION_UPDATED events: one for each round, district and
// status they came from.
func (s eventStore) SetReservationStatus(ctx context.Context, to hub.ReservationStatus, from []hub.ReservationStatus, ids ...string) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	// With one status to come from, that is where they came from;
	// otherwise the store says, best effort, before the write.
	was := map[string]hub.ReservationStatus{}
	if len(from) > 1 {
		for _, id := range ids {
			if r, err := s.Store.Reservation(ctx, id); err == nil {
				was[id] = r.Status
			}
		}
	}
	if err := s.Store.SetReservationStatus(ctx, to, from, ids...); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	rs := s.reservations(ctx, to, ids)
	for _, r := range rs {
		if len(from) == 1 {
			r.Status = from[0]
		} else {
			r.Status = was[r.ID]
		}
	}
	// Group by where they came from; publishReservations splits by
	// round and district.
	slices.SortStableFunc(rs, func(a, b *hub.Reservation) int { return cmp.Compare(a.Status, b.Status) })
	for len(rs) > 0 {
		n := 1
		for n < len(rs) && rs[n].Status == rs[0].Status {
			n++
		}
		s.publishReservations(ctx, hub.EventReservationUpdated, rs[0].Status, to, time.Time{}, rs[:n])
		rs = rs[n:]
	}
	return nil
}

// reservations reads the reservations just moved to status to: one by one
// when they are few, else through the round's list of that status. Any it
// cannot read are left out.
func (s eventStore) reservations(ctx context.Context, to hub.ReservationStatus, ids []string) []*hub.Reservation {
	const fewReads = 32
	out := make([]*hub.Reservation, 0, len(ids))
	missing := ids
	if len(ids) > fewReads {
		missing = nil
		first, err := s.Store.Reservation(ctx, ids[0])
		if err != nil {
			return nil
		}
		all, err := s.Store.Reservations(ctx, hub.ReservationFilter{RoundID: first.RoundID, Status: to})
		if err != nil {
			return nil
		}
		byID := make(map[string]*hub.Reservation, len(all))
		for _, r := range all {
			byID[r.ID] = r
		}
		for _, id := range ids {
			if r, ok := byID[id]; ok {
				out = append(out, r)
			} else {
				missing = append(missing, id)
			}
		}
	}
	for _, id := range missing {
		if r, err := s.Store.Reservation(ctx, id); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// publishReservations publishes reservations that moved together from
// from to to, one event for each round and district, with the round's
// supply. Each reservation's Status is ignored.
func (s eventStore) publishReservations(ctx context.Context, kind hub.EventKind, from, to hub.ReservationStatus, at time.Time, rs []*hub.Reservation) {
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b *hub.Reservation) int {
		return cmp.Or(cmp.Compare(a.RoundID, b.RoundID), cmp.Compare(a.DistrictID, b.DistrictID), cmp.Compare(a.ID, b.ID))
	})
	for len(rs) > 0 {
		n := 1
		for n < len(rs) && rs[n].RoundID == rs[0].RoundID && rs[n].DistrictID == rs[0].DistrictID {
			n++
		}
		group := rs[:n]
		rs = rs[n:]
		sku, ok := s.roundSKU(ctx, group[0].RoundID)
		if !ok {
			continue
		}
		p := hub.ReservationPayload{RoundID: group[0].RoundID, SKU: sku, From: from, To: to, Reservations: make([]hub.ReservationRef, len(group))}
		var cells []hub.Cell
		var committees []string
		for i, r := range group {
			p.Reservations[i] = hub.ReservationRef{ID: r.ID, ResidentID: r.ResidentID, Cell: r.Cell, CommitteeID: r.CommitteeID, Fulfilment: r.Fulfilment}
			if r.Cell != 0 {
				cells = append(cells, r.Cell)
			}
			if r.CommitteeID != "" {
				committees = append(committees, r.CommitteeID)
			}
		}
		slices.Sort(cells)
		slices.Sort(committees)
		_, _ = s.events.Publish(ctx, hub.Event{
			Kind: kind, At: at, Cells: slices.Compact(cells), DistrictID: group[0].DistrictID,
			CommitteeIDs: slices.Compact(committees), SKU: sku, Payload: p,
		})
	}
}

// roundKind is what eventStore remembers of a round.
type roundKind struct {
	sku  hub.SKU
	mode hub.Mode
}

// roundOf returns the supply and mode of a round.
func (s eventStore) roundOf(ctx context.Context, roundID string) (roundKind, bool) {
	if v, ok := s.rounds.Load(roundID); ok {
		return v.(roundKind), true
	}
	r, err := s.Store.Round(ctx, roundID)
	if err != nil {
		return roundKind{}, false
	}
	k := roundKind{sku: r.SKU, mode: r.Mode}
	s.rounds.Store(roundID, k)
	return k, true
}

// roundSKU returns the supply of a round.
func (s eventStore) roundSKU(ctx context.Context, roundID string) (hub.SKU, bool) {
	k, ok := s.roundOf(ctx, roundID)
	return k.sku, ok
}

// committeeOf returns the committee whose quota allocation a counts in:
// that of its reservation in a COMMITTEE round (known, when not empty, or
// read), else "". Best effort: "" when the store cannot say.
func (s eventStore) committeeOf(ctx context.Context, a *hub.Allocation, known string) string {
	if a.RoundID == "" || a.ReservationID == "" {
		return ""
	}
	if k, ok := s.roundOf(ctx, a.RoundID); !ok || k.mode != hub.ByCommittee {
		return ""
	}
	if known != "" {
		return known
	}
	r, err := s.Store.Reservation(ctx, a.ReservationID)
	if err != nil {
		return ""
	}
	return r.CommitteeID
}

// CreateShortage implements hub.DispatchStore: a registration recorded is
// SHORTAGE_REGISTERED, addressed to the resident's district and committee.
func (s eventStore) CreateShortage(ctx context.Context, sh *hub.Shortage) error {
	if err := s.Store.CreateShortage(ctx, sh); err != nil {
		return err
	}
	ev := hub.Event{
		Kind: hub.EventShortageRegistered, At: sh.CreatedAt, SKU: sh.SKU,
		Payload: hub.ShortagePayload{Shortage: *sh},
	}
	if sh.Cell != 0 {
		ev.Cells = []hub.Cell{sh.Cell}
	}
	if res, err := s.Store.Resident(ctx, sh.ResidentID); err == nil {
		ev.DistrictID = res.DistrictID
		if res.CommitteeID != "" {
			ev.CommitteeIDs = []string{res.CommitteeID}
		}
	}
	_, _ = s.events.Publish(ctx, ev)
	return nil
}
