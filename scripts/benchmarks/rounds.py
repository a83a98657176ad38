"""Requests per poll round with 1, 10, 20 and 100 caches (issue 4), and
the forecast's reads beside the status requests (issue 20 §4: at most as
many): a gate waiting for caches that complete after 5 s, `--max-interval
2s`, one cache by `--cache-id`, 10, 20 or 100 by `--all-caches`. `tests/it/benchmarks.rs`
reruns the same gates and fails when this block's requests differ."""

import json
import subprocess

from . import Section
from .common import concurrently, gate_env, median

RUNS = 15
COUNTS = (1, 10, 20, 100)


def measure(ctx, base_url, count, run_index):
    """(rounds, requests, status requests) of one gate; rounds and status
    requests from the debug log."""
    if count == 1:
        project, args = "bench", ["--cache-id", f"completes-after-5s~rounds-{run_index}"]
    else:
        project, args = f"many-{count}-completes-after-5s~rounds-{run_index}", ["--all-caches"]
    out = subprocess.run([ctx.gate_exe, "--project-id", project, *args, "--output", "json",
                          "--log-level", "debug", "--log-format", "json", "--max-interval", "2s"],
                         env=gate_env(base_url), capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    assert summary["result"] == "ready", summary
    rounds = sum(1 for line in out.stderr.splitlines() if "next attempt in" in line) + 1
    gets = [json.loads(line).get("message", "") for line in out.stderr.splitlines() if line.startswith("{")]
    statuses = sum(1 for m in gets if m.startswith("GET ") and "/status" in m.split("?")[0])
    return rounds, summary["polls"], statuses


def run(ctx):
    # Unseeded: the figure the test checks is the gate's, not the draw's, and
    # the test's fake (tests/it/benchmarks.rs) runs without --seed.
    jobs = [(count, i) for count in COUNTS for i in range(RUNS)]
    with ctx.fake(seeded=False) as base_url:
        measured = concurrently([lambda job=job: measure(ctx, base_url, *job) for job in jobs])
    results = {count: [] for count in COUNTS}
    for (count, _), row in zip(jobs, measured):
        results[count].append(row)
    lines = [
        f"A gate waiting for caches that complete 5 s after its first request, `--max-interval 2s` "
        f"(fake-peaka without `--seed`: every refresh lasts exactly 5 s), {RUNS} gates per row side by side "
        "(their range is what `tests/it/benchmarks.rs` accepts: the jitter moves a round now and then). "
        "requests: the summary's `polls`, every request the gate sent (status lists, and for the forecast "
        "the history of each cache still running, at most one read per status request); rounds and "
        "status requests: from the gate's debug log. Target (issue 20 §4): requests ≤ 2× the status requests.",
        "",
        "| caches awaited | how | n | rounds, median | requests, median | requests (range) | status requests, median | requests / status requests (max) | one request per cache and round would be |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for count in COUNTS:
        rounds = [r for r, _, _ in results[count]]
        requests = [q for _, q, _ in results[count]]
        statuses = [s for _, _, s in results[count]]
        worst = max(q / s for _, q, s in results[count])
        how = "`--cache-id`" if count == 1 else "`--all-caches`"
        lines.append(f"| {count} | {how} | {len(requests)} | {median(rounds):.0f} | {median(requests):.0f} "
                     f"| {min(requests)}–{max(requests)} | {median(statuses):.0f} | {worst:.2f} "
                     f"| {count * median(rounds):.0f} |")
    return "\n".join(lines)


SECTION = Section(name="rounds", title="Requests per poll round (issue 4)", run=run, order=20, phase="serial")
