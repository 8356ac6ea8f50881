package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileText is one member of each kind of character no free-text field
// may hold: NUL, CR/LF, tab, an ANSI escape, DEL, a C1 control, the
// right-to-left override and its relatives, the line separator and the
// byte-order mark.
var hostileText = map[string]string{
	"NUL":                "Lin\x00Mei",
	"CR LF":              "Lin\r\nMei",
	"LF":                 "Lin\nMei",
	"tab":                "Lin\tMei",
	"ANSI escape":        "\x1b[31mLin Mei\x1b[0m",
	"DEL":                "Lin\x7fMei",
	"C1 NEL":             "Lin\u0085Mei",
	"right-to-left ovr":  "Lin\u202eieM",
	"left-to-right emb":  "Lin\u202aMei",
	"first-strong isol":  "Lin\u2068Mei\u2069",
	"right-to-left mark": "Lin\u200fMei",
	"Arabic letter mark": "Lin\u061cMei",
	"line separator":     "Lin\u2028Mei",
	"byte-order mark":    "\ufeffLin Mei",
}

// TestFreeTextRefusesControls sends every hostile character in every
// free-text field a caller can write, and checks each is refused with
// BAD_USER_INPUT naming the field, and that nothing was stored.
func TestFreeTextRefusesControls(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	code, pharmacyID := seedSmallCity(t, admin)
	var reg struct{ RegisterResident struct{ ID string } }
	must(t, admin, `mutation($c: String) { registerResident(input: {name: "Lin", idNumber: "A123456789", cell: "894ba0a408fffff", committeeCode: $c}) { id } }`,
		map[string]any{"c": code}, &reg)
	resident := reg.RegisterResident.ID
	square := map[string]any{"polygon": taipeiSquare}
	small := map[string]any{"polygon": []map[string]float64{
		{"lat": 25.044, "lng": 121.513}, {"lat": 25.044, "lng": 121.518},
		{"lat": 25.048, "lng": 121.518}, {"lat": 25.048, "lng": 121.513},
	}}
	opens := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	closes := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)

	// Each field: the mutation carrying $v in that field, and a query
	// whose answer must be the same before and after the refusal.
	fields := []struct {
		field string
		query string
		vars  map[string]any
		check string
	}{
		{"district name", `mutation($v: String!, $a: AreaInput!) { upsertDistrict(input: {id: "d-new", code: "DN", name: $v, area: $a}) { id } }`,
			map[string]any{"a": square}, `{ districts { id name code } }`},
		{"district code", `mutation($v: String!, $a: AreaInput!) { upsertDistrict(input: {id: "zhongzheng", code: $v, name: "Zhongzheng", area: $a}) { id } }`,
			map[string]any{"a": square}, `{ districts { id name code } }`},
		{"committee name", `mutation($v: String!, $a: AreaInput!) { upsertCommittee(input: {id: "c1", code: "ZZ001", name: $v, area: $a}) { id } }`,
			map[string]any{"a": small}, `{ committee(id: "c1") { name code } }`},
		{"committee code", `mutation($v: String!, $a: AreaInput!) { upsertCommittee(input: {id: "c2", code: $v, name: "New", area: $a}) { id } }`,
			map[string]any{"a": small}, `{ committee(id: "c2") { name code } }`},
		{"resident name", `mutation($v: String!) { registerResident(input: {name: $v, idNumber: "F131104093", cell: "894ba0a408fffff"}) { id } }`,
			nil, `{ committee(id: "c1") { residentCount } }`},
		{"resident phone", `mutation($v: String!) { registerResident(input: {name: "Wu", idNumber: "F131104093", phone: $v, cell: "894ba0a408fffff"}) { id } }`,
			nil, `{ committee(id: "c1") { residentCount } }`},
		{"resident address", `mutation($v: String!) { registerResident(input: {name: "Wu", idNumber: "F131104093", address: $v, cell: "894ba0a408fffff"}) { id } }`,
			nil, `{ committee(id: "c1") { residentCount } }`},
		{"pharmacy name", `mutation($v: String!, $p: ID!) { upsertPharmacy(input: {id: $p, name: $v, location: {lat: 25.0465, lng: 121.5155}}) { id } }`,
			map[string]any{"p": pharmacyID}, `query($p: ID!) { pharmacy(id: $p) { name phone address } }`},
		{"pharmacy phone", `mutation($v: String!, $p: ID!) { upsertPharmacy(input: {id: $p, name: "Beimen Pharmacy", phone: $v, location: {lat: 25.0465, lng: 121.5155}}) { id } }`,
			map[string]any{"p": pharmacyID}, `query($p: ID!) { pharmacy(id: $p) { name phone address } }`},
		{"pharmacy address", `mutation($v: String!, $p: ID!) { upsertPharmacy(input: {id: $p, name: "Beimen Pharmacy", address: $v, location: {lat: 25.0465, lng: 121.5155}}) { id } }`,
			map[string]any{"p": pharmacyID}, `query($p: ID!) { pharmacy(id: $p) { name phone address } }`},
		{"checkpoint name", `mutation($v: String!) { upsertCheckpoint(input: {id: "k1", name: $v, kind: STATION, location: {lat: 25.0465, lng: 121.5155}}) { id } }`,
			nil, `{ checkpoint(id: "k1") { name } }`},
		{"round name", `mutation($v: String!, $o: Time!, $c: Time!) { openRound(input: {id: "r1", name: $v, sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c}) { id } }`,
			map[string]any{"o": opens, "c": closes}, `{ rounds { id name } }`},
		{"partner name", `mutation($v: String!, $a: AreaInput!) { upsertPartner(input: {id: "p1", name: $v, area: $a}) { id } }`,
			map[string]any{"a": small}, `{ partner(id: "p1") { name } }`},
		{"risk area reason", `mutation($v: String!) { markRiskArea(cell: "894ba0a408fffff", rings: 1, reason: $v) { id } }`,
			nil, `{ riskAreas(all: true) { id reason } }`},
		{"declaration organisation", `mutation($v: String!, $r: ID!) { declareHealth(input: {residentId: $r, filedBy: ENTERPRISE, organisation: $v}) { declaration { id } } }`,
			map[string]any{"r": resident}, `query($r: ID!) { healthCode(residentId: $r) { colour } }`},
		{"trajectory purpose", `query($v: String!, $r: ID!) { trajectory(residentId: $r, since: "2026-01-01T00:00:00Z", purpose: $v) { id } }`,
			map[string]any{"r": resident}, `{ auditLog(first: 100) { entries { purpose } } }`},
	}
	for _, f := range fields {
		before := gql(t, admin, f.check, f.vars)
		for kind, v := range hostileText {
			vars := map[string]any{"v": v}
			for k, x := range f.vars {
				vars[k] = x
			}
			r := gql(t, admin, f.query, vars)
			if r.code() != "BAD_USER_INPUT" {
				t.Errorf("%s with %s: got %s %+v, want BAD_USER_INPUT", f.field, kind, r.code(), r.Errors)
				continue
			}
			name := f.field[strings.LastIndex(f.field, " ")+1:]
			if !strings.Contains(r.Errors[0].Message, name) {
				t.Errorf("%s with %s: message %q does not name the field", f.field, kind, r.Errors[0].Message)
			}
		}
		after := gql(t, admin, f.check, f.vars)
		if string(before.Data) != string(after.Data) {
			t.Errorf("%s: refused writes changed the store:\nbefore %s\nafter  %s", f.field, before.Data, after.Data)
		}
	}
}

