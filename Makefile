# RecallRegistry: `make demo` and `make test` set up a fresh Debian machine (as root) and run.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

DEB_PACKAGES := liblmdb-dev libzstd-dev libsqlite3-dev libopenblas-dev pkg-config
SWIFT ?= swift
DEMO_HOME ?= $(CURDIR)/.demo

.PHONY: all deps build release test test-ui stress demo bench bench-cl bench-scale check-writer fixtures reliability fuzz fuzz-smoke fuzz-ci clean

all: build

# Install the Debian packages that are missing (apt-get update once, only when needed).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	@mkdir -p .build
	$(SWIFT) test --skip-build --disable-swift-testing 2>&1 | tee .build/test.log
	@awk '/Executed [0-9]+ tests?, with/ { n = $$2; f = 0; s = 0; for (i = 1; i <= NF; i++) { if ($$i ~ /^failures?$$/) f = $$(i-1); if ($$i == "skipped") s = $$(i-2) } } END { print "tests: " n - f - s " passed, " f " failed, " s " skipped" }' .build/test.log

# The web pages in a real browser (Debian's chromium + chromium-driver, selenium in tools/.venv-ui)
# on the tiny fixture models, on TCP and through `recallctl ui`; UI_SCREENSHOTS=docs/img refreshes the screenshots.
test-ui:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) chromium chromium-driver python3-venv"
	$(SWIFT) build --build-tests
	@bash tools/test-ui.sh "$$($(SWIFT) build --show-bin-path)"

# Hundreds of SIGKILL-at-random-moments rounds against the store (make test runs a few).
stress: deps
	$(SWIFT) build --build-tests
	RECALL_CRASH_ITERATIONS=$${RECALL_CRASH_ITERATIONS:-200} $(SWIFT) test --skip-build --disable-swift-testing --filter StoreCrashTests

# The main job on the embedded default: today, the checkpoint tool chain on the bundled tiny
# Llama fixture (inspect, convert to f32 and back, shard); the daemon flow joins it as it lands.
demo: release
	@bash tools/demo.sh "$$($(SWIFT) build -c release --show-bin-path)" "$(DEMO_HOME)"

# The continual-learning benchmark on SmolLM2 (about an hour on 2 cores; PHASE=experts etc. for one part).
bench-cl: release
	@bash bench/cl/run.sh "$$($(SWIFT) build -c release --show-bin-path)"

# The registry on a 7B-class (12.1 GB) checkpoint against cp / zstd / sha256sum of the same file;
# needs ~45 GB of free disk (it says so first) and bench-cl's SmolLM2 tokenizer; about 30-40 minutes.
# ONLY=default (or ONLY=linear) re-runs just that method's registry (and the floors), keeping the other's rows.
bench-scale: release
	@bash bench/scale/run.sh "$$($(SWIFT) build -c release --show-bin-path)"

# Benchmarks write their figures into BENCHMARKS.md and bench/results/.
bench: release
	@bash bench/run.sh "$$($(SWIFT) build -c release --show-bin-path)"

# Our written files checked by the Python safetensors library and transformers (needs PyPI once).
check-writer: release
	@bash tools/check-writer.sh "$$($(SWIFT) build -c release --show-bin-path)"

# Regenerate the golden fixtures with the Python oracles (needs network access to PyPI).
fixtures:
	bash tools/setup-venv.sh
	tools/.venv/bin/python tools/gen_safetensors_fixtures.py

# Issue #20's reliability campaigns against the daemon binaries in RELIABILITY_BIN (default: this
# tree's release build): Schemathesis on docs/openapi.yaml over TCP, 16 clients of load for
# LOAD_SECONDS (600), disk full on a tmpfs, KILL_ROUNDS (200) SIGKILLs, on-disk corruption.
# Needs root (tmpfs mount, the daemon run as nobody) and PyPI once (tools/.venv-rel); ~25 minutes.
# Figures: bench/results/reliability-*.json; RELIABILITY.md says what they mean. Not part of make test.
RELIABILITY_BIN ?=
LOAD_SECONDS ?= 600
KILL_ROUNDS ?= 200
reliability: deps
	@bin="$(RELIABILITY_BIN)"; if [ -z "$$bin" ]; then $(SWIFT) build -c release; bin="$$($(SWIFT) build -c release --show-bin-path)"; fi; \
	bash bench/reliability/run.sh "$$bin" "$(LOAD_SECONDS)" "$(KILL_ROUNDS)"

# Issue #20's parser fuzzing: libFuzzer + AddressSanitizer harnesses (fuzz/, one executable built
# into .build-fuzz), seeds in fuzz/corpus/. `fuzz` runs every harness FUZZ_SECONDS, FUZZ_JOBS at a
# time (figures in .build-fuzz/results.tsv; RELIABILITY.md "Fuzzing"); `fuzz-smoke` runs each for
# FUZZ_SMOKE_SECONDS in turn, so a regression shows. Findings: .build-fuzz/artifacts/<harness>/.
FUZZ_SECONDS ?= 300
FUZZ_JOBS ?= 2
FUZZ_SMOKE_SECONDS ?= 10
# `fuzz-ci` (what .ci/run calls): every harness FUZZ_CI_RUNS inputs from seed 1, so a red run
# reproduces anywhere; about a minute after the ~8 min cold build.
FUZZ_CI_RUNS ?= 10000
fuzz: deps
	SWIFT=$(SWIFT) bash fuzz/run.sh build
	SWIFT=$(SWIFT) bash fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ_JOBS)

fuzz-smoke: deps
	SWIFT=$(SWIFT) bash fuzz/run.sh build
	SWIFT=$(SWIFT) bash fuzz/run.sh smoke $(FUZZ_SMOKE_SECONDS)

fuzz-ci: deps
	SWIFT=$(SWIFT) bash fuzz/run.sh build
	SWIFT=$(SWIFT) bash fuzz/run.sh ci $(FUZZ_CI_RUNS)

clean:
	rm -rf .build .build-fuzz .demo
