# Gridhub's build. The two commands a newcomer needs:
#   make run    start the hub on the embedded store with the demo city
#   make test   run every test (vet, race detector, generated-code check)

GO ?= go
BIN := bin/gridhub
GRIDHUB_ADDR ?= :8080
GRIDHUB_DATA ?= ./data

.PHONY: all build run test vet generate check-generated bench fuzz clean

all: build

build: assets
	$(GO) build -o $(BIN) .

run: build
	GRIDHUB_ADDR=$(GRIDHUB_ADDR) GRIDHUB_DATA=$(GRIDHUB_DATA) ./$(BIN) serve --demo

test: assets browser vet check-generated
	$(GO) test -race -count=1 ./...
	@# The MongoDB backend's server tests ran above; say whether they were skipped.
	@$(GO) test -count=1 -v -run 'TestConformance$$|TestTwoHubs$$' ./store/mongostore ./broker/mongobus 2>&1 | grep -E 'GRIDHUB_TEST_MONGODB_URI|^--- (PASS|SKIP|FAIL)' || true

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

generate:
	$(GO) generate ./...

# check-generated fails when regenerating gqlgen's code changes anything.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- graph resolvers)" ]; then \
		echo "generated code is not current: run make generate and commit"; \
		git status --porcelain -- graph resolvers; git diff --stat -- graph resolvers; exit 1; fi

# bench runs every benchmark once; see README for the figures.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

FUZZTIME ?= 30s
# FUZZFLAGS adds flags of go test to every fuzz run; on a shared machine
# FUZZFLAGS=-parallel=1 keeps the fuzzer to one worker.
FUZZFLAGS ?=
# fuzz runs each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg || exit 1; \
		done; done

# fuzz-all fuzzes every target for FUZZTIME like fuzz, but goes on past a
# failure and lists at the end every target that failed and every package
# whose tests do not build (so none is skipped unseen), then each target's
# inputs run and, when FUZZTIME is in seconds, inputs a second. A failing
# input is saved in its package's testdata/fuzz and replayed by go test
# from then on: a regression test.
.PHONY: fuzz-all
fuzz-all:
	@failed=""; rates=""; log=$$(mktemp); secs=$$(echo "$(FUZZTIME)" | sed -n 's/^\([0-9][0-9]*\)s$$/\1/p'); \
	for pkg in $$($(GO) list ./...); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; failed="$$failed $$pkg:(tests-do-not-build)"; continue; }; \
		for t in $$(echo "$$list" | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			{ $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg 2>&1; echo $$? > $$log.rc; } | tee $$log; \
			[ "$$(cat $$log.rc)" = 0 ] || failed="$$failed $$pkg:$$t"; \
			n=$$(grep -o 'execs: [0-9]*' $$log | tail -1 | cut -d' ' -f2); \
			rate=""; [ -n "$$n" ] && [ -n "$$secs" ] && rate="$$((n / secs))/s"; \
			rates="$$rates$$(printf '%-42s %-22s %10s inputs %9s  load %s' "$$pkg" "$$t" "$$n" "$$rate" "$$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)")\n"; \
		done; done; \
	rm -f $$log $$log.rc; \
	echo "== inputs in $(FUZZTIME) each (load average: $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"; printf "$$rates"; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

# load runs every row of issue 17's launch-day table in one invocation
# (loadtest/launchday.sh; see loadtest/README.md): reserve at 512 clients
# with --max-in-flight 512 (best) and at defaults, 64 clients, the hub's CPU
# per reservation against a build of BASE_REV (2ae442f), a restock to
# LOAD_SUBSCRIBERS stockChanged subscribers shared and unshared beside the
# loopback write floor, and memory per idle subscriber; then prints one
# table, each row with its same-run baseline, ratio, goal and status (also
# as JSON). Knobs: LOAD_ROWS=a,b,c LOAD_SUBSCRIBERS=2000 LOAD_PHASE=5s
# LOAD_PAIRS=1 BASE_REV=... (the script's header lists them). Outside CI:
# about 8 minutes at the defaults. The reserve load alone, with its default
# phases: loadtest/run.sh reserve.
.PHONY: load
load:
	loadtest/launchday.sh

# crash kills the hub with SIGKILL CRASH_KILLS times in bursts of writes and
# checks the invariants after each kill (TestCrash; CI runs it with 3).
CRASH_KILLS ?= 50
.PHONY: crash
crash:
	GRIDHUB_CRASH_KILLS=$(CRASH_KILLS) $(GO) test -run '^TestCrash$$' -count=1 -v -timeout 60m ./e2e

clean:
	rm -rf bin

# assets installs the pinned npm packages (web/package-lock.json) and copies
# the GraphiQL/React browser bundles into httpapi/assets/graphiql and the
# graphql-ws one into httpapi/assets/dashboard/vendor, for go:embed.
# The copied files are not committed; without them the server still builds and
# its GraphiQL page says "GraphiQL assets missing: run make assets".
GRAPHIQL_ASSETS := httpapi/assets/graphiql
# The dashboard's own files are committed in httpapi/assets/dashboard; its
# live-update client (graphql-ws's browser build) is copied into vendor/.
DASHBOARD_VENDOR := httpapi/assets/dashboard/vendor
WEB_MODULES := web/node_modules

# browser installs, as root and with a line saying so, Debian's chromium
# and CJK fonts for the dashboard's browser tests when they are missing.
.PHONY: browser
browser:
	@sh web/install-browser.sh

.PHONY: assets
assets:
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix web --ignore-scripts --no-audit --no-fund
	mkdir -p $(GRAPHIQL_ASSETS)
	cp $(WEB_MODULES)/graphiql/graphiql.min.js $(GRAPHIQL_ASSETS)/graphiql.min.js
	cp $(WEB_MODULES)/graphiql/graphiql.min.css $(GRAPHIQL_ASSETS)/graphiql.min.css
	cp $(WEB_MODULES)/react/umd/react.production.min.js $(GRAPHIQL_ASSETS)/react.production.min.js
	cp $(WEB_MODULES)/react-dom/umd/react-dom.production.min.js $(GRAPHIQL_ASSETS)/react-dom.production.min.js
	cp $(WEB_MODULES)/@graphiql/plugin-explorer/dist/index.umd.js $(GRAPHIQL_ASSETS)/plugin-explorer.umd.js
	cp $(WEB_MODULES)/@graphiql/plugin-explorer/dist/style.css $(GRAPHIQL_ASSETS)/plugin-explorer.css
	mkdir -p $(DASHBOARD_VENDOR)
	cp $(WEB_MODULES)/graphql-ws/umd/graphql-ws.min.js $(DASHBOARD_VENDOR)/graphql-ws.min.js
