# Eden Deploy. `make run` starts the local control plane; `make test`
# installs what the tests need and runs all of them. See README.md.

SHELL        := /bin/bash
GO           ?= go
BIN          := bin
NODE_DIR     := .cache/node
DATA_DIR     ?= $(HOME)/.local/share/edendeploy
ADDR         ?= 127.0.0.1:8080
# What the control plane needs to run Ansible over SSH, and what the tests
# need besides.
RUN_PACKAGES := ansible-core openssh-client python3
# chromium: the web console's tests drive it (internal/e2e, chromedp).
# pebble (Let's Encrypt's test CA) and curl: the HTTPS install test.
APT_PACKAGES := $(RUN_PACKAGES) ansible-lint openssh-server iproute2 debootstrap git chromium pebble curl
NPM_PACKAGES := dynalite@4.0.0 asl-validator@4.0.0
# Packages whose tests exercise concurrency; they also run under -race.
RACE_PKGS    := ./internal/store/... ./internal/workflow/... ./internal/runlog/... ./internal/control/... \
                ./internal/trigger/... ./internal/notify/...

export EDEN_NODE_MODULES := $(CURDIR)/$(NODE_DIR)/node_modules

# What `edenctl version` and GET /v1/version say (internal/buildinfo);
# `make VERSION=v1.2.0` for a release.
VERSION      := $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT       := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILDINFO    := -X github.com/edendeploy/edendeploy/internal/buildinfo.version=$(VERSION) \
                -X github.com/edendeploy/edendeploy/internal/buildinfo.commit=$(COMMIT)

.PHONY: all build run demo bench-api bench-compare test test-go test-race test-asl deps deps-run deps-apt deps-npm lint vet bench clean

all: build

build:
	$(GO) build ./...
	$(GO) build -ldflags "$(BUILDINFO)" -o $(BIN)/edenctl ./cmd/edenctl

## run: the local control plane on its embedded store (data in $(DATA_DIR)),
## with the web console at http://$(ADDR)/ (it prints the URL too).
run: build deps-run
	@echo "The web console will be at http://$(ADDR)/ (sign in with the admin token it prints)"
	$(BIN)/edenctl serve --data-dir "$(DATA_DIR)" --addr "$(ADDR)"

## demo: three SSH test hosts on this machine (root) and the control plane
## with the recording test roles on 127.0.0.1:8081; Ctrl-C stops both.
DEMO_DIR := .cache/demo
demo: build deps-apt
	$(GO) build -o $(BIN)/testhosts ./cmd/testhosts
	$(BIN)/testhosts up -dir $(DEMO_DIR)/hosts
	@echo; echo "In another terminal:"; \
	 echo "  export EDEN_ENDPOINT=http://127.0.0.1:8081 EDEN_TOKEN=\$$(cat $(DEMO_DIR)/data/admin.token)"; \
	 echo "  bin/edenctl deployment create -f $(DEMO_DIR)/hosts/3-tier.yaml --wait"; \
	 echo "or open the web console at http://127.0.0.1:8081/ and sign in with that token."; echo
	mkdir -p $(DEMO_DIR)/record
	trap '$(BIN)/testhosts down -dir $(DEMO_DIR)/hosts' EXIT; \
	  $(BIN)/edenctl serve --data-dir $(DEMO_DIR)/data --addr 127.0.0.1:8081 --roles test --record-dir $(CURDIR)/$(DEMO_DIR)/record

## test: install the test peers (apt, npm into .cache/node) and run every test
## but the install test, which is `make test-install` (install.mk): together
## they take longer than make test's 10-minute budget, so CI runs both.
## EDEN_REQUIRE_PEERS=1 turns every "peer missing" skip into a failure.
test: deps vet test-asl test-go test-race

test-go:
	EDEN_REQUIRE_PEERS=1 EDEN_INSTALL_TEST=0 $(GO) test -count=1 -timeout 20m ./...

test-race:
	EDEN_REQUIRE_PEERS=1 $(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

test-asl: deps-npm
	@for f in statemachine/*.asl.json; do \
	  node $(NODE_DIR)/node_modules/asl-validator/dist/bin/asl-validator.js --json-path "$$f" >/dev/null \
	    || { echo "asl-validator: $$f is not valid ASL"; exit 1; }; \
	  echo "asl-validator: $$f ok"; \
	done

deps: deps-apt deps-npm

# Installs the Debian packages that are missing (as root; otherwise it says
# which to install).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (apt-get install them as root)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps-run:
	$(call apt_install,$(RUN_PACKAGES))

deps-apt:
	$(call apt_install,$(APT_PACKAGES))

deps-npm:
	@if [ ! -f $(NODE_DIR)/.installed ] || [ "$$(cat $(NODE_DIR)/.installed)" != "$(NPM_PACKAGES)" ]; then \
	  mkdir -p $(NODE_DIR) && cd $(NODE_DIR) && \
	  npm install --no-audit --no-fund --loglevel=error $(NPM_PACKAGES) >/dev/null && \
	  echo "$(NPM_PACKAGES)" > .installed; \
	fi

vet:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt:"; echo "$$bad"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...

lint: vet
	ansible-lint --offline infra/ansible

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-api: load on edenctl serve over loopback (GET and create: req/s, p50, p99).
bench-api:
	$(GO) test -run '^$$' -bench BenchmarkAPI -benchtime=1x -v ./internal/e2e

## bench-compare: one table of ratios and percentiles measured side by side
## in one run (as root: it makes its own SSH test hosts): runs against bare
## ansible-playbook, dispatch latency, a burst, 1,000 runs in flight and
## 10,000 deployments, the API under load, RSS. About 6 minutes.
bench-compare: deps-apt
	EDEN_REQUIRE_PEERS=1 $(GO) test -run '^$$' -bench BenchmarkCompare -benchtime=1x -timeout 30m ./internal/e2e

clean:
	rm -rf $(BIN)
include lambda.mk
include install.mk
