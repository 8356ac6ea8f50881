package citytest

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/hub"
)

// TestOpen: each city is on its own store, empty, and done closes it.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	a, doneA, err := Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, doneB, err := Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer doneB()
	square := []hub.Point{{Lat: 25.040, Lng: 121.510}, {Lat: 25.040, Lng: 121.521}, {Lat: 25.050, Lng: 121.521}, {Lat: 25.050, Lng: 121.510}}
	if _, err := a.UpsertDistrict(ctx, city.DistrictInput{ID: "d1", Code: "D1", Name: "One", Area: city.Area{Polygon: square}}); err != nil {
		t.Fatal(err)
	}
	if ds, err := a.Store().Districts(ctx); err != nil || len(ds) != 1 {
		t.Fatalf("the city holds %d districts (%v), want the one written", len(ds), err)
	}
	if ds, err := b.Store().Districts(ctx); err != nil || len(ds) != 0 {
		t.Errorf("a second city holds %d districts (%v), want none", len(ds), err)
	}
	if err := doneA(); err != nil {
		t.Fatalf("done: %v", err)
	}
	if err := a.Store().Ping(ctx); err == nil {
		t.Error("the store answers after done")
	}
}

// TestNoProgramImportsIt: citytest is for tests and examples; no package
// of the module imports it outside its tests.
func TestNoProgramImportsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const self = "github.com/gridhub/gridhub/internal/citytest"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/gridhub/gridhub/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 20 {
		t.Fatalf("go list listed %d packages", len(lines))
	}
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg != self && strings.Contains(" "+imports+" ", " "+self+" ") {
			t.Errorf("%s imports %s", pkg, self)
		}
	}
}
