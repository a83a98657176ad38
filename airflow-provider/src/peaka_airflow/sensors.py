"""`PeakaCacheSensor`: an Airflow sensor that waits for a Peaka cache refresh.

The sensor translates its arguments into peaka-wait command lines and owns
the task's side of the wait: it pins relative time bounds when the task
starts, starts the refresh itself (`--trigger KIND --no-wait`) so that the
run is named by a resume token, checks once before deferring, and then
waits on the worker (`mode="poke"`), one check per poke
(`mode="reschedule"`), or in the triggerer (`deferrable=True`). When the
task is killed it cancels the refresh it started, and no other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from airflow.configuration import conf
from airflow.sdk import Asset, AssetAlias, BaseSensorOperator, PokeReturnValue

from peaka_airflow.compat import AirflowException, AirflowFailException, AirflowSkipException
from peaka_airflow.gate import (
    GateSpec,
    cache_id_list,
    clean,
    conclude,
    duration,
    moment,
    pin,
    rfc3339,
    run_gate,
    run_once,
    seconds_of,
)
from peaka_airflow.hooks import PeakaHook
from peaka_airflow.triggers import PeakaWaitTrigger

#: The binary's own default; Airflow's sensor default (7 days) is far longer
#: than any refresh should take.
DEFAULT_TIMEOUT = timedelta(minutes=30)
# The deferral outlives the binary's own timeout by this much, so the
# binary's message (last state, last error) is what the user sees; Airflow's
# deferral timeout is only a backstop.
DEFERRAL_GRACE = timedelta(minutes=1)
#: The alias through which asset events are emitted (see `asset_uri`).
DEFAULT_ASSET_ALIAS = "peaka-caches"
# How long a trigger without waiting may take.
SHORT_REQUEST_SECONDS = 60.0
# How long a worker's on_kill cancel may take: Airflow kills the task
# process 5 s after asking it to stop.
KILL_CANCEL_SECONDS = 4.0
# The key under which a rescheduled sensor keeps its resume token (Airflow
# 3.3's task state store), with the try it belongs to.
STATE_KEY = "peaka_wait_resume"


def asset_uri(project_id: str, cache_id: str) -> str:
    """The asset a ready cache stands for: `peaka://{projectId}/caches/{cacheId}`."""
    return f"peaka://{quote(project_id, safe='')}/caches/{quote(cache_id, safe='')}"


class PeakaCacheSensor(BaseSensorOperator):
    """Wait until the Peaka caches' refresh ends; succeed, fail, skip or time out as it did.

    :param project_id: the Peaka project that owns the caches (templated).
    :param cache_ids: the caches to wait for (templated): a list, one id, comma-separated
        ids, an XComArg, or `.expand(cache_ids=...)`; or
    :param all_caches: wait for every cache of the project.
    :param since: count only executions that finished after this time
        (templated: RFC 3339, `now`, a duration ago, or a datetime). `now` and
        durations are pinned when the task starts, so a resumed wait keeps them.
    :param started_after: count only executions that started at or after this time (templated).
    :param execution: `any`, `incremental`, `full` or `both` (templated).
    :param trigger: `incremental` or `full` (templated): start that refresh on the worker, then
        wait for exactly that run (its resume token survives triggerer restarts).
    :param stall_timeout: fail with `stalled` when the awaited execution stops moving this long.
    :param timeout: give up after this long (seconds, a timedelta, or templated text such as
        `600` or `10m`; default 30 minutes): Airflow's sensor timeout and the binary's `--timeout`.
    :param peaka_conn_id: the `peaka` connection: API key as password, base URL as host (templated).
    :param deferrable: wait in the triggerer instead of holding a worker slot; defaults to
        Airflow's `[operators] default_deferrable`.
    :param cancel_on_kill: when the task is killed (cleared, marked, timed out) while waiting
        for a refresh it triggered, cancel that refresh. Never a refresh it did not start; a
        triggerer restart is not a kill.
    :param asset_alias: the `AssetAlias` through which each ready cache emits an asset event
        (`peaka://{projectId}/caches/{cacheId}`); None emits none.
    :param soft_fail: skip instead of failing when the refresh failed, stalled,
        timed out, or the API refused (unauthorized, not_found, api_error).

    `mode="reschedule"` makes each poke one check. The return value (XCom
    `return_value`) is the gate's outcome: `result`, `message`,
    `elapsed_ms`, `polls` and `caches`, a map from cache id to
    `execution_id`, `finished_at`, `records`, `execution_kind`,
    `execution_status`, `created_at`, `state`, `cache_status`, `error`.
    """

    template_fields: Sequence[str] = (
        "project_id",
        "cache_ids",
        "since",
        "started_after",
        "execution",
        "trigger",
        "stall_timeout",
        "timeout",
        "peaka_conn_id",
    )
    ui_color = "#d7e8fc"

    def __init__(
        self,
        *,
        project_id: str,
        cache_ids: Any = None,
        all_caches: bool = False,
        since: Any = None,
        started_after: Any = None,
        execution: str | None = None,
        trigger: str | None = None,
        stall_timeout: timedelta | float | str | None = None,
        timeout: timedelta | float | str = DEFAULT_TIMEOUT,
        peaka_conn_id: str = PeakaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        soft_fail: bool = False,
        binary: str | None = None,
        **kwargs: Any,
    ) -> None:
        if asset_alias:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), AssetAlias(asset_alias)]
        # A templated timeout is read once rendered; Airflow's sensor needs a number now.
        super().__init__(
            timeout=DEFAULT_TIMEOUT if isinstance(timeout, str) else timeout, soft_fail=soft_fail, **kwargs
        )
        if isinstance(timeout, str):
            self.timeout = timeout  # type: ignore[assignment]
        self.project_id = project_id
        self.cache_ids = cache_ids
        self.all_caches = all_caches
        self.since = since
        self.started_after = started_after
        self.execution = execution
        self.trigger = trigger
        self.stall_timeout = stall_timeout
        self.peaka_conn_id = peaka_conn_id
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.asset_alias = asset_alias
        self.binary = binary
        # The run this task started, once it has: what on_kill may cancel.
        self._started_run: tuple[GateSpec, str, str | None] | None = None
        # The pids of the binaries running for this task (on the worker).
        self._running: set[int] = set()
        # Checked now, so that a DAG with a wrong constant fails at parse
        # time; templated and XCom values are checked once rendered.
        if isinstance(cache_ids, (str, list, tuple)) and "{{" not in str(cache_ids):
            cache_id_list(cache_ids)
        if not isinstance(stall_timeout, str):
            duration(stall_timeout, "stall_timeout")

    def gate_spec(self, started: datetime | None = None) -> GateSpec:
        """The binary's arguments, from the rendered fields; relative bounds pinned to `started`."""
        started = started or datetime.now(timezone.utc)
        spec = GateSpec(
            project_id=str(self.project_id or "").strip(),
            cache_ids=cache_id_list(self.cache_ids),
            all_caches=bool(self.all_caches),
            since=pin(moment(self.since, "since"), started),
            started_after=pin(moment(self.started_after, "started_after"), started),
            execution=str(self.execution).strip() if self.execution else None,
            trigger=str(self.trigger).strip() if self.trigger else None,
            stall_timeout=duration(self.stall_timeout, "stall_timeout"),
            timeout=duration(self._timeout_seconds(), "timeout") or "30m",
        )
        spec.check()
        return spec

    def _timeout_seconds(self) -> float:
        """The rendered timeout in seconds; Airflow's sensor reads it as a number from here on."""
        seconds = seconds_of(self.timeout, "timeout")
        self.timeout = seconds
        return seconds

    def _started(self, context: Any) -> datetime:
        """When this wait began: a rescheduled sensor's first poke, else now."""
        if self.reschedule and context.get("ti") is not None:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return first if first.tzinfo else first.replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc)

    def execute(self, context: Any) -> dict[str, Any]:
        """Trigger if asked, check once, then wait here, poke by poke, or in the triggerer."""
        started = self._started(context)
        spec = self.gate_spec(started)
        if self.reschedule:
            self._spec = spec
            return super().execute(context)
        key, base_url = PeakaHook(self.peaka_conn_id).get_conn()
        spec = self._triggered(spec, key, base_url, context)
        if self.deferrable and spec.timeout != "0":
            # Check once first: a ready cache ends here, without a deferral.
            event = self._run(dataclasses.replace(spec, timeout="0"), key, base_url)
            if event["result"] != "timeout":
                return self._finish(event, context)
            deadline = started + timedelta(seconds=float(self.timeout))
            self.log.info("not ready yet: waiting in the triggerer until %s at most", rfc3339(deadline))
            self.defer(
                trigger=PeakaWaitTrigger(
                    spec=spec.to_kwargs(),
                    peaka_conn_id=self.peaka_conn_id,
                    binary=self.binary,
                    cancel_on_kill=self.cancel_on_kill,
                    deadline=rfc3339(deadline),
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=float(self.timeout)) + DEFERRAL_GRACE,
            )
        return self._finish(self._run(spec, key, base_url), context)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One check (`mode="reschedule"`): the resume token and pinned bounds outlive the poke."""
        key, base_url = PeakaHook(self.peaka_conn_id).get_conn()
        spec = self._spec
        if spec.trigger:
            spec = self._resumed_or_triggered(spec, key, base_url, context)
        event = self._run(dataclasses.replace(spec, timeout="0"), key, base_url)
        if event["result"] == "timeout":
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(event, context))

    def _resumed_or_triggered(self, spec: GateSpec, key: str, base_url: str | None, context: Any) -> GateSpec:
        """The token kept by an earlier poke of this try, else a new trigger, kept for the next poke."""
        store = context.get("task_state_store")
        if store is None:
            raise AirflowFailException(
                "mode='reschedule' with trigger needs Airflow's task state store (Airflow 3.3) to keep "
                "the refresh's resume token between pokes: use deferrable=True or mode='poke'"
            )
        try_number = getattr(context.get("ti"), "try_number", None)
        kept = store.get(STATE_KEY)
        if isinstance(kept, dict) and kept.get("try") == try_number and isinstance(kept.get("resume"), str):
            resumed = dataclasses.replace(spec, resume=kept["resume"])
            self._started_run = (resumed, key, base_url)
            return resumed
        return self._triggered(spec, key, base_url, context)

    def _triggered(self, spec: GateSpec, key: str, base_url: str | None, context: Any) -> GateSpec:
        """Trigger, first cancelling what an earlier try of this task triggered (cleared, retried).

        A clear runs the task again at once, often before the triggerer has
        run the old trigger's on_kill: cancelling here too makes the old run
        end before the new one starts. The token of each try is kept in
        Airflow 3.3's task state store; a run that already ended gets no
        cancel (the binary sends nothing then).
        """
        if not spec.trigger:
            return spec
        store = context.get("task_state_store") if hasattr(context, "get") else None
        try_number = getattr(context.get("ti"), "try_number", None) if store is not None else None
        kept = store.get(STATE_KEY) if store is not None else None
        if (
            self.cancel_on_kill
            and isinstance(kept, dict)
            and kept.get("try") != try_number
            and isinstance(kept.get("resume"), str)
        ):
            earlier = dataclasses.replace(spec, resume=kept["resume"], timeout="5s")
            event = run_once(
                earlier,
                key,
                base_url,
                self.log,
                self.binary,
                ("--cancel",),
                "cancelled",
                SHORT_REQUEST_SECONDS,
            )
            self.log.info("cancel of the refresh try %s triggered: %s", kept.get("try"), event.get("result"))
        resumed = self._trigger(spec, key, base_url)
        if store is not None:
            store.set(STATE_KEY, {"try": try_number, "resume": resumed.resume})
        return resumed

    def _trigger(self, spec: GateSpec, key: str, base_url: str | None) -> GateSpec:
        """Start the refresh without waiting; the spec from now on names exactly that run."""
        if not spec.trigger:
            return spec
        event = run_once(
            spec, key, base_url, self.log, self.binary, ("--no-wait",), "triggered", SHORT_REQUEST_SECONDS
        )
        if event["result"] != "triggered" or not event.get("resume"):
            if event["result"] == "triggered":
                event = {**event, "result": "error", "message": "peaka-wait printed no resume token"}
            return conclude(event, self.soft_fail, self.never_fail)  # raises: not ready
        self.log.info("%s refresh triggered; resume token kept for this task", spec.trigger)
        resumed = dataclasses.replace(spec, resume=event["resume"])
        self._started_run = (resumed, key, base_url)
        return resumed

    def _run(self, spec: GateSpec, key: str, base_url: str | None) -> dict[str, Any]:
        return asyncio.run(run_gate(spec, key, base_url, self.log, binary=self.binary, running=self._running))

    def on_kill(self) -> None:
        """Stop the waiting binary; cancel the refresh this task triggered (cancel_on_kill), no other.

        Airflow's supervisor sends SIGKILL 5 s after SIGTERM, so the cancel
        is bounded to finish before that.
        """
        for pid in list(self._running):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self._started_run is None or not self.cancel_on_kill:
            return
        spec, key, base_url = self._started_run
        cancel = dataclasses.replace(spec, timeout=f"{KILL_CANCEL_SECONDS * 1000:.0f}ms")
        event = run_once(
            cancel,
            key,
            base_url,
            self.log,
            self.binary,
            ("--cancel",),
            "cancelled",
            KILL_CANCEL_SECONDS + 0.5,
        )
        self.log.info("on_kill: cancel of the refresh this task triggered: %s", event.get("result"))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger's event: the same ending as the synchronous wait."""
        self.log.info("resumed by the trigger's event: %s", event.get("result"))
        return self._finish(event, context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume from the trigger's event with the same endings as the synchronous wait.

        BaseSensorOperator would turn every failure into a skip under
        soft_fail; `gate.conclude` already applies soft_fail to the results
        it covers and keeps usage errors failures. Trigger failures and the
        deferral timeout keep Airflow's sensor handling.
        """
        if next_method == "execute_complete":
            return self.execute_complete(context, **(next_kwargs or {}))
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException:
            raise
        except AirflowException as error:
            # Airflow 3.0's sensor does not skip a deferral timeout under soft_fail; 3.1+ does.
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"skipped: {error}") from error
            raise

    def _finish(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        ready = event.get("result") == "ready"
        for cache_id, cache in (event.get("caches") or {}).items():
            if cache.get("execution_id") is None:
                self.log.info("cache %s: %s, no execution awaited", cache_id, cache.get("state"))
            elif cache.get("finished_at") is None:
                self.log.info(
                    "cache %s: %s, execution %s (%s)",
                    cache_id,
                    cache.get("state"),
                    cache.get("execution_id"),
                    cache.get("execution_status"),
                )
            else:
                self.log.info(
                    "cache %s: %s, execution %s %s at %s (%s records)",
                    cache_id,
                    cache.get("state"),
                    cache.get("execution_id"),
                    cache.get("execution_status"),
                    cache.get("finished_at"),
                    cache.get("records"),
                )
            if cache.get("error") and not ready:
                self.log.error(
                    "cache %s: execution %s error: %s", cache_id, cache.get("execution_id"), cache["error"]
                )
        value = conclude(event, self.soft_fail, self.never_fail)
        self._emit_assets(value, context)
        return value

    def _emit_assets(self, value: dict[str, Any], context: Any) -> None:
        """One asset event per ready cache, through the alias (ids may come from XCom or templates)."""
        events = context.get("outlet_events") if hasattr(context, "get") else None
        if not self.asset_alias or events is None:
            return
        alias = AssetAlias(self.asset_alias)
        for cache_id, cache in (value.get("caches") or {}).items():
            project_id = cache.get("project_id") or self.project_id
            events[alias].add(
                Asset(asset_uri(str(project_id), cache_id)),
                extra={
                    "execution_id": cache.get("execution_id"),
                    "execution_kind": cache.get("execution_kind"),
                    "finished_at": cache.get("finished_at"),
                    "records": cache.get("records"),
                },
            )
            self.log.info("asset event: %s", clean(asset_uri(str(project_id), cache_id)))
