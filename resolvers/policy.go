package resolvers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// A rule says who may resolve one field. ADMIN may resolve every field
// (unless the rule is strict); a public field needs no token; any other
// field needs a token whose role is listed, and then passes the rule's
// scope checks: before, on the arguments and the parent object, and
// after, on the result.
//
// A rule of a mutation checks the caller against the record as stored
// (its district, committee, partner, pharmacy, checkpoint, resident) as
// well as against the input, before anything is written: moving a record
// from one scope to another is ADMIN's alone.
type rule struct {
	public bool
	roles  []auth.Role
	// before checks the arguments or the parent before the resolver runs.
	before func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error
	// beforeCtx is before for a check that reads a record the resolver
	// needs too: it returns the context the resolver runs with, which may
	// carry that record, so that it is read once.
	beforeCtx func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) (context.Context, error)
	// after checks or filters the result.
	after func(ctx context.Context, r *Resolver, p auth.Principal, res any) (any, error)
	// hide answers null instead of an error to a caller the rule refuses,
	// for fields that only some readers of their object may see.
	hide bool
	// strict applies the rule to ADMIN tokens too, for what only its
	// owner may see (a pickup code).
	strict bool
}

var anyRole = []auth.Role{auth.District, auth.Committee, auth.Partner, auth.Pharmacy, auth.Checkpoint, auth.Resident}

