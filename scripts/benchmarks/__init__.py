"""The writer of BENCHMARKS.md: every figure in it comes from a section
here, and `python3 scripts/benchmarks.py` writes the file whole.

A section is a module of this package that defines `SECTION = Section(...)`
(see `Section`); the writer finds it by itself, so adding a figure means
adding one module, not editing the others. In BENCHMARKS.md each section
is one block between `<!-- section: NAME -->` and `<!-- end section: NAME -->`,
which `--section NAME` reruns and rewrites alone.

Sections run in two phases: the `serial` ones one after another first
(timings that other work would disturb), then every `parallel` one at once
(real-time refreshes that mostly sleep: a whole run takes as long as the
longest, not their sum). An `opt_in` section (slow, or needing an
environment CI does not have) runs only when named with `--section`; a
whole run keeps its last block verbatim, and its block says the date,
commit and command that produced it.
"""

import dataclasses
import datetime
import importlib
import os
import pkgutil
import platform
import re
import subprocess
import sys
import threading
import time
import traceback
from typing import Callable, Optional

from . import common

ROOT = common.ROOT
DOC = os.path.join(ROOT, "BENCHMARKS.md")
README = os.path.join(ROOT, "README.md")
COMMAND = "python3 scripts/benchmarks.py"

INTRO = """# Benchmarks

This file is written whole by

```sh
python3 scripts/benchmarks.py                      # every default section, ~20 minutes on 2 cores
python3 scripts/benchmarks.py --section NAME       # rerun one section and rewrite only its block
python3 scripts/benchmarks.py --list               # the sections, and which are opt-in
python3 scripts/benchmarks.py --check              # cheap: the release binary's size against this file and the README
```

Nothing here is typed by hand: each block between `<!-- section: NAME -->`
and `<!-- end section: NAME -->` is the output of the section `NAME`
(`scripts/benchmarks/NAME.py`), and says the commit and the command that
produced it. Figures are medians over the `n` runs each table states;
p10/p90 are nearest-rank. Everything runs on loopback against the repo's
fake Peaka API (`fake-peaka`, release build) started with `--seed` and
`--spread 20`, so that each refresh lasts its nominal length ±20 % and
counts records as the simulation's model says (`src/simulation.rs`); the
same seed gives the same refreshes. Nothing talks to Peaka. These are
shared, noisy 2-core machines: compare figures within a run, not across
machines. `tests/it/benchmarks.rs` fails when the requests per poll round
below no longer match what the gate sends, and `--check` (the last step of
`.ci/run`) when the binary's size is 5 % off the one written here or in
the README.
"""


@dataclasses.dataclass
class Section:
    """One block of BENCHMARKS.md.

    name: the block's name and `--section` argument (kebab-case).
    title: its `##` heading.
    run: `run(ctx) -> str`, the block's Markdown below the heading.
    order: where the block stands in the file (ascending).
    phase: "serial" (alone, before the rest) or "parallel" (with the others).
    opt_in: run only when named; a whole run keeps its last block.
    command: for an opt-in section whose figures come from another script,
        that script's command line (shown in the block).
    """

    name: str
    title: str
    run: Callable[["Context"], str]
    order: int
    phase: str = "parallel"
    opt_in: bool = False
    command: Optional[str] = None


class Context(common.Bench):
    """What a section gets: the release binaries, the seed, the commit,
    fake-peaka starters and the helpers of `common`."""

    def __init__(self, seed):
        super().__init__(seed)
        self.commit = commit()
        self.binary_size = None  # set by the `binary` section; the README is patched from it


def sections():
    """Every section of the package, in file order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        section = getattr(module, "SECTION", None)
        if isinstance(section, Section):
            found.append(section)
    names = [s.name for s in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        sys.exit(f"benchmarks: two sections named {', '.join(sorted(duplicated))}")
    return sorted(found, key=lambda s: (s.order, s.name))


def commit():
    """The commit the figures come from, `-dirty` when files other than the
    two this writer rewrites differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = [line for line in status.splitlines() if line[3:] not in ("BENCHMARKS.md", "README.md")]
    return head.stdout.strip() + ("-dirty" if dirty else "")


def machine():
    """One line: CPU model, cores, kernel, rustc."""
    model = "unknown CPU"
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{platform.machine()}, {os.cpu_count()} cores ({model}){mem}, "
            f"{platform.system()} {platform.release()}; {rustc}")


BLOCK = re.compile(r"<!-- section: (?P<name>[a-z0-9-]+) -->\n.*?<!-- end section: (?P=name) -->\n", re.S)


def blocks(text):
    """The blocks of a BENCHMARKS.md, by name."""
    return {m.group("name"): m.group(0) for m in BLOCK.finditer(text)}


def stamp(ctx, section, started, took):
    when = datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    how = f"`{COMMAND} --section {section.name}`"
    if section.command:
        how += f" (which runs `{section.command}`)"
    return f"_{how} at commit `{ctx.commit}`, {when}, took {took / 60:.1f} min._\n"


def render(ctx, section, body, started, took):
    return (f"<!-- section: {section.name} -->\n## {section.title}\n\n{stamp(ctx, section, started, took)}\n"
            f"{body.strip()}\n<!-- end section: {section.name} -->\n")


def header(ctx):
    return (f"{INTRO}\nMachine: {machine()}. Whole run: commit `{ctx.commit}`, "
            f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
            f"seed {ctx.seed}.\n")


