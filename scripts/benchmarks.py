#!/usr/bin/env python3
"""Writes BENCHMARKS.md whole: every figure in it comes from a section of
scripts/benchmarks/ (one module each; see scripts/benchmarks/__init__.py).

  python3 scripts/benchmarks.py                  every default section (~20 minutes), the whole file
  python3 scripts/benchmarks.py --section NAME   rerun one section (repeatable), rewrite only its block
  python3 scripts/benchmarks.py --list           the sections
  python3 scripts/benchmarks.py --check          fast: the release binary's size against BENCHMARKS.md
                                                 and README.md (within 5 %), and the blocks against the sections
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmarks  # noqa: E402 — the package beside this script


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", action="append", metavar="NAME", help="run only this section (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--check", action="store_true", help="compare the cheap figures with the binary and exit")
    parser.add_argument("--seed", type=int, default=1, help="seed of fake-peaka's refreshes and of the start phases")
    opts = parser.parse_args()
    if opts.list:
        for s in benchmarks.sections():
            kind = "opt-in" if s.opt_in else s.phase
            print(f"{s.name:12} {kind:9} {s.title}" + (f"  [{s.command}]" if s.command else ""))
        return 0
    if opts.check:
        problems = benchmarks.check()
        for p in problems:
            print(f"benchmarks --check: {p}", file=sys.stderr)
        if not problems:
            print("benchmarks --check: BENCHMARKS.md and README.md match the release binary")
        return 1 if problems else 0
    benchmarks.write(benchmarks.Context(opts.seed), opts.section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