// policy is the authorization table: one entry per root field and per
// nested field that carries data beyond its parent's scope. A root field
// missing here is refused for everyone but ADMIN (TestPolicyCoversSchema
// keeps the table complete).
func policy() map[string]rule {
	return map[string]rule{
		// Pure grid geometry and the catalogue: public.
		"Query.cellAt":   {public: true},
		"Query.cell":     {public: true},
		"Query.supplies": {public: true},
		// The trust list is public: anyone may verify codes offline.
		"Query.trustList": {public: true},
		// Checkpoints verify codes; so do the committees and districts
		// that run them.
		"Query.verifyCode": {roles: []auth.Role{auth.Checkpoint, auth.Committee, auth.District}},

		// Health codes. A resident sees their own code, a committee its
		// residents' (to print for those without a phone). Residents file
		// their own declarations and committees their members'; enterprises
		// and schools file through the city (ADMIN).
		"Query.healthCode":       {roles: []auth.Role{auth.Committee, auth.Resident}, before: residentArgInScope("", "residentId")},
		"Mutation.declareHealth": {roles: []auth.Role{auth.Committee, auth.Resident}, before: declarationInScope},
		// Risk areas are announced to everyone; a district marks and lifts
		// those centred in it.
		"Query.riskAreas":       {roles: anyRole},
		"Mutation.markRiskArea": {roles: []auth.Role{auth.District}, before: cellArgInDistrict("cell")},
		// (The rings around a cell near the border may reach into the
		// next district: risk does not stop at borders; the centre
		// decides whose the area is.)
		"Mutation.liftRiskArea": {roles: []auth.Role{auth.District}, before: riskAreaArgInDistrict},
		// A checkpoint records scans at itself.
		"Mutation.recordScan": {roles: []auth.Role{auth.Checkpoint}, before: scanAtOwnCheckpoint},
		// Tracing is the district's health office's: its own residents,
		// every read audited with its purpose.
		"Query.trajectory":  {roles: []auth.Role{auth.District}, before: residentArgInDistrict},
		"Query.contacts":    {roles: []auth.Role{auth.District}, before: residentArgInDistrict},
		"Mutation.markCase": {roles: []auth.Role{auth.District}, before: residentArgInDistrict},
		// Retention: the periods are the city's stated policy, public.
		// A district holds the records of its own cases beyond them, and
		// extends, lifts and lists its own holds.
		"Query.retention":     {public: true},
		"Query.holds":         {roles: []auth.Role{auth.District}, before: districtArgOwn("districtId")},
		"Mutation.placeHold":  {roles: []auth.Role{auth.District}, before: caseArgInDistrict},
		"Mutation.extendHold": {roles: []auth.Role{auth.District}, before: holdArgInDistrict},
		"Mutation.liftHold":   {roles: []auth.Role{auth.District}, before: holdArgInDistrict},

		// Where can I get masks: any signed-in caller.
		"Query.pharmaciesNear": {roles: anyRole},
		"Query.pharmacy": {
			roles:  []auth.Role{auth.District, auth.Committee, auth.Partner, auth.Pharmacy, auth.Resident},
			before: argIs(auth.Pharmacy, "id"),
			after:  each(pharmacyVisible),
		},
		"Query.district":  {roles: []auth.Role{auth.District}, before: argIs(auth.District, "id")},
		"Query.districts": {roles: []auth.Role{auth.District}, after: each(districtVisible)},
		"Query.committee": {
			roles:  []auth.Role{auth.District, auth.Committee},
			before: argIs(auth.Committee, "id"),
			after:  each(committeeVisible),
		},
		"Query.committeeByCode": {roles: []auth.Role{auth.District, auth.Committee}, after: each(committeeVisible)},
		"Query.resident": {
			roles:  []auth.Role{auth.Committee, auth.Resident},
			before: residentInScope,
			after:  each(residentVisible),
		},
		"Query.checkpoint": {
			roles:  []auth.Role{auth.District, auth.Checkpoint},
			before: argIs(auth.Checkpoint, "id"),
			after:  each(checkpointVisible),
		},
		// Checkpoints: a district lists its own, a checkpoint sees itself.
		"Query.checkpoints": {roles: []auth.Role{auth.District, auth.Checkpoint}, before: districtArgOwn("districtId"), after: each(checkpointVisible)},
		"Query.auditLog":    {}, // ADMIN only
		// Who read whose data: a resident their own entries, a district
		// the reads of its residents by others, a committee its
		// resident's (Resident.accessLog).
		"Query.myAccessLog":       {roles: []auth.Role{auth.Resident}},
		"Query.residentAccessLog": {roles: []auth.Role{auth.District}, before: residentArgInDistrict},
		"Resident.accessLog":      {roles: []auth.Role{auth.Committee, auth.Resident}, before: parentResidentInScope},

		"Mutation.registerResident": {roles: []auth.Role{auth.Committee}, before: ownCommitteeCode},
		"Mutation.upsertPharmacy":   {roles: []auth.Role{auth.District, auth.Pharmacy}, before: pharmacyUpsertInScope},
		"Mutation.upsertCommittee":  {roles: []auth.Role{auth.District}, before: committeeUpsertInScope},
		"Mutation.upsertDistrict":   {}, // ADMIN only
		"Mutation.upsertCheckpoint": {roles: []auth.Role{auth.District}, before: checkpointUpsertInScope},
		"Mutation.restock":          {roles: []auth.Role{auth.District, auth.Pharmacy}, before: restockInScope},

		// Dispatch. Rounds are public to signed-in callers: what is handed
		// out, where, when. Running them is the city's (ADMIN).
		"Query.round":                {roles: anyRole},
		"Query.rounds":               {roles: anyRole},
		"Query.reservation":          {roles: []auth.Role{auth.Committee, auth.Resident}, after: each(reservationVisible)},
		"Query.allocations":          {roles: []auth.Role{auth.Partner}, before: argIs(auth.Partner, "partnerId")},
		"Query.partner":              {roles: []auth.Role{auth.Partner}, before: argIs(auth.Partner, "id")},
		"Mutation.openRound":         {},
		"Mutation.closeRound":        {},
		"Mutation.commitLottery":     {},
		"Mutation.drawLottery":       {},
		"Mutation.upsertPartner":     {},
		"Mutation.reserve":           {roles: []auth.Role{auth.Committee, auth.Resident}, beforeCtx: reserveInScope},
		"Mutation.registerShortage":  {roles: []auth.Role{auth.Committee, auth.Resident}, before: residentArgInScope("", "residentId")},
		"Mutation.cancelReservation": {roles: []auth.Role{auth.Committee, auth.Resident}, before: reservationArgInScope},
		// A pharmacy redeems at itself; the engine refuses a code whose
		// allocation is another pharmacy's (the code is the record's key,
		// and only the engine can read it), to ADMIN too.
		"Mutation.redeem":       {roles: []auth.Role{auth.Pharmacy}, before: argIs(auth.Pharmacy, "pharmacyId")},
		"Mutation.markDelivery": {roles: []auth.Role{auth.Partner}, before: deliveryOfPartner},
		// The seed stays secret until the draw, even from ADMIN tokens: the
		// resolver shows it only once the round is drawn.
		// A pickup code, and the path of its QR image, are shown to their
		// owner only: not even to ADMIN.
		"Allocation.pickupCode": allocationOwnerOnly(),
		"Allocation.qrUrl":      allocationOwnerOnly(),

		// Live alerts: each subscriber its own area, district, pharmacy or
		// partner.
		"Subscription.restockAlerts":     {roles: []auth.Role{auth.Committee, auth.District}, before: committeeArgInScope},
		"Subscription.riskAlerts":        {roles: []auth.Role{auth.Committee, auth.District}, before: committeeArgInScope},
		"Subscription.stockChanged":      {roles: []auth.Role{auth.District, auth.Pharmacy}, before: stockChangedInScope},
		"Subscription.allocationUpdates": {roles: []auth.Role{auth.Partner}, before: argIs(auth.Partner, "partnerId")},
		"Subscription.districtUpdates":   {roles: []auth.Role{auth.District}, before: argIs(auth.District, "districtId")},

		// A district's aggregates belong to that district.
		"District.cellCount":         districtOnly(),
		"District.cells":             districtOnly(),
		"District.committees":        districtOnly(),
		"District.pharmacies":        districtOnly(),
		"District.residentCount":     districtOnly(),
		"District.cellStats":         districtOnly(),
		"District.totals":            districtOnly(),
		"District.series":            districtOnly(),
		"District.outline":           districtOnly(),
		"District.declarationCounts": districtOnly(),
		"District.colourCounts":      districtOnly(),
		// A committee's residents belong to that committee.
		"Committee.residents": {roles: []auth.Role{auth.Committee}, before: parentCommitteeIs},
		"Committee.residentCount": {roles: []auth.Role{auth.District, auth.Committee}, before: func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
			c := parent[hub.Committee](fc)
			if c == nil || !committeeVisible(p, c) {
				return forbidden(p)
			}
			return nil
		}},
	}
}

