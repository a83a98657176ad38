"""The schedules in virtual time: `examples/simulate.rs` drives the real
forecast and schedules through thousands of modelled refreshes per cell."""

import os
import subprocess

from . import ROOT, Section
from .common import target_dir

REFRESHES_PER_CELL = 2000
SEED = 1


def run(ctx):
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "-p", "peaka-wait", "--example", "simulate"],
                   cwd=ROOT, check=True)
    exe = os.path.join(target_dir(), "release", "examples", "simulate")
    out = subprocess.run([exe, str(REFRESHES_PER_CELL), str(SEED)], capture_output=True, text=True, check=True).stdout
    intro = f"""`cargo run --release --example simulate -- {REFRESHES_PER_CELL} {SEED}` drives the real
forecast (`src/forecast.rs`) and the real planned and exponential
schedules (`src/planned.rs`, `src/schedule.rs`) through
{REFRESHES_PER_CELL} refreshes per cell (n = {REFRESHES_PER_CELL}) in virtual
time; only the API is modelled (`src/simulation.rs`): a cache with 12 past
runs whose durations are drawn uniformly within ±spread of the nominal
length (final record counts within ±spread/2), an awaited run drawn the
same way, a gate started at a random moment of the run's first quarter
(random phase), `--timeout` 3× the length, the defaults otherwise.
**requests** is the mean per refresh, including adaptive's reads of the
history and settings; **delay** runs from the end of the refresh to the
poll that saw it. "blind periodic, same median" is a fixed-period poller
at random phase whose period is twice adaptive's median delay, i.e. the
blind poller that matches adaptive's median; the last column divides
adaptive's requests by its. Every cell is shown. fake-peaka `--seed`
draws its refreshes the same way, so the ±20 % cells compare with the
real-time table (section `phased`).
"""
    return intro + "\n" + out.strip()


SECTION = Section(name="simulated", title="Planned polls in virtual time (issue 10)", run=run, order=40)
