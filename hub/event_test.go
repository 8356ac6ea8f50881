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
	if len(hub.EventKinds()) != 10 {
		t.Errorf("%d kinds, want 10", len(hub.EventKinds()))
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
		{"no kind", hub.Event{}, false},
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
