package app

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// exportPage is the page size of the store reads behind an export.
const exportPage = 1000

// exportDoc is /me/export.json: everything the hub holds about one
// resident. Reservations and allocations are found by reading every
// reservation and shortage (the store indexes them by round, not by
// resident): an export costs a pass over them, and the route is rate
// limited per address.
type exportDoc struct {
	Format       string              `json:"format"`
	GeneratedAt  time.Time           `json:"generatedAt"`
	Notes        []string            `json:"notes"`
	Registration exportResident      `json:"registration"`
	Declaration  *exportDeclaration  `json:"latestDeclaration"`
	HealthCode   *exportHealthCode   `json:"healthCode"`
	Case         exportCase          `json:"case"`
	Reservations []exportReservation `json:"reservations"`
	Allocations  []exportAllocation  `json:"allocations"`
	Shortages    []exportShortage    `json:"shortages"`
	Scans        []exportScan        `json:"scans"`
	AccessLog    []exportAccess      `json:"accessLog"`
}

var exportNotes = []string{
	"The hub never stores your ID number: only its masked form (idNumberMasked) and a keyed hash that detects a second registration, which is not exported.",
	"latestDeclaration is the declaration in force; earlier declarations are kept but count nowhere.",
	"healthCode is the colour in force and its reasons; the signed code itself is made afresh each time it is shown.",
	"An allocation's pickupCode is shown, to you only, while it can still be used; keep this file private.",
	"case.contactAt is when you were last traced near a confirmed case; who that case was is not shown.",
	"accessLog lists every read of your data by someone else, oldest first: the reader's role and scope, and their name only where the city shows officials' names. Your own reads are not recorded.",
}

type exportResident struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	IDNumberMasked string    `json:"idNumberMasked"`
	Phone          string    `json:"phone"`
	Address        string    `json:"address"`
	Location       hub.Point `json:"location"`
	Cell           string    `json:"cell"`
	CommitteeID    string    `json:"committeeId"`
	DistrictID     string    `json:"districtId"`
	RegisteredAt   time.Time `json:"registeredAt"`
}

type exportDeclaration struct {
	ID              string    `json:"id"`
	Symptoms        []string  `json:"symptoms"`
	Temperature     float64   `json:"temperature,omitempty"`
	TravelFromRisk  bool      `json:"travelFromRisk"`
	ContactWithCase bool      `json:"contactWithCase"`
	FiledBy         string    `json:"filedBy"`
	FiledByKind     string    `json:"filedByKind"`
	Colour          string    `json:"colour"`
	Reasons         []string  `json:"reasons"`
	At              time.Time `json:"at"`
}

