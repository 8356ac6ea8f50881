package importer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/importer"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

var epoch = time.Date(2020, 2, 14, 9, 0, 0, 0, time.UTC)

func newService(t testing.TB) *city.Service {
	t.Helper()
	st, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := privacy.NewHasher([]byte("importer-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := city.New(context.Background(), st, h, city.Options{Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// importFile imports a file of testdata (or another path) and fails the
// test on an error of the import.
func importFile(t testing.TB, svc *city.Service, kind importer.Kind, path string) *importer.Report {
	t.Helper()
	if !strings.Contains(path, "/") {
		path = filepath.Join("testdata", path)
	}
	rep, err := importer.ImportFile(context.Background(), svc, kind, path, importer.Options{})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return rep
}

// setupCity imports the test districts and committees around Taipei Main
// Station.
func setupCity(t testing.TB, svc *city.Service) {
	t.Helper()
	for _, tt := range []struct {
		kind importer.Kind
		file string
		want int
	}{
		{importer.Districts, "districts.geojson", 2},
		{importer.Districts, "districts.csv", 1},
		{importer.Committees, "committees.csv", 4},
		{importer.Committees, "committees.geojson", 2},
	} {
		rep := importFile(t, svc, tt.kind, tt.file)
		if rep.Imported != tt.want || rep.Rejected != 0 {
			t.Fatalf("import %s: imported %d, bad %v; want %d, none bad", tt.file, rep.Imported, rep.Bad, tt.want)
		}
	}
}

func TestImportTestdata(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	setupCity(t, svc)
	st := svc.Store()

	d, err := st.District(ctx, "d-nh") // a MultiPolygon, id from the feature
	if err != nil {
		t.Fatal(err)
	}
	if d.Code != "NH" || len(d.Cells) < 20 {
		t.Errorf("district d-nh = %q with %d cells, want code NH and two filled boxes", d.Code, len(d.Cells))
	}
	sl, err := st.District(ctx, "d-sl") // a CSV polygon with a hole
	if err != nil {
		t.Fatal(err)
	}
	if len(sl.Cells) < 5 {
		t.Errorf("district d-sl has %d cells", len(sl.Cells))
	}
	c2, err := st.Committee(ctx, "c-2") // district found from its cells
	if err != nil {
		t.Fatal(err)
	}
	if c2.DistrictID != "d-zz" || len(c2.Cells) != 7 {
		t.Errorf("committee c-2 in %q with %d cells, want d-zz and 7", c2.DistrictID, len(c2.Cells))
	}

	for _, tt := range []struct {
		kind importer.Kind
		file string
		want int
	}{
		{importer.Pharmacies, "pharmacies.csv", 2},
		{importer.Pharmacies, "pharmacies.geojson", 4},
		{importer.Residents, "residents.csv", 3},
		{importer.Checkpoints, "checkpoints.csv", 2},
	} {
		rep := importFile(t, svc, tt.kind, tt.file)
		if rep.Read != tt.want || rep.Imported != tt.want || rep.Rejected != 0 {
			t.Errorf("import %s: read %d, imported %d, bad %v; want %d, %d, none", tt.file, rep.Read, rep.Imported, rep.Bad, tt.want, tt.want)
		}
	}

	p2, err := st.Pharmacy(ctx, "p-2")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Name != `Ren-Ai "Best" Pharmacy` || p2.Stock[hub.MaskAdult] != 300 || p2.DistrictID != "d-zz" {
		t.Errorf("pharmacy p-2 = %+v", p2)
	}
	r1, err := st.Resident(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.CommitteeID != "c-0" || r1.IDMasked != "A1******89" || r1.Cell.String() != "894ba0a4003ffff" {
		t.Errorf("resident r-1 = %+v", r1)
	}
	r2, err := st.Resident(ctx, "r-2") // placed by its cell alone
	if err != nil {
		t.Fatal(err)
	}
	if r2.CommitteeID != "c-1" {
		t.Errorf("resident r-2 in committee %q, want c-1", r2.CommitteeID)
	}
	k1, err := st.Checkpoint(ctx, "k-1")
	if err != nil {
		t.Fatal(err)
	}
	if k1.Kind != "STATION" || k1.DistrictID != "d-zz" {
		t.Errorf("checkpoint k-1 = %+v", k1)
	}
}

func TestImportRealPharmacies(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	rep := importFile(t, svc, importer.Pharmacies, "../democity/data/tw-pharmacies.geojson")
	if rep.Read != 319 || rep.Imported != 319 || rep.Rejected != 0 {
		t.Fatalf("report = read %d, imported %d, bad %v; want 319 imported", rep.Read, rep.Imported, rep.Bad)
	}
	p, err := svc.Store().Pharmacy(ctx, "5945010154")
	if err != nil {
		t.Fatal(err)
	}
	want := hub.Point{Lat: 23.990268, Lng: 121.624669}
	if p.Name != "郭藥局" || p.Phone != "(03)8230761" || p.Location != want ||
		p.Stock[hub.MaskAdult] != 4490 || p.Stock[hub.MaskChild] != 409 || p.Hours != "NNNNNNNNNNNNNNNNNNNNN" {
		t.Errorf("pharmacy 5945010154 = %+v", p)
	}
	if _, err := svc.Store().Pharmacy(ctx, "592202A296"); err != nil {
		t.Errorf("pharmacy with a letter in its id: %v", err)
	}

	// A second import updates in place: nothing new, stock untouched.
	rep = importFile(t, svc, importer.Pharmacies, "../democity/data/tw-pharmacies.geojson")
	if rep.Imported != 319 {
		t.Errorf("second import: %d imported", rep.Imported)
	}
	ps, err := svc.Store().Pharmacies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 319 {
		t.Errorf("%d pharmacies stored after two imports, want 319", len(ps))
	}
}

type badRow struct {
	line   int
	reason string // a part of the reason
}

func TestImportBadRows(t *testing.T) {
	const pharmacyHeader = "id,name,phone,address,lat,lng,hours,stock_MASK_ADULT,stock_MASK_CHILD\n"
	const residentHeader = "id,name,id_number,phone,address,lat,lng,cell,committee_code\n"
	tests := []struct {
		name         string
		kind         importer.Kind
		give         string
		wantImported int
		wantBad      []badRow
	}{
		{
			name: "pharmacies",
			kind: importer.Pharmacies,
			give: pharmacyHeader +
				"p-1,Good One,,,25.0478,121.5170,NNNNNNNNNNNNNNNNNNNNY,200,50\n" + // 2
				"p-2,Bad Lat,,,abc,121.5170,,10,\n" + // 3
				"p-3,Far North,,,95,121.5170,,10,\n" + // 4
				"p-4,,,,25.04,121.51,,10,\n" + // 5: missing name
				"p-5,Minus,,,25.04,121.51,,-5,\n" + // 6: negative stock
				"p-6,Wrong Hours,,,25.04,121.51,NNNYYY,10,\n" + // 7
				"p-7,Ten,,,25.04,121.51,,ten,\n" + // 8
				"p-8,Good Two,,,25.05,121.52,,,\n" + // 9
				"p-1,Again,,,25.05,121.52,,,\n", // 10: repeated id
			wantImported: 2,
			wantBad: []badRow{
				{3, `lat "abc" is not a number`},
				{4, "latitude 95 is outside [-90, 90]"},
				{5, "name is required"},
				{6, "stock of MASK_ADULT is negative"},
				{7, `hours "NNNYYY"`},
				{8, `stock_MASK_ADULT "ten" is not a whole number`},
				{10, `id "p-1" is repeated: first on line 2`},
			},
		},
		{
			name: "residents",
			kind: importer.Residents,
			give: residentHeader +
				"r-1,Chen Mei-ling,A123456789,,,25.041169,121.517518,,ZZ001\n" + // 2
				"r-2,Bad Cell," + tw(2) + ",,,,,894ba0a4023fffz,\n" + // 3
				"r-3,Coarse Cell," + tw(3) + ",,,,,874ba0a40ffffff,\n" + // 4
				"r-4,Unknown Code," + tw(4) + ",,,25.041169,121.517518,,ZZ999\n" + // 5
				"r-5,Same Person,a123-456-789,,,25.041169,121.517518,,\n" + // 6: duplicate ID number
				"r-6,Text Only," + tw(6) + ",,\"No. 5, Lane 3, Zhongxiao Rd.\",,,,\n" + // 7
				"r-7,," + tw(7) + ",,,25.041169,121.517518,,\n" + // 8: missing name
				"r-8,Elsewhere," + tw(8) + ",,,25.034647,121.512119,,ZZ001\n" + // 9: outside the committee
				"r-9,\"Multi\nLine\"," + tw(9) + ",,,25.034647,121.512119,,\n" + // 10-11: a name over two lines, refused
				"r-10,Short Row," + tw(10) + "\n" + // 12
				"r-11,Bad \"Quote," + tw(11) + ",,,25.034647,121.512119,,\n" + // 13
				"r-12,Good Again," + tw(12) + ",,,,,894ba0a4023ffff,ZZ002\n" + // 14
				"r-13,Half," + tw(13) + ",,,25.04,,,\n" + // 15
				"r-14,Zero Width,A123\u200b456789,,,25.041169,121.517518,,\n" + // 16
				"r-15,Cyrillic,\u0410" + tw(15)[1:] + ",,,25.041169,121.517518,,\n" + // 17
				"r-16,Typo," + tw(16)[:9] + string('0'+(tw(16)[9]-'0'+1)%10) + ",,,25.041169,121.517518,,\n" + // 18
				"r-17,Full Width,\uff21\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19,,,25.041169,121.517518,,\n" + // 19: A123456789 again
				"r-18,Arabic Digits,A\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669,,,25.041169,121.517518,,\n" + // 20
				"r-19,PRC Resident,11010519491231002x,,,25.041169,121.517518,,\n" + // 21
				"r-20,Passport,USA 123456789,,,25.041169,121.517518,,\n" + // 22
				"r-21,Bidi,\u202e" + tw(21) + ",,,25.041169,121.517518,,\n", // 23
			wantImported: 4,
			wantBad: []badRow{
				{3, `invalid cell "894ba0a4023fffz"`},
				{4, "has resolution 7, want 9"},
				{5, `no committee has code "ZZ999"`},
				{6, "the ID number is already registered"},
				{7, "an address must place on the grid"},
				{8, "name is required"},
				{9, `lies outside committee "ZZ001"`},
				{10, "name holds the control or formatting character U+000A"},
				{12, "want 9 fields as in the header, got 3"},
				{13, "malformed CSV"},
				{15, "lng is missing"},
				{16, "idNumber holds an invisible format character (U+200B)"},
				{17, "idNumber holds a letter outside A-Z (U+0410)"},
				{18, "idNumber fails its check digit"},
				{19, "the ID number is already registered"},
				{20, "idNumber holds a digit of another script (U+0661)"},
				{23, "(U+202E)"},
			},
		},
		{
			name: "committees",
			kind: importer.Committees,
			give: "code,name,cells,district_id\n" +
				"ZZ006,Six,894ba0a40a3ffff;894ba0a40a7ffff,\n" + // 2
				"ZZ007,Overlaps Six,894ba0a40a7ffff;894ba0a40abffff,\n" + // 3
				"ZZ008,Nowhere,8928308280fffff,\n" + // 4
				"ZZ001,Code Taken,894ba0a40c3ffff,\n" + // 5
				"ZZ010,Empty Area,,\n" + // 6
				"ZZ011,Unknown District,894ba0a40c7ffff,d-none\n" + // 7
				"ZZ012,Polygonless,\"not a polygon\",\n", // 8
			wantImported: 1,
			wantBad: []badRow{
				{3, "already belongs to committee"},
				{4, "lies in no district"},
				{5, `committee code "ZZ001" is already held`},
				{6, "an area needs cells or a polygon"},
				{7, `district "d-none" not found`},
				{8, `invalid cell "not a polygon"`},
			},
		},
		{
			name: "checkpoints",
			kind: importer.Checkpoints,
			give: "id,name,kind,lat,lng\n" +
				"k-1,Station,station,25.0478,121.5170\n" +
				"k-2,Airport,AIRPORT,25.0478,121.5170\n" +
				"k-3,Nowhere,MARKET,,\n",
			wantImported: 1,
			wantBad: []badRow{
				{3, `checkpoint kind "AIRPORT"`},
				{4, "lat and lng are required"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t)
			setupCity(t, svc)
			for _, batch := range []int{1, 3, 1000} {
				svc := svc
				if batch != 1 {
					svc = newService(t)
					setupCity(t, svc)
				}
				rep, err := importer.Import(context.Background(), svc, tt.kind, importer.CSV, strings.NewReader(tt.give), importer.Options{BatchSize: batch})
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				checkReport(t, rep, tt.wantImported, tt.wantBad, -1)
			}
		})
	}
}

func checkReport(t *testing.T, rep *importer.Report, wantImported int, wantBad []badRow, feature int) {
	t.Helper()
	if rep.Imported != wantImported || rep.Rejected != len(wantBad) || rep.Read != wantImported+len(wantBad) {
		t.Errorf("read %d, imported %d, rejected %d; want %d, %d, %d", rep.Read, rep.Imported, rep.Rejected, wantImported+len(wantBad), wantImported, len(wantBad))
	}
	for i, b := range rep.Bad {
		if i >= len(wantBad) {
			t.Errorf("unexpected bad row %v", b)
			continue
		}
		if b.Line != wantBad[i].line || !strings.Contains(b.Reason, wantBad[i].reason) || b.Code == "" || b.Code == hub.EINTERNAL {
			t.Errorf("bad row %d = %v [%s]; want line %d with %q", i, b, b.Code, wantBad[i].line, wantBad[i].reason)
		}
		if feature < 0 && b.Feature != -1 {
			t.Errorf("bad row %v of a CSV file has feature %d", b, b.Feature)
		}
	}
	for _, w := range wantBad[min(len(rep.Bad), len(wantBad)):] {
		t.Errorf("missing bad row: line %d %q", w.line, w.reason)
	}
}

func TestImportCSVBOMAndCRLF(t *testing.T) {
	svc := newService(t)
	give := "\uFEFFID , Name,LAT,lon,service_periods,mask_adult\r\n" +
		"p-1,One,25.0478,121.5170,NNNNNNNNNNNNNNNNNNNNY,100\r\n" +
		"\r\n" + // blank: skipped by the reader
		",,,,,\r\n" + // bare separators: skipped
		"p-2,Two,north,121.5170,,\r\n"
	rep, err := importer.Import(context.Background(), svc, importer.Pharmacies, importer.CSV, strings.NewReader(give), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 1, []badRow{{5, `lat "north" is not a number`}}, -1)
	p, err := svc.Store().Pharmacy(context.Background(), "p-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "One" || p.Hours != "NNNNNNNNNNNNNNNNNNNNY" || p.Stock[hub.MaskAdult] != 100 {
		t.Errorf("pharmacy = %+v", p)
	}
}

func TestImportCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		kind importer.Kind
		give string
		want string
	}{
		{"empty", importer.Pharmacies, "", "the file is empty"},
		{"unknown column", importer.Pharmacies, "id,name,lat,lng,colour\n", `unknown column "colour"`},
		{"unknown supply", importer.Pharmacies, "id,name,lat,lng,stock_GLOVES\n", `unknown column "stock_GLOVES"`},
		{"missing name", importer.Pharmacies, "id,lat,lng\n", `required column "name" is missing`},
		{"duplicate", importer.Pharmacies, "id,name,lat,lng,longitude\n", "are both lng"},
		{"no place", importer.Residents, "id,name,id_number,address\n", "need the column(s) lat and lng, or cell"},
		{"no area", importer.Committees, "code,name\n", "need the column(s) cells, or polygon"},
		{"nameless column", importer.Checkpoints, "name,,kind,lat,lng\n", "column 2 has no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t)
			rep, err := importer.Import(context.Background(), svc, tt.kind, importer.CSV, strings.NewReader(tt.give), importer.Options{})
			if err == nil || !strings.Contains(hub.ErrorMessage(err), tt.want) || hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("err = %v, want EINVALID with %q", err, tt.want)
			}
			if rep == nil || rep.Read != 0 {
				t.Errorf("report = %+v", rep)
			}
		})
	}
}

