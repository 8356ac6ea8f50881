package city

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// PharmacyInput describes a pharmacy to create or update. Stock is taken
// only when the pharmacy is new; afterwards stock moves through Restock and
// dispatch.
type PharmacyInput struct {
	ID       string
	Name     string
	Phone    string
	Address  string
	Location hub.Point
	Hours    string // 21 Y/N characters, see hub.Pharmacy
	Stock    map[hub.SKU]int
}

// UpsertPharmacies creates or updates pharmacies in one durable write.
func (s *Service) UpsertPharmacies(ctx context.Context, ins ...PharmacyInput) ([]*hub.Pharmacy, error) {
	if len(ins) > maxBatch {
		return nil, hub.Errorf(hub.EINVALID, "at most %d pharmacies at once", maxBatch)
	}
	out := make([]*hub.Pharmacy, 0, len(ins))
	for _, in := range ins {
		if err := firstErr(
			checkID("id", in.ID),
			checkText("name", in.Name, maxName, true),
			checkText("phone", in.Phone, maxPhone, false),
			checkText("address", in.Address, maxAddress, false),
			checkHours(in.Hours),
		); err != nil {
			return nil, err
		}
		cell, err := grid.CellAt(in.Location, grid.BaseResolution)
		if err != nil {
			return nil, err
		}
		stock := map[hub.SKU]int{}
		for sku, q := range in.Stock {
			if _, err := hub.ParseSKU(string(sku)); err != nil {
				return nil, err
			}
			if q < 0 {
				return nil, hub.Errorf(hub.EINVALID, "stock of %s is negative", sku)
			}
			stock[sku] = q
		}
		p := &hub.Pharmacy{
			ID: in.ID, Name: in.Name, Phone: in.Phone, Address: in.Address,
			Location: in.Location, Cell: cell, DistrictID: s.DistrictAt(cell),
			Hours: in.Hours, Stock: stock, UpdatedAt: s.now(),
		}
		if p.ID == "" {
			p.ID = s.newID("pha_")
		}
		out = append(out, p)
	}
	s.upsertMu.Lock()
	defer s.upsertMu.Unlock()
	// What each pharmacy was before, for PHARMACY_UPSERTED: upserts are
	// ordered by upsertMu, so nothing moves it between this read and the
	// write.
	before := make([]*hub.Pharmacy, len(out))
	for i, p := range out {
		prev, err := s.store.Pharmacy(ctx, p.ID)
		if err != nil && hub.ErrorCode(err) != hub.ENOTFOUND {
			return nil, err
		}
		before[i] = prev
	}
	if err := s.store.UpsertPharmacies(ctx, out...); err != nil {
		return nil, err
	}
	given := slices.Clone(out)
	for i, p := range out {
		// The stored record is authoritative for stock.
		stored, err := s.store.Pharmacy(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out[i] = stored
	}
	// The locator follows the events (Apply).
	s.publishPharmacies(ctx, before, given, out)
	return out, nil
}

// publishPharmacies publishes PHARMACY_UPSERTED for each pharmacy of an
// upsert (before: as stored before it, nil when new; given: as written;
// after: as stored after): a new one with the stock it was given, an
// existing one with where it was when it moved. A batch that names one
// pharmacy twice publishes the first as created, the rest as changed.
func (s *Service) publishPharmacies(ctx context.Context, before, given, after []*hub.Pharmacy) {
	seen := map[string]hub.Cell{}
	for i, p := range after {
		pl := hub.PharmacyPayload{PharmacyID: p.ID, Cell: p.Cell, DistrictID: p.DistrictID}
		cells := []hub.Cell{p.Cell}
		prevCell, prevDistrict, known := hub.Cell(0), "", before[i] != nil
		if known {
			prevCell, prevDistrict = before[i].Cell, before[i].DistrictID
		}
		if c, again := seen[p.ID]; again {
			known, prevCell = true, c
			prevDistrict = s.DistrictAt(c)
		}
		seen[p.ID] = p.Cell
		switch {
		case !known:
			pl.Created = true
			// The stock given, not the stock read back: a restock may
			// have come in between, and it publishes its own change.
			pl.Initial = maps.Clone(given[i].Stock)
		case prevCell != p.Cell:
			pl.FromCell, pl.FromDistrictID = prevCell, prevDistrict
			cells = append(cells, prevCell)
		}
		_, _ = s.events.Publish(ctx, hub.Event{
			Kind: hub.EventPharmacyUpserted, At: p.UpdatedAt, Cells: cells, DistrictID: p.DistrictID,
			PharmacyID: p.ID, Payload: pl,
		})
	}
}

func checkHours(h string) error {
	if h == "" {
		return nil
	}
	if len(h) != 21 || strings.Trim(h, "YN") != "" {
		return hub.Errorf(hub.EINVALID, "hours %q: want 21 characters Y (closed) or N (open), Monday to Sunday mornings, afternoons, evenings", h)
	}
	return nil
}

// MaxRestock bounds one restock, to catch slips of the keyboard.
const MaxRestock = 1_000_000

// WaitingList serves the waiting list of a supply from a pharmacy's stock
// after a restock and returns the allocations it made, in order (even
// with an error, those made before it): dispatch.Engine.ServeWaiting.
type WaitingList interface {
	ServeWaiting(ctx context.Context, pharmacyID string, sku hub.SKU) ([]*hub.Allocation, error)
}

var _ WaitingList = (*dispatch.Engine)(nil)

// Restocked is what one restock did: the delivery, what the waiting list
// took of it and what is left for walk-ins.
type Restocked struct {
	// Pharmacy is the pharmacy as the store had it once the waiting list
	// was served.
	Pharmacy *hub.Pharmacy
	SKU      hub.SKU
	At       time.Time // when the delivery was recorded
	// Quantity is the units delivered; StockAfterRestock the stock of the
	// SKU right after the delivery, before the waiting list.
	Quantity          int
	StockAfterRestock int
	// Served is the waiting-list entries served, ToWaitingList the units
	// their allocations took from this pharmacy.
	Served        int
	ToWaitingList int
	// LeftForWalkIns is the stock of the SKU on hand once the waiting
	// list was served (read back from the store): what anyone walking in
	// can still get.
	LeftForWalkIns int

	claimed bool // the answer of a restock made here (claimRestock)
}

// Restock adds quantity units of sku to a pharmacy's stock, serving no
// waiting list, and returns the pharmacy after it (RestockServing).
func (s *Service) Restock(ctx context.Context, pharmacyID string, sku hub.SKU, quantity int) (*hub.Pharmacy, error) {
	r, err := s.RestockServing(ctx, pharmacyID, sku, quantity, nil)
	if r == nil {
		return nil, err
	}
	return r.Pharmacy, err
}

// RestockServing adds quantity units of sku to a pharmacy's stock, then
// lets the waiting list w (nil: none) take its share, and publishes in
// this order:
//
//  1. STOCK_CHANGED of the delivery (reason RESTOCK, the stock right
//     after it);
//  2. what serving the waiting list publishes: for each allocation, in
//     the order it was made, ALLOCATION_CREATED and STOCK_CHANGED
//     (ALLOCATE, the stock right after that step);
//  3. one RESTOCK to the service disk, carrying the delivery, what the
//     waiting list took and what is left for walk-ins.
//
// When serving the waiting list fails the restock stands: the RESTOCK
// event tells what was served before the failure, and the error comes
// back with the result.
func (s *Service) RestockServing(ctx context.Context, pharmacyID string, sku hub.SKU, quantity int, w WaitingList) (*Restocked, error) {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return nil, err
	}
	if quantity <= 0 || quantity > MaxRestock {
		return nil, hub.Errorf(hub.EINVALID, "restock quantity %d is outside [1, %d]", quantity, MaxRestock)
	}
	change := hub.StockChange{PharmacyID: pharmacyID, SKU: sku, Delta: quantity, Reason: "RESTOCK", At: s.now()}
	p, err := s.store.AdjustStock(ctx, change)
	if err != nil {
		return nil, err
	}
	e := hub.StockEntry{StockChange: change, After: p.Stock[sku]}
	PublishStockChanged(ctx, s.events, p, e)
	r := &Restocked{
		Pharmacy: p, SKU: sku, At: change.At, Quantity: quantity,
		StockAfterRestock: e.After, LeftForWalkIns: e.After,
	}
	var serveErr error
	if w != nil {
		var as []*hub.Allocation
		as, serveErr = w.ServeWaiting(ctx, pharmacyID, sku)
		for _, a := range as {
			if a.PharmacyID == pharmacyID && a.SKU == sku {
				r.Served++
				r.ToWaitingList += a.Quantity
			}
		}
		if now, err := s.store.Pharmacy(ctx, pharmacyID); err == nil {
			r.Pharmacy, r.LeftForWalkIns = now, now.Stock[sku]
		} else {
			r.LeftForWalkIns = max(0, e.After-r.ToWaitingList)
			serveErr = errors.Join(serveErr, err)
		}
	}
	s.publishRestock(ctx, p, e, r)
	s.claimRestock(r)
	if serveErr != nil {
		return r, fmt.Errorf("restocked %d %s at %s, but serving the waiting list: %w", quantity, sku, pharmacyID, serveErr)
	}
	return r, nil
}

