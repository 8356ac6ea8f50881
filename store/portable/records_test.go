package portable

import (
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
