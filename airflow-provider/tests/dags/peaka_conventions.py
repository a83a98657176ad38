"""A test DAG for scripts/airflow-test.sh: the conventions Airflow users expect.

Run with `[operators] default_deferrable` on and a `tag` param that gives
each run its own fake caches:
- `from_xcom`: cache ids from an upstream task's XCom; deferrable by default;
- `ready_at_once`: a cache ready when the task starts ends on the worker;
- `mapped`: one mapped sensor per id (`.expand(cache_ids=...)`);
- `templated`: ids, timeout, execution and connection id from templates;
- `rescheduled`: `mode="reschedule"`, a refresh triggered once and its
  resume token kept between pokes.
Every success emits asset events `peaka://demo/caches/{cacheId}`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from peaka_airflow.sensors import PeakaCacheSensor

with DAG(
    dag_id="peaka_conventions",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"tag": Param("~c", type="string")},
):

    @task
    def ids(**context) -> list[str]:
        tag = context["params"]["tag"]
        return [f"completes-after-2s{tag}", f"finished-ago-1m{tag}"]

    cache_ids = ids()
    from_xcom = PeakaCacheSensor(task_id="from_xcom", project_id="demo", cache_ids=cache_ids, timeout=120)
    ready_at_once = PeakaCacheSensor(
        task_id="ready_at_once", project_id="demo", cache_ids="finished-ago-1m{{ params.tag }}", timeout=120
    )
    mapped = PeakaCacheSensor.partial(
        task_id="mapped", project_id="demo", deferrable=False, timeout=120
    ).expand(cache_ids=cache_ids)
    templated = PeakaCacheSensor(
        task_id="templated",
        project_id="demo",
        cache_ids="completes-after-1s{{ params.tag }}t, finished-ago-1m{{ params.tag }}t",
        timeout="{{ 60 * 2 }}",
        execution="{{ 'incremental' }}",
        peaka_conn_id="{{ 'peaka' ~ '_default' }}",
        deferrable=False,
    )
    rescheduled = PeakaCacheSensor(
        task_id="rescheduled",
        project_id="demo",
        cache_ids=["triggered-completes-after-6s{{ params.tag }}"],
        trigger="incremental",
        mode="reschedule",
        poke_interval=2,
        timeout=120,
        deferrable=False,
    )
    from_xcom >> ready_at_once >> mapped >> templated >> rescheduled
