package e2e

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository's root as the tests of this folder see it.
const repoRoot = ".."

// TestREADMELayout keeps the README's "How the code is laid out" table
// true to the tree: every folder at the top of the repository (but those
// .gitignore leaves out, and hidden ones) and every Go, schema or
// configuration file there has its row, every folder or file a row names
// in its first column is there, and the names of the design card are at
// the top.
func TestREADMELayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## How the code is laid out\n")
	if !ok {
		t.Fatal("README.md has no section How the code is laid out")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	quoted := regexp.MustCompile("`([^`]+)`")
	listed := map[string]bool{} // names in the table's first column
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			listed[m[1]] = true
		}
	}
	if len(listed) < 20 {
		t.Fatalf("read %d names in the layout table's first column, want the whole table: %v", len(listed), listed)
	}

	ignored := gitignoredAtRoot(t)
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".") || ignored[name]:
		case e.IsDir():
			if !listed[name+"/"] {
				t.Errorf("the README's layout table lacks the folder %s/", name)
			}
		case slices.Contains([]string{".go", ".graphqls", ".yml", ".yaml"}, filepath.Ext(name)):
			if !listed[name] {
				t.Errorf("the README's layout table lacks %s", name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		info, err := os.Stat(filepath.Join(repoRoot, name))
		switch {
		case err != nil:
			t.Errorf("the README's layout table lists %s: %v", name, err)
		case strings.HasSuffix(name, "/") != info.IsDir():
			t.Errorf("the README's layout table lists %s, a folder is written with a slash and a file without", name)
		}
	}
	// The design card's top level.
	for _, name := range []string{"graph/", "grid/", "dispatch/", "resolvers/", "schema.graphqls", "server.go", "go.mod", "gqlgen.yml"} {
		if _, err := os.Stat(filepath.Join(repoRoot, name)); err != nil {
			t.Errorf("the design's %s is not at the top: %v", name, err)
		}
	}
}

// gitignoredAtRoot returns the names .gitignore leaves out at the root
// ("/data/", "/gridhub"): what a build or a run makes there.
func gitignoredAtRoot(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "/"); ok && !strings.Contains(strings.TrimSuffix(name, "/"), "/") {
			out[strings.TrimSuffix(name, "/")] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
