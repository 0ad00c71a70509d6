#!/usr/bin/env bash
# Make sure headless Chromium is installed for the dashboard browser test
# (tests/python/test_dashboard_browser.py). Installs Debian's chromium + chromium-driver with
# apt-get only when /usr/bin/chromium is missing. Needs root; exits 2 when it cannot install
# (not root, or no apt-get), 1 when the install itself failed, 0 when chromium is there.
set -euo pipefail

CHROMIUM="${CHROMIUM_BIN:-/usr/bin/chromium}"

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]]; then
  echo "ensure_chromium: $CHROMIUM is missing and this is not root: cannot apt-get install chromium" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available" >&2
  exit 2
fi

echo "ensure_chromium: installing chromium (apt-get) ..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
  echo "ensure_chromium: apt-get install chromium failed" >&2
  exit 1
fi
if [[ ! -x "$CHROMIUM" ]]; then
  echo "ensure_chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "ensure_chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium installed)" >&2