// restockLog is the last few restocks of one pharmacy, oldest first.
type restockLog struct {
	mu     sync.Mutex
	recent []*Restocked
}

// keptRestocks is how many restocks of a pharmacy LastRestock remembers,
// so that the answer of each of several concurrent restocks finds its own.
const keptRestocks = 8

// noteRestock keeps r among the last restocks of its pharmacy, in the
// order of their times.
func (s *Service) noteRestock(r *Restocked) {
	v, _ := s.restocks.LoadOrStore(r.Pharmacy.ID, &restockLog{})
	l := v.(*restockLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.recent)
	for i > 0 && l.recent[i-1].At.After(r.At) {
		i--
	}
	l.recent = slices.Insert(l.recent, i, r)
	if len(l.recent) > keptRestocks {
		l.recent = slices.Delete(l.recent, 0, len(l.recent)-keptRestocks)
	}
}

// claimRestock marks the restock that the RESTOCK event of r noted
// (Apply) as r's, so that LastRestock of the pharmacy r returns finds r.
// When the event has not come back (yet), nothing is marked.
func (s *Service) claimRestock(r *Restocked) {
	v, ok := s.restocks.Load(r.Pharmacy.ID)
	if !ok {
		return
	}
	l := v.(*restockLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.recent) - 1; i >= 0; i-- {
		x := l.recent[i]
		if x.claimed || !x.At.Equal(r.At) || x.SKU != r.SKU || x.Quantity != r.Quantity || x.StockAfterRestock != r.StockAfterRestock {
			continue
		}
		r.claimed = true
		l.recent[i] = r
		return
	}
}

