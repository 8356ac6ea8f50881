package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/httpapi"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/resolvers"
	"github.com/prometheus/client_golang/prometheus"
)

// costHub serves the hub's real schema, with its complexity functions and
// the default limits. Root fields that need no store (cell, cellAt,
// supplies, introspection) resolve; any other root field answers
// NOT_FOUND, so that a test can tell an operation that ran from one that
// was refused before it ran.
type costHub struct {
	url      string
	token    string // an ADMIN token
	resolved atomic.Int64
	checked  atomic.Int64
	handler  http.Handler
}

var costSecret = []byte("cost-test-secret-of-at-least-32-bytes!!")

func newCostHub(t testing.TB, change ...func(*httpapi.Options)) *costHub {
	t.Helper()
	keys, err := auth.HMACKeys(costSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Mint(auth.Principal{Role: auth.Admin, Subject: "cost-test"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := &costHub{token: tok}
	log := slog.New(slog.DiscardHandler)
	live := []string{"cell", "cellAt", "supplies", "__schema", "__type", "__typename"}
	opts := httpapi.Options{
		Schema:         graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: resolvers.Complexity()}),
		ErrorPresenter: resolvers.ErrorPresenter(log),
		Recover:        resolvers.Recover(log),
		Logger:         log,
		Registry:       prometheus.NewRegistry(),
		Introspection:  true,
		Verifier:       keys,
		Authorize: func(ctx context.Context, next graphql.Resolver) (any, error) {
			h.resolved.Add(1)
			fc := graphql.GetFieldContext(ctx)
			if fc != nil && (fc.Object == "Query" || fc.Object == "Mutation" || fc.Object == "Subscription") && !slices.Contains(live, fc.Field.Name) {
				return nil, hub.Errorf(hub.ENOTFOUND, "no store in this test")
			}
			return next(ctx)
		},
		Checked: func(string) { h.checked.Add(1) },
	}
	for _, c := range change {
		c(&opts)
	}
	h.handler = httpapi.New(opts)
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/graphql"
	return h
}

// gqlAnswer is a GraphQL answer as the tests read it.
type gqlAnswer struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"extensions"`
	} `json:"errors"`
	Bytes int
}

// codes lists the errors' code/reason pairs.
func (a gqlAnswer) codes() []string {
	var out []string
	for _, e := range a.Errors {
		out = append(out, e.Extensions.Code+"/"+e.Extensions.Reason)
	}
	return out
}

// hasReason reports a refusal for reason: BAD_USER_INPUT, or
// UNAUTHENTICATED for an operation over the budget without a token only.
func (a gqlAnswer) hasReason(reason string) bool {
	for _, e := range a.Errors {
		if e.Extensions.Reason == reason && (e.Extensions.Code == hub.EINVALID || reason == reasonComplexity && e.Extensions.Code == hub.EUNAUTHORIZED) {
			return true
		}
	}
	return false
}

// post sends a body to the hub, with the ADMIN token when signed.
func (h *costHub) post(t testing.TB, body any, signed bool) gqlAnswer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	return h.do(t, req)
}

func (h *costHub) do(t testing.TB, req *http.Request) gqlAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := gqlAnswer{Status: resp.StatusCode, Bytes: len(raw)}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %d is not JSON: %.300s", resp.StatusCode, raw)
	}
	return a
}

func (h *costHub) query(t testing.TB, q string, signed bool) gqlAnswer {
	t.Helper()
	return h.post(t, map[string]any{"query": q}, signed)
}
