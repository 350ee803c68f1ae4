"""Start-up cost of the command line (issue 19, targets 4 and 7), paired against a bare `python -c pass`.

    python bench/startup.py [--rounds 15] [--bytecode cached|source|both] [--tree /path/to/other/checkout]
    python bench/startup.py --compare /path/to/old/checkout    # this checkout and another, turn about

Each round runs, as new processes in turn: `python -c pass`, `magnus --help`, `magnus execute --help`,
`magnus execute_single_node --help`, `python -c "import magnus_core.cli"`, the imports of a step run alone
layer by layer (click and PyYAML; then pydantic and the pipeline and run-log models; then every module of
magnus a step in a map on chunked-fs uses; and, apart, the modules the usual step imports without pydantic:
single_plain.py), and a whole `magnus execute` of a
1-step pipeline (a python function that returns nothing, in a git repository with one commit; its output
to a pipe, so the summary is printed plain) (all as `python -m magnus_core ...`). Prints per command the median wall time and the median CPU time (user +
system of the child), and the median over rounds of each round's ratio to that round's `python -c pass`
(paired, so the machine's load moves both sides alike). The load average is printed beside the figures.

Two ways of starting, each measured on its own (`--bytecode`):
- cached: compiled bytecode is kept (in a temporary PYTHONPYCACHEPREFIX, warmed by a first run), as in any
  installed magnus (pip compiles a package's modules when it installs it);
- source: PYTHONDONTWRITEBYTECODE=1 as the development machines of this project set it, so magnus's own
  modules (an editable install without __pycache__) are compiled from source at every start; the
  installed libraries keep their bytecode.

Target (issue 19, 7): `magnus --help` and `magnus execute --help` <= 2.5x a bare `python -c pass`.
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

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "magnus --help": ["-m", "magnus_core", "--help"],
    "magnus execute --help": ["-m", "magnus_core", "execute", "--help"],
    "magnus execute_single_node --help": ["-m", "magnus_core", "execute_single_node", "--help"],
    "import magnus_core.cli": ["-c", "import magnus_core.cli"],
    # what a step run alone (magnus execute_single_node) costs, layer by layer
    "import click, yaml": ["-c", "import click, yaml"],
    "... + pydantic models": [
        "-c",
        "import click, yaml, magnus_core.models.pipeline, magnus_core.models.run_log",
    ],
    "... + a step's modules": [
        "-c",
        "import magnus_core.cli.nodes, magnus_core.single, magnus_core.stores.chunked, magnus_core.nodes.task, "
        "magnus_core.tasks.python, magnus_core.executors.local, magnus_core.catalog",
    ],
    # what a usual step run alone imports since it runs without pydantic (magnus_core/single_plain.py); a
    # checkout without that module imports what it has of them
    "... a plain step's modules": [
        "-c",
        "import os, magnus_core\n"
        "here = os.path.dirname(magnus_core.__file__)\n"
        "for m in ('cli._step', 'single_plain', 'loading', 'output', 'secrets', 'tasks.python', 'stepguard', "
        "'stepenv', 'identity', 'models.reading', 'stores.parts'):\n"
        "    if os.path.exists(os.path.join(here, *m.split('.')) + '.py'): __import__('magnus_core.' + m)",
    ],
    "magnus execute (1 step)": ["-m", "magnus_core", "execute", "-f", "one.yaml"],
}
ONE_STEP = """\
dag:
  start_at: a
  steps:
    a: {type: task, command: fns.nothing, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def project(folder: Path) -> Path:
    """A git repository with a 1-step pipeline committed, for `magnus execute (1 step)`."""
    folder.mkdir()
    (folder / "one.yaml").write_text(ONE_STEP)
    (folder / "fns.py").write_text("def nothing():\n    return None\n")
    (folder / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one new process `python *args`, its output to a pipe; run in the 1-step project
    (env["BENCH_PROJECT"]), whose run logs are not kept."""
    cwd = env["BENCH_PROJECT"]
    c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.PIPE, cwd=cwd)
    return time.perf_counter() - t0, cpu_children() - c0


def measure(rounds: int, envs: dict[str, dict[str, str]]) -> None:
    """Print the table of one way of starting, for each checkout (label -> environment), turn about."""
    rows = ["python -c pass"] + [
        f"{label}{name}" for label in envs for name in COMMANDS if name != "python -c pass"
    ]
    walls: dict[str, list[float]] = {row: [] for row in rows}
    cpus: dict[str, list[float]] = {row: [] for row in rows}
    ratio_wall: dict[str, list[float]] = {row: [] for row in rows}
    ratio_cpu: dict[str, list[float]] = {row: [] for row in rows}
    first = next(iter(envs.values()))
    for env in envs.values():  # warm the file cache (and the bytecode cache) once
        for argv in COMMANDS.values():
            run_once(argv, env)
    load_before = os.getloadavg()[0]
    for _ in range(rounds):
        bare_wall, bare_cpu = run_once(COMMANDS["python -c pass"], first)
        walls["python -c pass"].append(bare_wall)
        cpus["python -c pass"].append(bare_cpu)
        for label, env in envs.items():
            for name, argv in COMMANDS.items():
                if name == "python -c pass":
                    continue
                wall, cpu = run_once(argv, env)
                row = f"{label}{name}"
                walls[row].append(wall)
                cpus[row].append(cpu)
                ratio_wall[row].append(wall / bare_wall)
                ratio_cpu[row].append(cpu / bare_cpu if bare_cpu else float("nan"))
    load_after = os.getloadavg()[0]
    print(f"load average {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} cores, {rounds} rounds")
    print(f"{'command':<40} {'wall s':>7} {'CPU s':>7} {'wall ratio':>10} {'CPU ratio':>9}")
    for row in rows:
        wall, cpu = statistics.median(walls[row]), statistics.median(cpus[row])
        if row == "python -c pass":
            print(f"{row:<40} {wall:7.3f} {cpu:7.3f} {'1':>10} {'1':>9}")
            continue
        rw, rc = statistics.median(ratio_wall[row]), statistics.median(ratio_cpu[row])
        print(f"{row:<40} {wall:7.3f} {cpu:7.3f} {rw:9.2f}x {rc:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--bytecode", choices=["cached", "source", "both"], default="both")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--compare", type=Path, default=None, help="another checkout, measured turn about")
    args = parser.parse_args()
    base = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    trees = {"": args.tree} if args.compare is None else {"new ": args.tree, "old ": args.compare}
    for label, tree in trees.items():
        print(f"{label or 'checkout '}{tree.resolve()}")
    with tempfile.TemporaryDirectory(prefix="magnus-bench-startup-") as tmp:
        cache = str(Path(tmp) / "pyc")
        base["BENCH_PROJECT"] = str(project(Path(tmp) / "project"))
        if args.bytecode in ("cached", "both"):
            print("bytecode cached (an installed magnus):")
            measure(
                args.rounds,
                {
                    k: {**base, "PYTHONPATH": str(t.resolve()), "PYTHONPYCACHEPREFIX": cache}
                    for k, t in trees.items()
                },
            )
        if args.bytecode in ("source", "both"):
            print("magnus compiled at every start (PYTHONDONTWRITEBYTECODE=1, no __pycache__ in the tree):")
            measure(
                args.rounds,
                {
                    k: {**base, "PYTHONPATH": str(t.resolve()), "PYTHONDONTWRITEBYTECODE": "1"}
                    for k, t in trees.items()
                },
            )
    print("target: magnus --help and magnus execute --help <= 2.5x python -c pass")


if __name__ == "__main__":
    main()
