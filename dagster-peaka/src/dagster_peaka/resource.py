"""The Dagster resource that holds the Peaka settings and runs the single check."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from dagster_peaka.check import CheckRequest, Summary, run_check


class PeakaResource(ConfigurableResource):
    """Peaka's project, key and API address, and where the peaka-wait binary is.

    Give the key as `EnvVar("PEAKA_API_KEY")` (or a key file): Dagster then
    stores and shows the variable's name, never its value. The key reaches
    the binary in its environment, never on its command line.
    """

    project_id: str = Field(description="The Peaka project that owns the caches and materialized queries.")
    api_key: str | None = Field(default=None, description="The API key; use EnvVar('PEAKA_API_KEY').")
    api_key_file: str | None = Field(default=None, description="A file holding the API key.")
    base_url: str | None = Field(default=None, description="Peaka's API address; empty: the US zone.")
    execution: str | None = Field(
        default=None,
        description="Which refresh counts: any, incremental, full or both (the binary's default: any).",
    )
    binary: str = Field(default="peaka-wait", description="The peaka-wait binary: a name on PATH or a path.")

    def check(self, cache_ids: list[str], query_ids: list[str] | None = None) -> Summary:
        """One `peaka-wait --timeout 0` over these caches or materialized queries (one round, no waiting)."""
        return run_check(
            CheckRequest(
                project_id=self.project_id,
                cache_ids=list(cache_ids),
                query_ids=list(query_ids or []),
                api_key=self.api_key,
                api_key_file=self.api_key_file,
                base_url=self.base_url,
                execution=self.execution,
                binary=self.binary,
            )
        )
