package city

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/privacy"
)

// An ID audit looks for people registered more than once under spellings
// of one ID number that the hub took apart before numbers had one
// canonical form. Only a keyed hash and a mask of each number are stored,
// so stored hashes cannot be recomputed: the audit reads the masks, and,
// given the numbers from a district's own records, hashes them anew. It
// reads; it never changes or deletes anything.

// IDNumberRow is one line of a district's records: a resident and the ID
// number on file for them.
type IDNumberRow struct {
	Line       int    `json:"line"` // where the row stands in its file, for the report
	ResidentID string `json:"residentId"`
	Number     string `json:"-"` // never reported
}

// IDAudit is the report of AuditIDs.
type IDAudit struct {
	Forms     string `json:"forms"`     // the accepted forms
	Residents int    `json:"residents"` // residents read
	// Suspects are residents whose stored mask shows a spelling that is not
	// canonical: characters other than A-Z and 0-9, or a shape no accepted
	// form has.
	Suspects []IDSuspect `json:"suspects"`
	// Groups are suspects with the residents of the same name whose masks
	// fold alike: probable duplicates, for a person to look at.
	Groups []IDGroup `json:"probableDuplicates"`
	// Numbers is the audit of the numbers given, if any.
	Numbers *IDNumbersAudit `json:"numbers,omitempty"`
}

// IDSuspect is a resident whose stored mask is not that of a canonical
// number.
type IDSuspect struct {
	ResidentID string `json:"residentId"`
	Masked     string `json:"masked"` // the stored mask, as stored
	Reason     string `json:"reason"`
}

// IDGroup is a set of residents of one name whose masks fold alike, one
// of them at least a suspect.
type IDGroup struct {
	Name        string   `json:"name"` // masked
	ResidentIDs []string `json:"residentIds"`
	Masked      []string `json:"masked"`
}

// IDNumbersAudit reports on numbers from a district's records.
type IDNumbersAudit struct {
	Rows int `json:"rows"`
	// Refused are numbers with no canonical form under the accepted forms.
	Refused []IDRowNote `json:"refused"`
	// Unknown are rows whose resident the hub does not hold.
	Unknown []IDRowNote `json:"unknownResidents"`
	// Collisions are canonical numbers held by two residents or more:
	// the same person registered twice.
	Collisions []IDCollision `json:"collisions"`
	// Stale are residents whose stored hash is not that of their number's
	// canonical form (registered under another spelling): the hub will
	// not know them by the number as now typed.
	Stale []IDRowNote `json:"staleHashes"`
}

// IDRowNote is a row of the numbers file with what is wrong with it.
type IDRowNote struct {
	Line       int    `json:"line"`
	ResidentID string `json:"residentId"`
	Reason     string `json:"reason,omitempty"`
}

// IDCollision is one canonical number held by several residents.
type IDCollision struct {
	Masked      string   `json:"masked"` // the canonical number, masked
	ResidentIDs []string `json:"residentIds"`
}

// auditPage is how many residents an audit reads at a time.
const auditPage = 1000

// AuditIDs reads every resident and reports the ID numbers stored under
// spellings that are not canonical and the probable duplicates they
// make; with rows (a district's own records) it canonicalises and hashes
// each number and reports collisions, refusals and stale hashes. It
// writes nothing.
func (s *Service) AuditIDs(ctx context.Context, rows []IDNumberRow) (*IDAudit, error) {
	a := &IDAudit{Forms: s.idForms.String(), Suspects: []IDSuspect{}, Groups: []IDGroup{}}
	byName := map[string][]*hub.Resident{}
	suspect := map[string]bool{}
	for after := ""; ; {
		page, err := s.store.Residents(ctx, hub.ResidentFilter{After: after, Limit: auditPage})
		if err != nil {
			return nil, fmt.Errorf("read residents: %w", err)
		}
		for _, r := range page {
			a.Residents++
			name := norm.NFKC.String(strings.TrimSpace(r.Name))
			byName[name] = append(byName[name], &hub.Resident{ID: r.ID, Name: r.Name, IDMasked: r.IDMasked})
			if why := maskProblem(r.IDMasked, s.idForms); why != "" {
				a.Suspects = append(a.Suspects, IDSuspect{ResidentID: r.ID, Masked: r.IDMasked, Reason: why})
				suspect[r.ID] = true
			}
		}
		if len(page) < auditPage {
			break
		}
		after = page[len(page)-1].ID
	}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		rs := byName[name]
		for _, sus := range rs {
			if !suspect[sus.ID] {
				continue
			}
			group := []*hub.Resident{sus}
			for _, other := range rs {
				if other.ID != sus.ID && masksMeet(sus.IDMasked, other.IDMasked) {
					group = append(group, other)
				}
			}
			if len(group) < 2 {
				continue
			}
			slices.SortFunc(group, func(x, y *hub.Resident) int { return strings.Compare(x.ID, y.ID) })
			g := IDGroup{Name: privacy.MaskName(name)}
			for _, r := range group {
				g.ResidentIDs = append(g.ResidentIDs, r.ID)
				g.Masked = append(g.Masked, r.IDMasked)
			}
			if key := strings.Join(g.ResidentIDs, "\x00"); !seen[key] {
				seen[key] = true
				a.Groups = append(a.Groups, g)
			}
		}
	}
	if rows != nil {
		n, err := s.auditNumbers(ctx, rows)
		if err != nil {
			return nil, err
		}
		a.Numbers = n
	}
	return a, nil
}

