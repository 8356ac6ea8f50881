package portable

import (
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The stored records of health codes and checkpoints. As in records.go,
// the JSON names are the format and a record converts to its domain type.
// Times are stored in UTC. Scans are by far the most numerous records
// (millions), so theirs are short.

type declarationRec struct {
	ID              string          `json:"id"`
	ResidentID      string          `json:"residentId"`
	SubjectID       string          `json:"subjectId,omitempty"`
	Symptoms        []string        `json:"symptoms,omitempty"`
	Temperature     float64         `json:"temp,omitempty"`
	TravelFromRisk  bool            `json:"travel,omitempty"`
	ContactWithCase bool            `json:"contact,omitempty"`
	FiledBy         string          `json:"filedBy"`
	FiledByKind     hub.FiledByKind `json:"filedByKind"`
	Cell            hub.Cell        `json:"cell"`
	DistrictID      string          `json:"districtId,omitempty"`
	Colour          hub.Colour      `json:"colour"`
	Reasons         []string        `json:"reasons,omitempty"`
	At              time.Time       `json:"at"`
}

func declarationToRec(d *hub.Declaration) declarationRec {
	r := declarationRec(*d)
	r.Symptoms, r.Reasons, r.At = slices.Clone(d.Symptoms), slices.Clone(d.Reasons), d.At.UTC()
	return r
}

func (r *declarationRec) domain() *hub.Declaration {
	d := hub.Declaration(*r)
	return &d
}

type riskCellRec struct {
	Cell  hub.Cell      `json:"cell"`
	Level hub.RiskLevel `json:"level"`
}

type riskAreaRec struct {
	ID       string        `json:"id"`
	Cell     hub.Cell      `json:"cell"`
	Rings    int           `json:"rings"`
	Reason   string        `json:"reason,omitempty"`
	Cells    []riskCellRec `json:"cells"`
	MarkedAt time.Time     `json:"markedAt"`
	LiftedAt time.Time     `json:"liftedAt"`
}

func riskAreaToRec(a *hub.RiskArea) riskAreaRec {
	cs := make([]riskCellRec, len(a.Cells))
	for i, c := range a.Cells {
		cs[i] = riskCellRec{c.Cell, c.Level}
	}
	return riskAreaRec{
		ID: a.ID, Cell: a.Cell, Rings: a.Rings, Reason: a.Reason, Cells: cs,
		MarkedAt: a.MarkedAt.UTC(), LiftedAt: a.LiftedAt.UTC(),
	}
}

func (r *riskAreaRec) domain() *hub.RiskArea {
	cs := make([]hub.RiskCell, len(r.Cells))
	for i, c := range r.Cells {
		cs[i] = hub.RiskCell{Cell: c.Cell, Level: c.Level}
	}
	return &hub.RiskArea{
		ID: r.ID, Cell: r.Cell, Rings: r.Rings, Reason: r.Reason, Cells: cs,
		MarkedAt: r.MarkedAt, LiftedAt: r.LiftedAt,
	}
}

type healthCodeRec struct {
	ResidentID  string     `json:"residentId"`
	SubjectID   string     `json:"subjectId"`
	Cell        hub.Cell   `json:"cell"`
	DistrictID  string     `json:"districtId,omitempty"`
	CommitteeID string     `json:"committeeId,omitempty"`
	Colour      hub.Colour `json:"colour"`
	Reasons     []string   `json:"reasons,omitempty"`
	Version     uint64     `json:"version"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

func healthCodeToRec(c *hub.HealthCode) healthCodeRec {
	r := healthCodeRec(*c)
	r.Reasons, r.UpdatedAt = slices.Clone(c.Reasons), c.UpdatedAt.UTC()
	return r
}

func (r *healthCodeRec) domain() *hub.HealthCode {
	c := hub.HealthCode(*r)
	c.Reasons = slices.Clone(r.Reasons)
	return &c
}

// caseRec is a resident's case and contact marks. ContactAt and
// ContactOf are the latest contact; Contacts every case the resident is a
// contact of, in case ID order, stored only when there is more than the
// latest: a record of one contact is stored as before there were several
// (and a record written then reads as its one entry).
type caseRec struct {
	CaseAt    time.Time        `json:"caseAt"`
	ContactAt time.Time        `json:"contactAt"`
	ContactOf string           `json:"contactOf,omitempty"`
	Contacts  []caseContactRec `json:"contacts,omitempty"`
}

type caseContactRec struct {
	CaseID string    `json:"case"`
	At     time.Time `json:"at"`
}

func caseToRec(s hub.CaseStatus) caseRec {
	r := caseRec{CaseAt: s.CaseAt.UTC(), ContactAt: s.ContactAt.UTC(), ContactOf: s.ContactOf}
	if s.CaseAt.IsZero() {
		r.CaseAt = time.Time{}
	}
	if s.ContactAt.IsZero() {
		r.ContactAt = time.Time{}
	}
	var cs []caseContactRec
	for _, c := range s.Contacts {
		cs = append(cs, caseContactRec{CaseID: c.CaseID, At: c.At.UTC()})
	}
	r.setContacts(cs)
	return r
}

func (r *caseRec) domain() hub.CaseStatus {
	s := hub.CaseStatus{CaseAt: r.CaseAt, ContactAt: r.ContactAt, ContactOf: r.ContactOf}
	for _, c := range r.contacts() {
		s.Contacts = append(s.Contacts, hub.CaseContact(c))
	}
	return s
}

// contacts returns every case of the record, reading a record of the
// latest contact alone as its one entry.
func (r *caseRec) contacts() []caseContactRec {
	if len(r.Contacts) == 0 && r.ContactOf != "" {
		return []caseContactRec{{CaseID: r.ContactOf, At: r.ContactAt}}
	}
	return slices.Clone(r.Contacts)
}

// addContact marks the record a contact of caseID last at at; it reports
// whether that changed anything.
func (r *caseRec) addContact(caseID string, at time.Time) bool {
	cs := r.contacts()
	i, found := slices.BinarySearchFunc(cs, caseID, func(c caseContactRec, id string) int { return strings.Compare(c.CaseID, id) })
	switch {
	case !found:
		cs = slices.Insert(cs, i, caseContactRec{CaseID: caseID, At: at})
	case at.After(cs[i].At):
		cs[i].At = at
	default:
		return false
	}
	if at.After(r.ContactAt) {
		r.ContactAt, r.ContactOf = at, caseID
	}
	r.setContacts(cs)
	return true
}

// setContacts stores the contacts, none when they are the latest alone.
func (r *caseRec) setContacts(cs []caseContactRec) {
	if len(cs) == 0 || len(cs) == 1 && cs[0].CaseID == r.ContactOf && cs[0].At.Equal(r.ContactAt) {
		cs = nil
	}
	r.Contacts = cs
}

// expireContacts drops the contacts last before cutoff, and the latest
// contact with them when it is one; it reports whether it dropped any.
func (r *caseRec) expireContacts(cutoff time.Time) bool {
	cs := r.contacts()
	kept := slices.DeleteFunc(slices.Clone(cs), func(c caseContactRec) bool { return c.At.Before(cutoff) })
	if len(kept) == len(cs) {
		return false
	}
	if r.ContactAt.Before(cutoff) {
		r.ContactAt, r.ContactOf = time.Time{}, ""
	}
	r.setContacts(kept)
	return true
}

// scanRec is one scan. Its key in the scans bucket holds the person and
// the time as well (scanKey), but the record stands alone.
type scanRec struct {
	ID           string         `json:"id"`
	CheckpointID string         `json:"k"`
	Cell         hub.Cell       `json:"c"`
	ResidentID   string         `json:"r,omitempty"`
	SubjectID    string         `json:"s,omitempty"`
	At           time.Time      `json:"at"`
	Temperature  float64        `json:"t,omitempty"`
	Colour       hub.Colour     `json:"col"`
	Result       hub.ScanResult `json:"res"`
}

func scanToRec(s *hub.Scan) scanRec {
	r := scanRec(*s)
	r.At = s.At.UTC()
	return r
}

func (r *scanRec) domain() *hub.Scan {
	s := hub.Scan(*r)
	return &s
}
