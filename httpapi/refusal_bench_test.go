package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRefusal measures what the hub's own code spends on a request
// the admitter refuses (the route's metrics, the admission decision and
// the 503 it writes), without net/http's connection handling: every
// place is taken and there is no queue.
func BenchmarkRefusal(b *testing.B) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	adm := newAdmitter(Admission{MaxInFlight: 1, MinInFlight: 1, MaxQueue: -1}, reg)
	if _, ok, _ := adm.acquire(b.Context()); !ok {
		b.Fatal("the one place was refused")
	}
	h := m.Route("/graphql", adm.admit(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		b.Fatal("admitted")
	})))
	r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	w := &benchResponse{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, r)
		if w.status != http.StatusServiceUnavailable {
			b.Fatalf("status %d, want 503", w.status)
		}
	}
}

type benchResponse struct {
	header http.Header
	status int
}

func (w *benchResponse) Header() http.Header         { return w.header }
func (w *benchResponse) WriteHeader(status int)      { w.status = status }
func (w *benchResponse) Write(p []byte) (int, error) { return len(p), nil }
