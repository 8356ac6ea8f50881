package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadme runs every GraphQL example of README.md, in order, against a
// freshly seeded demo city, as a newcomer would paste them into GraphiQL.
//
// The README's convention, which this test reads:
//
//   - Every ```graphql block follows an HTML comment naming the token it
//     needs: <!-- as: ROLE [SCOPE] -->, e.g. <!-- as: DISTRICT tpe-TP01 -->
//     (ADMIN has no scope). The prose around the block names it too.
//   - A block holds one or more operations (query, mutation or
//     subscription, with or without the keyword), separated only by
//     whitespace and # comments; they run one after another.
//   - A value that comes from an earlier answer is written in its real
//     shape and announced by a comment in the block:
//     "# LITERAL stands for the FIELD that OPERATION answered", e.g.
//     "# G40R-40M3-0E20-9 stands for the pickupCode that reserve answered".
//     From that comment on, LITERAL in the README's operations is replaced
//     by the value of the first FIELD in the latest answer of the root
//     field OPERATION (the latest at the time the operation runs, so a
//     second declareHealth gives the second token).
//
// Queries and mutations must answer without errors and with data: every
// root field not null, and every list in the answer not empty, but those
// in mayBeEmpty (with the reason). Subscriptions are opened over
// WebSocket (graphql-transport-ws); each must be accepted and deliver an
// event after a mutation that concerns it (trigger).
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseReadmeExamples(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	ops := 0
	for _, b := range blocks {
		ops += len(b.ops)
	}
	if len(blocks) < 10 || ops < 30 {
		t.Fatalf("README.md: %d graphql blocks, %d operations: the parser missed some", len(blocks), ops)
	}

	// 2,000 residents (the first 2,000 of the 50,000 of make run: the
	// demo draws them in order) hold every resident the README names;
	// GRIDHUB_README_RESIDENTS=50000 runs the examples against make run's
	// whole demo (about ten seconds more, a minute with -race).
	residents := "2000"
	if n := os.Getenv("GRIDHUB_README_RESIDENTS"); n != "" {
		residents = n
	}
	start := time.Now()
	h := startHub(t, t.TempDir(), "--demo", "--demo-residents", residents)
	t.Logf("demo city seeded and hub started in %s", time.Since(start).Round(time.Millisecond))
	admin := h.as(t, "ADMIN", "")

	r := &readmeRun{t: t, h: h, admin: admin, tokens: map[string]client{}, answers: map[string]any{}}
	for _, b := range blocks {
		c := r.client(b.role, b.scope)
		for _, op := range b.ops {
			name := fmt.Sprintf("line %d: %s", op.line, clipOp(op.text))
			text, err := r.substitute(op)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if op.kind == "subscription" {
				r.subscribe(name, b, text)
				continue
			}
			res := gql(t, c, text, nil)
			if len(res.Errors) > 0 {
				t.Errorf("%s as %s %s: errors %+v", name, b.role, b.scope, res.Errors)
				continue
			}
			t.Logf("%s as %s %s: %s", name, b.role, b.scope, clipOp(string(res.Data)))
			var data map[string]any
			if err := json.Unmarshal(res.Data, &data); err != nil || len(data) == 0 {
				t.Errorf("%s: no data (%s)", name, res.Data)
				continue
			}
			for field, v := range data {
				r.answers[field] = v
				if v == nil {
					t.Errorf("%s: %s is null", name, field)
				}
				for _, p := range emptyLists(field, v) {
					if why, ok := mayBeEmpty[p]; ok {
						t.Logf("%s: %s is empty (%s)", name, p, why)
						continue
					}
					t.Errorf("%s: %s is an empty list, want data: %s", name, p, clipOp(string(res.Data)))
				}
			}
		}
	}
	t.Logf("%d blocks, %d operations in %s", len(blocks), ops, time.Since(start).Round(time.Millisecond))

	// What the examples' text promises of the fields they use.
	window := func(extra string) string {
		return `mutation { openRound(input: {name: "R", sku: MASK_ADULT, perPerson: 1, mode: FIRST_COME` + extra + `}) { opens closes } }`
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name, give string
		as         client
		want       string
	}{
		{"an unknown partner", `{ allocations(partnerId: "courier-404") { edges { cursor } } }`, admin, "NOT_FOUND"},
		{"an unknown partner, by status", `{ allocations(partnerId: "courier-404", status: DELIVERING, first: 5) { edges { cursor } } }`, admin, "NOT_FOUND"},
		{"an unknown district's checkpoints", `{ checkpoints(districtId: "tpe-TP99") { id } }`, admin, "NOT_FOUND"},
		{"another district's checkpoints", `{ checkpoints(districtId: "tpe-TP02") { id } }`, r.client("DISTRICT", "tpe-TP01"), "FORBIDDEN"},
		{"closes and openForMinutes", window(`, closes: "` + soon + `", openForMinutes: 60`), admin, "BAD_USER_INPUT"},
		{"neither closes nor openForMinutes", window(``), admin, "BAD_USER_INPUT"},
		{"openForMinutes 0", window(`, openForMinutes: 0`), admin, "BAD_USER_INPUT"},
		{"openForMinutes -5", window(`, openForMinutes: -5`), admin, "BAD_USER_INPUT"},
		{"openForMinutes over 30 days", window(`, openForMinutes: 43201`), admin, "BAD_USER_INPUT"},
		{"a window over before now", window(`, opens: "` + time.Now().Add(-3*time.Hour).UTC().Format(time.RFC3339) + `", openForMinutes: 60`), admin, "BAD_USER_INPUT"},
		{"closes in the past", window(`, closes: "` + past + `"`), admin, "BAD_USER_INPUT"},
	}
	for _, tt := range tests {
		if got := gql(t, tt.as, tt.give, nil); got.code() != tt.want {
			t.Errorf("%s: code %q, want %s (%+v)", tt.name, got.code(), tt.want, got.Errors)
		}
	}
	// openForMinutes counts from now, or from opens.
	for _, tt := range []struct {
		give     string
		from     time.Time
		wantSpan time.Duration
	}{
		{`, openForMinutes: 90`, time.Now(), 90 * time.Minute},
		{`, opens: "` + past + `", openForMinutes: 120`, time.Now().Add(-time.Hour), 120 * time.Minute},
		{`, closes: "` + soon + `"`, time.Now(), time.Hour},
	} {
		var got struct {
			OpenRound struct{ Opens, Closes time.Time }
		}
		must(t, admin, window(tt.give), nil, &got)
		o, c := got.OpenRound.Opens, got.OpenRound.Closes
		if d := o.Sub(tt.from); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("openRound(%s): opens %s, want about %s", tt.give, o, tt.from)
		}
		if d := c.Sub(o) - tt.wantSpan; d < -5*time.Second || d > 5*time.Second {
			t.Errorf("openRound(%s): opens %s, closes %s, want %s apart", tt.give, o, c, tt.wantSpan)
		}
	}
}

