package resolvers

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
)

const cursorAllocPref = "alloc:"

// defaultPickupWindow is how long an allocation waits for pickup when a
// round does not say.
const defaultPickupWindow = 24 * time.Hour

// roundIn maps a round's input to the engine's. Eligible ID numbers are
// canonicalised and hashed by the city (under every key, so people
// registered before a rotation match) and join the eligible hashes; the
// numbers themselves go no further.
func (r *Resolver) roundIn(in model.RoundInput) (dispatch.RoundInput, error) {
	out := dispatch.RoundInput{
		ID: deref(in.ID), Name: in.Name, SKU: in.Sku, PerPerson: in.PerPerson, Mode: in.Mode,
		Fulfilments: in.Fulfilments, HealthGate: in.HealthGate, Opens: deref(in.Opens), Closes: deref(in.Closes),
		MaxK: -1, PickupWindow: defaultPickupWindow, Winners: in.Winners,
		Eligibility: hub.Eligibility{DistrictIDs: in.EligibleDistricts, IDHashes: in.EligibleIDHashes},
	}
	if len(in.EligibleIDNumbers) > 0 {
		hashes, err := r.City.IDHashes("eligibleIdNumbers", in.EligibleIDNumbers)
		if err != nil {
			return out, err
		}
		out.Eligibility.IDHashes = append(slices.Clip(in.EligibleIDHashes), hashes...)
	}
	if err := r.roundWindow(in, &out); err != nil {
		return out, err
	}
	for _, h := range in.HealthRules {
		if h == nil {
			continue
		}
		out.HealthRules = append(out.HealthRules, hub.HealthRule{Colour: h.Colour, Fulfilments: h.Fulfilments, Reason: deref(h.Reason)})
	}
	if in.MaxK != nil {
		// The engine reads -1 as "the default"; a caller asks for that by
		// leaving maxK out, never by a negative number.
		if *in.MaxK < 0 {
			return out, hub.Errorf(hub.EINVALID, "maxK %d is negative: give 0 to %d rings, or leave it out for the default", *in.MaxK, dispatch.MaxRoundK)
		}
		out.MaxK = *in.MaxK
	}
	if in.SlotMinutes != nil {
		out.SlotMinutes = *in.SlotMinutes
	}
	if in.SlotCapacity != nil {
		out.SlotCapacity = *in.SlotCapacity
	}
	if in.PickupWindowMinutes != nil {
		if *in.PickupWindowMinutes < 1 || *in.PickupWindowMinutes > 14*24*60 {
			return out, hub.Errorf(hub.EINVALID, "pickupWindowMinutes %d is outside [1, 20160]", *in.PickupWindowMinutes)
		}
		out.PickupWindow = time.Duration(*in.PickupWindowMinutes) * time.Minute
	}
	if len(in.Quotas) > 0 {
		out.Quotas = map[string]int{}
		for _, q := range in.Quotas {
			if q == nil {
				continue
			}
			if _, dup := out.Quotas[q.CommitteeID]; dup {
				return out, hub.Errorf(hub.EINVALID, "committee %s has two quotas", q.CommitteeID)
			}
			out.Quotas[q.CommitteeID] = q.Quota
		}
	}
	return out, nil
}

// maxOpenForMinutes bounds a round's openForMinutes: 30 days.
const maxOpenForMinutes = 30 * 24 * 60

// roundWindow sets when a round closes from closes or openForMinutes
// (exactly one of them), counted from opens or, without it, from now.
func (r *Resolver) roundWindow(in model.RoundInput, out *dispatch.RoundInput) error {
	switch {
	case in.Closes != nil && in.OpenForMinutes != nil:
		return hub.Errorf(hub.EINVALID, "give closes or openForMinutes, not both")
	case in.Closes == nil && in.OpenForMinutes == nil:
		return hub.Errorf(hub.EINVALID, "give closes or openForMinutes: when the round closes")
	case in.OpenForMinutes != nil:
		m := *in.OpenForMinutes
		if m < 1 || m > maxOpenForMinutes {
			return hub.Errorf(hub.EINVALID, "openForMinutes %d is outside [1, %d]", m, maxOpenForMinutes)
		}
		from := out.Opens
		if from.IsZero() {
			from = r.City.Now()
			out.Opens = from
		}
		out.Closes = from.Add(time.Duration(m) * time.Minute)
	}
	return nil
}

