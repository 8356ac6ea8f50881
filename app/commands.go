package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/cli"
	"github.com/gridhub/gridhub/democity"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/importer"
	"github.com/gridhub/gridhub/progress"
)

// usageFunc returns a FlagSet's usage: the synopsis, what the command
// does, and its flags, written to the FlagSet's output (standard output
// when help was asked for, standard error after a usage error).
func usageFunc(fs *flag.FlagSet, synopsis, what string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", synopsis, what)
		fs.PrintDefaults()
	}
}

// openForTool opens the store and city for a command that runs without
// serving.
func openForTool(ctx context.Context, c Config, stderr io.Writer) (*Program, error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, cli.Usage(err)
	}
	p := &Program{Config: c, Log: log}
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func importCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	kind := fs.String("kind", "", "what the file holds: districts, committees, pharmacies, checkpoints or residents")
	format := fs.String("format", "", "csv or geojson (default: from the file name)")
	batch := fs.Int("batch", importer.DefaultBatchSize, "rows per write")
	fs.Usage = usageFunc(fs, "gridhub import -kind KIND [flags] FILE",
		"Imports districts, committees, pharmacies, checkpoints or residents from a CSV or GeoJSON file\n"+
			"(columns: go doc ./importer). Bad rows are listed with their line and reason; good rows are kept.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return cli.Usagef("import takes one file, got %d", fs.NArg())
	}
	k, err := importer.ParseKind(*kind)
	if err != nil {
		return cli.Usage(errors.New(hub.ErrorMessage(err)))
	}
	path := fs.Arg(0)
	var f importer.Format
	if *format != "" {
		f, err = importer.ParseFormat(*format)
	} else {
		f, err = importer.FormatOf(path)
	}
	if err != nil {
		return cli.Usage(errors.New(hub.ErrorMessage(err)))
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()

	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	bar := progress.New(stderr, progress.Options{Label: "import " + string(k)})
	rep, err := importer.Import(ctx, p.City, k, f, file, importer.Options{BatchSize: *batch, Progress: bar.Update})
	if err == nil {
		bar.Finish()
	}
	bar.Abort() // the bar ends before the report is printed; nothing after Finish
	if rep != nil {
		fmt.Fprintf(stdout, "%s: %d %s read, %d imported, %d rejected\n", filepath.Base(path), rep.Read, k, rep.Imported, rep.Rejected)
		for _, b := range rep.Bad {
			fmt.Fprintf(stdout, "  %s\n", b)
		}
		if rep.Rejected > len(rep.Bad) {
			fmt.Fprintf(stdout, "  ... and %d more\n", rep.Rejected-len(rep.Bad))
		}
	}
	return err
}

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	name := fs.String("city", "taipei", "demo city: taipei (7 districts, 50,000 residents) or taiwan (all 319 real pharmacies)")
	residents := fs.Int("residents", 0, "residents in the demo city (0: the demo's default)")
	fs.Usage = usageFunc(fs, "gridhub demo [flags]",
		"Seeds a demo city into the store and exits; a store that holds it already is left as it is.\n"+
			"A Taipei demo written just now gets a demo day too: health declarations, risk areas, a round of\n"+
			"adult masks with its reservations, pickups and waiting list, checkpoint scans.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return cli.Usagef("demo takes no arguments, got %q", fs.Args())
	}
	if _, err := democity.ParseDemo(*name); err != nil {
		return cli.Usage(errors.New(hub.ErrorMessage(err)))
	}
	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	return seedDemoWithDay(ctx, p, *name, *residents, stderr)
}

// DemoSeed is the seed of the demo city and of its demo day: the same
// seed, the same city and the same day.
const DemoSeed = 2020

// seedDemo seeds a demo city (taipei or taiwan) unless the store already
// holds it, showing its progress and what it wrote on w (nil for
// nowhere). It writes the city only; seedDemoWithDay adds a day of
// activity.
func seedDemo(ctx context.Context, svc *city.Service, name string, residents int, w io.Writer) error {
	demo, err := democity.ParseDemo(name)
	if err != nil {
		return err
	}
	_, err = seedDemoCity(ctx, svc, demo, residents, w)
	return err
}

