"""Runs the peaka-wait binary's single check and reads its JSON summary.

This module owns the boundary with the binary: its command line (flags only,
never the key), its environment (this process's minus every PEAKA_*
variable, plus the key), the bound on its run and on what it prints, and the
reading of its one summary into per-cache and per-query outcomes. The binary decides
whether a refresh counts; everything it prints is outside data, bounded and
escaped here before it reaches Dagster's logs or event log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The results whose cause is the setup (flags, key, ids) or the API's refusal,
# never the refresh: a tick cannot report anything true until it is fixed.
SETUP_ERRORS = ("usage_error", "unauthorized", "not_found", "api_error")
# A single check does one round of requests (at most --request-timeout, 10 s,
# each); this bounds a hung binary well inside Dagster's 60 s sensor timeout.
RUN_TIMEOUT_SECONDS = 45
MAX_SUMMARY_BYTES = 1 << 20
MAX_TEXT_CHARS = 2000

# C0/C1 controls, bidi overrides and line separators could forge log lines
# or reorder text where the event log is shown.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class PeakaCheckError(Exception):
    """The single check could not say anything about the refreshes (setup, key, binary)."""


def clean(value: Any, key: str | None = None) -> str:
    """Outside text made safe for a log or the event log: bounded, key scrubbed, controls escaped."""
    text = value if isinstance(value, str) else str(value)
    text = text[: 4 * MAX_TEXT_CHARS]
    if key:
        text = text.replace(key, "***")
    text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


@dataclass(frozen=True)
class CacheOutcome:
    """One cache in the summary: its state and the execution that decided it (if any)."""

    cache_id: str
    state: str
    cache_status: str | None
    table: str | None
    execution: dict[str, Any] | None

    @property
    def execution_id(self) -> str | None:
        value = (self.execution or {}).get("id")
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class QueryOutcome:
    """One materialized query in the summary: its state, Peaka's status and the run's times.

    A materialized query has no execution id: a run is known by its start
    time (`startedAt`, Peaka's `lastExecutionStartTime`), as the binary
    knows it.
    """

    query_id: str
    state: str
    status: str | None
    name: str | None
    started_at: str | None
    updated_at: str | None

    @property
    def run_id(self) -> str | None:
        return self.started_at or None


@dataclass(frozen=True)
class Summary:
    """The binary's verdict on one check: `result` and `exitCode` are its contract."""

    result: str
    exit_code: int
    message: str
    caches: list[CacheOutcome]
    queries: list[QueryOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class CheckRequest:
    """What the binary is asked; `api_key` goes to its environment, never its command line."""

    project_id: str
    cache_ids: list[str]
    query_ids: list[str] = field(default_factory=list)
    api_key: str | None = None
    api_key_file: str | None = None
    base_url: str | None = None
    execution: str | None = None
    binary: str = "peaka-wait"

    def argv(self, binary_path: str) -> list[str]:
        args = [binary_path, "--project-id", self.project_id, "--timeout", "0", "--output", "json", "--quiet"]
        for cache_id in self.cache_ids:
            args += ["--cache-id", cache_id]
        for query_id in self.query_ids:
            args += ["--materialized-query", query_id]
        if self.base_url:
            args += ["--base-url", self.base_url]
        if self.execution and self.cache_ids:
            args += ["--execution", self.execution]
        return args

    def env(self) -> dict[str, str]:
        # Stray PEAKA_* variables in Dagster's process would silently change
        # the check; only the resource's settings may.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKA_")}
        if self.api_key:
            env["PEAKA_API_KEY"] = self.api_key
        if self.api_key_file:
            env["PEAKA_API_KEY_FILE"] = self.api_key_file
        return env


def run_check(request: CheckRequest) -> Summary:
    """Run `peaka-wait --timeout 0 --output json` once and read its summary."""
    binary_path = shutil.which(request.binary)
    if binary_path is None:
        raise PeakaCheckError(
            f"the peaka-wait binary was not found (binary={request.binary!r}): "
            "`pip install peaka-wait`, or put it on PATH, or set PeakaResource(binary=...) to its path"
        )
    try:
        proc = subprocess.run(
            request.argv(binary_path),
            env=request.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise PeakaCheckError(f"peaka-wait did not answer within {RUN_TIMEOUT_SECONDS} s") from err
    except OSError as err:
        raise PeakaCheckError(f"peaka-wait could not be started: {clean(err)}") from err
    return read_summary(proc.stdout[:MAX_SUMMARY_BYTES], proc.returncode, proc.stderr, request.api_key)


def read_summary(stdout: bytes, code: int, stderr: bytes, key: str | None) -> Summary:
    """The summary, or a PeakaCheckError naming the exit code and the binary's last error line."""
    try:
        doc = json.loads(stdout.decode("utf-8", "replace"))
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), str):
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        last = clean(lines[-1], key) if lines else "nothing on stderr"
        raise PeakaCheckError(f"peaka-wait exited {code} without a JSON summary: {last}")
    caches = []
    for item in doc.get("caches") or []:
        if not isinstance(item, dict) or not isinstance(item.get("cacheId"), str):
            continue
        execution = item.get("execution")
        caches.append(
            CacheOutcome(
                cache_id=item["cacheId"],
                state=str(item.get("state")),
                cache_status=_text(item.get("cacheStatus"), key),
                table=_text(item.get("table"), key),
                execution=execution if isinstance(execution, dict) else None,
            )
        )
    queries = []
    for item in doc.get("materializedQueries") or []:
        if not isinstance(item, dict) or not isinstance(item.get("queryId"), str):
            continue
        queries.append(
            QueryOutcome(
                query_id=item["queryId"],
                state=str(item.get("state")),
                status=_text(item.get("status"), key),
                name=_text(item.get("queryName"), key),
                started_at=_text(item.get("startedAt"), key),
                updated_at=_text(item.get("updatedAt"), key),
            )
        )
    return Summary(
        result=doc["result"],
        exit_code=code,
        message=clean(doc.get("message") or "", key),
        caches=caches,
        queries=queries,
    )


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from the summary, or None when it is missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _text(value: Any, key: str | None) -> str | None:
    return clean(value, key) if isinstance(value, str) else None