func (r *Resolver) reserve(ctx context.Context, in model.ReserveInput) (*dispatch.ReserveResult, error) {
	res, ok := scopedResident(ctx, in.ResidentID)
	if !ok {
		var err error
		if res, err = r.City.Store().Resident(ctx, in.ResidentID); err != nil {
			return nil, err
		}
	}
	ri := dispatch.ReserveInput{RoundID: in.RoundID, Resident: res, IdempotencyKey: deref(in.IdempotencyKey)}
	if in.Fulfilment != nil {
		ri.Fulfilment = *in.Fulfilment
	}
	if in.Slot != nil {
		ri.Slot = *in.Slot
	}
	return r.Dispatch.Reserve(ctx, ri)
}

func (r *Resolver) allocationPage(ctx context.Context, partnerID string, status *hub.AllocationStatus, since *time.Time, first int, after *string) (*model.AllocationConnection, error) {
	if first < 1 || first > maxPageSize {
		return nil, hub.Errorf(hub.EINVALID, "first %d is outside [1, %d]", first, maxPageSize)
	}
	// An unknown partner is NOT_FOUND, not an empty list: a mistyped id
	// must not look like a quiet day.
	if _, err := r.City.Store().Partner(ctx, partnerID); err != nil {
		return nil, err
	}
	f := hub.AllocationFilter{PartnerID: partnerID, Limit: first + 1, Status: deref(status)}
	if after != nil {
		id, err := decodeCursor(cursorAllocPref+partnerID+":", *after)
		if err != nil {
			return nil, err
		}
		f.After = id
	}
	// Allocation IDs sort by creation time, so a time is a place in the list.
	if since != nil {
		if floor := dispatch.AllocationIDFloor(*since); floor > f.After {
			f.After = floor
		}
	}
	as, err := r.City.Store().Allocations(ctx, f)
	if err != nil {
		return nil, err
	}
	conn := &model.AllocationConnection{Edges: []*model.AllocationEdge{}, PageInfo: &model.PageInfo{HasNextPage: len(as) > first}}
	if len(as) > first {
		as = as[:first]
	}
	for _, a := range as {
		conn.Edges = append(conn.Edges, &model.AllocationEdge{Cursor: encodeCursor(cursorAllocPref+partnerID+":", a.ID), Node: a})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

func (r *Resolver) markDelivery(ctx context.Context, allocationID string, delivered bool) (*hub.Allocation, error) {
	p, _ := auth.FromContext(ctx)
	partnerID := p.Scope
	if p.Role == auth.Admin {
		a, err := r.City.Store().Allocation(ctx, allocationID)
		if err != nil {
			return nil, err
		}
		partnerID = a.PartnerID
	}
	return r.Dispatch.MarkDelivery(ctx, partnerID, allocationID, delivered)
}

func (r *Resolver) optionalAllocation(ctx context.Context, id string) (*hub.Allocation, error) {
	if id == "" {
		return nil, nil
	}
	return r.allocationByID(ctx, id)
}

func (r *Resolver) optionalRound(ctx context.Context, id string) (*hub.Round, error) {
	if id == "" {
		return nil, nil
	}
	return r.roundByID(ctx, id)
}

// pickupQRPath is where the transport serves an allocation's pickup code
// as a QR image (httpapi.PickupQR, mounted by the server).
func pickupQRPath(allocationID string) string {
	return "/pickup/" + url.PathEscape(allocationID) + "/qr.png"
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// healthRules is what each colour may do in a round with the health gate,
// by the round's rules (dispatch.GateRules); empty without the gate.
func healthRules(rd *hub.Round) []*model.HealthRule {
	out := []*model.HealthRule{}
	for _, c := range dispatch.GateRules(rd) {
		out = append(out, &model.HealthRule{Colour: c.Colour, Fulfilments: c.Fulfilments, Reason: optionalString(c.Reason)})
	}
	return out
}

// slotsOffered is the pickup slots a reservation in the round made now is
// offered (dispatch.Engine.OfferedSlots); empty without slots.
func (r *Resolver) slotsOffered(rd *hub.Round) []*model.PickupSlot {
	out := []*model.PickupSlot{}
	for _, s := range r.Dispatch.OfferedSlots(rd) {
		out = append(out, &model.PickupSlot{Start: s.Start, End: s.End, Capacity: s.Capacity})
	}
	return out
}