// parentResidentInScope lets a resident see a field of themselves and a
// committee a field of its residents, as stored.
func parentResidentInScope(_ context.Context, _ *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	res := parent[hub.Resident](fc)
	if res != nil && residentVisible(p, res) {
		return nil
	}
	return forbidden(p)
}

// allocationOwnerOnly shows a field of an allocation to the resident it
// is for, and null to everyone else, ADMIN included.
func allocationOwnerOnly() rule {
	return rule{roles: []auth.Role{auth.Resident}, hide: true, strict: true, before: func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		if a := parent[hub.Allocation](fc); a == nil || !p.Is(auth.Resident, a.ResidentID) {
			return forbidden(p)
		}
		return nil
	}}
}

func districtOnly() rule {
	return rule{roles: []auth.Role{auth.District}, before: func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		if d := parent[hub.District](fc); d == nil || !p.Is(auth.District, d.ID) {
			return forbidden(p)
		}
		return nil
	}}
}

// Authorize is the field middleware that enforces the policy table on
// every field of every operation, subscriptions included.
func (r *Resolver) Authorize() graphql.FieldMiddleware {
	table := map[fieldKey]rule{}
	for name, ru := range policy() {
		object, field, _ := strings.Cut(name, ".")
		table[fieldKey{object, field}] = ru
	}
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || strings.HasPrefix(fc.Field.Name, "__") {
			return next(ctx)
		}
		ru, listed := table[fieldKey{fc.Object, fc.Field.Name}]
		root := fc.Object == "Query" || fc.Object == "Mutation" || fc.Object == "Subscription"
		if !listed && !root {
			return next(ctx)
		}
		if ru.public {
			return next(ctx)
		}
		p, ok := auth.FromContext(ctx)
		if !ok {
			if ru.hide {
				return nil, nil
			}
			return nil, hub.Errorf(hub.EUNAUTHORIZED, "%s needs a token", fc.Field.Name)
		}
		if p.Role != auth.Admin || ru.strict {
			err := error(nil)
			if !slices.Contains(ru.roles, p.Role) {
				err = hub.Errorf(hub.EFORBIDDEN, "a %s token may not use %s", p.Role, fc.Field.Name)
			} else if ru.before != nil {
				err = ru.before(ctx, r, p, fc)
			} else if ru.beforeCtx != nil {
				ctx, err = ru.beforeCtx(ctx, r, p, fc)
			}
			if err != nil && ru.hide {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
		}
		res, err := next(ctx)
		if err != nil || (p.Role == auth.Admin && !ru.strict) || ru.after == nil {
			return res, err
		}
		return ru.after(ctx, r, p, res)
	}
}

