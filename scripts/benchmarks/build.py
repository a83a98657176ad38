"""What the one integration-test crate (tests/it/, issue 19 §3) did to a
cold build and to the test run: for the commit before that change and
for HEAD, a cold `cargo test --workspace --no-run`, then
`cargo test --workspace`, each commit exported whole (`git archive`) into a
temporary folder and built in a fresh target dir there.

Opt-in: two cold debug builds of the workspace and two test runs take
half an hour to an hour on 2 shared cores, so each commit is measured once
(n = 1). The change alone (its parent against it, the same tests) is not
a column: a third cold build did not fit beside the others' work.
The machine is shared, so wall time moves with the others' load; the CPU
time (user + sys of cargo and everything it waited for: rustc, the linker,
the test binaries and the processes they start) moves far less, and the
block says how busy the rest of the machine was during each step. Run it
under `nice -n 10` so that it does not starve others' builds."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import ROOT, Section

# A step that runs longer has hung (a cold build is ~8 minutes on a quiet
# machine, the test run ~3); the section stops rather than wait forever.
STEP_LIMIT_S = 60 * 60

CI_THREADS = re.compile(r"^RUST_TEST_THREADS=(?P<n>[0-9]+) cargo test --workspace", re.M)
RESULT = re.compile(r"test result: \w+\. (?P<passed>\d+) passed; (?P<failed>\d+) failed; (?P<ignored>\d+) ignored")
RUNNING = re.compile(r"^\s*(Running|Doc-tests) ", re.M)
FAILED = re.compile(r"^test (?P<name>\S+) \.\.\. FAILED$", re.M)


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def commits():
    """(label, commit): the parent of the oldest commit that adds
    tests/it/main.rs, and HEAD; and that commit."""
    adding = git("log", "--format=%H", "--diff-filter=A", "--", "tests/it/main.rs").split()
    if not adding:
        raise RuntimeError("no commit adds tests/it/main.rs: there is no one-crate change to measure")
    change = adding[-1]
    return [("before", git("rev-parse", f"{change}^")), ("HEAD", git("rev-parse", "HEAD"))], change


def test_threads():
    """The RUST_TEST_THREADS of today's .ci/run, used for every commit's
    test run (older commits' CI set none, so ran two at a time), so that
    the figures differ by the tests' layout, not by the setting."""
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        found = CI_THREADS.search(f.read())
    if not found:
        raise RuntimeError(".ci/run has no 'RUST_TEST_THREADS=N cargo test --workspace' line to take N from")
    return found["n"]


def export(commit, into):
    """The commit's files (tracked, as committed) in `into`."""
    os.makedirs(into)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", into], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {commit} failed")


def machine_busy_s():
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class LoadSampler:
    """The 1-minute load average every 5 s while a step runs."""

    def __init__(self):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stop.is_set():
            with open("/proc/loadavg") as f:
                self.samples.append(float(f.read().split()[0]))
            self.stop.wait(5)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()


