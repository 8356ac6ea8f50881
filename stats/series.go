package stats

import (
	"time"

	"github.com/gridhub/gridhub/hub"
)

// MaxHours bounds the hourly points kept of each district: 30 days.
const MaxHours = 720

// Point is a district's totals at the end of one hour (At, on the hour).
// Stock, Demand, Allocations and Fulfilled are of one supply or summed
// over every supply; RiskCells counts the base-resolution cells under
// some risk area in force.
type Point struct {
	At          time.Time
	Stock       int
	Demand      int
	Allocations int
	Fulfilled   int
	Green       int
	Yellow      int
	Red         int
	RiskCells   int
}

// hourPoint is a point as kept: every supply apart.
type hourPoint struct {
	sku       [numSKUs][numFields - 1]int64 // stock, demand, allocations, fulfilled
	colours   [3]int64
	riskCells int64
}

// The fields of hourPoint.sku.
const (
	pStock = iota
	pDemand
	pAllocations
	pFulfilled
)

func pointOf(s *sums) hourPoint {
	var p hourPoint
	for k := range s.sku {
		f := &s.sku[k]
		p.sku[k] = [numFields - 1]int64{f[fStock], f[fReservations] + f[fShortages], f[fAllocations], f[fFulfilled]}
	}
	p.colours = s.colours
	p.riskCells = s.riskCells
	return p
}

// series is a district's hourly points, oldest first: pts[i] is the point
// of hour last-len(pts)+1+i. Hours are counted from the Unix epoch.
type series struct {
	last int64 // hour of the newest point, or before the first one is taken
	pts  []hourPoint
}

// fill records p as the point of every hour after the newest one up to
// h, keeping at most MaxHours.
func (s *series) fill(h int64, p hourPoint) {
	if h <= s.last {
		return
	}
	n := h - s.last
	if n >= MaxHours {
		s.pts = s.pts[:0]
		n = MaxHours
	}
	for range n {
		if len(s.pts) == MaxHours {
			copy(s.pts, s.pts[1:])
			s.pts = s.pts[:MaxHours-1]
		}
		s.pts = append(s.pts, p)
	}
	s.last = h
}

func hourOf(t time.Time) int64 {
	u := t.Unix()
	h := u / 3600
	if u < 0 && u%3600 != 0 {
		h--
	}
	return h
}

func hourStart(h int64) time.Time { return time.Unix(h*3600, 0).UTC() }

// roll takes the points of every hour ended up to hour h, from the
// counters as they are: no event of those hours is left to come, since
// Observe rolls before it applies an event of a later hour.
func (t *Tally) roll(h int64) {
	t.rollMu.Lock()
	defer t.rollMu.Unlock()
	if h <= t.rolled {
		return
	}
	t.dmu.RLock()
	defer t.dmu.RUnlock()
	for _, d := range t.districts {
		if d.view == nil || d.hist.last >= h {
			continue
		}
		s := d.view.total()
		d.hist.fill(h, pointOf(&s))
	}
	t.rolled = h
}

// Series returns district d's hourly totals for the last hours hours (1
// to MaxHours), oldest first, of one supply when sku is not "": one point
// on each hour, the last at the start of the hour in progress, and then
// one more, the totals now (At is the tally's clock), so that a chart
// always ends at the present. Hours before the tally knew the district
// (Load rebuilds what the records allow) are left out, so there may be
// fewer hourly points.
func (t *Tally) Series(d *hub.District, hours int, sku hub.SKU) ([]Point, error) {
	if hours < 1 || hours > MaxHours {
		return nil, hub.Errorf(hub.EINVALID, "hours %d is outside [1, %d]", hours, MaxHours)
	}
	_, k, err := Query{SKU: sku}.check()
	if err != nil {
		return nil, err
	}
	v, err := t.viewOf(d)
	if err != nil {
		return nil, err
	}
	now := t.now()
	current := v.total()
	cp := pointOf(&current)
	if h := hourOf(now); h > t.rolledHour() {
		t.roll(h)
	}
	t.rollMu.RLock()
	defer t.rollMu.RUnlock()
	t.dmu.RLock()
	dist := t.districts[d.ID]
	t.dmu.RUnlock()
	if dist == nil {
		return []Point{cp.point(now.UTC(), k)}, nil
	}
	pts := dist.hist.pts
	if len(pts) > hours {
		pts = pts[len(pts)-hours:]
	}
	first := dist.hist.last - int64(len(pts)) + 1
	out := make([]Point, len(pts), len(pts)+1)
	for i := range pts {
		out[i] = pts[i].point(hourStart(first+int64(i)), k)
	}
	return append(out, cp.point(now.UTC(), k)), nil
}

func (t *Tally) rolledHour() int64 {
	t.rollMu.RLock()
	defer t.rollMu.RUnlock()
	return t.rolled
}

func (p *hourPoint) point(at time.Time, k int) Point {
	var f [numFields - 1]int64
	if k >= 0 {
		f = p.sku[k]
	} else {
		for i := range p.sku {
			for j := range f {
				f[j] += p.sku[i][j]
			}
		}
	}
	return Point{
		At: at, Stock: int(f[pStock]), Demand: int(f[pDemand]), Allocations: int(f[pAllocations]), Fulfilled: int(f[pFulfilled]),
		Green: int(p.colours[0]), Yellow: int(p.colours[1]), Red: int(p.colours[2]), RiskCells: int(p.riskCells),
	}
}
