package democity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// A demo day is the activity of a city's first day on the hub, written
// through the hub's own services (never the store directly), so that
// every write publishes its events to the dashboards' counters and the
// subscriptions as a day of real requests would:
//
//   - two risk areas, one around the most populated cell of the first
//     district (three rings) and one around the most populated cell of
//     the others (one ring);
//   - health declarations by a fifth of the residents, most healthy, a few
//     with symptoms, fever or travel from a risk area, a quarter of them
//     filed by the resident's committee;
//   - over-the-counter sales in the morning, which leave every pharmacy
//     an uneven remainder of adult masks (from none to about twice its
//     share of the round's demand), so that stock runs out in some places
//     and not in others;
//   - a FIRST_COME round of adult masks, open now and closing in a few
//     hours, with reservations by about one resident in twelve: served at
//     once where a pharmacy in reach has stock left, waiting elsewhere;
//     about half of the allocations picked up at their pharmacy with
//     their pickup code;
//   - waiting-list registrations by other residents of the cells where
//     stock ran out;
//   - in the afternoon, a logistics partner (DemoPartnerID, courier-1)
//     starts delivering around Taipei Main Station: a DELIVERY round,
//     open as long as the first, with reservations by some residents of
//     its area (DELIVERING once served); then a delivery of adult masks
//     restocks the pharmacies within three rings of the station (the
//     README's example point), lot after lot until their waiting list,
//     delivery reservations included, is served and each keeps at least
//     afternoonKeep masks;
//   - a dozen scans at checkpoints, one with a fever and one of a code
//     that is not GREEN.
//
// Every choice is drawn from the seed, in resident ID order, and the
// reservations run so that no two in flight at once can compete for one
// pharmacy's stock: the same seed over the same city gives the same day
// (the same people declare, reserve, get masks at the same pharmacies,
// wait and register), although the records' IDs and times are new.

// Services are the hub's domain services a demo day goes through.
type Services struct {
	City     *city.Service
	Dispatch *dispatch.Engine
	Codes    *codes.Service
}

// DayOptions choose a demo day. Zero values take defaults.
type DayOptions struct {
	// Demo is the demo city the store holds.
	Demo Demo
	// Seed drives every draw; the same seed gives the same day.
	Seed uint64
	// Workers bounds the service calls in flight at once; default 128.
	Workers int
}

// Day tells what SeedDay wrote.
type Day struct {
	Demo Demo
	// Seeded is false when the store held the day already and nothing
	// was written.
	Seeded bool
	// Declarations filed, by the colour they gave, and how many of them
	// a committee filed for its resident.
	Declarations, Green, Yellow, Red, ByCommittee int
	// RiskAreas marked and the cells they cover.
	RiskAreas, RiskCells int
	// Sold is the adult masks sold over the counter before the round, at
	// Sellers pharmacies.
	Sold, Sellers int
	// RoundID is the day's round; Reservations its reservations,
	// Allocated those served (Redeemed of them picked up) and Waiting
	// those left waiting, NothingInReach of them with no pharmacy in
	// reach at all.
	RoundID                                                    string
	Reservations, Allocated, Redeemed, Waiting, NothingInReach int
	// Shortages are waiting-list registrations, ShortagesServed of them
	// served by the afternoon's restock.
	Shortages, ShortagesServed int
	// PartnerID is the afternoon's logistics partner, DeliveryRoundID its
	// round: Deliveries reservations, Delivering of them served (on their
	// way with the partner), the others waiting.
	PartnerID, DeliveryRoundID string
	Deliveries, Delivering     int
	// Restocked is the adult masks the afternoon's delivery brought to
	// RestockedPharmacies pharmacies around Taipei Main Station; ServedLate
	// the reservations of the first round it served (counted in Allocated
	// too).
	Restocked, RestockedPharmacies, ServedLate int
	// Scans at checkpoints, by result.
	Scans, Passed, Denied, Fever int
	// Elapsed is how long the call took.
	Elapsed time.Duration
}

