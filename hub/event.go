package hub

import (
	"context"
	"fmt"
	"time"
)

// EventKind says what happened in a domain event. The zero value is no
// kind: an event must have one.
type EventKind uint8

// The kinds of domain event, in a fixed order.
const (
	EventStockChanged       EventKind = iota + 1 // stock at a pharmacy moved (any reason)
	EventRestock                                 // stock at a pharmacy went up by a delivery
	EventAllocationCreated                       // stock was set aside for a person
	EventAllocationUpdated                       // an allocation changed status
	EventAllocationExpired                       // an allocation was not picked up: stock returned
	EventShortageServed                          // a restock served someone on the waiting list
	EventRiskAreaMarked                          // cells were marked as a risk area
	EventRiskAreaLifted                          // a risk area was lifted
	EventFeverScan                               // a checkpoint scanned someone with a fever
	EventColourChanged                           // a health code changed colour
	EventReservationCreated                      // a person reserved in a round
	EventReservationUpdated                      // reservations changed status (an allocation says ALLOCATION_CREATED instead)
	EventShortageRegistered                      // a person joined the waiting list of a supply
	EventResidentRegistered                      // residents were registered
	EventPharmacyUpserted                        // a pharmacy was created or changed (its place, its name)
	EventDistrictUpserted                        // a district's area was created or replaced
	EventCommitteeUpserted                       // committees' areas were created or replaced
	EventPartnerUpserted                         // a delivery partner's service area was created or replaced
	EventRecordsExpired                          // the retention sweep deleted records the dashboards count

	numEventKinds = iota + 1 // one more than the last kind
)

// EventKinds returns every kind, in order.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, numEventKinds-1)
	for k := EventKind(1); k < numEventKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Valid reports whether k is one of the kinds above.
func (k EventKind) Valid() bool { return k > 0 && k < numEventKinds }

