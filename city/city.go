// Package city registers the places and people of a city with the hub:
// districts and committees as areas of cells, residents placed on the
// grid, pharmacies and their stock, checkpoints. It validates input, places
// it on the grid, keeps the in-memory indexes (which area a cell belongs
// to, which pharmacies are near) and writes through a hub.Store.
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

	mu         sync.RWMutex
	districtOf map[hub.Cell]string // base cell -> district ID
	committeOf map[hub.Cell]string // base cell -> committee ID

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
		events:     opts.Events,
		serviceK:   opts.ServiceK,
		idForms:    opts.IDForms,
		locator:    dispatch.NewLocator(),
		districtOf: map[hub.Cell]string{},
		committeOf: map[hub.Cell]string{},
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
	ds, err := store.Districts(ctx)
	if err != nil {
		return nil, fmt.Errorf("load districts: %w", err)
	}
	for _, d := range ds {
		s.index(s.districtOf, d.ID, nil, d.Cells)
	}
	cs, err := store.Committees(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("load committees: %w", err)
	}
	for _, c := range cs {
		s.index(s.committeOf, c.ID, nil, c.Cells)
	}
	ps, err := store.Pharmacies(ctx)
	if err != nil {
		return nil, fmt.Errorf("load pharmacies: %w", err)
	}
	for _, p := range ps {
		s.locator.Put(p)
	}
	return s, nil
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
// ones set. Callers hold s.mu for writing or own s exclusively.
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
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.districtOf[c]
}

// CommitteeAt returns the ID of the committee whose area holds the base
// cell c, or "".
func (s *Service) CommitteeAt(c hub.Cell) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
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
