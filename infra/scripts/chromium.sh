#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages when it is missing, for
# the test that opens an import report in a real browser (SPEC section 13).
# `make test` runs it, so a clean CI machine gets it. Prints the binary.
set -euo pipefail

find_chromium() {
  command -v chromium || command -v chromium-browser || true
}

binary=$(find_chromium)
if [ -z "$binary" ]; then
  echo "chromium: installing Debian's chromium package" >&2
  if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
  else
    sudo=
  fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
  binary=$(find_chromium)
fi
if [ -z "$binary" ]; then
  echo "chromium: not found after installing the chromium package" >&2
  exit 1
fi
echo "$binary"
