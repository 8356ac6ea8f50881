package httpapi

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// pngMagic starts every PNG file.
const pngMagic = "\x89PNG\r\n\x1a\n"

// qrLookup knows two allocations, each a resident's, and refuses as the
// hub does.
func qrLookup(_ context.Context, p auth.Principal, id string) (string, error) {
	codes := map[string]struct{ owner, code string }{
		"alc_1": {"res-1", "7KQ2-M9XD-4TPA-H"},
		"alc_2": {"res-2", "0000-1111-2222-3"},
	}
	switch id {
	case "broken":
		return "", errors.New("store on fire near 7KQ2-M9XD-4TPA-H")
	case "bad id":
		return "", hub.Errorf(hub.EINVALID, "not an allocation ID")
	}
	a, ok := codes[id]
	switch {
	case p.Role != auth.Admin && p.Role != auth.Resident:
		return "", hub.Errorf(hub.EFORBIDDEN, "residents only")
	case !ok:
		return "", hub.Errorf(hub.ENOTFOUND, "no allocation %q", id)
	case p.Role != auth.Admin && !p.Is(auth.Resident, a.owner):
		return "", hub.Errorf(hub.EFORBIDDEN, "another resident's")
	}
	return a.code, nil
}

func TestPickupQR(t *testing.T) {
	keys := accessKeys(t)
	mux := http.NewServeMux()
	mux.Handle(PickupQRRoute, PickupQR(keys, qrLookup, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(id, authz string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/pickup/"+id+"/qr.png", nil)
		if err != nil {
			t.Fatal(err)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
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
		return resp, body
	}
	bearer := func(role auth.Role, scope string) string { return "Bearer " + accessToken(t, keys, role, scope) }

	tests := []struct {
		name       string
		id, authz  string
		wantStatus int
		wantCode   string
	}{
		{"no token", "alc_1", "", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"not a bearer token", "alc_1", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"a forged token", "alc_1", "Bearer x.y.z", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"another resident", "alc_1", bearer(auth.Resident, "res-2"), http.StatusForbidden, hub.EFORBIDDEN},
		{"the pharmacy", "alc_1", bearer(auth.Pharmacy, "p1"), http.StatusForbidden, hub.EFORBIDDEN},
		{"a committee", "alc_1", bearer(auth.Committee, "c1"), http.StatusForbidden, hub.EFORBIDDEN},
		{"unknown allocation", "alc_9", bearer(auth.Resident, "res-1"), http.StatusNotFound, hub.ENOTFOUND},
		{"bad input", "bad%20id", bearer(auth.Admin, ""), http.StatusBadRequest, hub.EINVALID},
		{"internal", "broken", bearer(auth.Admin, ""), http.StatusInternalServerError, hub.EINTERNAL},
		{"the owner", "alc_1", bearer(auth.Resident, "res-1"), http.StatusOK, ""},
		{"admin", "alc_2", bearer(auth.Admin, ""), http.StatusOK, ""},
	}
	images := map[string][]byte{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(tt.id, tt.authz)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tt.wantStatus != http.StatusOK {
				e := decodeAccessError(t, bytes.NewReader(body))
				if code, _ := e.Errors[0].Extensions["code"].(string); code != tt.wantCode {
					t.Errorf("code %q, want %q (%s)", code, tt.wantCode, body)
				}
				if strings.Contains(string(body), "7KQ2") {
					t.Errorf("an error shows the code: %s", body)
				}
				if tt.wantStatus == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
				t.Errorf("Content-Type %q, want image/png", ct)
			}
			if !bytes.HasPrefix(body, []byte(pngMagic)) {
				t.Fatalf("not a PNG: % x", body[:min(len(body), 8)])
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != PickupQRSize || b.Dy() != PickupQRSize {
				t.Errorf("image %dx%d, want %dx%d", b.Dx(), b.Dy(), PickupQRSize, PickupQRSize)
			}
			images[tt.id] = body
		})
	}
	if bytes.Equal(images["alc_1"], images["alc_2"]) {
		t.Error("two allocations have the same QR image")
	}
	// The image is a function of the code: the same again.
	if _, again := get("alc_1", bearer(auth.Resident, "res-1")); !bytes.Equal(again, images["alc_1"]) {
		t.Error("the QR image of one code differs between requests")
	}
}
