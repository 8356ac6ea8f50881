package dispatch

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// RoundInput describes a round to open.
type RoundInput struct {
	// ID is the round's ID: letters, digits, '-', '_' and '.', at most 64;
	// empty makes one.
	ID   string
	Name string
	SKU  hub.SKU
	// PerPerson is the units of one allocation, 1 to MaxPerPerson.
	PerPerson int
	Mode      hub.Mode
	// Fulfilments offered; none means PICKUP only. The first is the
	// default of a reservation that names none.
	Fulfilments []hub.Fulfilment
	Eligibility hub.Eligibility
	// HealthGate requires a current health declaration and lets each
	// colour of health code take only the fulfilments its health rule
	// allows; EngineOptions.HealthColour reads the colours.
	HealthGate bool
	// HealthRules are the round's own rules of what each colour may do
	// (the health gate only): each colour at most once, each naming
	// fulfilments the round offers (none: that colour may not reserve,
	// Reason saying why). A colour left out keeps its default rule
	// (DefaultHealthRules); nil means the default rules.
	HealthRules []hub.HealthRule
	// Opens is when reservations open; zero means now. Closes must be
	// after Opens and after now.
	Opens, Closes time.Time
	// MaxK is the rings searched around a person's cell, 0 (their own
	// cell only) to MaxRoundK; -1 means EngineOptions.DefaultMaxK.
	MaxK int
	// PickupWindow is how long a pickup waits before its stock returns;
	// 0 means DefaultPickupWindow.
	PickupWindow time.Duration
	// SlotMinutes and SlotCapacity give every pharmacy pickup time slots
	// (Guangzhou's 到店时段) SlotMinutes long, each taking SlotCapacity
	// pickups, over the pickup window (engine_slots.go): both or neither;
	// SlotMinutes in [MinSlotMinutes, MaxSlotMinutes], SlotCapacity in
	// [1, MaxSlotCapacity]. Neither means walk-ins: a pickup waits
	// PickupWindow.
	SlotMinutes, SlotCapacity int
	// Quotas are the committees' quotas in units: required in COMMITTEE
	// mode, refused in the others.
	Quotas map[string]int
	// Winners is how many entries a LOTTERY draws; 0 means as many as the
	// stock in reach of the entries serves at the draw. Other modes take 0.
	Winners int
}

// Limits of a round's input.
const (
	maxRoundName = 200
	maxRefID     = 64
	maxQuota     = 10_000_000
	maxIDHashLen = 128
	maxListLen   = 1_000_000
)

// checkRef returns an EINVALID error unless v (named field) is a record
// ID of letters, digits, '-', '_' and '.', at most maxRefID long; empty
// is allowed unless required.
func checkRef(field, v string, required bool) error {
	if v == "" {
		if required {
			return hub.Errorf(hub.EINVALID, "%s is required", field)
		}
		return nil
	}
	if len(v) > maxRefID {
		return hub.Errorf(hub.EINVALID, "%s is longer than %d characters", field, maxRefID)
	}
	for _, r := range v {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return hub.Errorf(hub.EINVALID, "%s %q may hold only letters, digits, '-', '_' and '.'", field, hub.Clip(v))
		}
	}
	return nil
}

// checkName returns an EINVALID error unless v is a name: not blank,
// valid UTF-8, at most max characters.
func checkName(field, v string, max int) error {
	return hub.CheckText(field, v, max, true)
}