// The day's proportions.
const (
	declarePermille  = 200 // residents who declare their health
	reservePermille  = 80  // residents who reserve in the round
	committeePercent = 25  // declarations a committee files
	redeemPercent    = 45  // allocations picked up during the day
	shortagePercent  = 5   // other residents of a sold-out cell who register
	dayPerPerson     = 3   // adult masks per person: Taiwan's weekly ration in 2020
	dayMaxK          = 3   // rings a reservation searches
	dayRoundHours    = 4   // the round closes this long after it opens
	dayScans         = 12  // scans at checkpoints, the first with a fever
	defaultWorkers   = 128

	deliveryRings    = 4   // the partner's area: the disk of this many rings around the station
	deliveryPercent  = 8   // residents of the area (not reserving already) who ask for delivery
	afternoonLot     = 500 // adult masks per restock of the afternoon's delivery
	afternoonKeep    = 300 // what each pharmacy around the station keeps at least
	afternoonMaxLots = 40  // restocks of one pharmacy at most
)

// DemoPartnerID is the demo day's logistics partner.
const DemoPartnerID = "courier-1"

// Random streams of the day, apart from the city's.
const (
	streamDeclarations = iota + 101
	streamSales
	streamReservations
	streamRedemptions
	streamShortages
	streamScans
	streamDeliveries
)

// RoundID returns the ID of the demo day's round in demo d.
func (d Demo) RoundID() string {
	prefix, _ := d.prefixes()
	return prefix + "-demo-masks"
}

// DeliveryRoundID returns the ID of the demo day's delivery round in demo
// d.
func (d Demo) DeliveryRoundID() string {
	prefix, _ := d.prefixes()
	return prefix + "-demo-delivery"
}

// SeedDay writes a demo day (see above) into a store holding demo
// opts.Demo, through svc. Its round marks the day: when the round exists
// SeedDay returns at once without writing (Day.Seeded false), so a
// second call does nothing, and neither does a call after one that was
// cut short (a day is not completed).
//
// Call it right after Seed wrote the city, with the engine's pharmacies
// refreshed (dispatch.Engine.RefreshPharmacies). The services are to
// share one clock: the round closes a few hours after the city's now.
func SeedDay(ctx context.Context, svc Services, opts DayOptions) (*Day, error) {
	start := time.Now()
	if svc.City == nil || svc.Dispatch == nil || svc.Codes == nil {
		return nil, hub.Errorf(hub.EINVALID, "democity: a demo day needs the city, dispatch and health-code services")
	}
	prefix, _ := opts.Demo.prefixes()
	if prefix == "" {
		return nil, hub.Errorf(hub.EINVALID, "unknown demo %d", int(opts.Demo))
	}
	if opts.Workers <= 0 {
		opts.Workers = defaultWorkers
	}
	day := &Day{Demo: opts.Demo, RoundID: opts.Demo.RoundID(), PartnerID: DemoPartnerID, DeliveryRoundID: opts.Demo.DeliveryRoundID()}
	if _, err := svc.Dispatch.Round(ctx, day.RoundID); err == nil {
		day.Elapsed = time.Since(start)
		return day, nil
	} else if hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, fmt.Errorf("democity: look for the demo day: %w", err)
	}

	st := svc.City.Store()
	residents, err := st.Residents(ctx, hub.ResidentFilter{})
	if err != nil {
		return nil, fmt.Errorf("democity: read residents: %w", err)
	}
	residents = slices.DeleteFunc(residents, func(r *hub.Resident) bool { return !strings.HasPrefix(r.ID, prefix+"-r") })
	slices.SortFunc(residents, func(a, b *hub.Resident) int { return strings.Compare(a.ID, b.ID) })

	// The round first: it marks the day.
	now := svc.City.Now()
	if _, err := svc.Dispatch.OpenRound(ctx, dispatch.RoundInput{
		ID: day.RoundID, Name: "Adult masks, first come, first served", SKU: hub.MaskAdult,
		PerPerson: dayPerPerson, Mode: hub.FirstCome, Fulfilments: []hub.Fulfilment{hub.Pickup},
		Closes: now.Add(dayRoundHours * time.Hour), MaxK: dayMaxK,
	}); err != nil {
		return nil, fmt.Errorf("democity: open the day's round: %w", err)
	}
	day.Seeded = true

	d := &dayRun{svc: svc, opts: opts, day: day, residents: residents}
	if err := d.markRiskAreas(ctx); err != nil {
		return day, err
	}
	// The declarations and the round write different records: they run
	// side by side, sharing the store's commits.
	var declared error
	var wg sync.WaitGroup
	wg.Go(func() { declared = d.declare(ctx) })
	err = d.distribute(ctx)
	wg.Wait()
	if err := errors.Join(declared, err); err != nil {
		return day, err
	}
	if err := d.afternoon(ctx); err != nil {
		return day, err
	}
	if err := d.scan(ctx); err != nil {
		return day, err
	}
	day.Elapsed = time.Since(start)
	return day, nil
}

