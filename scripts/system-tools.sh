#!/usr/bin/env bash
# The programs some tests and scripts/screenshots.sh drive: tmux (a real terminal) and headless
# Chromium with a monospace font (the HTML pages). Installs with apt-get only what is missing,
# so it is quick when they are there; fails loudly when it cannot install them.
set -euo pipefail
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "== installing ${missing[*]} (apt-get)"
if ! command -v apt-get >/dev/null; then
    echo "error: ${missing[*]} missing and no apt-get to install them" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
