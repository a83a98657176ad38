"""Example: load data, wait for Peaka's incremental sync of it, then report.

`wait_for_cache` triggers an incremental sync of the cache and waits for
that very execution in the triggerer (deferrable), so no worker slot is held
while Peaka refreshes. The key and base URL come from the Airflow
connection `peaka_default` (API key as password). Run it with another cache:

    airflow dags test peaka_example -c '{"cache_id": "orders"}'
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from peaka_airflow.sensors import PeakaCacheSensor

with DAG(
    dag_id="peaka_example",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "project_id": Param("demo", type="string"),
        "cache_id": Param("orders", type="string"),
    },
    tags=["peaka"],
):

    @task
    def load() -> str:
        """Stands for the job that lands new rows in the source Peaka caches."""
        print("loaded the day's orders into the source")
        return "loaded"

    wait_for_cache = PeakaCacheSensor(
        task_id="wait_for_cache",
        project_id="{{ params.project_id }}",
        cache_ids=["{{ params.cache_id }}"],
        trigger="incremental",
        timeout=600,
        deferrable=True,
    )

    @task
    def report(outcome: dict) -> None:
        """Reads the sensor's XCom: which execution made each cache ready."""
        for cache_id, cache in outcome["caches"].items():
            print(
                f"cache {cache_id} ready: execution {cache['execution_id']} "
                f"finished at {cache['finished_at']} with {cache['records']} records"
            )

    load() >> wait_for_cache
    report(wait_for_cache.output)
