package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// exportLookup gives a resident their document, refuses other roles, and
// fails for the resident "broken".
func exportLookup(_ context.Context, p auth.Principal) (any, error) {
	switch {
	case p.Role != auth.Resident:
		return nil, hub.Errorf(hub.EFORBIDDEN, "residents only")
	case p.Scope == "gone":
		return nil, hub.Errorf(hub.ENOTFOUND, "no such resident")
	case p.Scope == "broken":
		return nil, errors.New("store down: secret detail")
	}
	return map[string]string{"resident": p.Scope}, nil
}

func TestExport(t *testing.T) {
	keys := accessKeys(t)
	mux := http.NewServeMux()
	mux.Handle(ExportRoute, Export(keys, exportLookup, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	bearer := func(role auth.Role, scope string) string { return "Bearer " + accessToken(t, keys, role, scope) }

	tests := []struct {
		name       string
		authz      string
		wantStatus int
		wantCode   string
	}{
		{"no token", "", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"not a bearer token", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"a forged token", "Bearer x.y.z", http.StatusUnauthorized, hub.EUNAUTHORIZED},
		{"admin", bearer(auth.Admin, ""), http.StatusForbidden, hub.EFORBIDDEN},
		{"a district", bearer(auth.District, "d1"), http.StatusForbidden, hub.EFORBIDDEN},
		{"a committee", bearer(auth.Committee, "c1"), http.StatusForbidden, hub.EFORBIDDEN},
		{"a pharmacy", bearer(auth.Pharmacy, "p1"), http.StatusForbidden, hub.EFORBIDDEN},
		{"unknown resident", bearer(auth.Resident, "gone"), http.StatusNotFound, hub.ENOTFOUND},
		{"internal", bearer(auth.Resident, "broken"), http.StatusInternalServerError, hub.EINTERNAL},
		{"the resident", bearer(auth.Resident, "res-1"), http.StatusOK, ""},
		{"another resident", bearer(auth.Resident, "res-2"), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/me/export.json", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
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
				if strings.Contains(string(body), "secret detail") {
					t.Errorf("an error shows internal detail: %s", body)
				}
				return
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
				t.Errorf("Content-Disposition %q", cd)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var doc map[string]string
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			p, _ := keys.Verify(strings.TrimPrefix(tt.authz, "Bearer "))
			if doc["resident"] != p.Scope {
				t.Errorf("document %v, want the caller's (%s)", doc, p.Scope)
			}
		})
	}
}
