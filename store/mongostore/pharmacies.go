package mongostore

import (
	"context"
	"errors"
	"github.com/gridhub/gridhub/store/storecheck"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Reasons of the ledger entries the store writes itself.
const (
	// ReasonInitial records a new pharmacy's initial stock.
	ReasonInitial = "INITIAL"
	// ReasonAllocate records the stock an allocation takes (Allocate).
	ReasonAllocate = "ALLOCATE"
	// ReasonReturn records the stock an allocation gives back when it
	// moves to a status that returns it (TransitionAllocation).
	ReasonReturn = "RETURN"
)

// UpsertPharmacies creates or updates pharmacies, in order, in one
// transaction. An existing pharmacy keeps its stock (and its ledger); a
// new one starts with the stock it is given, recorded in its ledger as one
// INITIAL entry per SKU with a non-zero quantity, in SKU order, dated
// UpdatedAt (or now when that is zero).
func (s *Store) UpsertPharmacies(ctx context.Context, ps ...*hub.Pharmacy) error {
	if len(ps) == 0 {
		return s.checkOpen(ctx)
	}
	docs := make([]pharmacyDoc, len(ps))
	for i, p := range ps {
		if p == nil {
			return hub.Errorf(hub.EINVALID, "pharmacy %d of the batch is missing", i)
		}
		if err := storecheck.ID("pharmacy", p.ID); err != nil {
			return err
		}
		if err := storecheck.Ref("district", p.DistrictID); err != nil {
			return err
		}
		for sku, n := range p.Stock {
			if _, err := hub.ParseSKU(string(sku)); err != nil {
				return hub.Errorf(hub.EINVALID, "pharmacy %q: unknown supply %q", p.ID, sku)
			}
			if n < 0 {
				return hub.Errorf(hub.EINVALID, "pharmacy %q: negative stock of %s", p.ID, sku)
			}
		}
		docs[i] = pharmacyToDoc(p)
	}
	now := msTime(s.now())

	return s.tx(ctx, "upsert pharmacies", func(ctx context.Context) error {
		for _, d := range docs { // d is a copy: docs stays as given for a rerun
			old, err := findOne[pharmacyDoc](ctx, s.c.pharmacies, byID(d.ID),
				options.FindOne().SetProjection(bson.D{{Key: "stock", Value: 1}, {Key: "ledgerSeq", Value: 1}}))
			if err != nil {
				return err
			}
			if old != nil {
				d.Stock, d.LedgerSeq = old.Stock, old.LedgerSeq
				if d.Stock == nil {
					d.Stock = map[string]int64{}
				}
				if _, err := s.c.pharmacies.ReplaceOne(ctx, byID(d.ID), d); err != nil {
					return err
				}
				continue
			}
			entries := initialEntries(d, now)
			d.LedgerSeq = int64(len(entries))
			if _, err := s.c.pharmacies.InsertOne(ctx, d); err != nil {
				return err
			}
			if len(entries) > 0 {
				if _, err := s.c.ledger.InsertMany(ctx, entries); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// initialEntries returns the INITIAL ledger entries of a new pharmacy,
// Seq 1 on, in SKU order, dated its UpdatedAt or else now.
func initialEntries(d pharmacyDoc, now time.Time) []any {
	at := d.UpdatedAt
	if at.IsZero() {
		at = now
	}
	var out []any
	for _, sku := range slices.Sorted(maps.Keys(d.Stock)) {
		if n := d.Stock[sku]; n != 0 {
			c := hub.StockChange{PharmacyID: d.ID, SKU: hub.SKU(sku), Delta: int(n), Reason: ReasonInitial, At: at}
			out = append(out, ledgerToDoc(int64(len(out)+1), int(n), c))
		}
	}
	return out
}

// Pharmacy returns a pharmacy or an ENOTFOUND error.
func (s *Store) Pharmacy(ctx context.Context, id string) (*hub.Pharmacy, error) {
	d, err := get[pharmacyDoc](ctx, s, s.c.pharmacies, "pharmacy", id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// Pharmacies lists every pharmacy in ID order.
func (s *Store) Pharmacies(ctx context.Context) ([]*hub.Pharmacy, error) {
	return list(ctx, s, s.c.pharmacies, "pharmacies", bson.D{}, 0, (*pharmacyDoc).domain)
}

// AdjustStock applies a stock change atomically, records it in the ledger
// and returns the pharmacy as it is after the change. A change that would
// take stock below zero is an EOUTOFSTOCK error and changes nothing; an
// unknown pharmacy is ENOTFOUND; an unknown SKU or a zero delta EINVALID.
// The pharmacy's UpdatedAt is left alone.
func (s *Store) AdjustStock(ctx context.Context, c hub.StockChange) (*hub.Pharmacy, error) {
	if err := storecheck.ID("pharmacy", c.PharmacyID); err != nil {
		return nil, err
	}
	if _, err := hub.ParseSKU(string(c.SKU)); err != nil {
		return nil, err
	}
	if c.Delta == 0 {
		return nil, hub.Errorf(hub.EINVALID, "stock change of zero %s", c.SKU)
	}
	var out *hub.Pharmacy
	err := s.tx(ctx, "adjust stock", func(ctx context.Context) error {
		d, err := s.changeStock(ctx, c)
		if err != nil {
			return err
		}
		out = d.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// changeStock applies one stock change inside a transaction: the guarded
// update (stockFilter) and the ledger entry it numbers. It returns the
// pharmacy after the change, or ENOTFOUND, EOUTOFSTOCK or EINVALID (an
// overflow) when the guard matched nothing, having written nothing.
func (s *Store) changeStock(ctx context.Context, c hub.StockChange) (*pharmacyDoc, error) {
	var d pharmacyDoc
	err := s.c.pharmacies.FindOneAndUpdate(ctx, stockFilter(c.PharmacyID, c.SKU, c.Delta), stockUpdate(c.SKU, c.Delta), after()).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, s.whyNoStock(ctx, c)
	} else if err != nil {
		return nil, err
	}
	e := ledgerToDoc(d.LedgerSeq, int(d.Stock[string(c.SKU)]), c)
	if _, err := s.c.ledger.InsertOne(ctx, e); err != nil {
		return nil, err
	}
	return &d, nil
}

// whyNoStock says why the guard of a stock change matched nothing.
func (s *Store) whyNoStock(ctx context.Context, c hub.StockChange) error {
	d, err := findOne[pharmacyDoc](ctx, s.c.pharmacies, byID(c.PharmacyID),
		options.FindOne().SetProjection(bson.D{{Key: "stock", Value: 1}}))
	if err != nil {
		return err
	}
	if d == nil {
		return hub.Errorf(hub.ENOTFOUND, "pharmacy %q not found", c.PharmacyID)
	}
	have := d.Stock[string(c.SKU)]
	if c.Delta > 0 && have > math.MaxInt64-int64(c.Delta) {
		return hub.Errorf(hub.EINVALID, "pharmacy %q: stock of %s would overflow", c.PharmacyID, c.SKU)
	}
	return hub.Errorf(hub.EOUTOFSTOCK, "pharmacy %q has %d %s, cannot take %d", c.PharmacyID, have, c.SKU, -c.Delta)
}

// StockLedger lists a pharmacy's ledger entries in order: those with Seq
// greater than after, at most limit of them (all when limit <= 0). An
// unknown pharmacy is an ENOTFOUND error.
func (s *Store) StockLedger(ctx context.Context, pharmacyID string, afterSeq uint64, limit int) ([]hub.StockEntry, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	ok, err := exists(ctx, s.c.pharmacies, byID(pharmacyID))
	if err != nil {
		return nil, s.fail("read pharmacy", err)
	}
	if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "pharmacy %q not found", pharmacyID)
	}
	if afterSeq >= math.MaxInt64 {
		return nil, nil
	}
	filter := bson.D{{Key: "pharmacyId", Value: pharmacyID}}
	if afterSeq > 0 {
		filter = append(filter, bson.E{Key: "seq", Value: bson.D{{Key: "$gt", Value: int64(afterSeq)}}})
	}
	o := options.Find().SetSort(bson.D{{Key: "seq", Value: 1}})
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	out, err := findAll(ctx, s.c.ledger, filter, o, (*ledgerDoc).domain)
	if err != nil {
		return nil, s.fail("read ledger", err)
	}
	return out, nil
}