// seedDemoWithDay seeds a demo city like seedDemo and, when it wrote the
// Taipei demo just now, a demo day through the program's services
// (democity.SeedDay: health declarations, risk areas, a round of masks
// with its reservations, pickups and waiting list, checkpoint scans), so
// that the dashboards have something to show; a restart adds nothing.
// The Taiwan demo keeps the stock figures of its file untouched.
func seedDemoWithDay(ctx context.Context, p *Program, name string, residents int, w io.Writer) error {
	demo, err := democity.ParseDemo(name)
	if err != nil {
		return err
	}
	sum, err := seedDemoCity(ctx, p.City, demo, residents, w)
	if err != nil || !sum.Seeded {
		return err
	}
	// The engine read the pharmacies when it opened, before there were any.
	if err := p.Dispatch.RefreshPharmacies(ctx); err != nil {
		return err
	}
	if demo != democity.Taipei {
		return nil
	}
	day, err := democity.SeedDay(ctx, democity.Services{City: p.City, Dispatch: p.Dispatch, Codes: p.Codes},
		democity.DayOptions{Demo: demo, Seed: DemoSeed})
	if err != nil {
		return fmt.Errorf("demo day: %w", err)
	}
	if day.Seeded && w != nil {
		fmt.Fprintf(w, "demo day seeded in %s: %d health declarations (%d green, %d yellow, %d red; %d filed by committees), "+
			"%d risk areas, %d masks sold over the counter, round %s: %d reservations (%d allocated, %d picked up; %d not served: no stock in reach), "+
			"%d shortage registrations on the waiting list (registerShortage), "+
			"partner %s: round %s, %d delivery reservations (%d DELIVERING), "+
			"afternoon restock of %d masks at %d pharmacies near the station (served %d waiting reservations, %d shortages), "+
			"%d checkpoint scans (%d fever, %d denied)\n",
			day.Elapsed.Round(time.Millisecond), day.Declarations, day.Green, day.Yellow, day.Red, day.ByCommittee,
			day.RiskAreas, day.Sold, day.RoundID, day.Reservations, day.Allocated, day.Redeemed, day.Waiting,
			day.Shortages, day.PartnerID, day.DeliveryRoundID, day.Deliveries, day.Delivering,
			day.Restocked, day.RestockedPharmacies, day.ServedLate, day.ShortagesServed,
			day.Scans, day.Fever, day.Denied)
	}
	return nil
}

// seedDemoCity seeds demo city demo unless the store already holds it,
// showing its progress and what it wrote on w (nil for nowhere).
func seedDemoCity(ctx context.Context, svc *city.Service, demo democity.Demo, residents int, w io.Writer) (*democity.Summary, error) {
	bar := progress.New(w, progress.Options{Label: "seed " + demo.String()})
	defer bar.Abort()
	sum, err := democity.Seed(ctx, svc, democity.Options{
		Demo:      demo,
		Seed:      DemoSeed,
		Residents: residents,
		Progress:  bar.Update,
	})
	if err != nil {
		return nil, err
	}
	bar.Finish()
	if sum.Seeded && w != nil {
		fmt.Fprintf(w, "demo city %s seeded in %s: %d districts, %d committees, %d pharmacies (%d real), %d checkpoints, %d residents\n",
			demo, sum.Elapsed.Round(time.Millisecond), sum.Districts, sum.Committees, sum.Pharmacies, sum.RealPharmacies, sum.Checkpoints, sum.Residents)
	}
	return sum, nil
}

