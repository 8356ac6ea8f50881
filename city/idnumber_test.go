package city_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

const victim = "A157639505"

// spellings returns other spellings of victim, each of a class that must
// be either refused as invalid or folded to victim: never a new person.
func spellings() []string {
	var out []string
	insert := func(s string) {
		for _, i := range []int{0, 1, 5, len(victim)} {
			out = append(out, victim[:i]+s+victim[i:])
		}
	}
	for _, r := range []rune{0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x202E, 0x202D, 0x2066, 0x2067,
		0x2068, 0x2069, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE63, 0xFF0D, 0x00A0, 0x3000,
		' ', '\t', '-', '/', '.', 0x7F} {
		insert(string(r))
	}
	for r := rune(0); r < 0x20; r++ {
		insert(string(r))
	}
	for _, r := range "АВЕКМНОРСТХΑΒΕΖΗΙΚΜΝΟΡΤΥΧ" {
		out = append(out, string(r)+victim[1:], victim[:1]+string(r)+victim[1:])
	}
	for _, zero := range []rune{0x0660, 0x06F0, 0x0966, 0xFF10, 0x1D7CE, 0x1D7D8} {
		for pos := 1; pos < len(victim); pos++ {
			out = append(out, victim[:pos]+string(zero+rune(victim[pos]-'0'))+victim[pos+1:])
		}
	}
	out = append(out, "Ａ１５７６３９５０５", "a157639505", "a-157 639/505.", "A157639505\x00")
	return out
}

// TestResidentIDSpellings registers a number, then every other spelling
// of it: each is refused (EINVALID) or found a duplicate (CONFLICT), and
// the store keeps one resident.
func TestResidentIDSpellings(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	if _, err := e.svc.RegisterResidents(ctx, city.ResidentInput{ID: "first", Name: "x", IDNumber: victim, Location: &taipei101}); err != nil {
		t.Fatal(err)
	}
	var refused, folded int
	for i, s := range spellings() {
		_, err := e.svc.RegisterResidents(ctx, city.ResidentInput{ID: fmt.Sprintf("again-%d", i), Name: "x", IDNumber: s, Location: &taipei101})
		c, cerr := privacy.CanonicalID(s, 0)
		switch code := hub.ErrorCode(err); {
		case cerr != nil && code == hub.EINVALID && errors.Is(err, privacy.ErrInvalidIDNumber):
			refused++
			if !strings.HasPrefix(hub.ErrorMessage(err), "idNumber") {
				t.Errorf("%q: message %q does not name idNumber", s, hub.ErrorMessage(err))
			}
		case cerr == nil && c == victim && code == hub.ECONFLICT:
			folded++
		default:
			t.Errorf("%q (%+q): %v; canonical %q, %v", s, s, err, c, cerr)
		}
	}
	if refused == 0 || folded == 0 {
		t.Errorf("%d refused, %d folded: the classes are not both exercised", refused, folded)
	}
	if n, err := e.store.CountResidents(ctx, ""); err != nil || n != 1 {
		t.Errorf("%d residents (%v), want 1", n, err)
	}
}

// TestRefusedIDNumberNeverStored: a batch with one refused number writes
// none of its residents.
func TestRefusedIDNumberNeverStored(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	for i, bad := range []string{"A157\u200b639505", "\u0410157639505", "A157639504", "XXA 12345678", "1101051949123100"} {
		_, err := e.svc.RegisterResidents(ctx,
			city.ResidentInput{Name: "good", IDNumber: twID('G', i), Location: &taipei101},
			city.ResidentInput{Name: "bad", IDNumber: bad, Location: &taipei101},
		)
		wantCode(t, err, hub.EINVALID)
		if n, _ := e.store.CountResidents(ctx, ""); n != 0 {
			t.Fatalf("after %q: %d residents written", bad, n)
		}
	}
}

// TestResidentIDForms: the service takes only the forms it is given.
func TestResidentIDForms(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	svc, err := city.New(t.Context(), e.store, e.hasher, city.Options{IDForms: privacy.TW | privacy.OTHER})
	if err != nil {
		t.Fatal(err)
	}
	if svc.IDForms() != privacy.TW|privacy.OTHER || e.svc.IDForms() != privacy.DefaultForms {
		t.Errorf("IDForms %v and %v", svc.IDForms(), e.svc.IDForms())
	}
	tests := []struct {
		give string
		want string
	}{
		{twID('A', 1), ""},
		{"USA 123456789", ""},
		{"CHN E1234567", ""}, // CN is not accepted: a PRC citizen uses a passport here
		{"11010519491231002X", hub.EINVALID},
		{"TWN 123456789", hub.EINVALID},
	}
	for _, tt := range tests {
		_, err := svc.RegisterResidents(t.Context(), city.ResidentInput{Name: "x", IDNumber: tt.give, Location: &taipei101})
		if hub.ErrorCode(err) != tt.want {
			t.Errorf("%q: %v, want %q", tt.give, err, tt.want)
		}
	}
}

// TestIDHashes: eligibility lists take ID numbers, canonicalised and
// hashed under every key, and name the refused one.
func TestIDHashes(t *testing.T) {
	e := newEnv(t)
	e.seedCity()
	ctx := t.Context()
	rs, err := e.svc.RegisterResidents(ctx, city.ResidentInput{Name: "x", IDNumber: victim, Location: &taipei101})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e.svc.IDHashes("eligibleIdNumbers", []string{"a157-639 505", "Ａ１５７６３９５０５"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0] != rs[0].IDHash || hs[1] != rs[0].IDHash {
		t.Errorf("IDHashes = %v, want the stored hash %s twice", hs, rs[0].IDHash)
	}
	for i, bad := range []string{victim, twID('B', 2), "A157\u200d639505"} {
		list := []string{victim, twID('B', 2), twID('C', 3)}
		list[i] = bad
		if i < 2 {
			list = append(list, "\u0410157639505")
			i = 3
		}
		_, err := e.svc.IDHashes("eligibleIdNumbers", list)
		wantCode(t, err, hub.EINVALID)
		if want := fmt.Sprintf("eligibleIdNumbers[%d]", i); !strings.HasPrefix(hub.ErrorMessage(err), want) {
			t.Errorf("%q: message %q, want it to start with %s", list, hub.ErrorMessage(err), want)
		}
	}

	// After a rotation the list recognises people hashed under the old key.
	rotated, err := privacy.NewHasher([]byte("rotated-key-0123456789"), []byte(hashKey))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := city.New(ctx, e.store, rotated, city.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs, err = svc.IDHashes("eligibleIdNumbers", []string{victim})
	if err != nil || len(hs) != 2 || !slices.Contains(hs, rs[0].IDHash) || hs[0] == rs[0].IDHash {
		t.Errorf("after rotation IDHashes = %v, %v; want the new hash and the stored %s", hs, err, rs[0].IDHash)
	}
	// And a rotated service still refuses every spelling of the number.
	for _, s := range []string{victim, "a157-639505", "Ａ１５７６３９５０５"} {
		_, err := svc.RegisterResidents(ctx, city.ResidentInput{Name: "x", IDNumber: s, Location: &taipei101})
		wantCode(t, err, hub.ECONFLICT)
	}
}
