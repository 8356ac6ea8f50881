package dispatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/hub"
)

// This file is a lottery anyone can verify without trusting the hub or a
// notary (DESIGN.md §6). LOTTERY.md says the same for people who will
// reimplement it; the two must never disagree, and testdata/lottery.golden
// pins a draw so that the algorithm cannot change silently.
//
// Algorithm gridhub-lottery-v1. All hashes are SHA-256, all hex is lower
// case, all strings are UTF-8, "\n" is the byte 0x0A:
//
//  1. Before entries close the hub draws a secret seed of at least 16
//     random bytes (32 by default) and publishes the commitment
//     hex(SHA-256(seed)).
//  2. Each entry is published only as its entry hash:
//     hex(SHA-256("gridhub-entry-v1\n" + roundID + "\n" + reservationID)).
//     A resident who knows the reservation ID finds their own entry; no
//     one learns anything else from the list.
//  3. After entries close the hub reveals the seed. Each entry's ticket is
//     hex(HMAC-SHA256(key = seed, message = roundID + "\n" + entryHash)).
//  4. Entries are sorted by ticket, ties (never seen with SHA-256) by
//     entry hash. The first `winners` of them win, in that order; all of
//     them, in that order, if there are no more entries than winners. The
//     order is the line in which winners are served.
//
// A ticket depends only on the seed, the round and the entry itself, so
// the order in which entries are listed cannot matter, nobody can choose
// a winning entry without the seed, and the hub cannot choose the seed
// after seeing the entries without breaking the commitment.

// LotteryAlgorithm names the algorithm above in published draws.
const LotteryAlgorithm = "gridhub-lottery-v1"

// MinSeedLen is the shortest seed Commit and Draw accept, in bytes.
const MinSeedLen = 16

// ErrDrawMismatch is the sentinel of every error Verify returns: the
// published draw does not prove itself.
var ErrDrawMismatch = errors.New("lottery draw does not match")

// NewSeed returns a fresh 32-byte seed read from rand (crypto/rand.Reader
// in production, a fixed stream in tests).
func NewSeed(rand io.Reader) ([]byte, error) {
	seed := make([]byte, 32)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("lottery seed: %w", err)
	}
	return seed, nil
}

// Commit returns the commitment to a seed: hex(SHA-256(seed)). Publish it
// before entries close and keep the seed secret until the draw.
func Commit(seed []byte) string {
	sum := sha256.Sum256(seed)
	return hex.EncodeToString(sum[:])
}

// EntryHash returns the published form of an entry:
// hex(SHA-256("gridhub-entry-v1\n" + roundID + "\n" + reservationID)).
// Neither ID may be empty or hold a line feed.
func EntryHash(roundID, reservationID string) (string, error) {
	if err := checkLine("round ID", roundID); err != nil {
		return "", err
	}
	if err := checkLine("reservation ID", reservationID); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte("gridhub-entry-v1\n" + roundID + "\n" + reservationID))
	return hex.EncodeToString(sum[:]), nil
}

// Ticket returns an entry's ticket:
// hex(HMAC-SHA256(seed, roundID + "\n" + entryHash)), with entryHash in
// lower case. Lower tickets win.
func Ticket(seed []byte, roundID, entryHash string) string {
	mac := hmac.New(sha256.New, seed)
	mac.Write([]byte(roundID + "\n" + entryHash))
	return hex.EncodeToString(mac.Sum(nil))
}

// Draw returns the winning entry hashes in draw order: the entries sorted
// by ticket (ties by entry hash), the first `winners` of them. Entry
// hashes are 64 hex characters, either case (winners come back in lower
// case), each listed once, in any order. A seed shorter than MinSeedLen, a
// bad round ID or entry, a repeated entry or a negative count is an
// EINVALID error. Draw(seed, roundID, entries, len(entries)) gives the
// whole line, the waiting list after the winners included.
func Draw(seed []byte, roundID string, entryHashes []string, winners int) ([]string, error) {
	if len(seed) < MinSeedLen {
		return nil, hub.Errorf(hub.EINVALID, "lottery seed of %d bytes, want at least %d", len(seed), MinSeedLen)
	}
	if err := checkLine("round ID", roundID); err != nil {
		return nil, err
	}
	if winners < 0 {
		return nil, hub.Errorf(hub.EINVALID, "%d winners, want at least 0", winners)
	}
	entries, err := canonicalEntries(entryHashes)
	if err != nil {
		return nil, err
	}
	type ticketed struct{ ticket, entry string }
	ts := make([]ticketed, len(entries))
	for i, e := range entries {
		ts[i] = ticketed{Ticket(seed, roundID, e), e}
	}
	slices.SortFunc(ts, func(a, b ticketed) int {
		if c := strings.Compare(a.ticket, b.ticket); c != 0 {
			return c
		}
		return strings.Compare(a.entry, b.entry)
	})
	out := make([]string, min(winners, len(ts)))
	for i := range out {
		out[i] = ts[i].entry
	}
	return out, nil
}

