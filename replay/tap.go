package replay

import (
	"context"
	"sync"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/hub"
)

// Tap is the hub.Publisher that a replay's city.Service publishes through
// (city.Options.Events): it hands every event to its bus and notes the
// kind and the routing keys of those the bus accepted, so that Run can
// count what its writes published and how many committee alerts they
// should give. Run takes the notes after every write; a Tap used outside
// Run keeps them until the next Run, so give each Tap to one service and
// to Run only.
type Tap struct {
	bus broker.Bus

	mu      sync.Mutex
	pending []published
}

var _ hub.Publisher = (*Tap)(nil)

// published is what a Tap notes of an event.
type published struct {
	kind  hub.EventKind
	seq   uint64
	cells []hub.Cell // shared with the event: read only
}

// NewTap returns a tap that publishes to bus.
func NewTap(bus broker.Bus) *Tap { return &Tap{bus: bus} }

// Bus returns the bus the tap publishes to.
func (t *Tap) Bus() broker.Bus { return t.bus }

// Publish publishes ev to the bus and, when the bus accepts it, notes it.
func (t *Tap) Publish(ctx context.Context, ev hub.Event) (uint64, error) {
	seq, err := t.bus.Publish(ctx, ev)
	if err != nil {
		return seq, err
	}
	t.mu.Lock()
	t.pending = append(t.pending, published{kind: ev.Kind, seq: seq, cells: ev.Cells})
	t.mu.Unlock()
	return seq, nil
}

// take returns the notes made since the last take.
func (t *Tap) take() []published {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.pending
	t.pending = nil
	return out
}
