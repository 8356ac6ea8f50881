package dispatch

import (
	"testing"
	"time"
)

func TestAllocationIDFloor(t *testing.T) {
	g := &idGen{}
	before := AllocationIDFloor(time.Now())
	id := g.next(AllocationPrefix)
	later := AllocationIDFloor(time.Now().Add(time.Second))
	if !(before < id && id < later) {
		t.Errorf("floor %s, id %s, later floor %s: want floor < id < later floor", before, id, later)
	}
}
