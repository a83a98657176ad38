"""Runs the peaka-wait binary and turns what it printed into an Airflow outcome.

This module owns the boundary with the binary, shared by the sensor (on a
worker) and the trigger (in the triggerer): the command line and the
environment it gets, the streaming of its log lines (stderr) into an Airflow
log, the reading of its one JSON summary (stdout), and the mapping of its
exit code to success, failure, skip or sensor timeout. The binary decides
whether a cache is ready; everything it prints is data, bounded and escaped
before it reaches a log, and the exit code — not the text — picks the outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sysconfig
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from peaka_airflow.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

#: The binary's exit codes and the results they stand for (its contract).
RESULTS = {
    0: "ready",
    1: "failed",
    2: "usage",
    3: "timeout",
    4: "unauthorized",
    5: "not_found",
    6: "api_error",
    7: "stalled",
    130: "interrupted",
    143: "interrupted",
}
EXECUTION_KINDS = ("any", "incremental", "full", "both")
TRIGGER_KINDS = ("incremental", "full")

# Bounds on what is read from the binary: its summary is one short line and
# its log lines are short; anything longer is not trusted to be either.
MAX_SUMMARY_BYTES = 1 << 20
MAX_LINE_BYTES = 16 * 1024
MAX_TEXT_CHARS = 2000
# How long a stopped binary gets to exit on SIGTERM before it is killed.
STOP_GRACE_SECONDS = 5.0

# C0/C1 controls, bidi overrides and line separators: they could forge log
# lines or reorder text on a terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A resume token: one printable ASCII word, bounded (the binary's contract).
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


def clean(value: Any, key: str | None = None) -> str:
    """Make outside text safe for a log or an exception: bounded, key scrubbed, controls escaped."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * MAX_TEXT_CHARS:
        text = text[: 4 * MAX_TEXT_CHARS]
    if key:
        text = text.replace(key, "***")
    text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def duration(value: timedelta | float | int | str | None, name: str) -> str | None:
    """A sensor argument as the binary's DURATION (`90s`, `1500ms`); strings pass as written."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise AirflowFailException(
            f"{name}={value!r}: expected seconds, a timedelta or a duration such as '10m'"
        )
    if seconds < 0:
        raise AirflowFailException(f"{name}={value!r}: a duration cannot be negative")
    # A bare 0 is the binary's "check once, without waiting".
    return "0" if seconds == 0 else f"{round(seconds * 1000)}ms"


def moment(value: datetime | str | None, name: str) -> str | None:
    """A time bound as the binary's TIME: datetimes become RFC 3339; strings pass as written.

    Rendered macros such as `{{ data_interval_end }}` arrive as strings like
    `2026-11-25 00:00:00+00:00`, which the binary reads as RFC 3339.
    """
    if value is None or isinstance(value, str):
        return value.strip() if isinstance(value, str) and value.strip() else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise AirflowFailException(
                f"{name}={value.isoformat()}: the datetime has no time zone; give it one (UTC)"
            )
        return value.isoformat()
    raise AirflowFailException(
        f"{name}={value!r}: expected an RFC 3339 string, 'now', a duration ago or a datetime"
    )


_UNITS_MS = {
    "ms": 1,
    "msec": 1,
    "msecs": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "s": 1000,
    "sec": 1000,
    "secs": 1000,
    "second": 1000,
    "seconds": 1000,
    "m": 60_000,
    "min": 60_000,
    "mins": 60_000,
    "minute": 60_000,
    "minutes": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hrs": 3_600_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "days": 86_400_000,
}
_AGO_PART = re.compile(r"\s*(\d{1,9})\s*([a-z]+)", re.IGNORECASE)


def rfc3339(at: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with `Z`, to the millisecond."""
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _milliseconds(text: str) -> int | None:
    """`15m`, `1h 30m`, `500ms` in milliseconds; None for anything else."""
    parts = _AGO_PART.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text):
        return None
    if any(unit.lower() not in _UNITS_MS for _, unit in parts):
        return None
    return sum(int(n) * _UNITS_MS[unit.lower()] for n, unit in parts)


