// Package citytest opens a city registry on a fresh embedded store: the
// set-up of the examples of the packages that work on a city (democity,
// importer). Tests and examples import it; no program does
// (TestNoProgramImportsIt).
package citytest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

// Key is the ID-hash key of the cities Open makes.
const Key = "example-key-0123456789"

// Open opens a city service (city.New, default options) on an embedded
// store in a new temporary directory, hashing ID numbers with Key. done
// closes the store and removes the directory.
func Open(ctx context.Context) (svc *city.Service, done func() error, err error) {
	dir, err := os.MkdirTemp("", "gridhub-example")
	if err != nil {
		return nil, nil, fmt.Errorf("citytest: %w", err)
	}
	st, err := boltstore.Open(dir)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("citytest: %w", err), os.RemoveAll(dir))
	}
	done = func() error { return errors.Join(st.Close(), os.RemoveAll(dir)) }
	hasher, err := privacy.NewHasher([]byte(Key))
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("citytest: %w", err), done())
	}
	svc, err = city.New(ctx, st, hasher, city.Options{})
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("citytest: %w", err), done())
	}
	return svc, done, nil
}