type exportHealthCode struct {
	Colour    string    `json:"colour"`
	Reasons   []string  `json:"reasons"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type exportCase struct {
	CaseAt    *time.Time `json:"caseAt"`
	ContactAt *time.Time `json:"contactAt"`
}

type exportReservation struct {
	ID           string    `json:"id"`
	RoundID      string    `json:"roundId"`
	Fulfilment   string    `json:"fulfilment"`
	Status       string    `json:"status"`
	AllocationID string    `json:"allocationId,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

type exportAllocation struct {
	ID         string     `json:"id"`
	RoundID    string     `json:"roundId,omitempty"`
	PharmacyID string     `json:"pharmacyId,omitempty"`
	PartnerID  string     `json:"partnerId,omitempty"`
	SKU        string     `json:"sku"`
	Quantity   int        `json:"quantity"`
	Slot       *time.Time `json:"slot,omitempty"`
	Status     string     `json:"status"`
	PickupCode string     `json:"pickupCode,omitempty"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	CreatedAt  time.Time  `json:"createdAt"`
}

type exportShortage struct {
	ID           string    `json:"id"`
	SKU          string    `json:"sku"`
	Quantity     int       `json:"quantity"`
	Status       string    `json:"status"`
	AllocationID string    `json:"allocationId,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
}

type exportScan struct {
	ID           string    `json:"id"`
	CheckpointID string    `json:"checkpointId"`
	Cell         string    `json:"cell"`
	At           time.Time `json:"at"`
	Temperature  float64   `json:"temperature,omitempty"`
	Colour       string    `json:"colour"`
	Result       string    `json:"result"`
}

type exportAccess struct {
	At         time.Time `json:"at"`
	ActorRole  string    `json:"actorRole"`
	ActorScope string    `json:"actorScope"`
	Official   string    `json:"official,omitempty"`
	Action     string    `json:"action"`
	Purpose    string    `json:"purpose"`
	Count      int       `json:"count"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// exportOf gathers the export of resident id. Reading one's own data is
// not recorded in the audit trail.
func exportOf(ctx context.Context, s hub.Store, pickup func(*hub.Allocation) dispatch.PickupCode, now time.Time, id string, names bool) (*exportDoc, error) {
	res, err := s.Resident(ctx, id)
	if err != nil {
		return nil, err
	}
	doc := &exportDoc{
		Format: "gridhub-export/1", GeneratedAt: now.UTC(), Notes: exportNotes,
		Registration: exportResident{
			ID: res.ID, Name: res.Name, IDNumberMasked: res.IDMasked, Phone: res.Phone, Address: res.Address,
			Location: res.Location, Cell: res.Cell.String(), CommitteeID: res.CommitteeID, DistrictID: res.DistrictID, RegisteredAt: res.RegisteredAt,
		},
		Reservations: []exportReservation{}, Allocations: []exportAllocation{}, Shortages: []exportShortage{},
		Scans: []exportScan{}, AccessLog: []exportAccess{},
	}
	if d, err := s.LatestDeclaration(ctx, id); err == nil {
		doc.Declaration = &exportDeclaration{
			ID: d.ID, Symptoms: d.Symptoms, Temperature: d.Temperature, TravelFromRisk: d.TravelFromRisk, ContactWithCase: d.ContactWithCase,
			FiledBy: d.FiledBy, FiledByKind: string(d.FiledByKind), Colour: string(d.Colour), Reasons: d.Reasons, At: d.At,
		}
	} else if hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, err
	}
	if c, err := s.HealthCode(ctx, id); err == nil {
		doc.HealthCode = &exportHealthCode{Colour: string(c.Colour), Reasons: c.Reasons, UpdatedAt: c.UpdatedAt}
	} else if hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, err
	}
	cs, err := s.CaseStatus(ctx, id)
	if err != nil && hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, err
	}
	doc.Case = exportCase{CaseAt: timePtr(cs.CaseAt), ContactAt: timePtr(cs.ContactAt)}

	var allocIDs []string
	rounds, err := s.Rounds(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, round := range rounds {
		if err := exportReservations(ctx, s, round.ID, id, doc, &allocIDs); err != nil {
			return nil, err
		}
	}
	for f := (hub.ShortageFilter{Limit: exportPage}); ; {
		ss, err := s.Shortages(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, sh := range ss {
			if sh.ResidentID != id {
				continue
			}
			doc.Shortages = append(doc.Shortages, exportShortage{
				ID: sh.ID, SKU: string(sh.SKU), Quantity: sh.Quantity, Status: string(sh.Status),
				AllocationID: sh.AllocationID, CreatedAt: sh.CreatedAt,
			})
			if sh.AllocationID != "" {
				allocIDs = append(allocIDs, sh.AllocationID)
			}
		}
		if len(ss) < f.Limit {
			break
		}
		f.After = ss[len(ss)-1].ID
	}
	if len(allocIDs) > 0 {
		as, err := s.AllocationsByID(ctx, allocIDs)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a == nil || a.ResidentID != id {
				continue
			}
			e := exportAllocation{
				ID: a.ID, RoundID: a.RoundID, PharmacyID: a.PharmacyID, PartnerID: a.PartnerID, SKU: string(a.SKU), Quantity: a.Quantity,
				Slot: timePtr(a.Slot), Status: string(a.Status), ExpiresAt: a.ExpiresAt, CreatedAt: a.CreatedAt,
			}
			if !a.Status.Final() {
				e.PickupCode = pickup(a).String()
			}
			doc.Allocations = append(doc.Allocations, e)
		}
	}

	scans, err := s.Trajectory(ctx, id, time.Time{}, 0)
	if err != nil {
		return nil, err
	}
	for _, sc := range scans {
		doc.Scans = append(doc.Scans, exportScan{
			ID: sc.ID, CheckpointID: sc.CheckpointID, Cell: sc.Cell.String(), At: sc.At,
			Temperature: sc.Temperature, Colour: string(sc.Colour), Result: string(sc.Result),
		})
	}
	for f := (hub.AuditFilter{TargetID: id, Limit: hub.MaxAuditLimit}); ; {
		es, err := s.AuditLog(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			a := exportAccess{At: e.At, ActorRole: e.ActorRole, ActorScope: e.ActorID, Action: e.Action, Purpose: e.Purpose, Count: e.Count}
			if names {
				a.Official = e.Subject
			}
			doc.AccessLog = append(doc.AccessLog, a)
		}
		if len(es) < f.Limit {
			break
		}
		f.After = es[len(es)-1].Seq
	}
	return doc, nil
}

// exportReservations adds the reservations of resident id in one round to
// doc, and their allocations' IDs to allocIDs.
func exportReservations(ctx context.Context, s hub.Store, roundID, id string, doc *exportDoc, allocIDs *[]string) error {
	for f := (hub.ReservationFilter{RoundID: roundID, Limit: exportPage}); ; {
		rs, err := s.Reservations(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.ResidentID != id {
				continue
			}
			doc.Reservations = append(doc.Reservations, exportReservation{
				ID: r.ID, RoundID: r.RoundID, Fulfilment: string(r.Fulfilment), Status: string(r.Status),
				AllocationID: r.AllocationID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
			})
			if r.AllocationID != "" {
				*allocIDs = append(*allocIDs, r.AllocationID)
			}
		}
		if len(rs) < f.Limit {
			break
		}
		f.After = rs[len(rs)-1].ID
	}
	return nil
}
