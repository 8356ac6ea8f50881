package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/httpapi"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		give string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.2:6060", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{":6060", false},
		{"0.0.0.0:6060", false},
		{"[::]:6060", false},
		{"10.0.0.1:6060", false},
		{"example.org:6060", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		if err := httpapi.CheckLoopback(tt.give); (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok %v", tt.give, err, tt.ok)
		}
	}
}

func TestProfiler(t *testing.T) {
	srv := httptest.NewServer(httpapi.Profiler())
	defer srv.Close()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap?debug=1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") && !strings.Contains(string(body), "heap") {
			t.Errorf("%s: %d %.200s", path, resp.StatusCode, body)
		}
	}
}
