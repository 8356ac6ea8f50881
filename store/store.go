// Package store opens the hub's storage backend named by a URI. The
// backends live in their own packages (boltstore, later mongostore), each
// the only importer of its driver, and all pass the conformance suite in
// storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
)

// ErrMongoUnavailable is returned for a MongoDB URI by a build without the
// MongoDB backend.
var ErrMongoUnavailable = errors.New("the MongoDB backend is not part of this build yet")

// Open opens the store named by uri:
//   - "", "bolt" or "embedded": the embedded default (package boltstore) in
//     dataDir;
//   - "mongodb://..." or "mongodb+srv://...": MongoDB (package mongostore,
//     not yet part of this build: Open returns an error matching
//     ErrMongoUnavailable).
//
// Any other URI is an error naming its scheme.
func Open(ctx context.Context, uri, dataDir string) (hub.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch uri {
	case "", "bolt", "embedded":
		s, err := boltstore.Open(dataDir)
		if err != nil {
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
		return s, nil
	}

	scheme, _, ok := strings.Cut(uri, "://")
	if !ok {
		// Not echoed: a malformed URI may still hold a password.
		return nil, errors.New(`open store: URI has no scheme (want "embedded", "bolt", mongodb:// or mongodb+srv://)`)
	}
	switch strings.ToLower(scheme) {
	case "mongodb", "mongodb+srv":
		// The seam for the MongoDB backend: return mongostore.Open(ctx, uri)
		// here once store/mongostore exists.
		return nil, fmt.Errorf("open store: %s URI: %w", scheme, ErrMongoUnavailable)
	}
	return nil, fmt.Errorf("open store: unsupported URI scheme %q (want mongodb or mongodb+srv, or \"embedded\")", scheme)
}
