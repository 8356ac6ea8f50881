package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// batchCase is one batch read of hub.Store checked against its single
// read: get is the batch read, one the single read, norm makes records
// comparable and touch changes a returned record (to prove it a copy).
type batchCase[T any] struct {
	name  string
	ids   []string // every record of the kind the test wrote
	get   func(ctx context.Context, s hub.Store, ids []string) ([]*T, error)
	one   func(ctx context.Context, s hub.Store, id string) (*T, error)
	norm  func(*T) T
	touch func(*T)
}

func (c batchCase[T]) run(t *testing.T, s hub.Store) {
	t.Run(c.name, func(t *testing.T) {
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
		known := c.ids
		// The records in an order other than the IDs', with a repeat, a
		// missing ID and an empty one among them.
		shuffled := append([]string{}, known...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		tests := []struct {
			name string
			give []string
		}{
			{"none", nil},
			{"empty", []string{}},
			{"one", known[:1]},
			{"missing only", []string{"no-such-" + c.name}},
			{"all shuffled", shuffled},
			{"mixed", []string{known[len(known)-1], "no-such-" + c.name, known[0], "", known[len(known)-1], known[0]}},
		}
		for _, tt := range tests {
			got, err := c.get(ctx, s, tt.give)
			must(t, err, fmt.Sprintf("%s(%s)", c.name, tt.name))
			if len(got) != len(tt.give) {
				t.Fatalf("%s(%s): %d records for %d ids", c.name, tt.name, len(got), len(tt.give))
			}
			for i, id := range tt.give {
				want, err := c.one(ctx, s, id)
				switch {
				case hub.ErrorCode(err) == hub.ENOTFOUND:
					if got[i] != nil {
						t.Fatalf("%s(%s)[%d] = %+v for unknown id %q, want nil", c.name, tt.name, i, *got[i], id)
					}
				case err != nil:
					t.Fatalf("single read of %q: %v", id, err)
				case got[i] == nil:
					t.Fatalf("%s(%s)[%d] = nil for id %q, want the record", c.name, tt.name, i, id)
				default:
					same(t, fmt.Sprintf("%s(%s)[%d]", c.name, tt.name, i), c.norm(got[i]), c.norm(want))
				}
			}
		}

		// The records returned are copies.
		got, err := c.get(ctx, s, known[:1])
		must(t, err, c.name)
		before := fmt.Sprintf("%+v", c.norm(got[0]))
		c.touch(got[0])
		again, err := c.get(ctx, s, known[:1])
		must(t, err, c.name)
		same(t, c.name+" after a change to a returned record", fmt.Sprintf("%+v", c.norm(again[0])), before)
	})
}

// testBatchReads holds the batch reads behind the GraphQL loaders to the
// single reads: the same records, in the order asked, nil for none.
func testBatchReads(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	var districts, committees, pharmacies, rounds, allocations []string
	for i := range 3 {
		id := fmt.Sprintf("d%d", i+1)
		must(t, s.UpsertDistrict(ctx, district(id)), "UpsertDistrict")
		districts = append(districts, id)
		cid := fmt.Sprintf("c%d", i+1)
		must(t, s.UpsertCommittees(ctx, committee(cid, "C"+cid, id)), "UpsertCommittees")
		committees = append(committees, cid)
	}
	// More pharmacies than a page of GraphQL results holds.
	var ps []*hub.Pharmacy
	for i := range 120 {
		id := fmt.Sprintf("p%03d", i)
		ps = append(ps, pharmacy(id, map[hub.SKU]int{hub.MaskAdult: 10 + i}))
		pharmacies = append(pharmacies, id)
	}
	must(t, s.UpsertPharmacies(ctx, ps...), "UpsertPharmacies")
	for i := range 2 {
		rid := fmt.Sprintf("round%d", i+1)
		must(t, s.UpsertRound(ctx, round(rid, hub.RoundOpen)), "UpsertRound")
		rounds = append(rounds, rid)
		for j := range 4 {
			r := reservation(fmt.Sprintf("%s-res%d", rid, j), rid, fmt.Sprintf("h-%s-%d", rid, j))
			_, err := s.CreateReservation(ctx, r)
			must(t, err, "CreateReservation")
			aid := fmt.Sprintf("a-%s-%d", rid, j)
			must(t, s.Allocate(ctx, allocation(aid, r, pharmacies[j], 1)), "Allocate")
			allocations = append(allocations, aid)
		}
	}

	batchCase[hub.Pharmacy]{
		name: "PharmaciesByID", ids: pharmacies,
		get: func(ctx context.Context, s hub.Store, ids []string) ([]*hub.Pharmacy, error) {
			return s.PharmaciesByID(ctx, ids)
		},
		one:   func(ctx context.Context, s hub.Store, id string) (*hub.Pharmacy, error) { return s.Pharmacy(ctx, id) },
		norm:  normPharmacy,
		touch: func(p *hub.Pharmacy) { p.Name = "changed"; p.Stock[hub.MaskAdult] = -1 },
	}.run(t, s)
	batchCase[hub.District]{
		name: "DistrictsByID", ids: districts,
		get: func(ctx context.Context, s hub.Store, ids []string) ([]*hub.District, error) {
			return s.DistrictsByID(ctx, ids)
		},
		one:   func(ctx context.Context, s hub.Store, id string) (*hub.District, error) { return s.District(ctx, id) },
		norm:  normDistrict,
		touch: func(d *hub.District) { d.Name = "changed"; d.Cells[0] = 0 },
	}.run(t, s)
	batchCase[hub.Committee]{
		name: "CommitteesByID", ids: committees,
		get: func(ctx context.Context, s hub.Store, ids []string) ([]*hub.Committee, error) {
			return s.CommitteesByID(ctx, ids)
		},
		one:   func(ctx context.Context, s hub.Store, id string) (*hub.Committee, error) { return s.Committee(ctx, id) },
		norm:  normCommittee,
		touch: func(c *hub.Committee) { c.DistrictID = "changed"; c.Cells[0] = 0 },
	}.run(t, s)
	batchCase[hub.Round]{
		name: "RoundsByID", ids: rounds,
		get: func(ctx context.Context, s hub.Store, ids []string) ([]*hub.Round, error) {
			return s.RoundsByID(ctx, ids)
		},
		one:   func(ctx context.Context, s hub.Store, id string) (*hub.Round, error) { return s.Round(ctx, id) },
		norm:  normRound,
		touch: func(r *hub.Round) { r.Name = "changed"; r.Quotas["c1"] = -1 },
	}.run(t, s)
	batchCase[hub.Allocation]{
		name: "AllocationsByID", ids: allocations,
		get: func(ctx context.Context, s hub.Store, ids []string) ([]*hub.Allocation, error) {
			return s.AllocationsByID(ctx, ids)
		},
		one: func(ctx context.Context, s hub.Store, id string) (*hub.Allocation, error) {
			return s.Allocation(ctx, id)
		},
		norm:  normAllocation,
		touch: func(a *hub.Allocation) { a.Status = hub.AllocationExpired; a.Quantity = -1 },
	}.run(t, s)
}

// batchCalls are the batch reads, for the tests that expect every call to
// fail alike (after Close, with a canceled context).
func batchCalls() []call {
	return []call{
		{"PharmaciesByID", func(ctx context.Context, s hub.Store) error {
			_, err := s.PharmaciesByID(ctx, []string{"p1", "p-d"})
			return err
		}},
		{"DistrictsByID", func(ctx context.Context, s hub.Store) error {
			_, err := s.DistrictsByID(ctx, []string{"d1"})
			return err
		}},
		{"CommitteesByID", func(ctx context.Context, s hub.Store) error {
			_, err := s.CommitteesByID(ctx, []string{"c1"})
			return err
		}},
		{"RoundsByID", func(ctx context.Context, s hub.Store) error {
			_, err := s.RoundsByID(ctx, []string{"round1"})
			return err
		}},
		{"AllocationsByID", func(ctx context.Context, s hub.Store) error {
			_, err := s.AllocationsByID(ctx, []string{"a1"})
			return err
		}},
	}
}
