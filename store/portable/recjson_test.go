package portable

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// jsonKinds are the records with hand-written JSON (recjson.go): new
// returns a pointer to a zero record.
var jsonKinds = []struct {
	name string
	new  func() any
}{
	{"reservation", func() any { return new(reservationRec) }},
	{"allocation", func() any { return new(allocationRec) }},
	{"pharmacy", func() any { return new(pharmacyRec) }},
	{"ledger entry", func() any { return new(ledgerRec) }},
	{"resident", func() any { return new(residentRec) }},
}

// TestRecordJSON writes records of every kind with hand-written JSON,
// every field filled at random (strings with characters to escape and
// invalid UTF-8, extreme numbers, times in other zones and outside the
// years JSON can hold, maps empty and full), and wants exactly the bytes
// of json.Marshal, or its error; the hand-written encoder must itself
// write every record json.Marshal writes. A field added to a record
// without its line in recjson.go fails here.
func TestRecordJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	for _, tt := range jsonKinds {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.new().(jsonAppender); !ok {
				t.Fatalf("%s has no appendJSON", tt.name)
			}
			fast := 0
			for i := range 3000 {
				rec := tt.new()
				fillRandom(rng, reflect.ValueOf(rec).Elem(), i)
				want, wantErr := json.Marshal(rec)
				got, gotErr := encode(tt.name, rec)
				if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
					t.Fatalf("record %d %+v:\n got %s (%v)\nwant %s (%v)", i, rec, got, gotErr, want, wantErr)
				}
				b, ok := rec.(jsonAppender).appendJSON(nil)
				if ok != (wantErr == nil) || ok && !bytes.Equal(b, want) {
					t.Fatalf("record %d %+v: appendJSON = %s, %v; json.Marshal = %s, %v", i, rec, b, ok, want, wantErr)
				}
				if ok {
					fast++
				}
			}
			if fast < 300 {
				t.Errorf("only %d of 3000 records were written by hand", fast)
			}
		})
	}
}

// TestRecordJSONRead reads records of every kind with a hand-written
// reader, as json.Marshal wrote them and then altered in ways an older
// version or another writer might have (spaces, other spellings of the
// keys, unknown members, nulls, escapes, other number forms, truncation,
// trailing bytes), into records already holding values, and wants what
// json.Unmarshal makes of the same bytes, or its error. The bytes as
// written, without escapes, must be read by hand.
func TestRecordJSONRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 2))
	for _, tt := range jsonKinds {
		if _, ok := tt.new().(jsonReader); !ok {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			fast := 0
			for i := range 3000 {
				rec := tt.new()
				fillRandom(rng, reflect.ValueOf(rec).Elem(), i)
				b, err := json.Marshal(rec)
				if err != nil {
					continue
				}
				if i%3 != 0 {
					b = mutateJSON(rng, b)
				}
				seed := rng.Uint64()
				dst, want := tt.new(), tt.new()
				fillRandom(rand.New(rand.NewPCG(seed, 0)), reflect.ValueOf(dst).Elem(), 1)
				fillRandom(rand.New(rand.NewPCG(seed, 0)), reflect.ValueOf(want).Elem(), 1)
				wantErr := json.Unmarshal(b, want)
				gotErr := decode(tt.name, nil, b, dst)
				if (gotErr != nil) != (wantErr != nil) || !sameRecord(dst, want) {
					t.Fatalf("reading %s:\n got %+v (%v)\nwant %+v (%v)", b, dst, gotErr, want, wantErr)
				}
				probe := tt.new()
				if probe.(jsonReader).readJSON(b) {
					fast++
					if wantErr != nil {
						t.Fatalf("readJSON accepted %s, which json.Unmarshal refuses: %v", b, wantErr)
					}
				} else if i%3 == 0 && wantErr == nil && !bytes.ContainsRune(b, '\\') {
					t.Fatalf("readJSON refused %s as json.Marshal wrote it", b)
				}
			}
			if fast < 150 {
				t.Errorf("only %d of 3000 records were read by hand", fast)
			}
		})
	}
}

// FuzzRecordJSONRead: whatever the bytes, decode makes of them what
// json.Unmarshal makes.
func FuzzRecordJSONRead(f *testing.F) {
	rng := rand.New(rand.NewPCG(17, 3))
	for _, tt := range jsonKinds {
		for i := range 4 {
			rec := tt.new()
			fillRandom(rng, reflect.ValueOf(rec).Elem(), i)
			if b, err := json.Marshal(rec); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"loc":{"lat":1e2,"lng":-0},"cell":"8928308280fffff"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tt := range jsonKinds {
			if _, ok := tt.new().(jsonReader); !ok {
				continue
			}
			got, want := tt.new(), tt.new()
			gotErr, wantErr := decode(tt.name, nil, b, got), json.Unmarshal(b, want)
			if (gotErr != nil) != (wantErr != nil) || !sameRecord(got, want) {
				t.Fatalf("%s from %q:\n got %+v (%v)\nwant %+v (%v)", tt.name, b, got, gotErr, want, wantErr)
			}
		}
	})
}

// sameRecord reports whether two records hold the same values: NaN
// equal to NaN, times in equal zones.
func sameRecord(a, b any) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