// dayRun is one SeedDay call at work.
type dayRun struct {
	svc       Services
	opts      DayOptions
	day       *Day
	residents []*hub.Resident // of the demo, by ID
	declared  []int           // indexes of the residents who declared, in order
	colours   []hub.Colour    // the colours of their declarations
	reservers []int           // indexes of the residents who reserve, in order
	results   []*dispatch.ReserveResult
}

func (d *dayRun) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(d.opts.Seed, stream))
}

// distribute runs the round: the morning's sales, the reservations, the
// pickups and the waiting list.
func (d *dayRun) distribute(ctx context.Context) error {
	for _, step := range []func(context.Context) error{d.sell, d.reserve, d.redeem, d.registerShortages} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// markRiskAreas marks two risk areas around populated cells.
func (d *dayRun) markRiskAreas(ctx context.Context) error {
	if len(d.residents) == 0 {
		return nil
	}
	first := d.residents[0].DistrictID
	for _, r := range d.residents {
		first = min(first, r.DistrictID)
	}
	central := busiestCell(d.residents, func(r *hub.Resident) bool { return r.DistrictID == first })
	other := busiestCell(d.residents, func(r *hub.Resident) bool { return r.DistrictID != first })
	for _, a := range []struct {
		cell   hub.Cell
		rings  int
		reason string
	}{
		{central, 3, "cluster of cases around a market"},
		{other, 1, "fever cases in a housing estate"},
	} {
		if a.cell == 0 {
			continue
		}
		area, err := d.svc.Codes.MarkRiskArea(ctx, a.cell, a.rings, a.reason)
		if err != nil {
			return fmt.Errorf("democity: risk area at %s: %w", a.cell, err)
		}
		d.day.RiskAreas++
		d.day.RiskCells += len(area.Cells)
	}
	return nil
}

// busiestCell returns the cell where most of the residents that keep
// lives (the lowest cell of a tie), or 0 when none does.
func busiestCell(rs []*hub.Resident, keep func(*hub.Resident) bool) hub.Cell {
	count := map[hub.Cell]int{}
	var best hub.Cell
	for _, r := range rs {
		if !keep(r) {
			continue
		}
		count[r.Cell]++
		if n, m := count[r.Cell], count[best]; n > m || n == m && r.Cell < best {
			best = r.Cell
		}
	}
	return best
}

// declare files the health declarations.
func (d *dayRun) declare(ctx context.Context) error {
	rng := d.rng(streamDeclarations)
	var ins []codes.DeclareInput
	for i, r := range d.residents {
		if rng.IntN(1000) >= declarePermille {
			continue
		}
		in := healthDeclaration(rng)
		in.ResidentID = r.ID
		if rng.IntN(100) < committeePercent && r.CommitteeID != "" {
			in.FiledByKind, in.FiledBy = hub.FiledByCommittee, r.CommitteeID
		}
		d.declared = append(d.declared, i)
		ins = append(ins, in)
	}
	colours := make([]hub.Colour, len(ins))
	d.colours = colours
	err := each(ctx, d.opts.Workers, len(ins), func(i int) error {
		dcl, _, err := d.svc.Codes.Declare(ctx, ins[i])
		if err != nil {
			return fmt.Errorf("democity: declaration of %s: %w", ins[i].ResidentID, err)
		}
		colours[i] = dcl.Colour
		return nil
	})
	for i, c := range colours {
		switch c {
		case "":
			continue // not filed: an error stopped the day
		case hub.Green:
			d.day.Green++
		case hub.Yellow:
			d.day.Yellow++
		case hub.Red:
			d.day.Red++
		}
		d.day.Declarations++
		if ins[i].FiledByKind == hub.FiledByCommittee {
			d.day.ByCommittee++
		}
	}
	return err
}

// healthDeclaration draws what one resident declares: most are well; a
// few have symptoms, a fever (some with symptoms, some high) or came back
// from a risk area.
func healthDeclaration(rng *rand.Rand) codes.DeclareInput {
	mild := []string{codes.SymptomCough, codes.SymptomSoreThroat, codes.SymptomRunnyNose, codes.SymptomHeadache, codes.SymptomFatigue}
	normal := 35.9 + float64(rng.IntN(13))/10 // 35.9 to 37.1 °C
	switch x := rng.IntN(1000); {
	case x < 880:
		return codes.DeclareInput{Temperature: normal}
	case x < 940: // symptoms: YELLOW
		s := []string{pick(rng, mild)}
		if rng.IntN(3) == 0 {
			s = append(s, pick(rng, mild))
		}
		return codes.DeclareInput{Temperature: normal, Symptoms: s}
	case x < 970: // a fever: YELLOW
		return codes.DeclareInput{Temperature: 37.3 + float64(rng.IntN(12))/10}
	case x < 985: // a fever with a cough: RED
		return codes.DeclareInput{Temperature: 37.4 + float64(rng.IntN(11))/10, Symptoms: []string{codes.SymptomCough}}
	case x < 992: // a high fever: RED
		return codes.DeclareInput{Temperature: 38.5 + float64(rng.IntN(11))/10, Symptoms: []string{pick(rng, mild)}}
	}
	return codes.DeclareInput{Temperature: normal, TravelFromRisk: true} // YELLOW
}

// sell sells adult masks over the counter at every pharmacy, down to a
// remainder drawn from none to about twice the pharmacy's share of the
// round's reservations in reach, then tells the engine the new stock.
func (d *dayRun) sell(ctx context.Context) error {
	ps, err := d.svc.City.Store().Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("democity: read pharmacies: %w", err)
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b *hub.Pharmacy) int { return strings.Compare(a.ID, b.ID) })
	// The reservers are drawn now, so the remainders can follow them.
	rng := d.rng(streamReservations)
	for i := range d.residents {
		if rng.IntN(1000) < reservePermille {
			d.reservers = append(d.reservers, i)
		}
	}
	// About 3 reservations in 4 have a pharmacy in reach: a pharmacy
	// keeps enough for none to twice its share of them.
	most := max(1, len(d.reservers)*3/(2*len(ps)))
	rng = d.rng(streamSales)
	sales := make([]int, len(ps))
	for i, p := range ps {
		keep := dayPerPerson * rng.IntN(most+1)
		sales[i] = max(0, p.Stock[hub.MaskAdult]-keep)
	}
	err = each(ctx, d.opts.Workers, len(ps), func(i int) error {
		if sales[i] == 0 {
			return nil
		}
		if _, err := d.svc.City.Sell(ctx, ps[i].ID, hub.MaskAdult, sales[i]); err != nil {
			sales[i] = 0
			return fmt.Errorf("democity: sale at %s: %w", ps[i].ID, err)
		}
		return nil
	})
	for _, q := range sales {
		if q > 0 {
			d.day.Sold += q
			d.day.Sellers++
		}
	}
	if err != nil {
		return err
	}
	if err := d.svc.Dispatch.RefreshPharmacies(ctx); err != nil {
		return fmt.Errorf("democity: refresh the engine's pharmacies: %w", err)
	}
	return nil
}

