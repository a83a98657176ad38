#!/usr/bin/env bash
# Peak memory of the release binary waiting on --all-caches over a project
# of N caches (fake-peaka's many-N-… projects: both slots, progress, the
# shape the live API sends), in text and JSON output and in GitHub Actions
# mode. Prints the median peak RSS of RUNS runs per case.
#   scripts/bench-memory.sh [N=10000] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
runs=${2:-5}
cargo build -q --release -p peaka-wait -p fake-peaka
port=$((20000 + RANDOM % 20000))
./target/release/fake-peaka --port "$port" >/dev/null &
fake=$!
trap 'kill $fake 2>/dev/null' EXIT
sleep 1
base="http://127.0.0.1:$port/api/v1"
tmp=$(mktemp -d)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for case in text json github; do
  for run in $(seq "$runs"); do
    extra=()
    envs=(PEAKA_API_KEY=demo-key)
    [ "$case" = json ] && extra=(--output json)
    [ "$case" = github ] && envs+=(GITHUB_ACTIONS=true GITHUB_OUTPUT="$tmp/out" GITHUB_STEP_SUMMARY="$tmp/summary")
    # A fresh project id per run: each run sees the refresh complete after 2 s.
    env "${envs[@]}" /usr/bin/time -o "$tmp/rss" -f %M ./target/release/peaka-wait \
      --base-url "$base" --project-id "many-$n-completes-after-2s~$case$run" --all-caches \
      --timeout 1m --log-level warn "${extra[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    tail -n 1 "$tmp/rss"
  done | median | awk -v c="$case" -v n="$n" -v r="$runs" '{printf "%s: %d caches, median peak RSS over %d runs: %.1f MiB\n", c, n, r, $1/1024}'
done
