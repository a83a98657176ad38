"""What the provider imports from Airflow that moved between 3.0 and 3.1.

Airflow 3.1 moved the exceptions to `airflow.sdk.exceptions` and BaseHook
to `airflow.sdk`; Airflow 3.0 has them in `airflow.exceptions` and
`airflow.hooks.base`. Everything else the provider uses is in `airflow.sdk`
in both.
"""

from __future__ import annotations

try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 3.0
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

__all__ = [
    "BaseHook",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
]