// newRound checks a round's input and returns the round to store, OPEN.
func (e *Engine) newRound(ctx context.Context, in RoundInput, now time.Time) (*hub.Round, error) {
	if err := checkRef("round id", in.ID, false); err != nil {
		return nil, err
	}
	if err := checkName("round name", in.Name, maxRoundName); err != nil {
		return nil, err
	}
	if _, err := hub.ParseSKU(string(in.SKU)); err != nil {
		return nil, err
	}
	if in.PerPerson < 1 || in.PerPerson > MaxPerPerson {
		return nil, hub.Errorf(hub.EINVALID, "perPerson %d is outside [1, %d]", in.PerPerson, MaxPerPerson)
	}
	switch in.Mode {
	case hub.FirstCome, hub.Lottery, hub.ByCommittee:
	default:
		return nil, hub.Errorf(hub.EINVALID, "unknown mode %q: want FIRST_COME, LOTTERY or COMMITTEE", hub.Clip(string(in.Mode)))
	}
	fuls := slices.Clone(in.Fulfilments)
	if len(fuls) == 0 {
		fuls = []hub.Fulfilment{hub.Pickup}
	}
	for i, f := range fuls {
		if f != hub.Pickup && f != hub.Delivery {
			return nil, hub.Errorf(hub.EINVALID, "unknown fulfilment %q: want PICKUP or DELIVERY", hub.Clip(string(f)))
		}
		if slices.Contains(fuls[:i], f) {
			return nil, hub.Errorf(hub.EINVALID, "fulfilment %s is listed twice", f)
		}
	}
	if in.HealthGate && e.healthColour == nil {
		return nil, hub.Errorf(hub.EINVALID, "a health gate needs health declarations, which this hub cannot check yet")
	}
	rules, err := roundHealthRules(in.HealthGate, in.HealthRules, fuls)
	if err != nil {
		return nil, err
	}

	opens := in.Opens
	if opens.IsZero() {
		opens = now
	}
	switch {
	case in.Closes.IsZero():
		return nil, hub.Errorf(hub.EINVALID, "closes is required")
	case !in.Closes.After(opens):
		return nil, hub.Errorf(hub.EINVALID, "closes (%s) must be after opens (%s)", in.Closes.Format(time.RFC3339), opens.Format(time.RFC3339))
	case !in.Closes.After(now):
		return nil, hub.Errorf(hub.EINVALID, "closes (%s) is already past", in.Closes.Format(time.RFC3339))
	}
	k := in.MaxK
	if k == -1 {
		k = e.defaultMaxK
	}
	if k < 0 || k > MaxRoundK {
		return nil, hub.Errorf(hub.EINVALID, "maxK %d is outside [0, %d] (-1: the default, %d)", in.MaxK, MaxRoundK, e.defaultMaxK)
	}
	window := in.PickupWindow
	if window == 0 {
		window = DefaultPickupWindow
	}
	if window < time.Minute || window > MaxPickupWindow {
		return nil, hub.Errorf(hub.EINVALID, "pickup window %s is outside [1m, %s]", in.PickupWindow, MaxPickupWindow)
	}
	if err := checkSlots(in.SlotMinutes, in.SlotCapacity, fuls, window); err != nil {
		return nil, err
	}

	el, err := e.eligibility(ctx, in.Eligibility)
	if err != nil {
		return nil, err
	}
	var quotas map[string]int
	switch {
	case in.Mode == hub.ByCommittee && len(in.Quotas) == 0:
		return nil, hub.Errorf(hub.EINVALID, "a COMMITTEE round needs committee quotas")
	case in.Mode != hub.ByCommittee && len(in.Quotas) > 0:
		return nil, hub.Errorf(hub.EINVALID, "quotas are for COMMITTEE rounds only")
	case in.Mode == hub.ByCommittee:
		quotas = make(map[string]int, len(in.Quotas))
		for _, id := range slices.Sorted(maps.Keys(in.Quotas)) {
			q := in.Quotas[id]
			if err := checkRef("committee id", id, true); err != nil {
				return nil, err
			}
			if q < 1 || q > maxQuota {
				return nil, hub.Errorf(hub.EINVALID, "quota %d of committee %q is outside [1, %d]", q, id, maxQuota)
			}
			if _, err := e.store.Committee(ctx, id); hub.ErrorCode(err) == hub.ENOTFOUND {
				return nil, hub.Errorf(hub.EINVALID, "unknown committee %q", id)
			} else if err != nil {
				return nil, err
			}
			quotas[id] = q
		}
	}
	switch {
	case in.Winners < 0:
		return nil, hub.Errorf(hub.EINVALID, "winners %d is negative", in.Winners)
	case in.Winners > 0 && in.Mode != hub.Lottery:
		return nil, hub.Errorf(hub.EINVALID, "winners are for LOTTERY rounds only")
	}

	id := in.ID
	if id == "" {
		id = e.newID("rnd_")
	}
	return &hub.Round{
		ID: id, Name: in.Name, SKU: in.SKU, PerPerson: in.PerPerson, Mode: in.Mode,
		Fulfilments: fuls, Eligibility: el, HealthGate: in.HealthGate, HealthRules: rules,
		Opens: opens, Closes: in.Closes, MaxK: k, PickupWindow: window,
		SlotMinutes: in.SlotMinutes, SlotCapacity: in.SlotCapacity,
		Quotas: quotas, Winners: in.Winners, Status: hub.RoundOpen,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// eligibility checks and normalises an eligibility: lists sorted without
// repeats, every district known.
func (e *Engine) eligibility(ctx context.Context, in hub.Eligibility) (hub.Eligibility, error) {
	if len(in.IDHashes) > maxListLen || len(in.DistrictIDs) > maxListLen {
		return hub.Eligibility{}, hub.Errorf(hub.EINVALID, "an eligibility list holds at most %d entries", maxListLen)
	}
	var out hub.Eligibility
	for _, h := range in.IDHashes {
		if h == "" || len(h) > maxIDHashLen || strings.ContainsAny(h, "\x00\n") {
			return hub.Eligibility{}, hub.Errorf(hub.EINVALID, "ID hash %q is empty, too long or holds a control character", hub.Clip(h))
		}
		out.IDHashes = append(out.IDHashes, h)
	}
	slices.Sort(out.IDHashes)
	out.IDHashes = slices.Compact(out.IDHashes)
	for _, d := range in.DistrictIDs {
		if err := checkRef("district id", d, true); err != nil {
			return hub.Eligibility{}, err
		}
		out.DistrictIDs = append(out.DistrictIDs, d)
	}
	slices.Sort(out.DistrictIDs)
	out.DistrictIDs = slices.Compact(out.DistrictIDs)
	for _, d := range out.DistrictIDs {
		if _, err := e.store.District(ctx, d); hub.ErrorCode(err) == hub.ENOTFOUND {
			return hub.Eligibility{}, hub.Errorf(hub.EINVALID, "unknown district %q", d)
		} else if err != nil {
			return hub.Eligibility{}, err
		}
	}
	return out, nil
}

// OpenRound checks the input and opens a round. Bad input is EINVALID; a
// round ID already taken is ECONFLICT.
func (e *Engine) OpenRound(ctx context.Context, in RoundInput) (*hub.Round, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	r, err := e.newRound(ctx, in, e.now())
	if err != nil {
		return nil, err
	}
	e.roundMu.Lock()
	defer e.roundMu.Unlock()
	if _, err := e.round(ctx, r.ID); err == nil {
		return nil, hub.Errorf(hub.ECONFLICT, "round %q already exists", r.ID)
	} else if hub.ErrorCode(err) != hub.ENOTFOUND {
		return nil, err
	}
	if err := e.store.UpsertRound(ctx, r); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.Mode == hub.ByCommittee {
		e.quotaUsed[r.ID] = map[string]int{}
	}
	if hasSlots(r) {
		e.slotUsed[r.ID] = map[slotKey]int{}
	}
	if err := e.roundMatcher(r); err != nil {
		return nil, err // cannot happen: the pharmacies' cells are checked
	}
	return publicRound(r), nil
}

// publicRound returns a copy of r fit to show: the seed only once drawn
// (before, the store holds it sealed).
func publicRound(r *hub.Round) *hub.Round {
	cp := *r
	cp.Fulfilments = slices.Clone(r.Fulfilments)
	cp.HealthRules = cloneHealthRules(r.HealthRules)
	cp.Eligibility.IDHashes = slices.Clone(r.Eligibility.IDHashes)
	cp.Eligibility.DistrictIDs = slices.Clone(r.Eligibility.DistrictIDs)
	cp.Quotas = maps.Clone(r.Quotas)
	if r.Status != hub.RoundDrawn {
		cp.Seed = ""
	}
	return &cp
}

// Round returns a round as the engine knows it, its seed hidden until the
// draw, or an ENOTFOUND error.
func (e *Engine) Round(ctx context.Context, id string) (*hub.Round, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	r, err := e.round(ctx, id)
	if err != nil {
		return nil, err
	}
	return publicRound(r), nil
}

// saveRound writes an updated round while the stored one is still in
// one of the statuses from (hub.DispatchStore.UpdateRound): roundMu
// orders the calls of one engine, the guard those of several hubs on one
// store, so a round is closed once and drawn once, and a hub's stale copy
// never overwrites another's move (ECONFLICT instead). Callers hold
// roundMu.
func (e *Engine) saveRound(ctx context.Context, r *hub.Round, from ...hub.RoundStatus) error {
	return e.store.UpdateRound(ctx, r, from...)
}

// CloseRound closes an OPEN round now: no more reservations. A round
// whose window has not ended gets Closes = now, so a lottery can be drawn
// at once. A round not OPEN is ECONFLICT.
func (e *Engine) CloseRound(ctx context.Context, roundID string) (*hub.Round, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	e.roundMu.Lock()
	defer e.roundMu.Unlock()
	e.entryMu.Lock()
	defer e.entryMu.Unlock()
	r, err := e.round(ctx, roundID)
	if err != nil {
		return nil, err
	}
	if r.Status != hub.RoundOpen {
		return nil, hub.Errorf(hub.ECONFLICT, "round %q is %s, not OPEN", r.ID, r.Status)
	}
	now := e.now()
	cp := *r
	cp.Status, cp.UpdatedAt = hub.RoundClosed, now
	if now.Before(cp.Closes) {
		cp.Closes = now
	}
	if err := e.saveRound(ctx, &cp, hub.RoundOpen); err != nil {
		return nil, err
	}
	e.dropSlotMatcher(&cp)
	return publicRound(&cp), nil
}

// CloseDue closes the OPEN rounds whose window is over and returns how
// many it closed. The sweeper calls it, on every hub: the close is
// guarded on OPEN in the store (saveRound), so a round another hub closed
// or drew meanwhile is left as it is and not counted (docs/TIMERS.md).
func (e *Engine) CloseDue(ctx context.Context) (int, error) {
	if err := e.begin(); err != nil {
		return 0, err
	}
	defer e.end()
	rs, err := e.store.Rounds(ctx, hub.RoundOpen)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rs {
		if e.now().Before(r.Closes) {
			continue
		}
		err := func() error {
			e.roundMu.Lock()
			defer e.roundMu.Unlock()
			e.entryMu.Lock()
			defer e.entryMu.Unlock()
			cur, err := e.store.Round(ctx, r.ID)
			if err != nil || cur.Status != hub.RoundOpen {
				return err
			}
			cp := *cur
			cp.Status, cp.UpdatedAt = hub.RoundClosed, e.now()
			switch err := e.saveRound(ctx, &cp, hub.RoundOpen); hub.ErrorCode(err) {
			case "":
			case hub.ECONFLICT: // another hub closed or drew it meanwhile
				return nil
			default:
				return err
			}
			e.dropSlotMatcher(&cp)
			n++
			return nil
		}()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sealedPrefix marks a sealed seed in Round.Seed.
const sealedPrefix = "sealed-v1:"

// seal encrypts a lottery seed for the store (AES-256-GCM under a key
// derived from the code key, the round ID as associated data), so that
// the seed survives a restart but a copy of the database does not reveal
// it before the draw.
func (e *Engine) seal(roundID string, seed []byte) (string, error) {
	gcm, err := e.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal lottery seed: %w", err)
	}
	return sealedPrefix + hex.EncodeToString(gcm.Seal(nonce, nonce, seed, []byte(roundID))), nil
}

// unseal returns the seed seal sealed.
func (e *Engine) unseal(roundID, sealed string) ([]byte, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil || !strings.HasPrefix(sealed, sealedPrefix) {
		return nil, fmt.Errorf("round %q: the stored seed is not sealed", roundID)
	}
	gcm, err := e.gcm()
	if err != nil {
		return nil, err
	}
	if len(raw) < gcm.NonceSize() {
		return nil, fmt.Errorf("round %q: the sealed seed is truncated", roundID)
	}
	seed, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(roundID))
	if err != nil {
		return nil, fmt.Errorf("round %q: unseal the seed (was the code key changed?): %w", roundID, err)
	}
	return seed, nil
}

func (e *Engine) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(e.sealKey)
	if err != nil {
		return nil, fmt.Errorf("seed cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// CommitLottery makes the secret seed of a LOTTERY round (from
// EngineOptions.Rand), keeps it sealed in the store and publishes its
// commitment. It must come before the window closes (ECONFLICT after) and
// only once (ECONFLICT); another mode is EINVALID.
func (e *Engine) CommitLottery(ctx context.Context, roundID string) (*hub.Round, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	e.roundMu.Lock()
	defer e.roundMu.Unlock()
	r, err := e.round(ctx, roundID)
	if err != nil {
		return nil, err
	}
	now := e.now()
	switch {
	case r.Mode != hub.Lottery:
		return nil, hub.Errorf(hub.EINVALID, "round %q is %s, not a LOTTERY", r.ID, r.Mode)
	case r.Commitment != "":
		return nil, hub.Errorf(hub.ECONFLICT, "round %q is already committed to %s", r.ID, r.Commitment)
	case r.Status != hub.RoundOpen || !now.Before(r.Closes):
		return nil, hub.Errorf(hub.ECONFLICT, "round %q: entries closed at %s; a commitment must come before", r.ID, r.Closes.Format(time.RFC3339))
	}
	seed, err := NewSeed(e.rand)
	if err != nil {
		return nil, err
	}
	sealed, err := e.seal(r.ID, seed)
	if err != nil {
		return nil, err
	}
	cp := *r
	cp.Commitment, cp.Seed, cp.UpdatedAt = Commit(seed), sealed, now
	if err := e.saveRound(ctx, &cp, hub.RoundOpen); err != nil {
		return nil, err
	}
	return publicRound(&cp), nil
}

// DrawReport says what a draw did.
type DrawReport struct {
	// Entries is the number of entries, Winners how many were drawn.
	Entries, Winners int
	// Allocated is the winners served now; Waiting those left WAITING
	// (nothing in reach, out of stock, no delivery partner); Lost the
	// entries not drawn.
	Allocated, Waiting, Lost int
	// Cells is the fair share of the winners' demand per cell, with what
	// was actually allocated (Served), in cell order.
	Cells []CellShare
	// Gini is the Gini coefficient of the cells' fulfilment rates.
	Gini float64
}

// DrawLottery draws a LOTTERY round after its window has closed: it
// reveals the seed, draws the winners over the sorted entry hashes of the
// PENDING reservations (Draw), shares them fairly over the pharmacies in
// reach (FairShare, winners in draw order), allocates in store batches,
// and makes the losers LOST and unserved winners WAITING (a restock near
// them serves them, ServeWaiting).
//
// A draw before the window closes, or of a round never committed, is
// ECONFLICT; another mode is EINVALID. The seed is revealed (the round
// DRAWN) before anything is allocated: if the process stops midway,
// calling DrawLottery again finishes the same draw; once every entry is
// settled it is ECONFLICT.
func (e *Engine) DrawLottery(ctx context.Context, roundID string) (*PublishedDraw, *DrawReport, error) {
	if err := e.begin(); err != nil {
		return nil, nil, err
	}
	defer e.end()
	e.roundMu.Lock()
	defer e.roundMu.Unlock()
	r, err := e.round(ctx, roundID)
	if err != nil {
		return nil, nil, err
	}
	if r.Mode != hub.Lottery {
		return nil, nil, hub.Errorf(hub.EINVALID, "round %q is %s, not a LOTTERY", r.ID, r.Mode)
	}
	if err := e.catchUp(ctx); err != nil {
		return nil, nil, err
	}

	var pd *PublishedDraw
	resume := r.Status == hub.RoundDrawn
	if !resume {
		if pd, r, err = e.reveal(ctx, r); err != nil {
			return nil, nil, err
		}
	} else if pd, err = e.publishedDraw(ctx, r); err != nil {
		return nil, nil, err
	}

	pending, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, Status: hub.ReservationPending})
	if err != nil {
		return nil, nil, err
	}
	if resume && len(pending) == 0 {
		return nil, nil, hub.Errorf(hub.ECONFLICT, "round %q is already drawn", r.ID)
	}
	byHash := make(map[string]*hub.Reservation, len(pending))
	for _, p := range pending {
		byHash[p.EntryHash] = p
	}
	var winners []*hub.Reservation
	for _, w := range pd.Winners {
		if p, ok := byHash[w]; ok {
			winners = append(winners, p)
			delete(byHash, w)
		}
	}
	losers := slices.Sorted(maps.Keys(byHash))
	for i, h := range losers {
		losers[i] = byHash[h].ID
	}

	rep, err := e.serveWinners(ctx, r, winners)
	if err != nil {
		return nil, nil, err
	}
	for c := range slices.Chunk(losers, storeBatch) {
		if err := e.store.SetReservationStatus(ctx, hub.ReservationLost, []hub.ReservationStatus{hub.ReservationPending}, c...); err != nil {
			return nil, nil, err
		}
	}
	rep.Entries, rep.Winners, rep.Lost = len(pd.Entries), len(pd.Winners), len(losers)
	return clonePublished(pd), rep, nil
}

// reveal takes the entries of a closed lottery, draws, and stores the
// round DRAWN with its seed in the clear and the number of winners.
// Callers hold roundMu.
func (e *Engine) reveal(ctx context.Context, r *hub.Round) (*PublishedDraw, *hub.Round, error) {
	now := e.now()
	switch {
	case r.Commitment == "":
		return nil, nil, hub.Errorf(hub.ECONFLICT, "round %q was never committed (commitLottery before entries close): it cannot be drawn verifiably", r.ID)
	case now.Before(r.Closes):
		return nil, nil, hub.Errorf(hub.ECONFLICT, "round %q: entries close at %s; draw after", r.ID, r.Closes.Format(time.RFC3339))
	}
	e.entryMu.Lock()
	defer e.entryMu.Unlock()
	entries, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID, Status: hub.ReservationPending})
	if err != nil {
		return nil, nil, err
	}
	seed, err := e.unseal(r.ID, r.Seed)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([]string, len(entries))
	for i, en := range entries {
		hashes[i] = en.EntryHash
	}
	winners := r.Winners
	if winners == 0 {
		winners = e.servable(r, entries)
	}
	pd, err := Publish(seed, r.ID, hashes, winners)
	if err != nil {
		return nil, nil, err
	}
	if pd.Commitment != r.Commitment {
		return nil, nil, fmt.Errorf("round %q: the unsealed seed does not match the commitment", r.ID)
	}
	cp := *r
	cp.Status, cp.Seed, cp.Winners, cp.UpdatedAt = hub.RoundDrawn, pd.Seed, winners, now
	if err := e.saveRound(ctx, &cp, hub.RoundOpen, hub.RoundClosed); err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	e.draws[r.ID] = pd
	e.mu.Unlock()
	return pd, &cp, nil
}

