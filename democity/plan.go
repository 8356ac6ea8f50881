package democity

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// Separate random streams per purpose, so that changing how many
// residents are asked for changes nothing else, and the first residents of
// a larger run are those of a smaller one.
const (
	streamPharmacies = iota + 1
	streamCheckpoints
	streamDensity
	streamResidents
)

// plan is everything a demo writes, but the residents, which are drawn
// while writing.
type plan struct {
	prefix      string // of every ID: "tpe" or "tw"
	districts   []district
	committees  []city.CommitteeInput
	pharmacies  []city.PharmacyInput
	real        int // real pharmacies among them
	checkpoints []city.CheckpointInput
	homes       []home // cells people live in, with cumulative weights
	weight      uint64 // total weight of the homes
	cells       int    // base cells of all districts
}

type district struct {
	in     city.DistrictInput
	place  string // for addresses: "臺北市中正區"
	letter byte   // ID number letter of most of its residents
}

// home is a cell where residents may live.
type home struct {
	cell     hub.Cell
	district int    // index in plan.districts
	cum      uint64 // cumulative weight up to and including this cell
}

// directions name the district lying in each of eight compass directions
// from Taipei Main Station (north first, clockwise), after the real
// district there.
var directions = []struct {
	name, place string
	letter      byte
}{
	{"Shilin", "臺北市士林區", 'A'},
	{"Neihu", "臺北市內湖區", 'A'},
	{"Xinyi", "臺北市信義區", 'A'},
	{"Wenshan", "臺北市文山區", 'A'},
	{"Zhonghe", "新北市中和區", 'F'},
	{"Banqiao", "新北市板橋區", 'F'},
	{"Sanchong", "新北市三重區", 'F'},
	{"Luzhou", "新北市蘆洲區", 'F'},
}

