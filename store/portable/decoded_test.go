package portable

import (
	"reflect"
	"testing"
)

// TestDecodedClonesShareNothing: the copy a decoded cache hands out
// shares no slice, map or pointer with the record it keeps, for every
// such field the record types have, nested ones included, so a field
// added to a record later without its line in the clone fails here.
func TestDecodedClonesShareNothing(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"pharmacy", func(t *testing.T) { checkClone(t, clonePharmacy) }},
		{"round", func(t *testing.T) { checkClone(t, cloneRound) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func checkClone[R any](t *testing.T, clone func(*R) R) {
	var r R
	fill(reflect.ValueOf(&r).Elem(), 0)
	c := clone(&r)
	if !reflect.DeepEqual(r, c) {
		t.Fatalf("the clone differs from the record:\n got %+v\nwant %+v", c, r)
	}
	for _, path := range shared(reflect.ValueOf(r), reflect.ValueOf(c), "") {
		t.Errorf("the clone shares %s with the record", path)
	}
}

// fill gives every slice and map reachable from v one element, and every
// pointer a value, recursively.
func fill(v reflect.Value, depth int) {
	if depth > 8 || !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), depth+1)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), 1)
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// shared lists the paths at which a and b hold the same slice array, map
// or pointer.
func shared(a, b reflect.Value, path string) []string {
	switch a.Kind() {
	case reflect.Struct:
		var out []string
		for i := range a.NumField() {
			out = append(out, shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)...)
		}
		return out
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		var out []string
		for i := range min(a.Len(), b.Len()) {
			out = append(out, shared(a.Index(i), b.Index(i), path+"[]")...)
		}
		return out
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		var out []string
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				out = append(out, shared(a.MapIndex(k), bv, path+"[k]")...)
			}
		}
		return out
	case reflect.Pointer:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		if !a.IsNil() && !b.IsNil() {
			return shared(a.Elem(), b.Elem(), path)
		}
	}
	return nil
}
