package codes

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/hub"
)

// Store is what the service needs of storage: the codes store, and the
// residents, checkpoints and audit trail of a hub.Store (which has them
// all).
type Store interface {
	hub.CodesStore
	Resident(ctx context.Context, id string) (*hub.Resident, error)
	Checkpoint(ctx context.Context, id string) (*hub.Checkpoint, error)
	AppendAudit(ctx context.Context, es ...hub.AuditEntry) ([]hub.AuditEntry, error)
}

// A hub.Store is all a Service needs.
var _ Store = hub.Store(nil)

// Limits of the service.
const (
	// DefaultTrajectory and MaxTrajectory bound the scans of one
	// trajectory read.
	DefaultTrajectory = 1000
	MaxTrajectory     = MaxCaseScans
	// DefaultTraceBack is how far before a case's marking MarkCase looks
	// for contacts: the 14 days of an incubation period.
	DefaultTraceBack = 14 * 24 * time.Hour
	// MaxOrganisation and MaxRiskReason bound the free text of a
	// declaration's filing organisation and a risk area's reason.
	MaxOrganisation = 200
	MaxRiskReason   = 500
	// refreshTries bounds the attempts of one colour refresh that loses
	// races with other writers of the same code.
	refreshTries = 8
)

// Superseded is the Reason VerifyCode gives a code that verifies but
// whose colour is no longer the subject's: the hub re-issued it.
const Superseded token.Reason = "SUPERSEDED"

// Options configure a Service. Store and Issuer are required.
type Options struct {
	Store Store
	// Issuer signs this hub's codes.
	Issuer *token.Issuer
	// Trust is the list codes are verified against: this hub's keys and
	// those of the authorities it recognises. Default: the issuer's key
	// alone.
	Trust *token.TrustList
	// Rules give colours; default DefaultRules().
	Rules *Rules
	// Publisher takes COLOUR_CHANGED, RISK_AREA_MARKED, RISK_AREA_LIFTED
	// and FEVER_SCAN events; none are published when it is nil.
	Publisher hub.Publisher
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID makes record IDs; the default makes time-sortable random
	// ones: the prefix and 26 lower-case base-32 characters.
	NewID func(prefix string) string
	// TraceWindow is the window of the contacts MarkCase traces; default
	// DefaultWindow.
	TraceWindow time.Duration
	// TraceBack is how far back MarkCase traces; default
	// DefaultTraceBack.
	TraceBack time.Duration
	// Workers bounds the codes refreshed at once after a risk area or a
	// case changes many; default 16.
	Workers int
	// Log receives errors that do not fail a call (a publish that
	// failed); default: discarded.
	Log *slog.Logger
}

// Service is health codes as the hub runs them: declarations, colours,
// signed codes, risk areas, scans, trajectories and contacts. It speaks
// hub types, knows nothing of GraphQL, and is safe for concurrent use.
//
// A resident's colour is derived (Rules): from their latest declaration,
// the risk level of their home cell now and their case marks. The service
// computes it again, and stores it as their HealthCode, whenever one of
// those changes: a declaration, a risk area marked or lifted over their
// cell, a case marked (theirs, or one they were near). A change of colour
// is a COLOUR_CHANGED event, and Code then signs the new colour: the code
// is re-issued.
type Service struct {
	store     Store
	issuer    atomic.Pointer[token.Issuer]
	trust     atomic.Pointer[token.TrustList]
	rules     *Rules
	pub       hub.Publisher
	now       func() time.Time
	newID     func(prefix string) string
	window    time.Duration
	traceBack time.Duration
	workers   int
	log       *slog.Logger
}

