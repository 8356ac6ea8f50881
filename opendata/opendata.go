// Package opendata renders the public facts of the hub's pharmacies in the
// formats that 2020's community mask maps already read: the NHIA
// maskdata.csv feed of Taiwan (健保特約機構口罩剩餘數量明細清單) and the
// community map's GeoJSON (kiang/pharmacies points.json). It knows nothing
// of HTTP: a Feed renders each format once per change and hands out the
// cached body with a strong validator.
//
// Only public facts leave: a pharmacy's code, name, address, phone, place,
// opening periods and stock. Nothing of residents, reservations,
// allocations or pickups is read.
//
// # maskdata.csv
//
// Exactly the feed's layout: UTF-8 with a byte-order mark, the header
//
//	醫事機構代碼,醫事機構名稱,醫事機構地址,醫事機構電話,成人口罩剩餘數,兒童口罩剩餘數,來源資料時間
//
// lines ended by CRLF (as the feed's later 2020-02-14 versions are; its
// first ones used LF), no quoting, one row per pharmacy in code order.
// The stock columns are MASK_ADULT and MASK_CHILD on hand. The time
// column (YYYY/MM/DD HH:MM:SS, Taiwan time, UTC+8) is when the row's
// figures last changed: the pharmacy's last stock change (its ledger's
// last entry), so an unchanged row keeps its time and an unchanged feed
// keeps its body and its ETag. (The NHIA feed stamps every row with the
// time it was extracted; with rows that only change when their figures
// do, the per-row time says how fresh each figure is.) The feed has no
// quoting, so free text is made safe the way the feed itself writes it: an
// ASCII comma becomes a full-width comma (，), a double quote a full-width
// one (＂), and any control character a space.
//
// # pharmacies.geojson
//
// A FeatureCollection of Point features ([lng, lat]) with the community
// file's property names: id, name, phone, address, mask_adult,
// mask_child, updated (the CSV's time), available (the opening periods in
// words, as the community file writes them), note, custom_note, website,
// county, town, cunli (empty: the hub does not keep them),
// service_periods (the 21 Y/N characters, Y closed), and stock, every
// supply's units on hand by SKU.
package opendata

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
)

// Header is the first line of maskdata.csv, after the byte-order mark.
const Header = "醫事機構代碼,醫事機構名稱,醫事機構地址,醫事機構電話,成人口罩剩餘數,兒童口罩剩餘數,來源資料時間"

// BOM is UTF-8's byte-order mark, which the feed starts with.
const BOM = "\uFEFF"

// TimeLayout is the feed's time format, in Taiwan time (Taipei).
const TimeLayout = "2006/01/02 15:04:05"

// Taipei is Taiwan time (UTC+8, no daylight saving), fixed so that no
// time zone database is needed.
var taipei = time.FixedZone("CST", 8*3600)

// Taipei returns Taiwan's time zone, UTC+8.
func Taipei() *time.Location { return taipei }

// Source is what a Feed reads: the store's pharmacies and their ledgers
// (hub.Store has both).
type Source interface {
	Pharmacies(ctx context.Context) ([]*hub.Pharmacy, error)
	StockLedger(ctx context.Context, pharmacyID string, after uint64, limit int) ([]hub.StockEntry, error)
}

// Body is one rendering of a format: the bytes, their strong ETag and
// when they were rendered.
type Body struct {
	Bytes []byte
	ETag  string // quoted, strong: a hash of Bytes
	Built time.Time
}

// Feed renders the open data of a store and caches it until something
// changes: Changed (fed by the event stream, see Watch) marks it stale,
// and the next read renders it again, once for all readers.
type Feed struct {
	src Source
	now func() time.Time

	dirty atomic.Bool
	// unwatched says no event stream keeps the feed current: it renders
	// on every read.
	unwatched atomic.Bool
	mu        sync.Mutex // guards the fields below; held while rendering
	csv       *Body
	geo       *Body
	// changed is each pharmacy's last stock change as known: from its
	// ledger on first render, then from the events.
	changed map[string]time.Time
	builds  int
}

// New returns a Feed over src; now is its clock (time.Now when nil).
func New(src Source, now func() time.Time) *Feed {
	if now == nil {
		now = time.Now
	}
	f := &Feed{src: src, now: now, changed: map[string]time.Time{}}
	f.dirty.Store(true)
	f.unwatched.Store(true) // until Watch
	return f
}

