#!/usr/bin/env bash
# Creates or refreshes the project virtualenv (.venv) from
# infra/requirements.txt. Re-runs pip only when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/../.."

requirements=infra/requirements.txt
stamp=.venv/.requirements.sha256
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
echo "venv: installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned packages into .venv" >&2
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
