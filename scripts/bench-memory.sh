#!/usr/bin/env bash
# Peak memory of the release binary waiting on --all-caches over a project
# of N caches (fake-peaka's many-N-… projects: both slots, progress, the
# shape the live API sends), in text and JSON output and in GitHub Actions
# mode. Then the hostile replies of issue 16 (scripts/hostile-replies.py),
# each within the size caps: the median peak RSS of RUNS runs per reply,
# and the exit code every run ended with.
#   scripts/bench-memory.sh [N=10000] [RUNS=5]
# PEAKA_WAIT=path measures another build of peaka-wait (an older commit's,
# for a "before" figure).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
runs=${2:-5}
# Two builds, so that the binary measured has peaka-wait's own features.
cargo build -q --release -p peaka-wait
cargo build -q --release -p fake-peaka
bin=${PEAKA_WAIT:-./target/release/peaka-wait}
port=$((20000 + RANDOM % 20000))
./target/release/fake-peaka --port "$port" >/dev/null &
fake=$!
hostile_port=$((port + 1))
python3 scripts/hostile-replies.py "$hostile_port" &
hostile=$!
trap 'kill $fake $hostile 2>/dev/null' EXIT
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
    env "${envs[@]}" /usr/bin/time -o "$tmp/rss" -f %M "$bin" \
      --base-url "$base" --project-id "many-$n-completes-after-2s~$case$run" --all-caches \
      --timeout 1m --log-level warn "${extra[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    tail -n 1 "$tmp/rss"
  done | median | awk -v c="$case" -v n="$n" -v r="$runs" '{printf "%s: %d caches, median peak RSS over %d runs: %.1f MiB\n", c, n, r, $1/1024}'
done

# Issue 16: one reply each, within the caps. "name|want exit|arguments".
hostile_base="http://127.0.0.1:$hostile_port/api/v1"
cases=(
  "two caches, a 15 MiB list whose one error is [0,0,…]|1|list15|--cache-id a --cache-id b"
  "--list-caches, the same list|0|list15|--list-caches"
  "one cache, a 4 MiB status whose error is [0,0,…], --schedule exponential|1|status4|--cache-id c --schedule exponential"
  "a 4 MiB history of {} (1.4 M entries)|0|histempty|--cache-id c"
  "a history with one 4 MiB error array|0|histerror|--cache-id c"
  "a 4 MiB settings reply with a numeric array|0|settings|--cache-id c"
  "two caches among 480,000 tiny entries (13.6 MiB)|0|crowd|--cache-id a --cache-id b"
  "--list-caches, the same 480,002 caches|0|crowd|--list-caches"
)
for entry in "${cases[@]}"; do
  IFS='|' read -r name want project args <<<"$entry"
  : >"$tmp/peaks"
  for run in $(seq "$runs"); do
    # shellcheck disable=SC2086 # the arguments are words
    env PEAKA_API_KEY=demo-key /usr/bin/time -o "$tmp/rss" -f %M "$bin" \
      --base-url "$hostile_base" --project-id "$project~$run" $args \
      --initial-interval 200ms --max-interval 500ms --timeout 1m --log-level warn \
      >/dev/null 2>"$tmp/err" && code=0 || code=$?
    if [ "$code" != "$want" ]; then
      echo "$name: exit $code, want $want" >&2
      tail -n 3 "$tmp/err" >&2
      exit 1
    fi
    tail -n 1 "$tmp/rss" >>"$tmp/peaks"
  done
  median <"$tmp/peaks" | awk -v c="$name" -v r="$runs" -v w="$want" '{printf "%s: median peak RSS over %d runs: %.1f MiB (every run exit %s)\n", c, r, $1/1024, w}'
done
