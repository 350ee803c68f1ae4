"""Per-step cost of a linear pipeline on each run-log store, in-process and as the whole CLI run.

    python bench/steps.py                          # in-process run, every store, both kinds, N = 100 1000 10000
    python bench/steps.py --cli                    # also `magnus execute` as a new process (summary included)
    python bench/steps.py --stores chunked-fs --kinds params 100 1000
    python bench/steps.py --store postgres         # the postgres store beside file-system (a local server)
    python bench/steps.py --peers 1 10 100         # magnus 0.3.12 and runnable 0.50 beside ours (see below)
    python bench/steps.py --compare OLD --repeat 1 1000 10000   # the CLI run of checkout OLD and this one, turn about
    python bench/steps.py --capture                # steps that print a line each: capture on against off

Two kinds of step (issue 19, target 1):
  trivial  `def noop(): return None`
  params   returns parameters and tracks a metric, as real steps do:
           `def work(i=0, total=0): track_this(seen=i); return {"i": i + 1, "total": total + i}`
Each pipeline is step0 -> step1 -> ... -> success. In-process runs go through the same prepare()/execute()
the CLI calls (the figure is the run, not the YAML load); `--cli` runs `magnus execute -f pipeline.yaml`
(summary printed to a pipe, the run log written) and reports the child's CPU time (user + system, steadier
than wall time on a loaded machine) and its wall time, per step: total / N, and marginal
(cost(N) - cost(1)) / (N - 1). Each CLI figure is given twice: cold, a pipeline file's first run (the parse
cache has no entry for it: magnus_core/parse_cache.py), and warm, the same file run again.

Targets: per-step cost at N=10,000 within 1.3x of at N=100 for every store; the whole CLI run at most
0.3 ms per step on file-system and buffered, 1.0 ms on chunked-fs.

`--capture` runs issue 16's pair, "steps that print a line each: capture on within 1.2x of capture off,
measured in the same run": bench/output.py's printing pair (N steps, default 10,000, each `print()`ing one
line; the file-system catalog keeping each attempt's output against the do-nothing catalog keeping none;
`--repeat` pairs, default 5, interleaved; medians with their spread, wall and the steps' thread), in a
fresh tmpfs when one can be mounted (root), else in a folder of TMPDIR. `python bench/output.py` runs it in
both, with its control (steps printing nothing) and the 100 MB step.

`--peers` runs the same trivial pipeline with the original magnus 0.3.12 and with runnable 0.50, each from
its own virtual environment (default /tmp/peer-magnus-0.3 and /tmp/peer-runnable-0.50, made with
`python -m venv DIR && DIR/bin/pip install magnus==0.3.12` / `runnable==0.50.0`; never installed into the
project), and ours, in the same sitting, one after the other for each N.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (100, 1000, 10000)
STORES = ("file-system", "chunked-fs", "buffered")
KINDS = ("trivial", "params")
MODULE = """\
from magnus import track_this


def noop():
    return None


def work(i=0, total=0):
    track_this(seen=i)
    return {"i": i + 1, "total": total + i}
