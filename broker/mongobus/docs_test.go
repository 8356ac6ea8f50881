package mongobus

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// at is a time with a sub-millisecond part, in a zone other than UTC: a
// round trip gives it back at millisecond precision, in UTC.
var at = time.Date(2020, 2, 6, 9, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

func ms(t time.Time) time.Time { return msTime(t) }

// samples returns an event of every kind with a payload of every field
// set, and the event as it comes back from the collection.
func samples() []struct{ give, want hub.Event } {
	entry := hub.StockEntry{Seq: 12, After: 190, StockChange: hub.StockChange{
		PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -10, Reason: "ALLOCATE", At: at}}
	entryMS := entry
	entryMS.At = ms(at)
	alloc := hub.Allocation{ID: "a1", RoundID: "round1", ReservationID: "res1", ResidentID: "r1", PharmacyID: "p1",
		PartnerID: "pt1", SKU: hub.MaskN95, Quantity: 5, Cell: 0x8928308280fffff, Slot: at, CodeHash: "code",
		Status: hub.AllocationReserved, ExpiresAt: at.Add(time.Hour), CreatedAt: at, UpdatedAt: at}
	allocMS := alloc
	allocMS.Slot, allocMS.ExpiresAt, allocMS.CreatedAt, allocMS.UpdatedAt = ms(at), ms(at.Add(time.Hour)), ms(at), ms(at)
	sh := hub.Shortage{ID: "sh1", ResidentID: "r1", Cell: 0x8928308280fffff, SKU: hub.MaskChild, Quantity: 2,
		Status: hub.ShortageServed, AllocationID: "a2", CreatedAt: at, UpdatedAt: at}
	shMS := sh
	shMS.CreatedAt, shMS.UpdatedAt = ms(at), ms(at)
	rings := [][]hub.Cell{{0x8928308280fffff}, {0x8928308280bffff, 0x8928308283bffff}}
	cells := []hub.Cell{0x8928308280fffff, 0x8928308280bffff, 0x8928308283bffff}

	event := func(kind hub.EventKind, p hub.EventPayload) hub.Event {
		return hub.Event{Kind: kind, Seq: 99, At: at, Cells: cells, DistrictID: "d1", CommitteeIDs: []string{"c1", "c2"},
			PartnerID: "pt1", PharmacyID: "p1", SKU: hub.MaskAdult, Payload: p}
	}
	back := func(ev hub.Event, p hub.EventPayload) hub.Event {
		ev.Seq, ev.At, ev.Payload = 0, ms(at), p
		return ev
	}
	var out []struct{ give, want hub.Event }
	add := func(kind hub.EventKind, give, want hub.EventPayload) {
		ev := event(kind, give)
		out = append(out, struct{ give, want hub.Event }{ev, back(ev, want)})
	}
	add(hub.EventStockChanged, hub.StockChangedPayload{StockEntry: entry}, hub.StockChangedPayload{StockEntry: entryMS})
	add(hub.EventRestock, hub.RestockPayload{StockEntry: entry, Cell: 0x8928308280fffff, Rings: rings, Served: 3, ToWaitingList: 7, LeftForWalkIns: 11},
		hub.RestockPayload{StockEntry: entryMS, Cell: 0x8928308280fffff, Rings: rings, Served: 3, ToWaitingList: 7, LeftForWalkIns: 11})
	add(hub.EventAllocationCreated, hub.AllocationPayload{Allocation: alloc}, hub.AllocationPayload{Allocation: allocMS})
	add(hub.EventAllocationUpdated, hub.AllocationPayload{Allocation: alloc, From: hub.AllocationReserved},
		hub.AllocationPayload{Allocation: allocMS, From: hub.AllocationReserved})
	add(hub.EventAllocationUpdated, hub.AllocationPayload{Allocation: alloc, From: hub.AllocationReserved, CommitteeID: "c1"},
		hub.AllocationPayload{Allocation: allocMS, From: hub.AllocationReserved, CommitteeID: "c1"})
	add(hub.EventAllocationExpired, hub.AllocationPayload{Allocation: alloc, From: hub.AllocationReserved},
		hub.AllocationPayload{Allocation: allocMS, From: hub.AllocationReserved})
	add(hub.EventShortageServed, hub.ShortageServedPayload{Shortage: sh, AllocationID: "a2", PharmacyID: "p1"},
		hub.ShortageServedPayload{Shortage: shMS, AllocationID: "a2", PharmacyID: "p1"})
	add(hub.EventRiskAreaMarked, hub.RiskAreaPayload{AreaID: "ra1", Center: 0x8928308280fffff, K: 2, Reason: "cluster", Until: at},
		hub.RiskAreaPayload{AreaID: "ra1", Center: 0x8928308280fffff, K: 2, Reason: "cluster", Until: ms(at)})
	add(hub.EventRiskAreaLifted, hub.RiskAreaPayload{AreaID: "ra1", Center: 0x8928308280fffff},
		hub.RiskAreaPayload{AreaID: "ra1", Center: 0x8928308280fffff})
	add(hub.EventFeverScan, hub.FeverScanPayload{ScanID: "s1", CheckpointID: "k1", Cell: 0x8928308280fffff, TemperatureC: 38.4},
		hub.FeverScanPayload{ScanID: "s1", CheckpointID: "k1", Cell: 0x8928308280fffff, TemperatureC: 38.4})
	add(hub.EventColourChanged, hub.ColourChangedPayload{Subject: "SUBJ", From: "GREEN", To: "RED", Cell: 0x8928308280fffff},
		hub.ColourChangedPayload{Subject: "SUBJ", From: "GREEN", To: "RED", Cell: 0x8928308280fffff})
	refs := []hub.ReservationRef{
		{ID: "res1", ResidentID: "r1", Cell: 0x8928308280fffff, CommitteeID: "c1", Fulfilment: hub.Pickup},
		{ID: "res2", ResidentID: "r2", Cell: 0x8928308283bffff, Fulfilment: hub.Delivery},
	}
	add(hub.EventReservationCreated, hub.ReservationPayload{RoundID: "round1", SKU: hub.MaskAdult, To: hub.ReservationPending, Reservations: refs[:1]},
		hub.ReservationPayload{RoundID: "round1", SKU: hub.MaskAdult, To: hub.ReservationPending, Reservations: refs[:1]})
	add(hub.EventReservationUpdated, hub.ReservationPayload{RoundID: "round1", SKU: hub.MaskAdult, From: hub.ReservationPending, To: hub.ReservationLost, Reservations: refs},
		hub.ReservationPayload{RoundID: "round1", SKU: hub.MaskAdult, From: hub.ReservationPending, To: hub.ReservationLost, Reservations: refs})
	waiting := sh
	waiting.Status, waiting.AllocationID = hub.ShortageWaiting, ""
	waitingMS := shMS
	waitingMS.Status, waitingMS.AllocationID = hub.ShortageWaiting, ""
	add(hub.EventShortageRegistered, hub.ShortagePayload{Shortage: waiting}, hub.ShortagePayload{Shortage: waitingMS})
	residents := []hub.ResidentRef{{ID: "r1", Cell: 0x8928308280fffff, CommitteeID: "c1"}, {ID: "r2", Cell: 0x8928308283bffff}}
	add(hub.EventResidentRegistered, hub.ResidentPayload{Residents: residents}, hub.ResidentPayload{Residents: residents})
	add(hub.EventPharmacyUpserted,
		hub.PharmacyPayload{PharmacyID: "p1", Cell: 0x8928308280fffff, DistrictID: "d1", Created: true, Initial: map[hub.SKU]int{hub.MaskAdult: 100, hub.TestKit: 5}},
		hub.PharmacyPayload{PharmacyID: "p1", Cell: 0x8928308280fffff, DistrictID: "d1", Created: true, Initial: map[hub.SKU]int{hub.MaskAdult: 100, hub.TestKit: 5}})
	moved := hub.PharmacyPayload{PharmacyID: "p1", Cell: 0x8928308280fffff, DistrictID: "d2", FromCell: 0x8928308283bffff, FromDistrictID: "d1"}
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventPharmacyUpserted, At: at, PharmacyID: "p1", DistrictID: "d2", Payload: moved},
		hub.Event{Kind: hub.EventPharmacyUpserted, At: ms(at), PharmacyID: "p1", DistrictID: "d2", Payload: moved},
	})
	committees := hub.CommitteePayload{Committees: []hub.CommitteeRef{{ID: "c1", DistrictID: "d1", Cells: cells}, {ID: "c2", DistrictID: "d1", Cells: cells[:1]}}}
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventCommitteeUpserted, At: at, DistrictID: "d1", CommitteeIDs: []string{"c1", "c2"}, Payload: committees},
		hub.Event{Kind: hub.EventCommitteeUpserted, At: ms(at), DistrictID: "d1", CommitteeIDs: []string{"c1", "c2"}, Payload: committees},
	})
	partner := hub.PartnerPayload{PartnerID: "courier", Cells: cells}
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventPartnerUpserted, At: at, PartnerID: "courier", Source: "eng_2", Payload: partner},
		hub.Event{Kind: hub.EventPartnerUpserted, At: ms(at), PartnerID: "courier", Source: "eng_2", Payload: partner},
	})
	expired := hub.RecordsExpiredPayload{Kind: hub.RecordDispatch, Counts: []hub.ExpiredCount{
		{Record: hub.ExpiredAllocation, Cell: cells[0], SKU: hub.MaskAdult, Status: "REDEEMED", Count: 3},
		{Record: hub.ExpiredAllocation, SKU: hub.MaskN95, Status: "EXPIRED", Count: 1},
		{Record: hub.ExpiredReservation, Cell: cells[0], SKU: hub.MaskAdult, Status: "ALLOCATED", Count: 3},
	}}
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventRecordsExpired, At: at, Cells: cells[:1], Payload: expired},
		hub.Event{Kind: hub.EventRecordsExpired, At: ms(at), Cells: cells[:1], Payload: expired},
	})
	// The source of an event: the publisher's instance.
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventStockChanged, At: at, PharmacyID: "p1", Source: "eng_1", Payload: hub.StockChangedPayload{StockEntry: hub.StockEntry{StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -1, Reason: "ALLOCATE", At: at}, After: 9}}},
		hub.Event{Kind: hub.EventStockChanged, At: ms(at), PharmacyID: "p1", Source: "eng_1", Payload: hub.StockChangedPayload{StockEntry: hub.StockEntry{StockChange: hub.StockChange{PharmacyID: "p1", SKU: hub.MaskAdult, Delta: -1, Reason: "ALLOCATE", At: ms(at)}, After: 9}}},
	})
	district := hub.DistrictPayload{DistrictID: "d1", Cells: cells}
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventDistrictUpserted, At: at, DistrictID: "d1", Payload: district},
		hub.Event{Kind: hub.EventDistrictUpserted, At: ms(at), DistrictID: "d1", Payload: district},
	})
	// No payload, and no routing keys.
	out = append(out, struct{ give, want hub.Event }{
		hub.Event{Kind: hub.EventRestock, At: at, Cells: []hub.Cell{}},
		hub.Event{Kind: hub.EventRestock, At: ms(at)},
	})
	return out
}