// New returns a service. Missing required options or bad ones are an
// EINVALID error.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, hub.Errorf(hub.EINVALID, "codes: no store")
	}
	if opts.Issuer == nil {
		return nil, hub.Errorf(hub.EINVALID, "codes: no issuer")
	}
	if opts.TraceWindow < 0 || opts.TraceWindow > MaxWindow {
		return nil, hub.Errorf(hub.EINVALID, "codes: trace window %v is outside [0, %v]", opts.TraceWindow, MaxWindow)
	}
	if opts.TraceBack < 0 {
		return nil, hub.Errorf(hub.EINVALID, "codes: negative trace-back %v", opts.TraceBack)
	}
	s := &Service{
		store: opts.Store, rules: opts.Rules, pub: opts.Publisher, now: opts.Now,
		newID: opts.NewID, window: opts.TraceWindow, traceBack: opts.TraceBack,
		workers: opts.Workers, log: opts.Log,
	}
	if s.rules == nil {
		s.rules = DefaultRules()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = (&idGen{}).next
	}
	if s.window == 0 {
		s.window = DefaultWindow
	}
	if s.traceBack == 0 {
		s.traceBack = DefaultTraceBack
	}
	if s.workers <= 0 {
		s.workers = 16
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.issuer.Store(opts.Issuer)
	trust := opts.Trust
	if trust == nil {
		var err error
		trust, err = token.NewTrustList(opts.Issuer.TrustedKey(time.Unix(0, 0), time.Time{}))
		if err != nil {
			return nil, err
		}
	}
	s.trust.Store(trust)
	return s, nil
}

// Rules returns the colour rules in force.
func (s *Service) Rules() *Rules { return s.rules }

// SetIssuer switches the key new codes are signed with (key rotation).
// The new key must be in the trust list; the old one should stay there
// until the codes it signed expire.
func (s *Service) SetIssuer(is *token.Issuer) {
	if is != nil {
		s.issuer.Store(is)
	}
}

// SetTrustList replaces the list codes are verified against.
func (s *Service) SetTrustList(tl *token.TrustList) {
	if tl != nil {
		s.trust.Store(tl)
	}
}

// TrustList returns the trust list as the hub publishes it: without the
// keys whose codes have all expired.
func (s *Service) TrustList() *token.TrustList {
	return s.trust.Load().Prune(s.now(), token.MaxLifetime)
}

// --- Declarations and colours ---

// DeclareInput is a health declaration as filed.
type DeclareInput struct {
	ResidentID      string
	Symptoms        []string // names from Symptoms(), any case, spaces allowed
	Temperature     float64  // °C; 0 when not measured
	TravelFromRisk  bool
	ContactWithCase bool
	// FiledByKind is who files: SELF when empty. A committee files only
	// for its own residents; an enterprise or a school names itself in
	// FiledBy. For SELF, FiledBy is the resident (or empty).
	FiledByKind hub.FiledByKind
	FiledBy     string
}

// Declare records a declaration, gives it a colour by the rules and
// refreshes the resident's health code. It returns the declaration and
// the code as stored. An unknown resident is ENOTFOUND, a committee filing
// for another committee's resident EFORBIDDEN, bad input EINVALID.
func (s *Service) Declare(ctx context.Context, in DeclareInput) (*hub.Declaration, *hub.HealthCode, error) {
	symptoms, err := NormalizeSymptoms(in.Symptoms)
	if err != nil {
		return nil, nil, err
	}
	if len(symptoms) > hub.MaxSymptoms {
		return nil, nil, hub.Errorf(hub.EINVALID, "%d symptoms, at most %d", len(symptoms), hub.MaxSymptoms)
	}
	if err := hub.CheckTemperature(in.Temperature); err != nil {
		return nil, nil, err
	}
	if in.ResidentID == "" {
		return nil, nil, hub.Errorf(hub.EINVALID, "no resident")
	}
	res, err := s.store.Resident(ctx, in.ResidentID)
	if err != nil {
		return nil, nil, err
	}
	kind, filer := in.FiledByKind, in.FiledBy
	switch kind {
	case "", hub.FiledBySelf:
		if filer != "" && filer != res.ID {
			return nil, nil, hub.Errorf(hub.EINVALID, "a declaration filed by oneself names the resident as filer")
		}
		kind, filer = hub.FiledBySelf, res.ID
	case hub.FiledByCommittee:
		if filer == "" || filer != res.CommitteeID {
			return nil, nil, hub.Errorf(hub.EFORBIDDEN, "committee %q may file only for its own residents", filer)
		}
	case hub.FiledByEnterprise, hub.FiledBySchool:
		if strings.TrimSpace(filer) == "" {
			return nil, nil, hub.Errorf(hub.EINVALID, "a %s declaration names the organisation that files it", kind)
		}
		if err := hub.CheckText("organisation", filer, MaxOrganisation, true); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, hub.Errorf(hub.EINVALID, "unknown filer kind %q", kind)
	}
	subject, err := s.store.SubjectOf(ctx, res.ID)
	if err != nil {
		return nil, nil, err
	}
	cs, err := s.store.CaseStatus(ctx, res.ID)
	if err != nil {
		return nil, nil, err
	}
	levels, err := s.store.RiskLevels(ctx, []hub.Cell{res.Cell})
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	result := s.rules.Evaluate(Facts{
		Symptoms: symptoms, Temperature: in.Temperature, TravelFromRisk: in.TravelFromRisk,
		ContactWithCase: in.ContactWithCase, CellLevel: levels[res.Cell], Case: cs, Now: now,
	})
	d := &hub.Declaration{
		ID: s.newID("dcl"), ResidentID: res.ID, SubjectID: subject, Symptoms: symptoms,
		Temperature: in.Temperature, TravelFromRisk: in.TravelFromRisk, ContactWithCase: in.ContactWithCase,
		FiledBy: filer, FiledByKind: kind, Cell: res.Cell, DistrictID: res.DistrictID,
		Colour: result.Colour, Reasons: result.Reasons, At: now,
	}
	if err := s.store.PutDeclaration(ctx, d); err != nil {
		return nil, nil, err
	}
	hc, err := s.Refresh(ctx, res.ID)
	if err != nil {
		return d, nil, err
	}
	return d, hc, nil
}