// LastRestock returns the restock whose result p is (the pharmacy that
// RestockServing returned, so the answer of a restock tells its own even
// when others of the same pharmacy run at once), else the last restock
// of p whose RESTOCK event reached this service since it started,
// whichever hub made it; nil when none.
func (s *Service) LastRestock(p *hub.Pharmacy) *Restocked {
	v, ok := s.restocks.Load(p.ID)
	if !ok {
		return nil
	}
	l := v.(*restockLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) == 0 {
		return nil
	}
	for _, r := range l.recent {
		if r.Pharmacy == p {
			return r
		}
	}
	return l.recent[len(l.recent)-1]
}

// publishRestock tells the pharmacy's service disk about a restock: one
// RESTOCK event with what the waiting list took and what is left.
func (s *Service) publishRestock(ctx context.Context, p *hub.Pharmacy, e hub.StockEntry, r *Restocked) {
	if s.events == nil {
		return
	}
	rings, err := grid.Rings(p.Cell, s.serviceK)
	if err != nil {
		return // a stored pharmacy always has a valid cell
	}
	var disk []hub.Cell
	for _, r := range rings {
		disk = append(disk, r...)
	}
	// Publishing never blocks; a closed broker (shutdown) drops events.
	_, _ = s.events.Publish(ctx, hub.Event{
		Kind: hub.EventRestock, At: e.At, Cells: disk, DistrictID: p.DistrictID, PharmacyID: p.ID, SKU: e.SKU,
		Payload: hub.RestockPayload{
			StockEntry: e, Cell: p.Cell, Rings: rings,
			Served: r.Served, ToWaitingList: r.ToWaitingList, LeftForWalkIns: r.LeftForWalkIns,
		},
	})
}

