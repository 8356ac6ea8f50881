package mongobus

import (
	"fmt"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// eventDoc is a hub.Event as the events collection keeps it. Its fields
// are written out one by one, payload included: hub.Event.Payload is an
// interface value, which BSON cannot carry on its own, so each payload
// type has an explicit mapping (payloadDoc) with a type tag. Seq is not
// stored: every hub's local broker numbers the events as they reach it.
type eventDoc struct {
	ID     bson.ObjectID `bson:"_id"`
	Origin string        `bson:"origin"` // the ID of the hub that published it
	// Stored is when the event was written, the field of the TTL index
	// (At may be old: a replayed day of restocks, say).
	Stored time.Time `bson:"stored"`

	Kind         string      `bson:"kind"`
	At           time.Time   `bson:"at"`
	Cells        []int64     `bson:"cells,omitempty"`
	DistrictID   string      `bson:"districtId,omitempty"`
	CommitteeIDs []string    `bson:"committeeIds,omitempty"`
	PartnerID    string      `bson:"partnerId,omitempty"`
	PharmacyID   string      `bson:"pharmacyId,omitempty"`
	SKU          string      `bson:"sku,omitempty"`
	Source       string      `bson:"source,omitempty"` // hub.Event.Source
	Payload      *payloadDoc `bson:"payload,omitempty"`
}

// The type tags of payloadDoc.
const (
	tagStockChanged   = "stockChanged"
	tagRestock        = "restock"
	tagAllocation     = "allocation"
	tagShortageServed = "shortageServed"
	tagRiskArea       = "riskArea"
	tagFeverScan      = "feverScan"
	tagColourChanged  = "colourChanged"
	tagReservation    = "reservation"
	tagShortage       = "shortage"
	tagResidents      = "residents"
	tagPharmacy       = "pharmacy"
	tagDistrict       = "district"
	tagCommittees     = "committees"
	tagPartner        = "partner"
	tagExpired        = "expired"
)

// payloadDoc is one payload of any type: Type says which, and which of
// the other fields it uses.
type payloadDoc struct {
	Type string `bson:"type"`

	Entry  *stockEntryDoc `bson:"entry,omitempty"`  // stockChanged, restock
	Cell   int64          `bson:"cell,omitempty"`   // restock, feverScan, colourChanged
	Rings  [][]int64      `bson:"rings,omitempty"`  // restock
	Served int64          `bson:"served,omitempty"` // restock
	// ToWaitingList and LeftForWalkIns: restock.
	ToWaitingList  int64 `bson:"toWaitingList,omitempty"`
	LeftForWalkIns int64 `bson:"leftForWalkIns,omitempty"`

	Allocation *allocationDoc `bson:"allocation,omitempty"` // allocation
	From       string         `bson:"from,omitempty"`       // allocation, colourChanged
	// CommitteeID: allocation (COMMITTEE rounds).
	CommitteeID string `bson:"committeeId,omitempty"`

	Shortage     *shortageDoc `bson:"shortage,omitempty"`     // shortageServed
	AllocationID string       `bson:"allocationId,omitempty"` // shortageServed
	PharmacyID   string       `bson:"pharmacyId,omitempty"`   // shortageServed

	AreaID string    `bson:"areaId,omitempty"` // riskArea
	Center int64     `bson:"center,omitempty"` // riskArea
	K      int64     `bson:"k,omitempty"`      // riskArea
	Reason string    `bson:"reason,omitempty"` // riskArea
	Until  time.Time `bson:"until,omitempty"`  // riskArea

	ScanID       string  `bson:"scanId,omitempty"`       // feverScan
	CheckpointID string  `bson:"checkpointId,omitempty"` // feverScan
	TemperatureC float64 `bson:"temperatureC,omitempty"` // feverScan

	Subject string `bson:"subject,omitempty"` // colourChanged
	To      string `bson:"to,omitempty"`      // colourChanged, reservation

	RoundID      string              `bson:"roundId,omitempty"`      // reservation
	SKU          string              `bson:"sku,omitempty"`          // reservation
	Reservations []reservationRefDoc `bson:"reservations,omitempty"` // reservation

	Residents []residentRefDoc `bson:"residents,omitempty"` // residents

	DistrictID     string           `bson:"districtId,omitempty"`     // pharmacy, district
	Created        bool             `bson:"created,omitempty"`        // pharmacy
	Initial        map[string]int64 `bson:"initial,omitempty"`        // pharmacy
	FromCell       int64            `bson:"fromCell,omitempty"`       // pharmacy
	FromDistrictID string           `bson:"fromDistrictId,omitempty"` // pharmacy
	Cells          []int64          `bson:"cells,omitempty"`          // district

	Committees []committeeDoc `bson:"committees,omitempty"` // committees
	PartnerID  string         `bson:"partnerId,omitempty"`  // partner

	RecordKind string            `bson:"recordKind,omitempty"` // expired
	Counts     []expiredCountDoc `bson:"counts,omitempty"`     // expired
}

type expiredCountDoc struct {
	Record string `bson:"record"`
	Cell   int64  `bson:"cell,omitempty"`
	SKU    string `bson:"sku,omitempty"`
	Status string `bson:"status,omitempty"`
	Count  int64  `bson:"count"`
}

type committeeDoc struct {
	ID         string  `bson:"id"`
	DistrictID string  `bson:"districtId,omitempty"`
	Cells      []int64 `bson:"cells,omitempty"`
}

type reservationRefDoc struct {
	ID          string `bson:"id"`
	ResidentID  string `bson:"residentId,omitempty"`
	Cell        int64  `bson:"cell,omitempty"`
	CommitteeID string `bson:"committeeId,omitempty"`
	Fulfilment  string `bson:"fulfilment,omitempty"`
}

type residentRefDoc struct {
	ID          string `bson:"id"`
	Cell        int64  `bson:"cell,omitempty"`
	CommitteeID string `bson:"committeeId,omitempty"`
}

type stockEntryDoc struct {
	Seq        int64     `bson:"seq"`
	After      int64     `bson:"after"`
	PharmacyID string    `bson:"pharmacyId"`
	SKU        string    `bson:"sku"`
	Delta      int64     `bson:"delta"`
	Reason     string    `bson:"reason,omitempty"`
	At         time.Time `bson:"at,omitempty"`
}

type allocationDoc struct {
	ID            string    `bson:"id"`
	RoundID       string    `bson:"roundId,omitempty"`
	ReservationID string    `bson:"reservationId,omitempty"`
	ShortageID    string    `bson:"shortageId,omitempty"`
	ResidentID    string    `bson:"residentId,omitempty"`
	PharmacyID    string    `bson:"pharmacyId,omitempty"`
	PartnerID     string    `bson:"partnerId,omitempty"`
	SKU           string    `bson:"sku,omitempty"`
	Quantity      int64     `bson:"qty"`
	Cell          int64     `bson:"cell,omitempty"`
	Slot          time.Time `bson:"slot,omitempty"`
	CodeHash      string    `bson:"codeHash,omitempty"`
	Status        string    `bson:"status,omitempty"`
	ExpiresAt     time.Time `bson:"expiresAt,omitempty"`
	CreatedAt     time.Time `bson:"createdAt,omitempty"`
	UpdatedAt     time.Time `bson:"updatedAt,omitempty"`
}

type shortageDoc struct {
	ID           string    `bson:"id"`
	ResidentID   string    `bson:"residentId,omitempty"`
	Cell         int64     `bson:"cell,omitempty"`
	SKU          string    `bson:"sku,omitempty"`
	Quantity     int64     `bson:"qty"`
	Status       string    `bson:"status,omitempty"`
	AllocationID string    `bson:"allocationId,omitempty"`
	CreatedAt    time.Time `bson:"createdAt,omitempty"`
	UpdatedAt    time.Time `bson:"updatedAt,omitempty"`
}

// msTime returns t as BSON keeps it: whole milliseconds, UTC; the zero
// time stays zero (and is not stored).
func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

func cellInts(cs []hub.Cell) []int64 {
	if len(cs) == 0 {
		return nil
	}
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = int64(c)
	}
	return out
}

