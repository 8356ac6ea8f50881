package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBroadcast measures a restock broadcast to N WebSocket
// subscribers of one district's stockChanged, all with the same DISTRICT
// token and the same operation, against the real program in this
// process, with subscriptions shared (the default, httpapi.ShareOptions)
// and, in the same run as its baseline, with -share-subscriptions=false.
//
// For each N it reports, shared and unshared and their ratio: the hub's
// CPU per delivery, measured as BenchmarkIdleSubscriber does (restocks
// while the subscribers do not read, less the same restocks before anyone
// subscribed, per alert the hub sent), once for restocks sent one at a
// time and once (burst4) for bursts of broadcastBurst restocks in one
// request, as a launch day's deliveries come; and the trigger (the
// restock mutation sent) to receipt latency, p50 and p99 over every
// subscriber of restocks sent one at a time (the subscribers read then,
// on their goroutines in this process).
//
// GRIDHUB_BENCH_BROADCAST lists the counts (default "2000,9000": each
// connection costs two file descriptors here, and the machine's hard
// RLIMIT_NOFILE is 20,000). The run measures once, whatever b.N:
//
//	go test -run '^$' -bench Broadcast -benchtime 1x ./e2e
func BenchmarkBroadcast(b *testing.B) {
	if testing.Short() {
		b.Skip("opens thousands of connections")
	}
	counts := []int{2000, 9000}
	if v := os.Getenv("GRIDHUB_BENCH_BROADCAST"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("GRIDHUB_BENCH_BROADCAST=%q: want positive counts", v)
			}
			counts = append(counts, n)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*slices.Max(counts)+256) {
		b.Skipf("RLIMIT_NOFILE %d holds fewer than the %d descriptors %d connections need here", lim.Cur, 2*slices.Max(counts)+256, slices.Max(counts))
	}
	dir := b.TempDir()
	results := map[bool][]broadcastResult{}
	for _, share := range []bool{true, false} {
		h := startBroadcastHub(b, dir, share)
		for _, n := range counts {
			results[share] = append(results[share], h.measure(b, n))
		}
		h.stop()
	}
	for i, n := range counts {
		s, u := results[true][i], results[false][i]
		b.ReportMetric(s.cpu, fmt.Sprintf("cpu-us/delivery-shared-%d", n))
		b.ReportMetric(u.cpu, fmt.Sprintf("cpu-us/delivery-unshared-%d", n))
		b.ReportMetric(s.cpu/u.cpu, fmt.Sprintf("x-cpu-shared/unshared-%d", n))
		b.ReportMetric(s.burstCPU, fmt.Sprintf("cpu-us/delivery-shared-burst%d-%d", broadcastBurst, n))
		b.ReportMetric(u.burstCPU, fmt.Sprintf("cpu-us/delivery-unshared-burst%d-%d", broadcastBurst, n))
		b.ReportMetric(s.burstCPU/u.burstCPU, fmt.Sprintf("x-cpu-burst%d-shared/unshared-%d", broadcastBurst, n))
		b.ReportMetric(s.p50, fmt.Sprintf("p50-ms-shared-%d", n))
		b.ReportMetric(s.p99, fmt.Sprintf("p99-ms-shared-%d", n))
		b.ReportMetric(u.p50, fmt.Sprintf("p50-ms-unshared-%d", n))
		b.ReportMetric(u.p99, fmt.Sprintf("p99-ms-unshared-%d", n))
		b.ReportMetric(s.p99/u.p99, fmt.Sprintf("x-p99-shared/unshared-%d", n))
	}
	b.ReportMetric(0, "ns/op")
}

// Restocks of each measurement.
const (
	broadcastCPURestocks     = 20
	broadcastLatencyRestocks = 10
	broadcastBurst           = 4 // restocks in one request, in the burst phase
)

// broadcastResult is one measurement: CPU per delivery (µs), restocks one
// at a time and in bursts, latency (ms).
type broadcastResult struct {
	cpu, burstCPU, p50, p99 float64
}

// broadcastHub is the program with the demo city, its subscribers
// following the district with the most pharmacies.
type broadcastHub struct {
	benchHub
	stop       func()
	district   string
	token      string // the district's
	pharmacies []string
	quantity   int // the last restock's quantity: each restock's is new
}

