#!/bin/sh
# Install Debian's Chromium for the portal's browser tests and screenshots, if it is missing.
# Playwright drives this system browser (executable_path=/usr/bin/chromium); it never downloads
# a browser of its own. Needs root (or sudo) and Debian's package mirror; nothing else.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-browser.sh: /usr/bin/chromium is missing and this needs root (or sudo)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null) at /usr/bin/chromium"
