#!/usr/bin/env bash
# The Rust unit tests, built for aarch64-unknown-linux-gnu and run under qemu-user: the code
# the aarch64 wheels ship, the portable twins of the x86-64-only paths included (TWIN_TESTS
# below names the tests that run each twin; the run fails if one of them did not run and pass).
# Installs what it needs: Debian's qemu-user and the aarch64 cross linker and C library (apt),
# and the rustup target.
#
# Built in the test profile (opt-level 2, like the release code's optimised paths) without
# debug info and without LTO: the shipped wheels keep the release profile, but the tests need
# neither fat LTO nor line tables, and a build takes minutes less.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
    || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
    echo "== installing qemu-user and the aarch64 cross toolchain (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
rustup target add "$TARGET"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_PROFILE_TEST_DEBUG=0
# A property test's case runs about ten times slower under qemu than natively: here they run a
# quarter of their cases (rust/test_cases.rs; rounded up, at least one), the x86-64 run all of
# them. The whole run then takes about a minute instead of two (one core);
# DEVSYNTH_PROPTEST_SCALE=1 runs every case here too.
export DEVSYNTH_PROPTEST_SCALE="${DEVSYNTH_PROPTEST_SCALE:-0.25}"
echo "== cargo test --target $TARGET (under $(qemu-aarch64 --version | head -n 1);" \
    "property tests at ${DEVSYNTH_PROPTEST_SCALE} of their cases)"

# The tests that run the portable twins of the x86-64-only paths (every encode runs them too):
TWIN_TESTS=(
    # the merge scan without AVX2 (merge_small_sized)
    bpe::tests::every_path_equals_the_reference
    bpe::tests::long_runs_merge_like_the_reference
    # the prefetch as AArch64's prfm (vocab's prepared lookups, the piece cache's batches)
    vocab::tests::prepared_lookups_equal_plain_ones
    encoding::tests::the_piece_cache_changes_no_token
    # the ASCII class masks without SSE2 (ascii16::portable_mask, portable_newlines): the
    # masks against the standard library's ASCII classes, and the fast paths built on them
    # against the regex
    pretokenize::ascii16::tests::portable_masks_equal_the_ascii_classes
    pretokenize::tests::ascii_fast_paths_split_like_the_regex
    pretokenize::tests::scanners_split_like_the_regex
    pretokenize::tests::known_examples_split_like_the_regex
)
LOG="target/aarch64-test.log"
mkdir -p target
cargo test --target "$TARGET" "$@" 2>&1 | tee "$LOG"
# With a filter given, only what it picked ran: nothing to check then.
if [ $# -eq 0 ]; then
    missing=0
    for t in "${TWIN_TESTS[@]}"; do
        if ! grep -qxF "test $t ... ok" "$LOG"; then
            echo "!! $t did not run and pass under qemu (a twin's test renamed or lost?)" >&2
            missing=1
        fi
    done
    [ "$missing" = 0 ] || exit 1
    echo "== aarch64: $(grep -cE '^test .* \.\.\. ok$' "$LOG") tests passed under qemu," \
        "the ${#TWIN_TESTS[@]} tests of the portable twins among them"
fi
