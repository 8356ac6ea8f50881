package mongobus

import "time"

// replay follows the events a restarted hub's change stream delivers
// again from its saved resume token: events stored before the bus opened
// (the up to a second before the token was saved, and what was published
// while the hub was down). They reach the hub's subscriptions as any
// other (delivery is at least once across a restart), but the hub's views
// were read from the store, which already holds their effects: so once
// the stream has delivered a run of them and stands idle, the bus says so
// (Options.OnReplayed) and the hub reads its views afresh.
//
// It is used by the watcher's goroutine only.
type replay struct {
	opened time.Time // when the bus opened; zero: nothing to follow
	n      int       // events stored before opened, delivered since the last report
}

// delivered notes an event stored at stored as it is delivered.
func (r *replay) delivered(stored time.Time) {
	if r.opened.IsZero() {
		return
	}
	if stored.Before(r.opened) {
		r.n++
		return
	}
	// An event stored after the bus opened: the stream is past the
	// replay, save for events of hubs whose clocks run behind, which the
	// report of the run still counts.
	if r.n == 0 {
		r.opened = time.Time{}
	}
}

// idle is called when the stream has nothing more to deliver for now:
// it returns how many replayed events were delivered since the last
// report (0: nothing to report), and stops following once the stream is
// past the replay.
func (r *replay) idle() int {
	n := r.n
	r.n = 0
	return n
}