// reserve makes the round's reservations in waves, so that many run at
// once and the outcome is still that of running them one after another
// in resident order.
//
// A reservation takes its stock from the nearest ring around its cell
// holding a pharmacy with enough for one person (a live pharmacy), and
// from the live pharmacy of that ring with the most stock: its outcome
// depends on the stock of those pharmacies only (its choice), and it
// changes one of them. Stock only falls during the day, so a pharmacy
// that ran out stays out and the rings nearer than a reservation's choice
// stay empty. Walking the pending reservations in order, one runs in the
// wave when its choice shares no pharmacy with the choices of those
// picked before it nor with any live pharmacy in reach of an earlier one
// left for later (which may come to want any of them). Stock is counted
// here as the allocations come back, so each wave sees what the engine
// sees.
func (d *dayRun) reserve(ctx context.Context) error {
	ps, err := d.svc.City.Store().Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("democity: read pharmacies: %w", err)
	}
	index := make(map[string]int, len(ps))
	stock := make([]int, len(ps))
	atCell := map[hub.Cell][]int{}
	for i, p := range ps {
		index[p.ID] = i
		stock[i] = p.Stock[hub.MaskAdult]
		atCell[p.Cell] = append(atCell[p.Cell], i)
	}
	live := func(p int) bool { return stock[p] >= dayPerPerson }
	reach := make([][][]int, len(d.reservers)) // per reservation, the pharmacies of each ring
	pending := make([]int, len(d.reservers))   // indexes into reservers, in order
	for j, i := range d.reservers {
		rings, err := grid.Rings(d.residents[i].Cell, dayMaxK)
		if err != nil {
			return fmt.Errorf("democity: reach of %s: %w", d.residents[i].ID, err)
		}
		reach[j] = make([][]int, len(rings))
		for k, ring := range rings {
			for _, c := range ring {
				reach[j][k] = append(reach[j][k], atCell[c]...)
			}
		}
		pending[j] = j
	}
	d.results = make([]*dispatch.ReserveResult, len(d.reservers))
	defer d.countReservations()
	taken := make([]int, len(ps)) // the last wave that took a pharmacy
	for wave := 1; len(pending) > 0; wave++ {
		var run, rest []int
		for _, j := range pending {
			choice := -1 // the ring the reservation chooses from
			for k := 0; k < len(reach[j]) && choice < 0; k++ {
				if slices.ContainsFunc(reach[j][k], live) {
					choice = k
				}
			}
			if choice < 0 {
				run = append(run, j) // nothing in reach: it waits, whenever it runs
				continue
			}
			free := !slices.ContainsFunc(reach[j][choice], func(p int) bool { return live(p) && taken[p] == wave })
			if free {
				run = append(run, j)
				for _, p := range reach[j][choice] {
					taken[p] = wave
				}
				continue
			}
			rest = append(rest, j)
			for _, ring := range reach[j][choice:] {
				for _, p := range ring {
					taken[p] = wave
				}
			}
		}
		err := each(ctx, d.opts.Workers, len(run), func(k int) error {
			r := d.residents[d.reservers[run[k]]]
			out, err := d.svc.Dispatch.Reserve(ctx, dispatch.ReserveInput{
				RoundID: d.day.RoundID, Resident: r, IdempotencyKey: "demo-day-" + r.ID,
			})
			if err != nil {
				return fmt.Errorf("democity: reservation of %s: %w", r.ID, err)
			}
			d.results[run[k]] = out
			return nil
		})
		if err != nil {
			return err
		}
		for _, j := range run {
			if a := d.results[j].Allocation; a != nil {
				if p, ok := index[a.PharmacyID]; ok {
					stock[p] -= a.Quantity
				}
			}
		}
		pending = rest
	}
	return nil
}