func cellsOf(vs []int64) []hub.Cell {
	if len(vs) == 0 {
		return nil
	}
	out := make([]hub.Cell, len(vs))
	for i, v := range vs {
		out[i] = hub.Cell(uint64(v))
	}
	return out
}

func entryToDoc(e hub.StockEntry) *stockEntryDoc {
	return &stockEntryDoc{
		Seq: int64(e.Seq), After: int64(e.After), PharmacyID: e.PharmacyID, SKU: string(e.SKU),
		Delta: int64(e.Delta), Reason: e.Reason, At: msTime(e.At),
	}
}

func (d *stockEntryDoc) domain() hub.StockEntry {
	if d == nil {
		return hub.StockEntry{}
	}
	return hub.StockEntry{
		Seq: uint64(d.Seq), After: int(d.After),
		StockChange: hub.StockChange{PharmacyID: d.PharmacyID, SKU: hub.SKU(d.SKU), Delta: int(d.Delta), Reason: d.Reason, At: d.At},
	}
}

func allocationToDoc(a hub.Allocation) *allocationDoc {
	return &allocationDoc{
		ID: a.ID, RoundID: a.RoundID, ReservationID: a.ReservationID, ShortageID: a.ShortageID,
		ResidentID: a.ResidentID, PharmacyID: a.PharmacyID, PartnerID: a.PartnerID, SKU: string(a.SKU),
		Quantity: int64(a.Quantity), Cell: int64(a.Cell), Slot: msTime(a.Slot), CodeHash: a.CodeHash,
		Status: string(a.Status), ExpiresAt: msTime(a.ExpiresAt), CreatedAt: msTime(a.CreatedAt), UpdatedAt: msTime(a.UpdatedAt),
	}
}

