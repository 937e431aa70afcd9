#!/usr/bin/env bash
# The README's screenshots of `devsynth tokens show`, made from the real commands:
#   docs/tokens-show-terminal.png  the command run in a real terminal (a tmux pane), read back
#                                  with its colours (capture-pane -e), drawn as HTML by
#                                  tests/support/ansi.py and photographed by headless Chromium;
#   docs/tokens-show-html.png      the page of `show --html`, photographed by headless Chromium.
# Run from anywhere, with a Python that imports devsynth (default: python3):
#   PYTHON=.venv/bin/python bash scripts/screenshots.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-python3}"
bash scripts/system-tools.sh
CHROMIUM="$(command -v chromium || command -v chromium-browser)"

work="$(mktemp -d)"
socket="$work/tmux.sock"
cleanup() {
    tmux -S "$socket" kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The sample: code, prose, a word split in pieces, Cyrillic, and an emoji cut into bytes.
cat > "$work/greet.py" <<'SAMPLE'
def greet(name: str) -> str:
    """Say hello in three languages."""
    return f"Hello, {name}! Grüß dich! Привет! 👋"
SAMPLE
ids_text="Tokenizers split unfamiliar words: antidisestablishmentarianism."

shoot() {  # shoot PAGE PNG WIDTH HEIGHT
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --hide-scrollbars --user-data-dir="$work/profile" --force-device-scale-factor=1 \
        --window-size="$3,$4" --screenshot="$2" "file://$1" 2>/dev/null
    test -s "$2"
}

# 1. The terminal: two commands typed at a prompt, in a 110-column pane.
cat > "$work/session.sh" <<SESSION
cd "$work"
unset NO_COLOR
export TERM=xterm-256color
printf '\$ devsynth tokens show -f greet.py\n'
"$PYTHON" -m devsynth tokens show -f greet.py
printf '\n\$ devsynth tokens show --ids "%s"\n' "$ids_text"
"$PYTHON" -m devsynth tokens show --ids "$ids_text"
tmux -S "$socket" wait-for -S shown
sleep 600
SESSION
tmux -S "$socket" -f /dev/null new-session -d -s shot -x 110 -y 40 "bash $work/session.sh"
timeout 120 tmux -S "$socket" wait-for shown
tmux -S "$socket" capture-pane -p -e -t shot | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$work/terminal.ans"
"$PYTHON" -m tests.support.ansi < "$work/terminal.ans" > "$work/terminal.html"
lines=$(wc -l < "$work/terminal.ans")
shoot "$work/terminal.html" docs/tokens-show-terminal.png 1000 $((lines * 21 + 36))

# 2. The HTML page.
(cd "$work" && "$PYTHON" -m devsynth tokens show -f greet.py --html "$work/tokens.html")
shoot "$work/tokens.html" docs/tokens-show-html.png 900 250

ls -l docs/tokens-show-terminal.png docs/tokens-show-html.png
