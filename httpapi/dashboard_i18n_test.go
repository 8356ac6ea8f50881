package httpapi

import (
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// The dashboard's languages, as i18n.js names its catalogues.
var dashboardLanguages = []string{"en", "zh-TW", "zh-CN"}

var (
	// catalogueStart opens a language's catalogue: `    en: {` or
	// `    'zh-TW': {`.
	catalogueStart = regexp.MustCompile(`^    '?([A-Za-z-]+)'?: \{$`)
	// catalogueEntry is one line of a catalogue: 'key': 'text', (or the
	// text in double quotes).
	catalogueEntry = regexp.MustCompile(`^      '([A-Za-z0-9_.-]+)': (?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"),$`)
	// placeholder is a {name} t() fills in.
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
	// htmlKey is a key index.html names in a data-i18n attribute.
	htmlKey = regexp.MustCompile(`data-i18n(?:-title|-placeholder|-aria-label)?="([^"]*)"`)
	// tCall is a call of t(); tLiteral one whose key is a literal.
	tCall    = regexp.MustCompile(`\bt\(`)
	tLiteral = regexp.MustCompile(`^\bt\(\s*'([^']+)'`)
)

// dashboardComputedKeys are the calls of t() in dashboard.js whose key is
// computed, and where the keys come from: an enum of the schema (each of
// its values has a key with the prefix) or index.html's attributes.
var dashboardComputedKeys = []struct {
	call   string // the call's text from "t(" on
	prefix string
	enum   string // the schema's enum whose values follow prefix
	html   bool   // the keys of index.html's data-i18n attributes
}{
	{call: "t(`sku.${sku}`)", prefix: "sku.", enum: "SKU"},
	{call: "t(e.dataset.i18n)", html: true},
	{call: "t(e.dataset[data])", html: true},
}

// sameInEveryLanguage are the keys whose text no language changes: names,
// a sample token, and patterns of punctuation around parameters.
var sameInEveryLanguage = []string{
	"app.name", "lang.en", "lang.zh-CN", "lang.zh-TW", "login.placeholder", "who",
	"bin.range", "legend.titleOf", "place.within", "stats.stockLine", "error.labelled",
}

// dashboardFileText reads one of the embedded dashboard's files.
func dashboardFileText(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(embeddedDashboardFS(), name)
	if err != nil {
		t.Fatalf("embedded dashboard: %v", err)
	}
	return string(b)
}

// parseCatalogues reads i18n.js's catalogues: language -> key -> text.
// Every line inside a catalogue must be an entry.
func parseCatalogues(t *testing.T, src string) map[string]map[string]string {
	t.Helper()
	cats := map[string]map[string]string{}
	var cur map[string]string
	var lang string
	for n, line := range strings.Split(src, "\n") {
		if cur == nil {
			if m := catalogueStart.FindStringSubmatch(line); m != nil {
				lang = m[1]
				if cats[lang] != nil {
					t.Errorf("i18n.js:%d: a second catalogue %q", n+1, lang)
				}
				cur = map[string]string{}
				cats[lang] = cur
			}
			continue
		}
		if line == "    }," {
			cur = nil
			continue
		}
		m := catalogueEntry.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("i18n.js:%d: not a catalogue entry ('key': 'text',): %q", n+1, line)
			continue
		}
		text := m[2] + m[3]
		if _, dup := cur[m[1]]; dup {
			t.Errorf("i18n.js:%d: %s: key %q twice", n+1, lang, m[1])
		}
		cur[m[1]] = strings.ReplaceAll(strings.ReplaceAll(text, `\'`, `'`), `\"`, `"`)
	}
	if cur != nil {
		t.Errorf("i18n.js: catalogue %q is not closed", lang)
	}
	return cats
}