func tokenCommand(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	role := fs.String("role", "", "ADMIN, DISTRICT, COMMITTEE, PARTNER, PHARMACY, CHECKPOINT or RESIDENT")
	scope := fs.String("scope", "", "the id the role is bound to (district id, committee id, ...); none for ADMIN")
	subject := fs.String("subject", "", "who holds the token (an operator's name, a device id)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	fs.Usage = usageFunc(fs, "gridhub token -role ROLE [-scope ID] -subject WHO [-ttl 24h]",
		"Mints an access token offline, with the key the server uses (from -jwt-secret, -jwt-ed25519-seed,\n"+
			"their -file forms, or the data directory), and prints it.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return cli.Usagef("token takes no arguments, got %q", fs.Args())
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return cli.Usage(errors.New(hub.ErrorMessage(err)))
	}
	if *ttl <= 0 || *ttl > auth.MaxTTL {
		return cli.Usagef("-ttl %s is outside (0, %s]: a token lives at most %d days", *ttl, auth.MaxTTL, auth.MaxTTL/(24*time.Hour))
	}
	if c.JWTSecret == "" && c.JWTEd25519 == "" && c.JWTSecretFile == "" && c.JWTEd25519File == "" {
		// The key would be made here, and the token refused by every hub.
		if _, err := os.Stat(filepath.Join(c.DataDir, "jwt-secret")); err != nil {
			return fmt.Errorf("%s holds no hub's token key (no jwt-secret there): give -data the directory the hub serves from, or the hub's -jwt-secret", c.DataDir)
		}
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	tok, err := keys.Mint(auth.Principal{Role: r, Scope: *scope, Subject: *subject, TokenID: newTokenID()}, *ttl)
	if hub.ErrorCode(err) == hub.EINVALID {
		// The claims asked for are refused (a scope missing, a bad ttl).
		return cli.Usage(errors.New(hub.ErrorMessage(err)))
	} else if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func newTokenID() string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func idsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c Config
	fs := flag.NewFlagSet("ids", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs, getenv)
	numbers := fs.String("numbers", "", "CSV file of the district's own records, columns resident_id,id_number: canonicalise and re-hash each number")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = usageFunc(fs, "gridhub ids [-numbers FILE] [-json] [flags]",
		"Reports residents whose ID number was stored under a spelling that is not canonical (the stored mask\n"+
			"shows characters other than A-Z and 0-9, or a shape no accepted form has), and the residents of the\n"+
			"same name whose masks fold alike (probable duplicates). With -numbers, it canonicalises and re-hashes\n"+
			"each number and reports numbers held by two residents, numbers now refused, and residents stored\n"+
			"under another spelling. It reads only: nothing is changed or deleted.")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return cli.Usagef("ids takes no arguments, got %q", fs.Args())
	}
	var rows []city.IDNumberRow
	if *numbers != "" {
		var err error
		if rows, err = readIDNumbers(*numbers); err != nil {
			return err
		}
	}
	p, err := openForTool(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	a, err := p.City.AuditIDs(ctx, rows)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	printIDAudit(stdout, a)
	return nil
}

// readIDNumbers reads a CSV file with the columns resident_id and
// id_number (a header names them; other columns are ignored).
func readIDNumbers(path string) ([]city.IDNumberRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	idCol, numCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "resident_id":
			idCol = i
		case "id_number":
			numCol = i
		}
	}
	if idCol < 0 || numCol < 0 {
		return nil, fmt.Errorf("%s: want a header naming the columns resident_id and id_number", path)
	}
	rows := []city.IDNumberRow{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		if idCol >= len(rec) || numCol >= len(rec) {
			return nil, fmt.Errorf("%s:%d: want the columns resident_id and id_number", path, line)
		}
		rows = append(rows, city.IDNumberRow{Line: line, ResidentID: strings.TrimSpace(rec[idCol]), Number: rec[numCol]})
	}
}

// printIDAudit writes an ID audit as text. Masks are quoted with Go
// escapes, so that invisible and look-alike characters show.
func printIDAudit(w io.Writer, a *city.IDAudit) {
	fmt.Fprintf(w, "ID numbers: %d residents read; accepted forms %s\n", a.Residents, a.Forms)
	fmt.Fprintf(w, "%d stored under a spelling that is not canonical\n", len(a.Suspects))
	for _, s := range a.Suspects {
		fmt.Fprintf(w, "  %s %+q: %s\n", s.ResidentID, s.Masked, s.Reason)
	}
	fmt.Fprintf(w, "%d groups of probable duplicates (same name, masks fold alike)\n", len(a.Groups))
	for _, g := range a.Groups {
		fmt.Fprintf(w, "  %+q:", g.Name)
		for i, id := range g.ResidentIDs {
			fmt.Fprintf(w, " %s %+q", id, g.Masked[i])
		}
		fmt.Fprintln(w)
	}
	n := a.Numbers
	if n == nil {
		return
	}
	fmt.Fprintf(w, "numbers file: %d rows\n", n.Rows)
	fmt.Fprintf(w, "%d collisions (one canonical number, several residents)\n", len(n.Collisions))
	for _, c := range n.Collisions {
		fmt.Fprintf(w, "  %s: %s\n", c.Masked, strings.Join(c.ResidentIDs, " "))
	}
	fmt.Fprintf(w, "%d numbers refused\n", len(n.Refused))
	for _, r := range n.Refused {
		fmt.Fprintf(w, "  line %d, resident %s: %s\n", r.Line, r.ResidentID, r.Reason)
	}
	fmt.Fprintf(w, "%d residents stored under another spelling of their number\n", len(n.Stale))
	for _, r := range n.Stale {
		fmt.Fprintf(w, "  line %d, resident %s\n", r.Line, r.ResidentID)
	}
	fmt.Fprintf(w, "%d rows of residents the hub does not hold\n", len(n.Unknown))
	for _, r := range n.Unknown {
		fmt.Fprintf(w, "  line %d, resident %s\n", r.Line, r.ResidentID)
	}
}
