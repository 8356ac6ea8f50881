package portable

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The records below are the stored form of the domain types. They are
// separate from package hub so that renaming a Go field never changes the
// stored format: the JSON names are the format (testdata/records.golden
// pins it). A record has the fields of its domain type, same names, same
// types, same order, so that each converts to the other with a Go type
// conversion instead of a field-by-field copy; renaming a domain field
// then fails to compile here until the record's field is renamed too,
// its JSON name kept. A record whose domain type nests another domain
// type with its own stored names (a round's eligibility, a risk area's
// cells) is copied by hand.

type districtRec struct {
	ID        string     `json:"id"`
	Code      string     `json:"code,omitempty"`
	Name      string     `json:"name,omitempty"`
	Cells     []hub.Cell `json:"cells,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

func districtToRec(v *hub.District) districtRec { return districtRec(*v) }

func (r *districtRec) domain() *hub.District {
	v := hub.District(*r)
	return &v
}

type committeeRec struct {
	ID         string     `json:"id"`
	Code       string     `json:"code,omitempty"`
	Name       string     `json:"name,omitempty"`
	DistrictID string     `json:"districtId,omitempty"`
	Cells      []hub.Cell `json:"cells,omitempty"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

func committeeToRec(v *hub.Committee) committeeRec { return committeeRec(*v) }

func (r *committeeRec) domain() *hub.Committee {
	v := hub.Committee(*r)
	return &v
}

type residentRec struct {
	ID           string    `json:"id"`
	Name         string    `json:"name,omitempty"`
	IDHash       string    `json:"idHash"`
	IDMasked     string    `json:"idMasked,omitempty"`
	Phone        string    `json:"phone,omitempty"`
	Address      string    `json:"address,omitempty"`
	Location     hub.Point `json:"loc"`
	Cell         hub.Cell  `json:"cell"`
	CommitteeID  string    `json:"committeeId,omitempty"`
	DistrictID   string    `json:"districtId,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
}

func residentToRec(v *hub.Resident) residentRec { return residentRec(*v) }

func (r *residentRec) domain() *hub.Resident {
	v := hub.Resident(*r)
	return &v
}

type pharmacyRec struct {
	ID         string          `json:"id"`
	Name       string          `json:"name,omitempty"`
	Phone      string          `json:"phone,omitempty"`
	Address    string          `json:"address,omitempty"`
	Location   hub.Point       `json:"loc"`
	Cell       hub.Cell        `json:"cell"`
	DistrictID string          `json:"districtId,omitempty"`
	Hours      string          `json:"hours,omitempty"`
	Stock      map[hub.SKU]int `json:"stock,omitempty"`
	UpdatedAt  time.Time       `json:"updatedAt"`
}

// pharmacyToRec copies p, its stock map included.
func pharmacyToRec(p *hub.Pharmacy) pharmacyRec {
	r := pharmacyRec(*p)
	r.Stock = maps.Clone(p.Stock)
	return r
}

// domain returns the pharmacy; its Stock is never nil.
func (r *pharmacyRec) domain() *hub.Pharmacy {
	p := hub.Pharmacy(*r)
	if p.Stock == nil {
		p.Stock = make(map[hub.SKU]int)
	}
	return &p
}

type checkpointRec struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Location   hub.Point `json:"loc"`
	Cell       hub.Cell  `json:"cell"`
	DistrictID string    `json:"districtId,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

func checkpointToRec(v *hub.Checkpoint) checkpointRec { return checkpointRec(*v) }

func (r *checkpointRec) domain() *hub.Checkpoint {
	v := hub.Checkpoint(*r)
	return &v
}

// ledgerRec is one stock ledger entry; the pharmacy is the bucket it lives
// in and the sequence number is its key.
type ledgerRec struct {
	SKU    hub.SKU   `json:"sku"`
	Delta  int       `json:"delta"`
	After  int       `json:"after"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

func (r *ledgerRec) domain(pharmacyID string, seq uint64) hub.StockEntry {
	return hub.StockEntry{
		Seq:   seq,
		After: r.After,
		StockChange: hub.StockChange{
			PharmacyID: pharmacyID, SKU: r.SKU, Delta: r.Delta,
			Reason: r.Reason, At: r.At,
		},
	}
}

// encode returns the stored form of a record: the JSON json.Marshal
// writes, by the record's own appendJSON when it has one (recjson.go).
func encode(kind string, v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		if b, ok := a.appendJSON(make([]byte, 0, 256)); ok {
			return b, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", kind, err)
	}
	return b, nil
}

// decode reads a stored record into v, as json.Unmarshal does, by the
// record's own readJSON when it has one and the bytes are in the form it
// reads (recjson.go). The bytes may belong to a driver's transaction; v
// shares no memory with them afterwards.
func decode(kind string, key, b []byte, v any) error {
	if r, ok := v.(jsonReader); ok && r.readJSON(b) {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %s %q: %w", kind, key, err)
	}
	return nil
}

// u64 returns v as an 8-byte big-endian key, which sorts like the number.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// sortedSKUs returns the SKUs of a stock map in order.
func sortedSKUs(stock map[hub.SKU]int) []hub.SKU {
	return slices.Sorted(maps.Keys(stock))
}

type eligibilityRec struct {
	IDHashes    []string `json:"idHashes,omitempty"`
	DistrictIDs []string `json:"districtIds,omitempty"`
}

type roundRec struct {
	ID          string           `json:"id"`
	Name        string           `json:"name,omitempty"`
	SKU         hub.SKU          `json:"sku"`
	PerPerson   int              `json:"perPerson"`
	Mode        hub.Mode         `json:"mode"`
	Fulfilments []hub.Fulfilment `json:"fulfilments,omitempty"`
	Eligibility eligibilityRec   `json:"eligibility"`
	HealthGate  bool             `json:"healthGate,omitempty"`
	// HealthRules: absent in files written before rounds held their own
	// rules, read as nil (the default rules).
	HealthRules  []healthRuleRec `json:"healthRules,omitempty"`
	Opens        time.Time       `json:"opens"`
	Closes       time.Time       `json:"closes"`
	MaxK         int             `json:"maxK"`
	PickupWindow time.Duration   `json:"pickupWindowNs"`
	// Slots: absent in files written before slots existed, read as 0
	// (no slots).
	SlotMinutes  int             `json:"slotMinutes,omitempty"`
	SlotCapacity int             `json:"slotCapacity,omitempty"`
	Quotas       map[string]int  `json:"quotas,omitempty"`
	Commitment   string          `json:"commitment,omitempty"`
	Seed         string          `json:"seed,omitempty"`
	Winners      int             `json:"winners,omitempty"`
	Status       hub.RoundStatus `json:"status"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    time.Time       `json:"updatedAt"`
}

// healthRuleRec is one colour's rule of a round's health gate. Its
// fulfilments are always written, [] for a colour that may not reserve.
type healthRuleRec struct {
	Colour      hub.Colour       `json:"colour"`
	Fulfilments []hub.Fulfilment `json:"fulfilments"`
	Reason      string           `json:"reason,omitempty"`
}

// healthRulesToRec copies rules; nil stays nil, and a rule's fulfilments
// are never nil.
func healthRulesToRec(rules []hub.HealthRule) []healthRuleRec {
	if rules == nil {
		return nil
	}
	out := make([]healthRuleRec, len(rules))
	for i, r := range rules {
		out[i] = healthRuleRec{Colour: r.Colour, Fulfilments: append([]hub.Fulfilment{}, r.Fulfilments...), Reason: r.Reason}
	}
	return out
}

// healthRulesOf returns the rules recs hold; nil stays nil, and a rule's
// fulfilments are never nil.
func healthRulesOf(recs []healthRuleRec) []hub.HealthRule {
	if recs == nil {
		return nil
	}
	out := make([]hub.HealthRule, len(recs))
	for i, r := range recs {
		out[i] = hub.HealthRule{Colour: r.Colour, Fulfilments: append([]hub.Fulfilment{}, r.Fulfilments...), Reason: r.Reason}
	}
	return out
}

// roundToRec copies r, its slices and map included.
func roundToRec(r *hub.Round) roundRec {
	return roundRec{
		ID: r.ID, Name: r.Name, SKU: r.SKU, PerPerson: r.PerPerson, Mode: r.Mode,
		Fulfilments: slices.Clone(r.Fulfilments),
		Eligibility: eligibilityRec{
			IDHashes:    slices.Clone(r.Eligibility.IDHashes),
			DistrictIDs: slices.Clone(r.Eligibility.DistrictIDs),
		},
		HealthGate: r.HealthGate, HealthRules: healthRulesToRec(r.HealthRules),
		Opens: r.Opens, Closes: r.Closes, MaxK: r.MaxK,
		PickupWindow: r.PickupWindow, SlotMinutes: r.SlotMinutes, SlotCapacity: r.SlotCapacity,
		Quotas:     maps.Clone(r.Quotas),
		Commitment: r.Commitment, Seed: r.Seed, Winners: r.Winners, Status: r.Status,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func (r *roundRec) domain() *hub.Round {
	return &hub.Round{
		ID: r.ID, Name: r.Name, SKU: r.SKU, PerPerson: r.PerPerson, Mode: r.Mode,
		Fulfilments: r.Fulfilments,
		Eligibility: hub.Eligibility{IDHashes: r.Eligibility.IDHashes, DistrictIDs: r.Eligibility.DistrictIDs},
		HealthGate:  r.HealthGate, HealthRules: healthRulesOf(r.HealthRules),
		Opens: r.Opens, Closes: r.Closes, MaxK: r.MaxK,
		PickupWindow: r.PickupWindow, SlotMinutes: r.SlotMinutes, SlotCapacity: r.SlotCapacity,
		Quotas:     r.Quotas,
		Commitment: r.Commitment, Seed: r.Seed, Winners: r.Winners, Status: r.Status,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type reservationRec struct {
	ID             string                `json:"id"`
	RoundID        string                `json:"roundId"`
	ResidentID     string                `json:"residentId,omitempty"`
	IDHash         string                `json:"idHash"`
	Cell           hub.Cell              `json:"cell"`
	CommitteeID    string                `json:"committeeId,omitempty"`
	DistrictID     string                `json:"districtId,omitempty"`
	Fulfilment     hub.Fulfilment        `json:"fulfilment,omitempty"`
	IdempotencyKey string                `json:"idempotencyKey,omitempty"`
	EntryHash      string                `json:"entryHash,omitempty"`
	Status         hub.ReservationStatus `json:"status"`
	AllocationID   string                `json:"allocationId,omitempty"`
	CreatedAt      time.Time             `json:"createdAt"`
	UpdatedAt      time.Time             `json:"updatedAt"`
}

func reservationToRec(v *hub.Reservation) reservationRec { return reservationRec(*v) }

func (r *reservationRec) domain() *hub.Reservation {
	v := hub.Reservation(*r)
	return &v
}

type allocationRec struct {
	ID            string               `json:"id"`
	RoundID       string               `json:"roundId,omitempty"`
	ReservationID string               `json:"reservationId,omitempty"`
	ShortageID    string               `json:"shortageId,omitempty"`
	ResidentID    string               `json:"residentId,omitempty"`
	PharmacyID    string               `json:"pharmacyId"`
	PartnerID     string               `json:"partnerId,omitempty"`
	SKU           hub.SKU              `json:"sku"`
	Quantity      int                  `json:"quantity"`
	Cell          hub.Cell             `json:"cell"`
	Slot          time.Time            `json:"slot"`
	CodeHash      string               `json:"codeHash,omitempty"`
	Status        hub.AllocationStatus `json:"status"`
	ExpiresAt     time.Time            `json:"expiresAt"`
	CreatedAt     time.Time            `json:"createdAt"`
	UpdatedAt     time.Time            `json:"updatedAt"`
	// Step is not stored: it is what a write reports.
	Step *hub.StockStep `json:"-"`
}

func allocationToRec(v *hub.Allocation) allocationRec { return allocationRec(*v) }

func (r *allocationRec) domain() *hub.Allocation {
	v := hub.Allocation(*r)
	return &v
}

type partnerRec struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	Cells     []hub.Cell `json:"cells,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

func partnerToRec(p *hub.Partner) partnerRec {
	r := partnerRec(*p)
	r.Cells = slices.Clone(p.Cells)
	return r
}

func (r *partnerRec) domain() *hub.Partner {
	p := hub.Partner(*r)
	return &p
}

type shortageRec struct {
	ID           string             `json:"id"`
	ResidentID   string             `json:"residentId"`
	Cell         hub.Cell           `json:"cell"`
	SKU          hub.SKU            `json:"sku"`
	Quantity     int                `json:"quantity"`
	Status       hub.ShortageStatus `json:"status"`
	AllocationID string             `json:"allocationId,omitempty"`
	CreatedAt    time.Time          `json:"createdAt"`
	UpdatedAt    time.Time          `json:"updatedAt"`
}

func shortageToRec(v *hub.Shortage) shortageRec { return shortageRec(*v) }

func (r *shortageRec) domain() *hub.Shortage {
	v := hub.Shortage(*r)
	return &v
}
