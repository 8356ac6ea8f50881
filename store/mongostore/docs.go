package mongostore

import (
	"maps"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The documents below are the stored form of the domain types. They are
// separate from package hub so that renaming a Go field never changes the
// stored format: the bson names are the format. Every mapping copies
// slices and maps, so a record given to the store or returned by it
// shares no memory with the store.

// msTime returns t as the store keeps it: whole milliseconds, UTC. The
// zero time stays zero (and is not stored: the fields are omitempty).
func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

// cellInt returns a cell as stored: its index as an int64. H3 indexes
// never set the top bit, so they sort as int64s as they do as cells.
func cellInt(c hub.Cell) int64 { return int64(c) }

// cellOf is cellInt's inverse.
func cellOf(v int64) hub.Cell { return hub.Cell(uint64(v)) }

func cellInts(cs []hub.Cell) []int64 {
	if len(cs) == 0 {
		return nil
	}
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = cellInt(c)
	}
	return out
}

func cellsOf(vs []int64) []hub.Cell {
	if len(vs) == 0 {
		return nil
	}
	out := make([]hub.Cell, len(vs))
	for i, v := range vs {
		out[i] = cellOf(v)
	}
	return out
}

// H3 index layout, for p5: the resolution in bits 52-55, then one 3-bit
// digit per resolution 1..15 from bit 44 down; digits finer than the
// cell's resolution are 7.
const (
	h3ResShift = 52
	h3ResMask  = uint64(0xf) << h3ResShift
	// ShardResolution is the H3 resolution of the coarse cell in the shard
	// key (deploy/SHARDING.md).
	ShardResolution = 5
)

// parentCell returns c's parent at resolution res, c itself when c is no
// finer than res. It is H3's cellToParent on the index bits, so that the
// store need not import H3 (package grid is its only importer).
func parentCell(c hub.Cell, res int) hub.Cell {
	v := uint64(c)
	r := int(v&h3ResMask) >> h3ResShift
	if c == 0 || res >= r || res < 0 {
		return c
	}
	v = v&^h3ResMask | uint64(res)<<h3ResShift
	for d := res + 1; d <= r; d++ {
		v |= uint64(7) << ((15 - d) * 3)
	}
	return hub.Cell(v)
}

// p5 returns the shard-key cell of a record in cell c, 0 for no cell.
func p5(c hub.Cell) int64 { return cellInt(parentCell(c, ShardResolution)) }

type pointDoc struct {
	Lat float64 `bson:"lat"`
	Lng float64 `bson:"lng"`
}

type districtDoc struct {
	ID        string    `bson:"_id"`
	Code      string    `bson:"code,omitempty"`
	Name      string    `bson:"name,omitempty"`
	Cells     []int64   `bson:"cells,omitempty"`
	UpdatedAt time.Time `bson:"updatedAt,omitempty"`
}

func districtToDoc(d *hub.District) districtDoc {
	return districtDoc{ID: d.ID, Code: d.Code, Name: d.Name, Cells: cellInts(d.Cells), UpdatedAt: msTime(d.UpdatedAt)}
}

func (d *districtDoc) domain() *hub.District {
	return &hub.District{ID: d.ID, Code: d.Code, Name: d.Name, Cells: cellsOf(d.Cells), UpdatedAt: d.UpdatedAt}
}

type committeeDoc struct {
	ID         string    `bson:"_id"`
	Code       string    `bson:"code,omitempty"` // absent when empty: the unique index skips it
	Name       string    `bson:"name,omitempty"`
	DistrictID string    `bson:"districtId,omitempty"`
	Cells      []int64   `bson:"cells,omitempty"`
	UpdatedAt  time.Time `bson:"updatedAt,omitempty"`
}

func committeeToDoc(c *hub.Committee) committeeDoc {
	return committeeDoc{
		ID: c.ID, Code: c.Code, Name: c.Name, DistrictID: c.DistrictID,
		Cells: cellInts(c.Cells), UpdatedAt: msTime(c.UpdatedAt),
	}
}