// Changed tells the feed that a pharmacy's public facts changed at time at
// (its stock, its place or its name); pharmacyID empty means anything may
// have changed (events were missed): every pharmacy's time is read again.
func (f *Feed) Changed(pharmacyID string, at time.Time) {
	f.mu.Lock()
	if pharmacyID == "" {
		clear(f.changed)
	} else if !at.IsZero() && at.After(f.changed[pharmacyID]) {
		f.changed[pharmacyID] = at
	}
	f.mu.Unlock()
	f.dirty.Store(true)
}

// Builds returns how many times the feed rendered its bodies.
func (f *Feed) Builds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.builds
}

// CSV returns maskdata.csv, rendered again only when something changed.
func (f *Feed) CSV(ctx context.Context) (Body, error) {
	if err := f.refresh(ctx); err != nil {
		return Body{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.csv, nil
}

// GeoJSON returns pharmacies.geojson, rendered again only when something
// changed.
func (f *Feed) GeoJSON(ctx context.Context) (Body, error) {
	if err := f.refresh(ctx); err != nil {
		return Body{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.geo, nil
}

// refresh renders both bodies when the feed is stale. The stale mark is
// taken before the store is read, so a change that lands during the read
// marks it stale again.
func (f *Feed) refresh(ctx context.Context) error {
	if !f.dirty.Load() && !f.unwatched.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty.Swap(false) && f.csv != nil && !f.unwatched.Load() {
		return nil // rendered by another reader meanwhile
	}
	ps, err := f.src.Pharmacies(ctx)
	if err != nil {
		f.dirty.Store(true)
		return fmt.Errorf("opendata: read pharmacies: %w", err)
	}
	slices.SortFunc(ps, func(a, b *hub.Pharmacy) int { return strings.Compare(a.ID, b.ID) })
	for _, p := range ps {
		if _, ok := f.changed[p.ID]; ok {
			continue
		}
		at, err := lastChange(ctx, f.src, p)
		if err != nil {
			f.dirty.Store(true)
			return err
		}
		f.changed[p.ID] = at
	}
	now := f.now()
	csv := RenderCSV(ps, f.changed)
	geo, err := RenderGeoJSON(ps, f.changed)
	if err != nil {
		f.dirty.Store(true)
		return err
	}
	f.csv = &Body{Bytes: csv, ETag: etag(csv), Built: now}
	f.geo = &Body{Bytes: geo, ETag: etag(geo), Built: now}
	f.builds++
	return nil
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// lastChange returns when a pharmacy's stock last changed: the time of
// its ledger's last entry, found in a logarithmic number of one-entry
// reads; its UpdatedAt when the ledger is empty.
func lastChange(ctx context.Context, src Source, p *hub.Pharmacy) (time.Time, error) {
	first := func(x uint64) (hub.StockEntry, bool, error) {
		es, err := src.StockLedger(ctx, p.ID, x, 1)
		if err != nil || len(es) == 0 {
			return hub.StockEntry{}, false, err
		}
		return es[0], true, nil
	}
	last, ok, err := first(0)
	if err != nil {
		return time.Time{}, fmt.Errorf("opendata: ledger of %s: %w", p.ID, err)
	}
	if !ok {
		return p.UpdatedAt, nil
	}
	// last is an entry; hi a Seq past which there is none.
	step := uint64(64)
	hi := last.Seq + step
	for {
		e, ok, err := first(hi - 1)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			break
		}
		last, step = e, step*2
		hi = last.Seq + step
	}
	for last.Seq+1 < hi {
		mid := last.Seq + (hi-last.Seq)/2
		e, ok, err := first(mid - 1)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			last = e
		} else {
			hi = mid
		}
	}
	return last.At, nil
}

// Safe makes free text fit an unquoted CSV field as the feed writes it:
// ASCII commas and double quotes become their full-width forms, control
// characters spaces.
func Safe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ',':
			return '，'
		case r == '"':
			return '＂'
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			return ' '
		}
		return r
	}, s)
}

// RenderCSV renders maskdata.csv from pharmacies in code order; changed
// gives each one's time.
func RenderCSV(ps []*hub.Pharmacy, changed map[string]time.Time) []byte {
	var b bytes.Buffer
	b.Grow(64 + 96*len(ps))
	b.WriteString(BOM + Header + "\r\n")
	for _, p := range ps {
		b.WriteString(Safe(p.ID))
		b.WriteByte(',')
		b.WriteString(Safe(p.Name))
		b.WriteByte(',')
		b.WriteString(Safe(p.Address))
		b.WriteByte(',')
		b.WriteString(Safe(p.Phone))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(p.Stock[hub.MaskAdult]))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(p.Stock[hub.MaskChild]))
		b.WriteByte(',')
		b.WriteString(stamp(changed[p.ID]))
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(taipei).Format(TimeLayout)
}

