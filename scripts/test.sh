#!/usr/bin/env bash
# Every check CI runs, from a fresh virtual environment: builds and installs the wheel with the
# test dependencies, then formatting and lints (Rust and Python), the Rust unit tests, and the
# Python test suite against the installed package (never the source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
# tmux and headless Chromium for the terminal and HTML tests: installed when missing, and
# required (a test that cannot find one fails instead of skipping).
bash scripts/system-tools.sh
export DEVSYNTH_REQUIRE_TOOLS=1
VENV="${VENV:-.venv-test}"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install ".[dev]"

echo "== Rust: format, lints, unit tests"
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --release --features python -- -D warnings
cargo test --release

echo "== Python: format, lints, types"
"$VENV/bin/ruff" format --check python tests benches
"$VENV/bin/ruff" check python tests benches
"$VENV/bin/mypy"
# The type stub of the extension against the extension built into the wheel.
"$VENV/bin/python" -m mypy.stubtest devsynth._core

echo "== Python tests, against the installed wheel"
# The source package lives under python/, which is not on sys.path: this is the wheel.
"$VENV/bin/python" -c "import devsynth; assert 'site-packages' in devsynth.__file__, devsynth.__file__"
"$VENV/bin/python" -m pytest -q
