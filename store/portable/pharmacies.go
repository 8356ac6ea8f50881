package portable

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/gridhub/gridhub/store/storecheck"
	"math"
	"time"

	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/driver"
)

// Reasons of the ledger entries the store writes itself.
const (
	// ReasonInitial records a new pharmacy's initial stock.
	ReasonInitial = "INITIAL"
	// ReasonAllocate records the stock an allocation takes (Allocate).
	ReasonAllocate = "ALLOCATE"
	// ReasonReturn records the stock an allocation gives back when it
	// moves to a status that returns it (TransitionAllocation).
	ReasonReturn = "RETURN"
)

// UpsertPharmacies creates or updates pharmacies, in order, in one write.
// An existing pharmacy keeps its stock; a new one starts with the stock it
// is given, recorded in its ledger as one INITIAL entry per SKU with a
// non-zero quantity, in SKU order, dated UpdatedAt (or now when that is
// zero).
func (s *Store) UpsertPharmacies(ctx context.Context, ps ...*hub.Pharmacy) error {
	if len(ps) == 0 {
		return s.checkOpen(ctx)
	}
	recs := make([]pharmacyRec, len(ps))
	for i, p := range ps {
		if p == nil {
			return hub.Errorf(hub.EINVALID, "pharmacy %d of the batch is missing", i)
		}
		if err := storecheck.ID("pharmacy", p.ID); err != nil {
			return err
		}
		if err := storecheck.Ref("district", p.DistrictID); err != nil {
			return err
		}
		for sku, n := range p.Stock {
			if _, err := hub.ParseSKU(string(sku)); err != nil {
				return hub.Errorf(hub.EINVALID, "pharmacy %q: unknown supply %q", p.ID, sku)
			}
			if n < 0 {
				return hub.Errorf(hub.EINVALID, "pharmacy %q: negative stock of %s", p.ID, sku)
			}
		}
		recs[i] = pharmacyToRec(p)
	}

	return s.write(ctx, func(tx driver.Tx) error {
		b, ledger := bucket(tx, bktPharmacies), bucket(tx, bktLedger)
		for _, r := range recs {
			var old pharmacyRec
			exists, err := getRec(b, "pharmacy", []byte(r.ID), &old)
			if err != nil {
				return err
			}
			if exists {
				r.Stock = old.Stock // r is a copy; recs stays as given for a rerun
			} else if err := initialStock(ledger, r, s.now); err != nil {
				return err
			}
			v, err := encode("pharmacy", r)
			if err != nil {
				return err
			}
			if err := put(b, []byte(r.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// initialStock records the INITIAL entries of a new pharmacy's ledger.
func initialStock(ledger driver.Bucket, r pharmacyRec, now func() time.Time) error {
	at := r.UpdatedAt
	if at.IsZero() {
		at = now().UTC()
	}
	// One look for the ledger's end, not one per entry.
	seq := lastEntry(ledger, r.ID)
	for _, sku := range sortedSKUs(r.Stock) {
		if n := r.Stock[sku]; n != 0 {
			seq++
			e := ledgerRec{SKU: sku, Delta: n, After: n, Reason: ReasonInitial, At: at}
			if err := putEntry(ledger, r.ID, seq, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// The ledger bucket holds, per pharmacy, one key range: its allocations
// (the index by pharmacy), then its stock ledger, newest entry first:
//
//	pharmacyID 0x00 'a' allocationID  -> empty
//	pharmacyID 0x00 'l' ^seq (8 bytes, big-endian) -> ledger entry
//
// A reservation adds an allocation at the end of the first part and an
// entry at the start of the second, next to each other: one leaf page
// where two buckets (and a nested one per pharmacy before) took three or
// more.
const (
	tagPharmacyAlloc = 'a'
	tagLedgerEntry   = 'l'
)

// pharmacyKey returns the prefix of a pharmacy's keys of one tag.
func pharmacyKey(pharmacyID string, tag byte, extra int) []byte {
	k := make([]byte, 0, len(pharmacyID)+2+extra)
	return append(append(k, pharmacyID...), 0, tag)
}

// pharmacyAllocKey is the key of an allocation in the index by pharmacy.
func pharmacyAllocKey(pharmacyID, allocationID string) []byte {
	return append(pharmacyKey(pharmacyID, tagPharmacyAlloc, len(allocationID)), allocationID...)
}

// ledgerKey is the key of entry seq of a pharmacy's stock ledger.
func ledgerKey(pharmacyID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(pharmacyKey(pharmacyID, tagLedgerEntry, 8), ^seq)
}

// ledgerSeq returns the sequence number of a ledger key with the prefix
// pharmacyKey(pharmacyID, tagLedgerEntry), or false for another key.
func ledgerSeq(prefix, k []byte) (uint64, bool) {
	if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return 0, false
	}
	return ^binary.BigEndian.Uint64(k[len(prefix):]), true
}

// lastEntry returns the sequence number of the last entry of a pharmacy's
// ledger, 0 when it has none: the first key of its ledger range. Entries
// are never removed, so the next one is the last one's number plus one:
// a pharmacy's ledger numbers its entries 1, 2, 3 and so on, as a
// bucket's own sequence did in format 1.
func lastEntry(ledger driver.Bucket, pharmacyID string) uint64 {
	prefix := pharmacyKey(pharmacyID, tagLedgerEntry, 0)
	k, _ := ledger.Cursor().Seek(prefix)
	seq, _ := ledgerSeq(prefix, k)
	return seq
}

// appendEntry adds an entry at the end of a pharmacy's ledger.
func appendEntry(ledger driver.Bucket, pharmacyID string, e ledgerRec) error {
	return putEntry(ledger, pharmacyID, lastEntry(ledger, pharmacyID)+1, e)
}

// putEntry writes entry seq of a pharmacy's ledger.
func putEntry(ledger driver.Bucket, pharmacyID string, seq uint64, e ledgerRec) error {
	v, err := encode("ledger entry", e)
	if err != nil {
		return err
	}
	return put(ledger, ledgerKey(pharmacyID, seq), v)
}

// Pharmacy returns a pharmacy or an ENOTFOUND error.
func (s *Store) Pharmacy(ctx context.Context, id string) (*hub.Pharmacy, error) {
	var r *pharmacyRec
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		r, err = s.readPharmacy(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// Pharmacies lists every pharmacy in ID order.
func (s *Store) Pharmacies(ctx context.Context) ([]*hub.Pharmacy, error) {
	var out []*hub.Pharmacy
	err := s.view(ctx, func(tx driver.Tx) (err error) {
		out, err = listRecs(bucket(tx, bktPharmacies), "pharmacy", (*pharmacyRec).domain, nil)
		return err
	})
	return out, err
}

// AdjustStock applies a stock change atomically, records it in the ledger
// and returns the pharmacy as it is after the change. A change that would
// take stock below zero is an EOUTOFSTOCK error and changes nothing; an
// unknown pharmacy is ENOTFOUND; an unknown SKU or a zero delta EINVALID.
// The pharmacy's UpdatedAt is left alone.
func (s *Store) AdjustStock(ctx context.Context, c hub.StockChange) (*hub.Pharmacy, error) {
	if err := storecheck.ID("pharmacy", c.PharmacyID); err != nil {
		return nil, err
	}
	if _, err := hub.ParseSKU(string(c.SKU)); err != nil {
		return nil, err
	}
	if c.Delta == 0 {
		return nil, hub.Errorf(hub.EINVALID, "stock change of zero %s", c.SKU)
	}

	var result *hub.Pharmacy
	err := s.write(ctx, func(tx driver.Tx) error {
		r, err := s.readPharmacy(tx, c.PharmacyID)
		if err != nil {
			return err
		}
		after, err := stockAfter(r, c.SKU, c.Delta)
		if err != nil {
			return err
		}
		if err := s.applyStock(tx, r, c, after); err != nil {
			return err
		}
		result = r.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// readPharmacy reads a pharmacy's record in tx, or returns an ENOTFOUND
// error.
func (s *Store) readPharmacy(tx driver.Tx, id string) (*pharmacyRec, error) {
	r, ok, err := s.pharmacies.get(bucket(tx, bktPharmacies), []byte(id))
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "pharmacy %q not found", id)
	}
	return r, nil
}

// stockAfter returns the quantity of sku pharmacy r would have on hand
// after a change of delta, or an EOUTOFSTOCK error when that is below zero
// (an EINVALID one when it overflows). It changes nothing.
func stockAfter(r *pharmacyRec, sku hub.SKU, delta int) (int, error) {
	have := r.Stock[sku]
	if delta < 0 && have < -delta {
		return 0, hub.Errorf(hub.EOUTOFSTOCK, "pharmacy %q has %d %s, cannot take %d", r.ID, have, sku, -delta)
	}
	if delta > 0 && have > math.MaxInt-delta {
		return 0, hub.Errorf(hub.EINVALID, "pharmacy %q: stock of %s would overflow", r.ID, sku)
	}
	return have + delta, nil
}

// applyStock applies change c, which stockAfter accepted with the result
// after, to r: it sets r's stock, writes r and appends c to the pharmacy's
// ledger. r stays current, so several changes to one pharmacy in one
// transaction may go through it one after another.
func (s *Store) applyStock(tx driver.Tx, r *pharmacyRec, c hub.StockChange, after int) error {
	if r.Stock == nil {
		r.Stock = make(map[hub.SKU]int)
	}
	r.Stock[c.SKU] = after
	v, err := encode("pharmacy", r)
	if err != nil {
		return err
	}
	e := ledgerRec{SKU: c.SKU, Delta: c.Delta, After: after, Reason: c.Reason, At: c.At}
	if err := appendEntry(bucket(tx, bktLedger), r.ID, e); err != nil {
		return err
	}
	if err := put(bucket(tx, bktPharmacies), []byte(r.ID), v); err != nil {
		return err
	}
	s.pharmacies.keep([]byte(r.ID), v, r)
	return nil
}

// StockLedger lists a pharmacy's ledger entries in order: those with Seq
// greater than after, at most limit of them (all when limit <= 0). An
// unknown pharmacy is an ENOTFOUND error.
func (s *Store) StockLedger(ctx context.Context, pharmacyID string, after uint64, limit int) ([]hub.StockEntry, error) {
	var out []hub.StockEntry
	err := s.view(ctx, func(tx driver.Tx) error {
		if bucket(tx, bktPharmacies).Get([]byte(pharmacyID)) == nil {
			return hub.Errorf(hub.ENOTFOUND, "pharmacy %q not found", pharmacyID)
		}
		if after == math.MaxUint64 {
			return nil
		}
		// Newest first in the bucket: walk back from the entry after
		// after, or from the oldest.
		c := bucket(tx, bktLedger).Cursor()
		prefix := pharmacyKey(pharmacyID, tagLedgerEntry, 0)
		k, v := c.Seek(ledgerKey(pharmacyID, after))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; limit <= 0 || len(out) < limit; k, v = c.Prev() {
			seq, ok := ledgerSeq(prefix, k)
			if !ok {
				if bytes.HasPrefix(k, prefix) {
					return fmt.Errorf("store: ledger of pharmacy %q has key %q", pharmacyID, k)
				}
				break
			}
			var e ledgerRec
			if err := decode("ledger entry", k, v, &e); err != nil {
				return err
			}
			out = append(out, e.domain(pharmacyID, seq))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