type featureCollection struct {
	Type     string    `json:"type"`
	Features []feature `json:"features"`
}

type feature struct {
	Type       string     `json:"type"`
	Properties properties `json:"properties"`
	Geometry   geometry   `json:"geometry"`
}

type geometry struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

// properties are the community file's, in its order, then stock.
type properties struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Phone          string         `json:"phone"`
	Address        string         `json:"address"`
	MaskAdult      int            `json:"mask_adult"`
	MaskChild      int            `json:"mask_child"`
	Updated        string         `json:"updated"`
	Available      string         `json:"available"`
	Note           string         `json:"note"`
	CustomNote     string         `json:"custom_note"`
	Website        string         `json:"website"`
	County         string         `json:"county"`
	Town           string         `json:"town"`
	Cunli          string         `json:"cunli"`
	ServicePeriods string         `json:"service_periods"`
	Stock          map[string]int `json:"stock"`
}

// RenderGeoJSON renders pharmacies.geojson from pharmacies in code order;
// changed gives each one's time.
func RenderGeoJSON(ps []*hub.Pharmacy, changed map[string]time.Time) ([]byte, error) {
	fc := featureCollection{Type: "FeatureCollection", Features: make([]feature, 0, len(ps))}
	for _, p := range ps {
		stock := make(map[string]int, len(hub.Supplies()))
		for _, s := range hub.Supplies() {
			stock[string(s.SKU)] = p.Stock[s.SKU]
		}
		fc.Features = append(fc.Features, feature{
			Type: "Feature",
			Properties: properties{
				ID: p.ID, Name: p.Name, Phone: p.Phone, Address: p.Address,
				MaskAdult: p.Stock[hub.MaskAdult], MaskChild: p.Stock[hub.MaskChild],
				Updated: stamp(changed[p.ID]), Available: available(p.Hours),
				ServicePeriods: p.Hours, Stock: stock,
			},
			Geometry: geometry{Type: "Point", Coordinates: [2]float64{p.Location.Lng, p.Location.Lat}},
		})
	}
	b, err := json.Marshal(fc)
	if err != nil {
		return nil, fmt.Errorf("opendata: encode GeoJSON: %w", err)
	}
	return b, nil
}

// available writes opening periods in words as the community file does:
// 星期一上午看診、星期二上午休診、... (mornings, then afternoons, then
// evenings, Monday to Sunday); empty when unknown.
func available(hours string) string {
	if len(hours) != 21 {
		return ""
	}
	days := [7]string{"星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"}
	parts := [3]string{"上午", "下午", "晚上"}
	out := make([]string, 0, 21)
	for i := range 21 {
		state := "看診"
		if hours[i] == 'Y' {
			state = "休診"
		}
		out = append(out, days[i%7]+parts[i/7]+state)
	}
	return strings.Join(out, "、")
}

// Watch keeps the feed current from the event stream that every hub
// receives: a stock change, a restock or a pharmacy created or changed
// marks it stale (a stock change also sets its pharmacy's time), and
// missed events mark everything stale. It subscribes before it returns;
// the goroutine it starts ends when ctx ends or the bus closes, after
// which the feed renders on every read, as it does when Watch fails.
func (f *Feed) Watch(ctx context.Context, bus broker.Bus) error {
	sub, err := bus.Subscribe(ctx, broker.Filter{Kinds: []hub.EventKind{
		hub.EventStockChanged, hub.EventRestock, hub.EventPharmacyUpserted,
	}})
	if err != nil {
		return fmt.Errorf("opendata: watch the event stream: %w", err)
	}
	f.unwatched.Store(false)
	go func() {
		defer f.unwatched.Store(true)
		for d := range sub.C() {
			if d.Gap > 0 {
				f.Changed("", time.Time{})
			}
			ev := d.Event
			switch p := ev.Payload.(type) {
			case hub.StockChangedPayload:
				f.Changed(ev.PharmacyID, p.At)
			case hub.PharmacyPayload:
				at := time.Time{}
				if p.Created {
					at = ev.At
				}
				f.Changed(ev.PharmacyID, at)
			default:
				f.Changed(ev.PharmacyID, time.Time{})
			}
		}
	}()
	return nil
}
