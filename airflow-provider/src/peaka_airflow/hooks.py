"""The `peaka` Airflow connection: where the API key and base URL come from.

The key is the connection's password; the base URL is the `base_url` extra
or, failing that, the host written as a full URL. Neither is ever put on a
command line: the gate receives them in its environment.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from peaka_airflow.compat import AirflowFailException, BaseHook
from peaka_airflow.gate import clean

#: Peaka's API base URL when the connection names none (the binary's default).
DEFAULT_BASE_URL = "https://partner.peaka.studio/api/v1"
# Bounds on the Test button's one request: its time and the reply read.
TEST_SECONDS = 15
TEST_MAX_BYTES = 1 << 20


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

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one request for the cache list of the extra's `project_id`."""
        try:
            conn = self.get_connection(self.peaka_conn_id)
            key, base_url = credentials(conn, self.peaka_conn_id)
        except AirflowFailException as error:
            return False, str(error)
        extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
        project_id = str(extra.get("project_id") or "").strip()
        if not project_id:
            return False, (
                f"the connection '{self.peaka_conn_id}' has no extra 'project_id': set it "
                '(e.g. {"project_id": "my-project"}) so that Test can read that project\'s cache list'
            )
        return list_caches(base_url or DEFAULT_BASE_URL, key, project_id)


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


def list_caches(base_url: str, key: str, project_id: str) -> tuple[bool, str]:
    """GET the project's cache status list once; say what came back, never the key."""
    url = f"{base_url.rstrip('/')}/data/projects/{quote(project_id, safe='')}/cache/status"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TEST_SECONDS) as reply:
            body = reply.read(TEST_MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        hint = {401: "the API key was refused", 403: "the key may not read this project"}.get(error.code, "")
        return False, clean(
            f"Peaka answered HTTP {error.code} for project '{project_id}'. {hint}".strip(), key
        )
    except (urllib.error.URLError, OSError, ValueError) as error:
        return False, clean(f"could not reach {base_url}: {error}", key)
    try:
        caches = json.loads(body) if len(body) <= TEST_MAX_BYTES else None
    except ValueError:
        caches = None
    if not isinstance(caches, list):
        return False, clean(f"{base_url} answered, but not with a cache list for project '{project_id}'", key)
    return True, clean(f"reached Peaka: project '{project_id}' has {len(caches)} caches", key)
