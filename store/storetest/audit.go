package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// The audit trail, beyond what hub.Store documents: a Purpose of only
// white space is as good as empty, a negative Count is EINVALID, the
// Purpose limit counts characters (runes), not bytes, an entry without an
// ActorID (an ADMIN's) is found by its target but by no actor filter, and
// AppendAudit returns copies, leaving the caller's entries alone.

// auditEntry returns a valid audit entry of a read of target's data by the
// committee actor, or by an ADMIN when actor is empty, at(n).
func auditEntry(target, actor string, n int) hub.AuditEntry {
	role := "COMMITTEE"
	if actor == "" {
		role = "ADMIN"
	}
	return hub.AuditEntry{
		At: at(n), ActorRole: role, ActorID: actor, Subject: "user-" + actor,
		Action: "resident", TargetID: target, Purpose: "welfare check after a missed delivery", Count: 1,
	}
}

func normAudit(e hub.AuditEntry) hub.AuditEntry {
	e.At = ms(e.At)
	return e
}

func auditSeq(e hub.AuditEntry) uint64 { return e.Seq }

// seqs returns the Seqs of entries in order, nil for none.
func seqs(es []hub.AuditEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, auditSeq(e))
	}
	return out
}

// auditAll pages through the audit entries f selects, f.Limit at a time,
// and returns them all.
func auditAll(t *testing.T, s hub.Store, f hub.AuditFilter) []hub.AuditEntry {
	t.Helper()
	limit := f.Limit
	if limit <= 0 {
		limit = hub.DefaultAuditLimit
	}
	var out []hub.AuditEntry
	for range 10000 {
		page, err := s.AuditLog(t.Context(), f)
		must(t, err, fmt.Sprintf("AuditLog(%+v)", f))
		if len(page) > limit {
			t.Fatalf("AuditLog(%+v): %d entries, over the limit", f, len(page))
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		f.After = page[len(page)-1].Seq
	}
	t.Fatalf("AuditLog(%+v): paging does not end", f)
	return nil
}

// wantIncreasing fails t unless the Seqs of es strictly increase.
func wantIncreasing(t *testing.T, what string, es []hub.AuditEntry) {
	t.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].Seq <= es[i-1].Seq {
			t.Fatalf("%s: Seq %d after %d", what, es[i].Seq, es[i-1].Seq)
		}
	}
}

func testAudit(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	es, err := s.AuditLog(ctx, hub.AuditFilter{})
	must(t, err, "AuditLog of an empty store")
	same(t, "AuditLog of an empty store", len(es), 0)
	es, err = s.AppendAudit(ctx)
	must(t, err, "AppendAudit of no entries")
	same(t, "AppendAudit of no entries", len(es), 0)

	give := []hub.AuditEntry{auditEntry("r1", "c1", 1), auditEntry("c1", "c1", 2), auditEntry("r2", "", 3)}
	give[1].Action, give[1].Count = "committee.residents", 40
	give[2].Purpose = "contact tracing: case 2020-0207 (確診個案接觸者)"
	first, err := s.AppendAudit(ctx, give...)
	must(t, err, "AppendAudit")
	if len(first) != len(give) {
		t.Fatalf("AppendAudit of %d entries returned %d", len(give), len(first))
	}
	wantIncreasing(t, "entries AppendAudit returned", first)
	for i, e := range first {
		if e.Seq == 0 {
			t.Fatalf("entry %d: no Seq", i)
		}
		want := give[i]
		want.Seq = e.Seq
		same(t, fmt.Sprintf("entry %d AppendAudit returned", i), normAudit(e), normAudit(want))
	}
	for i, e := range give {
		if e.Seq != 0 {
			t.Fatalf("AppendAudit set the Seq of the caller's entry %d", i)
		}
	}

	second, err := s.AppendAudit(ctx, auditEntry("r1", "c2", 4))
	must(t, err, "AppendAudit again")
	if len(second) != 1 || second[0].Seq <= first[len(first)-1].Seq {
		t.Fatalf("AppendAudit after %v returned %+v, want one entry with a greater Seq", seqs(first), second)
	}

	all := append(slices.Clone(first), second...)
	got, err := s.AuditLog(ctx, hub.AuditFilter{})
	must(t, err, "AuditLog")
	same(t, "AuditLog", normAll(got, normAudit), normAll(all, normAudit))

	// The entries returned are the caller's to change.
	got[0].Purpose, got[0].Count = "changed", 999
	first[1].Purpose = "changed"
	got, err = s.AuditLog(ctx, hub.AuditFilter{})
	must(t, err, "AuditLog")
	same(t, "AuditLog after returned entries changed", normAll(got, normAudit), normAll(all, normAudit))
}

