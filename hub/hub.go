// Package hub holds Gridhub's domain types, its application error and the
// interfaces between its parts. It imports nothing else of the module, so
// every other package can speak in its types.
package hub

import (
	"fmt"
	"strconv"
	"time"
)

// Cell is an H3 cell index. Geometry on cells lives in package grid, the
// only importer of H3; here a cell is just its 64-bit index, printed as the
// standard 15-character lower-case hex string.
type Cell uint64

// String returns the cell as 15 lower-case hex characters.
func (c Cell) String() string { return fmt.Sprintf("%015x", uint64(c)) }

// MarshalText implements encoding.TextMarshaler.
func (c Cell) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It checks the form
// only; grid.ParseCell also checks that the index is a valid H3 cell.
func (c *Cell) UnmarshalText(b []byte) error {
	if len(b) != 15 {
		return Errorf(EINVALID, "cell %q: want 15 lower-case hex characters", b)
	}
	for _, ch := range b {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return Errorf(EINVALID, "cell %q: want 15 lower-case hex characters", b)
		}
	}
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return Errorf(EINVALID, "cell %q: %v", b, err)
	}
	*c = Cell(v)
	return nil
}

// Point is a WGS84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// SKU names a rationed supply.
type SKU string

// The supplies the hub knows.
const (
	MaskAdult     SKU = "MASK_ADULT"
	MaskChild     SKU = "MASK_CHILD"
	MaskN95       SKU = "MASK_N95"
	HandSanitizer SKU = "HAND_SANITIZER"
	TestKit       SKU = "TEST_KIT"
)

// Supply describes a SKU for people.
type Supply struct {
	SKU  SKU
	Name string
	Unit string
}

// Supplies returns the catalogue of supplies, in a fixed order.
func Supplies() []Supply {
	return []Supply{
		{MaskAdult, "Adult surgical mask", "piece"},
		{MaskChild, "Child surgical mask", "piece"},
		{MaskN95, "N95 respirator", "piece"},
		{HandSanitizer, "Hand sanitizer 500 ml", "bottle"},
		{TestKit, "Antigen test kit", "kit"},
	}
}

// ParseSKU returns the SKU named s or an EINVALID error.
func ParseSKU(s string) (SKU, error) {
	for _, sp := range Supplies() {
		if string(sp.SKU) == s {
			return sp.SKU, nil
		}
	}
	return "", Errorf(EINVALID, "unknown supply %q", s)
}

// District is an administrative area: a set of cells at the base
// resolution. Aggregates for dashboards roll its cells up to coarser
// parents.
type District struct {
	ID        string
	Code      string
	Name      string
	Cells     []Cell // sorted, base resolution
	UpdatedAt time.Time
}

// Committee is a neighborhood committee (a Shanghai-style residents'
// committee): its area is a set of base-resolution cells inside a district,
// and its code is what residents register with.
type Committee struct {
	ID         string
	Code       string
	Name       string
	DistrictID string
	Cells      []Cell // sorted, base resolution
	UpdatedAt  time.Time
}

// Resident is a person registered with the hub. The ID number itself is
// never stored: only its keyed hash (for dedupe) and a masked form (for
// display).
type Resident struct {
	ID           string
	Name         string
	IDHash       string // hex HMAC-SHA256 of the canonical ID number (privacy.CanonicalID)
	IDMasked     string // e.g. "A1******89"
	Phone        string
	Address      string
	Location     Point
	Cell         Cell
	CommitteeID  string
	DistrictID   string
	RegisteredAt time.Time
}

// Pharmacy is a point of distribution with stock per SKU.
type Pharmacy struct {
	ID         string
	Name       string
	Phone      string
	Address    string
	Location   Point
	Cell       Cell
	DistrictID string
	// Hours is 21 characters, Y or N, Monday to Sunday mornings, then
	// afternoons, then evenings; N means open (Taiwan's NHIA convention:
	// Y marks a closed period). Empty means unknown.
	Hours     string
	Stock     map[SKU]int
	UpdatedAt time.Time
}

// Checkpoint is a place where health codes are scanned.
type Checkpoint struct {
	ID         string
	Name       string
	Kind       string // HOUSING, OFFICE, TRANSPORT, STATION, ...
	Location   Point
	Cell       Cell
	DistrictID string
	UpdatedAt  time.Time
}

// StockChange is one movement of stock at a pharmacy. Delta is positive for
// restocks and negative for removals; a change never takes stock below
// zero.
type StockChange struct {
	PharmacyID string
	SKU        SKU
	Delta      int
	Reason     string // RESTOCK, ALLOCATE, RETURN, CORRECTION, ...
	At         time.Time
}

// StockEntry is a StockChange as recorded in the ledger, with its sequence
// number and the quantity on hand after it.
type StockEntry struct {
	Seq   uint64
	After int
	StockChange
}
