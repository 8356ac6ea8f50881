package privacy

import "testing"

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) string
		give string
		want string
	}{
		{"id", MaskID, "A123456789", "A1******89"},
		{"id cn", MaskID, "11010519491231002X", "11**************2X"},
		{"id short", MaskID, "A12", "***"},
		{"id empty", MaskID, "", ""},
		{"phone", MaskPhone, "0912345678", "*******678"},
		{"phone short", MaskPhone, "12", "**"},
		{"name cjk", MaskName, "王小明", "王**"},
		{"name latin", MaskName, "Jane", "J***"},
		{"name one", MaskName, "J", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.give); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHashID(t *testing.T) {
	h1, err := NewHasher([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := NewHasher([]byte("fedcba9876543210"))
	c, err := CanonicalID(" a123-456789 ", DefaultForms)
	if err != nil {
		t.Fatal(err)
	}
	a, b := h1.HashID("A123456789"), h1.HashID(c)
	if a != b {
		t.Errorf("same ID, different hashes: %s %s", a, b)
	}
	if a == h1.HashID("A123456780") {
		t.Error("different IDs, same hash")
	}
	if a == h2.HashID("A123456789") {
		t.Error("different keys, same hash")
	}
	if len(a) != 64 {
		t.Errorf("hash length %d, want 64 hex characters", len(a))
	}
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

func TestRotation(t *testing.T) {
	old, _ := NewHasher([]byte("old-key-0123456789"))
	h, err := NewHasher([]byte("new-key-0123456789"), []byte("old-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if h.HashID("A123456789") == old.HashID("A123456789") {
		t.Error("rotated hasher still hashes with the old key")
	}
	if prev := h.PreviousHashes("A123456789"); len(prev) != 1 || prev[0] != old.HashID("A123456789") {
		t.Errorf("previous hashes %v do not recognise the old hash", prev)
	}
	if all := h.AllHashes("A123456789"); len(all) != 2 || all[0] != h.HashID("A123456789") || all[1] != old.HashID("A123456789") {
		t.Errorf("AllHashes = %v, want the current hash then the old one", all)
	}
	if _, err := NewHasher([]byte("new-key-0123456789"), []byte("short")); err == nil {
		t.Error("short previous key accepted")
	}
}
