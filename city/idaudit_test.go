package city_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// oldNormalize is the normalisation of ID numbers before they had one
// canonical form: upper case, spaces and dashes dropped, nothing else.
func oldNormalize(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r == ' ' || r == '-' || unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func oldMask(id string) string {
	rs := []rune(oldNormalize(id))
	if len(rs) <= 4 {
		return strings.Repeat("*", len(rs))
	}
	for i := 2; i < len(rs)-2; i++ {
		rs[i] = '*'
	}
	return string(rs)
}

// TestAuditIDs stores residents as the hub did before canonical forms
// (one person under several spellings) and checks what the audit finds.
func TestAuditIDs(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	must[[]*hub.Resident](t)(e.svc.RegisterResidents(ctx,
		city.ResidentInput{ID: "r-canonical", Name: "王小明", IDNumber: victim, Location: &taipei101},
		city.ResidentInput{ID: "r-other", Name: "王小明", IDNumber: twID('B', 7), Location: &taipei101},
		city.ResidentInput{ID: "r-lee", Name: "李大同", IDNumber: twID('A', 8), Location: &taipei101},
	))
	old := map[string]string{
		"r-fullwidth": "Ａ１５７６３９５０５",
		"r-zwsp":      "A157\u200b639505",
		"r-cyrillic":  "\u0410157639505",
		"r-nul":       "A157639505\x00",
		"r-arabic":    "A\u0661\u0665\u0667\u0666\u0663\u0669\u0665\u0660\u0665",
		"r-dot":       "A157639505.",
	}
	var rs []*hub.Resident
	for id, spelling := range old {
		name := "王小明"
		if id == "r-dot" {
			name = " 王小明" // names are compared trimmed
		}
		rs = append(rs, &hub.Resident{ID: id, Name: name, IDHash: e.hasher.HashID(oldNormalize(spelling)),
			IDMasked: oldMask(spelling), Cell: cellAt(t, taipei101), Location: taipei101, RegisteredAt: epoch})
	}
	rs = append(rs, &hub.Resident{ID: "r-short", Name: "陳", IDHash: e.hasher.HashID("X12"), IDMasked: "***", Cell: cellAt(t, taipei101), Location: taipei101, RegisteredAt: epoch})
	if err := e.store.CreateResidents(ctx, rs...); err != nil {
		t.Fatal(err)
	}
	before := must[[]*hub.Resident](t)(e.store.Residents(ctx, hub.ResidentFilter{}))

	a, err := e.svc.AuditIDs(ctx, []city.IDNumberRow{
		{Line: 2, ResidentID: "r-canonical", Number: victim},
		{Line: 3, ResidentID: "r-zwsp", Number: "A157639505"},
		{Line: 4, ResidentID: "r-fullwidth", Number: "Ａ１５７６３９５０５"},
		{Line: 5, ResidentID: "r-cyrillic", Number: "\u0410157639505"},
		{Line: 6, ResidentID: "r-gone", Number: twID('C', 9)},
		{Line: 7, ResidentID: "r-lee", Number: twID('A', 8)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Residents != 10 || a.Forms != "TW,CN,OTHER" {
		t.Errorf("residents %d, forms %q", a.Residents, a.Forms)
	}
	var suspects []string
	for _, s := range a.Suspects {
		suspects = append(suspects, s.ResidentID)
		if s.Reason == "" {
			t.Errorf("suspect %s without a reason", s.ResidentID)
		}
	}
	if want := []string{"r-arabic", "r-cyrillic", "r-dot", "r-fullwidth", "r-nul", "r-short", "r-zwsp"}; !slices.Equal(suspects, want) {
		t.Errorf("suspects %v, want %v", suspects, want)
	}
	// Every spelling of the one number meets the canonical record; the
	// other 王小明 and 李大同 are nobody's duplicates.
	found := false
	for _, g := range a.Groups {
		if slices.Contains(g.ResidentIDs, "r-other") || slices.Contains(g.ResidentIDs, "r-lee") || slices.Contains(g.ResidentIDs, "r-short") {
			t.Errorf("group %+v holds a different person", g)
		}
		if g.Name != "王**" {
			t.Errorf("group name %q is not masked", g.Name)
		}
		if slices.Equal(g.ResidentIDs, []string{"r-arabic", "r-canonical", "r-cyrillic", "r-dot", "r-fullwidth", "r-nul", "r-zwsp"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("no group of the seven records of one person: %+v", a.Groups)
	}

	n := a.Numbers
	if n == nil || n.Rows != 6 {
		t.Fatalf("numbers audit %+v", n)
	}
	if len(n.Refused) != 1 || n.Refused[0].Line != 5 || !strings.Contains(n.Refused[0].Reason, "U+0410") {
		t.Errorf("refused %+v", n.Refused)
	}
	if len(n.Unknown) != 1 || n.Unknown[0].ResidentID != "r-gone" {
		t.Errorf("unknown %+v", n.Unknown)
	}
	if len(n.Collisions) != 1 || n.Collisions[0].Masked != "A1******05" ||
		!slices.Equal(n.Collisions[0].ResidentIDs, []string{"r-canonical", "r-fullwidth", "r-zwsp"}) {
		t.Errorf("collisions %+v", n.Collisions)
	}
	var stale []string
	for _, s := range n.Stale {
		stale = append(stale, s.ResidentID)
	}
	if !slices.Equal(stale, []string{"r-zwsp", "r-fullwidth"}) {
		t.Errorf("stale %v", stale)
	}

	// The audit read and wrote nothing.
	after := must[[]*hub.Resident](t)(e.store.Residents(ctx, hub.ResidentFilter{}))
	if len(after) != len(before) {
		t.Fatalf("%d residents after the audit, %d before", len(after), len(before))
	}
	for i := range after {
		if *after[i] != *before[i] {
			t.Errorf("resident %s changed: %+v -> %+v", before[i].ID, before[i], after[i])
		}
	}
}

// TestAuditIDsClean: a store of canonical records has no suspects, and
// an audit without numbers reports none.
func TestAuditIDsClean(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	var ins []city.ResidentInput
	for i := range 2500 { // more than one page
		ins = append(ins, city.ResidentInput{Name: "王小明", IDNumber: twID('T', i), Location: &taipei101})
	}
	must[[]*hub.Resident](t)(e.svc.RegisterResidents(ctx, ins...))
	a, err := e.svc.AuditIDs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Residents != 2500 || len(a.Suspects) != 0 || len(a.Groups) != 0 || a.Numbers != nil {
		t.Errorf("audit %d residents, %d suspects, %d groups, numbers %v", a.Residents, len(a.Suspects), len(a.Groups), a.Numbers)
	}
}
