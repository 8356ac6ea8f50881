package hub

import (
	"context"
	"math"
	"time"
)

// Colour is the colour of a health code. The zero value is no colour.
type Colour string

// The colours, from least to most restricted.
const (
	Green  Colour = "GREEN"  // free to move
	Yellow Colour = "YELLOW" // restricted: home observation, no crowded places
	Red    Colour = "RED"    // isolation or quarantine: every checkpoint denies
)

// Colours returns every colour, least restricted first.
func Colours() []Colour { return []Colour{Green, Yellow, Red} }

// Rank orders colours: 1 for GREEN, 2 for YELLOW, 3 for RED, 0 for any
// other value.
func (c Colour) Rank() int {
	switch c {
	case Green:
		return 1
	case Yellow:
		return 2
	case Red:
		return 3
	}
	return 0
}

// Valid reports whether c is one of the colours.
func (c Colour) Valid() bool { return c.Rank() > 0 }

// ParseColour returns the colour named s or an EINVALID error.
func ParseColour(s string) (Colour, error) {
	if c := Colour(s); c.Valid() {
		return c, nil
	}
	return "", Errorf(EINVALID, "unknown colour %q (want GREEN, YELLOW or RED)", s)
}

// MaxColour returns the more restricted of a and b.
func MaxColour(a, b Colour) Colour {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// FiledByKind says who filed a health declaration: the person, or for its
// members a collecting organisation (the seeds' collection by level).
type FiledByKind string

// The kinds of filer.
const (
	FiledBySelf       FiledByKind = "SELF"
	FiledByCommittee  FiledByKind = "COMMITTEE"
	FiledByEnterprise FiledByKind = "ENTERPRISE"
	FiledBySchool     FiledByKind = "SCHOOL"
)

// Valid reports whether k is one of the kinds above.
func (k FiledByKind) Valid() bool {
	switch k {
	case FiledBySelf, FiledByCommittee, FiledByEnterprise, FiledBySchool:
		return true
	}
	return false
}

// Body temperatures the hub accepts, in °C. A temperature of exactly 0
// means "not measured"; anything else outside [MinTemperature,
// MaxTemperature] is an impossible reading (a broken thermometer, °F
// typed as °C) and an EINVALID error.
const (
	MinTemperature = 30.0
	MaxTemperature = 45.0
)

// CheckTemperature returns an EINVALID error unless t is 0 (not measured)
// or a possible body temperature in °C.
func CheckTemperature(t float64) error {
	if t == 0 {
		return nil
	}
	if math.IsNaN(t) || t < MinTemperature || t > MaxTemperature {
		return Errorf(EINVALID, "impossible body temperature %v °C (want %v to %v, or 0 for not measured)", t, MinTemperature, MaxTemperature)
	}
	return nil
}

// Declaration is one health declaration: what a person (or the
// organisation filing for them) said, and the colour it set.
type Declaration struct {
	ID         string
	ResidentID string
	// SubjectID is the resident's opaque health-code subject, never the
	// ID number.
	SubjectID       string
	Symptoms        []string // normalised symptom names, sorted
	Temperature     float64  // °C; 0 when not measured
	TravelFromRisk  bool     // travelled from a risk area in the last 14 days
	ContactWithCase bool     // close contact with a confirmed case
	// FiledBy is who filed it: the resident's ID for SELF, else the
	// committee's or organisation's ID.
	FiledBy     string
	FiledByKind FiledByKind
	// Where the resident lived when they declared, for aggregates.
	Cell       Cell
	DistrictID string
	// Colour is the colour the rules gave when it was filed, and Reasons
	// the names of every rule that matched (codes.Rules).
	Colour  Colour
	Reasons []string
	At      time.Time
}

// DeclarationCount is one group of the declaration aggregate: how many
// residents' latest declarations were filed in Cell, of DistrictID, by a
// filer of FiledByKind, and set Colour.
type DeclarationCount struct {
	DistrictID  string
	Cell        Cell
	Colour      Colour
	FiledByKind FiledByKind
	Count       int
}

// RiskLevel is how risky a cell is. The zero value is no risk.
type RiskLevel string

// The risk levels. A risk area is a HIGH cell and the rings around it at
// lower levels (codes.AreaCells says which).
const (
	RiskHigh   RiskLevel = "HIGH"
	RiskMedium RiskLevel = "MEDIUM"
	RiskLow    RiskLevel = "LOW"
)

// Rank orders levels: 3 for HIGH, 2 for MEDIUM, 1 for LOW, 0 for none.
func (l RiskLevel) Rank() int {
	switch l {
	case RiskHigh:
		return 3
	case RiskMedium:
		return 2
	case RiskLow:
		return 1
	}
	return 0
}

// Valid reports whether l is one of the levels.
func (l RiskLevel) Valid() bool { return l.Rank() > 0 }

// MaxRiskRings bounds the rings of a risk area.
const MaxRiskRings = 10

// RiskCell is one cell of a risk area and its level there.
type RiskCell struct {
	Cell  Cell
	Level RiskLevel
}

// RiskArea is a cell marked high risk and the rings around it at lower
// levels. Its ID is the centre cell's hex string, so an area marked again
// replaces the earlier marking. While LiftedAt is zero it is in force:
// each of its cells has at least the level it gives it.
type RiskArea struct {
	ID       string
	Cell     Cell // the centre, HIGH
	Rings    int
	Reason   string
	Cells    []RiskCell // every cell of the disk with its level, sorted by cell
	MarkedAt time.Time
	LiftedAt time.Time // zero while in force
}

// Active reports whether the area is in force.
func (a *RiskArea) Active() bool { return a.LiftedAt.IsZero() }

// ScanResult is what a checkpoint made of a scan.
type ScanResult string

// The results of a scan.
const (
	ScanPass  ScanResult = "PASS"  // a valid GREEN code, no fever
	ScanDeny  ScanResult = "DENY"  // a YELLOW or RED code
	ScanFever ScanResult = "FEVER" // a temperature at or above the fever line
)

// Valid reports whether r is one of the results.
func (r ScanResult) Valid() bool { return r == ScanPass || r == ScanDeny || r == ScanFever }

// Scan is one scan of a health code at a checkpoint. A resident's scans
// make up their trajectory; scans in the same cell or its neighbours at
// about the same time make contacts. A visitor whose code another issuer
// signed has a SubjectID and no ResidentID.
type Scan struct {
	ID           string
	CheckpointID string
	Cell         Cell // the checkpoint's cell
	ResidentID   string
	SubjectID    string
	At           time.Time
	Temperature  float64 // °C; 0 when not measured
	Colour       Colour  // the colour the code showed
	Result       ScanResult
}

// IssuedCode is a signed health code: its claims and its text form.
type IssuedCode struct {
	Token     string // the text form for a QR code ("GH1:...")
	Issuer    string // the issuing authority, from the trust list
	KeyID     string
	SubjectID string
	Colour    Colour
	Issued    time.Time // whole seconds
	Expires   time.Time // whole seconds
}

// HealthCode is a resident's health code as the hub keeps it: the colour
// in force and why. It is derived: the colour follows from the latest
// declaration, the risk level of the home cell and the resident's case
// marks, and is computed again whenever one of them changes. Version
// guards against lost updates (PutHealthCode).
type HealthCode struct {
	ResidentID  string
	SubjectID   string
	Cell        Cell // home cell
	DistrictID  string
	CommitteeID string
	Colour      Colour
	Reasons     []string
	Version     uint64 // 0 for a code not yet stored
	UpdatedAt   time.Time
}

// ColourCount is one group of the colour aggregate: how many residents of
// DistrictID living in Cell have a health code of Colour now.
type ColourCount struct {
	DistrictID string
	Cell       Cell
	Colour     Colour
	Count      int
}

// CaseStatus is what the hub knows of a resident as a case or a contact.
// Zero times mean "not".
type CaseStatus struct {
	CaseAt time.Time // marked a confirmed case
	// ContactAt is the latest time the resident was near a case (a traced
	// contact) and ContactOf that case's resident ID.
	ContactAt time.Time
	ContactOf string
	// Contacts are every case the resident is a traced contact of, each
	// with the latest time they were near it, in case ID order; ContactOf
	// is among them. Each goes with the scans period (Store.Sweep).
	Contacts []CaseContact
}

// CaseContact is one case a resident is a traced contact of.
type CaseContact struct {
	CaseID string
	At     time.Time // the latest time the resident was near the case
}

// ContactOfCase returns when the resident was last near the case caseID,
// and whether they are its traced contact.
func (s CaseStatus) ContactOfCase(caseID string) (time.Time, bool) {
	for _, c := range s.Contacts {
		if c.CaseID == caseID {
			return c.At, true
		}
	}
	return time.Time{}, false
}

// Contact is a resident found near a case: scanned in the same cell as a
// case's scan, or in one of its ring-1 neighbours, within the time window.
// A visitor has a SubjectID and no ResidentID.
type Contact struct {
	ResidentID string
	SubjectID  string
	FirstAt    time.Time // their first overlapping scan
	LastAt     time.Time // their last overlapping scan
	Cell       Cell      // the cell of the first overlapping scan
	Scans      int       // overlapping scans
}

// Limits of the codes store, the same for every backend.
const (
	// MaxScanBatch bounds the scans of one RecordScans call.
	MaxScanBatch = 1000
	// MaxSymptoms bounds the symptoms of a declaration, and
	// MaxSymptomLen the bytes of each.
	MaxSymptoms   = 16
	MaxSymptomLen = 64
	// MaxContactCells bounds the cells of one ContactsIn call.
	MaxContactCells = 64
)

// CodesStore is the part of Store that keeps health declarations, risk
// areas, health codes, case marks and checkpoint scans.
//
// Times are kept at millisecond precision or better. A malformed record
// (an empty or over-long ID, an unknown colour, level, result or filer
// kind, a zero time, an impossible temperature, ...) is an EINVALID error
// and nothing is written.
type CodesStore interface {
	// SubjectOf returns the resident's health-code subject: an opaque
	// random ID made on first use and the same ever after, which says
	// nothing of the person. An unknown resident is ENOTFOUND.
	SubjectOf(ctx context.Context, residentID string) (string, error)
	// ResidentOfSubject returns the resident whose subject it is, or
	// ENOTFOUND (a visitor's subject, made by another issuer).
	ResidentOfSubject(ctx context.Context, subjectID string) (string, error)

	// PutDeclaration records a declaration of a registered resident
	// (ENOTFOUND otherwise). An ID already used is ECONFLICT. It needs a
	// valid Colour and FiledByKind, a FiledBy, a non-zero At and a
	// possible Temperature. The latest declaration of a resident (greatest
	// At, then ID) counts in DeclarationCounts; an older one is kept but
	// counts nowhere.
	PutDeclaration(ctx context.Context, d *Declaration) error
	// LatestDeclaration returns the resident's latest declaration, or
	// ENOTFOUND when they have none.
	LatestDeclaration(ctx context.Context, residentID string) (*Declaration, error)
	// DeclarationCounts returns the aggregate of latest declarations by
	// cell, colour and filer kind, of one district when districtID is not
	// empty, ordered by district, cell, colour rank and kind. Groups of
	// zero are left out.
	DeclarationCounts(ctx context.Context, districtID string) ([]DeclarationCount, error)

	// UpsertRiskArea creates or replaces a risk area. It needs an ID, a
	// centre cell, Rings in [0, MaxRiskRings], a non-zero MarkedAt and
	// Cells with valid levels, the centre among them. An active area files
	// its cells in the cell index; a lifted one files none.
	UpsertRiskArea(ctx context.Context, a *RiskArea) error
	// LiftRiskArea lifts an area at the given time and returns it. An
	// unknown area is ENOTFOUND, one already lifted ECONFLICT.
	LiftRiskArea(ctx context.Context, id string, at time.Time) (*RiskArea, error)
	RiskArea(ctx context.Context, id string) (*RiskArea, error)
	// RiskAreas lists areas in ID order, only those in force when
	// activeOnly is set.
	RiskAreas(ctx context.Context, activeOnly bool) ([]*RiskArea, error)
	// RiskLevels returns the level of each of cells that some area in
	// force covers: the highest any of them gives it. Cells no area
	// covers are absent.
	RiskLevels(ctx context.Context, cells []Cell) (map[Cell]RiskLevel, error)

	// PutHealthCode creates or replaces a resident's health code if its
	// Version is the stored one (0: none stored yet), else ECONFLICT, and
	// returns it as stored, with the next Version. It needs a ResidentID,
	// a SubjectID, a valid Colour and a non-zero UpdatedAt.
	PutHealthCode(ctx context.Context, c *HealthCode) (*HealthCode, error)
	// HealthCode returns a resident's health code, or ENOTFOUND.
	HealthCode(ctx context.Context, residentID string) (*HealthCode, error)
	// HealthCodesIn lists the health codes of residents living in cells,
	// ordered by cell then resident ID.
	HealthCodesIn(ctx context.Context, cells []Cell) ([]*HealthCode, error)
	// ColourCounts returns the aggregate of health codes by cell and
	// colour, of one district when districtID is not empty, ordered by
	// district, cell and colour rank. Groups of zero are left out.
	ColourCounts(ctx context.Context, districtID string) ([]ColourCount, error)

	// MarkCase marks a resident a confirmed case at the given time; a
	// resident marked before keeps the earlier time.
	MarkCase(ctx context.Context, residentID string, at time.Time) error
	// MarkContacts marks residents as traced contacts of the case
	// caseID: each contact's entry of the case in Contacts becomes its
	// LastAt when that is later than the one stored (a new entry when
	// there is none), and its ContactAt and ContactOf when LastAt is
	// later than the ContactAt stored. Contacts without a ResidentID
	// (visitors) are skipped.
	MarkContacts(ctx context.Context, caseID string, cs ...Contact) error
	// CaseStatus returns what is known of a resident as a case or contact;
	// the zero CaseStatus when nothing is.
	CaseStatus(ctx context.Context, residentID string) (CaseStatus, error)

	// RecordScans records scans in one durable write, at most
	// MaxScanBatch of them. A scan needs an ID, a CheckpointID of a stored
	// checkpoint (ENOTFOUND otherwise), a cell, a ResidentID or a
	// SubjectID, a non-zero At, a valid Result and Colour and a possible
	// Temperature. A scan whose ID is already stored with the same content
	// is skipped, so a device may upload again what it is unsure of; with
	// other content it is ECONFLICT. Any error means nothing was written.
	RecordScans(ctx context.Context, ss ...*Scan) error
	// Trajectory lists a resident's scans at or after since in time order
	// (then by ID), at most limit (all when limit <= 0). It reads only
	// that resident's scans.
	Trajectory(ctx context.Context, residentID string, since time.Time, limit int) ([]*Scan, error)
	// ContactsIn lists the scans in any of cells (at most
	// MaxContactCells) with from <= At <= to, in time order (then by ID).
	// It reads only those scans.
	ContactsIn(ctx context.Context, cells []Cell, from, to time.Time) ([]*Scan, error)
}
