#!/usr/bin/env python3
"""peaka-wait's benchmark: polls made and detection delay over a simulated
refresh, peak memory, start-up time and binary size, against the fake API.

Usage: python3 scripts/bench.py [--refresh 30] [--runs 5]
Prints Markdown tables (the figures in BENCHMARKS.md come from here).
Everything runs on loopback; nothing talks to Peaka.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")


def start_fake():
    fake = subprocess.Popen([os.path.join(BIN, "fake-peaka")], stdout=subprocess.PIPE, text=True)
    base_url = fake.stdout.readline().strip()
    if not base_url:
        sys.exit("the fake API did not start")
    return fake, base_url


def gate(base_url, cache, *extra):
    """Starts a gate under GNU time (for its own peak RSS: a Python child's
    ru_maxrss would include the forked interpreter); returns (Popen, file
    where time writes the peak RSS in KiB)."""
    env = {"PEAKA_API_KEY": "demo-key", "PEAKA_BASE_URL": base_url, "PATH": os.environ.get("PATH", "")}
    rss_file = tempfile.NamedTemporaryFile(prefix="peaka-bench-", delete=False).name
    args = ["/usr/bin/time", "-f", "%M", "-o", rss_file, os.path.join(BIN, "peaka-wait"), "--project-id", "bench",
            "--cache-id", cache, "--output", "json", "--log-level", "error", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True), rss_file


def finish(proc, rss_file, started):
    """Waits for a gate started at wall time `started`; returns (exit code,
    summary, peak RSS KiB, wall time it decided). The decision time comes
    from the gate's own elapsedMs, since several gates are reaped in turn."""
    out, _ = proc.communicate()
    summary = json.loads(out)
    with open(rss_file) as f:
        rss = int(f.read().strip().splitlines()[-1])
    os.unlink(rss_file)
    return proc.returncode, summary, rss, started + summary["elapsedMs"] / 1000


def parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def simulated_wait(base_url, refresh, runs, label, extra):
    procs = [(time.time(), *gate(base_url, f"completes-after-{refresh}s~{label}-{i}-{time.time_ns()}", *extra))
             for i in range(runs)]
    rows = []
    for started, proc, rss_file in procs:
        code, summary, rss, ended = finish(proc, rss_file, started)
        assert code == 0, summary
        finished = parse_ts(summary["caches"][0]["execution"]["finishedAt"])
        rows.append((summary["polls"], ended - finished, rss))
    polls = [r[0] for r in rows]
    delays = [r[1] for r in rows]
    rss = [r[2] for r in rows]
    return (f"| {label} | {refresh} s | {runs} | {statistics.median(polls):.0f} ({min(polls)}–{max(polls)}) "
            f"| {statistics.median(delays):.2f} s (max {max(delays):.2f} s) | {max(rss) / 1024:.1f} MiB |")


def requests_per_round(base_url, count):
    """Waits for `count` caches that complete after 5 s and counts rounds
    (from the debug log) and requests (the summary's polls)."""
    tag = time.time_ns()
    if count == 1:
        how, args = "`--cache-id`", ["--cache-id", f"completes-after-5s~{tag}"]
        project = "bench"
    else:
        how, args = "`--all-caches`", ["--all-caches"]
        project = f"many-{count}-completes-after-5s"
    env = {"PEAKA_API_KEY": "demo-key", "PEAKA_BASE_URL": base_url, "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([os.path.join(BIN, "peaka-wait"), "--project-id", project, *args, "--output", "json",
                          "--log-level", "debug", "--log-format", "json", "--max-interval", "2s"],
                         env=env, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    rounds = sum(1 for line in out.stderr.splitlines() if "next_poll_ms" in line) + 1
    requests = summary["polls"]
    # --all-caches reads the project's list once before the first round.
    setup = 1 if count > 1 else 0
    return (f"| {count} | {how} | {rounds} | {requests} | {(requests - setup) / rounds:.2f} "
            f"| {count * rounds + setup} |")


def timed(args, runs, env=None):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, min(times) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refresh", type=int, default=30, help="seconds the simulated refresh takes")
    parser.add_argument("--runs", type=int, default=5, help="gates per configuration (run side by side)")
    opts = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--workspace", "--locked", "--quiet"], cwd=ROOT, check=True)
    fake, base_url = start_fake()
    try:
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
              f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}\n")
        print("### Simulated refresh\n")
        print("| schedule | refresh takes | gates | polls per gate, median (range) | detection delay, median | peak RSS |")
        print("|---|---|---|---|---|---|")
        print(simulated_wait(base_url, opts.refresh, opts.runs, "default (1s → 30s)", []))
        print(simulated_wait(base_url, opts.refresh, opts.runs, "--max-interval 5s", ["--max-interval", "5s"]))
        print(simulated_wait(base_url, opts.refresh, opts.runs, "--initial-interval 5s --max-interval 5s",
                             ["--initial-interval", "5s", "--max-interval", "5s"]))

        print("\n### Requests per poll round (issue 4)\n")
        print("| caches awaited | how | rounds | requests | requests per round | one request per cache would be |")
        print("|---|---|---|---|---|---|")
        for count in (1, 10, 100):
            print(requests_per_round(base_url, count))

        print("\n### Start-up and one poll\n")
        exe = os.path.join(BIN, "peaka-wait")
        env = {"PEAKA_API_KEY": "demo-key", "PEAKA_BASE_URL": base_url, "PATH": os.environ.get("PATH", "")}
        version = timed([exe, "--version"], 50)
        once = timed([exe, "--project-id", "bench", "--cache-id", "completes-after-0ms", "--timeout", "0",
                      "--log-level", "error"], 50, env)
        print("| command | median | best |")
        print("|---|---|---|")
        print(f"| `peaka-wait --version` (process start-up) | {version[0]:.1f} ms | {version[1]:.1f} ms |")
        print(f"| `peaka-wait --timeout 0` (start-up + TLS roots + one poll + summary) | {once[0]:.1f} ms | {once[1]:.1f} ms |")
        size = os.path.getsize(exe)
        print(f"\nRelease binary: {size / 1024 / 1024:.1f} MiB ({size} bytes), `target/release/peaka-wait`, stripped, LTO.")
    finally:
        fake.kill()


if __name__ == "__main__":
    main()
