package portable

import (
	"context"

	"github.com/gridhub/gridhub/store/driver"

	"github.com/gridhub/gridhub/hub"
)

// getByID reads the records ids name from one bucket in one read
// transaction, in the order of ids, nil where there is none.
func getByID[R any, T any](ctx context.Context, s *Store, name, kind string, ids []string, domain func(*R) *T) ([]*T, error) {
	out := make([]*T, len(ids))
	err := s.view(ctx, func(tx driver.Tx) error {
		b := bucket(tx, name)
		for i, id := range ids {
			var r R
			ok, err := getRec(b, kind, []byte(id), &r)
			if err != nil {
				return err
			}
			if ok {
				out[i] = domain(&r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PharmaciesByID returns the pharmacies ids name, in order, nil where
// there is none.
func (s *Store) PharmaciesByID(ctx context.Context, ids []string) ([]*hub.Pharmacy, error) {
	return getByID(ctx, s, bktPharmacies, "pharmacy", ids, (*pharmacyRec).domain)
}

// DistrictsByID returns the districts ids name, in order, nil where there
// is none.
func (s *Store) DistrictsByID(ctx context.Context, ids []string) ([]*hub.District, error) {
	return getByID(ctx, s, bktDistricts, "district", ids, (*districtRec).domain)
}

// CommitteesByID returns the committees ids name, in order, nil where
// there is none.
func (s *Store) CommitteesByID(ctx context.Context, ids []string) ([]*hub.Committee, error) {
	return getByID(ctx, s, bktCommittees, "committee", ids, (*committeeRec).domain)
}

// RoundsByID returns the rounds ids name, in order, nil where there is
// none.
func (s *Store) RoundsByID(ctx context.Context, ids []string) ([]*hub.Round, error) {
	return getByID(ctx, s, bktRounds, "round", ids, (*roundRec).domain)
}

// AllocationsByID returns the allocations ids name, in order, nil where
// there is none.
func (s *Store) AllocationsByID(ctx context.Context, ids []string) ([]*hub.Allocation, error) {
	return getByID(ctx, s, bktAllocations, "allocation", ids, (*allocationRec).domain)
}
