package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/privacy"
)

// TestEligibleIDNumbersEndToEnd: a round's eligibility list takes ID
// numbers in any spelling with a canonical form; the hub hashes them, a
// listed resident reserves, another is refused, and a number with no
// canonical form is BAD_USER_INPUT naming its place in the list.
func TestEligibleIDNumbersEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin) // residents[i] hold privacy.ExampleTaiwanID('Z', i+1)
	listed := privacy.ExampleTaiwanID('Z', 1)
	now := time.Now().UTC()
	open := `mutation($id: ID!, $n: [String!], $h: [String!], $o: Time!, $c: Time!) { openRound(input: {id: $id, name: "Listed", sku: MASK_ADULT,
		perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c, eligibleIdNumbers: $n, eligibleIdHashes: $h}) { id } }`
	vars := func(id string, numbers []string, hashes []string) map[string]any {
		return map[string]any{"id": id, "n": numbers, "h": hashes, "o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}
	}
	// A lower-case, spaced, full-width-digit spelling of the listed number.
	spelled := strings.ToLower(listed[:1]) + " " + string(rune(0xFF10+rune(listed[1]-'0'))) + listed[2:5] + "-" + listed[5:]
	must(t, admin, open, vars("listed", []string{spelled}, []string{"not-anyones-hash"}), nil)
	reserve := `mutation($r: ID!, $p: ID!) { reserve(input: {roundId: $r, residentId: $p}) { reservation { status } } }`
	var res struct {
		Reserve struct{ Reservation struct{ Status string } }
	}
	must(t, h.as(t, "RESIDENT", ac.residents[0]), reserve, map[string]any{"r": "listed", "p": ac.residents[0]}, &res)
	if res.Reserve.Reservation.Status == "" {
		t.Errorf("listed resident: %+v", res)
	}
	if r := gql(t, h.as(t, "RESIDENT", ac.residents[1]), reserve, map[string]any{"r": "listed", "p": ac.residents[1]}); r.code() != "FORBIDDEN" {
		t.Errorf("unlisted resident: %+v, want FORBIDDEN", r.Errors)
	}

	for i, bad := range []string{"Z1\u200b00000012", "\u0417" + listed[1:], listed[:9] + "0", "XXA 123456"} {
		numbers := []string{listed, privacy.ExampleTaiwanID('Z', 2)}
		numbers = append(numbers[:1], append([]string{bad}, numbers[1:]...)...)
		r := gql(t, admin, open, vars("bad"+string(rune('0'+i)), numbers, nil))
		if r.code() != "BAD_USER_INPUT" || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "eligibleIdNumbers[1]") {
			t.Errorf("%+q in the list: %+v, want BAD_USER_INPUT naming eligibleIdNumbers[1]", bad, r.Errors)
			continue
		}
		if strings.Contains(r.Errors[0].Message, listed[2:]) {
			t.Errorf("the error shows a number: %s", r.Errors[0].Message)
		}
	}
}

// TestIDFormsFlag: -id-forms decides which forms registerResident takes.
func TestIDFormsFlag(t *testing.T) {
	h := startHub(t, t.TempDir(), "--id-forms", "CN,OTHER")
	admin := h.as(t, "ADMIN", "")
	code, _ := seedSmallCity(t, admin)
	register := `mutation($n: String!, $c: String) { registerResident(input: {name: "Lin", idNumber: $n, cell: "894ba0a408fffff", committeeCode: $c}) { id idNumberMasked } }`
	tests := []struct {
		give, want string
	}{
		{privacy.ExampleTaiwanID('A', 1), "BAD_USER_INPUT"},
		{"11010519491231002x", ""},
		{"110105 19491231 002X", "CONFLICT"},
		{"TWN 123456789", ""}, // without TW, a Taiwan passport is how a citizen registers
		{"USA C1234567", ""},
		{"usa-c1234567", "CONFLICT"},
		{"USA C1234567\u200b", "BAD_USER_INPUT"},
	}
	for _, tt := range tests {
		r := gql(t, admin, register, map[string]any{"n": tt.give, "c": code})
		if r.code() != tt.want {
			t.Errorf("registerResident(%+q): %+v, want %q", tt.give, r.Errors, tt.want)
		}
	}
}
