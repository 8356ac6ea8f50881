// Package city registers the places and people of a city with the hub:
// districts and committees as areas of cells, residents placed on the
// grid, pharmacies and their stock, checkpoints. It validates input, places
// it on the grid, keeps the in-memory indexes (which area a cell belongs
// to, which pharmacies are near) and writes through a hub.Store.
//
// # Views
//
// The indexes are views of the store kept current from domain events
// (Service.Apply), the events of every hub sharing the store when they
// reach it: a district's cells from DISTRICT_UPSERTED, committees'
// cells from COMMITTEE_UPSERTED, the pharmacy locator from PHARMACY_UPSERTED (the pharmacy as stored, read when the
// event arrives), the last restocks of each pharmacy (LastRestock) from
// RESTOCK. With Options.FedByBus the caller feeds Apply every event of
// the bus (broker.Broker.View); without it the service applies each event
// it publishes itself, as it publishes it (one hub, no bus). Either way
// an event is applied once.
package city

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

// Service is the registry of a city. Create it with New.
type Service struct {
	store    hub.Store
	hasher   *privacy.Hasher
	now      func() time.Time
	newID    func(prefix string) string
	locator  *dispatch.Locator
	events   hub.Publisher
	serviceK int
	idForms  privacy.Forms

	// mu orders the writes of areas (district and committee upserts)
	// with their checks and their events.
	mu sync.Mutex
	// areaMu guards the area indexes below, which the views update.
	areaMu        sync.RWMutex
	districtOf    map[hub.Cell]string   // base cell -> district ID
	districtCells map[string][]hub.Cell // district ID -> its cells, as indexed
	committeOf    map[hub.Cell]string   // base cell -> committee ID
	committeCells map[string][]hub.Cell // committee ID -> its cells, as indexed

	// upsertMu orders pharmacy upserts with their locator updates, so that
	// the locator never ends on an older place than the store's. Stock is
	// not the locator's business: it is read from the store (PharmaciesNear),
	// so restocks and sales take no lock here.
	upsertMu sync.Mutex

	restocks sync.Map // pharmacy ID -> *restockLog, the last restocks of each (LastRestock)
}

// Options configure a Service. Zero values take defaults.
type Options struct {
	Now   func() time.Time           // default time.Now
	NewID func(prefix string) string // default: prefix + random base32
	// Events receives the registry's domain events (restocks, stock
	// changes); nil drops them.
	Events hub.Publisher
	// FedByBus says that the caller feeds Apply every event of the bus
	// that Events publishes to (its views follow the bus); false: the
	// service applies the events it publishes itself.
	FedByBus bool
	// ServiceK is how many rings around a pharmacy a restock alerts;
	// 0 means DefaultServiceK.
	ServiceK int
	// IDForms are the forms of ID number accepted (privacy.CanonicalID);
	// zero means privacy.DefaultForms.
	IDForms privacy.Forms
}

// DefaultServiceK is the service disk of a pharmacy: the rings around it
// whose committees a restock alerts (3 rings at resolution 9 is about
// 1 km).
const DefaultServiceK = 3