def run_sections(ctx, chosen):
    """Runs `chosen` (serial ones first, then the parallel ones at once);
    returns {name: block}. A section that fails stops the writer: a block
    is never left half-measured."""
    out, errors = {}, []

    def one(section):
        started = time.time()
        print(f"benchmarks: {section.name} …", file=sys.stderr, flush=True)
        try:
            body = section.run(ctx)
        except Exception:  # noqa: BLE001 — reported below, and the writer stops
            errors.append(f"{section.name}:\n{traceback.format_exc()}")
            return
        took = time.time() - started
        out[section.name] = render(ctx, section, body, started, took)
        print(f"benchmarks: {section.name} done in {took:.0f} s", file=sys.stderr, flush=True)

    for section in (s for s in chosen if s.phase == "serial"):
        one(section)
        if errors:
            break
    if not errors:
        threads = [threading.Thread(target=one, args=(s,)) for s in chosen if s.phase != "serial"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        sys.exit("benchmarks: a section failed, BENCHMARKS.md is unchanged\n" + "\n".join(errors))
    return out


def write(ctx, names=None):
    """Runs the default sections (or `names`) and writes BENCHMARKS.md."""
    every = sections()
    known = {s.name: s for s in every}
    old_text = open(DOC).read() if os.path.exists(DOC) else ""
    old = blocks(old_text)
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            sys.exit(f"benchmarks: no section {', '.join(unknown)}; --list names them")
        chosen = [known[n] for n in names]
    else:
        chosen = [s for s in every if not s.opt_in]
        missing = [s.name for s in every if s.opt_in and s.name not in old]
        if missing:
            sys.exit(f"benchmarks: opt-in section(s) {', '.join(missing)} have no block to keep yet: "
                     f"run them first with --section")
    ctx.build()
    fresh = run_sections(ctx, chosen)
    if names:
        text = old_text or header(ctx)
        for name in names:
            if name in old:
                text = text.replace(old[name], fresh[name])
            else:
                text = insert_in_order(text, every, name, fresh[name])
    else:
        text = header(ctx) + "".join("\n" + (fresh.get(s.name) or old[s.name]) for s in every)
    with open(DOC, "w") as f:
        f.write(text)
    if ctx.binary_size is not None:
        patch_readme(ctx.binary_size)
    print(f"benchmarks: wrote {os.path.relpath(DOC, ROOT)} ({', '.join(sorted(fresh))})", file=sys.stderr)


def insert_in_order(text, every, name, block):
    """Puts a new block before the first block that comes after it."""
    present = blocks(text)
    after = False
    for s in every:
        if s.name == name:
            after = True
        elif after and s.name in present:
            return text.replace(present[s.name], block + "\n" + present[s.name])
    return text.rstrip("\n") + "\n\n" + block


README_SIZE = re.compile(r"One small binary \((?P<mib>[0-9.]+) MiB")


def mib(size):
    return f"{size / 1024 / 1024:.1f}"


def patch_readme(size):
    text = open(README).read()
    if not README_SIZE.search(text):
        sys.exit("benchmarks: README.md has no 'One small binary (X MiB' to update")
    text = README_SIZE.sub(f"One small binary ({mib(size)} MiB", text, count=1)
    with open(README, "w") as f:
        f.write(text)


DOC_SIZE = re.compile(r"Release binary: [0-9.]+ MiB \((?P<bytes>[0-9]+) bytes\)")


def check():
    """Fast: the release binary's size against BENCHMARKS.md and the README
    (within 5 %), and every block in BENCHMARKS.md made by a section that
    still exists. Returns the problems found."""
    problems = []
    binary = os.path.join(common.target_dir(), "release", "peaka-wait")
    if not os.path.exists(binary):
        return [f"{binary} does not exist: build it first (cargo build --release -p peaka-wait)"]
    size = os.path.getsize(binary)
    text = open(DOC).read()
    written = DOC_SIZE.search(text)
    if not written:
        problems.append("BENCHMARKS.md states no 'Release binary: X MiB (N bytes)' (section binary)")
    elif abs(size - int(written.group("bytes"))) > 0.05 * size:
        problems.append(f"BENCHMARKS.md says the release binary is {written.group('bytes')} bytes; it is {size} "
                        f"(more than 5 % off): {COMMAND} --section binary")
    readme = README_SIZE.search(open(README).read())
    if not readme:
        problems.append("README.md has no 'One small binary (X MiB'")
    elif abs(size / 1024 / 1024 - float(readme.group("mib"))) > 0.05 * size / 1024 / 1024:
        problems.append(f"README.md says the binary is {readme.group('mib')} MiB; it is {mib(size)} MiB "
                        f"(more than 5 % off): {COMMAND} --section binary")
    known = {s.name: s for s in sections()}
    for name in blocks(text):
        if name not in known:
            problems.append(f"BENCHMARKS.md has a block '{name}' that no section of scripts/benchmarks/ makes")
    for s in known.values():
        if s.name not in blocks(text):
            problems.append(f"BENCHMARKS.md lacks the block of section '{s.name}': {COMMAND} --section {s.name}")
        if s.command:
            script = next((w for w in s.command.split() if w.startswith("scripts/")), None)
            if script and not os.path.exists(os.path.join(ROOT, script)):
                problems.append(f"section '{s.name}' names {script}, which no longer exists")
    return problems