// taipeiPlan lays out the default demo: seven resolution-6 districts
// around Taipei Main Station, a committee per resolution-8 cell, the real
// pharmacies inside plus synthetic ones, a few checkpoints per district.
func taipeiPlan(seed uint64) (*plan, error) {
	center := hub.Point{Lat: CenterLat, Lng: CenterLng}
	c6, err := grid.CellAt(center, TaipeiDistrictResolution)
	if err != nil {
		return nil, err
	}
	ring, err := grid.Ring(c6, 1)
	if err != nil {
		return nil, err
	}
	o, err := grid.Center(c6)
	if err != nil {
		return nil, err
	}
	// The ring in compass order from north, each named by its direction.
	type around struct {
		cell    hub.Cell
		bearing float64
	}
	var arounds []around
	for _, c := range ring {
		p, err := grid.Center(c)
		if err != nil {
			return nil, err
		}
		dx := (p.Lng - o.Lng) * math.Cos(o.Lat*math.Pi/180)
		b := math.Atan2(dx, p.Lat-o.Lat) * 180 / math.Pi
		arounds = append(arounds, around{c, math.Mod(b+360, 360)})
	}
	slices.SortFunc(arounds, func(a, b around) int { return cmp.Compare(a.bearing, b.bearing) })

	prefix, dcode := Taipei.prefixes()
	p := &plan{prefix: prefix}
	var c6s []hub.Cell // of each district
	add := func(cell hub.Cell, name, place string, letter byte) error {
		c6s = append(c6s, cell)
		code := fmt.Sprintf("%s%02d", dcode, len(p.districts)+1)
		cells, err := grid.Children(cell, grid.BaseResolution)
		if err != nil {
			return err
		}
		p.districts = append(p.districts, district{
			in:    city.DistrictInput{ID: p.prefix + "-" + code, Code: code, Name: name + " District", Area: city.Area{Cells: cells}},
			place: place, letter: letter,
		})
		p.cells += len(cells)
		return nil
	}
	if err := add(c6, "Zhongzheng", "臺北市中正區", 'A'); err != nil {
		return nil, err
	}
	for _, a := range arounds {
		d := directions[int(a.bearing+22.5)/45%8]
		if err := add(a.cell, d.name, d.place, d.letter); err != nil {
			return nil, err
		}
	}

	// A committee per resolution-8 cell.
	for i, d := range p.districts {
		c8s, err := grid.Children(c6s[i], TaipeiCommitteeResolution)
		if err != nil {
			return nil, err
		}
		for j, c8 := range c8s {
			if err := p.addCommittee(i, j+1, c8, d.in.Name); err != nil {
				return nil, err
			}
		}
	}

	// The real pharmacies inside, then synthetic ones in committees
	// without one, to about one pharmacy per 3.5 committees.
	reals, err := realPharmacies()
	if err != nil {
		return nil, err
	}
	inDistrict := p.districtIndex()
	has := map[string]bool{} // committee ID -> holds a pharmacy
	committeeOf := p.committeeIndex()
	rng := rand.New(rand.NewPCG(seed, streamPharmacies))
	for _, r := range reals {
		if _, ok := inDistrict[r.cell]; !ok {
			continue
		}
		// A mask the September 2020 file shows none of starts with a
		// synthetic quantity, so every pharmacy has masks to hand out.
		if r.in.Stock[hub.MaskAdult] == 0 {
			r.in.Stock[hub.MaskAdult] = 100 + 50*rng.IntN(37)
		}
		if r.in.Stock[hub.MaskChild] == 0 {
			r.in.Stock[hub.MaskChild] = 50 + 50*rng.IntN(10)
		}
		p.pharmacies = append(p.pharmacies, r.in)
		has[committeeOf[r.cell]] = true
	}
	p.real = len(p.pharmacies)
	want := (len(p.committees)*2 + 6) / 7 // committees / 3.5, rounded
	order := rng.Perm(len(p.committees))
	n := 0
	for _, k := range order {
		if len(p.pharmacies) >= want {
			break
		}
		c := p.committees[k]
		if has[c.ID] {
			continue
		}
		n++
		at := pointIn(rng, pick(rng, c.Area.Cells))
		p.pharmacies = append(p.pharmacies, city.PharmacyInput{
			ID:       fmt.Sprintf("%s-p%03d", p.prefix, n),
			Name:     pharmacyName(rng),
			Phone:    landline(rng),
			Address:  address(rng, p.districts[inDistrict[c.Area.Cells[0]]].place, false),
			Location: at,
			Hours:    hours(rng),
			Stock:    map[hub.SKU]int{hub.MaskAdult: 100 + 50*rng.IntN(37), hub.MaskChild: 50 + 50*rng.IntN(10)},
		})
	}

	p.weigh(seed, center)
	// A few checkpoints per district: a housing estate, a station, a
	// market and one more, where people are.
	rng = rand.New(rand.NewPCG(seed, streamCheckpoints))
	extra := []string{"SCHOOL", "OFFICE", "HOSPITAL", "TRANSPORT"}
	for i := range p.districts {
		for j, kind := range []string{"HOUSING", "STATION", "MARKET", pick(rng, extra)} {
			name := p.districts[i].in.Name + " " + kindName[kind]
			p.addCheckpoint(rng, i, fmt.Sprintf("%s-k%02d-%d", p.prefix, i+1, j+1), kind, name)
		}
	}
	return p, nil
}