// TestErrorsClipEchoedInput sends a large input to every argument that an
// error message repeats, and checks no answer carries more than a short
// clip of it.
func TestErrorsClipEchoedInput(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	seedSmallCity(t, admin)
	big := strings.Repeat("X", 200_000)
	queries := []struct{ name, query string }{
		{"committeeByCode", `query($v: String!) { committeeByCode(code: $v) { id } }`},
		{"district", `query($v: ID!) { district(id: $v) { id } }`},
		{"committee", `query($v: ID!) { committee(id: $v) { id } }`},
		{"resident", `query($v: ID!) { resident(id: $v) { id } }`},
		{"pharmacy", `query($v: ID!) { pharmacy(id: $v) { id } }`},
		{"checkpoint", `query($v: ID!) { checkpoint(id: $v) { id } }`},
		{"round", `query($v: ID!) { round(id: $v) { id } }`},
		{"partner", `query($v: ID!) { partner(id: $v) { id } }`},
		{"cell", `query($v: H3Cell!) { cell(id: $v) { id } }`},
		{"Time", `query($v: Time!) { allocations(partnerId: "p", since: $v) { totalCount } }`},
		{"restock", `mutation($v: ID!) { restock(pharmacyId: $v, sku: MASK_ADULT, quantity: 1) { id } }`},
		{"redeem", `mutation($v: String!) { redeem(pharmacyId: "5901012345", code: $v) { id } }`},
		{"verifyCode", `query($v: String!) { verifyCode(token: $v) { valid } }`},
		{"cancelReservation", `mutation($v: ID!) { cancelReservation(id: $v) { id } }`},
		{"reserve", `mutation($v: ID!) { reserve(input: {roundId: $v, residentId: "r"}) { replayed } }`},
		{"registerResident committeeCode", `mutation($v: String!) { registerResident(input: {name: "A", idNumber: "A123456789", cell: "894ba0a408fffff", committeeCode: $v}) { id } }`},
		{"registerResident idNumber", `mutation($v: String!) { registerResident(input: {name: "A", idNumber: $v, cell: "894ba0a408fffff"}) { id } }`},
		{"liftRiskArea", `mutation($v: ID!) { liftRiskArea(id: $v) { id } }`},
	}
	for _, q := range queries {
		r := gql(t, admin, q.query, map[string]any{"v": big})
		if len(r.Errors) == 0 {
			t.Errorf("%s: no error for a 200 kB argument: %s", q.name, r.Data)
			continue
		}
		raw, _ := json.Marshal(r.Errors)
		if len(raw) > 2048 || strings.Contains(string(raw), strings.Repeat("X", 100)) {
			t.Errorf("%s: errors of %d bytes repeat the input: %.300s", q.name, len(raw), raw)
		}
	}
	// An unknown field name or argument of a megabyte in the document.
	r := gql(t, admin, fmt.Sprintf(`{ %s }`, strings.Repeat("y", 500_000)), nil)
	if raw, _ := json.Marshal(r.Errors); len(r.Errors) == 0 || len(raw) > 4096 {
		t.Errorf("huge unknown field: %d errors, %d bytes", len(r.Errors), len(raw))
	}
}

