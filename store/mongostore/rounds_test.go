package mongostore

import (
	"reflect"
	"testing"

	"github.com/gridhub/gridhub/hub"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRoundFromFilter: a guarded round update matches the round only in
// one of the statuses it may move from, and only while its commitment is
// none (absent or empty) or the one the update keeps.
func TestRoundFromFilter(t *testing.T) {
	none := bson.A{
		bson.D{{Key: "commitment", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "commitment", Value: ""}},
	}
	tests := []struct {
		name       string
		commitment string
		from       []hub.RoundStatus
		wantIn     bson.A
		wantOr     bson.A
	}{
		{"open, no commitment", "", []hub.RoundStatus{hub.RoundOpen}, bson.A{"OPEN"}, none},
		{"open or closed, committed", "c0ffee", []hub.RoundStatus{hub.RoundOpen, hub.RoundClosed}, bson.A{"OPEN", "CLOSED"},
			append(append(bson.A{}, none...), bson.D{{Key: "commitment", Value: "c0ffee"}})},
		{"drawn", "beef", []hub.RoundStatus{hub.RoundDrawn}, bson.A{"DRAWN"},
			append(append(bson.A{}, none...), bson.D{{Key: "commitment", Value: "beef"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundFromFilter("round1", tt.commitment, tt.from)
			want := bson.D{
				{Key: "_id", Value: "round1"},
				{Key: "status", Value: bson.D{{Key: "$in", Value: tt.wantIn}}},
				{Key: "$or", Value: tt.wantOr},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("roundFromFilter = %v, want %v", got, want)
			}
		})
	}
}