// schemaEnum returns the values of one of the schema's enums.
func schemaEnum(t *testing.T, name string) []string {
	t.Helper()
	src, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\benum ` + name + ` \{(.*?)\}`).FindStringSubmatch(string(src))
	if m == nil {
		t.Fatalf("schema.graphqls has no enum %s", name)
	}
	var values []string
	for _, line := range strings.Split(m[1], "\n") {
		if v := strings.TrimSpace(line); v != "" && !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, `"`) {
			values = append(values, strings.Fields(v)[0])
		}
	}
	return values
}

// dashboardKeysUsed returns the keys index.html and dashboard.js use: in
// data-i18n attributes, in t('key') calls, and for each computed t() call
// the keys its enum gives.
func dashboardKeysUsed(t *testing.T) (used map[string]string) {
	t.Helper()
	used = map[string]string{}
	for _, m := range htmlKey.FindAllStringSubmatch(dashboardFileText(t, dashboardPage), -1) {
		if m[1] == "" {
			t.Errorf("index.html: an empty data-i18n attribute")
		}
		used[m[1]] = "index.html"
	}
	// Comments and t's own definition are not calls (lines are kept, for
	// the line numbers).
	js := regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(dashboardFileText(t, dashboardJS), "")
	js = strings.Replace(js, "function t(", "function translate(", 1)
	for _, loc := range tCall.FindAllStringIndex(js, -1) {
		rest := js[loc[0]:]
		line := strings.Count(js[:loc[0]], "\n") + 1
		if m := tLiteral.FindStringSubmatch(rest); m != nil {
			used[m[1]] = fmt.Sprintf("dashboard.js:%d", line)
			continue
		}
		i := -1
		for j, c := range dashboardComputedKeys {
			if strings.HasPrefix(rest, c.call) {
				i = j
			}
		}
		if i < 0 {
			end := min(len(rest), 60)
			t.Errorf("dashboard.js:%d: t() with a key that is neither a literal nor listed in dashboardComputedKeys: %q", line, rest[:end])
			continue
		}
		if c := dashboardComputedKeys[i]; c.enum != "" {
			for _, v := range schemaEnum(t, c.enum) {
				used[c.prefix+v] = fmt.Sprintf("dashboard.js:%d (enum %s)", line, c.enum)
			}
		}
	}
	return used
}

// TestDashboardCatalogues checks i18n.js against itself and the page: the
// three languages have the same keys, no empty text, the same {params}
// for each key, and Chinese words where English has English ones; every
// key index.html and dashboard.js use is in every catalogue, including a
// name for every value of the schema's SKU and RiskLevel enums; and every
// key of the catalogues is used.
func TestDashboardCatalogues(t *testing.T) {
	cats := parseCatalogues(t, dashboardFileText(t, dashboardI18N))
	var langs []string
	for l := range cats {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	want := slices.Clone(dashboardLanguages)
	sort.Strings(want)
	if !slices.Equal(langs, want) {
		t.Fatalf("i18n.js has catalogues %v, want %v", langs, want)
	}
	en := cats["en"]
	if len(en) < 100 {
		t.Fatalf("the English catalogue has %d keys: i18n.js was not read", len(en))
	}
	params := func(s string) string {
		var p []string
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			p = append(p, m[1])
		}
		sort.Strings(p)
		return strings.Join(slices.Compact(p), ",")
	}
	for _, lang := range dashboardLanguages {
		cat := cats[lang]
		for key, text := range cat {
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s: %s is empty", lang, key)
			}
			enText, ok := en[key]
			if !ok {
				t.Errorf("%s has %s, which English lacks", lang, key)
				continue
			}
			if params(text) != params(enText) {
				t.Errorf("%s: %s fills {%s}, English {%s}", lang, key, params(text), params(enText))
			}
			if lang == "en" {
				continue
			}
			same := slices.Contains(sameInEveryLanguage, key)
			if !same && text == enText {
				t.Errorf("%s: %s is the English text %q (untranslated?)", lang, key, text)
			}
			if !same && !strings.ContainsFunc(placeholder.ReplaceAllString(text, ""), chinese) {
				t.Errorf("%s: %s = %q has no Chinese character", lang, key, text)
			}
		}
		for key := range en {
			if _, ok := cat[key]; !ok {
				t.Errorf("%s lacks %s", lang, key)
			}
		}
	}
	// Traditional and Simplified are two catalogues, not one copied.
	differ := 0
	for key, text := range cats["zh-TW"] {
		if cats["zh-CN"][key] != text {
			differ++
		}
	}
	if differ < len(en)/2 {
		t.Errorf("zh-TW and zh-CN differ in %d of %d texts: one looks copied from the other", differ, len(en))
	}

	used := dashboardKeysUsed(t)
	for _, v := range schemaEnum(t, "RiskLevel") {
		used["risk."+v] = "schema enum RiskLevel"
	}
	if _, ok := used["sku.MASK_ADULT"]; !ok {
		t.Errorf("the page never names a supply through t(`sku.${sku}`)")
	}
	for key, where := range used {
		for _, lang := range dashboardLanguages {
			if _, ok := cats[lang][key]; !ok {
				t.Errorf("%s uses %q, which the %s catalogue lacks", where, key, lang)
			}
		}
	}
	for key := range en {
		if _, ok := used[key]; !ok {
			t.Errorf("i18n.js has %q, which neither index.html nor dashboard.js uses", key)
		}
	}
	t.Logf("%d keys in each of %v; the page uses %d", len(en), dashboardLanguages, len(used))
}