// TestReadmeParser: how the README's examples are read.
func TestReadmeParser(t *testing.T) {
	fence := "```"
	tests := []struct {
		name, give string
		want       []string // per operation: role scope | kind | text | substitutions
		wantErr    string
	}{
		{
			name: "several operations, comments, keywords",
			give: "<!-- as: DISTRICT tpe-TP01 -->\n" + fence + "graphql\n# a comment { with braces }\n{ a { b } }\n" +
				"mutation { c(x: \"#}{\") { d } }   # trailing { comment\nquery {\n  e\n}\nsubscription { f(g: \"h\") { i } }\n" + fence + "\n",
			want: []string{
				`DISTRICT tpe-TP01|query|{ a { b } }|`,
				`DISTRICT tpe-TP01|mutation|mutation { c(x: "#}{") { d } }|`,
				"DISTRICT tpe-TP01|query|query {\n  e\n}|",
				`DISTRICT tpe-TP01|subscription|subscription { f(g: "h") { i } }|`,
			},
		},
		{
			name: "substitutions hold from their comment on, across blocks",
			give: "<!-- as: ADMIN -->\n" + fence + "graphql\n{ a }\n# X-1 stands for the code that reserve answered\n{ b(c: \"X-1\") }\n" + fence +
				"\ntext\n<!-- as: PHARMACY 59 -->\n" + fence + "graphql\n{ d(e: \"X-1\") }\n" + fence + "\n",
			want: []string{
				`ADMIN |query|{ a }|`,
				`ADMIN |query|{ b(c: "X-1") }|X-1=reserve.code`,
				`PHARMACY 59|query|{ d(e: "X-1") }|X-1=reserve.code`,
			},
		},
		{name: "no token", give: "text\n\n" + fence + "graphql\n{ a }\n" + fence + "\n", wantErr: "without <!-- as:"},
		{name: "a scope for ADMIN", give: "<!-- as: ADMIN x -->\n" + fence + "graphql\n{ a }\n" + fence + "\n", wantErr: "want a role and a scope"},
		{name: "no scope", give: "<!-- as: DISTRICT -->\n" + fence + "graphql\n{ a }\n" + fence + "\n", wantErr: "want a role and a scope"},
		{name: "an unknown role", give: "<!-- as: MAYOR x -->\n" + fence + "graphql\n{ a }\n" + fence + "\n", wantErr: "want a role and a scope"},
		{name: "unbalanced", give: "<!-- as: ADMIN -->\n" + fence + "graphql\n{ a { b }\n" + fence + "\n", wantErr: "unbalanced"},
		{name: "too many closing", give: "<!-- as: ADMIN -->\n" + fence + "graphql\n{ a } }\n" + fence + "\n", wantErr: "unbalanced"},
		{name: "no end", give: "<!-- as: ADMIN -->\n" + fence + "graphql\n{ a }\n", wantErr: "does not end"},
		{name: "empty", give: "<!-- as: ADMIN -->\n" + fence + "graphql\n# nothing\n" + fence + "\n", wantErr: "without an operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, err := parseReadmeExamples(tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range blocks {
				for _, op := range b.ops {
					var subs []string
					for _, s := range op.subst {
						subs = append(subs, s.literal+"="+s.op+"."+s.field)
					}
					got = append(got, b.role+" "+b.scope+"|"+op.kind+"|"+op.text+"|"+strings.Join(subs, ","))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("operations\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// mayBeEmpty lists the answers' lists (by path, root field first) that
// may be empty on a fresh demo, with the reason. None is today: the demo
// day gives every example something to show (stock by the station, the
// partner's deliveries, declarations and scans), and the README's own
// writes give the rest (the second scan at the same gate gives contacts).
// A list that may be empty with a good reason goes here, e.g.
// "declareHealth.declaration.reasons": "a healthy declaration matches no rule".
var mayBeEmpty = map[string]string{
	"openRound.healthRules.fulfilments": "a colour the round refuses may take no fulfilment (RED in the health rules example)",
}

// readmeExample is one ```graphql block of the README.
type readmeBlock struct {
	line        int // of the opening fence
	role, scope string
	ops         []readmeOp
}

// readmeOp is one operation of a block.
type readmeOp struct {
	line  int
	kind  string // query, mutation or subscription
	text  string
	subst []readmeSubst // in force from before this operation
}

// readmeSubst is a "# LITERAL stands for the FIELD that OPERATION
// answered" comment.
type readmeSubst struct{ literal, field, op string }

var (
	readmeAs    = regexp.MustCompile(`^<!-- as: ([A-Z]+)(?: (\S+))? -->$`)
	readmeSubRe = regexp.MustCompile(`#\s*(\S+) stands for the (\w+) that (\w+) answered`)
	readmeRoles = []string{"ADMIN", "DISTRICT", "COMMITTEE", "PARTNER", "PHARMACY", "CHECKPOINT", "RESIDENT"}
)

// parseReadmeExamples returns the README's graphql blocks in order, each
// split into its operations.
func parseReadmeExamples(md string) ([]readmeBlock, error) {
	lines := strings.Split(md, "\n")
	var blocks []readmeBlock
	var subst []readmeSubst
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```graphql" {
			continue
		}
		b := readmeBlock{line: i + 1}
		prev := ""
		if i > 0 {
			prev = strings.TrimSpace(lines[i-1])
		}
		m := readmeAs.FindStringSubmatch(prev)
		if m == nil {
			return nil, fmt.Errorf("README.md:%d: a graphql block without <!-- as: ROLE SCOPE --> on the line before", i+1)
		}
		if !slices.Contains(readmeRoles, m[1]) || (m[1] == "ADMIN") != (m[2] == "") {
			return nil, fmt.Errorf("README.md:%d: %q: want a role and a scope (ADMIN alone)", i, prev)
		}
		b.role, b.scope = m[1], m[2]
		// The operations: balanced braces at depth 0, comments dropped.
		var cur strings.Builder
		depth, opLine := 0, 0
		j := i + 1
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			code, comment := splitComment(lines[j])
			if sm := readmeSubRe.FindStringSubmatch(comment); sm != nil {
				subst = append(subst, readmeSubst{literal: sm[1], field: sm[2], op: sm[3]})
			}
			inString := false
			for _, ch := range code {
				if cur.Len() == 0 && (ch == ' ' || ch == '\t') {
					continue
				}
				if cur.Len() == 0 {
					opLine = j + 1
				}
				cur.WriteRune(ch)
				switch {
				case ch == '"':
					inString = !inString
				case inString:
				case ch == '{':
					depth++
				case ch == '}':
					depth--
					if depth < 0 {
						return nil, fmt.Errorf("README.md:%d: unbalanced }", j+1)
					}
					if depth == 0 {
						text := strings.TrimSpace(cur.String())
						b.ops = append(b.ops, readmeOp{line: opLine, kind: opKind(text), text: text, subst: slices.Clone(subst)})
						cur.Reset()
					}
				}
			}
			if cur.Len() > 0 {
				cur.WriteByte('\n')
			}
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README.md:%d: the block does not end", i+1)
		}
		if rest := strings.TrimSpace(cur.String()); rest != "" || depth != 0 {
			return nil, fmt.Errorf("README.md:%d: text outside any operation or unbalanced braces: %q", i+1, rest)
		}
		if len(b.ops) == 0 {
			return nil, fmt.Errorf("README.md:%d: a graphql block without an operation", i+1)
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks, nil
}

// splitComment splits a line of GraphQL at its first # outside a string.
func splitComment(line string) (code, comment string) {
	inString := false
	for i, ch := range line {
		switch {
		case ch == '"':
			inString = !inString
		case ch == '#' && !inString:
			return line[:i], line[i:]
		}
	}
	return line, ""
}

func opKind(text string) string {
	for _, k := range []string{"mutation", "subscription", "query"} {
		if strings.HasPrefix(text, k) {
			return k
		}
	}
	return "query"
}

func clipOp(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > 90 {
		return string(r[:90]) + "..."
	}
	return string(r)
}

// emptyLists returns the paths (root.field.field, list indexes left out)
// of the empty lists in v.
func emptyLists(path string, v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return []string{path}
		}
		for _, e := range x {
			out = append(out, emptyLists(path, e)...)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, emptyLists(path+"."+k, e)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// readmeRun is one run of the README's examples.
type readmeRun struct {
	t       *testing.T
	h       *hubProc
	admin   client
	tokens  map[string]client
	answers map[string]any // latest answer of each root field
	subs    int
}

func (r *readmeRun) client(role, scope string) client {
	key := role + " " + scope
	c, ok := r.tokens[key]
	if !ok {
		c = r.h.as(r.t, role, scope)
		r.tokens[key] = c
	}
	return c
}

// substitute replaces the literals of the substitutions in force with the
// values of the answers so far.
func (r *readmeRun) substitute(op readmeOp) (string, error) {
	text := op.text
	for _, s := range op.subst {
		if !strings.Contains(text, s.literal) {
			continue
		}
		ans, ok := r.answers[s.op]
		if !ok {
			return "", fmt.Errorf("%s stands for the %s that %s answered, and no %s has answered yet", s.literal, s.field, s.op, s.op)
		}
		v, ok := findField(ans, s.field).(string)
		if !ok || v == "" {
			return "", fmt.Errorf("%s stands for the %s that %s answered, and its answer has none: %v", s.literal, s.field, s.op, ans)
		}
		text = strings.ReplaceAll(text, s.literal, v)
	}
	return text, nil
}

// findField returns the value of the first key named field in v, depth
// first, or nil.
func findField(v any, field string) any {
	switch x := v.(type) {
	case map[string]any:
		if f, ok := x[field]; ok {
			return f
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if f := findField(x[k], field); f != nil {
				return f
			}
		}
	case []any:
		for _, e := range x {
			if f := findField(e, field); f != nil {
				return f
			}
		}
	}
	return nil
}

var (
	readmeArg   = regexp.MustCompile(`(\w+): "([^"]*)"`)
	readmeField = regexp.MustCompile(`^subscription\s*\{\s*(\w+)`)
)

// subscribe opens a README subscription over WebSocket with the block's
// token, checks it is accepted, then makes a mutation that concerns it and
// waits for its event.
func (r *readmeRun) subscribe(name string, b readmeBlock, text string) {
	t := r.t
	m := readmeField.FindStringSubmatch(text)
	if m == nil {
		t.Errorf("%s: cannot tell the subscription's field", name)
		return
	}
	field := m[1]
	args := map[string]string{}
	for _, a := range readmeArg.FindAllStringSubmatch(text, -1) {
		if _, seen := args[a[1]]; !seen {
			args[a[1]] = a[2]
		}
	}
	tok := r.client(b.role, b.scope).token
	ws := mustDialWS(t, r.h, "graphql-transport-ws")
	defer ws.conn.Close()
	ws.init(map[string]any{"Authorization": "Bearer " + tok})
	r.subs++
	id := fmt.Sprintf("readme-%d", r.subs)
	ws.send("subscribe", id, map[string]any{"query": text})
	msgs := make(chan wsMsg, 16)
	go func() {
		defer close(msgs)
		for {
			_ = ws.conn.SetReadDeadline(time.Now().Add(time.Minute))
			var msg wsMsg
			if err := ws.conn.ReadJSON(&msg); err != nil {
				return
			}
			switch msg.Type {
			case "ping": // the only writer now: the test sent subscribe before
				if ws.conn.WriteJSON(wsMsg{Type: "pong"}) != nil {
					return
				}
				continue
			case "pong", "ka":
				continue
			}
			msgs <- msg
		}
	}()
	// Accepted: nothing but silence at first.
	select {
	case msg := <-msgs:
		t.Errorf("%s: refused: %s %s", name, msg.Type, msg.Payload)
		return
	case <-time.After(300 * time.Millisecond):
	}
	// An event after a mutation that concerns the subscription; the
	// mutation is repeated in case the first raced the registration.
	for attempt := 1; attempt <= 3; attempt++ {
		if !r.trigger(name, field, args) {
			return
		}
		select {
		case msg, ok := <-msgs:
			if !ok {
				t.Errorf("%s: the connection closed", name)
				return
			}
			var res gqlResponse
			if err := json.Unmarshal(msg.Payload, &res); err != nil || msg.Type != "next" || len(res.Errors) > 0 || noData(res.Data) {
				t.Errorf("%s: got %s %s, want next with data", name, msg.Type, msg.Payload)
			} else {
				t.Logf("%s as %s %s: accepted, then %s %s", name, b.role, b.scope, msg.Type, clipOp(string(msg.Payload)))
			}
			return
		case <-time.After(5 * time.Second):
		}
	}
	t.Errorf("%s: no event after three mutations that concern it", name)
}

// trigger makes a mutation (as ADMIN) that the subscription field with
// args should hear of; false when it could not.
func (r *readmeRun) trigger(name, field string, args map[string]string) bool {
	t := r.t
	restock := func(pharmacy string) bool {
		res := gql(t, r.admin, `mutation($p: ID!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: 1) { id } }`, map[string]any{"p": pharmacy})
		if len(res.Errors) > 0 {
			t.Errorf("%s: trigger restock of %s: %+v", name, pharmacy, res.Errors)
			return false
		}
		return true
	}
	committeeCells := func(id string) []string {
		var c struct{ Committee struct{ Cells []string } }
		must(t, r.admin, `query($id: ID!) { committee(id: $id) { cells } }`, map[string]any{"id": id}, &c)
		return c.Committee.Cells
	}
	districtPharmacy := func(id string) string {
		var d struct {
			District struct{ Pharmacies []struct{ ID string } }
		}
		must(t, r.admin, `query($id: ID!) { district(id: $id) { pharmacies { id } } }`, map[string]any{"id": id}, &d)
		if len(d.District.Pharmacies) == 0 {
			t.Fatalf("%s: district %s has no pharmacy to restock", name, id)
		}
		return d.District.Pharmacies[0].ID
	}
	switch field {
	case "restockAlerts":
		// A pharmacy within 3 rings of one of the committee's cells.
		for _, c := range committeeCells(args["committeeId"]) {
			var near struct {
				Cell           struct{ Center struct{ Lat, Lng float64 } }
				PharmaciesNear []struct{ Pharmacy struct{ ID string } }
			}
			must(t, r.admin, `query($c: H3Cell!) { cell(id: $c) { center { lat lng } } }`, map[string]any{"c": c}, &near)
			must(t, r.admin, `query($lat: Float!, $lng: Float!) { pharmaciesNear(lat: $lat, lng: $lng, k: 3) { pharmacy { id } } }`,
				map[string]any{"lat": near.Cell.Center.Lat, "lng": near.Cell.Center.Lng}, &near)
			if len(near.PharmaciesNear) > 0 {
				return restock(near.PharmaciesNear[0].Pharmacy.ID)
			}
		}
		t.Errorf("%s: no pharmacy serves committee %s", name, args["committeeId"])
		return false
	case "riskAlerts":
		cells := committeeCells(args["committeeId"])
		res := gql(t, r.admin, `mutation($c: H3Cell!) { markRiskArea(cell: $c, rings: 1, reason: "README test") { id } }`, map[string]any{"c": cells[0]})
		if len(res.Errors) > 0 {
			t.Errorf("%s: trigger markRiskArea: %+v", name, res.Errors)
			return false
		}
		return true
	case "stockChanged", "districtUpdates":
		return restock(districtPharmacy(args["districtId"]))
	case "allocationUpdates":
		var a struct {
			Allocations struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		must(t, r.admin, `query($p: ID!) { allocations(partnerId: $p, status: DELIVERING, first: 1) { edges { node { id } } } }`,
			map[string]any{"p": args["partnerId"]}, &a)
		if len(a.Allocations.Edges) == 0 {
			t.Errorf("%s: partner %s has nothing DELIVERING", name, args["partnerId"])
			return false
		}
		res := gql(t, r.admin, `mutation($a: ID!) { markDelivery(allocationId: $a, delivered: true) { id status } }`,
			map[string]any{"a": a.Allocations.Edges[0].Node.ID})
		if len(res.Errors) > 0 {
			t.Errorf("%s: trigger markDelivery: %+v", name, res.Errors)
			return false
		}
		return true
	}
	t.Errorf("%s: no trigger for subscription %s: add one to readmeRun.trigger", name, field)
	return false
}
