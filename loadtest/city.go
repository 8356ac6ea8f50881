package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// cityMap is what the load needs of the hub's city: its committees and,
// for each pharmacy, which committees a restock there alerts.
type cityMap struct {
	Committees []string // ids, sorted
	Pharmacies []string // ids, sorted
	Reach      [][]int  // Reach[p]: indexes into Committees alerted by a restock at Pharmacies[p]
}

// committeeArea is a committee and its cells.
type committeeArea struct {
	ID    string
	Cells []string
}

// pharmacyDisk is a pharmacy and the cells its restocks alert.
type pharmacyDisk struct {
	ID   string
	Disk []string
}

// newCityMap returns the map of committees and pharmacies: a restock at a
// pharmacy alerts every committee with a cell in the pharmacy's service
// disk, as the hub routes restockAlerts.
func newCityMap(committees []committeeArea, pharmacies []pharmacyDisk) *cityMap {
	committees = slices.Clone(committees)
	slices.SortFunc(committees, func(a, b committeeArea) int { return strings.Compare(a.ID, b.ID) })
	pharmacies = slices.Clone(pharmacies)
	slices.SortFunc(pharmacies, func(a, b pharmacyDisk) int { return strings.Compare(a.ID, b.ID) })

	owner := map[string][]int{} // cell -> committees holding it
	m := &cityMap{}
	for i, c := range committees {
		m.Committees = append(m.Committees, c.ID)
		for _, cell := range c.Cells {
			owner[cell] = append(owner[cell], i)
		}
	}
	for _, p := range pharmacies {
		var reach []int
		for _, cell := range p.Disk {
			reach = append(reach, owner[cell]...)
		}
		slices.Sort(reach)
		m.Pharmacies = append(m.Pharmacies, p.ID)
		m.Reach = append(m.Reach, slices.Compact(reach))
	}
	return m
}

// discoverCity asks the hub (with an ADMIN token) for its committees and
// pharmacies, with each pharmacy's service disk of k rings computed by the
// hub's own grid (Cell.neighbors): one query for the districts, then one a
// district, so that each stays within the cost budget of a signed-in
// caller at the hub's defaults (the whole city in one query does not).
func discoverCity(ctx context.Context, c *hubClient, adminToken string, k int) (*cityMap, error) {
	var list struct {
		Districts []struct {
			ID string `json:"id"`
		} `json:"districts"`
	}
	if err := c.Do(ctx, adminToken, `{ districts { id } }`, nil, &list); err != nil {
		return nil, fmt.Errorf("discover the city: %w", err)
	}
	const q = `query($id: ID!, $k: Int!) { district(id: $id) { committees { id cells } pharmacies { id cell { neighbors(k: $k) { id } } } } }`
	type district struct {
		Committees []struct {
			ID    string   `json:"id"`
			Cells []string `json:"cells"`
		} `json:"committees"`
		Pharmacies []struct {
			ID   string `json:"id"`
			Cell struct {
				Neighbors []struct {
					ID string `json:"id"`
				} `json:"neighbors"`
			} `json:"cell"`
		} `json:"pharmacies"`
	}
	var data struct{ Districts []district }
	for _, d := range list.Districts {
		var one struct {
			District district `json:"district"`
		}
		if err := c.Do(ctx, adminToken, q, map[string]any{"id": d.ID, "k": k}, &one); err != nil {
			return nil, fmt.Errorf("discover district %s: %w", d.ID, err)
		}
		data.Districts = append(data.Districts, one.District)
	}
	var cs []committeeArea
	var ps []pharmacyDisk
	for _, d := range data.Districts {
		for _, c := range d.Committees {
			cs = append(cs, committeeArea{ID: c.ID, Cells: c.Cells})
		}
		for _, p := range d.Pharmacies {
			disk := make([]string, len(p.Cell.Neighbors))
			for i, n := range p.Cell.Neighbors {
				disk[i] = n.ID
			}
			ps = append(ps, pharmacyDisk{ID: p.ID, Disk: disk})
		}
	}
	if len(cs) == 0 || len(ps) == 0 {
		return nil, errors.New("the hub has no committees or no pharmacies: start it with --demo")
	}
	return newCityMap(cs, ps), nil
}

// discoverDistrict returns the map of -query stockChanged: one district
// (id, or the one with the most pharmacies when id is empty) in the place
// of the committees, and its pharmacies, each of whose restocks reaches
// it.
func discoverDistrict(ctx context.Context, c *hubClient, adminToken, id string) (*cityMap, error) {
	var list struct {
		Districts []struct {
			ID         string `json:"id"`
			Pharmacies []struct {
				ID string `json:"id"`
			} `json:"pharmacies"`
		} `json:"districts"`
	}
	if err := c.Do(ctx, adminToken, `{ districts { id pharmacies { id } } }`, nil, &list); err != nil {
		return nil, fmt.Errorf("discover the districts: %w", err)
	}
	best := -1
	for i, d := range list.Districts {
		if d.ID == id || (id == "" && len(d.Pharmacies) > 0 && (best < 0 || len(d.Pharmacies) > len(list.Districts[best].Pharmacies))) {
			best = i
		}
	}
	if best < 0 {
		if id != "" {
			return nil, fmt.Errorf("the hub has no district %q", id)
		}
		return nil, errors.New("the hub has no district with pharmacies: start it with --demo")
	}
	d := list.Districts[best]
	if len(d.Pharmacies) == 0 {
		return nil, fmt.Errorf("district %s has no pharmacies", d.ID)
	}
	m := &cityMap{Committees: []string{d.ID}}
	for _, p := range d.Pharmacies {
		m.Pharmacies = append(m.Pharmacies, p.ID)
	}
	slices.Sort(m.Pharmacies)
	m.Reach = make([][]int, len(m.Pharmacies))
	for i := range m.Reach {
		m.Reach[i] = []int{0}
	}
	return m, nil
}