func TestImportGeoJSONBadFeatures(t *testing.T) {
	svc := newService(t)
	give := `{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"id": 1001, "name": "Numeric Id"}, "geometry": {"type": "Point", "coordinates": [121.517, 25.0478]}},
{"type": "Feature", "properties": {"id": "1002", "name": "No Geometry"}, "geometry": null},
{"type": "Feature", "properties": {"id": "1003", "name": "Line"},
 "geometry": {"type": "LineString", "coordinates": [[121.5, 25.0], [121.6, 25.1]]}},
{"type": "Feature", "properties": {"id": "1004", "name": "Short", "mask_adult": -1},
 "geometry": {"type": "Point", "coordinates": [121.517]}},
{"type": "Feature", "properties": {"id": "1005", "name": "Minus", "mask_adult": -1},
 "geometry": {"type": "Point", "coordinates": [121.517, 25.0478]}},
"not a feature",
{"type": "Feature", "properties": {"id": "1007", "Name": "Upper Case Key", "service_periods": "NNNNNNNNNNNNNNNNNNNNY", "mask_child": 7},
 "geometry": {"type": "Point", "coordinates": [121.52, 25.04, 12.5]}},
{"type": "Feature", "properties": {"id": "1008", "name": "Far East"}, "geometry": {"type": "Point", "coordinates": [190, 25]}},
{"type": "Feature", "properties": {"id": "1009", "name": "Hours", "service_periods": 42}, "geometry": {"type": "Point", "coordinates": [121.52, 25.04]}},
{"properties": {"id": "1010", "name": "Typeless"}, "geometry": {"type": "Point", "coordinates": [121.52, 25.04]}}
], "crs": {"type": "name"}}`
	rep, err := importer.Import(context.Background(), svc, importer.Pharmacies, importer.GeoJSON, strings.NewReader(give), importer.Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 2, []badRow{
		{3, "lat and lng are required"},
		{4, "want a Point, got a LineString"},
		{6, "a position needs [longitude, latitude]"},
		{8, "stock of MASK_ADULT is negative"},
		{10, "want an object, got a JSON string"},
		{13, "longitude 190 is outside"},
		{14, `hours "42"`},
		{15, `type is ""`},
	}, 0)
	wantFeatures := []int{1, 2, 3, 4, 5, 7, 8, 9}
	for i, b := range rep.Bad {
		if i < len(wantFeatures) && b.Feature != wantFeatures[i] {
			t.Errorf("bad row %v: feature %d, want %d", b, b.Feature, wantFeatures[i])
		}
	}
	p, err := svc.Store().Pharmacy(context.Background(), "1007")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Upper Case Key" || p.Stock[hub.MaskChild] != 7 || p.Hours != "NNNNNNNNNNNNNNNNNNNNY" {
		t.Errorf("pharmacy 1007 = %+v", p)
	}
	if _, err := svc.Store().Pharmacy(context.Background(), "1001"); err != nil {
		t.Errorf("numeric id: %v", err)
	}
}

