#!/usr/bin/env bash
# Shows peaka-wait working with no Peaka account: builds the gate and the
# fake Peaka API, starts the fake on loopback, and gates on a cache whose
# refresh completes after a few seconds — then on one whose refresh fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fresh clone compiles for a few minutes: say so, and let cargo show its
# progress rather than sit silent.
echo "demo: building peaka-wait and the fake Peaka API (cargo build; a few minutes on a fresh clone, seconds after that)..."
cargo build --workspace --locked
# Where cargo put them: CARGO_TARGET_DIR when set (relative to the repo root).
bin="${CARGO_TARGET_DIR:-target}/debug"
echo "demo: built; starting the fake Peaka API"

url_file=$(mktemp)
"$bin/fake-peaka" >"$url_file" &
fake=$!
trap 'kill "$fake" 2>/dev/null || true; rm -f "$url_file"' EXIT
for _ in $(seq 50); do [ -s "$url_file" ] && break; sleep 0.1; done
base_url=$(head -n 1 "$url_file")
[ -n "$base_url" ] || { echo "demo: the fake API did not start" >&2; exit 1; }
echo "fake Peaka API at $base_url (accepts the key demo-key)"

export PEAKA_API_KEY=demo-key PEAKA_BASE_URL="$base_url" PEAKA_PROJECT_ID=demo

echo
echo "\$ peaka-wait --cache-id completes-after-4s --timeout 1m"
status=0
"$bin/peaka-wait" --cache-id completes-after-4s --timeout 1m || status=$?
echo "exit code: $status (0 = ready)"
[ "$status" -eq 0 ] || exit 1

echo
echo "\$ peaka-wait --cache-id fails-after-2s --timeout 1m --output json"
status=0
"$bin/peaka-wait" --cache-id fails-after-2s --timeout 1m --output json || status=$?
echo "exit code: $status (1 = failed)"
[ "$status" -eq 1 ] || exit 1