func (d *committeeDoc) domain() *hub.Committee {
	return &hub.Committee{
		ID: d.ID, Code: d.Code, Name: d.Name, DistrictID: d.DistrictID,
		Cells: cellsOf(d.Cells), UpdatedAt: d.UpdatedAt,
	}
}

type residentDoc struct {
	ID           string    `bson:"_id"`
	Name         string    `bson:"name,omitempty"`
	IDHash       string    `bson:"idHash"`
	IDMasked     string    `bson:"idMasked,omitempty"`
	Phone        string    `bson:"phone,omitempty"`
	Address      string    `bson:"address,omitempty"`
	Location     pointDoc  `bson:"loc"`
	Cell         int64     `bson:"cell"`
	P5           int64     `bson:"p5"`
	CommitteeID  string    `bson:"committeeId,omitempty"`
	DistrictID   string    `bson:"districtId,omitempty"`
	RegisteredAt time.Time `bson:"registeredAt,omitempty"`
}

func residentToDoc(r *hub.Resident) residentDoc {
	return residentDoc{
		ID: r.ID, Name: r.Name, IDHash: r.IDHash, IDMasked: r.IDMasked,
		Phone: r.Phone, Address: r.Address, Location: pointDoc(r.Location),
		Cell: cellInt(r.Cell), P5: p5(r.Cell),
		CommitteeID: r.CommitteeID, DistrictID: r.DistrictID, RegisteredAt: msTime(r.RegisteredAt),
	}
}

func (d *residentDoc) domain() *hub.Resident {
	return &hub.Resident{
		ID: d.ID, Name: d.Name, IDHash: d.IDHash, IDMasked: d.IDMasked,
		Phone: d.Phone, Address: d.Address, Location: hub.Point(d.Location), Cell: cellOf(d.Cell),
		CommitteeID: d.CommitteeID, DistrictID: d.DistrictID, RegisteredAt: d.RegisteredAt,
	}
}

type pharmacyDoc struct {
	ID         string           `bson:"_id"`
	Name       string           `bson:"name,omitempty"`
	Phone      string           `bson:"phone,omitempty"`
	Address    string           `bson:"address,omitempty"`
	Location   pointDoc         `bson:"loc"`
	Cell       int64            `bson:"cell"`
	P5         int64            `bson:"p5"`
	DistrictID string           `bson:"districtId,omitempty"`
	Hours      string           `bson:"hours,omitempty"`
	Stock      map[string]int64 `bson:"stock"`
	// LedgerSeq is the Seq of the pharmacy's last ledger entry; every
	// stock change increments it in the same update.
	LedgerSeq int64     `bson:"ledgerSeq"`
	UpdatedAt time.Time `bson:"updatedAt,omitempty"`
}

// pharmacyToDoc returns the document of a pharmacy, its stock copied and
// LedgerSeq zero.
func pharmacyToDoc(p *hub.Pharmacy) pharmacyDoc {
	stock := make(map[string]int64, len(p.Stock))
	for sku, n := range p.Stock {
		stock[string(sku)] = int64(n)
	}
	return pharmacyDoc{
		ID: p.ID, Name: p.Name, Phone: p.Phone, Address: p.Address,
		Location: pointDoc(p.Location), Cell: cellInt(p.Cell), P5: p5(p.Cell), DistrictID: p.DistrictID,
		Hours: p.Hours, Stock: stock, UpdatedAt: msTime(p.UpdatedAt),
	}
}