// mutateJSON alters a record's JSON in one of the ways another writer
// might have written it, or breaks it.
func mutateJSON(rng *rand.Rand, b []byte) []byte {
	s := string(b)
	members := strings.Split(s[1:len(s)-1], `,"`)
	pick := func() int { return rng.IntN(len(members)) }
	join := func() string { return "{" + strings.Join(members, `,"`) + "}" }
	switch rng.IntN(14) {
	case 0: // spaces
		return []byte(strings.ReplaceAll(strings.ReplaceAll(s, `":`, `" : `), `,"`, ` , "`))
	case 1: // a key in capitals
		i := pick()
		k, _, _ := strings.Cut(members[i], `"`)
		members[i] = strings.Replace(members[i], k, strings.ToUpper(k), 1)
		return []byte(join())
	case 2: // an unknown member
		return []byte(s[:len(s)-1] + `,"extra":[1,{"a":null}]}`)
	case 3: // a null value
		i := pick()
		k, _, _ := strings.Cut(members[i], `":`)
		members[i] = k + `":null`
		return []byte(join())
	case 4: // an escape, or bytes that are not UTF-8 or not allowed in a string
		ins := []string{`\u0041`, `\"`, "\xff", "\xe8\x97", "\x01", "\u2028"}[rng.IntN(6)]
		return bytes.Replace(b, []byte(`":"`), []byte(`":"`+ins), 1+rng.IntN(3))
	case 5: // truncated
		return b[:rng.IntN(len(b))]
	case 6: // trailing bytes
		return append(append([]byte{}, b...), []string{" ", "x", "}", "\n", ",{}"}[rng.IntN(5)]...)
	case 7: // a member twice, the second value another's
		i, j := pick(), pick()
		k, _, _ := strings.Cut(members[i], `":`)
		_, v, _ := strings.Cut(members[j], `":`)
		return []byte(s[:len(s)-1] + `,"` + k + `":` + v + "}")
	case 8: // other number forms
		for _, n := range []string{"1e2", "1.0", "-0", "01", "1E+2", "-", "1.", "2.5e-3", "99999999999999999999"} {
			if rng.IntN(3) == 0 {
				return []byte(strings.Replace(s, `:`+fmt.Sprint(rng.IntN(10)), `:`+n, 1))
			}
		}
		return []byte(strings.Replace(s, `"lat":`, `"lat":1e400,"x":`, 1))
	case 9: // not an object
		return []byte([]string{"{}", "[]", "null", `""`, "{", "", `{"id"}`, `{,}`, `{"id":"a",}`}[rng.IntN(9)])
	case 10: // members reordered
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		return []byte(join())
	case 11: // a string where a number or object is
		return []byte(strings.Replace(strings.Replace(s, `"loc":{`, `"loc":"x","y":{`, 1), `"quantity":`, `"quantity":"7","z":`, 1))
	case 12: // a cell or time of another form
		return []byte(strings.Replace(strings.Replace(s, `Z"`, `+08:00"`, 1), `"cell":"`, `"cell":"F`, 1))
	default: // a member dropped
		i := pick()
		members = append(members[:i], members[i+1:]...)
		if len(members) == 0 {
			return []byte("{}")
		}
		return []byte(join())
	}
}

// fillRandom sets every field of v at random. Record i of a run uses
// more of the awkward values as i grows.
func fillRandom(rng *rand.Rand, v reflect.Value, i int) {
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(randomTime(rng)))
		return
	case reflect.TypeFor[hub.Cell]():
		c := hub.Cell(0x8928308280fffff + rng.Uint64N(1<<20))
		switch rng.IntN(20) {
		case 0:
			c = 0
		case 1:
			c = hub.Cell(rng.Uint64())
		}
		v.Set(reflect.ValueOf(c))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for f := range v.NumField() {
			if v.Type().Field(f).IsExported() {
				fillRandom(rng, v.Field(f), i)
			}
		}
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 5, 4999, math.MaxInt64, math.MinInt64, rng.Int64(), -rng.Int64N(1000)}[rng.IntN(9)])
	case reflect.Float64:
		v.SetFloat([]float64{0, math.Copysign(0, -1), 25.0478, 121.517, -33.8688, 1e-7, 1e21, 123456789.123, 5e-324,
			math.MaxFloat64, rng.Float64()*360 - 180, math.NaN(), math.Inf(1)}[rng.IntN(13)])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Map:
		if rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		m := reflect.MakeMap(v.Type())
		for range rng.IntN(4) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillRandom(rng, k, i)
			fillRandom(rng, e, i)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if rng.IntN(2) == 0 {
			v.SetZero()
			return
		}
		e := reflect.New(v.Type().Elem())
		fillRandom(rng, e.Elem(), i)
		v.Set(e)
	default:
		panic(fmt.Sprintf("fillRandom: no case for %s", v.Type()))
	}
}

func randomString(rng *rand.Rand) string {
	parts := []string{"a", "tpe-r0000042", "MASK_ADULT", "RESERVED", "藥局", "é", "😷", " ", "/", "0912-345-678", "\x7f"}
	if rng.IntN(12) == 0 { // and characters that need escapes
		parts = append(parts, "<b>", "&", `"`, `\`, "\n", "\t", "\x00", "\x1f", "\u2028", "\u2029", "\xff", "\xe8\x97")
	}
	if rng.IntN(4) == 0 {
		return ""
	}
	var b strings.Builder
	for range 1 + rng.IntN(4) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

func randomTime(rng *rand.Rand) time.Time {
	switch rng.IntN(40) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	case 2:
		return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses it
	case 3:
		return time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) // and this
	case 4:
		return time.Unix(rng.Int64N(4e9), 0).In(time.FixedZone("", (rng.IntN(48)-24)*1800))
	case 5:
		return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("X", 25*3600)) // an offset RFC 3339 cannot hold
	}
	return time.Unix(1.7e9+rng.Int64N(1e8), rng.Int64N(1e9)*int64(rng.IntN(2))).UTC()
}