func (d *dayRun) countReservations() {
	for _, out := range d.results {
		switch {
		case out == nil:
			continue
		case out.Allocation != nil:
			d.day.Allocated++
		default:
			d.day.Waiting++
			if out.Reason == dispatch.ReasonNothingInReach {
				d.day.NothingInReach++
			}
		}
		d.day.Reservations++
	}
}

// redeem picks up some of the allocations at their pharmacy.
func (d *dayRun) redeem(ctx context.Context) error {
	rng := d.rng(streamRedemptions)
	var as []*hub.Allocation
	for _, out := range d.results {
		if rng.IntN(100) < redeemPercent && out.Allocation != nil {
			as = append(as, out.Allocation)
		}
	}
	var done atomic.Int64
	err := each(ctx, d.opts.Workers, len(as), func(i int) error {
		a := as[i]
		if _, err := d.svc.Dispatch.Redeem(ctx, a.PharmacyID, d.svc.Dispatch.PickupCode(a).String()); err != nil {
			return fmt.Errorf("democity: pickup of %s: %w", a.ID, err)
		}
		done.Add(1)
		return nil
	})
	d.day.Redeemed = int(done.Load())
	return err
}

// registerShortages puts other residents of the cells where stock ran out
// on the waiting list.
func (d *dayRun) registerShortages(ctx context.Context) error {
	soldOut := map[hub.Cell]bool{}
	reserved := make(map[int]bool, len(d.reservers))
	for j, out := range d.results {
		reserved[d.reservers[j]] = true
		if out.Reason == dispatch.ReasonOutOfStock {
			soldOut[d.residents[d.reservers[j]].Cell] = true
		}
	}
	rng := d.rng(streamShortages)
	var who []*hub.Resident
	for i, r := range d.residents {
		if soldOut[r.Cell] && !reserved[i] && rng.IntN(100) < shortagePercent {
			who = append(who, r)
		}
	}
	var done atomic.Int64
	err := each(ctx, d.opts.Workers, len(who), func(i int) error {
		if _, err := d.svc.Dispatch.RegisterShortage(ctx, who[i], hub.MaskAdult, dayPerPerson); err != nil {
			return fmt.Errorf("democity: shortage of %s: %w", who[i].ID, err)
		}
		done.Add(1)
		return nil
	})
	d.day.Shortages = int(done.Load())
	return err
}