def seconds_of(value: timedelta | float | int | str, name: str) -> float:
    """A sensor argument in seconds: a number, a timedelta, or text (`600`, `10m`) from a template."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            ms = _milliseconds(text)
            if ms is None:
                raise AirflowFailException(
                    f"{name}={clean(value)!r}: expected seconds (600) or a duration such as '10m'"
                ) from None
            seconds = ms / 1000
    else:
        raise AirflowFailException(f"{name}={clean(repr(value))}: expected seconds or a timedelta")
    if seconds < 0 or seconds != seconds:
        raise AirflowFailException(f"{name}={clean(repr(value))}: must be zero or more seconds")
    return seconds


def pin(value: str | None, started: datetime) -> str | None:
    """A relative TIME (`now`, `15m`, `1h 30m`) as the instant it means from `started`.

    A wait that is resumed later (another poke, a restarted triggerer, a
    resumed deferral) must count from when the task started, not from when
    it happens to run again. Absolute times, and anything else, pass
    unchanged: the binary reads them as before.
    """
    if value is None:
        return None
    text = value.strip()
    if text.lower() == "now":
        return rfc3339(started)
    ago = _milliseconds(text)
    return value if ago is None else rfc3339(started - timedelta(milliseconds=ago))


@dataclass(frozen=True)
class GateSpec:
    """What the binary is asked, except the key and base URL (they come from the connection).

    It is plain data so that the trigger can serialise it.
    """

    project_id: str
    cache_ids: list[str] = field(default_factory=list)
    all_caches: bool = False
    since: str | None = None
    started_after: str | None = None
    execution: str | None = None
    trigger: str | None = None
    stall_timeout: str | None = None
    timeout: str = "30m"
    #: The binary's resume token: wait for exactly the run it names, sending
    #: no trigger (the refresh was started by `--trigger KIND --no-wait`).
    resume: str | None = None

    def to_kwargs(self) -> dict[str, Any]:
        """The fields, for `BaseTrigger.serialize`."""
        return asdict(self)

    def check(self) -> None:
        """Reject what the binary would reject, in the sensor's own words."""
        if not str(self.project_id or "").strip():
            raise AirflowFailException(
                "project_id is empty: set it to the Peaka project that owns the caches"
            )
        ids = [c for c in self.cache_ids if str(c).strip()]
        if self.all_caches and ids:
            raise AirflowFailException("cache_ids and all_caches=True both set: use one of them")
        if not self.all_caches and not ids:
            raise AirflowFailException("no cache: set cache_ids=[...] or all_caches=True")
        if self.execution is not None and self.execution not in EXECUTION_KINDS:
            raise AirflowFailException(
                f"execution={self.execution!r}: use one of {', '.join(EXECUTION_KINDS)}"
            )
        if self.trigger is not None and self.trigger not in TRIGGER_KINDS:
            raise AirflowFailException(f"trigger={self.trigger!r}: use one of {', '.join(TRIGGER_KINDS)}")

    def argv(self, binary: str, *extra: str) -> list[str]:
        """The command line: flags only, never the key (it would show in the process list).

        With a resume token the trigger is not repeated: the token already
        names the run (and holds the bounds and the kind the trigger used),
        and a second trigger is what it exists to prevent. `extra` flags
        (`--no-wait`, `--cancel`) go last.
        """
        resumed = self.resume is not None
        args = [binary, "--project-id", str(self.project_id), "--output", "json", "--log-format", "json"]
        for cache_id in self.cache_ids:
            if str(cache_id).strip():
                args += ["--cache-id", str(cache_id)]
        if self.all_caches:
            args.append("--all-caches")
        for flag, value in (
            ("--since", None if resumed else self.since),
            ("--started-after", None if resumed else self.started_after),
            ("--execution", None if resumed else self.execution),
            ("--trigger", None if resumed else self.trigger),
            ("--resume", self.resume),
            ("--stall-timeout", self.stall_timeout),
            ("--timeout", self.timeout),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args + list(extra)


def cache_id_list(value: Any) -> list[str]:
    """`cache_ids` as rendered or pulled from XCom: a list of ids, or a string of one or several
    comma-separated ids (a templated field, one `.expand` element)."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [part for item in value for part in (item.split(",") if isinstance(item, str) else [item])]
    else:
        raise AirflowFailException(
            f"cache_ids={clean(repr(value))}: expected a cache id, comma-separated ids or a list of ids"
        )
    ids = []
    for item in items:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise AirflowFailException(f"cache_ids holds {clean(repr(item))}: each cache id must be a string")
        if str(item).strip():
            ids.append(str(item).strip())
    return ids


def find_binary() -> str:
    """The peaka-wait installed with this Python (the wheel), else the one on PATH."""
    name = "peaka-wait.exe" if os.name == "nt" else "peaka-wait"
    # Airflow often runs from a venv that is not activated, so its scripts
    # folder (where pip put the wheel's binary) may not be on PATH.
    for scripts in (sysconfig.get_path("scripts"), sysconfig.get_path("scripts", f"{os.name}_user")):
        candidate = os.path.join(scripts or "", name)
        if scripts and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    raise AirflowFailException(
        "the peaka-wait binary is not installed: `pip install peaka-wait` into the Airflow environment"
    )


def child_env(key: str, base_url: str | None) -> dict[str, str]:
    """The binary's environment: this process's, minus every PEAKA_* variable, plus the connection.

    Stray PEAKA_* variables on a worker would silently change the gate; only
    the sensor's arguments and its connection may.
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEAKA_")}
    env["PEAKA_API_KEY"] = key
    if base_url:
        env["PEAKA_BASE_URL"] = base_url
    return env


async def lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Split a stream into lines, cutting any line at MAX_LINE_BYTES."""
    pending = b""
    while True:
        chunk = await reader.read(64 * 1024)
        if not chunk:
            if pending:
                yield pending
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line[:MAX_LINE_BYTES]
        if len(pending) > MAX_LINE_BYTES:
            yield pending[:MAX_LINE_BYTES]
            pending = b""


def log_line(logger: Any, raw: bytes, key: str | None) -> str | None:
    """Log one stderr line of the binary at its level; return its message if it was an error.

    `logger` is the task's or trigger's logger (`.log(level, format, *args)`,
    as logging.Logger and Airflow's structlog loggers have), so the lines
    land in the task log.
    """
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("message"), str):
        level = _LEVELS.get(str(record.get("level", "INFO")).upper(), logging.INFO)
        message = clean(record["message"], key)
    else:
        level, message = logging.INFO, clean(text, key)
    logger.log(level, "peaka-wait: %s", message)
    return message if level >= logging.ERROR else None


async def read_bounded(reader: asyncio.StreamReader) -> bytes:
    """Read a stream to its end, keeping at most MAX_SUMMARY_BYTES.

    The summary may arrive in several writes; the part past the cap is
    drained unread, so that the binary is never blocked on a full pipe.
    """
    data = bytearray()
    while chunk := await reader.read(64 * 1024):
        if len(data) < MAX_SUMMARY_BYTES:
            data += chunk[: MAX_SUMMARY_BYTES - len(data)]
    return bytes(data)


async def stop(process: asyncio.subprocess.Process) -> None:
    """End the binary: SIGTERM (it exits 143 at once), then SIGKILL after a grace period."""
    if process.returncode is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.shield(process.wait()), STOP_GRACE_SECONDS)
    except ProcessLookupError:
        return
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
    except asyncio.CancelledError:
        # Cancelled again while stopping: no more waiting, only the kill.
        if process.returncode is None:
            process.kill()
        raise


async def run_gate(
    spec: GateSpec,
    key: str,
    base_url: str | None,
    logger: Any,
    binary: str | None = None,
    extra: tuple[str, ...] = (),
    ok_result: str = "ready",
    running: set[int] | None = None,
) -> dict[str, Any]:
    """Run the binary to its end, streaming its log, and return the outcome (see `outcome`).

    `running` holds the binary's pid while it runs, for a caller that must
    stop it from outside the loop (a worker's `on_kill`).

    If this coroutine is cancelled (the triggerer dropped the trigger, the
    task was killed), the binary is stopped before the cancellation goes on;
    stopping it never cancels the refresh (no `--cancel-on-exit`).
    """
    argv = spec.argv(binary or find_binary(), *extra)
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(key, base_url),
    )
    logger.info("peaka-wait started (pid %s): %s", process.pid, clean(" ".join(argv[1:]), key))
    if running is not None:
        running.add(process.pid)
    summary_task = asyncio.ensure_future(read_bounded(process.stdout))
    last_error = None
    try:
        async for raw in lines(process.stderr):
            last_error = log_line(logger, raw, key) or last_error
        stdout = await summary_task
        code = await process.wait()
    finally:
        summary_task.cancel()
        if process.returncode is None:
            await stop(process)
        if running is not None:
            running.discard(process.pid)
    return outcome(stdout, code, key, last_error, ok_result)


def run_once(
    spec: GateSpec,
    key: str,
    base_url: str | None,
    logger: Any,
    binary: str | None,
    extra: tuple[str, ...],
    ok_result: str,
    seconds: float,
) -> dict[str, Any]:
    """Run the binary synchronously for a short request (trigger without waiting, cancel).

    For callers that may not start an event loop: a worker's `on_kill`
    runs in a signal handler, possibly inside the loop of a running wait.
    `seconds` bounds it; a binary still running then is killed.
    """
    argv = spec.argv(binary or find_binary(), *extra)
    logger.info("peaka-wait: %s", clean(" ".join(argv[1:]), key))
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=child_env(key, base_url),
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return outcome(b"", 143, key, f"peaka-wait did not answer within {seconds:g}s")
    last_error = None
    for raw in done.stderr[:MAX_SUMMARY_BYTES].splitlines():
        last_error = log_line(logger, raw[:MAX_LINE_BYTES], key) or last_error
    return outcome(done.stdout[:MAX_SUMMARY_BYTES], done.returncode, key, last_error, ok_result)


def _text(value: Any, key: str | None) -> str | None:
    return None if value is None else clean(value, key)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token(value: Any) -> str | None:
    """A resume token as the binary's contract has it (one printable ASCII word), else None."""
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return value
    return None


def _error(value: Any, key: str | None) -> str | None:
    """An execution's error as one line of text: a string as it is, anything else as JSON."""
    if value is None or value == "":
        return None
    return clean(value if isinstance(value, str) else json.dumps(value, sort_keys=True), key)


def outcome(
    stdout: bytes, code: int, key: str | None, last_error: str | None = None, ok_result: str = "ready"
) -> dict[str, Any]:
    """The XCom value / trigger event: the exit code's result plus the summary's details.

    The result comes from the exit code alone: a summary that says `ready`
    from a process that exited 1 is not ready. The summary only adds
    details, each bounded and escaped; `caches` maps each cache id to its
    awaited execution (`execution_id`, `finished_at`, `records`, ...).
    """
    summary: dict[str, Any] = {}
    text = stdout.decode("utf-8", "replace").strip()
    if text:
        try:
            parsed = json.loads(text.splitlines()[-1])
            summary = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            summary = {}
    # Exit 0 is success of what was asked: ready, or `triggered` / `cancelled`.
    result = ok_result if code == 0 else RESULTS.get(code, "error")
    message = summary.get("message")
    if not isinstance(message, str) or not message:
        message = last_error or f"peaka-wait exited with code {code} without a summary (see the log above)"
    caches: dict[str, dict[str, Any]] = {}
    for cache in summary.get("caches") or []:
        if not isinstance(cache, dict) or cache.get("cacheId") is None:
            continue
        execution = cache.get("execution") if isinstance(cache.get("execution"), dict) else {}
        caches[clean(cache["cacheId"], key)] = {
            "project_id": _text(cache.get("projectId"), key),
            "state": _text(cache.get("state"), key),
            "cache_status": _text(cache.get("cacheStatus"), key),
            "execution_kind": _text(execution.get("kind"), key),
            "execution_id": _text(execution.get("id"), key),
            "execution_status": _text(execution.get("status"), key),
            "created_at": _text(execution.get("createdAt"), key),
            "finished_at": _text(execution.get("finishedAt"), key),
            "records": _int(execution.get("records")),
            "error": _error(execution.get("error"), key),
        }
        if cache.get("cancel") is not None:
            caches[clean(cache["cacheId"], key)]["cancel"] = _text(cache.get("cancel"), key)
    value = {
        "result": result,
        "exit_code": code,
        "message": clean(message, key),
        "elapsed_ms": _int(summary.get("elapsedMs")),
        "polls": _int(summary.get("polls")),
        "caches": caches,
    }
    # Only a triggered run without waiting prints one; the key is never in it.
    token = _token(summary.get("resume"))
    if token and (not key or key not in token):
        value["resume"] = token
    return value


def conclude(event: dict[str, Any], soft_fail: bool, never_fail: bool = False) -> dict[str, Any]:
    """Turn an outcome into the task's end: return it (ready) or raise.

    `timeout` is Airflow's sensor timeout; `failed` and `stalled` fail the
    try (retries may help: a retry with `trigger` starts a new refresh);
    `unauthorized`, `not_found` and `api_error` fail without retries (a
    retry cannot fix a key or a cache id). With soft_fail these are skips.
    `usage`, `interrupted` and unknown codes always fail: they are not
    about the cache. With never_fail (Airflow's sensor flag) every failure
    is a skip.
    """
    try:
        return _conclude(event, soft_fail)
    except AirflowSkipException:
        raise
    except AirflowException as error:
        if never_fail:
            raise AirflowSkipException(f"never_fail: {error}") from error
        raise


def _conclude(event: dict[str, Any], soft_fail: bool) -> dict[str, Any]:
    result = str(event.get("result"))
    message = clean(event.get("message", ""))
    if result == "ready":
        return event
    if result == "timeout":
        error: AirflowException = AirflowSensorTimeout(f"peaka-wait timed out: {message}")
    elif result in ("failed", "stalled"):
        error = AirflowException(f"Peaka cache refresh {result}: {message}")
    elif result in ("unauthorized", "not_found", "api_error"):
        error = AirflowFailException(f"Peaka API answered {result}: {message}")
    else:
        raise AirflowFailException(
            f"peaka-wait ended with {result} (exit {event.get('exit_code')}): {message}"
        )
    if soft_fail:
        raise AirflowSkipException(f"soft_fail: {error}") from error
    raise error
