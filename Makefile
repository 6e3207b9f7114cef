# Leadluence backend. `make dev` runs the whole system locally; `make test`
# runs every test against the local AWS stand-ins. Both install what they
# need (pinned in tools/toolchain) on first use.
#
# Two Go modules: the product at the root (functions/, shared/, tools/) and
# the deployment in infra/ (the CDK app, with its own go.mod). test, lint and
# check cover both.

SHELL := /bin/bash
GO ?= go
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CGO_ENABLED := 0

FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))
INFRA := infra
TOOLCHAIN := tools/toolchain
BIN := .cache/bin
HOST_ARCH := $(shell $(GO) env GOARCH)
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(CURDIR)/$(BIN)/golangci-lint-$(GOLANGCI_VERSION)
FN ?= api
EVENT ?= events/api/health.json

.PHONY: help dev demo dev-reset test torture fuzz build synth lint lint-basic check invoke bench load deploy tools clean dlq policy datamap openapi phonegen retention plan

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: ## Run the whole system locally on 127.0.0.1 (Ctrl-C stops everything)
	@$(GO) build -o $(BIN)/leadluence-dev ./tools/dev
	@exec $(BIN)/leadluence-dev

demo: ## With make dev running: a Lead Ads lead and a WhatsApp message arrive through the signed webhook
	$(GO) run ./tools/demo

dev-reset: ## Wipe the local system's data (.dev/)
	rm -rf .dev
	@echo "local data wiped; the next make dev starts empty"

# The race detector needs cgo, so the tests (only they) build with it.
# The product's tests record every AWS call to AWS_CALL_LOG (tools/devstack
# calllog.go); infra/stack's tests then check those calls against the IAM
# policies of the synthesized stack, so they need that file.
AWS_CALL_LOG := $(CURDIR)/.cache/aws-calls.jsonl

test: ## Run every test with the race detector: the product against the local AWS stand-ins, then infra/
	LEADLUENCE_AWS_CALL_LOG=$(AWS_CALL_LOG) $(GO) run ./tools/withstack -- env CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...
	cd $(INFRA) && LEADLUENCE_AWS_CALL_LOG=$(AWS_CALL_LOG) CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# The pipeline torture test (tools/torture): N seeded Meta events through the
# webhook, ingest, api and sender handlers with faults injected. SEED=0 picks
# a seed and prints it; a failure prints the SEED=... N=... that reproduces it.
# ARGS takes more test flags (-torture.orgs=5 -torture.workers=4). Bounded
# by -timeout; the stack withstack starts stops with it.
SEED ?= 0
N ?= 200
torture: ## The pipeline torture test: N seeded events, faults injected, exactly-once checks (SEED=, N=, ARGS=)
	$(GO) run ./tools/withstack -- $(GO) test -count=1 -v -timeout 30m -run '^TestTorture$$' ./tools/torture -torture.n=$(N) -torture.seed=$(SEED) $(ARGS)

