package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/resolvers"
)

// writeCity is two districts side by side. Each has a committee over its
// western part (the eastern part is free ground, to create committees on
// or move them to), a pharmacy, a checkpoint, a resident of the
// committee and a delivery partner serving the district.
type writeCity struct {
	districts, committees, codes, pharmacies, checkpoints, residents, partners [2]string
	west                                                                       [2][]map[string]float64 // the committee's polygon
	home                                                                       [2]map[string]float64   // where the resident lives
	shop                                                                       [2]map[string]float64   // where the pharmacy and the checkpoint stand
	east                                                                       [2]map[string]float64   // elsewhere in the district, outside the committee
	cells                                                                      [2][]string             // the district's cells
	free                                                                       [2][]string             // district cells outside the committee
	freeAt                                                                     [2]atomic.Int64
	outside                                                                    string // a cell in no district
}

const writeCitySize = 0.03 // degrees: about 3 km square, some 95 cells

func seedWriteCity(t *testing.T, admin client) *writeCity {
	t.Helper()
	wc := &writeCity{outside: "8928308280fffff"}
	for i := range 2 {
		lat, lng := 25.000, 121.500+float64(i)*2*writeCitySize
		square := []map[string]float64{{"lat": lat, "lng": lng}, {"lat": lat, "lng": lng + writeCitySize},
			{"lat": lat + writeCitySize, "lng": lng + writeCitySize}, {"lat": lat + writeCitySize, "lng": lng}}
		wc.west[i] = []map[string]float64{{"lat": lat, "lng": lng}, {"lat": lat, "lng": lng + 0.008},
			{"lat": lat + writeCitySize, "lng": lng + 0.008}, {"lat": lat + writeCitySize, "lng": lng}}
		wc.home[i] = map[string]float64{"lat": lat + 0.015, "lng": lng + 0.004}
		wc.shop[i] = map[string]float64{"lat": lat + 0.015, "lng": lng + 0.0045}
		wc.east[i] = map[string]float64{"lat": lat + 0.015, "lng": lng + 0.022}
		wc.districts[i] = fmt.Sprintf("wd%d", i+1)
		wc.committees[i] = fmt.Sprintf("wc%d", i+1)
		wc.codes[i] = fmt.Sprintf("WC%d", i+1)
		wc.pharmacies[i] = fmt.Sprintf("wp%d", i+1)
		wc.checkpoints[i] = fmt.Sprintf("wk%d", i+1)
		wc.partners[i] = fmt.Sprintf("wpartner-%d", i+1)
		var d struct{ UpsertDistrict struct{ Cells []string } }
		must(t, admin, `mutation($id: ID!, $a: AreaInput!) { upsertDistrict(input: {id: $id, name: "D", area: $a}) { cells } }`,
			map[string]any{"id": wc.districts[i], "a": map[string]any{"polygon": square}}, &d)
		wc.cells[i] = d.UpsertDistrict.Cells
		wc.restoreCommittee(t, admin, i)
		wc.restorePharmacy(t, admin, i)
		wc.restoreCheckpoint(t, admin, i)
		var c struct{ Committee struct{ Cells []string } }
		must(t, admin, `query($id: ID!) { committee(id: $id) { cells } }`, map[string]any{"id": wc.committees[i]}, &c)
		for _, cell := range wc.cells[i] {
			if !slices.Contains(c.Committee.Cells, cell) {
				wc.free[i] = append(wc.free[i], cell)
			}
		}
		must(t, admin, `mutation($id: ID!, $c: [H3Cell!]) { upsertPartner(input: {id: $id, name: "Courier", area: {cells: $c}}) { id } }`,
			map[string]any{"id": wc.partners[i], "c": wc.cells[i]}, nil)
		var r struct{ RegisterResident struct{ ID string } }
		must(t, admin, `mutation($n: String!, $c: String!, $l: LatLngInput!) { registerResident(input: {name: "Wang Li", idNumber: $n, phone: "0911222333", location: $l, committeeCode: $c}) { id } }`,
			map[string]any{"n": privacy.ExampleTaiwanID('W', i), "c": wc.codes[i], "l": wc.home[i]}, &r)
		wc.residents[i] = r.RegisterResident.ID
		must(t, admin, `mutation($r: ID!) { declareHealth(input: {residentId: $r}) { code { colour } } }`, map[string]any{"r": wc.residents[i]}, nil)
	}
	if len(wc.free[0]) < 60 || len(wc.free[1]) < 60 {
		t.Fatalf("free cells %d and %d: want 60 in each district", len(wc.free[0]), len(wc.free[1]))
	}
	return wc
}

// freeCell returns a cell of district i that no committee holds, a new
// one each call.
func (wc *writeCity) freeCell(i int) string {
	n := wc.freeAt[i].Add(1) - 1
	return wc.free[i][int(n)%len(wc.free[i])]
}