func TestImportGeoJSONFileErrors(t *testing.T) {
	good := `{"type": "Feature", "properties": {"id": "ok", "name": "Fine"}, "geometry": {"type": "Point", "coordinates": [121.517, 25.0478]}}`
	tests := []struct {
		name         string
		give         string
		want         string
		wantImported int
	}{
		{"empty", "", "the file is empty", 0},
		{"array", "[]", "want a FeatureCollection object", 0},
		{"feature", `{"type": "Feature", "properties": {}}`, `type is Feature`, 0},
		{"no features", `{"type": "FeatureCollection"}`, "it has no features", 0},
		{"features object", `{"features": {}}`, "features is not an array", 0},
		{"truncated", `{"type": "FeatureCollection", "features": [` + good + `, {"type": "Fea`, "the file ends inside", 1},
		{"syntax", `{"type": "FeatureCollection", "features": [` + good + ",\n" + strings.Replace(good, `"ok"`, `"ok2"`, 1) + ",\n{\"type\": ]}", "not valid JSON, in or after line 3", 2},
		{"trailing", `{"type": "FeatureCollection", "features": []} {}`, "unexpected data after", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t)
			rep, err := importer.Import(context.Background(), svc, importer.Pharmacies, importer.GeoJSON, strings.NewReader(tt.give), importer.Options{})
			if err == nil || !strings.Contains(hub.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if rep.Imported != tt.wantImported {
				t.Errorf("imported %d before the error, want %d (good rows are kept)", rep.Imported, tt.wantImported)
			}
		})
	}
}

