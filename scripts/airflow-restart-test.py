"""Restarts and clears under real Airflow, run as separate processes.

Run by scripts/airflow-test.sh with the Airflow venv's Python; it starts
its own fake Peaka API (target/debug/fake-peaka). It starts Airflow as a deployment does —
api-server, scheduler (LocalExecutor), dag-processor and triggerer, each its
own process, SQLite metadata DB — with the DAGs of
airflow-provider/tests/processes/, and proves, counting the trigger and
cancel requests at the fake:

1. a triggerer restart resumes the same waits: a `since="now"` wait whose
   refresh completed while the triggerer was down succeeds (the bound was
   pinned when the task started), and a wait for a refresh the task
   triggered succeeds without a second trigger and without a cancel;
2. marking a deferred task failed cancels the refresh it triggered (the
   trigger's on_kill), and only that one;
3. marking a task that waits on the worker failed does the same (the
   sensor's on_kill);
4. clearing a deferred task cancels its refresh once, and the re-run
   triggers anew and succeeds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# A fake API of its own, so that the trigger and cancel counts are this test's alone.
# Where cargo built it: CARGO_TARGET_DIR when set (relative to the repo root).
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
_fake = subprocess.Popen([str(TARGET / "debug" / "fake-peaka")], stdout=subprocess.PIPE, text=True)
FAKE = _fake.stdout.readline().strip()
TAG = f"~r{int(time.time())}"

work = Path(tempfile.mkdtemp(prefix="peaka-airflow-"))
processes: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
API = f"http://127.0.0.1:{PORT}"
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PEAKA_"))},
    "PATH": "/usr/bin:/bin",
    "AIRFLOW_HOME": str(work / "home"),
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "airflow-provider" / "tests" / "processes"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{API}/execution/",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__API_AUTH__JWT_SECRET": "peaka-test-jwt-secret-0123456789abcdef",
    "AIRFLOW__API__SECRET_KEY": "peaka-test-secret",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "500",
    "AIRFLOW__TRIGGERER__CAPACITY": "1000",
    "AIRFLOW_CONN_PEAKA_DEFAULT": json.dumps({"conn_type": "peaka", "host": FAKE, "password": "demo-key"}),
}


def fail(message: str) -> None:
    print(f"airflow-processes: FAILED: {message}", file=sys.stderr)
    for name in processes:
        log = work / f"{name}.log"
        if log.exists():
            print(f"--- last lines of {name}.log", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
    raise SystemExit(1)


def start(name: str, *args: str) -> None:
    log = open(work / f"{name}.log", "a")  # noqa: SIM115 (kept open for the process's life)
    processes[name] = subprocess.Popen(
        [str(BIN / "airflow"), *args], env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(name: str) -> None:
    """SIGTERM, as a deployment stops a component, then wait for it to exit."""
    process = processes.pop(name)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def until(what: str, check, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                fail(f"airflow {name} exited ({process.returncode}) while waiting for {what}")
        value = check()
        if value:
            return value
        time.sleep(0.5)
    fail(f"no {what} within {seconds:.0f}s")


def sql(query: str, *args) -> list[tuple]:
    db = sqlite3.connect(work / "home" / "airflow.db", timeout=30)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def state(run_id: str, final_ok: bool = False) -> str | None:
    """The wait task's state in that run; a failure ends the test unless it is awaited."""
    rows = sql("select state from task_instance where run_id = ? and task_id = 'wait'", run_id)
    value = rows[0][0] if rows else None
    if value in ("failed", "upstream_failed") and not final_ok:
        fail(f"the task of {run_id} failed")
    return value


def fake_stats() -> dict:
    with urllib.request.urlopen(f"{FAKE}/_fake/stats", timeout=10) as reply:
        return json.load(reply)


_token: list[str] = []