// PublishStockChanged publishes a STOCK_CHANGED event for a pharmacy's
// ledger entry; dispatch uses it too when allocations move stock.
func PublishStockChanged(ctx context.Context, events hub.Publisher, p *hub.Pharmacy, e hub.StockEntry) {
	if events == nil {
		return
	}
	_, _ = events.Publish(ctx, hub.StockChangedEvent(p, e))
}

// PharmaciesNear returns the pharmacies within k rings of a point, nearest
// ring first, nearest first within a ring; with a SKU, only those that
// have it in stock.
func (s *Service) PharmaciesNear(ctx context.Context, at hub.Point, k int, sku hub.SKU) ([]dispatch.Match, error) {
	if sku != "" {
		if _, err := hub.ParseSKU(string(sku)); err != nil {
			return nil, err
		}
	}
	ms, err := s.locator.Near(at, k, "")
	if err != nil {
		return nil, err
	}
	// The locator knows where pharmacies are; the store knows their stock
	// now (dispatch moves it), so the few found are read fresh.
	out := ms[:0]
	for _, m := range ms {
		p, err := s.store.Pharmacy(ctx, m.Pharmacy.ID)
		if err != nil {
			return nil, err
		}
		if sku != "" && p.Stock[sku] <= 0 {
			continue
		}
		m.Pharmacy = p
		out = append(out, m)
	}
	return out, nil
}

// CheckpointInput describes a checkpoint to create or update.
type CheckpointInput struct {
	ID       string
	Name     string
	Kind     string
	Location hub.Point
}

// CheckpointKinds returns the kinds of places where codes are scanned.
func CheckpointKinds() []string {
	return []string{"HOUSING", "OFFICE", "SCHOOL", "TRANSPORT", "STATION", "HOSPITAL", "MARKET", "OTHER"}
}

// UpsertCheckpoints creates or updates checkpoints.
func (s *Service) UpsertCheckpoints(ctx context.Context, ins ...CheckpointInput) ([]*hub.Checkpoint, error) {
	if len(ins) > maxBatch {
		return nil, hub.Errorf(hub.EINVALID, "at most %d checkpoints at once", maxBatch)
	}
	out := make([]*hub.Checkpoint, 0, len(ins))
	for _, in := range ins {
		if err := firstErr(checkID("id", in.ID), checkText("name", in.Name, maxName, true), checkKind(in.Kind)); err != nil {
			return nil, err
		}
		cell, err := grid.CellAt(in.Location, grid.BaseResolution)
		if err != nil {
			return nil, err
		}
		c := &hub.Checkpoint{ID: in.ID, Name: in.Name, Kind: in.Kind, Location: in.Location, Cell: cell, DistrictID: s.DistrictAt(cell), UpdatedAt: s.now()}
		if c.ID == "" {
			c.ID = s.newID("chk_")
		}
		out = append(out, c)
	}
	if err := s.store.UpsertCheckpoints(ctx, out...); err != nil {
		return nil, err
	}
	return out, nil
}

func checkKind(k string) error {
	for _, v := range CheckpointKinds() {
		if k == v {
			return nil
		}
	}
	return hub.Errorf(hub.EINVALID, "checkpoint kind %q: want one of %s", k, hub.Said(strings.Join(CheckpointKinds(), ", ")))
}

// PharmaciesIn lists the pharmacies of a district in ID order.
func (s *Service) PharmaciesIn(ctx context.Context, districtID string) ([]*hub.Pharmacy, error) {
	all, err := s.store.Pharmacies(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, p := range all {
		if p.DistrictID == districtID {
			out = append(out, p)
		}
	}
	return out, nil
}