// servable returns how many of the entries the stock in their reach
// serves now: the units at pharmacies within the round's rings of at
// least one entry (with pickup slots, at most PerPerson per place left),
// over PerPerson, at most the number of entries.
func (e *Engine) servable(r *hub.Round, entries []*hub.Reservation) int {
	cells := map[hub.Cell]bool{}
	for _, en := range entries {
		cells[en.Cell] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[int]bool{}
	units := 0
	b := e.books[r.SKU]
	var sm *slotMatcher
	if hasSlots(r) {
		sm, _ = e.slotMatcherOf(r, e.now()) // nil if never met: stock alone
	}
	for c := range cells {
		disk, err := grid.Disk(c, r.MaxK)
		if err != nil {
			continue
		}
		for _, d := range disk {
			for _, i := range e.pharmCell[d] {
				if !seen[i] {
					seen[i] = true
					if sm != nil {
						units += min(b.stock[i], sm.m.room[i]*r.PerPerson)
					} else {
						units += b.stock[i]
					}
				}
			}
		}
	}
	return min(units/r.PerPerson, len(entries))
}

// PublishedDraw returns the published draw of a drawn lottery, rebuilt
// from the store after a restart. Before the draw it is ENOTFOUND.
func (e *Engine) PublishedDraw(ctx context.Context, roundID string) (*PublishedDraw, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	r, err := e.round(ctx, roundID)
	if err != nil {
		return nil, err
	}
	pd, err := e.publishedDraw(ctx, r)
	if err != nil {
		return nil, err
	}
	return clonePublished(pd), nil
}

// publishedDraw returns the cached draw of a round, or rebuilds it: the
// entries are the round's reservations but those cancelled before the
// draw (CANCELLED without an allocation: after the draw, only an
// allocated winner can cancel), the seed and the winner count are the
// round's.
func (e *Engine) publishedDraw(ctx context.Context, r *hub.Round) (*PublishedDraw, error) {
	if r.Mode != hub.Lottery || r.Status != hub.RoundDrawn {
		return nil, hub.Errorf(hub.ENOTFOUND, "round %q has no published draw yet", r.ID)
	}
	e.mu.Lock()
	pd := e.draws[r.ID]
	e.mu.Unlock()
	if pd != nil {
		return pd, nil
	}
	resvs, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID})
	if err != nil {
		return nil, err
	}
	var hashes []string
	for _, rv := range resvs {
		if rv.EntryHash != "" && (rv.Status != hub.ReservationCancelled || rv.AllocationID != "") {
			hashes = append(hashes, rv.EntryHash)
		}
	}
	seed, err := hex.DecodeString(r.Seed)
	if err != nil {
		return nil, fmt.Errorf("round %q: the revealed seed is not hex: %w", r.ID, err)
	}
	if pd, err = Publish(seed, r.ID, hashes, r.Winners); err != nil {
		return nil, err
	}
	if pd.Commitment != r.Commitment {
		return nil, fmt.Errorf("round %q: the revealed seed does not match the commitment", r.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.draws[r.ID] = pd
	return pd, nil
}

func clonePublished(pd *PublishedDraw) *PublishedDraw {
	cp := *pd
	cp.Entries = slices.Clone(pd.Entries)
	cp.Winners = slices.Clone(pd.Winners)
	return &cp
}

// CellReport reports, per cell of a round's reservations (those not
// cancelled before an allocation), the requests, the units asked, and the
// units allocated and not returned (Served, and Share equal to it), from
// the store. Cells come in cell order.
func (e *Engine) CellReport(ctx context.Context, roundID string) ([]CellShare, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.end()
	r, err := e.round(ctx, roundID)
	if err != nil {
		return nil, err
	}
	resvs, err := e.store.Reservations(ctx, hub.ReservationFilter{RoundID: r.ID})
	if err != nil {
		return nil, err
	}
	as, err := e.store.Allocations(ctx, hub.AllocationFilter{RoundID: r.ID})
	if err != nil {
		return nil, err
	}
	alloc := make(map[string]*hub.Allocation, len(as))
	for _, a := range as {
		alloc[a.ID] = a
	}
	byCell := map[hub.Cell]*CellShare{}
	for _, rv := range resvs {
		if rv.Status == hub.ReservationCancelled && rv.AllocationID == "" {
			continue
		}
		c := byCell[rv.Cell]
		if c == nil {
			c = &CellShare{Cell: rv.Cell}
			byCell[rv.Cell] = c
		}
		c.Requests++
		c.Demand += r.PerPerson
		if a := alloc[rv.AllocationID]; a != nil && !a.Status.Returns() {
			c.Served += a.Quantity
			c.Share += a.Quantity
			c.ServedRequests++
		}
	}
	out := make([]CellShare, 0, len(byCell))
	for _, c := range byCell {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b CellShare) int { return cmp.Compare(a.Cell, b.Cell) })
	return out, nil
}