// afternoon brings the partner and its delivery round, then the delivery
// of masks to the pharmacies around the station (see SeedDay).
func (d *dayRun) afternoon(ctx context.Context) error {
	station, err := grid.CellAt(hub.Point{Lat: CenterLat, Lng: CenterLng}, grid.BaseResolution)
	if err != nil {
		return err
	}
	if err := d.deliver(ctx, station); err != nil {
		return err
	}
	return d.restockStation(ctx, station)
}

// deliver opens the partner's DELIVERY round and reserves in it for some
// residents of its area, one after another (few, and competing for the
// same stock): served where stock is in reach, waiting elsewhere.
func (d *dayRun) deliver(ctx context.Context, station hub.Cell) error {
	area, err := grid.Disk(station, deliveryRings)
	if err != nil {
		return err
	}
	if _, err := d.svc.Dispatch.UpsertPartner(ctx, DemoPartnerID, "Courier One, Zhongzheng", area); err != nil {
		return fmt.Errorf("democity: partner %s: %w", DemoPartnerID, err)
	}
	if _, err := d.svc.Dispatch.OpenRound(ctx, dispatch.RoundInput{
		ID: d.day.DeliveryRoundID, Name: "Adult masks delivered around Taipei Main Station", SKU: hub.MaskAdult,
		PerPerson: dayPerPerson, Mode: hub.FirstCome, Fulfilments: []hub.Fulfilment{hub.Delivery},
		Closes: d.svc.City.Now().Add(dayRoundHours * time.Hour), MaxK: dayMaxK,
	}); err != nil {
		return fmt.Errorf("democity: open the delivery round: %w", err)
	}
	inArea := make(map[hub.Cell]bool, len(area))
	for _, c := range area {
		inArea[c] = true
	}
	reserving := make(map[int]bool, len(d.reservers))
	for _, i := range d.reservers {
		reserving[i] = true
	}
	rng := d.rng(streamDeliveries)
	for i, r := range d.residents {
		if !inArea[r.Cell] || reserving[i] || rng.IntN(100) >= deliveryPercent {
			continue
		}
		out, err := d.svc.Dispatch.Reserve(ctx, dispatch.ReserveInput{
			RoundID: d.day.DeliveryRoundID, Resident: r, Fulfilment: hub.Delivery, IdempotencyKey: "demo-delivery-" + r.ID,
		})
		if err != nil {
			return fmt.Errorf("democity: delivery for %s: %w", r.ID, err)
		}
		d.day.Deliveries++
		if out.Allocation != nil {
			d.day.Delivering++
		}
	}
	return nil
}

