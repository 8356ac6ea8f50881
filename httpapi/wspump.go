package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// pump is the state of a subscription whose values its broker.Stream
// announces through a Waker: an operation of a connection (wsOp) and a
// shared execution (shareGroup) both run their ResponseHandler once per
// announced value, on a goroutine that exists only while values wait.
// Its owner guards it with its own mutex: every method is called with
// that mutex held.
type pump struct {
	next    graphql.ResponseHandler // set once the operation is dispatched
	ctx     context.Context         // next's context
	pending int                     // values announced and not yet taken
	running bool                    // a goroutine drains
	ended   bool
}

// announce counts a value the Stream put on its channel (or its closing)
// and reports whether the caller must start a goroutine to drain: none
// drains yet and the operation is dispatched and has not ended.
func (p *pump) announce() bool {
	p.pending++
	if p.next == nil || p.running || p.ended {
		return false
	}
	p.running = true
	return true
}

// dispatched sets the handler once the operation is dispatched and
// reports whether the caller must drain what was announced meanwhile.
func (p *pump) dispatched(next graphql.ResponseHandler, ctx context.Context) bool {
	p.next, p.ctx = next, ctx
	drain := p.pending > 0 && !p.running && !p.ended
	p.running = p.running || drain
	return drain
}

// take returns the handler and its context for the next announced value,
// or false when none waits or the operation ended: the drainer then
// stops. Each call of next takes one value from the channel, which holds
// one for each announcement not yet taken, so it never blocks.
func (p *pump) take() (graphql.ResponseHandler, context.Context, bool) {
	if p.pending == 0 || p.ended {
		p.running = false
		return nil, nil, false
	}
	p.pending--
	return p.next, p.ctx, true
}