func TestImportManyResidents(t *testing.T) {
	// 3,000 residents in batches of 500 with a few bad rows spread out:
	// the good ones land and each bad one is reported with its line.
	svc := newService(t)
	setupCity(t, svc)
	var b strings.Builder
	b.WriteString("id,name,id_number,cell\n")
	cells := []string{"894ba0a4003ffff", "894ba0a4023ffff", "894ba0a4043ffff"}
	var wantBad []badRow
	for i := range 3000 {
		id, line := strconv.Itoa(i), i+2
		switch {
		case i%997 == 500:
			fmt.Fprintf(&b, "r-%s,Person %s,%s,%s\n", id, id, tw(0), cells[i%3]) // the ID number of row 2
			wantBad = append(wantBad, badRow{line, "the ID number is already registered"})
		case i%1201 == 700:
			fmt.Fprintf(&b, "r-%s,Person %s,%s,not-a-cell\n", id, id, privacy.ExampleTaiwanID('B', i))
			wantBad = append(wantBad, badRow{line, `invalid cell "not-a-cell"`})
		default:
			fmt.Fprintf(&b, "r-%s,Person %s,%s,%s\n", id, id, tw(i), cells[i%3])
		}
	}
	var calls, last, lastTotal int64
	progress := func(done, total int64) {
		if done < last || (total > 0 && total < done) {
			t.Errorf("progress went from %d to %d of %d", last, done, total)
		}
		calls++
		last, lastTotal = done, total
	}
	rep, err := importer.Import(context.Background(), svc, importer.Residents, importer.CSV, strings.NewReader(b.String()), importer.Options{BatchSize: 500, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 3000-len(wantBad), wantBad, -1)
	n, err := svc.Store().CountResidents(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if n != rep.Imported {
		t.Errorf("%d residents stored, report says %d imported", n, rep.Imported)
	}
	// A call per row; the total, estimated from the bytes read, is
	// within a buffer's worth of rows of the truth by the end.
	if calls != 3000 || last != 3000 || lastTotal < 2900 || lastTotal > 3100 {
		t.Errorf("%d progress calls, the last %d of %d; want 3,000 calls ending at 3,000 of about 3,000", calls, last, lastTotal)
	}
}

func TestFormatOf(t *testing.T) {
	tests := []struct {
		give string
		want importer.Format
	}{
		{"a.csv", importer.CSV},
		{"dir/A.CSV", importer.CSV},
		{"x.geojson", importer.GeoJSON},
		{"x.json", importer.GeoJSON},
	}
	for _, tt := range tests {
		got, err := importer.FormatOf(tt.give)
		if err != nil || got != tt.want {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", tt.give, got, err, tt.want)
		}
	}
	for _, give := range []string{"x.txt", "noext", "x.csv.gz"} {
		if _, err := importer.FormatOf(give); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("FormatOf(%q) err = %v, want EINVALID", give, err)
		}
	}
	if k, err := importer.ParseKind("Residents"); err != nil || k != importer.Residents {
		t.Errorf("ParseKind = %q, %v", k, err)
	}
	if _, err := importer.ParseKind("people"); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("ParseKind(people) err = %v", err)
	}
}

