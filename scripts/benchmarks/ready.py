"""An already-ready cache (issue 20 §2): how long a gate takes to answer a
cache whose refresh ended long ago, by default, with `--no-jitter` and with
`--timeout 0` (and `--schedule exponential`, which keeps its start jitter
before the first poll). Runs interleaved, one at a time."""

import time
import subprocess

from . import Section
from .common import gate_env, get_status, median, pct

RUNS = 30
VARIANTS = [
    ("default (adaptive)", []),
    ("`--no-jitter`", ["--no-jitter"]),
    ("`--timeout 0`", ["--timeout", "0"]),
    ("`--schedule exponential`", ["--schedule", "exponential"]),
]


def run(ctx):
    times = {label: [] for label, _ in VARIANTS}
    with ctx.fake() as base_url:
        cache = "finished-ago-5m~ready"
        get_status(base_url, "bench", cache)
        env = gate_env(base_url)
        for _ in range(RUNS):
            for label, extra in VARIANTS:
                args = ctx.gate_args("bench", "--cache-id", cache, *extra)
                t0 = time.perf_counter()
                out = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                times[label].append((time.perf_counter() - t0) * 1000)
                if out.returncode != 0:
                    raise RuntimeError(f"{label}: exit {out.returncode}")
    base = median(times["`--no-jitter`"])
    lines = [
        f"A cache whose last refresh completed 5 minutes before, {RUNS} runs of each command, interleaved "
        "(one run of each in turn), wall time from spawning the release binary to its exit (start-up, one "
        "status request on loopback, the summary). Target (issue 20 §2): the default within 10 ms of "
        "`--no-jitter` and at most 3× its time.",
        "",
        "| command | n | median | p10 | p90 | median − `--no-jitter` | median / `--no-jitter` |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _ in VARIANTS:
        t = times[label]
        lines.append(f"| {label} | {len(t)} | **{median(t):.1f} ms** | {pct(t, 0.1):.1f} ms | {pct(t, 0.9):.1f} ms "
                     f"| {median(t) - base:+.1f} ms | {median(t) / base:.2f}× |")
    return "\n".join(lines)


SECTION = Section(name="ready", title="An already-ready cache (issue 20 §2)", run=run, order=15, phase="serial")