// taiwanPlan lays out the Taiwan demo: every real pharmacy; a district per
// resolution-5 cell holding one (its resolution-9 children as its area); a
// committee per resolution-7 cell holding one; a checkpoint per district.
func taiwanPlan(seed uint64) (*plan, error) {
	reals, err := realPharmacies()
	if err != nil {
		return nil, err
	}
	prefix, dcode := Taiwan.prefixes()
	p := &plan{prefix: prefix, real: len(reals)}
	byParent := map[hub.Cell][]realPharmacy{}
	var parents []hub.Cell
	for _, r := range reals {
		par, err := grid.Parent(r.cell, TaiwanDistrictResolution)
		if err != nil {
			return nil, err
		}
		if _, ok := byParent[par]; !ok {
			parents = append(parents, par)
		}
		byParent[par] = append(byParent[par], r)
		p.pharmacies = append(p.pharmacies, r.in)
	}
	slices.Sort(parents)
	for i, par := range parents {
		rs := byParent[par]
		county, town := majority(rs)
		code := fmt.Sprintf("%s%02d", dcode, i+1)
		cells, err := grid.Children(par, grid.BaseResolution)
		if err != nil {
			return nil, err
		}
		p.districts = append(p.districts, district{
			in:    city.DistrictInput{ID: p.prefix + "-" + code, Code: code, Name: county + " " + code, Area: city.Area{Cells: cells}},
			place: county + town, letter: countyLetter(county),
		})
		p.cells += len(cells)
		var c7s []hub.Cell
		for _, r := range rs {
			c7, err := grid.Parent(r.cell, TaiwanCommitteeResolution)
			if err != nil {
				return nil, err
			}
			c7s = append(c7s, c7)
		}
		slices.Sort(c7s)
		for j, c7 := range slices.Compact(c7s) {
			if err := p.addCommittee(i, j+1, c7, p.districts[i].in.Name); err != nil {
				return nil, err
			}
		}
	}
	p.weigh(seed, hub.Point{Lat: CenterLat, Lng: CenterLng})
	rng := rand.New(rand.NewPCG(seed, streamCheckpoints))
	kinds := []string{"STATION", "HOSPITAL", "MARKET", "HOUSING", "SCHOOL", "OFFICE", "TRANSPORT"}
	for i := range p.districts {
		kind := kinds[i%len(kinds)]
		p.addCheckpoint(rng, i, fmt.Sprintf("%s-k%02d", p.prefix, i+1), kind, p.districts[i].in.Name+" "+kindName[kind])
	}
	return p, nil
}

// majority returns the county and town most of the pharmacies are in
// (ties to the first in ID order).
func majority(rs []realPharmacy) (county, town string) {
	counts := map[string]int{}
	best := 0
	for _, r := range rs {
		k := r.county + "\x00" + r.town
		counts[k]++
		if counts[k] > best {
			best, county, town = counts[k], r.county, r.town
		}
	}
	return county, town
}

// countyLetter is the ID number letter of a county (Taiwan's current
// letter table).
func countyLetter(county string) byte {
	letters := map[string]byte{
		"臺北市": 'A', "臺中市": 'B', "基隆市": 'C', "臺南市": 'D', "高雄市": 'E', "新北市": 'F', "宜蘭縣": 'G',
		"桃園市": 'H', "嘉義市": 'I', "新竹縣": 'J', "苗栗縣": 'K', "南投縣": 'M', "彰化縣": 'N', "新竹市": 'O',
		"雲林縣": 'P', "嘉義縣": 'Q', "屏東縣": 'T', "花蓮縣": 'U', "臺東縣": 'V', "金門縣": 'W', "澎湖縣": 'X',
		"連江縣": 'Z',
	}
	if l, ok := letters[county]; ok {
		return l
	}
	return 'A'
}

// addCommittee adds committee number n of district i, whose area is the
// base-resolution children of cell.
func (p *plan) addCommittee(i, n int, cell hub.Cell, districtName string) error {
	cells, err := grid.Children(cell, grid.BaseResolution)
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%s%03d", p.districts[i].in.Code, n)
	p.committees = append(p.committees, city.CommitteeInput{
		ID: p.prefix + "-" + code, Code: code, Name: fmt.Sprintf("Committee %03d of %s", n, districtName),
		DistrictID: p.districts[i].in.ID, Area: city.Area{Cells: cells},
	})
	return nil
}

// districtIndex maps every base cell of the districts to its district's
// index.
func (p *plan) districtIndex() map[hub.Cell]int {
	m := make(map[hub.Cell]int, p.cells)
	for i, d := range p.districts {
		for _, c := range d.in.Area.Cells {
			m[c] = i
		}
	}
	return m
}

