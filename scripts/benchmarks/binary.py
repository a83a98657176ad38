"""The release binary: its size (the figure the README repeats and
`--check` compares), its start-up, and the cost of one whole gate run that
polls once, beside one `curl | jq` pipeline."""

import os

from . import Section
from .common import gate_env, median, need, pct, peak_rss_kib, status_url, timed

RUNS = 100
RSS_RUNS = 9


def run(ctx):
    need("curl")
    need("jq")
    size = os.path.getsize(ctx.gate_exe)
    ctx.binary_size = size
    cache = "completes-after-0ms"
    with ctx.fake() as base_url:
        env = gate_env(base_url, KEY="demo-key", URL=status_url(base_url, "demo", cache))
        version = timed([ctx.gate_exe, "--version"], RUNS)
        once_cmd = [ctx.gate_exe, "--project-id", "demo", "--cache-id", cache, "--timeout", "0", "--log-level", "error"]
        curl_cmd = ["sh", "-c", """curl -fsS -H "Authorization: Bearer $KEY" "$URL" | jq -e '.status == "COMPLETED"'"""]
        once = timed(once_cmd, RUNS, env)
        curl = timed(curl_cmd, RUNS, env)
        rss_once = [peak_rss_kib(once_cmd, env) for _ in range(RSS_RUNS)]
        rss_curl = [peak_rss_kib(curl_cmd, env) for _ in range(RSS_RUNS)]

    def row(label, times, rss=None):
        cells = f"| {label} | {len(times)} | {median(times):.2f} ms | {pct(times, 0.1):.2f} ms | {pct(times, 0.9):.2f} ms |"
        return cells + (f" {median(rss) / 1024:.1f} MiB |" if rss else " — |")

    return "\n".join([
        f"Release binary: {size / 1024 / 1024:.2f} MiB ({size} bytes), `cargo build --release -p peaka-wait` "
        "(stripped, LTO), x86_64 Linux. The README's \"One small binary\" is written from this figure.",
        "",
        f"Wall time of one process, measured from Python ({RUNS} runs of each, one after another; "
        f"peak RSS: median of {RSS_RUNS} runs under GNU `time -f %M`, for the pipeline its largest process). "
        "The gate checks a cache that is already COMPLETED, over `http://` on loopback "
        "(so the CA store is not read: issue 10):",
        "",
        "| command | n | median | p10 | p90 | peak RSS |",
        "|---|---|---|---|---|---|",
        row("`peaka-wait --version` (process start-up)", version),
        row("`peaka-wait --timeout 0` (start-up, one poll, the summary)", once, rss_once),
        row("`curl … | jq -e …` (one poll of the shell loop)", curl, rss_curl),
    ])


SECTION = Section(name="binary", title="The binary: size, start-up, one poll", run=run, order=10, phase="serial")