// Facts returns the facts a resident's colour follows from now, and
// whether there are any: a resident with no declaration and no case marks
// has no health code.
func (s *Service) Facts(ctx context.Context, res *hub.Resident) (Facts, bool, error) {
	f := Facts{Now: s.now()}
	decl, err := s.store.LatestDeclaration(ctx, res.ID)
	switch {
	case err == nil:
		f.Symptoms, f.Temperature = decl.Symptoms, decl.Temperature
		f.TravelFromRisk, f.ContactWithCase = decl.TravelFromRisk, decl.ContactWithCase
	case hub.ErrorCode(err) != hub.ENOTFOUND:
		return Facts{}, false, err
	}
	if f.Case, err = s.store.CaseStatus(ctx, res.ID); err != nil {
		return Facts{}, false, err
	}
	levels, err := s.store.RiskLevels(ctx, []hub.Cell{res.Cell})
	if err != nil {
		return Facts{}, false, err
	}
	f.CellLevel = levels[res.Cell]
	has := decl != nil || !f.Case.CaseAt.IsZero() || !f.Case.ContactAt.IsZero()
	return f, has, nil
}

// Refresh computes a resident's colour again and stores it if it changed,
// publishing COLOUR_CHANGED when the colour did. It returns the code as
// stored, or nil when the resident has none (no declaration, no case
// marks).
//
// The stored code's Version makes a refresh that raced with another
// start again from fresh facts, so the last write always follows the
// latest facts.
func (s *Service) Refresh(ctx context.Context, residentID string) (*hub.HealthCode, error) {
	for try := 1; ; try++ {
		hc, err := s.refreshOnce(ctx, residentID)
		if hub.ErrorCode(err) == hub.ECONFLICT && try < refreshTries {
			continue
		}
		return hc, err
	}
}