// canonicalEntries checks entry hashes and returns them in lower case,
// sorted; a repeated entry is an error.
func canonicalEntries(in []string) ([]string, error) {
	out := make([]string, len(in))
	for i, e := range in {
		c, err := canonicalHash(e)
		if err != nil {
			return nil, hub.Errorf(hub.EINVALID, "entry %d: %s", i, hub.MessageOf(err))
		}
		out[i] = c
	}
	slices.Sort(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			return nil, hub.Errorf(hub.EINVALID, "entry %s is listed twice", out[i])
		}
	}
	return out, nil
}

// canonicalHash checks that s is 64 hex characters and returns it in
// lower case.
func canonicalHash(s string) (string, error) {
	if len(s) != 2*sha256.Size {
		return "", hub.Errorf(hub.EINVALID, "%q is not a SHA-256 hash: want 64 hex characters", hub.Clip(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", hub.Errorf(hub.EINVALID, "%q is not a SHA-256 hash: want 64 hex characters", hub.Clip(s))
	}
	return strings.ToLower(s), nil
}

func checkLine(what, s string) error {
	switch {
	case s == "":
		return hub.Errorf(hub.EINVALID, "%s is empty", what)
	case strings.ContainsRune(s, '\n'):
		return hub.Errorf(hub.EINVALID, "%s %q holds a line feed", what, hub.Clip(s))
	case len(s) > 256:
		return hub.Errorf(hub.EINVALID, "%s %q is longer than 256 bytes", what, hub.Clip(s))
	}
	return nil
}

// PublishedDraw is everything the hub publishes about a lottery draw, and
// everything anyone needs to check it. Its JSON form is what the
// verify-lottery command reads.
type PublishedDraw struct {
	// Algorithm is LotteryAlgorithm; empty is read as it.
	Algorithm string `json:"algorithm"`
	RoundID   string `json:"roundId"`
	// Commitment is hex(SHA-256(seed)), published before entries closed.
	Commitment string `json:"commitment"`
	// Seed is the revealed seed, in hex.
	Seed string `json:"seed"`
	// Entries are the entry hashes, sorted.
	Entries []string `json:"entries"`
	// WinnerCount is the number of winners the round drew.
	WinnerCount int `json:"winnerCount"`
	// Winners are the winning entry hashes, in draw order.
	Winners []string `json:"winners"`
}

// Publish draws the lottery and returns the record to publish.
func Publish(seed []byte, roundID string, entryHashes []string, winners int) (*PublishedDraw, error) {
	ws, err := Draw(seed, roundID, entryHashes, winners)
	if err != nil {
		return nil, err
	}
	entries, _ := canonicalEntries(entryHashes) // checked by Draw
	return &PublishedDraw{
		Algorithm:   LotteryAlgorithm,
		RoundID:     roundID,
		Commitment:  Commit(seed),
		Seed:        hex.EncodeToString(seed),
		Entries:     entries,
		WinnerCount: winners,
		Winners:     ws,
	}, nil
}

// Verify recomputes the draw from what was published: the seed must hash
// to the commitment and the winners must be exactly those Draw gives, in
// the same order. The order in which entries are listed does not matter.
// It returns nil for a match, or an EINVALID error matching
// ErrDrawMismatch whose message says what does not match.
func (d *PublishedDraw) Verify() error {
	mismatch := func(format string, args ...any) error {
		return hub.Wrapf(hub.EINVALID, ErrDrawMismatch, format, args...)
	}
	if d.Algorithm != "" && d.Algorithm != LotteryAlgorithm {
		return mismatch("unknown algorithm %q, want %q", hub.Clip(d.Algorithm), LotteryAlgorithm)
	}
	seed, err := hex.DecodeString(d.Seed)
	if err != nil {
		return mismatch("the seed is not hex: %v", err)
	}
	commitment, err := canonicalHash(d.Commitment)
	if err != nil {
		return mismatch("the commitment: %s", hub.MessageOf(err))
	}
	if got := Commit(seed); got != commitment {
		return mismatch("the seed does not match the commitment: SHA-256 of the seed is %s, the commitment %s", got, commitment)
	}
	if d.WinnerCount < 0 {
		return mismatch("winnerCount %d is negative", d.WinnerCount)
	}
	want, err := Draw(seed, d.RoundID, d.Entries, d.WinnerCount)
	if err != nil {
		return mismatch("cannot recompute the draw: %s", hub.MessageOf(err))
	}
	got := make([]string, len(d.Winners))
	for i, w := range d.Winners {
		if got[i], err = canonicalHash(w); err != nil {
			return mismatch("winner %d: %s", i, hub.MessageOf(err))
		}
		if slices.Contains(got[:i], got[i]) {
			return mismatch("winner %d (%s) is listed twice", i, got[i])
		}
	}
	if len(got) != len(want) {
		return mismatch("%d winners published, the draw gives %d", len(got), len(want))
	}
	entries, _ := canonicalEntries(d.Entries) // checked by Draw
	for i, w := range got {
		if _, ok := slices.BinarySearch(entries, w); !ok {
			return mismatch("winner %d (%s) is not among the entries", i, w)
		}
	}
	for i, w := range want {
		if !slices.Contains(got, w) {
			return mismatch("the draw gives place %d to %s, which is not among the published winners", i, w)
		}
	}
	for i := range got {
		if got[i] != want[i] {
			return mismatch("the winners are out of order: winner %d is %s, the draw gives %s", i, got[i], want[i])
		}
	}
	return nil
}
