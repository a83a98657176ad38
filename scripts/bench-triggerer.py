"""The cost of deferred Peaka sensors in one Airflow triggerer (BENCHMARKS.md).

Usage, with the Airflow venv of scripts/airflow-test.sh (its peaka-wait
from the manylinux wheel) and a debug build of fake-peaka:
    ~/.cache/peaka-wait/airflow-venv-*/bin/python scripts/bench-triggerer.py [COUNT] [SECONDS]

Starts Airflow as separate processes (scripts/airflow-restart-test.py),
defers COUNT (100) mapped PeakaCacheSensors on caches that never finish,
and, once all are deferred and their binaries have run for a minute,
measures over SECONDS (60): the triggerer's memory (RSS of its processes,
and of the peaka-wait binaries it runs), the CPU they used, and the
requests per second the fake API received. Prints a Markdown table.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import psutil

spec = importlib.util.spec_from_file_location("harness", Path(__file__).with_name("airflow-restart-test.py"))
harness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(harness)

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 100
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0


def tree(name: str) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """The component's Python processes and the peaka-wait binaries under it."""
    root = psutil.Process(harness.processes[name].pid)
    everything = [root, *root.children(recursive=True)]
    binaries = [p for p in everything if p.name() == "peaka-wait"]
    return [p for p in everything if p not in binaries], binaries


def rss_mib(processes: list[psutil.Process]) -> float:
    return sum(p.memory_info().rss for p in processes) / (1 << 20)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    harness.start_airflow()
    run_id = f"bench{harness.TAG}"
    harness.run_dag("peaka_bench", run_id, tag=harness.TAG, count=COUNT)

    def deferred() -> bool:
        query = (
            "select count(*) from task_instance where run_id = ? and task_id = 'wait' and state = 'deferred'"
        )
        return harness.sql(query, run_id)[0][0] == COUNT

    started = time.monotonic()
    harness.until(f"{COUNT} deferred sensors", deferred, 1800)
    print(f"bench: {COUNT} sensors deferred in {time.monotonic() - started:.0f}s", file=sys.stderr)
    harness.until(f"{COUNT} binaries", lambda: len(tree("triggerer")[1]) == COUNT, 120)
    time.sleep(60)  # past every binary's first, denser polls
    python, binaries = tree("triggerer")
    cpu_before = cpu_seconds(python), cpu_seconds(binaries)
    requests_before = harness.fake_stats()["requests"]
    time.sleep(SECONDS)
    python, binaries = tree("triggerer")
    cpu_after = cpu_seconds(python), cpu_seconds(binaries)
    requests = harness.fake_stats()["requests"] - requests_before
    rss_python, rss_binaries = rss_mib(python), rss_mib(binaries)
    each = rss_binaries / max(1, len(binaries))
    cpu_python = 100 * (cpu_after[0] - cpu_before[0]) / SECONDS
    cpu_binaries = 100 * (cpu_after[1] - cpu_before[1]) / SECONDS
    print(
        "| deferred sensors | triggerer RSS (Python) | peaka-wait RSS, all / each "
        f"| CPU over {SECONDS:.0f} s (Python / binaries) | requests per second at the API |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {COUNT} | {rss_python:.0f} MiB | {rss_binaries:.0f} MiB / {each:.1f} MiB "
        f"| {cpu_python:.1f} % / {cpu_binaries:.1f} % of one core | {requests / SECONDS:.2f} |"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        harness.shut_down()
