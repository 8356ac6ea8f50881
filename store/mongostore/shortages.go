package mongostore

import (
	"context"
	"github.com/gridhub/gridhub/store/storecheck"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// CreateShortage records a shortage registration. It needs an ID, a
// resident ID, a known SKU, a positive quantity and the status WAITING,
// or the call is an EINVALID error. An ID already taken, or a second
// WAITING registration of a resident for a SKU, is ECONFLICT; the
// latter's message names the first. The unique index of WAITING
// registrations, {residentId, sku}, decides races between hubs.
func (s *Store) CreateShortage(ctx context.Context, sh *hub.Shortage) error {
	if err := storecheck.Shortage(sh); err != nil {
		return err
	}
	doc := shortageToDoc(sh)
	return s.again(ctx, "create shortage", func() error {
		if ok, err := exists(ctx, s.c.shortages, byID(doc.ID)); err != nil {
			return err
		} else if ok {
			return hub.Errorf(hub.ECONFLICT, "shortage %q already exists", doc.ID)
		}
		first, err := findOne[shortageDoc](ctx, s.c.shortages, bson.D{
			{Key: "residentId", Value: doc.ResidentID}, {Key: "sku", Value: doc.SKU},
			{Key: "status", Value: string(hub.ShortageWaiting)},
		})
		if err != nil {
			return err
		}
		if first != nil {
			return hub.Errorf(hub.ECONFLICT, "resident %q already waits for %s as shortage %q", doc.ResidentID, doc.SKU, first.ID)
		}
		_, err = s.c.shortages.InsertOne(ctx, doc)
		return err
	})
}

// Shortages lists shortage registrations in ID order (the waiting list's
// order): those of f.SKU and of f.Status when they are not empty, with ID
// greater than f.After, at most f.Limit (all when f.Limit <= 0). An
// unknown SKU or status is an EINVALID error.
func (s *Store) Shortages(ctx context.Context, f hub.ShortageFilter) ([]*hub.Shortage, error) {
	if f.SKU != "" {
		if _, err := hub.ParseSKU(string(f.SKU)); err != nil {
			return nil, err
		}
	}
	if err := storecheck.FilterEnum("shortage status", f.Status, storecheck.ShortageStatuses); err != nil {
		return nil, err
	}
	return list(ctx, s, s.c.shortages, "shortages", shortagesFilter(f), f.Limit, (*shortageDoc).domain)
}
