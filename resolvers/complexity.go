package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/stats"
)

// The cost of an operation is known before it runs: every list field
// counts as many items as the arguments that set its length allow (a
// bound), or, where nothing in the request sets it, as many as the
// assumed sizes below (an estimate a city can outgrow; the response size
// cap is the backstop). The unit is one field of the answer: a list of n
// objects whose selection costs c costs 1 + n*(c+1), of n scalars 1 + n.
const (
	// Per district.
	assumedDistricts          = 50  // Query.districts
	assumedDistrictCommittees = 100 // District.committees, Round.quotas
	assumedDistrictPharmacies = 200 // District.pharmacies
	assumedDistrictCells9     = 2000
	assumedOutlinePoints      = 1000 // District.outline, all rings
	assumedCountRows          = 32   // District.declarationCounts (filers x colours)

	assumedCheckpoints    = 500 // Query.checkpoints (a city's, or one district's)
	assumedCommitteeCells = 200 // Committee.cells
	assumedPartnerCells   = 500 // Partner.cells
	assumedRounds         = 50  // Query.rounds
	assumedRoundCells     = 2000
	assumedLotteryEntries = 10_000 // LotteryDraw.entries
	assumedLotteryWinners = 2_000  // LotteryDraw.winners
	assumedTrustedKeys    = 16     // Query.trustList
	assumedRiskAreas      = 20     // Query.riskAreas (active ones; marked one by one by operators)
	assumedContacts       = 500    // Query.contacts, Mutation.markCase
	assumedReasons        = 8      // Declaration.reasons, HealthCode.reasons
	assumedHolds          = 50     // Query.holds (placed one by one, per case, by health offices)
	assumedHoldResidents  = 50     // Hold.residentIds (a case and its traced contacts)

	maxBoundary = 10 // vertices of a cell's boundary (pentagons with distortion)
	colours     = 3  // GREEN, YELLOW, RED
	fulfilments = 2  // PICKUP, DELIVERY
)

// Complexity returns the cost of each list field of the schema, for
// graph.Config.Complexity.
func Complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	skus := len(hub.Supplies())
	fixed := func(n int) func(int) int { return func(child int) int { return ListCost(n, child) } }

	c.Cell.Boundary = fixed(maxBoundary)
	c.Cell.Neighbors = func(child, k int) int { return ListCost(DiskSize(k), child) }
	c.Pharmacy.Stock = fixed(skus)
	c.CellStats.Stock = fixed(skus)

	c.Query.Districts = fixed(assumedDistricts)
	c.Query.Supplies = fixed(skus)
	c.Query.Checkpoints = func(child int, _ *string) int { return ListCost(assumedCheckpoints, child) }
	c.Query.PharmaciesNear = func(child int, _, _ float64, k int, _ *hub.SKU) int {
		return ListCost(DiskSize(min(k, maxNearK)), child) // at most one pharmacy a cell, on average
	}
	c.Query.AuditLog = func(child int, _, _ *string, _ *int, first int) int {
		return ListCost(clamp(first, 1, hub.MaxAuditLimit), child)
	}
	c.Query.MyAccessLog = func(child int, first int, _ *int) int {
		return ListCost(clamp(first, 1, hub.MaxAuditLimit), child)
	}
	c.Query.ResidentAccessLog = func(child int, _ string, first int, _ *int) int {
		return ListCost(clamp(first, 1, hub.MaxAuditLimit), child)
	}
	c.Resident.AccessLog = func(child int, first int, _ *int) int {
		return ListCost(clamp(first, 1, hub.MaxAuditLimit), child)
	}
	c.Query.Allocations = func(child int, _ string, _ *hub.AllocationStatus, _ *time.Time, first int, _ *string) int {
		return ListCost(clamp(first, 1, maxPageSize), child)
	}
	c.Query.Rounds = func(child int, _ *hub.RoundStatus) int { return ListCost(assumedRounds, child) }
	c.Query.TrustList = fixed(assumedTrustedKeys)
	c.Query.RiskAreas = func(child int, _ bool) int { return ListCost(assumedRiskAreas, child) }
	c.Query.Trajectory = func(child int, _ string, _ time.Time, _ string, first int) int {
		return ListCost(clamp(first, 1, codes.MaxTrajectory), child)
	}
	c.Query.Contacts = func(child int, _ string, _ time.Time, _ int, _ string) int {
		return ListCost(assumedContacts, child)
	}
	c.Mutation.MarkCase = func(child int, _ string, _ *time.Time, _ string) int {
		return ListCost(assumedContacts, child)
	}

	c.District.Cells = func(child, resolution int) int { return ListCost(districtCells(resolution), child) }
	c.District.CellStats = func(child, resolution int, _ *hub.SKU, _ bool) int {
		return ListCost(districtCells(resolution), child)
	}
	c.District.Series = func(child, hours int, _ *hub.SKU) int {
		return ListCost(clamp(hours, 1, stats.MaxHours)+1, child)
	}
	c.District.Committees = fixed(assumedDistrictCommittees)
	c.District.Pharmacies = fixed(assumedDistrictPharmacies)
	c.District.Outline = fixed(assumedOutlinePoints)
	c.District.DeclarationCounts = fixed(assumedCountRows)
	c.District.ColourCounts = fixed(colours)

	c.Committee.Cells = fixed(assumedCommitteeCells)
	c.Committee.Residents = func(child, first int, _, _ *string) int {
		return ListCost(clamp(first, 1, maxPageSize), child)
	}
	c.Partner.Cells = fixed(assumedPartnerCells)

	c.Round.Fulfilments = fixed(fulfilments)
	c.Round.HealthRules = fixed(colours)
	c.HealthRule.Fulfilments = fixed(fulfilments)
	c.Round.SlotsOffered = fixed(dispatch.MaxSlots)
	c.Round.EligibleDistricts = fixed(assumedDistricts)
	c.Round.Quotas = fixed(assumedDistrictCommittees)
	c.Round.Cells = fixed(assumedRoundCells)
	c.LotteryDraw.Entries = fixed(assumedLotteryEntries)
	c.LotteryDraw.Winners = fixed(assumedLotteryWinners)

	c.Declaration.Symptoms = fixed(hub.MaxSymptoms)
	c.Declaration.Reasons = fixed(assumedReasons)
	c.HealthCode.Reasons = fixed(assumedReasons)
	c.RiskArea.Cells = fixed(DiskSize(hub.MaxRiskRings))
	c.Query.Holds = func(child int, _ *string, _ bool) int { return ListCost(assumedHolds, child) }
	c.Hold.ResidentIDs = fixed(assumedHoldResidents)
	return c
}

