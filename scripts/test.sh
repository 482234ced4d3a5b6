#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/serve -x).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# The browser test drives Debian's chromium through Playwright (Playwright's own browser download
# does not work on a closed network).
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }
fi

# The engine-equality test runs Spark in local mode, which needs a Java runtime (17 or later).
if ! command -v java >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends default-jre-headless >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends default-jre-headless >/dev/null; }
fi

python -m pytest -q "$@"
