package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gridhub/gridhub/app"
)

// BenchmarkIdleSubscriber measures what one idle WebSocket subscriber
// costs the hub: committees of the demo city subscribed to restockAlerts
// over graphql-transport-ws against the real program, in this process.
// The baseline, measured in the same run, is a bare gorilla/websocket
// echo server with default options: one connection upgraded, one message
// echoed, its handler then blocked reading.
//
// Both are opened by a client that keeps no goroutine and no buffer per
// connection once it is set up (it holds the socket only), so nearly all
// that the process gains per connection is the server's. Memory is the
// live heap and the goroutine stacks after forced collections (a
// collection also shrinks stacks that use little of what they hold).
// It is measured twice: right after the connections open, and again once
// every client has spoken once more (a pong to the hub, as its clients
// answer the hub's ping within the first 10 s; a message to the echo
// server), which is what an idle connection costs from then on. The
// first, "at open", depends on the moment: Go starts each goroutine with
// a stack of the average size in use at the last collection, which is
// larger while the connections open (each runs a handshake) than when
// they are idle.
//
// Then restocks go out while the subscribers stay idle (their alerts wait
// in the sockets), and the process's allocations and CPU per alert
// delivered are reported, less what the same restocks cost before anyone
// subscribed.
//
// GRIDHUB_BENCH_SUBSCRIBERS sets the count (default 2,000; each costs two
// file descriptors here, one per end). GRIDHUB_BENCH_HEAPPROFILE=PATH
// writes the heap profiles before the connections open and with them idle
// to PATH.before.*benchHub and PATH.*benchHub, and the same for the echo
// server (go tool pprof -sample_index=inuse_space -diff_base BEFORE AFTER);
// it records every allocation, which slows the run, so its CPU figures are
// then not comparable with others. The run measures once, whatever
// b.N:
//
//	go test -run '^$' -bench IdleSubscriber -benchtime 1x ./e2e
func BenchmarkIdleSubscriber(b *testing.B) {
	if testing.Short() {
		b.Skip("opens thousands of connections")
	}
	n := 2000
	if v := os.Getenv("GRIDHUB_BENCH_SUBSCRIBERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("GRIDHUB_BENCH_SUBSCRIBERS=%q: want a positive count", v)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+256) {
		b.Skipf("RLIMIT_NOFILE %d holds fewer than the %d descriptors %d connections need here", lim.Cur, 2*n+256, n)
	}
	if os.Getenv("GRIDHUB_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact profile
	}
	es := &echoServer{}
	echo, _ := measureIdle(b, n, es)
	// Its goroutines go before the hub is measured: Go sizes new stacks
	// by the average in use, which theirs would raise.
	es.close(b)
	hub := &benchHub{}
	subs, atOpen := measureIdle(b, n, hub)
	hub.restock(b, benchRestocks)
	b.ReportMetric(subs.bytes(), "B/subscriber")
	b.ReportMetric(atOpen.bytes(), "B/subscriber-at-open")
	b.ReportMetric(atOpen.stack, "stack-B/subscriber-at-open")
	b.ReportMetric(subs.heap, "heap-B/subscriber")
	b.ReportMetric(subs.stack, "stack-B/subscriber")
	b.ReportMetric(subs.goroutines, "goroutines/subscriber")
	b.ReportMetric(echo.bytes(), "B/echo-conn")
	b.ReportMetric(echo.goroutines, "goroutines/echo-conn")
	b.ReportMetric(subs.bytes()/echo.bytes(), "x-echo-bytes")
	b.ReportMetric(hub.alerts.bytes, "alloc-B/alert")
	b.ReportMetric(hub.alerts.objects, "allocs/alert")
	b.ReportMetric(hub.alerts.cpu, "cpu-us/alert")
	b.ReportMetric(0, "ns/op")
}

// benchRestocks is how many restocks measure an alert's cost.
const benchRestocks = 40

// idleCost is what one connection adds to the process, on average.
type idleCost struct {
	heap, stack, goroutines float64
}

func (c idleCost) bytes() float64 { return c.heap + c.stack }

// memSnapshot is the process's live heap, stacks and goroutines after
// forced collections.
type memSnapshot struct {
	heap, stack uint64
	goroutines  int
}