func (s *Service) refreshOnce(ctx context.Context, residentID string) (*hub.HealthCode, error) {
	cur, err := s.store.HealthCode(ctx, residentID)
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	res, err := s.store.Resident(ctx, residentID)
	if err != nil {
		return nil, err
	}
	f, has, err := s.Facts(ctx, res)
	if err != nil {
		return nil, err
	}
	if !has && cur == nil {
		return nil, nil
	}
	result := s.rules.Evaluate(f)
	next := &hub.HealthCode{
		ResidentID: res.ID, Cell: res.Cell, DistrictID: res.DistrictID, CommitteeID: res.CommitteeID,
		Colour: result.Colour, Reasons: result.Reasons, UpdatedAt: f.Now,
	}
	from := hub.Colour("")
	if cur != nil {
		if cur.Cell == next.Cell && cur.DistrictID == next.DistrictID && cur.CommitteeID == next.CommitteeID &&
			cur.Colour == next.Colour && slices.Equal(cur.Reasons, next.Reasons) {
			return cur, nil
		}
		next.SubjectID, next.Version, from = cur.SubjectID, cur.Version, cur.Colour
	} else if next.SubjectID, err = s.store.SubjectOf(ctx, res.ID); err != nil {
		return nil, err
	}
	stored, err := s.store.PutHealthCode(ctx, next)
	if err != nil {
		return nil, err
	}
	if from != stored.Colour {
		s.publish(ctx, hub.Event{
			Kind: hub.EventColourChanged, At: f.Now, Cells: []hub.Cell{stored.Cell},
			DistrictID: stored.DistrictID, CommitteeIDs: nonEmpty(stored.CommitteeID),
			Payload: hub.ColourChangedPayload{Subject: stored.SubjectID, From: string(from), To: string(stored.Colour), Cell: stored.Cell},
		})
	}
	return stored, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// Code signs the resident's current colour: a fresh code, expiring the
// issuer's lifetime from now. A resident without a health code (no
// declaration, no case marks) is ENOTFOUND.
func (s *Service) Code(ctx context.Context, residentID string) (hub.IssuedCode, error) {
	hc, err := s.Refresh(ctx, residentID)
	if err != nil {
		return hub.IssuedCode{}, err
	}
	if hc == nil {
		return hub.IssuedCode{}, hub.Errorf(hub.ENOTFOUND, "resident %q has no health code: declare health first", residentID)
	}
	return s.issuer.Load().Issue(hc.SubjectID, hc.Colour, s.now())
}

// GateColour returns the colour of a resident's health code now, by the
// rules (as Refresh would compute it, without writing), if they have a
// current declaration (filed within Rules.DeclarationFor, 7 days by
// default), and "" if they have none: what the health gate of a dispatch
// round reads (dispatch.EngineOptions.HealthColour).
func (s *Service) GateColour(ctx context.Context, residentID string) (hub.Colour, error) {
	d, err := s.store.LatestDeclaration(ctx, residentID)
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if s.now().Sub(d.At) >= s.rules.DeclarationFor {
		return "", nil
	}
	res, err := s.store.Resident(ctx, residentID)
	if err != nil {
		return "", err
	}
	f, _, err := s.Facts(ctx, res)
	if err != nil {
		return "", err
	}
	return s.rules.Evaluate(f).Colour, nil
}

// Verification is the answer to verifyCode.
type Verification struct {
	Valid  bool
	Reason token.Reason // empty when valid
	Detail string
	// Code holds the claims of a code that verified (also when it is
	// SUPERSEDED).
	Code hub.IssuedCode
	// Current is the subject's colour now, when the subject is this hub's
	// resident with a health code.
	Current hub.Colour
}

// VerifyCode checks a code as a checkpoint would offline (token.Verify
// against the trust list), and then, for a code of this hub's issuer,
// against the subject's colour now: a code whose colour is not the
// current one is SUPERSEDED (the hub re-issued it).
func (s *Service) VerifyCode(ctx context.Context, text string) (Verification, error) {
	code, err := token.Verify(text, s.trust.Load(), s.now())
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			return Verification{Reason: te.Reason, Detail: te.Detail}, nil
		}
		return Verification{}, err
	}
	v := Verification{Valid: true, Code: code}
	residentID, err := s.localResident(ctx, code)
	if err != nil || residentID == "" {
		return v, err
	}
	hc, err := s.Refresh(ctx, residentID)
	if err != nil || hc == nil {
		return v, err
	}
	v.Current = hc.Colour
	if hc.Colour != code.Colour {
		v.Valid, v.Reason = false, Superseded
		v.Detail = fmt.Sprintf("the code says %s; the holder's colour is now %s", code.Colour, hc.Colour)
	}
	return v, nil
}

// localResident returns the resident a verified code's subject belongs
// to, when this hub's issuer signed it; "" for a visitor.
func (s *Service) localResident(ctx context.Context, code hub.IssuedCode) (string, error) {
	if code.Issuer != s.issuer.Load().Name() {
		return "", nil
	}
	id, err := s.store.ResidentOfSubject(ctx, code.SubjectID)
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return "", nil
	}
	return id, err
}

// --- Risk areas ---

