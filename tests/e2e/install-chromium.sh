#!/bin/sh
# Debian's Chromium for the browser tests (tests/e2e), installed by `make test` when it is missing.
#
# Playwright's own browser download does not work on these machines, so the tests drive /usr/bin/chromium.
# A no-op when it is already there.  Installing needs root (CI runs as root); elsewhere it only says how, and the
# browser tests skip (or, under CI=true, fail) on their own.  A failed install does not stop the rest of the suite.
set -u

CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "e2e: $CHROMIUM is missing; install it with: apt-get install chromium fonts-liberation (as root)" >&2
    exit 0
fi

echo "e2e: installing Debian's chromium (browser tests)"
export DEBIAN_FRONTEND=noninteractive
# fonts-liberation: metric-compatible Arial/Times/Courier, so screenshots render text as browsers usually do.
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; then
    "$CHROMIUM" --version
else
    echo "e2e: apt-get could not install chromium; the browser tests will not run" >&2
fi
exit 0