func settledMemory() memSnapshot {
	// Each collection halves the stacks that use under a quarter of what
	// they hold; a few bring setup's deep stacks down to what idle needs.
	for range 4 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// idleServer is a server under measurement.
type idleServer interface {
	// start starts the server; it is stopped when b ends.
	start(b *testing.B)
	// open opens n idle connections, closed when b ends, and returns once
	// the server holds them all.
	open(b *testing.B, n int)
	// speak has every connection's client send one message more, which
	// the server handles without an answer that needs reading.
	speak(b *testing.B)
}

// measureIdle starts srv, opens n connections to it and returns what each
// added to the process once every client has spoken once more (idle),
// and right after they opened (atOpen).
func measureIdle(b *testing.B, n int, srv idleServer) (idle, atOpen idleCost) {
	b.Helper()
	srv.start(b)
	before := settledMemory()
	if path := os.Getenv("GRIDHUB_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, fmt.Sprintf("%s.before.%T", path, srv))
	}
	srv.open(b, n)
	time.Sleep(200 * time.Millisecond) // the server's goroutines park
	opened := settledMemory()
	srv.speak(b)
	time.Sleep(200 * time.Millisecond)
	after := settledMemory()
	if path := os.Getenv("GRIDHUB_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, fmt.Sprintf("%s.%T", path, srv))
	}
	return before.costTo(after, n), before.costTo(opened, n)
}

// costTo is what each of n connections added from s to after.
func (s memSnapshot) costTo(after memSnapshot, n int) idleCost {
	return idleCost{
		heap:       (float64(after.heap) - float64(s.heap)) / float64(n),
		stack:      (float64(after.stack) - float64(s.stack)) / float64(n),
		goroutines: float64(after.goroutines-s.goroutines) / float64(n),
	}
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// echoServer is the baseline: a gorilla/websocket echo server with
// default options (its handler reads and echoes until the peer goes).
type echoServer struct {
	addr  string
	srv   *httptest.Server
	conns []net.Conn
}

// close closes the connections and the server, and waits for their
// goroutines to end.
func (s *echoServer) close(b *testing.B) {
	b.Helper()
	before := runtime.NumGoroutine()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.srv.Close()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before-len(s.conns); {
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines left after the echo connections closed, want at most %d", runtime.NumGoroutine(), before-len(s.conns))
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.conns = nil
}

func (s *echoServer) start(b *testing.B) {
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(t, msg); err != nil {
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	s.srv = srv
	s.addr = srv.Listener.Addr().String()
}

func (s *echoServer) speak(b *testing.B) { speakAll(b, s.conns, []byte("hello")) }

func (s *echoServer) open(b *testing.B, n int) {
	s.conns = dialMany(b, n, func(_ int, c *rawWS) error {
		if err := c.handshake(s.addr, "/", ""); err != nil {
			return err
		}
		if err := c.writeText([]byte("hello")); err != nil {
			return err
		}
		_, err := c.readText()
		return err
	})
}

// benchHub is the real program with the demo city, in this process;
// its connections are committees subscribed to restockAlerts, in turn.
type benchHub struct {
	conns      []net.Conn
	url        string
	addr       string
	admin      string // an ADMIN token
	committees []string
	tokens     map[string]string
	pharmacies []string

	control alertCost // restocks before any subscriber
	alerts  alertCost // per alert, what restock measured less control
}

// alertCost is what the process spends: bytes and objects allocated,
// microseconds of CPU.
type alertCost struct {
	bytes, objects, cpu float64
}

func (h *benchHub) start(b *testing.B) {
	b.Helper()
	dir := b.TempDir()
	var stop func()
	h.addr, stop = serveBench(b, dir)
	b.Cleanup(stop)
	h.url = "http://" + h.addr

	h.admin = h.mint(b, dir, "ADMIN", "")
	var data struct {
		Districts []struct {
			Committees []struct{ ID string }
			Pharmacies []struct{ ID string }
		}
	}
	h.post(b, `{ districts { committees { id } pharmacies { id } } }`, nil, &data)
	h.tokens = map[string]string{}
	for _, d := range data.Districts {
		for _, c := range d.Committees {
			h.committees = append(h.committees, c.ID)
			h.tokens[c.ID] = h.mint(b, dir, "COMMITTEE", c.ID)
		}
		for _, p := range d.Pharmacies {
			h.pharmacies = append(h.pharmacies, p.ID)
		}
	}
	if len(h.committees) == 0 {
		b.Fatal("the demo city has no committees")
	}
	h.control, _ = h.restockCost(b, benchRestocks)
}

func (h *benchHub) open(b *testing.B, n int) {
	before := h.subscriptions(b)
	h.conns = dialMany(b, n, func(i int, c *rawWS) error {
		committee := h.committees[i%len(h.committees)]
		if err := c.handshake(h.addr, "/graphql", "graphql-transport-ws"); err != nil {
			return err
		}
		init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + h.tokens[committee]}})
		if err := c.writeText(init); err != nil {
			return err
		}
		ack, err := c.readText()
		if err != nil {
			return err
		}
		if !bytes.Contains(ack, []byte(`"connection_ack"`)) {
			return fmt.Errorf("want connection_ack, got %s", ack)
		}
		sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query":     `subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring gap pharmacy { id name } } }`,
			"variables": map[string]string{"c": committee},
		}})
		return c.writeText(sub)
	})
	h.waitSubscriptions(b, before+float64(n))
}

