// Package retention deletes personal records once their retention period
// is over, and keeps legal holds that keep the records of the people
// concerned by a case beyond it.
//
// The sweep runs on every hub on a timer (Service.Run) and takes effect
// once however many hubs share the store: each batch is one short store
// write (hub.Store.Sweep) that deletes only what is still there, so a
// second pass, on this hub or another, deletes nothing more. Batches are
// bounded so that reservations and other writes interleave with them.
//
// A hold is placed, extended and lifted by explicit acts, each written to
// the audit trail before it takes effect (no audit, no act). A hold ends at
// its Until; nothing extends it but ExtendHold.
package retention

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Periods are the retention periods per kind of record; zero keeps that
// kind for ever.
type Periods struct {
	Scans        time.Duration // checkpoint scans, and so trajectories and contacts; case marks
	Declarations time.Duration // health declarations; health codes resting on none
	Dispatch     time.Duration // reservations and allocations, from their round's close; shortage registrations
	Audit        time.Duration // audit entries of reads of personal data
}

// Defaults. Scans and declarations: 28 days, two incubation periods of
// 14 days, enough to trace a case's contacts back over the period in
// which they could have infected or been infected, and in line with what
// check-in systems of 2020 kept (SafeEntry 25 days, NHS venue check-ins
// 21 days). Dispatch records: 90 days after their round closed, time for
// complaints, audits of fairness and the lottery's verification. The audit
// trail: 365 days, because it is how residents and oversight bodies hold
// officials to account, which needs longer than the data it records.
const (
	DefaultScans        = 28 * 24 * time.Hour
	DefaultDeclarations = 28 * 24 * time.Hour
	DefaultDispatch     = 90 * 24 * time.Hour
	DefaultAudit        = 365 * 24 * time.Hour
	// DefaultEvery is how often a hub sweeps, and DefaultFirst how soon
	// after start it sweeps the first time (at most every), so that a hub
	// that never stays up a whole period still sweeps.
	DefaultEvery = time.Hour
	DefaultFirst = time.Minute
	// DefaultBatch is the records one sweep write examines, and
	// DefaultRest the pause after each, in batch times (BENCHMARKS.md
	// says why).
	DefaultBatch = 250
	DefaultRest  = 3.0
)

// DefaultPeriods returns the default retention periods.
func DefaultPeriods() Periods {
	return Periods{Scans: DefaultScans, Declarations: DefaultDeclarations, Dispatch: DefaultDispatch, Audit: DefaultAudit}
}

// Of returns the period of a kind of record.
func (p Periods) Of(k hub.RecordKind) time.Duration {
	switch k {
	case hub.RecordScans, hub.RecordCases:
		return p.Scans
	case hub.RecordDeclarations, hub.RecordCodes:
		return p.Declarations
	case hub.RecordDispatch, hub.RecordShortages:
		return p.Dispatch
	case hub.RecordAudit:
		return p.Audit
	}
	return 0
}

// Check returns an EINVALID error for a negative period.
func (p Periods) Check() error {
	for _, k := range hub.RecordKinds() {
		if p.Of(k) < 0 {
			return hub.Errorf(hub.EINVALID, "retention period of %s is negative", strings.ToLower(string(k)))
		}
	}
	return nil
}

// Options configures New.
type Options struct {
	Store   hub.Store
	Periods Periods
	// Batch bounds the records one sweep write examines; DefaultBatch
	// when 0.
	Batch int
	// Rest is how long the sweep waits after each batch, as a multiple of
	// the time the batch took (DefaultRest when 0, none when negative), so
	// that other writes (reservations) get the store's writer between
	// batches: with 3 the sweep holds it about a quarter of the time.
	Rest float64
	// First is how long Run waits after it starts before its first
	// sweep, at most its period; DefaultFirst when 0.
	First time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives the sweeps' reports and errors; discarded when nil.
	Log *slog.Logger
	// Events receives a RECORDS_EXPIRED event for each batch that
	// deleted records the dashboards count, so that their counters (a
	// view of the bus) drop on every hub as a rebuild from the store
	// would; none when nil.
	Events hub.Publisher
}