// MarkRiskArea marks centre HIGH with rings around it at lower levels
// (LevelAt), replacing an earlier marking of the same centre, publishes
// RISK_AREA_MARKED and refreshes the codes of the residents of every cell
// the marking touches (now or before).
func (s *Service) MarkRiskArea(ctx context.Context, centre hub.Cell, rings int, reason string) (*hub.RiskArea, error) {
	if err := hub.CheckText("reason", reason, MaxRiskReason, true); err != nil {
		return nil, err
	}
	a, err := NewRiskArea(centre, rings, strings.TrimSpace(reason), s.now())
	if err != nil {
		return nil, err
	}
	touched := areaCells(a)
	if old, err := s.store.RiskArea(ctx, a.ID); err == nil && old.Active() {
		touched = append(touched, areaCells(old)...)
	} else if err != nil && hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, err
	}
	if err := s.store.UpsertRiskArea(ctx, a); err != nil {
		return nil, err
	}
	s.publish(ctx, riskEvent(hub.EventRiskAreaMarked, a, a.MarkedAt))
	return a, s.refreshCells(ctx, touched)
}

// LiftRiskArea lifts a risk area, publishes RISK_AREA_LIFTED and
// refreshes the codes of its residents: colours that followed from it
// fall back to what the other facts say.
func (s *Service) LiftRiskArea(ctx context.Context, id string) (*hub.RiskArea, error) {
	a, err := s.store.LiftRiskArea(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	s.publish(ctx, riskEvent(hub.EventRiskAreaLifted, a, a.LiftedAt))
	return a, s.refreshCells(ctx, areaCells(a))
}

func riskEvent(kind hub.EventKind, a *hub.RiskArea, at time.Time) hub.Event {
	return hub.Event{
		Kind: kind, At: at, Cells: areaCells(a),
		Payload: hub.RiskAreaPayload{AreaID: a.ID, Center: a.Cell, K: a.Rings, Reason: a.Reason},
	}
}

// refreshCells refreshes the codes of the residents living in cells.
func (s *Service) refreshCells(ctx context.Context, cells []hub.Cell) error {
	slices.Sort(cells)
	cells = slices.Compact(cells)
	var ids []string
	for len(cells) > 0 {
		n := min(len(cells), 256)
		hcs, err := s.store.HealthCodesIn(ctx, cells[:n])
		if err != nil {
			return err
		}
		for _, hc := range hcs {
			ids = append(ids, hc.ResidentID)
		}
		cells = cells[n:]
	}
	return s.refreshAll(ctx, ids)
}

// refreshAll refreshes codes, Workers at a time, so that their writes
// share the store's group commits. It returns the first error.
func (s *Service) refreshAll(ctx context.Context, ids []string) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	for range min(s.workers, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				if _, err := s.Refresh(ctx, ids[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("refresh health code of %s: %w", ids[i], err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// --- Scans ---

// ScanInput is one scan as a checkpoint reports it: either the code shown
// (Token), or, from a device that verified the code offline, its subject
// and colour.
type ScanInput struct {
	// ID is the device's ID for the scan, so that an upload can be
	// retried (RecordScans skips a scan stored with the same content);
	// the service makes one when it is empty.
	ID           string
	CheckpointID string
	Token        string
	SubjectID    string
	Colour       hub.Colour // with SubjectID: the colour the device read
	Temperature  float64    // °C; 0 when not measured
	At           time.Time  // when it was scanned; zero: now
}

// ScanResult says what a checkpoint makes of a code of colour and a
// temperature: FEVER at or above Rules.FeverC, else DENY for a code that
// is not GREEN, else PASS.
func (r *Rules) ScanResult(colour hub.Colour, temperature float64) hub.ScanResult {
	switch {
	case temperature >= r.FeverC:
		return hub.ScanFever
	case colour != hub.Green:
		return hub.ScanDeny
	}
	return hub.ScanPass
}

// RecordScan records a scan and returns it. The result follows from the
// code's colour (for this hub's residents, the more restricted of the
// code's and the current colour, so a superseded GREEN code does not
// pass) and the temperature. A FEVER scan is a FEVER_SCAN event.
//
// An unknown checkpoint is ENOTFOUND; an impossible temperature, a scan
// time in the future, or a code that does not verify is EINVALID (the
// last carries the *token.Error, so token.ReasonOf gives the reason; the
// transport shows it as a DENY).
func (s *Service) RecordScan(ctx context.Context, in ScanInput) (*hub.Scan, error) {
	if err := hub.CheckTemperature(in.Temperature); err != nil {
		return nil, err
	}
	now := s.now()
	at := in.At
	if at.IsZero() {
		at = now
	}
	if at.After(now.Add(token.ClockSkew)) {
		return nil, hub.Errorf(hub.EINVALID, "scan time %s is in the future", at.Format(time.RFC3339))
	}
	cp, err := s.store.Checkpoint(ctx, in.CheckpointID)
	if err != nil {
		return nil, err
	}

	sc := &hub.Scan{ID: in.ID, CheckpointID: cp.ID, Cell: cp.Cell, At: at, Temperature: in.Temperature}
	if sc.ID == "" {
		sc.ID = s.newID("scn")
	}
	switch {
	case in.Token != "":
		code, err := token.Verify(in.Token, s.trust.Load(), at)
		if err != nil {
			return nil, &hub.Error{Code: hub.EINVALID, Message: "code rejected: " + err.Error(), Err: err}
		}
		sc.SubjectID, sc.Colour = code.SubjectID, code.Colour
		if sc.ResidentID, err = s.localResident(ctx, code); err != nil {
			return nil, err
		}
	case in.SubjectID != "":
		sc.SubjectID, sc.Colour = in.SubjectID, in.Colour
		if in.Colour != "" && !in.Colour.Valid() {
			return nil, hub.Errorf(hub.EINVALID, "unknown colour %q", in.Colour)
		}
		id, err := s.store.ResidentOfSubject(ctx, in.SubjectID)
		if err != nil && hub.ErrorCode(err) != hub.ENOTFOUND {
			return nil, err
		}
		sc.ResidentID = id
	default:
		return nil, hub.Errorf(hub.EINVALID, "a scan needs the code or, from a device that verified it, its subject")
	}
	if sc.ResidentID != "" {
		hc, err := s.Refresh(ctx, sc.ResidentID)
		if err != nil {
			return nil, err
		}
		if hc != nil {
			sc.Colour = hub.MaxColour(sc.Colour, hc.Colour)
		}
	}
	if sc.Colour == "" {
		return nil, hub.Errorf(hub.EINVALID, "the colour of subject %q is unknown here: send the code", hub.Clip(sc.SubjectID))
	}
	sc.Result = s.rules.ScanResult(sc.Colour, sc.Temperature)
	if err := s.store.RecordScans(ctx, sc); err != nil {
		return nil, err
	}
	if sc.Result == hub.ScanFever {
		s.publish(ctx, hub.Event{
			Kind: hub.EventFeverScan, At: at, Cells: []hub.Cell{cp.Cell}, DistrictID: cp.DistrictID,
			Payload: hub.FeverScanPayload{ScanID: sc.ID, CheckpointID: cp.ID, Cell: cp.Cell, TemperatureC: sc.Temperature},
		})
	}
	return sc, nil
}

// --- Trajectories, contacts and cases: audited reads ---

// Reader says who reads a person's trajectory or contacts, and why. Every
// such read is in the audit trail with these.
type Reader struct {
	Role    string // the caller's role, e.g. "ADMIN", "COMMITTEE"
	ID      string // the caller's scope ID; "" for ADMIN
	Subject string // the caller's token subject
	Purpose string // required: why
}

func (s *Service) audit(ctx context.Context, rd Reader, action, target string, count int) error {
	_, err := s.store.AppendAudit(ctx, hub.AuditEntry{
		At: s.now(), ActorRole: rd.Role, ActorID: rd.ID, Subject: rd.Subject,
		Action: action, TargetID: target, Purpose: rd.Purpose, Count: count,
	})
	return err
}

func checkReader(rd Reader) error {
	if strings.TrimSpace(rd.Purpose) == "" {
		return hub.Errorf(hub.EINVALID, "reading a trajectory or contacts needs a stated purpose")
	}
	return hub.CheckText("purpose", rd.Purpose, hub.MaxAuditPurpose, true)
}

// Trajectory returns a resident's scans at or after since, in time order,
// at most limit (DefaultTrajectory when limit <= 0, never more than
// MaxTrajectory), and records the read in the audit trail (action
// "trajectory"). No audit, no data: if the audit cannot be written the
// call fails.
func (s *Service) Trajectory(ctx context.Context, rd Reader, residentID string, since time.Time, limit int) ([]*hub.Scan, error) {
	if err := checkReader(rd); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultTrajectory
	}
	limit = min(limit, MaxTrajectory)
	if _, err := s.store.Resident(ctx, residentID); err != nil {
		return nil, err
	}
	scans, err := s.store.Trajectory(ctx, residentID, since, limit)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, rd, "trajectory", residentID, len(scans)); err != nil {
		return nil, err
	}
	return scans, nil
}

// Contacts returns the people scanned near a resident's scans since the
// given time (FindContacts; DefaultWindow when window is 0), and records
// the read in the audit trail (action "contacts").
func (s *Service) Contacts(ctx context.Context, rd Reader, residentID string, since time.Time, window time.Duration) ([]hub.Contact, error) {
	if err := checkReader(rd); err != nil {
		return nil, err
	}
	cs, err := s.contacts(ctx, residentID, since, window)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, rd, "contacts", residentID, len(cs)); err != nil {
		return nil, err
	}
	return cs, nil
}

func (s *Service) contacts(ctx context.Context, residentID string, since time.Time, window time.Duration) ([]hub.Contact, error) {
	if window == 0 {
		window = DefaultWindow
	}
	if window < 0 || window > MaxWindow {
		return nil, hub.Errorf(hub.EINVALID, "contact window %v is outside (0, %v]", window, MaxWindow)
	}
	if _, err := s.store.Resident(ctx, residentID); err != nil {
		return nil, err
	}
	scans, err := s.store.Trajectory(ctx, residentID, since, MaxCaseScans+1)
	if err != nil {
		return nil, err
	}
	if len(scans) > MaxCaseScans {
		return nil, hub.Errorf(hub.EINVALID, "more than %d scans since %s: trace a shorter period", MaxCaseScans, since.Format(time.RFC3339))
	}
	subject := ""
	if len(scans) > 0 {
		subject = scans[0].SubjectID
	}
	return FindContacts(ctx, s.store, residentID, subject, scans, window)
}

// MarkCase marks a resident a confirmed case at the given time (now when
// zero): their code turns RED. It then traces their contacts over
// TraceBack before the marking with TraceWindow (an audited read, action
// "contacts"), marks them as traced contacts, whose codes turn at least
// YELLOW, and returns them.
func (s *Service) MarkCase(ctx context.Context, rd Reader, residentID string, at time.Time) ([]hub.Contact, error) {
	if err := checkReader(rd); err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = s.now()
	}
	if err := s.store.MarkCase(ctx, residentID, at); err != nil {
		return nil, err
	}
	if _, err := s.Refresh(ctx, residentID); err != nil {
		return nil, err
	}
	cs, err := s.contacts(ctx, residentID, at.Add(-s.traceBack), s.window)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, rd, "contacts", residentID, len(cs)); err != nil {
		return nil, err
	}
	if err := s.store.MarkContacts(ctx, residentID, cs...); err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range cs {
		if c.ResidentID != "" {
			ids = append(ids, c.ResidentID)
		}
	}
	return cs, s.refreshAll(ctx, ids)
}

// publish hands an event to the publisher, if any. The write it reports
// is durable already, so a failure is logged, not returned.
func (s *Service) publish(ctx context.Context, ev hub.Event) {
	if s.pub == nil {
		return
	}
	if _, err := s.pub.Publish(ctx, ev); err != nil {
		s.log.Warn("codes: publish", "kind", ev.Kind.String(), "err", err)
	}
}

// idGen makes time-sortable random IDs: the prefix, then 26 lower-case
// base-32 characters of a 48-bit millisecond time and 80 random bits.
type idGen struct{}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

func (idGen) next(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	// 128 bits as 26 base-32 symbols, most significant first.
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	out := make([]byte, len(prefix), len(prefix)+26)
	copy(out, prefix)
	var sym [26]byte
	for i := 25; i >= 0; i-- {
		sym[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(append(out, sym[:]...))
}
