"""DAGs for scripts/airflow-restart-test.py (Airflow run as separate processes).

`peaka_deferred` waits in the triggerer, `peaka_worker` on the worker; each
run names its cache, whether to trigger, and `since` in its conf.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from peaka_airflow.sensors import PeakaCacheSensor

for dag_id, deferrable in (("peaka_deferred", True), ("peaka_worker", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params={
            "cache_id": Param("orders", type="string"),
            "trigger": Param("", type="string"),
            "since": Param("", type="string"),
        },
    ):
        PeakaCacheSensor(
            task_id="wait",
            project_id="demo",
            # Each try its own fake cache: the fake gives every triggered
            # run of one cache the same execution id, so a re-run's refresh
            # could not be told from the cleared one's there.
            cache_ids="{{ params.cache_id }}-{{ ti.try_number }}",
            trigger="{{ params.trigger }}",
            since="{{ params.since }}",
            timeout=120,
            deferrable=deferrable,
        )

# For scripts/bench-triggerer.py: `count` deferred sensors on caches that never finish.
with DAG(
    dag_id="peaka_bench",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"tag": Param("~b", type="string"), "count": Param(100, type="integer")},
    max_active_tasks=500,
):

    @task
    def caches(**context) -> list[str]:
        return [f"stuck{context['params']['tag']}-{i}" for i in range(context["params"]["count"])]

    PeakaCacheSensor.partial(task_id="wait", project_id="demo", timeout=3600, deferrable=True).expand(
        cache_ids=caches()
    )