"""


def write_pipeline(folder: Path, n: int, kind: str = "trivial", store: str = "file-system") -> Path:
    """A dag step0 -> step1 -> ... -> success of the same function, and a config naming the store."""
    (folder / "bench_steps.py").write_text(MODULE)
    command = "bench_steps.noop" if kind == "trivial" else "bench_steps.work"
    lines = ["dag:", "  start_at: step0", "  steps:"]
    for i in range(n):
        nxt = f"step{i + 1}" if i + 1 < n else "success"
        lines += [f"    step{i}:", "      type: task", f"      command: {command}", f"      next: {nxt}"]
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    path = folder / "pipeline.yaml"
    path.write_text("\n".join(lines) + "\n")
    (folder / "config.yaml").write_text(f"run_log_store:\n  type: {store}\n")
    return path


STORE_CONFIG: str | None = None  # a config file naming the postgres store (--store postgres)


def run_once(n: int, kind: str = "trivial", store: str = "file-system") -> tuple[float, float, str]:
    """(seconds to execute, CPU seconds to execute, status) for one in-process run of n steps."""
    from magnus_core.runner import RunRequest, execute, prepare

    with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
        here = os.getcwd()
        os.chdir(tmp)
        try:
            pipeline = write_pipeline(Path(tmp), n, kind, store)
            config = STORE_CONFIG or str(Path(tmp) / "config.yaml")
            prepared = prepare(RunRequest(file=str(pipeline), config_file=config))
            t0, c0 = time.perf_counter(), time.process_time()
            with open(os.devnull, "w") as sink:
                log = execute(prepared, output=sink)
            t1, c1 = time.perf_counter(), time.process_time()
            stored = prepared.store.get_run(log.run_id)
            assert len(stored.steps) == n + 1, "the store lost steps"
            if kind == "params":
                assert stored.parameters.get("i") == n, "parameters did not flow"
            return t1 - t0, c1 - c0, log.status
        finally:
            os.chdir(here)


def cli_once(
    n: int, kind: str, store: str, root: Path | None = None, cache: Path | None = None
) -> tuple[float, float, str]:
    """(wall s, child CPU s, last line) of `magnus execute` as a new process on an n-step pipeline, with the
    code of checkout `root` (this one by default) and the parse cache in folder `cache` (None: a new empty
    folder, so the run is a first, cold one; magnus_core/parse_cache.py)."""
    with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
        pipeline = write_pipeline(Path(tmp), n, kind, store)
        code = str(root or ROOT)
        env = {
            **os.environ,
            "PYTHONPATH": code,
            "MAGNUS_INDEX_DIR": str(Path(tmp) / "index"),
            "MAGNUS_YAML_CACHE": str(cache or Path(tmp) / "yaml-cache"),
        }
        argv = [sys.executable, "-m", "magnus_core", "execute", "-f", str(pipeline), "-c", "config.yaml"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"magnus execute failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return wall, cpu, proc.stdout.strip().splitlines()[-1]


def prime_cache(folder: Path, n: int, kind: str, store: str) -> None:
    """Put an n-step pipeline's parsed data in the parse cache in `folder`, as its first CLI run would
    (this process runs this checkout's loader, the one the new runs use), so every warm run finds it."""
    from magnus_core.loading import _CacheUse, read_yaml

    before = os.environ.get("MAGNUS_YAML_CACHE")
    os.environ["MAGNUS_YAML_CACHE"] = str(folder)
    try:
        with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
            read_yaml(write_pipeline(Path(tmp), n, kind, store), "pipeline file", cache=_CacheUse())
    finally:
        if before is None:
            os.environ.pop("MAGNUS_YAML_CACHE", None)
        else:
            os.environ["MAGNUS_YAML_CACHE"] = before


def median_of(results: list[tuple[float, float, str]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def in_process(sizes: list[int], stores: list[str], kinds: list[str], repeat: int) -> None:
    print(f"in-process run (prepare() then execute(), the run only); median of {repeat}; ms per step")
    print(f"{'store':>12} {'kind':>8} {'N':>6} {'wall ms/step':>13} {'CPU ms/step':>12}")
    for store in stores:
        for kind in kinds:
            run_once(1, kind, store)  # one-time imports are not per-step costs
            per: dict[int, tuple[float, float]] = {}
            for n in sizes:
                wall, cpu = median_of([run_once(n, kind, store) for _ in range(repeat)])
                per[n] = (wall * 1000 / n, cpu * 1000 / n)
                print(f"{store:>12} {kind:>8} {n:>6} {per[n][0]:>13.3f} {per[n][1]:>12.3f}", flush=True)
            lo, hi = min(sizes), max(sizes)
            if lo != hi:
                ratio = per[hi][1] / per[lo][1]
                verdict = "ok" if ratio <= 1.3 else "MISSED (target <= 1.3)"
                print(
                    f"{store:>12} {kind:>8} CPU per step N={hi} / N={lo}: {ratio:.2f}  {verdict}", flush=True
                )


CLI_TARGET = {"file-system": 0.3, "buffered": 0.3, "chunked-fs": 1.0, "postgres": None}
# The whole run's CPU / N is judged against CLI_TARGET from this N up: below it the ~0.3 s of a process's
# start-up (printed as N=1) is most of the figure (3 ms a step at N=100), which no per-step work can change;
# the marginal column, (cost(N) - cost(1)) / (N - 1), is the per-step figure at every N.
JUDGED_FROM = 10_000


def whole_cli(sizes: list[int], stores: list[str], kinds: list[str], repeat: int) -> None:
    print(
        f"\nwhole CLI run: `magnus execute` as a new process, summary to a pipe; median of {repeat}; "
        "cold: a pipeline's first run (no parse cache entry); warm: the same file run again"
    )
    print(
        f"{'store':>12} {'kind':>8} {'N':>6} {'run':>5} {'wall s':>8} {'CPU s':>7} {'CPU ms/step':>12} "
        f"{'marginal':>9} {'target':>7}"
    )
    for store in stores:
        for kind in kinds:
            base = median_of([cli_once(1, kind, store) for _ in range(repeat)])
            for n in sizes:
                with tempfile.TemporaryDirectory(prefix="magnus-bench-cache-") as folder:
                    prime_cache(Path(folder), n, kind, store)
                    runs: dict[str, list[tuple[float, float, str]]] = {"cold": [], "warm": []}
                    for _ in range(repeat):  # turn about: a first run (own empty cache), then a repeated one
                        runs["cold"].append(cli_once(n, kind, store))
                        runs["warm"].append(cli_once(n, kind, store, cache=Path(folder)))
                for which, results in runs.items():
                    wall, cpu = median_of(results)
                    per = cpu * 1000 / n
                    marginal = (cpu - base[1]) * 1000 / (n - 1)
                    target = CLI_TARGET.get(store)
                    if target is None:
                        verdict = ""
                    elif n < JUDGED_FROM:  # total / N here is mostly the process's start-up (N=1 below)
                        verdict = "(start-up bound: judged at N >= 10,000)"
                    else:
                        verdict = "ok" if per <= target else "MISSED"
                    print(
                        f"{store:>12} {kind:>8} {n:>6} {which:>5} {wall:>8.2f} {cpu:>7.2f} {per:>12.3f} "
                        f"{marginal:>9.3f} {target if target else '-':>7} {verdict}",
                        flush=True,
                    )
            print(f"{store:>12} {kind:>8} N=1: {base[0]:.2f} s wall, {base[1]:.2f} s CPU (start-up)")


def compare_cli(old: Path, sizes: list[int], stores: list[str], kinds: list[str], repeat: int) -> None:
    """The whole CLI run with the code of checkout `old` and of this one, turn about (old, new cold, new warm,
    old...) so all see the same load: CPU ms per step (total / N, and marginal against N = 1) and new / old.
    new cold: the pipeline's first run (an empty parse cache); new warm: the same file run again (the
    parse cache holds it). The old checkout gets the same cache folders (code without the cache ignores
    them)."""
    print(f"\nwhole CLI run, {old} (old) against {ROOT} (new), turn about; median of {repeat}; CPU")
    print("  cold: a pipeline's first run (no parse cache entry); warm: the same file run again")
    print(
        f"{'store':>12} {'kind':>8} {'N':>6} {'old ms/step':>12} {'new cold':>9} {'new warm':>9} "
        f"{'cold/old':>9} {'warm/old':>9} {'old marg.':>10} {'cold marg.':>11} {'warm marg.':>11} {'target':>7}"
    )
    who = ("old", "cold", "warm")
    for store in stores:
        for kind in kinds:
            cpu: dict[str, dict[int, float]] = {w: {} for w in who}
            for n in [1, *sizes]:
                runs: dict[str, list[float]] = {w: [] for w in who}
                with tempfile.TemporaryDirectory(prefix="magnus-bench-cache-") as folder:
                    prime_cache(Path(folder), n, kind, store)
                    for _ in range(repeat):
                        runs["old"].append(cli_once(n, kind, store, old)[1])
                        runs["cold"].append(cli_once(n, kind, store)[1])
                        runs["warm"].append(cli_once(n, kind, store, cache=Path(folder))[1])
                for w in who:
                    cpu[w][n] = statistics.median(runs[w])
            for n in sizes:
                per = {w: cpu[w][n] * 1000 / n for w in who}
                marg = {w: (cpu[w][n] - cpu[w][1]) * 1000 / max(n - 1, 1) for w in who}
                print(
                    f"{store:>12} {kind:>8} {n:>6} {per['old']:>12.3f} {per['cold']:>9.3f} {per['warm']:>9.3f} "
                    f"{per['cold'] / per['old']:>9.2f} {per['warm'] / per['old']:>9.2f} {marg['old']:>10.3f} "
                    f"{marg['cold']:>11.3f} {marg['warm']:>11.3f} {CLI_TARGET.get(store) or '-':>7}",
                    flush=True,
                )
            starts = ", ".join(f"{w} {cpu[w][1]:.2f}" for w in who)
            print(f"{store:>12} {kind:>8} N=1 (start-up) CPU s: {starts}")
    print(f"load average {os.getloadavg()[0]:.1f}")


def compare_postgres(sizes: list[int], repeat: int, kinds: list[str]) -> None:
    """ms per step on the file-system store and on the postgres store, N by N, and the ratio pg/fs."""
    global STORE_CONFIG
    import uuid

    from tests.servers import PostgresServer

    with PostgresServer() as server:
        os.environ.update(server.env)
        config = Path(tempfile.mkdtemp(prefix="magnus-bench-")) / "pg.yaml"
        for kind in kinds:
            results: dict[str, dict[int, float]] = {}
            for store in ("file-system", "postgres"):
                STORE_CONFIG = None
                if store == "postgres":
                    schema = f"bench_{uuid.uuid4().hex[:8]}"
                    config.write_text(
                        f"run_log_store: {{type: postgres, config: {{dsn: '{server.dsn}', schema: {schema}}}}}\n"
                    )
                    STORE_CONFIG = str(config)
                run_once(1, kind, store)
                results[store] = {}
                for n in sizes:
                    wall, _cpu = median_of([run_once(n, kind, store) for _ in range(repeat)])
                    results[store][n] = wall * 1000 / n
            STORE_CONFIG = None
            print(f"{kind}: median of {repeat} runs per N; run wall ms/step")
            print(f"{'N':>7} {'file-system':>12} {'postgres':>10} {'pg/fs':>7}")
            for n in sizes:
                fs, pg = results["file-system"][n], results["postgres"][n]
                print(f"{n:>7} {fs:>12.3f} {pg:>10.3f} {pg / fs:>7.2f}")
            pg = results["postgres"]
            lo, hi = min(sizes), max(sizes)
            ratio = pg[hi] / pg[lo]
            print(f"postgres ms/step N={hi} / N={lo}: {ratio:.2f}  {'ok' if ratio <= 1.3 else 'MISSED'}")


# -- the original and its successor, side by side --------------------------------------------------------

PEER_MAGNUS = Path(os.environ.get("MAGNUS_PEER_03", "/tmp/peer-magnus-0.3"))
PEER_RUNNABLE = Path(os.environ.get("MAGNUS_PEER_RUNNABLE", "/tmp/peer-runnable-0.50"))

RUNNABLE_SCRIPT = """\
import sys
from runnable import Pipeline, PythonTask


def noop():
    return None


def main(n):
    steps = [PythonTask(name=f"step{i}", function=noop) for i in range(n)]
    pipeline = Pipeline(steps=steps)
    pipeline.execute()


if __name__ == "__main__":
    main(int(sys.argv[1]))
"""


def _timed(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, proc.stderr[-500:]


def peer_once(who: str, n: int) -> tuple[float, float]:
    """(wall s, CPU s) of one linear run of n trivial steps by `who`: ours, magnus-0.3.12, runnable-0.50."""
    with tempfile.TemporaryDirectory(prefix="magnus-peer-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAGNUS_")}
        if who == "ours":
            write_pipeline(Path(tmp), n)
            env.update(PYTHONPATH=str(ROOT), MAGNUS_INDEX_DIR=str(Path(tmp) / "index"))
            argv = [
                sys.executable,
                "-m",
                "magnus_core",
                "execute",
                "-f",
                "pipeline.yaml",
                "-c",
                "config.yaml",
            ]
        elif who == "magnus-0.3.12":
            # the same YAML: 0.3.12 reads this dag shape (timings-inputs in shared/fixtures/peer-runs)
            write_pipeline(Path(tmp), n)
            env["PYTHONPATH"] = tmp
            argv = [str(PEER_MAGNUS / "bin" / "magnus"), "execute", "--file", "pipeline.yaml"]
        else:
            (Path(tmp) / "linear.py").write_text(RUNNABLE_SCRIPT)
            argv = [str(PEER_RUNNABLE / "bin" / "python"), "linear.py", str(n)]
        wall, cpu, code, err = _timed(argv, tmp, env)
        if code != 0:
            raise SystemExit(f"{who} failed at N={n} ({code}): {err}")
        return wall, cpu


def peers(sizes: list[int], repeat: int) -> None:
    who = ["ours"]
    for name, folder in (("magnus-0.3.12", PEER_MAGNUS), ("runnable-0.50", PEER_RUNNABLE)):
        if folder.exists():
            who.append(name)
        else:
            print(f"{name}: no virtual environment at {folder} (see this script's docstring)")
    print(f"linear pipeline of N trivial python steps, a new process each; median of {repeat}; same sitting")
    print(f"{'N':>6} {'tool':>14} {'wall s':>8} {'CPU s':>7} {'CPU ms/step':>12} {'CPU x ours':>11}")
    for n in sizes:
        ours_cpu = None
        for name in who:
            runs = [peer_once(name, n) for _ in range(repeat)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            ours_cpu = cpu if name == "ours" else ours_cpu
            ratio = cpu / ours_cpu if ours_cpu else 1.0
            print(
                f"{n:>6} {name:>14} {wall:>8.2f} {cpu:>7.2f} {cpu * 1000 / n:>12.2f} {ratio:>11.1f}",
                flush=True,
            )


def _output_bench() -> Any:
    """bench/output.py as a module (the printing pair of --capture is its own: one driver for both)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_output", Path(__file__).with_name("output.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sizes", nargs="*", type=int)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated stores")
    parser.add_argument("--kinds", default=",".join(KINDS), help="trivial,params")
    parser.add_argument("--repeat", type=int, help="runs per figure (3; --capture: pairs, 5)")
    parser.add_argument("--cli", action="store_true", help="also the whole CLI run")
    parser.add_argument("--cli-only", action="store_true", help="only the whole CLI run")
    parser.add_argument("--store", choices=["postgres"], help="postgres beside file-system")
    parser.add_argument("--peers", action="store_true", help="magnus 0.3.12 and runnable 0.50 beside ours")
    parser.add_argument(
        "--compare", metavar="OLD", help="the whole CLI run of checkout OLD beside this one, turn about"
    )
    parser.add_argument(
        "--capture", action="store_true", help="steps printing a line each, capture on against off (issue 16)"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or list(DEFAULT_SIZES)
    stores = args.stores.split(",")
    kinds = args.kinds.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.capture:
        capture = _output_bench()
        for n in args.sizes or [capture.printing_steps()]:
            capture.capture_pair(n, args.repeat or 5)
        return 0
    args.repeat = args.repeat or 3
    if args.peers:
        peers(args.sizes or [1, 10, 100], args.repeat)
        return 0
    if args.compare:
        compare_cli(Path(args.compare).resolve(), sizes, stores, kinds, args.repeat)
        return 0
    if args.store == "postgres":
        compare_postgres(sizes, args.repeat, kinds)
        return 0
    if not args.cli_only:
        in_process(sizes, stores, kinds, args.repeat)
    if args.cli or args.cli_only:
        whole_cli(sizes, stores, kinds, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
