"""What the sections share: the release build, fake-peaka started with the
writer's seed, a gate run under GNU time, the `sleep 10` curl loop, and
the statistics every table uses (medians, nearest-rank percentiles)."""

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The blind loop a gate replaces: what the README's "why" compares against.
CURL_LOOP = """until curl -fsS -H "Authorization: Bearer $KEY" "$URL" | jq -e '.status == "COMPLETED"' >/dev/null; do sleep 10; done"""

# fake-peaka's spread for every section: the simulation's ±20 % cells.
SPREAD = 20


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


class Bench:
    """The release binaries and how to start the fake API."""

    def __init__(self, seed):
        self.seed = seed
        self.bin = os.path.join(target_dir(), "release")
        self.gate_exe = os.path.join(self.bin, "peaka-wait")

    def build(self):
        # Two builds, so that peaka-wait's features are its own (a shared
        # build would unify them with fake-peaka's).
        for package in ("peaka-wait", "fake-peaka"):
            subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "-p", package], cwd=ROOT, check=True)

    @contextlib.contextmanager
    def fake(self, *extra, seeded=True):
        """A fake-peaka for the block; yields its base URL. Seeded: its
        refreshes vary ±SPREAD % as the simulation's model says."""
        args = [os.path.join(self.bin, "fake-peaka"), *extra]
        if seeded:
            args += ["--seed", str(self.seed), "--spread", str(SPREAD)]
        fake = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            base_url = fake.stdout.readline().strip()
            if not base_url:
                raise RuntimeError("fake-peaka did not start")
            yield base_url
        finally:
            fake.kill()
            fake.wait()

    def gate_args(self, project, *extra):
        return [self.gate_exe, "--project-id", project, "--output", "json", "--log-level", "error", *extra]


def gate_env(base_url, key="demo-key", **more):
    """The environment a gate (or the curl loop) runs with: the fake's URL and a key."""
    return {"PATH": os.environ.get("PATH", ""), "PEAKA_API_KEY": key, "PEAKA_BASE_URL": base_url, **more}


def status_url(base_url, project, cache):
    return f"{base_url}/data/projects/{project}/cache/{cache}/status?excludeLogs=true"


def get_status(base_url, project, cache, key="demo-key"):
    """One status request (it starts the fake's clock for a new cache)."""
    req = urllib.request.Request(status_url(base_url, project, cache), headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req) as reply:
        return json.load(reply)


def fake_stats(base_url):
    with urllib.request.urlopen(f"{base_url}/_fake/stats") as reply:
        return json.load(reply)


def parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pct(values, q):
    """Nearest-rank percentile (q in 0..1)."""
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def median(values):
    return statistics.median(values)


def secs(value):
    return f"{value:.2f} s"


def spread_of(values, fmt="{:.0f}"):
    """`median (p10–p90)`."""
    return f"{fmt.format(median(values))} ({fmt.format(pct(values, 0.1))}–{fmt.format(pct(values, 0.9))})"


def timed(args, runs, env=None):
    """Wall times in ms of `runs` runs, one after another."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def peak_rss_kib(cmd, env=None):
    """Peak RSS in KiB of a command, from GNU time (for a pipeline, its largest process)."""
    with tempfile.NamedTemporaryFile(prefix="peaka-bench-") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(open(out.name).read().strip().splitlines()[-1])


def busiest_window(times_ms, width_ms=100):
    """The most requests that arrived within any `width_ms` window."""
    times = sorted(times_ms)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def need(tool):
    """Stops the section with a clear message when a tool is missing."""
    if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
        sys.exit(f"benchmarks: this section needs `{tool}` on PATH")


def concurrently(calls):
    """Runs every call at once (each in a thread: they mostly sleep) and
    returns their results in order; raises if any call raised."""
    import threading

    results, errors = [None] * len(calls), []

    def one(i, call):
        try:
            results[i] = call()
        except Exception as err:  # noqa: BLE001 — raised below, for the whole batch
            errors.append(repr(err))

    threads = [threading.Thread(target=one, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(calls)} runs failed: " + "; ".join(errors[:3]))
    return results
