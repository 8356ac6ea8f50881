package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestGraphiQLDocsExplorer opens the GraphiQL page in headless Chromium as
// a new user does, without a token: GraphiQL sends its standard
// introspection query, and its Docs explorer must list the schema's root
// and named types, with no error shown.
func TestGraphiQLDocsExplorer(t *testing.T) {
	h := startHub(t, t.TempDir())
	b := startBrowser(t)
	defer b.quit()
	b.open(h.url + "/")
	b.waitFor(`document.querySelector('.graphiql-container') !== null`, 30*time.Second)
	// The sidebar's Docs button, found by its label as a person finds it.
	b.waitFor(`(() => { const d = document.querySelector('button[aria-label*="Documentation Explorer"]'); if (!d) return false; d.click(); return true; })()`, 30*time.Second)
	raw := b.waitFor(`(() => { const c = document.querySelector('.graphiql-doc-explorer-content');
		return c && c.innerText.includes('All Schema Types') && c.innerText; })()`, 30*time.Second)
	var docs string
	if err := json.Unmarshal(raw, &docs); err != nil {
		t.Fatalf("docs explorer text: %v (%s)", err, raw)
	}
	for _, want := range []string{"Root Types", "query", "Query", "mutation", "Mutation", "subscription", "Subscription",
		"All Schema Types", "H3Cell", "Time", "Pharmacy", "District", "Committee", "Resident", "Round", "Allocation",
		"RestockAlert", "StockChange", "ErrorCode", "SKU"} {
		if !strings.Contains(docs, want) {
			t.Errorf("the Docs explorer does not list %q:\n%.2000s", want, docs)
		}
	}
	var shown struct {
		Errors int    `json:"errors"`
		Text   string `json:"text"`
	}
	b.eval(`({errors: document.querySelectorAll('.graphiql-doc-explorer-error').length,
		text: [...document.querySelectorAll('.graphiql-doc-explorer-error')].map(e => e.innerText).join(' | ')})`, &shown)
	if shown.Errors != 0 {
		t.Errorf("the Docs explorer shows errors: %s", shown.Text)
	}
	// A type opens with its fields, as a click on it does.
	b.waitFor(`(() => { const a = [...document.querySelectorAll('.graphiql-doc-explorer-content a')].find(a => a.innerText === 'Pharmacy');
		if (!a) return false; a.click(); return true; })()`, 10*time.Second)
	raw = b.waitFor(`(() => { const c = document.querySelector('.graphiql-doc-explorer-content');
		return c && c.innerText.includes('Fields') && c.innerText.includes('stock') && c.innerText; })()`, 10*time.Second)
	if !strings.Contains(string(raw), "address") {
		t.Errorf("type Pharmacy opened without its fields: %.1000s", raw)
	}
	var errs []string
	if err := json.Unmarshal(b.must(map[string]any{"do": "errors"}), &errs); err != nil || len(errs) > 0 {
		t.Errorf("the page raised script errors: %v %v", errs, err)
	}
}