// domain returns the pharmacy; its Stock is never nil.
func (d *pharmacyDoc) domain() *hub.Pharmacy {
	stock := make(map[hub.SKU]int, len(d.Stock))
	for sku, n := range d.Stock {
		stock[hub.SKU(sku)] = int(n)
	}
	return &hub.Pharmacy{
		ID: d.ID, Name: d.Name, Phone: d.Phone, Address: d.Address,
		Location: hub.Point(d.Location), Cell: cellOf(d.Cell), DistrictID: d.DistrictID,
		Hours: d.Hours, Stock: stock, UpdatedAt: d.UpdatedAt,
	}
}

type checkpointDoc struct {
	ID         string    `bson:"_id"`
	Name       string    `bson:"name,omitempty"`
	Kind       string    `bson:"kind,omitempty"`
	Location   pointDoc  `bson:"loc"`
	Cell       int64     `bson:"cell"`
	P5         int64     `bson:"p5"`
	DistrictID string    `bson:"districtId,omitempty"`
	UpdatedAt  time.Time `bson:"updatedAt,omitempty"`
}

func checkpointToDoc(c *hub.Checkpoint) checkpointDoc {
	return checkpointDoc{
		ID: c.ID, Name: c.Name, Kind: c.Kind, Location: pointDoc(c.Location),
		Cell: cellInt(c.Cell), P5: p5(c.Cell), DistrictID: c.DistrictID, UpdatedAt: msTime(c.UpdatedAt),
	}
}

func (d *checkpointDoc) domain() *hub.Checkpoint {
	return &hub.Checkpoint{
		ID: d.ID, Name: d.Name, Kind: d.Kind, Location: hub.Point(d.Location),
		Cell: cellOf(d.Cell), DistrictID: d.DistrictID, UpdatedAt: d.UpdatedAt,
	}
}

// ledgerDoc is one stock ledger entry. Its _id is made by the driver; the
// entry is found by {pharmacyId, seq}.
type ledgerDoc struct {
	PharmacyID string    `bson:"pharmacyId"`
	Seq        int64     `bson:"seq"`
	SKU        string    `bson:"sku"`
	Delta      int64     `bson:"delta"`
	After      int64     `bson:"after"`
	Reason     string    `bson:"reason,omitempty"`
	At         time.Time `bson:"at,omitempty"`
}

func ledgerToDoc(seq int64, after int, c hub.StockChange) ledgerDoc {
	return ledgerDoc{
		PharmacyID: c.PharmacyID, Seq: seq, SKU: string(c.SKU), Delta: int64(c.Delta),
		After: int64(after), Reason: c.Reason, At: msTime(c.At),
	}
}

func (d *ledgerDoc) domain() hub.StockEntry {
	return hub.StockEntry{
		Seq: uint64(d.Seq), After: int(d.After),
		StockChange: hub.StockChange{
			PharmacyID: d.PharmacyID, SKU: hub.SKU(d.SKU), Delta: int(d.Delta), Reason: d.Reason, At: d.At,
		},
	}
}

// auditDoc is one entry of the audit trail; its _id is its Seq.
type auditDoc struct {
	Seq       int64     `bson:"_id"`
	At        time.Time `bson:"at"`
	ActorRole string    `bson:"actorRole,omitempty"`
	ActorID   string    `bson:"actorId,omitempty"`
	Subject   string    `bson:"subject,omitempty"`
	Action    string    `bson:"action"`
	TargetID  string    `bson:"targetId"`
	Purpose   string    `bson:"purpose"`
	Count     int64     `bson:"count"`
}

func auditToDoc(seq int64, e *hub.AuditEntry) auditDoc {
	return auditDoc{
		Seq: seq, At: msTime(e.At), ActorRole: e.ActorRole, ActorID: e.ActorID, Subject: e.Subject,
		Action: e.Action, TargetID: e.TargetID, Purpose: e.Purpose, Count: int64(e.Count),
	}
}

func (d *auditDoc) domain() hub.AuditEntry {
	return hub.AuditEntry{
		Seq: uint64(d.Seq), At: d.At, ActorRole: d.ActorRole, ActorID: d.ActorID, Subject: d.Subject,
		Action: d.Action, TargetID: d.TargetID, Purpose: d.Purpose, Count: int(d.Count),
	}
}

