// Package resolvers answers GraphQL requests. It is thin: it validates
// input, calls the domain packages and maps their results; it knows
// nothing of H3 or of the store's driver.
package resolvers

//go:generate go tool gqlgen generate

import (
	"sync"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/retention"
	"github.com/gridhub/gridhub/stats"
)

// Resolver is the root resolver and the one place where the resolvers'
// dependencies are wired.
type Resolver struct {
	City     *city.Service
	Dispatch *dispatch.Engine
	Bus      broker.Bus // live alerts
	Codes    *codes.Service
	// Retention keeps the retention periods and legal holds.
	Retention *retention.Service
	Stats     *stats.Tally // counters behind the dashboards' aggregates
	// LoaderWait is how long the loaders of nested fields collect IDs
	// before a batch read (DefaultLoaderWait when zero; see Batched).
	LoaderWait time.Duration
	// ShowOfficialNames shows residents the name (token subject) of the
	// official who read their data; false: the role and scope only.
	ShowOfficialNames bool

	outlines sync.Map // district outlines by (id, version)
}
