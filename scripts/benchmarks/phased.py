"""The schedules in real time, at random phase, against refreshes whose
end varies ±20 % (fake-peaka --seed): adaptive (the default), the old
exponential default, exponential with --max-interval 5s, and the `sleep 10`
curl loop."""

import json
import random
import subprocess
import time

from . import Section
from .common import CURL_LOOP, concurrently, fake_stats, gate_env, get_status, median, parse_ts, pct, secs, spread_of, status_url

RUNS = 48
REFRESHES = (30, 120, 600)
POLLERS = [
    ("adaptive (default)", []),
    ("exponential (1s → 30s, the old default)", ["--schedule", "exponential"]),
    ("exponential --max-interval 5s", ["--schedule", "exponential", "--max-interval", "5s"]),
    ("`sleep 10` curl loop", None),
]


def one(ctx, base_url, refresh, poller, extra, i, offset):
    """One poller on its own cache, started `offset` s after the cache's
    clock (random phase): (requests, delay, the refresh's length)."""
    cache = f"completes-after-{refresh}s~phased-{poller}-{i}"
    get_status(base_url, "bench", cache)
    time.sleep(offset)
    if extra is None:
        url = status_url(base_url, "bench", cache)
        subprocess.run(["sh", "-c", CURL_LOOP], env=gate_env(base_url, KEY="demo-key", URL=url),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=refresh * 3)
        ended = time.time()
        requests = fake_stats(base_url)["perCache"][cache] - 1  # minus the request that started the clock
        execution = get_status(base_url, "bench", cache)["lastIncrementalCacheExecution"]
    else:
        started = time.time()
        out = subprocess.run(ctx.gate_args("bench", "--cache-id", cache, "--timeout", f"{refresh * 3}s", *extra),
                             env=gate_env(base_url), capture_output=True, text=True)
        summary = json.loads(out.stdout)
        if summary["result"] != "ready":
            raise RuntimeError(f"{cache}: {summary}")
        ended = started + summary["elapsedMs"] / 1000
        requests = summary["polls"]
        execution = summary["caches"][0]["execution"]
    finished = parse_ts(execution["finishedAt"])
    lasted = finished - parse_ts(execution["createdAt"])
    return requests, ended - finished, lasted


def run(ctx):
    rng = random.Random(ctx.seed)
    jobs = [(r, p, extra, i, rng.uniform(0, r / 4))
            for r in REFRESHES for p, (_, extra) in enumerate(POLLERS) for i in range(RUNS)]
    with ctx.fake() as base_url:
        measured = concurrently([lambda job=job: one(ctx, base_url, *job) for job in jobs])
    results = {(r, p): [] for r in REFRESHES for p in range(len(POLLERS))}
    for (r, p, *_), row in zip(jobs, measured):
        results[(r, p)].append(row)
    lines = [
        f"For each refresh length and poller, {RUNS} refreshes of the fake API, all side by side (every "
        "row of the table at once). Each refresh lasts its nominal length ±20 % and its history's 12 past "
        "runs vary the same way (fake-peaka `--seed`, the simulation's model); each poller starts at a "
        "random moment of the first quarter of the nominal length (the fake's clock for its cache is "
        "started by one request first), with the defaults otherwise. Delay: from `finishedAt` to the "
        "poller's exit. requests: the gate's `polls` (its history and settings reads included), or the "
        "requests the loop's cache received.",
        "",
        "| refresh | poller | n | the refreshes lasted | requests, median (p10–p90) | delay median | p10 | p90 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in REFRESHES:
        for p, (label, _) in enumerate(POLLERS):
            rows = results[(r, p)]
            requests = [q for q, _, _ in rows]
            delays = [d for _, d, _ in rows]
            lasted = [s for _, _, s in rows]
            lines.append(f"| {r} s | {label} | {len(rows)} | {min(lasted):.1f}–{max(lasted):.1f} s "
                         f"| {spread_of(requests)} | **{secs(median(delays))}** | {secs(pct(delays, 0.1))} "
                         f"| {secs(pct(delays, 0.9))} | {secs(max(delays))} |")
    lines += ["", "Compare with the simulation's ±20 % cells (section `simulated`): the same model of a "
              "refresh, here in real time with the real binary, the real HTTP and the real clock."]
    return "\n".join(lines)


SECTION = Section(name="phased", title="Planned polls in real time, at random phase (issue 10)", run=run, order=30)
