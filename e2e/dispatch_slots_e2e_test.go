package e2e

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"testing"
	"time"
)

// getQR fetches a pickup QR image path with a client's token (none when
// the token is empty) and returns the status, the Cache-Control header
// and the body.
func getQR(t *testing.T, c client, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Cache-Control"), body
}

// TestDispatchSlotsEndToEnd runs a round with pickup time slots through
// GraphQL on the real program: the slot settings are checked, kept and
// shown, a pickup names its slot (the preferred one when it has room) and
// expires 30 minutes after it; a walk-in round's pickup has none; and the
// pickup code's QR image is its owner's and ADMIN's only.
func TestDispatchSlotsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	owner := h.as(t, "RESIDENT", ac.residents[0])
	other := h.as(t, "RESIDENT", ac.residents[1])
	now := time.Now().UTC()
	vars := map[string]any{"o": now.Add(-time.Hour).Format(time.RFC3339), "c": now.Add(time.Hour).Format(time.RFC3339)}
	open := `mutation($o: Time!, $c: Time!, $id: ID!, $m: Int, $k: Int) { openRound(input: {id: $id, name: "Guangzhou", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME, opens: $o, closes: $c, maxK: 2, slotMinutes: $m, slotCapacity: $k}) { id slotMinutes slotCapacity } }`
	with := func(id string, minutes, capacity any) map[string]any {
		v := map[string]any{"id": id, "m": minutes, "k": capacity}
		for k, x := range vars {
			v[k] = x
		}
		return v
	}

	for _, bad := range []struct {
		minutes, capacity any
	}{{15, nil}, {nil, 3}, {4, 3}, {1441, 3}, {15, 0}} {
		if r := gql(t, admin, open, with("bad", bad.minutes, bad.capacity)); r.code() != "BAD_USER_INPUT" {
			t.Errorf("slots %v x %v: code %q, want BAD_USER_INPUT", bad.minutes, bad.capacity, r.code())
		}
	}
	var opened struct {
		OpenRound struct {
			SlotMinutes, SlotCapacity int
		}
	}
	must(t, admin, open, with("gz", 15, 2), &opened)
	if opened.OpenRound.SlotMinutes != 15 || opened.OpenRound.SlotCapacity != 2 {
		t.Fatalf("openRound = %+v, want 15-minute slots of 2", opened)
	}
	must(t, admin, open, with("walk", nil, nil), nil)

	type allocation struct {
		ID, PickupCode, QrURL string
		Slot, ExpiresAt       *time.Time
	}
	reserve := func(c client, round, resident string, slot any) (reservationID string, a allocation) {
		t.Helper()
		var res struct {
			Reserve struct {
				Reservation struct{ ID string }
				Allocation  allocation
			}
		}
		must(t, c, `mutation($r: ID!, $p: ID!, $s: Time) { reserve(input: {roundId: $r, residentId: $p, slot: $s}) {
			reservation { id } allocation { id pickupCode qrUrl slot expiresAt } } }`,
			map[string]any{"r": round, "p": resident, "s": slot}, &res)
		return res.Reserve.Reservation.ID, res.Reserve.Allocation
	}
	// The slots on offer now: the first is under way 15 minutes from now
	// (it ends more than 15 minutes after the reservation), and they cover
	// the 24-hour pickup window.
	var offer struct {
		Round struct {
			PickupWindowMinutes int
			SlotsOffered        []struct {
				Start, End time.Time
				Capacity   int
			}
		}
	}
	before := time.Now()
	must(t, admin, `{ round(id: "gz") { pickupWindowMinutes slotsOffered { start end capacity } } }`, nil, &offer)
	slots := offer.Round.SlotsOffered
	if offer.Round.PickupWindowMinutes != 1440 || len(slots) < 96 || slots[0].Capacity != 2 ||
		!slots[0].End.After(before.Add(15*time.Minute)) || slots[0].Start.After(time.Now().Add(15*time.Minute)) ||
		slots[len(slots)-1].End.Before(before.Add(24*time.Hour)) {
		t.Fatalf("pickup window %d minutes, slots offered %+v", offer.Round.PickupWindowMinutes, slots)
	}
	start := time.Now()
	reservationID, mine := reserve(owner, "gz", ac.residents[0], nil)
	if mine.Slot == nil || !mine.Slot.Add(15*time.Minute).After(start.Add(15*time.Minute)) || mine.Slot.After(time.Now().Add(15*time.Minute)) {
		t.Fatalf("allocation %+v: want the slot under way 15 minutes after %v", mine, start)
	}
	if mine.ExpiresAt == nil || !mine.ExpiresAt.Equal(mine.Slot.Add(45*time.Minute)) {
		t.Errorf("expiresAt %v, want 30 minutes after the slot %v ends", mine.ExpiresAt, mine.Slot)
	}
	prefer := mine.Slot.Add(2 * time.Hour)
	_, theirs := reserve(other, "gz", ac.residents[1], prefer.Add(7*time.Minute).Format(time.RFC3339))
	if theirs.Slot == nil || !theirs.Slot.Equal(prefer) {
		t.Errorf("preferring %v: slot %v", prefer, theirs.Slot)
	}
	if _, walk := reserve(owner, "walk", ac.residents[0], nil); walk.Slot != nil {
		t.Errorf("a walk-in pickup has slot %v", walk.Slot)
	}

	// The slot is there for whoever sees the allocation; the QR path only
	// for its owner.
	var seen struct {
		Reservation struct {
			Allocation struct {
				QrURL, PickupCode *string
				Slot              *time.Time
			}
		}
	}
	must(t, h.as(t, "COMMITTEE", ac.committees[0]), `query($id: ID!) { reservation(id: $id) { allocation { qrUrl pickupCode slot } } }`,
		map[string]any{"id": reservationID}, &seen)
	if a := seen.Reservation.Allocation; a.QrURL != nil || a.PickupCode != nil || a.Slot == nil || !a.Slot.Equal(*mine.Slot) {
		t.Errorf("a committee sees qrUrl %v, code %v, slot %v; want the slot only", a.QrURL, a.PickupCode, a.Slot)
	}

	// The QR image: the owner's only (not even ADMIN's), never cached.
	if mine.QrURL != "/pickup/"+mine.ID+"/qr.png" {
		t.Fatalf("qrUrl %q", mine.QrURL)
	}
	images := map[string][]byte{}
	for _, tt := range []struct {
		name string
		c    client
		path string
		want int
	}{
		{"the owner", owner, mine.QrURL, http.StatusOK},
		{"admin", admin, mine.QrURL, http.StatusForbidden},
		{"the other's own", other, theirs.QrURL, http.StatusOK},
		{"no token", client{url: h.url}, mine.QrURL, http.StatusUnauthorized},
		{"a forged token", client{url: h.url, token: "x.y.z"}, mine.QrURL, http.StatusUnauthorized},
		{"another resident", other, mine.QrURL, http.StatusForbidden},
		{"the pharmacy", h.as(t, "PHARMACY", ac.pharmacies[0]), mine.QrURL, http.StatusForbidden},
		{"the committee", h.as(t, "COMMITTEE", ac.committees[0]), mine.QrURL, http.StatusForbidden},
		{"the district", h.as(t, "DISTRICT", ac.districts[0]), mine.QrURL, http.StatusForbidden},
		{"a partner", h.as(t, "PARTNER", "partner-1"), mine.QrURL, http.StatusForbidden},
		{"unknown allocation", owner, "/pickup/alc_nothing/qr.png", http.StatusNotFound},
	} {
		status, cache, body := getQR(t, tt.c, tt.path)
		if status != tt.want || cache != "no-store" {
			t.Errorf("%s: status %d, Cache-Control %q; want %d, no-store (%s)", tt.name, status, cache, tt.want, body)
			continue
		}
		if bytes.Contains(body, []byte(mine.PickupCode)) {
			t.Errorf("%s: the answer holds the code", tt.name)
		}
		if status != http.StatusOK {
			continue
		}
		if !bytes.HasPrefix(body, []byte("\x89PNG\r\n\x1a\n")) || len(body) < 100 {
			t.Errorf("%s: not a PNG (%d bytes)", tt.name, len(body))
			continue
		}
		if img, err := png.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
			t.Errorf("%s: image %v, %v; want 256x256", tt.name, img.Bounds(), err)
		}
		images[tt.name] = body
	}
	_, _, again := getQR(t, owner, mine.QrURL)
	if len(images) != 2 || !bytes.Equal(images["the owner"], again) || bytes.Equal(images["the owner"], images["the other's own"]) {
		t.Error("the QR image does not follow the allocation: the same for one, different for another")
	}

	// The slots are kept across a restart.
	h.stop(t)
	h = startHub(t, dir)
	var kept struct {
		Round struct{ SlotMinutes, SlotCapacity int }
	}
	must(t, h.as(t, "ADMIN", ""), `{ round(id: "gz") { slotMinutes slotCapacity } }`, nil, &kept)
	if kept.Round.SlotMinutes != 15 || kept.Round.SlotCapacity != 2 {
		t.Errorf("after a restart the round has slots %+v", kept.Round)
	}
}
