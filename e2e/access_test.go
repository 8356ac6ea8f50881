package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/resolvers"
)

// accessCity is two of everything: the first in scope of the tokens the
// matrix uses, the second outside it.
type accessCity struct {
	districts, committees, codes, pharmacies, residents, checkpoints [2]string
}

func seedAccessCity(t *testing.T, admin client) accessCity {
	t.Helper()
	var ac accessCity
	squares := [2][2]float64{{25.040, 121.510}, {25.060, 121.540}}
	for i, sq := range squares {
		lat, lng := sq[0], sq[1]
		poly := []map[string]float64{{"lat": lat, "lng": lng}, {"lat": lat, "lng": lng + 0.011}, {"lat": lat + 0.010, "lng": lng + 0.011}, {"lat": lat + 0.010, "lng": lng}}
		ac.districts[i] = fmt.Sprintf("d%d", i+1)
		ac.committees[i] = fmt.Sprintf("c%d", i+1)
		ac.codes[i] = fmt.Sprintf("C%d", i+1)
		ac.pharmacies[i] = fmt.Sprintf("p%d", i+1)
		ac.checkpoints[i] = fmt.Sprintf("k%d", i+1)
		must(t, admin, `mutation($id: ID!, $a: AreaInput!) { upsertDistrict(input: {id: $id, name: "D", area: $a}) { id } }`,
			map[string]any{"id": ac.districts[i], "a": map[string]any{"polygon": poly}}, nil)
		must(t, admin, `mutation($id: ID!, $code: String!, $a: AreaInput!) { upsertCommittee(input: {id: $id, code: $code, name: "C", area: $a}) { id } }`,
			map[string]any{"id": ac.committees[i], "code": ac.codes[i], "a": map[string]any{"polygon": poly}}, nil)
		loc := map[string]float64{"lat": lat + 0.005, "lng": lng + 0.005}
		must(t, admin, `mutation($id: ID!, $l: LatLngInput!) { upsertPharmacy(input: {id: $id, name: "P", location: $l, stock: [{sku: MASK_ADULT, quantity: 100}]}) { id } }`,
			map[string]any{"id": ac.pharmacies[i], "l": loc}, nil)
		must(t, admin, `mutation($id: ID!, $l: LatLngInput!) { upsertCheckpoint(input: {id: $id, name: "K", kind: STATION, location: $l}) { id } }`,
			map[string]any{"id": ac.checkpoints[i], "l": loc}, nil)
		var r struct{ RegisterResident struct{ ID string } }
		must(t, admin, `mutation($n: String!, $c: String!, $l: LatLngInput!) { registerResident(input: {name: "Wang Li", idNumber: $n, phone: "0911222333", location: $l, committeeCode: $c}) { id } }`,
			map[string]any{"n": privacy.ExampleTaiwanID('Z', i+1), "c": ac.codes[i], "l": loc}, &r)
		ac.residents[i] = r.RegisterResident.ID
	}
	return ac
}

