package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The records below are the on-disk form of the domain types. They are
// separate from package hub so that renaming a Go field never changes the
// stored format; the JSON names are the format.

type districtRec struct {
	ID        string     `json:"id"`
	Code      string     `json:"code,omitempty"`
	Name      string     `json:"name,omitempty"`
	Cells     []hub.Cell `json:"cells,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

func districtToRec(d *hub.District) districtRec {
	return districtRec{ID: d.ID, Code: d.Code, Name: d.Name, Cells: d.Cells, UpdatedAt: d.UpdatedAt}
}

func (r *districtRec) domain() *hub.District {
	return &hub.District{ID: r.ID, Code: r.Code, Name: r.Name, Cells: r.Cells, UpdatedAt: r.UpdatedAt}
}

type committeeRec struct {
	ID         string     `json:"id"`
	Code       string     `json:"code,omitempty"`
	Name       string     `json:"name,omitempty"`
	DistrictID string     `json:"districtId,omitempty"`
	Cells      []hub.Cell `json:"cells,omitempty"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

func committeeToRec(c *hub.Committee) committeeRec {
	return committeeRec{
		ID: c.ID, Code: c.Code, Name: c.Name, DistrictID: c.DistrictID,
		Cells: c.Cells, UpdatedAt: c.UpdatedAt,
	}
}

func (r *committeeRec) domain() *hub.Committee {
	return &hub.Committee{
		ID: r.ID, Code: r.Code, Name: r.Name, DistrictID: r.DistrictID,
		Cells: r.Cells, UpdatedAt: r.UpdatedAt,
	}
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

func residentToRec(r *hub.Resident) residentRec {
	return residentRec{
		ID: r.ID, Name: r.Name, IDHash: r.IDHash, IDMasked: r.IDMasked,
		Phone: r.Phone, Address: r.Address, Location: r.Location, Cell: r.Cell,
		CommitteeID: r.CommitteeID, DistrictID: r.DistrictID,
		RegisteredAt: r.RegisteredAt,
	}
}

func (r *residentRec) domain() *hub.Resident {
	return &hub.Resident{
		ID: r.ID, Name: r.Name, IDHash: r.IDHash, IDMasked: r.IDMasked,
		Phone: r.Phone, Address: r.Address, Location: r.Location, Cell: r.Cell,
		CommitteeID: r.CommitteeID, DistrictID: r.DistrictID,
		RegisteredAt: r.RegisteredAt,
	}
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
	return pharmacyRec{
		ID: p.ID, Name: p.Name, Phone: p.Phone, Address: p.Address,
		Location: p.Location, Cell: p.Cell, DistrictID: p.DistrictID,
		Hours: p.Hours, Stock: maps.Clone(p.Stock), UpdatedAt: p.UpdatedAt,
	}
}

// domain returns the pharmacy; its Stock is never nil.
func (r *pharmacyRec) domain() *hub.Pharmacy {
	stock := r.Stock
	if stock == nil {
		stock = make(map[hub.SKU]int)
	}
	return &hub.Pharmacy{
		ID: r.ID, Name: r.Name, Phone: r.Phone, Address: r.Address,
		Location: r.Location, Cell: r.Cell, DistrictID: r.DistrictID,
		Hours: r.Hours, Stock: stock, UpdatedAt: r.UpdatedAt,
	}
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

func checkpointToRec(c *hub.Checkpoint) checkpointRec {
	return checkpointRec{
		ID: c.ID, Name: c.Name, Kind: c.Kind, Location: c.Location,
		Cell: c.Cell, DistrictID: c.DistrictID, UpdatedAt: c.UpdatedAt,
	}
}

func (r *checkpointRec) domain() *hub.Checkpoint {
	return &hub.Checkpoint{
		ID: r.ID, Name: r.Name, Kind: r.Kind, Location: r.Location,
		Cell: r.Cell, DistrictID: r.DistrictID, UpdatedAt: r.UpdatedAt,
	}
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

// encode returns the stored form of a record.
func encode(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("boltstore: encode %s: %w", kind, err)
	}
	return b, nil
}

// decode reads a stored record into v. The bytes may belong to a bbolt
// transaction; v shares no memory with them afterwards.
func decode(kind string, key, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("boltstore: decode %s %q: %w", kind, key, err)
	}
	return nil
}

// u64 returns v as an 8-byte big-endian key, which sorts like the number.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// sortedSKUs returns the SKUs of a stock map in order.
func sortedSKUs(stock map[hub.SKU]int) []hub.SKU {
	return slices.Sorted(maps.Keys(stock))
}