// New returns a service over store and loads its indexes from it.
func New(ctx context.Context, store hub.Store, hasher *privacy.Hasher, opts Options) (*Service, error) {
	s := &Service{
		store:      store,
		hasher:     hasher,
		now:        opts.Now,
		newID:      opts.NewID,
		serviceK:   opts.ServiceK,
		idForms:    opts.IDForms,
		locator:    dispatch.NewLocator(),
		districtOf: map[hub.Cell]string{},
		committeOf: map[hub.Cell]string{},
	}
	s.events = opts.Events
	if !opts.FedByBus || opts.Events == nil {
		s.events = selfFed{s: s, next: opts.Events}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = randomID
	}
	if s.serviceK <= 0 {
		s.serviceK = DefaultServiceK
	}
	if s.idForms == 0 {
		s.idForms = privacy.DefaultForms
	}
	if err := s.Rebuild(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Rebuild reads the views afresh from the store: at New, and when the
// events that keep them current were missed (a gap on the bus). The
// restocks LastRestock remembers are those seen since New.
func (s *Service) Rebuild(ctx context.Context) error {
	ds, err := s.store.Districts(ctx)
	if err != nil {
		return fmt.Errorf("load districts: %w", err)
	}
	cs, err := s.store.Committees(ctx, "")
	if err != nil {
		return fmt.Errorf("load committees: %w", err)
	}
	ps, err := s.store.Pharmacies(ctx)
	if err != nil {
		return fmt.Errorf("load pharmacies: %w", err)
	}
	s.areaMu.Lock()
	s.districtOf, s.committeOf = map[hub.Cell]string{}, map[hub.Cell]string{}
	s.districtCells, s.committeCells = map[string][]hub.Cell{}, map[string][]hub.Cell{}
	for _, d := range ds {
		s.index(s.districtOf, d.ID, nil, d.Cells)
		s.districtCells[d.ID] = d.Cells
	}
	for _, c := range cs {
		s.index(s.committeOf, c.ID, nil, c.Cells)
		s.committeCells[c.ID] = c.Cells
	}
	s.areaMu.Unlock()
	s.locator.Reset(ps)
	return nil
}

// Apply applies one domain event to the views (see the package doc). It
// implements broker.View; it publishes nothing and takes no lock that a
// publisher holds while it publishes.
func (s *Service) Apply(ctx context.Context, ev hub.Event) {
	switch p := ev.Payload.(type) {
	case hub.DistrictPayload:
		s.areaMu.Lock()
		defer s.areaMu.Unlock()
		s.index(s.districtOf, p.DistrictID, s.districtCells[p.DistrictID], p.Cells)
		s.districtCells[p.DistrictID] = p.Cells
	case hub.CommitteePayload:
		s.areaMu.Lock()
		defer s.areaMu.Unlock()
		for _, c := range p.Committees {
			s.index(s.committeOf, c.ID, s.committeCells[c.ID], c.Cells)
			s.committeCells[c.ID] = c.Cells
		}
	case hub.PharmacyPayload:
		// The pharmacy as stored now: the latest of its upserts, so
		// events applied in any order leave the latest place.
		if stored, err := s.store.Pharmacy(context.WithoutCancel(ctx), p.PharmacyID); err == nil {
			s.locator.Put(stored)
		}
	case hub.RestockPayload:
		s.noteRestock(&Restocked{
			Pharmacy: &hub.Pharmacy{ID: p.PharmacyID}, SKU: p.SKU, At: p.At, Quantity: p.Delta,
			StockAfterRestock: p.After, Served: p.Served, ToWaitingList: p.ToWaitingList, LeftForWalkIns: p.LeftForWalkIns,
		})
	}
}

// selfFed is the service's publisher when no bus feeds its views: it
// applies each event to them, then hands it on (nil: nowhere).
type selfFed struct {
	s    *Service
	next hub.Publisher
}

// Publish implements hub.Publisher.
func (f selfFed) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	f.s.Apply(ctx, ev)
	if f.next == nil {
		return 0, nil
	}
	return f.next.Publish(ctx, ev)
}

// Store returns the store the service writes through.
func (s *Service) Store() hub.Store { return s.store }

// Locator returns the pharmacy index.
func (s *Service) Locator() *dispatch.Locator { return s.locator }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now() }

func randomID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // cannot happen on supported platforms
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// index replaces the cells of area id in m: old cells are removed, new
// ones set. Callers hold s.areaMu for writing or own s exclusively.
func (s *Service) index(m map[hub.Cell]string, id string, old, cells []hub.Cell) {
	for _, c := range old {
		if m[c] == id {
			delete(m, c)
		}
	}
	for _, c := range cells {
		m[c] = id
	}
}

// DistrictAt returns the ID of the district whose area holds the base
// cell c, or "".
func (s *Service) DistrictAt(c hub.Cell) string {
	s.areaMu.RLock()
	defer s.areaMu.RUnlock()
	return s.districtOf[c]
}

// CommitteeAt returns the ID of the committee whose area holds the base
// cell c, or "".
func (s *Service) CommitteeAt(c hub.Cell) string {
	s.areaMu.RLock()
	defer s.areaMu.RUnlock()
	return s.committeOf[c]
}

// Limits on free text, so that a record stays a record.
const (
	maxName    = 200
	maxAddress = 500
	maxPhone   = 40
	maxID      = 64
	maxCode    = 64
	maxBatch   = 10_000
)

func checkText(field, v string, max int, required bool) error {
	return hub.CheckText(field, v, max, required)
}

func checkID(field, v string) error {
	if v == "" {
		return nil
	}
	if err := checkText(field, v, maxID, false); err != nil {
		return err
	}
	for _, r := range v {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return hub.Errorf(hub.EINVALID, "%s %q may hold only letters, digits, '-', '_' and '.'", field, v)
		}
	}
	return nil
}

// Area is a set of cells given either as cells or as a polygon to fill at
// the base resolution (an outer ring and optional holes).
type Area struct {
	Cells   []hub.Cell
	Polygon []hub.Point
	Holes   [][]hub.Point
}

func (a Area) cells() ([]hub.Cell, error) {
	var cs []hub.Cell
	if len(a.Polygon) > 0 {
		filled, err := grid.Fill(a.Polygon, a.Holes, grid.BaseResolution)
		if err != nil {
			return nil, err
		}
		cs = filled
	}
	cs = append(cs, a.Cells...)
	cs, err := grid.Normalize(cs, grid.BaseResolution)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, hub.Errorf(hub.EINVALID, "the area holds no cells at resolution %d", grid.BaseResolution)
	}
	return cs, nil
}