func startBroadcastHub(b *testing.B, dir string, share bool) *broadcastHub {
	b.Helper()
	h := &broadcastHub{}
	h.addr, h.stop = serveBench(b, dir, "--share-subscriptions="+strconv.FormatBool(share))
	h.url = "http://" + h.addr
	h.admin = h.mint(b, dir, "ADMIN", "")
	var data struct {
		Districts []struct {
			ID         string
			Pharmacies []struct{ ID string }
		}
	}
	h.post(b, `{ districts { id pharmacies { id } } }`, nil, &data)
	for _, d := range data.Districts {
		if len(d.Pharmacies) > len(h.pharmacies) {
			h.district, h.pharmacies = d.ID, nil
			for _, p := range d.Pharmacies {
				h.pharmacies = append(h.pharmacies, p.ID)
			}
		}
	}
	if h.district == "" {
		b.Fatal("the demo city has no pharmacies")
	}
	h.token = h.mint(b, dir, "DISTRICT", h.district)
	return h
}

// restock restocks the district's i-th pharmacy (in turn) with child
// masks, each time a quantity no restock had, and returns it.
func (h *broadcastHub) restock(b *testing.B, i int) int {
	h.quantity++
	h.post(b, `mutation($p: ID!, $q: Int!) { restock(pharmacyId: $p, sku: MASK_CHILD, quantity: $q) { id } }`,
		map[string]any{"p": h.pharmacies[i%len(h.pharmacies)], "q": h.quantity}, nil)
	return h.quantity
}

// restockBurst restocks k of the district's pharmacies (in turn from the
// i-th) in one request, the mutations one after another, each with a
// quantity no restock had.
func (h *broadcastHub) restockBurst(b *testing.B, i, k int) {
	var doc strings.Builder
	vars := map[string]any{}
	doc.WriteString("mutation(")
	for j := range k {
		fmt.Fprintf(&doc, "$p%d: ID!, $q%d: Int!, ", j, j)
	}
	doc.WriteString(") {")
	for j := range k {
		h.quantity++
		vars[fmt.Sprint("p", j)], vars[fmt.Sprint("q", j)] = h.pharmacies[(i+j)%len(h.pharmacies)], h.quantity
		fmt.Fprintf(&doc, " r%d: restock(pharmacyId: $p%d, sku: MASK_CHILD, quantity: $q%d) { id }", j, j, j)
	}
	doc.WriteString(" }")
	h.post(b, doc.String(), vars, nil)
}

// sent is the stock-change messages the hub sent: the broker's
// deliveries, a shared execution's counted as the messages it handed to
// its members.
func (h *broadcastHub) sent(b *testing.B) float64 {
	return h.metric(b, `gridhub_events_delivered_total{kind="STOCK_CHANGED"}`) -
		h.metric(b, "gridhub_shared_events_total") + h.metric(b, "gridhub_shared_deliveries_total")
}

// restockCPU runs k restocks while nobody reads, burst at a time (one
// request each), and returns the process's CPU and the messages sent
// meanwhile.
func (h *broadcastHub) restockCPU(b *testing.B, k, burst int) (time.Duration, float64) {
	sent0 := h.sent(b)
	cpu0 := processCPU()
	for i := 0; i < k; i += burst {
		if burst == 1 {
			h.restock(b, i)
			continue
		}
		h.restockBurst(b, i, burst)
	}
	settle()
	return processCPU() - cpu0, h.sent(b) - sent0
}

