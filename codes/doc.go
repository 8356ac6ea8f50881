// Package codes is health codes as the hub runs them: declarations and the
// colour rules, risk areas, checkpoint scans, trajectories and contacts,
// and the Service that ties them to the store, the signer (package
// codes/token) and the event broker. It knows nothing of GraphQL or HTTP.
//
// # Colours
//
// A resident's colour follows from facts (Facts): their latest
// declaration, the risk level of their home cell now, and their case
// marks. Every rule of the table below that matches gives at least its
// colour; the code takes the most restricted one (GREEN when none
// matches), and the names of all matching rules are recorded as the
// reasons, so every colour can be explained. DefaultRules holds the table
// and its thresholds; each row is tested on its own.
//
//	rule                 colour  when
//	CONFIRMED_CASE       RED     marked a confirmed case, for CaseFor (14 days) after the marking
//	HIGH_FEVER           RED     temperature >= HighFeverC (38.5 °C)
//	FEVER_WITH_SYMPTOMS  RED     temperature >= FeverC (37.3 °C) and at least one symptom (a suspected case)
//	CLOSE_CONTACT        RED     declared close contact with a confirmed case (14-day quarantine, the 2020 practice)
//	HIGH_RISK_CELL       RED     home cell HIGH in a risk area in force
//	FEVER                YELLOW  FeverC <= temperature < HighFeverC
//	SYMPTOMS             YELLOW  at least one symptom
//	TRAVEL_FROM_RISK     YELLOW  declared travel from a risk area in the last 14 days
//	TRACED_CONTACT       YELLOW  scanned near a case (FindContacts), for ContactFor (14 days) after the contact
//	MEDIUM_RISK_CELL     YELLOW  home cell MEDIUM in a risk area in force
//	LOW_RISK_CELL        GREEN   home cell LOW in a risk area in force (recorded, restricts nobody)
//
// Contact with a case is two rules, on purpose: a close contact the person
// declares (household, colleague) is RED, as close contacts were
// quarantined in 2020; a contact the hub traces from scans (same cell or a
// neighbour within half an hour) is weaker evidence and YELLOW. The cell
// rules make a person take at least their cell's colour.
//
// # Risk areas
//
// A risk area is a cell marked HIGH and k rings around it (0 to
// hub.MaxRiskRings): rings 1 to ⌈k/2⌉ are MEDIUM, the rest LOW (LevelAt).
// A cell covered by several areas in force takes the highest level. Its ID
// is the centre cell, so marking a centre again replaces the area. Marking
// or lifting an area computes the colours of its residents again, so a
// colour that followed from an area falls back to what the other facts
// say once it is lifted.
//
// # Codes
//
// A code signs the current colour (package codes/token describes the
// format and the trust list). Service.Code issues a fresh one on demand,
// valid for the issuer's lifetime (24 hours by default); when a colour
// changes the service publishes COLOUR_CHANGED, the resident's next code
// carries the new colour, and the old one is SUPERSEDED for any online
// check (Service.VerifyCode, Service.RecordScan) and expires within a day
// everywhere else.
//
// # Scans, trajectories and contacts
//
// A scan records checkpoint, cell, time, temperature, the colour shown and
// the result (Rules.ScanResult: FEVER at or above FeverC, else DENY unless
// GREEN, else PASS); a FEVER scan is a FEVER_SCAN event. A trajectory is
// one key range of the store's (person, time) index; contacts are, for
// each of a case's scans, the scans in its cell and the six around it
// within the window, read from the store's (cell, time) index with the
// windows of each cell merged (FindContacts). Every read of a trajectory
// or of contacts through the Service is in the audit trail with who read
// whose data and why; without a stated purpose there is no read.
package codes
