#!/usr/bin/env bash
# Mutation testing of the decision core (cargo-mutants): every mutant that
# can change a verdict must be caught by the unit tests. Installs the pinned
# cargo-mutants if missing, runs it on the files listed in
# .cargo/mutants.toml (one job: the machine is shared; about an hour on
# two cores), prints the score, writes evidence/mutants.txt (checked by
# tests/it/evidence.rs against the sources) and exits non-zero when a mutant
# was missed or the run did not complete.
#
# `scripts/mutants.sh --since REV` tests only the mutants in the lines of
# those files changed since REV, whose record must be a full run with
# nothing missed (minutes instead of an hour); the record then says so and
# names that full run. Lines not changed since REV keep its result.
set -euo pipefail
cd "$(dirname "$0")/.."

since=""
case "${1:-}" in
  --since) since=${2:?"--since takes a git revision (the commit of the last full run's record)"} ;;
  "") ;;
  *) echo "usage: scripts/mutants.sh [--since REV]" >&2; exit 2 ;;
esac

version=27.1.0
timeout=60
config=.cargo/mutants.toml
record=evidence/mutants.txt

if [ "$(cargo mutants --version 2>/dev/null || true)" != "cargo-mutants $version" ]; then
  cargo install --locked --quiet "cargo-mutants@$version"
fi

# The one list of files, shared with tests/it/evidence.rs.
files=$(sed -n 's/^examine_globs = \[\(.*\)\]$/\1/p' "$config" | tr -d '",')
[ -n "$files" ] || { echo "mutants: no examine_globs line in $config" >&2; exit 2; }
# shellcheck disable=SC2086 # the list is plain paths, split on spaces
hashes_before=$(sha256sum $files)

out=target/mutants
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
scope=()
base_line=""
if [ -n "$since" ]; then
  base_record=$(git show "$since:$record") || { echo "mutants: no $record at $since" >&2; exit 2; }
  # The base must itself be a full run that missed nothing.
  if ! grep -q '^missed: 0$' <<<"$base_record" || grep -q '^scope: ' <<<"$base_record"; then
    echo "mutants: the record at $since is not a full run with nothing missed; run without --since" >&2
    exit 2
  fi
  base_line="$(sed -n 's/^date: //p' <<<"$base_record"), $(sed -n 's/^score: //p' <<<"$base_record") at $(git rev-parse --short "$since")"
  # shellcheck disable=SC2086 # the list is plain paths, split on spaces
  git diff "$since" -- $files >"$out/changes.diff"
  scope=(--in-diff "$out/changes.diff")
fi
status=0
cargo mutants --jobs 1 --timeout "$timeout" --output "$out" "${scope[@]}" || status=$?
minutes=$((($(date +%s) - start + 30) / 60))
# cargo-mutants: 0 all caught, 2 some missed, 3 some timed out (a mutant
# that hangs the tests is caught: the tests do not pass). Anything else
# (1 usage, 4 the unmutated tests fail) means there is no result.
case "$status" in 0 | 2 | 3) ;; *)
  echo "mutants: cargo-mutants failed (exit $status); see $out/mutants.out/debug.log" >&2
  exit 1
  ;;
esac

# shellcheck disable=SC2086
if [ "$(sha256sum $files)" != "$hashes_before" ]; then
  echo "mutants: the sources changed during the run; run it again" >&2
  exit 1
fi

count() { if [ -f "$out/mutants.out/$1.txt" ]; then grep -c . "$out/mutants.out/$1.txt" || true; else echo 0; fi; }
caught=$(count caught)
missed=$(count missed)
timeouts=$(count timeout)
unviable=$(count unviable)
viable=$((caught + missed + timeouts))
if [ "$viable" -eq 0 ]; then
  # A diff of comments or tests alone has no mutant; a full run always has.
  [ -n "$since" ] || { echo "mutants: no viable mutant was tested" >&2; exit 1; }
  score=100.0
else
  score=$(awk -v k=$((caught + timeouts)) -v v="$viable" 'BEGIN { printf "%.1f", 100 * k / v }')
fi

mkdir -p "$(dirname "$record")"
{
  echo "# Mutation testing of the decision core. Written by scripts/mutants.sh;"
  echo "# tests/it/evidence.rs fails when a file below no longer has this hash."
  echo "tool: cargo-mutants $version, --jobs 1 --timeout $timeout, cargo test --lib ($config)"
  if [ -n "$since" ]; then
    echo "scope: the mutants in the lines changed since $(git rev-parse --short "$since"); the rest as in the full run of $base_line"
  fi
  echo "date: $(date -u +%Y-%m-%d)"
  echo "machine: $(nproc) cores, $(uname -sm), ${minutes} min"
  echo "mutants: $((viable + unviable)) (caught $caught, timeout $timeouts, missed $missed, unviable $unviable)"
  echo "score: $score% (caught or timed out, of $viable viable)"
  echo "missed: $missed"
  sed 's/^/missed mutant: /' "$out/mutants.out/missed.txt" 2>/dev/null || true
  sed 's/^/timeout mutant: /' "$out/mutants.out/timeout.txt" 2>/dev/null || true
  echo "$hashes_before" | sed 's/^/file: /'
} >"$record"

echo
cat "$record"
if [ "$missed" -ne 0 ]; then
  echo "mutants: $missed missed; add a test that kills each (or, if it cannot change behaviour, exclude it in $config with the reason)" >&2
  exit 1
fi