func (p *plan) committeeIndex() map[hub.Cell]string {
	m := map[hub.Cell]string{}
	for _, c := range p.committees {
		for _, cell := range c.Area.Cells {
			m[cell] = c.ID
		}
	}
	return m
}

// weigh gives every committee cell a weight, the share of residents who
// live there: about one cell in eight is empty (a park, the river, a rail
// yard), one in twenty-five is a dense estate, the rest ordinary, and
// density falls with the distance from the centre. Integer weights keep
// the draw the same on every platform.
func (p *plan) weigh(seed uint64, center hub.Point) {
	rng := rand.New(rand.NewPCG(seed, streamDensity))
	origin, _ := grid.CellAt(center, grid.BaseResolution)
	inDistrict := p.districtIndex()
	for _, c := range p.committees {
		for _, cell := range c.Area.Cells {
			var w uint64
			switch x := rng.IntN(100); {
			case x < 12:
				w = 0
			case x < 16:
				w = uint64(60 + rng.IntN(120))
			default:
				w = uint64(4 + rng.IntN(16))
			}
			steps, err := grid.Distance(origin, cell)
			if err != nil || steps > 64 {
				steps = 64 // far, or too far for H3 to count
			}
			w *= uint64(max(1, 40/(8+steps/2)))
			p.weight += w
			p.homes = append(p.homes, home{cell: cell, district: inDistrict[cell], cum: p.weight})
		}
	}
}

// drawHome returns a cell drawn by weight.
func (p *plan) drawHome(rng *rand.Rand) home {
	x := rng.Uint64N(p.weight)
	i, _ := slices.BinarySearchFunc(p.homes, x, func(h home, x uint64) int {
		if h.cum <= x {
			return -1
		}
		return 1
	})
	return p.homes[i]
}

// addCheckpoint adds a checkpoint in district i, in a cell where people
// live.
func (p *plan) addCheckpoint(rng *rand.Rand, i int, id, kind, name string) {
	var lived []hub.Cell
	var prev uint64
	for _, h := range p.homes {
		if h.district == i && h.cum > prev {
			lived = append(lived, h.cell)
		}
		prev = h.cum
	}
	if len(lived) == 0 {
		lived = p.districts[i].in.Area.Cells
	}
	p.checkpoints = append(p.checkpoints, city.CheckpointInput{ID: id, Name: name, Kind: kind, Location: pointIn(rng, pick(rng, lived))})
}

var kindName = map[string]string{
	"HOUSING": "Housing Estate Gate", "STATION": "MRT Station", "MARKET": "Market", "SCHOOL": "School",
	"OFFICE": "Office Tower", "HOSPITAL": "Hospital", "TRANSPORT": "Bus Terminal", "OTHER": "Checkpoint",
}

// pointIn returns a random point inside cell, rounded to 1e-6 degrees
// (about 0.1 m): uniform over the cell's bounding box, kept when it falls
// in the cell.
func pointIn(rng *rand.Rand, cell hub.Cell) hub.Point {
	b, err := grid.Boundary(cell)
	if err != nil || len(b) == 0 {
		c, _ := grid.Center(cell)
		return c
	}
	lo, hi := b[0], b[0]
	for _, v := range b[1:] {
		lo.Lat, lo.Lng = min(lo.Lat, v.Lat), min(lo.Lng, v.Lng)
		hi.Lat, hi.Lng = max(hi.Lat, v.Lat), max(hi.Lng, v.Lng)
	}
	for range 64 {
		// The conversions keep the arithmetic from being fused, so the
		// result is the same on every platform.
		p := hub.Point{
			Lat: round6(lo.Lat + float64(rng.Float64()*(hi.Lat-lo.Lat))),
			Lng: round6(lo.Lng + float64(rng.Float64()*(hi.Lng-lo.Lng))),
		}
		if c, err := grid.CellAt(p, grid.BaseResolution); err == nil && c == cell {
			return p
		}
	}
	c, _ := grid.Center(cell)
	return hub.Point{Lat: round6(c.Lat), Lng: round6(c.Lng)}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