func TestImportReadError(t *testing.T) {
	gone := errors.New("disk gone")
	for _, tt := range []struct {
		format importer.Format
		head   string
	}{
		{importer.CSV, "name,kind,lat,lng\nGate,HOUSING,25.0478,121.5170\n"},
		{importer.GeoJSON, `{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Gate", "kind": "HOUSING"}, "geometry": {"type": "Point", "coordinates": [121.517, 25.0478]}}, `},
	} {
		svc := newService(t)
		r := io.MultiReader(strings.NewReader(tt.head), iotest.ErrReader(gone))
		rep, err := importer.Import(context.Background(), svc, importer.Checkpoints, tt.format, r, importer.Options{})
		if !errors.Is(err, gone) || hub.ErrorCode(err) != hub.EINTERNAL {
			t.Errorf("%s: err = %v, want the reader's error", tt.format, err)
		}
		if rep.Imported != 1 {
			t.Errorf("%s: %d imported before the error, want 1", tt.format, rep.Imported)
		}
	}
}

// tw is the n-th synthetic Taiwan ID number with the letter A.
func tw(n int) string { return privacy.ExampleTaiwanID('A', n) }

// TestImportGeoJSONResidentIDNumbers: a resident feature with an ID
// number that has no canonical form is a bad row with its line and
// feature, one that folds to a number already held is a duplicate, and
// the others land.
func TestImportGeoJSONResidentIDNumbers(t *testing.T) {
	svc := newService(t)
	feature := func(id, number string) string {
		return fmt.Sprintf(`{"type": "Feature", "properties": {"id": %q, "name": "N", "id_number": %q}, "geometry": {"type": "Point", "coordinates": [121.517, 25.0478]}}`, id, number)
	}
	give := `{"type": "FeatureCollection", "features": [
` + feature("r-1", tw(1)) + `,
` + feature("r-2", "A1\u200b"+tw(2)[2:]) + `,
` + feature("r-3", "\u0391"+tw(3)[1:]) + `,
` + feature("r-4", strings.ToLower(tw(1))+".") + `,
` + feature("r-5", "\uff21"+tw(1)[1:]) + `,
` + feature("r-6", tw(6)) + `,
` + feature("r-7", "A\u0967"+tw(7)[2:]) + `
]}`
	rep, err := importer.Import(context.Background(), svc, importer.Residents, importer.GeoJSON, strings.NewReader(give), importer.Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 2, []badRow{
		{3, "U+200B"},
		{4, "U+0391"},
		{5, "already registered"},
		{6, "already registered"},
		{8, "U+0967"},
	}, 0)
	for i, b := range rep.Bad {
		if want := []int{1, 2, 3, 4, 6}[i]; b.Feature != want { // features count from 0
			t.Errorf("bad row %v: feature %d, want %d", b, b.Feature, want)
		}
		if want := []string{hub.EINVALID, hub.EINVALID, hub.ECONFLICT, hub.ECONFLICT, hub.EINVALID}[i]; b.Code != want {
			t.Errorf("bad row %v: code %s, want %s", b, b.Code, want)
		}
	}
	if n, _ := svc.Store().CountResidents(context.Background(), ""); n != 2 {
		t.Errorf("%d residents stored, want 2", n)
	}
}