// String returns the kind's name as clients see it, e.g. "RESTOCK".
func (k EventKind) String() string {
	switch k {
	case EventStockChanged:
		return "STOCK_CHANGED"
	case EventRestock:
		return "RESTOCK"
	case EventAllocationCreated:
		return "ALLOCATION_CREATED"
	case EventAllocationUpdated:
		return "ALLOCATION_UPDATED"
	case EventAllocationExpired:
		return "ALLOCATION_EXPIRED"
	case EventShortageServed:
		return "SHORTAGE_SERVED"
	case EventRiskAreaMarked:
		return "RISK_AREA_MARKED"
	case EventRiskAreaLifted:
		return "RISK_AREA_LIFTED"
	case EventFeverScan:
		return "FEVER_SCAN"
	case EventColourChanged:
		return "COLOUR_CHANGED"
	case EventReservationCreated:
		return "RESERVATION_CREATED"
	case EventReservationUpdated:
		return "RESERVATION_UPDATED"
	case EventShortageRegistered:
		return "SHORTAGE_REGISTERED"
	case EventResidentRegistered:
		return "RESIDENT_REGISTERED"
	case EventPharmacyUpserted:
		return "PHARMACY_UPSERTED"
	case EventDistrictUpserted:
		return "DISTRICT_UPSERTED"
	case EventCommitteeUpserted:
		return "COMMITTEE_UPSERTED"
	case EventPartnerUpserted:
		return "PARTNER_UPSERTED"
	case EventRecordsExpired:
		return "RECORDS_EXPIRED"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k EventKind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, Errorf(EINVALID, "unknown event kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *EventKind) UnmarshalText(b []byte) error {
	v, err := ParseEventKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseEventKind returns the kind named s or an EINVALID error.
func ParseEventKind(s string) (EventKind, error) {
	for k := EventKind(1); k < numEventKinds; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, Errorf(EINVALID, "unknown event kind %q", s)
}

// Event is a domain event on its way from the code where it happened to
// the people subscribed to it. Publishers fill in the kind, the routing
// keys and the payload; the broker assigns Seq.
//
// The routing keys say whom the event concerns; a broker delivers it to a
// subscriber whose filter matches them and never looks inside the payload.
// Computing them is the publisher's job: a restock touches the disk of k
// rings around the pharmacy (grid.Disk), so the publisher puts that disk
// in Cells.
//
// Once published, an event is shared read-only by every subscriber: its
// publisher must not modify its slices or payload afterwards.
type Event struct {
	Kind EventKind
	// Seq numbers events in the order the broker accepted them: strictly
	// increasing, never reused. Zero until published.
	Seq uint64
	At  time.Time // when it happened; the broker's clock if left zero

	// Routing keys. Empty means the event does not concern that key.
	Cells        []Cell   // base-resolution cells it touches, any order
	DistrictID   string   // the district it happened in
	CommitteeIDs []string // committees it is addressed to
	PartnerID    string   // the logistics partner it concerns
	PharmacyID   string   // the pharmacy it concerns
	SKU          SKU      // the supply it concerns

	// Source names the instance of a service that published the event
	// (a dispatch engine's ID), or is empty. A view that keeps its own
	// writes' effects as it makes them (the dispatch engine's book of
	// units in flight) skips the events of its own source and follows
	// the rest; every other view follows every event alike.
	Source string

	// Payload is the kind's own data: a value (not a pointer) of one of
	// the ...Payload types below, or nil when there is nothing more to
	// say.
	Payload EventPayload
}

// EventPayload is the data an event of one kind carries. Only the
// ...Payload types of this package implement it, so a type switch over
// them is exhaustive.
type EventPayload interface {
	// carries reports whether an event of kind k may carry the payload.
	carries(k EventKind) bool
}

// Validate reports whether e is fit to publish: it has a kind, its
// payload (if any) is one the kind carries, and it names no zero cell.
func (e *Event) Validate() error {
	if !e.Kind.Valid() {
		return Errorf(EINVALID, "event has no valid kind (%d)", uint8(e.Kind))
	}
	if e.Payload != nil {
		if !e.Payload.carries(e.Kind) {
			return Errorf(EINVALID, "a %s event cannot carry a %T payload", e.Kind, e.Payload)
		}
	}
	for _, c := range e.Cells {
		if c == 0 {
			return Errorf(EINVALID, "%s event touches the zero cell", e.Kind)
		}
	}
	return nil
}

// StockChangedPayload is the payload of STOCK_CHANGED: the ledger entry
// (PharmacyID, SKU, Delta, Reason, At, and After, the quantity on hand
// after the change).
type StockChangedPayload struct {
	StockEntry
}

// RestockPayload is the payload of RESTOCK, published once the restock
// has served the waiting list, so that one event tells the whole truth:
// the ledger entry of the delivery (Delta is the quantity delivered, After
// the stock on hand right after the delivery, before the waiting list),
// what the waiting list took of it, what is left for walk-ins, where the
// pharmacy is and the service disk the restock alerts.
type RestockPayload struct {
	StockEntry
	Cell Cell // the pharmacy's cell
	// Rings is the pharmacy's service disk split by distance: Rings[i]
	// holds the cells i steps from Cell, each sorted (grid.Rings). The
	// event's Cells are these cells flattened.
	Rings [][]Cell
	// Served counts the waiting-list entries (shortage registrations and
	// waiting reservations) this restock served, one allocation each.
	Served int
	// ToWaitingList is the units of the SKU those allocations took from
	// the pharmacy (each an ALLOCATE step published as STOCK_CHANGED
	// between the restock's own STOCK_CHANGED and this event).
	ToWaitingList int
	// LeftForWalkIns is the stock of the SKU on hand once the waiting
	// list was served, as the store had it just before this event: what
	// anyone walking in can still get.
	LeftForWalkIns int
}

// Ring returns the distance in rings from the pharmacy to c, or -1 when c
// is outside the service disk. A committee's distance is the least Ring
// over its cells.
func (p RestockPayload) Ring(c Cell) int {
	for i, r := range p.Rings {
		lo, hi := 0, len(r)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r[m] < c {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(r) && r[lo] == c {
			return i
		}
	}
	return -1
}

// AllocationPayload is the payload of ALLOCATION_CREATED,
// ALLOCATION_UPDATED and ALLOCATION_EXPIRED: the allocation as it is after
// the change, the status it had before (empty when created), and the
// committee whose quota its units count in (COMMITTEE rounds only), so
// that every hub's engine can follow the places and units it takes or
// frees without reading the store.
type AllocationPayload struct {
	Allocation  Allocation
	From        AllocationStatus
	CommitteeID string
}

// ShortageServedPayload is the payload of SHORTAGE_SERVED: the waiting-list
// registration as served and the allocation that served it.
type ShortageServedPayload struct {
	Shortage     Shortage
	AllocationID string
	PharmacyID   string
}

// RiskAreaPayload is the payload of RISK_AREA_MARKED and RISK_AREA_LIFTED:
// a risk area is the disk of K rings around Center (the event's Cells).
type RiskAreaPayload struct {
	AreaID string
	Center Cell
	K      int
	Reason string
	Until  time.Time // zero: until lifted
}

// FeverScanPayload is the payload of FEVER_SCAN. It names the checkpoint
// and the place, never the person.
type FeverScanPayload struct {
	ScanID       string
	CheckpointID string
	Cell         Cell
	TemperatureC float64
}

// ColourChangedPayload is the payload of COLOUR_CHANGED. Subject is the
// opaque subject id of the health code, never an ID number.
type ColourChangedPayload struct {
	Subject string
	From    string // GREEN, YELLOW, RED; empty for a first code
	To      string
	Cell    Cell // the subject's home cell, when known
}

// ReservationPayload is the payload of RESERVATION_CREATED and
// RESERVATION_UPDATED: reservations of one round, all of the event's
// district, that moved together from From (empty when created) to To.
// A reservation that gets an allocation is ALLOCATION_CREATED instead.
type ReservationPayload struct {
	RoundID      string
	SKU          SKU // the round's supply
	From         ReservationStatus
	To           ReservationStatus
	Reservations []ReservationRef
}

// ReservationRef names a reservation in an event and says where its
// person lives; it carries no ID hash.
type ReservationRef struct {
	ID          string
	ResidentID  string
	Cell        Cell
	CommitteeID string
	Fulfilment  Fulfilment
}

// ShortagePayload is the payload of SHORTAGE_REGISTERED: the waiting-list
// registration as recorded (WAITING).
type ShortagePayload struct {
	Shortage Shortage
}

// ResidentPayload is the payload of RESIDENT_REGISTERED: residents
// registered together, all of the event's district, and where they live.
// It names nobody beyond their IDs.
type ResidentPayload struct {
	Residents []ResidentRef
}

// ResidentRef names a resident in an event and says where they live.
type ResidentRef struct {
	ID          string
	Cell        Cell
	CommitteeID string
}

// PharmacyPayload is the payload of PHARMACY_UPSERTED: where the pharmacy
// is now, and for a new one the stock it started with (recorded in the
// ledger as INITIAL entries, never published as STOCK_CHANGED); for one
// that moved, where it was. Stock moves of an existing pharmacy are
// STOCK_CHANGED events, never this one.
type PharmacyPayload struct {
	PharmacyID string
	Cell       Cell
	DistrictID string
	Created    bool
	Initial    map[SKU]int // Created only; read-only once published
	// FromCell and FromDistrictID are where an existing pharmacy was
	// before the upsert; FromCell is 0 when it did not move.
	FromCell       Cell
	FromDistrictID string
}

// DistrictPayload is the payload of DISTRICT_UPSERTED: the district's
// cells as they are now (sorted, base resolution; read-only once
// published). The event carries no routing cells: a district can hold
// tens of thousands; follow it by DistrictID.
type DistrictPayload struct {
	DistrictID string
	Cells      []Cell
}

// CommitteePayload is the payload of COMMITTEE_UPSERTED: the committees
// of one upsert with their cells as they are now (sorted, base
// resolution; read-only once published).
type CommitteePayload struct {
	Committees []CommitteeRef
}

// CommitteeRef is one committee of a CommitteePayload.
type CommitteeRef struct {
	ID         string
	DistrictID string
	Cells      []Cell
}

// PartnerPayload is the payload of PARTNER_UPSERTED: the partner's service
// area as it is now (sorted, base resolution; read-only once published).
// The event carries no routing cells; follow it by PartnerID.
type PartnerPayload struct {
	PartnerID string
	Cells     []Cell
}

// RecordsExpiredPayload is the payload of RECORDS_EXPIRED: what one batch
// of the retention sweep (Store.Sweep) deleted that the dashboards'
// counters count, so that the counters, a view of the bus, drop as a
// count read afresh from the store does. It is anonymous: cells,
// supplies, statuses and how many, never whose. The event's Cells are the
// non-zero cells of Counts.
type RecordsExpiredPayload struct {
	Kind   RecordKind // the kind of record the batch swept
	Counts []ExpiredCount
}

func (StockChangedPayload) carries(k EventKind) bool { return k == EventStockChanged }
func (RestockPayload) carries(k EventKind) bool      { return k == EventRestock }
func (AllocationPayload) carries(k EventKind) bool {
	return k == EventAllocationCreated || k == EventAllocationUpdated || k == EventAllocationExpired
}
func (ShortageServedPayload) carries(k EventKind) bool { return k == EventShortageServed }
func (RiskAreaPayload) carries(k EventKind) bool {
	return k == EventRiskAreaMarked || k == EventRiskAreaLifted
}
func (FeverScanPayload) carries(k EventKind) bool     { return k == EventFeverScan }
func (ColourChangedPayload) carries(k EventKind) bool { return k == EventColourChanged }
func (ReservationPayload) carries(k EventKind) bool {
	return k == EventReservationCreated || k == EventReservationUpdated
}
func (ShortagePayload) carries(k EventKind) bool  { return k == EventShortageRegistered }
func (ResidentPayload) carries(k EventKind) bool  { return k == EventResidentRegistered }
func (PharmacyPayload) carries(k EventKind) bool  { return k == EventPharmacyUpserted }
func (DistrictPayload) carries(k EventKind) bool  { return k == EventDistrictUpserted }
func (CommitteePayload) carries(k EventKind) bool { return k == EventCommitteeUpserted }
func (PartnerPayload) carries(k EventKind) bool   { return k == EventPartnerUpserted }
func (RecordsExpiredPayload) carries(k EventKind) bool {
	return k == EventRecordsExpired
}

// Publisher takes domain events: the broker, or nothing. Publishing never
// blocks on subscribers.
type Publisher interface {
	Publish(ctx context.Context, ev Event) (uint64, error)
}

// StockChangedEvent is the STOCK_CHANGED event of a ledger entry at a
// pharmacy, addressed to its cell and district.
func StockChangedEvent(p *Pharmacy, e StockEntry) Event {
	return Event{
		Kind: EventStockChanged, At: e.At, Cells: []Cell{p.Cell}, DistrictID: p.DistrictID, PharmacyID: p.ID, SKU: e.SKU,
		Payload: StockChangedPayload{StockEntry: e},
	}
}
