"""100 deferred sensors in one Airflow triggerer (issue 18), from
scripts/bench-triggerer.py (opt-in: it needs the Airflow venv of
scripts/airflow-test.sh and takes ~5 minutes)."""

import glob
import os
import subprocess

from . import ROOT, Section

COMMAND = "~/.cache/peaka-wait/airflow-venv-*/bin/python scripts/bench-triggerer.py 100 60"

PROSE = """Airflow as separate processes (api-server, scheduler with the
LocalExecutor, dag-processor, triggerer; SQLite), as
`scripts/airflow-restart-test.py` starts them; 100 mapped
`PeakaCacheSensor(deferrable=True)` on caches that never finish (`stuck~…`),
the binary from the manylinux wheel (release build). Measured once (n = 1)
over 60 s, after all 100 were deferred and their binaries had run for a
minute: memory is the resident set of the triggerer's Python processes
and, separately, of the 100 `peaka-wait` children; CPU is the time those
processes used (psutil), as a share of one core; requests are those the
fake API served in the window."""


def run(ctx):
    venvs = sorted(glob.glob(os.path.expanduser("~/.cache/peaka-wait/airflow-venv-*/bin/python")))
    if not venvs:
        raise RuntimeError("no Airflow venv under ~/.cache/peaka-wait/: run scripts/airflow-test.sh first")
    out = subprocess.run([venvs[-1], "scripts/bench-triggerer.py", "100", "60"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    table = [line for line in out.splitlines() if line.startswith("|")]
    return PROSE + "\n\n" + "\n".join(table)


SECTION = Section(name="triggerer", title="100 deferred sensors in one Airflow triggerer (issue 18)", run=run,
                  order=80, opt_in=True, phase="serial", command=COMMAND)
