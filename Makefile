# Short verbs for the usual jobs. CI runs `bash scripts/test.sh` (what `make test` runs).
#
#   make dev      build the package into .venv, editable (quick profile: seconds to rebuild)
#   make test     every check CI runs, from a fresh virtual environment
#   make lint     formatting, lints, types, and the extension's stub against the build
#   make format   rewrite Rust and Python into their formatting
#   make bench    devsynth against tiktoken (a full release build first)
#   make wheels   the release wheels (scripts/build-wheels.sh)
#   make fuzz     the fuzz targets, each for a set time (scripts/fuzz.sh)

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))

.DEFAULT_GOAL := help
.PHONY: help dev test lint format bench wheels fuzz

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(BIN)/maturin:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "maturin>=1.7,<2"

dev: $(BIN)/maturin
	$(BIN)/maturin develop --profile quick --extras dev

test:
	bash scripts/test.sh

lint: dev
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	cargo clippy --release --features python -- -D warnings
	$(BIN)/ruff format --check python tests benches scripts
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/mypy
	$(BIN)/mypy --strict scripts/smoke_wheel.py scripts/check_wheels.py scripts/musl_soname.py
	$(BIN)/python -m mypy.stubtest devsynth._core

format:
	cargo fmt
	$(BIN)/ruff format python tests benches scripts
	$(BIN)/ruff check --fix python tests benches scripts

bench: $(BIN)/maturin
	$(BIN)/maturin develop --release --extras dev
	$(BIN)/python benches/compare.py

# manylinux2014 and musllinux_1_2 wheels for x86_64 and aarch64, and the sdist, into dist/;
# then `bash scripts/check-wheels.sh` checks them (auditwheel tags, CPython 3.10-3.13).
wheels:
	bash scripts/build-wheels.sh

fuzz:
	@test -f scripts/fuzz.sh || { echo "make fuzz: scripts/fuzz.sh has not landed yet"; exit 1; }
	bash scripts/fuzz.sh
