#!/usr/bin/env bash
# Checks what scripts/build-wheels.sh left in dist/ (see scripts/check_wheels.py): platform
# tags confirmed by auditwheel, contents, the x86_64 manylinux wheel smoke-tested on CPython
# 3.10 to 3.13, the sdist built by pip and smoke-tested. Exits 1 if anything is wrong.
# Arguments go to check_wheels.py (e.g. --skip-install: tags and contents only).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_VENV="${BUILD_VENV:-$PWD/.venv-build}"
[ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
"$TOOLS_VENV/bin/python" -m pip install --quiet "auditwheel==6.8.2"
# The sdist is built and smoke-tested with the first CPython of PYTHONS found (else python3).
sdist_python=$(command -v python3)
for v in 3.12 3.11 3.10 3.13; do
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python3; do
        [ -x "$p" ] && { sdist_python=$p; break 2; }
    done
done
exec "$TOOLS_VENV/bin/python" scripts/check_wheels.py \
    --auditwheel "$TOOLS_VENV/bin/auditwheel" --sdist-python "$sdist_python" "$@"
