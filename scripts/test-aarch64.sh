#!/usr/bin/env bash
# The Rust unit tests, built for aarch64-unknown-linux-gnu and run under qemu-user: the code
# the aarch64 wheels ship, the portable twins of the x86-64-only paths included: the merge
# scan without AVX2 (merge_small_sized: bpe::tests::every_path_equals_the_reference,
# long_runs_merge_like_the_reference, and every encode), the prefetch as AArch64's prfm
# (vocab::tests::prepared_lookups_equal_plain_ones, the piece cache's tests, every encode) and
# the ASCII class masks without SSE2 (portable_mask: pretokenize's fast-path property tests
# against the regex).
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
cargo test --target "$TARGET" "$@"
