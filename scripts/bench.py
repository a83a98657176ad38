#!/usr/bin/env python3
"""peaka-wait's benchmarks, against the fake API on loopback (nothing
talks to Peaka): polls and detection delay over a simulated refresh, peak
memory, requests per poll round with many caches, start-up time and binary
size; a fleet of gates started together, with and without jitter; and the
gate against the common curl+jq shell loop.

Usage: python3 scripts/bench.py [--refresh 30] [--runs 5] [--fleet 200] [--curl-refresh 600] [--skip-curl]
       python3 scripts/bench.py --only-phased [--phased-refreshes 30,120,600] [--runs 8] [--seed 1]
       python3 scripts/bench.py --only-fleet
Prints Markdown tables; the figures in BENCHMARKS.md come from here. The
curl comparison runs a 10-minute refresh, so a full run takes ~13 minutes.
"""
import argparse
import json
import shlex
import threading
import urllib.request
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


def gate_env(base_url, key="demo-key", **more):
    """The environment a gate (or the curl loop) runs with: the fake's URL and a key."""
    return {"PATH": os.environ.get("PATH", ""), "PEAKA_API_KEY": key, "PEAKA_BASE_URL": base_url, **more}


def gate(base_url, cache, *extra, wrap=()):
    """Starts a gate under GNU time (for its own peak RSS: a Python child's
    ru_maxrss would include the forked interpreter); returns (Popen, file
    where time writes the peak RSS in KiB)."""
    env = gate_env(base_url)
    rss_file = tempfile.NamedTemporaryFile(prefix="peaka-bench-", delete=False).name
    args = [*wrap, "/usr/bin/time", "-f", "%M", "-o", rss_file, os.path.join(BIN, "peaka-wait"), "--project-id", "bench",
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


def prime(base_url, cache):
    """One status request: the fake's clock for `cache` starts now, so a
    gate started later meets the refresh at a random phase."""
    req = urllib.request.Request(f"{base_url}/data/projects/bench/cache/{cache}/status?excludeLogs=true",
                                 headers={"Authorization": "Bearer demo-key"})
    with urllib.request.urlopen(req) as reply:
        return json.load(reply)


def nearest_rank(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def phased_runs(base_url, refresh, runs, pollers, seed):
    """For each poller (label, extra flags or None for the `sleep 10` curl
    loop), `runs` refreshes of `refresh` seconds, all side by side; each
    poller starts at a random moment in the first quarter of its refresh
    (random phase). Returns Markdown rows: requests (median, range) and
    detection delay (median, p90, max) from `finishedAt` to the poller's exit."""
    import random
    rng = random.Random(seed)
    results = {label: [] for label, _ in pollers}
    lock = threading.Lock()

    def one(label, extra, i, offset):
        cache = f"completes-after-{refresh}s~ph-{refresh}-{abs(hash(label))}-{i}-{time.time_ns()}"
        prime(base_url, cache)
        time.sleep(offset)
        if extra is None:
            url = f"{base_url}/data/projects/bench/cache/{cache}/status?excludeLogs=true"
            subprocess.run(["sh", "-c", CURL_LOOP], env=gate_env(base_url, KEY="demo-key", URL=url),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=refresh * 3)
            ended = time.time()
            requests = fake_stats(base_url)["perCache"][cache] - 1  # minus the priming request
            finished = parse_ts(prime(base_url, cache)["lastIncrementalCacheExecution"]["finishedAt"])
        else:
            started = time.time()
            out = subprocess.run([os.path.join(BIN, "peaka-wait"), "--project-id", "bench", "--cache-id", cache,
                                  "--timeout", f"{refresh * 3}s", "--output", "json", "--log-level", "error", *extra],
                                 env=gate_env(base_url), capture_output=True, text=True)
            summary = json.loads(out.stdout)
            assert summary["result"] == "ready", summary
            ended = started + summary["elapsedMs"] / 1000
            requests = summary["polls"]
            finished = parse_ts(summary["caches"][0]["execution"]["finishedAt"])
        with lock:
            results[label].append((requests, ended - finished))

    threads = [threading.Thread(target=one, args=(label, extra, i, rng.uniform(0, refresh / 4)))
               for label, extra in pollers for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = []
    for label, _ in pollers:
        requests = [r for r, _ in results[label]]
        delays = [d for _, d in results[label]]
        rows.append(f"| {refresh} s | {label} | {len(delays)} | {statistics.median(requests):.0f} ({min(requests)}–{max(requests)}) "
                    f"| {statistics.median(delays):.2f} s | {nearest_rank(delays, 0.9):.2f} s | {max(delays):.2f} s |")
    return rows


PHASED_POLLERS = [
    ("adaptive (default)", []),
    ("exponential (1s → 30s, the old default)", ["--schedule", "exponential"]),
    ("exponential --max-interval 5s", ["--schedule", "exponential", "--max-interval", "5s"]),
    ("`sleep 10` curl loop", None),
]


def phased_table(refreshes, runs, seed):
    fake, base_url = start_fake()
    try:
        lines = ["| refresh | poller | runs | requests, median (range) | detection delay, median | p90 | max |",
                 "|---|---|---|---|---|---|---|"]
        rows = []
        threads = [threading.Thread(target=lambda r=r: rows.append((r, phased_runs(base_url, r, runs, PHASED_POLLERS, seed + r))))
                   for r in refreshes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for _, block in sorted(rows):
            lines.extend(block)
        return "\n".join(lines)
    finally:
        fake.kill()


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
    env = gate_env(base_url)
    out = subprocess.run([os.path.join(BIN, "peaka-wait"), "--project-id", project, *args, "--output", "json",
                          "--log-level", "debug", "--log-format", "json", "--max-interval", "2s"],
                         env=env, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    rounds = sum(1 for line in out.stderr.splitlines() if "next attempt in" in line) + 1
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


def fake_stats(base_url):
    with urllib.request.urlopen(f"{base_url}/_fake/stats") as reply:
        return json.load(reply)


def busiest_window(times_ms, width_ms=100):
    """The most requests that arrived within any `width_ms` window."""
    times = sorted(times_ms)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def fleet(size, jitter):
    """`size` gates started together on one cache that completes after 20 s.
    Each waits behind a barrier (a file appearing) so that all start within
    ~10 ms of each other, as the init containers of a rollout do."""
    fake, base_url = start_fake()
    barrier = tempfile.mkdtemp(prefix="peaka-fleet-")
    go = os.path.join(barrier, "go")
    try:
        extra = [] if jitter else ["--no-jitter"]
        cache = f"completes-after-20s~fleet-{time.time_ns()}"
        args = ["--initial-interval", "1s", "--max-interval", "5s", "--timeout", "2m", *extra]
        # Each wrapper records the wall time its gate ended, for the detection delay.
        ends = [os.path.join(barrier, f"end-{i}") for i in range(size)]
        # ... and the wall time it was released, to measure how spread the start was.
        script = (f'end=$1; shift; while [ ! -e {shlex.quote(go)} ]; do sleep 0.01; done; date +%s.%N > "$end.start"; '
                  f'"$@"; c=$?; date +%s.%N > "$end"; exit $c')
        procs = [gate(base_url, cache, *args, wrap=["sh", "-c", script, "gate", end]) for end in ends]
        time.sleep(1)  # let every wrapper reach its loop
        started = time.time()
        open(go, "w").close()
        codes, rss, decided, finished = [], [], [], None
        for (proc, rss_file), end in zip(procs, ends):
            code, summary, peak, _ = finish(proc, rss_file, started)
            codes.append(code)
            rss.append(peak)
            decided.append(float(open(end).read()))
            finished = parse_ts(summary["caches"][0]["execution"]["finishedAt"])
        stats = fake_stats(base_url)
        released = [float(open(end + ".start").read()) for end in ends]
        spawned = max(released) - min(released)
        delays = sorted(d - finished for d in decided)
        exits = ", ".join(f"{codes.count(c)}× exit {c}" for c in sorted(set(codes)))
        return (f"| {'on' if jitter else 'off (`--no-jitter`)'} | {size} (released within ~{spawned * 1000:.0f} ms) | {exits} "
                f"| {stats['requests']} | **{busiest_window(stats['requestTimesMs'])}** "
                f"| {delays[0]:.2f} / {statistics.median(delays):.2f} / {delays[-1]:.2f} s "
                f"| {max(rss) / 1024:.1f} MiB |")
    finally:
        fake.kill()


def fleet_table(size):
    return "\n".join([
        f"\n### A fleet of {size} gates started together (issue 5)\n",
        "One cache, RUNNING → COMPLETED 20 s after the first request; `--initial-interval 1s --max-interval 5s`.\n",
        "| jitter | gates | exits | requests | busiest 100 ms | detection delay min / median / max | peak RSS (max) |",
        "|---|---|---|---|---|---|---|",
        fleet(size, jitter=True),
        fleet(size, jitter=False),
    ])


CURL_LOOP = """until curl -fsS -H "Authorization: Bearer $KEY" "$URL" | jq -e '.status == "COMPLETED"' >/dev/null; do sleep 10; done"""


def versus_curl(refresh):
    """The gate and the curl loop side by side, each on its own cache of the
    same scenario, in parallel."""
    fake, base_url = start_fake()
    rows = []
    try:
        tag = time.time_ns()
        scenarios = [
            (f"{refresh // 60}-minute refresh that completes", f"completes-after-{refresh}s", "demo-key", refresh + 120),
            ("refresh that FAILS after 60 s", "fails-after-60s", "demo-key", 180),
            ("API flapping 5xx (every other request), completes after 60 s", "flaky-completes-after-60s", "demo-key", 180),
            ("wrong API key", "completes-after-60s", "wrong-key", 60),
        ]
        results = [None] * len(scenarios)

        def one(i, label, scenario, key, kill_after):
            gate_cache, curl_cache = f"{scenario}~gate-{tag}-{i}", f"{scenario}~curl-{tag}-{i}"
            env = {"PATH": os.environ.get("PATH", ""), "KEY": key,
                   "URL": f"{base_url}/data/projects/demo/cache/{curl_cache}/status?excludeLogs=true"}
            env_of_gate = gate_env(base_url, key)
            t0 = time.time()
            loop = subprocess.Popen(["sh", "-c", CURL_LOOP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            g = subprocess.Popen([os.path.join(BIN, "peaka-wait"), "--project-id", "demo", "--cache-id", gate_cache,
                                  "--timeout", f"{kill_after}s", "--output", "json", "--log-level", "error"],
                                 env=env_of_gate, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            # Each one's own end time, not when it happened to be reaped.
            loop_ended = {}

            def watch_loop():
                try:
                    loop.wait(timeout=kill_after)
                    loop_ended["at"], loop_ended["how"] = time.time(), f"exit {loop.returncode}"
                except subprocess.TimeoutExpired:
                    loop.kill()
                    loop.wait()
                    loop_ended["at"], loop_ended["how"] = time.time(), f"**still looping**, killed at {kill_after} s"

            watcher = threading.Thread(target=watch_loop)
            watcher.start()
            gate_out, _ = g.communicate()
            watcher.join()
            gate_summary = json.loads(gate_out)
            gate_took = gate_summary["elapsedMs"] / 1000
            loop_took, loop_end = loop_ended["at"] - t0, loop_ended["how"]
            per_cache = fake_stats(base_url)["perCache"]
            execution = (gate_summary["caches"][0].get("execution") or {})
            if execution.get("finishedAt") and gate_summary["result"] == "ready":
                done_after = parse_ts(execution["finishedAt"]) - t0
                gate_delay = f"{gate_took - done_after:.1f} s"
                loop_delay = f"{loop_took - done_after:.1f} s" if loop_end == "exit 0" else "—"
            else:
                gate_delay = loop_delay = "—"
            results[i] = (f"| {label} | exit {g.returncode} (`{gate_summary['result']}`) after {gate_took:.1f} s "
                          f"| {per_cache.get(gate_cache, 0)} | {gate_delay} "
                          f"| {loop_end} after {loop_took:.1f} s | {per_cache.get(curl_cache, 0)} | {loop_delay} |")

        threads = [threading.Thread(target=one, args=(i, *sc)) for i, sc in enumerate(scenarios)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows.extend(results)

        # The cost of one poll: a whole gate run that checks once vs one curl | jq pipeline.
        cache = "completes-after-0ms"
        url = f"{base_url}/data/projects/demo/cache/{cache}/status?excludeLogs=true"
        env = gate_env(base_url, KEY="demo-key", URL=url)
        gate_cmd = [os.path.join(BIN, "peaka-wait"), "--project-id", "demo", "--cache-id", cache, "--timeout", "0",
                    "--log-level", "error"]
        curl_cmd = ["sh", "-c", """curl -fsS -H "Authorization: Bearer $KEY" "$URL" | jq -e '.status == "COMPLETED"'"""]
        cost = []
        for label, cmd in (("`peaka-wait --timeout 0`", gate_cmd), ("`curl … | jq -e …`", curl_cmd)):
            wall = timed(cmd, 50, env)
            peak = peak_rss(cmd, env)
            cost.append(f"| {label} | {wall[0]:.1f} ms | {wall[1]:.1f} ms | {peak / 1024:.1f} MiB |")
        return rows, cost
    finally:
        fake.kill()


def peak_rss(cmd, env):
    """Peak RSS in KiB of a command (for a pipeline, of its largest process)."""
    with tempfile.NamedTemporaryFile(prefix="peaka-bench-") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(open(out.name).read().strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refresh", type=int, default=30, help="seconds the simulated refresh takes")
    parser.add_argument("--runs", type=int, default=5, help="gates per configuration (run side by side)")
    parser.add_argument("--fleet", type=int, default=200, help="gates in the fleet")
    parser.add_argument("--curl-refresh", type=int, default=600, help="seconds of the refresh in the curl comparison")
    parser.add_argument("--skip-curl", action="store_true", help="skip the (long) curl comparison")
    parser.add_argument("--only-fleet", action="store_true", help="run only the fleet")
    parser.add_argument("--only-phased", action="store_true",
                        help="run only the random-phase comparison of the schedules (real time)")
    parser.add_argument("--phased-refreshes", default="30,120,600",
                        help="refresh lengths (s) of the random-phase comparison")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random phases")
    opts = parser.parse_args()
    if opts.only_phased:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--locked", "--quiet"], cwd=ROOT, check=True)
        refreshes = [int(r) for r in opts.phased_refreshes.split(",")]
        print(f"### Schedules at random phase, real time ({opts.runs} refreshes per row, all side by side)\n")
        print(phased_table(refreshes, opts.runs, opts.seed))
        return
    if opts.only_fleet:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--locked", "--quiet"], cwd=ROOT, check=True)
        print(fleet_table(opts.fleet))
        return

    subprocess.run(["cargo", "build", "--release", "--workspace", "--locked", "--quiet"], cwd=ROOT, check=True)
    fake, base_url = start_fake()
    try:
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
              f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}\n")
        print(f"### The schedules at random phase ({opts.runs} refreshes per row, side by side)\n")
        print(phased_table([opts.refresh], opts.runs, opts.seed))
        print("\n### Requests per poll round (issue 4)\n")
        print("| caches awaited | how | rounds | requests | requests per round | one request per cache would be |")
        print("|---|---|---|---|---|---|")
        for count in (1, 10, 100):
            print(requests_per_round(base_url, count))

        print("\n### Start-up and one poll\n")
        exe = os.path.join(BIN, "peaka-wait")
        env = gate_env(base_url)
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

    print(fleet_table(opts.fleet))

    if not opts.skip_curl:
        rows, cost = versus_curl(opts.curl_refresh)
        print("\n### Against a curl + jq loop (issue 5)\n")
        print(f"The loop: `{CURL_LOOP}`\n")
        print("| scenario | gate | gate requests | gate detection delay | curl loop | loop requests | loop detection delay |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        print("\n| one poll | median | best | peak RSS |")
        print("|---|---|---|---|")
        print("\n".join(cost))


if __name__ == "__main__":
    main()
