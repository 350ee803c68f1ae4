"""Benchmark: compare two run logs of 10,000 steps (nested map branches) that differ in 1% of the steps.

    python bench/diff.py [--steps 10000] [--skip-deepdiff] [--e2e-only] [--repeat 5] [--compare OLD_CHECKOUT]

Prints the time and peak memory (tracemalloc) of magnus_core.diff.compare (of the two logs as plain run
logs, as `magnus diff` reads them) and of plain DeepDiff(a, b) on the same two dicts, measured in the same
run, and the ratio. Targets for compare: < 1 s and < 500 MB.

Then the whole command end to end (issue 19, target 3): the two logs written as the file-system store
writes them, `magnus diff A.json B.json` as a new process (output to a pipe) against a bare
`python -c` that only json.loads both files, paired run by run, as a ratio of wall time (target <= 2.5)
and of CPU time; and its parts, timed inside one instrumented process: start-up (Python and the imports
of `magnus diff`), read (both logs), compare, print, exit.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from magnus_core.diff import compare
from magnus_core.models.run_log import BranchLog, CodeIdentity, DataCatalog, RunLog, StepAttempt, StepLog

MAPS, ITEMS = 20, 10  # 20 map steps of 10 branches each


def _step(name: str, internal: str, i: int, rng: random.Random) -> StepLog:
    start = f"2026-01-01 10:{(i // 60) % 60:02d}:{i % 60:02d}.000000"
    end = f"2026-01-01 10:{(i // 60) % 60:02d}:{i % 60:02d}.{rng.randint(1000, 999999):06d}"
    catalog = (
        [
            DataCatalog(
                name=f"data/{name}.csv",
                data_hash=f"{i:064x}",
                catalog_relative_path=f"r/{name}.csv",
                catalog_handler_location=".catalog",
                stage="put",
            )
        ]
        if i % 10 == 0
        else []
    )
    return StepLog(
        name=name,
        internal_name=internal,
        status="SUCCESS",
        step_type="task",
        code_identities=[CodeIdentity(code_identifier="a" * 40, code_identifier_dependable=True)],
        attempts=[StepAttempt(attempt_number=0, start_time=start, end_time=end, status="SUCCESS")],
        user_defined_metrics={"loss": round(rng.random(), 6), "epoch": i % 7},
        data_catalog=catalog,
    )


def build(total: int, seed: int) -> RunLog:
    """A run of `total` step logs: MAPS map steps with ITEMS branches each, the rest top-level tasks."""
    rng = random.Random(seed)
    per_branch = max(1, (total - MAPS) // (MAPS * ITEMS) - 1)
    top = total - MAPS - MAPS * ITEMS * per_branch
    steps: dict[str, StepLog] = {}
    dag_steps: dict[str, Any] = {}
    i = 0
    for t in range(top):
        name = f"task_{t}"
        steps[name] = _step(name, name, i, rng)
        dag_steps[name] = {"type": "task", "command": f"pkg.f{t}", "next": "x"}
        i += 1
    for m in range(MAPS):
        name = f"map_{m}"
        branches = {}
        for item in range(ITEMS):
            bname = f"{name}.{item}"
            branches[bname] = BranchLog(
                internal_name=bname,
                status="SUCCESS",
                steps={
                    f"{bname}.s{k}": _step(f"s{k}", f"{bname}.s{k}", (i := i + 1), rng)
                    for k in range(per_branch)
                },
            )
        map_step = _step(name, name, (i := i + 1), rng)
        map_step.step_type, map_step.branches = "map", branches
        steps[name] = map_step
        dag_steps[name] = {
            "type": "map",
            "iterate_on": "items",
            "iterate_as": "item",
            "next": "x",
            "branch": {
                "start_at": "s0",
                "steps": {
                    f"s{k}": {"type": "task", "command": f"pkg.g{k}", "next": "x"} for k in range(per_branch)
                },
            },
        }
    return RunLog(
        run_id=f"run_{seed}",
        dag_hash="d" * 40,
        status="SUCCESS",
        steps=steps,
        parameters={f"p{k}": k * 0.5 for k in range(20)},
        run_config={"dag": {"start_at": "task_0", "steps": dag_steps}, "schema_version": 1},
    )


def mutate(log: RunLog, fraction: float, seed: int) -> int:
    """Change `fraction` of the steps (metric, status, attempts or data hash, in turn); returns how many."""
    rng = random.Random(seed)
    all_steps = [s for s in log.walk() if not s.branches]
    chosen = rng.sample(all_steps, int(len(all_steps) * fraction))
    for n, step in enumerate(chosen):
        kind = n % 4
        if kind == 0:
            step.user_defined_metrics = {
                **step.user_defined_metrics,
                "loss": step.user_defined_metrics["loss"] + 0.1,
            }
        elif kind == 1:
            step.status = "FAIL"
        elif kind == 2:
            step.attempts = [*step.attempts, step.attempts[0].model_copy(update={"attempt_number": 1})]
        else:
            step.data_catalog = [DataCatalog(name=f"data/{step.name}.csv", data_hash="f" * 64, stage="put")]
    return len(chosen)


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, float, Any]:
    """Median wall and CPU seconds of `repeat` calls (untraced), and peak MB of one more call (traced)."""
    times, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del result
    seconds, cpu_seconds = statistics.median(times), statistics.median(cpu)
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, cpu_seconds, peak, result


ROOT = Path(__file__).resolve().parents[1]
BARE = "import json, sys\nfor p in sys.argv[1:]:\n    with open(p, 'rb') as f:\n        json.load(f)\n"
PARTS = """\
import sys, time
t = [(time.perf_counter(), time.process_time())]  # CPU so far: python's own start-up
from magnus_core.cli import _register, cli
_register()
import magnus_core.diff as diff
from magnus_core.diff import compare
from magnus_core.diff_render import render
open_run = getattr(diff, "open_plain", diff.open_run)  # what `magnus diff` reads with
from magnus_core.table import rich_width
from rich.console import Console
from magnus_core.gcpause import off_for_this_command
off_for_this_command()  # as `magnus diff` does
t.append((time.perf_counter(), time.process_time()))
a, sa = open_run(sys.argv[1], None)
b, sb = open_run(sys.argv[2], None)
t.append((time.perf_counter(), time.process_time()))
result = compare(a, b, a_source=sa, b_source=sb)
t.append((time.perf_counter(), time.process_time()))
with open("/dev/null", "w") as sink:
    render(result, Console(file=sink, width=rich_width(sink)), show_all=False)
