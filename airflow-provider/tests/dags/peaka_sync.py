"""A test DAG for scripts/airflow-test.sh: the sensor without deferral, and a
time bound rendered from an Airflow macro by real Airflow."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from peaka_airflow.sensors import PeakaCacheSensor

with DAG(
    dag_id="peaka_sync",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"cache_id": Param("orders", type="string")},
):
    PeakaCacheSensor(
        task_id="wait_for_cache",
        project_id="demo",
        cache_ids=["{{ params.cache_id }}"],
        # `airflow dags test` runs at the present moment: this admits the
        # execution the fake starts on the first poll.
        started_after="{{ data_interval_end - macros.timedelta(minutes=1) }}",
        timeout=120,
    )
