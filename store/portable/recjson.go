package portable

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// The records written on every reservation (reservations, allocations,
// pharmacies, ledger entries) and the resident read on every reservation
// have their JSON written and read by hand here: encoding/json's
// reflection cost more than the rest of their handling in the store.
//
// The bytes are exactly those json.Marshal writes (TestRecordJSON compares
// them over records with every field filled at random, so a field added to
// a record without its line here fails it). Whatever the hand-written code
// does not handle exactly as encoding/json does is left to encoding/json:
// an encoder that meets a value json.Marshal refuses (a time outside years
// 0-9999, a float that is not finite) gives up, and encode calls
// json.Marshal, which reports the error; a decoder accepts only the form
// the encoder writes (the keys as written, no spaces, strings without
// escapes, valid UTF-8) and leaves anything else (data written by an older
// version with other spellings, escapes, nulls) to json.Unmarshal.

// jsonAppender is a record that writes its own JSON. appendJSON appends
// the record's JSON to b, or reports false when encoding/json must write
// it.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, bool)
}

// jsonReader is a record that reads its own JSON. readJSON sets the
// record from b and reports true, or reports false and leaves the record
// as it was when encoding/json must read it.
type jsonReader interface {
	readJSON(b []byte) bool
}

// jw appends the members of a JSON object.
type jw struct {
	b  []byte
	ok bool
}

func newJW(b []byte) jw { return jw{b: append(b, '{'), ok: true} }