// TestOutOfRangeArgumentsRefused checks that values the hub would read as
// something else (a negative maxK as "the default", the zero time as
// "now") are refused instead.
func TestOutOfRangeArgumentsRefused(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	seedSmallCity(t, admin)
	must(t, admin, `mutation { upsertCheckpoint(input: {id: "k1", name: "Station", kind: STATION, location: {lat: 25.0465, lng: 121.5155}}) { id } }`, nil, nil)
	opens := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	closes := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	for _, k := range []int{-1, -2, -100, -2147483648} {
		r := gql(t, admin, `mutation($k: Int!, $o: Time!, $c: Time!) { openRound(input: {id: "r1", name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c, maxK: $k}) { id maxK } }`,
			map[string]any{"k": k, "o": opens, "c": closes})
		if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "maxK") {
			t.Errorf("maxK %d: got %s %+v", k, r.code(), r.Errors)
		}
	}
	if r := gql(t, admin, `{ round(id: "r1") { id } }`, nil); string(r.Data) != `{"round":null}` && r.code() != "NOT_FOUND" {
		t.Errorf("a refused round was stored: %s", r.Data)
	}
	for _, at := range []string{"0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "2262-04-12T00:00:00Z"} {
		r := gql(t, admin, `mutation($at: Time!) { recordScan(input: {checkpointId: "k1", code: "GH1:x", at: $at}) { id } }`, map[string]any{"at": at})
		if r.code() != "BAD_USER_INPUT" {
			t.Errorf("recordScan at %s: got %s %+v", at, r.code(), r.Errors)
		}
		r = gql(t, admin, `query($at: Time!) { trajectory(residentId: "r", since: $at, purpose: "p") { id } }`, map[string]any{"at": at})
		if r.code() != "BAD_USER_INPUT" {
			t.Errorf("trajectory since %s: got %s %+v", at, r.code(), r.Errors)
		}
	}
}

// TestResidentOutsideEveryDistrict: an address outside every district is
// accepted only from ADMIN, as an unassigned resident (no committee, no
// district) whom only ADMIN reads; a committee cannot place anyone there.
func TestResidentOutsideEveryDistrict(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	code, _ := seedSmallCity(t, admin)
	kaohsiung := map[string]any{"lat": 22.6273, "lng": 120.3014}
	var reg struct {
		RegisterResident struct {
			ID        string
			Committee *struct{ ID string }
			District  *struct{ ID string }
		}
	}
	must(t, admin, `mutation($l: LatLngInput!) { registerResident(input: {name: "Far", idNumber: "E123456783", location: $l}) { id committee { id } district { id } } }`,
		map[string]any{"l": kaohsiung}, &reg)
	if reg.RegisterResident.Committee != nil || reg.RegisterResident.District != nil {
		t.Errorf("a resident outside every district was assigned: %+v", reg.RegisterResident)
	}
	if r := gql(t, admin, `query($id: ID!) { resident(id: $id, purpose: "check") { id } }`, map[string]any{"id": reg.RegisterResident.ID}); len(r.Errors) > 0 {
		t.Errorf("ADMIN cannot read the unassigned resident: %+v", r.Errors)
	}
	committee := h.as(t, "COMMITTEE", "c1")
	for _, c := range []map[string]any{{"c": code}, {"c": nil}} {
		vars := map[string]any{"l": kaohsiung, "c": c["c"]}
		r := gql(t, committee, `mutation($l: LatLngInput!, $c: String) { registerResident(input: {name: "Far", idNumber: "E223456785", location: $l, committeeCode: $c}) { id } }`, vars)
		if r.code() != "BAD_USER_INPUT" && r.code() != "FORBIDDEN" {
			t.Errorf("a committee registered someone outside its area (code %v): %s %+v", c["c"], r.Data, r.Errors)
		}
	}
	for _, role := range []string{"COMMITTEE", "DISTRICT"} {
		scope := map[string]string{"COMMITTEE": "c1", "DISTRICT": "zhongzheng"}[role]
		r := gql(t, h.as(t, role, scope), `query($id: ID!) { resident(id: $id, purpose: "check") { id } }`, map[string]any{"id": reg.RegisterResident.ID})
		if r.code() != "FORBIDDEN" {
			t.Errorf("%s reads the unassigned resident: %s %s %+v", role, r.code(), r.Data, r.Errors)
		}
	}
}
