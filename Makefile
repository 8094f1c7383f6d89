# coachwire — the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
WEAVIATE_VERSION := v1.35.2
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/coachwire
WEAVIATE_DIR := $(CACHE_DIR)/weaviate-$(WEAVIATE_VERSION)
WEAVIATE_BIN := $(WEAVIATE_DIR)/weaviate-server
SQLC := $(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
export COACHWIRE_WEAVIATE_BIN ?= $(WEAVIATE_BIN)

.PHONY: run test cover build vet lint generate check-generated weaviate deps deps-test bench eval fmt chaos console console-deps check-console check-deploy

## run: build and start the whole system on embedded defaults (Ctrl-C stops it)
run: deps weaviate
	$(GO) build -o bin/coachwire ./cmd/coachwire
	./bin/coachwire -dev $(ARGS)

## test: everything CI runs; ends with the 10 slowest tests and package times
## (internal/testenv/testreport). Statement coverage is `make cover`: under -race Go counts
## coverage with atomic counters, and counting every package in every test binary made the
## whole run about a third slower (ingest's tests 4x: 45 s of CPU against 12 s).
# Test binaries run at once: most of their time is spent waiting on services and timers, not CPU.
TEST_PACKAGES ?= 4
# The test binaries are linked without DWARF (-w): nothing reads it (stack traces and race reports
# come from the symbol table, which stays), and writing it was about a quarter of each link's CPU,
# repeated for every package's binary on every run (the link is not cached).
TEST_LDFLAGS ?= -w
# go test's own vet pass (-vet=off) is left out: the vet check (go vet ./..., every analyzer on
# every package and its tests) runs alongside and fails make test the same way.
# The slowest test binaries start first (go test runs packages in the order given; ./... adds the
# rest once): started in alphabetical order, the gateway, ingest and nudge binaries began after
# five minutes and ran alone at the end on a half-idle machine.
TEST_FIRST = ./internal/app/ ./internal/chaos/ ./internal/dispatch/ ./internal/gateway/ ./internal/nudge/ \
  ./internal/db/ ./internal/deploytest/ ./internal/ingest/ ./internal/extract/
TEST_CHECKS = build vet lint check-generated check-console check-deploy
TEST_PREREQS = deps deps-test weaviate $(TEST_CHECKS)
# The checks (gofmt, vet, staticcheck, generated code, console build, deploy rules) run at a lower
# priority alongside the tests, not before them: each uses about one core, and before the tests
# they held the other core idle for a minute and a half. Their output follows the test report;
# make test fails when either fails.
test: deps deps-test weaviate
	@mkdir -p bin
	@echo "checks ($(TEST_CHECKS)) alongside: $(GO) test -race -count=1 -ldflags='$(TEST_LDFLAGS)' -vet=off -p $(TEST_PACKAGES) -timeout 25m -json <slowest first> ./... | testreport"
	@set -o pipefail; \
	  ( nice -n 10 $(MAKE) --no-print-directory -k $(TEST_CHECKS) > bin/test-checks.log 2>&1; echo $$? > bin/test-checks.rc ) & checks=$$!; \
	  $(GO) test -race -count=1 -ldflags='$(TEST_LDFLAGS)' -vet=off -p $(TEST_PACKAGES) -timeout 25m -json $(TEST_FIRST) ./... | $(GO) run ./internal/testenv/testreport; \
	  rc=$$?; wait $$checks; echo; echo "checks ($(TEST_CHECKS)):"; cat bin/test-checks.log; \
	  crc=$$(cat bin/test-checks.rc); if [ "$$crc" != 0 ]; then echo "checks FAILED"; else echo "checks ok"; fi; \
	  test "$$rc" = 0 && test "$$crc" = 0

## cover: the same tests and checks as `make test`, with statement coverage per package and in
## total of the project's non-generated code (profile in $(COVERPROFILE)). Coverage counts every
## package's statements, whichever package's tests run them; the test helpers and doubles
## (testenv, *test packages, the bench load driver) are not counted.
COVERPROFILE ?= bin/cover.out
COVERPKG = $(shell $(GO) list ./... | grep -v -e '/internal/testenv' -e 'test$$' -e '/internal/bench$$' | paste -sd, -)
cover: $(TEST_PREREQS)
	@mkdir -p $(dir $(COVERPROFILE))
	@echo "$(GO) test -race -count=1 -p $(TEST_PACKAGES) -timeout 25m -json -coverpkg=<project packages> -coverprofile=$(COVERPROFILE) ./... | testreport"
	@set -o pipefail; $(GO) test -race -count=1 -p $(TEST_PACKAGES) -timeout 25m -json -coverpkg=$(COVERPKG) -coverprofile=$(COVERPROFILE) ./... \
	  | $(GO) run ./internal/testenv/testreport -coverprofile=$(COVERPROFILE)

build:
	$(GO) build ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

lint:
	$(STATICCHECK) ./...

## check-deploy: deploy/'s alert rules and dashboard through Prometheus's own rule and PromQL
## parsers (deploy/check is a module of its own: Prometheus's module is large)
check-deploy:
	cd deploy/check && $(GO) test ./...

generate:
	$(SQLC) generate

check-generated:
	$(SQLC) diff

## console: rebuild the creator console (web/console, docs/console.md) into internal/gateway/console/static
## and its client types from openapi.yaml; needs Node.js and npm. `make run` does not: the build is committed.
CONSOLE_DIR := web/console
console: console-deps
	cd $(CONSOLE_DIR) && node build.mjs

# console-deps: npm ci from the lockfile, only when the lockfile changed since the last install.
console-deps:
	@cd $(CONSOLE_DIR) && sum=$$(sha256sum package-lock.json | cut -d' ' -f1) && \
	  if [ "$$(cat node_modules/.lock-sha256 2>/dev/null)" != "$$sum" ]; then \
	    npm ci --prefer-offline --no-audit --no-fund --loglevel=error && echo "$$sum" > node_modules/.lock-sha256; fi

## check-console: the committed console build, client types and axe-core copy are what the sources
## give (builds into a temp dir and compares bytes); skipped when Node.js is not installed
check-console:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  $(MAKE) --no-print-directory console-deps && cd $(CONSOLE_DIR) && node build.mjs --check; \
	else echo "check-console: node/npm not installed: skipped (the committed console build is used)"; fi

## weaviate: build the Weaviate server once into the user cache (about 5 minutes the first time)
weaviate: $(WEAVIATE_BIN)
$(WEAVIATE_BIN):
	@echo "building weaviate-server $(WEAVIATE_VERSION) into $(WEAVIATE_DIR) (first time only, ~5 min)"
	mkdir -p $(WEAVIATE_DIR)
	GOBIN=$(WEAVIATE_DIR) GOFLAGS=-buildvcs=false $(GO) install github.com/weaviate/weaviate/cmd/weaviate-server@$(WEAVIATE_VERSION)

## deps: PostgreSQL server binaries (Debian package postgresql)
deps:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL server binaries missing: install package postgresql (or set COACHWIRE_DATABASE_URL)"; exit 1; fi; \
	fi

## deps-test: Chromium for the widget's browser test (Debian package chromium)
deps-test:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install package chromium"; exit 1; fi; \
	fi

## bench: speed and memory numbers (benchmarks report, never assert)
bench: deps weaviate
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 90m ./internal/bench/
	$(GO) test -run='^$$' -bench='UploadToIndexed|WebhookIntake|DispatchBurst|Campaign100k|IdleWidgetSockets' -benchtime=1x -timeout 20m ./internal/app/
	$(GO) test -run='^$$' -bench=. -benchtime=3x -timeout 10m ./internal/extract/ ./internal/ingest/

## chaos: the chaos suite (internal/chaos) for CHAOS_DURATION: every target as its own process
## under load while each fault is injected in turn; prints the table per fault (docs/operations.md)
CHAOS_DURATION ?= 10m
CHAOS_TIMEOUT ?= 90m
chaos: deps weaviate
	CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=1 -v -run '^TestChaos$$' -timeout $(CHAOS_TIMEOUT) ./internal/chaos/

fmt:
	gofmt -w $$(git ls-files '*.go')

## eval: retrieval and answer quality per question category (recall@1/@5, MRR, honest no-answer) on internal/eval/testdata against a real Weaviate
eval: weaviate
	COACHWIRE_EVAL=1 $(GO) test -count=1 -v -run 'TestEval$$' ./internal/eval/ | grep -v -e '^=== RUN' -e '^--- PASS' -e 'eval_test.go'
