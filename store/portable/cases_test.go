package portable

import (
	"reflect"
	"testing"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// TestCaseRecordsOfOneContact: a case record written before the store
// kept every case of a contact (its latest contact alone, as
// records.golden held it) reads as a contact of that one case, and marks
// and expiries on it keep the cases in order.
func TestCaseRecordsOfOneContact(t *testing.T) {
	at := func(d int) time.Time {
		return time.Date(2020, 2, 6, 9, 30, 15, 123456789, time.UTC).Add(time.Duration(d) * 24 * time.Hour)
	}
	old := []byte(`{"caseAt":"2020-02-06T09:30:15.123456789Z","contactAt":"2020-02-07T21:30:15.123456789Z","contactOf":"r2"}`)
	var r caseRec
	if err := decode("case", nil, old, &r); err != nil {
		t.Fatal(err)
	}
	later := time.Date(2020, 2, 7, 21, 30, 15, 123456789, time.UTC)
	want := hub.CaseStatus{CaseAt: at(0), ContactAt: later, ContactOf: "r2", Contacts: []hub.CaseContact{{CaseID: "r2", At: later}}}
	if got := r.domain(); !reflect.DeepEqual(got, want) {
		t.Fatalf("an old record:\n got %+v\nwant %+v", got, want)
	}

	type contact = hub.CaseContact
	c := func(id string, at time.Time) contact { return contact{CaseID: id, At: at} }
	tests := []struct {
		name   string
		give   func(r *caseRec) bool
		want   []contact
		latest string
	}{
		{"an earlier contact of another case", func(r *caseRec) bool { return r.addContact("r1", at(1)) },
			[]contact{c("r1", at(1)), c("r2", later)}, "r2"},
		{"an earlier contact of the same case", func(r *caseRec) bool { return r.addContact("r2", at(1)) },
			nil, "r2"},
		{"a later contact of the same case", func(r *caseRec) bool { return r.addContact("r2", at(5)) },
			[]contact{c("r2", at(5))}, "r2"},
		{"a later contact of another case", func(r *caseRec) bool { return r.addContact("r9", at(5)) },
			[]contact{c("r2", later), c("r9", at(5))}, "r9"},
		{"expiry before every contact", func(r *caseRec) bool { return r.expireContacts(at(1)) },
			nil, "r2"},
		{"expiry of every contact", func(r *caseRec) bool { return r.expireContacts(at(3)) },
			[]contact{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r caseRec
			if err := decode("case", nil, old, &r); err != nil {
				t.Fatal(err)
			}
			changed := tt.give(&r)
			if changed != (tt.want != nil) {
				t.Fatalf("changed %v, want %v", changed, tt.want != nil)
			}
			v, err := encode("case", r)
			if err != nil {
				t.Fatal(err)
			}
			var back caseRec
			if err := decode("case", nil, v, &back); err != nil {
				t.Fatal(err)
			}
			got := back.domain()
			want := tt.want
			if want == nil {
				want = []contact{c("r2", later)}
			}
			if len(want) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(got.Contacts, want) || got.ContactOf != tt.latest {
				t.Fatalf("after the change: %+v, want contacts %+v, the latest of %q", got, want, tt.latest)
			}
			if got.CaseAt != at(0) {
				t.Fatalf("the case mark moved: %v", got.CaseAt)
			}
		})
	}
}