type eligibilityDoc struct {
	IDHashes    []string `bson:"idHashes,omitempty"`
	DistrictIDs []string `bson:"districtIds,omitempty"`
}

// quotaDoc is one committee's quota. Quotas are a list, not a document
// keyed by committee: a committee ID may hold characters a field name
// may not.
type quotaDoc struct {
	CommitteeID string `bson:"c"`
	Units       int64  `bson:"n"`
}

type roundDoc struct {
	ID             string         `bson:"_id"`
	Name           string         `bson:"name,omitempty"`
	SKU            string         `bson:"sku"`
	PerPerson      int64          `bson:"perPerson"`
	Mode           string         `bson:"mode"`
	Fulfilments    []string       `bson:"fulfilments,omitempty"`
	Eligibility    eligibilityDoc `bson:"eligibility"`
	HealthGate     bool           `bson:"healthGate,omitempty"`
	Opens          time.Time      `bson:"opens,omitempty"`
	Closes         time.Time      `bson:"closes,omitempty"`
	MaxK           int64          `bson:"maxK"`
	PickupWindowNs int64          `bson:"pickupWindowNs"`
	SlotMinutes    int64          `bson:"slotMinutes,omitempty"`
	SlotCapacity   int64          `bson:"slotCapacity,omitempty"`
	Quotas         []quotaDoc     `bson:"quotas,omitempty"`
	Commitment     string         `bson:"commitment,omitempty"`
	Seed           string         `bson:"seed,omitempty"`
	Winners        int64          `bson:"winners,omitempty"`
	Status         string         `bson:"status"`
	CreatedAt      time.Time      `bson:"createdAt,omitempty"`
	UpdatedAt      time.Time      `bson:"updatedAt,omitempty"`
}

func roundToDoc(r *hub.Round) roundDoc {
	var fs []string
	for _, f := range r.Fulfilments {
		fs = append(fs, string(f))
	}
	var qs []quotaDoc
	for _, c := range slices.Sorted(maps.Keys(r.Quotas)) {
		qs = append(qs, quotaDoc{CommitteeID: c, Units: int64(r.Quotas[c])})
	}
	return roundDoc{
		ID: r.ID, Name: r.Name, SKU: string(r.SKU), PerPerson: int64(r.PerPerson), Mode: string(r.Mode),
		Fulfilments: fs,
		Eligibility: eligibilityDoc{
			IDHashes:    slices.Clone(r.Eligibility.IDHashes),
			DistrictIDs: slices.Clone(r.Eligibility.DistrictIDs),
		},
		HealthGate: r.HealthGate, Opens: msTime(r.Opens), Closes: msTime(r.Closes), MaxK: int64(r.MaxK),
		PickupWindowNs: int64(r.PickupWindow), SlotMinutes: int64(r.SlotMinutes), SlotCapacity: int64(r.SlotCapacity),
		Quotas: qs, Commitment: r.Commitment, Seed: r.Seed, Winners: int64(r.Winners), Status: string(r.Status),
		CreatedAt: msTime(r.CreatedAt), UpdatedAt: msTime(r.UpdatedAt),
	}
}

