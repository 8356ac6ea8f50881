package dispatch_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// TestEngineCity runs a small deterministic city end to end through the
// engine over the embedded store, and pins what happens in
// testdata/engine_city.golden (go test -run TestEngineCity -update
// rewrites it): four pharmacies around Taipei 101, a courier for the two
// inner rings, 50 residents in three committees, a FIRST_COME round with
// pickup and delivery, a LOTTERY round drawn from a fixed seed, a
// COMMITTEE round; then pickups, an expiry, shortages and a restock.
func TestEngineCity(t *testing.T) {
	c := newCity(t, dispatch.EngineOptions{Rand: newRand(2020)})
	c.areas()
	var out strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

	// Where a cell is, in rings around the origin.
	where := map[hub.Cell]string{}
	for ring, cells := range c.rs {
		for i, cell := range cells {
			where[cell] = fmt.Sprintf("r%d.%02d", ring, i)
		}
	}

	p("# pharmacies")
	for _, ph := range []struct {
		id    string
		cell  hub.Cell
		stock int
	}{{"A", c.rs[0][0], 24}, {"B", c.rs[2][3], 20}, {"C", c.rs[3][9], 14}, {"D", c.rs[6][20], 8}} {
		c.pharmacy(ph.id, ph.cell, ph.stock)
		p("%s at %s: %d", ph.id, where[ph.cell], ph.stock)
	}
	inner := append(slices.Clone(c.rs[0]), c.rs[1]...)
	if _, err := c.eng.UpsertPartner(c.ctx(), "courier", "Courier", inner); err != nil {
		t.Fatal(err)
	}
	p("courier delivers to rings 0-1")

	r := rand.New(rand.NewPCG(2020, 214))
	var disk []hub.Cell
	for _, ring := range c.rs[:8] {
		disk = append(disk, ring...)
	}
	people := make([]*hub.Resident, 50)
	for i := range people {
		cell := disk[r.IntN(len(disk))]
		if i%2 == 0 {
			cell = disk[r.IntN(19)] // a dense core within two rings
		}
		committee, district := "c1", "d1"
		if i%3 == 1 {
			committee, district = "c2", "d2"
		} else if i%3 == 2 {
			committee, district = "c3", "d2"
		}
		people[i] = c.resident(fmt.Sprintf("p%02d", i), cell, committee, district)
	}

	show := func(res *hub.Resident, o *dispatch.ReserveResult) {
		line := fmt.Sprintf("%s %s %s %s", res.ID, where[res.Cell], o.Reservation.Fulfilment, o.Reservation.Status)
		if a := o.Allocation; a != nil {
			line += fmt.Sprintf(" at %s", a.PharmacyID)
			if a.PartnerID != "" {
				line += " by " + a.PartnerID
			} else {
				line += " code " + c.eng.PickupCode(a).String()
			}
		}
		if o.Reason != "" {
			line += " (" + o.Reason + ")"
		}
		p("%s", line)
	}

	p("\n# FIRST_COME fc: 2 each, pickup or delivery, 3 rings")
	c.round(dispatch.RoundInput{ID: "fc", PerPerson: 2, Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}, PickupWindow: 2 * time.Hour})
	var fcAllocs []*hub.Allocation
	for i, res := range people[:20] {
		ful := hub.Pickup
		if i%2 == 1 && slices.Contains(inner, res.Cell) {
			ful = hub.Delivery
		}
		o, err := c.eng.Reserve(c.ctx(), dispatch.ReserveInput{RoundID: "fc", Resident: res, Fulfilment: ful})
		if err != nil {
			t.Fatal(err)
		}
		show(res, o)
		if o.Allocation != nil {
			fcAllocs = append(fcAllocs, o.Allocation)
		}
	}
	cellReport(t, c, p, where, "fc")

	p("\n# LOTTERY lot: 2 each, 6 winners, committed, drawn after close")
	c.round(dispatch.RoundInput{ID: "lot", Mode: hub.Lottery, PerPerson: 2, Winners: 6, Closes: t0.Add(time.Hour), MaxK: 4})
	rd, err := c.eng.CommitLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	p("commitment %s", rd.Commitment)
	for _, res := range people[20:40] {
		c.reserve("lot", res)
	}
	c.clock.Advance(time.Hour)
	pd, rep, err := c.eng.DrawLottery(c.ctx(), "lot")
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.Verify(); err != nil {
		t.Fatalf("the draw does not verify: %v", err)
	}
	p("seed %s", pd.Seed)
	p("entries %d, winners %d, allocated %d, waiting %d, lost %d, gini %.3f", rep.Entries, rep.Winners, rep.Allocated, rep.Waiting, rep.Lost, rep.Gini)
	slices.SortFunc(rep.Cells, func(a, b dispatch.CellShare) int { return strings.Compare(where[a.Cell], where[b.Cell]) })
	for _, cs := range rep.Cells {
		p("  fair share %s: %d requests, demand %d, share %d, served %d", where[cs.Cell], cs.Requests, cs.Demand, cs.Share, cs.Served)
	}
	winners := map[string]int{}
	for i, w := range pd.Winners {
		winners[w] = i + 1
	}
	resvs, err := c.store.Reservations(c.ctx(), hub.ReservationFilter{RoundID: "lot"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rv := range resvs {
		line := fmt.Sprintf("%s %s entry %s… %s", rv.ResidentID, where[rv.Cell], rv.EntryHash[:12], rv.Status)
		if n := winners[rv.EntryHash]; n > 0 {
			line += fmt.Sprintf(" (winner %d)", n)
		}
		if rv.AllocationID != "" {
			a, _ := c.store.Allocation(c.ctx(), rv.AllocationID)
			line += " at " + a.PharmacyID
		}
		p("%s", line)
	}

	p("\n# COMMITTEE com: 1 each, quotas c1 5, c2 3, c3 3")
	c.round(dispatch.RoundInput{ID: "com", Mode: hub.ByCommittee, PerPerson: 1, Quotas: map[string]int{"c1": 5, "c2": 3, "c3": 3}, Closes: t0.Add(48 * time.Hour)})
	for _, res := range people[30:50] {
		show(res, c.reserve("com", res))
	}
	cellReport(t, c, p, where, "com")

	p("\n# pickups, an expiry, shortages, a restock")
	for _, a := range fcAllocs[:4] {
		if a.PartnerID != "" {
			continue
		}
		if _, err := c.eng.Redeem(c.ctx(), a.PharmacyID, c.eng.PickupCode(a).String()); err != nil {
			t.Fatal(err)
		}
		p("redeemed %s at %s", a.ResidentID, a.PharmacyID)
	}
	failed := false
	for _, a := range fcAllocs {
		if a.PartnerID != "" {
			got, err := c.eng.MarkDelivery(c.ctx(), a.PartnerID, a.ID, failed)
			failed = true
			if err != nil {
				t.Fatal(err)
			}
			p("delivery to %s: %s", a.ResidentID, got.Status)
		}
	}
	c.clock.Advance(2 * time.Hour)
	n, err := c.eng.ExpireDue(c.ctx())
	if err != nil {
		t.Fatal(err)
	}
	p("expired %d pickups", n)
	for _, res := range people[40:46] {
		sh, err := c.eng.RegisterShortage(c.ctx(), res, hub.MaskAdult, 2)
		if err != nil {
			t.Fatal(err)
		}
		p("shortage %s %s", sh.ResidentID, where[sh.Cell])
	}
	c.restock("B", 6)
	served, err := c.eng.ServeWaiting(c.ctx(), "B", hub.MaskAdult)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range served {
		p("restock at B serves %s (%s%s) code %s", a.ResidentID, a.ShortageID, a.ReservationID, c.eng.PickupCode(a))
	}

	p("\n# stock")
	for _, id := range []string{"A", "B", "C", "D"} {
		p("%s: %d", id, c.stockOf(id))
	}
	c.conserved()
	if err := dispatch.CheckBooks(c.eng); err != nil {
		t.Error(err)
	}
	golden(t, "engine_city.golden", []byte(out.String()))
}

func cellReport(t *testing.T, c *city, p func(string, ...any), where map[hub.Cell]string, roundID string) {
	t.Helper()
	cells, err := c.eng.CellReport(c.ctx(), roundID)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(cells, func(a, b dispatch.CellShare) int { return strings.Compare(where[a.Cell], where[b.Cell]) })
	var parts []string
	for _, cs := range cells {
		parts = append(parts, fmt.Sprintf("%s %d/%d", where[cs.Cell], cs.Served, cs.Demand))
	}
	p("cells (served/demand): %s", strings.Join(parts, ", "))
}
