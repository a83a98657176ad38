"""Airflow integration for peaka-wait.

The package owns the Airflow side only: `PeakaCacheSensor` (an operator),
`PeakaWaitTrigger` (its deferrable half, run by the triggerer) and the
`peaka` connection type. Whether a cache is ready is decided by the
peaka-wait binary, which both run as a subprocess.
"""

__all__ = ["get_provider_info"]


def get_provider_info() -> dict:
    """Describe the provider to Airflow (the `apache_airflow_provider` entry point)."""
    return {
        "package-name": "airflow-provider-peaka",
        "name": "Peaka",
        "description": "Wait for Peaka cache refreshes (incremental sync, full refresh) with peaka-wait.",
        "versions": ["0.1.0"],
        "sensors": [{"integration-name": "Peaka", "python-modules": ["peaka_airflow.sensors"]}],
        "triggers": [{"integration-name": "Peaka", "python-modules": ["peaka_airflow.triggers"]}],
        "hooks": [{"integration-name": "Peaka", "python-modules": ["peaka_airflow.hooks"]}],
        "integrations": [
            {
                "integration-name": "Peaka",
                "external-doc-url": "https://peaka.com",
                "tags": ["service"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "peaka",
                "hook-class-name": "peaka_airflow.hooks.PeakaHook",
            }
        ],
    }
