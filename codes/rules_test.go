package codes_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/hub"
)

var now = time.Date(2020, 2, 10, 8, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestRules(t *testing.T) {
	rules := codes.DefaultRules()
	tests := []struct {
		name        string
		give        codes.Facts
		wantColour  hub.Colour
		wantReasons []string
	}{
		{"nothing", codes.Facts{}, hub.Green, nil},
		{"normal temperature", codes.Facts{Temperature: 36.6}, hub.Green, nil},

		// One row per rule, the rule alone.
		{codes.RuleConfirmedCase, codes.Facts{Case: hub.CaseStatus{CaseAt: now.Add(-13 * day)}}, hub.Red, []string{codes.RuleConfirmedCase}},
		{codes.RuleHighFever, codes.Facts{Temperature: 38.5}, hub.Red, []string{codes.RuleHighFever}},
		{codes.RuleFeverWithSymptoms, codes.Facts{Temperature: 37.3, Symptoms: []string{codes.SymptomCough}}, hub.Red,
			[]string{codes.RuleFeverWithSymptoms, codes.RuleFever, codes.RuleSymptoms}},
		{codes.RuleCloseContact, codes.Facts{ContactWithCase: true}, hub.Red, []string{codes.RuleCloseContact}},
		{codes.RuleHighRiskCell, codes.Facts{CellLevel: hub.RiskHigh}, hub.Red, []string{codes.RuleHighRiskCell}},
		{codes.RuleFever, codes.Facts{Temperature: 37.3}, hub.Yellow, []string{codes.RuleFever}},
		{codes.RuleSymptoms, codes.Facts{Symptoms: []string{codes.SymptomFatigue}}, hub.Yellow, []string{codes.RuleSymptoms}},
		{codes.RuleTravelFromRisk, codes.Facts{TravelFromRisk: true}, hub.Yellow, []string{codes.RuleTravelFromRisk}},
		{codes.RuleTracedContact, codes.Facts{Case: hub.CaseStatus{ContactAt: now.Add(-13 * day), ContactOf: "r1"}}, hub.Yellow, []string{codes.RuleTracedContact}},
		{codes.RuleMediumRiskCell, codes.Facts{CellLevel: hub.RiskMedium}, hub.Yellow, []string{codes.RuleMediumRiskCell}},
		{codes.RuleLowRiskCell, codes.Facts{CellLevel: hub.RiskLow}, hub.Green, []string{codes.RuleLowRiskCell}},

		// Edges.
		{"just below the fever line", codes.Facts{Temperature: 37.2}, hub.Green, nil},
		{"just below the high-fever line", codes.Facts{Temperature: 38.4}, hub.Yellow, []string{codes.RuleFever}},
		{"high fever with symptoms", codes.Facts{Temperature: 39, Symptoms: []string{codes.SymptomCough}}, hub.Red,
			[]string{codes.RuleHighFever, codes.RuleFeverWithSymptoms, codes.RuleSymptoms}},
		{"case over", codes.Facts{Case: hub.CaseStatus{CaseAt: now.Add(-14 * day)}}, hub.Green, nil},
		{"traced contact over", codes.Facts{Case: hub.CaseStatus{ContactAt: now.Add(-14 * day)}}, hub.Green, nil},

		// Several: the most restricted colour, every reason.
		{"traveller in a high-risk cell", codes.Facts{TravelFromRisk: true, CellLevel: hub.RiskHigh}, hub.Red,
			[]string{codes.RuleHighRiskCell, codes.RuleTravelFromRisk}},
		{"healthy in a medium ring takes the cell's colour", codes.Facts{Temperature: 36.5, CellLevel: hub.RiskMedium}, hub.Yellow,
			[]string{codes.RuleMediumRiskCell}},
		{"symptoms and a traced contact", codes.Facts{Symptoms: []string{codes.SymptomCough}, Case: hub.CaseStatus{ContactAt: now}}, hub.Yellow,
			[]string{codes.RuleSymptoms, codes.RuleTracedContact}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.give
			f.Now = now
			got := rules.Evaluate(f)
			if got.Colour != tt.wantColour || !slices.Equal(got.Reasons, tt.wantReasons) {
				t.Fatalf("Evaluate = %s %v, want %s %v", got.Colour, got.Reasons, tt.wantColour, tt.wantReasons)
			}
			for _, r := range got.Reasons {
				covered[r] = true
			}
		})
	}
	for _, row := range rules.Table {
		if !covered[row.Name] {
			t.Errorf("rule %s has no test row", row.Name)
		}
	}
}

func TestRulesTable(t *testing.T) {
	rules := codes.DefaultRules()
	names := map[string]bool{}
	for _, row := range rules.Table {
		if row.Name == "" || row.When == "" || row.Reason == "" || row.Match == nil || !row.Colour.Valid() {
			t.Errorf("rule %+v is incomplete", row)
		}
		if names[row.Name] {
			t.Errorf("rule %s appears twice", row.Name)
		}
		names[row.Name] = true
		got, ok := rules.Rule(row.Name)
		if !ok || got.Reason != row.Reason {
			t.Errorf("Rule(%s) = %+v, %v", row.Name, got, ok)
		}
	}
	if _, ok := rules.Rule("NO_SUCH_RULE"); ok {
		t.Error("Rule of an unknown name found one")
	}
}

func TestRulesThresholds(t *testing.T) {
	// The table reads the thresholds: a stricter city moves them.
	rules := codes.DefaultRules()
	rules.FeverC, rules.HighFeverC, rules.ContactFor = 37.0, 38.0, 7*day
	for _, tt := range []struct {
		give codes.Facts
		want hub.Colour
	}{
		{codes.Facts{Temperature: 37.1}, hub.Yellow},
		{codes.Facts{Temperature: 38.0}, hub.Red},
		{codes.Facts{Case: hub.CaseStatus{ContactAt: now.Add(-8 * day)}}, hub.Green},
	} {
		tt.give.Now = now
		if got := rules.Evaluate(tt.give).Colour; got != tt.want {
			t.Errorf("Evaluate(%+v) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

func TestScanResult(t *testing.T) {
	rules := codes.DefaultRules()
	tests := []struct {
		colour hub.Colour
		temp   float64
		want   hub.ScanResult
	}{
		{hub.Green, 0, hub.ScanPass},
		{hub.Green, 37.2, hub.ScanPass},
		{hub.Green, 37.3, hub.ScanFever},
		{hub.Yellow, 36.5, hub.ScanDeny},
		{hub.Red, 0, hub.ScanDeny},
		{hub.Red, 39, hub.ScanFever},
	}
	for _, tt := range tests {
		if got := rules.ScanResult(tt.colour, tt.temp); got != tt.want {
			t.Errorf("ScanResult(%s, %v) = %s, want %s", tt.colour, tt.temp, got, tt.want)
		}
	}
}

func TestNormalizeSymptoms(t *testing.T) {
	got, err := codes.NormalizeSymptoms([]string{" sore throat", "COUGH", "cough", "", "loss-of-taste-or-smell"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{codes.SymptomCough, codes.SymptomLossOfSmell, codes.SymptomSoreThroat}
	if !slices.Equal(got, want) {
		t.Fatalf("NormalizeSymptoms = %v, want %v", got, want)
	}
	if _, err := codes.NormalizeSymptoms([]string{"cough", "feeling sad"}); hub.ErrorCode(err) != hub.EINVALID {
		t.Fatalf("an unknown symptom: %v, want EINVALID", err)
	}
}