func (d *roundDoc) domain() *hub.Round {
	var fs []hub.Fulfilment
	for _, f := range d.Fulfilments {
		fs = append(fs, hub.Fulfilment(f))
	}
	var qs map[string]int
	if len(d.Quotas) > 0 {
		qs = make(map[string]int, len(d.Quotas))
		for _, q := range d.Quotas {
			qs[q.CommitteeID] = int(q.Units)
		}
	}
	return &hub.Round{
		ID: d.ID, Name: d.Name, SKU: hub.SKU(d.SKU), PerPerson: int(d.PerPerson), Mode: hub.Mode(d.Mode),
		Fulfilments: fs,
		Eligibility: hub.Eligibility{IDHashes: d.Eligibility.IDHashes, DistrictIDs: d.Eligibility.DistrictIDs},
		HealthGate:  d.HealthGate, Opens: d.Opens, Closes: d.Closes, MaxK: int(d.MaxK),
		PickupWindow: time.Duration(d.PickupWindowNs), SlotMinutes: int(d.SlotMinutes), SlotCapacity: int(d.SlotCapacity),
		Quotas: qs, Commitment: d.Commitment, Seed: d.Seed, Winners: int(d.Winners), Status: hub.RoundStatus(d.Status),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

type reservationDoc struct {
	ID             string    `bson:"_id"`
	RoundID        string    `bson:"roundId"`
	ResidentID     string    `bson:"residentId,omitempty"`
	IDHash         string    `bson:"idHash"`
	Cell           int64     `bson:"cell"`
	P5             int64     `bson:"p5"`
	CommitteeID    string    `bson:"committeeId,omitempty"`
	DistrictID     string    `bson:"districtId,omitempty"`
	Fulfilment     string    `bson:"fulfilment,omitempty"`
	IdempotencyKey string    `bson:"idemKey,omitempty"` // absent when empty: the unique index skips it
	EntryHash      string    `bson:"entryHash,omitempty"`
	Status         string    `bson:"status"`
	AllocationID   string    `bson:"allocationId,omitempty"`
	CreatedAt      time.Time `bson:"createdAt,omitempty"`
	UpdatedAt      time.Time `bson:"updatedAt,omitempty"`
}

func reservationToDoc(r *hub.Reservation) reservationDoc {
	return reservationDoc{
		ID: r.ID, RoundID: r.RoundID, ResidentID: r.ResidentID, IDHash: r.IDHash,
		Cell: cellInt(r.Cell), P5: p5(r.Cell), CommitteeID: r.CommitteeID, DistrictID: r.DistrictID,
		Fulfilment: string(r.Fulfilment), IdempotencyKey: r.IdempotencyKey, EntryHash: r.EntryHash,
		Status: string(r.Status), AllocationID: r.AllocationID,
		CreatedAt: msTime(r.CreatedAt), UpdatedAt: msTime(r.UpdatedAt),
	}
}

func (d *reservationDoc) domain() *hub.Reservation {
	return &hub.Reservation{
		ID: d.ID, RoundID: d.RoundID, ResidentID: d.ResidentID, IDHash: d.IDHash,
		Cell: cellOf(d.Cell), CommitteeID: d.CommitteeID, DistrictID: d.DistrictID,
		Fulfilment: hub.Fulfilment(d.Fulfilment), IdempotencyKey: d.IdempotencyKey, EntryHash: d.EntryHash,
		Status: hub.ReservationStatus(d.Status), AllocationID: d.AllocationID,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

type allocationDoc struct {
	ID            string    `bson:"_id"`
	RoundID       string    `bson:"roundId,omitempty"`
	ReservationID string    `bson:"reservationId,omitempty"`
	ShortageID    string    `bson:"shortageId,omitempty"`
	ResidentID    string    `bson:"residentId,omitempty"`
	PharmacyID    string    `bson:"pharmacyId"`
	PartnerID     string    `bson:"partnerId,omitempty"`
	SKU           string    `bson:"sku"`
	Quantity      int64     `bson:"qty"`
	Cell          int64     `bson:"cell"`
	P5            int64     `bson:"p5"`
	Slot          time.Time `bson:"slot,omitempty"`
	CodeHash      string    `bson:"codeHash,omitempty"` // absent when empty: the unique index skips it
	Status        string    `bson:"status"`
	ExpiresAt     time.Time `bson:"expiresAt,omitempty"` // absent: never expires
	CreatedAt     time.Time `bson:"createdAt,omitempty"`
	UpdatedAt     time.Time `bson:"updatedAt,omitempty"`
}

func allocationToDoc(a *hub.Allocation) allocationDoc {
	return allocationDoc{
		ID: a.ID, RoundID: a.RoundID, ReservationID: a.ReservationID, ShortageID: a.ShortageID,
		ResidentID: a.ResidentID, PharmacyID: a.PharmacyID, PartnerID: a.PartnerID,
		SKU: string(a.SKU), Quantity: int64(a.Quantity), Cell: cellInt(a.Cell), P5: p5(a.Cell),
		Slot: msTime(a.Slot), CodeHash: a.CodeHash, Status: string(a.Status),
		ExpiresAt: msTime(a.ExpiresAt), CreatedAt: msTime(a.CreatedAt), UpdatedAt: msTime(a.UpdatedAt),
	}
}

func (d *allocationDoc) domain() *hub.Allocation {
	return &hub.Allocation{
		ID: d.ID, RoundID: d.RoundID, ReservationID: d.ReservationID, ShortageID: d.ShortageID,
		ResidentID: d.ResidentID, PharmacyID: d.PharmacyID, PartnerID: d.PartnerID,
		SKU: hub.SKU(d.SKU), Quantity: int(d.Quantity), Cell: cellOf(d.Cell),
		Slot: d.Slot, CodeHash: d.CodeHash, Status: hub.AllocationStatus(d.Status),
		ExpiresAt: d.ExpiresAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

type partnerDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name,omitempty"`
	Cells     []int64   `bson:"cells,omitempty"`
	UpdatedAt time.Time `bson:"updatedAt,omitempty"`
}

func partnerToDoc(p *hub.Partner) partnerDoc {
	return partnerDoc{ID: p.ID, Name: p.Name, Cells: cellInts(p.Cells), UpdatedAt: msTime(p.UpdatedAt)}
}

func (d *partnerDoc) domain() *hub.Partner {
	return &hub.Partner{ID: d.ID, Name: d.Name, Cells: cellsOf(d.Cells), UpdatedAt: d.UpdatedAt}
}

type shortageDoc struct {
	ID           string    `bson:"_id"`
	ResidentID   string    `bson:"residentId"`
	Cell         int64     `bson:"cell"`
	SKU          string    `bson:"sku"`
	Quantity     int64     `bson:"qty"`
	Status       string    `bson:"status"`
	AllocationID string    `bson:"allocationId,omitempty"`
	CreatedAt    time.Time `bson:"createdAt,omitempty"`
	UpdatedAt    time.Time `bson:"updatedAt,omitempty"`
}

func shortageToDoc(s *hub.Shortage) shortageDoc {
	return shortageDoc{
		ID: s.ID, ResidentID: s.ResidentID, Cell: cellInt(s.Cell), SKU: string(s.SKU), Quantity: int64(s.Quantity),
		Status: string(s.Status), AllocationID: s.AllocationID, CreatedAt: msTime(s.CreatedAt), UpdatedAt: msTime(s.UpdatedAt),
	}
}

func (d *shortageDoc) domain() *hub.Shortage {
	return &hub.Shortage{
		ID: d.ID, ResidentID: d.ResidentID, Cell: cellOf(d.Cell), SKU: hub.SKU(d.SKU), Quantity: int(d.Quantity),
		Status: hub.ShortageStatus(d.Status), AllocationID: d.AllocationID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

type subjectDoc struct {
	ResidentID string `bson:"_id"`
	Subject    string `bson:"subject"`
}

type declarationDoc struct {
	ID              string    `bson:"_id"`
	ResidentID      string    `bson:"residentId"`
	SubjectID       string    `bson:"subjectId,omitempty"`
	Symptoms        []string  `bson:"symptoms,omitempty"`
	Temperature     float64   `bson:"temp,omitempty"`
	TravelFromRisk  bool      `bson:"travel,omitempty"`
	ContactWithCase bool      `bson:"contact,omitempty"`
	FiledBy         string    `bson:"filedBy"`
	FiledByKind     string    `bson:"filedByKind"`
	Cell            int64     `bson:"cell"`
	P5              int64     `bson:"p5"`
	DistrictID      string    `bson:"districtId,omitempty"`
	Colour          string    `bson:"colour"`
	Reasons         []string  `bson:"reasons,omitempty"`
	At              time.Time `bson:"at"`
}

func declarationToDoc(d *hub.Declaration) declarationDoc {
	return declarationDoc{
		ID: d.ID, ResidentID: d.ResidentID, SubjectID: d.SubjectID,
		Symptoms: slices.Clone(d.Symptoms), Temperature: d.Temperature,
		TravelFromRisk: d.TravelFromRisk, ContactWithCase: d.ContactWithCase,
		FiledBy: d.FiledBy, FiledByKind: string(d.FiledByKind), Cell: cellInt(d.Cell), P5: p5(d.Cell),
		DistrictID: d.DistrictID, Colour: string(d.Colour), Reasons: slices.Clone(d.Reasons), At: msTime(d.At),
	}
}

func (d *declarationDoc) domain() *hub.Declaration {
	return &hub.Declaration{
		ID: d.ID, ResidentID: d.ResidentID, SubjectID: d.SubjectID,
		Symptoms: d.Symptoms, Temperature: d.Temperature,
		TravelFromRisk: d.TravelFromRisk, ContactWithCase: d.ContactWithCase,
		FiledBy: d.FiledBy, FiledByKind: hub.FiledByKind(d.FiledByKind), Cell: cellOf(d.Cell),
		DistrictID: d.DistrictID, Colour: hub.Colour(d.Colour), Reasons: d.Reasons, At: d.At,
	}
}

// latestDoc names the declaration of a resident that counts in the
// aggregate, and its group.
type latestDoc struct {
	ResidentID    string    `bson:"_id"`
	DeclarationID string    `bson:"declarationId"`
	At            time.Time `bson:"at"`
	Group         string    `bson:"group"` // the _id of its declarationCounts document
}

// countDoc is one group of a maintained aggregate: N records of district
// D in cell C with colour rank R (and, for declarations, filer kind K).
// Its _id is groupID of those fields.
type countDoc struct {
	ID string `bson:"_id"`
	D  string `bson:"d"`
	C  int64  `bson:"c"`
	R  int64  `bson:"r"`
	K  string `bson:"k,omitempty"`
	N  int64  `bson:"n"`
}

type riskCellDoc struct {
	Cell  int64  `bson:"cell"`
	Level string `bson:"level"`
}

type riskAreaDoc struct {
	ID       string        `bson:"_id"`
	Cell     int64         `bson:"cell"`
	Rings    int64         `bson:"rings"`
	Reason   string        `bson:"reason,omitempty"`
	Cells    []riskCellDoc `bson:"cells"`
	MarkedAt time.Time     `bson:"markedAt"`
	LiftedAt time.Time     `bson:"liftedAt,omitempty"`
	// Active is LiftedAt.IsZero(): the partial index of cells holds the
	// areas in force only.
	Active bool `bson:"active"`
}

func riskAreaToDoc(a *hub.RiskArea) riskAreaDoc {
	cs := make([]riskCellDoc, len(a.Cells))
	for i, c := range a.Cells {
		cs[i] = riskCellDoc{Cell: cellInt(c.Cell), Level: string(c.Level)}
	}
	return riskAreaDoc{
		ID: a.ID, Cell: cellInt(a.Cell), Rings: int64(a.Rings), Reason: a.Reason, Cells: cs,
		MarkedAt: msTime(a.MarkedAt), LiftedAt: msTime(a.LiftedAt), Active: a.LiftedAt.IsZero(),
	}
}

func (d *riskAreaDoc) domain() *hub.RiskArea {
	cs := make([]hub.RiskCell, len(d.Cells))
	for i, c := range d.Cells {
		cs[i] = hub.RiskCell{Cell: cellOf(c.Cell), Level: hub.RiskLevel(c.Level)}
	}
	return &hub.RiskArea{
		ID: d.ID, Cell: cellOf(d.Cell), Rings: int(d.Rings), Reason: d.Reason, Cells: cs,
		MarkedAt: d.MarkedAt, LiftedAt: d.LiftedAt,
	}
}

type healthCodeDoc struct {
	ResidentID  string    `bson:"_id"`
	SubjectID   string    `bson:"subjectId"`
	Cell        int64     `bson:"cell"`
	P5          int64     `bson:"p5"`
	DistrictID  string    `bson:"districtId,omitempty"`
	CommitteeID string    `bson:"committeeId,omitempty"`
	Colour      string    `bson:"colour"`
	Reasons     []string  `bson:"reasons,omitempty"`
	Version     int64     `bson:"version"`
	UpdatedAt   time.Time `bson:"updatedAt"`
}

func healthCodeToDoc(c *hub.HealthCode) healthCodeDoc {
	return healthCodeDoc{
		ResidentID: c.ResidentID, SubjectID: c.SubjectID, Cell: cellInt(c.Cell), P5: p5(c.Cell),
		DistrictID: c.DistrictID, CommitteeID: c.CommitteeID, Colour: string(c.Colour),
		Reasons: slices.Clone(c.Reasons), Version: int64(c.Version), UpdatedAt: msTime(c.UpdatedAt),
	}
}

func (d *healthCodeDoc) domain() *hub.HealthCode {
	return &hub.HealthCode{
		ResidentID: d.ResidentID, SubjectID: d.SubjectID, Cell: cellOf(d.Cell),
		DistrictID: d.DistrictID, CommitteeID: d.CommitteeID, Colour: hub.Colour(d.Colour),
		Reasons: d.Reasons, Version: uint64(d.Version), UpdatedAt: d.UpdatedAt,
	}
}

type caseDoc struct {
	ResidentID string    `bson:"_id"`
	CaseAt     time.Time `bson:"caseAt,omitempty"`
	ContactAt  time.Time `bson:"contactAt,omitempty"`
	ContactOf  string    `bson:"contactOf,omitempty"`
}

func (d *caseDoc) domain() hub.CaseStatus {
	return hub.CaseStatus{CaseAt: d.CaseAt, ContactAt: d.ContactAt, ContactOf: d.ContactOf}
}

// scanDoc is one scan. Scans are by far the most numerous documents
// (millions), so their field names are short.
type scanDoc struct {
	ID           string    `bson:"_id"`
	CheckpointID string    `bson:"k"`
	Cell         int64     `bson:"c"`
	P5           int64     `bson:"p5"`
	ResidentID   string    `bson:"r,omitempty"`
	SubjectID    string    `bson:"s,omitempty"`
	At           time.Time `bson:"at"`
	Temperature  float64   `bson:"t,omitempty"`
	Colour       string    `bson:"col"`
	Result       string    `bson:"res"`
}

func scanToDoc(s *hub.Scan) scanDoc {
	return scanDoc{
		ID: s.ID, CheckpointID: s.CheckpointID, Cell: cellInt(s.Cell), P5: p5(s.Cell), ResidentID: s.ResidentID,
		SubjectID: s.SubjectID, At: msTime(s.At), Temperature: s.Temperature,
		Colour: string(s.Colour), Result: string(s.Result),
	}
}

func (d *scanDoc) domain() *hub.Scan {
	return &hub.Scan{
		ID: d.ID, CheckpointID: d.CheckpointID, Cell: cellOf(d.Cell), ResidentID: d.ResidentID,
		SubjectID: d.SubjectID, At: d.At, Temperature: d.Temperature,
		Colour: hub.Colour(d.Colour), Result: hub.ScanResult(d.Result),
	}
}