t.append((time.perf_counter(), time.process_time()))
print(f"{t[0][1]:.4f},{t[0][1]:.4f} " + " ".join(f"{t[i + 1][0] - t[i][0]:.4f},{t[i + 1][1] - t[i][1]:.4f}" for i in range(len(t) - 1)), flush=True)
import magnus_core.cli as command_line
if hasattr(command_line, "hold_until_exit"):  # and it ends as `magnus diff` ends
    command_line._HELD = []
    command_line.hold_until_exit(a, b, result)
    command_line._leave(0)
"""


def _child(argv: list[str], root: Path = ROOT) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system) of one child process (magnus from `root`), and what it printed.
    It runs in a temporary folder: `python -m`/`-c` put the current folder first on sys.path, so run from a
    checkout every child would import that checkout's magnus, whatever PYTHONPATH says."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr[-1000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout


def end_to_end(a: RunLog, b: RunLog, repeat: int, old: Path | None = None) -> None:
    """`magnus diff A.json B.json` against a bare json.load of both, paired, and its parts; with `old`, the
    same command from that checkout too, in the same rounds (before/after a change)."""
    with tempfile.TemporaryDirectory(prefix="magnus-diff-bench-") as tmp:
        pa, pb = Path(tmp) / "a.json", Path(tmp) / "b.json"
        pa.write_text(a.model_dump_json(indent=4))
        pb.write_text(b.model_dump_json(indent=4))
        size = (pa.stat().st_size + pb.stat().st_size) / 2**20
        py = sys.executable
        bare_w, bare_c, ours_w, ours_c, wall_ratio, cpu_ratio, parts = [], [], [], [], [], [], []
        old_c: list[float] = []
        for _ in range(repeat):
            w0, c0, _out = _child([py, "-c", BARE, str(pa), str(pb)])
            w1, c1, out = _child([py, "-m", "magnus_core", "diff", str(pa), str(pb)])
            assert "steps" in out
            if old is not None:
                old_c.append(_child([py, "-m", "magnus_core", "diff", str(pa), str(pb)], old)[1] / c0)
            bare_w.append(w0), bare_c.append(c0), ours_w.append(w1), ours_c.append(c1)
            wall_ratio.append(w1 / w0), cpu_ratio.append(c1 / c0)
            w2, c2, line = _child([py, "-c", PARTS, str(pa), str(pb)])
            parts.append([tuple(float(x) for x in p.split(",")) for p in line.split()] + [(w2, c2)])
        med = statistics.median
        print(f"\nend to end: two logs of {size:.1f} MB in all; median of {repeat} paired runs")
        print(f"  bare python -c json.load both : {med(bare_w):.3f} s wall, {med(bare_c):.3f} s CPU")
        print(f"  magnus diff A B               : {med(ours_w):.3f} s wall, {med(ours_c):.3f} s CPU")
        ratio = med(wall_ratio)
        print(
            f"  ratio (paired)                : wall {ratio:.2f}x, CPU {med(cpu_ratio):.2f}x  "
            f"target wall <= 2.5x: {'ok' if ratio <= 2.5 else 'MISSED'}"
        )
        if old_c:
            print(f"  {old} (CPU ratio to the bare json.load, paired): {med(old_c):.2f}x")
        names = ("imports", "read", "compare", "print")
        body = [[p[i] for p in parts] for i in range(1, 5)]
        whole = [p[5] for p in parts]
        # start: python's own start-up (CPU by process_time at the script's first line; wall not known);
        # exit: what is left of the child's CPU after printing (freeing the logs, python's shutdown)
        start_c = med(p[0][1] for p in parts)
        exit_c = med(w[1] - sum(x[1] for x in p[:5]) for w, p in zip(whole, parts, strict=True))
        print(f"  parts (one instrumented process; wall / CPU s): python start - / {start_c:.3f}", end="")
        for name, values in zip(names, body, strict=True):
            print(f", {name} {med(v[0] for v in values):.3f} / {med(v[1] for v in values):.3f}", end="")
        print(f", exit - / {exit_c:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--skip-deepdiff", action="store_true", help="Only time magnus's comparison.")
    parser.add_argument("--e2e-only", action="store_true", help="Only the command end to end.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD", help="Also time this checkout.")
    args = parser.parse_args()

    a = build(args.steps, seed=1)
    b = a.model_copy(deep=True)
    b.run_id = "run_2"
    changed = mutate(b, 0.01, seed=2)
    count = sum(1 for _ in a.walk())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"two run logs of {count} steps ({MAPS} map steps x {ITEMS} branches), {changed} steps changed")
    if args.e2e_only:
        end_to_end(a, b, args.repeat, args.compare)
        return

    from magnus_core.models.plain import plain_from_model

    pa, pb = plain_from_model(a), plain_from_model(b)  # as `magnus diff` reads them (models.plain)
    ours_s, ours_cpu, ours_mb, diff = measure(lambda: compare(pa, pb, repo=None), repeat=5)
    print(
        f"magnus compare : {ours_s:8.3f} s wall, {ours_cpu:.3f} s CPU (median of 5)  peak {ours_mb:7.1f} MB  -> {diff.count} differences "
        f"({', '.join(f'{g.name} {g.count}' for g in diff.groups.values() if g.count)})"
    )
    print(
        f"  targets      : < 1 s: {'ok' if ours_s < 1 else 'MISSED'};  < 500 MB: {'ok' if ours_mb < 500 else 'MISSED'}"
    )
    end_to_end(a, b, args.repeat, args.compare)
    if args.skip_deepdiff:
        return
    from deepdiff import DeepDiff

    da, db = a.model_dump(), b.model_dump()
    dd_s, dd_cpu, dd_mb, raw = measure(lambda: DeepDiff(da, db))
    print(
        f"DeepDiff(a, b) : {dd_s:8.3f} s wall, {dd_cpu:.3f} s CPU (one call)     peak {dd_mb:7.1f} MB  -> {sum(len(v) for v in raw.values())} raw items"
    )
    print(
        f"ratio DeepDiff/magnus: time {dd_s / ours_s:.1f}x (CPU {dd_cpu / ours_cpu:.1f}x), peak memory {dd_mb / max(ours_mb, 0.1):.2f}x"
    )


if __name__ == "__main__":
    main()
