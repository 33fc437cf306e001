#!/usr/bin/env bash
# Runs a command with a fresh moto_server (local DynamoDB and Secrets
# Manager) on a free loopback port, exported as MOTO_URL, and stops the
# server afterwards, whatever happens. The server is moto's, run by
# moto_atomic.py so that conditional writes are atomic as in DynamoDB.
#   infra/scripts/with-moto.sh cargo test --workspace
set -euo pipefail
cd "$(dirname "$0")/../.."

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p .dev
.venv/bin/python infra/scripts/moto_atomic.py -H 127.0.0.1 -p "$port" > .dev/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto_server did not start; see .dev/moto.log" >&2; exit 1; }
  sleep 0.1
done

export MOTO_URL="http://127.0.0.1:$port"
echo "moto_server: $MOTO_URL (pid $moto_pid)" >&2
"$@"
