"""Peak memory with 10,000 caches (issue 8) and on the hostile replies of
issue 16, from scripts/bench-memory.sh (opt-in: ~10 minutes, 10 MB lists)."""

import re
import subprocess

from . import ROOT, Section

COMMAND = "scripts/bench-memory.sh 10000 5"

PROSE_CACHES = """The release binary with `--all-caches` on fake-peaka's
`many-10000-completes-after-2s…` project (both slots and progress per
cache, the shape the live API sends: a 9.5 MB list), waiting about 2 s
over 3–4 poll rounds; median peak RSS (`/usr/bin/time -f %M`) of 5 runs
per case (n = 5). Before issue 8's changes the text summary peaked at
128.6 MiB (median of 3, the release build of commit 4b5c164:
`PEAKA_WAIT=<that build> scripts/bench-memory.sh 10000 3`)."""

PROSE_HOSTILE = """The release binary against `scripts/hostile-replies.py`, which serves
each reply of issue 16, section 3, each within the body caps (16 MiB for a
list, 4 MiB for one cache); median peak RSS of 5 runs per reply (n = 5);
every run must end with the exit code shown, or the script stops.
`tests/it/adversarial/memory.rs` and `tests/it/adversarial/limits.rs`
hold the debug binary to 32 MiB on the same replies. Before issue 16's
changes (the release build of commit ca89121, the same command with
`PEAKA_WAIT=`) these replies peaked at 97.8–620.7 MiB."""

CACHES = re.compile(r"^(?P<case>\w+): (?P<n>\d+) caches, median peak RSS over (?P<runs>\d+) runs: (?P<mib>[0-9.]+) MiB$")
HOSTILE = re.compile(r"^(?P<name>.+): median peak RSS over (?P<runs>\d+) runs: (?P<mib>[0-9.]+) MiB \(every run exit (?P<exit>\d+)\)$")
OUTPUTS = {"text": "text summary", "json": "`--output json`", "github": "GitHub Actions (outputs and step summary written)"}


def run(ctx):
    out = subprocess.run(COMMAND.split(), cwd=ROOT, capture_output=True, text=True, check=True).stdout
    caches = ["| output | caches | n | median peak RSS |", "|---|---|---|---|"]
    hostile = ["| reply | exit (every run) | n | median peak RSS |", "|---|---|---|---|"]
    for line in out.splitlines():
        if m := CACHES.match(line):
            caches.append(f"| {OUTPUTS.get(m['case'], m['case'])} | {m['n']} | {m['runs']} | {m['mib']} MiB |")
        elif m := HOSTILE.match(line):
            hostile.append(f"| {m['name']} | {m['exit']} | {m['runs']} | {m['mib']} MiB |")
    if len(caches) < 5 or len(hostile) < 10:
        raise RuntimeError(f"unexpected output of {COMMAND}:\n{out}")
    return "\n".join(["### 10,000 caches", "", PROSE_CACHES, "", *caches, "",
                      "### Hostile replies within the caps (issue 16)", "", PROSE_HOSTILE, "", *hostile])


SECTION = Section(name="memory", title="Memory with 10,000 caches and on hostile replies (issues 8, 16)", run=run,
                  order=70, opt_in=True, phase="serial", command=COMMAND)
