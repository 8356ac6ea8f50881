package portable

import (
	"context"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// waitingKey is the key of a WAITING shortage in shortagesWaiting.
func waitingKey(residentID string, sku hub.SKU) []byte { return ikey(residentID, string(sku)) }

// CreateShortage records a shortage registration. It needs an ID, a
// resident ID, a known SKU, a positive quantity and the status WAITING, or
// the call is an EINVALID error. An ID already taken, or a second WAITING
// registration of a resident for a SKU, is ECONFLICT; the latter's message
// names the first.
func (s *Store) CreateShortage(ctx context.Context, sh *hub.Shortage) error {
	if err := storecheck.Shortage(sh); err != nil {
		return err
	}
	rec := shortageToRec(sh)
	v, err := encode("shortage", rec)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx driver.Tx) error {
		recs, waiting := bucket(tx, bktShortages), bucket(tx, bktShortagesWaiting)
		if recs.Get([]byte(rec.ID)) != nil {
			return hub.Errorf(hub.ECONFLICT, "shortage %q already exists", rec.ID)
		}
		if id := waiting.Get(waitingKey(rec.ResidentID, rec.SKU)); id != nil {
			return hub.Errorf(hub.ECONFLICT, "resident %q already waits for %s as shortage %q", rec.ResidentID, rec.SKU, id)
		}
		if err := put(recs, []byte(rec.ID), v); err != nil {
			return err
		}
		if err := put(waiting, waitingKey(rec.ResidentID, rec.SKU), []byte(rec.ID)); err != nil {
			return err
		}
		if err := mark(bucket(tx, bktShortagesBySKU), ikey(string(rec.SKU), rec.ID)); err != nil {
			return err
		}
		return mark(bucket(tx, bktShortagesByStatus), ikey(string(rec.Status), rec.ID))
	})
}

// serveShortage makes a WAITING shortage SERVED by allocation a, dated its
// CreatedAt.
func serveShortage(tx driver.Tx, sh *shortageRec, a *allocationRec) error {
	old := sh.Status
	sh.Status, sh.AllocationID, sh.UpdatedAt = hub.ShortageServed, a.ID, a.CreatedAt
	if err := moveIndex(tx, bktShortagesByStatus, ikey(string(old), sh.ID), ikey(string(sh.Status), sh.ID)); err != nil {
		return err
	}
	if err := del(bucket(tx, bktShortagesWaiting), waitingKey(sh.ResidentID, sh.SKU)); err != nil {
		return err
	}
	return putRec(tx, bktShortages, "shortage", sh.ID, sh)
}

// Shortages lists shortage registrations in ID order (the waiting list's
// order): those of f.SKU and of f.Status when they are not empty, with ID
// greater than f.After, at most f.Limit (all when f.Limit <= 0). It walks
// the indexes of the given fields together. An unknown SKU or status is
// an EINVALID error.
func (s *Store) Shortages(ctx context.Context, f hub.ShortageFilter) ([]*hub.Shortage, error) {
	if f.SKU != "" {
		if _, err := hub.ParseSKU(string(f.SKU)); err != nil {
			return nil, err
		}
	}
	if err := storecheck.FilterEnum("shortage status", f.Status, storecheck.ShortageStatuses); err != nil {
		return nil, err
	}
	var out []*hub.Shortage
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		var idx []*idIndex
		if f.SKU != "" {
			idx = append(idx, newIDIndex(tx, bktShortagesBySKU, ikey(string(f.SKU), "")))
		}
		if f.Status != "" {
			idx = append(idx, newIDIndex(tx, bktShortagesByStatus, ikey(string(f.Status), "")))
		}
		out, err = listByID(tx, bktShortages, "shortage", idx, f.After, f.Limit, (*shortageRec).domain)
		return err
	})
	return out, err
}
