package portable

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// TestRoundRecordBeforeSlots reads a round as files written before pickup
// slots existed hold it: no slot fields, read as no slots.
func TestRoundRecordBeforeSlots(t *testing.T) {
	old := []byte(`{"id":"r1","name":"Masks","sku":"MASK_ADULT","perPerson":5,"mode":"FIRST_COME","eligibility":{},` +
		`"opens":"2020-02-14T09:00:00Z","closes":"2020-02-15T09:00:00Z","maxK":3,"pickupWindowNs":86400000000000,` +
		`"status":"OPEN","createdAt":"2020-02-14T09:00:00Z","updatedAt":"2020-02-14T09:00:00Z"}`)
	var rec roundRec
	if err := decode("round", []byte("r1"), old, &rec); err != nil {
		t.Fatal(err)
	}
	r := rec.domain()
	if r.SlotMinutes != 0 || r.SlotCapacity != 0 || r.PickupWindow != 24*time.Hour || r.Status != hub.RoundOpen {
		t.Errorf("old round = %+v, want no slots and the rest as written", r)
	}

	// And a round with slots keeps them.
	r.SlotMinutes, r.SlotCapacity = 15, 3
	b, err := encode("round", roundToRec(r))
	if err != nil {
		t.Fatal(err)
	}
	var back roundRec
	if err := decode("round", []byte("r1"), b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.domain(); got.SlotMinutes != 15 || got.SlotCapacity != 3 {
		t.Errorf("slots after a round trip: %d minutes, capacity %d; want 15, 3", got.SlotMinutes, got.SlotCapacity)
	}
}

// TestRoundRecordBeforeHealthRules reads a gated round as files written
// before rounds held their own health rules hold it: no healthRules, read
// as nil (the default rules), the gate kept. Rules written now come back
// as written, a colour that may not reserve with no fulfilments (not nil).
func TestRoundRecordBeforeHealthRules(t *testing.T) {
	old := []byte(`{"id":"r1","name":"Masks","sku":"MASK_ADULT","perPerson":5,"mode":"FIRST_COME",` +
		`"fulfilments":["PICKUP","DELIVERY"],"eligibility":{},"healthGate":true,` +
		`"opens":"2020-02-14T09:00:00Z","closes":"2020-02-15T09:00:00Z","maxK":3,"pickupWindowNs":86400000000000,` +
		`"slotMinutes":60,"slotCapacity":20,"status":"OPEN","createdAt":"2020-02-14T09:00:00Z","updatedAt":"2020-02-14T09:00:00Z"}`)
	var rec roundRec
	if err := decode("round", []byte("r1"), old, &rec); err != nil {
		t.Fatal(err)
	}
	r := rec.domain()
	if r.HealthRules != nil || !r.HealthGate || r.SlotMinutes != 60 {
		t.Fatalf("old round = %+v, want the gate, no rules of its own and the rest as written", r)
	}
	// Written back unchanged, it still has no rules.
	b, err := encode("round", roundToRec(r))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("healthRules")) {
		t.Errorf("a round without rules is written with them: %s", b)
	}

	tests := []struct {
		name string
		give []hub.HealthRule
	}{
		{"default", []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{hub.Delivery}, Reason: "nobody unwell queues at a pharmacy"},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{hub.Delivery}, Reason: "nobody unwell queues at a pharmacy"},
		}},
		{"refused", []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{hub.Pickup}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{hub.Pickup, hub.Delivery}},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{}, Reason: "your committee brings it: call 1999"},
		}},
		{"all refused", []hub.HealthRule{
			{Colour: hub.Green, Fulfilments: []hub.Fulfilment{}},
			{Colour: hub.Yellow, Fulfilments: []hub.Fulfilment{}},
			{Colour: hub.Red, Fulfilments: []hub.Fulfilment{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.HealthRules = tt.give
			b, err := encode("round", roundToRec(r))
			if err != nil {
				t.Fatal(err)
			}
			var back roundRec
			if err := decode("round", []byte("r1"), b, &back); err != nil {
				t.Fatal(err)
			}
			if got := back.domain().HealthRules; !reflect.DeepEqual(got, tt.give) {
				t.Errorf("rules after a round trip:\n got %#v\nwant %#v", got, tt.give)
			}
		})
	}
}
