#!/usr/bin/env bash
# Installs Debian's Chromium for the report's browser test, if no Chromium is found.
# Playwright drives the system browser; it never downloads one of its own.
# Without apt (or root/sudo) it says what to do and exits 0: the browser test then fails with the same advice.
set -u
for candidate in "${HARNESS_CHROMIUM:-}" chromium chromium-browser google-chrome; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
    echo "browser: $(command -v "$candidate")"
    exit 0
  fi
done
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null \
      && echo "browser: $(command -v chromium)" && exit 0
  fi
fi
echo "browser: no Chromium found and none could be installed; install Chromium (Debian/Ubuntu: apt-get install chromium) or set HARNESS_CHROMIUM=/path/to/chrome" >&2
exit 0
