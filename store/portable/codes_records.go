package portable

import (
	"slices"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The on-disk records of health codes and checkpoints. As in records.go,
// the JSON names are the format. Scans are by far the most numerous
// records (millions), so theirs are short.

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
	return declarationRec{
		ID: d.ID, ResidentID: d.ResidentID, SubjectID: d.SubjectID,
		Symptoms: slices.Clone(d.Symptoms), Temperature: d.Temperature,
		TravelFromRisk: d.TravelFromRisk, ContactWithCase: d.ContactWithCase,
		FiledBy: d.FiledBy, FiledByKind: d.FiledByKind, Cell: d.Cell, DistrictID: d.DistrictID,
		Colour: d.Colour, Reasons: slices.Clone(d.Reasons), At: d.At.UTC(),
	}
}

func (r *declarationRec) domain() *hub.Declaration {
	return &hub.Declaration{
		ID: r.ID, ResidentID: r.ResidentID, SubjectID: r.SubjectID,
		Symptoms: r.Symptoms, Temperature: r.Temperature,
		TravelFromRisk: r.TravelFromRisk, ContactWithCase: r.ContactWithCase,
		FiledBy: r.FiledBy, FiledByKind: r.FiledByKind, Cell: r.Cell, DistrictID: r.DistrictID,
		Colour: r.Colour, Reasons: r.Reasons, At: r.At,
	}
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
	return healthCodeRec{
		ResidentID: c.ResidentID, SubjectID: c.SubjectID, Cell: c.Cell,
		DistrictID: c.DistrictID, CommitteeID: c.CommitteeID, Colour: c.Colour,
		Reasons: slices.Clone(c.Reasons), Version: c.Version, UpdatedAt: c.UpdatedAt.UTC(),
	}
}

func (r *healthCodeRec) domain() *hub.HealthCode {
	return &hub.HealthCode{
		ResidentID: r.ResidentID, SubjectID: r.SubjectID, Cell: r.Cell,
		DistrictID: r.DistrictID, CommitteeID: r.CommitteeID, Colour: r.Colour,
		Reasons: slices.Clone(r.Reasons), Version: r.Version, UpdatedAt: r.UpdatedAt,
	}
}

type caseRec struct {
	CaseAt    time.Time `json:"caseAt"`
	ContactAt time.Time `json:"contactAt"`
	ContactOf string    `json:"contactOf,omitempty"`
}

func (r *caseRec) domain() hub.CaseStatus {
	return hub.CaseStatus{CaseAt: r.CaseAt, ContactAt: r.ContactAt, ContactOf: r.ContactOf}
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
	return scanRec{
		ID: s.ID, CheckpointID: s.CheckpointID, Cell: s.Cell, ResidentID: s.ResidentID,
		SubjectID: s.SubjectID, At: s.At.UTC(), Temperature: s.Temperature,
		Colour: s.Colour, Result: s.Result,
	}
}

func (r *scanRec) domain() *hub.Scan {
	return &hub.Scan{
		ID: r.ID, CheckpointID: r.CheckpointID, Cell: r.Cell, ResidentID: r.ResidentID,
		SubjectID: r.SubjectID, At: r.At, Temperature: r.Temperature,
		Colour: r.Colour, Result: r.Result,
	}
}
