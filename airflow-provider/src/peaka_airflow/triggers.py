"""`PeakaWaitTrigger`: the deferrable half of `PeakaCacheSensor`.

It runs in the triggerer, which runs many triggers in one event loop: the
binary is an asyncio subprocess, so waiting costs no worker slot and no
thread. The trigger owns that subprocess for its whole life and stops it
when the triggerer cancels the trigger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

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
    ) -> None:
        super().__init__()
        self.spec = GateSpec(**spec)
        self.peaka_conn_id = peaka_conn_id
        self.binary = binary

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the keyword arguments that rebuild this trigger."""
        return (
            "peaka_airflow.triggers.PeakaWaitTrigger",
            {"spec": self.spec.to_kwargs(), "peaka_conn_id": self.peaka_conn_id, "binary": self.binary},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Run the gate to its end and yield its outcome; a cancellation stops the binary."""
        try:
            # aget_connection reads the connection without blocking the
            # triggerer's event loop; older task SDKs lack it, and a thread
            # keeps the blocking read off the loop there.
            aget = getattr(BaseHook, "aget_connection", None)
            if aget is not None:
                conn = await aget(self.peaka_conn_id)
            else:
                conn = await asyncio.to_thread(BaseHook.get_connection, self.peaka_conn_id)
            key, base_url = credentials(conn, self.peaka_conn_id)
        except AirflowException as error:
            # A bad connection is a usage error of this task, not a crash of
            # the triggerer: the task fails with the message.
            yield TriggerEvent(
                {"result": "usage", "exit_code": 2, "message": clean(str(error)), "caches": {}}
            )
            return
        self.log.info("running peaka-wait in the triggerer for project %s", clean(self.spec.project_id))
        event = await run_gate(self.spec, key, base_url, self.log, binary=self.binary)
        self.log.info("peaka-wait ended: %s (exit %s)", event["result"], event["exit_code"])
        yield TriggerEvent(event)
