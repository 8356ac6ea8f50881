package mongobus

import (
	"testing"
	"time"
)

// TestReplay: a restarted hub's stream delivers events stored before the
// bus opened, then new ones, idle now and then; each run of replayed
// events is reported once, at the idle after it, and nothing after the
// stream passed the replay.
func TestReplay(t *testing.T) {
	opened := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	before, after := opened.Add(-time.Second), opened.Add(time.Second)
	tests := []struct {
		name   string
		opened time.Time
		give   []any // a time.Time: an event stored then; "idle": the stream idles
		want   []int // the reports of the idles, in order
	}{
		{"no saved token", time.Time{}, []any{before, "idle", after, "idle"}, []int{0, 0}},
		{"nothing replayed", opened, []any{"idle", after, after, "idle", before, "idle"}, []int{0, 0, 0}},
		{"one run", opened, []any{"idle", before, before, before, "idle", after, "idle"}, []int{0, 3, 0}},
		{"replay in two batches", opened, []any{before, before, "idle", before, "idle", after, "idle"}, []int{2, 1, 0}},
		// Past the replay, an event stored "before" is another hub's
		// whose clock runs behind: new, not replayed.
		{"new events among the replay", opened, []any{before, after, before, "idle", after, before, "idle"}, []int{2, 0}},
		{"past the replay", opened, []any{before, "idle", after, before, "idle"}, []int{1, 0}},
		{"past the replay, then idle", opened, []any{after, "idle", before, "idle"}, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := replay{opened: tt.opened}
			var got []int
			for _, g := range tt.give {
				switch g := g.(type) {
				case time.Time:
					r.delivered(g)
				case string:
					got = append(got, r.idle())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("reports %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("reports %v, want %v", got, tt.want)
				}
			}
		})
	}
}
