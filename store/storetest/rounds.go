package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/hub"
)

// testUpdateRound checks the guard of UpdateRound: a round moves only from
// a status the caller names, and a refused update writes nothing.
func testUpdateRound(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	statuses := []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed, hub.RoundDrawn}
	tests := []struct {
		name string
		give hub.RoundStatus // stored status
		from []hub.RoundStatus
		to   hub.RoundStatus
		want string // error code, "" for a write
	}{
		{"open to closed", hub.RoundOpen, []hub.RoundStatus{hub.RoundOpen}, hub.RoundClosed, ""},
		{"open to drawn", hub.RoundOpen, []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed}, hub.RoundDrawn, ""},
		{"closed to drawn", hub.RoundClosed, []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed}, hub.RoundDrawn, ""},
		{"open stays open", hub.RoundOpen, []hub.RoundStatus{hub.RoundOpen}, hub.RoundOpen, ""},
		{"closed again", hub.RoundClosed, []hub.RoundStatus{hub.RoundOpen}, hub.RoundClosed, hub.ECONFLICT},
		{"drawn back to closed", hub.RoundDrawn, []hub.RoundStatus{hub.RoundOpen}, hub.RoundClosed, hub.ECONFLICT},
		{"drawn twice", hub.RoundDrawn, []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed}, hub.RoundDrawn, hub.ECONFLICT},
		{"no from", hub.RoundOpen, nil, hub.RoundClosed, hub.EINVALID},
		{"unknown from", hub.RoundOpen, []hub.RoundStatus{"ARCHIVED"}, hub.RoundClosed, hub.EINVALID},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("ground%02d", i)
			stored := round(id, tt.give)
			must(t, s.UpsertRound(ctx, stored), "UpsertRound")
			upd := round(id, tt.to)
			upd.Name, upd.Seed, upd.UpdatedAt = "updated", "5eed", at(9)
			err := s.UpdateRound(ctx, upd, tt.from...)
			want := stored
			if tt.want == "" {
				must(t, err, "UpdateRound")
				want = upd
			} else {
				wantCode(t, err, tt.want, "UpdateRound")
			}
			got, err := s.Round(ctx, id)
			must(t, err, "Round")
			same(t, "round after UpdateRound", normRound(got), normRound(want))
			for _, st := range statuses {
				listed, err := s.Rounds(ctx, st)
				must(t, err, "Rounds")
				same(t, "round listed under "+string(st), contains(listed, id), st == want.Status)
			}
		})
	}
	// A commitment is written once: set from none, kept, never changed.
	commits := []struct {
		name       string
		give, want string // stored commitment, the update's
		code       string
	}{
		{"set", "", "c0ffee", ""},
		{"kept", "c0ffee", "c0ffee", ""},
		{"changed", "c0ffee", "decade", hub.ECONFLICT},
		{"dropped", "c0ffee", "", hub.ECONFLICT},
		{"none", "", "", ""},
	}
	for i, tt := range commits {
		t.Run("commitment "+tt.name, func(t *testing.T) {
			id := fmt.Sprintf("commit%02d", i)
			stored := round(id, hub.RoundOpen)
			stored.Commitment = tt.give
			must(t, s.UpsertRound(ctx, stored), "UpsertRound")
			upd := round(id, hub.RoundOpen)
			upd.Commitment, upd.Name = tt.want, "updated"
			err := s.UpdateRound(ctx, upd, hub.RoundOpen)
			want := stored
			if tt.code == "" {
				must(t, err, "UpdateRound")
				want = upd
			} else {
				wantCode(t, err, tt.code, "UpdateRound")
			}
			got, err := s.Round(ctx, id)
			must(t, err, "Round")
			same(t, "round after UpdateRound", normRound(got), normRound(want))
		})
	}
	wantCode(t, s.UpdateRound(ctx, round("nosuchround", hub.RoundClosed), hub.RoundOpen), hub.ENOTFOUND, "UpdateRound of an unknown round")
	bad := round("ground99", hub.RoundClosed)
	bad.PerPerson = 0
	wantCode(t, s.UpdateRound(ctx, bad, hub.RoundOpen), hub.EINVALID, "UpdateRound of an invalid round")
}

// testConcurrentUpdateRound races many updates of one status move over
// many rounds: exactly one of them wins each round.
func testConcurrentUpdateRound(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()
	const rounds, racers = 20, 8
	for i := range rounds {
		must(t, s.UpsertRound(ctx, round(fmt.Sprintf("crace%02d", i), hub.RoundOpen)), "UpsertRound")
	}
	var mu sync.Mutex
	won := map[string][]int{}
	var wg sync.WaitGroup
	for g := range racers {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("crace%02d", i)
				r := round(id, hub.RoundClosed)
				r.Name = fmt.Sprintf("closed by %d", g)
				err := s.UpdateRound(ctx, r, hub.RoundOpen)
				switch hub.ErrorCode(err) {
				case "":
					mu.Lock()
					won[id] = append(won[id], g)
					mu.Unlock()
				case hub.ECONFLICT:
				default:
					t.Errorf("UpdateRound %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	for i := range rounds {
		id := fmt.Sprintf("crace%02d", i)
		if len(won[id]) != 1 {
			t.Fatalf("round %s: %d winners %v, want exactly one", id, len(won[id]), won[id])
		}
		got, err := s.Round(ctx, id)
		must(t, err, "Round")
		same(t, "status of "+id, got.Status, hub.RoundClosed)
		same(t, "name of "+id, got.Name, fmt.Sprintf("closed by %d", won[id][0]))
	}
}

func contains(rs []*hub.Round, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}
