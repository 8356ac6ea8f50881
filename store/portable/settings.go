package portable

import (
	"context"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
	"github.com/gridhub/gridhub/store/storecheck"
)

// Meta returns the value of setting key, or an ENOTFOUND error.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	if err := storecheck.MetaKey(key); err != nil {
		return "", err
	}
	var v string
	err := s.view(ctx, func(tx driver.Tx) error {
		raw := bucket(tx, bktSettings).Get([]byte(key))
		if raw == nil {
			return hub.Errorf(hub.ENOTFOUND, "setting %s not found", key)
		}
		v = string(raw)
		return nil
	})
	return v, err
}

// SwapMeta sets key to value if it holds old ("" for none) and returns
// what it holds after the call.
func (s *Store) SwapMeta(ctx context.Context, key, old, value string) (string, error) {
	if err := storecheck.SwapMeta(key, old, value); err != nil {
		return "", err
	}
	var now string
	err := s.write(ctx, func(tx driver.Tx) error {
		b := bucket(tx, bktSettings)
		raw := b.Get([]byte(key))
		switch {
		case raw == nil && old != "":
			return hub.Errorf(hub.ENOTFOUND, "setting %s not found", key)
		case string(raw) != old:
			now = string(raw)
			return nil
		}
		now = value
		return put(b, []byte(key), []byte(value))
	})
	if err != nil {
		return "", err
	}
	return now, nil
}