// storedAndRead writes an event's document as the driver would, reads it
// back as a change stream's fullDocument, and decodes the event.
func storedAndRead(t *testing.T, ev hub.Event) hub.Event {
	t.Helper()
	d, err := eventToDoc(ev)
	if err != nil {
		t.Fatalf("eventToDoc(%s): %v", ev.Kind, err)
	}
	d.ID, d.Origin, d.Stored = bson.NewObjectID(), "hub-a", msTime(time.Now())
	full, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("marshal %s: %v", ev.Kind, err)
	}
	change, err := bson.Marshal(bson.D{{Key: "operationType", Value: "insert"}, {Key: "fullDocument", Value: bson.Raw(full)}})
	if err != nil {
		t.Fatal(err)
	}
	var ch changeEvent
	if err := bson.Unmarshal(change, &ch); err != nil {
		t.Fatal(err)
	}
	var back eventDoc
	if err := bson.Unmarshal(ch.FullDocument, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", ev.Kind, err)
	}
	if back.ID != d.ID || back.Origin != "hub-a" {
		t.Errorf("%s: id and origin %v %q after a round trip", ev.Kind, back.ID, back.Origin)
	}
	got, err := back.event()
	if err != nil {
		t.Fatalf("event(%s): %v", ev.Kind, err)
	}
	return got
}

