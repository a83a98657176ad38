#!/usr/bin/env bash
# What the one integration-test crate (tests/it/, issue 19 §3) did to a
# cold build: the wall time of `cargo test --workspace --no-run` and the
# size of the target dir, in a fresh target dir, for the commit before
# that change and for HEAD, alternating so that the machine's load falls
# on both alike. Prints a Markdown section (medians, with n) on stdout.
#
#   scripts/bench-build.sh            # n = 3 of each (6 cold builds)
#   scripts/bench-build.sh -n 2       # fewer
#   scripts/bench-build.sh --run      # also time running the tests (warm)
#
# Cold means a fresh target dir; the cargo registry (downloaded crates)
# stays, so no figure includes the network. Nothing is built in the repo's
# own target dir: each commit is checked out with `git worktree add` under
# a temporary folder, removed at the end.
set -euo pipefail

runs=3
run_tests=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="${2:?-n takes a number of runs, like -n 3}"; shift 2 ;;
        --run) run_tests=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-build.sh: unknown argument '$1' (accepted: -n N, --run)" >&2; exit 2 ;;
    esac
done
case "$runs" in
    ''|*[!0-9]*|0) echo "bench-build.sh: -n must be a whole number from 1, like -n 3 (got '$runs')" >&2; exit 2 ;;
esac

repo=$(git rev-parse --show-toplevel)
# The change that made tests/it/ the one integration-test crate: the
# oldest commit that has tests/it/main.rs.
one_crate=$(git -C "$repo" log --format=%H --diff-filter=A -- tests/it/main.rs | tail -n 1)
if [ -z "$one_crate" ]; then
    echo "bench-build.sh: no commit adds tests/it/main.rs; nothing to compare" >&2
    exit 1
fi
before=$(git -C "$repo" rev-parse "$one_crate^")
head=$(git -C "$repo" rev-parse HEAD)

work=$(mktemp -d /tmp/bench-build.XXXXXX)
cleanup() {
    for label in before head; do
        git -C "$repo" worktree remove --force "$work/$label" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
git -C "$repo" worktree add --quiet --detach "$work/before" "$before"
git -C "$repo" worktree add --quiet --detach "$work/head" "$head"

now() { date +%s.%N; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

: >"$work/results"
for i in $(seq 1 "$runs"); do
    for label in before head; do
        tree="$work/$label"
        target="$work/target-$label"
        rm -rf "$target"
        echo "run $i/$runs: $label, cold build" >&2
        start=$(now)
        (cd "$tree" && CARGO_TARGET_DIR="$target" cargo test --workspace --locked --no-run --quiet >/dev/null 2>"$work/build.log") || {
            cat "$work/build.log" >&2
            echo "bench-build.sh: the build of $label failed (above)" >&2
            exit 1
        }
        build=$(echo "$(now) - $start" | bc)
        bytes=$(du -sb "$target" | cut -f1)
        binaries=$(find "$target/debug/deps" -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.d' | wc -l)
        tests=""
        if [ "$run_tests" = 1 ]; then
            start=$(now)
            # Timed whatever the verdict: a test that fails (the mutants
            # hash, after a change to the decision core) still ran.
            (cd "$tree" && CARGO_TARGET_DIR="$target" cargo test --workspace --locked --no-fail-fast --quiet >/dev/null 2>&1) || true
            tests=$(echo "$(now) - $start" | bc)
        fi
        echo "$label $build $bytes $binaries $tests" >>"$work/results"
        rm -rf "$target"
    done
done

figure() { awk -v l="$1" -v c="$2" '$1 == l {print $c}' "$work/results" | median; }
seconds() { figure "$1" "$2" | awk '{printf "%.1f", $1}'; }
cpus=$(nproc)
rustc_version=$(rustc --version)
echo "### Cold build: one integration-test crate (issue 19 §3)"
echo
echo "From \`scripts/bench-build.sh -n $runs$([ "$run_tests" = 1 ] && echo ' --run')\`: medians of n = $runs cold builds each"
echo "(a fresh target dir; crates already downloaded), before and after alternating."
echo "\"before\" is ${before:0:10} (the parent of ${one_crate:0:10}, which made tests/it/ the one crate), \"after\" is HEAD ${head:0:10}."
echo "Machine: $(uname -m), $cpus cores, $rustc_version; other work ran on it at the same time, so compare the two columns, not the figures across runs."
echo
if [ "$run_tests" = 1 ]; then
    echo "| | before | after |"
    echo "|---|---|---|"
    echo "| \`cargo test --workspace --no-run\`, wall s | $(seconds before 2) | $(seconds head 2) |"
    echo "| target dir, MiB | $(figure before 3 | awk '{printf "%.0f", $1/1048576}') | $(figure head 3 | awk '{printf "%.0f", $1/1048576}') |"
    echo "| executables in target/debug/deps | $(figure before 4) | $(figure head 4) |"
    echo "| \`cargo test --workspace\` after it, wall s | $(seconds before 5) | $(seconds head 5) |"
else
    echo "| | before | after |"
    echo "|---|---|---|"
    echo "| \`cargo test --workspace --no-run\`, wall s | $(seconds before 2) | $(seconds head 2) |"
    echo "| target dir, MiB | $(figure before 3 | awk '{printf "%.0f", $1/1048576}') | $(figure head 3 | awk '{printf "%.0f", $1/1048576}') |"
    echo "| executables in target/debug/deps | $(figure before 4) | $(figure head 4) |"
fi