// restockStation restocks the pharmacies within dayMaxK rings of the
// station, as a restock through the hub does (the waiting list in reach
// first), lot after lot until each keeps afternoonKeep adult masks.
func (d *dayRun) restockStation(ctx context.Context, station hub.Cell) error {
	disk, err := grid.Disk(station, dayMaxK)
	if err != nil {
		return err
	}
	near := make(map[hub.Cell]bool, len(disk))
	for _, c := range disk {
		near[c] = true
	}
	ps, err := d.svc.City.Store().Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("democity: read pharmacies: %w", err)
	}
	slices.SortFunc(ps, func(a, b *hub.Pharmacy) int { return strings.Compare(a.ID, b.ID) })
	for _, p := range ps {
		if !near[p.Cell] {
			continue
		}
		d.day.RestockedPharmacies++
		for range afternoonMaxLots {
			w := &servedList{engine: d.svc.Dispatch}
			r, err := d.svc.City.RestockServing(ctx, p.ID, hub.MaskAdult, afternoonLot, w)
			if err != nil {
				return fmt.Errorf("democity: restock of %s: %w", p.ID, err)
			}
			d.day.Restocked += afternoonLot
			for _, a := range w.served {
				switch a.RoundID {
				case "":
					d.day.ShortagesServed++
				case d.day.RoundID:
					d.day.Allocated++
					d.day.Waiting--
					d.day.ServedLate++
				case d.day.DeliveryRoundID:
					d.day.Delivering++
				}
			}
			if r.LeftForWalkIns >= afternoonKeep {
				break
			}
		}
	}
	return nil
}

// servedList is the engine's waiting list, keeping the allocations it
// made, for the day's counts.
type servedList struct {
	engine *dispatch.Engine
	served []*hub.Allocation
}

func (w *servedList) ServeWaiting(ctx context.Context, pharmacyID string, sku hub.SKU) ([]*hub.Allocation, error) {
	as, err := w.engine.ServeWaiting(ctx, pharmacyID, sku)
	w.served = append(w.served, as...)
	return as, err
}

// scan scans the codes of a few residents who declared at checkpoints of
// their district: the first has a fever, the last has a code that is not
// GREEN.
func (d *dayRun) scan(ctx context.Context) error {
	cps, err := d.svc.City.Store().Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("democity: read checkpoints: %w", err)
	}
	slices.SortFunc(cps, func(a, b *hub.Checkpoint) int { return strings.Compare(a.ID, b.ID) })
	inDistrict := map[string][]*hub.Checkpoint{}
	for _, c := range cps {
		inDistrict[c.DistrictID] = append(inDistrict[c.DistrictID], c)
	}
	rng := d.rng(streamScans)
	order := rng.Perm(len(d.declared))
	var who []int // indexes into declared
	for _, k := range order {
		if len(who) == dayScans-1 {
			break
		}
		if len(inDistrict[d.residents[d.declared[k]].DistrictID]) > 0 {
			who = append(who, k)
		}
	}
	for _, k := range order {
		if d.colours[k] != hub.Green && !slices.Contains(who, k) && len(inDistrict[d.residents[d.declared[k]].DistrictID]) > 0 {
			who = append(who, k)
			break
		}
	}
	for n, k := range who {
		r := d.residents[d.declared[k]]
		cp := pick(rng, inDistrict[r.DistrictID])
		temp := 36.0 + float64(rng.IntN(9))/10
		if n == 0 {
			temp = 38.2
		}
		code, err := d.svc.Codes.Code(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("democity: health code of %s: %w", r.ID, err)
		}
		sc, err := d.svc.Codes.RecordScan(ctx, codes.ScanInput{CheckpointID: cp.ID, Token: code.Token, Temperature: temp})
		if err != nil {
			return fmt.Errorf("democity: scan of %s at %s: %w", r.ID, cp.ID, err)
		}
		d.day.Scans++
		switch sc.Result {
		case hub.ScanPass:
			d.day.Passed++
		case hub.ScanDeny:
			d.day.Denied++
		case hub.ScanFever:
			d.day.Fever++
		}
	}
	return nil
}

// each calls f for 0 to n-1, workers at a time, so that their writes
// share the store's group commits, and returns the first error; after an
// error it starts no more calls.
func each(ctx context.Context, workers, n int, f func(i int) error) error {
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed atomic.Bool
		mu     sync.Mutex
		first  error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