func TestPayloadsRoundTrip(t *testing.T) {
	kinds := map[hub.EventKind]bool{}
	for _, tt := range samples() {
		kinds[tt.give.Kind] = true
		if err := tt.give.Validate(); err != nil {
			t.Fatalf("sample %s is not a valid event: %v", tt.give.Kind, err)
		}
		got := storedAndRead(t, tt.give)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s after a round trip:\n got %+v\nwant %+v", tt.give.Kind, got, tt.want)
		}
	}
	// Every kind, so every payload type, has a sample: a kind added to
	// package hub fails here until docs.go maps its payload.
	for _, k := range hub.EventKinds() {
		if !kinds[k] {
			t.Errorf("no round-trip sample of %s", k)
		}
	}
}

func TestEventDocsRefused(t *testing.T) {
	tests := []struct {
		name string
		give eventDoc
		want string
	}{
		{"unknown kind", eventDoc{Kind: "SOLAR_FLARE"}, "unknown event kind"},
		{"unknown payload type", eventDoc{Kind: "RESTOCK", Payload: &payloadDoc{Type: "gift"}}, "unknown payload type"},
		{"payload of another kind", eventDoc{Kind: "RESTOCK", Payload: &payloadDoc{Type: tagFeverScan}}, "cannot carry"},
		{"zero cell", eventDoc{Kind: "RESTOCK", Cells: []int64{0}}, "zero cell"},
	}
	for _, tt := range tests {
		if _, err := tt.give.event(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestTokenLost(t *testing.T) {
	tests := []struct {
		give error
		want bool
	}{
		{mongo.CommandError{Code: 286, Name: "ChangeStreamHistoryLost"}, true},
		{mongo.CommandError{Code: 280, Message: "cannot resume stream; the resume token was not found"}, true},
		{mongo.CommandError{Code: 260, Name: "InvalidResumeToken"}, true},
		{errors.New("Resume of change stream was not possible, as the resume point may no longer be in the oplog"), true},
		{mongo.CommandError{Code: 40573, Message: "The $changeStream stage is only supported on replica sets"}, false},
		{mongo.CommandError{Code: 6, Labels: []string{"NetworkError"}}, false},
		{errors.New("connection reset by peer"), false},
	}
	for _, tt := range tests {
		if got := tokenLost(tt.give); got != tt.want {
			t.Errorf("tokenLost(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		give error
		want bool
	}{
		{mongo.CommandError{Code: 286}, true},
		{mongo.CommandError{Code: 9, Name: "FailedToParse", Message: "KeyString format error"}, true},
		{mongo.CommandError{Code: 6, Labels: []string{"NetworkError"}}, false},
		{mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired"}, false},
		{errors.New("dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		if got := refused(tt.give); got != tt.want {
			t.Errorf("refused(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestPipeline(t *testing.T) {
	got, err := bson.MarshalExtJSON(bson.D{{Key: "p", Value: pipeline()}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p":[{"$match":{"operationType":"insert"}}]}`; string(got) != want {
		t.Errorf("pipeline %s, want %s", got, want)
	}
}