// speak has every subscriber answer a ping, as it would the hub's first
// one: a pong, which the hub reads and does not answer.
func (h *benchHub) speak(b *testing.B) { speakAll(b, h.conns, []byte(`{"type":"pong"}`)) }

// speakAll sends msg as a text frame on each of conns.
func speakAll(b *testing.B, conns []net.Conn, msg []byte) {
	b.Helper()
	for _, conn := range conns {
		if err := (&rawWS{conn: conn}).writeText(msg); err != nil {
			b.Fatalf("speak: %v", err)
		}
	}
}

func (h *benchHub) mint(b *testing.B, dir, role, scope string) string {
	b.Helper()
	var out, errOut bytes.Buffer
	args := []string{"token", "-data", dir, "-role", role, "-subject", "bench-" + strings.ToLower(role), "-ttl", "1h"}
	if scope != "" {
		args = append(args, "-scope", scope)
	}
	if err := app.Run(context.Background(), args, &out, &errOut, func(string) string { return "" }); err != nil {
		b.Fatalf("token %s %s: %v (%s)", role, scope, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// restockCost restocks k pharmacies in turn, one at a time, with child
// masks (no round and no waiting list: a stock write and its events),
// while the subscribers, if any, stay idle (the alerts wait in their
// sockets), and returns what the process spent and how many alerts the
// broker delivered.
func (h *benchHub) restockCost(b *testing.B, k int) (spent alertCost, delivered float64) {
	b.Helper()
	delivered0 := h.alertsDelivered(b)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	for i := range k {
		h.post(b, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_CHILD, quantity: 10) { id } }`,
			map[string]any{"p": h.pharmacies[i*7%len(h.pharmacies)]}, nil)
	}
	// Wait until the alerts are written.
	settle()
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	return alertCost{
		bytes:   float64(ms1.TotalAlloc - ms0.TotalAlloc),
		objects: float64(ms1.Mallocs - ms0.Mallocs),
		cpu:     float64((cpu1 - cpu0).Microseconds()),
	}, h.alertsDelivered(b) - delivered0
}

// alertsDelivered returns the restock alerts sent to subscribers: the
// broker's deliveries, each shared execution's counted as the messages it
// handed to its members (httpapi.ShareOptions).
func (h *benchHub) alertsDelivered(b *testing.B) float64 {
	return h.metric(b, `gridhub_events_delivered_total{kind="RESTOCK"}`) -
		h.metric(b, "gridhub_shared_events_total") + h.metric(b, "gridhub_shared_deliveries_total")
}

// subscriptions returns the subscriptions clients hold: the broker's, each
// shared execution's counted as its members.
func (h *benchHub) subscriptions(b *testing.B) float64 {
	return h.metric(b, "gridhub_subscriptions") - h.metric(b, "gridhub_shared_executions") + h.metric(b, "gridhub_shared_subscribers")
}

// restock measures what an alert costs: k restocks with the subscribers
// less the same restocks before any subscribed (h.control), per alert
// delivered.
func (h *benchHub) restock(b *testing.B, k int) {
	b.Helper()
	with, delivered := h.restockCost(b, k)
	if delivered <= 0 {
		b.Fatal("the restocks alerted nobody")
	}
	h.alerts = alertCost{
		bytes:   (with.bytes - h.control.bytes) / delivered,
		objects: (with.objects - h.control.objects) / delivered,
		cpu:     (with.cpu - h.control.cpu) / delivered,
	}
}

// serveBench runs the program (gridhub serve --demo, rate limits off,
// extra flags after) in this process on a free port with its data in
// dir, and returns its address and a function that stops it and waits.
func serveBench(b *testing.B, dir string, extra ...string) (addr string, stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := append([]string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", dir, "--secret", "test-secret-0123456789",
		"--rate-per-token", "0", "--rate-per-address", "0"}, extra...)
	go func() {
		done <- app.Run(ctx, args, pw, io.Discard, func(string) string { return "" })
		pw.Close()
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			b.Error("hub did not stop within 20s")
		}
	}
	br := bufio.NewReader(pr)
	for addr == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			stop()
			b.Fatalf("hub did not start: %v", err)
		}
		if rest, ok := strings.CutPrefix(line, "gridhub listening on "); ok {
			addr = strings.TrimSpace(rest)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return addr, stop
}

// settle waits until this process's goroutine count stands still: the
// forwarders and writers of the alerts just sent are done.
func settle() {
	for last := runtime.NumGoroutine(); ; {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			return
		}
		last = n
	}
}

// processCPU returns the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metric returns the value of one series of the hub's /metrics, 0 when it
// is not there (a labelled counter shows once counted).
func (h *benchHub) metric(b *testing.B, series string) float64 {
	b.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func (h *benchHub) post(b *testing.B, query string, vars map[string]any, v any) {
	b.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, h.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
		b.Fatalf("%s: %v %+v", query, err, r.Errors)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		b.Fatal(err)
	}
}

// waitSubscriptions polls /metrics until gridhub_subscriptions is want.
func (h *benchHub) waitSubscriptions(b *testing.B, want float64) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := h.subscriptions(b)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the hub holds %v subscriptions, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dialMany opens n connections, 64 at a time, each set up by setup (given
// its index), and returns them; they are closed when b ends.
func dialMany(b *testing.B, n int, setup func(i int, c *rawWS) error) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, 0, n)
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(64, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rawWS{buf: bufio.NewReaderSize(nil, 4096)}
			for i := range work {
				err := setup(i, c)
				mu.Lock()
				if err != nil {
					firstErr = cmp.Or(firstErr, err)
					if c.conn != nil {
						_ = c.conn.Close()
					}
				} else {
					conns = append(conns, c.conn)
				}
				mu.Unlock()
				c.conn = nil
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("open connection: %v", firstErr)
	}
	return conns
}

// rawWS is the client side of one connection while it is set up: a
// WebSocket handshake and text frames, no more. Once set up, only the
// socket is kept; nothing reads it.
type rawWS struct {
	conn net.Conn
	buf  *bufio.Reader // reused from connection to connection
}

func (c *rawWS) handshake(addr, path, subprotocol string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	c.conn = conn
	c.buf.Reset(conn)
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	req.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	if subprotocol != "" {
		fmt.Fprintf(&req, "Sec-WebSocket-Protocol: %s\r\n", subprotocol)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return err
	}
	status, err := c.buf.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(status, " 101 ") {
		return fmt.Errorf("handshake: %s", strings.TrimSpace(status))
	}
	for {
		line, err := c.buf.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// writeText sends p as one masked text frame (a zero mask: the payload
// goes as it is).
func (c *rawWS) writeText(p []byte) error {
	hdr := []byte{0x81, 0}
	switch {
	case len(p) < 126:
		hdr[1] = 0x80 | byte(len(p))
	case len(p) <= 0xffff:
		hdr[1] = 0x80 | 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(p)))
	default:
		hdr[1] = 0x80 | 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(p)))
	}
	hdr = append(hdr, 0, 0, 0, 0)
	_, err := c.conn.Write(append(hdr, p...))
	return err
}

// readText returns the payload of the next text frame, skipping others.
func (c *rawWS) readText() ([]byte, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.buf, h[:]); err != nil {
			return nil, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(c.buf, l[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(c.buf, l[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if n > 1<<20 {
			return nil, errors.New("frame too large")
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.buf, p); err != nil {
			return nil, err
		}
		if h[0]&0x0f == websocket.TextMessage {
			return p, nil
		}
	}
}
