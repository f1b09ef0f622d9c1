# sagewatch — every tool beyond Rust is installed here, pinned, into .tools/ (git-ignored).
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
VENV         := $(TOOLS)/venv
PY           := $(VENV)/bin/python
PIP          := $(VENV)/bin/pip
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
EMULATOR_HOST ?= 127.0.0.1
EMULATOR_PORT ?= 4566

# Pinned tool versions (the emulator's own pins live in infra/local/requirements.txt).
CARGO_LAMBDA_VERSION := 1.9.2
ZIGLANG_VERSION      := 0.13.0

export PATH := $(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never

.PHONY: help tools emulator-deps emulator emulator-guard demo test validate fmt-check clippy fuzz bench build deploy destroy clean-tools

help:
	@echo "make demo    - run every function against the local AWS emulator and show what each did"
	@echo "make test    - fmt check, clippy -D warnings, unit and emulator integration tests"
	@echo "make emulator- run the local AWS emulator in the foreground on $(EMULATOR_HOST):$(EMULATOR_PORT)"
	@echo "make validate- lint the SAM templates offline (part of make test)"
	@echo "make fuzz    - the parser and handler fuzz targets, long (FUZZ_CASES=$(FUZZ_CASES) cases each)"
	@echo "make bench   - benchmarks"
	@echo "make build   - Lambda packages with SAM (ARCH=x86_64 default, ARCH=arm64 needs the aarch64 Rust std)"
	@echo "make deploy  - build, then sam deploy --guided (AWS credentials needed; see infra/README.md)"
	@echo "make destroy WHAT='app' - delete stacks in reverse deploy order (infra/destroy.sh; asks first)"

$(VENV)/.created:
	python3 -m venv $(VENV)
	touch $@

# The emulator: moto server + our extension (CBOR for CloudWatch, StopTrainingJob, seeding).
$(VENV)/.emulator: $(VENV)/.created infra/local/requirements.txt infra/local/constraints.txt
	$(PIP) install --quiet -r infra/local/requirements.txt -c infra/local/constraints.txt
	touch $@

# cargo-lambda ships as a wheel on PyPI; zig is what it cross-compiles with.
$(VENV)/.cargo-lambda: $(VENV)/.created
	$(PIP) install --quiet cargo-lambda==$(CARGO_LAMBDA_VERSION) ziglang==$(ZIGLANG_VERSION)
	touch $@

emulator-deps: $(VENV)/.emulator
tools: $(VENV)/.emulator $(VENV)/.cargo-lambda

emulator: emulator-deps
	$(PY) infra/local/emulator.py --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

# SAM templates, offline: cfn-lint, sam validate --lint, IAM action names, checkov.
# infra/validate.sh keeps its own pinned venvs under .tools/.
validate:
	bash infra/validate.sh

# The emulator refuses non-loopback Host/Origin and bounds gzip bodies (Python unittest).
emulator-guard: emulator-deps
	$(PY) -m unittest infra/local/tests/emulator_guard.py

# Unit and integration tests in one cargo invocation: one build, one feature set per crate.
# Integration tests start their own emulator (infra/local) on a free loopback port. The fuzz
# targets run PROPTEST_CASES (default 256) cases each here; `make fuzz` runs many more.
test: emulator-deps fmt-check clippy validate emulator-guard
	cargo test --workspace --locked

# Every parser of untrusted input (core) and every handler on hostile payloads (functions).
FUZZ_CASES ?= 20000
FUZZ_TARGETS := -p sagewatch -p overfit-guard -p event-augmenter -p failure-enricher -p endpoint-guard -p endpoint-canary
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --locked $(FUZZ_TARGETS) --test fuzz

# Release builds of the five functions, the lambda_runtime hello-world and the harness
# (infra/bench: a local Runtime API, each binary cold-started and driven against the emulator:
# init, cold first event, warm latency, peak RSS, package size, AWS calls -> one markdown
# table), then the pure core's throughput (classifier, event parsing, EMF, redaction).
# The in-process failure-enricher bench (cargo bench -p failure-enricher --bench handler) is
# left out: the harness runs the same worst-case job as a process, without a second SDK build.
BENCH_FUNCTIONS := overfit-guard event-augmenter failure-enricher endpoint-canary endpoint-guard
bench: emulator-deps
	nice -n 10 cargo build --release --locked $(addprefix -p ,$(BENCH_FUNCTIONS)) -p sagewatch-bench
	target/release/sagewatch-bench
	cargo bench -p sagewatch --locked --bench classifier --bench core

# Lambda packages with SAM (x86_64 here; arm64 needs the aarch64 Rust standard library:
# rustup target add aarch64-unknown-linux-gnu). Build and deploy with the same ARCH.
ARCH ?= x86_64
SAM  := $(TOOLS)/infra-venv/bin/sam
# SAM asks nobody's permission before sending usage data; opt in by setting it to 1.
export SAM_CLI_TELEMETRY ?= 0
build: tools validate
	PATH="$(VENV)/bin:$$PATH" $(SAM) build --template-file infra/template.yaml --parameter-overrides Architecture=$(ARCH)

# Interactive first deploy of the application stack (needs AWS credentials); answers are
# saved to infra/samconfig.toml. Centralized mode and per-endpoint stacks: infra/README.md.
deploy: build
	$(SAM) deploy --guided --config-file infra/samconfig.toml --parameter-overrides Architecture=$(ARCH)

# Teardown, one account per run: WHAT is any of organization alarms endpoints workload
# monitoring app all (infra/destroy.sh; what is retained and how to remove it: infra/README.md).
destroy:
	@test -n "$(WHAT)" || { echo "make destroy WHAT='app' (or: organization alarms endpoints workload monitoring all)"; exit 2; }
	bash infra/destroy.sh $(WHAT)

demo: tools
	bash infra/local/demo.sh

clean-tools:
	rm -rf $(TOOLS)
