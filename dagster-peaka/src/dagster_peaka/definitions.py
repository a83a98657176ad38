"""`defs`, configured entirely from the PEAKA_* environment (see `env.py`).

dagster dev -m dagster_peaka.definitions
"""

import os

from dagster_peaka.env import definitions_from_env

defs = definitions_from_env(os.environ)
