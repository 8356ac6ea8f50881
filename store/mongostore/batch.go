package mongostore

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/gridhub/gridhub/hub"
)

// getByID reads the documents ids name with one $in query and returns
// their records in the order of ids, nil where there is none.
func getByID[D any, T any](ctx context.Context, s *Store, coll *mongo.Collection, kind string, ids []string, idOf func(*D) string, domain func(*D) *T) ([]*T, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	out := make([]*T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	want := slices.Compact(slices.Sorted(slices.Values(ids)))
	docs, err := findAll(ctx, coll, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: want}}}}, nil, func(d *D) *D { return d })
	if err != nil {
		return nil, s.fail("read "+kind+"s", err)
	}
	byID := make(map[string]*D, len(docs))
	for _, d := range docs {
		byID[idOf(d)] = d
	}
	for i, id := range ids {
		if d, ok := byID[id]; ok {
			out[i] = domain(d)
		}
	}
	return out, nil
}

// PharmaciesByID returns the pharmacies ids name, in order, nil where
// there is none.
func (s *Store) PharmaciesByID(ctx context.Context, ids []string) ([]*hub.Pharmacy, error) {
	return getByID(ctx, s, s.c.pharmacies, "pharmacy", ids, func(d *pharmacyDoc) string { return d.ID }, (*pharmacyDoc).domain)
}

// DistrictsByID returns the districts ids name, in order, nil where there
// is none.
func (s *Store) DistrictsByID(ctx context.Context, ids []string) ([]*hub.District, error) {
	return getByID(ctx, s, s.c.districts, "district", ids, func(d *districtDoc) string { return d.ID }, (*districtDoc).domain)
}

// CommitteesByID returns the committees ids name, in order, nil where
// there is none.
func (s *Store) CommitteesByID(ctx context.Context, ids []string) ([]*hub.Committee, error) {
	return getByID(ctx, s, s.c.committees, "committee", ids, func(d *committeeDoc) string { return d.ID }, (*committeeDoc).domain)
}

// RoundsByID returns the rounds ids name, in order, nil where there is
// none.
func (s *Store) RoundsByID(ctx context.Context, ids []string) ([]*hub.Round, error) {
	return getByID(ctx, s, s.c.rounds, "round", ids, func(d *roundDoc) string { return d.ID }, (*roundDoc).domain)
}

// AllocationsByID returns the allocations ids name, in order, nil where
// there is none.
func (s *Store) AllocationsByID(ctx context.Context, ids []string) ([]*hub.Allocation, error) {
	return getByID(ctx, s, s.c.allocations, "allocation", ids, func(d *allocationDoc) string { return d.ID }, (*allocationDoc).domain)
}