// key appends the member name (with the comma before it when needed).
// name is a constant holding nothing to escape.
func (w *jw) key(name string) {
	if w.b[len(w.b)-1] != '{' {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

func (w *jw) str(name, s string) {
	w.key(name)
	w.b = appendJSONString(w.b, s)
}

// strOmit is str for a field tagged omitempty.
func (w *jw) strOmit(name, s string) {
	if s != "" {
		w.str(name, s)
	}
}

func (w *jw) int(name string, n int64) {
	w.key(name)
	w.b = strconv.AppendInt(w.b, n, 10)
}

func (w *jw) time(name string, t time.Time) {
	w.key(name)
	w.b = append(w.b, '"')
	var err error
	if w.b, err = t.AppendText(w.b); err != nil {
		w.ok = false
	}
	w.b = append(w.b, '"')
}

func (w *jw) cell(name string, c hub.Cell) {
	w.key(name)
	w.b = appendCellJSON(w.b, c)
}

func (w *jw) point(name string, p hub.Point) {
	w.key(name)
	w.b = append(w.b, `{"lat":`...)
	w.float(p.Lat)
	w.b = append(w.b, `,"lng":`...)
	w.float(p.Lng)
	w.b = append(w.b, '}')
}

// float appends f as encoding/json writes a float64.
func (w *jw) float(f float64) {
	if f != f || f > maxFloat || f < -maxFloat {
		w.ok = false // NaN or infinite: json.Marshal reports the error
		return
	}
	abs := f
	if abs < 0 {
		abs = -abs
	}
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, fmt, -1, 64)
	if fmt == 'e' {
		// e-09 becomes e-9
		n := len(w.b)
		if n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

const maxFloat = 1.7976931348623157e308

func (w *jw) end() ([]byte, bool) {
	w.b = append(w.b, '}')
	return w.b, w.ok
}

// appendCellJSON appends a cell as its 15 (or more) lower-case hex digits in
// quotes, as Cell.MarshalText writes it.
func appendCellJSON(b []byte, c hub.Cell) []byte {
	var d [16]byte
	h := strconv.AppendUint(d[:0], uint64(c), 16)
	b = append(b, '"')
	for i := len(h); i < 15; i++ {
		b = append(b, '0')
	}
	b = append(b, h...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as json.Marshal quotes it: HTML's
// <, > and & escaped, control characters escaped, invalid UTF-8 written
// as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jr reads a JSON object in the form jw writes it. Any other form makes
// it fail (ok false), and the caller leaves the bytes to encoding/json.
type jr struct {
	b  []byte
	i  int
	ok bool
}

func newJR(b []byte) jr {
	r := jr{b: b, ok: len(b) >= 2 && b[0] == '{'}
	r.i = 1
	return r
}

// next returns the name of the next member, after its colon, or "" at
// the end of the object (and of the input).
func (r *jr) next() string {
	if !r.ok || r.i >= len(r.b) {
		r.ok = false
		return ""
	}
	switch r.b[r.i] {
	case '}':
		r.i++
		if r.i != len(r.b) {
			r.ok = false
		}
		return ""
	case ',':
		if r.i == 1 {
			r.ok = false
			return ""
		}
		r.i++
	default:
		if r.i != 1 {
			r.ok = false
			return ""
		}
	}
	k := r.raw()
	if !r.ok || r.i >= len(r.b) || r.b[r.i] != ':' || len(k) == 0 {
		r.ok = false
		return ""
	}
	r.i++
	return string(k)
}

// raw returns the content of a string without escapes or control
// characters, in valid UTF-8, and moves past it.
func (r *jr) raw() []byte {
	if !r.ok || r.i >= len(r.b) || r.b[r.i] != '"' {
		r.ok = false
		return nil
	}
	start := r.i + 1
	ascii := true
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			s := r.b[start:j]
			if !ascii && !utf8.Valid(s) {
				r.ok = false
				return nil
			}
			r.i = j + 1
			return s
		case c == '\\' || c < 0x20:
			r.ok = false
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	r.ok = false
	return nil
}

func (r *jr) str() string {
	s := r.raw()
	if !r.ok {
		return ""
	}
	return string(s)
}

func (r *jr) time() time.Time {
	start := r.i
	r.raw()
	if !r.ok {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
		r.ok = false
	}
	return t
}

func (r *jr) cell() hub.Cell {
	s := r.raw()
	if !r.ok {
		return 0
	}
	var c hub.Cell
	if err := c.UnmarshalText(s); err != nil {
		r.ok = false
	}
	return c
}

// number returns the literal of a JSON number and moves past it.
func (r *jr) number() []byte {
	start, j := r.i, r.i
	digits := func() bool {
		k := j
		for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	switch {
	case j < len(r.b) && r.b[j] == '0':
		j++
	case !digits():
		r.ok = false
		return nil
	}
	if j < len(r.b) && r.b[j] == '.' {
		j++
		if !digits() {
			r.ok = false
			return nil
		}
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		if !digits() {
			r.ok = false
			return nil
		}
	}
	r.i = j
	return r.b[start:j]
}

func (r *jr) float() float64 {
	n := r.number()
	if !r.ok {
		return 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		r.ok = false
	}
	return f
}

func (r *jr) int() int {
	n := r.number()
	if !r.ok {
		return 0
	}
	v, err := strconv.ParseInt(string(n), 10, strconv.IntSize)
	if err != nil {
		r.ok = false
	}
	return int(v)
}

// point reads {"lat":..,"lng":..} into p, member by member.
func (r *jr) point(p *hub.Point) {
	if !r.ok || r.i >= len(r.b) || r.b[r.i] != '{' {
		r.ok = false
		return
	}
	r.i++
	for first := true; r.ok; first = false {
		if r.i < len(r.b) && r.b[r.i] == '}' {
			r.i++
			return
		}
		if !first {
			if r.i >= len(r.b) || r.b[r.i] != ',' {
				r.ok = false
				return
			}
			r.i++
		}
		k := r.raw()
		if !r.ok || r.i >= len(r.b) || r.b[r.i] != ':' {
			r.ok = false
			return
		}
		r.i++
		switch string(k) {
		case "lat":
			p.Lat = r.float()
		case "lng":
			p.Lng = r.float()
		default:
			r.ok = false
		}
	}
}

// The records.

func (v reservationRec) appendJSON(b []byte) ([]byte, bool) {
	w := newJW(b)
	w.str("id", v.ID)
	w.str("roundId", v.RoundID)
	w.strOmit("residentId", v.ResidentID)
	w.str("idHash", v.IDHash)
	w.cell("cell", v.Cell)
	w.strOmit("committeeId", v.CommitteeID)
	w.strOmit("districtId", v.DistrictID)
	w.strOmit("fulfilment", string(v.Fulfilment))
	w.strOmit("idempotencyKey", v.IdempotencyKey)
	w.strOmit("entryHash", v.EntryHash)
	w.str("status", string(v.Status))
	w.strOmit("allocationId", v.AllocationID)
	w.time("createdAt", v.CreatedAt)
	w.time("updatedAt", v.UpdatedAt)
	return w.end()
}

func (v *reservationRec) readJSON(b []byte) bool {
	t, r := *v, newJR(b)
	for k := r.next(); r.ok && k != ""; k = r.next() {
		switch k {
		case "id":
			t.ID = r.str()
		case "roundId":
			t.RoundID = r.str()
		case "residentId":
			t.ResidentID = r.str()
		case "idHash":
			t.IDHash = r.str()
		case "cell":
			t.Cell = r.cell()
		case "committeeId":
			t.CommitteeID = r.str()
		case "districtId":
			t.DistrictID = r.str()
		case "fulfilment":
			t.Fulfilment = hub.Fulfilment(r.str())
		case "idempotencyKey":
			t.IdempotencyKey = r.str()
		case "entryHash":
			t.EntryHash = r.str()
		case "status":
			t.Status = hub.ReservationStatus(r.str())
		case "allocationId":
			t.AllocationID = r.str()
		case "createdAt":
			t.CreatedAt = r.time()
		case "updatedAt":
			t.UpdatedAt = r.time()
		default:
			return false
		}
	}
	if r.ok {
		*v = t
	}
	return r.ok
}

func (v allocationRec) appendJSON(b []byte) ([]byte, bool) {
	w := newJW(b)
	w.str("id", v.ID)
	w.strOmit("roundId", v.RoundID)
	w.strOmit("reservationId", v.ReservationID)
	w.strOmit("shortageId", v.ShortageID)
	w.strOmit("residentId", v.ResidentID)
	w.str("pharmacyId", v.PharmacyID)
	w.strOmit("partnerId", v.PartnerID)
	w.str("sku", string(v.SKU))
	w.int("quantity", int64(v.Quantity))
	w.cell("cell", v.Cell)
	w.time("slot", v.Slot)
	w.strOmit("codeHash", v.CodeHash)
	w.str("status", string(v.Status))
	w.time("expiresAt", v.ExpiresAt)
	w.time("createdAt", v.CreatedAt)
	w.time("updatedAt", v.UpdatedAt)
	return w.end()
}

func (v *allocationRec) readJSON(b []byte) bool {
	t, r := *v, newJR(b)
	for k := r.next(); r.ok && k != ""; k = r.next() {
		switch k {
		case "id":
			t.ID = r.str()
		case "roundId":
			t.RoundID = r.str()
		case "reservationId":
			t.ReservationID = r.str()
		case "shortageId":
			t.ShortageID = r.str()
		case "residentId":
			t.ResidentID = r.str()
		case "pharmacyId":
			t.PharmacyID = r.str()
		case "partnerId":
			t.PartnerID = r.str()
		case "sku":
			t.SKU = hub.SKU(r.str())
		case "quantity":
			t.Quantity = r.int()
		case "cell":
			t.Cell = r.cell()
		case "slot":
			t.Slot = r.time()
		case "codeHash":
			t.CodeHash = r.str()
		case "status":
			t.Status = hub.AllocationStatus(r.str())
		case "expiresAt":
			t.ExpiresAt = r.time()
		case "createdAt":
			t.CreatedAt = r.time()
		case "updatedAt":
			t.UpdatedAt = r.time()
		default:
			return false
		}
	}
	if r.ok {
		*v = t
	}
	return r.ok
}

func (v pharmacyRec) appendJSON(b []byte) ([]byte, bool) {
	w := newJW(b)
	w.str("id", v.ID)
	w.strOmit("name", v.Name)
	w.strOmit("phone", v.Phone)
	w.strOmit("address", v.Address)
	w.point("loc", v.Location)
	w.cell("cell", v.Cell)
	w.strOmit("districtId", v.DistrictID)
	w.strOmit("hours", v.Hours)
	if len(v.Stock) > 0 {
		w.key("stock")
		w.b = append(w.b, '{')
		for i, sku := range sortedSKUs(v.Stock) {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = appendJSONString(w.b, string(sku))
			w.b = append(w.b, ':')
			w.b = strconv.AppendInt(w.b, int64(v.Stock[sku]), 10)
		}
		w.b = append(w.b, '}')
	}
	w.time("updatedAt", v.UpdatedAt)
	return w.end()
}

func (v ledgerRec) appendJSON(b []byte) ([]byte, bool) {
	w := newJW(b)
	w.str("sku", string(v.SKU))
	w.int("delta", int64(v.Delta))
	w.int("after", int64(v.After))
	w.strOmit("reason", v.Reason)
	w.time("at", v.At)
	return w.end()
}

func (v residentRec) appendJSON(b []byte) ([]byte, bool) {
	w := newJW(b)
	w.str("id", v.ID)
	w.strOmit("name", v.Name)
	w.str("idHash", v.IDHash)
	w.strOmit("idMasked", v.IDMasked)
	w.strOmit("phone", v.Phone)
	w.strOmit("address", v.Address)
	w.point("loc", v.Location)
	w.cell("cell", v.Cell)
	w.strOmit("committeeId", v.CommitteeID)
	w.strOmit("districtId", v.DistrictID)
	w.time("registeredAt", v.RegisteredAt)
	return w.end()
}

func (v *residentRec) readJSON(b []byte) bool {
	t, r := *v, newJR(b)
	for k := r.next(); r.ok && k != ""; k = r.next() {
		switch k {
		case "id":
			t.ID = r.str()
		case "name":
			t.Name = r.str()
		case "idHash":
			t.IDHash = r.str()
		case "idMasked":
			t.IDMasked = r.str()
		case "phone":
			t.Phone = r.str()
		case "address":
			t.Address = r.str()
		case "loc":
			r.point(&t.Location)
		case "cell":
			t.Cell = r.cell()
		case "committeeId":
			t.CommitteeID = r.str()
		case "districtId":
			t.DistrictID = r.str()
		case "registeredAt":
			t.RegisteredAt = r.time()
		default:
			return false
		}
	}
	if r.ok {
		*v = t
	}
	return r.ok
}
