// Package store opens the hub's store named by a URI. hub.Store is
// implemented once, by store/portable, on a driver (store/driver): bbolt
// in store/boltstore or MongoDB in store/mongostore, each the only
// importer of its database's client. The conformance suite (storetest)
// runs through the portable store over each driver, the driver suite
// (driver/drivertest) over each driver alone; docs/STORE.md has the
// design.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/boltstore"
	"github.com/gridhub/gridhub/store/mongostore"
)

// Open opens the store named by uri:
//   - "", "bolt" or "embedded": the embedded default (package boltstore) in
//     dataDir;
//   - "mongodb://..." or "mongodb+srv://...": MongoDB (package
//     mongostore), a replica set or a sharded cluster. Open pings the
//     primary first, within the URI's serverSelectionTimeoutMS or
//     mongostore.DefaultPingTimeout, and fails with a message naming the
//     address (never the password) and the driver's last error when it
//     cannot serve.
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
	if IsMongoURI(uri) {
		s, err := mongostore.Open(ctx, uri, mongostore.Options{})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("open store: unsupported URI scheme %q (want mongodb or mongodb+srv, or \"embedded\")", scheme)
}

// IsMongoURI reports whether uri names a MongoDB store (a mongodb:// or
// mongodb+srv:// URI), for which several hubs share the data and
// broker/mongobus carries their events.
func IsMongoURI(uri string) bool {
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "mongodb", "mongodb+srv":
		return true
	}
	return false
}