// fieldKey names a field of the schema: its object's type and its name.
type fieldKey struct{ object, field string }

func forbidden(p auth.Principal) error {
	return hub.Errorf(hub.EFORBIDDEN, "outside the scope of this %s token", p.Role)
}

// argIs checks, for role, that the argument name equals the token's scope.
func argIs(role auth.Role, name string) func(context.Context, *Resolver, auth.Principal, *graphql.FieldContext) error {
	return func(_ context.Context, _ *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		if p.Role != role {
			return nil
		}
		if v, _ := fc.Args[name].(string); v != p.Scope {
			return forbidden(p)
		}
		return nil
	}
}

// parent returns the nearest enclosing object of type T.
func parent[T any](fc *graphql.FieldContext) *T {
	for f := fc.Parent; f != nil; f = f.Parent {
		switch v := f.Result.(type) {
		case *T:
			return v
		case **T:
			return *v
		}
	}
	return nil
}

// each applies a visibility test to a single result or filters a list.
func each[T any](visible func(auth.Principal, *T) bool) func(context.Context, *Resolver, auth.Principal, any) (any, error) {
	return func(_ context.Context, _ *Resolver, p auth.Principal, res any) (any, error) {
		switch v := res.(type) {
		case *T:
			if v != nil && !visible(p, v) {
				return nil, forbidden(p)
			}
			return v, nil
		case []*T:
			return slices.DeleteFunc(v, func(x *T) bool { return !visible(p, x) }), nil
		}
		return nil, fmt.Errorf("authorize: unexpected result %T", res)
	}
}

func pharmacyVisible(p auth.Principal, ph *hub.Pharmacy) bool {
	switch p.Role {
	case auth.District:
		return ph.DistrictID == p.Scope
	case auth.Pharmacy:
		return ph.ID == p.Scope
	case auth.Committee, auth.Partner, auth.Resident:
		return true // names, places, hours and stock are public information
	}
	return false
}

func districtVisible(p auth.Principal, d *hub.District) bool { return p.Is(auth.District, d.ID) }

func committeeVisible(p auth.Principal, c *hub.Committee) bool {
	return p.Is(auth.District, c.DistrictID) || p.Is(auth.Committee, c.ID)
}

func residentVisible(p auth.Principal, res *hub.Resident) bool {
	return p.Is(auth.Committee, res.CommitteeID) || p.Is(auth.Resident, res.ID)
}

func checkpointVisible(p auth.Principal, c *hub.Checkpoint) bool {
	return p.Is(auth.District, c.DistrictID) || p.Is(auth.Checkpoint, c.ID)
}

// residentInScope refuses a read of a resident outside the token's scope
// before the resolver runs, so that a refused read is neither answered
// nor recorded in the audit trail as if it had been.
func residentInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["id"].(string)
	switch p.Role {
	case auth.Resident:
		if id != p.Scope {
			return forbidden(p)
		}
	case auth.Committee:
		// An unknown id is refused like another committee's resident, so
		// that a committee cannot probe which ids exist.
		if res, err := r.City.Store().Resident(ctx, id); err != nil || !residentVisible(p, res) {
			return forbidden(p)
		}
	}
	return nil
}