// TestDashboardSupplyNames checks the names the catalogues give the
// hub's supplies: the two masks as the cities write them, and every SKU
// of the schema a name of its own in each language.
func TestDashboardSupplyNames(t *testing.T) {
	cats := parseCatalogues(t, dashboardFileText(t, dashboardI18N))
	tests := []struct {
		give string
		want map[string]string
	}{
		{"MASK_ADULT", map[string]string{"zh-TW": "成人口罩", "zh-CN": "成人口罩"}},
		{"MASK_CHILD", map[string]string{"zh-TW": "兒童口罩", "zh-CN": "儿童口罩"}},
	}
	for _, tt := range tests {
		for lang, want := range tt.want {
			if got := cats[lang]["sku."+tt.give]; got != want {
				t.Errorf("%s in %s is %q, want %q", tt.give, lang, got, want)
			}
		}
	}
	for _, lang := range dashboardLanguages {
		seen := map[string]string{}
		for _, sku := range schemaEnum(t, "SKU") {
			name := cats[lang]["sku."+sku]
			if other, dup := seen[name]; dup {
				t.Errorf("%s: %s and %s are both called %q", lang, other, sku, name)
			}
			seen[name] = sku
		}
	}
}

// TestDashboardPageHasNoWords checks that index.html leaves every word to
// the catalogues: no text between its tags (but a command line in <code>
// and the template's actions) and no title, placeholder, aria-label or alt
// attribute without its data-i18n twin.
func TestDashboardPageHasNoWords(t *testing.T) {
	page := dashboardFileText(t, dashboardPage)
	body := page[strings.Index(page, "<body"):]
	code := regexp.MustCompile(`(?s)<code>.*?</code>`)
	for _, m := range regexp.MustCompile(`>([^<]*)<`).FindAllStringSubmatch(code.ReplaceAllString(body, "<code></code>"), -1) {
		if text := strings.TrimSpace(m[1]); text != "" {
			t.Errorf("index.html has the words %q: give them a data-i18n key", text)
		}
	}
	for _, m := range regexp.MustCompile(`(?:^|\s)(title|placeholder|aria-label|alt)="`).FindAllStringSubmatch(body, -1) {
		t.Errorf("index.html has a %s attribute: use data-i18n-%s", m[1], m[1])
	}
	if !strings.Contains(page, `<title data-i18n="app.title">`) {
		t.Errorf("the page's <title> is not translated")
	}
}

// chinese reports whether r is a Han character or CJK punctuation
// (、。，：；（）).
func chinese(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}
