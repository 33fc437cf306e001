#!/usr/bin/env bash
# `make profile`: where one warm event's CPU goes. Runs `make bench`'s warm
# loop (BENCH_ONLY=warm: 200 updates matched by email, after the process's
# first event) against the release `webhook` (lto and all) with its
# symbols, and
#   - perf (the default): samples the loop on the `cpu-clock` software
#     event (no hardware counters needed) with DWARF unwinding, and draws
#     target/profile/webhook.svg with inferno, plus webhook.folded and the
#     top frames by own samples and by inclusive samples;
#   - PROFILER=callgrind: counts the loop's instructions under valgrind
#     (exact and repeatable on a loaded machine, unlike time samples):
#     target/profile/callgrind.out.* and callgrind_annotate's top.
# Installs what it needs: inferno (pinned) into .tools/, and on Debian
# `linux-perf` / `valgrind` when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

INFERNO_VERSION=0.12.3
PROFILER=${PROFILER:-perf}
out=target/profile
mkdir -p "$out" .tools

need_apt() { # command, Debian package
  command -v "$1" >/dev/null && return 0
  echo "profile: installing $2" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2"
}

# inferno's binaries print no version: cargo's install record says which.
if ! grep -q "\"inferno $INFERNO_VERSION " .tools/.crates.toml 2>/dev/null; then
  echo "profile: installing inferno $INFERNO_VERSION into .tools" >&2
  cargo install --quiet --locked --root .tools inferno --version "$INFERNO_VERSION"
fi

# The release webhook as `make bench` builds it, but with its symbol table
# (a per-package override: only the webhook's own link is redone, its
# dependencies are reused), copied aside; the next `make bench` relinks
# the stripped one.
# The same packages as `make bench`, so that features unify as there and
# no dependency is rebuilt (`-p webhook` alone rebuilds tokio and up).
cargo build --release -p webhook -p kvcore-indexer -p sync-worker -p google-poller -p microsoft-poller -p kvsync-cli -p kvsync-bench \
  --config 'profile.release.package.webhook.strip=false'
export INDEXER_BIN=$PWD/target/release/kvcore-indexer
cp target/release/webhook "$out/webhook"
bin=$PWD/$out/webhook

case "$PROFILER" in
  perf)
    need_apt perf linux-perf
    rm -f "$out/perf.data"
    WEBHOOK_BIN=$bin BENCH_ONLY=warm BENCH_PROFILE=perf infra/scripts/with-moto.sh target/release/kvsync-bench
    # No debuginfod look-ups: perf would wait on the network for every DSO.
    DEBUGINFOD_URLS= perf script -i "$out/perf.data" 2>/dev/null | .tools/bin/inferno-collapse-perf 2>/dev/null > "$out/webhook.folded"
    .tools/bin/inferno-flamegraph --title "webhook: 200 warm updates matched by email" \
      < "$out/webhook.folded" > "$out/webhook.svg"
    python3 infra/scripts/profile_top.py "$out/webhook.folded" | tee "$out/top.txt"
    echo "profile: $out/webhook.svg" >&2
    ;;
  callgrind)
    need_apt valgrind valgrind
    rm -f "$out"/callgrind.out*
    wrapper=$out/webhook-under-callgrind
    printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/callgrind.out "%s" "$@"\n' "$PWD/$out" "$bin" > "$wrapper"
    chmod +x "$wrapper"
    WEBHOOK_BIN=$PWD/$wrapper BENCH_ONLY=warm BENCH_PROFILE=callgrind infra/scripts/with-moto.sh target/release/kvsync-bench
    dump=$(ls -t "$out"/callgrind.out.* | head -1)
    # Whole to a file first: `head` closing the pipe early would fail the
    # script (pipefail) with SIGPIPE.
    callgrind_annotate --inclusive=yes "$dump" 2>/dev/null > "$out/callgrind-annotate.txt"
    head -60 "$out/callgrind-annotate.txt" | tee "$out/callgrind-top.txt"
    echo "profile: $dump (the warm loop's instructions; 200 events)" >&2
    ;;
  *) echo "PROFILER is perf or callgrind, not $PROFILER" >&2; exit 2 ;;
esac