func testAuditFilters(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	// 30 reads of the data of r0..r4 by committees c0..c2 and an ADMIN,
	// in batches of various sizes.
	targets := []string{"r0", "r1", "r2", "r3", "r4"}
	actors := []string{"c0", "c1", "c2", ""}
	sizes := []int{1, 3, 2, 5}
	var all, batch []hub.AuditEntry
	for i := range 30 {
		batch = append(batch, auditEntry(targets[i*7%5], actors[i%4], i))
		if len(batch) == sizes[i%len(sizes)] || i == 29 {
			es, err := s.AppendAudit(ctx, batch...)
			must(t, err, "AppendAudit")
			all = append(all, es...)
			batch = batch[:0]
		}
	}
	same(t, "entries appended", len(all), 30)
	wantIncreasing(t, "entries AppendAudit returned", all)

	filter := func(f hub.AuditFilter) []hub.AuditEntry {
		var out []hub.AuditEntry
		for _, e := range all {
			if (f.TargetID == "" || e.TargetID == f.TargetID) && (f.ActorID == "" || e.ActorID == f.ActorID) {
				out = append(out, normAudit(e))
			}
		}
		return out
	}
	var tests []hub.AuditFilter
	for _, target := range append(targets, "", "r-none") {
		for _, actor := range append(actors, "c-none") {
			tests = append(tests, hub.AuditFilter{TargetID: target, ActorID: actor})
		}
	}
	for _, f := range tests {
		got, err := s.AuditLog(ctx, f)
		must(t, err, fmt.Sprintf("AuditLog(%+v)", f))
		want := filter(f)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		same(t, fmt.Sprintf("AuditLog(%+v)", f), normAll(got, normAudit), want)
	}
}

func testAuditPaging(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	var give []hub.AuditEntry
	for i := range 25 {
		give = append(give, auditEntry(fmt.Sprintf("r%d", i%3), fmt.Sprintf("c%d", i%2), i))
	}
	all, err := s.AppendAudit(ctx, give...)
	must(t, err, "AppendAudit")
	pick := func(keep func(e hub.AuditEntry) bool) []uint64 {
		var out []uint64
		for _, e := range all {
			if keep(e) {
				out = append(out, e.Seq)
			}
		}
		return out
	}

	for _, limit := range []int{0, -1, 1, 2, 7, 25, 100} {
		for _, tt := range []struct {
			give hub.AuditFilter
			want []uint64
		}{
			{give: hub.AuditFilter{}, want: seqs(all)},
			{give: hub.AuditFilter{TargetID: "r1"}, want: pick(func(e hub.AuditEntry) bool { return e.TargetID == "r1" })},
			{give: hub.AuditFilter{ActorID: "c0"}, want: pick(func(e hub.AuditEntry) bool { return e.ActorID == "c0" })},
			{give: hub.AuditFilter{TargetID: "r2", ActorID: "c1"}, want: pick(func(e hub.AuditEntry) bool {
				return e.TargetID == "r2" && e.ActorID == "c1"
			})},
			{give: hub.AuditFilter{TargetID: "r-none"}},
		} {
			tt.give.Limit = limit
			same(t, fmt.Sprintf("AuditLog(%+v) paged", tt.give), seqs(auditAll(t, s, tt.give)), tt.want)
		}
	}

	r0 := pick(func(e hub.AuditEntry) bool { return e.TargetID == "r0" })
	tests := []struct {
		name string
		give hub.AuditFilter
		want []uint64
	}{
		{name: "first three", give: hub.AuditFilter{Limit: 3}, want: seqs(all[:3])},
		{name: "after the fifth", give: hub.AuditFilter{After: all[4].Seq, Limit: 2}, want: seqs(all[5:7])},
		{name: "after the last", give: hub.AuditFilter{After: all[24].Seq}},
		{name: "far after the last", give: hub.AuditFilter{After: all[24].Seq + 1000, Limit: 3}},
		{name: "after the greatest Seq", give: hub.AuditFilter{After: math.MaxUint64}},
		{name: "target after one of its entries", give: hub.AuditFilter{TargetID: "r0", After: r0[2], Limit: 2}, want: r0[3:5]},
		{name: "target after another's entry", give: hub.AuditFilter{TargetID: "r0", After: r0[2] + 1, Limit: 2}, want: r0[3:5]},
		{name: "target and actor after an entry", give: hub.AuditFilter{TargetID: "r0", ActorID: "c1", After: all[3].Seq, Limit: 1}, want: []uint64{all[9].Seq}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the same page twice: a stable order
				got, err := s.AuditLog(ctx, tt.give)
				must(t, err, "AuditLog")
				if len(got) == 0 && len(tt.want) == 0 {
					continue
				}
				same(t, fmt.Sprintf("AuditLog(%+v)", tt.give), seqs(got), tt.want)
			}
		})
	}

	// The default and the greatest page size.
	give = give[:0]
	for i := range hub.MaxAuditLimit + 1 - len(all) {
		give = append(give, auditEntry("r-many", "c-many", i))
	}
	more, err := s.AppendAudit(ctx, give...)
	must(t, err, "AppendAudit of many")
	all = append(all, more...)
	limits := []struct {
		give, want int
	}{
		{0, hub.DefaultAuditLimit},
		{-5, hub.DefaultAuditLimit},
		{hub.MaxAuditLimit, hub.MaxAuditLimit},
		{hub.MaxAuditLimit + 1, hub.MaxAuditLimit},
		{math.MaxInt, hub.MaxAuditLimit},
	}
	for _, tt := range limits {
		got, err := s.AuditLog(ctx, hub.AuditFilter{Limit: tt.give})
		must(t, err, "AuditLog")
		same(t, fmt.Sprintf("entries AuditLog returned with Limit %d", tt.give), seqs(got), seqs(all[:tt.want]))
	}
	got, err := s.AuditLog(ctx, hub.AuditFilter{TargetID: "r-many"})
	must(t, err, "AuditLog of r-many")
	same(t, "entries of r-many with the default limit", seqs(got), seqs(more[:hub.DefaultAuditLimit]))
	same(t, "all entries of r-many", seqs(auditAll(t, s, hub.AuditFilter{TargetID: "r-many", ActorID: "c-many", Limit: 1000})), seqs(more))
}

