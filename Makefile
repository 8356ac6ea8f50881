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

test: assets vet check-generated
	$(GO) test -race -count=1 ./...

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
# fuzz runs each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; done

clean:
	rm -rf bin

# assets installs the pinned GraphiQL/React npm packages (web/package-lock.json)
# and copies their browser bundles into httpapi/assets/graphiql for go:embed.
# The copied files are not committed; without them the server still builds and
# its GraphiQL page says "GraphiQL assets missing: run make assets".
GRAPHIQL_ASSETS := httpapi/assets/graphiql
WEB_MODULES := web/node_modules

.PHONY: assets
assets:
	npm ci --prefix web --ignore-scripts --no-audit --no-fund
	mkdir -p $(GRAPHIQL_ASSETS)
	cp $(WEB_MODULES)/graphiql/graphiql.min.js $(GRAPHIQL_ASSETS)/graphiql.min.js
	cp $(WEB_MODULES)/graphiql/graphiql.min.css $(GRAPHIQL_ASSETS)/graphiql.min.css
	cp $(WEB_MODULES)/react/umd/react.production.min.js $(GRAPHIQL_ASSETS)/react.production.min.js
	cp $(WEB_MODULES)/react-dom/umd/react-dom.production.min.js $(GRAPHIQL_ASSETS)/react-dom.production.min.js
	cp $(WEB_MODULES)/@graphiql/plugin-explorer/dist/index.umd.js $(GRAPHIQL_ASSETS)/plugin-explorer.umd.js
	cp $(WEB_MODULES)/@graphiql/plugin-explorer/dist/style.css $(GRAPHIQL_ASSETS)/plugin-explorer.css
