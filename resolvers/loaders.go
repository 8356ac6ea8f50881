package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/gridhub/gridhub/hub"
)

// Bounds of the loaders behind nested fields.
const (
	// DefaultLoaderWait is how long a loader collects the keys of its
	// fields before it reads them in one batch: each level of nested
	// records waits this long once, for a batch read instead of a read
	// per row. gqlgen resolves a list's items at once, so their keys
	// arrive within microseconds: 250 µs gathers a page of 100 into about
	// 8 reads and makes it faster than a read per row even on the embedded
	// store (BenchmarkPartnerPage: 4.4-5.0 ms against 5.9-6.3 ms; with a
	// 200 µs round trip per call, 7.8-8.8 ms against 20-21 ms), where 2 ms
	// gathered a little more (about 5 reads) but added 2 ms per level.
	DefaultLoaderWait = 250 * time.Microsecond
	// loaderBatch is the most keys one batch read carries: two pages of
	// the largest size, so a page is one read.
	loaderBatch = 2 * maxPageSize
)

// loaders batch and cache the records that nested fields name by ID
// (an allocation's pharmacy and round, a resident's committee and
// district, ...), after gqlgen's dataloader recipe: the fields of one
// response ask for their records one at a time, a loader collects the IDs
// for a short wait and reads them with one batch read of the store. A
// loader lives for one response: a query's, or one event of a
// subscription, so no record read for one event is served to the next.
// Loaders change how records are read, never who may see them: the
// policy's field middleware runs on every field as before.
type loaders struct {
	pharmacies  *dataloadgen.Loader[string, *hub.Pharmacy]
	districts   *dataloadgen.Loader[string, *hub.District]
	committees  *dataloadgen.Loader[string, *hub.Committee]
	rounds      *dataloadgen.Loader[string, *hub.Round]
	allocations *dataloadgen.Loader[string, *hub.Allocation]
}

func newLoaders(st hub.Store, wait time.Duration) *loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(wait), dataloadgen.WithBatchCapacity(loaderBatch)}
	return &loaders{
		pharmacies:  dataloadgen.NewLoader(fetchBatch(st.PharmaciesByID, st.Pharmacy), opts...),
		districts:   dataloadgen.NewLoader(fetchBatch(st.DistrictsByID, st.District), opts...),
		committees:  dataloadgen.NewLoader(fetchBatch(st.CommitteesByID, st.Committee), opts...),
		rounds:      dataloadgen.NewLoader(fetchBatch(st.RoundsByID, st.Round), opts...),
		allocations: dataloadgen.NewLoader(fetchBatch(st.AllocationsByID, st.Allocation), opts...),
	}
}

// fetchBatch makes a loader's fetch of a batch read: one call for all the
// keys. An ID the batch finds nothing for is read alone, so that a
// missing record answers with the very error the single read gives (its
// code and message); that is rare (a record pointing at one that is gone)
// and costs one more read.
func fetchBatch[T any](many func(context.Context, []string) ([]*T, error), one func(context.Context, string) (*T, error)) func(context.Context, []string) ([]*T, []error) {
	return func(ctx context.Context, ids []string) ([]*T, []error) {
		got, err := many(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		errs := make([]error, len(ids))
		for i, v := range got {
			if v == nil {
				got[i], errs[i] = one(ctx, ids[i])
			}
		}
		return got, errs
	}
}

type loadersKey struct{}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// Batched returns es answering with loaders: each response it makes (the
// answer to a query, each event of a subscription) gets loaders of its
// own. A mutation's fields read the store directly, as a later root field
// of a mutation may change what an earlier one read. This is the hook
// gqlgen's AroundResponses gives, at the schema, so that every transport
// (POST, GET, WebSocket, SSE) has it.
//
// It also tells which fields have a complexity function (Costed), so that
// the cost of an operation is computed without evaluating the arguments
// of the others.
func (r *Resolver) Batched(es graphql.ExecutableSchema) graphql.ExecutableSchema {
	return batched{ExecutableSchema: es, r: r, costed: costedFields(es)}
}

type batched struct {
	graphql.ExecutableSchema
	r      *Resolver
	costed map[fieldKey]bool
}

// Costed reports whether the field has a complexity function of its own
// (see costedFields).
func (b batched) Costed(object, field string) bool { return b.costed[fieldKey{object, field}] }

func (b batched) Exec(ctx context.Context) graphql.ResponseHandler {
	next := b.ExecutableSchema.Exec(ctx)
	if oc := graphql.GetOperationContext(ctx); oc.Operation == nil || oc.Operation.Operation == ast.Mutation {
		return next
	}
	wait := b.r.LoaderWait
	if wait <= 0 {
		wait = DefaultLoaderWait
	}
	return func(ctx context.Context) *graphql.Response {
		return next(context.WithValue(ctx, loadersKey{}, newLoaders(b.r.City.Store(), wait)))
	}
}

// The record readers of nested fields: through the response's loaders
// when it has them, else straight from the store.

func (r *Resolver) pharmacyByID(ctx context.Context, id string) (*hub.Pharmacy, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.pharmacies.Load(ctx, id)
	}
	return r.City.Store().Pharmacy(ctx, id)
}

func (r *Resolver) districtByID(ctx context.Context, id string) (*hub.District, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.districts.Load(ctx, id)
	}
	return r.City.Store().District(ctx, id)
}

func (r *Resolver) committeeByID(ctx context.Context, id string) (*hub.Committee, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.committees.Load(ctx, id)
	}
	return r.City.Store().Committee(ctx, id)
}

func (r *Resolver) roundByID(ctx context.Context, id string) (*hub.Round, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.rounds.Load(ctx, id)
	}
	return r.City.Store().Round(ctx, id)
}

func (r *Resolver) allocationByID(ctx context.Context, id string) (*hub.Allocation, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.allocations.Load(ctx, id)
	}
	return r.City.Store().Allocation(ctx, id)
}
