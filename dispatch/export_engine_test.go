package dispatch

// ReachVia forces how m builds the reach of new cells: from the request
// cells' own rings (fromPharmacies false) or by inverting the pharmacy
// cells' rings (true). Both must give the same assignments.
func ReachVia(m *Matcher, fromPharmacies bool) {
	m.via = 1
	if fromPharmacies {
		m.via = 2
	}
}