func testAuditInvalid(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	tests := []struct {
		name string
		give func(e *hub.AuditEntry)
	}{
		{"no action", func(e *hub.AuditEntry) { e.Action = "" }},
		{"no target", func(e *hub.AuditEntry) { e.TargetID = "" }},
		{"no purpose", func(e *hub.AuditEntry) { e.Purpose = "" }},
		{"blank purpose", func(e *hub.AuditEntry) { e.Purpose = " \t\n" }},
		{"purpose of 501 characters", func(e *hub.AuditEntry) { e.Purpose = strings.Repeat("x", hub.MaxAuditPurpose+1) }},
		{"purpose of 501 wide characters", func(e *hub.AuditEntry) { e.Purpose = strings.Repeat("查", hub.MaxAuditPurpose+1) }},
		{"no time", func(e *hub.AuditEntry) { e.At = time.Time{} }},
		{"negative count", func(e *hub.AuditEntry) { e.Count = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := auditEntry("r2", "c1", 2)
			tt.give(&bad)
			es, err := s.AppendAudit(ctx, auditEntry("r1", "c1", 1), bad, auditEntry("r3", "c1", 3))
			wantCode(t, err, hub.EINVALID, "AppendAudit with an entry of "+tt.name)
			if es != nil {
				t.Errorf("AppendAudit returned %+v with an error", es)
			}
			es, err = s.AppendAudit(ctx, bad)
			wantCode(t, err, hub.EINVALID, "AppendAudit of an entry of "+tt.name)
			if es != nil {
				t.Errorf("AppendAudit returned %+v with an error", es)
			}
		})
	}

	// Nothing of a rejected batch was written.
	for _, f := range []hub.AuditFilter{{}, {TargetID: "r1"}, {ActorID: "c1"}, {TargetID: "r1", ActorID: "c1"}} {
		es, err := s.AuditLog(ctx, f)
		must(t, err, "AuditLog")
		same(t, fmt.Sprintf("AuditLog(%+v) after invalid calls", f), len(es), 0)
	}

	// At the limits.
	e := auditEntry("r1", "", 1)
	e.Purpose, e.Count = strings.Repeat("查", hub.MaxAuditPurpose), 0
	es, err := s.AppendAudit(ctx, e)
	must(t, err, "AppendAudit of a purpose of 500 wide characters and a count of zero")
	got, err := s.AuditLog(ctx, hub.AuditFilter{TargetID: "r1"})
	must(t, err, "AuditLog")
	same(t, "entries after a valid call", normAll(got, normAudit), normAll(es, normAudit))
}