// restoreCommittee puts committee i back as seeded.
func (wc *writeCity) restoreCommittee(t *testing.T, admin client, i int) {
	t.Helper()
	must(t, admin, `mutation($id: ID!, $code: String!, $d: ID!, $a: [LatLngInput!]) { upsertCommittee(input: {id: $id, code: $code, name: "C", districtId: $d, area: {polygon: $a}}) { id } }`,
		map[string]any{"id": wc.committees[i], "code": wc.codes[i], "d": wc.districts[i], "a": wc.west[i]}, nil)
}

// restorePharmacy puts pharmacy i back as seeded (its stock, once made,
// moves by restock and dispatch only).
func (wc *writeCity) restorePharmacy(t *testing.T, admin client, i int) {
	t.Helper()
	must(t, admin, `mutation($id: ID!, $l: LatLngInput!) { upsertPharmacy(input: {id: $id, name: "P", location: $l, stock: [{sku: MASK_ADULT, quantity: 1000}]}) { id } }`,
		map[string]any{"id": wc.pharmacies[i], "l": wc.shop[i]}, nil)
}

// restoreCheckpoint puts checkpoint i back as seeded.
func (wc *writeCity) restoreCheckpoint(t *testing.T, admin client, i int) {
	t.Helper()
	must(t, admin, `mutation($id: ID!, $l: LatLngInput!) { upsertCheckpoint(input: {id: $id, name: "K", kind: STATION, location: $l}) { id } }`,
		map[string]any{"id": wc.checkpoints[i], "l": wc.shop[i]}, nil)
}

// writeCase is one row of the write matrix: a mutation tried on a
// record of the caller's own scope (target 0), of the neighbour's
// (target 1) and on a new id (target 2).
type writeCase struct {
	name  string // the Mutation field, then /variant
	query string
	// vars makes the fixtures of one call and returns its variables;
	// keys starting with "_" are for state, not sent.
	vars func(t *testing.T, target int) map[string]any
	// state reads, as ADMIN, everything the call could change.
	state func(t *testing.T, v map[string]any) string
	// undo puts the city back after a call that went through (nil:
	// nothing to put back).
	undo func(t *testing.T, target int)
	// want is the outcome per role and target: "" allowed, else the
	// error code. Roles not listed: FORBIDDEN (ADMIN: allowed);
	// no token: UNAUTHENTICATED.
	want map[string][3]string
}

