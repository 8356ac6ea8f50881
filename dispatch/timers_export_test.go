package dispatch

// SlotPlaces returns the places e counts as taken in the pickup slots of
// a round, over every pharmacy and slot.
func SlotPlaces(e *Engine, roundID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.slotUsed[roundID] {
		n += v
	}
	return n
}
