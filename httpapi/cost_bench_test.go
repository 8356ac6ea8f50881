package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridhub/gridhub/httpapi"
)

// serve runs one POST through the handler in process and returns the
// answer.
func (h *costHub) serve(b *testing.B, body []byte) gqlAnswer {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	var a gqlAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		b.Fatalf("not JSON: %.200s", rec.Body.String())
	}
	a.Bytes = rec.Body.Len()
	return a
}

// serveOnly runs one POST through the handler and returns the answer's
// length, without reading it (benchmarks measure the hub's work only).
func (h *costHub) serveOnly(body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec.Body.Len()
}

// cpuTime is the CPU time this process has used, user and system, so that
// benchmarks report CPU per operation besides wall time on a shared
// machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWorstAnonymous runs the most expensive operations that fit the
// budget of a caller without a token (httpapi.DefaultMaxComplexityAnonymous):
// the standard introspection query and one as large as the budget allows
// (fast path), the largest disk, many aliased disks, boundaries, and
// introspection mixed with data (the executor, at its full cost). Each
// reports its CPU per operation.
func BenchmarkWorstAnonymous(b *testing.B) {
	iq, err := os.ReadFile("testdata/introspection_all.graphql")
	if err != nil {
		b.Fatal(err)
	}
	var batch []string
	for j := range 40 {
		batch = append(batch, fmt.Sprintf(`c%d: cell(id: %q) { id resolution boundary { lat lng } }`, j, someCell))
	}
	ops := []struct{ name, query string }{
		{"introspection", string(iq)},
		{"introspection-at-budget", strings.Replace(string(iq), "__schema {", `x: __type(name: "Cell") { ...FullType } y: __type(name: "Pharmacy") { ...FullType } __schema {`, 1)},
		{"introspection-mixed-executor", `{ supplies { sku } __schema { types { name kind description fields { name } } } }`},
		{"neighbors-k14", aliasedNeighbors(1, 14)},
		{"35-aliased-neighbors-k2", aliasedNeighbors(35, 2)},
		{"7-aliased-neighbors-k5", aliasedNeighbors(7, 5)},
		{"boundaries-k3", `{ cell(id:"` + someCell + `"){ neighbors(k:3){ id boundary { lat lng } } } }`},
		{"40-cells-boundaries", "{ " + strings.Join(batch, " ") + " }"},
	}
	h := newCostHub(b)
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]string{"query": op.query})
			if a := h.serve(b, body); len(a.Errors) > 0 {
				b.Fatalf("refused: %v %s", a.codes(), a.Errors[0].Message)
			}
			b.ReportAllocs()
			var bytes int
			cpu := cpuTime(b)
			for b.Loop() {
				bytes = h.serveOnly(body)
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(bytes), "answer-bytes")
		})
	}
}

// BenchmarkHostileDocuments sends hostile documents of growing size, each
// new (no cache helps), and reports the time per byte of document: it
// stays flat (linear time) as the size grows a thousandfold.
func BenchmarkHostileDocuments(b *testing.B) {
	kinds := []struct {
		name string
		unit func(i int) string
		wrap func(s string) string
	}{
		{"repeated-fields", func(i int) string { return "supplies { sku } " }, func(s string) string { return "{ " + s + "}" }},
		{"aliased-disks", func(i int) string { return fmt.Sprintf(`a%d: cell(id:"%s"){ neighbors(k:100){ id } } `, i, someCell) }, func(s string) string { return "{ " + s + "}" }},
		{"fragments", func(i int) string { return fmt.Sprintf("fragment F%d on Supply { sku ...F%d ...F%d } ", i, i+1, i+1) }, func(s string) string { return "{ supplies { ...F0 } } " + s }},
		{"string-literal", func(i int) string { return "xxxxxxxxxxxxxxxx" }, func(s string) string { return `{ cell(id:"` + s + `") { id } }` }},
	}
	h := newCostHub(b)
	for _, k := range kinds {
		for _, size := range []int{1 << 10, 10 << 10, 100 << 10, 1000 << 10} {
			var sb strings.Builder
			for i := 0; sb.Len() < size; i++ {
				sb.WriteString(k.unit(i))
			}
			doc := k.wrap(sb.String())
			b.Run(fmt.Sprintf("%s/%dKB", k.name, size>>10), func(b *testing.B) {
				n := 0
				cpu := cpuTime(b)
				for b.Loop() {
					// a fresh text each time, as an adversary sends
					n++
					body, _ := json.Marshal(map[string]string{"query": doc + fmt.Sprintf(" # %d", n)})
					if a := h.serve(b, body); len(a.Errors) == 0 && size > 1<<10 {
						b.Fatalf("%s of %d bytes was not refused", k.name, len(doc))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(doc)), "ns/byte")
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N)/float64(len(doc)), "cpu-ns/byte")
			})
		}
	}
}

// BenchmarkIntrospectionFastPath answers the same introspection documents
// through the fast path and through the executor, in the same run, and
// reports the CPU per field of the answer (as CostLimit counts fields) of
// each and their ratio, which sets httpapi.IntrospectionFieldsPerUnit.
func BenchmarkIntrospectionFastPath(b *testing.B) {
	files, err := filepath.Glob("testdata/introspection*.graphql")
	if err != nil || len(files) == 0 {
		b.Fatal(files, err)
	}
	fast := newCostHub(b)
	slow := newCostHub(b, func(o *httpapi.Options) {
		o.SlowIntrospection = true
		o.MaxComplexityAnonymous = httpapi.DefaultMaxComplexity
	})
	for _, f := range files {
		q, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"query": string(q)})
		var perField [2]float64
		for i, h := range []*costHub{slow, fast} {
			name := []string{"executor", "fast"}[i]
			b.Run(filepath.Base(f)+"/"+name, func(b *testing.B) {
				a := h.serve(b, body)
				var data map[string]any
				if err := json.Unmarshal(a.Data, &data); err != nil || len(a.Errors) > 0 {
					b.Fatalf("%v %v", a.codes(), err)
				}
				fields := answerCost(data)
				cpu := cpuTime(b)
				for b.Loop() {
					h.serveOnly(body)
				}
				perOp := float64(cpuTime(b)-cpu) / float64(b.N)
				perField[i] = perOp / float64(fields)
				b.ReportMetric(perOp, "cpu-ns/op")
				b.ReportMetric(perField[i], "cpu-ns/field")
				b.ReportMetric(float64(fields), "fields")
				if i == 1 && perField[1] > 0 {
					b.ReportMetric(perField[0]/perField[1], "executor/fast")
				}
			})
		}
	}
}