// TestWriteAuthorizationMatrix runs every mutation for every role on a
// record of the caller's scope, one of the neighbour's and a new id,
// including the moves of a record from one scope to another, and checks
// the outcome and that a refused call changed nothing in the store.
func TestWriteAuthorizationMatrix(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	wc := seedWriteCity(t, admin)

	type principal struct{ role, scope string }
	roles := []principal{
		{"", ""}, {"ADMIN", ""}, {"DISTRICT", wc.districts[0]}, {"COMMITTEE", wc.committees[0]},
		{"PARTNER", wc.partners[0]}, {"PHARMACY", wc.pharmacies[0]}, {"CHECKPOINT", wc.checkpoints[0]}, {"RESIDENT", wc.residents[0]},
	}
	clients := map[string]client{"": {url: h.url}}
	for _, p := range roles[1:] {
		clients[p.role] = h.as(t, p.role, p.scope)
	}
	owners := [2]client{clients["RESIDENT"], h.as(t, "RESIDENT", wc.residents[1])}

	var seq atomic.Int64
	next := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }
	read := func(t *testing.T, query string, vars map[string]any) string {
		t.Helper()
		r := gql(t, admin, query, vars)
		return string(r.Data) + " " + r.code()
	}

	// Dispatch fixtures: each call that consumes something gets its own.
	now := time.Now().UTC()
	opens, closes := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	since := now.Add(-24 * time.Hour).Format(time.RFC3339)
	newRound := func(t *testing.T, mode, fulfilment string) string {
		t.Helper()
		id := next("wr")
		must(t, admin, `mutation($id: ID!, $m: RoundMode!, $f: Fulfilment!, $o: Time!, $c: Time!) {
			openRound(input: {id: $id, name: "R", sku: MASK_ADULT, perPerson: 1, mode: $m, fulfilments: [$f], opens: $o, closes: $c, maxK: 2}) { id } }`,
			map[string]any{"id": id, "m": mode, "f": fulfilment, "o": opens, "c": closes}, nil)
		return id
	}
	type reserved struct {
		Reserve struct {
			Reservation struct{ ID string }
			Allocation  struct {
				ID, PickupCode string
				Pharmacy       struct{ ID string }
			}
		}
	}
	// reserveAs reserves for resident i with their own token (the pickup
	// code is shown to its owner only).
	reserveAs := func(t *testing.T, round string, i int, f string) reserved {
		t.Helper()
		var r reserved
		must(t, owners[i], `mutation($r: ID!, $p: ID!, $f: Fulfilment) { reserve(input: {roundId: $r, residentId: $p, fulfilment: $f}) {
			reservation { id } allocation { id pickupCode pharmacy { id } } } }`,
			map[string]any{"r": round, "p": wc.residents[i], "f": f}, &r)
		if a := r.Reserve.Allocation; f == "PICKUP" && a.ID != "" && a.Pharmacy.ID != wc.pharmacies[i] {
			t.Fatalf("resident %d was allocated at %q, want %s", i, r.Reserve.Allocation.Pharmacy.ID, wc.pharmacies[i])
		}
		return r
	}
	residentOr := func(target int, missing string) string {
		if target == 2 {
			return missing
		}
		return wc.residents[target]
	}
	// The stock of both pharmacies, as stored.
	stocks := func(t *testing.T) string {
		return read(t, `query($a: ID!, $b: ID!) { a: pharmacy(id: $a) { stock { sku quantity } } b: pharmacy(id: $b) { stock { sku quantity } } }`,
			map[string]any{"a": wc.pharmacies[0], "b": wc.pharmacies[1]})
	}
	reservationState := func(t *testing.T, v map[string]any) string {
		return read(t, `query($id: ID!) { reservation(id: $id) { status allocation { status } } }`, map[string]any{"id": v["_rsv"]}) + stocks(t)
	}
	healthState := func(t *testing.T, v map[string]any) string {
		return read(t, `query($r: ID!, $a: ID!, $b: ID!) { healthCode(residentId: $r) { colour reasons updatedAt }
			a: district(id: $a) { declarationCounts { cell colour filedBy count } } b: district(id: $b) { declarationCounts { cell colour filedBy count } } }`,
			map[string]any{"r": v["r"], "a": wc.districts[0], "b": wc.districts[1]})
	}
	// totals come from the event stream: read them once they are still.
	settledTotals := func(t *testing.T) string {
		q := `query($a: ID!, $b: ID!) { a: district(id: $a) { totals { demand reservations shortages } } b: district(id: $b) { totals { demand reservations shortages } } }`
		v := map[string]any{"a": wc.districts[0], "b": wc.districts[1]}
		last := read(t, q, v)
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			cur := read(t, q, v)
			if cur == last {
				return cur
			}
			last = cur
		}
		return last
	}

	placeVars := func(id, name string, loc map[string]float64) map[string]any {
		return map[string]any{"id": id, "n": name, "l": loc}
	}
	pharmacyState := func(t *testing.T, v map[string]any) string {
		return read(t, `query($id: ID!) { pharmacy(id: $id) { id name location { lat lng } district { id } stock { sku quantity } } }`, map[string]any{"id": v["id"]})
	}
	checkpointState := func(t *testing.T, v map[string]any) string {
		return read(t, `query($id: ID!) { checkpoint(id: $id) { id name location { lat lng } district { id } } }`, map[string]any{"id": v["id"]})
	}
	committeeState := func(t *testing.T, v map[string]any) string {
		return read(t, `query($id: ID!) { committee(id: $id) { id code name district { id } cells } }`, map[string]any{"id": v["id"]})
	}
	undoPharmacy := func(t *testing.T, target int) {
		if target < 2 {
			wc.restorePharmacy(t, admin, target)
		}
	}
	undoCheckpoint := func(t *testing.T, target int) {
		if target < 2 {
			wc.restoreCheckpoint(t, admin, target)
		}
	}
	undoCommittee := func(t *testing.T, target int) {
		if target < 2 {
			wc.restoreCommittee(t, admin, target)
		}
	}
	// placeAt gives, per target, the id and location of an upsert of a
	// place: own (0), the neighbour's (1) or new (2), at where(target).
	placeAt := func(ids [2]string, prefix string, where func(target int) map[string]float64) func(*testing.T, int) map[string]any {
		return func(_ *testing.T, target int) map[string]any {
			id := next(prefix)
			if target < 2 {
				id = ids[target]
			}
			return placeVars(id, "HIJACKED", where(target))
		}
	}
	committeeVars := func(target int, district int, area map[string]any) map[string]any {
		id, code := next("wc-new-"), next("WC-NEW-")
		if target < 2 {
			id, code = wc.committees[target], wc.codes[target]
		}
		return map[string]any{"id": id, "code": code, "d": wc.districts[district], "a": area}
	}

	const ok = ""
	// Hold fixtures: a case of resident target, a hold of it, and every
	// hold as stored.
	markCaseOf := func(t *testing.T, target int) {
		must(t, admin, `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive test") { subject } }`, map[string]any{"r": wc.residents[target]}, nil)
	}
	holdUntil := func(days int) string { return now.Add(time.Duration(days) * 24 * time.Hour).Format(time.RFC3339) }
	holdOr := func(t *testing.T, target int) string {
		if target == 2 {
			return "hold-none"
		}
		markCaseOf(t, target)
		var h struct{ PlaceHold struct{ ID string } }
		must(t, admin, `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "investigation", until: $u) { id } }`,
			map[string]any{"r": wc.residents[target], "u": holdUntil(30)}, &h)
		return h.PlaceHold.ID
	}
	holdState := func(t *testing.T, _ map[string]any) string {
		return read(t, `{ holds(all: true) { id districtId caseId residentIds until extensions liftedAt inForce } }`, nil)
	}
	const F, NF, BAD = "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"
	type want = map[string][3]string
	upsertPharmacy := `mutation($id: ID!, $n: String!, $l: LatLngInput!) { upsertPharmacy(input: {id: $id, name: $n, location: $l}) { id name district { id } } }`
	upsertCheckpoint := `mutation($id: ID!, $n: String!, $l: LatLngInput!) { upsertCheckpoint(input: {id: $id, name: $n, kind: OFFICE, location: $l}) { id name } }`
	upsertCommittee := `mutation($id: ID!, $code: String!, $d: ID!, $a: AreaInput!) { upsertCommittee(input: {id: $id, code: $code, name: "HIJACKED", districtId: $d, area: $a}) { id } }`

	tests := []writeCase{
		// Registration: a committee registers through its own code, at an
		// address in its own area.
		{"Mutation.registerResident", `mutation($n: String!, $c: String!, $l: LatLngInput!) { registerResident(input: {name: "N", idNumber: $n, location: $l, committeeCode: $c}) { id } }`,
			func(_ *testing.T, target int) map[string]any {
				code, at := "NO-SUCH-CODE", wc.home[0]
				if target < 2 {
					code, at = wc.codes[target], wc.home[target]
				}
				return map[string]any{"n": privacy.ExampleTaiwanID('W', int(seq.Add(1))+100), "c": code, "l": at}
			},
			func(t *testing.T, _ map[string]any) string {
				return read(t, `query($a: ID!, $b: ID!) { a: committee(id: $a) { residentCount } b: committee(id: $b) { residentCount } }`,
					map[string]any{"a": wc.committees[0], "b": wc.committees[1]})
			}, nil,
			want{"ADMIN": {ok, ok, NF}, "COMMITTEE": {ok, F, F}}},
		{"Mutation.registerResident/elsewhere", `mutation($n: String!, $c: String, $l: LatLngInput!) { registerResident(input: {name: "N", idNumber: $n, location: $l, committeeCode: $c}) { id } }`,
			// Own code, the neighbour's address; the neighbour's code, our
			// address; no code, the neighbour's address.
			func(_ *testing.T, target int) map[string]any {
				v := map[string]any{"n": privacy.ExampleTaiwanID('W', int(seq.Add(1))+100), "l": wc.home[1-target%2]}
				if target < 2 {
					v["c"] = wc.codes[target]
				} else {
					v["l"] = wc.home[1]
				}
				return v
			},
			func(t *testing.T, _ map[string]any) string {
				return read(t, `query($a: ID!, $b: ID!) { a: committee(id: $a) { residentCount } b: committee(id: $b) { residentCount } }`,
					map[string]any{"a": wc.committees[0], "b": wc.committees[1]})
			}, nil,
			// A committee that gives no code is told committeeCode is
			// required (BAD_USER_INPUT naming the field).
			want{"ADMIN": {BAD, BAD, ok}, "COMMITTEE": {BAD, F, BAD}}},

		// Places. In place: rename only.
		{"Mutation.upsertPharmacy", upsertPharmacy,
			placeAt(wc.pharmacies, "wp-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.shop[0], wc.shop[1], wc.east[0]}[target]
			}),
			pharmacyState, undoPharmacy,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, ok}, "PHARMACY": {ok, F, F}}},
		// Within the district: allowed to its district and to itself.
		{"Mutation.upsertPharmacy/within", upsertPharmacy,
			placeAt(wc.pharmacies, "wp-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.east[0], wc.east[1], wc.east[0]}[target]
			}),
			pharmacyState, undoPharmacy,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, ok}, "PHARMACY": {ok, F, F}}},
		// Across districts: ours out, the neighbour's in, a new one in
		// the neighbour's district. ADMIN only.
		{"Mutation.upsertPharmacy/move", upsertPharmacy,
			placeAt(wc.pharmacies, "wp-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.east[1], wc.east[0], wc.east[1]}[target]
			}),
			pharmacyState, undoPharmacy,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {F, F, F}, "PHARMACY": {F, F, F}}},
		{"Mutation.upsertCheckpoint", upsertCheckpoint,
			placeAt(wc.checkpoints, "wk-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.shop[0], wc.shop[1], wc.east[0]}[target]
			}),
			checkpointState, undoCheckpoint,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, ok}}},
		{"Mutation.upsertCheckpoint/within", upsertCheckpoint,
			placeAt(wc.checkpoints, "wk-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.east[0], wc.east[1], wc.east[0]}[target]
			}),
			checkpointState, undoCheckpoint,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, ok}}},
		{"Mutation.upsertCheckpoint/move", upsertCheckpoint,
			placeAt(wc.checkpoints, "wk-new-", func(target int) map[string]float64 {
				return [3]map[string]float64{wc.east[1], wc.east[0], wc.east[1]}[target]
			}),
			checkpointState, undoCheckpoint,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {F, F, F}}},
		// Committees: in place (a new one on free ground of ours).
		{"Mutation.upsertCommittee", upsertCommittee,
			func(_ *testing.T, target int) map[string]any {
				if target == 2 {
					return committeeVars(target, 0, map[string]any{"cells": []string{wc.freeCell(0)}})
				}
				return committeeVars(target, target, map[string]any{"polygon": wc.west[target]})
			},
			committeeState, undoCommittee,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, ok}}},
		// Across districts: ours to the neighbour, the neighbour's to us,
		// a new one in the neighbour's district. ADMIN only.
		{"Mutation.upsertCommittee/move", upsertCommittee,
			func(_ *testing.T, target int) map[string]any {
				to := [3]int{1, 0, 1}[target]
				return committeeVars(target, to, map[string]any{"cells": []string{wc.freeCell(to)}})
			},
			committeeState, undoCommittee,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {F, F, F}}},
		// An area reaching into the other district: refused to everyone.
		{"Mutation.upsertCommittee/area", upsertCommittee,
			func(_ *testing.T, target int) map[string]any {
				if target == 2 {
					return committeeVars(target, 0, map[string]any{"cells": []string{wc.freeCell(1)}})
				}
				return committeeVars(target, target, map[string]any{"polygon": wc.west[target], "cells": []string{wc.freeCell(1 - target)}})
			},
			committeeState, undoCommittee,
			want{"ADMIN": {BAD, BAD, BAD}, "DISTRICT": {BAD, F, BAD}}},
		// A committee code is one committee's: taking the neighbour's is a
		// conflict (or refused first), and leaves both as they were.
		{"Mutation.upsertCommittee/code", upsertCommittee,
			func(_ *testing.T, target int) map[string]any {
				if target == 2 {
					v := committeeVars(target, 0, map[string]any{"cells": []string{wc.freeCell(0)}})
					v["code"] = wc.codes[1]
					return v
				}
				v := committeeVars(target, target, map[string]any{"polygon": wc.west[target]})
				v["code"] = wc.codes[1-target]
				return v
			},
			func(t *testing.T, v map[string]any) string {
				q := `query($id: ID!) { committee(id: $id) { id code name district { id } cells } }`
				return read(t, q, map[string]any{"id": v["id"]}) + read(t, q, map[string]any{"id": wc.committees[0]}) + read(t, q, map[string]any{"id": wc.committees[1]})
			}, undoCommittee,
			want{"ADMIN": {"CONFLICT", "CONFLICT", "CONFLICT"}, "DISTRICT": {"CONFLICT", F, "CONFLICT"}}},
		{"Mutation.upsertDistrict", `mutation($id: ID!, $a: AreaInput!) { upsertDistrict(input: {id: $id, name: "HIJACKED", area: $a}) { id } }`,
			func(_ *testing.T, target int) map[string]any {
				if target < 2 {
					return map[string]any{"id": wc.districts[target], "a": map[string]any{"cells": wc.cells[target]}}
				}
				n := float64(seq.Add(1))
				lat := 10 + n*0.05
				return map[string]any{"id": next("wd-new-"), "a": map[string]any{"polygon": []map[string]float64{
					{"lat": lat, "lng": 10}, {"lat": lat + 0.01, "lng": 10}, {"lat": lat + 0.01, "lng": 10.01}}}}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { district(id: $id) { id name cells } }`, map[string]any{"id": v["id"]})
			}, nil,
			want{"ADMIN": {ok, ok, ok}}},
		{"Mutation.restock", `mutation($id: ID!) { restock(pharmacyId: $id, sku: MASK_ADULT, quantity: 1) { id } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"id": [3]string{wc.pharmacies[0], wc.pharmacies[1], "wp-none"}[target]}
			},
			pharmacyState, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}, "PHARMACY": {ok, F, F}}},

		// Running rounds and partners: ADMIN only.
		{"Mutation.openRound", `mutation($id: ID!, $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c}) { id } }`,
			func(_ *testing.T, _ int) map[string]any {
				return map[string]any{"id": next("wr-new-"), "o": opens, "c": closes}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { round(id: $id) { id status } }`, map[string]any{"id": v["id"]})
			}, nil,
			want{"ADMIN": {ok, ok, ok}}},
		{"Mutation.closeRound", `mutation($id: ID!) { closeRound(id: $id) { id status } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"id": "wr-none"}
				}
				return map[string]any{"id": newRound(t, "FIRST_COME", "PICKUP")}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { round(id: $id) { id status } }`, map[string]any{"id": v["id"]})
			}, nil,
			want{"ADMIN": {ok, ok, NF}}},
		{"Mutation.commitLottery", `mutation($id: ID!) { commitLottery(roundId: $id) { id commitment } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"id": "wr-none"}
				}
				return map[string]any{"id": newRound(t, "LOTTERY", "PICKUP")}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { round(id: $id) { id status commitment } }`, map[string]any{"id": v["id"]})
			}, nil,
			want{"ADMIN": {ok, ok, NF}}},
		{"Mutation.drawLottery", `mutation($id: ID!) { drawLottery(roundId: $id) { seed winners } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"id": "wr-none"}
				}
				id := newRound(t, "LOTTERY", "PICKUP")
				must(t, admin, `mutation($id: ID!) { commitLottery(roundId: $id) { id } }`, map[string]any{"id": id}, nil)
				reserveAs(t, id, target, "PICKUP")
				must(t, admin, `mutation($id: ID!) { closeRound(id: $id) { id } }`, map[string]any{"id": id}, nil)
				return map[string]any{"id": id}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { round(id: $id) { id status seed } }`, map[string]any{"id": v["id"]}) + stocks(t)
			}, nil,
			want{"ADMIN": {ok, ok, NF}}},
		{"Mutation.upsertPartner", `mutation($id: ID!, $c: [H3Cell!]) { upsertPartner(input: {id: $id, name: "HIJACKED", area: {cells: $c}}) { id } }`,
			func(_ *testing.T, target int) map[string]any {
				if target < 2 {
					return map[string]any{"id": wc.partners[target], "c": wc.cells[target]}
				}
				return map[string]any{"id": next("wpartner-new-"), "c": []string{wc.outside}}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { partner(id: $id) { id name cells } }`, map[string]any{"id": v["id"]})
			}, nil,
			want{"ADMIN": {ok, ok, ok}}},

		// Reservations: a resident for themselves, a committee for its
		// residents.
		{"Mutation.reserve", `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p}) { reservation { id } } }`,
			func(t *testing.T, target int) map[string]any {
				return map[string]any{"r": newRound(t, "FIRST_COME", "PICKUP"), "p": residentOr(target, "res-none")}
			},
			func(t *testing.T, v map[string]any) string {
				return read(t, `query($id: ID!) { round(id: $id) { cells { cell requests demand served } } }`, map[string]any{"id": v["r"]}) + stocks(t)
			}, nil,
			want{"ADMIN": {ok, ok, NF}, "COMMITTEE": {ok, F, F}, "RESIDENT": {ok, F, F}}},
		{"Mutation.cancelReservation", `mutation($id: ID!) { cancelReservation(id: $id) { id status } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"id": "rsv-none", "_rsv": "rsv-none"}
				}
				id := reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), target, "PICKUP").Reserve.Reservation.ID
				return map[string]any{"id": id, "_rsv": id}
			},
			reservationState, nil,
			want{"ADMIN": {ok, ok, NF}, "COMMITTEE": {ok, F, F}, "RESIDENT": {ok, F, F}}},
		// A pharmacy redeems its own codes at itself.
		{"Mutation.redeem", `mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { id status } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"p": wc.pharmacies[0], "c": "0000-0000-0000-0", "_rsv": "rsv-none"}
				}
				r := reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), target, "PICKUP")
				return map[string]any{"p": r.Reserve.Allocation.Pharmacy.ID, "c": r.Reserve.Allocation.PickupCode, "_rsv": r.Reserve.Reservation.ID}
			},
			reservationState, nil,
			want{"ADMIN": {ok, ok, NF}, "PHARMACY": {ok, F, NF}}},
		// Another pharmacy's code: at our counter, at theirs, at none.
		{"Mutation.redeem/foreign", `mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { id status } }`,
			func(t *testing.T, target int) map[string]any {
				holder := [3]int{1, 0, 0}[target]
				r := reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), holder, "PICKUP")
				at := [3]string{wc.pharmacies[0], wc.pharmacies[1], "wp-none"}[target]
				return map[string]any{"p": at, "c": r.Reserve.Allocation.PickupCode, "_rsv": r.Reserve.Reservation.ID}
			},
			reservationState, nil,
			want{"ADMIN": {F, F, F}, "PHARMACY": {F, F, F}}},
		// A partner reports its own deliveries.
		{"Mutation.markDelivery", `mutation($a: ID!) { markDelivery(allocationId: $a, delivered: true) { id status } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"a": "alc-none", "_rsv": "rsv-none"}
				}
				r := reserveAs(t, newRound(t, "FIRST_COME", "DELIVERY"), target, "DELIVERY")
				return map[string]any{"a": r.Reserve.Allocation.ID, "_rsv": r.Reserve.Reservation.ID}
			},
			reservationState, nil,
			want{"ADMIN": {ok, ok, NF}, "PARTNER": {ok, F, F}}},
		{"Mutation.registerShortage", `mutation($p: ID!) { registerShortage(residentId: $p, sku: HAND_SANITIZER) { id status } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"p": residentOr(target, "res-none")}
			},
			func(t *testing.T, _ map[string]any) string { return settledTotals(t) },
			// A resident waits once per supply: a restock serves the wait.
			func(t *testing.T, target int) {
				if target < 2 {
					must(t, admin, `mutation($id: ID!) { restock(pharmacyId: $id, sku: HAND_SANITIZER, quantity: 1) { id } }`,
						map[string]any{"id": wc.pharmacies[target]}, nil)
				}
			},
			want{"ADMIN": {ok, ok, NF}, "COMMITTEE": {ok, F, F}, "RESIDENT": {ok, F, F}}},

		// Health codes.
		{"Mutation.declareHealth", `mutation($r: ID!) { declareHealth(input: {residentId: $r, symptoms: ["cough"]}) { declaration { colour } } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"r": residentOr(target, "res-none")}
			},
			healthState, nil,
			want{"ADMIN": {ok, ok, NF}, "RESIDENT": {ok, F, F}}},
		{"Mutation.declareHealth/committee", `mutation($r: ID!, $c: String) { declareHealth(input: {residentId: $r, filedBy: COMMITTEE, organisation: $c, symptoms: ["cough"]}) { declaration { filer } } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"r": residentOr(target, "res-none"), "c": wc.committees[target%2]}
			},
			healthState, nil,
			want{"ADMIN": {ok, ok, NF}, "COMMITTEE": {ok, F, F}}},
		// Filing as another committee, even for our own resident (the
		// health-code service refuses a committee filing for another's
		// residents, to ADMIN too).
		{"Mutation.declareHealth/as-other", `mutation($r: ID!, $c: String) { declareHealth(input: {residentId: $r, filedBy: COMMITTEE, organisation: $c, symptoms: ["cough"]}) { declaration { filer } } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"r": residentOr(target, "res-none"), "c": wc.committees[1-target%2]}
			},
			healthState, nil,
			want{"ADMIN": {F, F, NF}, "COMMITTEE": {F, F, F}}},
		{"Mutation.markRiskArea", `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "cluster") { id } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"c": [3]string{wc.freeCell(0), wc.freeCell(1), wc.outside}[target]}
			},
			func(t *testing.T, _ map[string]any) string {
				return read(t, `{ riskAreas(all: true) { id center active } }`, nil)
			}, nil,
			want{"ADMIN": {ok, ok, ok}, "DISTRICT": {ok, F, F}}},
		{"Mutation.liftRiskArea", `mutation($id: ID!) { liftRiskArea(id: $id) { id active } }`,
			func(t *testing.T, target int) map[string]any {
				if target == 2 {
					return map[string]any{"id": "risk-none"}
				}
				var m struct{ MarkRiskArea struct{ ID string } }
				must(t, admin, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 0, reason: "test") { id } }`, map[string]any{"c": wc.freeCell(target)}, &m)
				return map[string]any{"id": m.MarkRiskArea.ID}
			},
			func(t *testing.T, _ map[string]any) string {
				return read(t, `{ riskAreas(all: true) { id center active liftedAt } }`, nil)
			}, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}}},
		// A checkpoint records scans at itself.
		{"Mutation.recordScan", `mutation($k: ID!, $code: String!) { recordScan(input: {checkpointId: $k, code: $code, temperature: 36.6}) { result scan { id } } }`,
			func(t *testing.T, target int) map[string]any {
				var c struct{ HealthCode struct{ Token string } }
				must(t, admin, `query($r: ID!) { healthCode(residentId: $r) { token } }`, map[string]any{"r": wc.residents[0]}, &c)
				return map[string]any{"k": [3]string{wc.checkpoints[0], wc.checkpoints[1], "wk-none"}[target], "code": c.HealthCode.Token}
			},
			func(t *testing.T, _ map[string]any) string {
				return read(t, `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "write matrix") { id checkpointId } }`,
					map[string]any{"r": wc.residents[0], "s": since})
			}, nil,
			want{"ADMIN": {ok, ok, NF}, "CHECKPOINT": {ok, F, F}}},
		{"Mutation.markCase", `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive test") { subject } }`,
			func(_ *testing.T, target int) map[string]any {
				return map[string]any{"r": residentOr(target, "res-none")}
			},
			healthState, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}}},
		// Legal holds: a district's own cases only.
		{"Mutation.placeHold", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "investigation", until: $u) { id } }`,
			func(t *testing.T, target int) map[string]any {
				if target < 2 {
					markCaseOf(t, target)
				}
				return map[string]any{"r": residentOr(target, "res-none"), "u": holdUntil(30)}
			},
			holdState, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}}},
		{"Mutation.extendHold", `mutation($id: ID!, $u: Time!) { extendHold(id: $id, until: $u, reason: "more time") { id extensions } }`,
			func(t *testing.T, target int) map[string]any {
				return map[string]any{"id": holdOr(t, target), "u": holdUntil(60)}
			},
			holdState, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}}},
		{"Mutation.liftHold", `mutation($id: ID!) { liftHold(id: $id, reason: "closed") { id liftedAt } }`,
			func(t *testing.T, target int) map[string]any { return map[string]any{"id": holdOr(t, target)} },
			holdState, nil,
			want{"ADMIN": {ok, ok, NF}, "DISTRICT": {ok, F, F}}},
	}

	// Every mutation of the schema has a row.
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	for _, f := range schema.Types["Mutation"].Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		if !slices.ContainsFunc(tests, func(tt writeCase) bool {
			field, _, _ := strings.Cut(tt.name, "/")
			return field == "Mutation."+f.Name
		}) {
			t.Errorf("mutation %s is missing from the write matrix", f.Name)
		}
	}

	// A pickup code and its QR path are the owner's only: ADMIN reads
	// null too, and the QR image is refused to ADMIN.
	t.Run("Allocation.pickupCode", func(t *testing.T) {
		r := reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), 0, "PICKUP")
		q := `query($id: ID!) { reservation(id: $id) { allocation { id pickupCode qrUrl } } }`
		for _, tt := range []struct {
			name  string
			c     client
			owner bool
		}{{"owner", owners[0], true}, {"ADMIN", admin, false}, {"committee", clients["COMMITTEE"], false}} {
			var got struct {
				Reservation struct {
					Allocation struct {
						ID                string
						PickupCode, QrURL *string
					}
				}
			}
			must(t, tt.c, q, map[string]any{"id": r.Reserve.Reservation.ID}, &got)
			a := got.Reservation.Allocation
			if a.ID != r.Reserve.Allocation.ID || (a.PickupCode != nil) != tt.owner || (a.QrURL != nil) != tt.owner {
				t.Errorf("%s reads allocation %s with pickupCode %v, qrUrl %v; want them shown: %v", tt.name, a.ID, a.PickupCode, a.QrURL, tt.owner)
			}
		}
		path := "/pickup/" + r.Reserve.Allocation.ID + "/qr.png"
		if status, _, _ := getQR(t, admin, path); status != http.StatusForbidden {
			t.Errorf("ADMIN gets the QR image with status %d, want 403", status)
		}
		if status, _, _ := getQR(t, owners[0], path); status != http.StatusOK {
			t.Errorf("the owner gets the QR image with status %d, want 200", status)
		}
	})

	targets := [3]string{"own", "neighbour", "new"}
	for _, tt := range tests {
		for _, p := range roles {
			for target, tname := range targets {
				name := p.role
				if name == "" {
					name = "anonymous"
				}
				t.Run(fmt.Sprintf("%s/%s/%s", tt.name, name, tname), func(t *testing.T) {
					w, listed := tt.want[p.role]
					switch {
					case p.role == "":
						w = [3]string{"UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"}
					case !listed && p.role == "ADMIN":
						w = [3]string{ok, ok, ok}
					case !listed:
						w = [3]string{F, F, F}
					}
					v := tt.vars(t, target)
					send := map[string]any{}
					for k, x := range v {
						if !strings.HasPrefix(k, "_") {
							send[k] = x
						}
					}
					before := tt.state(t, v)
					r := gql(t, clients[p.role], tt.query, send)
					got := r.code()
					if got != w[target] {
						t.Errorf("code %q, want %q (errors %+v)", got, w[target], r.Errors)
					}
					if got == ok {
						if tt.undo != nil {
							tt.undo(t, target)
						}
						return
					}
					if !noData(r.Data) {
						t.Errorf("refused, yet data came back: %s", r.Data)
					}
					if after := tt.state(t, v); after != before {
						t.Errorf("refused (%s), yet the store changed:\nbefore %s\nafter  %s", got, before, after)
					}
				})
			}
		}
	}
}