def measure(cmd, cwd, env, out, err):
    """Runs `cmd` to its end; its wall time, the CPU time of its process
    tree (what it and its descendants used, as far as each was waited
    for), and the CPU the rest of the machine used meanwhile."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_s()
    started = time.monotonic()
    with open(out, "w") as stdout, open(err, "w") as stderr, LoadSampler() as load:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            code = proc.wait(timeout=STEP_LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"{' '.join(cmd)} in {cwd} ran over {STEP_LIMIT_S} s; see {err}")
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = max(0.0, machine_busy_s() - busy - cpu)
    return {"code": code, "wall": wall, "cpu": cpu, "others_cores": others / wall,
            "load": sum(load.samples) / max(1, len(load.samples))}


def size_bytes(path):
    """Apparent size of a tree, as `du -sb` says."""
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def test_executables(messages):
    """The test executables cargo linked: [(target kind, path)] from
    `--message-format=json`."""
    found = []
    for line in messages.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg["profile"]["test"] and msg.get("executable"):
            found.append((msg["target"]["kind"][0], msg["executable"]))
    return found


def measure_tree(tree, work, threads):
    """A cold build and then the test run of the workspace in `tree`, with
    a fresh target dir under `work`."""
    target = os.path.join(work, "target")
    env = {**os.environ, "CARGO_TARGET_DIR": target, "RUST_TEST_THREADS": threads}
    # A compiler cache would make a cold build warm.
    env.pop("RUSTC_WRAPPER", None)
    # The crates are downloaded first, untimed: no figure includes the network.
    subprocess.run(["cargo", "fetch", "--locked", "--quiet"], cwd=tree, env=env, check=True)
    log = os.path.join(work, "build")
    build = measure(["cargo", "test", "--workspace", "--locked", "--no-run", "--message-format=json"],
                    tree, env, log + ".json", log + ".log")
    if build["code"] != 0:
        raise RuntimeError(f"the build in {tree} failed; see {log}.log")
    with open(log + ".json") as f:
        exes = test_executables(f.read())
    build["target"] = size_bytes(target)
    build["exes"] = len(exes)
    build["integration"] = sum(1 for kind, _ in exes if kind == "test")
    build["exe_bytes"] = sum(os.path.getsize(path) for _, path in exes)
    log = os.path.join(work, "test")
    # Timed whatever the verdict: a failing test (the mutants hash after a
    # change to the decision core, say) still ran; the block names it.
    tests = measure(["cargo", "test", "--workspace", "--locked", "--no-fail-fast"], tree, env, log + ".out", log + ".log")
    with open(log + ".out") as f, open(log + ".log") as g:
        out, err = f.read(), g.read()
    results = [m.groupdict() for m in RESULT.finditer(out)]
    if not results:
        raise RuntimeError(f"the test run in {tree} ran no test; see {log}.log")
    for key in ("passed", "failed", "ignored"):
        tests[key] = sum(int(r[key]) for r in results)
    tests["runs"] = len(RUNNING.findall(err))
    tests["failures"] = FAILED.findall(out)
    tests["target"] = size_bytes(target)
    shutil.rmtree(target)
    return build, tests


def mib(n):
    return f"{n / 1024 / 1024:,.0f} MiB"


def ratio(after, before):
    return f"{after / before:.2f}" if before else "—"


def run(ctx):
    threads = test_threads()
    chosen, change = commits()
    niceness = os.nice(0)
    results = []
    work = tempfile.mkdtemp(prefix="peaka-bench-build-")
    try:
        for i, (label, commit) in enumerate(chosen):
            tree, dir_ = os.path.join(work, f"tree-{i}"), os.path.join(work, f"work-{i}")
            os.makedirs(dir_)
            export(commit, tree)
            print(f"benchmarks: build: {label} ({commit[:10]}), cold build and tests …", file=sys.stderr, flush=True)
            results.append(measure_tree(tree, dir_, threads))
            shutil.rmtree(tree)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    heads = " | ".join(f"{label} `{commit[:10]}`" for label, commit in chosen)
    rest = [label for label, _ in chosen[1:]]
    lines = [f"| | {heads} | " + " | ".join(f"{r} ÷ before" for r in rest) + " |",
             "|---" * (1 + len(chosen) + len(rest)) + "|"]

    def row(name, values, text, cells=None):
        """`values` are the figures the ratios divide (None: no ratios);
        `cells`, when given, what the columns show instead of `text(value)`."""
        shown = cells or [text(v) for v in values]
        quotients = [ratio(v, values[0]) if values else "" for v in (values or [None] * len(shown))[1:]]
        lines.append(f"| {name} | {' | '.join(shown)} | {' | '.join(quotients)} |")

    builds, tests = [b for b, _ in results], [t for _, t in results]
    row("test executables linked (of which integration tests)", [b["exes"] for b in builds], str,
        [f"{b['exes']} ({b['integration']})" for b in builds])
    row("their size", [b["exe_bytes"] for b in builds], mib)
    row("**cold `cargo test --workspace --no-run`: CPU (user + sys)**", [b["cpu"] for b in builds], lambda v: f"{v:,.0f} s")
    row("… wall time", [b["wall"] for b in builds], lambda v: f"{v:,.0f} s")
    row("… the rest of the machine meanwhile: CPU used (1-min load avg)", None, str,
        [f"{b['others_cores']:.2f} cores ({b['load']:.1f})" for b in builds])
    row("**target dir after the build** (`du -sb`)", [b["target"] for b in builds], mib)
    row(f"**`cargo test --workspace`** (RUST_TEST_THREADS={threads}): CPU (user + sys)", [t["cpu"] for t in tests],
        lambda v: f"{v:,.0f} s")
    row("… wall time", [t["wall"] for t in tests], lambda v: f"{v:,.0f} s")
    row("… the rest of the machine meanwhile: CPU used (1-min load avg)", None, str,
        [f"{t['others_cores']:.2f} cores ({t['load']:.1f})" for t in tests])
    row("… test binaries run (incl. doc tests)", [t["runs"] for t in tests], str)
    row("… tests passed / failed / ignored", None, str,
        [f"{t['passed']} / {t['failed']} / {t['ignored']}" for t in tests])
    row("target dir after the tests", [t["target"] for t in tests], mib)

    failures = [f"{label}: {', '.join(t['failures'])}" for (label, _), t in zip(chosen, tests) if t["failures"]]
    (_, before), (_, head) = chosen
    return "\n".join([
        f"Each commit exported whole (`git archive`) into a temporary folder, then, in a fresh target dir "
        f"there (crates already downloaded, by an untimed `cargo fetch`): a cold `cargo test --workspace "
        f"--locked --no-run`, then `cargo test --workspace --locked --no-fail-fast`. \"before\" is `{before[:10]}`, "
        f"the parent of `{change[:10]}`, which made tests/it/ the one integration-test crate; HEAD `{head[:10]}` "
        "is today's code and tests, more of both than before, which alone would make every figure larger: "
        "a ratio below 1 understates what the one crate saves.",
        "",
        f"n = 1 per commit: the two cold builds and test runs took {sum(b['wall'] + t['wall'] for b, t in results) / 60:.0f} "
        f"minutes, at niceness {niceness}, on a 2-core machine that others used meanwhile. "
        "CPU time is user + sys of cargo and every process it waited for (rustc, the linker, the test "
        "binaries and the gates and fake APIs they start); it hardly moves with the others' load, while the "
        "wall time does, so compare the ratios of CPU time first. \"The rest of the machine\" is the CPU "
        "the other processes used during the step (from /proc/stat), out of 2 cores. Every commit's tests "
        f"ran with today's `.ci/run` setting RUST_TEST_THREADS={threads} (\"before\"'s CI set none, which "
        "means 2 here).",
        "",
        *lines,
        "",
        "Tests that failed (timed all the same): " + ("; ".join(failures) if failures else "none") + ".",
    ])


SECTION = Section(name="build", title="A cold build and the test run: one integration-test crate (issue 19 §3)",
                  run=run, order=90, opt_in=True, phase="serial")