func parentCommitteeIs(_ context.Context, _ *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	if c := parent[hub.Committee](fc); c == nil || !p.Is(auth.Committee, c.ID) {
		return forbidden(p)
	}
	return nil
}

// ownCommitteeCode lets a committee register residents through its own
// code only.
func ownCommitteeCode(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.RegisterResidentInput)
	own, err := r.City.Store().Committee(ctx, p.Scope)
	if err != nil {
		return forbidden(p)
	}
	if in.CommitteeCode == nil {
		return hub.Errorf(hub.EINVALID, "committeeCode is required: a committee registers residents with its own code, committeeCode: %q", own.Code)
	}
	if *in.CommitteeCode != own.Code {
		return hub.Errorf(hub.EFORBIDDEN, "committeeCode %q is not this committee's: a committee registers residents with its own code, %q", *in.CommitteeCode, own.Code)
	}
	return nil
}

// storedRecord reads the record id names with get: nil when there is
// none (a new record), an error only when the read itself fails.
func storedRecord[T any](ctx context.Context, get func(context.Context, string) (*T, error), id string) (*T, error) {
	v, err := get(ctx, id)
	switch {
	case err == nil:
		return v, nil
	case hub.ErrorCode(err) == hub.ENOTFOUND:
		return nil, nil
	}
	return nil, err
}

// committeeUpsertInScope lets a district create and change committees in
// its own district only: the stored committee must be its own, and the
// districtId it gives its own (the city checks that every cell of the
// area lies in that district, so an area cannot leave it either).
func committeeUpsertInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.CommitteeInput)
	if in.ID != nil {
		c, err := storedRecord(ctx, r.City.Store().Committee, *in.ID)
		if err != nil {
			return err
		}
		if c != nil && c.DistrictID != p.Scope {
			return forbidden(p)
		}
	}
	if in.DistrictID == nil || *in.DistrictID != p.Scope {
		return hub.Errorf(hub.EFORBIDDEN, "a district keeps committees in its own district: give districtId %q", p.Scope)
	}
	return nil
}

// districtOf returns the district the location lies in ("" when none),
// or an error for a location off the grid. A missing location is the
// resolver's to report.
func (r *Resolver) districtOf(loc *model.LatLngInput) (string, bool, error) {
	if loc == nil {
		return "", false, nil
	}
	c, err := grid.CellAt(*pointIn(loc), grid.BaseResolution)
	if err != nil {
		return "", false, err
	}
	return r.City.DistrictAt(c), true, nil
}

// placeInScope checks a district's or a pharmacy's upsert of a place (a
// pharmacy, a checkpoint) against the place as stored (nil when new) and
// the new location: a district keeps its own places, at locations inside
// it; a pharmacy stays in the district it is stored in. Moving a place
// between districts is ADMIN's.
func (r *Resolver) placeInScope(p auth.Principal, storedDistrict string, known bool, loc *model.LatLngInput) error {
	to, given, err := r.districtOf(loc)
	if err != nil {
		return err
	}
	switch p.Role {
	case auth.District:
		if known && storedDistrict != p.Scope {
			return forbidden(p)
		}
		if given && to != p.Scope {
			return hub.Errorf(hub.EFORBIDDEN, "the location lies outside district %s", p.Scope)
		}
		return nil
	case auth.Pharmacy:
		if !known {
			return forbidden(p)
		}
		if given && to != storedDistrict {
			return hub.Errorf(hub.EFORBIDDEN, "a pharmacy moves within its district only; moving it to another district is the city's")
		}
		return nil
	}
	return forbidden(p)
}

// checkpointUpsertInScope lets a district create checkpoints in its own
// district and change its own, without moving them out.
func checkpointUpsertInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.CheckpointInput)
	var c *hub.Checkpoint
	if in.ID != nil {
		var err error
		if c, err = storedRecord(ctx, r.City.Store().Checkpoint, *in.ID); err != nil {
			return err
		}
	}
	if c == nil {
		return r.placeInScope(p, "", false, in.Location)
	}
	return r.placeInScope(p, c.DistrictID, true, in.Location)
}