// ListCost is the cost of a list field of n items whose selection costs
// child each: an object item costs its selection and one more (the
// executor resolves each object of a list on a goroutine of its own), a
// scalar item (child 0) one. It saturates instead of overflowing.
func ListCost(n, child int) int {
	const maxCost = 1 << 40
	item := max(child, 0) + 1
	if n <= 0 {
		return 1
	}
	if n > maxCost/item {
		return maxCost
	}
	return 1 + n*item
}

// DiskSize is the number of cells within k rings of a cell: 3k²+3k+1.
// A k outside [0, grid.MaxK] is refused by the resolver with
// BAD_USER_INPUT, and costs one item here so that it reaches it.
func DiskSize(k int) int {
	if k < 0 || k > grid.MaxK {
		return 1
	}
	return 3*k*k + 3*k + 1
}

// districtCells is the assumed number of a district's cells at a
// resolution: assumedDistrictCells9 at 9 (about 210 km²), a seventh of
// that for each coarser level, at least one cell.
func districtCells(resolution int) int {
	n := assumedDistrictCells9
	for r := stats.MaxResolution; r > resolution && n > 1; r-- {
		n = (n + 6) / 7
	}
	return n
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

// costedFields returns the fields of es's schema that have a complexity
// function of their own (see Complexity); the cost of any other field is
// one plus its selection's, whatever its arguments. It asks es for each
// field's cost without arguments: gqlgen's generated Complexity answers
// false for a field without a function only (a missing argument is its
// zero value), and a function that panics on that counts as one.
func costedFields(es graphql.ExecutableSchema) map[fieldKey]bool {
	costed := map[fieldKey]bool{}
	for _, def := range es.Schema().Types {
		for _, f := range def.Fields {
			if hasComplexity(es, def.Name, f.Name) {
				costed[fieldKey{def.Name, f.Name}] = true
			}
		}
	}
	return costed
}

func hasComplexity(es graphql.ExecutableSchema, object, field string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = true
		}
	}()
	_, ok = es.Complexity(context.Background(), object, field, 0, map[string]any{})
	return ok
}
