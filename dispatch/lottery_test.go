package dispatch_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/dispatch"
	"github.com/gridhub/gridhub/hub"
)

// Vectors computed apart from this code, with Python's hashlib and hmac
// (see LOTTERY.md).
const (
	vecRound   = "round-2020-02-14"
	vecEntry   = "f56293c47d3cb9eaa97a26985f68930b534fbebf0b2ba5f5bbe74da22fff887f" // res-0001
	vecTicket  = "1860222ff2bf2ed906255f1095f521edb19b202e8b40fe50585b592b3e1379c2" // seed 00 01 .. 1f
	goldenDraw = "lottery_draw.golden"
)

func seq32() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func TestLotteryVectors(t *testing.T) {
	if got := dispatch.Commit([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Commit(abc) = %s", got)
	}
	e, err := dispatch.EntryHash(vecRound, "res-0001")
	if err != nil || e != vecEntry {
		t.Errorf("EntryHash = %s, %v, want %s", e, err, vecEntry)
	}
	if got := dispatch.Ticket(seq32(), vecRound, vecEntry); got != vecTicket {
		t.Errorf("Ticket = %s, want %s", got, vecTicket)
	}
	for _, tt := range []struct{ round, res string }{
		{"", "r"}, {"r", ""}, {"a\nb", "r"}, {"r", "x\ny"}, {strings.Repeat("r", 257), "x"},
	} {
		if h, err := dispatch.EntryHash(tt.round, tt.res); hub.ErrorCode(err) != hub.EINVALID || h != "" {
			t.Errorf("EntryHash(%q, %q) = %q, %v, want an EINVALID error", tt.round, tt.res, h, err)
		}
	}
}

// entries returns the entry hashes of reservations res-0000 to res-(n-1)
// of a round.
func entries(t *testing.T, round string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		var err error
		if out[i], err = dispatch.EntryHash(round, fmt.Sprintf("res-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// goldenSeed is the seed of the golden draw: SHA-256 of a phrase, so that
// anyone can rebuild it.
func goldenSeed() []byte {
	s := sha256.Sum256([]byte("gridhub golden lottery seed"))
	return s[:]
}

func TestDraw(t *testing.T) {
	seed := goldenSeed()
	es := entries(t, vecRound, 20)
	want, err := dispatch.Draw(seed, vecRound, es, 5)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dispatch.Draw(seed, vecRound, es, len(es))
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(es)
	slices.Reverse(reversed)
	upper := make([]string, len(es))
	for i, e := range es {
		upper[i] = strings.ToUpper(e)
	}
	otherSeed := slices.Clone(seed)
	otherSeed[0] ^= 1

	tests := []struct {
		name    string
		seed    []byte
		round   string
		entries []string
		winners int
		want    []string // nil with wantErr
		wantErr bool
	}{
		{"the draw", seed, vecRound, es, 5, want, false},
		{"entries reordered", seed, vecRound, reversed, 5, want, false},
		{"entries in upper case", seed, vecRound, upper, 5, want, false},
		{"winners are a prefix of the whole line", seed, vecRound, es, 3, all[:3], false},
		{"as many winners as entries", seed, vecRound, es, 20, all, false},
		{"more winners than entries", seed, vecRound, es, 50, all, false},
		{"no winners", seed, vecRound, es, 0, []string{}, false},
		{"no entries", seed, vecRound, nil, 5, []string{}, false},
		{"seed too short", seed[:15], vecRound, es, 5, nil, true},
		{"empty round", seed, "", es, 5, nil, true},
		{"negative winners", seed, vecRound, es, -1, nil, true},
		{"entry listed twice", seed, vecRound, append(slices.Clone(es), es[3]), 5, nil, true},
		{"entry listed twice in two cases", seed, vecRound, append(slices.Clone(es), upper[3]), 5, nil, true},
		{"entry not hex", seed, vecRound, append(slices.Clone(es), strings.Repeat("g", 64)), 5, nil, true},
		{"entry too short", seed, vecRound, append(slices.Clone(es), es[0][:63]), 5, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dispatch.Draw(tt.seed, tt.round, tt.entries, tt.winners)
			if tt.wantErr {
				if hub.ErrorCode(err) != hub.EINVALID || got != nil {
					t.Fatalf("%v, %v: want an EINVALID error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	// Another seed or another round draws another line.
	if other, _ := dispatch.Draw(otherSeed, vecRound, es, len(es)); slices.Equal(other, all) {
		t.Error("a different seed draws the same line")
	}
	if other, _ := dispatch.Draw(seed, "round-2020-02-15", es, len(es)); slices.Equal(other, all) {
		t.Error("a different round draws the same line")
	}
	// The line is the entries sorted by ticket.
	for i := 1; i < len(all); i++ {
		if dispatch.Ticket(seed, vecRound, all[i-1]) >= dispatch.Ticket(seed, vecRound, all[i]) {
			t.Fatalf("line position %d: tickets out of order", i)
		}
	}
}

// TestDrawFair checks that no place in the entry list is favoured: over
// many seeds, each of 10 entries wins one of 3 places about 30% of the
// time.
func TestDrawFair(t *testing.T) {
	es := entries(t, "fair", 10)
	wins := map[string]int{}
	const draws = 3000
	for i := range draws {
		seed := sha256.Sum256(fmt.Appendf(nil, "seed %d", i))
		ws, err := dispatch.Draw(seed[:], "fair", es, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			wins[w]++
		}
	}
	for _, e := range es {
		// 900 expected, σ ≈ 25: six σ either way.
		if n := wins[e]; n < 750 || n > 1050 {
			t.Errorf("entry %s won %d of %d draws, expected about 900", e[:8], n, draws)
		}
	}
}

func publishGolden(t *testing.T) *dispatch.PublishedDraw {
	t.Helper()
	d, err := dispatch.Publish(goldenSeed(), vecRound, entries(t, vecRound, 20), 5)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVerify(t *testing.T) {
	good := publishGolden(t)
	if err := good.Verify(); err != nil {
		t.Fatalf("the published draw does not verify: %v", err)
	}
	otherSeed := goldenSeed()
	otherSeed[31] ^= 0x80
	// An entry whose ticket beats every winner, found by trying
	// reservation IDs: inserting it after the draw changes the winners.
	var sneaky string
	for i := 0; sneaky == ""; i++ {
		e, _ := dispatch.EntryHash(vecRound, fmt.Sprintf("sneaky-%d", i))
		if dispatch.Ticket(goldenSeed(), vecRound, e) < dispatch.Ticket(goldenSeed(), vecRound, good.Winners[0]) {
			sneaky = e
		}
	}
	// A losing entry: dropping it changes nothing the draw can show.
	var loser string
	for _, e := range good.Entries {
		if !slices.Contains(good.Winners, e) {
			loser = e
			break
		}
	}

	tests := []struct {
		name   string
		tamper func(d *dispatch.PublishedDraw)
		want   string // part of the mismatch message; "" for a match
	}{
		{"as published", func(d *dispatch.PublishedDraw) {}, ""},
		{"entries reordered", func(d *dispatch.PublishedDraw) { slices.Reverse(d.Entries) }, ""},
		{"upper-case hex", func(d *dispatch.PublishedDraw) {
			d.Seed, d.Commitment = strings.ToUpper(d.Seed), strings.ToUpper(d.Commitment)
			for i := range d.Winners {
				d.Winners[i] = strings.ToUpper(d.Winners[i])
			}
		}, ""},
		{"no algorithm named", func(d *dispatch.PublishedDraw) { d.Algorithm = "" }, ""},
		{"winnerCount above the entries", func(d *dispatch.PublishedDraw) {
			d.WinnerCount = 99
			d.Winners, _ = dispatch.Draw(goldenSeed(), vecRound, d.Entries, 99)
		}, ""},
		// The draw cannot prove the list complete: that is for each
		// resident to check (their entry hash is in the list).
		{"a losing entry dropped", func(d *dispatch.PublishedDraw) {
			d.Entries = slices.DeleteFunc(d.Entries, func(e string) bool { return e == loser })
		}, ""},
		{"tampered seed", func(d *dispatch.PublishedDraw) { d.Seed = hex.EncodeToString(otherSeed) }, "does not match the commitment"},
		{"tampered seed and commitment", func(d *dispatch.PublishedDraw) {
			d.Seed, d.Commitment = hex.EncodeToString(otherSeed), dispatch.Commit(otherSeed)
		}, "the draw gives"},
		{"tampered commitment", func(d *dispatch.PublishedDraw) { d.Commitment = dispatch.Commit([]byte("x")) }, "does not match the commitment"},
		{"seed not hex", func(d *dispatch.PublishedDraw) { d.Seed = "zz" }, "not hex"},
		{"commitment not a hash", func(d *dispatch.PublishedDraw) { d.Commitment = "abc" }, "commitment"},
		{"seed too short", func(d *dispatch.PublishedDraw) {
			d.Seed, d.Commitment = "00", dispatch.Commit([]byte{0})
		}, "seed of 1 bytes"},
		{"an entry inserted", func(d *dispatch.PublishedDraw) { d.Entries = append(d.Entries, sneaky) }, "gives place 0 to " + sneaky},
		{"a winner replaced", func(d *dispatch.PublishedDraw) { d.Winners[2] = sneaky }, "not among the entries"},
		{"a winning entry dropped", func(d *dispatch.PublishedDraw) { d.Entries = d.Entries[1:] }, ""},
		{"an entry listed twice", func(d *dispatch.PublishedDraw) { d.Entries = append(d.Entries, d.Entries[0]) }, "listed twice"},
		{"an entry not a hash", func(d *dispatch.PublishedDraw) { d.Entries[4] = "hello" }, "entry 4"},
		{"winners reordered", func(d *dispatch.PublishedDraw) { d.Winners[0], d.Winners[1] = d.Winners[1], d.Winners[0] }, "out of order"},
		{"a winner listed twice", func(d *dispatch.PublishedDraw) { d.Winners[1] = d.Winners[0] }, "listed twice"},
		{"a winner missing", func(d *dispatch.PublishedDraw) { d.Winners = d.Winners[:4] }, "4 winners published, the draw gives 5"},
		{"winnerCount changed", func(d *dispatch.PublishedDraw) { d.WinnerCount = 6 }, "5 winners published, the draw gives 6"},
		{"winnerCount negative", func(d *dispatch.PublishedDraw) { d.WinnerCount = -1 }, "negative"},
		{"round changed", func(d *dispatch.PublishedDraw) { d.RoundID = "round-2020-02-15" }, "the draw gives"},
		{"round empty", func(d *dispatch.PublishedDraw) { d.RoundID = "" }, "round ID is empty"},
		{"a winner not a hash", func(d *dispatch.PublishedDraw) { d.Winners[0] = "x" }, "winner 0"},
		{"unknown algorithm", func(d *dispatch.PublishedDraw) { d.Algorithm = "fisher-yates" }, "unknown algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := publishGolden(t)
			tt.tamper(d)
			err := d.Verify()
			if tt.name == "a winning entry dropped" {
				// Dropping the first sorted entry may or may not
				// remove a winner; when it does, Verify must say so.
				removed := good.Entries[0]
				if slices.Contains(good.Winners, removed) == (err == nil) {
					t.Fatalf("dropping %s (a winner: %v): %v", removed[:8], slices.Contains(good.Winners, removed), err)
				}
				return
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want a match: %v", err)
				}
				return
			}
			if !errors.Is(err, dispatch.ErrDrawMismatch) || hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("%v: want an EINVALID ErrDrawMismatch", err)
			}
			if !strings.Contains(hub.ErrorMessage(err), tt.want) {
				t.Errorf("message %q does not say %q", hub.ErrorMessage(err), tt.want)
			}
		})
	}
}

// TestLotteryGolden pins a draw: the algorithm must never change
// silently. The file is the published draw, as verify-lottery reads it.
func TestLotteryGolden(t *testing.T) {
	d := publishGolden(t)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, goldenDraw, append(b, '\n'))

	var tickets bytes.Buffer
	fmt.Fprintf(&tickets, "round %s\nseed %s\n\nline: ticket entry\n", d.RoundID, d.Seed)
	line, _ := dispatch.Draw(goldenSeed(), d.RoundID, d.Entries, len(d.Entries))
	for i, e := range line {
		fmt.Fprintf(&tickets, "%2d %s %s\n", i, dispatch.Ticket(goldenSeed(), d.RoundID, e), e)
	}
	golden(t, "lottery_tickets.golden", tickets.Bytes())
}

// TestLotteryReference runs the reference verifier of LOTTERY.md, in
// Python, on the golden draw and on a tampered one: the document and the
// code must agree. It is skipped where python3 is not installed.
func TestLotteryReference(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the reference verifier of LOTTERY.md is not run")
	}
	doc, err := os.ReadFile("LOTTERY.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("LOTTERY.md has no python block")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	if err := os.WriteFile(script, m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := publishGolden(t)
	tampered.Winners[0], tampered.Winners[1] = tampered.Winners[1], tampered.Winners[0]
	tb, _ := json.Marshal(tampered)
	tamperedPath := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(tamperedPath, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{filepath.Join("testdata", goldenDraw): "MATCH", tamperedPath: "MISMATCH"} {
		out, err := exec.Command(python, script, path).CombinedOutput()
		if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, want) || (want == "MATCH") != (err == nil) {
			t.Errorf("python %s: %q (%v), want %s", filepath.Base(path), got, err, want)
		}
	}
}

func TestNewSeed(t *testing.T) {
	s, err := dispatch.NewSeed(bytes.NewReader(seq32()))
	if err != nil || !bytes.Equal(s, seq32()) {
		t.Errorf("%x %v", s, err)
	}
	if _, err := dispatch.NewSeed(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("a short read gave a seed")
	}
}