// measure opens n subscribers, measures, and closes them.
func (h *broadcastHub) measure(b *testing.B, n int) broadcastResult {
	b.Helper()
	runtime.GC()
	control, _ := h.restockCPU(b, broadcastCPURestocks, 1)
	burstControl, _ := h.restockCPU(b, broadcastCPURestocks, broadcastBurst)
	before := h.subscriptions(b)
	conns := make([]*rawWS, n)
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + h.token}})
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($d: ID!) { stockChanged(districtId: $d) { seq at sku delta stockAfter reason gap pharmacy { id name } } }`,
		"variables": map[string]string{"d": h.district},
	}})
	var wg sync.WaitGroup
	var failed atomic.Value
	work := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c := &rawWS{buf: bufio.NewReaderSize(nil, 1024)}
				err := c.handshake(h.addr, "/graphql", "graphql-transport-ws")
				if err == nil {
					err = c.writeText(init)
				}
				var ack []byte
				if err == nil {
					ack, err = c.readText()
				}
				if err == nil && !bytes.Contains(ack, []byte(`"connection_ack"`)) {
					err = fmt.Errorf("want connection_ack, got %s", ack)
				}
				if err == nil {
					err = c.writeText(sub)
				}
				if err != nil {
					failed.Store(err)
					if c.conn != nil {
						_ = c.conn.Close()
					}
					continue
				}
				_ = c.conn.SetDeadline(time.Time{})
				conns[i] = c
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.conn.Close()
			}
		}
		h.waitSubscriptions(b, before)
	}()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("open connection: %v", err)
	}
	h.waitSubscriptions(b, before+float64(n))
	// The clients answer no ping: a pong every few seconds keeps the hub
	// from closing them as gone.
	stopPongs := make(chan struct{})
	pongsDone := make(chan struct{})
	go func() {
		defer close(pongsDone)
		pong := []byte(`{"type":"pong"}`)
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopPongs:
				return
			case <-t.C:
				for _, c := range conns {
					_ = c.writeText(pong)
				}
			}
		}
	}()
	defer func() {
		close(stopPongs)
		<-pongsDone
	}()

	// CPU: the subscribers do not read; their messages wait in the
	// sockets.
	runtime.GC()
	with, sent := h.restockCPU(b, broadcastCPURestocks, 1)
	if sent < float64(n) {
		b.Fatalf("%v messages sent to %d subscribers", sent, n)
	}
	res := broadcastResult{cpu: float64((with - control).Microseconds()) / sent}
	runtime.GC()
	with, sent = h.restockCPU(b, broadcastCPURestocks, broadcastBurst)
	if sent < float64(n) {
		b.Fatalf("%v messages sent to %d subscribers", sent, n)
	}
	res.burstCPU = float64((with - burstControl).Microseconds()) / sent

	// Latency: every subscriber reads, and records when the RESTOCK step
	// of each restock (its delta, a quantity no other restock had)
	// arrived.
	recv := make([][]int64, n)
	quantities := map[int]int{} // quantity -> restock index
	first := h.quantity + 1
	for i := range broadcastLatencyRestocks {
		quantities[first+i] = i
	}
	var pending atomic.Int64
	pending.Store(int64(n * broadcastLatencyRestocks))
	var readers sync.WaitGroup
	for i, c := range conns {
		recv[i] = make([]int64, broadcastLatencyRestocks)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				p, err := c.readText()
				if err != nil {
					return
				}
				at := time.Now().UnixNano()
				j := bytes.Index(p, []byte(`"delta":`))
				if j < 0 || !bytes.Contains(p, []byte(`"reason":"RESTOCK"`)) {
					continue
				}
				end := bytes.IndexAny(p[j+8:], ",}")
				if end < 0 {
					continue
				}
				q, _ := strconv.Atoi(string(p[j+8 : j+8+end]))
				if k, ok := quantities[q]; ok && recv[i][k] == 0 {
					recv[i][k] = at
					if pending.Add(-1) == 0 {
						return
					}
				}
			}
		}()
	}
	// The messages of the CPU phase are read first.
	time.Sleep(time.Second)
	sentAt := make([]int64, broadcastLatencyRestocks)
	for i := range broadcastLatencyRestocks {
		sentAt[i] = time.Now().UnixNano()
		h.restock(b, i)
		time.Sleep(500 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p := pending.Load(); p > 0 {
		b.Fatalf("%d of %d receipts missing", p, n*broadcastLatencyRestocks)
	}
	var lat []float64
	for i := range recv {
		for k, at := range recv[i] {
			lat = append(lat, float64(at-sentAt[k])/1e6)
		}
	}
	slices.Sort(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[len(lat)*99/100]
	for _, c := range conns {
		_ = c.conn.Close()
	}
	readers.Wait()
	return res
}
