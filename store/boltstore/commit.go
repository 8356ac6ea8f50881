package boltstore

import (
	"context"
	"fmt"

	"github.com/gridhub/gridhub/store/driver"
	bolt "go.etcd.io/bbolt"
)

// op is one write waiting for the committer.
type op struct {
	ctx context.Context
	// apply performs the write in tx. It must check everything before it
	// changes anything: an error that carries a *hub.Error must leave tx
	// as apply found it. Any other error aborts the whole transaction.
	// apply may run more than once (see runGroup) and must not keep state
	// between runs.
	apply func(tx driver.Tx) error
	done  chan error // buffered; receives exactly one result
}

// Update submits fn to the committer and waits for its result. It gives
// up while waiting to be taken if ctx ends or the store closes; once taken,
// the write's real outcome is reported whatever happens to ctx.
func (s *db) Update(ctx context.Context, fn func(tx driver.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch s.mode {
	case commitDirect:
		return s.updateDirect(ctx, fn)
	case commitBatch:
		if err := s.checkOpen(ctx); err != nil {
			return err
		}
		return s.bolt.Batch(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
	}
	o := &op{ctx: ctx, apply: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return ErrClosed
	}
	return <-o.done
}

// updateDirect commits apply alone, without the committer.
func (s *db) updateDirect(ctx context.Context, apply func(tx driver.Tx) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	var appErr error
	err := s.bolt.Update(func(tx *bolt.Tx) error {
		err := apply(boltTx{tx})
		if err != nil && isAppError(err) {
			appErr = err
			return nil
		}
		return err
	})
	if err != nil && !isAppError(err) {
		return fmt.Errorf("boltstore: commit: %w", err)
	}
	return appErr
}

// checkOpen returns the error a call would get for an ended ctx or a
// closed store, or nil.
func (s *db) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.quit:
		return ErrClosed
	default:
		return nil
	}
}

// commitLoop is the committer. It runs from Open until Close, takes one
// write, then every other write already waiting, and commits them together.
func (s *db) commitLoop() {
	defer close(s.stopped)
	group := make([]*op, 0, maxGroup)
	for {
		select {
		case <-s.quit:
			return
		case o := <-s.ops:
			group = append(group[:0], o)
		}
	drain:
		for len(group) < maxGroup {
			select {
			case o := <-s.ops:
				group = append(group, o)
			default:
				break drain
			}
		}
		s.runGroup(group)
		clear(group) // drop references for the collector
	}
}

// runGroup applies a group of writes in one transaction and answers each.
// A write whose context has ended by the time its turn comes is skipped and
// answered with the context's error. If a write fails with an error that is
// not an application error, the transaction is rolled back, that write gets
// its error and the rest are tried again without it; if the commit fails,
// every write in the transaction gets the error.
func (s *db) runGroup(group []*op) {
	results := make([]error, len(group))
	answered := make([]bool, len(group))
	for pending := len(group); pending > 0; pending-- {
		failed := -1
		var failure error
		err := s.bolt.Update(func(tx *bolt.Tx) error {
			for i, o := range group {
				if answered[i] {
					continue
				}
				if err := o.ctx.Err(); err != nil {
					results[i] = err
					continue
				}
				err := o.apply(boltTx{tx})
				if err != nil && !isAppError(err) {
					failed, failure = i, err
					return err
				}
				results[i] = err
			}
			return nil
		})
		if failed >= 0 {
			group[failed].done <- failure
			answered[failed] = true
			continue
		}
		if err != nil {
			err = fmt.Errorf("boltstore: commit: %w", err)
		}
		for i, o := range group {
			if answered[i] {
				continue
			}
			if err != nil {
				o.done <- err
			} else {
				o.done <- results[i]
			}
		}
		return
	}
}
