package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// scanLoader is a store that loads scans in bulk (portable.Store.LoadScans).
type scanLoader interface {
	LoadScans(ctx context.Context, n int, scan func(i int) *hub.Scan) error
}

// testLoadScans loads scans in bulk, in no order, and wants the store to
// answer for them exactly as for the same scans recorded by RecordScans;
// a batch it refuses writes nothing.
func testLoadScans(t *testing.T, h Harness) {
	ctx := t.Context()
	recorded := h.Open(t)
	if _, ok := recorded.(scanLoader); !ok {
		t.Skipf("%T does not load scans in bulk", recorded)
	}
	codesSeed(t, recorded)
	all := sampleScans(true)
	recordScans(t, recorded, all)

	loaded := h.Open(t)
	loader := loaded.(scanLoader)
	codesSeed(t, loaded)
	shuffled := append([]*hub.Scan(nil), all...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	calls := 0
	must(t, loader.LoadScans(ctx, len(shuffled), func(i int) *hub.Scan { calls++; return shuffled[i] }), "LoadScans")
	if calls < len(all) {
		t.Fatalf("LoadScans asked for %d scans of %d", calls, len(all))
	}
	byPerson, byCell := storedScans(t, loaded)
	wantPerson, wantCell := storedScans(t, recorded)
	same(t, "scans by person", byPerson, wantPerson)
	same(t, "scans by cell", byCell, wantCell)
	for _, r := range []string{"r1", "r2", "r3"} {
		got, err := loaded.Trajectory(ctx, r, at(10), 0)
		must(t, err, "Trajectory")
		want, err := recorded.Trajectory(ctx, r, at(10), 0)
		must(t, err, "Trajectory")
		same(t, "trajectory of "+r, got, want)
	}
	for _, cell := range []hub.Cell{cellA, cellB, cellC} {
		got, err := loaded.ContactsIn(ctx, []hub.Cell{cell}, at(5), at(50))
		must(t, err, "ContactsIn")
		want, err := recorded.ContactsIn(ctx, []hub.Cell{cell}, at(5), at(50))
		must(t, err, "ContactsIn")
		same(t, fmt.Sprintf("scans in cell %s", cell), got, want)
	}
	// A loaded scan is recorded: RecordScans takes it again as it is and
	// refuses other content under its ID; the sweep finds it.
	must(t, loaded.RecordScans(ctx, all[7]), "RecordScans of a loaded scan")
	changed := *all[7]
	changed.Temperature = 39
	wantCode(t, loaded.RecordScans(ctx, &changed), hub.ECONFLICT, "RecordScans of a loaded ID with other content")
	got, _ := sweepAll(t, loaded, hub.RecordScans, at(30), at(100), 50)
	want, _ := sweepAll(t, recorded, hub.RecordScans, at(30), at(100), 50)
	same(t, "swept of the loaded scans", got, want)

	// Refused batches write nothing.
	fresh := func(id string, n int) *hub.Scan { return scan(id, "r1", cellA, n) }
	noCheckpoint := fresh("new-2", 1)
	noCheckpoint.CheckpointID = "k9"
	noID := fresh("", 1)
	tests := []struct {
		name string
		give []*hub.Scan
		want string
	}{
		{"an ID repeated", []*hub.Scan{fresh("new-1", 1), fresh("new-1", 2)}, hub.ECONFLICT},
		{"an ID already recorded", []*hub.Scan{fresh("new-1", 1), fresh(all[len(all)-1].ID, 2)}, hub.ECONFLICT},
		{"an unknown checkpoint", []*hub.Scan{fresh("new-1", 1), noCheckpoint}, hub.ENOTFOUND},
		{"a scan with no ID", []*hub.Scan{fresh("new-1", 1), noID}, hub.EINVALID},
		{"a missing scan", []*hub.Scan{fresh("new-1", 1), nil}, hub.EINVALID},
	}
	before, _ := storedScans(t, loaded)
	for _, tt := range tests {
		err := loader.LoadScans(ctx, len(tt.give), func(i int) *hub.Scan { return tt.give[i] })
		wantCode(t, err, tt.want, "LoadScans of "+tt.name)
		after, _ := storedScans(t, loaded)
		same(t, "scans after a refused load of "+tt.name, after, before)
	}
	must(t, loader.LoadScans(ctx, 0, nil), "LoadScans of nothing")
}
