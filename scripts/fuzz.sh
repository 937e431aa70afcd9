#!/usr/bin/env bash
# Runs every fuzz target of the Rust core for a set time (FUZZ_SECONDS each, default 60) with
# cargo-fuzz on nightly Rust, starting from the saved corpus (fuzz/corpus/TARGET) plus a
# working corpus that grows as the fuzzer finds new paths (fuzz/corpus-work/TARGET, ignored).
#
#   bash scripts/fuzz.sh                 every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh bpe arrow
#   FUZZ_KEEP=1 bash scripts/fuzz.sh     then merge what reached new code into fuzz/corpus
#
# A finding stops the run: the input is saved under fuzz/artifacts/TARGET/; replay it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/<file>`. `cargo test` replays the
# saved corpus on stable Rust (devsynth_core::fuzzing), which is what CI runs.
#
# Needs: rustup toolchain install nightly; cargo install cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(pretokenize chunk_cutter bpe arrow)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh needs nightly Rust and cargo-fuzz:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi
for target in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus-work/$target"
    log="fuzz/corpus-work/$target.log"
    echo "== $target: ${SECONDS_EACH} s"
    status=0
    cargo +nightly fuzz run "$target" "fuzz/corpus-work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=4096 -max_len=4096 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "$target: a finding (the input is under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        cargo +nightly fuzz run "$target" -- -merge=1 "fuzz/corpus/$target" \
            "fuzz/corpus-work/$target" >/dev/null 2>&1
    fi
done