def api(method: str, path: str, body: dict | None = None) -> dict:
    if not _token:
        with urllib.request.urlopen(f"{API}/auth/token", timeout=30) as reply:
            _token.append(json.load(reply)["access_token"])
    request = urllib.request.Request(
        f"{API}/api/v2{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {_token[0]}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


def run_dag(dag_id: str, run_id: str, **conf: str) -> None:
    api("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})


def clear(dag_id: str, run_id: str) -> None:
    api(
        "POST",
        f"/dags/{dag_id}/clearTaskInstances",
        {"dry_run": False, "only_failed": False, "dag_run_id": run_id, "task_ids": ["wait"]},
    )


def xcom_execution(run_id: str) -> dict:
    rows = sql(
        "select value from xcom where run_id = ? and task_id = 'wait' and key = 'return_value'", run_id
    )
    if not rows:
        fail(f"no XCom for {run_id}")
    value = json.loads(rows[0][0])
    return next(iter(value["caches"].values()))


def served() -> bool:
    try:
        with urllib.request.urlopen(f"{API}/api/v2/monitor/health", timeout=5):
            return True
    except OSError:
        return False


def mark_failed(dag_id: str, run_id: str) -> None:
    api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait", {"new_state": "failed"})


def kill_while_waiting(dag_id: str, waiting: str, action: str) -> None:
    """Kill a task that waits for a refresh it triggered, by a clear or a mark-failed.

    Mark-failed: the task's own on_kill (the sensor's on the worker, the
    trigger's in the triggerer) must cancel exactly that refresh: one
    cancel, no second trigger. Clear: one cancel, and the re-run triggers
    anew and succeeds.
    """
    before = fake_stats()
    run_id = f"{action}-{dag_id}{TAG}"
    run_dag(
        dag_id, run_id, cache_id=f"triggered-completes-after-15s{TAG}{action}{dag_id}", trigger="incremental"
    )
    until(
        f"{dag_id} {waiting}",
        lambda: state(run_id) == waiting and fake_stats()["triggers"] > before["triggers"],
    )
    time.sleep(3)  # past the triggered record's appearance
    if action == "clear":
        clear(dag_id, run_id)
    else:
        mark_failed(dag_id, run_id)
    until(f"{dag_id}: the cancel", lambda: fake_stats()["cancels"] > before["cancels"], 60)
    if action == "clear":
        until(f"{dag_id}: the re-run's success", lambda: state(run_id) == "success", 150)
    else:
        time.sleep(5)  # time for a wrong second trigger or cancel to show
    after = fake_stats()
    triggers, cancels = after["triggers"] - before["triggers"], after["cancels"] - before["cancels"]
    print(f"airflow-processes: {dag_id} {action} while {waiting}: {cancels} cancel, {triggers} triggers")
    want = 2 if action == "clear" else 1
    if cancels != 1 or triggers != want:
        fail(f"{dag_id}: {action} sent {cancels} cancels and {triggers} triggers (want 1 and {want})")


def main() -> None:
    start_airflow()

    # 1. A triggerer restart: both waits deferred, the triggerer stopped
    # while one refresh completes and the other (triggered) one runs.
    before = fake_stats()
    since_run, triggered_run = f"since{TAG}", f"triggered{TAG}"
    run_dag("peaka_deferred", since_run, cache_id=f"completes-after-12s{TAG}", since="now")
    triggered_cache = f"triggered-completes-after-12s{TAG}"
    run_dag("peaka_deferred", triggered_run, cache_id=triggered_cache, trigger="incremental")
    until("both waits deferred", lambda: state(since_run) == state(triggered_run) == "deferred")
    stop("triggerer")
    print("airflow-processes: triggerer stopped with two deferred waits")
    time.sleep(16)
    start("triggerer", "triggerer")
    until(
        "both waits done",
        lambda: (
            state(since_run, True) in ("success", "failed")
            and state(triggered_run, True) in ("success", "failed")
        ),
        150,
    )
    after = fake_stats()
    if state(since_run) != "success":
        fail(f"the since='now' wait ended {state(since_run)} after the restart")
    if state(triggered_run) != "success":
        fail(f"the triggered wait ended {state(triggered_run)} after the restart")
    triggers, cancels = after["triggers"] - before["triggers"], after["cancels"] - before["cancels"]
    print(f"airflow-processes: after the triggerer restart: success, {triggers} trigger, {cancels} cancels")
    if triggers != 1 or cancels != 0:
        fail(f"a triggerer restart sent {triggers} triggers and {cancels} cancels (want 1 and 0)")
    if xcom_execution(triggered_run)["execution_id"] != f"{triggered_cache}-1-triggered":
        fail("the triggered wait did not end on the triggered execution")

    # 2 to 4. Killed while deferred and while waiting on the worker.
    kill_while_waiting("peaka_deferred", "deferred", "mark-failed")
    kill_while_waiting("peaka_worker", "running", "mark-failed")
    kill_while_waiting("peaka_deferred", "deferred", "clear")
    print("airflow-processes: ok")


def shut_down() -> None:
    for name in list(processes):
        stop(name)
    _fake.kill()
    _fake.wait()
    if os.environ.get("KEEP_WORK") is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def start_airflow() -> None:
    """Migrate the metadata DB and start the four components; wait until the DAGs are parsed."""
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=ENV, check=True, capture_output=True)
    start("api-server", "api-server", "--port", str(PORT))
    start("scheduler", "scheduler")
    start("dag-processor", "dag-processor")
    start("triggerer", "triggerer")
    until("api-server", served)
    until("parsed DAGs", lambda: len(sql("select dag_id from dag where dag_id like 'peaka_%'")) == 3)
    print("airflow-processes: api-server, scheduler, dag-processor and triggerer up")


if __name__ == "__main__":
    try:
        main()
    finally:
        shut_down()
