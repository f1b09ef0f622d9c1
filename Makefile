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

.PHONY: help tools emulator-deps emulator demo test lint fmt-check clippy unit integration bench build clean-tools

help:
	@echo "make demo    - run every function against the local AWS emulator and show what each did"
	@echo "make test    - fmt check, clippy -D warnings, unit and emulator integration tests"
	@echo "make emulator- run the local AWS emulator in the foreground on $(EMULATOR_HOST):$(EMULATOR_PORT)"
	@echo "make bench   - benchmarks"

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

# Unit and integration tests in one cargo invocation: one build, one feature set per crate.
# Integration tests start their own emulator (infra/local) on a free loopback port.
unit integration:
	@echo "use 'make test'"

test: emulator-deps fmt-check clippy
	cargo test --workspace --locked

bench:
	cargo bench --workspace --locked

build: tools
	cargo lambda build --release --workspace

demo: tools
	bash infra/local/demo.sh

clean-tools:
	rm -rf $(TOOLS)