// Service sweeps expired records and keeps legal holds.
type Service struct {
	store   hub.Store
	periods Periods
	batch   int
	rest    float64
	first   time.Duration
	now     func() time.Time
	log     *slog.Logger
	events  hub.Publisher
}

// New returns the service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("retention: no store")
	}
	if err := opts.Periods.Check(); err != nil {
		return nil, err
	}
	if opts.Batch < 0 || opts.Batch > hub.MaxSweepBatch {
		return nil, hub.Errorf(hub.EINVALID, "sweep batch %d outside [0, %d]", opts.Batch, hub.MaxSweepBatch)
	}
	s := &Service{store: opts.Store, periods: opts.Periods, batch: opts.Batch, rest: opts.Rest, first: opts.First, now: opts.Now, log: opts.Log, events: opts.Events}
	if s.batch == 0 {
		s.batch = DefaultBatch
	}
	if s.first < 0 {
		return nil, hub.Errorf(hub.EINVALID, "first sweep delay %s is negative", s.first)
	}
	if s.first == 0 {
		s.first = DefaultFirst
	}
	switch {
	case s.rest == 0:
		s.rest = DefaultRest
	case s.rest < 0:
		s.rest = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Periods returns the retention periods in force.
func (s *Service) Periods() Periods { return s.periods }

// Swept is what one pass did to one kind of record.
type Swept struct {
	Kind    hub.RecordKind
	Before  time.Time // the cutoff
	Deleted int
	Held    int
	Batches int
}

// Sweep runs one pass over every kind of record with a period: it deletes
// every record older than its period that no hold in force keeps, in
// batches, each its own write.
func (s *Service) Sweep(ctx context.Context) ([]Swept, error) {
	now := s.now()
	var out []Swept
	for _, k := range hub.RecordKinds() {
		p := s.periods.Of(k)
		if p == 0 {
			continue
		}
		sw := Swept{Kind: k, Before: now.Add(-p)}
		var from []byte
		for {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			start := time.Now()
			r, err := s.store.Sweep(ctx, hub.SweepRequest{Kind: k, Before: sw.Before, Now: now, From: from, Limit: s.batch})
			if err != nil {
				return out, fmt.Errorf("retention: sweep %s: %w", strings.ToLower(string(k)), err)
			}
			if r.Next != nil && s.rest > 0 {
				if err := sleep(ctx, time.Duration(float64(time.Since(start))*s.rest)); err != nil {
					return out, err
				}
			}
			s.publish(ctx, k, now, r.Expired)
			sw.Deleted += r.Deleted
			sw.Held += r.Held
			sw.Batches++
			if r.Next == nil {
				break
			}
			from = r.Next
		}
		out = append(out, sw)
	}
	return out, nil
}

// publish tells the views what a batch deleted that they count. The
// batch is written: a failure to publish is logged, and the views that
// missed it are right again at their next rebuild from the store.
func (s *Service) publish(ctx context.Context, k hub.RecordKind, now time.Time, counts []hub.ExpiredCount) {
	if s.events == nil || len(counts) == 0 {
		return
	}
	var cells []hub.Cell
	for _, c := range counts {
		if c.Cell != 0 {
			cells = append(cells, c.Cell)
		}
	}
	slices.Sort(cells)
	ev := hub.Event{
		Kind: hub.EventRecordsExpired, At: now, Cells: slices.Compact(cells),
		Payload: hub.RecordsExpiredPayload{Kind: k, Counts: counts},
	}
	if _, err := s.events.Publish(context.WithoutCancel(ctx), ev); err != nil {
		s.log.Error("retention sweep: publish the expired counts", "kind", k, "err", err)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run sweeps every period until ctx ends, the first time soon after it
// starts (Options.First, at most one period), so that a hub restarted more
// often than its period still sweeps; the sweep is idempotent, so several
// hubs starting together delete each record once. A failed pass is logged
// and tried again at the next tick.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultEvery
	}
	first := time.NewTimer(min(s.first, every))
	defer first.Stop()
	var tick <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
			t := time.NewTicker(every)
			defer t.Stop()
			tick = t.C
		case <-tick:
		}
		start := time.Now()
		swept, err := s.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("retention sweep", "err", err)
		}
		for _, sw := range swept {
			if sw.Deleted > 0 || sw.Held > 0 {
				s.log.Info("retention sweep", "kind", sw.Kind, "before", sw.Before, "deleted", sw.Deleted, "held", sw.Held, "batches", sw.Batches, "took", time.Since(start))
			}
		}
	}
}

