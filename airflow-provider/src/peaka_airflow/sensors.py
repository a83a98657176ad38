"""`PeakaCacheSensor`: an Airflow sensor that waits for a Peaka cache refresh.

The sensor translates its arguments into a peaka-wait command line and
either runs the binary on the worker (streaming its log into the task log)
or, with `deferrable=True`, hands the wait to `PeakaWaitTrigger` in the
triggerer and frees the worker slot until the trigger's event resumes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from peaka_airflow.gate import GateSpec, conclude, duration, moment, run_gate
from peaka_airflow.hooks import PeakaHook
from peaka_airflow.triggers import PeakaWaitTrigger

#: The binary's own default; Airflow's sensor default (7 days) is far longer
#: than any refresh should take.
DEFAULT_TIMEOUT = timedelta(minutes=30)
# The deferral outlives the binary's own timeout by this much, so the
# binary's message (last state, last error) is what the user sees; Airflow's
# deferral timeout is only a backstop.
DEFERRAL_GRACE = timedelta(minutes=1)


class PeakaCacheSensor(BaseSensorOperator):
    """Wait until the Peaka caches' refresh ends; succeed, fail, skip or time out as it did.

    :param project_id: the Peaka project that owns the caches (templated).
    :param cache_ids: the caches to wait for (templated); or
    :param all_caches: wait for every cache of the project.
    :param since: count only executions that finished after this time
        (templated: RFC 3339, `now`, a duration ago, or a datetime).
    :param started_after: count only executions that started at or after this time (templated).
    :param execution: `any`, `incremental`, `full` or `both`.
    :param trigger: `incremental` or `full`: start that refresh, then wait for it.
    :param stall_timeout: fail with `stalled` when the awaited execution stops moving this long.
    :param timeout: give up after this long (seconds or timedelta; default 30 minutes):
        Airflow's sensor timeout, also passed to the binary as `--timeout`.
    :param peaka_conn_id: the `peaka` connection: API key as password, base URL as host.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param soft_fail: skip instead of failing when the refresh failed, stalled,
        timed out, or the API refused (unauthorized, not_found, api_error).

    `mode`, `poke_interval` and `exponential_backoff` are not used: the
    binary owns the poll schedule. The return value (XCom `return_value`) is
    the gate's outcome: `result`, `message`, `elapsed_ms`, `polls` and
    `caches`, a map from cache id to `execution_id`, `finished_at`,
    `records`, `execution_kind`, `execution_status`, `created_at`, `state`,
    `cache_status`.
    """

    template_fields: Sequence[str] = ("project_id", "cache_ids", "since", "started_after")
    ui_color = "#d7e8fc"

    def __init__(
        self,
        *,
        project_id: str,
        cache_ids: Sequence[str] | None = None,
        all_caches: bool = False,
        since: Any = None,
        started_after: Any = None,
        execution: str | None = None,
        trigger: str | None = None,
        stall_timeout: timedelta | float | str | None = None,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        peaka_conn_id: str = PeakaHook.default_conn_name,
        deferrable: bool = False,
        soft_fail: bool = False,
        binary: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, soft_fail=soft_fail, **kwargs)
        self.project_id = project_id
        self.cache_ids = list(cache_ids or [])
        self.all_caches = all_caches
        self.since = since
        self.started_after = started_after
        self.execution = execution
        self.trigger = trigger
        self.stall_timeout = stall_timeout
        self.peaka_conn_id = peaka_conn_id
        self.deferrable = deferrable
        self.binary = binary
        # Checked now, so that a DAG with a wrong constant fails at parse
        # time; templated values are checked again once rendered.
        if not isinstance(self.cache_ids, list) or isinstance(cache_ids, str):
            raise ValueError("cache_ids must be a list of cache ids, e.g. cache_ids=['orders']")
        duration(stall_timeout, "stall_timeout")

    def gate_spec(self) -> GateSpec:
        """The binary's arguments, from the rendered fields."""
        spec = GateSpec(
            project_id=str(self.project_id or "").strip(),
            cache_ids=[str(c).strip() for c in self.cache_ids],
            all_caches=bool(self.all_caches),
            since=moment(self.since, "since"),
            started_after=moment(self.started_after, "started_after"),
            execution=self.execution,
            trigger=self.trigger,
            stall_timeout=duration(self.stall_timeout, "stall_timeout"),
            timeout=duration(self.timeout, "timeout") or "30m",
        )
        spec.check()
        return spec

    def execute(self, context: Any) -> dict[str, Any]:
        """Wait (or defer); return the outcome for XCom, or raise as `gate.conclude` says."""
        spec = self.gate_spec()
        if self.deferrable:
            self.defer(
                trigger=PeakaWaitTrigger(
                    spec=spec.to_kwargs(), peaka_conn_id=self.peaka_conn_id, binary=self.binary
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
            )
        key, base_url = PeakaHook(self.peaka_conn_id).get_conn()
        event = asyncio.run(run_gate(spec, key, base_url, self.log, binary=self.binary))
        return self._finish(event)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger's event: the same ending as the synchronous wait."""
        self.log.info("resumed by the trigger's event: %s", event.get("result"))
        return self._finish(event)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume from the trigger's event with the same endings as the synchronous wait.

        BaseSensorOperator would turn every failure into a skip under
        soft_fail; `gate.conclude` already applies soft_fail to the results
        it covers and keeps usage errors failures. Trigger failures and the
        deferral timeout keep Airflow's sensor handling.
        """
        if next_method == "execute_complete":
            return self.execute_complete(context, **(next_kwargs or {}))
        return super().resume_execution(next_method, next_kwargs, context)

    def _finish(self, event: dict[str, Any]) -> dict[str, Any]:
        for cache_id, cache in (event.get("caches") or {}).items():
            self.log.info(
                "cache %s: %s, execution %s finished at %s (%s records)",
                cache_id,
                cache.get("state"),
                cache.get("execution_id"),
                cache.get("finished_at"),
                cache.get("records"),
            )
        return conclude(event, self.soft_fail)