func (d *allocationDoc) domain() hub.Allocation {
	if d == nil {
		return hub.Allocation{}
	}
	return hub.Allocation{
		ID: d.ID, RoundID: d.RoundID, ReservationID: d.ReservationID, ShortageID: d.ShortageID,
		ResidentID: d.ResidentID, PharmacyID: d.PharmacyID, PartnerID: d.PartnerID, SKU: hub.SKU(d.SKU),
		Quantity: int(d.Quantity), Cell: hub.Cell(uint64(d.Cell)), Slot: d.Slot, CodeHash: d.CodeHash,
		Status: hub.AllocationStatus(d.Status), ExpiresAt: d.ExpiresAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

func shortageToDoc(s hub.Shortage) *shortageDoc {
	return &shortageDoc{
		ID: s.ID, ResidentID: s.ResidentID, Cell: int64(s.Cell), SKU: string(s.SKU), Quantity: int64(s.Quantity),
		Status: string(s.Status), AllocationID: s.AllocationID, CreatedAt: msTime(s.CreatedAt), UpdatedAt: msTime(s.UpdatedAt),
	}
}

func (d *shortageDoc) domain() hub.Shortage {
	if d == nil {
		return hub.Shortage{}
	}
	return hub.Shortage{
		ID: d.ID, ResidentID: d.ResidentID, Cell: hub.Cell(uint64(d.Cell)), SKU: hub.SKU(d.SKU), Quantity: int(d.Quantity),
		Status: hub.ShortageStatus(d.Status), AllocationID: d.AllocationID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// payloadToDoc maps a payload to its document; nil for none. A payload
// type without a mapping is an EINVALID error, so a payload type added to
// package hub and forgotten here fails loudly at its first publish (and
// in TestPayloadsRoundTrip) rather than vanish on the way.
func payloadToDoc(p hub.EventPayload) (*payloadDoc, error) {
	switch p := p.(type) {
	case nil:
		return nil, nil
	case hub.StockChangedPayload:
		return &payloadDoc{Type: tagStockChanged, Entry: entryToDoc(p.StockEntry)}, nil
	case hub.RestockPayload:
		rings := make([][]int64, len(p.Rings))
		for i, r := range p.Rings {
			rings[i] = make([]int64, len(r))
			for j, c := range r {
				rings[i][j] = int64(c)
			}
		}
		return &payloadDoc{Type: tagRestock, Entry: entryToDoc(p.StockEntry), Cell: int64(p.Cell), Rings: rings, Served: int64(p.Served),
			ToWaitingList: int64(p.ToWaitingList), LeftForWalkIns: int64(p.LeftForWalkIns)}, nil
	case hub.AllocationPayload:
		return &payloadDoc{Type: tagAllocation, Allocation: allocationToDoc(p.Allocation), From: string(p.From), CommitteeID: p.CommitteeID}, nil
	case hub.ShortageServedPayload:
		return &payloadDoc{Type: tagShortageServed, Shortage: shortageToDoc(p.Shortage), AllocationID: p.AllocationID, PharmacyID: p.PharmacyID}, nil
	case hub.RiskAreaPayload:
		return &payloadDoc{Type: tagRiskArea, AreaID: p.AreaID, Center: int64(p.Center), K: int64(p.K), Reason: p.Reason, Until: msTime(p.Until)}, nil
	case hub.FeverScanPayload:
		return &payloadDoc{Type: tagFeverScan, ScanID: p.ScanID, CheckpointID: p.CheckpointID, Cell: int64(p.Cell), TemperatureC: p.TemperatureC}, nil
	case hub.ColourChangedPayload:
		return &payloadDoc{Type: tagColourChanged, Subject: p.Subject, From: p.From, To: p.To, Cell: int64(p.Cell)}, nil
	case hub.ReservationPayload:
		var refs []reservationRefDoc
		for _, r := range p.Reservations {
			refs = append(refs, reservationRefDoc{ID: r.ID, ResidentID: r.ResidentID, Cell: int64(r.Cell),
				CommitteeID: r.CommitteeID, Fulfilment: string(r.Fulfilment)})
		}
		return &payloadDoc{Type: tagReservation, RoundID: p.RoundID, SKU: string(p.SKU), From: string(p.From),
			To: string(p.To), Reservations: refs}, nil
	case hub.ShortagePayload:
		return &payloadDoc{Type: tagShortage, Shortage: shortageToDoc(p.Shortage)}, nil
	case hub.ResidentPayload:
		var refs []residentRefDoc
		for _, r := range p.Residents {
			refs = append(refs, residentRefDoc{ID: r.ID, Cell: int64(r.Cell), CommitteeID: r.CommitteeID})
		}
		return &payloadDoc{Type: tagResidents, Residents: refs}, nil
	case hub.PharmacyPayload:
		var initial map[string]int64
		if len(p.Initial) > 0 {
			initial = make(map[string]int64, len(p.Initial))
			for sku, n := range p.Initial {
				initial[string(sku)] = int64(n)
			}
		}
		return &payloadDoc{Type: tagPharmacy, PharmacyID: p.PharmacyID, Cell: int64(p.Cell), DistrictID: p.DistrictID,
			Created: p.Created, Initial: initial, FromCell: int64(p.FromCell), FromDistrictID: p.FromDistrictID}, nil
	case hub.DistrictPayload:
		return &payloadDoc{Type: tagDistrict, DistrictID: p.DistrictID, Cells: cellInts(p.Cells)}, nil
	case hub.PartnerPayload:
		return &payloadDoc{Type: tagPartner, PartnerID: p.PartnerID, Cells: cellInts(p.Cells)}, nil
	case hub.RecordsExpiredPayload:
		d := &payloadDoc{Type: tagExpired, RecordKind: string(p.Kind)}
		for _, c := range p.Counts {
			d.Counts = append(d.Counts, expiredCountDoc{Record: string(c.Record), Cell: int64(c.Cell), SKU: string(c.SKU), Status: c.Status, Count: int64(c.Count)})
		}
		return d, nil
	case hub.CommitteePayload:
		d := &payloadDoc{Type: tagCommittees}
		for _, c := range p.Committees {
			d.Committees = append(d.Committees, committeeDoc{ID: c.ID, DistrictID: c.DistrictID, Cells: cellInts(c.Cells)})
		}
		return d, nil
	}
	return nil, hub.Errorf(hub.EINVALID, "mongobus has no document for a %T payload", p)
}

// domain returns the payload a document holds; nil for none.
func (d *payloadDoc) domain() (hub.EventPayload, error) {
	if d == nil {
		return nil, nil
	}
	switch d.Type {
	case tagStockChanged:
		return hub.StockChangedPayload{StockEntry: d.Entry.domain()}, nil
	case tagRestock:
		rings := make([][]hub.Cell, len(d.Rings))
		for i, r := range d.Rings {
			rings[i] = make([]hub.Cell, len(r))
			for j, c := range r {
				rings[i][j] = hub.Cell(uint64(c))
			}
		}
		if len(rings) == 0 {
			rings = nil
		}
		return hub.RestockPayload{StockEntry: d.Entry.domain(), Cell: hub.Cell(uint64(d.Cell)), Rings: rings, Served: int(d.Served),
			ToWaitingList: int(d.ToWaitingList), LeftForWalkIns: int(d.LeftForWalkIns)}, nil
	case tagAllocation:
		return hub.AllocationPayload{Allocation: d.Allocation.domain(), From: hub.AllocationStatus(d.From), CommitteeID: d.CommitteeID}, nil
	case tagShortageServed:
		return hub.ShortageServedPayload{Shortage: d.Shortage.domain(), AllocationID: d.AllocationID, PharmacyID: d.PharmacyID}, nil
	case tagRiskArea:
		return hub.RiskAreaPayload{AreaID: d.AreaID, Center: hub.Cell(uint64(d.Center)), K: int(d.K), Reason: d.Reason, Until: d.Until}, nil
	case tagFeverScan:
		return hub.FeverScanPayload{ScanID: d.ScanID, CheckpointID: d.CheckpointID, Cell: hub.Cell(uint64(d.Cell)), TemperatureC: d.TemperatureC}, nil
	case tagColourChanged:
		return hub.ColourChangedPayload{Subject: d.Subject, From: d.From, To: d.To, Cell: hub.Cell(uint64(d.Cell))}, nil
	case tagReservation:
		var refs []hub.ReservationRef
		for _, r := range d.Reservations {
			refs = append(refs, hub.ReservationRef{ID: r.ID, ResidentID: r.ResidentID, Cell: hub.Cell(uint64(r.Cell)),
				CommitteeID: r.CommitteeID, Fulfilment: hub.Fulfilment(r.Fulfilment)})
		}
		return hub.ReservationPayload{RoundID: d.RoundID, SKU: hub.SKU(d.SKU), From: hub.ReservationStatus(d.From),
			To: hub.ReservationStatus(d.To), Reservations: refs}, nil
	case tagShortage:
		return hub.ShortagePayload{Shortage: d.Shortage.domain()}, nil
	case tagResidents:
		var refs []hub.ResidentRef
		for _, r := range d.Residents {
			refs = append(refs, hub.ResidentRef{ID: r.ID, Cell: hub.Cell(uint64(r.Cell)), CommitteeID: r.CommitteeID})
		}
		return hub.ResidentPayload{Residents: refs}, nil
	case tagPharmacy:
		var initial map[hub.SKU]int
		if len(d.Initial) > 0 {
			initial = make(map[hub.SKU]int, len(d.Initial))
			for sku, n := range d.Initial {
				initial[hub.SKU(sku)] = int(n)
			}
		}
		return hub.PharmacyPayload{PharmacyID: d.PharmacyID, Cell: hub.Cell(uint64(d.Cell)), DistrictID: d.DistrictID,
			Created: d.Created, Initial: initial, FromCell: hub.Cell(uint64(d.FromCell)), FromDistrictID: d.FromDistrictID}, nil
	case tagDistrict:
		return hub.DistrictPayload{DistrictID: d.DistrictID, Cells: cellsOf(d.Cells)}, nil
	case tagPartner:
		return hub.PartnerPayload{PartnerID: d.PartnerID, Cells: cellsOf(d.Cells)}, nil
	case tagCommittees:
		var refs []hub.CommitteeRef
		for _, c := range d.Committees {
			refs = append(refs, hub.CommitteeRef{ID: c.ID, DistrictID: c.DistrictID, Cells: cellsOf(c.Cells)})
		}
		return hub.CommitteePayload{Committees: refs}, nil
	case tagExpired:
		var counts []hub.ExpiredCount
		for _, c := range d.Counts {
			counts = append(counts, hub.ExpiredCount{Record: hub.ExpiredRecord(c.Record), Cell: hub.Cell(uint64(c.Cell)),
				SKU: hub.SKU(c.SKU), Status: c.Status, Count: int(c.Count)})
		}
		return hub.RecordsExpiredPayload{Kind: hub.RecordKind(d.RecordKind), Counts: counts}, nil
	}
	return nil, fmt.Errorf("unknown payload type %q", d.Type)
}

// eventToDoc maps an event to its document (without _id, origin and
// stored, which Publish sets).
func eventToDoc(ev hub.Event) (eventDoc, error) {
	p, err := payloadToDoc(ev.Payload)
	if err != nil {
		return eventDoc{}, err
	}
	kind, err := ev.Kind.MarshalText()
	if err != nil {
		return eventDoc{}, err
	}
	return eventDoc{
		Kind: string(kind), At: msTime(ev.At), Cells: cellInts(ev.Cells), DistrictID: ev.DistrictID,
		CommitteeIDs: append([]string(nil), ev.CommitteeIDs...), PartnerID: ev.PartnerID,
		PharmacyID: ev.PharmacyID, SKU: string(ev.SKU), Source: ev.Source, Payload: p,
	}, nil
}

// event returns the event a document holds, Seq zero, and checks it as a
// broker would.
func (d *eventDoc) event() (hub.Event, error) {
	kind, err := hub.ParseEventKind(d.Kind)
	if err != nil {
		return hub.Event{}, err
	}
	p, err := d.Payload.domain()
	if err != nil {
		return hub.Event{}, err
	}
	var committees []string
	if len(d.CommitteeIDs) > 0 {
		committees = d.CommitteeIDs
	}
	ev := hub.Event{
		Kind: kind, At: d.At, Cells: cellsOf(d.Cells), DistrictID: d.DistrictID, CommitteeIDs: committees,
		PartnerID: d.PartnerID, PharmacyID: d.PharmacyID, SKU: hub.SKU(d.SKU), Source: d.Source, Payload: p,
	}
	return ev, ev.Validate()
}
