package codes

import (
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/hub"
)

// Facts are what a health code's colour follows from: the latest
// declaration's answers, the risk level of the home cell now, and the
// resident's case marks.
type Facts struct {
	Symptoms        []string
	Temperature     float64 // °C; 0 when not measured
	TravelFromRisk  bool
	ContactWithCase bool
	CellLevel       hub.RiskLevel // "" when no risk area covers the home cell
	Case            hub.CaseStatus
	Now             time.Time
}

// Rule is one row of the colour table: when it matches, the code is at
// least Colour, and Name is recorded among the reasons.
type Rule struct {
	Name   string     // stable: recorded in Declaration.Reasons and HealthCode.Reasons
	Colour hub.Colour // the least colour a match gives; GREEN rules only annotate
	When   string     // the condition, for people
	Reason string     // why, for people
	Match  func(r *Rules, f *Facts) bool
}

// Rules is the colour table and the thresholds its rows read. The colour
// is the most restricted of the matching rows' colours, GREEN when none
// matches, and every matching row's name is a reason.
type Rules struct {
	FeverC     float64       // a fever at or above this temperature; 37.3
	HighFeverC float64       // a high fever at or above this; 38.5
	CaseFor    time.Duration // a case is RED for this long after being marked; 14 days
	ContactFor time.Duration // a traced contact is YELLOW for this long after the contact; 14 days
	// DeclarationFor is how long a declaration counts as current
	// (GateColour); 7 days.
	DeclarationFor time.Duration
	Table          []Rule
}

// Rule names: the reasons recorded with a colour.
const (
	RuleConfirmedCase     = "CONFIRMED_CASE"
	RuleHighFever         = "HIGH_FEVER"
	RuleFeverWithSymptoms = "FEVER_WITH_SYMPTOMS"
	RuleCloseContact      = "CLOSE_CONTACT"
	RuleHighRiskCell      = "HIGH_RISK_CELL"
	RuleFever             = "FEVER"
	RuleSymptoms          = "SYMPTOMS"
	RuleTravelFromRisk    = "TRAVEL_FROM_RISK"
	RuleTracedContact     = "TRACED_CONTACT"
	RuleMediumRiskCell    = "MEDIUM_RISK_CELL"
	RuleLowRiskCell       = "LOW_RISK_CELL"
)

// DefaultTable returns the colour table the hub uses, one row per rule,
// RED rows first. It is the table of the package documentation.
func DefaultTable() []Rule {
	return []Rule{
		{RuleConfirmedCase, hub.Red, "marked a confirmed case, for CaseFor after the marking",
			"a confirmed case is isolated",
			func(r *Rules, f *Facts) bool {
				return !f.Case.CaseAt.IsZero() && f.Now.Before(f.Case.CaseAt.Add(r.CaseFor))
			}},
		{RuleHighFever, hub.Red, "temperature >= HighFeverC (38.5 °C)",
			"a high fever needs a fever clinic before going anywhere else",
			func(r *Rules, f *Facts) bool { return f.Temperature >= r.HighFeverC }},
		{RuleFeverWithSymptoms, hub.Red, "temperature >= FeverC (37.3 °C) and at least one symptom",
			"fever with symptoms is a suspected case",
			func(r *Rules, f *Facts) bool { return f.Temperature >= r.FeverC && len(f.Symptoms) > 0 }},
		{RuleCloseContact, hub.Red, "declared close contact with a confirmed case",
			"a close contact is quarantined for 14 days (the 2020 practice)",
			func(_ *Rules, f *Facts) bool { return f.ContactWithCase }},
		{RuleHighRiskCell, hub.Red, "home cell is HIGH in a risk area in force",
			"a person takes at least the colour of the cell they live in",
			func(_ *Rules, f *Facts) bool { return f.CellLevel == hub.RiskHigh }},
		{RuleFever, hub.Yellow, "FeverC <= temperature < HighFeverC",
			"a fever alone means home observation",
			func(r *Rules, f *Facts) bool { return f.Temperature >= r.FeverC && f.Temperature < r.HighFeverC }},
		{RuleSymptoms, hub.Yellow, "at least one symptom",
			"symptoms alone mean home observation",
			func(_ *Rules, f *Facts) bool { return len(f.Symptoms) > 0 }},
		{RuleTravelFromRisk, hub.Yellow, "declared travel from a risk area in the last 14 days",
			"travellers from risk areas are watched for 14 days",
			func(_ *Rules, f *Facts) bool { return f.TravelFromRisk }},
		{RuleTracedContact, hub.Yellow, "scanned near a case (contacts), for ContactFor after the contact",
			"being near a case is weaker evidence than a close contact: observation, not quarantine",
			func(r *Rules, f *Facts) bool {
				return !f.Case.ContactAt.IsZero() && f.Now.Before(f.Case.ContactAt.Add(r.ContactFor))
			}},
		{RuleMediumRiskCell, hub.Yellow, "home cell is MEDIUM in a risk area in force",
			"a person takes at least the colour of the cell they live in",
			func(_ *Rules, f *Facts) bool { return f.CellLevel == hub.RiskMedium }},
		{RuleLowRiskCell, hub.Green, "home cell is LOW in a risk area in force",
			"a low-risk ring restricts nobody; it is recorded so the colour can be explained",
			func(_ *Rules, f *Facts) bool { return f.CellLevel == hub.RiskLow }},
	}
}

