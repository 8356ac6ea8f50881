package broker

import (
	"math/bits"

	"github.com/gridhub/gridhub/hub"
)

// anchor names the key a subscription is filed under in the index.
type anchor uint8

const (
	byKind anchor = iota // each of its kinds, or kind 0 for every kind
	byDistrict
	byCell // each of its cells
	byCommittee
	byPartner
	byPharmacy
)

// entry files one subscription under one key. k says which of the
// subscription's keys it is, so that s.pos[k] is the entry's place in its
// list and removal is a swap with the last entry. kinds repeats the
// filter's kinds (in what would be padding) so that routing passes over a
// subscription to other kinds without touching it: with 50,000 of them,
// touching one is a cache miss.
type entry struct {
	s     *Subscription
	k     int32
	kinds uint32
}

// index maps routing keys to the subscriptions filed under them. A key
// with no subscriptions has no map entry, so an idle broker's maps are
// empty. The broker's lock guards it.
type index struct {
	cells      map[hub.Cell][]entry
	committees map[string][]entry
	partners   map[string][]entry
	pharmacies map[string][]entry
	districts  map[string][]entry
	kinds      map[hub.EventKind][]entry // kind 0: subscriptions to every kind
}

func newIndex() index {
	return index{
		cells:      make(map[hub.Cell][]entry),
		committees: make(map[string][]entry),
		partners:   make(map[string][]entry),
		pharmacies: make(map[string][]entry),
		districts:  make(map[string][]entry),
		kinds:      make(map[hub.EventKind][]entry),
	}
}

// len returns the number of keys in the index.
func (x *index) len() int {
	return len(x.cells) + len(x.committees) + len(x.partners) + len(x.pharmacies) + len(x.districts) + len(x.kinds)
}

// add files s under the keys of its anchor.
func (x *index) add(s *Subscription) {
	x.each(s, func(i int, k key) {
		switch k.m {
		case byCell:
			put(x.cells, k.cell, s, i)
		case byKind:
			put(x.kinds, k.kind, s, i)
		default:
			put(x.strings(k.m), k.id, s, i)
		}
	})
}

// remove takes s out of the index.
func (x *index) remove(s *Subscription) {
	x.each(s, func(i int, k key) {
		switch k.m {
		case byCell:
			del(x.cells, k.cell, s, i)
		case byKind:
			del(x.kinds, k.kind, s, i)
		default:
			del(x.strings(k.m), k.id, s, i)
		}
	})
}

func (x *index) strings(a anchor) map[string][]entry {
	switch a {
	case byCommittee:
		return x.committees
	case byPartner:
		return x.partners
	case byPharmacy:
		return x.pharmacies
	default:
		return x.districts
	}
}

// key is one index key of a subscription.
type key struct {
	m    anchor
	cell hub.Cell
	kind hub.EventKind
	id   string
}

// each calls fn with each key s is filed under, numbered from 0. It
// allocates s.pos on first use.
func (x *index) each(s *Subscription, fn func(i int, k key)) {
	f := &s.f
	switch s.anchor {
	case byCell:
		if s.pos == nil {
			s.pos = make([]int32, len(f.cells))
		}
		for i, c := range f.cells {
			fn(i, key{m: byCell, cell: c})
		}
		return
	case byKind:
		if s.pos == nil {
			s.pos = make([]int32, max(1, bits.OnesCount32(f.kinds)))
		}
		if f.kinds == 0 {
			fn(0, key{m: byKind})
			return
		}
		i := 0
		for m := f.kinds; m != 0; m &= m - 1 {
			fn(i, key{m: byKind, kind: hub.EventKind(bits.TrailingZeros32(m))})
			i++
		}
		return
	}
	if s.pos == nil {
		s.pos = make([]int32, 1)
	}
	id := f.district
	switch s.anchor {
	case byCommittee:
		id = f.committee
	case byPartner:
		id = f.partner
	case byPharmacy:
		id = f.pharmacy
	}
	fn(0, key{m: s.anchor, id: id})
}

// put appends s's i-th entry to the list of key.
func put[K comparable](m map[K][]entry, key K, s *Subscription, i int) {
	l := m[key]
	s.pos[i] = int32(len(l))
	m[key] = append(l, entry{s: s, k: int32(i), kinds: s.f.kinds})
}

// del removes s's i-th entry from the list of key, moving the last entry
// into its place, and frees the list when it empties or shrinks a lot.
func del[K comparable](m map[K][]entry, key K, s *Subscription, i int) {
	l := m[key]
	p, last := s.pos[i], int32(len(l)-1)
	if p != last {
		l[p] = l[last]
		l[p].s.pos[l[p].k] = p
	}
	l[last] = entry{}
	l = l[:last]
	switch {
	case len(l) == 0:
		delete(m, key)
	case cap(l) > 16 && len(l) < cap(l)/4:
		m[key] = append(make([]entry, 0, 2*len(l)), l...)
	default:
		m[key] = l
	}
}
