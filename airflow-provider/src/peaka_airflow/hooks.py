"""The `peaka` Airflow connection: where the API key and base URL come from.

The key is the connection's password; the base URL is the `base_url` extra
or, failing that, the host written as a full URL. Neither is ever put on a
command line: the gate receives them in its environment.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException


class PeakaHook(BaseHook):
    """Reads a `peaka` connection into what peaka-wait needs."""

    conn_name_attr = "peaka_conn_id"
    default_conn_name = "peaka_default"
    conn_type = "peaka"
    hook_name = "Peaka"

    def __init__(self, peaka_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.peaka_conn_id = peaka_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Show only the fields the connection uses, with Peaka's names."""
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"password": "API key", "host": "Base URL"},
            "placeholders": {"host": "https://partner.peaka.studio/api/v1 (the default when empty)"},
        }

    def get_conn(self) -> tuple[str, str | None]:
        """The API key and the base URL (None: the binary's default, Peaka's US zone)."""
        return credentials(self.get_connection(self.peaka_conn_id), self.peaka_conn_id)


def credentials(conn: Any, conn_id: str) -> tuple[str, str | None]:
    """Take the key and base URL from a connection, or say which field is wrong.

    The messages name the connection and the field, never the key.
    """
    key = (conn.password or "").strip()
    if not key:
        raise AirflowFailException(
            f"the Airflow connection '{conn_id}' has no password: set it to your Peaka API key"
        )
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
    base_url = str(extra.get("base_url") or conn.host or "").strip() or None
    if base_url is not None and "://" not in base_url:
        raise AirflowFailException(
            f"the Airflow connection '{conn_id}' has host '{base_url}', which is not a URL: "
            "set the host (or the extra 'base_url') to the full API base URL, "
            "e.g. https://partner.peaka.studio/api/v1, or leave it empty for that default"
        )
    return key, base_url
