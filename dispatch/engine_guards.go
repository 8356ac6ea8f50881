package dispatch

import (
	"errors"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The engine counts the places of pickup slots and committees' quotas in
// memory (engine_slots.go, noteQuotas) as a fast pre-check, and the store
// guards both in the write's transaction (hub.ErrSlotFull,
// hub.ErrQuotaExhausted), counting every hub's allocations. The store is
// the truth: when it refuses an allocation the engine's count let through
// (another hub took the last place or units since this one counted), the
// engine counts that slot, or that committee, full, and the match goes on
// as when its own count is full: to another slot or pharmacy, or the
// reservation waits. A place or units given back later through this
// engine open the slot or the quota to a new try, which the store decides.

// maxGuardRefusals bounds how often one reservation's allocation is
// refused by the store's guards before it waits: each refusal counts one
// more slot (or the quota) full, so the match moves on.
const maxGuardRefusals = 64

// guardRefused reports whether err is a refusal by the store's guards of
// the allocation of claim c in round r, and if so counts the slot or the
// committee full. c is settled (its own place and units given back).
func (e *Engine) guardRefused(err error, r *hub.Round, c claim) bool {
	slot, quota := errors.Is(err, hub.ErrSlotFull), errors.Is(err, hub.ErrQuotaExhausted)
	if !slot && !quota {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if slot && c.slotRound != "" {
		e.slotFull(r, c.pharmacyID, c.slot)
	}
	if quota && r.Mode == hub.ByCommittee && c.committee != "" {
		used := e.quotaUsed[r.ID]
		if used == nil {
			used = map[string]int{}
			e.quotaUsed[r.ID] = used
		}
		used[c.committee] = max(used[c.committee], r.Quotas[c.committee])
	}
	return true
}

// slotFull counts the slot of round r starting at start at a pharmacy
// full: its places left held in the round's matcher and counted as taken.
// Callers hold mu.
func (e *Engine) slotFull(r *hub.Round, pharmacyID string, start time.Time) {
	used := e.slotUsed[r.ID]
	if used == nil {
		return
	}
	k := keyOf(pharmacyID, start)
	b := e.books[r.SKU]
	i, ok := e.pharmIdx[pharmacyID]
	if b != nil && ok {
		if sm := b.slotted[r.ID]; sm != nil {
			if s := sm.m.slotAt(i, start); s >= 0 {
				used[k] += sm.m.hold(i, s, sm.m.slotLeft[i][s])
				return
			}
		}
	}
	used[k] = max(used[k], r.SlotCapacity)
}

// guardReason is the reason a reservation waits after the store's guards
// refused its allocation too often.
func guardReason(err error) string {
	if errors.Is(err, hub.ErrQuotaExhausted) {
		return ReasonQuotaExhausted
	}
	return ReasonOutOfStock
}