// Actor is who places, extends or lifts a hold.
type Actor struct {
	Role    string // e.g. "DISTRICT", "ADMIN"
	ID      string // the scope ID: the district's ID; "" for ADMIN
	Subject string // the token subject
}

// HoldInput places a hold.
type HoldInput struct {
	// CaseID is a resident marked a confirmed case.
	CaseID string
	// ResidentIDs are others concerned: each a traced contact of the
	// case (of this one among any others), last near it within the
	// retention period of scans. The case is always held.
	ResidentIDs []string
	Reason      string
	Until       time.Time
}

// PlaceHold holds the records of a case and of the contacts named beyond
// their retention period until in.Until (at most hub.MaxHoldSpan ahead).
// The case must be marked (markCase) and each other resident must be its
// traced contact; a district places holds for its own residents only. The
// act is in the audit trail (action "hold.place", one entry per resident)
// before it takes effect.
func (s *Service) PlaceHold(ctx context.Context, a Actor, in HoldInput) (*hub.Hold, error) {
	now := s.now()
	if err := checkAct(in.Reason, in.Until, now); err != nil {
		return nil, err
	}
	res, err := s.store.Resident(ctx, in.CaseID)
	if err != nil {
		return nil, err
	}
	if a.Role != "ADMIN" && res.DistrictID != a.ID {
		return nil, hub.Errorf(hub.EFORBIDDEN, "resident %q is not of district %q", in.CaseID, a.ID)
	}
	cs, err := s.store.CaseStatus(ctx, in.CaseID)
	if err != nil {
		return nil, err
	}
	if cs.CaseAt.IsZero() {
		return nil, hub.Errorf(hub.EINVALID, "resident %q is not marked a case (markCase): a hold needs an open case", in.CaseID)
	}
	ids := []string{in.CaseID}
	for _, id := range in.ResidentIDs {
		if id == in.CaseID || slices.Contains(ids, id) {
			continue
		}
		st, err := s.store.CaseStatus(ctx, id)
		if err != nil {
			return nil, err
		}
		last, ok := st.ContactOfCase(in.CaseID)
		if !ok {
			return nil, hub.Errorf(hub.EINVALID, "resident %q is not a traced contact of case %q", id, in.CaseID)
		}
		if p := s.periods.Scans; p > 0 && last.Before(now.Add(-p)) {
			return nil, hub.Errorf(hub.EINVALID, "resident %q was last near case %q on %s: that contact is past the retention period of scans",
				id, in.CaseID, last.UTC().Format(time.DateOnly))
		}
		ids = append(ids, id)
	}
	if len(ids) > hub.MaxHoldResidents {
		return nil, hub.Errorf(hub.EINVALID, "a hold names at most %d residents, not %d", hub.MaxHoldResidents, len(ids))
	}
	slices.Sort(ids)
	h := &hub.Hold{
		ID: "hold-" + strings.ToLower(rand.Text()[:16]), DistrictID: res.DistrictID, CaseID: in.CaseID,
		ResidentIDs: ids, Reason: in.Reason, PlacedBy: a.Subject, PlacedAt: now, Until: in.Until,
	}
	if err := s.audit(ctx, a, "hold.place", h, in.Until, in.Reason, now); err != nil {
		return nil, err
	}
	if err := s.store.PutHold(ctx, h); err != nil {
		return nil, err
	}
	return h, nil
}

