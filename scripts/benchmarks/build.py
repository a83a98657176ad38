"""A cold build before and after the one integration-test crate (issue 19
§3), from scripts/bench-build.sh (opt-in: two cold debug builds per run,
n = 1 here for time; -n N for more)."""

import subprocess

from . import ROOT, Section

COMMAND = "scripts/bench-build.sh -n 1"


def run(ctx):
    out = subprocess.run(COMMAND.split(), cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    if not any(line.startswith("| target dir, MiB |") for line in lines):
        raise RuntimeError(f"unexpected output of {COMMAND}:\n{out}")
    # The section's own heading stands above the block.
    return "\n".join(line for line in lines if not line.startswith("### "))


SECTION = Section(name="build", title="A cold build: one integration-test crate (issue 19 §3)", run=run,
                  order=90, opt_in=True, phase="serial", command=COMMAND)
