"""A fleet of gates started together on one cache (issue 5): the default
with and without jitter, and `--schedule exponential` (issue 20 §4: the
default's busiest 100 ms against it, same binary, same command); the
busiest 100 ms the API saw, the requests of the first second, and each
gate's delay."""

import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time

from . import Section
from .common import busiest_window, fake_stats, gate_env, median, parse_ts

SIZE = 200
RUNS = 3
REFRESH = 20


VARIANTS = [
    ("default (adaptive), jitter on", []),
    ("default (adaptive), `--no-jitter`", ["--no-jitter"]),
    ("`--schedule exponential`, jitter on", ["--schedule", "exponential"]),
]


def fleet(ctx, extra, run_index):
    """One fleet of SIZE gates released together behind a barrier (a file
    appearing), each wrapper noting when it was released and when its gate
    ended. Returns the figures of that fleet."""
    barrier = tempfile.mkdtemp(prefix="peaka-fleet-")
    go = os.path.join(barrier, "go")
    try:
        with ctx.fake() as base_url:
            cache = f"completes-after-{REFRESH}s~fleet-{'-'.join(extra) or 'default'}-{run_index}"
            args = ctx.gate_args("bench", "--cache-id", cache, "--initial-interval", "1s", "--max-interval", "5s",
                                 "--timeout", "2m", *extra)
            ends = [os.path.join(barrier, f"end-{i}") for i in range(SIZE)]
            script = (f'end=$1; shift; while [ ! -e {shlex.quote(go)} ]; do sleep 0.01; done; date +%s.%N > "$end.start"; '
                      f'/usr/bin/time -f %M -o "$end.rss" "$@" > "$end.out"; c=$?; date +%s.%N > "$end"; exit $c')
            procs = [subprocess.Popen(["sh", "-c", script, "gate", end, *args], env=gate_env(base_url),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for end in ends]
            time.sleep(2)  # let every wrapper reach its loop
            open(go, "w").close()
            codes = [p.wait() for p in procs]
            stats = fake_stats(base_url)

        summaries = [json.loads(open(end + ".out").read()) for end in ends]
        finished = parse_ts(summaries[0]["caches"][0]["execution"]["finishedAt"])
        delays = [float(open(end).read()) - finished for end in ends]
        released = [float(open(end + ".start").read()) for end in ends]
        rss = [int(open(end + ".rss").read().strip().splitlines()[-1]) for end in ends]
        times = stats["requestTimesMs"]
        return {
            "codes": codes,
            "requests": stats["requests"],
            "first_second": sum(1 for t in times if t - min(times) < 1000),
            "busiest": busiest_window(stats["requestTimesMs"]),
            "delays": delays,
            "released_ms": (max(released) - min(released)) * 1000,
            "rss_mib": max(rss) / 1024,
        }
    finally:
        shutil.rmtree(barrier, ignore_errors=True)


def run(ctx):
    lines = [
        f"{SIZE} gates on one cache that completes {REFRESH} s ±20 % after the first request, released together "
        "behind a barrier (\"released within\": the spread of the moments the wrappers saw it); "
        "`--initial-interval 1s --max-interval 5s`, the default `--schedule adaptive`. "
        f"n = {RUNS} fleets per row, one after another (the rows in turn), each on a fresh fake; each figure is "
        "the median over the fleets (range in brackets), the delays over every gate of every fleet. "
        "first second: the requests the API received in the second after the first one.",
        "",
        "| gates run | fleets (n) | gates each | exits | requests | first second | busiest 100 ms | released within | delay median over the gates | p90 | max | peak RSS (max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    measured = {label: [] for label, _ in VARIANTS}
    for i in range(RUNS):
        for label, extra in VARIANTS:
            measured[label].append(fleet(ctx, extra, i))
    for label, _ in VARIANTS:
        fleets = measured[label]
        codes = [c for f in fleets for c in f["codes"]]
        exits = ", ".join(f"{codes.count(c)}× exit {c}" for c in sorted(set(codes)))
        delays = sorted(d for f in fleets for d in f["delays"])

        def med(key, fmt="{:.0f}"):
            values = [f[key] for f in fleets]
            return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"

        p90 = delays[min(len(delays) - 1, round(0.9 * (len(delays) - 1)))]
        lines.append(f"| {label} | {RUNS} | {SIZE} | {exits} | {med('requests')} | {med('first_second')} "
                     f"| **{med('busiest')}** | {med('released_ms')} ms | {statistics.median(delays):.2f} s "
                     f"| {p90:.2f} s | {max(delays):.2f} s | {max(f['rss_mib'] for f in fleets):.1f} MiB |")
    return "\n".join(lines)


# Parallel: its figures come from its own fake (the busiest 100 ms counts
# only its gates' requests), and beside the real-time refreshes, which
# mostly sleep, it shortens a whole run by its ~3 minutes.
SECTION = Section(name="fleet", title=f"A fleet of {SIZE} gates started together (issue 5)", run=run, order=50)