// ExtendHold moves a hold in force to a later end (at most
// hub.MaxHoldSpan ahead), with a reason; audited ("hold.extend").
func (s *Service) ExtendHold(ctx context.Context, a Actor, id string, until time.Time, reason string) (*hub.Hold, error) {
	now := s.now()
	if err := checkAct(reason, until, now); err != nil {
		return nil, err
	}
	h, err := s.ownHold(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if !h.InForce(now) {
		return nil, hub.Errorf(hub.ECONFLICT, "hold %q is no longer in force: place a new one", id)
	}
	if !until.After(h.Until) {
		return nil, hub.Errorf(hub.ECONFLICT, "hold %q already runs until %s: an extension must end later", id, h.Until.Format(time.RFC3339))
	}
	if err := s.audit(ctx, a, "hold.extend", h, until, reason, now); err != nil {
		return nil, err
	}
	return s.store.ExtendHold(ctx, id, until, now)
}

// LiftHold ends a hold in force now, with a reason; audited ("hold.lift").
// The records it kept expire at the next sweep.
func (s *Service) LiftHold(ctx context.Context, a Actor, id, reason string) (*hub.Hold, error) {
	now := s.now()
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	h, err := s.ownHold(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if !h.InForce(now) {
		return nil, hub.Errorf(hub.ECONFLICT, "hold %q is not in force", id)
	}
	if err := s.audit(ctx, a, "hold.lift", h, now, reason, now); err != nil {
		return nil, err
	}
	return s.store.LiftHold(ctx, id, now)
}

// Hold returns a hold.
func (s *Service) Hold(ctx context.Context, id string) (*hub.Hold, error) {
	return s.store.Hold(ctx, id)
}

// Holds lists the holds of a district (every district's when districtID
// is empty), only those in force when activeOnly is set.
func (s *Service) Holds(ctx context.Context, districtID string, activeOnly bool) ([]*hub.Hold, error) {
	hs, err := s.store.Holds(ctx, districtID)
	if err != nil || !activeOnly {
		return hs, err
	}
	now := s.now()
	return slices.DeleteFunc(hs, func(h *hub.Hold) bool { return !h.InForce(now) }), nil
}

// ownHold returns a hold of the actor's district.
func (s *Service) ownHold(ctx context.Context, a Actor, id string) (*hub.Hold, error) {
	h, err := s.store.Hold(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Role != "ADMIN" && h.DistrictID != a.ID {
		return nil, hub.Errorf(hub.EFORBIDDEN, "hold %q is not of district %q", id, a.ID)
	}
	return h, nil
}

func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return hub.Errorf(hub.EINVALID, "a hold needs a stated reason")
	}
	return hub.CheckText("reason", reason, hub.MaxHoldReason, true)
}

func checkAct(reason string, until, now time.Time) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	if !until.After(now) {
		return hub.Errorf(hub.EINVALID, "a hold's end %s is not in the future", until.Format(time.RFC3339))
	}
	if until.Sub(now) > hub.MaxHoldSpan {
		return hub.Errorf(hub.EINVALID, "a hold runs at most %d days from the act that places or extends it", int(hub.MaxHoldSpan/(24*time.Hour)))
	}
	return nil
}

// audit writes the act on a hold into the audit trail, one entry per
// resident it names, so that each finds it in their access log.
func (s *Service) audit(ctx context.Context, a Actor, action string, h *hub.Hold, until time.Time, reason string, now time.Time) error {
	purpose := fmt.Sprintf("%s until %s: %s", h.ID, until.UTC().Format(time.RFC3339), reason)
	es := make([]hub.AuditEntry, 0, len(h.ResidentIDs))
	for _, id := range h.ResidentIDs {
		es = append(es, hub.AuditEntry{
			At: now, ActorRole: a.Role, ActorID: a.ID, Subject: a.Subject,
			Action: action, TargetID: id, Purpose: purpose, Count: 0,
		})
	}
	_, err := s.store.AppendAudit(ctx, es...)
	return err
}

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now() }
