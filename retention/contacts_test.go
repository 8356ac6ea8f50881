package retention_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/retention"
)

// TestContactOfTwoCases: bob, scanned with alice and with carol, is a
// traced contact of both cases. A hold under either names him and keeps
// his scans; lifting one keeps them under the other; once both are lifted
// his scans expire. His contact of a case expires with the scans period:
// no new hold under it names him then.
func TestContactOfTwoCases(t *testing.T) {
	for _, first := range []string{"alice", "carol"} {
		t.Run("lift under "+first+" first", func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			e.clock.Set(t0.Add(30 * day))
			for _, c := range []string{"alice", "carol"} {
				_, err := e.codes.MarkCase(ctx, tracer, c, time.Time{})
				must(t, err)
			}
			st, err := e.st.CaseStatus(ctx, "bob")
			must(t, err)
			for _, c := range []string{"alice", "carol"} {
				if _, ok := st.ContactOfCase(c); !ok {
					t.Fatalf("bob is not a contact of %s: %+v", c, st)
				}
			}
			holds := map[string]*hub.Hold{}
			for _, c := range []string{"alice", "carol"} {
				h, err := e.ret.PlaceHold(ctx, district, retention.HoldInput{
					CaseID: c, ResidentIDs: []string{"bob"}, Reason: "cluster around " + c, Until: t0.Add(150 * day),
				})
				must(t, err)
				same(t, "held under "+c, h.ResidentIDs, slices.Sorted(slices.Values([]string{c, "bob"})))
				holds[c] = h
			}
			// Day 60: scans before day 32 expire; bob's are held, twice.
			e.clock.Set(t0.Add(60 * day))
			e.sweep(t)
			same(t, "bob under both holds", e.days(t, "bob"), span(0, scanDays))
			same(t, "erin, held by none", e.days(t, "erin"), span(32, scanDays))

			other := map[string]string{"alice": "carol", "carol": "alice"}[first]
			_, err = e.ret.LiftHold(ctx, district, holds[first].ID, "one case closed")
			must(t, err)
			e.sweep(t)
			same(t, "bob under the hold of "+other, e.days(t, "bob"), span(0, scanDays))
			_, err = e.ret.LiftHold(ctx, district, holds[other].ID, "the other case closed")
			must(t, err)
			e.sweep(t)
			same(t, "bob once both holds are lifted", e.days(t, "bob"), span(32, scanDays))

			// Day 70: bob last met both on day 39; those contacts are past
			// the 28 days of scans, before the sweep takes them and after.
			e.clock.Set(t0.Add(70 * day))
			for _, swept := range []bool{false, true} {
				if swept {
					e.sweep(t)
				}
				for _, c := range []string{"alice", "carol"} {
					_, err := e.ret.PlaceHold(ctx, district, retention.HoldInput{CaseID: c, ResidentIDs: []string{"bob"}, Reason: "reopened", Until: t0.Add(100 * day)})
					wantCode(t, err, hub.EINVALID, fmt.Sprintf("a hold under %s naming bob after his contact expired (swept %v)", c, swept))
					// Swept, the case's own mark (day 30) has gone too.
					if want := map[bool]string{false: "past the retention period", true: "not marked a case"}[swept]; !strings.Contains(err.Error(), want) {
						t.Fatalf("hold under %s (swept %v): %v, want %q", c, swept, err, want)
					}
				}
			}
		})
	}
}

// TestContactExpiresPerCase: bob met alice up to day 20 only and carol up
// to day 39; on day 50 his contact of alice has expired (a hold under
// alice cannot name him, and the sweep takes that contact) while that of
// carol holds.
func TestContactExpiresPerCase(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(20 * day))
	must(t, e.st.MarkCase(ctx, "alice", e.clock.Now()))
	must(t, e.st.MarkContacts(ctx, "alice", hub.Contact{ResidentID: "bob", FirstAt: t0, LastAt: t0.Add(20 * day)}))
	e.clock.Set(t0.Add(39 * day))
	must(t, e.st.MarkCase(ctx, "carol", e.clock.Now()))
	must(t, e.st.MarkContacts(ctx, "carol", hub.Contact{ResidentID: "bob", FirstAt: t0, LastAt: t0.Add(39 * day)}))

	e.clock.Set(t0.Add(50 * day))
	place := func(c string) error {
		_, err := e.ret.PlaceHold(ctx, district, retention.HoldInput{CaseID: c, ResidentIDs: []string{"bob"}, Reason: "cluster", Until: t0.Add(100 * day)})
		return err
	}
	wantCode(t, place("alice"), hub.EINVALID, "a hold under alice after bob's contact of her expired")
	e.sweep(t)
	st, err := e.st.CaseStatus(ctx, "bob")
	must(t, err)
	if _, ok := st.ContactOfCase("alice"); ok {
		t.Fatalf("bob's expired contact of alice is kept: %+v", st)
	}
	if at, ok := st.ContactOfCase("carol"); !ok || !at.Equal(t0.Add(39*day)) || st.ContactOf != "carol" {
		t.Fatalf("bob's contact of carol: %+v", st)
	}
	must(t, place("carol"))
}