// TestAuthorizationMatrix runs every root field for every role, once in
// the token's scope and once outside it, and checks the outcome: success
// or the error code.
func TestAuthorizationMatrix(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)

	type principal struct{ role, scope string }
	roles := []principal{
		{"", ""}, {"ADMIN", ""}, {"DISTRICT", ac.districts[0]}, {"COMMITTEE", ac.committees[0]},
		{"PARTNER", "partner-1"}, {"PHARMACY", ac.pharmacies[0]}, {"CHECKPOINT", ac.checkpoints[0]}, {"RESIDENT", ac.residents[0]},
	}
	clients := map[string]client{}
	for _, p := range roles {
		if p.role == "" {
			clients[""] = client{url: h.url}
			continue
		}
		clients[p.role] = h.as(t, p.role, p.scope)
	}

	var seq atomic.Int64
	idNumber := func() string { return privacy.ExampleTaiwanID('M', int(seq.Add(1))) }
	at := func(i int) map[string]float64 {
		return map[string]float64{"lat": []float64{25.045, 25.065}[i], "lng": []float64{121.515, 121.545}[i]}
	}

	// Dispatch fixtures: each call that consumes something gets its own.
	now := time.Now().UTC()
	window := map[string]any{"opens": now.Add(-time.Hour).Format(time.RFC3339), "closes": now.Add(time.Hour).Format(time.RFC3339)}
	newRound := func(t *testing.T, mode string, fulfilment string) string {
		id := fmt.Sprintf("r%d", seq.Add(1))
		must(t, admin, `mutation($id: ID!, $m: RoundMode!, $f: Fulfilment!, $o: Time!, $c: Time!) {
			openRound(input: {id: $id, name: "R", sku: MASK_ADULT, perPerson: 1, mode: $m, fulfilments: [$f], opens: $o, closes: $c, maxK: 2}) { id } }`,
			map[string]any{"id": id, "m": mode, "f": fulfilment, "o": window["opens"], "c": window["closes"]}, nil)
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
	// Each resident reserves with their own token: the pickup code is
	// shown to its owner only.
	owners := [2]client{h.as(t, "RESIDENT", ac.residents[0]), h.as(t, "RESIDENT", ac.residents[1])}
	reserveAs := func(t *testing.T, round string, i int, f string) reserved {
		var r reserved
		must(t, owners[i], `mutation($r: ID!, $p: ID!, $f: Fulfilment) { reserve(input: {roundId: $r, residentId: $p, fulfilment: $f}) {
			reservation { id } allocation { id pickupCode pharmacy { id } } } }`,
			map[string]any{"r": round, "p": ac.residents[i], "f": f}, &r)
		return r
	}
	// Health-code fixtures: both residents have declared, so they have
	// codes; each district has a cell to mark.
	var districtCell [2]string
	codeOf := func(t *testing.T, i int) string {
		var c struct{ HealthCode struct{ Token string } }
		must(t, admin, `query($r: ID!) { healthCode(residentId: $r) { token } }`, map[string]any{"r": ac.residents[i]}, &c)
		return c.HealthCode.Token
	}
	for i := range 2 {
		must(t, admin, `mutation($r: ID!) { declareHealth(input: {residentId: $r}) { code { colour } } }`, map[string]any{"r": ac.residents[i]}, nil)
	}
	since := now.Add(-24 * time.Hour).Format(time.RFC3339)
	for i := range 2 {
		var d struct{ District struct{ Cells []string } }
		must(t, admin, `query($d: ID!) { district(id: $d) { cells } }`, map[string]any{"d": ac.districts[i]}, &d)
		districtCell[i] = d.District.Cells[len(d.District.Cells)/2]
		must(t, admin, `mutation($id: ID!, $c: [H3Cell!]) { upsertPartner(input: {id: $id, name: "Courier", area: {cells: $c}}) { id } }`,
			map[string]any{"id": fmt.Sprintf("partner-%d", i+1), "c": d.District.Cells}, nil)
	}
	deliveryRound := newRound(t, "FIRST_COME", "DELIVERY")
	var deliveries [2]reserved
	for i := range 2 {
		deliveries[i] = reserveAs(t, deliveryRound, i, "DELIVERY")
	}

	// Hold fixtures: a case of resident i, and a hold of it.
	markCaseOf := func(t *testing.T, i int) {
		must(t, admin, `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive test") { subject } }`, map[string]any{"r": ac.residents[i]}, nil)
	}
	newHold := func(t *testing.T, i int) string {
		markCaseOf(t, i)
		var h struct{ PlaceHold struct{ ID string } }
		must(t, admin, `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "investigation", until: $u) { id } }`,
			map[string]any{"r": ac.residents[i], "u": now.Add(30 * 24 * time.Hour).Format(time.RFC3339)}, &h)
		return h.PlaceHold.ID
	}

	const ok = ""
	type want map[string][2]string // role -> {in scope, out of scope}; roles not listed: FORBIDDEN both, anonymous UNAUTHENTICATED
	tests := []struct {
		field string
		query string
		vars  func(_ *testing.T, i int) map[string]any // i = 0 in scope, 1 out of scope
		want  want
	}{
		{"Query.cellAt", `{ cellAt(lat: 25, lng: 121) { id } }`, nil, want{"*": {ok, ok}}},
		{"Query.cell", `{ cell(id: "8928308280fffff") { id neighbors { id } } }`, nil, want{"*": {ok, ok}}},
		{"Query.supplies", `{ supplies { sku } }`, nil, want{"*": {ok, ok}}},
		{"Query.trustList", `{ trustList { issuer keyId publicKey } }`, nil, want{"*": {ok, ok}}},
		{"Query.verifyCode", `{ verifyCode(token: "GH1:not-a-code") { valid reason } }`, nil,
			want{"CHECKPOINT": {ok, ok}, "COMMITTEE": {ok, ok}, "DISTRICT": {ok, ok}}},
		{"Query.pharmaciesNear", `query($l: Float!, $g: Float!) { pharmaciesNear(lat: $l, lng: $g) { ring } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"l": at(i)["lat"], "g": at(i)["lng"]} },
			want{"DISTRICT": {ok, ok}, "COMMITTEE": {ok, ok}, "PARTNER": {ok, ok}, "PHARMACY": {ok, ok}, "CHECKPOINT": {ok, ok}, "RESIDENT": {ok, ok}}},
		{"Query.pharmacy", `query($id: ID!) { pharmacy(id: $id) { id stock { quantity } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.pharmacies[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "COMMITTEE": {ok, ok}, "PARTNER": {ok, ok}, "PHARMACY": {ok, "FORBIDDEN"}, "RESIDENT": {ok, ok}}},
		{"Query.district", `query($id: ID!) { district(id: $id) { id name } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.districts[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Query.districts", `{ districts { id } }`, nil, want{"DISTRICT": {ok, ok}}},
		// A district's aggregates reached through a pharmacy: only its own district's operators.
		{"District.aggregates", `query($id: ID!) { pharmacy(id: $id) { district { cellCount committees { id } pharmacies { id } residentCount } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.pharmacies[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		// A committee's residents reached through its code: only the committee.
		{"Committee.residents", `query($c: String!) { committeeByCode(code: $c) { residents { edges { node { id } } } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"c": ac.codes[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}}},
		{"Query.committee", `query($id: ID!) { committee(id: $id) { id residentCount } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.committees[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "COMMITTEE": {ok, "FORBIDDEN"}}},
		{"Query.committeeByCode", `query($c: String!) { committeeByCode(code: $c) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"c": ac.codes[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "COMMITTEE": {ok, "FORBIDDEN"}}},
		{"Query.resident", `query($id: ID!) { resident(id: $id) { id name idNumberMasked } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.residents[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Query.checkpoint", `query($id: ID!) { checkpoint(id: $id) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.checkpoints[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "CHECKPOINT": {ok, "FORBIDDEN"}}},
		// A checkpoint asking for another district's sees none of them.
		{"Query.checkpoints", `query($d: ID) { checkpoints(districtId: $d) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"d": ac.districts[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "CHECKPOINT": {ok, ok}}},
		{"Query.round", `query($id: ID!) { round(id: $id) { id status commitment seed } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": deliveryRound} },
			want{"DISTRICT": {ok, ok}, "COMMITTEE": {ok, ok}, "PARTNER": {ok, ok}, "PHARMACY": {ok, ok}, "CHECKPOINT": {ok, ok}, "RESIDENT": {ok, ok}}},
		{"Query.rounds", `{ rounds { id } }`, nil,
			want{"DISTRICT": {ok, ok}, "COMMITTEE": {ok, ok}, "PARTNER": {ok, ok}, "PHARMACY": {ok, ok}, "CHECKPOINT": {ok, ok}, "RESIDENT": {ok, ok}}},
		{"Query.reservation", `query($id: ID!) { reservation(id: $id) { id status } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"id": deliveries[i].Reserve.Reservation.ID}
			},
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Query.allocations", `query($p: ID!) { allocations(partnerId: $p) { edges { node { id status } } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"p": fmt.Sprintf("partner-%d", i+1)} },
			want{"PARTNER": {ok, "FORBIDDEN"}}},
		{"Query.partner", `query($p: ID!) { partner(id: $p) { id cells } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"p": fmt.Sprintf("partner-%d", i+1)} },
			want{"PARTNER": {ok, "FORBIDDEN"}}},
		{"Mutation.openRound", `mutation($id: ID!, $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c}) { id } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"id": fmt.Sprintf("r%d", seq.Add(1)), "o": window["opens"], "c": window["closes"]}
			}, want{}},
		{"Mutation.closeRound", `mutation($id: ID!) { closeRound(id: $id) { id status } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"id": newRound(t, "FIRST_COME", "PICKUP")}
			}, want{}},
		{"Mutation.commitLottery", `mutation($id: ID!) { commitLottery(roundId: $id) { id commitment } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"id": newRound(t, "LOTTERY", "PICKUP")}
			}, want{}},
		{"Mutation.drawLottery", `mutation($id: ID!) { drawLottery(roundId: $id) { seed winners } }`,
			func(t *testing.T, i int) map[string]any {
				id := newRound(t, "LOTTERY", "PICKUP")
				must(t, admin, `mutation($id: ID!) { commitLottery(roundId: $id) { id } }`, map[string]any{"id": id}, nil)
				reserveAs(t, id, i, "PICKUP")
				must(t, admin, `mutation($id: ID!) { closeRound(id: $id) { id } }`, map[string]any{"id": id}, nil)
				return map[string]any{"id": id}
			}, want{}},
		{"Mutation.upsertPartner", `mutation($id: ID!) { upsertPartner(input: {id: $id, name: "Courier", area: {cells: ["8928308280fffff"]}}) { id } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"id": fmt.Sprintf("partner-new-%d", seq.Add(1))}
			}, want{}},
		{"Mutation.reserve", `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p}) { reservation { id } } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"r": newRound(t, "FIRST_COME", "PICKUP"), "p": ac.residents[i]}
			}, want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Mutation.cancelReservation", `mutation($id: ID!) { cancelReservation(id: $id) { id status } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"id": reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), i, "PICKUP").Reserve.Reservation.ID}
			}, want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Mutation.redeem", `mutation($p: ID!, $c: String!) { redeem(pharmacyId: $p, code: $c) { id status } }`,
			func(t *testing.T, i int) map[string]any {
				r := reserveAs(t, newRound(t, "FIRST_COME", "PICKUP"), i, "PICKUP")
				return map[string]any{"p": r.Reserve.Allocation.Pharmacy.ID, "c": r.Reserve.Allocation.PickupCode}
			}, want{"PHARMACY": {ok, "FORBIDDEN"}}},
		{"Mutation.markDelivery", `mutation($a: ID!) { markDelivery(allocationId: $a, delivered: true) { id status } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"a": reserveAs(t, newRound(t, "FIRST_COME", "DELIVERY"), i, "DELIVERY").Reserve.Allocation.ID}
			}, want{"PARTNER": {ok, "FORBIDDEN"}}},
		{"Mutation.registerShortage", `mutation($p: ID!, $s: SKU!) { registerShortage(residentId: $p, sku: $s) { id status } }`,
			func(_ *testing.T, i int) map[string]any {
				skus := []string{"MASK_CHILD", "MASK_N95", "HAND_SANITIZER", "TEST_KIT", "MASK_ADULT"}
				return map[string]any{"p": ac.residents[i], "s": skus[seq.Add(1)%int64(len(skus))]}
			}, want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Subscription.restockAlerts", `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"c": ac.committees[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "DISTRICT": {ok, "FORBIDDEN"}}},
		{"Subscription.riskAlerts", `subscription($c: ID!) { riskAlerts(committeeId: $c) { seq } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"c": ac.committees[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "DISTRICT": {ok, "FORBIDDEN"}}},
		{"Subscription.stockChanged", `subscription($d: ID, $p: ID) { stockChanged(districtId: $d, pharmacyId: $p) { seq } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"d": ac.districts[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Subscription.stockChanged/pharmacy", `subscription($p: ID) { stockChanged(pharmacyId: $p) { seq } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"p": ac.pharmacies[i]} },
			want{"PHARMACY": {ok, "FORBIDDEN"}}},
		{"Subscription.allocationUpdates", `subscription($p: ID!) { allocationUpdates(partnerId: $p) { seq } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"p": fmt.Sprintf("partner-%d", i+1)} },
			want{"PARTNER": {ok, "FORBIDDEN"}}},
		{"Query.auditLog", `{ auditLog { entries { action } } }`, nil, want{}},
		{"Query.myAccessLog", `{ myAccessLog { entries { actorRole actorScope official action purpose count at } nextAfter } }`, nil,
			want{"RESIDENT": {ok, ok}, "ADMIN": {"FORBIDDEN", "FORBIDDEN"}}},
		{"Query.residentAccessLog", `query($r: ID!) { residentAccessLog(residentId: $r) { entries { actorRole action } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Resident.accessLog", `query($r: ID!) { resident(id: $r) { accessLog { entries { actorRole action } } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},

		{"Query.healthCode", `query($r: ID!) { healthCode(residentId: $r) { colour token qrUrl } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i]} },
			want{"COMMITTEE": {ok, "FORBIDDEN"}, "RESIDENT": {ok, "FORBIDDEN"}}},
		{"Mutation.declareHealth", `mutation($r: ID!) { declareHealth(input: {residentId: $r, symptoms: ["cough"]}) { declaration { colour } code { colour } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i]} },
			want{"RESIDENT": {ok, "FORBIDDEN"}}},
		{"Mutation.declareHealth/committee", `mutation($r: ID!, $c: String) { declareHealth(input: {residentId: $r, filedBy: COMMITTEE, organisation: $c}) { declaration { filer } } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"r": ac.residents[i], "c": ac.committees[i]}
			},
			want{"COMMITTEE": {ok, "FORBIDDEN"}}},
		{"Query.riskAreas", `{ riskAreas { id center cells { level } } }`, nil,
			want{"DISTRICT": {ok, ok}, "COMMITTEE": {ok, ok}, "PARTNER": {ok, ok}, "PHARMACY": {ok, ok}, "CHECKPOINT": {ok, ok}, "RESIDENT": {ok, ok}}},
		{"Mutation.markRiskArea", `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "cluster") { id active } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"c": districtCell[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.liftRiskArea", `mutation($id: ID!) { liftRiskArea(id: $id) { id active liftedAt } }`,
			func(t *testing.T, i int) map[string]any {
				var m struct{ MarkRiskArea struct{ ID string } }
				must(t, admin, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 0, reason: "test") { id } }`, map[string]any{"c": districtCell[i]}, &m)
				return map[string]any{"id": m.MarkRiskArea.ID}
			},
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.recordScan", `mutation($k: ID!, $code: String!) { recordScan(input: {checkpointId: $k, code: $code, temperature: 36.6}) { result reason scan { id } } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"k": ac.checkpoints[i], "code": codeOf(t, i)}
			},
			want{"CHECKPOINT": {ok, "FORBIDDEN"}}},
		{"Query.trajectory", `query($r: ID!, $s: Time!) { trajectory(residentId: $r, since: $s, purpose: "tracing") { id result } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i], "s": since} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Query.contacts", `query($r: ID!, $s: Time!) { contacts(residentId: $r, since: $s, purpose: "tracing") { subject } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i], "s": since} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.markCase", `mutation($r: ID!) { markCase(residentId: $r, purpose: "positive test") { subject } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"r": ac.residents[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		// Retention: the periods are public; a district holds, extends,
		// lifts and lists the holds of its own cases.
		{"Query.retention", `{ retention { scansDays declarationsDays dispatchDays auditDays } }`, nil,
			want{"*": {ok, ok}}},
		{"Query.holds", `query($d: ID) { holds(districtId: $d, all: true) { id caseId residentIds } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"d": ac.districts[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.placeHold", `mutation($r: ID!, $u: Time!) { placeHold(caseId: $r, reason: "investigation", until: $u) { id } }`,
			func(t *testing.T, i int) map[string]any {
				markCaseOf(t, i)
				return map[string]any{"r": ac.residents[i], "u": now.Add(30 * 24 * time.Hour).Format(time.RFC3339)}
			},
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.extendHold", `mutation($id: ID!, $u: Time!) { extendHold(id: $id, until: $u, reason: "more time") { id extensions } }`,
			func(t *testing.T, i int) map[string]any {
				return map[string]any{"id": newHold(t, i), "u": now.Add(60 * 24 * time.Hour).Format(time.RFC3339)}
			},
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.liftHold", `mutation($id: ID!) { liftHold(id: $id, reason: "closed") { id liftedAt } }`,
			func(t *testing.T, i int) map[string]any { return map[string]any{"id": newHold(t, i)} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		// A district's dashboard aggregates: only its own operators.
		{"District.dashboard", `query($id: ID!) { pharmacy(id: $id) { district { cellStats(resolution: 8) { cell { id } stock { quantity } demand green riskLevel }
			totals { demand } series(hours: 2) { at stock } outline { lat } declarationCounts { count } colourCounts { count } } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.pharmacies[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Subscription.districtUpdates", `subscription($d: ID!) { districtUpdates(districtId: $d) { cell { id } } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"d": ac.districts[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},

		{"Mutation.registerResident", `mutation($n: String!, $c: String!, $l: LatLngInput!) { registerResident(input: {name: "N", idNumber: $n, location: $l, committeeCode: $c}) { id } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"n": idNumber(), "c": ac.codes[i], "l": at(i)}
			},
			want{"COMMITTEE": {ok, "FORBIDDEN"}}},
		{"Mutation.upsertPharmacy", `mutation($id: ID!, $l: LatLngInput!) { upsertPharmacy(input: {id: $id, name: "P", location: $l}) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.pharmacies[i], "l": at(i)} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "PHARMACY": {ok, "FORBIDDEN"}}},
		{"Mutation.upsertCommittee", `mutation($id: ID!, $code: String!, $d: ID!, $l: LatLngInput!) { upsertCommittee(input: {id: $id, code: $code, name: "C", districtId: $d, area: {polygon: [$l, $l, $l]}}) { id } }`,
			func(_ *testing.T, i int) map[string]any {
				return map[string]any{"id": ac.committees[i], "code": ac.codes[i], "d": ac.districts[i], "l": at(i)}
			},
			// The polygon is degenerate: an in-scope caller gets as far as
			// validation; an out-of-scope one is stopped before.
			want{"ADMIN": {"BAD_USER_INPUT", "BAD_USER_INPUT"}, "DISTRICT": {"BAD_USER_INPUT", "FORBIDDEN"}}},
		{"Mutation.upsertDistrict", `mutation($id: ID!, $a: AreaInput!) { upsertDistrict(input: {id: $id, name: "D", area: $a}) { id } }`,
			// Each run takes new ground, so runs never clash.
			func(_ *testing.T, i int) map[string]any {
				n := float64(seq.Add(1))
				lat, lng := 10+n*0.05, 10.0
				return map[string]any{"id": fmt.Sprintf("d-new-%v", n), "a": map[string]any{"polygon": []map[string]float64{
					{"lat": lat, "lng": lng}, {"lat": lat + 0.01, "lng": lng}, {"lat": lat + 0.01, "lng": lng + 0.01}}}}
			},
			want{"ADMIN": {ok, ok}}},
		{"Mutation.upsertCheckpoint", `mutation($id: ID!, $l: LatLngInput!) { upsertCheckpoint(input: {id: $id, name: "K", kind: STATION, location: $l}) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.checkpoints[i], "l": at(i)} },
			want{"DISTRICT": {ok, "FORBIDDEN"}}},
		{"Mutation.restock", `mutation($id: ID!) { restock(pharmacyId: $id, sku: MASK_ADULT, quantity: 1) { id } }`,
			func(_ *testing.T, i int) map[string]any { return map[string]any{"id": ac.pharmacies[i]} },
			want{"DISTRICT": {ok, "FORBIDDEN"}, "PHARMACY": {ok, "FORBIDDEN"}}},
	}

	// Every root field of the schema is in the matrix.
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	var fields []string
	for _, def := range []string{"Query", "Mutation", "Subscription"} {
		if d := schema.Types[def]; d != nil {
			for _, f := range d.Fields {
				if !strings.HasPrefix(f.Name, "__") {
					fields = append(fields, def+"."+f.Name)
				}
			}
		}
	}
	for _, f := range fields {
		if !slices.ContainsFunc(tests, func(tt struct {
			field string
			query string
			vars  func(_ *testing.T, i int) map[string]any
			want  want
		}) bool {
			return tt.field == f
		}) {
			t.Errorf("root field %s is missing from the authorization matrix", f)
		}
	}

	for _, tt := range tests {
		for _, p := range roles {
			for i, scope := range []string{"in", "out"} {
				name := p.role
				if name == "" {
					name = "anonymous"
				}
				t.Run(fmt.Sprintf("%s/%s/%s", tt.field, name, scope), func(t *testing.T) {
					w, listed := tt.want[p.role]
					all, public := tt.want["*"]
					switch {
					case public:
						w = all
					case p.role == "":
						w = [2]string{"UNAUTHENTICATED", "UNAUTHENTICATED"}
					case p.role == "ADMIN" && !listed:
						w = [2]string{ok, ok}
					case !listed:
						w = [2]string{"FORBIDDEN", "FORBIDDEN"}
					}
					var vars map[string]any
					if tt.vars != nil {
						vars = tt.vars(t, i)
					}
					var r gqlResponse
					if strings.HasPrefix(tt.field, "Subscription.") {
						_, r = subscriptionCode(t, clients[p.role], tt.query, vars)
					} else {
						r = gql(t, clients[p.role], tt.query, vars)
					}
					if got := r.code(); got != w[i] {
						t.Errorf("code %q, want %q (errors %+v)", got, w[i], r.Errors)
					}
					if w[i] != ok && r.code() != "BAD_USER_INPUT" && strings.Contains(string(r.Data), `"id"`) {
						t.Errorf("refused, yet data leaked: %s", r.Data)
					}
				})
			}
		}
	}
}
