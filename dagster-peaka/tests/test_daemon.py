"""End to end: `dagster-daemon run -m dagster_peaka.definitions`, configured only by PEAKA_* variables.

The real sensor daemon ticks the module-level `defs` (the binary found on
PATH) against fake-peaka across a refresh that completes and one that
fails; the events land in the instance's storage, a downstream asset with
an eager automation condition is then requested, and the key appears
nowhere in the instance's files or the daemon's output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from dagster_peaka import CHECK_NAME, cache_asset_key, definitions_from_env

DEADLINE_SECONDS = 90


def test_the_daemon_reports_refreshes_from_the_module_definitions(
    fake_url: str, api_key: str, wait_bin: str, tag: str, tmp_path: Path
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    done, bad = f"completes-after-4s~{tag}", f"fails-after-4s~{tag}"
    done_key, bad_key = cache_asset_key(done), cache_asset_key(bad)
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEAKA_", "DAGSTER_"))}
    env |= {
        "DAGSTER_HOME": str(home),
        # The binary only from PATH, as on a user's machine.
        "PATH": os.pathsep.join([str(Path(wait_bin).parent), venv_bin, "/usr/bin", "/bin"]),
        "PEAKA_PROJECT_ID": "p",
        "PEAKA_CACHE_ID": f"{done},{bad}",
        "PEAKA_API_KEY": api_key,
        "PEAKA_BASE_URL": fake_url,
        "PEAKA_DAGSTER_INTERVAL": "1",
    }
    log = tmp_path / "daemon.log"

    @dg.asset(deps=[done_key], automation_condition=dg.AutomationCondition.eager())
    def report() -> None:
        return None

    downstream = dg.Definitions.merge(definitions_from_env(env), dg.Definitions(assets=[report]))
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        baseline = dg.evaluate_automation_conditions(defs=downstream, instance=instance)
        assert not baseline.total_requested, "nothing before the refresh completes"
        with open(log, "wb") as out:
            daemon = subprocess.Popen(
                [f"{venv_bin}/dagster-daemon", "run", "-m", "dagster_peaka.definitions"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            materializations, checks = _await_events(instance, daemon, done_key, bad_key)
        finally:
            # The daemon and the code server it started share its session.
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)
        output = log.read_text(errors="replace")
        assert materializations, f"no materialization within {DEADLINE_SECONDS} s:\n{output[-4000:]}"

        assert len(materializations) == 1, "one refresh, one materialization, however many ticks"
        meta = materializations[0].asset_materialization.metadata
        assert meta["execution_id"].value == f"{done}-exec-2"
        assert meta["records"].value == 1400  # the fake adds 100 records a second
        assert checks[done_key].passed is True
        assert checks[bad_key].passed is False
        assert checks[bad_key].description == f"refresh {bad}-exec-2 FAILED: Source connection refused"

        # Downstream: an eager asset over the cache, evaluated by Dagster as
        # its automation sensor does (a baseline before, one after), is
        # requested once the refresh is recorded.
        evaluated = dg.evaluate_automation_conditions(
            defs=downstream, instance=instance, cursor=baseline.cursor
        )
        requested = {r.key for r in evaluated.results if r.true_subset.size}
        assert requested == {dg.AssetKey("report")}, requested

    assert api_key not in output
    for path in home.rglob("*"):
        if path.is_file():
            assert api_key.encode() not in path.read_bytes(), f"the API key is in {path}"


def _await_events(instance: dg.DagsterInstance, daemon: subprocess.Popen, done_key, bad_key):
    deadline = time.monotonic() + DEADLINE_SECONDS
    materializations: list = []
    checks: dict = {}
    while time.monotonic() < deadline and daemon.poll() is None:
        materializations = instance.fetch_materializations(done_key, limit=10).records
        checks = {}
        for key in (done_key, bad_key):
            check_key = dg.AssetCheckKey(key, CHECK_NAME)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])
            execution = record.get(check_key)
            if execution and execution.event:
                checks[key] = execution.event.dagster_event.event_specific_data
        if materializations and len(checks) == 2:
            # One more tick, to see it report nothing again.
            time.sleep(6)
            return instance.fetch_materializations(done_key, limit=10).records, checks
        time.sleep(1)
    return materializations, checks
