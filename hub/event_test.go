package hub_test

import (
	"testing"

	"github.com/gridhub/gridhub/hub"
)

func TestEventKindText(t *testing.T) {
	for _, k := range hub.EventKinds() {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatalf("%d: %v", k, err)
		}
		var back hub.EventKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%s: round trip gave %v, %v", b, back, err)
		}
	}
	if len(hub.EventKinds()) != 19 {
		t.Errorf("%d kinds, want 19", len(hub.EventKinds()))
	}
	// Kinds are numbered once and for all: a filter compiled into a bit
	// set (broker) holds at most 31 of them, and clients see the names.
	for _, tt := range []struct {
		give hub.EventKind
		want string
	}{
		{hub.EventStockChanged, "STOCK_CHANGED"},
		{hub.EventColourChanged, "COLOUR_CHANGED"},
		{hub.EventReservationCreated, "RESERVATION_CREATED"},
		{hub.EventReservationUpdated, "RESERVATION_UPDATED"},
		{hub.EventShortageRegistered, "SHORTAGE_REGISTERED"},
		{hub.EventResidentRegistered, "RESIDENT_REGISTERED"},
		{hub.EventPharmacyUpserted, "PHARMACY_UPSERTED"},
		{hub.EventDistrictUpserted, "DISTRICT_UPSERTED"},
		{hub.EventCommitteeUpserted, "COMMITTEE_UPSERTED"},
		{hub.EventPartnerUpserted, "PARTNER_UPSERTED"},
		{hub.EventRecordsExpired, "RECORDS_EXPIRED"},
	} {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("kind %d is %q, want %q", uint8(tt.give), got, tt.want)
		}
	}
	if hub.EventColourChanged != 10 || hub.EventDistrictUpserted != 16 {
		t.Errorf("kinds renumbered: COLOUR_CHANGED %d, DISTRICT_UPSERTED %d", hub.EventColourChanged, hub.EventDistrictUpserted)
	}
	if _, err := hub.ParseEventKind("RESTOCKED"); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("ParseEventKind(RESTOCKED): %v, want EINVALID", err)
	}
	if _, err := hub.EventKind(0).MarshalText(); err == nil {
		t.Error("the zero kind marshals")
	}
}

func TestEventValidate(t *testing.T) {
	tests := []struct {
		name string
		give hub.Event
		ok   bool
	}{
		{"bare restock", hub.Event{Kind: hub.EventRestock}, true},
		{"restock payload", hub.Event{Kind: hub.EventRestock, Payload: hub.RestockPayload{}}, true},
		{"allocation payload, each kind", hub.Event{Kind: hub.EventAllocationExpired, Payload: hub.AllocationPayload{}}, true},
		{"risk lifted", hub.Event{Kind: hub.EventRiskAreaLifted, Payload: hub.RiskAreaPayload{}, Cells: []hub.Cell{1}}, true},
		{"reservation created", hub.Event{Kind: hub.EventReservationCreated, Payload: hub.ReservationPayload{}}, true},
		{"reservation updated", hub.Event{Kind: hub.EventReservationUpdated, Payload: hub.ReservationPayload{}}, true},
		{"shortage registered", hub.Event{Kind: hub.EventShortageRegistered, Payload: hub.ShortagePayload{}}, true},
		{"resident registered", hub.Event{Kind: hub.EventResidentRegistered, Payload: hub.ResidentPayload{}}, true},
		{"pharmacy upserted", hub.Event{Kind: hub.EventPharmacyUpserted, Payload: hub.PharmacyPayload{}}, true},
		{"district upserted", hub.Event{Kind: hub.EventDistrictUpserted, Payload: hub.DistrictPayload{}}, true},
		{"no kind", hub.Event{}, false},
		{"reservation payload on an allocation", hub.Event{Kind: hub.EventAllocationCreated, Payload: hub.ReservationPayload{}}, false},
		{"allocation payload on a reservation", hub.Event{Kind: hub.EventReservationUpdated, Payload: hub.AllocationPayload{}}, false},
		{"shortage payload on SHORTAGE_SERVED", hub.Event{Kind: hub.EventShortageServed, Payload: hub.ShortagePayload{}}, false},
		{"district payload on a pharmacy", hub.Event{Kind: hub.EventPharmacyUpserted, Payload: hub.DistrictPayload{}}, false},
		{"wrong payload", hub.Event{Kind: hub.EventStockChanged, Payload: hub.RestockPayload{}}, false},
		{"zero cell", hub.Event{Kind: hub.EventFeverScan, Cells: []hub.Cell{1, 0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && hub.ErrorCode(err) != hub.EINVALID {
				t.Errorf("Validate() = %v, want EINVALID", err)
			}
		})
	}
}

func TestRestockRing(t *testing.T) {
	p := hub.RestockPayload{Rings: [][]hub.Cell{{50}, {10, 20, 30}, {5, 60}}}
	for _, tt := range []struct {
		give hub.Cell
		want int
	}{{50, 0}, {20, 1}, {30, 1}, {5, 2}, {60, 2}, {7, -1}} {
		if got := p.Ring(tt.give); got != tt.want {
			t.Errorf("Ring(%d) = %d, want %d", tt.give, got, tt.want)
		}
	}
}
