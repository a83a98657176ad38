"""`PeakaWaitTrigger`: the deferrable half of `PeakaCacheSensor`.

It runs in the triggerer, which runs many triggers in one event loop: the
binary is an asyncio subprocess, so waiting costs no worker slot and no
thread. The trigger owns that subprocess for its whole life and stops it
when the triggerer cancels the trigger. Its kwargs hold everything a
restarted triggerer needs to resume the same wait: the pinned bounds, the
resume token of the refresh the task started, and the wait's deadline. A
restart stops the binary and never cancels the refresh; only `on_kill` (a
user acted on the task; Airflow 3.3) cancels it, and only that run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from peaka_airflow.compat import AirflowException, BaseHook
from peaka_airflow.gate import GateSpec, clean, run_gate
from peaka_airflow.hooks import credentials


class PeakaWaitTrigger(BaseTrigger):
    """Runs peaka-wait once and fires one event: the outcome of the gate (see `gate.outcome`).

    Its serialised form holds the gate's arguments and the connection id,
    never the key: the key is read from the connection inside the triggerer.
    """

    def __init__(
        self,
        *,
        spec: dict[str, Any],
        peaka_conn_id: str = "peaka_default",
        binary: str | None = None,
        cancel_on_kill: bool = True,
        deadline: str | None = None,
    ) -> None:
        super().__init__()
        self.spec = GateSpec(**spec)
        self.peaka_conn_id = peaka_conn_id
        self.binary = binary
        self.cancel_on_kill = cancel_on_kill
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the keyword arguments that rebuild this trigger."""
        return (
            "peaka_airflow.triggers.PeakaWaitTrigger",
            {
                "spec": self.spec.to_kwargs(),
                "peaka_conn_id": self.peaka_conn_id,
                "binary": self.binary,
                "cancel_on_kill": self.cancel_on_kill,
                "deadline": self.deadline,
            },
        )

    def _remaining(self) -> GateSpec:
        """The spec with what is left of the wait's deadline: a restart does not extend it."""
        if not self.deadline:
            return self.spec
        end = datetime.fromisoformat(self.deadline.replace("Z", "+00:00"))
        left = max(0.0, (end - datetime.now(timezone.utc)).total_seconds())
        return dataclasses.replace(self.spec, timeout="0" if left == 0 else f"{round(left * 1000)}ms")

    async def _credentials(self) -> tuple[str, str | None]:
        # aget_connection reads the connection without blocking the
        # triggerer's event loop; older task SDKs lack it, and a thread
        # keeps the blocking read off the loop there.
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await aget(self.peaka_conn_id)
        else:
            conn = await asyncio.to_thread(BaseHook.get_connection, self.peaka_conn_id)
        return credentials(conn, self.peaka_conn_id)

    async def on_kill(self) -> None:
        """The task was cleared or marked while deferred: cancel the refresh it triggered, only that.

        Airflow 3.3 calls this on a user's action only, never on a triggerer
        restart or shutdown. Without a resume token (the task triggered
        nothing) or with cancel_on_kill=False it sends nothing.
        """
        if not self.cancel_on_kill or not self.spec.resume:
            return
        key, base_url = await self._credentials()
        cancel = dataclasses.replace(self.spec, timeout="20s")
        event = await run_gate(
            cancel, key, base_url, self.log, binary=self.binary, extra=("--cancel",), ok_result="cancelled"
        )
        self.log.info("on_kill: cancel of the refresh this task triggered: %s", event["result"])

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Run the gate to its end and yield its outcome; a cancellation stops the binary."""
        try:
            key, base_url = await self._credentials()
        except AirflowException as error:
            # A bad connection is a usage error of this task, not a crash of
            # the triggerer: the task fails with the message.
            yield TriggerEvent(
                {"result": "usage", "exit_code": 2, "message": clean(str(error)), "caches": {}}
            )
            return
        self.log.info("running peaka-wait in the triggerer for project %s", clean(self.spec.project_id))
        event = await run_gate(self._remaining(), key, base_url, self.log, binary=self.binary)
        self.log.info("peaka-wait ended: %s (exit %s)", event["result"], event["exit_code"])
        yield TriggerEvent(event)
