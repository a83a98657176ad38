"""A refresh that fails (issue 20 §3), in real time: gates at random phase
against refreshes of 30 s and 2 min (±20 %, fake-peaka --seed) that fail
at a point of the middle 80 % of their run; how late the failure is seen."""

import json
import random
import subprocess
import time

from . import Section
from .common import concurrently, gate_env, get_status, median, parse_ts, pct, secs, spread_of

RUNS = 48
REFRESHES = (30, 120)


def one(ctx, base_url, refresh, i, offset):
    """(requests, delay) of one gate on its own failing refresh, started
    `offset` s after the refresh's clock."""
    cache = f"fails-after-{refresh}s~failing-{i}"
    get_status(base_url, "bench", cache)
    time.sleep(offset)
    started = time.time()
    out = subprocess.run(ctx.gate_args("bench", "--cache-id", cache, "--timeout", f"{refresh * 3}s"),
                         env=gate_env(base_url), capture_output=True, text=True)
    summary = json.loads(out.stdout)
    if summary["result"] != "failed":
        raise RuntimeError(f"{cache}: {summary}")
    ended = started + summary["elapsedMs"] / 1000
    failed_at = parse_ts(summary["caches"][0]["execution"]["finishedAt"])
    # A run that failed before the gate started is seen at its first poll.
    return summary["polls"], ended - max(failed_at, started)


def run(ctx):
    rng = random.Random(ctx.seed)
    jobs = [(r, i, rng.uniform(0, r / 4)) for r in REFRESHES for i in range(RUNS)]
    with ctx.fake() as base_url:
        measured = concurrently([lambda job=job: one(ctx, base_url, *job) for job in jobs])
    lines = [
        f"{RUNS} gates per row, all side by side, each on its own refresh that fails at a point of the "
        "middle 80 % of a run of the nominal length ±20 % (fake-peaka `--seed`; its 12 past runs "
        "completed), started at a random moment of the first quarter of the nominal length, the defaults "
        "otherwise. Delay: from the failed record's `finishedAt` (or the gate's start, when it failed "
        "before) to the gate's exit (exit 1, `failed`). Targets (issue 20 §3): median ≤ 3 s at 30 s in "
        "real time; at 2 min ≤ 5 s in the simulation (section `simulated`, FAILS table), which also "
        "compares with a blind loop sending as many status polls.",
        "",
        "| refresh | n | requests, median (p10–p90) | failure delay median | p10 | p90 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in REFRESHES:
        rows = [m for (rr, _, _), m in zip(jobs, measured) if rr == r]
        requests = [q for q, _ in rows]
        delays = [d for _, d in rows]
        lines.append(f"| {r} s | {len(rows)} | {spread_of(requests)} | **{secs(median(delays))}** "
                     f"| {secs(pct(delays, 0.1))} | {secs(pct(delays, 0.9))} | {secs(max(delays))} |")
    return "\n".join(lines)


SECTION = Section(name="failing", title="A refresh that fails, in real time (issue 20 §3)", run=run, order=35)