// DefaultRules returns the default thresholds and table.
func DefaultRules() *Rules {
	return &Rules{
		FeverC:         37.3,
		HighFeverC:     38.5,
		CaseFor:        14 * 24 * time.Hour,
		ContactFor:     14 * 24 * time.Hour,
		DeclarationFor: 7 * 24 * time.Hour,
		Table:          DefaultTable(),
	}
}

// Result is the outcome of the rules: the colour and the names of every
// rule that matched, in table order.
type Result struct {
	Colour  hub.Colour
	Reasons []string
}

// Evaluate applies the table to the facts.
func (r *Rules) Evaluate(f Facts) Result {
	res := Result{Colour: hub.Green}
	for i := range r.Table {
		row := &r.Table[i]
		if row.Match(r, &f) {
			res.Colour = hub.MaxColour(res.Colour, row.Colour)
			res.Reasons = append(res.Reasons, row.Name)
		}
	}
	return res
}

// Rule returns the row named name.
func (r *Rules) Rule(name string) (Rule, bool) {
	for _, row := range r.Table {
		if row.Name == name {
			return row, true
		}
	}
	return Rule{}, false
}

// The symptoms a declaration may name.
const (
	SymptomFever          = "FEVER"
	SymptomCough          = "COUGH"
	SymptomSoreThroat     = "SORE_THROAT"
	SymptomBreathless     = "SHORTNESS_OF_BREATH"
	SymptomFatigue        = "FATIGUE"
	SymptomMuscleAche     = "MUSCLE_ACHE"
	SymptomHeadache       = "HEADACHE"
	SymptomDiarrhoea      = "DIARRHOEA"
	SymptomLossOfSmell    = "LOSS_OF_TASTE_OR_SMELL"
	SymptomRunnyNose      = "RUNNY_NOSE"
	SymptomConjunctivitis = "CONJUNCTIVITIS"
)

// Symptoms returns the symptoms a declaration may name, sorted.
func Symptoms() []string {
	s := []string{
		SymptomFever, SymptomCough, SymptomSoreThroat, SymptomBreathless, SymptomFatigue,
		SymptomMuscleAche, SymptomHeadache, SymptomDiarrhoea, SymptomLossOfSmell,
		SymptomRunnyNose, SymptomConjunctivitis,
	}
	slices.Sort(s)
	return s
}

// NormalizeSymptoms returns the symptoms upper-cased, with spaces and
// dashes as underscores, sorted and without repeats. An unknown symptom
// is an EINVALID error naming it.
func NormalizeSymptoms(in []string) ([]string, error) {
	known := Symptoms()
	out := make([]string, 0, len(in))
	for _, s := range in {
		n := strings.ToUpper(strings.TrimSpace(s))
		n = strings.NewReplacer(" ", "_", "-", "_").Replace(n)
		if n == "" {
			continue
		}
		if _, ok := slices.BinarySearch(known, n); !ok {
			return nil, hub.Errorf(hub.EINVALID, "unknown symptom %q (known: %s)", hub.Clip(s), hub.Said(strings.Join(known, ", ")))
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
