# crmauthz — build, generate, test. Every tool is pinned and installed into bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
GOLANGCI_LINT_VERSION ?= v2.15.0
BENCHSTAT ?= $(LOCALBIN)/benchstat
BENCHSTAT_VERSION ?= v0.0.0-20260908200009-22c9c6c9d4da
GREMLINS ?= $(LOCALBIN)/gremlins
GREMLINS_VERSION ?= v0.6.0
HELM ?= $(LOCALBIN)/helm
HELM_VERSION ?= v3.22.0
KREW ?= $(LOCALBIN)/krew
VALIDATE_KREW_MANIFEST ?= $(LOCALBIN)/validate-krew-manifest
KREW_VERSION ?= v0.4.3
# The version stamped into release builds (crmauthz version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The envtest control plane (kube-apiserver, etcd): KUBEBUILDER_ASSETS when set, else
# setup-envtest's download when reachable, else built from Go modules by
# hack/envtest-bins.sh into a versioned cache outside the clone (hack/envtest-assets.sh).
# bin/k8s links to it.
ENVTEST_K8S_VERSION ?= 1.36.3
ENVTEST_ETCD_VERSION ?= 3.6.16
SETUP_ENVTEST_VERSION ?= v0.25.1
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s

GO_TEST_FLAGS ?= -count=1

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and webhook configuration from the markers (config/ and the Helm chart).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=false webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	@# The chart reads the same files: its CRDs, the manager's rules and the webhooks.
	cp config/crd/bases/*.yaml charts/crmauthz/crds/
	cp config/rbac/role.yaml charts/crmauthz/files/role.yaml
	cp config/webhook/manifests.yaml charts/crmauthz/files/webhooks.yaml

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (configuration: .golangci.yml).
	$(GOLANGCI_LINT) run ./...
	cd bench && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...

.PHONY: verify
verify: manifests generate ## Fail when generated files or formatting are stale.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- api config charts || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config charts)" || { echo "untracked generated files:"; git status --porcelain -- api config charts; exit 1; }

.PHONY: test
test: manifests generate fmt vet envtest helm krew ## Build the control plane if missing, generate, and run every test.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(GO_TEST_FLAGS) ./...

# Every fuzz target, as package:Target; `make fuzz FUZZTIME=60s` runs each in turn.
FUZZ_TARGETS ?= ./internal/policy:FuzzCompile ./internal/service:FuzzCheck ./internal/service:FuzzChecks \
	./internal/service:FuzzFilter ./internal/service:FuzzVisible ./internal/service:FuzzLogin \
	./internal/service:FuzzSession ./internal/service:FuzzPassword \
	./internal/service:FuzzDecodeAgreesWithEncodingJSON ./internal/server:FuzzHandler \
	./internal/strictjson:FuzzReader ./internal/strictjson:FuzzAppendString
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (new crashers land in testdata/fuzz).
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; dir=$$pkg/testdata/fuzz/$$fn; \
	  echo "== $$fn ($$pkg, $(FUZZTIME))"; \
	  before=$$(ls $$dir 2>/dev/null | wc -l || true); \
	  go test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) && continue; \
	  if [ "$$(ls $$dir 2>/dev/null | wc -l || true)" != "$$before" ]; then echo "$$fn: a failing input was written to $$dir"; exit 1; fi; \
	  echo "$$fn: stopped without a failing input (Go 1.26's fuzz coordinator can report its own deadline as a failure, go.dev/issue/75804); running it again"; \
	  go test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

.PHONY: bench
bench: envtest ## crmauthz against OPA on this machine: HTTP, in-process and propagation (bench/run.sh).
	bench/run.sh

# `make bench-scale N=200`: tenants to load; TIMEOUT bounds the wait for every status;
# MANAGER_FLAGS (environment) are added to the manager's command line; BENCH_SCALE_FLAGS
# to the bench's (e.g. -profile-restart 40s: CPU profiles of the first restarted manager
# and of the API server; -restarts, -restart-variants, -apiserver-consistency-checks).
N ?= 20
TIMEOUT ?= 20m

.PHONY: bench-scale
bench-scale: envtest ## The manager against a real API server holding N generated tenants (bench/cmd/scale).
	cd bench && go build -o $(LOCALBIN)/bench-scale ./cmd/scale
	cd bench && $(LOCALBIN)/bench-scale -root $(CURDIR) -n $(N) -timeout $(TIMEOUT) -out $(CURDIR)/bench/out $(BENCH_SCALE_FLAGS)

.PHONY: bench-engine
bench-engine: benchstat ## Engine benchmarks on the benchmark tenant, 10 runs, summarised (medians) by benchstat.
	go test ./internal/engine/ -run '^$$' -bench . -benchmem -count 10 | tee $(LOCALBIN)/bench-engine.txt
	$(BENCHSTAT) $(LOCALBIN)/bench-engine.txt

# Mutation testing: gremlins changes one operator at a time in a package and runs that
# package's own tests (go test <pkg>); a mutant the tests still pass is LIVED. Efficacy is
# killed / (killed + lived). Each package's tests reach what it does through the others
# where that is how it is used (internal/policy runs the engine's decision cases).
MUTATE_PKGS ?= ./internal/engine ./internal/policy ./internal/validation ./internal/service
MUTATE_EFFICACY ?= 90
# A mutant's test run is cut after this many times the first (coverage) run, then TIMED OUT.
MUTATE_TIMEOUT_COEFFICIENT ?= 6
MUTATE_FLAGS ?=

.PHONY: mutate
mutate: gremlins ## Mutation testing (gremlins) of MUTATE_PKGS: efficacy per package, fails under MUTATE_EFFICACY % (slow: ~40 min).
	@mkdir -p $(LOCALBIN)/mutate; fail=; summary=; \
	for p in $(MUTATE_PKGS); do n=$$(basename $$p); out=$(LOCALBIN)/mutate/$$n; start=$$SECONDS; \
	  echo "== $$p (mutants: $$out.log, $$out.json)"; \
	  GOFLAGS=-count=1 $(GREMLINS) unleash $$p --timeout-coefficient $(MUTATE_TIMEOUT_COEFFICIENT) \
	    -o $$out.json $(MUTATE_FLAGS) > $$out.log 2>&1 || { cat $$out.log; echo "$$p: gremlins failed"; exit 1; }; \
	  grep -E 'LIVED|NOT COVERED|TIMED OUT|NOT VIABLE' $$out.log || true; \
	  count() { grep -o "\"$$1\":[0-9.]*" $$out.json | cut -d: -f2; }; \
	  eff=$$(count test_efficacy); \
	  line=$$(printf '%-22s efficacy %6.2f%%  killed %s, lived %s, not covered %s, timed out %s  (%ss)' \
	    $$p "$$eff" "$$(count mutants_killed)" "$$(count mutants_lived)" "$$(count mutants_not_covered)" \
	    "$$(grep -c 'TIMED OUT' $$out.log || true)" $$((SECONDS - start))); \
	  echo "$$line"; summary="$$summary$$line"$$'\n'; \
	  awk -v e="$$eff" -v m=$(MUTATE_EFFICACY) 'BEGIN { exit !(e >= m) }' || fail="$$fail $$p"; \
	done; \
	printf '\n%s' "$$summary"; \
	if [ -n "$$fail" ]; then echo "efficacy under $(MUTATE_EFFICACY)%:$$fail"; exit 1; fi

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build crmauthz and the kubectl plugin (kubectl-crmauthz) into bin/.
	go build -ldflags "-X github.com/crmauthz/crmauthz/internal/cli.Version=$(VERSION)" -o $(LOCALBIN)/crmauthz ./cmd/crmauthz
	go build -ldflags "-X github.com/crmauthz/crmauthz/internal/cli.Version=$(VERSION)" -o $(LOCALBIN)/kubectl-crmauthz ./cmd/kubectl-crmauthz

.PHONY: run
run: build envtest ## Run everything locally: control plane, CRDs, webhooks, manager, samples, API on localhost:8080.
	go build -o $(LOCALBIN)/crmauthz-run ./hack/run
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(LOCALBIN)/crmauthz-run

##@ Dependencies

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: envtest
envtest: $(LOCALBIN) ## Find or get kube-apiserver and etcd for envtest: KUBEBUILDER_ASSETS, setup-envtest, or a build (cached outside the clone).
	@assets=$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ETCD_VERSION=$(ENVTEST_ETCD_VERSION) SETUP_ENVTEST_VERSION=$(SETUP_ENVTEST_VERSION) hack/envtest-assets.sh) && \
	  { [ "$$assets" = "$$(cd $(ENVTEST_ASSETS) 2>/dev/null && pwd -P)" ] || ln -sfn "$$assets" $(ENVTEST_ASSETS); }

.PHONY: benchstat
benchstat: $(BENCHSTAT) ## Install benchstat into bin/.
$(BENCHSTAT): $(LOCALBIN)
	$(call go-install-tool,$(BENCHSTAT),golang.org/x/perf/cmd/benchstat,$(BENCHSTAT_VERSION))

.PHONY: gremlins
gremlins: $(GREMLINS) ## Install gremlins (mutation testing) into bin/.
$(GREMLINS): $(LOCALBIN)
	$(call go-install-tool,$(GREMLINS),github.com/go-gremlins/gremlins/cmd/gremlins,$(GREMLINS_VERSION))

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ (built from Go modules).
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

.PHONY: krew
krew: $(KREW) $(VALIDATE_KREW_MANIFEST) ## Install krew and its manifest validator into bin/.
$(KREW): $(LOCALBIN)
	$(call go-install-tool,$(KREW),sigs.k8s.io/krew/cmd/krew,$(KREW_VERSION))
$(VALIDATE_KREW_MANIFEST): $(LOCALBIN)
	$(call go-install-tool,$(VALIDATE_KREW_MANIFEST),sigs.k8s.io/krew/cmd/validate-krew-manifest,$(KREW_VERSION))

.PHONY: plugin-dist
plugin-dist: krew ## The kubectl plugin's release archives and krew manifest (plugins/crmauthz.yaml rendered) into dist/: make plugin-dist VERSION=v0.1.0
	go run ./hack/krew -version $(VERSION) -out dist
	$(VALIDATE_KREW_MANIFEST) -manifest dist/crmauthz.yaml -skip-install

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

# go-install-tool installs a pinned tool as bin/<name>-<version> and links bin/<name> to it,
# so a version bump in this file reinstalls it.
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$$(basename $(1))-$(3)" ] || { \
set -e; \
echo "Installing $(2)@$(3)"; \
rm -f "$(1)"; \
GOBIN="$(LOCALBIN)" go install $(2)@$(3); \
mv "$(LOCALBIN)/$$(basename $(1))" "$(1)-$(3)"; \
ln -sf "$$(basename $(1))-$(3)" "$(1)"; \
}
endef