// maskProblem says what is not canonical about a stored mask, or "".
func maskProblem(masked string, forms privacy.Forms) string {
	for _, r := range masked {
		switch {
		case r == '*', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r >= 'a' && r <= 'z':
			return "lower-case letters"
		default:
			return fmt.Sprintf("the character U+%04X, not A-Z or 0-9", r)
		}
	}
	if !privacy.MaskedFits(masked, forms) {
		return fmt.Sprintf("a shape no accepted form (%s) has", forms)
	}
	return ""
}

// masksMeet reports whether two masks may be of one number: their folded
// heads agree as far as both go, and so do their folded tails, and some
// character agrees.
func masksMeet(a, b string) bool {
	ha, ta := privacy.MaskSkeleton(a)
	hb, tb := privacy.MaskSkeleton(b)
	if !strings.HasPrefix(ha, hb) && !strings.HasPrefix(hb, ha) {
		return false
	}
	if !strings.HasSuffix(ta, tb) && !strings.HasSuffix(tb, ta) {
		return false
	}
	return min(len(ha), len(hb))+min(len(ta), len(tb)) > 0
}

// auditNumbers canonicalises and hashes the numbers of a district's
// records and compares them with each other and with the store.
func (s *Service) auditNumbers(ctx context.Context, rows []IDNumberRow) (*IDNumbersAudit, error) {
	n := &IDNumbersAudit{Rows: len(rows), Refused: []IDRowNote{}, Unknown: []IDRowNote{}, Collisions: []IDCollision{}, Stale: []IDRowNote{}}
	holders := map[string][]string{} // canonical number -> resident IDs
	var order []string
	for _, row := range rows {
		c, err := privacy.CanonicalID(row.Number, s.idForms)
		if err != nil {
			n.Refused = append(n.Refused, IDRowNote{Line: row.Line, ResidentID: row.ResidentID, Reason: hub.ErrorMessage(err)})
			continue
		}
		if _, ok := holders[c]; !ok {
			order = append(order, c)
		}
		if !slices.Contains(holders[c], row.ResidentID) {
			holders[c] = append(holders[c], row.ResidentID)
		}
		hashes := s.hasher.AllHashes(c)
		r, err := s.store.Resident(ctx, row.ResidentID)
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			n.Unknown = append(n.Unknown, IDRowNote{Line: row.Line, ResidentID: row.ResidentID})
		} else if err != nil {
			return nil, fmt.Errorf("read resident %s: %w", row.ResidentID, err)
		} else if !slices.Contains(hashes, r.IDHash) {
			n.Stale = append(n.Stale, IDRowNote{Line: row.Line, ResidentID: row.ResidentID,
				Reason: "the stored hash is of another spelling of this number"})
		}
		// Whoever the store holds under the canonical number holds it too.
		for _, h := range hashes {
			other, err := s.store.ResidentByIDHash(ctx, h)
			if hub.ErrorCode(err) == hub.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("look up a hash: %w", err)
			}
			if !slices.Contains(holders[c], other.ID) {
				holders[c] = append(holders[c], other.ID)
			}
		}
	}
	for _, c := range order {
		if ids := holders[c]; len(ids) > 1 {
			slices.Sort(ids)
			n.Collisions = append(n.Collisions, IDCollision{Masked: privacy.MaskID(c), ResidentIDs: ids})
		}
	}
	return n, nil
}
