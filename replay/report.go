package replay

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/importer"
)

// Tally counts the changes of one SKU.
type Tally struct {
	Increases int // of all institutions
	Decreases int
	Restocks  int // increases of placed pharmacies: each a restock written and published
	Sales     int // decreases of placed pharmacies: each a sale written and published
	UnitsIn   int // units of all increases
	UnitsOut  int // units of all decreases
	// AfterAbsence counts the changes (of Increases and Decreases) from
	// a figure older than the previous snapshot: the institution was
	// missing in between.
	AfterAbsence int
}

// Report tells what a replay did.
type Report struct {
	Snapshots   int
	First, Last time.Time // feed time of the first and last snapshot
	Rows        int       // rows replayed
	Speed       float64

	// Pharmacies is the import of the GeoJSON.
	Pharmacies *importer.Report
	// Institutions of the feed replayed, Placed of them with a pharmacy
	// on the grid, Unplaced without; Absent counts the placed
	// pharmacies the feed replayed does not list.
	Institutions, Placed, Unplaced, Absent int
	// Corrections counts the ledger entries that set placed pharmacies'
	// first stock (no event).
	Corrections int

	SKUs []hub.SKU // the order of Tallies
	// Tallies counts the changes per SKU.
	Tallies []Tally

	// Events counts the events published by kind.
	Events map[hub.EventKind]int
	// Committees subscribed, Alerted of them received at least one
	// alert; Alerts delivered to them; Dropped from slow ones' queues.
	Committees, Alerted int
	Alerts, Dropped     int64

	// Elapsed runs from the first snapshot's writes to the last alert.
	Elapsed time.Duration
}

// Tally returns the tally of sku.
func (r *Report) Tally(sku hub.SKU) Tally {
	for i, s := range r.SKUs {
		if s == sku {
			return r.Tallies[i]
		}
	}
	return Tally{}
}

// EventsPublished returns the events published, of every kind.
func (r *Report) EventsPublished() int {
	n := 0
	for _, c := range r.Events {
		n += c
	}
	return n
}

// EventsPerSecond returns the events published per second of Elapsed.
func (r *Report) EventsPerSecond() float64 { return perSecond(float64(r.EventsPublished()), r.Elapsed) }

// AlertsPerSecond returns the alerts delivered per second of Elapsed: the
// fan-out rate.
func (r *Report) AlertsPerSecond() float64 { return perSecond(float64(r.Alerts), r.Elapsed) }

func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	speed := "as fast as possible"
	if r.Speed > 0 {
		speed = strconv.FormatFloat(r.Speed, 'g', -1, 64) + "x real time"
	}
	fmt.Fprintf(w, "replayed %d snapshots of %s, %s to %s Taiwan time, %s\n",
		r.Snapshots, r.First.Format(time.DateOnly), r.First.Format(time.TimeOnly), r.Last.Format(time.TimeOnly), speed)
	if p := r.Pharmacies; p != nil {
		fmt.Fprintf(w, "pharmacies file: %d read, %d placed on the grid, %d rejected\n", p.Read, p.Imported, p.Rejected)
	}
	fmt.Fprintf(w, "institutions: %s (%s rows): %s placed, %s unplaced (no location: stock counted, no event, no alert); %s located pharmacies not in the feed\n",
		thousands(int64(r.Institutions)), thousands(int64(r.Rows)), thousands(int64(r.Placed)), thousands(int64(r.Unplaced)), thousands(int64(r.Absent)))
	fmt.Fprintf(w, "first stock of the placed pharmacies set by %s ledger corrections, no events\n", thousands(int64(r.Corrections)))
	fmt.Fprintf(w, "%-12s %12s %12s %12s %12s %12s %12s %14s\n", "supply", "increases", "restocks", "decreases", "sales", "units in", "units out", "after absence")
	for i, sku := range r.SKUs {
		t := r.Tallies[i]
		fmt.Fprintf(w, "%-12s %12s %12s %12s %12s %12s %12s %14s\n", sku,
			thousands(int64(t.Increases)), thousands(int64(t.Restocks)), thousands(int64(t.Decreases)), thousands(int64(t.Sales)),
			thousands(int64(t.UnitsIn)), thousands(int64(t.UnitsOut)), thousands(int64(t.AfterAbsence)))
	}
	fmt.Fprintf(w, "events published: %s (%s RESTOCK, %s STOCK_CHANGED)\n", thousands(int64(r.EventsPublished())),
		thousands(int64(r.Events[hub.EventRestock])), thousands(int64(r.Events[hub.EventStockChanged])))
	if r.Committees > 0 {
		fmt.Fprintf(w, "committees subscribed: %s; alerts delivered: %s to %s committees, %s dropped\n",
			thousands(int64(r.Committees)), thousands(r.Alerts), thousands(int64(r.Alerted)), thousands(r.Dropped))
	}
	fmt.Fprintf(w, "elapsed %s: %.0f events/s", r.Elapsed.Round(time.Millisecond), r.EventsPerSecond())
	if r.Committees > 0 {
		fmt.Fprintf(w, ", %.0f alerts/s delivered", r.AlertsPerSecond())
	}
	fmt.Fprintln(w)
}

// thousands formats n with commas between thousands: 21,119.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
