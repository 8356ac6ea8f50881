package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Operations both loads send: the trivial query of the baselines (the
// hub's transport, authentication and GraphQL without the domain), and a
// restock, which adds $q units of a supply at a pharmacy.
const (
	trivialQuery    = `{ supplies { sku } }`
	restockMutation = `mutation($p: ID!, $s: SKU!, $q: Int!) { restock(pharmacyId: $p, sku: $s, quantity: $q) { id } }`
)

// hubClient speaks GraphQL over HTTP to one hub on this machine.
type hubClient struct {
	base  *url.URL // scheme and host of the hub
	gql   string   // the GraphQL endpoint
	ws    string   // the same endpoint over WebSocket
	http  *http.Client
	close func()
}

// newHubClient returns a client of the hub at rawURL, which must be on a
// loopback address: load is only ever sent to this machine.
func newHubClient(rawURL string, conns int) (*hubClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("hub url: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("hub url %q: want http://127.0.0.1:PORT", rawURL)
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	return &hubClient{
		base:  base,
		gql:   base.String() + "/graphql",
		ws:    "ws://" + u.Host + "/graphql",
		http:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
		close: tr.CloseIdleConnections,
	}, nil
}

// checkLoopback refuses a host that is not "localhost" or a loopback IP
// address. Names are not resolved: the check itself sends nothing.
func checkLoopback(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("hub host %q: give localhost or a loopback IP address (127.0.0.0/8, ::1)", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("hub host %q is not a loopback address: load goes only to this machine (127.0.0.0/8, ::1)", host)
	}
	return nil
}

// port returns the hub's TCP port.
func (c *hubClient) port() int {
	p, _ := strconv.Atoi(c.base.Port())
	if p == 0 {
		p = 80
	}
	return p
}

// gqlError is an error of a GraphQL answer.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// queryError is a failed GraphQL request; Kind names it for the error
// counts (an extensions.code, an HTTP status or a network failure).
type queryError struct {
	Kind   string
	Detail string
}

func (e *queryError) Error() string { return e.Kind + ": " + e.Detail }

// errorKind names err for the error counts.
func errorKind(err error) string {
	var qe *queryError
	if errors.As(err, &qe) {
		return qe.Kind
	}
	return netErrorKind(err)
}

// Do posts query with vars, authenticated by token if not empty, and
// decodes the answer's data into out (if not nil).
func (c *hubClient) Do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.gql, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return &queryError{Kind: "http_" + strconv.Itoa(resp.StatusCode), Detail: truncate(string(b), 200)}
	}
	if len(ans.Errors) > 0 {
		kind := ans.Errors[0].Extensions.Code
		if kind == "" {
			kind = "GRAPHQL_ERROR"
		}
		return &queryError{Kind: kind, Detail: ans.Errors[0].Message}
	}
	if resp.StatusCode != http.StatusOK {
		return &queryError{Kind: "http_" + strconv.Itoa(resp.StatusCode), Detail: truncate(string(b), 200)}
	}
	if out != nil {
		return json.Unmarshal(ans.Data, out)
	}
	return nil
}

// Metrics returns the values of the hub's unlabelled Prometheus series
// named in names; a series the hub does not export is absent.
func (c *hubClient) Metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body, names)
}

// parseMetrics reads the Prometheus text format and returns the values of
// the unlabelled series named in names.
func parseMetrics(r io.Reader, names []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