func testAuditConcurrent(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	// Twenty writers appending ten entries each, in calls of one and two.
	const writers = 20
	sizes := []int{1, 2, 1, 2, 1, 2, 1}
	got := make([][]hub.AuditEntry, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			actor := fmt.Sprintf("c%02d", w)
			i := 0
			for _, n := range sizes {
				var batch []hub.AuditEntry
				for j := range n {
					batch = append(batch, auditEntry(fmt.Sprintf("r%d", (i+j)%4), actor, i+j))
				}
				es, err := s.AppendAudit(ctx, batch...)
				if err != nil {
					errs[w] = err
					return
				}
				got[w] = append(got[w], es...)
				i += n
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		must(t, err, fmt.Sprintf("writer %d", w))
	}

	bySeq := make(map[uint64]hub.AuditEntry)
	for w, es := range got {
		same(t, fmt.Sprintf("entries of writer %d", w), len(es), 10)
		wantIncreasing(t, fmt.Sprintf("entries of writer %d", w), es)
		for _, e := range es {
			if _, dup := bySeq[e.Seq]; dup {
				t.Fatalf("Seq %d given twice", e.Seq)
			}
			bySeq[e.Seq] = e
		}
	}

	all := auditAll(t, s, hub.AuditFilter{Limit: hub.MaxAuditLimit})
	same(t, "entries after concurrent appends", len(all), writers*10)
	wantIncreasing(t, "entries after concurrent appends", all)
	for _, e := range all {
		same(t, fmt.Sprintf("entry %d", e.Seq), normAudit(e), normAudit(bySeq[e.Seq]))
	}
	for w := range writers {
		f := hub.AuditFilter{ActorID: fmt.Sprintf("c%02d", w), Limit: 3}
		same(t, fmt.Sprintf("entries of writer %d listed", w), seqs(auditAll(t, s, f)), seqs(got[w]))
	}
}

func testAuditReopen(t *testing.T, h Harness) {
	s, ctx := h.Open(t), t.Context()

	before, err := s.AppendAudit(ctx, auditEntry("r1", "c1", 1), auditEntry("r2", "c1", 2))
	must(t, err, "AppendAudit")
	es, err := s.AppendAudit(ctx, auditEntry("r1", "", 3))
	must(t, err, "AppendAudit")
	before = append(before, es...)

	s = h.Reopen(t, s)

	got, err := s.AuditLog(ctx, hub.AuditFilter{})
	must(t, err, "AuditLog after reopen")
	same(t, "AuditLog after reopen", normAll(got, normAudit), normAll(before, normAudit))

	// The reopened store goes on from where the old one stopped.
	after, err := s.AppendAudit(ctx, auditEntry("r1", "c1", 4))
	must(t, err, "AppendAudit after reopen")
	if after[0].Seq <= before[len(before)-1].Seq {
		t.Fatalf("Seq %d after reopen, want more than %d", after[0].Seq, before[len(before)-1].Seq)
	}
	tests := []struct {
		give hub.AuditFilter
		want []hub.AuditEntry
	}{
		{give: hub.AuditFilter{}, want: append(slices.Clone(before), after...)},
		{give: hub.AuditFilter{TargetID: "r1"}, want: []hub.AuditEntry{before[0], before[2], after[0]}},
		{give: hub.AuditFilter{ActorID: "c1"}, want: []hub.AuditEntry{before[0], before[1], after[0]}},
		{give: hub.AuditFilter{TargetID: "r1", ActorID: "c1"}, want: []hub.AuditEntry{before[0], after[0]}},
	}
	for _, tt := range tests {
		got, err := s.AuditLog(ctx, tt.give)
		must(t, err, "AuditLog after reopen")
		same(t, fmt.Sprintf("AuditLog(%+v) after reopen", tt.give), normAll(got, normAudit), normAll(tt.want, normAudit))
	}
}

func testAuditCanceled(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	es, err := s.AppendAudit(ctx, auditEntry("r1", "c1", 1))
	if !isCanceled(err) || es != nil {
		t.Fatalf("AppendAudit with a canceled context: %+v, %v, want an error matching context.Canceled", es, err)
	}
	_, err = s.AuditLog(ctx, hub.AuditFilter{TargetID: "r1"})
	if !isCanceled(err) {
		t.Fatalf("AuditLog with a canceled context: %v, want an error matching context.Canceled", err)
	}
	got, err := s.AuditLog(t.Context(), hub.AuditFilter{})
	must(t, err, "AuditLog")
	same(t, "entries after a canceled append", len(got), 0)
}