// pharmacyUpsertInScope lets a district create pharmacies in its own
// district and change its own, and a pharmacy change its own details
// (it cannot create others); neither moves one out of its district.
func pharmacyUpsertInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.PharmacyInput)
	if p.Role == auth.Pharmacy && (in.ID == nil || *in.ID != p.Scope) {
		return forbidden(p)
	}
	var ph *hub.Pharmacy
	if in.ID != nil {
		var err error
		if ph, err = storedRecord(ctx, r.City.Store().Pharmacy, *in.ID); err != nil {
			return err
		}
	}
	if ph == nil {
		return r.placeInScope(p, "", false, in.Location)
	}
	return r.placeInScope(p, ph.DistrictID, true, in.Location)
}

// restockInScope lets a pharmacy restock itself and a district the
// pharmacies stored in it.
func restockInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["pharmacyId"].(string)
	switch p.Role {
	case auth.Pharmacy:
		if id != p.Scope {
			return forbidden(p)
		}
		return nil
	case auth.District:
		ph, err := storedRecord(ctx, r.City.Store().Pharmacy, id)
		if err != nil {
			return err
		}
		if ph == nil || ph.DistrictID != p.Scope {
			return forbidden(p)
		}
		return nil
	}
	return forbidden(p)
}

// deliveryOfPartner lets a partner report on its own deliveries only, as
// the allocation is stored. An unknown allocation is refused alike, so
// that a partner cannot probe which ids exist.
func deliveryOfPartner(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["allocationId"].(string)
	a, err := storedRecord(ctx, r.City.Store().Allocation, id)
	if err != nil {
		return err
	}
	if a == nil || !p.Is(auth.Partner, a.PartnerID) {
		return forbidden(p)
	}
	return nil
}

func reservationVisible(p auth.Principal, res *hub.Reservation) bool {
	return p.Is(auth.Committee, res.CommitteeID) || p.Is(auth.Resident, res.ResidentID)
}

// residentArgInScope checks that the resident named by an argument (inside
// the input object when input is not empty) is the caller, or one of the
// calling committee's residents.
func residentArgInScope(input, name string) func(context.Context, *Resolver, auth.Principal, *graphql.FieldContext) error {
	return func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		var id string
		if input == "" {
			id, _ = fc.Args[name].(string)
		} else {
			if in, ok := fc.Args[input].(model.DeclareHealthInput); ok {
				id = in.ResidentID
			}
		}
		return ResidentInScope(ctx, r.City.Store(), p, id)
	}
}

// reserveInScope is residentArgInScope("input", "residentId") for
// Mutation.reserve: the resident a COMMITTEE token's check reads goes on
// to the resolver in the context it returns (see scopedResident), so
// that the reservation reads it once.
func reserveInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) (context.Context, error) {
	in, _ := fc.Args["input"].(model.ReserveInput)
	res, err := readResidentInScope(ctx, r.City.Store(), p, in.ResidentID)
	if res == nil {
		return ctx, err
	}
	return context.WithValue(ctx, scopedResidentKey{}, res), nil
}

type scopedResidentKey struct{}

// scopedResident returns the resident id, if the policy read it for this
// field's check.
func scopedResident(ctx context.Context, id string) (*hub.Resident, bool) {
	res, ok := ctx.Value(scopedResidentKey{}).(*hub.Resident)
	return res, ok && res.ID == id
}

// ResidentInScope returns nil when p is resident id or the committee id
// is registered with, and FORBIDDEN otherwise (ADMIN too: its callers
// decide). An unknown id is refused like another committee's resident, so
// that a committee cannot probe which ids exist.
func ResidentInScope(ctx context.Context, s hub.Store, p auth.Principal, id string) error {
	_, err := readResidentInScope(ctx, s, p, id)
	return err
}

// readResidentInScope is ResidentInScope that also returns the resident a
// COMMITTEE token's check read, when it lets the caller in; nil otherwise.
func readResidentInScope(ctx context.Context, s hub.Store, p auth.Principal, id string) (*hub.Resident, error) {
	switch p.Role {
	case auth.Resident:
		if id == p.Scope {
			return nil, nil
		}
	case auth.Committee:
		if res, err := s.Resident(ctx, id); err == nil && res.CommitteeID == p.Scope {
			return res, nil
		}
	}
	return nil, forbidden(p)
}

func reservationArgInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["id"].(string)
	if res, err := r.City.Store().Reservation(ctx, id); err == nil && reservationVisible(p, res) {
		return nil
	}
	return forbidden(p)
}

// committeeArgInScope lets a committee follow its own area and a district
// the committees inside it.
func committeeArgInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["committeeId"].(string)
	if p.Is(auth.Committee, id) {
		return nil
	}
	if p.Role == auth.District {
		if c, err := r.City.Store().Committee(ctx, id); err == nil && c.DistrictID == p.Scope {
			return nil
		}
	}
	return forbidden(p)
}

// stockChangedInScope lets a district follow its own district (and its
// pharmacies) and a pharmacy itself.
func stockChangedInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	district, _ := fc.Args["districtId"].(*string)
	pharmacy, _ := fc.Args["pharmacyId"].(*string)
	switch p.Role {
	case auth.District:
		if district == nil || *district != p.Scope {
			return forbidden(p)
		}
		if pharmacy != nil {
			if ph, err := r.City.Store().Pharmacy(ctx, *pharmacy); err != nil || ph.DistrictID != p.Scope {
				return forbidden(p)
			}
		}
		return nil
	case auth.Pharmacy:
		if district == nil && pharmacy != nil && *pharmacy == p.Scope {
			return nil
		}
	}
	return forbidden(p)
}

// declarationInScope lets a resident file for themselves (SELF) and a
// committee for its own residents (COMMITTEE).
func declarationInScope(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.DeclareHealthInput)
	want := map[auth.Role]hub.FiledByKind{auth.Resident: hub.FiledBySelf, auth.Committee: hub.FiledByCommittee}[p.Role]
	if in.FiledBy != want {
		return hub.Errorf(hub.EFORBIDDEN, "a %s token files declarations as %s", p.Role, want)
	}
	if org := strings.TrimSpace(deref(in.Organisation)); p.Role == auth.Committee && org != "" && org != p.Scope {
		return hub.Errorf(hub.EFORBIDDEN, "a committee files as itself, not as %q", org)
	}
	return residentArgInScope("input", "residentId")(ctx, r, p, fc)
}

// cellArgInDistrict lets a district act on cells inside it only.
func cellArgInDistrict(name string) func(context.Context, *Resolver, auth.Principal, *graphql.FieldContext) error {
	return func(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
		c, _ := fc.Args[name].(hub.Cell)
		if d, err := r.City.Store().District(ctx, p.Scope); err == nil && hasCell(d.Cells, c) {
			return nil
		}
		return forbidden(p)
	}
}

// riskAreaArgInDistrict lets a district lift the risk areas centred in it.
func riskAreaArgInDistrict(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["id"].(string)
	a, err := r.City.Store().RiskArea(ctx, id)
	if err != nil {
		return forbidden(p)
	}
	if d, err := r.City.Store().District(ctx, p.Scope); err == nil && hasCell(d.Cells, a.Cell) {
		return nil
	}
	return forbidden(p)
}

// residentArgInDistrict lets a district read and mark its own residents.
func residentArgInDistrict(ctx context.Context, r *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	id, _ := fc.Args["residentId"].(string)
	if res, err := r.City.Store().Resident(ctx, id); err == nil && p.Is(auth.District, res.DistrictID) {
		return nil
	}
	return forbidden(p)
}

// scanAtOwnCheckpoint lets a checkpoint record scans at itself only.
func scanAtOwnCheckpoint(_ context.Context, _ *Resolver, p auth.Principal, fc *graphql.FieldContext) error {
	in, _ := fc.Args["input"].(model.ScanInput)
	if in.CheckpointID == nil || *in.CheckpointID == p.Scope {
		return nil
	}
	return forbidden(p)
}

// hasCell reports whether the sorted cells hold c.
func hasCell(sorted []hub.Cell, c hub.Cell) bool {
	_, ok := slices.BinarySearch(sorted, c)
	return ok
}
