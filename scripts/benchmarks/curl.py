"""The gate against the usual `curl | jq` shell loop where the loop goes
wrong (issue 5): a refresh that fails, an API that flaps 5xx, a wrong key.
(A refresh that completes: the `sleep 10` rows of section `phased`.)"""

import json
import subprocess
import threading
import time

from . import Section
from .common import CURL_LOOP, concurrently, fake_stats, gate_env, median, parse_ts, status_url

RUNS = 5
SCENARIOS = [
    ("refresh that FAILS (within the middle 80 % of a 60 s ±20 % run)", "fails-after-60s", "demo-key", 180),
    ("API flapping 5xx (every other request), completes after 60 s ±20 %", "flaky-completes-after-60s", "demo-key", 180),
    ("wrong API key", "completes-after-60s", "wrong-key", 60),
]


def one(ctx, base_url, index, scenario, key, kill_after, i):
    """The gate and the loop side by side, each on its own cache."""
    gate_cache, loop_cache = f"{scenario}~gate-{index}-{i}", f"{scenario}~loop-{index}-{i}"
    t0 = time.time()
    loop = subprocess.Popen(["sh", "-c", CURL_LOOP], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=gate_env(base_url, KEY=key, URL=status_url(base_url, "demo", loop_cache)))
    gate = subprocess.Popen(ctx.gate_args("demo", "--cache-id", gate_cache, "--timeout", f"{kill_after}s"),
                            env=gate_env(base_url, key), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    loop_end = {}

    def watch():
        try:
            loop.wait(timeout=kill_after)
            loop_end.update(at=time.time(), how=f"exit {loop.returncode}")
        except subprocess.TimeoutExpired:
            loop.kill()
            loop.wait()
            loop_end.update(at=time.time(), how=f"still looping, killed at {kill_after} s")

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, _ = gate.communicate()
    watcher.join()
    summary = json.loads(out)
    per_cache = fake_stats(base_url)["perCache"]
    execution = summary["caches"][0].get("execution") or {}
    done_after = parse_ts(execution["finishedAt"]) - t0 if execution.get("finishedAt") else None
    return {
        "gate": f"exit {gate.returncode} (`{summary['result']}`)",
        "gate_took": summary["elapsedMs"] / 1000,
        "gate_requests": per_cache.get(gate_cache, 0),
        "gate_delay": (summary["elapsedMs"] / 1000 - done_after) if done_after is not None and summary["result"] in ("ready", "failed") else None,
        "loop": loop_end["how"],
        "loop_took": loop_end["at"] - t0,
        "loop_requests": per_cache.get(loop_cache, 0),
        "loop_delay": (loop_end["at"] - t0 - done_after) if done_after is not None and loop_end["how"] == "exit 0" else None,
    }


def run(ctx):
    jobs = [(index, scenario, key, kill_after, i)
            for index, (_, scenario, key, kill_after) in enumerate(SCENARIOS) for i in range(RUNS)]
    with ctx.fake() as base_url:
        measured = concurrently([lambda job=job: one(ctx, base_url, *job) for job in jobs])
    results = {index: [] for index in range(len(SCENARIOS))}
    for (index, *_), row in zip(jobs, measured):
        results[index].append(row)

    def outcomes(rows, key):
        seen = [r[key] for r in rows]
        return ", ".join(f"{seen.count(o)}× {o}" for o in sorted(set(seen)))

    def med(rows, key, unit=" s", fmt="{:.1f}"):
        values = [r[key] for r in rows if r[key] is not None]
        return f"{fmt.format(median(values))}{unit}" if values else "—"

    lines = [
        f"The loop: `{CURL_LOOP}`",
        "",
        f"Each scenario {RUNS} times (n), the gate and the loop side by side on caches of their own, all at once; "
        "medians. A delay is from the refresh's `finishedAt` to the exit (negative: it exited before the refresh "
        "ended); the loop is killed when the gate's `--timeout` passes.",
        "",
        "| scenario | n | gate | gate took | gate requests | gate delay | curl loop | loop took | loop requests | loop delay |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, (label, _, _, _) in enumerate(SCENARIOS):
        rows = results[index]
        lines.append(f"| {label} | {len(rows)} | {outcomes(rows, 'gate')} | {med(rows, 'gate_took')} "
                     f"| {med(rows, 'gate_requests', '', '{:.0f}')} | {med(rows, 'gate_delay')} | {outcomes(rows, 'loop')} "
                     f"| {med(rows, 'loop_took')} | {med(rows, 'loop_requests', '', '{:.0f}')} | {med(rows, 'loop_delay')} |")
    jq = subprocess.run(["jq", "--version"], capture_output=True, text=True).stdout.strip()
    lines += ["", f"jq here: `{jq}`. Where it exits 0 on empty input (jq 1.6), `curl -f` failing on a 5xx or a "
              "401 prints nothing and the loop reads that as COMPLETED: it passes on an error."]
    return "\n".join(lines)


SECTION = Section(name="curl", title="Against a curl + jq loop (issue 5)", run=run, order=60)
