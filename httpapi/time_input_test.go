package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// TestTimeInputsRefuseLooseTimes: every argument and input field of type
// Time refuses a text that is not RFC 3339, or is outside the hub's range,
// with BAD_USER_INPUT whose path names the argument or input field,
// whether the text is in a variable or a literal, before any resolver
// runs; an RFC 3339 text is let through (the field is then refused as the
// test hub refuses every field that needs a store).
func TestTimeInputsRefuseLooseTimes(t *testing.T) {
	h := newCostHub(t)
	// Every Time argument and input field of the schema: a document with
	// $t where the Time goes, and the path of the error.
	places := []struct {
		doc  string
		path []string
	}{
		{`query($t: Time) { allocations(partnerId: "p", since: $t) { __typename } }`, []string{"allocations", "since"}},
		{`query($t: Time!) { trajectory(residentId: "r", since: $t, purpose: "p") { __typename } }`, []string{"trajectory", "since"}},
		{`query($t: Time!) { contacts(residentId: "r", since: $t, purpose: "p") { __typename } }`, []string{"contacts", "since"}},
		{`mutation($t: Time) { markCase(residentId: "r", at: $t, purpose: "p") { __typename } }`, []string{"markCase", "at"}},
		{`mutation($t: Time) { recordScan(input: {code: "GH1:x", at: $t}) { __typename } }`, []string{"recordScan", "input", "at"}},
		{`mutation($t: Time) { reserve(input: {roundId: "r", residentId: "x", slot: $t}) { __typename } }`, []string{"reserve", "input", "slot"}},
		{`mutation($t: Time) { openRound(input: {id: "r", name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $t, openForMinutes: 60}) { __typename } }`, []string{"openRound", "input", "opens"}},
		{`mutation($t: Time) { openRound(input: {id: "r", name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, closes: $t}) { __typename } }`, []string{"openRound", "input", "closes"}},
	}
	loose := []string{
		"2026-11-23T8:00:00Z", "2026-11-23T0:00:00+08:00", "2026-11-23T08:00:00,5Z", "2026-11-23T08:00:00+24:00",
		"2026-11-23T08:00:00-00:60", "2026-11-23T08:00:00.1234567891Z", "2026-11-23T23:59:60Z",
		"0000-01-01T0:00:00,00000+01:00", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
		"2026-11-23", "2026-11-23 08:00:00Z", "",
	}
	for _, p := range places {
		for _, give := range loose {
			literal := strings.NewReplacer("($t: Time!)", "", "($t: Time)", "", "$t", quote(give)).Replace(p.doc)
			for _, req := range []struct{ doc, vars string }{{p.doc, `{"t":` + quote(give) + `}`}, {literal, ``}} {
				rec := httptest.NewRecorder()
				h.handler.ServeHTTP(rec, documentRequest(req.doc, req.vars, "", false))
				var a struct {
					Errors []struct {
						Message    string         `json:"message"`
						Path       []any          `json:"path"`
						Extensions map[string]any `json:"extensions"`
					} `json:"errors"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || len(a.Errors) == 0 {
					t.Errorf("%s with %q: no error: %s", req.doc, give, rec.Body.Bytes())
					continue
				}
				e := a.Errors[0]
				var path []string
				for _, s := range e.Path {
					path = append(path, strings.TrimSpace(toString(s)))
				}
				if e.Extensions["code"] != hub.EINVALID || !slices.Equal(path, p.path) || !strings.Contains(e.Message, "Time") {
					t.Errorf("%s with %q: %s %v %q, want %s at %v", req.doc, give, e.Extensions["code"], e.Path, e.Message, hub.EINVALID, p.path)
				}
			}
		}
		// An RFC 3339 time passes the scalar: the error is the store's.
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, documentRequest(p.doc, `{"t":"2026-11-23T08:00:00.5+08:00"}`, "", false))
		if strings.Contains(rec.Body.String(), "RFC 3339") {
			t.Errorf("%s: an RFC 3339 time refused: %s", p.doc, rec.Body.String())
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
