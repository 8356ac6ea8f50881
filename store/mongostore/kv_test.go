package mongostore

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestKeyIDsSortAsKeys checks what every cursor relies on: the _ids of a
// bucket's keys sort as the keys do (MongoDB compares strings byte by
// byte), they all fall in the bucket's range and nowhere else, and an _id
// gives its key back.
func TestKeyIDsSortAsKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, {0}, {0, 0}, {0xff}, {0xff, 0}, []byte("a"), []byte("a\x00b"), []byte("ab")}
	for range 500 {
		k := make([]byte, rng.IntN(12))
		for i := range k {
			k[i] = byte(rng.IntN(256))
		}
		keys = append(keys, k)
	}
	for _, n := range []uint64{0, 1, 255, 256, 1 << 40, 1<<64 - 1} {
		keys = append(keys, binary.BigEndian.AppendUint64(nil, n))
	}
	paths := []string{"", bucketPath("", []byte("p1")), bucketPath("", []byte("p10")), bucketPath("", []byte{0xff}),
		bucketPath(bucketPath("", []byte("p1")), []byte("x"))}
	others := []string{writerID, seqSuffix, paths[1] + seqSuffix, paths[1], paths[4]}

	for _, path := range paths {
		byKey := slices.Clone(keys)
		slices.SortFunc(byKey, bytes.Compare)
		ids := make([]string, len(byKey))
		for i, k := range byKey {
			ids[i] = keyID(path, k)
			back, err := keyOf(path, ids[i])
			if err != nil || !bytes.Equal(back, k) {
				t.Errorf("keyOf(%q, %q) = %x, %v; want %x", path, ids[i], back, err, k)
			}
		}
		if !slices.IsSorted(ids) {
			t.Errorf("bucket %q: the _ids of keys in order are not in order", path)
		}
		lo, hi := path+keySep, path+keySep+keyEnd
		for _, id := range ids {
			if id < lo || id >= hi {
				t.Errorf("bucket %q: _id %q outside [%q, %q)", path, id, lo, hi)
			}
		}
		// No other bucket's key, marker or sequence is in the range.
		for _, other := range paths {
			if other == path {
				continue
			}
			for _, k := range keys {
				if id := keyID(other, k); id >= lo && id < hi {
					t.Errorf("key %x of bucket %q is in the range of bucket %q", k, other, path)
				}
			}
		}
		for _, id := range others {
			if id >= lo && id < hi {
				t.Errorf("document %q is in the range of bucket %q", id, path)
			}
		}
	}
	if _, err := keyOf(paths[1], keyID(paths[2], []byte("k"))); err == nil {
		t.Error("keyOf accepted the _id of another bucket")
	}
	if _, err := keyOf("", keySep+"zz"); err == nil {
		t.Error("keyOf accepted an _id that is not hex")
	}
}

// TestKVDocEmptyValue checks that an index mark (an empty value) comes
// back as a value, not as no value.
func TestKVDocEmptyValue(t *testing.T) {
	for _, v := range [][]byte{{}, {0}, []byte(`{"id":"x"}`)} {
		b, err := bson.Marshal(kvDoc{ID: ".00", V: v})
		if err != nil {
			t.Fatal(err)
		}
		var back kvDoc
		if err := bson.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.V == nil && len(v) > 0 || !bytes.Equal(back.V, v) {
			t.Errorf("value %q came back as %q", v, back.V)
		}
		if !strings.HasPrefix(back.ID, keySep) {
			t.Errorf("_id %q", back.ID)
		}
	}
}

// TestOldLayout checks that a database of the layout before the portable
// store is recognised, so that Open refuses it instead of taking it for an
// empty one.
func TestOldLayout(t *testing.T) {
	tests := []struct {
		give []string
		want []string
	}{
		{give: nil, want: nil},
		{give: []string{"system.views"}, want: nil},
		{give: []string{"residents", "pharmacies", "meta"}, want: []string{"residents", "pharmacies"}},
		{give: []string{"scans"}, want: []string{"scans"}},
		{give: []string{"kv_meta", "residents"}, want: nil},
		{give: []string{"kv_residents"}, want: nil},
	}
	for _, tt := range tests {
		if got := oldLayout(tt.give); !slices.Equal(got, tt.want) {
			t.Errorf("oldLayout(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
