#!/usr/bin/env bash
# Install Debian's `chromium` (used headless by tests/e2e/test_airflow_ui.py) if /usr/bin/chromium is missing.
# Idempotent and quiet. Never fails the caller: without apt-get, root or network it prints a warning and
# exits 0 (the UI test then tells you what is missing, or skips with STOREFLOW_SKIP_UI_TEST=1).
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

warn() { echo "install_chromium.sh: warning: $*" >&2; exit 0; }

command -v apt-get >/dev/null 2>&1 || warn "apt-get not found; install Chromium yourself (need $CHROMIUM)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        warn "not root and no password-less sudo; run: sudo apt-get install -y chromium"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed"
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || warn "apt-get install chromium failed"

[ -x "$CHROMIUM" ] || warn "chromium installed but $CHROMIUM is missing"
echo "install_chromium.sh: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
exit 0