# Fuzzing: every `func FuzzXxx` in the product's tests, one after the other,
# each for FUZZTIME (a duration, or Nx for N inputs) and at most FUZZTIMEOUT,
# against one local stack (some targets drive the real handlers over it).
# FUZZ narrows the targets by a regexp on their names. A failing input is
# written to the package's testdata/fuzz/<target>/, where `make test` runs
# it from then on; the summary lists each target's executions.
FUZZTIME ?= 10s
FUZZTIMEOUT ?= 10m
FUZZ ?= .
FUZZ_TARGETS = $(shell grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' functions shared tools | sed -E 's|^(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*)$$|./\1:\2|' | sort)

fuzz: ## Run each fuzz target for FUZZTIME (default 10s) in turn; FUZZ=regexp picks targets
	@targets=$$(printf '%s\n' $(FUZZ_TARGETS) | grep -E ':[^:]*($(FUZZ))[^:]*$$'); \
	[ -n "$$targets" ] || { echo "no fuzz target matches FUZZ=$(FUZZ)"; exit 1; }; \
	LEADLUENCE_FUZZ_TARGETS="$$targets" $(GO) run ./tools/withstack -- bash -c ' \
	  failed=0; summary=""; log=$$(mktemp); trap "rm -f $$log" EXIT; \
	  for t in $$LEADLUENCE_FUZZ_TARGETS; do \
	    pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg, $(FUZZTIME))"; \
	    $(GO) test -run "^$$" -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -timeout $(FUZZTIMEOUT) $$pkg 2>&1 | tee "$$log"; rc=$${PIPESTATUS[0]}; \
	    last=$$(grep "^fuzz: elapsed: .*execs:" "$$log" | tail -1 | sed -E "s/ \([0-9]+\/sec\)//"); \
	    [ $$rc -eq 0 ] && res=ok || { res=FAIL; failed=1; }; \
	    summary="$$summary$$(printf "%-4s %-24s %-32s %s" $$res $$name $$pkg "$${last#fuzz: }")\n"; \
	  done; \
	  printf "\nfuzz summary (FUZZTIME=$(FUZZTIME)):\n$$summary"; exit $$failed'

build: ## One bootstrap per function: bin/<fn>/bootstrap (arm64, deploy) and bin/local/<fn>/bootstrap (host arch)
	@for fn in $(FUNCTIONS); do \
	  echo "build $$fn (linux/arm64, linux/$(HOST_ARCH))"; \
	  GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o bin/$$fn/bootstrap ./functions/$$fn || exit 1; \
	  GOOS=linux GOARCH=$(HOST_ARCH) $(GO) build $(LAMBDA_FLAGS) -o bin/local/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

synth: build ## CDK synth with cdk-nag; fails on an unsuppressed finding
	cd $(TOOLCHAIN) && { [ -d node_modules ] || npm ci --no-audit --no-fund; }
	$(TOOLCHAIN)/node_modules/.bin/cdk synth --quiet

lint-basic: ## gofmt and go vet only (quick)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd $(INFRA) && $(GO) vet ./...

lint: lint-basic ## gofmt, go vet, golangci-lint (pinned; installed on first use), redocly lint of the OpenAPI document
	@if [ ! -x $(GOLANGCI) ]; then \
	  echo "installing golangci-lint $(GOLANGCI_VERSION) (first run only)"; \
	  GOBIN=$(CURDIR)/$(BIN)/golangci $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION) && \
	  mv $(BIN)/golangci/golangci-lint $(GOLANGCI); fi
	$(GOLANGCI) run ./...
	cd $(INFRA) && $(GOLANGCI) run --config $(CURDIR)/.golangci.yml ./...
	$(GO) run ./tools/openapi -lint

check: lint test ## What CI runs: make lint, then make test

invoke: build ## Run bin/local/$(FN)/bootstrap under the Lambda RIE with EVENT and print the response
	$(GO) run ./tools/invoke -fn $(FN) -event $(EVENT)

bench: build ## Measure cold start, size, calls per request, the Meta intake, outbound and retention figures; writes docs/benchmarks.md and its SVG figures (docs/img/)
	$(GO) run ./tools/withstack -- $(GO) run ./tools/bench -out docs/benchmarks.md

# The load run's rate (requests a second, all operations) and length.
RATE ?= 50
DURATION ?= 60s

load: ## Open-loop load on a fresh local system (RATE=50 requests/s, DURATION=60s): errors and latency per operation into docs/load.json and docs/benchmarks.md
	@$(GO) build -o $(BIN)/leadluence-dev ./tools/dev
	$(GO) run ./tools/load -rate $(RATE) -duration $(DURATION) -doc docs/benchmarks.md

datamap: ## Write docs/data-map.md (every item kind, personal data, retention) from shared/dynamostore/datamap.go
	$(GO) run ./tools/datamap -out docs/data-map.md

openapi: ## Write functions/api/app/openapi.json.gz (the whole API's document the api serves) from the code (functions/apidoc)
	$(GO) run ./tools/openapi -embed

phonegen: ## Write shared/phone/plans_gen.go (the numbering plans phone numbers are read with) from github.com/nyaruka/phonenumbers
	$(GO) run ./tools/phonegen -out shared/phone/plans_gen.go

deploy: build ## Deploy to the AWS account in your environment (needs real credentials; not runnable here)
	cd $(TOOLCHAIN) && { [ -d node_modules ] || npm ci --no-audit --no-fund; }
	$(TOOLCHAIN)/node_modules/.bin/cdk deploy --require-approval broadening

clean: ## Remove build output
	rm -rf bin cdk.out

dlq: ## List or replay dead-lettered messages (ARGS="list intake" / ARGS="replay intake --all")
	$(GO) run ./tools/dlq $(ARGS)

policy: ## Publish or list privacy policy versions (ARGS="publish --version 2027-01 --effective 2027-01-20 --summary '...' -local")
	$(GO) run ./tools/policy $(ARGS)

retention: ## Plan or run the data lifecycle now (ARGS="plan -local" / ARGS="run --as-of 2027-06-01T00:00:00Z -local")
	$(GO) run ./tools/retention $(ARGS)

plan: ## Set or show an org's plan (ARGS="set <org_id> growth -local" / ARGS="show <org_id> -local")
	$(GO) run ./tools/plan $(ARGS)
